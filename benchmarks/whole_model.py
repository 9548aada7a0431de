"""Whole-model init: jinit.tree against Flax ``model.init`` and the torch constructor.

Every measurement runs in its own fresh subprocess and counts from after the imports: the
wall time of the whole first call (for jax: ``jax.eval_shape`` of the model, then trace,
compile and run; for torch: building the model and applying GPT-2's convention,
``normal_(0, 0.02)`` on every Linear/Embedding weight, biases zeroed) and the peak resident
memory it adds, as a multiple of the parameter bytes. Modes:

* default: GPT-2 small (``--full``: and medium) by (a) Flax ``jax.jit(model.init)``,
  (b) ``jinit.tree.init_tree`` from ``jax.eval_shape``, (c) torch;
* ``--cold``: paired, interleaved rounds of fresh processes: torch; jinit cold; jinit with
  one compile thread; jinit with jax's persistent compilation cache warm. Ratios to torch
  are per round, then the median;
* ``--sweep [--plot FILE]``: wall time, compile time (first call minus a second call in the
  same process, which compiles nothing; and the XLA compile seconds summed over programs)
  and peak memory against parameter count (GPT-2 small, medium, large, XL) and against
  depth at GPT-2 small's width;
* ``--programs``: compile count, XLA compile seconds, and the first (cold) and second call
  against the sampling floor (one jitted ``jinit.normal`` over a flat array of the same
  number of values, timed in the same process), for GPT-2 small, medium, a tree of 48
  kernels of 48 distinct shapes (``shapes48``) and GPT-2 small with its blocks stacked as
  ``nn.scan`` stacks them, under ``recipes.gpt2(scan_axis=0)`` (``scan_small``); methods: ``jinit`` (packed draws, leaves as
  host views on a CPU), ``jinit_split`` (packed, leaves cut by one split program, the route
  accelerators take), ``per_shape`` (one program per (initializer, shape), as before
  packing). Paired rounds of fresh processes; ratios are per process, then the median;
* ``--llama7b``: a Llama-2-7B-shaped tree in bfloat16 over 8 simulated CPU devices
  (``nn.with_partitioning`` specs, ``init_tree(..., shardings=mesh)``): wall time, peak RSS
  against the parameter bytes, and the largest per-device buffer against the shard bytes.

    python benchmarks/whole_model.py [--quick | --full | --tiny]
        [--cold | --sweep | --programs | --llama7b]
        [--repeats N] [--plot FILE] [--json out.json]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import _models
from _harness import emit, parser, use_torch

COLUMNS = ["config", "params_M", "method", "wall_s", "x_flax", "peak_rss_MB", "rss/param_bytes"]
COLD_COLUMNS = ["config", "method", "wall_s", "x_torch", "eval_shape_s", "compiled", "compile_s",
                "cache_hits", "rounds"]
SWEEP_COLUMNS = ["sweep", "config", "layers", "params_M", "first_s", "second_s", "compile_s",
                 "xla_compile_s", "programs", "Melem/s", "peak_rss_MB", "rss/param_bytes"]
PROGRAM_COLUMNS = ["config", "method", "params_M", "programs", "xla_compile_s", "eval_shape_s",
                   "cold_s", "second_s", "floor_s", "cold/floor", "second/floor", "rounds"]
LLAMA_COLUMNS = ["config", "params_B", "devices", "wall_s", "eval_shape_s", "init_s",
                 "programs", "Melem/s", "param_GB", "peak_rss_GB", "rss/param_bytes",
                 "largest_shard_MB", "largest_device_buffer_MB", "buffer/shard",
                 "largest_leaf_MB"]
CACHE_ENV = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


# ------------------------------------------------------------------------ memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    """Resets the kernel's peak-RSS mark for this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _vm_hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -------------------------------------------------------------- one measurement


