"""Activations for Gaussian expectations: the named table, and any elementwise callable.

:func:`resolve` turns what a user passes as ``activation`` (a name, a ``jax.nn`` function,
a ``functools.partial`` of one, or any elementwise callable) into an :class:`Activation`:
float64 NumPy functions ``f`` and ``df`` and the points where the quadrature must split its
panels. Named activations use the float64 forms below; a callable is compiled once, run in
float64 inside ``jax.enable_x64`` and differentiated with ``jax.jvp``. Shared by the gains
(:mod:`jinit._gain`) and mean-field theory (:mod:`jinit._meanfield`, :mod:`jinit.theory`).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from . import _checks

Fn = Callable[[np.ndarray], np.ndarray]

# ------------------------------------------------------------------ named activations
# float64 numpy forms and derivatives; every exp is of a non-positive argument or expm1 of one.

_SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. 2017, eq. 14 (as jax.nn.selu)
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _erfc(x: np.ndarray) -> np.ndarray:
    # numpy has no erfc; XLA's float64 erfc is correctly rounded to ~1 ulp.
    with jax.enable_x64(True):
        return np.asarray(jax.scipy.special.erfc(jnp.asarray(x, jnp.float64)))


def _ncdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * _erfc(-x / math.sqrt(2.0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _gelu_tanh_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)), _SQRT_2_OVER_PI * (1 + 0.134145 * x * x)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + _gelu_tanh_parts(x)[0])


def _gelu_tanh_d(x):
    t, dinner = _gelu_tanh_parts(x)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner


def _mish_d(x):
    t = np.tanh(_softplus(x))
    return t + x * (1.0 - t * t) * _sigmoid(x)


def _step(lo: float, hi: float) -> Fn:
    return lambda x: ((x > lo) & (x < hi)).astype(np.float64)


@dataclass(frozen=True)
class _Named:
    f: Callable[..., np.ndarray]  # f(x, p) with p the parameter (or None)
    df: Callable[..., np.ndarray]
    kinks: Callable[[float | None], tuple[float, ...]] = lambda p: ()
    default: float | None = None  # the parameter's default; None: takes no parameter
    low: float | None = None  # the parameter's lowest valid value
    strict: bool = False  # the bound is exclusive
    pieces: Callable[[float | None], tuple[float, float]] | None = None  # slopes of x<0, x>0
    doc: str = ""


_ZERO = lambda p: (0.0,)  # noqa: E731

_NAMED: dict[str, _Named] = {
    "linear": _Named(lambda x, p: x, lambda x, p: np.ones_like(x), pieces=lambda p: (1.0, 1.0),
                     doc="x"),
    "relu": _Named(lambda x, p: np.maximum(x, 0.0), lambda x, p: (x > 0).astype(np.float64), _ZERO,
                   pieces=lambda p: (0.0, 1.0), doc="max(x, 0)"),
    "leaky_relu": _Named(lambda x, p: np.where(x > 0, x, p * x),
                         lambda x, p: np.where(x > 0, 1.0, p), _ZERO, 0.01,
                         pieces=lambda p: (p, 1.0), doc="x if x > 0 else s x; param s = 0.01"),
    "relu6": _Named(lambda x, p: np.clip(x, 0.0, 6.0), lambda x, p: _step(0.0, 6.0)(x),
                    lambda p: (0.0, 6.0), doc="min(max(x, 0), 6)"),
    "tanh": _Named(lambda x, p: np.tanh(x), lambda x, p: 1.0 - np.tanh(x) ** 2, doc="tanh x"),
    "hard_tanh": _Named(lambda x, p: np.clip(x, -1.0, 1.0), lambda x, p: _step(-1.0, 1.0)(x),
                        lambda p: (-1.0, 1.0), doc="min(max(x, -1), 1)"),
    "sigmoid": _Named(lambda x, p: _sigmoid(x), lambda x, p: _sigmoid(x) * _sigmoid(-x),
                      doc="1 / (1 + e^-x)"),
    "hard_sigmoid": _Named(lambda x, p: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
                           lambda x, p: _step(-3.0, 3.0)(x) / 6.0, lambda p: (-3.0, 3.0),
                           doc="relu6(x + 3) / 6"),
    "log_sigmoid": _Named(lambda x, p: -_softplus(-x), lambda x, p: _sigmoid(-x),
                          doc="log(1 / (1 + e^-x))"),
    "gelu": _Named(lambda x, p: x * _ncdf(x),
                   lambda x, p: _ncdf(x) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x),
                   doc="x Phi(x), the exact (erf) form"),
    "gelu_tanh": _Named(lambda x, p: _gelu_tanh(x), lambda x, p: _gelu_tanh_d(x),
                        doc="x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2"),
    "silu": _Named(lambda x, p: x * _sigmoid(x),
                   lambda x, p: _sigmoid(x) * (1.0 + x * _sigmoid(-x)), doc="x sigmoid(x)"),
    "hard_silu": _Named(lambda x, p: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
                        lambda x, p: np.clip(x + 3.0, 0.0, 6.0) / 6.0 + x * _step(-3.0, 3.0)(x) / 6.0,
                        lambda p: (-3.0, 3.0), doc="x relu6(x + 3) / 6"),
    "mish": _Named(lambda x, p: x * np.tanh(_softplus(x)), lambda x, p: _mish_d(x),
                   doc="x tanh(softplus(x))"),
    "softplus": _Named(lambda x, p: _softplus(x), lambda x, p: _sigmoid(x), doc="log(1 + e^x)"),
    "elu": _Named(lambda x, p: np.where(x > 0, x, p * np.expm1(np.minimum(x, 0.0))),
                  lambda x, p: np.where(x > 0, 1.0, p * np.exp(np.minimum(x, 0.0))), _ZERO, 1.0,
                  low=0.0, doc="x if x > 0 else a (e^x - 1); param a = 1"),
    "celu": _Named(lambda x, p: np.maximum(x, 0.0) + p * np.expm1(np.minimum(x, 0.0) / p),
                   lambda x, p: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / p)), _ZERO, 1.0,
                   low=0.0, strict=True, doc="max(x, 0) + min(0, a (e^(x/a) - 1)); param a = 1"),
    "selu": _Named(
        lambda x, p: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
        lambda x, p: _SELU_SCALE * np.where(x > 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(x, 0.0))),
        _ZERO, doc="lambda elu_alpha(x), Klambauer et al.'s constants"),
    "softsign": _Named(lambda x, p: x / (1.0 + np.abs(x)), lambda x, p: 1.0 / (1.0 + np.abs(x)) ** 2,
                       _ZERO, doc="x / (1 + |x|)"),
    "squareplus": _Named(lambda x, p: 0.5 * (x + np.sqrt(x * x + p)),
                         lambda x, p: 0.5 * (1.0 + x / np.sqrt(x * x + p)) if p > 0 else
                         (x > 0).astype(np.float64), _ZERO, 4.0, low=0.0,
                         doc="(x + sqrt(x^2 + b)) / 2; param b = 4"),
}
_ALIASES = {"identity": "linear", "swish": "silu", "hard_swish": "hard_silu", "soft_sign": "softsign"}
ACTIVATIONS: tuple[str, ...] = tuple(sorted([*_NAMED, *_ALIASES]))


def reference_functions() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Every named activation as a float64 numpy function of ``x`` at its default parameter."""
    return {name: functools.partial(lambda f, p, x: f(x, p), spec.f, spec.default)
            for name, spec in _NAMED.items()}


