"""Watching a model's layers: each submodule's output, and the modules that own parameters.

:func:`capture` hands the output of every watched submodule call to a hook, for the length of
one ``with`` block, and :func:`layers` finds the modules that own parameters (the layers) with
their class, kernel and the order of their outputs. Both work per call, never on a class:

* **linen**: ``nn.intercept_methods``, whose interceptor stack is local to the thread and
  popped when the block exits;
* **NNX**: each watched *instance* gets, for the block, a subclass of its own class whose
  ``__call__`` reports its output (one subclass per class, made once); the instances get
  their classes back when the block exits, on an exception too. No class is modified, so
  other instances of the same class, in this thread or another, are untouched.

The audit's signal, LSUV and :func:`jinit.tree.rules_from` watch models through these two
functions; a parameter's use inside the computation (a contraction's output, before the
bias) is read from the program instead (:mod:`jinit.structure._program`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import NamedTuple

import jax

from .. import _checks
from ._trace import model_kind

Hook = Callable[[str, object], object]


@dataclasses.dataclass(frozen=True)
class Call:
    """One call :func:`capture` saw: the module's path (``'Block_0/Dense_1'``; ``''`` for
    the root), the module (linen: the bound instance) and the method's name."""

    name: str
    module: object
    method: str


class _Watch:
    """One :func:`capture` block: its hook, the names it watches, the calls it saw."""

    def __init__(self, hook: Hook | None, watch: Collection[str] | None):
        self.hook = hook
        self.watch = None if watch is None else frozenset(watch)
        self.calls: list[Call] = []
        self.names: dict[int, str] = {}  # NNX: id of a watched instance -> its path

    def watches(self, name: str) -> bool:
        return bool(name) if self.watch is None else name in self.watch

    def output(self, name: str, out: object) -> object:
        return out if self.hook is None else self.hook(name, out)


def _kind(fn: str, model: object) -> str:
    try:
        kind = model_kind(model, None, fn)
    except TypeError:
        kind = None
    if kind in ("linen", "nnx"):
        return kind
    raise _checks.fail(fn, "model", model, "is not a model whose layers jinit can watch",
                       "a flax.linen Module or a flax.nnx Module", exc=TypeError)


@contextlib.contextmanager
def capture(model: object, hook: Hook | None = None, *,
            watch: Collection[str] | None = None) -> Iterator[list[Call]]:
    """Within the block, each watched submodule's output ``y`` becomes ``hook(name, y)``.

    Linen: while ``model.apply`` (or ``init``) runs inside the block, every ``__call__`` of a
    module whose path ``name`` is watched; the list yielded records every method call of
    every module (the root and non-``__call__`` methods too), in the order the calls began.
    NNX: ``model`` is the instance the block calls; each watched submodule reports its
    ``__call__``, and the list records those calls, in the order they began. Calls of any
    other module, or of another instance of the same class, are left alone.

    Args:
      model: a ``flax.linen`` Module, or the ``flax.nnx`` Module instance to be called.
      hook: ``hook(name, output) -> output``, called as each watched call returns (in the
        order outputs are made); ``None`` watches without changing anything.
      watch: the paths to watch (``''`` is the root); default every submodule but the root.

    Yields:
      The list of :class:`Call` s, filled while the block runs.
    """
    fn = "structure.capture"
    kind = _kind(fn, model)
    state = _Watch(hook, watch)
    if kind == "linen":
        with _linen(state):
            yield state.calls
        return
    with _nnx(model, state):
        yield state.calls


def _linen(state: _Watch):
    import flax.linen as nn

    def interceptor(next_fun, args, kwargs, context):
        name = "/".join(str(p) for p in context.module.path)
        state.calls.append(Call(name, context.module, context.method_name))
        out = next_fun(*args, **kwargs)
        if context.method_name != "__call__" or not state.watches(name):
            return out
        return state.output(name, out)

    return nn.intercept_methods(interceptor)


# NNX: the watch blocks active in this context, and each class's reporting subclass.
_ACTIVE: contextvars.ContextVar[tuple[_Watch, ...]] = contextvars.ContextVar(
    "jinit_capture", default=())
_REPORTING: dict[type, type] = {}  # class -> its reporting subclass
_BASE: dict[type, type] = {}       # reporting subclass -> its class


def _reporting(cls: type) -> type:
    """The subclass of ``cls`` whose ``__call__`` tells the active blocks its output."""
    sub = _REPORTING.get(cls)
    if sub is not None:
        return sub

    def __call__(self, *args, **kwargs):
        mine = [(w, w.names[id(self)]) for w in _ACTIVE.get() if id(self) in w.names]
        for w, name in mine:
            w.calls.append(Call(name, self, "__call__"))
        out = cls.__call__(self, *args, **kwargs)
        for w, name in mine:
            out = w.output(name, out)
        return out

    made = type(cls)(cls.__name__, (cls,), {"__call__": __call__, "__module__": cls.__module__,
                                            "__qualname__": cls.__qualname__,
                                            "__doc__": cls.__doc__})
    sub = _REPORTING.setdefault(cls, made)
    _BASE[sub] = cls
    return sub


