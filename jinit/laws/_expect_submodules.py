r"""What the public submodules' initializers promise: ``jinit.residual`` and ``jinit.mup``.

Laws written from the docstrings' formulas, with the published constants restated here:

* ``residual.fixup(L, m, scale=s)``: :math:`\operatorname{Var}[w] = s\,L^{-1/(m-1)}/n_i`
  (Zhang, Dauphin & Ma 2019, §3), in the requested distribution.
* ``residual.tfixup(N, part)``: Xavier uniform times :math:`g` in standard deviation,
  :math:`\operatorname{Var}[w] = 2g^2/(n_i + n_o)`, :math:`g = 0.67\,N^{-1/4}` (encoder) or
  :math:`(9N)^{-1/4}` (decoder) (Huang et al. 2020, Algorithm 1).
* ``residual.tfixup_embedding(N)``: :math:`\mathcal{N}(0, (9N)^{-1/2}/d)` for a ``(vocab, d)``
  table.
* ``residual.rezero(value)``: the constant :math:`\alpha_0` (0 by default).
* ``mup.initializer(role, base_fan_in=n_0, scale=s)``: :math:`s/n_i` for input and hidden
  weights, :math:`s\,n_0/n_i^2` for the output weight (Yang et al. 2022, Table 3).
"""

from __future__ import annotations

import numpy as np

from ._registry import DENSE, FANNED, case, declare, exact, fans, variance_law, vs


def _fixup(shape, dtype, args):
    branches, layers = int(args["num_branches"]), int(args["layers_per_branch"])
    scale = float(args.get("scale", 2.0)) * branches ** (-1.0 / (layers - 1))
    return vs(scale, "fan_in", str(args.get("distribution", "normal")))(shape, dtype, args)


def _tfixup(shape, dtype, args):
    n = int(args["num_layers"])
    g = (9.0 * n) ** -0.25 if args.get("part", "encoder") == "decoder" else 0.67 * n ** -0.25
    return vs(g * g, "fan_avg", "uniform")(shape, dtype, args)


def _tfixup_embedding(shape, dtype, args):
    n = int(args["num_layers"])
    return variance_law((9.0 * n) ** -0.5 / shape[-1], "normal", dtype)


def _mup(shape, dtype, args):
    fan_in, _ = fans(shape, args)
    var = float(args.get("scale", 1.0)) / fan_in
    if args["role"] == "output":
        var *= float(args["base_fan_in"]) / fan_in
    return variance_law(var, str(args.get("distribution", "normal")), dtype)


_R = {"module": "residual"}
declare("fixup", _fixup,
        variants=({"num_branches": 8, "layers_per_branch": 2},
                  {"num_branches": 4, "layers_per_branch": 3, "distribution": "uniform"}),
        cases=FANNED, complex=True, promise="He variance times L^(-1/(m-1)): s L^(-1/(m-1)) / n_i",
        **_R)
declare("tfixup", _tfixup,
        variants=({"num_layers": 6}, {"num_layers": 6, "part": "decoder"}),
        cases=FANNED, complex=True,
        promise="Xavier uniform times g: 2 g^2/(n_i+n_o), g = 0.67 N^-1/4 or (9N)^-1/4", **_R)
declare("tfixup_embedding", _tfixup_embedding, variants=({"num_layers": 6},),
        cases=(case((1000, 64)),), promise="N(0, (9N)^-1/2 / d) for a (vocab, d) table", **_R)
declare("rezero", exact(lambda shape, a: np.full(shape, float(a.get("value", 0.0))), 0),
        variants=({}, {"value": 0.25}), cases=(case(()), case((4,))), complex=True,
        aliases=("skipinit",), promise="the constant value (0: every branch switched off)", **_R)
declare("initializer", _mup,
        variants=({"role": "hidden"}, {"role": "input", "distribution": "uniform"},
                  {"role": "output", "base_fan_in": 64}),
        cases=(DENSE,) + FANNED[1:], complex=True,
        promise="s / n_i (input, hidden); s n_0 / n_i^2 (output)", module="mup")
