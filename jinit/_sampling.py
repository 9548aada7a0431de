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
the cast keeps the cast result inside them (:func:`inward_bounds`).

Eager equals jitted
-------------------
XLA may fuse a scale into the sampler or a multiply-add into one FMA under ``jit``, which
changes last bits. Two tools keep eager and jitted draws identical: :func:`barrier` (stops
fusion across a value) and :func:`compiled` (compiles a small program alone, so eager calls
run the same program a jitted caller inlines).

Build once, then place
----------------------
:func:`place` applies an ``out_sharding`` to a finished array; :func:`on_one_device` builds an
array that cannot be split into shards (a QR, a chain of matmuls) on one device of a mesh and
broadcasts its bits, so sharded values equal unsharded ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.custom_partitioning import custom_partitioning

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
    """Smallest representable value ``>= lo`` and largest ``<= hi`` (``< hi`` if ``open_hi``).

    Clipping to these before a cast keeps a scheme's support closed under rounding. Float
    dtypes of at most 16 bits are searched in the table of all their finite values; wider
    ones step with ``nextafter`` from the nearest value.
    """
    if dtype.itemsize <= 2:
        values = _finite_values(dtype)
        lo_t = values[np.searchsorted(values, lo, side="left")] if lo > values[0] else values[0]
        side = "left" if open_hi else "right"
        hi_t = values[np.searchsorted(values, hi, side=side) - 1] if hi <= values[-1] else values[-1]
        return float(lo_t), float(hi_t)
    lo_x, hi_x = np.asarray(lo, dtype), np.asarray(hi, dtype)
    if float(lo_x) < lo:
        lo_x = np.nextafter(lo_x, np.asarray(np.inf, dtype))
    if float(hi_x) > hi or (open_hi and float(hi_x) == hi):
        hi_x = np.nextafter(hi_x, np.asarray(-np.inf, dtype))
    return float(lo_x), float(hi_x)


def barrier(x: Array) -> Array:
    """``x`` unchanged, as a value XLA may not fuse into its consumers.

    Under ``jit`` XLA folds a following scale into the sampler's own constants (the
    ``sqrt(2)`` of a normal, say), which changes the last bit; eagerly it cannot. With the
    barrier, jitted and eager draws are identical.
    """
    return jax.lax.optimization_barrier(x)


def compiled(*static_argnums: int) -> Callable[[Callable[..., Array]], Callable[..., Array]]:
    """Compiles a small program alone, so eager calls fuse (FMA, ``log``/``sqrt``) as jit does.

    A jitted caller inlines the same program, so both round identically. ``static_argnums``
    as for ``jax.jit``.
    """
    return functools.partial(jax.jit, static_argnums=static_argnums)


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
    z = barrier(_fastbits.normal(key, shape, sdt, out_sharding=out_sharding))
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
    """``scale * TN(0, 1; lower, upper)`` in ``dtype``, as ``jax.random.truncated_normal(...) * scale``
    without its point mass at a bound ``erf`` rounds to ±1 (:func:`_fastbits.off_the_ends`)."""
    sdt = sampling_dtype(dtype)
    x = _fastbits.truncated_normal(key, lower, upper, shape, sdt,
                                   out_sharding=out_sharding) * jnp.array(scale, sdt)
    s = _static_float(scale)
    if s is None or sdt == dtype:
        return finish(x, dtype)
    a, b = sorted((lower * s, upper * s))
    return finish(x, dtype, lo=a, hi=b)


@compiled()
def _affine(z: Array, mean: Array, std: Array) -> Array:
    return mean + std * z


def shifted_normal(key: KeyArray, shape: Shape, dtype: np.dtype, mean: float, std: float,
                   lower: float | None = None, upper: float | None = None,
                   out_sharding: OutSharding = None) -> Array:
    """``mean + std * z``, ``z`` standard normal (truncated to ``[lower, upper]`` in σ units).

    Drawn and shifted in :func:`sampling_dtype` (the multiply-add compiled alone, so eager and
    jitted calls fuse it the same way), clipped to the support rounded inward, then rounded
    once to ``dtype``.
    """
    sdt = sampling_dtype(dtype)
    mu, sigma = jnp.asarray(mean, sdt), jnp.asarray(std, sdt)
    if lower is None:
        return finish(_affine(normal(key, shape, sdt, 1.0, out_sharding), mu, sigma), dtype)
    z = truncated_normal(key, lower, upper, shape, sdt, 1.0, out_sharding)
    lo, hi = mean + std * lower, mean + std * upper
    x = jnp.clip(_affine(z, mu, sigma), *inward_bounds(sdt, lo, hi))
    return finish(x, dtype, lo=lo, hi=hi)


