"""Sharded init on 8 simulated devices: time, per-device bytes, equality with unsharded.

Each scheme is compiled with ``jax.jit(init, out_shardings=NamedSharding(mesh, P("x")))``
on an 8-device mesh and compared with the unsharded call: ``x_unsharded`` is unsharded
time / sharded time, ``x_jax_nn`` jax.nn.initializers' sharded time / jinit's,
``dev_bytes/shard`` XLA's per-device buffer estimate (outputs + temporaries, from
``compiled.memory_analysis()``) over the bytes of one shard. Simulated devices share the
host's cores, so sharded times here measure overhead, not speed-up. torch and numpy have
no sharded init and are not listed.

    python benchmarks/sharded.py [--quick] [--json out.json]
"""

from __future__ import annotations

import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=8").strip()

import numpy as np  # noqa: E402
from _harness import emit, paired_times, parser  # noqa: E402

COLUMNS = ["scheme", "shape", "devices", "sharded_ms", "unsharded_ms", "x_unsharded", "x_jax_nn",
           "dev_bytes/shard", "equal"]


def run(args) -> dict:
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec

    import jinit

    J = jax.nn.initializers
    n = 64 if args.tiny else 4096 if args.full else 2048
    shape = (n, n)
    repeats = args.repeats or (1 if args.tiny else 3)
    devices = jax.devices()
    mesh = jax.make_mesh((len(devices),), ("x",))
    sharding = NamedSharding(mesh, PartitionSpec("x", None))
    schemes = {
        "normal": (jinit.normal(0.02), J.normal(0.02)),
        "uniform": (jinit.uniform(0.02), J.uniform(0.02)),
        "truncated_normal": (jinit.truncated_normal(0.02), J.truncated_normal(0.02)),
        "he_normal": (jinit.he_normal(), J.he_normal()),
        "glorot_uniform": (jinit.glorot_uniform(), J.glorot_uniform()),
        # jax's orthogonal under a sharded jit replicates its QR on every device (minutes at
        # 2048 on 8 simulated devices): compared at small sizes only.
        "orthogonal": (jinit.orthogonal(), J.orthogonal() if n <= 512 else None),
    }
    key = jax.random.key(0)
    rows = []
    for name, (ours, theirs) in schemes.items():
        sharded = jax.jit(ours, static_argnums=(1, 2), out_shardings=sharding)
        plain = jax.jit(ours, static_argnums=(1, 2))
        calls = {"sharded": lambda f=sharded: f(key, shape, jnp.float32),
                 "unsharded": lambda f=plain: f(key, shape, jnp.float32)}
        if theirs is not None:
            peer = jax.jit(theirs, static_argnums=(1, 2), out_shardings=sharding)
            calls["jax_nn"] = lambda f=peer: f(key, shape, jnp.float32)
        times = paired_times(calls, repeats)
        out = calls["sharded"]()
        equal = bool(np.array_equal(np.asarray(out), np.asarray(calls["unsharded"]())))
        shard_bytes = sharding.shard_shape(shape)[0] * n * 4
        shard_ok = all(s.data.shape == sharding.shard_shape(shape) for s in out.addressable_shards)
        mem = sharded.lower(key, shape, jnp.float32).compile().memory_analysis()
        dev_bytes = None if mem is None else mem.output_size_in_bytes + mem.temp_size_in_bytes
        row = {"scheme": name, "shape": str(shape), "devices": len(devices),
               "sharded_ms": times["sharded"] * 1e3, "unsharded_ms": times["unsharded"] * 1e3,
               "x_unsharded": times["unsharded"] / times["sharded"], "equal": equal and shard_ok,
               "times_s": times}
        if "jax_nn" in times:
            row["x_jax_nn"] = times["jax_nn"] / times["sharded"]
        if dev_bytes is not None:
            row["dev_bytes/shard"] = dev_bytes / shard_bytes
        rows.append(row)
    summary = [f"all sharded results equal the unsharded ones: {all(r['equal'] for r in rows)}",
               "orthogonal sharded / unsharded time: "
               f"{1 / next(r['x_unsharded'] for r in rows if r['scheme'] == 'orthogonal'):.2f}"]
    return emit("sharded", rows, COLUMNS, args, {"repeats": repeats, "mesh": dict(mesh.shape)},
                summary)


def main(argv=None):
    return run(parser(__doc__.splitlines()[0]).parse_args(argv))


if __name__ == "__main__":
    main()
