"""The initializer object every factory returns."""

from __future__ import annotations

import functools
import inspect
import math
import types
from collections.abc import Callable, Mapping
from typing import TypeVar

import jax
import numpy as np

from . import _checks, _sampling
from ._typing import Array, DTypeLike, KeyArray, OutSharding, Shape

_FACTORY_DTYPE = object()  # sentinel: "dtype not passed", i.e. use the factory's dtype

_T = TypeVar("_T")


def public(obj: _T | str) -> _T | Callable[[_T], _T]:
    """Marks a public object as living at its public path (for reprs, pickles and docs).

    ``@public`` marks a top-level object as ``jinit.<name>``; ``@public("jinit.theory")``
    marks an object as living in a public submodule, wherever the code defining it is. A
    package whose ``__init__`` re-exports names from private modules marks them with
    ``public("jinit.presets")(obj)``. ``tests/test_smoke.py`` checks that every name in a
    public module's ``__all__`` says it lives there.
    """
    if isinstance(obj, str):
        module = obj

        def mark(target: _T) -> _T:
            target.__module__ = module
            return target

        return mark
    obj.__module__ = "jinit"
    return obj


class _CallSignature:
    """``inspect.signature(init)`` shows ``dtype=<the factory's dtype>``, as jax's closures do.

    On the class itself it is ``None``, so ``inspect.signature(Init)`` is unaffected.
    """

    def __get__(self, obj: Init | None, objtype: type | None = None) -> inspect.Signature | None:
        if obj is None:
            return None
        sig = inspect.signature(type(obj).__call__)
        params = list(sig.parameters.values())[1:]  # drop self
        params[2] = params[2].replace(default=obj._dtype)
        return sig.replace(parameters=params)