def empty(shape: Shape, dtype: np.dtype, out_sharding: OutSharding = None) -> Array:
    """The answer for a zero-size shape: an empty array of the requested shape and dtype."""
    return jnp.zeros(shape, dtype, out_sharding=out_sharding)


def place(x: Array, out_sharding: OutSharding) -> Array:
    """``x`` with the requested ``out_sharding`` (unchanged when ``None``)."""
    return x if out_sharding is None else jax.sharding.reshard(x, out_sharding)


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


@compiled(1, 2, 3, 4)
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


# ------------------------------------------------- build once on one device, then place


def _call(build: Callable[..., Array], args: tuple, key_data: Array, impl: object) -> Array:
    key = key_data if impl is None else jax.random.wrap_key_data(key_data, impl=impl)
    return build(key, *args)


@functools.partial(custom_partitioning, static_argnums=(1, 2, 3))
def _once(key_data: Array, impl: object, build: Callable[..., Array], args: tuple) -> Array:
    """``build(key, *args)``, computed on one device of a mesh and broadcast to the others.

    A QR cannot be split into shards, so under a sharded ``jit`` XLA replicates it and every
    device repeats the whole factorization (devices that share a host's cores then pay for
    it many times over); matmuls it can split, but then their sums run in another order and
    the values change in the last bits. Here the first device computes, the result's bits
    are summed across the mesh as integers (the others contribute zeros, so the sum is the
    first device's bits exactly, ``-0.0`` included), and each device keeps its shard. Outside
    a sharded computation this is ``build(key, *args)`` itself.
    """
    return _call(build, args, key_data, impl)


def _as_bits(x: Array) -> Array:
    """``x``'s bits as unsigned ints (a complex ``x`` as its real and imaginary parts)."""
    if jnp.iscomplexobj(x):
        x = jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)
    return jax.lax.bitcast_convert_type(x, np.dtype(f"uint{8 * x.dtype.itemsize}"))


def _from_bits(bits: Array, dt: np.dtype) -> Array:
    """Inverse of :func:`_as_bits`."""
    if not jnp.issubdtype(dt, jnp.complexfloating):
        return jax.lax.bitcast_convert_type(bits, dt)
    parts = jax.lax.bitcast_convert_type(bits, np.dtype(jnp.finfo(dt).dtype))
    return jax.lax.complex(parts[..., 0], parts[..., 1])


def _once_partition(impl, build, args, mesh, arg_shapes, result_shape):
    names = mesh.axis_names
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    zeros = jax.eval_shape(_as_bits, jax.ShapeDtypeStruct(result_shape.shape, result_shape.dtype))

    def lower(key_data):
        index = 0
        for name in names:
            index = index * mesh.shape[name] + jax.lax.axis_index(name)
        bits = jax.lax.cond(index == 0,
                            lambda d: _as_bits(_call(build, args, d, impl)),
                            lambda d: jnp.zeros(zeros.shape, zeros.dtype), key_data)
        return _from_bits(jax.lax.psum(bits, names), result_shape.dtype)

    return mesh, lower, replicated, (replicated,) * len(arg_shapes)


_once.def_partition(partition=_once_partition, sharding_rule="k -> i j",
                    need_replication_factors=("k", "i", "j"))


def on_one_device(build: Callable[..., Array], key: KeyArray, *args: Hashable) -> Array:
    """``build(key, *args)``, a 2-D array, computed whole on one device under a sharded ``jit``.

    ``build`` must be a module-level function and ``args`` hashable (both are static). The
    values are those of ``build(key, *args)`` bit for bit, however the result is sharded.
    """
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        data, impl = jax.random.key_data(key), jax.random.key_impl(key)
    else:
        data, impl = key, None
    if np.ndim(data) == 1:
        try:
            return _once(data, impl, build, args)
        except NotImplementedError:  # no batching rule: under vmap, let XLA place it
            pass
    return _call(build, args, data, impl)
