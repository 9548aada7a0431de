r"""Layer-sequential unit-variance (LSUV) initialization for Flax models.

LSUV (Mishkin & Matas 2016) is data-dependent: it first gives every Dense/Conv kernel an
orthonormal initialization, then walks the layers in forward order and rescales each
kernel until the variance of that layer's output on a batch of real inputs is 1. Each
rescaling leaves the layers before it unchanged, so one pass suffices; no gain, fan or
activation has to be known — the batch measures what theory would have to predict.

:func:`lsuv_linen` works on the variables of a ``flax.linen`` module and
:func:`lsuv_nnx` on a ``flax.nnx`` module. Both are pure: they return new parameters (a
new model) and a per-layer report, and never modify their inputs. Flax is imported
only when they are called.
"""

from __future__ import annotations

import contextvars
import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _checks
from ._orthogonal import orthogonal
from ._typing import Array, KeyArray
from .tree import leaf_key

__all__ = ["LayerReport", "lsuv_linen", "lsuv_nnx"]

# A call that rescales a kernel and sees the output variance change by less than this
# relative amount concludes the kernel does not reach the output (zero or constant input).
_NO_RESPONSE = 1e-6


class LayerReport(NamedTuple):
    """What LSUV did to one layer, in forward order.

    Attributes:
      layer: the layer's path in the model, e.g. ``'Block_0/Dense_1'`` or ``'layers/3'``.
      initial_variance: the output variance before rescaling (after the orthonormal
        pre-initialization, when it is on).
      variance: the output variance on the batch when LSUV finished with the layer.
      iterations: the number of rescalings applied to its kernel.
      converged: whether ``|variance - target| < tol``.
      scale: the total factor its kernel was multiplied by.
    """

    layer: str
    initial_variance: float
    variance: float
    iterations: int
    converged: bool
    scale: float


# ------------------------------------------------------------------ argument checks


def _check_args(fn: str, key: object, tol: object, max_iters: object, target: object,
                orthogonal_first: object) -> None:
    _checks.key(fn, key)
    _checks.scalar(fn, "tol", tol, strict=True)
    _checks.scalar(fn, "target", target, strict=True)
    if not _checks._is_int(max_iters):
        raise _checks.fail(fn, "max_iters", max_iters, "is not an int",
                           "a non-negative int (the paper uses 10)", exc=TypeError)
    if max_iters < 0:
        raise _checks.fail(fn, "max_iters", max_iters, "is negative",
                           "a non-negative int (the paper uses 10)")
    if not isinstance(orthogonal_first, bool):
        raise _checks.fail(fn, "orthogonal_first", orthogonal_first, "is not a bool",
                           "True or False", exc=TypeError)


def _check_layers(fn: str, layers: object, base: type) -> tuple[type, ...]:
    items = (layers,) if isinstance(layers, type) else layers
    if not isinstance(items, Sequence) or not items or not all(
            isinstance(t, type) and issubclass(t, base) for t in items):
        raise _checks.fail(fn, "layers", layers, "is not a sequence of layer classes",
                           f"a tuple of {base.__module__}.{base.__qualname__} subclasses "
                           "with a 'kernel' parameter", exc=TypeError)
    return tuple(items)


# ------------------------------------------------------------------- tree helpers


def _raw(entry: object) -> object:
    for attr in ("key", "idx", "name"):
        if hasattr(entry, attr):
            return getattr(entry, attr)
    return entry


def _matches(path: tuple[object, ...], target: tuple[object, ...]) -> bool:
    """``path`` is ``target`` followed only by attribute entries (the inside of a box)."""
    if len(path) < len(target):
        return False
    if tuple(_raw(e) for e in path[:len(target)]) != target:
        return False
    return all(isinstance(e, jax.tree_util.GetAttrKey) for e in path[len(target):])


def _get(tree: object, target: tuple[object, ...]) -> list[Array]:
    return [x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0] if _matches(p, target)]


def _put(tree: object, target: tuple[object, ...], value: Array) -> object:
    """A copy of ``tree`` with the leaf at ``target`` replaced (containers are rebuilt)."""
    return jax.tree_util.tree_map_with_path(lambda p, x: value if _matches(p, target) else x, tree)


def _like(new: Array, old: Array) -> Array:
    """``new`` placed as ``old`` was (a sharded kernel stays sharded)."""
    sharding = getattr(old, "sharding", None)
    if isinstance(old, jax.Array) and sharding is not None and len(sharding.device_set) > 1:
        return jax.device_put(new, sharding)
    return new