def _cache_hits() -> list[int]:
    import jax

    hits = [0]

    def listen(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            hits[0] += 1

    jax.monitoring.register_event_listener(listen)
    return hits


def measure(method: str, config: str, second: bool = False) -> dict:
    """One measurement, in this (fresh) process."""
    if method == "torch":
        import torch as th

        th.manual_seed(0)
        base = _rss_bytes()
        _reset_peak()
        t0 = time.perf_counter()
        model = _models.gpt2_torch(_models.gpt2_config(config))
        wall = time.perf_counter() - t0
        n = sum(p.numel() for p in model.parameters())
        return {"wall_s": wall, "params": n, "param_bytes": 4 * n,
                "peak_delta": _vm_hwm() - base}
    import jax
    import jax.numpy as jnp

    import jinit
    from jinit import _programs

    if method == "jinit_serial":
        _programs.MAX_WORKERS = 1
    if method == "jinit_split":
        _programs.HOST_VIEWS = False
    if method == "per_shape":
        _programs.PACK = False
    hits = _cache_hits()
    llama = config.startswith("llama")
    if llama:
        cfg = _models.LLAMA[config.removeprefix("llama")]
        model, rules = _models.llama_flax(cfg), _models.llama_rules()
    elif config.startswith("shapes"):
        model, rules = None, {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros}
    elif config.startswith("scan_"):
        cfg = _models.gpt2_config(config.removeprefix("scan_"))
        model, rules = _models.gpt2_flax(cfg), _models.gpt2_scanned_recipe(cfg[3])
    else:
        model = _models.gpt2_flax(_models.gpt2_config(config))
        rules = _models.gpt2_rules()
    tokens = jnp.zeros((1, 8), jnp.int32)
    key = jax.random.key(0)
    mesh = jax.make_mesh((len(jax.devices()),), ("model",)) if llama else None
    jax.block_until_ready(jax.jit(lambda x: x + 1)(tokens))  # runtime started before the mark
    base = _rss_bytes()
    _reset_peak()
    t0 = time.perf_counter()
    if method == "flax":
        params = jax.block_until_ready(jax.jit(model.init)(key, tokens))
        t_shapes = 0.0
    else:
        if model is None:
            shapes = many_shapes(int(config.removeprefix("shapes")))
        else:
            shapes = jax.eval_shape(model.init, key, tokens)
        if config.startswith("scan_"):
            shapes = _models.gpt2_scanned(shapes, _models.gpt2_config(config[5:])[3])
        t_shapes = time.perf_counter() - t0
        params = jax.block_until_ready(jinit.tree.init_tree(key, shapes, rules, shardings=mesh))
    wall = time.perf_counter() - t0
    peak = _vm_hwm() - base
    leaves = jax.tree.leaves(params)
    out = {"wall_s": wall, "eval_shape_s": t_shapes, "params": int(sum(x.size for x in leaves)),
           "param_bytes": int(sum(x.nbytes for x in leaves)), "peak_delta": peak,
           "compiled": _programs.stats["compiled"], "compile_s": _programs.stats["compile_s"],
           "cache_hits": hits[0]}
    if llama:
        out.update(_device_buffers(leaves, mesh))
    if second:
        del params, leaves
        t0 = time.perf_counter()
        params = jax.block_until_ready(jinit.tree.init_tree(key, shapes, rules, shardings=mesh))
        out["second_s"] = time.perf_counter() - t0
        out["compiled_after_second"] = _programs.stats["compiled"]
        out.update(_floor(key, shapes, rules, mesh, out["params"], out["second_s"]))
    return out


def many_shapes(n: int) -> dict:
    """``n`` dense layers of ``n`` distinct shapes (kernel ``(256 + 16 i, 512)`` and bias):
    the case where one program per shape means ``n`` compiles."""
    import jax
    import jax.numpy as jnp

    return {f"layer_{i}": {"kernel": jax.ShapeDtypeStruct((256 + 16 * i, 512), jnp.float32),
                           "bias": jax.ShapeDtypeStruct((512,), jnp.float32)} for i in range(n)}


def _floor(key, shapes, rules, mesh, n: int, second: float) -> dict:
    """The sampling floor: one jitted ``jinit.normal`` over a flat array of ``n`` values
    (compiled first), timed in rounds alternating with further second calls; medians."""
    import jax

    import jinit

    flat = jax.jit(lambda k: jinit.normal(0.02)(k, (n,)))
    jax.block_until_ready(flat(key))
    floors, seconds = [], [second]
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(flat(key))
        floors.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        jax.block_until_ready(jinit.tree.init_tree(key, shapes, rules, shardings=mesh))
        seconds.append(time.perf_counter() - t0)
    return {"floor_s": statistics.median(floors), "second_median_s": statistics.median(seconds)}


def _device_buffers(leaves, mesh) -> dict:
    """Largest shard held by one device, largest leaf, and the largest buffer any program
    needs on one device (its output plus XLA temporaries, from the compiled program)."""
    from jinit import _programs

    shard = max(s.data.nbytes for x in leaves for s in x.addressable_shards)
    leaf = max(x.nbytes for x in leaves)
    buffer = 0
    for program in list(_programs._cache.values()):
        mem = program.memory_analysis()
        if mem is not None:
            buffer = max(buffer, mem.output_size_in_bytes + mem.temp_size_in_bytes)
    return {"largest_shard": shard, "largest_leaf": leaf, "largest_device_buffer": buffer,
            "devices": mesh.devices.size}


def _child(method: str, config: str, env_extra: dict | None = None, second: bool = False,
           devices: int | None = None) -> dict:
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.update(env_extra or {})
    if devices:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            f" --xla_force_host_platform_device_count={devices}").strip()
    cmd = [sys.executable, os.path.abspath(__file__), "--measure", method, "--config", config]
    out = subprocess.run(cmd + (["--second"] if second else []), capture_output=True, text=True,
                         env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"{method}/{config} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- the modes


def run_default(args) -> dict:
    configs = ["tiny"] if args.tiny else ["small", "medium"] if args.full else ["small"]
    if args.configs:
        configs = args.configs.split(",")
    methods = ["flax", "jinit"] + (["torch"] if use_torch(args) else [])
    repeats = args.repeats or 1
    rows = []
    for config in configs:
        results = {}
        for method in methods:
            if method == "torch" and config.startswith("llama"):
                continue
            runs = sorted((_child(method, config) for _ in range(repeats)),
                          key=lambda r: r["wall_s"])
            results[method] = runs[len(runs) // 2]
        for method, r in results.items():
            rows.append({"config": config, "params_M": r["params"] / 1e6, "method": method,
                         "wall_s": r["wall_s"], "x_flax": results["flax"]["wall_s"] / r["wall_s"],
                         "peak_rss_MB": r["peak_delta"] / 2**20,
                         "rss/param_bytes": r["peak_delta"] / r["param_bytes"]})
    summary = []
    for config in configs:
        by = {r["method"]: r for r in rows if r["config"] == config}
        summary.append(f"{config}: jinit.tree wall = {1 / by['jinit']['x_flax']:.2f}x Flax "
                       f"model.init (target <= 0.5), peak RSS {by['jinit']['rss/param_bytes']:.2f}x "
                       f"parameter bytes (target <= 1.3)")
    return emit("whole_model", rows, COLUMNS, args, {"repeats": repeats, "configs": configs},
                summary)


def run_cold(args) -> dict:
    """Paired rounds: every method once per round, in a rotating order."""
    configs = ["tiny"] if args.tiny else ["small"] if args.quick else ["small", "medium"]
    repeats = args.repeats or (1 if args.tiny else 5)
    methods = (["torch"] if use_torch(args) else []) + ["jinit", "jinit_serial", "jinit_warm"]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        warm_env = dict(CACHE_ENV, JAX_COMPILATION_CACHE_DIR=cache)
        for config in configs:
            _child("jinit", config, warm_env)  # fills the persistent cache (not timed)
            runs: dict[str, list[dict]] = {m: [] for m in methods}
            for r in range(repeats):
                order = methods[r % len(methods):] + methods[:r % len(methods)]
                for method in order:
                    env = warm_env if method == "jinit_warm" else None
                    name = "jinit" if method == "jinit_warm" else method
                    runs[method].append(_child(name, config, env))
            for method, rs in runs.items():
                row = {"config": config, "method": method, "rounds": len(rs),
                       "params_M": rs[0]["params"] / 1e6}
                for k in ("wall_s", "eval_shape_s", "compiled", "compile_s", "cache_hits"):
                    if k in rs[0]:
                        row[k] = statistics.median(x[k] for x in rs)
                if "torch" in runs:
                    row["x_torch"] = statistics.median(
                        x["wall_s"] / t["wall_s"] for x, t in zip(rs, runs["torch"], strict=True))
                row["walls_s"] = [x["wall_s"] for x in rs]
                rows.append(row)
    summary = []
    for config in configs:
        by = {r["method"]: r for r in rows if r["config"] == config}
        if "torch" in by:
            summary.append(f"{config}: cold jinit = {by['jinit']['x_torch']:.2f}x torch (target <= "
                           f"1.0); one compile thread {by['jinit_serial']['x_torch']:.2f}x; warm "
                           f"persistent cache {by['jinit_warm']['x_torch']:.2f}x (target <= 0.5)")
    try:
        load = os.getloadavg()
        summary.append(f"load average during the run: {load[0]:.1f} (1 min), {load[2]:.1f} (15 min)")
    except OSError:  # pragma: no cover
        pass
    return emit("whole_model_cold", rows, COLD_COLUMNS, args,
                {"repeats": repeats, "configs": configs}, summary)


def run_sweep(args) -> dict:
    if args.tiny:
        by_size, by_depth = ["tiny"], []
    elif args.quick:
        by_size, by_depth = ["small", "medium"], [f"d768_L{n}" for n in _models.DEPTHS[:3]]
    else:
        by_size, by_depth = list(_models.GPT2)[1:], [f"d768_L{n}" for n in _models.DEPTHS]
    rows = []
    for sweep, configs in (("size", by_size), ("depth", by_depth)):
        for config in configs:
            r = _child("jinit", config, second=True)
            rows.append({"sweep": sweep, "config": config,
                         "layers": _models.gpt2_config(config)[3],
                         "params_M": r["params"] / 1e6, "first_s": r["wall_s"],
                         "second_s": r["second_s"],
                         "compile_s": r["wall_s"] - r["eval_shape_s"] - r["second_s"],
                         "xla_compile_s": r["compile_s"], "programs": r["compiled"], "Melem/s": r["params"] / r["second_s"] / 1e6,
                         "peak_rss_MB": r["peak_delta"] / 2**20,
                         "rss/param_bytes": r["peak_delta"] / r["param_bytes"],
                         "recompiled": r["compiled_after_second"] - r["compiled"]})
    summary = []
    depth = [r for r in rows if r["sweep"] == "depth"]
    if depth:
        summary.append("depth sweep (width 768): programs " + ", ".join(
            str(r["programs"]) for r in depth) + "; compile s " + ", ".join(
            f"{r['compile_s']:.2f}" for r in depth))
    size = [r for r in rows if r["sweep"] == "size"]
    summary.append("size sweep: sampling Melem/s " + ", ".join(
        f"{r['Melem/s']:.0f}" for r in size) + " (flat = linear in parameters)")
    doc = emit("whole_model_sweep", rows, SWEEP_COLUMNS, args, {"configs": by_size + by_depth},
               summary)
    if args.plot:
        plot_sweep(rows, args.plot)
    return doc


def plot_sweep(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, sweep, x, xlabel in ((axes[0], "size", "params_M", "parameters (M), GPT-2 shapes"),
                                 (axes[1], "depth", "layers", "blocks at width 768")):
        rs = [r for r in rows if r["sweep"] == sweep]
        if not rs:
            ax.set_visible(False)
            continue
        xs = [r[x] for r in rs]
        ax.plot(xs, [r["first_s"] for r in rs], "o-", label="first call (wall)")
        ax.plot(xs, [r["second_s"] for r in rs], "s-", label="sampling (second call)")
        ax.plot(xs, [max(r["compile_s"], 0.0) for r in rs], "^-", label="trace + compile")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax2 = ax.twinx()
        ax2.plot(xs, [r["peak_rss_MB"] / 1024 for r in rs], "k:", label="peak RSS added (GiB)")
        ax2.set_ylabel("peak RSS added (GiB)")
        ax.legend(loc="upper left", fontsize=8)
        ax2.legend(loc="lower right", fontsize=8)
        ax.set_title(f"jinit.tree.init_tree vs {'model size' if sweep == 'size' else 'depth'}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_programs(args) -> dict:
    """Paired rounds of fresh processes: each method once per round, in a rotating order."""
    if args.configs:
        configs = args.configs.split(",")
    else:
        configs = (["tiny", "shapes8", "scan_tiny"] if args.tiny else ["small", "shapes48"] if args.quick
                   else ["small", "medium", "shapes48", "scan_small"])
    repeats = args.repeats or (1 if args.tiny else 3)
    methods = ["jinit", "jinit_split", "per_shape"]
    rows = []
    for config in configs:
        runs: dict[str, list[dict]] = {m: [] for m in methods}
        for r in range(repeats):
            for method in methods[r % len(methods):] + methods[:r % len(methods)]:
                runs[method].append(_child(method, config, second=True))
        for method, rs in runs.items():
            med = lambda f, rs=rs: statistics.median(f(x) for x in rs)  # noqa: E731
            rows.append({"config": config, "method": method, "rounds": len(rs),
                         "params_M": rs[0]["params"] / 1e6, "programs": med(lambda x: x["compiled"]),
                         "xla_compile_s": med(lambda x: x["compile_s"]),
                         "eval_shape_s": med(lambda x: x["eval_shape_s"]),
                         "cold_s": med(lambda x: x["wall_s"] - x["eval_shape_s"]),
                         "second_s": med(lambda x: x["second_median_s"]),
                         "floor_s": med(lambda x: x["floor_s"]),
                         "cold/floor": med(lambda x: (x["wall_s"] - x["eval_shape_s"]) / x["floor_s"]),
                         "second/floor": med(lambda x: x["second_median_s"] / x["floor_s"])})
    summary = [f"{r['config']}: {r['method']} compiles {r['programs']:g} programs; cold "
               f"{r['cold/floor']:.2f}x the sampling floor (target <= 1.3), second call "
               f"{r['second/floor']:.2f}x (target <= 1.15)" for r in rows if r["method"] == "jinit"]
    try:
        load = os.getloadavg()
        summary.append(f"load average during the run: {load[0]:.1f} (1 min), {load[2]:.1f} (15 min)")
    except OSError:  # pragma: no cover
        pass
    return emit("whole_model_programs", rows, PROGRAM_COLUMNS, args,
                {"repeats": repeats, "configs": configs}, summary)


def run_llama(args) -> dict:
    config = "llamatiny" if args.tiny else "llama7b"
    r = _child("jinit", config, devices=8)
    init_s = r["wall_s"] - r["eval_shape_s"]
    row = {"config": config, "params_B": r["params"] / 1e9, "devices": r["devices"],
           "wall_s": r["wall_s"], "eval_shape_s": r["eval_shape_s"], "init_s": init_s,
           "programs": r["compiled"], "Melem/s": r["params"] / init_s / 1e6,
           "param_GB": r["param_bytes"] / 1e9, "peak_rss_GB": r["peak_delta"] / 1e9,
           "rss/param_bytes": r["peak_delta"] / r["param_bytes"],
           "largest_shard_MB": r["largest_shard"] / 2**20,
           "largest_device_buffer_MB": r["largest_device_buffer"] / 2**20,
           "buffer/shard": r["largest_device_buffer"] / r["largest_shard"],
           "largest_leaf_MB": r["largest_leaf"] / 2**20}
    summary = [f"{config}: {row['params_B']:.2f}B parameters in {row['wall_s']:.1f} s on "
               f"{row['devices']} simulated devices; peak RSS {row['rss/param_bytes']:.2f}x the "
               f"parameter bytes (target <= 1.1); largest per-device buffer "
               f"{row['buffer/shard']:.2f}x the largest shard, "
               f"{row['largest_device_buffer_MB'] / row['largest_leaf_MB']:.3f}x the largest leaf"]
    return emit("whole_model_llama", [row], LLAMA_COLUMNS, args, {"config": config}, summary)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--cold", action="store_true", help="paired cold/warm rounds against torch")
    mode.add_argument("--sweep", action="store_true", help="time and memory vs size and depth")
    mode.add_argument("--programs", action="store_true",
                      help="compile count and first/second call against the sampling floor")
    mode.add_argument("--llama7b", action="store_true", help="Llama-2-7B over 8 CPU devices")
    p.add_argument("--plot", default=None, help="with --sweep: write the plot to this PNG")
    p.add_argument("--configs", default="", help="default and --programs modes: comma-separated "
                   "configs among " + ", ".join(list(_models.GPT2) + ["llama" + k for k in _models.LLAMA]
                                                + ["shapes<N>"]))
    p.add_argument("--measure", default=None, help=argparse_hidden())
    p.add_argument("--config", default="small", help=argparse_hidden())
    p.add_argument("--second", action="store_true", help=argparse_hidden())
    args = p.parse_args(argv)
    if args.plot and not args.sweep:
        p.error("--plot needs --sweep")
    if args.measure:
        print(json.dumps(measure(args.measure, args.config, args.second)))
        return None
    if args.cold:
        return run_cold(args)
    if args.sweep:
        return run_sweep(args)
    if args.programs:
        return run_programs(args)
    if args.llama7b:
        return run_llama(args)
    return run_default(args)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
