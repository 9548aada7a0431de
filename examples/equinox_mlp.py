"""jinit in Equinox: He-initialize an ``eqx.nn.MLP`` through ``jinit.equinox.init``.

Equinox stores a ``Linear`` weight as ``(out, in)``, while jinit's default fan axes (like
jax's) assume the Flax ``(in, out)``. The table compares, for each layer, Var(W)·fan_in/2
(1 is right for He) of

* ``naive``: ``jinit.he_normal()(key, layer.weight.shape)``, which takes ``out`` as fan-in;
* ``adapter``: ``jinit.equinox.init(mlp, {"weight": jinit.he_normal()}, key)``,

averaged over ``--keys`` keys, then the activation std through the ReLU network on a
unit-variance batch, and a few gradient steps on a synthetic regression. ``--plot FILE.png``
draws the table's two columns per layer.

Run::

    python examples/equinox_mlp.py --plot equinox_mlp.png
"""

from __future__ import annotations

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jinit
import jinit.equinox


def activations(mlp: eqx.nn.MLP, x: jax.Array) -> list[float]:
    stds = []
    for layer in mlp.layers[:-1]:
        x = jax.nn.relu(jax.vmap(layer)(x))
        stds.append(float(x.std()))
    return stds


def plot_layers(rows: list[dict], path: str, keys: int) -> None:
    """Var(W)·fan_in/2 per layer, naive against adapter; 1 is He's promise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = np.arange(len(rows))
    ax.bar(xs - 0.2, [r["naive"] for r in rows], 0.4, color="tab:red",
           label="naive: he_normal on the (out, in) shape")
    ax.bar(xs + 0.2, [r["adapter"] for r in rows], 0.4, color="tab:blue",
           label="jinit.equinox.init")
    ax.axhline(1.0, color="k", lw=1, ls="--", label="He: 1")
    ax.set_xticks(xs, [f"{r['layer']}\n{r['shape']}" for r in rows], fontsize=8)
    ax.set_ylabel(f"Var(W)·fan_in/2 over {keys} keys")
    ax.set_title("eqx.nn.MLP: He normal with and without the adapter")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--out-size", type=int, default=10)
    parser.add_argument("--keys", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="draw the table per layer")
    args = parser.parse_args(argv)

    key = jax.random.key(args.seed)
    mlp = eqx.nn.MLP(args.in_size, args.out_size, args.width, args.depth,
                     activation=jax.nn.relu, key=key)
    rules = {r"weight$": jinit.he_normal(), r"bias$": jinit.zeros}
    keys = jax.random.split(jax.random.fold_in(key, 1), args.keys)
    adapted = eqx.filter_vmap(lambda k: jinit.equinox.init(mlp, rules, k))(keys)

    print(f"eqx.nn.MLP {args.in_size} -> {args.depth} x {args.width} -> {args.out_size}, "
          f"He normal, Var(W)*fan_in/2 over {args.keys} keys (1 is right)")
    print(f"  {'layer':<10} {'weight shape':<14} {'naive':>8} {'adapter':>8}")
    rows = []
    for i, layer in enumerate(mlp.layers):
        shape = layer.weight.shape
        naive = jax.vmap(lambda k, s=shape: jinit.he_normal()(k, s))(keys)
        fan_in = shape[1]
        row = {"layer": f"layers/{i}", "shape": shape,
               "naive": float(np.mean(np.asarray(naive, np.float64) ** 2)) * fan_in / 2,
               "adapter": float(np.mean(np.asarray(adapted.layers[i].weight, np.float64) ** 2))
               * fan_in / 2}
        rows.append(row)
        print(f"  {row['layer']:<10} {str(shape):<14} {row['naive']:>8.3f} {row['adapter']:>8.3f}")

    model = jinit.equinox.init(mlp, rules, jax.random.fold_in(key, 2))
    x = jax.random.normal(jax.random.fold_in(key, 3), (512, args.in_size))
    stds = activations(model, x)
    print("  activation std after each hidden ReLU layer:", " ".join(f"{s:.3f}" for s in stds))

    target = jnp.sin(x[:, : args.out_size])

    @eqx.filter_jit
    def step(m):
        def loss_fn(m):
            return jnp.mean((jax.vmap(m)(x) - target) ** 2)

        loss, grads = eqx.filter_value_and_grad(loss_fn)(m)
        return loss, eqx.apply_updates(m, jax.tree.map(lambda g: -0.05 * g, grads))

    losses = []
    for _ in range(args.steps):
        loss, model = step(model)
        losses.append(float(loss))
    if losses:
        print(f"  SGD MSE {losses[0]:.4f} -> {losses[-1]:.4f} in {args.steps} steps")
    if args.plot:
        plot_layers(rows, args.plot, args.keys)
    return {"rows": rows, "activation_std": stds, "losses": losses}


if __name__ == "__main__":
    main()