@functools.partial(jax.jit, static_argnums=(1, 2))
def _orthonormal(keys: KeyArray, shape: tuple[int, ...], dtype: object) -> Array:
    """``orthogonal()(k, shape, dtype)`` for each key: one vmapped QR per kernel shape."""
    return jax.vmap(lambda k: orthogonal()(k, shape, dtype))(keys)


def _variance(outputs: list[object]) -> Array:
    """Variance over every entry of every output a layer produced on the batch."""
    parts = []
    for y in outputs:
        for leaf in jax.tree.leaves(y):
            dt = jnp.promote_types(leaf.dtype, jnp.float32)
            parts.append(jnp.ravel(leaf).astype(dt))
    dt = parts[0].dtype
    flat = jnp.concatenate([p.astype(dt) for p in parts]) if len(parts) > 1 else parts[0]
    return jnp.var(flat)


# ---------------------------------------------------------------------- the method


def _lsuv(fn: str, what: str, tree: object, batch: object,
          run: Callable[[object, object], list[tuple[str, object]]],
          kernel_path: Callable[[str], tuple[object, ...]], key: KeyArray, tol: float,
          max_iters: int, orthogonal_first: bool, target: float) -> tuple[object, tuple[LayerReport, ...]]:
    """LSUV on ``tree`` (the model's variables); ``run(tree, batch)`` lists (layer, output) in call order."""
    names: list[str] = []

    def measure_fn(t, x):
        groups: dict[str, list[object]] = {}
        for name, y in run(t, x):
            groups.setdefault(name, []).append(y)
        names[:] = list(groups)
        return [_variance(ys) for ys in groups.values()]

    measure_jit = jax.jit(measure_fn)

    def measure(t):
        return [float(v) for v in measure_jit(t, batch)]

    variances = measure(tree)
    if not names:
        raise _checks.fail(fn, "model", what, "calls no layer of the given types on the batch",
                           "a model whose forward pass calls at least one of them",
                           "Pass layers=(...) to name the layer classes to rescale.")

    kernels = {}
    for name in names:
        found = _get(tree, kernel_path(name))
        if len(found) != 1:
            raise _checks.fail(fn, "layer", name, "has no single 'kernel' parameter",
                               "a layer with one 'kernel' array (Dense/Linear, Conv)",
                               "Leave this layer type out of layers=.")
        kernels[name] = found[0]

    if orthogonal_first:
        groups: dict[tuple[tuple[int, ...], object], list[str]] = {}
        for name in names:
            groups.setdefault((tuple(kernels[name].shape), kernels[name].dtype), []).append(name)
        for (shape, dtype), members in groups.items():
            keys = jnp.stack([leaf_key(key, name) for name in members])
            fresh = _orthonormal(keys, shape, dtype)
            for j, name in enumerate(members):
                new = _like(fresh[j], kernels[name])
                tree = _put(tree, kernel_path(name), new)
                kernels[name] = new
        variances = measure(tree)

    report = []
    for i, name in enumerate(names):
        var = _checked(fn, name, variances[i])
        initial, iterations, scale = var, 0, 1.0
        while abs(var - target) >= tol and iterations < max_iters:
            factor = math.sqrt(target / var)
            kernel = kernels[name] * factor
            tree = _put(tree, kernel_path(name), kernel)
            kernels[name] = kernel
            scale *= factor
            iterations += 1
            variances = measure(tree)
            new_var = _checked(fn, name, variances[i])
            if abs(new_var - var) <= _NO_RESPONSE * var:
                raise _checks.fail(
                    fn, "layer", name,
                    f"keeps output variance {var:.6g} when its kernel is scaled by {factor:.6g}",
                    "an output variance that scales with the kernel",
                    "Its input is zero or constant, so only its bias reaches the output: check "
                    "the batch and the layers before it.")
            var = new_var
        converged = abs(var - target) < tol
        if not converged:
            warnings.warn(_checks.message(
                fn, "layer", name,
                f"ends with output variance {var:.6g} after {iterations} rescalings",
                f"a variance within tol={tol:g} of target={target:g}",
                "Raise max_iters, or look for a bias or normalization that dominates the output."),
                UserWarning, stacklevel=3)
        report.append(LayerReport(name, initial, var, iterations, converged, scale))
    return tree, tuple(report)


