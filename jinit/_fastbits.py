"""Threefry random draws with an unrolled lowering: the same bits as ``jax.random``, faster.

``jax.random`` hashes counters with Threefry-2x32 (Salmon et al., "Parallel random
numbers: as easy as 1, 2, 3", SC 2011): 20 rounds of add/rotate/xor in 5 groups of 4,
with a key injection after each group. On CPU, jax lowers those groups as a rolled
``while`` loop, which keeps XLA from fusing the hash with the counter computation and
the bits-to-float transformation around it; every element makes several trips through
memory. Here the same rounds are written as straight-line ``lax`` operations, so the
whole draw (counters, hash, float construction, ``erf_inv``) compiles to one fused
elementwise loop.

The values are identical to ``jax.random.bits/uniform/normal/truncated_normal`` because
every step follows jax's own definition for the installed version:

* counters: with ``jax_threefry_partitionable`` (the default) element ``i`` of the output
  (row-major) hashes the 64-bit counter ``i`` split into ``(hi, lo)`` words and keeps
  ``out_hi ^ out_lo`` (32-bit) or ``out_hi << 32 | out_lo`` (64-bit); without it, the
  counters ``0 .. n-1`` are split in two halves hashed pairwise, as jax's
  ``threefry_2x32`` does;
* uniform: the top mantissa bits under the exponent of 1.0, minus 1, then
  ``max(minval, u * (maxval - minval) + minval)``;
* normal: ``sqrt(2) * erf_inv(u)`` with ``u`` uniform on ``[nextafter(-1, 0), 1)``;
  complex: two real normals from ``split(key)``, combined and divided by ``sqrt(2)``;
* truncated normal: ``u`` uniform on ``[erf(a/sqrt 2), erf(b/sqrt 2))``, then
  ``sqrt(2) * erf_inv(u)`` clipped to the open interval ``(a, b)``; one deliberate
  difference (:func:`off_the_ends`): where a bound is so far out that ``erf`` rounds it to
  ``-1`` (or ``1``), the draw ``u = -1`` that jax turns into ``erf_inv(-1) = -inf`` and then
  into the bound is taken as ``nextafter(-1, 0)`` instead, as jax's ``normal`` does. Every
  other value keeps jax's bits, on the fast path and on the fallback to ``jax.random``.

The fast path is taken only where these definitions are known to hold: keys of the
``threefry2x32`` implementation (typed, or legacy ``uint32[2]`` keys under that default
implementation with legacy keys allowed silently), float32/float64 (and complex64/128
for normal), static shapes with fewer than ``2**31`` elements. Everything else — other
PRNG implementations (rbg, unsafe_rbg, philox, threefry4x32), 16-bit or 8-bit dtypes,
symbolic shapes — goes to ``jax.random`` unchanged. ``tests/test_fastbits.py`` checks
bit identity in every mode this module claims.
"""

from __future__ import annotations

import functools
import math
import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._typing import Array, KeyArray, OutSharding, Shape

_THREEFRY = "threefry2x32"
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)  # Threefry's key-schedule constant
_MAX_SIZE = 2**31 - 1  # beyond this, jax's counters need a high word (or blocks): use jax
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_COMPLEX = (np.dtype(np.complex64), np.dtype(np.complex128))


# --- the hash ---------------------------------------------------------------------------

def _rotl(x: Array, d: int) -> Array:
    return lax.shift_left(x, np.uint32(d)) | lax.shift_right_logical(x, np.uint32(32 - d))


def _rotl_host(x: np.ndarray, d: int) -> np.ndarray:
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def threefry2x32(k0: Array, k1: Array, x0: Array, x1: Array, rotl=_rotl) -> tuple[Array, Array]:
    """Threefry-2x32 with 20 rounds, unrolled: ``(x0, x1)`` hashed under key ``(k0, k1)``.

    All arguments are ``uint32`` and broadcast together. Equal, bit for bit, to jax's
    ``threefry2x32_p`` on every backend. With ``rotl=_rotl_host`` and numpy ``uint32``
    arrays it runs on the host (integer arithmetic wraps the same way).
    """
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = x0 ^ rotl(x1, r)
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + np.uint32(group + 1)
    return x0, x1


def fold_in_host(data: np.ndarray, messages: np.ndarray) -> np.ndarray:
    """``jax.random.fold_in`` of threefry key data on the host, for many keys at once.

    jax folds a ``uint32`` message :math:`m` into the key :math:`(k_0, k_1)` by hashing the
    counter pair :math:`(0, m)`: the new key is ``threefry2x32(k0, k1, 0, m)`` (``threefry_seed``
    then ``threefry_2x32``). ``data`` is ``uint32[..., 2]``, ``messages`` ``uint32[...]``;
    they broadcast. No program is compiled, so a tree's leaf keys cost microseconds.
    """
    data = np.asarray(data, np.uint32)
    m = np.atleast_1d(np.asarray(messages, np.uint32))
    k0, k1 = np.broadcast_arrays(data[..., 0], data[..., 1], m)[:2]
    y0, y1 = threefry2x32(k0, k1, np.zeros_like(m), m, rotl=_rotl_host)
    return np.stack([y0, y1], axis=-1)


