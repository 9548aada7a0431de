"""Whole-model init of GPT-2 shapes: Flax ``model.init``, jinit from ``jax.eval_shape``, torch.

Three ways to get the same parameters (token and position embeddings, per block LayerNorms,
fused QKV, attention projection and MLP; N(0, 0.02) weights, zero biases, unit scales):

(a) ``jax.jit(model.init)(key, tokens)`` of a Flax linen GPT-2 whose initializers are
    ``jax.nn.initializers``;
(b) ``jinit.tree.init_tree(key, jax.eval_shape(model.init, key, tokens), rules)``;
(c) torch building the same model (``nn.Linear``/``nn.Embedding``/``nn.LayerNorm``) and
    re-initializing it the way GPT-2 code does (``normal_(0, 0.02)``, zero biases).

Each measurement runs in its own subprocess: wall time of the whole first call (trace,
compile and run for jax; construction and init for torch) and the peak resident memory
it adds over the process's state just before the call, as a multiple of the parameter
bytes. Configs: ``small`` = GPT-2 small (124M parameters), ``medium`` = GPT-2 medium (355M).

    python benchmarks/whole_model.py [--quick] [--json out.json]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from _harness import emit, parser, use_torch

COLUMNS = ["config", "params_M", "method", "wall_s", "x_flax", "peak_rss_MB", "rss/param_bytes"]
CONFIGS = {  # vocab, context, width, layers, heads
    "tiny": (512, 64, 64, 2, 2),
    "small": (50257, 1024, 768, 12, 12),
    "medium": (50257, 1024, 1024, 24, 16),
}
STD = 0.02


def flax_model(cfg):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    vocab, ctx, d, layers, heads = cfg
    w_init = jax.nn.initializers.normal(STD)

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            b, t, _ = x.shape
            h = nn.LayerNorm(name="ln_1")(x)
            q, k, v = jnp.split(nn.Dense(3 * d, kernel_init=w_init, name="c_attn")(h), 3, -1)
            q, k, v = (a.reshape(b, t, heads, d // heads) for a in (q, k, v))
            att = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // heads), -1)
            y = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, d)
            x = x + nn.Dense(d, kernel_init=w_init, name="c_proj")(y)
            h = nn.LayerNorm(name="ln_2")(x)
            h = nn.gelu(nn.Dense(4 * d, kernel_init=w_init, name="c_fc")(h))
            return x + nn.Dense(d, kernel_init=w_init, name="mlp_proj")(h)

    class GPT2(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            wte = nn.Embed(vocab, d, embedding_init=w_init, name="wte")
            x = wte(tokens) + nn.Embed(ctx, d, embedding_init=w_init, name="wpe")(
                jnp.arange(tokens.shape[1]))
            for i in range(layers):
                x = Block(name=f"h_{i}")(x)
            return wte.attend(nn.LayerNorm(name="ln_f")(x))

    return GPT2()


def torch_model(cfg):
    from torch import nn

    vocab, ctx, d, layers, heads = cfg

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    class GPT2(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.h = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)
            self.apply(self._init_weights)

        @staticmethod
        def _init_weights(m):
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, STD)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    return GPT2()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
    return _peak_rss_bytes()


def measure(method: str, config: str) -> dict:
    """One measurement, in this (fresh) process."""
    cfg = CONFIGS[config]
    if method == "torch":
        import torch as th

        th.manual_seed(0)
        base = _rss_bytes()
        _reset_peak()
        t0 = time.perf_counter()
        model = torch_model(cfg)
        wall = time.perf_counter() - t0
        n = sum(p.numel() for p in model.parameters())
        return {"wall_s": wall, "params": n, "peak_delta": _vm_hwm() - base}
    import jax
    import jax.numpy as jnp

    import jinit

    model = flax_model(cfg)
    tokens = jnp.zeros((1, 8), jnp.int32)
    key = jax.random.key(0)
    jax.block_until_ready(jax.jit(lambda x: x + 1)(tokens))  # runtime started before the mark
    base = _rss_bytes()
    _reset_peak()
    t0 = time.perf_counter()
    if method == "flax":
        params = jax.block_until_ready(jax.jit(model.init)(key, tokens))
    else:
        shapes = jax.eval_shape(model.init, key, tokens)
        rules = {r"(kernel|embedding)$": jinit.normal(STD), r"bias$": jinit.zeros,
                 r"scale$": jinit.ones}
        params = jax.block_until_ready(jinit.tree.init_tree(key, shapes, rules))
    wall = time.perf_counter() - t0
    n = sum(x.size for x in jax.tree.leaves(params))
    return {"wall_s": wall, "params": int(n), "peak_delta": _vm_hwm() - base}


def _child(method: str, config: str) -> dict:
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", method,
                          "--config", config], capture_output=True, text=True, env=env,
                         timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{method}/{config} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args) -> dict:
    if args.tiny:
        configs = ["tiny"]
    elif args.quick:
        configs = ["small"]
    elif args.full:
        configs = ["small", "medium"]
    else:
        configs = ["small"]
    methods = ["flax", "jinit"] + (["torch"] if use_torch(args) else [])
    repeats = args.repeats or 1
    rows = []
    for config in configs:
        results = {}
        for method in methods:
            runs = [_child(method, config) for _ in range(repeats)]
            runs.sort(key=lambda r: r["wall_s"])
            results[method] = runs[len(runs) // 2]
        for method, r in results.items():
            pbytes = r["params"] * 4
            rows.append({"config": config, "params_M": r["params"] / 1e6, "method": method,
                         "wall_s": r["wall_s"], "x_flax": results["flax"]["wall_s"] / r["wall_s"],
                         "peak_rss_MB": r["peak_delta"] / 2**20,
                         "rss/param_bytes": r["peak_delta"] / pbytes})
    summary = []
    for config in configs:
        by = {r["method"]: r for r in rows if r["config"] == config}
        summary.append(f"{config}: jinit.tree wall = {1 / by['jinit']['x_flax']:.2f}x Flax "
                       f"model.init (target <= 0.5), peak RSS {by['jinit']['rss/param_bytes']:.2f}x "
                       f"parameter bytes (target <= 1.3)")
    return emit("whole_model", rows, COLUMNS, args, {"repeats": repeats, "configs": configs},
                summary)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--measure", default=None, help="internal: one measurement")
    p.add_argument("--config", default="small", help="internal: its config")
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.config)))
        return None
    return run(args)


if __name__ == "__main__":
    main()
