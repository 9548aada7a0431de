"""How an initializer object is mapped to the law it promises (the declarations of
:mod:`jinit.laws`, the registry the verifier checks too).

An initializer built by a jinit factory is a :class:`jinit._base.Init` whose ``name`` is
the public name (``"he_normal"``, ``"presets.torch_linear_kernel"``) and whose ``params``
are the factory arguments; the declaration registered under that name turns
``(shape, dtype, params)`` into a law. Aliases share their object, so ``xavier_uniform``
resolves like ``glorot_uniform``. A public initializer that is a plain function
(``jinit.zeros``) is found by identity among the declarations.

``jax.nn.initializers`` (which ``flax.linen.initializers`` re-exports, so they are what a
Flax model declares by default) are read the same way: a factory's initializer is its
closure ``<factory>.<locals>.init``, whose closed-over variables are the factory's
arguments (``jax/_src/nn/initializers.py``, jax-ml/jax). jinit keeps every such factory's
name, signature and distribution, so the jinit factory of the same name and arguments
declares the law the jax initializer's draws follow; the row names the jax initializer.
Wrappers Flax adds are looked through: ``nn.with_partitioning`` (``__wrapped__``) and the
flattened ``DenseGeneral`` kernel (:func:`jinit.tree.rules_from`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import pathlib
from collections.abc import Callable

import numpy as np

from jinit._base import Init, public_name
from jinit.laws import ConvIsometry, DeltaOrthogonal, Orthogonal, declarations, lookup
from jinit.linen import Flattened, Unboxed

STRUCTURED = (Orthogonal, DeltaOrthogonal, ConvIsometry)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What an initializer promises for one leaf.

    Attributes:
      label: the initializer as the user wrote it (``jinit.he_normal(in_axis=-2, ...)``).
      law: the declared law for the leaf's shape and dtype, or ``None`` when the
        initializer has no declaration (then the leaf is compared with a fresh draw).
      why: for ``law=None``, why no law applies.
    """

    label: str
    law: object | None
    why: str = ""


@functools.cache
def _by_object() -> dict[int, object]:
    """Declarations of public initializers that are plain functions (``zeros``, ``ones``)."""
    out = {}
    for decl in declarations():
        if decl.variants is None:
            out[id(decl.obj)] = decl
    return out


