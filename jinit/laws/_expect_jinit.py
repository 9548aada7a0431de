r"""What the top-level schemes of ``jinit`` promise (see :mod:`jinit.laws._registry`).

Laws written from each docstring's formula: variance scaling :math:`\mathbb{E}|w|^2 =
s/n(\text{mode})`, the jax-compatible normal / uniform / truncated normal, orthogonal and
delta-orthogonal matrices, convolution isometries, exact arrays (identity, Dirac, the
identity/Hadamard ZerO scheme) and the sparse schemes.
"""

from __future__ import annotations

import math

import numpy as np

from . import _activations
from ._complex import ComplexNormal, ComplexZeroInflated
from ._real import Normal, TruncatedNormal, Uniform, ZeroInflated
from ._registry import (
    CONV,
    DENSE,
    FANNED,
    STACKED,
    case,
    declare,
    exact,
    is_complex,
    normal_law,
    vs,
)
from ._structured import ConvIsometry, DeltaOrthogonal, Orthogonal

# ------------------------------------------------------------ structured arrays


def _identity(shape, args):
    eye = np.eye(shape[-2], shape[-1]) * float(args.get("scale", 1.0))
    return np.broadcast_to(eye, shape)


def _centre_upper(shape):
    return tuple(k // 2 for k in shape[:-2])


def _dirac(shape, args):
    out = np.zeros(shape)
    groups, s = int(args.get("groups", 1)), float(args.get("scale", 1.0))
    per_group = shape[-1] // groups
    centre = _centre_upper(shape)
    for j in range(shape[-1]):
        i = j % per_group
        if i < shape[-2]:
            out[centre + (i, j)] = s
    return out


def _hadamard(p: int) -> np.ndarray:
    h = np.ones((1, 1))
    while h.shape[0] < p:
        h = np.kron(np.array([[1.0, 1.0], [1.0, -1.0]]), h)
    return h


def _hadamard_identity(shape, args):
    n_in, n_out = shape[-2:]
    if n_in >= n_out:
        matrix = np.eye(n_in, n_out)
    else:
        p = 1 << (n_out - 1).bit_length()
        c = math.sqrt((2.0 if args.get("normalization", "isometry") == "paper" else 1.0) / p)
        matrix = c * _hadamard(p)[:n_in, :n_out]
    if len(shape) == 2:
        return matrix
    out = np.zeros(shape)
    out[_centre_upper(shape)] = matrix
    return out


def _sparse_outgoing(shape, dtype, args):
    z = math.ceil(float(args["sparsity"]) * shape[1])
    std = float(args.get("std", 0.01))
    base = ComplexNormal(std * std) if is_complex(dtype) else Normal(std)
    wrap = ComplexZeroInflated if is_complex(dtype) else ZeroInflated
    return wrap(base, z / shape[1], zeros_per=(1, z))  # every row of (in, out): z zeros


def _sparse_incoming(shape, dtype, args):
    k, s = int(args.get("k", 15)), float(args.get("scale", 1.0))
    fan_in = math.prod(shape[:-1])
    base = ComplexNormal(s * s) if is_complex(dtype) else Normal(s)
    wrap = ComplexZeroInflated if is_complex(dtype) else ZeroInflated
    return wrap(base, 1 - k / fan_in, zeros_per=(0, fan_in - k))  # every unit: fan_in - k zeros


# ------------------------------------------------------------------------ jinit

_VS_FAMILY = (
    ("glorot_uniform", 1.0, "fan_avg", "uniform", ("xavier_uniform",)),
    ("glorot_normal", 1.0, "fan_avg", "truncated_normal", ("xavier_normal",)),
    ("he_uniform", 2.0, "fan_in", "uniform", ("kaiming_uniform",)),
    ("he_normal", 2.0, "fan_in", "truncated_normal", ("kaiming_normal",)),
    ("lecun_uniform", 1.0, "fan_in", "uniform", ()),
    ("lecun_normal", 1.0, "fan_in", "truncated_normal", ()),
)

declare("zeros", exact(lambda shape, a: np.zeros(shape), 0), variants=None, cases=(DENSE, CONV),
        complex=True, promise="every value 0")
declare("ones", exact(lambda shape, a: np.ones(shape), 0), variants=None, cases=(DENSE, CONV),
        complex=True, promise="every value 1")
declare("constant", exact(lambda shape, a: np.full(shape, float(a["value"]))),
        variants=({"value": -0.3},), cases=(DENSE, CONV), complex=True,
        promise="every value equals value (rounded to the dtype)")
declare("normal", normal_law("stddev", 1e-2), complex=True,
        promise="N(0, stddev^2); complex: E|w|^2 = stddev^2")
declare("uniform", lambda shape, dtype, a: Uniform(0.0, float(a.get("scale", 1e-2))),
        promise="U[0, scale)")
declare("truncated_normal",
        lambda shape, dtype, a: TruncatedNormal(float(a.get("stddev", 1e-2)),
                                                float(a.get("lower", -2.0)),
                                                float(a.get("upper", 2.0))),
        variants=({}, {"stddev": 0.5, "lower": -1.0, "upper": 3.0}),
        promise="stddev * N(0,1) conditioned on [lower, upper], no variance correction")
declare("variance_scaling", vs(),
        variants=({"scale": 0.5, "mode": "fan_out", "distribution": "normal"},
                  {"scale": 3.0, "mode": "fan_geo_avg", "distribution": "uniform"}),
        cases=FANNED, complex=True, promise="E|w|^2 = scale / n(mode), mean 0")
for _name, _scale, _mode, _dist, _aliases in _VS_FAMILY:
    declare(_name, vs(_scale, _mode, _dist), cases=FANNED, complex=True, aliases=_aliases,
            promise=f"variance_scaling({_scale}, {_mode!r}, {_dist!r})")
declare("orthogonal",
        lambda shape, dtype, a: Orthogonal(float(a.get("scale", 1.0)), int(a.get("column_axis", -1))),
        variants=({}, {"scale": 2.0, "column_axis": 0}),
        cases=(case((64, 32)), case((3, 3, 8, 16)), case((16, 64))), complex=True,
        promise="scale * Haar-random matrix with orthonormal columns (rows if fewer)")
declare("delta_orthogonal",
        lambda shape, dtype, a: DeltaOrthogonal(float(a.get("scale", 1.0)), int(a.get("column_axis", -1))),
        cases=(case((3, 3, 16, 32)), case((3, 8, 8)), case((2, 3, 3, 4, 8))), complex=True,
        heavy=True, promise="zero off the centre tap (k-1)//2; centre = scale * orthogonal (c_in, c_out)")
declare("conv_orthogonal",
        lambda shape, dtype, a: ConvIsometry(float(a.get("scale", 1.0))),
        cases=(case((3, 3, 8, 16)), case((3, 16, 16)), case((2, 3, 4, 8))), complex=True,
        heavy=True, promise="circular convolution is scale times an isometry at every frequency")
declare("identity", exact(_identity), cases=(case((64, 64)), case((4, 32, 48))),
        variants=({}, {"scale": 0.5}), complex=True,
        promise="scale * I over the last two axes, broadcast over leading axes")
declare("dirac", exact(_dirac),
        cases=(case((3, 3, 16, 16)), case((4, 8, 8)), case((3, 3, 8, 16), groups=2)),
        complex=True, promise="W[centre k//2, d, g*o + d] = scale, 0 elsewhere")
declare("hadamard_identity", exact(_hadamard_identity),
        cases=(case((16, 64)), case((64, 16)), case((3, 3, 16, 48)),
               case((16, 48), normalization="paper")),
        complex=True, promise="identity / c * Hadamard, c = 1/sqrt(p) (isometry) or sqrt(2/p)")
declare("sparse_outgoing", _sparse_outgoing, variants=({"sparsity": 0.25},), cases=(DENSE,),
        complex=True, heavy=True, promise="each row: ceil(sparsity * n_out) zeros, rest N(0, std^2)")
declare("sparse_incoming", _sparse_incoming, cases=(DENSE, CONV, STACKED), complex=True,
        heavy=True, promise="each unit: exactly k non-zero incoming weights, N(0, scale^2)")


def _for_activation(shape, dtype, args):
    scale = _activations.forward_scale(str(args["activation"]))
    return vs(scale, str(args.get("mode", "fan_in")),
              str(args.get("distribution", "truncated_normal")))(shape, dtype, args)


declare("for_activation", _for_activation,
        variants=({"activation": "tanh"}, {"activation": "relu", "distribution": "uniform"}),
        cases=FANNED, complex=True,
        promise="variance_scaling(1 / E[phi(z)^2], mode, distribution)")


# Flax's builders and the PyTorch-named structured fills (the same laws as jinit's own).
declare("zeros_init", exact(lambda shape, a: np.zeros(shape), 0), cases=(DENSE, CONV),
        complex=True, promise="Flax's zeros_init(): jinit.zeros")
declare("ones_init", exact(lambda shape, a: np.ones(shape), 0), cases=(DENSE, CONV),
        complex=True, promise="Flax's ones_init(): jinit.ones")
_P = {"module": "presets"}
declare("torch_eye", exact(_identity), cases=(case((64, 64)), case((32, 48))), complex=True,
        promise="jinit.identity(1.0)", **_P)
declare("torch_dirac", exact(_dirac), cases=(case((3, 3, 16, 16)), case((3, 3, 8, 16), groups=2)),
        complex=True, promise="jinit.dirac(1.0, groups)", **_P)
declare("torch_orthogonal", lambda shape, dtype, a: Orthogonal(float(a.get("gain", 1.0)), -1),
        variants=({}, {"gain": 2.0}), cases=(case((64, 32)), case((16, 64))), complex=True,
        promise="jinit.orthogonal(gain)", **_P)
declare("torch_sparse", _sparse_outgoing, variants=({"sparsity": 0.25},), cases=(DENSE,),
        complex=True, heavy=True, promise="jinit.sparse_outgoing", **_P)
