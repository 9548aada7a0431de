"""Deterministic initializers: zeros, ones, constant, and Flax's zeros_init / ones_init."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _sampling
from ._base import Init, factory, public
from ._typing import Array, DTypeLike, Initializer, KeyArray, OutSharding, Shape


def _filled(fn: str, shape: Shape, dtype: DTypeLike | None, value: object,
            out_sharding: OutSharding) -> Array:
    shape = _checks.shape(fn, shape)
    dt = _checks.dtype(fn, dtype)
    with jax.named_scope(f"jinit.{fn}"):
        return _sampling.full(shape, dt, value, out_sharding)


@public
def zeros(key: KeyArray, shape: Shape, dtype: DTypeLike | None = None,
          out_sharding: OutSharding = None) -> Array:
    """An initializer that returns an array of zeros (``key`` is ignored, as in jax).

    Every value is exactly 0: mean 0, variance 0. Same as ``jax.nn.initializers.zeros``.

    Args:
      key: ignored; any value is accepted so it can stand where a keyed initializer does.
      shape: the shape of the array.
      dtype: an inexact dtype; ``None`` means the default float dtype.
      out_sharding: optional ``NamedSharding``/``PartitionSpec`` of the result.

    Returns:
      ``jnp.zeros(shape, dtype)``.

    Raises:
      TypeError, ValueError: for a bad ``shape`` or a non-inexact ``dtype``.

    References:
      jax ``jax.nn.initializers.zeros``.

    Example:
      >>> import jax, jinit
      >>> jinit.zeros(jax.random.key(0), (2, 3))
      Array([[0., 0., 0.],
             [0., 0., 0.]], dtype=float32)
    """
    return _filled("zeros", shape, dtype, 0, out_sharding)


@public
def ones(key: KeyArray, shape: Shape, dtype: DTypeLike | None = None,
         out_sharding: OutSharding = None) -> Array:
    """An initializer that returns an array of ones (``key`` is ignored, as in jax).

    Every value is exactly 1: mean 1, variance 0. Same as ``jax.nn.initializers.ones``.

    Args:
      key: ignored.
      shape: the shape of the array.
      dtype: an inexact dtype; ``None`` means the default float dtype.
      out_sharding: optional ``NamedSharding``/``PartitionSpec`` of the result.

    Returns:
      ``jnp.ones(shape, dtype)``.

    Raises:
      TypeError, ValueError: for a bad ``shape`` or a non-inexact ``dtype``.

    References:
      jax ``jax.nn.initializers.ones``.

    Example:
      >>> import jax, jinit
      >>> jinit.ones(jax.random.key(0), (3,), jax.numpy.bfloat16)
      Array([1, 1, 1], dtype=bfloat16)
    """
    return _filled("ones", shape, dtype, 1, out_sharding)


@public
@factory
def constant(value: object, dtype: DTypeLike | None = None) -> Init:
    """Builds an initializer that returns arrays full of ``value`` (broadcast to the shape).

    Every value equals ``value`` (or its broadcast): mean ``value``, variance 0. Same as
    ``jax.nn.initializers.constant``, with checks jax does not make: ``value`` must be finite,
    real for a real dtype, broadcastable to the shape, and representable in the dtype (no
    silent overflow to ``inf``).

    Args:
      value: a scalar or array-like to fill with.
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``; ``key`` is ignored.

    Raises:
      ValueError: ``value`` is not finite, does not broadcast to ``shape``, or overflows ``dtype``.
      TypeError: ``value`` is complex for a real ``dtype``, or not numeric.

    References:
      jax ``jax.nn.initializers.constant``.

    Example:
      >>> import jax, jinit
      >>> jinit.constant(-7.0)(jax.random.key(0), (2, 2))
      Array([[-7., -7.],
             [-7., -7.]], dtype=float32)
    """
    fn = "constant"
    concrete = not isinstance(value, jax.core.Tracer)
    if concrete:
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001
            raise _checks.fail(fn, "value", value, "is not array-like", "a number or array",
                               exc=TypeError) from None
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise _checks.fail(fn, "value", value, "is not numeric", "a number or array",
                               exc=TypeError)
        if not np.all(np.isfinite(arr)):
            raise _checks.fail(fn, "value", value, "is not finite", "finite numbers")

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        if concrete:
            try:
                np.broadcast_to(arr, shape)
            except ValueError:
                raise _checks.fail(fn, "value", value,
                                   f"has shape {arr.shape}, which does not broadcast to shape={shape}",
                                   "a scalar or an array broadcastable to the shape") from None
            if np.iscomplexobj(arr) and not jnp.issubdtype(dt, jnp.complexfloating):
                raise _checks.fail(fn, "value", value, f"is complex but dtype={dt.name} is real",
                                   "a real value or a complex dtype", exc=TypeError)
            big = float(jnp.finfo(dt).max)
            if arr.size and float(np.max(np.abs(arr))) > big:
                raise _checks.fail(fn, "value", value, f"overflows {dt.name} (max {big:g})",
                                   f"|value| <= {big:g}", "Use a wider dtype.")

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.full(shape, dt, value, out_sharding)

    return Init(fn, body, {"value": value, "dtype": dtype}, dtype, keyed=False, check=check)


@public
@factory
def zeros_init() -> Initializer:
    """Returns :func:`jinit.zeros`: Flax's builder of the zeros initializer.

    Every value is exactly 0: mean 0, variance 0. The same as ``flax.linen.initializers.zeros_init``
    (and ``flax.nnx.initializers``), which Flax's own layers use as their bias default, so code
    written against Flax's names runs unchanged on jinit.

    Returns:
      :func:`jinit.zeros` itself.

    References:
      Flax ``flax/linen/initializers.py`` (``zeros_init``).

    Example:
      >>> import jax, jinit
      >>> jinit.zeros_init() is jinit.zeros
      True
      >>> jinit.zeros_init()(jax.random.key(0), (2,))
      Array([0., 0.], dtype=float32)
    """
    return zeros


@public
@factory
def ones_init() -> Initializer:
    """Returns :func:`jinit.ones`: Flax's builder of the ones initializer.

    Every value is exactly 1: mean 1, variance 0. The same as ``flax.linen.initializers.ones_init``
    (and ``flax.nnx.initializers``), Flax's default for normalization scales.

    Returns:
      :func:`jinit.ones` itself.

    References:
      Flax ``flax/linen/initializers.py`` (``ones_init``).

    Example:
      >>> import jax, jinit
      >>> jinit.ones_init() is jinit.ones
      True
      >>> jinit.ones_init()(jax.random.key(0), (2,))
      Array([1., 1.], dtype=float32)
    """
    return ones