def logistic(x: np.ndarray) -> np.ndarray:
    """The logistic sigmoid in float64 numpy, stable for large ``|x|``."""
    return _sigmoid(x)


def _known_callables() -> list[tuple[object, str, str | None]]:
    """jax.nn functions recognised by identity: (object, name, keyword holding the parameter)."""
    nn = jax.nn
    return [(nn.relu, "relu", None), (nn.leaky_relu, "leaky_relu", "negative_slope"),
            (nn.relu6, "relu6", None), (nn.tanh, "tanh", None), (nn.hard_tanh, "hard_tanh", None),
            (nn.sigmoid, "sigmoid", None), (nn.hard_sigmoid, "hard_sigmoid", None),
            (nn.log_sigmoid, "log_sigmoid", None), (nn.gelu, "gelu_tanh", None),
            (nn.silu, "silu", None), (nn.hard_silu, "hard_silu", None), (nn.mish, "mish", None),
            (nn.softplus, "softplus", None), (nn.elu, "elu", "alpha"), (nn.celu, "celu", "alpha"),
            (nn.selu, "selu", None), (nn.soft_sign, "softsign", None),
            (nn.squareplus, "squareplus", "b"), (nn.identity, "linear", None)]


# ----------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class Activation:
    """An activation ready for Gaussian expectations: float64 ``f``, ``df``, panel points."""

    label: str
    f: Fn
    df: Fn
    points: tuple[float, ...]
    name: str | None = None
    param: float | None = None
    pieces: tuple[float, float] | None = None  # positively homogeneous: slopes for x < 0, x > 0


