"""Trace time of ``jinit.structure.trace`` on GPT-2 shapes: small, 24 layers, two widths.

The trace is abstract (``jax.make_jaxpr`` on ``jax.ShapeDtypeStruct``: no parameter values,
no FLOPs), so its time should depend on the number of operations, not on the parameter
bytes: the two 24-layer rows differ only in width (768 vs 1536, 4x the parameters). Reported
per config:

- ``first_s``, ``first_cpu_s``: the first call in the process (jax's tracing caches cold,
  activations named), wall and process CPU time;
- ``warm_s``: the median of repeated calls;
- ``cpu_s``: process CPU time of the warm calls' median (wall time on a shared machine
  includes waiting for the cores);
- ``eqns``: primitive operations read (sub-programs inlined).

    python benchmarks/structure.py [--quick | --tiny] [--json out.json]

Target: under 2 s for GPT-2 small, independent of the parameter size.
"""

from __future__ import annotations

import statistics
import time

from _harness import emit, parser

COLUMNS = ["config", "params_M", "leaves", "eqns", "first_s", "first_cpu_s", "warm_s", "cpu_s"]
CONFIGS = {  # vocab, context, width, layers, heads
    "tiny": (512, 64, 64, 2, 2),
    "gpt2-small": (50257, 1024, 768, 12, 12),
    "d768_L24": (50257, 1024, 768, 24, 12),
    "d1536_L24": (50257, 1024, 1536, 24, 12),
}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    import math

    import jax
    import jax.numpy as jnp
    from _models import gpt2_flax

    from jinit import structure
    from jinit.structure import _graph

    names = ["tiny"] if args.tiny else ["gpt2-small", "d768_L24"] if args.quick else \
        ["gpt2-small", "d768_L24", "d1536_L24"]
    repeats = args.repeats or (2 if args.tiny or args.quick else 5)
    rows = []
    for name in names:
        model = gpt2_flax(CONFIGS[name])
        tokens = jax.ShapeDtypeStruct((1, 64), jnp.int32)
        t0, c0 = time.perf_counter(), time.process_time()
        s = structure.trace(model, tokens)
        first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
        walls, cpus = [], []
        for _ in range(repeats):
            w, c = time.perf_counter(), time.process_time()
            structure.trace(model, tokens)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        shapes = jax.eval_shape(model.init, jax.random.key(0), tokens)
        closed = jax.make_jaxpr(model.apply)(shapes, tokens)
        graph = _graph.Graph()
        _graph.flatten(closed, [graph.new(v.aval) for v in closed.jaxpr.invars], graph)
        params = sum(math.prod(u.shape) for u in s.values())
        rows.append({"config": name, "params_M": round(params / 1e6, 1), "leaves": len(s),
                     "eqns": len(graph.nodes), "first_s": round(first, 3), "first_cpu_s": round(first_cpu, 3),
                     "warm_s": round(statistics.median(walls), 3),
                     "cpu_s": round(statistics.median(cpus), 3)})
    emit("structure", rows, COLUMNS, args)


if __name__ == "__main__":
    main()
