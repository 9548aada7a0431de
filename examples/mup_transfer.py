"""μP learning-rate transfer: the best Adam learning rate found at a small width stays
best at a large width under μP, and drifts under the standard parametrization (SP).

A Flax linen ReLU MLP (2 hidden layers) is trained with Adam on a synthetic
classification task (labels from a fixed random teacher network) over a grid of learning
rates, at several widths, once in SP and once in μP (``jinit.mup.plan`` against the
smallest width, ``plan.rescale`` for the readout init, ``plan.transform()`` for the
per-layer learning rates). Every learning rate of one width trains in a single
``jax.vmap``. The table gives the best learning rate per width; under μP it does not move,
and the wide μP model is at least as good as the narrow one at that rate.

Run::

    python examples/mup_transfer.py --plot mup_transfer.png
"""

from __future__ import annotations

import argparse

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jinit


class MLP(nn.Module):
    width: int
    classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.width)(x))
        x = nn.relu(nn.Dense(self.width)(x))
        return nn.Dense(self.classes)(x)


def make_data(key, n: int, dim: int, classes: int):
    kx, kt1, kt2 = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n, dim))
    teacher1 = jax.random.normal(kt1, (dim, 64)) / dim**0.5
    teacher2 = jax.random.normal(kt2, (64, classes))
    y = jnp.argmax(jnp.tanh(x @ teacher1) @ teacher2, axis=-1)
    return x, y


def train_grid(width: int, base_width: int, parametrization: str, lrs, x, y, *, steps: int,
               batch: int, seed: int) -> np.ndarray:
    """Final training loss (mean of the last 10 steps) for every learning rate in ``lrs``."""
    model = MLP(width)
    params = model.init(jax.random.key(seed), x[:1])["params"]
    base = jax.eval_shape(MLP(base_width).init, jax.random.key(seed), x[:1])["params"]
    plan = jinit.mup.plan(params, base, optimizer="adam")
    if parametrization == "mup":
        params = plan.rescale(params)

    def loss_fn(p, xb, yb):
        logits = model.apply({"params": p}, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def run(lr):
        tx = optax.adam(lr)
        if parametrization == "mup":
            tx = optax.chain(tx, plan.transform())

        def step(carry, i):
            p, s = carry
            idx = (i * batch + jnp.arange(batch)) % x.shape[0]
            loss, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        _, losses = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps))
        return jnp.mean(losses[-10:])

    out = np.asarray(jax.jit(jax.vmap(run))(jnp.asarray(lrs, jnp.float32)), np.float64)
    return np.where(np.isfinite(out), out, np.inf)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--log2-lrs", type=float, nargs="+",
                        default=[-12, -11, -10, -9, -8, -7, -6, -5, -4, -3])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="draw loss against log2 LR")
    args = parser.parse_args(argv)

    x, y = make_data(jax.random.key(args.seed + 1), args.samples, args.dim, 10)
    lrs = [2.0**e for e in args.log2_lrs]
    base = min(args.widths)
    results = {}
    for param in ("sp", "mup"):
        for w in args.widths:
            results[param, w] = train_grid(w, base, param, lrs, x, y, steps=args.steps,
                                           batch=args.batch, seed=args.seed)

    print(f"{'param':>5} {'width':>6} {'best log2 lr':>13} {'best loss':>10}")
    best = {}
    for param in ("sp", "mup"):
        for w in args.widths:
            i = int(np.argmin(results[param, w]))
            best[param, w] = args.log2_lrs[i]
            print(f"{param:>5} {w:>6} {args.log2_lrs[i]:>13g} {results[param, w][i]:>10.4f}")
    for param in ("sp", "mup"):
        shift = best[param, max(args.widths)] - best[param, base]
        print(f"{param}: optimum moved by {shift:+g} in log2 lr from width {base} to "
              f"{max(args.widths)}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, param, title in zip(axes, ("sp", "mup"), ("standard parametrization", "μP"),
                                    strict=True):
            for w in args.widths:
                loss = np.minimum(results[param, w], 10.0)
                ax.plot(args.log2_lrs, loss, "o-", ms=3, label=f"width {w}")
            ax.set_title(f"{title} (Adam, {args.steps} steps)")
            ax.set_xlabel("log2 learning rate")
            ax.legend()
        axes[0].set_ylabel("training loss")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    return {"losses": results, "best_log2_lr": best}


if __name__ == "__main__":
    main()