def _checked(fn: str, name: str, var: float) -> float:
    if not math.isfinite(var):
        raise _checks.fail(fn, "layer", name, f"has output variance {var} on the batch",
                           "a finite variance > 0",
                           "The forward pass produced NaN or inf: check the batch for NaN/inf "
                           "and the range of the kernel's dtype.")
    if var <= 0.0:
        raise _checks.fail(fn, "layer", name, f"has output variance {var} on the batch",
                           "a finite variance > 0",
                           "Its outputs are constant (dead): check that the batch is not "
                           "constant and that the layers before it pass a signal.")
    return var




def lsuv_linen(model: Any, variables: Mapping[str, Any], batch: Any, key: KeyArray, *,
               tol: float = 0.1, max_iters: int = 10, orthogonal_first: bool = True,
               target: float = 1.0, layers: Sequence[type] | None = None,
               call_kwargs: Mapping[str, Any] | None = None) -> tuple[Any, tuple[LayerReport, ...]]:
    r"""LSUV-initializes a ``flax.linen`` module's variables on a batch (Mishkin & Matas 2016).

    .. math::

        W_l \leftarrow W_l \sqrt{\frac{v^\ast}{\operatorname{Var}[B_l]}}
        \quad\text{while}\quad \bigl|\operatorname{Var}[B_l] - v^\ast\bigr| \ge \tau
        \ \text{and fewer than}\ T_\text{max}\ \text{rescalings},

    for :math:`l = 1, \dots, L` in forward order, where :math:`B_l` is the output of layer
    :math:`l` (before its activation) on the batch, :math:`\operatorname{Var}` is taken over
    all its entries (batch, spatial positions and channels together, as in the paper),
    :math:`v^\ast` is ``target`` (1 in the paper), :math:`\tau` is ``tol`` and
    :math:`T_\text{max}` is ``max_iters``. Before the loop every kernel :math:`W_l` is
    replaced by an orthonormal one (:func:`jinit.orthogonal`, as Saxe et al.; the kernel
    viewed as a ``(prod(shape[:-1]), shape[-1])`` matrix). Biases are left as they are.
    Rescaling layer :math:`l` changes only layers :math:`\ge l`, so a single pass leaves
    every layer at its target on this batch.

    Layer outputs are captured with ``nn.intercept_methods`` (no ``sow`` needed in the
    model); each measurement is one jitted forward pass of the whole model.

    Args:
      model: the ``flax.linen`` module.
      variables: its variables as ``model.init`` returns them (``{'params': ...}``, plus
        other collections); Flax ``Partitioned`` boxes and sharded kernels are kept.
      batch: the input passed to ``model.apply(variables, batch, **call_kwargs)``; use a
        batch of real data, large enough for a stable variance (a few hundred samples).
      key: the PRNG key for the orthonormal pre-initialization (each layer's key is
        ``jinit.tree.leaf_key(key, layer)``).
      tol: the tolerance :math:`\tau` on the output variance (paper: 0.1).
      max_iters: the most rescalings per layer, :math:`T_\text{max}` (paper: 10).
      orthogonal_first: replace every kernel by an orthonormal one first (the paper's step
        1); ``False`` rescales the kernels as they are.
      target: the output variance :math:`v^\ast` to reach (paper: 1).
      layers: the module classes whose ``kernel`` is rescaled; default
        ``(nn.Dense, nn.Conv)`` (subclasses included).
      call_kwargs: extra keyword arguments for ``model.apply`` (e.g. ``{'train': False}``
        or ``rngs``).

    Returns:
      ``(new_variables, report)``: the new variables (same structure, input untouched) and a
      tuple of :class:`LayerReport`, one per layer, in forward order.

    Raises:
      ValueError: a layer whose output variance on the batch is 0, NaN or infinite, or
        does not change when its kernel is rescaled (the message names the layer); no
        layer of the given types is called; no ``'params'`` collection; bad ``tol``,
        ``target`` or ``max_iters``.
      TypeError: a bad key, ``layers`` or argument type.

    Warns:
      UserWarning: a layer that is still outside the tolerance after ``max_iters``
        rescalings (named in the message; its report has ``converged=False``).

    References:
      Mishkin & Matas, "All you need is a good init", ICLR 2016, arXiv:1511.06422
      (Algorithm 1). Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics
      of learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120.

    Example:
      >>> import jax, jax.numpy as jnp, flax.linen as nn, jinit
      >>> model = nn.Sequential([nn.Dense(64), nn.tanh, nn.Dense(64), nn.tanh, nn.Dense(10)])
      >>> x = jax.random.normal(jax.random.key(0), (512, 32))
      >>> variables = model.init(jax.random.key(1), x)
      >>> new, report = jinit.lsuv.lsuv_linen(model, variables, x, jax.random.key(2))
      >>> [r.layer for r in report]
      ['layers_0', 'layers_2', 'layers_4']
      >>> all(r.converged and abs(r.variance - 1) < 0.1 for r in report)
      True
    """
    import flax.linen as nn

    fn = "lsuv_linen"
    _check_args(fn, key, tol, max_iters, target, orthogonal_first)
    types = (nn.Dense, nn.Conv) if layers is None else _check_layers(fn, layers, nn.Module)
    if not isinstance(variables, Mapping) or not isinstance(variables.get("params"), Mapping):
        raise _checks.fail(fn, "variables", variables, "has no 'params' collection",
                           "the variables model.init returns, e.g. {'params': {...}}", exc=TypeError)
    kwargs = dict(call_kwargs or {})
    paths: dict[str, tuple[str, ...]] = {}

    def run(tree, x):
        recorded: list[tuple[str, object] | None] = []

        def interceptor(next_fun, args, kw, context):
            if context.method_name != "__call__" or not isinstance(context.module, types):
                return next_fun(*args, **kw)
            slot = len(recorded)
            recorded.append(None)
            y = next_fun(*args, **kw)
            path = tuple(context.module.path)
            paths["/".join(path)] = path
            recorded[slot] = ("/".join(path), y)
            return y

        with nn.intercept_methods(interceptor):
            model.apply(tree, x, **kwargs)
        return [r for r in recorded if r is not None]

    new, report = _lsuv(fn, type(model).__name__, variables, batch, run,
                        lambda name: ("params", *paths[name], "kernel"),
                        key, tol, max_iters, orthogonal_first, target)
    return new, report