def host_key_data(key: KeyArray) -> np.ndarray | None:
    """The ``uint32[2]`` data of a single concrete threefry key, on the host, or ``None``."""
    if isinstance(key, jax.core.Tracer):
        return None
    data = _threefry_data(key)
    return None if data is None else np.asarray(data, np.uint32)


def _flat_counter(shape: tuple[int, ...]) -> Array:
    """The row-major index of every element, as ``uint32`` (built from broadcast iotas,
    which the SPMD partitioner splits per shard without communication)."""
    if not shape:
        return jnp.zeros((), np.uint32)
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]
    counter = None
    for axis, stride in enumerate(strides):
        term = lax.broadcasted_iota(np.uint32, shape, axis)
        if stride != 1:
            term = term * np.uint32(stride)
        counter = term if counter is None else counter + term
    return counter


def _combine(y0: Array, y1: Array, width: int) -> Array:
    """jax's bits of one hash output pair: ``y0 ^ y1`` (32-bit) or ``y0 << 32 | y1`` (64-bit)."""
    if width == 32:
        return y0 ^ y1
    hi = lax.convert_element_type(y0, np.uint64)
    lo = lax.convert_element_type(y1, np.uint64)
    return lax.shift_left(hi, np.uint64(32)) | lo


def _bits(k0: Array, k1: Array, shape: tuple[int, ...], width: int) -> Array:
    """``jax.random.bits`` of the threefry key ``(k0, k1)``: ``uint32``, or ``uint64`` (x64)."""
    if jax.config.jax_threefry_partitionable:
        y0, y1 = threefry2x32(k0, k1, np.uint32(0), _flat_counter(shape))
        return _combine(y0, y1, width)
    # jax's original scheme: the counters 0 .. m-1 (m = n, or 2n for 64 bits) hashed as
    # pairs (i, i + m/2), outputs concatenated; an odd m is padded with one zero counter.
    n = math.prod(shape)
    if width == 64:
        first = lax.iota(np.uint32, n)
        y0, y1 = threefry2x32(k0, k1, first, first + np.uint32(n))
        return lax.reshape(_combine(y0, y1, 64), shape)
    h = (n + 1) // 2
    first = lax.iota(np.uint32, h)
    second = first + np.uint32(h)
    if n % 2:
        second = jnp.where(first == np.uint32(h - 1), np.uint32(0), second)
    y0, y1 = threefry2x32(k0, k1, first, second)
    return lax.reshape(lax.concatenate([y0, y1], 0)[:n], shape)


# --- bits to floats (jax's transformations, step for step) ------------------------------

def _uniform(k0, k1, minval, maxval, shape, dtype):
    finfo = jnp.finfo(dtype)
    width, nmant = finfo.bits, finfo.nmant
    uint = np.dtype(f"uint{width}")
    minval = lax.broadcast_to_rank(lax.convert_element_type(minval, dtype), len(shape))
    maxval = lax.broadcast_to_rank(lax.convert_element_type(maxval, dtype), len(shape))
    bits = _bits(k0, k1, shape, width)
    float_bits = lax.shift_right_logical(bits, np.array(width - nmant, uint))
    float_bits = float_bits | np.array(1.0, dtype).view(uint)
    floats = lax.bitcast_convert_type(float_bits, dtype) - np.array(1.0, dtype)
    return lax.max(minval, lax.reshape(floats * (maxval - minval) + minval, shape))


def _normal_real(k0, k1, shape, dtype):
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = _uniform(k0, k1, lo, np.array(1.0, dtype), shape, dtype)
    return lax.mul(np.array(np.sqrt(2), dtype), lax.erf_inv(u))


def _truncated_normal(k0, k1, lower, upper, shape, dtype):
    sqrt2 = np.array(np.sqrt(2), dtype)
    lower = lax.convert_element_type(lower, dtype)
    upper = lax.convert_element_type(upper, dtype)
    a = lax.erf(lower / sqrt2)
    b = lax.erf(upper / sqrt2)
    u = _uniform(k0, k1, a, b, shape, dtype)
    out = sqrt2 * lax.erf_inv(u)
    out = jnp.clip(out,
                   lax.nextafter(lax.stop_gradient(lower), np.array(np.inf, dtype)),
                   lax.nextafter(lax.stop_gradient(upper), np.array(-np.inf, dtype)))
    return off_the_ends(out, lower, upper, dtype)


