"""A deep residual MLP without normalization trains from Fixup or SkipInit, not from He.

Each block is ``x + branch(x)`` with a two-layer ReLU branch and no BatchNorm/LayerNorm.
Three initializations of the same Flax linen model (``nn.scan`` over the blocks):

* ``he``: He-normal for every branch layer, LeCun for the classifier. The residual sum
  doubles the signal's variance per block, so the output explodes with depth.
* ``fixup``: ``jinit.residual.fixup_inits`` — branch layers He-scaled by
  :math:`L^{-1/2}`, last branch layer and classifier zero, scalar biases and a scalar
  multiplier per branch (Zhang et al. 2019).
* ``skipinit``: He-normal branches times a learned scalar initialized to zero
  (``jinit.residual.rezero``; De & Smith 2020, Bachlechner et al. 2020).

All train with the same plain SGD (momentum 0.9) on a synthetic classification task. The
table gives the initial and final training loss; ``he`` diverges (inf/nan) or stalls.

Run::

    python examples/residual_fixup.py --plot residual_fixup.png
"""

from __future__ import annotations

import argparse

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jinit

SCHEMES = ("he", "fixup", "skipinit")


class Block(nn.Module):
    scheme: str
    depth: int

    @nn.compact
    def __call__(self, x, _):
        d = x.shape[-1]
        if self.scheme == "fixup":
            inits = jinit.residual.fixup_inits(self.depth, 2)
            bias = lambda name: self.param(name, inits.bias, ())  # noqa: E731
            h = nn.Dense(d, use_bias=False, kernel_init=inits.branch)(x + bias("bias1"))
            h = nn.relu(h + bias("bias2"))
            h = nn.Dense(d, use_bias=False, kernel_init=inits.last)(h + bias("bias3"))
            return x + self.param("scale", inits.multiplier, ()) * h, None
        h = nn.relu(nn.Dense(d, kernel_init=jinit.he_normal())(x))
        h = nn.Dense(d, kernel_init=jinit.he_normal())(h)
        if self.scheme == "skipinit":
            h = self.param("alpha", jinit.residual.rezero(), ()) * h
        return x + h, None


class ResMLP(nn.Module):
    scheme: str
    depth: int
    width: int
    classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(self.width, kernel_init=jinit.lecun_normal())(x)
        blocks = nn.scan(Block, variable_axes={"params": 0}, split_rngs={"params": True},
                         length=self.depth)(self.scheme, self.depth)
        x, _ = blocks(x, None)
        zero_head = self.scheme == "fixup"
        return nn.Dense(self.classes,
                        kernel_init=jinit.zeros if zero_head else jinit.lecun_normal())(x)


def make_data(key, n: int, dim: int, classes: int):
    kx, kt = jax.random.split(key)
    x = jax.random.normal(kx, (n, dim))
    y = jnp.argmax(x @ jax.random.normal(kt, (dim, classes)), axis=-1)
    return x, y


def train(scheme: str, x, y, *, depth: int, width: int, steps: int, batch: int, lr: float,
          seed: int) -> np.ndarray:
    model = ResMLP(scheme, depth, width)
    params = model.init(jax.random.key(seed), x[:1])["params"]
    tx = optax.sgd(lr, momentum=0.9)

    def loss_fn(p, xb, yb):
        logits = model.apply({"params": p}, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry, i):
        p, s = carry
        idx = (i * batch + jnp.arange(batch)) % x.shape[0]
        loss, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), loss

    run = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), jnp.arange(steps))[1])
    return np.asarray(run(params), np.float64)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=32, help="residual blocks")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=SCHEMES)
    parser.add_argument("--plot", metavar="FILE.png", help="draw the loss curves")
    args = parser.parse_args(argv)

    x, y = make_data(jax.random.key(args.seed + 1), args.samples, args.dim, 10)
    curves = {s: train(s, x, y, depth=args.depth, width=args.width, steps=args.steps,
                       batch=args.batch, lr=args.lr, seed=args.seed) for s in args.schemes}
    tail = max(1, min(20, args.steps // 5))
    print(f"{args.depth} residual blocks of width {args.width}, no normalization, "
          f"SGD lr={args.lr:g} momentum 0.9, {args.steps} steps")
    print(f"{'scheme':>9} {'initial loss':>13} {'final loss':>11}  trains")
    summary = {}
    for s, c in curves.items():
        final = float(np.mean(c[-tail:]))
        trains = bool(np.isfinite(final) and final < 0.5 * c[0])
        summary[s] = {"initial": float(c[0]), "final": final, "trains": trains}
        print(f"{s:>9} {c[0]:>13.4g} {final:>11.4g}  {'yes' if trains else 'no'}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for s, c in curves.items():
            bad = np.flatnonzero(~np.isfinite(c))
            label = s if bad.size == 0 else f"{s} (diverged at step {bad[0] + 1})"
            # A curve that diverges at once has a single finite point: draw it as a marker.
            ax.plot(np.arange(1, len(c) + 1), np.where(np.isfinite(c), c, np.nan), "o-",
                    ms=3 if bad.size and bad[0] < 3 else 0, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("training loss")
        ax.set_title(f"residual MLP, {args.depth} blocks, no normalization")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    return {"curves": curves, "summary": summary}


if __name__ == "__main__":
    main()