def _breakpoints(fn: str, breakpoints: object) -> tuple[float, ...]:
    if isinstance(breakpoints, str) or not isinstance(breakpoints, (Sequence, np.ndarray)):
        raise _checks.fail(fn, "breakpoints", breakpoints, "is not a sequence",
                           "a sequence of finite real numbers such as (-1.0, 1.0)", exc=TypeError)
    return tuple(_checks.real(fn, "breakpoints", b) for b in breakpoints)


def _named_param(fn: str, name: str, spec: _Named, param: object) -> float | None:
    if spec.default is None:
        if param is not None:
            raise _checks.fail(fn, "param", param, f"is given but {name!r} takes no parameter",
                               "param=None")
        return None
    if param is None:
        return spec.default
    p = _checks.real(fn, "param", param)
    if spec.low is not None and (p < spec.low or (spec.strict and p == spec.low)):
        bound = f"> {spec.low:g}" if spec.strict else f">= {spec.low:g}"
        raise _checks.fail(fn, "param", param, f"is out of range for {name!r}", f"a number {bound}")
    return p


def from_name(fn: str, name: str, param: object, extra: tuple[float, ...]) -> Activation:
    """A named activation (aliases resolved), its parameter checked; ``extra``: more panel points."""
    name = _ALIASES.get(name, name)
    spec = _NAMED[name]
    p = _named_param(fn, name, spec, param)
    label = name if p is None or p == spec.default else f"{name}({p:g})"
    return Activation(label, lambda x: spec.f(x, p), lambda x: spec.df(x, p),
                      tuple(sorted({*spec.kinks(p), *extra})), name, p,
                      spec.pieces(p) if spec.pieces else None)


def _recognise(activation: object) -> tuple[str, dict[str, object]] | None:
    """A jax.nn function (or a functools.partial of one with its parameter) → (name, kwargs)."""
    func, kwargs = activation, {}
    if isinstance(activation, functools.partial):
        if activation.args:
            return None
        func, kwargs = activation.func, dict(activation.keywords)
    for obj, name, key in _known_callables():
        if func is obj:
            if obj is jax.nn.gelu and set(kwargs) <= {"approximate"}:
                approximate = kwargs.get("approximate", True)
                if isinstance(approximate, (bool, np.bool_)):
                    return ("gelu_tanh" if approximate else "gelu"), {}
                return None
            if set(kwargs) <= ({key} if key else set()):
                return name, kwargs
            return None
    return None


def _bucket(n: int) -> int:
    """Arrays are padded to a power of two so eager jax reuses its compiled kernels."""
    return max(2048, 1 << (n - 1).bit_length())


def _value_and_slope(activation: Callable) -> tuple[Callable, Callable]:
    def value(x):
        return activation(x)

    def slope(x):
        return jax.jvp(activation, (x,), (jnp.ones_like(x),))[1]

    return value, slope


@functools.lru_cache(maxsize=64)
def _jitted(activation: Callable) -> tuple[Callable, Callable]:
    """One compiled pair per callable, so repeated calls (theory's root finders) reuse it."""
    value, slope = _value_and_slope(activation)
    return jax.jit(value), jax.jit(slope)