@public
class Init:
    """An initializer built by a jinit factory: ``init(key, shape, dtype=..., out_sharding=None)``.

    Behaves like the closures ``jax.nn.initializers`` returns — omitting ``dtype`` uses the
    factory's ``dtype``, passing ``None`` uses the default float dtype — and adds a readable
    ``repr``, argument checks before any tracing, and a ``jax.named_scope`` so profiles and
    HLO show which scheme made an array. Immutable and stateless: safe to share between
    threads, models and ``jax.jit`` calls.

    A scheme gives its ``body(key, shape, dtype, out_sharding)``, called only for shapes with
    at least one element, and optionally ``check(shape, dtype)``, which validates the shape
    (rank, divisibility, overflow of a fill value) for every shape, empty ones included. A
    zero-size shape then gets an empty array of its shape and dtype, here and nowhere else.

    :attr:`name` and :attr:`params` say which factory built it and with what, read-only.
    """

    __slots__ = ("_name", "_body", "_check", "_params", "_dtype", "_complex_ok", "_keyed",
                 "__weakref__")
    __signature__ = _CallSignature()

    def __init__(self, name: str, body: Callable[..., Array], params: dict[str, object],
                 dtype: DTypeLike | None, complex_ok: bool = True, keyed: bool = True,
                 check: Callable[[tuple[int, ...], np.dtype], object] | None = None):
        self._keyed = keyed  # False: the key is ignored (constant schemes, as in jax)
        self._check = check
        self._name = name
        self._params = params
        self._dtype = _checks.dtype(name, dtype, complex_ok=complex_ok, factory=True)
        self._complex_ok = complex_ok
        self._body = body  # last: once set, the object is frozen (see __setattr__)

    def __call__(self, key: KeyArray, shape: Shape, dtype: DTypeLike | None = _FACTORY_DTYPE,  # type: ignore[assignment]
                 out_sharding: OutSharding = None) -> Array:
        if dtype is _FACTORY_DTYPE:
            dtype = self._dtype
        if self._keyed:
            _checks.key(self._name, key)
        shape = _checks.shape(self._name, shape)
        dt: np.dtype = _checks.dtype(self._name, dtype, complex_ok=self._complex_ok)  # type: ignore[assignment]
        if self._check is not None:
            self._check(shape, dt)
        with jax.named_scope(f"jinit.{self._name}"):
            if math.prod(shape) == 0:
                return _sampling.empty(shape, dt, out_sharding)
            return self._body(key, shape, dt, out_sharding)

    @property
    def draw(self) -> tuple[str, Callable[..., object], object, bool, bool]:
        """What decides this initializer's values: ``(name, body, default dtype, keyed,
        complex_ok)``, ``body(key, shape, dtype, out_sharding)`` being the checked draw
        (what a compiled-program cache describes the initializer by).

        Example:
          >>> import jinit
          >>> name, body, dtype, keyed, complex_ok = jinit.normal(0.02).draw
          >>> name, dtype, keyed
          ('normal', None, True)
        """
        return self._name, self._body, self._dtype, self._keyed, self._complex_ok

    @property
    def name(self) -> str:
        """The factory's public name below ``jinit``: ``'he_normal'``,
        ``'presets.torch_linear_kernel'``.

        Example:
          >>> import jinit
          >>> jinit.he_normal().name, jinit.presets.torch_linear_kernel().name
          ('he_normal', 'presets.torch_linear_kernel')
        """
        return self._name

    @property
    def params(self) -> Mapping[str, object]:
        """The factory's arguments, as its ``repr`` shows them: a read-only mapping.

        Example:
          >>> import jinit
          >>> init = jinit.variance_scaling(2.0, "fan_in", "normal")
          >>> init.params["scale"], init.params["mode"]
          (2.0, 'fan_in')
          >>> init.params["scale"] = 1.0
          Traceback (most recent call last):
          ...
          TypeError: 'mappingproxy' object does not support item assignment
        """
        return types.MappingProxyType(self._params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"jinit.{self._name}({args})"

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_body"):
            raise AttributeError(f"jinit initializers are immutable; cannot set {name!r}")
        object.__setattr__(self, name, value)


@public("jinit.recipes")
class Pieces(Init):
    """An initializer made of per-slice initializers: a scanned stack or a fused projection.

    ``pieces`` is ``(axis, initializers, mode)``: with ``mode="stack"`` slice ``i`` along
    ``axis`` is drawn by ``initializers[i]`` (layer ``i``); with ``mode="split"`` the axis is
    cut into equal consecutive parts. Each piece is drawn with the key ``fold_in(key, i)``.
    """

    __slots__ = ("pieces",)

    def __init__(self, name: str, body: Callable[..., Array], params: dict[str, object],
                 axis: int, inits: tuple[Callable[..., Array], ...], mode: str):
        object.__setattr__(self, "pieces", (axis, inits, mode))
        super().__init__(name, body, params, None)

    def parts(self, shape: tuple[int, ...]
              ) -> list[tuple[tuple[object, ...], tuple[int, ...], Callable[..., Array]]] | None:
        """Where each piece goes in a leaf of ``shape``: ``(index, piece_shape, init)`` per
        piece, in key order (piece ``i`` is drawn by ``init(fold_in(key, i), piece_shape,
        dtype)`` and written at ``out[index]``), or ``None`` where ``shape`` does not fit
        (a stack whose axis is not one slice per initializer, an axis that does not split
        into equal parts: calling the initializer says so)."""
        axis, inits, mode = self.pieces
        if not -len(shape) <= axis < len(shape):
            return None
        axis %= len(shape)
        head = (slice(None),) * axis
        if mode == "stack":
            if shape[axis] != len(inits):
                return None
            part = shape[:axis] + shape[axis + 1:]
            return [(head + (i,), part, init) for i, init in enumerate(inits)]
        if shape[axis] % len(inits):
            return None
        width = shape[axis] // len(inits)
        part = shape[:axis] + (width,) + shape[axis + 1:]
        return [(head + (slice(i * width, (i + 1) * width),), part, init)
                for i, init in enumerate(inits)]


def _called_as_initializer(args: tuple) -> bool:
    """Whether ``args`` are an initializer's ``(key, shape, ...)``, never a factory's arguments.

    A typed key is never a factory argument. A legacy ``uint32`` key could be an array value
    (``constant``'s), so it counts only when a shape (a tuple or list) follows it.
    """
    value = args[0] if args else None
    dtype = getattr(value, "dtype", None)
    if dtype is None or not isinstance(value, jax.Array):
        return False
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return True
    legacy = _checks._legacy_key_shape(str(jax.config.jax_default_prng_impl))
    return (np.dtype(dtype) == np.uint32 and tuple(value.shape) == legacy
            and len(args) >= 2 and isinstance(args[1], (tuple, list)))


def public_name(obj: object) -> str:
    """``jinit.he_normal``, ``jinit.presets.torch_linear_kernel``: the name a user types."""
    module = getattr(obj, "__module__", "jinit") or "jinit"
    parts = [p for p in module.split(".") if not p.startswith("_")]
    return ".".join(parts + [getattr(obj, "__name__", type(obj).__name__)])


def is_factory(obj: object) -> bool:
    """Whether ``obj`` is a jinit factory (a function that *returns* an initializer)."""
    return bool(getattr(obj, "_jinit_factory", False))


def factory(fn: Callable[..., object]) -> Callable[..., object]:
    """Marks ``fn`` as a jinit factory and catches it being used as an initializer.

    ``kernel_init=jinit.he_normal`` (without the call) makes Flax call the factory with a
    PRNG key first; the wrapper turns that into "did you mean ``jinit.he_normal()``?"
    instead of a confusing message about the first argument. Rule compilers use
    :func:`is_factory` to give the same hint before anything runs.
    """

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        if _called_as_initializer(args):
            name = public_name(wrapper)
            raise TypeError(
                f"{name.removeprefix('jinit.')}(): was called with a PRNG key as its first "
                f"argument; expected its own arguments, since {name} is a factory that "
                f"returns an initializer. Did you mean {name}()?")
        return fn(*args, **kwargs)

    wrapper._jinit_factory = True  # type: ignore[attr-defined]
    return wrapper