_RECORDING: contextvars.ContextVar[list | None] = contextvars.ContextVar("jinit_lsuv", default=None)


def _probe_class(cls: type, name: str) -> type:
    """A subclass of ``cls`` whose ``__call__`` also records its output under ``name``."""

    def __call__(self, *args, **kwargs):
        y = cls.__call__(self, *args, **kwargs)
        recording = _RECORDING.get()
        if recording is not None:
            recording.append((name, y))
        return y

    return type(cls.__name__, (cls,), {"__call__": __call__, "__module__": cls.__module__,
                                       "__qualname__": cls.__qualname__})


def lsuv_nnx(model: Any, batch: Any, key: KeyArray, *, tol: float = 0.1, max_iters: int = 10,
             orthogonal_first: bool = True, target: float = 1.0,
             layers: Sequence[type] | None = None,
             call_kwargs: Mapping[str, Any] | None = None) -> tuple[Any, tuple[LayerReport, ...]]:
    r"""LSUV-initializes a ``flax.nnx`` module on a batch (Mishkin & Matas 2016).

    .. math::

        W_l \leftarrow W_l \sqrt{\frac{v^\ast}{\operatorname{Var}[B_l]}}
        \quad\text{while}\quad \bigl|\operatorname{Var}[B_l] - v^\ast\bigr| \ge \tau
        \ \text{and fewer than}\ T_\text{max}\ \text{rescalings},

    for :math:`l = 1, \dots, L` in forward order, where :math:`B_l` is the output of layer
    :math:`l` (before its activation) on the batch, :math:`\operatorname{Var}` is taken over
    all its entries (batch, spatial positions and channels together, as in the paper),
    :math:`v^\ast` is ``target`` (1 in the paper), :math:`\tau` is ``tol`` and
    :math:`T_\text{max}` is ``max_iters``. Before the loop every kernel :math:`W_l` is
    replaced by an orthonormal one (:func:`jinit.orthogonal`, as Saxe et al.; the kernel
    viewed as a ``(prod(shape[:-1]), shape[-1])`` matrix). Biases are left as they are.
    Rescaling layer :math:`l` changes only layers :math:`\ge l`, so a single pass leaves
    every layer at its target on this batch.

    Layer outputs are captured on a private copy of the model whose layers record their
    outputs; each measurement is one jitted forward pass. The result is a new model built
    from the original graph and the new state: ``model`` itself, its variables and its
    RNG state are not modified.

    Args:
      model: the ``flax.nnx`` module (in the mode to measure: call ``model.eval()`` first
        to measure without dropout and with running batch statistics).
      batch: the input passed to ``model(batch, **call_kwargs)``; a batch of real data,
        large enough for a stable variance (a few hundred samples).
      key: the PRNG key for the orthonormal pre-initialization (each layer's key is
        ``jinit.tree.leaf_key(key, layer)``).
      tol: the tolerance :math:`\tau` on the output variance (paper: 0.1).
      max_iters: the most rescalings per layer, :math:`T_\text{max}` (paper: 10).
      orthogonal_first: replace every kernel by an orthonormal one first (the paper's
        step 1); ``False`` rescales the kernels as they are.
      target: the output variance :math:`v^\ast` to reach (paper: 1).
      layers: the module classes whose ``kernel`` is rescaled; default
        ``(nnx.Linear, nnx.Conv)`` (subclasses included).
      call_kwargs: extra keyword arguments for the model's call.

    Returns:
      ``(new_model, report)``: a new model of the same type and a tuple of
      :class:`LayerReport`, one per layer, in forward order.

    Raises:
      ValueError: a layer whose output variance on the batch is 0, NaN or infinite, or
        does not change when its kernel is rescaled (the message names the layer); no
        layer of the given types is called; bad ``tol``, ``target`` or ``max_iters``.
      TypeError: a bad key, ``layers`` or argument type.

    Warns:
      UserWarning: a layer still outside the tolerance after ``max_iters`` rescalings.

    References:
      Mishkin & Matas, "All you need is a good init", ICLR 2016, arXiv:1511.06422
      (Algorithm 1). Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics
      of learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> from flax import nnx
      >>> class MLP(nnx.Module):
      ...     def __init__(self, rngs):
      ...         self.hidden = nnx.Linear(32, 64, rngs=rngs)
      ...         self.out = nnx.Linear(64, 10, rngs=rngs)
      ...     def __call__(self, x):
      ...         return self.out(jax.nn.relu(self.hidden(x)))
      >>> model = MLP(nnx.Rngs(0))
      >>> x = jax.random.normal(jax.random.key(1), (512, 32))
      >>> new, report = jinit.lsuv.lsuv_nnx(model, x, jax.random.key(2))
      >>> [(r.layer, r.converged) for r in report]
      [('hidden', True), ('out', True)]
      >>> bool(jnp.allclose(jnp.var(new.hidden(x)), 1.0, atol=0.1)), new is model
      (True, False)
    """
    from flax import nnx

    fn = "lsuv_nnx"
    _check_args(fn, key, tol, max_iters, target, orthogonal_first)
    if not isinstance(model, nnx.Module):
        raise _checks.fail(fn, "model", model, "is not an nnx.Module",
                           "a flax.nnx module", "For flax.linen use jinit.lsuv.lsuv_linen.",
                           TypeError)
    types = (nnx.Linear, nnx.Conv) if layers is None else _check_layers(fn, layers, nnx.Module)
    kwargs = dict(call_kwargs or {})

    graphdef, state = nnx.split(model)
    state = jax.tree.map(lambda x: x, state)  # fresh Variables: the model's are never touched
    probe = nnx.merge(graphdef, jax.tree.map(lambda x: x, state))
    for path, module in nnx.iter_modules(probe):
        if isinstance(module, types):
            module.__class__ = _probe_class(type(module), "/".join(str(p) for p in path))
    probe_graphdef, _ = nnx.split(probe)
    paths = {"/".join(str(p) for p in path): tuple(path)
             for path, module in nnx.iter_modules(probe) if isinstance(module, types)}

    def run(tree, x):
        recording: list[tuple[str, object]] = []
        token = _RECORDING.set(recording)
        try:
            nnx.merge(probe_graphdef, tree)(x, **kwargs)
        finally:
            _RECORDING.reset(token)
        return recording

    new_state, report = _lsuv(fn, type(model).__name__, state, batch, run,
                              lambda name: (*paths[name], "kernel"),
                              key, tol, max_iters, orthogonal_first, target)
    return nnx.merge(graphdef, new_state), report


for _obj in (LayerReport, lsuv_linen, lsuv_nnx):
    _obj.__module__ = "jinit.lsuv"
del _obj
