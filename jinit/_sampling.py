"""The one place random draws happen, and the precision policy every scheme shares.

Precision policy
----------------
* float32, float64 and complex outputs are drawn directly in that dtype with
  ``jax.random``, exactly as ``jax.nn.initializers`` does, so results match jax
  bit for bit.
* 16-bit and 8-bit float outputs (bfloat16, float16, float8_e4m3fn, float8_e5m2)
  are drawn in float32, scaled in float32, clipped to the target's finite range
  (and to the scheme's support, rounded inward to representable values), then
  rounded once to the target dtype. Sampling in the target dtype, as jax does,
  leaves bfloat16 normals with about 128 distinct values, clips their tails,
  and turns float8 truncated normals into NaN.

Every value is therefore finite, and bounded schemes never leave their support
in any dtype: rounding is monotone, so clipping to representable bounds before
the cast keeps the cast result inside them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import _fastbits
from ._typing import Array, KeyArray, OutSharding, Shape

# Largest |z| a float32 standard-normal draw can reach is ~5.4 (float64: ~8.3);
# 10 is a safe static over-estimate used only to decide whether overflow is possible.
_NORMAL_EXTENT = 10.0


def sampling_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype draws are made in: float32 for float types narrower than 32 bits."""
    if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4:
        return np.dtype(jnp.float32)
    return dtype


def is_low_precision(dtype: np.dtype) -> bool:
    return sampling_dtype(dtype) != dtype


@functools.cache
def _finite_values(dtype: np.dtype) -> np.ndarray:
    """All finite values of a float dtype of at most 16 bits, sorted, as float64."""
    bits = np.arange(2 ** (8 * dtype.itemsize), dtype=np.uint64).astype(
        np.dtype(f"uint{8 * dtype.itemsize}"))
    with np.errstate(invalid="ignore"):  # NaN bit patterns; dropped just below
        values = bits.view(dtype).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def inward_bounds(dtype: np.dtype, lo: float, hi: float,
                  open_hi: bool = False) -> tuple[float, float]:
    """Smallest representable value ``>= lo`` and largest ``<= hi`` (``< hi`` if ``open_hi``)."""
    values = _finite_values(dtype)
    lo_t = values[np.searchsorted(values, lo, side="left")] if lo > values[0] else values[0]
    side = "left" if open_hi else "right"
    hi_t = values[np.searchsorted(values, hi, side=side) - 1] if hi <= values[-1] else values[-1]
    return float(lo_t), float(hi_t)


def finish(x: Array, dtype: np.dtype, *, lo: float | None = None, hi: float | None = None,
           open_hi: bool = False, extent: float | None = None) -> Array:
    """Rounds a draw made in :func:`sampling_dtype` to ``dtype``, finite and inside ``[lo, hi]``.

    ``lo``/``hi`` are the scheme's support (``None``: unbounded); ``extent`` a static upper
    bound on ``|x|``. For outputs drawn in their own dtype, nothing is done unless ``extent``
    says the draw could overflow, so such results stay bit-identical to jax.
    """
    if x.dtype == dtype:
        if extent is not None and jnp.issubdtype(dtype, jnp.floating):
            big = float(jnp.finfo(dtype).max)
            if extent > big:
                return jnp.clip(x, -big, big)
        return x
    big = float(jnp.finfo(dtype).max)
    lo = -big if lo is None else max(lo, -big)
    hi = big if hi is None else min(hi, big)
    lo_t, hi_t = inward_bounds(dtype, lo, hi, open_hi and hi < big)
    return jnp.clip(x, lo_t, hi_t).astype(dtype)


def _static_float(value: object) -> float | None:
    """``|value|`` as a Python float when it is known without tracing, else ``None``.

    Computed with numpy, never jnp, so eager and jitted calls take the same branch.
    """
    if isinstance(value, jax.core.Tracer):
        return None
    return float(np.abs(np.asarray(value)))


def normal(key: KeyArray, shape: Shape, dtype: np.dtype, scale: object,
           out_sharding: OutSharding = None) -> Array:
    """``scale * N(0, 1)`` in ``dtype`` (complex: ``E|z|^2 = 1`` before scaling)."""
    sdt = sampling_dtype(dtype)
    # The barrier stops XLA from folding ``scale`` into the sampler's own sqrt(2) factor under
    # jit, which changes the last bit: with it, jitted and eager draws are identical.
    z = jax.lax.optimization_barrier(_fastbits.normal(key, shape, sdt, out_sharding=out_sharding))
    x = z * jnp.array(scale, sdt)
    s = _static_float(scale)
    return finish(x, dtype, extent=None if s is None else s * _NORMAL_EXTENT)


