"""The LSUV method on a tree of variables, whatever framework made it (:mod:`jinit.lsuv`)."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import _checks
from .._base import public
from .._orthogonal import orthogonal
from .._typing import Array, KeyArray
from ..tree import leaf_key, path_str

# A call that rescales a kernel and sees the output variance change by less than this
# relative amount concludes the kernel does not reach the output (zero or constant input).
_NO_RESPONSE = 1e-6


@public("jinit.lsuv")
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


@public("jinit.lsuv")
class Skipped(NamedTuple):
    """A layer with parameters that LSUV left as it was, and why.

    Attributes:
      layer: the layer's path in the model.
      reason: why it was not rescaled (its class is not in ``layers=``, an ``exclude=``
        pattern matched its kernel path, no ``include=`` pattern did, or it was not called
        on the batch).
    """

    layer: str
    reason: str


@public("jinit.lsuv")
class Report(tuple):
    """The :class:`LayerReport` of every rescaled layer, in forward order (a tuple), and
    ``skipped``: a :class:`Skipped` for every other layer that owns parameters."""

    skipped: tuple[Skipped, ...]

    def __new__(cls, layers: Sequence[LayerReport], skipped: Sequence[Skipped]) -> Report:
        self = super().__new__(cls, layers)
        self.skipped = tuple(skipped)
        return self


def _get(tree: object, target: str) -> list[Array]:
    """The arrays at path ``target`` (``jinit.tree.path_str`` syntax; boxes add nothing)."""
    return [x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0] if path_str(p) == target]


def _put(tree: object, target: str, value: Array) -> object:
    """A copy of ``tree`` with the leaf at ``target`` replaced (containers are rebuilt)."""
    return jax.tree_util.tree_map_with_path(
        lambda p, x: value if path_str(p) == target else x, tree)


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


def run(fn: str, what: str, tree: object, batch: object,
        forward: Callable[[object, object], list[tuple[str, object]]],
        order: Sequence[str], chosen: dict[str, str], skipped: list[Skipped],
        key: KeyArray, tol: float, max_iters: int, orthogonal_first: bool,
        target: float) -> tuple[object, Report]:
    """LSUV on ``tree`` (the model's variables).

    ``chosen`` maps each selected layer to its kernel's path; ``order`` lists the selected
    layers the forward pass calls, in the order it makes their outputs;
    ``forward(tree, batch)`` lists (layer, output) for them.
    """
    called = list(dict.fromkeys(order))
    skipped = skipped + [Skipped(name, "not called on the batch") for name in chosen
                         if name not in called]
    names = [name for name in called if name in chosen]
    if not names:
        raise _checks.fail(fn, "model", what, "calls no layer of the given types on the batch",
                           "a model whose forward pass calls at least one of them",
                           "Pass layers=(...) to name the layer classes to rescale; skipped: "
                           + _listing([f"{s.layer!r} ({s.reason})" for s in skipped]) + ".")

    def measure_fn(t, x):
        groups: dict[str, list[object]] = {name: [] for name in names}
        for name, y in forward(t, x):
            if name in groups:
                groups[name].append(y)
        return [_variance(groups[name]) for name in names]

    measure_jit = jax.jit(measure_fn)

    def measure(t):
        return [float(v) for v in measure_jit(t, batch)]

    kernels = {}
    for name in names:
        found = _get(tree, chosen[name])
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
                tree = _put(tree, chosen[name], new)
                kernels[name] = new
    variances = measure(tree)

    report = []
    for i, name in enumerate(names):
        var = _checked(fn, name, variances[i])
        initial, iterations, scale = var, 0, 1.0
        while abs(var - target) >= tol and iterations < max_iters:
            factor = math.sqrt(target / var)
            kernel = kernels[name] * factor
            tree = _put(tree, chosen[name], kernel)
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
    return tree, Report(report, skipped)


def _listing(items: list[str], most: int = 4) -> str:
    if not items:
        return "none"
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return "; ".join(items[:most]) + more


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
