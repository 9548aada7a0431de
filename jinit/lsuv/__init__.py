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

from collections.abc import Mapping, Sequence
from typing import Any

import jax

from .. import _checks, _rules, structure
from .._typing import KeyArray
from ._method import LayerReport as LayerReport
from ._method import Report as Report
from ._method import Skipped as Skipped
from ._method import run as run  # the engine, for jinit.auto (not in __all__)

__all__ = ["LayerReport", "Report", "Skipped", "lsuv_linen", "lsuv_nnx"]


# ------------------------------------------------------------------ argument checks


def _check_args(fn: str, key: object, tol: object, max_iters: object, target: object,
                orthogonal_first: object) -> None:
    _checks.key(fn, key)
    _checks.scalar(fn, "tol", tol, strict=True)
    _checks.scalar(fn, "target", target, strict=True)
    _checks.integer(fn, "max_iters", max_iters, minimum=0)
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


def _patterns(fn: str, arg: str, value: object) -> _rules.Rules | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(p, str) for p in items):
        raise _checks.fail(fn, arg, value, "is not a pattern or a sequence of patterns",
                           "a regular expression (str) or a sequence of them", exc=TypeError)
    return _rules.compile_rules(fn, [(p, None) for p in items], arg=arg, check=None)


def _select(fn: str, candidates: Sequence[tuple[str, type, str | None]], types: tuple[type, ...],
            include: _rules.Rules | None, exclude: _rules.Rules | None
            ) -> tuple[dict[str, str], list[Skipped]]:
    """``({layer: kernel path}, skipped)`` from every layer that owns parameters.

    ``candidates`` are ``(layer, class, kernel path or None)``; a layer of a selected class
    without a kernel is an error, every other layer not selected is reported with its reason.
    """
    names = ", ".join(t.__name__ for t in types)
    chosen, skipped = {}, []
    for layer, cls, kernel in candidates:
        if not issubclass(cls, types):
            why = f"{cls.__name__} is not in layers=({names})"
            if "embed" in cls.__name__.lower():
                why += "; an embedding is a table lookup, not a kernel applied to its input"
            skipped.append(Skipped(layer, why))
        elif kernel is None:
            raise _checks.fail(fn, "layer", layer, "has no single 'kernel' parameter",
                               "a layer with one 'kernel' array (Dense/Linear, Conv)",
                               "Leave this layer type out of layers=.")
        elif exclude is not None and exclude.match(kernel) is not None:
            pattern = next(r.pattern for r, _ in exclude.patterns if r.search(kernel))
            skipped.append(Skipped(layer, f"its kernel {kernel!r} matches exclude={pattern!r}"))
        elif include is not None and include.match(kernel) is None:
            skipped.append(Skipped(layer, f"its kernel {kernel!r} matches no include= pattern"))
        else:
            chosen[layer] = kernel
    paths = [k for _, _, k in candidates if k is not None]
    for arg, compiled in (("include", include), ("exclude", exclude)):
        if compiled is not None:
            compiled.report_unmatched(paths, arg=arg)
    return chosen, skipped


def lsuv_linen(model: Any, variables: Mapping[str, Any], batch: Any, key: KeyArray, *,
               tol: float = 0.1, max_iters: int = 10, orthogonal_first: bool = True,
               target: float = 1.0, layers: Sequence[type] | None = None,
               include: str | Sequence[str] | None = None,
               exclude: str | Sequence[str] | None = None,
               call_kwargs: Mapping[str, Any] | None = None) -> tuple[Any, Report]:
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
      include: a regex (or several): rescale only layers whose kernel path
        (``jinit.tree.path_str`` syntax, ``'params/Block_0/Dense_1/kernel'``) one of them
        ``re.search``-matches.
      exclude: a regex (or several): leave layers whose kernel path one matches as they
        are, bit for bit (e.g. an LM head or zero-initialized residual projections).
      call_kwargs: extra keyword arguments for ``model.apply`` (e.g. ``{'train': False}``
        or ``rngs``).

    Returns:
      ``(new_variables, report)``: the new variables (same structure, input untouched) and a
      :class:`Report`: one :class:`LayerReport` per rescaled layer in forward order, and in
      ``report.skipped`` every other layer owning parameters with the reason.

    The layers are found first, by one abstract trace of the forward pass
    (``jax.eval_shape``); then the classes and patterns select them; then LSUV runs.

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
    include_rules, exclude_rules = _patterns(fn, "include", include), _patterns(fn, "exclude", exclude)

    found = structure.layers(model, batch, params=variables, **kwargs)
    chosen, skipped = _select(fn, [(f.name, f.cls, f.kernel) for f in found if f.cls is not None],
                              types, include_rules, exclude_rules)
    skipped += [Skipped(f.name, "not called on the batch") for f in found if f.cls is None]
    order = _order(found, chosen)

    def forward(tree, x):
        recorded: list[tuple[str, object]] = []
        with structure.capture(model, _recorder(recorded), watch=chosen):
            model.apply(tree, x, **kwargs)
        return recorded

    return run(fn, type(model).__name__, variables, batch, forward, order, chosen,
               skipped, key, tol, max_iters, orthogonal_first, target)


