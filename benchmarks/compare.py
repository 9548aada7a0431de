"""``jinit.compare.run`` against the plain optax loop users write, and 8 seeds against 1.

The task: a ``flax.linen`` MLP (``depth`` Dense layers of ``width`` ReLU units) on a
synthetic 10-class problem, Adam, ``steps`` steps of batch 64, evaluated on a validation
set every 10 steps. Three ways, timed in interleaved rounds (medians kept):

- ``compare_8``: ``jinit.compare.run`` with 8 seeds (one compiled program, vmap over seeds
  of a scan over steps);
- ``compare_1``: the same with 1 seed;
- ``loop_8``: the same 8 runs written the usual way: ``model.init`` per seed, one
  ``jax.jit``-ted train step and eval step, a Python loop over seeds and steps, batches
  from a NumPy permutation per epoch, the loss pulled to the host at every evaluation.

Columns: ``exec_s`` is the training alone (compare: the compiled program's run, from
``Result.seconds``; loop: the loop with its step already compiled); ``total_s`` is the whole
call as a user sees it (compare: drawing the inits, compiling, running; loop: a fresh
``jax.jit`` of its steps, so compiling included). Ratios ``x_loop`` = loop time / this time
(> 1: faster than the loop).

    python benchmarks/compare.py [--quick | --tiny] [--repeats N] [--json out.json]
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _harness import emit, parser

COLUMNS = ["method", "seeds", "steps", "exec_s", "total_s", "x_loop_exec", "x_loop_total",
           "steps_per_s"]
SIZES = {"tiny": (2, 32, 40), "quick": (3, 64, 200), "default": (3, 128, 500)}
BATCH, EVAL_EVERY, CLASSES, FEATURES = 64, 10, 10, 32


def _data(n: int = 2048):
    rng = np.random.default_rng(0)
    centres = 2.0 * rng.standard_normal((CLASSES, FEATURES))
    y = (np.arange(n) % CLASSES).astype(np.int32)
    x = (centres[y] + rng.standard_normal((n, FEATURES))).astype(np.float32)
    order = rng.permutation(n)
    x, y = x[order], y[order]
    cut = n * 3 // 4
    return x[:cut], y[:cut], x[cut:], y[cut:]


def _model(depth: int, width: int):
    import flax.linen as nn

    layers: list = []
    for _ in range(depth - 1):
        layers += [nn.Dense(width), nn.relu]
    return nn.Sequential([*layers, nn.Dense(CLASSES)])


def _compare(model, data, steps: int, seeds: int) -> tuple[float, float]:
    import optax

    import jinit
    import jinit.compare

    x, y, xv, yv = data
    t0 = time.perf_counter()
    res = jinit.compare.run(model, {"he": jinit.he_normal()}, train=(x, y), val=(xv, yv),
                            loss="softmax_cross_entropy", optimizer=optax.adam(1e-3),
                            steps=steps, batch_size=BATCH, seeds=seeds, eval_every=EVAL_EVERY,
                            quiet=True)
    return res.seconds["he"][1], time.perf_counter() - t0


def _loop(model, data, steps: int, seeds: int, fresh: bool, cache: dict) -> float:
    """The 8 runs as users write them; returns the wall time."""
    import jax
    import optax

    x, y, xv, yv = data
    tx = optax.adam(1e-3)
    if fresh or "step" not in cache:
        def loss_fn(p, xb, yb):
            return optax.softmax_cross_entropy_with_integer_labels(model.apply(p, xb), yb).mean()

        @jax.jit
        def step(p, s, xb, yb):
            value, g = jax.value_and_grad(loss_fn)(p, xb, yb)
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s, value

        @jax.jit
        def evaluate(p, xb, yb):
            out = model.apply(p, xb)
            return (optax.softmax_cross_entropy_with_integer_labels(out, yb).mean(),
                    (out.argmax(-1) == yb).mean())

        cache.update(step=step, evaluate=evaluate)
    step, evaluate = cache["step"], cache["evaluate"]
    t0 = time.perf_counter()
    per_epoch = len(x) // BATCH
    for s in range(seeds):
        rng = np.random.default_rng(s)
        p = model.init(jax.random.key(s), x[:1])
        state = tx.init(p)
        history = []
        for i in range(steps):
            if i % per_epoch == 0:
                perm = rng.permutation(len(x))
            idx = perm[(i % per_epoch) * BATCH:(i % per_epoch + 1) * BATCH]
            p, state, value = step(p, state, x[idx], y[idx])
            if (i + 1) % EVAL_EVERY == 0:
                history.append((float(value), *map(float, evaluate(p, xv, yv))))
    return time.perf_counter() - t0


def measure(size: str, repeats: int) -> list[dict]:
    depth, width, steps = SIZES[size]
    model, data = _model(depth, width), _data()
    cache: dict = {}
    _loop(model, data, 2 * EVAL_EVERY, 1, False, cache)  # compile the loop's steps
    times: dict[str, list[tuple[float, float]]] = {"compare_8": [], "compare_1": [], "loop_8": []}
    for _ in range(repeats):  # interleaved rounds
        times["compare_8"].append(_compare(model, data, steps, 8))
        times["compare_1"].append(_compare(model, data, steps, 1))
        warm = _loop(model, data, steps, 8, False, cache)
        cold = _loop(model, data, steps, 8, True, cache)
        times["loop_8"].append((warm, cold))
    med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v))
           for k, v in times.items()}
    loop_exec, loop_total = med["loop_8"]
    rows = []
    for name, (exec_s, total_s) in med.items():
        seeds = 1 if name.endswith("_1") else 8
        rows.append({"method": name, "seeds": seeds, "steps": steps,
                     "exec_s": round(exec_s, 3), "total_s": round(total_s, 3),
                     "x_loop_exec": round(loop_exec / exec_s, 2),
                     "x_loop_total": round(loop_total / total_s, 2),
                     "steps_per_s": round(seeds * steps / exec_s)})
    return rows


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    size = "tiny" if args.tiny else "quick" if args.quick else "default"
    repeats = args.repeats if args.repeats is not None else (1 if args.tiny else 3)
    rows = measure(size, repeats)
    by = {r["method"]: r for r in rows}
    depth, width, steps = SIZES[size]
    summary = [
        f"MLP depth {depth} width {width}, {steps} Adam steps of batch {BATCH}, eval every "
        f"{EVAL_EVERY}; medians of {repeats} interleaved rounds",
        f"8 seeds: compare.run {by['loop_8']['exec_s'] / by['compare_8']['exec_s']:.1f}x faster "
        f"than the jitted-step loop (training alone), "
        f"{by['loop_8']['total_s'] / by['compare_8']['total_s']:.1f}x end to end",
        f"8 seeds cost {by['compare_8']['exec_s'] / by['compare_1']['exec_s']:.1f}x one seed "
        "(training alone)",
    ]
    return emit("compare", rows, COLUMNS, args, flags={"size": size, "repeats": repeats},
                summary=summary)


if __name__ == "__main__":
    main()
