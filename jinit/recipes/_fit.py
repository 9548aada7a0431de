"""A recipe fitted to a traced model (:meth:`jinit.recipes.Recipe.fit`): each leaf's
traced use against what the recipe assumed from its name and shape, adapted or refused.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

from .. import _checks
from .._typing import Array
from ._recipe import Leaf, Recipe, Spec


class RecipeRules:
    """The rule function a recipe stands for, carrying the recipe's ``__jinit_fit__``."""

    __slots__ = ("recipe",)

    def __init__(self, recipe: Recipe):
        self.recipe = recipe

    def __call__(self, path: str, shape: tuple[int, ...], dtype: object = None
                 ) -> Callable[..., Array]:
        return self.recipe.initializer_for(path, shape, dtype)

    def __jinit_fit__(self, structure: object) -> Recipe:
        return self.recipe.fit(structure)

    def __repr__(self) -> str:
        return f"{self.recipe!r}.initializer_for"


ZERO_FOR_OFFSET = Spec("zeros", "0 (the model computes x·(1 + scale); recipe: 1)",
                        lambda leaf: _zeros(), lambda layer: None)


def _zeros() -> Callable[..., Array]:
    from .. import _constant

    return _constant.zeros


def use_for(structure: object, path: str, shape: tuple[int, ...]) -> object:
    """The traced use of ``path`` when ``structure`` has one for a leaf of this shape."""
    if structure is None:
        return None
    use = structure.lookup(path)
    if use is None or use.source != "trace" or tuple(use.shape) != tuple(shape):
        return None
    return use


def use_key(use: object) -> tuple[object, ...] | None:
    if use is None:
        return None
    return (use.op, use.in_axes, use.out_axes, use.batch_axes, use.fan_in, use.fan_out,
            use.offset)


def slice_use(use: object, axis: int) -> object:
    """``use`` for one slice along a scanned stack's ``axis`` (a batch axis of the use)."""
    if use is None or axis not in use.batch_axes:
        return None

    def renum(axes):
        return tuple(a - (a > axis) for a in axes if a != axis)

    shape = tuple(d for k, d in enumerate(use.shape) if k != axis)
    return dataclasses.replace(use, shape=shape, in_axes=renum(use.in_axes),
                               out_axes=renum(use.out_axes), batch_axes=renum(use.batch_axes))


def axes_text(axes: object) -> str:
    return str(tuple(axes)) if isinstance(axes, (tuple, list)) else f"({axes},)"


def fit_one(recipe: Recipe, spec: Spec, path: str, use: object, role: str, kind: str
             ) -> tuple[str | None, str | None]:
    """``(change, misfit)`` of one leaf against its traced use (either may be ``None``)."""
    from .. import _constant
    from ._specs import fan_axes, fans

    layer = recipe.layer_of(path)
    stacked = layer is None and recipe.scan_axis is not None and bool(recipe._stack.search(path))
    shape = tuple(use.shape)
    if stacked and -len(shape) <= recipe.scan_axis < len(shape):
        axis = recipe.scan_axis % len(shape)
        use = slice_use(use, axis) or use
        shape = tuple(use.shape)
    if use.offset:
        if spec.init == "ones" and use.offset == 1.0:
            return "ones → zeros: the model computes x·(1 + scale)", None
        if spec.init == "ones":
            return None, (f"the model computes x·({use.offset:g} + scale), so the recipe's "
                          f"scale of 1 starts the layer at {use.offset + 1:g}, not 1")
        if use.offset == 1.0 and "[overridden]" in spec.init:
            made = spec.make(Leaf(path, shape, role, kind, layer, recipe.n_layer,
                                  recipe.layout, use))
            if made is _constant.ones:
                return None, ("given ones by overrides=, but the model computes "
                              "x·(1 + scale), which then starts at 2, not 1")
    if not use.contraction or use.op == "gather" or len(shape) < 2:
        return None, None
    if spec.fan_in is not None and use.fan_in is not None and use.fan_in != spec.fan_in:
        return None, (f"its std ({spec.formula}) is computed for a fan-in of "
                      f"{spec.fan_in:g}, but the model contracts {use.fan_in:g} (axes "
                      f"{axes_text(use.in_axes)} of {shape})")
    if not spec.fans:
        return None, None
    bare = Leaf(path, shape, role, kind, layer, recipe.n_layer, recipe.layout)
    try:
        guess_axes = fan_axes(bare)
        guess = fans(bare)
    except ValueError:
        guess_axes = guess = None
    traced = (use.fan_in, use.fan_out)
    if guess is not None and tuple(float(f) for f in guess) == traced:
        return None, None
    was = "refused by name and shape" if guess is None else (
        f"guessed in {axes_text(guess_axes[0])}, out {axes_text(guess_axes[1])}: "
        f"fans {guess[0]:g}, {guess[1]:g}")
    if use.expressible:
        return (f"fans {traced[0]:g}, {traced[1]:g} from the trace (in "
                f"{axes_text(use.in_axes)}, out {axes_text(use.out_axes)}, batch "
                f"{axes_text(use.batch_axes)}); {was}"), None
    return None, (f"contracted over a slice with fans {traced[0]:g}, {traced[1]:g}, which no "
                  f"choice of whole axes expresses, and the layout is {was}")


def fit(recipe: Recipe, structure: object) -> Recipe:
    """:meth:`Recipe.fit`: a copy of ``recipe`` fitted to ``structure``, or one error."""
    from ..structure import Structure

    fn = f"{recipe._fn}.fit"
    if not isinstance(structure, Structure):
        raise _checks.fail(fn, "structure", structure, "is not a jinit.structure.Structure",
                           "what jinit.structure.trace(model, *args) returns",
                           exc=TypeError)
    out = copy.copy(recipe)
    out._made = {}
    out.structure = structure
    changes, misfits = [], []
    for path, use in structure.items():
        found = recipe.role_of(path)
        if found is None:
            continue
        role, kind = found
        try:
            spec = recipe._spec(role, kind, path)
        except ValueError:
            continue
        change, why = fit_one(recipe, spec, path, use, role, kind)
        if why:
            misfits.append(f"{path!r} ({role}): {why}")
        elif change:
            changes.append(f"{path} ({role}): {change}")
    if misfits:
        raise ValueError(_checks.message(
            fn, "structure", structure, f"contradicts this recipe at {len(misfits)} "
            "leaf path(s)", "a model whose leaves are used as the recipe assumes",
            "Fix the recipe's sizes (d_model=, d_ff=), map the leaves to another role "
            "with roles={regex: role}, or give them an initializer with "
            "overrides={role: initializer}. The leaves:\n  " + "\n  ".join(misfits)))
    out.fitted = tuple(changes)
    return out
