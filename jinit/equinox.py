r"""Re-initialize Equinox modules with jinit rules, in Equinox's own weight layouts.

Equinox layers have no ``init=`` argument: a layer draws its own weights when it is built,
and a different initialization is tree surgery with ``eqx.tree_at``. :func:`init` does that
surgery from a set of rules (the same rules :func:`jinit.tree.init_tree` takes) and knows
Equinox's layouts, which differ from the Flax layout jinit's defaults assume:

=====================================  ===============================  =====================
Equinox leaf                           Equinox layout                   Flax layout drawn
=====================================  ===============================  =====================
``Linear.weight``                      ``(out, in)``                    ``(in, out)``
``Conv*.weight``, ``ConvTranspose*``   ``(out, in/groups, *kernel)``    ``(*kernel, in/groups, out)``
``Conv*.bias``, ``ConvTranspose*``     ``(out, 1, ..., 1)``             ``(out,)``
``GRUCell``/``LSTMCell`` ``weight_*``  ``(gates*hidden, in)``           ``(in, gates*hidden)``
``Embedding.weight``                   ``(num, dim)``                   ``(num, dim)`` (as Flax ``Embed``)
norms, ``PReLU``, ``Linear.bias``      as declared                      unchanged
=====================================  ===============================  =====================

``MLP`` and ``MultiheadAttention`` are made of ``Linear`` layers and need nothing more.
Each leaf's initializer is called on the Flax-layout shape and the result is transposed
(or reshaped) into the Equinox layout, so a plain ``jinit.he_normal()`` gets
:math:`\text{fan}_\text{in} = \text{in}\cdot\prod k` without axis arguments, and every scheme whose
structure is defined on a layout (``orthogonal``, ``delta_orthogonal``, ``dirac``) keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _rules
from . import structure as _structure
from ._base import Init
from ._constant import ones, zeros
from ._typing import Array, KeyArray
from .tree import init_tree

__all__ = ["as_is", "init"]

_FN = "equinox.init"

# Schemes whose values do not depend on which axis is "in": called on any layout as they are.
_LAYOUT_FREE = frozenset({"normal", "uniform", "truncated_normal", "constant",
                          "presets.keras_random_normal", "presets.keras_random_uniform",
                          "presets.keras_truncated_normal", "presets.torch_normal",
                          "presets.torch_uniform", "presets.torch_trunc_normal"})
# Axis parameters and the values a factory takes by default (the Flax layout).
_AXIS_DEFAULTS = {"in_axis": -2, "out_axis": -1, "batch_axis": (), "column_axis": -1}

_OI, _CONV_BIAS, _NATIVE = "(out, in, *kernel)", "(out, 1, ..., 1)", "native"


class _AsIs:
    """An initializer called on the leaf's own (Equinox) shape: see :func:`as_is`."""

    __slots__ = ("init",)

    def __init__(self, init: Callable[..., Array]):
        self.init = init

    def __call__(self, key: KeyArray, shape: Any, dtype: Any = None) -> Array:
        return self.init(key, shape, dtype)

    def __repr__(self) -> str:
        return f"jinit.equinox.as_is({self.init!r})"


def as_is(init: Callable[..., Array]) -> Callable[..., Array]:
    """Marks an initializer to be called on a leaf's own Equinox shape, with no layout change.

    :func:`init` normally draws a known Equinox weight in the Flax layout and transposes it
    (so default fan axes are right). ``as_is(f)`` opts out: ``f(key, leaf.shape, dtype)``
    exactly, for an initializer written for Equinox's layout or for a leaf of a custom
    module whose layout jinit cannot know. A jinit initializer given explicit axes
    (``jinit.he_normal(in_axis=-1, out_axis=-2)``) is treated this way automatically.

    Args:
      init: an initializer ``init(key, shape, dtype)``.

    Returns:
      The same initializer, marked.

    Example:
      >>> import jax, equinox as eqx, jinit, jinit.equinox
      >>> class Custom(eqx.Module):
      ...     w: jax.Array
      >>> m = Custom(jax.numpy.zeros((64, 16)))   # (out, in), by the model's own convention
      >>> m = jinit.equinox.init(m, {"w": jinit.equinox.as_is(jinit.he_normal(in_axis=-1, out_axis=-2))},
      ...                        jax.random.key(0))
      >>> m.w.shape
      (64, 16)
    """
    _rules.check_initializer("equinox.as_is", "init", init)
    return _AsIs(init)


