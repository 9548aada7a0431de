"""jinit in ``flax.linen``: a small CNN with jinit kernels and biases, and a PyTorch port.

Two versions of one CNN (two 3×3 convolutions, global average pooling, a two-layer MLP head):

* ``jinit``: ReLU layers from ``jinit.for_activation("relu")`` (He), the classifier from
  ``jinit.lecun_normal()``, biases ``jinit.zeros``;
* ``torch``: the layer defaults PyTorch would give the same model (``jinit.presets``):
  ``torch_conv_kernel`` / ``torch_linear_kernel`` = U(±1/√fan_in) for kernels and
  ``torch_conv_bias(fan_in)`` / ``torch_linear_bias(fan_in)`` = U(±1/√fan_in) for biases —
  what a model ported from PyTorch needs to start from the same distribution.

For every parameter the table gives its shape, the number of entries, the measured standard
deviation and the one the scheme's formula predicts. Then both models run a forward pass and
three optax (Adam) steps on a synthetic batch. ``--plot FILE.png`` draws each parameter's
measured standard deviation against its formula.

Run::

    python examples/flax_linen.py --plot flax_linen.png
"""

from __future__ import annotations

import argparse
import math

import flax.linen as nn
import jax
import numpy as np
import optax

import jinit
from jinit import presets


class CNN(nn.Module):
    """Conv(3×3) → ReLU → Conv(3×3) → ReLU → mean pool → Dense → ReLU → Dense."""

    style: str  # "jinit" or "torch"
    channels: tuple[int, int] = (16, 32)
    hidden: int = 64
    classes: int = 10

    @nn.compact
    def __call__(self, x):
        c_in = x.shape[-1]
        for c in self.channels:
            x = nn.relu(nn.Conv(c, (3, 3), **self._inits("conv", 9 * c_in))(x))
            c_in = c
        x = x.mean(axis=(1, 2))
        x = nn.relu(nn.Dense(self.hidden, **self._inits("dense", c_in))(x))
        return nn.Dense(self.classes, **self._inits("head", self.hidden))(x)

    def _inits(self, kind: str, fan_in: int) -> dict:
        if self.style == "torch":  # PyTorch's nn.Conv2d / nn.Linear defaults
            if kind == "conv":
                return {"kernel_init": presets.torch_conv_kernel(),
                        "bias_init": presets.torch_conv_bias(fan_in)}
            return {"kernel_init": presets.torch_linear_kernel(),
                    "bias_init": presets.torch_linear_bias(fan_in)}
        kernel = jinit.lecun_normal() if kind == "head" else jinit.for_activation("relu")
        return {"kernel_init": kernel, "bias_init": jinit.zeros}


def expected_std(style: str, name: str, shape: tuple[int, ...], fan_in: int) -> float:
    """The standard deviation each parameter's scheme promises (from its formula)."""
    if style == "torch":  # U(±1/√fan_in) for kernels and biases: std = 1/√(3·fan_in)
        return 1.0 / math.sqrt(3.0 * fan_in)
    if name == "bias":
        return 0.0
    gain2 = 1.0 if len(shape) == 2 and shape[-1] == 10 else 2.0  # LeCun head, He elsewhere
    return math.sqrt(gain2 / fan_in)


def report(style: str, params: dict) -> list[tuple[str, tuple[int, ...], int, float, float]]:
    rows = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        layer, name = path[-2].key, path[-1].key
        kernel = params[layer]["kernel"]
        fan_in = math.prod(kernel.shape[:-1])
        rows.append((f"{layer}/{name}", tuple(leaf.shape), int(leaf.size),
                     float(np.std(np.asarray(leaf, np.float64))),
                     expected_std(style, name, tuple(leaf.shape), fan_in)))
    return rows


def train_steps(model: nn.Module, params: dict, x, y, steps: int) -> list[float]:
    tx = optax.adam(1e-3)

    @jax.jit
    def step(p, s):
        def loss_fn(p):
            logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, g = jax.value_and_grad(loss_fn)(p)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    s, losses = tx.init(params), []
    for _ in range(steps):
        params, s, loss = step(params, s)
        losses.append(float(loss))
    return losses


def plot_stds(out: dict, path: str, title: str) -> None:
    """Measured against promised std of every parameter, one panel per set of initializers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(out), figsize=(4.5 * len(out), 3.6), sharey=True)
    for ax, (style, result) in zip(axes, out.items(), strict=True):
        rows = result["rows"]
        xs = range(len(rows))
        ax.bar(xs, [r[3] for r in rows], color="tab:blue", alpha=0.7, label="measured std")
        ax.plot(xs, [r[4] for r in rows], "k_", ms=18, mew=2, label="formula")
        ax.set_xticks(list(xs), [r[0] for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{style} initializers")
    axes[0].set_ylabel("standard deviation")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=16, help="image height and width")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="draw measured vs formula std")
    args = parser.parse_args(argv)

    kx, ky, kp = jax.random.split(jax.random.key(args.seed), 3)
    x = jax.random.normal(kx, (args.batch, args.size, args.size, 3))
    y = jax.random.randint(ky, (args.batch,), 0, 10)
    out = {}
    for style in ("jinit", "torch"):
        model = CNN(style)
        params = model.init(kp, x)["params"]
        rows = report(style, params)
        print(f"flax.linen CNN, {style} initializers: "
              f"{sum(r[2] for r in rows):,} parameters")
        print(f"  {'parameter':<16} {'shape':<16} {'count':>7} {'std':>8} {'expected':>9}")
        for name, shape, count, std, exp in rows:
            print(f"  {name:<16} {str(shape):<16} {count:>7} {std:>8.4f} {exp:>9.4f}")
        logits = model.apply({"params": params}, x)
        losses = train_steps(model, params, x, y, args.steps)
        print(f"  forward: logits {tuple(logits.shape)}, std {float(logits.std()):.3f}; "
              f"Adam loss {losses[0]:.3f} -> {losses[-1]:.3f} in {args.steps} steps\n")
        out[style] = {"rows": rows, "losses": losses}
    if args.plot:
        plot_stds(out, args.plot, "flax.linen CNN: std per parameter")
    return out


if __name__ == "__main__":
    main()
