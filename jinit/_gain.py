"""Gains: PyTorch's table, the gain of any activation by quadrature, and the init it needs."""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from . import _checks, _quadrature
from ._base import Init, public
from ._typing import DISTRIBUTIONS, MODES, DTypeLike
from ._variance import variance_scaling

GainDefinition = Literal["forward", "variance", "backward"]
DEFINITIONS: tuple[str, ...] = get_args(GainDefinition)

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


def _real(fn: str, arg: str, value: object) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray, jax.Array)):
        raise _checks.fail(fn, arg, value, "is not a real number", "a finite real number",
                           exc=TypeError)
    arr = np.asarray(value)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise _checks.fail(fn, arg, value, "is not a real scalar", "a finite real number",
                           exc=TypeError)
    x = float(arr)
    if not math.isfinite(x):
        raise _checks.fail(fn, arg, value, "is not finite", "a finite real number")
    return x


def _breakpoints(fn: str, breakpoints: object) -> tuple[float, ...]:
    if isinstance(breakpoints, str) or not isinstance(breakpoints, (Sequence, np.ndarray)):
        raise _checks.fail(fn, "breakpoints", breakpoints, "is not a sequence",
                           "a sequence of finite real numbers such as (-1.0, 1.0)", exc=TypeError)
    return tuple(_real(fn, "breakpoints", b) for b in breakpoints)


def _named_param(fn: str, name: str, spec: _Named, param: object) -> float | None:
    if spec.default is None:
        if param is not None:
            raise _checks.fail(fn, "param", param, f"is given but {name!r} takes no parameter",
                               "param=None")
        return None
    if param is None:
        return spec.default
    p = _real(fn, "param", param)
    if spec.low is not None and (p < spec.low or (spec.strict and p == spec.low)):
        bound = f"> {spec.low:g}" if spec.strict else f">= {spec.low:g}"
        raise _checks.fail(fn, "param", param, f"is out of range for {name!r}", f"a number {bound}")
    return p


def _from_name(fn: str, name: str, param: object, extra: tuple[float, ...]) -> Activation:
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
        return _from_name(fn, activation, param, extra)
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
        return _from_name(fn, name, value, extra)
    if param is not None:
        raise _checks.fail(fn, "param", param, "is given with a callable activation", "param=None",
                           "Bind parameters with functools.partial.")
    return _callable(fn, activation, extra)


# --------------------------------------------------------------------------- moments
# All expectations over x ~ N(0, q). Homogeneous activations (a x for x < 0, b x for x > 0:
# linear, ReLU, leaky ReLU) use their closed forms, so He's 2 and LeCun's 1 are exact.


def m1(act: Activation, q: float) -> float:
    """E phi(x)."""
    if act.pieces is not None:
        a, b = act.pieces
        return math.sqrt(q) * (b - a) * _INV_SQRT_2PI
    return _quadrature.expect(act.f, q, act.points)


def m2(act: Activation, q: float) -> float:
    """E phi(x)^2."""
    if act.pieces is not None:
        a, b = act.pieces
        return q * (a * a + b * b) / 2
    return _quadrature.expect(lambda x: act.f(x) ** 2, q, act.points)


def centred2(act: Activation, q: float) -> float:
    """Var phi(x), computed as E (phi - E phi)^2 to avoid cancellation."""
    if act.pieces is not None:
        a, b = act.pieces
        return q * ((a * a + b * b) / 2 - (b - a) ** 2 / (2 * math.pi))
    x, w = _quadrature.normal_rule(q, act.points)
    y = act.f(x)
    mean = float(np.dot(w, y))
    return float(np.dot(w, (y - mean) ** 2))


def d2(act: Activation, q: float) -> float:
    """E phi'(x)^2."""
    if act.pieces is not None:
        a, b = act.pieces
        return (a * a + b * b) / 2
    return _quadrature.expect(lambda x: act.df(x) ** 2, q, act.points)


def dm2_dq(act: Activation, q: float) -> float:
    """d/dq E phi(sqrt(q) z)^2 = E[phi(x) phi'(x) x] / q (no second derivative, so kinks are fine)."""
    if act.pieces is not None:
        a, b = act.pieces
        return (a * a + b * b) / 2
    q = max(q, 1e-30)  # the q -> 0 limit, phi'(0)^2 + phi(0) phi''(0), to O(1e-30)
    return _quadrature.expect(lambda x: act.f(x) * act.df(x) * x, q, act.points) / q