def _arg(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def label_of(init: Callable) -> str:
    """How a row names an initializer: ``jinit.normal(stddev=0.00408248)``."""
    init = unwrap(init)
    other = foreign(init)
    if other is not None:
        return other[0]
    if isinstance(init, Init):
        args = ", ".join(f"{k}={_arg(v)}" for k, v in init.params.items()
                         if not (k == "dtype" and v is None))
        return f"jinit.{init.name}({args})"
    name = getattr(init, "__qualname__", None) or type(init).__name__
    module = getattr(init, "__module__", "") or ""
    if module.startswith("jinit"):
        return public_name(init)
    return f"{module}.{name}" if module else name


_JAX_MODULES = ("jax._src.nn.initializers", "jax.nn.initializers")
_JAX_FACTORIES = ("constant", "uniform", "normal", "truncated_normal", "variance_scaling",
                  "orthogonal", "delta_orthogonal")
# jax's named variance-scaling presets, (scale, mode, distribution) as
# jax/_src/nn/initializers.py defines them (jax-ml/jax).
_JAX_PRESETS = {(1.0, "fan_avg", "uniform"): "glorot_uniform",
                (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
                (1.0, "fan_in", "uniform"): "lecun_uniform",
                (1.0, "fan_in", "truncated_normal"): "lecun_normal",
                (2.0, "fan_in", "uniform"): "he_uniform",
                (2.0, "fan_in", "truncated_normal"): "he_normal"}
_AXES = {"in_axis": -2, "out_axis": -1, "batch_axis": ()}


# Flax's partitioning wrappers (functools.wraps, so only their code tells them apart):
# flax/core/meta.py with_partitioning, flax/linen/spmd.py with_logical_partitioning.
_FLAX_WRAPPERS = (("flax", "core", "meta.py"), ("flax", "linen", "spmd.py"))


def _code_file(init: object) -> tuple[str, ...]:
    code = getattr(init, "__code__", None)
    return pathlib.PurePath(code.co_filename).parts if code is not None else ()


def unwrap(init: Callable) -> Callable:
    """``init`` without ``nn.with_partitioning``/``with_logical_partitioning`` and the
    unboxing wrapper of :func:`jinit.tree.rules_from` (a user's own wrapper is kept)."""
    for _ in range(8):
        if isinstance(init, Unboxed):
            init = init.init
        elif (callable(getattr(init, "__wrapped__", None))
              and getattr(getattr(init, "__code__", None), "co_name", "") == "wrapper"
              and _code_file(init)[-3:] in _FLAX_WRAPPERS):
            init = init.__wrapped__
        else:
            break
    return init


def flattened(init: Callable) -> tuple[Callable, int] | None:
    """``(initializer, n_features)`` for a ``DenseGeneral`` kernel drawn flattened."""
    return (init.init, init.n_features) if isinstance(init, Flattened) else None


def _closure(init: Callable) -> dict[str, object]:
    code, cells = getattr(init, "__code__", None), getattr(init, "__closure__", None) or ()
    if code is None:
        return {}
    try:
        return {n: c.cell_contents for n, c in zip(code.co_freevars, cells, strict=True)}
    except ValueError:  # an empty cell
        return {}


def _jax_label(name: str, args: dict[str, object]) -> str:
    if name == "variance_scaling":
        head = (float(args["scale"]), args["mode"], args["distribution"])
        extra = [f"{k}={args[k]!r}" for k, v in _AXES.items() if k in args and args[k] != v]
        if head in _JAX_PRESETS and not extra:
            return f"flax {_JAX_PRESETS[head]}"
        return f"flax variance_scaling({', '.join([repr(head[0]), *head[1:], *extra])})"
    return f"flax {name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def foreign(init: Callable) -> tuple[str, Callable] | None:
    """``(label, jinit equivalent)`` for a ``jax.nn.initializers`` initializer, else ``None``.

    The label is ``flax <name>(<arguments>)``, the name as ``flax.linen.initializers``
    spells it (``flax lecun_normal``, ``flax variance_scaling(1.0, fan_in, normal,
    out_axis=0)`` for ``nn.Embed``'s default).
    """
    import jax

    import jinit

    if init is jax.nn.initializers.zeros or init is jax.nn.initializers.ones:
        return f"flax {init.__name__}", getattr(jinit, init.__name__)
    # the closure a jax factory returns, by its own code (a functools.wraps copy is not it)
    if (getattr(init, "__module__", None) not in _JAX_MODULES
            or _code_file(init)[-4:] != ("jax", "_src", "nn", "initializers.py")
            or init.__code__.co_name != "init"):
        return None
    name, _, rest = getattr(init, "__qualname__", "").partition(".")
    if rest != "<locals>.init" or name not in _JAX_FACTORIES:
        return None
    factory = getattr(jinit, name)
    closure = _closure(init)
    args = {k: closure[k] for k in inspect.signature(factory).parameters
            if k in closure and k != "dtype"}
    if name == "variance_scaling" and not {"scale", "mode", "distribution"} <= set(args):
        return None
    try:
        equivalent = factory(**args)
    except (TypeError, ValueError):
        return None
    return _jax_label(name, args), equivalent


def resolve(init: Callable, shape: tuple[int, ...], dtype: np.dtype) -> Resolved:
    """The law ``init`` promises for a leaf of ``shape`` and ``dtype`` (see :class:`Resolved`)."""
    label = label_of(init)
    other = foreign(init)
    if other is not None:
        resolved = resolve(other[1], shape, dtype)
        return dataclasses.replace(resolved, label=other[0])
    if isinstance(init, Init):
        try:
            decl = lookup(init.name)
        except ValueError:
            return Resolved(label, None, f"{init.name} has no declared law")
        args = {k: v for k, v in init.params.items() if k != "dtype"}
    else:
        decl = _by_object().get(id(init))
        if decl is None:
            return Resolved(label, None, "not a jinit initializer")
        args = {}
    try:
        law = decl.law(tuple(shape), np.dtype(dtype), args)
    except Exception as exc:  # noqa: BLE001 - a law that does not apply: compare with a draw
        return Resolved(label, None, f"declared law does not apply ({type(exc).__name__}: {exc})")
    return Resolved(label, law)
