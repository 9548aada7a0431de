"""Fans from a structure, where a fan is decided: initializers rebuilt with the traced axes."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping

from .. import _checks, _fans, _variance
from .._base import public
from ._guess import guess
from ._use import Use


@public("jinit.structure")
class AmbiguousFanWarning(UserWarning):
    """Leaves whose fans a shape cannot settle were given fans from their shape alone.

    A rank ≥ 3 weight may be a convolution ``(*window, in, out)``, a DenseGeneral or einsum
    kernel (``(d_model, heads, head_dim)``: fan-in ``d_model``), a stack of layers or
    per-head weights (a batch axis). Without a :class:`jinit.structure.Structure` jinit
    takes jax's default (the last two axes are in and out, the others a window), which is
    right only for the first. Pass ``structure=jinit.structure.trace(model, x)``, or give
    the initializer its axes (``in_axis=``, ``out_axis=``, ``batch_axis=``).
    """


def _default_axes(init: object) -> bool:
    axes = _variance.fan_axes(init)
    return axes is not None and _same_axes(axes, _variance.DEFAULT_AXES)


def _same_axes(a: tuple, b: tuple) -> bool:
    def norm(x):
        return tuple(x) if isinstance(x, (tuple, list)) else (x,)
    return all(norm(x) == norm(y) for x, y in zip(a, b, strict=True))


@public("jinit.structure")
def fit(init: Callable, use: Use | None, shape: tuple[int, ...] | None = None) -> Callable:
    """``init`` with the fan axes of ``use``, when it reads fans and was left at its defaults.

    A variance-scaling initializer (the Glorot/He/LeCun family, ``variance_scaling``, the
    presets built on it) whose axes are jax's defaults is rebuilt with ``use.in_axes``,
    ``use.out_axes`` and ``use.batch_axes`` when ``use`` was traced, is a contraction over
    whole axes (:attr:`Use.expressible`) and its fans differ from the default ones.
    Anything else, an initializer given explicit axes included, is returned as it is.
    """
    if use is None or use.source != "trace" or not use.expressible or not _default_axes(init):
        return init
    shape = tuple(use.shape) if shape is None else tuple(shape)
    if shape != tuple(use.shape):
        return init
    try:
        default = _fans.fans("structure.fit", shape, -2, -1, ())
    except (ValueError, TypeError):
        default = None
    if default == (use.fan_in, use.fan_out) and not use.batch_axes:
        return init
    return _variance.with_axes(init, use.in_axes, use.out_axes, use.batch_axes)


class FittedRules:
    """Compiled rules whose matches (and ``default``) are :func:`fit` to a structure.

    Stands in for :class:`jinit._rules.Rules` (``match``, ``report_unmatched`` …): a leaf no
    rule matches gets ``default`` fitted to its use, so callers see no ``None`` for it.
    """

    def __init__(self, rules: object, structure: Mapping[str, Use], default: Callable | None):
        self._rules = rules
        self._structure = structure
        self._default = default

    def match(self, path: str, shape: tuple[int, ...] = (), dtype: object = None):
        found = self._rules.match(path, shape, dtype)
        if found is None:
            if self._default is None:
                return None
            found = (f"default={self._default!r}", self._default)
        label, value = found
        return label, fit(value, self._structure.lookup(path), shape)

    def __getattr__(self, name: str) -> object:
        return getattr(self._rules, name)


def fit_rules(fn: str, rules: object, structure: Mapping[str, Use] | None,
              default: Callable | None = None) -> object:
    """``rules`` (compiled) fitted to ``structure``; ``rules`` itself when there is none.

    A rule set that knows more than fan axes receives the structure first: a rules function
    with a ``__jinit_fit__(structure)`` method (what a :class:`jinit.recipes.Recipe` stands
    for) is replaced by the rules that method returns (the recipe :meth:`fitted
    <jinit.recipes.Recipe.fit>` to the model, or its error listing every misfit leaf).
    """
    if structure is None:
        return rules
    from ._trace import Structure

    if not isinstance(structure, Structure):
        raise _checks.fail(fn, "structure", structure, "is not a jinit.structure.Structure",
                           "what jinit.structure.trace(model, *args) returns, or None",
                           exc=TypeError)
    hook = getattr(getattr(rules, "function", None), "__jinit_fit__", None)
    if callable(hook):
        from .._rules import compile_rules

        rules = compile_rules(fn, hook(structure))
    return FittedRules(rules, structure, default)


DEFAULT = None
"""In :func:`ambiguous`'s leaves, in place of an initializer: fans taken on jax's default
axes (the last two) by a caller without initializers (:func:`jinit.mup.plan`)."""


def ambiguous(leaves: Iterable[tuple[str, tuple[int, ...], Callable | None]]) -> list[str]:
    """Paths of leaves given default-axis fans (an initializer left at its default axes, or
    :data:`DEFAULT`) whose shape cannot settle them: :func:`guess`'s ``assumed`` (rank ≥ 3,
    not shaped like a convolution)."""
    return [path for path, shape, init in leaves
            if len(shape) >= 3 and (init is DEFAULT or _default_axes(init))
            and guess(shape).assumed is not None]


def warn_unfitted(fn: str, rules: object, default: Callable | None,
                  leaves: Iterable[tuple[str, tuple[int, ...], object]],
                  stacklevel: int = 4) -> None:
    """:func:`warn_ambiguous` for ``(path, shape, dtype)`` leaves matched by compiled
    ``rules`` (``default`` for the unmatched), as :func:`jinit.tree.init_tree` draws them."""
    found = []
    for path, shape, dtype in leaves:
        try:
            hit = rules.match(path, shape, dtype)
        except (ValueError, TypeError):  # the caller raises it where it draws or audits
            continue
        init = default if hit is None else hit[1]
        if init is not None:
            found.append((path, shape, init))
    warn_ambiguous(fn, found, stacklevel=stacklevel)


class _Quiet:
    """Silences :class:`AmbiguousFanWarning` inside (a callee that would warn again)."""

    def __enter__(self) -> None:
        self._saved = warnings.catch_warnings()
        self._saved.__enter__()
        warnings.simplefilter("ignore", AmbiguousFanWarning)

    def __exit__(self, *exc: object) -> None:
        self._saved.__exit__(*exc)


def warn_once(fn: str, structure: object, rules: object, default: Callable | None,
              leaves: Iterable[tuple[str, tuple[int, ...], object]]) -> _Quiet:
    """Warns as ``fn`` (without a structure: :func:`warn_unfitted`) and returns a context
    in which the function ``fn`` delegates to (:func:`jinit.tree.init_tree`) does not warn
    again, so one call gives one warning named after the function the user called."""
    if structure is None:
        from .._rules import compile_rules

        warn_unfitted(fn, compile_rules(fn, rules), default, leaves, stacklevel=5)
    return _Quiet()


def warn_ambiguous(fn: str, leaves: Iterable[tuple[str, tuple[int, ...], Callable | None]],
                   stacklevel: int = 3, fix: str = "give the initializers "
                   "in_axis=/out_axis=/batch_axis=") -> None:
    """One :class:`AmbiguousFanWarning` listing the leaves :func:`ambiguous` finds."""
    leaves = [(p, tuple(s), i) for p, s, i in leaves]
    found = ambiguous(leaves)
    if not found:
        return
    shapes = {p: s for p, s, _ in leaves}
    shown = ", ".join(f"{p!r} {shapes[p]}" for p in found[:8])
    more = f" and {len(found) - 8} more" if len(found) > 8 else ""
    warnings.warn(
        f"{fn}(): the fans of {len(found)} leaves come from their shape alone, which cannot "
        f"settle them: {shown}{more}. Their fans take the last two axes as (in, out) "
        "and the others as a convolution window. Pass structure=jinit.structure.trace(model, "
        f"*args) to read the fans from the model's computation, or {fix}.",
        AmbiguousFanWarning, stacklevel=stacklevel)