def uniform(key: KeyArray, shape: Shape, dtype: np.dtype, minval: float, maxval: float,
            scale: object, out_sharding: OutSharding = None) -> Array:
    """``scale * U[minval, maxval)`` in ``dtype``, as ``jax.random.uniform(...) * scale``."""
    sdt = sampling_dtype(dtype)
    x = _fastbits.uniform(key, shape, sdt, minval, maxval,
                          out_sharding=out_sharding) * jnp.array(scale, sdt)
    s = _static_float(scale)
    if s is None or sdt == dtype:
        return finish(x, dtype)
    # scale 0: the support is the single point 0 (closed), not an empty half-open interval.
    return finish(x, dtype, lo=minval * s, hi=maxval * s, open_hi=s > 0)


def truncated_normal(key: KeyArray, lower: float, upper: float, shape: Shape, dtype: np.dtype,
                     scale: object, out_sharding: OutSharding = None) -> Array:
    """``scale * TN(0, 1; lower, upper)`` in ``dtype``, as ``jax.random.truncated_normal(...) * scale``."""
    sdt = sampling_dtype(dtype)
    x = _fastbits.truncated_normal(key, lower, upper, shape, sdt,
                                   out_sharding=out_sharding) * jnp.array(scale, sdt)
    s = _static_float(scale)
    if s is None or sdt == dtype:
        return finish(x, dtype)
    a, b = sorted((lower * s, upper * s))
    return finish(x, dtype, lo=a, hi=b)


def empty(shape: Shape, dtype: np.dtype, out_sharding: OutSharding = None) -> Array:
    """The answer for a zero-size shape: an empty array of the requested shape and dtype."""
    return jnp.zeros(shape, dtype, out_sharding=out_sharding)


def complex_uniform_disk(key: KeyArray, shape: Shape, dtype: np.dtype,
                         out_sharding: OutSharding = None) -> Array:
    """Uniform on the disk of radius √2 (so ``E|z|^2 = 1``): jax's ``_complex_uniform``, bit for bit.

    ``r = sqrt(2 u1)``, ``theta = 2 pi u2``; unlike jax, ``out_sharding`` is honoured.
    """
    key_r, key_theta = jax.random.split(key)
    real = np.dtype(jnp.finfo(dtype).dtype)
    r = jnp.sqrt(2 * _fastbits.uniform(key_r, shape, real, out_sharding=out_sharding)).astype(dtype)
    theta = 2 * np.pi * _fastbits.uniform(key_theta, shape, real,
                                          out_sharding=out_sharding).astype(dtype)
    return r * jnp.exp(1j * theta)


def complex_truncated_normal(key: KeyArray, upper: float, shape: Shape, dtype: np.dtype,
                             out_sharding: OutSharding = None) -> Array:
    """Circular complex normal (``E|z|^2 = 1`` before truncation) with ``|z| <= upper``.

    ``|z|^2`` of a standard circular complex normal is Exp(1); inverting its CDF truncated at
    ``upper^2`` gives ``r = sqrt(-log(1 - (1 - e^{-upper^2}) u))``. Same draws as jax's
    ``_complex_truncated_normal`` (up to rounding); ``out_sharding`` is honoured. Compiled as
    one program so that eager and jitted calls round ``log``/``sqrt`` identically.
    """
    return _complex_truncated_normal(key, upper, tuple(shape), dtype, out_sharding)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _complex_truncated_normal(key: KeyArray, upper: float, shape: tuple[int, ...],
                              dtype: np.dtype, out_sharding: OutSharding) -> Array:
    key_r, key_theta = jax.random.split(key)
    real = np.dtype(jnp.finfo(dtype).dtype)
    t = ((1 - jnp.exp(jnp.array(-(upper ** 2), dtype)))
         * _fastbits.uniform(key_r, shape, real, out_sharding=out_sharding).astype(dtype))
    r = jnp.sqrt(-jnp.log(1 - t))
    theta = 2 * np.pi * _fastbits.uniform(key_theta, shape, real,
                                          out_sharding=out_sharding).astype(dtype)
    return r * jnp.exp(1j * theta)
