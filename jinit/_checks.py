"""Every argument check and its message: one wording, one place.

Messages follow one pattern::

    <callable>(): <arg>=<value!r> <problem>; expected <allowed>. <fix>

All checks run in Python on static values (shapes, dtypes, factory arguments),
so they cost nothing inside compiled code and fire at the call that made the
mistake, before any tracing.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import warnings
from collections.abc import Collection, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def message(fn: str, arg: str, value: object, problem: str, expected: str, fix: str = "") -> str:
    """Formats an error message in the library's one pattern."""
    text = f"{fn}(): {arg}={_show(value)} {problem}; expected {expected}."
    return f"{text} {fix}" if fix else text


def fail(fn: str, arg: str, value: object, problem: str, expected: str, fix: str = "",
         exc: type[Exception] = ValueError) -> Exception:
    """Builds (does not raise) an exception in the library's one pattern."""
    return exc(message(fn, arg, value, problem, expected, fix))


def _show(value: object) -> str:
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer):
        return f"Array(shape={tuple(value.shape)}, dtype={value.dtype})"
    if isinstance(value, jax.core.Tracer):
        return f"<traced {value.dtype}{list(value.shape)}>"
    text = repr(value)
    if "\n" in text:  # a module's or a tree's repr: one line in a message
        text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------- keys


@functools.cache
def _legacy_key_shape(impl: str) -> tuple[int, ...]:
    return tuple(jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape)


def key(fn: str, key: object) -> None:
    """Checks that ``key`` is one PRNG key: typed (``jax.random.key``) or legacy ``uint32``."""
    dtype = getattr(key, "dtype", None)
    shape = getattr(key, "shape", None)
    if dtype is None or shape is None:
        raise fail(fn, "key", key, "is not a PRNG key",
                   "a key such as jax.random.key(0) or jax.random.PRNGKey(0)",
                   "Pass a key, not a seed.", TypeError)
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise fail(fn, "key", key, f"is a batch of keys with shape {tuple(shape)}",
                       "a single key of shape ()",
                       "Use jax.vmap over the keys to draw one array per key.")
        return
    legacy = _legacy_key_shape(str(jax.config.jax_default_prng_impl))
    if np.dtype(dtype) != np.uint32:
        raise fail(fn, "key", key, f"has dtype {np.dtype(dtype).name}, not a key dtype",
                   "a key such as jax.random.key(0) or a uint32 jax.random.PRNGKey(0)",
                   "Pass a key, not a seed.", TypeError)
    if tuple(shape) != legacy:
        raise fail(fn, "key", key, f"is a uint32 array of shape {tuple(shape)}",
                   f"a single legacy key of shape {legacy} or a typed key",
                   "Use jax.vmap over the keys to draw one array per key.")


# --------------------------------------------------------------------------- shapes


def _is_int(value: object) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def shape(fn: str, shape: object) -> tuple[int, ...]:
    """Returns ``shape`` as a tuple of non-negative Python ints, or raises."""
    if _is_int(shape):
        raise fail(fn, "shape", shape, "is a bare integer", "a sequence of ints",
                   f"Write shape=({int(shape)},).", TypeError)
    if not isinstance(shape, Sequence) and not isinstance(shape, np.ndarray):
        raise fail(fn, "shape", shape, "is not a sequence", "a tuple or list of non-negative ints",
                   exc=TypeError)
    dims = []
    for dim in shape:
        if not _is_int(dim):
            if isinstance(dim, jax.core.Tracer):
                raise fail(fn, "shape", shape, "contains a traced value",
                           "static ints", "Mark shape static: jax.jit(init, static_argnums=(1, 2)).",
                           TypeError)
            raise fail(fn, "shape", shape, f"contains {dim!r}, which is not an int",
                       "a sequence of non-negative ints", exc=TypeError)
        if dim < 0:
            raise fail(fn, "shape", shape, f"has a negative dimension {int(dim)}",
                       "non-negative ints")
        dims.append(operator.index(dim))
    return tuple(dims)


