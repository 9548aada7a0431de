"""First-call time (trace + compile + run) of one initializer on a shape not seen before.

Each measurement uses a fresh shape, so nothing is cached; shapes are small, so the time
is almost all tracing and compilation. ``x_jax_nn`` is jax's time / jinit's time (> 1:
jinit compiles faster). torch and numpy have no compile step; their first call on the
same shape is listed for reference.

    python benchmarks/compile_time.py [--quick] [--json out.json]
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _harness import emit, geomean, parser, torch, use_torch

COLUMNS = ["scheme", "jinit_ms", "jax_nn_ms", "jax_random_ms", "x_jax_nn", "torch_ms", "numpy_ms"]


def run(args) -> dict:
    import jax
    import jax.numpy as jnp

    import jinit

    J = jax.nn.initializers
    schemes = {
        "normal": (jinit.normal(), J.normal(), jax.random.normal,
                   torch and (lambda w: torch.nn.init.normal_(w, 0, 0.01))),
        "uniform": (jinit.uniform(), J.uniform(), jax.random.uniform,
                    torch and (lambda w: torch.nn.init.uniform_(w, 0, 0.01))),
        "truncated_normal": (jinit.truncated_normal(), J.truncated_normal(),
                             lambda k, s: jax.random.truncated_normal(k, -2.0, 2.0, s),
                             torch and torch.nn.init.trunc_normal_),
        "glorot_uniform": (jinit.glorot_uniform(), J.glorot_uniform(), jax.random.uniform,
                           torch and torch.nn.init.xavier_uniform_),
        "he_normal": (jinit.he_normal(), J.he_normal(),
                      lambda k, s: jax.random.truncated_normal(k, -2.0, 2.0, s),
                      torch and torch.nn.init.kaiming_normal_),
        "lecun_normal": (jinit.lecun_normal(), J.lecun_normal(),
                         lambda k, s: jax.random.truncated_normal(k, -2.0, 2.0, s), None),
        "orthogonal": (jinit.orthogonal(), J.orthogonal(),
                       lambda k, s: jax.random.orthogonal(k, s[0], (), jnp.float32, s[1]),
                       torch and torch.nn.init.orthogonal_),
    }
    if args.schemes:
        schemes = {k: v for k, v in schemes.items() if k in args.schemes.split(",")}
    repeats = args.repeats or (1 if args.tiny else 3 if args.quick else 5)
    with_torch = use_torch(args)
    key = jax.random.key(0)
    rows = []
    counter = [0]

    def fresh_shape():
        counter[0] += 1
        return (64 + counter[0], 96 + counter[0])

    def first_call(fn):
        shape = fresh_shape()
        t0 = time.perf_counter()
        jax.block_until_ready(jax.jit(fn, static_argnums=(1,))(key, shape))
        return time.perf_counter() - t0

    for name, (ours, theirs, raw, tinit) in schemes.items():
        times = {"jinit": [], "jax_nn": [], "jax_random": [], "torch": [], "numpy": []}
        for _ in range(repeats):  # interleaved, so machine load hits all alike
            times["jinit"].append(first_call(ours))
            times["jax_nn"].append(first_call(theirs))
            times["jax_random"].append(first_call(raw))
            shape = fresh_shape()
            if with_torch and tinit is not None:
                t0 = time.perf_counter()
                tinit(torch.empty(shape))
                times["torch"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            np.random.default_rng(counter[0]).standard_normal(shape, dtype=np.float32)
            times["numpy"].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items() if v}
        row = {"scheme": name, **{f"{k}_ms": v * 1e3 for k, v in med.items()},
               "x_jax_nn": med["jax_nn"] / med["jinit"]}
        rows.append(row)
    summary = [f"geomean first-call speedup vs jax.nn.initializers: "
               f"{geomean([r['x_jax_nn'] for r in rows]):.2f}x; "
               f"min {min(r['x_jax_nn'] for r in rows):.2f}x"]
    return emit("compile_time", rows, COLUMNS, args, {"repeats": repeats}, summary)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--schemes", default="", help="comma-separated subset of schemes")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    main()
