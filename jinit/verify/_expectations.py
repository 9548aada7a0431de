r"""Declared expectations: what every public initializer promises, in one registry.

A :class:`Declaration` names a public initializer (or factory), how to build it for the
verification run (``variants``: factory arguments), the shapes it is checked on (``cases``,
each with extra factory arguments such as ``batch_axis``), the dtypes it defines, and its
``law``: a function ``(shape, dtype, args) -> law`` returning the distribution the output
promises, built from the closed forms in :mod:`jinit.verify._laws` and written here from the
docstrings' formulas. Fans are recomputed here (jax's rule: the receptive field is the
product of the axes that are neither in, out nor batch axes), not taken from the library.

Adding an initializer is a few lines::

    declare("he_normal", vs(2.0, "fan_in", "truncated_normal"), cases=FANNED, complex=True,
            aliases=("kaiming_normal",))

``tests/test_verify.py`` fails when a public initializer in ``jinit`` or ``jinit.presets``
has no declaration.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from . import _activations
from ._laws import (
    ComplexDisk,
    ComplexNormal,
    ComplexTruncatedNormal,
    ComplexZeroInflated,
    ConvIsometry,
    DeltaOrthogonal,
    Exact,
    Normal,
    Orthogonal,
    TruncatedNormal,
    Uniform,
    ZeroInflated,
)

REAL_DTYPES = ("float32", "bfloat16", "float16")
FLOAT8_DTYPES = ("float8_e4m3fn", "float8_e5m2")
COMPLEX_DTYPES = ("complex64",)


@dataclasses.dataclass(frozen=True)
class Case:
    """A shape to verify on, with extra factory arguments (e.g. ``batch_axis=0``)."""

    shape: tuple[int, ...]
    extra: tuple[tuple[str, object], ...] = ()

    @property
    def args(self) -> dict[str, object]:
        return dict(self.extra)

    def label(self) -> str:
        text = "(" + ", ".join(str(d) for d in self.shape) + ("," if len(self.shape) == 1 else "") + ")"
        return text + "".join(f" {k}={v!r}" for k, v in self.extra)


def case(shape: Sequence[int], **extra: object) -> Case:
    return Case(tuple(int(d) for d in shape), tuple(sorted(extra.items())))


DENSE = case((256, 128))
CONV = case((3, 3, 32, 64))
STACKED = case((8, 64, 32))
BATCHED = case((8, 64, 32), batch_axis=0)   # stacked layers, for factories with fan axes
FANNED = (DENSE, CONV, BATCHED)
ANY = (DENSE, CONV, STACKED)

Law = object
LawFn = Callable[[tuple[int, ...], np.dtype, dict], Law]


@dataclasses.dataclass(frozen=True, eq=False)
class Declaration:
    """What one public initializer promises, and how to build it for verification.

    Attributes:
      name: the public name (``module.name``).
      law: ``law(shape, dtype, args) -> law`` for the output of ``build(args)``.
      variants: factory argument sets to verify; ``None`` when the public object is itself
        the initializer (``zeros``).
      cases: shapes (with per-shape extra arguments) to verify on; the first is the primary.
      complex: whether complex dtypes are defined (verified as ``complex64``).
      float8: whether float8 dtypes are verified under ``--full``.
      module: ``"jinit"`` or ``"jinit.presets"``.
      aliases: other public names bound to the same object.
      promise: the promise in words, for listings.
    """

    name: str
    law: LawFn
    variants: tuple[Mapping[str, object], ...] | None = ({},)
    cases: tuple[Case, ...] = ANY
    complex: bool = False
    float8: bool = True
    module: str = "jinit"
    aliases: tuple[str, ...] = ()
    promise: str = ""

    @property
    def qualname(self) -> str:
        return self.name if self.module == "jinit" else f"{self.module.split('.')[-1]}.{self.name}"

    @property
    def obj(self) -> object:
        return getattr(importlib.import_module(self.module), self.name)

    def build(self, args: Mapping[str, object]) -> Callable:
        """The initializer for factory arguments ``args`` (the object itself if not a factory)."""
        return self.obj if self.variants is None else self.obj(**args)

    def dtypes(self, full: bool = False) -> tuple[str, ...]:
        out = REAL_DTYPES + (FLOAT8_DTYPES if full and self.float8 else ())
        return out + (COMPLEX_DTYPES if self.complex else ())


REGISTRY: dict[str, Declaration] = {}


def declare(name: str, law: LawFn, **kwargs: object) -> Declaration:
    """Adds a declaration (and its aliases) to the registry."""
    decl = Declaration(name, law, **kwargs)  # type: ignore[arg-type]
    for key in (decl.qualname,) + tuple(
            a if decl.module == "jinit" else f"{decl.module.split('.')[-1]}.{a}" for a in decl.aliases):
        REGISTRY[key] = decl
    return decl


def declarations() -> list[Declaration]:
    """Every declaration once (aliases folded), in registry order."""
    seen: dict[int, Declaration] = {}
    for decl in REGISTRY.values():
        seen.setdefault(id(decl), decl)
    return list(seen.values())


def lookup(name: str) -> Declaration:
    """The declaration of a public name (``"he_normal"``, ``"presets.torch_linear_kernel"``)."""
    if name in REGISTRY:
        return REGISTRY[name]
    if f"presets.{name}" in REGISTRY:
        return REGISTRY[f"presets.{name}"]
    listed = ", ".join(sorted(REGISTRY))
    raise ValueError(f"verify: no declaration named {name!r}; expected one of: {listed}")


# ---------------------------------------------------------------------------- fans


def _axes(value: object, rank: int) -> tuple[int, ...]:
    items = (value,) if isinstance(value, (int, np.integer)) else tuple(value)  # type: ignore[arg-type]
    return tuple(int(a) % rank for a in items)


def fans(shape: tuple[int, ...], args: Mapping[str, object]) -> tuple[float, float]:
    """``(fan_in, fan_out)``: in/out sizes times the receptive field (axes in no role)."""
    rank = len(shape)
    ins = _axes(args.get("in_axis", -2), rank)
    outs = _axes(args.get("out_axis", -1), rank)
    batch = _axes(args.get("batch_axis", ()), rank)
    field = math.prod(d for i, d in enumerate(shape) if i not in set(ins + outs + batch))
    return (float(math.prod(shape[i] for i in ins) * field),
            float(math.prod(shape[i] for i in outs) * field))


def is_complex(dtype: np.dtype) -> bool:
    return bool(jnp.issubdtype(dtype, jnp.complexfloating))


# A standard normal truncated to [-2, 2] has variance 1 - 4 phi(2) / (2 Phi(2) - 1); a unit
# circular complex normal with modulus truncated at 2 has E|z|^2 = 1 - 4 e^-4 / (1 - e^-4).
TRUNC_STD = math.sqrt(TruncatedNormal(1.0).variance)
COMPLEX_TRUNC_STD = math.sqrt(ComplexTruncatedNormal(1.0, 2.0).second_moment)


def variance_law(variance: float, distribution: str, dtype: np.dtype) -> Law:
    """The law with mean 0 and ``E|w|^2 = variance`` for a variance-scaling distribution."""
    if is_complex(dtype):
        return {
            "normal": lambda: ComplexNormal(variance),
            "uniform": lambda: ComplexDisk(math.sqrt(2 * variance)),
            "truncated_normal": lambda: ComplexTruncatedNormal(math.sqrt(variance) / COMPLEX_TRUNC_STD),
        }[distribution]()
    return {
        "normal": lambda: Normal(math.sqrt(variance)),
        "uniform": lambda: Uniform(-math.sqrt(3 * variance), math.sqrt(3 * variance)),
        "truncated_normal": lambda: TruncatedNormal(math.sqrt(variance) / TRUNC_STD),
    }[distribution]()


_DENOMINATOR = {
    "fan_in": lambda i, o: i,
    "fan_out": lambda i, o: o,
    "fan_avg": lambda i, o: (i + o) / 2,
    "fan_geo_avg": lambda i, o: math.sqrt(i * o),
}


def vs(scale: float | Callable[[dict], float] | None = None, mode: str | None = None,
       distribution: str | None = None) -> LawFn:
    r"""Variance scaling: :math:`\mathbb{E}|w|^2 = s/n(\text{mode})`; ``None`` reads the argument."""

    def law(shape, dtype, args):
        s = args["scale"] if scale is None else (scale(args) if callable(scale) else scale)
        m = args["mode"] if mode is None else mode
        d = args["distribution"] if distribution is None else distribution
        fan_in, fan_out = fans(shape, args)
        return variance_law(float(s) / _DENOMINATOR[m](fan_in, fan_out), d, dtype)

    return law


def normal_law(std_arg: str, default: float, loc_arg: str | None = None) -> LawFn:
    def law(shape, dtype, args):
        std = float(args.get(std_arg, default))
        if is_complex(dtype):
            return ComplexNormal(std * std)
        return Normal(std, float(args.get(loc_arg, 0.0)) if loc_arg else 0.0)

    return law


def exact(fn: Callable[[tuple[int, ...], dict], np.ndarray], ulps: float = 1.0) -> LawFn:
    return lambda shape, dtype, args: Exact(np.asarray(fn(shape, args)), ulps)


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


def _zero_init(shape, args):
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


def _sparse_columns(shape, dtype, args):
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
        promise="zero off the centre tap (k-1)//2; centre = scale * orthogonal (c_in, c_out)")
declare("conv_orthogonal",
        lambda shape, dtype, a: ConvIsometry(float(a.get("scale", 1.0))),
        cases=(case((3, 3, 8, 16)), case((3, 16, 16)), case((2, 3, 4, 8))), complex=True,
        promise="circular convolution is scale times an isometry at every frequency")
declare("identity", exact(_identity), cases=(case((64, 64)), case((4, 32, 48))),
        variants=({}, {"scale": 0.5}), complex=True,
        promise="scale * I over the last two axes, broadcast over leading axes")
declare("dirac", exact(_dirac),
        cases=(case((3, 3, 16, 16)), case((4, 8, 8)), case((3, 3, 8, 16), groups=2)),
        complex=True, promise="W[centre k//2, d, g*o + d] = scale, 0 elsewhere")
declare("hadamard_identity", exact(_zero_init),
        cases=(case((16, 64)), case((64, 16)), case((3, 3, 16, 48)),
               case((16, 48), normalization="paper")),
        complex=True, promise="identity / c * Hadamard, c = 1/sqrt(p) (isometry) or sqrt(2/p)")
declare("sparse_outgoing", _sparse_columns, variants=({"sparsity": 0.25},), cases=(DENSE,),
        complex=True, promise="each row: ceil(sparsity * n_out) zeros, rest N(0, std^2)")
declare("sparse_incoming", _sparse_incoming, cases=(DENSE, CONV, STACKED), complex=True,
        promise="each unit: exactly k non-zero incoming weights, N(0, scale^2)")
def _for_activation(shape, dtype, args):
    scale = _activations.forward_scale(str(args["activation"]))
    return vs(scale, str(args.get("mode", "fan_in")),
              str(args.get("distribution", "truncated_normal")))(shape, dtype, args)


declare("for_activation", _for_activation,
        variants=({"activation": "tanh"}, {"activation": "relu", "distribution": "uniform"}),
        cases=FANNED, complex=True,
        promise="variance_scaling(1 / E[phi(z)^2], mode, distribution)")

# ---------------------------------------------------------------------- presets

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


_P = {"module": "jinit.presets"}
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
        complex=True, promise="zeros", **_P)
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


# ----------------------------------------------------------- registry coverage


def is_initializer(obj: object) -> bool:
    """Whether a public object is an initializer or a factory returning one.

    An :class:`jinit._base.Init`; a function whose first parameters are ``key, shape``
    (``zeros``); or a callable annotated to return ``Init``/``Initializer``.
    """
    from jinit._base import Init

    if isinstance(obj, Init):
        return True
    if isinstance(obj, type) or inspect.ismodule(obj) or not callable(obj):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    if list(sig.parameters)[:2] == ["key", "shape"]:
        return True
    ann = sig.return_annotation
    if isinstance(ann, str):
        return ann.split(".")[-1] in ("Init", "Initializer")
    return getattr(ann, "__name__", None) in ("Init", "Initializer")


def public_initializers() -> list[str]:
    """Names of every public initializer in ``jinit`` and ``jinit.presets`` (if present)."""
    import jinit

    names = [n for n in jinit.__all__ if is_initializer(getattr(jinit, n))]
    try:
        presets = importlib.import_module("jinit.presets")
    except ImportError:  # pragma: no cover - presets is part of the package
        return names
    return names + [f"presets.{n}" for n in getattr(presets, "__all__", ())
                    if is_initializer(getattr(presets, n))]


def undeclared() -> list[str]:
    """Public initializers with no declaration (the completeness test asserts this is empty).

    Example:
      >>> from jinit.verify import undeclared
      >>> undeclared()
      []
    """
    return [n for n in public_initializers() if n not in REGISTRY]
