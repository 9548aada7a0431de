"""Runs every benchmark, each in its own process, and prints their tables.

    python benchmarks/run.py [--quick] [--tiny] [--json results.json] [--only throughput,...]

Writes one JSON document with every benchmark's header and rows (``--json``), and prints
each table as it finishes. The default sizes finish in under 10 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["throughput", "compile_time", "orthogonal", "whole_model", "sharded", "audit"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--full", action="store_true", help="also the largest sizes (about 30 min)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--only", default="", help="comma-separated subset of " + ", ".join(SCRIPTS))
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else SCRIPTS
    flags = [f for f, on in (("--quick", args.quick), ("--tiny", args.tiny), ("--full", args.full),
                             ("--no-torch", args.no_torch)) if on]
    docs = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            out = os.path.join(tmp, f"{name}.json")
            t0 = time.perf_counter()
            env = dict(os.environ)
            env.setdefault("JAX_PLATFORMS", "cpu")
            subprocess.run([sys.executable, os.path.join(HERE, f"{name}.py"), *flags,
                            "--json", out], check=True, env=env)
            with open(out) as f:
                docs[name] = json.load(f)
            docs[name]["elapsed_s"] = time.perf_counter() - t0
            print(f"({name}: {docs[name]['elapsed_s']:.0f} s)\n", flush=True)
    total = time.perf_counter() - t_all
    print(f"total: {total:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"total_s": total, "benchmarks": docs}, f, indent=1)
    return docs


if __name__ == "__main__":
    main()
