"""Per-scheme throughput: jinit vs jax.nn.initializers, jax.random, torch.nn.init and numpy.

For each scheme, size (2^20 ... 2^26 elements), dtype (float32, bfloat16) and layout
(dense ``(n, n)``, conv HWIO ``(3, 3, c_in, c_out)``) every implementation is timed in
interleaved rounds (jax ones under ``jax.jit``, compiled before timing, each call ended
with ``block_until_ready``); torch times ``torch.empty`` plus its in-place init, numpy its
generator call. Columns ``x_<peer>`` are peer time / jinit time (> 1: jinit is faster);
``floor`` is the fraction of the measured fresh-buffer write bandwidth jinit reaches.

    python benchmarks/throughput.py [--quick] [--json out.json]
"""

from __future__ import annotations

import math

import numpy as np
from _harness import emit, geomean, paired_times, parser, torch, use_torch, write_floor

COLUMNS = ["scheme", "shape", "dtype", "ms", "Melem/s", "x_jax_nn", "x_jax_random", "x_torch",
           "x_numpy", "floor", "bit_identical"]

# scheme -> (jinit factory, jax factory, raw jax.random sampler, torch in-place init, numpy)
# Each sampler takes (key/rng, shape, dtype) and returns the same distribution as the scheme.
SCALE = 0.02


def _fans(shape):
    rf = math.prod(shape[:-2])
    return shape[-2] * rf, shape[-1] * rf


def _schemes():
    import jax
    import jax.numpy as jnp

    import jinit

    J = jax.nn.initializers
    r = jax.random

    def vs(scale, mode, kind):
        def fan(shape):
            fi, fo = _fans(shape)
            return {"fan_in": fi, "fan_avg": (fi + fo) / 2}[mode]

        def raw(k, s, dt):
            std = math.sqrt(scale / fan(s))
            if kind == "uniform":
                return r.uniform(k, s, dt, -1.0) * jnp.asarray(std * math.sqrt(3), dt)
            if kind == "normal":
                return r.normal(k, s, dt) * jnp.asarray(std, dt)
            return r.truncated_normal(k, -2.0, 2.0, s, dt) * jnp.asarray(std / .87962566103423978, dt)

        def np_fn(g, s, dt):
            std = math.sqrt(scale / fan(s))
            if kind == "uniform":
                lim = std * math.sqrt(3)
                return g.random(s, dtype=np.float32) * np.float32(2 * lim) - np.float32(lim)
            if kind == "normal":
                return g.standard_normal(s, dtype=np.float32) * np.float32(std)
            return None
        return raw, np_fn

    def torch_layout(s):  # HWIO -> OIHW, (in, out) -> (out, in)
        return (s[-1], s[-2], *s[:-2])

    t = torch.nn.init if torch is not None else None
    out = {
        "normal": (jinit.normal(SCALE), J.normal(SCALE),
                   lambda k, s, dt: r.normal(k, s, dt) * jnp.asarray(SCALE, dt),
                   t and (lambda w: t.normal_(w, 0.0, SCALE)),
                   lambda g, s, dt: g.standard_normal(s, dtype=np.float32) * np.float32(SCALE)),
        "uniform": (jinit.uniform(SCALE), J.uniform(SCALE),
                    lambda k, s, dt: r.uniform(k, s, dt) * jnp.asarray(SCALE, dt),
                    t and (lambda w: t.uniform_(w, 0.0, SCALE)),
                    lambda g, s, dt: g.random(s, dtype=np.float32) * np.float32(SCALE)),
        "truncated_normal": (jinit.truncated_normal(SCALE), J.truncated_normal(SCALE),
                             lambda k, s, dt: r.truncated_normal(k, -2.0, 2.0, s, dt) * jnp.asarray(SCALE, dt),
                             t and (lambda w: t.trunc_normal_(w, 0.0, SCALE, -2 * SCALE, 2 * SCALE)),
                             None),
        "glorot_uniform": (jinit.glorot_uniform(), J.glorot_uniform(), *vs(1.0, "fan_avg", "uniform")[:1],
                           t and t.xavier_uniform_, vs(1.0, "fan_avg", "uniform")[1]),
        "he_uniform": (jinit.he_uniform(), J.he_uniform(), vs(2.0, "fan_in", "uniform")[0],
                       t and (lambda w: t.kaiming_uniform_(w, nonlinearity="relu")),
                       vs(2.0, "fan_in", "uniform")[1]),
        # jax's glorot_normal / he_normal / lecun_normal are truncated normals; torch's
        # xavier_normal_ / kaiming_normal_ are plain normals with the same variance.
        "glorot_normal": (jinit.glorot_normal(), J.glorot_normal(), vs(1.0, "fan_avg", "tn")[0],
                          t and t.xavier_normal_, None),
        "he_normal": (jinit.he_normal(), J.he_normal(), vs(2.0, "fan_in", "tn")[0],
                      t and (lambda w: t.kaiming_normal_(w, nonlinearity="relu")), None),
        "lecun_normal": (jinit.lecun_normal(), J.lecun_normal(), vs(1.0, "fan_in", "tn")[0],
                         None, None),
    }
    return out, torch_layout