def axis(fn: str, name: str, value: object, rank: int, shape: tuple[int, ...],
         fix: str = "") -> tuple[int, ...]:
    """Normalizes an int-or-sequence axis argument against ``rank``; returns non-negative axes."""
    items = (value,) if _is_int(value) else value
    if not isinstance(items, Sequence) or not all(_is_int(a) for a in items):
        raise fail(fn, name, value, "is not an axis", "an int or a sequence of ints", exc=TypeError)
    out = []
    for a in items:
        if not -rank <= a < rank:
            raise fail(fn, "shape", shape,
                       f"{has_axes(rank)} but {name}={value!r} needs "
                       f"axis {int(a)}", f"a shape with at least {a + 1 if a >= 0 else -a} axes", fix)
        out.append(int(a) % rank)
    if len(set(out)) != len(out):
        raise fail(fn, name, value, "repeats an axis", "distinct axes")
    return tuple(out)


def axis_arg(fn: str, name: str, value: object) -> object:
    """Factory-time check of an axis argument's type (its range needs the shape)."""
    items = (value,) if _is_int(value) else value
    if not isinstance(items, Sequence) or isinstance(items, str) or not all(_is_int(a) for a in items):
        raise fail(fn, name, value, "is not an axis", "an int or a sequence of ints", exc=TypeError)
    return value


# --------------------------------------------------------------------------- dtypes

def default_float() -> np.dtype:
    return np.dtype(jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)


def dtype(fn: str, dtype: object, *, complex_ok: bool = True, factory: bool = False) -> np.dtype | None:
    """Returns the canonical inexact dtype, ``None`` → default float (float32, float64 under x64).

    A 64-bit dtype without ``jax_enable_x64`` follows jax: a warning, then the 32-bit dtype.
    With ``factory=True`` a ``None`` stays ``None`` (the initializer decides at call time).
    """
    if dtype is None:
        return None if factory else default_float()
    try:
        dt = np.dtype(dtype)
    except TypeError:
        try:
            dt = jnp.dtype(dtype)
        except TypeError:
            raise fail(fn, "dtype", dtype, "is not a dtype",
                       "a floating or complex dtype such as jnp.float32 or jnp.bfloat16",
                       exc=TypeError) from None
    if not jnp.issubdtype(dt, jnp.inexact):
        raise fail(fn, "dtype", dt, "is not inexact",
                   "a floating or complex dtype such as jnp.float32 or jnp.bfloat16", exc=TypeError)
    if jnp.issubdtype(dt, jnp.complexfloating) and not complex_ok:
        raise fail(fn, "dtype", dt, "is complex, which this scheme does not define",
                   "a real floating dtype such as jnp.float32",
                   "For complex weights use jinit.normal or jinit.variance_scaling.", TypeError)
    if factory:
        return dt
    canonical = np.dtype(jax.dtypes.canonicalize_dtype(dt))
    if canonical != dt:
        warnings.warn(
            message(fn, "dtype", dt, "is not available without jax_enable_x64",
                    f"{canonical.name} (returned, as jax does)",
                    "Enable x64 with jax.config.update('jax_enable_x64', True)."),
            UserWarning, stacklevel=3)
    return canonical


# -------------------------------------------------------------------------- scalars


def scalar(fn: str, name: str, value: object, *, minimum: float | None = 0.0,
           strict: bool = False) -> object:
    """Checks a real scale-like argument: finite, and ``>= minimum`` (``>`` with ``strict``).

    Traced values (a factory called inside ``jit`` with a traced scale) are passed through
    unchecked; concrete ones are returned unchanged so arithmetic matches jax bit for bit.
    """
    if isinstance(value, jax.core.Tracer):
        return value
    if isinstance(value, (bool, np.bool_)) or isinstance(value, str):
        raise fail(fn, name, value, "is not a real number", "a finite real number", exc=TypeError)
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything not array-like is a type error here
        raise fail(fn, name, value, "is not a real number", "a finite real number",
                   exc=TypeError) from None
    if arr.shape != () or not (np.issubdtype(arr.dtype, np.number)):
        raise fail(fn, name, value, "is not a real scalar", "a finite real number", exc=TypeError)
    if np.iscomplexobj(arr):
        raise fail(fn, name, value, "is complex", "a finite real number", exc=TypeError)
    x = float(arr)
    if not math.isfinite(x):
        raise fail(fn, name, value, "is not finite", "a finite real number")
    if minimum is not None and (x < minimum or (strict and x == minimum)):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise fail(fn, name, value, "is out of range", f"a number {bound}")
    return value