def _callable(fn: str, activation: Callable, extra: tuple[float, ...]) -> Activation:
    label = getattr(activation, "__name__", None) or repr(activation)
    seen: list[np.dtype] = []
    value, slope = _value_and_slope(activation)
    # Compiled once per activation (much faster than op-by-op on first use); a callable jax
    # cannot trace (NumPy code, Python control flow on values) runs eagerly instead.
    try:
        jitted = _jitted(activation)
    except TypeError:  # unhashable callable: compile per use
        jitted = (jax.jit(value), jax.jit(slope))
    compiled = {False: jitted[0], True: jitted[1]}

    def evaluate(xs, derivative: bool):
        fun = compiled[derivative]
        if fun is not None:
            try:
                return np.asarray(fun(xs))
            except Exception:  # noqa: BLE001 - retried eagerly, which reports the real error
                compiled[derivative] = None
        return np.asarray((slope if derivative else value)(xs))

    def call(x: np.ndarray, derivative: bool = False) -> np.ndarray:
        flat = np.ravel(x)
        padded = np.zeros(_bucket(flat.size), np.float64)
        padded[: flat.size] = flat
        with jax.enable_x64(True):
            try:
                y = evaluate(jnp.asarray(padded), derivative)
            except Exception as err:  # noqa: BLE001 - reported with the cause attached
                what = "could not be differentiated by jax.jvp" if derivative else "raised"
                raise _checks.fail(
                    fn, "activation", activation,
                    f"{what} on a float64 array ({type(err).__name__}: {err})",
                    "an elementwise jax function of one array, such as jax.nn.gelu",
                    exc=TypeError) from err
        seen.append(y.dtype)
        if y.shape != padded.shape:
            raise _checks.fail(fn, "activation", activation,
                               f"returned shape {y.shape} for an input of shape {padded.shape}",
                               "an elementwise function whose output has its input's shape")
        if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
            raise _checks.fail(fn, "activation", activation, f"returned dtype {y.dtype}",
                               "real outputs")
        y64 = y[: flat.size].astype(np.float64)
        bad = ~np.isfinite(y64)
        if bad.any():
            i = int(np.argmax(bad))
            what = "its derivative is" if derivative else "it returned"
            raise _checks.fail(fn, "activation", activation,
                               f"is not finite: {what} {y64[i]} at x={flat[i]:g}",
                               "finite values at every real input")
        return y64.reshape(np.shape(x))

    probe = np.linspace(-4.0, 4.0, 16)
    y = call(probe)
    out_dtype = seen[0]
    moved = probe.copy()
    moved[0] = 7.0
    if not np.allclose(call(moved)[1:], y[1:], rtol=1e-12, atol=1e-300):
        raise _checks.fail(fn, "activation", activation,
                           "is not elementwise (its value at x depends on the other inputs)",
                           "an elementwise function such as jax.nn.gelu")
    if out_dtype != np.float64:
        warnings.warn(_checks.message(
            fn, "activation", activation, f"computes in {out_dtype} even for float64 inputs",
            "a float64 result", "Expectations are then accurate only to that dtype's precision."),
            UserWarning, stacklevel=4)
    return Activation(label, call, lambda x: call(x, derivative=True), tuple(sorted(set(extra))))


def resolve(fn: str, activation: object, param: object = None,
            breakpoints: object = ()) -> Activation:
    """Validates an activation (a name or a callable) and its parameter and breakpoints."""
    extra = _breakpoints(fn, breakpoints)
    if isinstance(activation, str):
        if _ALIASES.get(activation, activation) not in _NAMED:
            listed = ", ".join(repr(n) for n in ACTIVATIONS)
            raise _checks.fail(fn, "activation", activation, "is not a known activation",
                               f"one of {listed}, or a callable such as jax.nn.gelu")
        return from_name(fn, activation, param, extra)
    if not callable(activation):
        raise _checks.fail(fn, "activation", activation, "is neither a name nor a callable",
                           "an activation name such as 'tanh' or a callable such as jax.nn.gelu",
                           exc=TypeError)
    known = _recognise(activation)
    if known is not None:
        name, kwargs = known
        if param is not None:
            raise _checks.fail(fn, "param", param, "is given with a callable activation",
                               "param=None", "Bind parameters with functools.partial.")
        value = next(iter(kwargs.values())) if kwargs else None
        return from_name(fn, name, value, extra)
    if param is not None:
        raise _checks.fail(fn, "param", param, "is given with a callable activation", "param=None",
                           "Bind parameters with functools.partial.")
    return _callable(fn, activation, extra)
