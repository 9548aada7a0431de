"""What the PyTorch and Keras presets share: the public-name prefix, variance scaling under a
preset's name, and the bounded-uniform, shifted-normal and constant fills."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from .. import _checks, _sampling
from .._base import Init
from .._typing import Array, DTypeLike, KeyArray, OutSharding
from .._variance import variance_scaling_init

Axes = int | Sequence[int]
PREFIX = "presets."

AXES_ARGS = """      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
"""


def axes_params(in_axis: Axes, out_axis: Axes, batch_axis: Axes, dtype: DTypeLike | None) -> dict:
    return {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis, "dtype": dtype}


def variance_scaled(name: str, scale: float, mode: str, distribution: str, in_axis: Axes,
                    out_axis: Axes, batch_axis: Axes, dtype: DTypeLike | None,
                    params: dict[str, object]) -> Init:
    """``jinit.variance_scaling`` named ``presets.<name>`` in reprs and messages."""
    return variance_scaling_init(PREFIX + name, scale, mode, distribution, in_axis, out_axis,
                                 batch_axis, dtype, params)


def uniform_between(name: str, lo_name: str, hi_name: str, lo: object, hi: object,
                    dtype: DTypeLike | None, params: dict[str, object]) -> Init:
    """U[lo, hi) (real dtypes), with ``lo < hi`` checked under the caller's argument names."""
    fn = PREFIX + name
    _checks.scalar(fn, lo_name, lo, minimum=None)
    _checks.scalar(fn, hi_name, hi, minimum=None)
    if not float(lo) < float(hi):
        raise _checks.fail(fn, hi_name, hi, f"is not above {lo_name}={lo!r}", f"{lo_name} < {hi_name}")
    low, high = float(lo), float(hi)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.uniform(key, shape, dt, low, high, 1.0, out_sharding)

    return Init(fn, body, params, dtype, complex_ok=False)


def shifted_normal(name: str, mean: float, std: float, lower: float | None,
                   upper: float | None, dtype: DTypeLike | None,
                   params: dict[str, object]) -> Init:
    """``mean + std * z`` (real dtypes), ``z`` standard normal, truncated to ``[lower, upper]``
    in units of ``std`` unless ``lower`` is ``None``; arguments already checked."""
    mu, sigma = float(mean), float(std)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.shifted_normal(key, shape, dt, mu, sigma, lower, upper, out_sharding)

    return Init(PREFIX + name, body, params, dtype, complex_ok=False)


def filled(name: str, value: float, dtype: DTypeLike | None) -> Init:
    """Every value ``value`` (0 or 1); the key is ignored."""

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return jnp.full(shape, value, dt, out_sharding=out_sharding)

    return Init(PREFIX + name, body, {"dtype": dtype}, dtype, keyed=False)