@contextlib.contextmanager
def _nnx(model: object, state: _Watch):
    from flax import nnx

    names: dict[int, tuple[str, object]] = {}
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Module):
            names.setdefault(id(node), ("/".join(str(p) for p in path), node))
    swapped = []
    try:
        for key, (name, node) in names.items():
            cls = type(node)
            if not state.watches(name) or "__call__" not in dir(cls):
                continue
            state.names[key] = name
            if cls not in _BASE:  # not already reporting to an enclosing block
                object.__setattr__(node, "__class__", _reporting(cls))
                swapped.append((node, cls))
        token = _ACTIVE.set((*_ACTIVE.get(), state))
        try:
            yield
        finally:
            _ACTIVE.reset(token)
    finally:
        for node, cls in reversed(swapped):
            object.__setattr__(node, "__class__", cls)


# ------------------------------------------------------------------------- layers


class Layer(NamedTuple):
    """A module that owns parameters directly, as :func:`layers` found it.

    Attributes:
      name: its path (``'Block_0/Dense_1'``, ``'blocks/0/attn'``).
      cls: its class (``None``: a linen module the call never reached, so unknown).
      kernel: the path of its ``kernel`` parameter (``jinit.tree.path_str`` syntax:
        ``'params/Block_0/Dense_1/kernel'`` for linen, ``'blocks/0/attn/kernel'`` for NNX), or
        ``None`` when it has none.
      order: the position of its first output among the layers' outputs on the call, in the
        order they are made (``None``: its ``__call__`` never returned during the call).
    """

    name: str
    cls: type | None
    kernel: str | None
    order: int | None


def layers(model: object, *args: object, params: object = None,
           **kwargs: object) -> list[Layer]:
    """Every module that owns parameters directly, with its class, kernel and output order.

    One abstract call (``jax.eval_shape``, no FLOPs) of ``model.apply(params, *args,
    **kwargs)`` (linen; ``params`` are the variables, with a ``'params'`` collection) or
    ``model(*args, **kwargs)`` (NNX; the model is not modified) runs under :func:`capture`.
    A layer's kernel is its parameter named ``kernel``. Linen layers come in the order the
    call first reached them (any method), then those it never reached; NNX layers in the
    module graph's order.

    Args:
      model: a ``flax.linen`` or ``flax.nnx`` Module.
      *args: the call's arguments (traced abstractly).
      params: linen: the variables.
      **kwargs: keyword arguments of the call, passed as they are (``train=False``, rngs).

    Returns:
      A list of :class:`Layer`.
    """
    kind = _kind("structure.layers", model)
    outputs: list[str] = []

    def seen(name: str, y: object) -> object:
        outputs.append(name)
        return y

    if kind == "linen":
        if not isinstance(params, Mapping) or not isinstance(params.get("params"), Mapping):
            raise _checks.fail("structure.layers", "params", params, "has no 'params' collection",
                               "the variables model.init returns, e.g. {'params': {...}}",
                               exc=TypeError)
        owners: dict[str, dict[str, object]] = {}  # layer -> the parameters it owns directly

        def walk(tree: Mapping, prefix: tuple[str, ...]) -> None:
            for k, v in tree.items():
                if isinstance(v, Mapping):
                    walk(v, (*prefix, k))
                else:
                    owners.setdefault("/".join(prefix), {})[k] = v

        walk(params["params"], ())
        with capture(model, seen, watch=owners) as calls:
            jax.eval_shape(lambda t, *a: model.apply(t, *a, **kwargs), params, *args)
        classes = {c.name: type(c.module) for c in calls}
        found = [(name, classes.get(name),
                  _under("params", name, "kernel") if "kernel" in owners[name] else None)
                 for name in dict.fromkeys([*(c.name for c in calls), *owners]) if name in owners]
    else:
        from flax import nnx

        found = []
        for path, module in nnx.iter_graph(model):
            name = "/".join(str(p) for p in path)
            if isinstance(module, nnx.Module) and any(
                    isinstance(v, nnx.Param) for v in vars(module).values()):
                has_kernel = isinstance(getattr(module, "kernel", None), nnx.Param)
                kernel = _under(name, "kernel") if has_kernel else None
                found.append((name, type(module), kernel))
        graphdef, state = nnx.split(model)
        watched = {name for name, _, _ in found}

        def call(s, *a):
            module = nnx.merge(graphdef, s)
            with capture(module, seen, watch=watched):
                module(*a, **kwargs)

        jax.eval_shape(call, state, *args)
    first = {name: k for k, name in enumerate(dict.fromkeys(outputs))}
    return [Layer(name, cls, kernel, first.get(name)) for name, cls, kernel in found]


def _under(*parts: str) -> str:
    """A path from its parts; the root layer's name (``''``) adds no separator."""
    return "/".join(p for p in parts if p)