_ZERO_TOL = 1e-13
_Q_MAX = 1e30
_Q_MIN = 1e-30


def fixed_point_q(act: Activation, sigma_w2: float, sigma_b2: float, q0: float) -> float:
    """The limit of q_{l+1} = sigma_w2 E phi(sqrt(q_l) z)^2 + sigma_b2 from q0 (inf / 0 included).

    For a map that is increasing in q (every activation named here), the iterates move
    monotonically towards the first root of V(q) - q on the side where V(q0) - q0 points.
    """
    def g(q: float) -> float:
        return sigma_w2 * m2(act, q) + sigma_b2 - q

    g0 = g(q0)
    if abs(g0) <= _ZERO_TOL * max(q0, g0 + q0):
        return q0
    lo, g_lo = q0, g0
    factor = 2.0  # the bracket grows by 2, 4, 16, 256, then 1e4 per step
    if g0 > 0:
        hi = factor * q0
        g_hi = g(hi)
        while g_hi > 0:
            if hi > _Q_MAX:
                return math.inf
            factor = min(factor * factor, 1e4)
            lo, g_lo, hi = hi, g_hi, factor * hi
            g_hi = g(hi)
    else:
        hi, g_hi = q0, g0
        lo = q0 / factor
        g_lo = g(lo)
        while g_lo < 0:
            if lo < _Q_MIN:
                return 0.0
            factor = min(factor * factor, 1e4)
            hi, g_hi, lo = lo, g_lo, lo / factor
            g_lo = g(lo)
    return _quadrature.find_root(g, lo, hi, g_lo, g_hi)


# ---------------------------------------------------------------------------- stability


class InitStabilityWarning(UserWarning):
    """Warns that a deep stack's forward variance cannot stay at the initializer's fixed point.

    Raised by :func:`jinit.for_activation` when the variance map
    :math:`q \\mapsto \\sigma_w^2\\,\\mathbb{E}[\\phi(\\sqrt{q}\\,z)^2]` has slope above 1 at
    its fixed point (see :func:`jinit.theory.stability`). Silence it for one activation with
    ``warnings.filterwarnings("ignore", category=jinit.InitStabilityWarning)``.

    Example:
      >>> import jinit
      >>> issubclass(jinit.InitStabilityWarning, UserWarning)
      True
    """


InitStabilityWarning.__module__ = "jinit"

_SLOPE_TOL = 1e-6


class Stability(NamedTuple):
    """Stability of a zero-mean-weight stack's forward variance (see :func:`jinit.theory.stability`)."""

    sigma_w2: float
    sigma_b2: float
    q_star: float
    slope: float
    chi1: float
    verdict: str


def stability(act: Activation, sigma_w2: float, sigma_b2: float, q0: float) -> Stability:
    q_star = fixed_point_q(act, sigma_w2, sigma_b2, q0)
    if math.isinf(q_star):
        slope = math.inf
        chi1 = sigma_w2 * d2(act, _Q_MAX)
        verdict = "exploding"
    else:
        slope = sigma_w2 * dm2_dq(act, q_star)
        chi1 = sigma_w2 * d2(act, q_star)
        if q_star == 0.0:
            verdict = "vanishing"
        elif slope > 1 + _SLOPE_TOL:
            verdict = "unstable"
        elif slope >= 1 - _SLOPE_TOL:
            verdict = "neutral"
        else:
            verdict = "stable"
    return Stability(float(sigma_w2), float(sigma_b2), float(q_star), float(slope), float(chi1),
                     verdict)


# --------------------------------------------------------------------------------- gains