def off_the_ends(out: Array, lower: Array, upper: Array, dtype: np.dtype) -> Array:
    r"""jax's truncated normal ``out`` without its point masses at far bounds.

    jax draws :math:`u \sim \mathcal{U}[\operatorname{erf}(a/\sqrt2), \operatorname{erf}(b/\sqrt2))`
    and returns :math:`\sqrt2\,\operatorname{erf}^{-1}(u)` clipped to ``(nextafter(a), nextafter(b))``.
    Once :math:`a \le -5.38` (float32; :math:`-8.39` in float64) ``erf`` rounds to exactly ``-1``,
    the lowest uniform value is ``u = -1``, :math:`\operatorname{erf}^{-1}(-1) = -\infty`, and the
    clip puts it at the bound: a point mass of :math:`2^{-23}` (float32) at :math:`a`
    (``a = -100`` for PyTorch's absolute ±2 at σ = 0.02), where the law's mass below
    :math:`-10` is :math:`7.6 \times 10^{-24}`. Here that draw is taken as ``u = nextafter(-1, 0)``, the lowest
    value jax's ``normal`` uses, so it lands at :math:`\sqrt2\,\operatorname{erf}^{-1}(-1 + 2^{-24})
    \approx -5.42` (float32; :math:`\approx -8.3` in float64), inside the one-quantum bin
    :math:`u \in [-1, -1 + 2^{-22})` it represents; the same at ``b`` for ``u = 1``.

    Only the affected elements change: when ``erf(a/√2) == -1``, an output equal to the
    clipped lower bound came from ``u = -1``, or from a ``u`` whose value lies below
    :math:`a` anyway (then the replacement, clipped too, is that same bound). Bounds that
    ``erf`` does not round to ±1 (the default ±2, ±3, ±5) are untouched, bit for bit.
    """
    sqrt2 = np.array(np.sqrt(2), dtype)
    lower = lax.convert_element_type(lower, dtype)
    upper = lax.convert_element_type(upper, dtype)
    lo = lax.nextafter(lax.stop_gradient(lower), np.array(np.inf, dtype))
    hi = lax.nextafter(lax.stop_gradient(upper), np.array(-np.inf, dtype))
    one = np.array(1.0, dtype)
    inner = np.nextafter(one, np.array(0.0, dtype), dtype=dtype)
    ends = jnp.clip(sqrt2 * lax.erf_inv(np.array([-inner, inner], dtype)), lo, hi)
    at_lo = (out == lo) & (lax.erf(lower / sqrt2) == -one)
    at_hi = (out == hi) & (lax.erf(upper / sqrt2) == one)
    return jnp.where(at_lo, ends[0], jnp.where(at_hi, ends[1], out))


# Each sampler is its own jit (static shape and dtype), as in jax.random, so that eager
# calls run one compiled kernel and traced calls see the same computation boundaries.

@functools.partial(jax.jit, static_argnums=(1, 2))
def _jit_bits(data, shape, width):
    return _bits(data[0], data[1], shape, width)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _jit_uniform(data, minval, maxval, shape, dtype):
    return _uniform(data[0], data[1], minval, maxval, shape, dtype)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _jit_normal(data, shape, dtype):
    return _normal_real(data[0], data[1], shape, dtype)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _jit_truncated_normal(data, lower, upper, shape, dtype):
    return _truncated_normal(data[0], data[1], lower, upper, shape, dtype)


# --- when the fast path holds -----------------------------------------------------------

def _threefry_data(key: KeyArray) -> Array | None:
    """The ``uint32[2]`` data of a single threefry key, or ``None`` when jax must draw."""
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.ndim != 0 or jax.random.key_impl(key) != _THREEFRY:
            return None
        return jax.random.key_data(key)
    if (jax.config.jax_default_prng_impl != _THREEFRY
            or str(jax.config.jax_legacy_prng_key) != "allow"
            or jax.config.jax_enable_custom_prng):
        return None  # jax would warn, raise or reinterpret: let it
    if np.shape(key) != (2,) or getattr(key, "dtype", None) != np.uint32:
        return None
    return jnp.asarray(key)


def _static_shape(shape: Shape) -> tuple[int, ...] | None:
    """``shape`` as a tuple of ints, or ``None`` when it is symbolic or too large."""
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        return None
    return dims if math.prod(dims) <= _MAX_SIZE else None