def real(fn: str, name: str, value: object, *, minimum: float | None = None,
         strict: bool = False) -> float:
    """A finite real number as a Python float (``>= minimum``, ``>`` with ``strict``), or raises.

    For arguments used in Python arithmetic (gains, variances, probabilities); scale arguments
    that must keep jax's exact arithmetic use :func:`scalar`, which returns the value unchanged.
    """
    scalar(fn, name, value, minimum=minimum, strict=strict)
    return float(np.asarray(value))


def integer(fn: str, name: str, value: object, minimum: int = 0) -> int:
    """An int ``>= minimum`` (bools refused) as a Python int, or raises."""
    if not _is_int(value):
        raise fail(fn, name, value, "is not an int", f"an int >= {minimum}", exc=TypeError)
    if value < minimum:
        raise fail(fn, name, value, "is out of range", f"an int >= {minimum}")
    return int(value)


def real_array(fn: str, name: str, value: object, lo: float, hi: float = math.inf
               ) -> tuple[np.ndarray, bool]:
    """A real number or array with every entry finite in ``[lo, hi]``, as float64, or raises.

    Returns the array and whether ``value`` was a scalar (0-d).
    """
    if isinstance(value, (bool, np.bool_, str)):
        raise fail(fn, name, value, "is not a real number", "a real number or array", exc=TypeError)
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise fail(fn, name, value, "is not a real number", "a real number or array",
                   exc=TypeError) from None
    if not np.all(np.isfinite(arr)) or np.any(arr < lo) or np.any(arr > hi):
        bounds = f"finite values >= {lo:g}" if hi == math.inf else f"values in [{lo:g}, {hi:g}]"
        raise fail(fn, name, value, "is out of range", bounds)
    return arr, arr.ndim == 0


def choice(fn: str, name: str, value: object, options: Sequence[str]) -> str:
    """Checks a string option against its Literal's values."""
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise fail(fn, name, value, "is not valid", f"one of {listed}")
    return value


def has_axes(n: int) -> str:
    """``"has 1 axis"`` / ``"has 3 axes"``: the problem part of a rank message."""
    return f"has {n} axis" if n == 1 else f"has {n} axes"


def rank(fn: str, name: str, value: object, ndim: int, allowed: int | Collection[int],
         expected: str, fix: str = "") -> None:
    """Checks a number of axes: ``allowed`` is a minimum (an int) or the allowed ranks.

    ``value`` is what the message shows (the shape, or the array); ``expected`` says what
    fits, e.g. ``"at least 2 axes"``.
    """
    ok = ndim >= allowed if isinstance(allowed, int) else ndim in allowed
    if not ok:
        raise fail(fn, name, value, has_axes(ndim), expected, fix)


def representable(fn: str, params: dict[str, object], variance: object,
                  fans: tuple[float, float], dtype: np.dtype) -> None:
    """Raises a ``ValueError`` naming ``gain``/``scale`` when a static ``variance`` overflows
    ``dtype``, the dtype it is drawn in (``float32`` for every real dtype but ``float64``;
    a complex dtype's own), where the draw would be an array of ``inf``. A traced variance
    is not checked."""
    if isinstance(variance, jax.core.Tracer):
        return
    with np.errstate(over="ignore"):
        out = np.asarray(variance, dtype)
    if not np.isfinite(out):
        arg = next((a for a in ("gain", "scale") if a in params), "scale")
        raise fail(fn, arg, params.get(arg), f"gives the variance {variance:.4g} (fan_in="
                   f"{fans[0]:g}, fan_out={fans[1]:g}), which overflows {out.dtype.name}, the "
                   f"dtype it is drawn in", f"a variance of at most "
                   f"{float(np.finfo(out.dtype).max):.4g}")