def _layout_table(eqx: Any) -> tuple[tuple[type, dict[str, str]], ...]:
    nn = eqx.nn
    rnn = {"weight_ih": _OI, "weight_hh": _OI, "bias": _NATIVE, "bias_n": _NATIVE}
    norm = {"weight": _NATIVE, "bias": _NATIVE}
    return ((nn.Linear, {"weight": _OI, "bias": _NATIVE}),
            (nn.Conv, {"weight": _OI, "bias": _CONV_BIAS}),
            (nn.ConvTranspose, {"weight": _OI, "bias": _CONV_BIAS}),
            (nn.Embedding, {"weight": _NATIVE}),
            (nn.GRUCell, rnn), (nn.LSTMCell, rnn),
            (nn.LayerNorm, norm), (nn.RMSNorm, norm), (nn.GroupNorm, norm),
            (nn.BatchNorm, norm), (nn.PReLU, {"negative_slope": _NATIVE}))


def _layouts(eqx: Any, model: Any) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """``{path: (layout, layer class name)}`` for leaves of known layers, and the state paths."""
    table = _layout_table(eqx)
    known = tuple(t for t, _ in table)
    stop = (*known, eqx.nn.StateIndex)
    layouts, state = {}, set()
    for prefix, node in jax.tree_util.tree_flatten_with_path(
            model, is_leaf=lambda x: isinstance(x, stop))[0]:
        if isinstance(node, eqx.nn.StateIndex):
            state.update(_rules.path_str((*prefix, *p))
                         for p, _ in jax.tree_util.tree_flatten_with_path(node)[0])
            continue
        if not isinstance(node, known):
            continue
        fields = next(f for t, f in table if isinstance(node, t))
        for sub, leaf in jax.tree_util.tree_flatten_with_path(
                node, is_leaf=lambda x: isinstance(x, eqx.nn.StateIndex))[0]:
            full = (*prefix, *sub)
            if isinstance(leaf, eqx.nn.StateIndex):
                state.update(_rules.path_str((*full, *p))
                             for p, _ in jax.tree_util.tree_flatten_with_path(leaf)[0])
                continue
            name = getattr(sub[0], "name", None) if sub else None
            if name in fields:
                layouts[_rules.path_str(full)] = (fields[name], type(node).__name__)
    return layouts, state


def _explicit_axes(init: object) -> bool:
    params = init.params if isinstance(init, Init) else None
    return bool(params) and any(
        name in params and params[name] != default for name, default in _AXIS_DEFAULTS.items())


def _layout_free(init: object) -> bool:
    return init is zeros or init is ones or (isinstance(init, Init) and init.name in _LAYOUT_FREE)


