"""Learning-rate transfer across depth: the best Adam learning rate found with 4 residual
blocks stays within one octave up to 32 blocks under CompleteP, and moves further under the
standard parametrization (SP).

A pre-norm residual MLP (``x + m * W2 relu(W1 rms(x))`` per block, between a linear
embedding and a linear readout) is trained with Adam on a synthetic classification task
(labels from a fixed random teacher) over a grid of learning rates, at several depths, once
in SP (``m = 1``, one learning rate) and once under CompleteP: ``jinit.mup.plan(params,
base, alpha=1.0)`` against the same network with 4 blocks gives the branch multiplier
``m = 4 / L`` and the per-parameter learning rates. Every learning rate of one depth trains in
a single ``jax.vmap``; blocks are stacked and run under ``jax.lax.scan``.

Run::

    python examples/depth_transfer.py --plot depth_transfer.png
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jinit


def make_data(key, n: int, dim: int, classes: int):
    kx, kt1, kt2 = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n, dim))
    teacher = jnp.tanh(x @ jax.random.normal(kt1, (dim, 64)) / dim ** 0.5)
    y = jnp.argmax(teacher @ jax.random.normal(kt2, (64, classes)), axis=-1)
    return x, y


def shapes(depth: int, dim: int, width: int, classes: int) -> dict:
    s = lambda *d: jax.ShapeDtypeStruct(d, jnp.float32)  # noqa: E731
    return {"embed": s(dim, width), "head": s(width, classes),
            "blocks": [{"w1": s(width, width), "w2": s(width, width)} for _ in range(depth)]}


def init(key, depth: int, dim: int, width: int, classes: int) -> dict:
    ke, k1, k2, kh = jax.random.split(key, 4)
    he, lecun = jinit.he_normal(), jinit.lecun_normal()
    return {"embed": lecun(ke, (dim, width)), "head": lecun(kh, (width, classes)),
            "blocks": {"w1": jax.vmap(lambda k: he(k, (width, width)))(jax.random.split(k1, depth)),
                       "w2": jax.vmap(lambda k: lecun(k, (width, width)))(
                           jax.random.split(k2, depth))}}


def forward(p, x, mult):
    def block(h, b):
        z = h * jax.lax.rsqrt(jnp.mean(h * h, -1, keepdims=True) + 1e-6)
        return h + mult * (jax.nn.relu(z @ b["w1"]) @ b["w2"]), None

    h, _ = jax.lax.scan(block, x @ p["embed"], p["blocks"])
    return h @ p["head"]


def train_grid(depth: int, base_depth: int, parametrization: str, lrs, x, y, *, width: int,
               steps: int, batch: int, seed: int) -> np.ndarray:
    """Final training loss (mean of the last 10 steps) for every learning rate in ``lrs``."""
    dim, classes = x.shape[1], int(y.max()) + 1
    params = init(jax.random.key(seed), depth, dim, width, classes)
    mult, lr_mult = 1.0, jax.tree.map(lambda _: 1.0, params)
    if parametrization == "completep":
        plan = jinit.mup.plan(shapes(depth, dim, width, classes),
                              shapes(base_depth, dim, width, classes), alpha=1.0)
        factor = plan.lr_multipliers
        mult = plan.branch_multiplier
        lr_mult = {"embed": factor["embed"], "head": factor["head"],
                   "blocks": {k: factor[f"blocks/0/{k}"] for k in ("w1", "w2")}}

    def loss_fn(p, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, xb, mult), yb).mean()

    def run(lr):
        tx = optax.adam(lr)

        def step(carry, i):
            p, s = carry
            idx = (i * batch + jnp.arange(batch)) % x.shape[0]
            loss, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
            u, s = tx.update(g, s, p)
            u = jax.tree.map(lambda a, m: a * m, u, lr_mult)
            return (optax.apply_updates(p, u), s), loss

        _, losses = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps))
        return jnp.mean(losses[-10:])

    out = np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(lrs, jnp.float32)), np.float64)
    return np.where(np.isfinite(out), out, np.inf)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16, 32],
                        help="numbers of residual blocks; the first is the base (default: "
                             "%(default)s)")
    parser.add_argument("--log2-lrs", type=float, nargs="+",
                        default=[x / 2 for x in range(-24, -11)],
                        help="grid of log2 Adam learning rates (default: -12 .. -6 by 0.5)")
    parser.add_argument("--width", type=int, default=64, help="default: %(default)s")
    parser.add_argument("--steps", type=int, default=120, help="default: %(default)s")
    parser.add_argument("--batch", type=int, default=32, help="default: %(default)s")
    parser.add_argument("--samples", type=int, default=1024, help="default: %(default)s")
    parser.add_argument("--dim", type=int, default=16, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--plot", metavar="FILE.png", help="draw loss against log2 lr per depth")
    args = parser.parse_args(argv)

    x, y = make_data(jax.random.key(args.seed + 1), args.samples, args.dim, 10)
    lrs = [2.0 ** e for e in args.log2_lrs]
    base = args.depths[0]
    results, best = {}, {}
    for param in ("sp", "completep"):
        for d in args.depths:
            results[param, d] = train_grid(d, base, param, lrs, x, y, width=args.width,
                                           steps=args.steps, batch=args.batch, seed=args.seed)
            best[param, d] = args.log2_lrs[int(np.argmin(results[param, d]))]

    print(f"{'param':>9} {'depth':>6} {'best log2 lr':>13} {'best loss':>10} {'shift':>6}")
    shift = {}
    for param in ("sp", "completep"):
        for d in args.depths:
            shift[param, d] = best[param, d] - best[param, base]
            print(f"{param:>9} {d:>6} {best[param, d]:>13g} {np.min(results[param, d]):>10.4f} "
                  f"{shift[param, d]:>+6g}")
    for param in ("sp", "completep"):
        worst = max(abs(shift[param, d]) for d in args.depths)
        print(f"{param}: largest move of the best log2 lr from depth {base}: {worst:g} octaves")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, param, title in zip(axes, ("sp", "completep"),
                                    ("standard parametrization", "CompleteP (alpha = 1)"),
                                    strict=True):
            for d in args.depths:
                ax.plot(args.log2_lrs, np.minimum(results[param, d], 5.0), "o-", ms=3,
                        label=f"{d} blocks")
            ax.set_title(f"{title}, Adam, {args.steps} steps")
            ax.set_xlabel("log2 learning rate")
            ax.legend()
        axes[0].set_ylabel("training loss")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    return {"losses": results, "best_log2_lr": best, "shift": shift}


if __name__ == "__main__":
    main()
