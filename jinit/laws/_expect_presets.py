r"""What ``jinit.presets`` promises: PyTorch's and Keras's layer defaults, from their formulas.

PyTorch: ``kaiming_uniform_(a=sqrt(5))`` gives :math:`\mathcal{U}(\pm 1/\sqrt{n_i})`
(:math:`\text{gain}^2 = 2/(1 + a^2) = 1/3`, bound :math:`\text{gain}\sqrt{3/n}`), biases
:math:`\mathcal{U}(\pm 1/\sqrt{n_i})`; Keras: Glorot uniform kernels, zero biases.
"""

from __future__ import annotations

import math

import numpy as np

from ._real import TruncatedNormal, Uniform
from ._registry import BATCHED, CONV, DENSE, LawFn, case, declare, exact, normal_law, vs

_TORCH_GAIN = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0),
               "selu": 0.75}


def _torch_gain2(args: dict) -> float:
    nonlinearity = args.get("nonlinearity", "leaky_relu")
    if nonlinearity == "leaky_relu":
        return 2.0 / (1.0 + float(args.get("a", 0.0)) ** 2)
    if str(nonlinearity).startswith("conv"):
        return 1.0
    return _TORCH_GAIN[str(nonlinearity)] ** 2


def _torch_kaiming(distribution: str) -> LawFn:
    def law(shape, dtype, args):
        return vs(_torch_gain2, str(args.get("mode", "fan_in")), distribution)(shape, dtype, args)

    return law


def _bias(shape, dtype, args):
    n = float(args["fan_in"])
    bound = 1.0 / math.sqrt(n) if n > 0 else 0.0
    return Uniform(-bound, bound)


def _conv_transpose(shape, dtype, args):
    mode = "fan_in" if args.get("transpose_kernel", False) else "fan_out"
    return vs(1.0 / 3.0, mode, "uniform")(shape, dtype, args)


def _trunc(std_arg: str, loc_arg: str, absolute: bool) -> LawFn:
    def law(shape, dtype, args):
        mu, sigma = float(args.get(loc_arg, 0.0)), float(args.get(std_arg, 0.05 if not absolute else 1.0))
        if absolute:
            lower = (float(args.get("a", -2.0)) - mu) / sigma
            upper = (float(args.get("b", 2.0)) - mu) / sigma
        else:
            lower, upper = -2.0, 2.0
        return TruncatedNormal(sigma, lower, upper, loc=mu)

    return law


_P = {"module": "presets"}
declare("torch_linear_kernel", vs(1.0 / 3.0, "fan_in", "uniform"), cases=(DENSE, BATCHED),
        complex=True, promise="U(+-1/sqrt(fan_in)) (kaiming_uniform a=sqrt 5)", **_P)
declare("torch_conv_kernel", vs(1.0 / 3.0, "fan_in", "uniform"), cases=(CONV,), complex=True,
        promise="U(+-1/sqrt(fan_in)), fan_in = c_in * prod(k)", **_P)
declare("torch_conv_transpose_kernel", _conv_transpose, cases=(CONV,),
        variants=({}, {"transpose_kernel": True}), complex=True,
        promise="U(+-1/sqrt(n)), n = PyTorch's transposed fan_in", **_P)
declare("torch_linear_bias", _bias, variants=({"fan_in": 256},), cases=(case((4096,)),),
        promise="U(+-1/sqrt(fan_in))", **_P)
declare("torch_conv_bias", _bias, variants=({"fan_in": 288},), cases=(case((4096,)),),
        promise="U(+-1/sqrt(fan_in))", **_P)
declare("torch_embedding", normal_law("std", 1.0), cases=(case((1000, 64)),), complex=True,
        promise="N(0, 1)", **_P)
declare("torch_kaiming_uniform", _torch_kaiming("uniform"),
        variants=({}, {"mode": "fan_out", "nonlinearity": "tanh"}), cases=(DENSE, CONV),
        complex=True, promise="U(+-gain*sqrt(3/n))", **_P)
declare("torch_kaiming_normal", _torch_kaiming("normal"),
        variants=({}, {"a": math.sqrt(5.0), "mode": "fan_out"}), cases=(DENSE, CONV),
        complex=True, promise="N(0, gain^2/n), untruncated", **_P)
declare("torch_xavier_uniform", vs(lambda a: float(a.get("gain", 1.0)) ** 2, "fan_avg", "uniform"),
        variants=({"gain": 5.0 / 3.0},), cases=(DENSE, CONV), complex=True,
        promise="U(+-gain*sqrt(6/(fan_in+fan_out)))", **_P)
declare("torch_xavier_normal", vs(lambda a: float(a.get("gain", 1.0)) ** 2, "fan_avg", "normal"),
        cases=(DENSE, CONV), complex=True, promise="N(0, 2 gain^2/(fan_in+fan_out))", **_P)
declare("torch_trunc_normal", _trunc("std", "mean", True),
        variants=({"mean": 0.1, "std": 0.5, "a": -0.5, "b": 1.0}, {"std": 0.02}),
        cases=(DENSE,), promise="N(mean, std^2) conditioned on the absolute [a, b]", **_P)
declare("keras_dense_kernel", vs(1.0, "fan_avg", "uniform"), cases=(DENSE, BATCHED),
        complex=True, promise="glorot_uniform", **_P)
declare("keras_conv_kernel", vs(1.0, "fan_avg", "uniform"), cases=(CONV,), complex=True,
        promise="glorot_uniform", **_P)
declare("keras_bias", exact(lambda shape, a: np.zeros(shape), 0), cases=(case((128,)),),
        complex=True, promise="zeros", aliases=("torch_zeros",), **_P)
declare("torch_uniform", lambda shape, dtype, a: Uniform(float(a.get("a", 0.0)), float(a.get("b", 1.0))),
        variants=({}, {"a": -0.3, "b": 0.5}), cases=(DENSE,), promise="U[a, b)", **_P)
declare("torch_normal", normal_law("std", 1.0, "mean"), variants=({}, {"mean": 0.5, "std": 2.0}),
        cases=(DENSE,), promise="N(mean, std^2), untruncated", **_P)
declare("torch_constant", exact(lambda shape, a: np.full(shape, float(a["val"]))),
        variants=({"val": -0.3},), cases=(DENSE, CONV), complex=True,
        promise="every value equals val", **_P)
declare("torch_ones", exact(lambda shape, a: np.ones(shape), 0), cases=(DENSE,), complex=True,
        promise="every value 1", **_P)
declare("keras_random_uniform",
        lambda shape, dtype, a: Uniform(float(a.get("minval", -0.05)), float(a.get("maxval", 0.05))),
        variants=({}, {"minval": 0.5, "maxval": 2.0}), cases=(DENSE,),
        promise="U[minval, maxval)", **_P)
declare("keras_embedding", lambda shape, dtype, a: Uniform(-0.05, 0.05), cases=(case((1000, 64)),),
        promise="U[-0.05, 0.05)", **_P)
declare("keras_random_normal", normal_law("stddev", 0.05, "mean"),
        variants=({}, {"mean": 0.2, "stddev": 0.1}), cases=(DENSE,),
        promise="N(mean, stddev^2)", **_P)
declare("keras_truncated_normal", _trunc("stddev", "mean", False),
        variants=({}, {"mean": -0.1, "stddev": 0.05}), cases=(DENSE,),
        promise="mean + stddev * N(0,1) conditioned on [-2, 2]", **_P)