def _order(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of an ``(out, in, *kernel)`` weight in the Flax layout's order: the Equinox
    (PyTorch) convention as :func:`jinit.structure.guess` reads it, ``(*kernel, in, out)``."""
    return _structure.flax_order(_structure.guess(shape, "equinox"))


def _to_flax(layout: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if layout == _OI and len(shape) >= 2:
        return tuple(shape[k] for k in _order(shape))
    if layout == _CONV_BIAS:
        return shape[:1]
    return shape


def _from_flax(layout: str, value: Array, shape: tuple[int, ...]) -> Array:
    if layout == _OI and len(shape) >= 2:
        return jnp.transpose(value, tuple(int(k) for k in np.argsort(_order(shape))))
    if layout == _CONV_BIAS:
        return jnp.reshape(value, shape)
    return value


def audit_layouts(model: Any) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """``({path: (layout, layer class name)}, state paths)`` of a model, as :func:`init` reads
    them: the lookup :func:`jinit.audit.check` shares to audit a module's leaves."""
    import equinox as eqx

    return _layouts(eqx, model)


def audit_view(layout: str | None, init: Callable[..., Array], value: Array
               ) -> tuple[Array, Callable[..., Array]]:
    """``(value, initializer)`` as :func:`init` drew them: an Equinox leaf of ``layout`` seen
    in the Flax layout its initializer was called on (the inverse of the transpose or
    reshape :func:`init` applies), or as it is for :func:`as_is`, explicit axes and leaves of
    no known layout."""
    if isinstance(init, _AsIs):
        return value, init.init
    if layout is None or _explicit_axes(init):
        return value, init
    if layout == _OI and value.ndim >= 2:
        return jnp.transpose(value, _order(tuple(value.shape))), init
    if layout == _CONV_BIAS:
        return jnp.reshape(value, value.shape[:1]), init
    return value, init


def init(model: Any, rules: object, key: KeyArray, *, default: Callable[..., Array] | None = None,
         strict: bool = False, structure: Any = None) -> Any:
    r"""A copy of an Equinox module with the array leaves that ``rules`` match re-initialized.

    For each inexact array leaf at path :math:`p` (``jinit.tree.path_str``, e.g.
    ``'layers/0/weight'`` in an ``eqx.nn.MLP``) that a rule matches with initializer
    :math:`f`,

    .. math::

        w_p = \pi_p\bigl(f(k_p,\ \pi_p^{-1}(s_p),\ d_p)\bigr), \qquad
        k_p = \texttt{jinit.tree.leaf_key}(k, p),

    where :math:`s_p, d_p` are the leaf's shape and dtype and :math:`\pi_p` maps the Flax
    layout to the leaf's Equinox layout (the module table; the identity for leaves whose
    layout is the Flax one). A plain ``jinit.he_normal()`` on a ``Linear`` of
    ``in_features=n`` therefore has variance :math:`2/n`; called directly on the
    ``(out, in)`` weight it would take ``out`` as its fan-in. Values equal
    ``jnp.transpose(f(k_p, flax_shape, d_p), ...)`` bit for bit, which is also what a Flax
    model with the same key path would hold. Leaves no rule matches (and no ``default``)
    are kept as they are (the same arrays), as are non-array leaves (activations, static
    fields) and ``StateIndex`` state (e.g. ``BatchNorm`` running statistics).

    A rank-≥2 leaf outside the known layers has no layout jinit can place: an initializer
    that reads fans must then say its axes (``jinit.he_normal(in_axis=..., out_axis=...)``,
    or :func:`as_is`); layout-free schemes (``normal``, ``uniform``, ``truncated_normal``,
    ``constant``, ``zeros``, ``ones``) need nothing.

    Args:
      model: an ``equinox.Module`` (or any pytree of them).
      rules: as for :func:`jinit.tree.init_tree`: ``{regex: initializer}``, ``(regex,
        initializer)`` pairs, or ``f(path, shape, dtype)`` (shape in the Equinox layout),
        matched with ``re.search`` against each leaf's path.
      key: the root PRNG key.
      default: the initializer for array leaves no rule matches; ``None`` keeps them.
      strict: raise ``ValueError`` (instead of warning) for a rule that matches no leaf.
      structure: ``jinit.structure.trace(model, x)``: a leaf outside the known layers whose
        use was traced is drawn in its own layout with the fan axes the computation implies
        (:func:`jinit.structure.fit`), instead of needing explicit axes. Leaves of known
        layers are drawn as without it (their fans already agree).

    Returns:
      A new module; ``model`` is not modified. Works under ``eqx.filter_jit`` and
      ``eqx.filter_vmap`` (over keys).

    Raises:
      ValueError: a leaf of unknown layout given an initializer that reads fans with its
        default axes; errors :func:`jinit.tree.init_tree` raises (naming the leaf).
      TypeError: a bad key, rule or initializer.

    References:
      Kidger & Garcia, "Equinox: neural networks in JAX via callable PyTrees and filtered
      transformations", arXiv:2111.00254, 2021 (``tree_at``); layouts from
      ``equinox/nn/_linear.py``, ``_conv.py``, ``_rnn.py``, ``_embedding.py``
      (patrick-kidger/equinox).

    Example:
      >>> import jax, equinox as eqx, jinit, jinit.equinox
      >>> mlp = eqx.nn.MLP(32, 10, 128, depth=2, key=jax.random.key(0))
      >>> mlp = jinit.equinox.init(mlp, {r"weight$": jinit.he_normal(), r"bias$": jinit.zeros},
      ...                          jax.random.key(1))
      >>> w = mlp.layers[0].weight                        # (out, in) = (128, 32)
      >>> w.shape, round(float(w.var() * 32 / 2), 1)      # Var = 2 / fan_in, fan_in = 32
      ((128, 32), 1.0)
    """
    import equinox as eqx

    _checks.key(_FN, key)
    compiled = _rules.compile_rules(_FN, rules)
    if default is not None:
        _rules.check_initializer(_FN, "default", default)
    layouts, state = _layouts(eqx, model)

    flat = jax.tree_util.tree_flatten_with_path(model)[0]
    traced: dict[str, Any] = {}
    chosen: dict[str, tuple[int, str, Callable[..., Array]]] = {}
    shapes: dict[str, jax.ShapeDtypeStruct] = {}
    arrays = [(index, _rules.path_str(kp), leaf) for index, (kp, leaf) in enumerate(flat)
              if eqx.is_inexact_array(leaf)]
    arrays = [(index, path, leaf) for index, path, leaf in arrays if path not in state]
    paths = [path for _, path, _ in arrays]
    compiled.check_paths(paths)  # a recipe names every leaf without a role at once
    for index, path, leaf in arrays:
        shape = tuple(int(d) for d in leaf.shape)
        found = compiled.match(path, shape, np.dtype(leaf.dtype))
        fn = found[1] if found is not None else default
        if fn is None:
            continue
        layout, layer = layouts.get(path, (None, None))
        use = structure.get(path) if structure is not None else None
        if isinstance(fn, _AsIs) or _explicit_axes(fn):
            layout = _NATIVE
        elif layout is None and use is not None and use.expressible:
            layout = _NATIVE
            traced[path] = use
        elif layout is None:
            if len(shape) >= 2 and not _layout_free(fn):
                raise _checks.fail(
                    _FN, f"model[{path!r}]", jax.ShapeDtypeStruct(shape, leaf.dtype),
                    "is not in a layer whose layout jinit knows, and its initializer "
                    f"{fn!r} may read fans from the default axes (in_axis=-2, out_axis=-1)",
                    "a leaf of a known Equinox layer, or an initializer with explicit axes",
                    "Pass the axes, e.g. jinit.he_normal(in_axis=-1, out_axis=-2) for an "
                    "(out, in) weight or in_axis=1, out_axis=0 for (out, in, *kernel); or "
                    "wrap the initializer in jinit.equinox.as_is to call it on this shape.")
            layout = _NATIVE
        chosen[path] = (index, layout, fn)
        shapes[path] = jax.ShapeDtypeStruct(_to_flax(layout, shape), leaf.dtype)
    compiled.report_unmatched(paths, strict=strict)
    if not chosen:
        return model

    drawn = init_tree(key, shapes, lambda p, s, d: chosen[p][2],
                      structure=_structure.Structure(traced) if structure is not None else None)
    indices = [chosen[p][0] for p in chosen]
    new = [_from_flax(chosen[p][1], drawn[p], tuple(flat[chosen[p][0]][1].shape)) for p in chosen]

    def where(m: Any) -> list[object]:
        leaves = jax.tree.leaves(m)
        return [leaves[i] for i in indices]

    return eqx.tree_at(where, model, new)
