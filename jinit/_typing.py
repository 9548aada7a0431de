"""Type aliases shared by every module: one place, so checks and messages never drift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, get_args, runtime_checkable

import jax
from jax.sharding import NamedSharding, PartitionSpec

Array = jax.Array
KeyArray = jax.Array
Shape = Sequence[int]
DTypeLike = jax.typing.DTypeLike
OutSharding = NamedSharding | PartitionSpec | None

Mode = Literal["fan_in", "fan_out", "fan_avg", "fan_geo_avg"]
Distribution = Literal["truncated_normal", "normal", "uniform"]

MODES: tuple[str, ...] = get_args(Mode)
DISTRIBUTIONS: tuple[str, ...] = get_args(Distribution)


@runtime_checkable
class Initializer(Protocol):
    """What every jinit (and ``jax.nn.initializers``) initializer is.

    A callable ``init(key, shape, dtype=None, out_sharding=None) -> jax.Array``:
    ``key`` is a JAX PRNG key, ``shape`` a sequence of non-negative ints, ``dtype``
    an inexact dtype (``None`` means the default float dtype) and ``out_sharding``
    places the result, exactly as in :mod:`jax.nn.initializers`.

    Example:
        >>> import jax, jinit
        >>> isinstance(jinit.he_normal(), jinit.Initializer)
        True
        >>> isinstance(jax.nn.initializers.he_normal(), jinit.Initializer)
        True
    """

    def __call__(
        self,
        key: KeyArray,
        shape: Shape,
        dtype: DTypeLike | None = None,
        out_sharding: OutSharding = None,
    ) -> Array: ...


Initializer.__module__ = "jinit"
