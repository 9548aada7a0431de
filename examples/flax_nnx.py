"""jinit in ``flax.nnx``: an MLP with jinit kernels and biases, and a PyTorch port.

Two versions of one MLP (three ``nnx.Linear`` layers, tanh):

* ``jinit``: hidden layers from ``jinit.for_activation("tanh")`` (variance gain² / fan_in
  with tanh's gain computed by jinit), the output layer ``jinit.lecun_normal()``, biases
  ``jinit.zeros``;
* ``torch``: PyTorch's ``nn.Linear`` defaults through ``jinit.presets``:
  ``torch_linear_kernel()`` = U(±1/√fan_in) and ``torch_linear_bias(fan_in)`` =
  U(±1/√fan_in) — what a model ported from PyTorch needs.

The table gives each parameter's shape, entry count, measured and expected standard
deviation, and the per-layer activation std on a unit-variance batch; then a few optax
(``nnx.Optimizer`` with Adam) steps run on a synthetic regression batch. ``--plot
FILE.png`` draws each parameter's measured standard deviation against its formula.

Run::

    python examples/flax_nnx.py --plot flax_nnx.png
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jinit
from jinit import presets


class MLP(nnx.Module):
    def __init__(self, sizes: tuple[int, ...], style: str, rngs: nnx.Rngs):
        self.layers = nnx.List()
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            last = i == len(sizes) - 2
            if style == "torch":
                inits = {"kernel_init": presets.torch_linear_kernel(),
                         "bias_init": presets.torch_linear_bias(n_in)}
            else:
                kernel = jinit.lecun_normal() if last else jinit.for_activation("tanh")
                inits = {"kernel_init": kernel, "bias_init": jinit.zeros}
            self.layers.append(nnx.Linear(n_in, n_out, rngs=rngs, **inits))

    def __call__(self, x, collect: list | None = None):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = jnp.tanh(x)
            if collect is not None:
                collect.append(x)
        return x


def expected_std(style: str, name: str, fan_in: int, last: bool) -> float:
    if style == "torch":  # U(±1/√fan_in): std = 1/√(3·fan_in)
        return 1.0 / math.sqrt(3.0 * fan_in)
    if name == "bias":
        return 0.0
    g = 1.0 if last else jinit.gain("tanh")
    return g / math.sqrt(fan_in)


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
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 256, 8])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="draw measured vs formula std")
    args = parser.parse_args(argv)
    sizes = tuple(args.sizes)

    kx, kt = jax.random.split(jax.random.key(args.seed + 1))
    x = jax.random.normal(kx, (args.batch, sizes[0]))
    y = jnp.sin(x @ jax.random.normal(kt, (sizes[0], sizes[-1])) / math.sqrt(sizes[0]))
    out = {}
    for style in ("jinit", "torch"):
        model = MLP(sizes, style, nnx.Rngs(args.seed))
        acts: list = []
        model(x, acts)
        n_params = sum(int(p.size) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
        print(f"flax.nnx MLP {sizes}, {style} initializers: {n_params:,} parameters")
        print(f"  {'parameter':<16} {'shape':<12} {'count':>7} {'std':>8} {'expected':>9} "
              f"{'output std':>11}")
        rows = []
        for i, layer in enumerate(model.layers):
            last = i == len(model.layers) - 1
            for name in ("kernel", "bias"):
                value = np.asarray(getattr(layer, name)[...], np.float64)
                exp = expected_std(style, name, layer.in_features, last)
                act_std = float(acts[i].std()) if name == "kernel" else float("nan")
                rows.append((f"layers/{i}/{name}", value.shape, value.size, value.std(), exp))
                act_text = f"{act_std:>11.3f}" if name == "kernel" else " " * 11
                print(f"  {rows[-1][0]:<16} {str(value.shape):<12} {value.size:>7} "
                      f"{value.std():>8.4f} {exp:>9.4f} {act_text}")

        optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

        @nnx.jit
        def step(model, optimizer):
            def loss_fn(model):
                return jnp.mean((model(x) - y) ** 2)

            loss, grads = nnx.value_and_grad(loss_fn)(model)
            optimizer.update(model, grads)
            return loss

        losses = [float(step(model, optimizer)) for _ in range(args.steps)]
        print(f"  Adam MSE {losses[0]:.4f} -> {losses[-1]:.4f} in {args.steps} steps\n")
        out[style] = {"rows": rows, "losses": losses}
    if args.plot:
        plot_stds(out, args.plot, f"flax.nnx MLP {sizes}: std per parameter")
    return out


if __name__ == "__main__":
    main()