def _sharded(fn, out_sharding: OutSharding):
    """``fn`` placed at ``out_sharding`` the way ``jax.random`` places its draws."""
    if out_sharding is None:
        return fn
    if isinstance(out_sharding, jax.sharding.PartitionSpec):
        mesh = jax.sharding.get_abstract_mesh()
        if mesh.empty:
            return None
        out_sharding = jax.sharding.NamedSharding(mesh, out_sharding)
    if not isinstance(out_sharding, jax.sharding.NamedSharding):
        return None
    mesh = out_sharding.mesh
    types = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))
    for entry in out_sharding.spec:
        for name in (entry,) if isinstance(entry, str) else entry or ():
            if types.get(name) != jax.sharding.AxisType.Explicit:
                return None  # jax rejects it; let jax say so
    return jax.sharding.auto_axes(fn, out_sharding=out_sharding,
                                  axes=out_sharding.mesh.explicit_axes)


def _dtype(dtype) -> np.dtype | None:
    """The canonical dtype, or ``None`` when jax would canonicalize it (and warn)."""
    dt = np.dtype(jax.dtypes.canonicalize_dtype(float if dtype is None else dtype))
    return dt if dtype is None or dt == np.dtype(dtype) else None


# --- public entry points (same signatures and results as jax.random) --------------------

def bits(key: KeyArray, shape: Shape = (), dtype=None, *, out_sharding: OutSharding = None) -> Array:
    """``jax.random.bits``, fast for threefry keys and 32/64-bit unsigned dtypes."""
    data, shp = _threefry_data(key), _static_shape(shape)
    if dtype is None:
        dt = np.dtype(np.uint64 if jax.config.jax_enable_x64 else np.uint32)
    else:
        dt = _dtype(dtype)
    if data is not None and shp is not None and dt in (np.dtype(np.uint32), np.dtype(np.uint64)):
        fn = _sharded(lambda d: _jit_bits(d, shp, dt.itemsize * 8), out_sharding)
        if fn is not None:
            return fn(data)
    return jax.random.bits(key, shape, dtype, out_sharding=out_sharding)


def uniform(key: KeyArray, shape: Shape = (), dtype=None, minval=0.0, maxval=1.0, *,
            out_sharding: OutSharding = None) -> Array:
    """``jax.random.uniform``, fast for threefry keys in float32/float64."""
    data, shp, dt = _threefry_data(key), _static_shape(shape), _dtype(dtype)
    if (data is not None and shp is not None and dt in _FLOATS
            and np.ndim(minval) == 0 and np.ndim(maxval) == 0):
        fn = _sharded(lambda d, lo, hi: _jit_uniform(d, lo, hi, shp, dt), out_sharding)
        if fn is not None:
            return fn(data, minval, maxval)
    return jax.random.uniform(key, shape, dtype, minval, maxval, out_sharding=out_sharding)


def normal(key: KeyArray, shape: Shape = (), dtype=None, *,
           out_sharding: OutSharding = None) -> Array:
    """``jax.random.normal``, fast for threefry keys in float32/float64/complex64/complex128."""
    data, shp, dt = _threefry_data(key), _static_shape(shape), _dtype(dtype)
    if data is not None and shp is not None and dt in _FLOATS + _COMPLEX:
        if dt in _FLOATS:
            fn = _sharded(lambda d: _jit_normal(d, shp, dt), out_sharding)
        else:
            fn = _sharded(lambda d: _complex_normal(d, shp, dt), out_sharding)
        if fn is not None:
            return fn(data)
    return jax.random.normal(key, shape, dtype, out_sharding=out_sharding)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _complex_normal(data, shape, dtype):
    keys = jax.random.key_data(jax.random.split(jax.random.wrap_key_data(data, impl=_THREEFRY)))
    real = np.dtype(jnp.finfo(dtype).dtype)
    re = _normal_real(keys[0, 0], keys[0, 1], shape, real).astype(dtype)
    im = _normal_real(keys[1, 0], keys[1, 1], shape, real).astype(dtype)
    return (re + 1j * im) / np.array(np.sqrt(2), dtype)


def truncated_normal(key: KeyArray, lower, upper, shape: Shape | None = None, dtype=None, *,
                     out_sharding: OutSharding = None) -> Array:
    """``jax.random.truncated_normal``, fast for threefry keys in float32/float64; in every
    mode without its point masses at bounds ``erf`` rounds to ±1 (:func:`off_the_ends`)."""
    data, dt = _threefry_data(key), _dtype(dtype)
    shp = None if shape is None else _static_shape(shape)
    if (data is not None and shp is not None and dt in _FLOATS
            and np.ndim(lower) == 0 and np.ndim(upper) == 0):
        fn = _sharded(lambda d, a, b: _jit_truncated_normal(d, a, b, shp, dt), out_sharding)
        if fn is not None:
            return fn(data, lower, upper)
    out = jax.random.truncated_normal(key, lower, upper, shape, dtype, out_sharding=out_sharding)
    return _jit_off_the_ends(out, lower, upper)


@jax.jit
def _jit_off_the_ends(out, lower, upper):
    return off_the_ends(out, lower, upper, np.dtype(out.dtype))
