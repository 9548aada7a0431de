"""Audit time of a whole model: ``jinit.audit.check`` on GPT-2 small (124M parameters).

Draws GPT-2's parameters (Hugging Face Flax layout, ``examples/audit_gpt2.py``) with
``jinit.tree.init_tree`` and audits them against the same rules. Reported per config:

- ``init_s``: the first ``init_tree`` call (trace, compile, draw), as a user sees it;
- ``audit_s``: the first ``audit.check`` call in the process (compiles its reductions);
- ``audit_warm_s``: the median of repeated calls (reductions compiled);
- ``audit_cpu_s``: process CPU time of the first audit (on a shared machine wall time
  includes waiting for the cores; CPU time does not);
- ``x_init``: ``audit_s / init_s``.

    python benchmarks/audit.py [--quick | --tiny] [--json out.json]

Target (from the project's issue): under 10 s for GPT-2 small on 2 CPU cores.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import time

from _harness import ROOT, emit, parser

COLUMNS = ["config", "params_M", "leaves", "init_s", "audit_s", "audit_warm_s", "audit_cpu_s",
           "x_init", "flagged"]
CONFIGS = {  # layers, width, vocab, context
    "tiny": (2, 64, 512, 64),
    "small": (12, 768, 50257, 1024),
}


def _gpt2():
    spec = importlib.util.spec_from_file_location(
        "audit_gpt2", os.path.join(ROOT, "examples", "audit_gpt2.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(config: str, repeats: int) -> dict:
    import jax

    import jinit
    from jinit import audit

    gpt2 = _gpt2()
    layers, width, vocab, context = CONFIGS[config]
    rules = gpt2.rules(layers)
    shapes = gpt2.shapes(layers, width, vocab, context)
    t0 = time.perf_counter()
    params = jax.block_until_ready(jinit.tree.init_tree(jax.random.key(0), shapes, rules))
    init_s = time.perf_counter() - t0
    c0, t0 = time.process_time(), time.perf_counter()
    report = audit.check(params, rules)
    audit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        audit.check(params, rules)
        warm.append(time.perf_counter() - t0)
    n = sum(x.size for x in jax.tree.leaves(params))
    return {"config": config, "params_M": round(n / 1e6, 1), "leaves": len(report.leaves),
            "init_s": round(init_s, 2), "audit_s": round(audit_s, 2),
            "audit_warm_s": round(statistics.median(warm), 2) if warm else None,
            "audit_cpu_s": round(cpu_s, 2), "x_init": round(audit_s / init_s, 2),
            "flagged": len(report.flagged)}


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    configs = ["tiny"] if args.tiny else ["small"]
    repeats = args.repeats if args.repeats is not None else (1 if args.quick or args.tiny else 3)
    rows = [measure(c, repeats) for c in configs]
    summary = [f"{r['config']}: audit {r['audit_s']} s first call ({r['audit_cpu_s']} s CPU), "
               f"{r['audit_warm_s']} s warm; {r['x_init']}x the init time; target < 10 s"
               for r in rows]
    return emit("audit", rows, COLUMNS, args, summary=summary)


if __name__ == "__main__":
    main()
