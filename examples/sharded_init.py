"""Initialize a model too big for one device directly into a sharded layout, over 8 devices.

The model (a Flax linen MLP of wide Dense layers) holds more parameter bytes than a notional
per-device memory budget, so it must never exist whole on one device. Its kernels carry Flax
partitioning metadata (``nn.with_partitioning(jinit..., spec)``, alternating column and row
sharding as in Megatron-style tensor parallelism), and the whole init is one
``jax.jit(model.init, out_shardings=...)`` over a mesh of 8 devices: each device draws only
its own shards (JAX's partitionable threefry), so the peak on any device is its shard.

The script prints the bytes each device holds against the budget, then checks that the
sharded values equal an unsharded init with the same key, bit for bit. (The check gathers
the arrays to the host, which a model of real size would do leaf by leaf or not at all.) It
does the same for ``jinit.tree.init_tree``, which takes rules instead of per-layer inits.
``--plot FILE.png`` draws the bytes per device against the budget and the whole model.

On a CPU the 8 devices are simulated: the script sets
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before it imports jax (if jax is
already imported, it uses the devices there are).

Run::

    python examples/sharded_init.py
    python examples/sharded_init.py --width 4096 --layers 8 --budget-mib 64
"""

from __future__ import annotations

import os
import sys

if "jax" not in sys.modules:  # must precede the first jax import to take effect
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=8").strip()

import argparse  # noqa: E402

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh  # noqa: E402

import jinit  # noqa: E402

MIB = 2**20


class WideMLP(nn.Module):
    """``layers`` Dense layers of ``width`` units; kernels alternately column/row sharded."""

    width: int
    layers: int

    @nn.compact
    def __call__(self, x):
        for i in range(self.layers):
            spec = (None, "model") if i % 2 == 0 else ("model", None)
            x = nn.Dense(
                self.width,
                kernel_init=nn.with_partitioning(jinit.he_normal(), spec),
                bias_init=nn.with_partitioning(jinit.zeros, (spec[1],)),
            )(x)
            x = nn.relu(x)
        return x


def per_device_bytes(tree) -> dict:
    """Bytes of the shards each device holds, summed over the leaves of ``tree``."""
    out: dict = {}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            out[shard.device] = out.get(shard.device, 0) + shard.data.nbytes
    return out


def identical(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def plot_devices(per_device: dict, total: int, budget: float, path: str) -> None:
    """MiB held by each device, against the per-device budget and the whole model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = sorted(per_device, key=lambda d: d.id)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar(range(len(ids)), [per_device[d] / MIB for d in ids], color="tab:blue",
           label="held by the device")
    ax.set_xticks(range(len(ids)), [str(d.id) for d in ids])
    ax.axhline(budget / MIB, color="tab:orange", ls="--", label="per-device budget")
    ax.axhline(total / MIB, color="tab:red", ls=":", label="whole model")
    ax.set_xlabel("device")
    ax.set_ylabel("MiB")
    ax.set_title("sharded init: each device draws only its shards")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--budget-mib", type=float, default=16.0,
                        help="notional memory budget of one device")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="draw the bytes per device")
    args = parser.parse_args(argv)

    devices = jax.devices()[: args.devices]
    if len(devices) < args.devices:
        raise SystemExit(f"sharded_init.py: {len(jax.devices())} devices available, "
                         f"{args.devices} needed; set XLA_FLAGS before jax is imported.")
    if args.width % args.devices:
        raise SystemExit(f"sharded_init.py: --width {args.width} must be a multiple of "
                         f"--devices {args.devices}.")
    mesh = Mesh(np.array(devices), ("model",))
    model = WideMLP(args.width, args.layers)
    key, x = jax.random.key(args.seed), jnp.ones((1, args.width))

    # The abstract parameters (no memory) carry the partitioning metadata.
    abstract = jax.eval_shape(model.init, key, x)
    shardings = nn.get_sharding(abstract, mesh)
    total = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(abstract))
    budget = args.budget_mib * MIB

    sharded = jax.jit(model.init, out_shardings=shardings)(key, x)
    sharded = nn.unbox(sharded)
    per_device = per_device_bytes(sharded)
    largest = max(per_device.values())

    print(f"WideMLP: {args.layers} Dense layers of {args.width}x{args.width}, "
          f"{total / MIB:.1f} MiB of float32 parameters, {len(devices)} devices "
          f"(mesh axis 'model')")
    print(f"notional per-device budget {budget / MIB:.1f} MiB: total {total / MIB:.1f} MiB "
          f"{'>' if total > budget else '<='} budget "
          f"{'>=' if budget >= largest else '<'} largest device {largest / MIB:.1f} MiB")
    print(f"  {'device':<10} {'bytes':>12} {'MiB':>8}")
    for d, b in sorted(per_device.items(), key=lambda kv: kv[0].id):
        print(f"  {str(d.id):<10} {b:>12,} {b / MIB:>8.2f}")
    k0 = sharded["params"]["Dense_0"]["kernel"]
    print(f"  Dense_0/kernel {k0.shape} spec {k0.sharding.spec}; shard "
          f"{k0.addressable_shards[0].data.shape}")

    unsharded = nn.unbox(jax.jit(model.init)(key, x))
    same = identical(sharded, unsharded)
    print(f"sharded init == unsharded init (bit for bit): {same}")

    # The same through jinit.tree.init_tree: rules by path, shardings from the metadata.
    rules = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros}
    tree_sharded = nn.unbox(jinit.tree.init_tree(key, abstract, rules, shardings=mesh))
    tree_single = nn.unbox(jinit.tree.init_tree(key, abstract, rules))
    same_tree = identical(tree_sharded, tree_single)
    tree_largest = max(per_device_bytes(tree_sharded).values())
    print(f"jinit.tree.init_tree on the mesh: largest device {tree_largest / MIB:.2f} MiB; "
          f"== unsharded: {same_tree}")
    if args.plot:
        plot_devices(per_device, total, budget, args.plot)
    return {"total": total, "budget": budget, "per_device": per_device, "identical": same,
            "identical_tree": same_tree, "fits": total > budget >= largest}


if __name__ == "__main__":
    main()