def _recorder(recorded: list[tuple[str, object]]):
    """A capture hook that appends ``(layer, output)`` to ``recorded``."""

    def hook(name: str, y: object) -> object:
        recorded.append((name, y))
        return y

    return hook


def _order(found: list[structure.Layer], chosen: dict[str, str]) -> list[str]:
    """The chosen layers in the order the forward pass makes their outputs."""
    return [f.name for f in sorted((f for f in found if f.order is not None), key=lambda f: f.order)
            if f.name in chosen]


def lsuv_nnx(model: Any, batch: Any, key: KeyArray, *, tol: float = 0.1, max_iters: int = 10,
             orthogonal_first: bool = True, target: float = 1.0,
             layers: Sequence[type] | None = None, include: str | Sequence[str] | None = None,
             exclude: str | Sequence[str] | None = None,
             call_kwargs: Mapping[str, Any] | None = None) -> tuple[Any, Report]:
    r"""LSUV-initializes a ``flax.nnx`` module on a batch (Mishkin & Matas 2016).

    The method of :func:`lsuv_linen` (its formula, defaults, report and errors), for an
    NNX model: :math:`W_l \leftarrow W_l \sqrt{v^\ast / \operatorname{Var}[B_l]}` layer by
    layer in forward order after an orthonormal pre-initialization. Layer outputs are
    captured on a model merged from the graph and a copy of the state, whose selected
    layers report their outputs for the length of each call; the result is a new model
    built from the original graph and the new state, so ``model``, its variables and its
    RNG state are not modified.

    Args:
      model: the ``flax.nnx`` module (call ``model.eval()`` first to measure without
        dropout and with running batch statistics).
      batch: the input passed to ``model(batch, **call_kwargs)``.
      key: the PRNG key of the orthonormal pre-initialization.
      tol, max_iters, orthogonal_first, target: as for :func:`lsuv_linen`.
      layers: the module classes whose ``kernel`` is rescaled; default
        ``(nnx.Linear, nnx.Conv)``.
      include, exclude: regexes on the kernel path as ``jinit.tree.path_str`` writes it for
        ``nnx.state(model)`` (``'blocks/0/attn/proj/kernel'``), as for :func:`lsuv_linen`.
      call_kwargs: extra keyword arguments for the model's call.

    Returns:
      ``(new_model, report)``: a new model of the same type and a :class:`Report`.

    Raises:
      ValueError, TypeError: as for :func:`lsuv_linen`.

    Warns:
      UserWarning: a layer still outside the tolerance after ``max_iters`` rescalings.

    References:
      Mishkin & Matas, "All you need is a good init", ICLR 2016, arXiv:1511.06422.

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

    include_rules, exclude_rules = _patterns(fn, "include", include), _patterns(fn, "exclude", exclude)

    graphdef, state = nnx.split(model)
    state = jax.tree.map(lambda x: x, state)  # fresh Variables: the model's are never touched
    found = structure.layers(model, batch, **kwargs)
    chosen, skipped = _select(fn, [(f.name, f.cls, f.kernel) for f in found], types,
                              include_rules, exclude_rules)
    order = _order(found, chosen)

    def forward(tree, x):
        recorded: list[tuple[str, object]] = []
        module = nnx.merge(graphdef, tree)
        with structure.capture(module, _recorder(recorded), watch=chosen):
            module(x, **kwargs)
        return recorded

    new_state, report = run(fn, type(model).__name__, state, batch, forward, order, chosen,
                             skipped, key, tol, max_iters, orthogonal_first, target)
    return nnx.merge(graphdef, new_state), report
