"""Shared benchmark machinery: timing, the bandwidth floor, environment header, output.

Every benchmark script builds a list of rows (plain dicts) with :class:`Bench`, which
times callables (compiled outside the timed region, every call ended with
``block_until_ready``), takes medians over repeats, and writes a table to stdout and,
with ``--json PATH``, a JSON document ``{"header": ..., "rows": [...]}`` whose header
states the device, library versions, flags and machine load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

try:  # torch is an optional peer: every script skips its torch rows cleanly without it
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    p.add_argument("--full", action="store_true",
                   help="also the largest sizes (2^24-2^26 elements, n = 4096, GPT-2 medium)")
    p.add_argument("--tiny", action="store_true", help="smallest sizes (smoke tests)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement")
    p.add_argument("--json", default=None, help="write the rows and header to this file")
    p.add_argument("--no-torch", action="store_true", help="skip torch even if installed")
    return p


def block(x):
    """Waits for every array in ``x`` (jax arrays; numpy and torch are synchronous on CPU)."""
    import jax

    return jax.block_until_ready(x)


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds; ``warmup`` untimed calls first (compilation)."""
    for _ in range(warmup):
        out = fn()
        block(out)
        del out
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        block(out)
        times.append(time.perf_counter() - t0)
        del out
    return statistics.median(times)


def paired_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median times of several callables measured in interleaved rounds.

    Each round calls every callable once, so slow phases of a shared machine hit all of
    them alike; ratios of these medians are the numbers to read.
    """
    for fn in fns.values():
        block(fn())
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            out = fn()
            block(out)
            times[name].append(time.perf_counter() - t0)
            del out
    return {name: statistics.median(t) for name, t in times.items()}


def write_floor(nbytes: int, repeats: int = 5) -> float:
    """The machine's fresh-buffer write bandwidth in bytes/s, measured with jax.

    A jitted ``full`` writes a newly allocated output buffer, the same work any
    initializer has to do at least once; no sampler can beat it.
    """
    import jax
    import jax.numpy as jnp

    n = max(nbytes // 4, 1)
    fill = jax.jit(lambda x: jnp.full((n,), x, jnp.float32))
    x = jnp.float32(1.5)
    t = paired_times({"fill": lambda: fill(x)}, repeats)["fill"]
    return n * 4 / t


def header(flags: dict | None = None) -> dict:
    """Device, versions, flags and machine load, for the JSON header and the README."""
    import jax

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "jaxlib": getattr(__import__("jaxlib"), "__version__", "?"),
        "numpy": np.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "jax_threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "flags": flags or {},
    }
    try:
        info["load_average"] = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        pass
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    try:
        import flax

        info["flax"] = flax.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def use_torch(args) -> bool:
    return torch is not None and not getattr(args, "no_torch", False)


def fmt(x: object) -> str:
    if isinstance(x, float):
        if x == 0 or 1e-3 <= abs(x) < 1e5:
            return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
        return f"{x:.2e}"
    return str(x)


def table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A plain aligned text table of ``rows`` (missing cells blank)."""
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def emit(name: str, rows: list[dict], columns: Sequence[str], args, flags: dict | None = None,
         summary: Sequence[str] = ()) -> dict:
    """Prints the table (and summary lines) and writes the JSON document if asked."""
    doc = {"benchmark": name, "header": header(flags), "rows": rows, "summary": list(summary)}
    print(f"== {name} ==")
    print(table(rows, columns))
    for line in summary:
        print(line)
    print(flush=True)
    if getattr(args, "json", None):
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
    return doc


def geomean(values: Sequence[float]) -> float:
    values = [v for v in values if v and np.isfinite(v)]
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")
