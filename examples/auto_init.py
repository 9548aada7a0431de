"""``jinit.auto``: one call picks each layer's initialization; the signal shows it worked.

Three deep MLPs as plain functions ``mlp(params, x)`` — ReLU, tanh, and an inline
``x * sigmoid(1.702 x)`` that no scheme names — fed an *unnormalized* input (mean 5, std 20).
For each, :func:`jinit.auto.init` reads the activation after every kernel from the model's
computation, chooses the weight and bias variances that keep the forward second moment at
a fixed point (1; for the deep tanh stack the smaller one that keeps its Jacobian well
conditioned) and, where the activation allows, at the edge of chaos, and corrects
the first layer for the input's real scale and mean on the batch. The table compares the
forward drift ``q_L/q_1`` and backward drift ``g_1/g_L`` of the last hidden layer against
the first, for LeCun, Glorot, He and auto; 1 is perfect, and the band ``[1/4, 4]`` is where
a deep network still trains. ``--show`` prints auto's per-layer table for the tanh MLP.

Run::

    python examples/auto_init.py --plot auto_init.png
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import jinit
from jinit import audit

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh,
               "x*sigmoid(1.702x)": lambda x: x * jax.nn.sigmoid(1.702 * x)}
CLASSIC = {"lecun": jinit.lecun_normal(), "glorot": jinit.glorot_normal(),
           "he": jinit.he_normal()}


def make_mlp(act):
    def mlp(params, x):
        for i, (w, b) in enumerate(params[:-1]):
            x = act(audit.tap(x @ w + b, f"hidden_{i}"))
        w, b = params[-1]
        return x @ w + b

    return mlp


def shapes(depth: int, width: int, d_in: int = 16, d_out: int = 10):
    dims = [(d_in, width)] + [(width, width)] * (depth - 1) + [(width, d_out)]
    return [(jnp.zeros(s), jnp.zeros(s[1])) for s in dims]


def classic(mlp, params, x, init, seed):
    rules = {r"/0$": init, r"/1$": jinit.zeros}
    drawn = jinit.tree.init_tree(jax.random.key(seed), params, rules)
    s = audit.signal(mlp, x, params=drawn)
    return s.forward_factor, s.backward_factor


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=16, help="hidden layers (default: 16)")
    p.add_argument("--width", type=int, default=128, help="units per layer (default: 128)")
    p.add_argument("--batch", type=int, default=128, help="examples (default: 128)")
    p.add_argument("--activations", nargs="+", default=list(ACTIVATIONS),
                   choices=list(ACTIVATIONS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", action="store_true", help="print auto's table for the last MLP")
    p.add_argument("--plot", metavar="FILE.png", help="auto's signal before/after, last MLP")
    args = p.parse_args(argv)

    x = 5.0 + 20.0 * jax.random.normal(jax.random.key(args.seed), (args.batch, 16))
    params = shapes(args.depth, args.width)
    results: dict = {}
    report = None
    print(f"{'activation':18s} {'init':7s} {'forward q_L/q_1':>16s} {'backward g_1/g_L':>17s}")
    for name in args.activations:
        mlp = make_mlp(ACTIVATIONS[name])
        rows = {k: classic(mlp, params, x, init, args.seed + 1) for k, init in CLASSIC.items()}
        made, report = jinit.auto.init(mlp, jax.random.key(args.seed + 1), x, params=params,
                                       signal=False)
        s = audit.signal(mlp, x, params=made)
        rows["auto"] = (s.forward_factor, s.backward_factor)
        results[name] = rows
        for k, (f, b) in rows.items():
            print(f"{name:18s} {k:7s} {f:16.3g} {b:17.3g}")
    if args.show or args.plot:
        made, report = jinit.auto.init(mlp, jax.random.key(args.seed + 1), x, params=params)
        if args.show:
            print()
            print(report)
        if args.plot:
            report.plot(args.plot)
            print(f"wrote {args.plot}")
    in_band = {n: bool(all(0.25 <= v <= 4 for v in r["auto"])) for n, r in results.items()}
    print("\nauto within [1/4, 4] both ways:", ", ".join(f"{n}: {ok}" for n, ok in
                                                          in_band.items()))
    return {"results": results, "in_band": in_band,
            "report": report if report is not None else None,
            "finite": bool(np.all([np.isfinite(v) for r in results.values()
                                   for v in r["auto"]]))}


if __name__ == "__main__":
    main()