_TORCH_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d")
_TORCH_NAMES = (*_TORCH_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu")


@public
def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""PyTorch's recommended gain for a nonlinearity: the same names and values.

    .. math::

        g = \begin{cases}
          1 & \text{linear, conv1d/2d/3d, conv\_transpose1d/2d/3d, sigmoid} \\
          5/3 & \text{tanh} \\
          \sqrt{2} & \text{relu} \\
          \sqrt{2 / (1 + s^2)} & \text{leaky\_relu, negative slope } s = \texttt{param}
            \text{ (default } 0.01) \\
          3/4 & \text{selu}
        \end{cases}

    Initializers multiply their standard deviation by :math:`g` (their variance by
    :math:`g^2`), so :math:`g` should make :math:`g^2\,\mathbb{E}[\phi(z)^2] = 1` for
    :math:`z \sim \mathcal{N}(0, 1)`. Which of these values are exact:

    * **exact**: linear (1), relu (:math:`\sqrt 2`: :math:`\mathbb{E}[\mathrm{relu}(z)^2] = 1/2`)
      and leaky_relu (:math:`\mathbb{E}[\phi(z)^2] = (1 + s^2)/2`). For these the forward,
      backward (:math:`\mathbb{E}[\phi'(z)^2]`) and jinit's :func:`jinit.gain` agree.
    * **conventions**: tanh 5/3 (the forward-moment gain is 1.5925, the backward one
      1.4674); sigmoid 1 (forward 1.8462, centred variance 4.8013, backward 4.7226); selu
      3/4, chosen empirically in PyTorch PR #50664 for gradient flow (the forward gain of
      SELU is exactly 1 by construction of its constants, which is why PyTorch's docs and
      :func:`jinit.for_activation` use LeCun scaling, ``'linear'``, for self-normalizing
      networks). Use :func:`jinit.gain` for the exact value under a named definition.

    Same values as ``torch.nn.init.calculate_gain`` (tested against it when torch is
    installed), returned as floats (torch returns the int 1 for the linear names).

    Args:
      nonlinearity: one of ``'linear'``, ``'conv1d'``, ``'conv2d'``, ``'conv3d'``,
        ``'conv_transpose1d'``, ``'conv_transpose2d'``, ``'conv_transpose3d'``,
        ``'sigmoid'``, ``'tanh'``, ``'relu'``, ``'leaky_relu'``, ``'selu'``.
      param: the negative slope for ``'leaky_relu'`` (an int or float, not a bool; default
        0.01); ignored for the other names, as in PyTorch.

    Returns:
      The gain, a Python float.

    Raises:
      ValueError: an unknown name (PyTorch raises ``ValueError`` too), or a non-finite
        ``param`` for ``'leaky_relu'``.
      TypeError: a ``param`` for ``'leaky_relu'`` that is a bool or not a real number.

    References:
      PyTorch ``torch.nn.init.calculate_gain``. He et al., "Delving Deep into Rectifiers",
      ICCV 2015, arXiv:1502.01852. Klambauer et al., "Self-Normalizing Neural Networks",
      NeurIPS 2017, arXiv:1706.02515.

    Example:
      >>> import jinit
      >>> jinit.calculate_gain("relu") == 2 ** 0.5, jinit.calculate_gain("tanh")
      (True, 1.6666666666666667)
      >>> round(jinit.calculate_gain("leaky_relu", 0.2), 6)
      1.38675
    """
    fn = "calculate_gain"
    if not isinstance(nonlinearity, str) or nonlinearity not in _TORCH_NAMES:
        listed = ", ".join(repr(n) for n in _TORCH_NAMES)
        raise _checks.fail(fn, "nonlinearity", nonlinearity, "is not a supported nonlinearity",
                           f"one of {listed}", "For any other activation use jinit.gain(...).")
    if nonlinearity in _TORCH_LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else _real(fn, "param", param)
    return math.sqrt(2.0 / (1 + slope**2))


def _gain_value(fn: str, act: Activation, definition: str) -> float:
    moment = {"forward": m2, "variance": centred2, "backward": d2}[definition]
    value = moment(act, 1.0)
    if not value > 0.0:
        what = {"forward": "E[phi(z)^2]", "variance": "Var[phi(z)]", "backward": "E[phi'(z)^2]"}
        raise _checks.fail(fn, "activation", act.label if act.name else act.label,
                           f"has {what[definition]} = {value:g} for z ~ N(0, 1), so its "
                           f"{definition} gain is infinite", "an activation that is not "
                           f"{'constant' if definition == 'variance' else 'zero'} almost everywhere")
    return math.sqrt(1.0 / value)  # exactly sqrt(2) for ReLU, as PyTorch computes it


@functools.lru_cache(maxsize=256)
def _named_gain(name: str, param: float | None, points: tuple[float, ...], definition: str) -> float:
    return _gain_value("gain", _from_name("gain", name, param, points), definition)


@public
def gain(activation: str | Callable, definition: str = "forward", *,
         param: float | None = None, breakpoints: Sequence[float] = ()) -> float:
    r"""The gain of any activation, computed by Gaussian quadrature under a named definition.

    With :math:`z \sim \mathcal{N}(0, 1)` a unit-Gaussian pre-activation:

    .. math::

        g_\text{forward} = \mathbb{E}[\phi(z)^2]^{-1/2}, \qquad
        g_\text{variance} = \operatorname{Var}[\phi(z)]^{-1/2}, \qquad
        g_\text{backward} = \mathbb{E}[\phi'(z)^2]^{-1/2}.

    * ``"forward"`` (default): weights of variance :math:`g^2/\text{fan\_in}` keep the second
      moment of the next pre-activation equal to that of this one (He et al.'s derivation;
      :math:`\sqrt 2` for ReLU). The scale :func:`jinit.for_activation` uses.
    * ``"variance"``: normalizes the *centred* activation; the right factor when the mean is
      removed (centred or weight-standardized kernels, Brock et al. 2021's scaled WS).
    * ``"backward"``: keeps the second moment of back-propagated gradients (use with
      ``mode="fan_out"``); :math:`\sqrt 2` for ReLU again.

    Exact closed forms for linear (1), ReLU (:math:`\sqrt 2` forward and backward,
    :math:`(1/2 - 1/(2\pi))^{-1/2}` variance) and leaky ReLU (:math:`\sqrt{2/(1+s^2)}`).
    Everything else is computed by composite Gauss–Legendre quadrature on ``|z| <= 13`` with
    panels split at the activation's kinks (0 for ELU/SELU/softsign, ±1 for hard tanh, ±3 for
    hard sigmoid/SiLU, 0 and 6 for ReLU6), at 0, and at ``breakpoints``, graded geometrically
    towards them; accurate to about 1e-14 (tested against closed forms and an independent
    integration), in float64 whatever jax's x64 setting.

    Names: ``'linear'`` (``'identity'``), ``'relu'``, ``'leaky_relu'`` (param: negative slope,
    default 0.01), ``'relu6'``, ``'tanh'``, ``'hard_tanh'``, ``'sigmoid'``,
    ``'hard_sigmoid'``, ``'log_sigmoid'``, ``'gelu'`` (the exact form :math:`x\,\Phi(x)` =
    ``jax.nn.gelu(x, approximate=False)`` = PyTorch's default ``nn.GELU()``), ``'gelu_tanh'``
    (the tanh approximation = ``jax.nn.gelu`` with its default ``approximate=True``, Flax's
    ``nn.gelu``, PyTorch's ``GELU(approximate='tanh')``), ``'silu'`` (``'swish'``),
    ``'hard_silu'`` (``'hard_swish'``), ``'mish'``, ``'softplus'``, ``'elu'`` (param
    :math:`\alpha \ge 0`, default 1), ``'celu'`` (param :math:`\alpha > 0`, default 1),
    ``'selu'``, ``'softsign'`` (``'soft_sign'``), ``'squareplus'`` (param :math:`b \ge 0`,
    default 4).

    A callable is evaluated in float64 (inside ``jax.enable_x64``) on the quadrature nodes
    and differentiated with ``jax.jvp``. The ``jax.nn`` functions above, and
    ``functools.partial`` of them binding their parameter, are recognised and use the named
    form (so ``jax.nn.gelu`` is ``'gelu_tanh'`` and ``jax.nn.relu`` gets the exact
    :math:`\sqrt 2`). For any other callable 0 is always a panel edge; pass any other kink
    in ``breakpoints``. A callable that computes in float32 internally limits the result to
    float32 accuracy (a ``UserWarning`` says so).

    Args:
      activation: a name above or an elementwise callable such as ``jax.nn.gelu``.
      definition: ``"forward"``, ``"variance"`` or ``"backward"``.
      param: the parameter of a named activation (see above).
      breakpoints: pre-activation values where the activation has a kink or sharp feature.

    Returns:
      The gain, a Python float.

    Raises:
      ValueError: an unknown name or definition, a ``param`` out of range or given to an
        activation without one, an activation that is zero (constant, for ``"variance"``)
        almost everywhere, or a callable that returns non-finite values or a different shape.
      TypeError: an activation that is neither a name nor a callable, a callable jax cannot
        evaluate or differentiate, non-real ``param`` or ``breakpoints``.

    References:
      He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852.
      Glorot & Bengio, AISTATS 2010 (forward and backward variance). Brock, De & Smith,
      "Characterizing signal propagation to close the performance gap in unnormalized
      ResNets", ICLR 2021, arXiv:2101.08692 (centred gains). Hendrycks & Gimpel, "Gaussian
      Error Linear Units", arXiv:1606.08415.

    Example:
      >>> import jax, jinit
      >>> jinit.gain("relu") == 2 ** 0.5, round(jinit.gain("tanh"), 10)
      (True, 1.5925374197)
      >>> round(jinit.gain(jax.nn.gelu), 6), round(jinit.gain("gelu"), 6)   # tanh form, erf form
      (1.533581, 1.53353)
      >>> round(jinit.gain("selu"), 12), round(jinit.gain("tanh", "backward"), 6)
      (1.0, 1.467414)
    """
    fn = "gain"
    _checks.choice(fn, "definition", definition, DEFINITIONS)
    act = resolve(fn, activation, param, breakpoints)
    if act.name is not None:
        return _named_gain(act.name, act.param, act.points, definition)
    return _gain_value(fn, act, definition)


def _he_scale(act: Activation) -> tuple[float, str]:
    if act.name == "selu":
        return 1.0, "LeCun (self-normalizing SELU)"
    if act.pieces is not None:
        a, b = act.pieces
        if act.name == "linear":
            return 1.0, "LeCun (linear)"
        return 2.0 / (a * a + b * b), "He"
    return 1.0 / m2(act, 1.0), "forward gain^2"


@public
def for_activation(
    activation: str | Callable,
    *,
    param: float | None = None,
    breakpoints: Sequence[float] = (),
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    in_axis: int | Sequence[int] = -2,
    out_axis: int | Sequence[int] = -1,
    batch_axis: int | Sequence[int] = (),
    dtype: DTypeLike | None = None,
) -> Init:
    r"""The variance-scaling initializer an activation needs, with a stability diagnosis.

    Returns ``jinit.variance_scaling(scale, mode, distribution, ...)`` with

    .. math::

        \text{scale} = \sigma_w^2 = \frac{1}{\mathbb{E}[\phi(z)^2]}, \quad z \sim \mathcal{N}(0,1),
        \qquad \operatorname{Var}[w] = \frac{\sigma_w^2}{\text{fan\_in}},

    so that a unit-variance pre-activation :math:`h_l` gives
    :math:`\mathbb{E}[h_{l+1}^2] = \sigma_w^2\,\mathbb{E}[\phi(h_l)^2] = 1`: the fixed point of
    the variance map :math:`V(q) = \sigma_w^2\,\mathbb{E}[\phi(\sqrt q z)^2]` is
    :math:`q^* = 1`. The named cases are this rule in closed form:

    * ReLU → He, scale 2; leaky ReLU with slope :math:`s` → He with the slope,
      :math:`2/(1+s^2)`; linear → LeCun, 1. These are positively homogeneous, so
      :math:`V(q) = q` for every :math:`q`: the slope :math:`V'(q^*)` is exactly 1 (neutral).
    * SELU → LeCun normal, scale 1 (Klambauer et al.: SELU's constants make
      :math:`\mathbb{E}[\mathrm{selu}(z)^2] = 1`, and the fixed point is attracting).
    * tanh, sigmoid, softsign, ELU, … → :func:`jinit.gain` squared (tanh: 2.5362).

    **Stability.** A fixed point only helps a deep stack if it attracts: the slope
    :math:`V'(q^*) = \sigma_w^2\,\mathbb{E}[\phi(x)\phi'(x)\,x]/q^*` (at zero bias the
    log-log slope :math:`d\log q_{l+1}/d\log q_l`) must be at most 1. It is below 1 for
    saturating activations (tanh, sigmoid, softsign, ELU, SELU) and 1 for the homogeneous
    ones. For GELU, SiLU/swish and Mish it is above 1 (GELU 1.144): :math:`V(q)/q` rises from
    1/4 near 0 towards 1/2, so deviations from :math:`q^* = 1` grow geometrically and no
    zero-bias variance-scaling init keeps a deep stack at unit variance. There this function
    still returns the :math:`q^*=1` scale but emits :class:`jinit.InitStabilityWarning` with
    the slope; use LSUV (``jinit.lsuv``), normalization layers, or a smaller
    :math:`\sigma_w^2` with a bias variance :math:`\sigma_b^2 > 0` (GELU at
    :math:`(1.5, 0.5)` has a stable :math:`q^* = 1.53`; :func:`jinit.theory.stability`
    evaluates any pair). :func:`jinit.theory.stability` returns the same diagnosis as
    data, including :math:`\chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(z)^2]`, the per-layer factor
    of gradient second moments (tanh at this scale: 1.18, in the chaotic phase; ReLU: 1).

    Args:
      activation: a name or an elementwise callable, as for :func:`jinit.gain`.
      param: the parameter of a named activation (leaky ReLU slope, ELU/CELU alpha, …).
      breakpoints: extra kinks of a callable activation, for the quadrature.
      mode: fan mode, as in :func:`jinit.variance_scaling` (default ``"fan_in"``).
      distribution: ``"truncated_normal"`` (default, as jax's ``he_normal``/``lecun_normal``),
        ``"normal"`` or ``"uniform"``.
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      A :func:`jinit.variance_scaling` initializer (works as any ``kernel_init``).

    Raises:
      ValueError, TypeError: as :func:`jinit.gain` for the activation, and as
        :func:`jinit.variance_scaling` for ``mode``, ``distribution`` and the axes.

    Warns:
      InitStabilityWarning: when the fixed point :math:`q^* = 1` is unstable (slope > 1).

    References:
      He et al., "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852. Klambauer,
      Unterthiner, Mayr & Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017,
      arXiv:1706.02515. Poole et al., "Exponential expressivity in deep neural networks
      through transient chaos", NeurIPS 2016, arXiv:1606.05340. Mishkin & Matas, "All you
      need is a good init", ICLR 2016, arXiv:1511.06422.

    Example:
      >>> import warnings, jax, jinit
      >>> jinit.for_activation("relu")
      jinit.variance_scaling(scale=2.0, mode='fan_in', distribution='truncated_normal', in_axis=-2, out_axis=-1, batch_axis=(), dtype=None)
      >>> w = jinit.for_activation("tanh")(jax.random.key(0), (512, 512))
      >>> bool(abs(w.var() * 512 / jinit.gain("tanh") ** 2 - 1) < 0.02)
      True
      >>> with warnings.catch_warnings(record=True) as caught:
      ...     warnings.simplefilter("always")
      ...     init = jinit.for_activation(jax.nn.gelu)
      >>> [w.category.__name__ for w in caught]
      ['InitStabilityWarning']
    """
    fn = "for_activation"
    act = resolve(fn, activation, param, breakpoints)
    _checks.choice(fn, "mode", mode, MODES)
    _checks.choice(fn, "distribution", distribution, DISTRIBUTIONS)
    for arg, value in (("in_axis", in_axis), ("out_axis", out_axis), ("batch_axis", batch_axis)):
        _checks.axis_arg(fn, arg, value)
    scale, _ = _he_scale(act)
    diag = stability(act, scale, 0.0, 1.0)
    if diag.verdict not in ("stable", "neutral"):
        warnings.warn(_checks.message(
            fn, "activation", activation if isinstance(activation, str) else act.label,
            f"has an unstable variance fixed point at scale {scale:.6g}: the map "
            f"q -> {scale:.4g} E[phi(sqrt(q) z)^2] has slope {diag.slope:.4f} > 1 at q*=1, so "
            f"deviations from unit variance grow about {diag.slope:.3f}x per layer and no "
            "zero-bias variance-scaling init keeps a deep stack there",
            "a slope <= 1 (see jinit.theory.stability)",
            "Use LSUV (jinit.lsuv), normalization layers, or a smaller sigma_w^2 with a bias "
            "variance sigma_b^2 > 0 (check it with jinit.theory.stability)."),
            InitStabilityWarning, stacklevel=2)
    return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)