def _shapes(args):
    if args.sizes:  # explicit log2 sizes, dense (n, n)-like shapes, every dtype asked for
        dense = [2 ** int(e) for e in args.sizes.split(",")]
        dtypes = args.dtypes.split(",") if args.dtypes else ["float32", "bfloat16"]
        return [((int(math.isqrt(n)), n // int(math.isqrt(n))), dt) for n in dense
                for dt in dtypes], []
    if args.tiny:
        dense = [2**10]
    elif args.quick:
        dense = [2**20, 2**22]
    elif args.full:
        dense = [2**20, 2**22, 2**24]
    else:
        dense = [2**20, 2**22]
    cases = [((int(math.isqrt(n)), n // int(math.isqrt(n))), "float32") for n in dense]
    mid = dense[-1] if args.tiny else 2**22
    side = (int(math.isqrt(mid)), mid // int(math.isqrt(mid)))
    cases.append((side, "bfloat16"))
    cases.append(((3, 3, 4, 8) if args.tiny else (3, 3, 512, 1024), "float32"))
    big = [((8192, 8192), "float32")] if args.full else []
    return cases, big


def run(args) -> dict:
    import jax
    import jax.numpy as jnp

    schemes, torch_layout = _schemes()
    with_torch = use_torch(args)
    repeats = args.repeats or (2 if args.tiny else 3 if args.quick else 4)
    cases, big = _shapes(args)
    names = args.schemes.split(",") if args.schemes else list(schemes)
    todo = [(name, s, d) for s, d in cases for name in names]
    todo += [(name, s, d) for s, d in big for name in ("normal", "uniform") if name in names]
    rows = []
    key = jax.random.key(0)
    gen = np.random.default_rng(0)
    floors: dict[int, float] = {}
    for name, shape, dtname in todo:
        ours, theirs, raw, tinit, np_fn = schemes[name]
        dt = jnp.dtype(dtname)
        n = math.prod(shape)
        nbytes = n * dt.itemsize
        if nbytes not in floors:
            floors[nbytes] = write_floor(nbytes, repeats)
        fns = {
            "jinit": jax.jit(ours, static_argnums=(1, 2)),
            "jax_nn": jax.jit(theirs, static_argnums=(1, 2)),
            "jax_random": jax.jit(raw, static_argnums=(1, 2)),
        }
        calls = {k: (lambda f=f, shape=shape, dt=dt: f(key, shape, dt)) for k, f in fns.items()}
        if with_torch and tinit is not None:
            tdt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtname]
            tshape = torch_layout(shape)
            calls["torch"] = lambda tinit=tinit, tshape=tshape, tdt=tdt: tinit(torch.empty(tshape, dtype=tdt))
        if np_fn is not None and dtname == "float32":
            calls["numpy"] = lambda np_fn=np_fn, shape=shape: np_fn(gen, shape, np.float32)
        times = paired_times(calls, repeats)
        t = times["jinit"]
        row = {"scheme": name, "shape": str(shape), "dtype": dtname, "n": n,
               "ms": t * 1e3, "Melem/s": n / t / 1e6,
               "floor": nbytes / floors[nbytes] / t, "floor_GBps": floors[nbytes] / 1e9,
               "times_s": times}
        for peer in ("jax_nn", "jax_random", "torch", "numpy"):
            if peer in times:
                row[f"x_{peer}"] = times[peer] / t
        if dtname == "float32" and n <= 2**22:
            a = np.asarray(calls["jinit"]())
            b = np.asarray(theirs(key, shape, dt))  # eager: jax's own jit moves normal by 1 ulp
            row["bit_identical"] = bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))
        rows.append(row)
    big_rows = [r for r in rows if r["n"] >= 2**22 and r["dtype"] == "float32"]
    summary = [
        f"geomean speedup at >= 2^22 elements, float32: vs jax.nn.initializers "
        f"{geomean([r['x_jax_nn'] for r in big_rows]):.2f}x, vs torch.nn.init "
        f"{geomean([r.get('x_torch') for r in big_rows]):.2f}x",
        f"min speedup vs jax.nn.initializers at >= 2^22: "
        f"{min((r['x_jax_nn'] for r in big_rows), default=float('nan')):.2f}x",
    ]
    return emit("throughput", rows, COLUMNS, args, {"repeats": repeats}, summary)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--schemes", default="", help="comma-separated subset of schemes")
    p.add_argument("--sizes", default="", help="comma-separated log2 element counts, e.g. "
                   "26,28,30 (replaces the default shapes)")
    p.add_argument("--dtypes", default="", help="with --sizes: comma-separated dtypes "
                   "(default float32,bfloat16)")
    args = p.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    main()
