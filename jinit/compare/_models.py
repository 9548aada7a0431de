"""The model under comparison: how to call it, and how to draw its parameters for one init.

Four kinds of model are understood, each reduced to a pure ``apply(params, x) -> outputs``
and a ``draw(init, key) -> params`` that re-uses the library's own adapters
(:func:`jinit.tree.init_tree`, :func:`jinit.nnx.init`, :func:`jinit.equinox.init`):

* ``flax.linen.Module``: ``model.apply({"params": p, **rest}, x)``; other variable
  collections are kept as ``model.init`` makes them and are not trained.
* ``flax.nnx.Module`` (concrete): ``nnx.merge(graphdef, p, rest)(x)``; only ``nnx.Param``
  state is trained.
* ``equinox.Module``: its inexact array leaves are the parameters, and it is called on one
  example at a time (``jax.vmap`` over the batch), as Equinox layers expect.
* a function ``fn(params, x)`` with ``params=`` given.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, _rules, tree
from .._constant import zeros

FN = "compare.run"

# The last path component of leaves that are never "kernels" although they have >= 2 axes.
_NOT_KERNELS = ("embedding", "bias", "scale", "mean", "var")


def is_kernel(path: str, shape: tuple[int, ...]) -> bool:
    """Whether a leaf is a weight matrix/kernel: a guess from its path and shape alone.

    A leaf is a kernel when it has at least two axes and the last component of its path
    is not one of ``embedding``, ``bias``, ``scale``, ``mean``, ``var``.
    """
    return len(shape) >= 2 and path.rsplit("/", 1)[-1] not in _NOT_KERNELS


@dataclasses.dataclass
class Model:
    """A model reduced to what training needs."""

    kind: str  # "linen", "nnx", "equinox" or "function"
    apply: Callable[[Any, jax.Array], jax.Array]
    draw: Callable[[object, jax.Array], Any]  # (init kind-checked spec, key) -> params


def _flax_kind(model: object) -> str | None:
    """'linen' or 'nnx' if ``model`` is a Flax module (without importing Flax otherwise)."""
    if "flax" not in sys.modules:
        return None
    import flax.linen as nn
    from flax import nnx

    if isinstance(model, nn.Module):
        return "linen"
    if isinstance(model, nnx.Module):
        return "nnx"
    return None


def _is_equinox(model: object) -> bool:
    if "equinox" not in sys.modules:
        return False
    import equinox as eqx

    return isinstance(model, eqx.Module)


def kernel_rule(init: Callable[..., jax.Array]) -> Callable[..., object]:
    """The rule function giving ``init`` to every kernel (:func:`is_kernel`), nothing else."""
    def rule(path: str, shape: tuple[int, ...], dtype: object) -> object:
        return init if is_kernel(path, tuple(shape)) else None

    return rule


def _first(*compiled: _rules.Rules) -> Callable[..., object]:
    """A rule function trying each compiled rule set in order."""
    def rule(path: str, shape: tuple[int, ...], dtype: object) -> object:
        for rules in compiled:
            hit = rules.match(path, tuple(shape), dtype)
            if hit is not None:
                return hit[1]
        return None

    return rule


def _paths(shapes: object) -> list[str]:
    leaves = jax.tree_util.tree_flatten_with_path(shapes)[0]
    return [tree.path_str(p) for p, _ in leaves]


def _report_once(init: _rules.Rules, paths: list[str], reported: set[int]) -> None:
    """Warns once per init (not once per seed) about its rules that matched no leaf."""
    if id(init) not in reported:
        reported.add(id(init))
        init.report_unmatched(paths, arg="inits")


def _keep_unmatched(rule: Callable[..., object], key: jax.Array, given: object) -> object:
    """``init_tree`` on ``given``'s shapes where ``rule`` matches; ``given``'s leaf elsewhere."""
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)), given)
    drawn = tree.init_tree(key, shapes, rule, default=zeros)
    flat, treedef = jax.tree_util.tree_flatten_with_path(given)
    new = jax.tree.leaves(drawn)
    out = [n if rule(tree.path_str(p), tuple(np.shape(a)), jnp.result_type(a)) is not None
           else jnp.asarray(a) for (p, a), n in zip(flat, new, strict=True)]
    return jax.tree.unflatten(treedef, out)


def build(model: object, x0: jax.Array, params: object) -> Model:
    """The :class:`Model` for ``model``; ``x0`` is one training batch of size 1."""
    kind = _flax_kind(model)
    if kind == "linen":
        if params is not None:
            raise _checks.fail(FN, "params", type(params).__name__, "is given for a linen model",
                               "params=None (a linen model's parameters are drawn by each init)",
                               exc=TypeError)
        return _linen(model, x0)
    if kind == "nnx":
        if params is not None:
            raise _checks.fail(FN, "params", type(params).__name__, "is given for an NNX model",
                               "params=None (the NNX model holds its own parameters)",
                               exc=TypeError)
        return _nnx(model)
    if _is_equinox(model):
        return _equinox(model)
    if callable(model):
        if params is None:
            raise _checks.fail(FN, "params", None, "is missing for a function model",
                               "the parameter tree fn(params, x) takes (its shapes and dtypes "
                               "are kept; init=None trains these values)", exc=TypeError)
        return _function(model, params)
    raise _checks.fail(FN, "model", model, "is not a model",
                       "a flax.linen or flax.nnx Module, an equinox.Module, or a function "
                       "fn(params, x) with params=", exc=TypeError)


def _linen(model: Any, x0: jax.Array) -> Model:
    def apply(variables: Any, x: jax.Array) -> jax.Array:
        return model.apply(variables, x)

    declared: list[_rules.Rules] = []
    reported: set[int] = set()

    def draw(init: object, key: jax.Array) -> Any:
        k_model, k_draw = jax.random.split(key)
        variables = dict(model.init(k_model, x0))
        if init is None:
            return variables
        if not declared:  # the model's own declared initializers, traced once
            declared.append(_rules.compile_rules(FN, tree.rules_from(model, x0)))
        user = init if isinstance(init, _rules.Rules) else None
        rule = _first(user, declared[0]) if user is not None else _first(
            _rules.Rules(FN, [], function=init), declared[0])
        shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                              {"params": variables["params"]})
        variables["params"] = tree.init_tree(k_draw, shapes, rule)["params"]
        if user is not None:
            _report_once(user, _paths(shapes), reported)
        return variables

    return Model("linen", apply, draw)


def _nnx(model: Any) -> Model:
    from flax import nnx

    from .. import nnx as jnnx

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    reported: set[int] = set()

    def apply(p: Any, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, p, rest)(x)

    def draw(init: object, key: jax.Array) -> Any:
        if init is None:
            return jax.tree.map(jnp.asarray, params)
        copy = nnx.merge(graphdef, params, rest)
        rules = init if not isinstance(init, _rules.Rules) else _first(init)
        jnnx.init(copy, rules, key)
        if isinstance(init, _rules.Rules):
            _report_once(init, _paths(params), reported)
        return nnx.split(copy, nnx.Param, ...)[1]

    return Model("nnx", apply, draw)


def _equinox(model: Any) -> Model:
    import equinox as eqx

    from .. import equinox as jeqx

    params, static = eqx.partition(model, eqx.is_inexact_array)
    reported: set[int] = set()

    def apply(p: Any, x: jax.Array) -> jax.Array:
        return jax.vmap(eqx.combine(p, static))(x)

    def draw(init: object, key: jax.Array) -> Any:
        if init is None:
            return params
        rules = init if not isinstance(init, _rules.Rules) else _first(init)
        new = jeqx.init(model, rules, key)
        if isinstance(init, _rules.Rules):
            _report_once(init, _paths(params), reported)
        return eqx.partition(new, eqx.is_inexact_array)[0]

    return Model("equinox", apply, draw)


def _function(fn: Callable[..., jax.Array], params: object) -> Model:
    leaves = jax.tree.leaves(params)
    reported: set[int] = set()
    if not leaves:
        raise _checks.fail(FN, "params", params, "has no array leaves",
                           "the parameter pytree fn(params, x) takes")

    def apply(p: Any, x: jax.Array) -> jax.Array:
        return fn(p, x)

    def draw(init: object, key: jax.Array) -> Any:
        if init is None:
            return jax.tree.map(jnp.asarray, params)
        rule = _first(init) if isinstance(init, _rules.Rules) else init
        out = _keep_unmatched(rule, key, params)
        if isinstance(init, _rules.Rules):
            _report_once(init, _paths(params), reported)
        return out

    return Model("function", apply, draw)


# ------------------------------------------------------------------------- init specs


INIT_EXPECTED = ("None (the model's own default), an initializer init(key, shape, dtype) "
                 "(applied to kernels), rules {regex: initializer}, a recipe from "
                 "jinit.recipes, or 'auto'")


def resolve(name: str, value: object) -> object:
    """An init value as ``None``, a rule function (for an initializer) or compiled rules.

    ``"auto"`` becomes the string itself, handled by :func:`draw_auto`.
    """
    arg = f"inits[{name!r}]"
    if value is None:
        return None
    if isinstance(value, str):
        if value != "auto":
            raise _checks.fail(FN, arg, value, "is not a known init name", INIT_EXPECTED)
        try:
            import jinit.auto  # noqa: F401
        except ImportError as e:
            if getattr(e, "name", None) not in ("jinit.auto",):
                raise
            raise _checks.fail(FN, arg, value, "is not available yet: this jinit has no "
                               "jinit.auto module", INIT_EXPECTED.replace(", or 'auto'", ""),
                               exc=ValueError) from None
        return "auto"
    if isinstance(value, Mapping) or hasattr(value, "__jinit_rules__") or (
            isinstance(value, Sequence) and not isinstance(value, (str, bytes))):
        # A recipe stands for its rule function; a bare function would be an initializer.
        return _rules.compile_rules(FN, value, arg=arg,
                                    allow_function=hasattr(value, "__jinit_rules__"),
                                    expected=INIT_EXPECTED)
    if callable(value):
        _rules.check_initializer(FN, arg, value)
        return kernel_rule(value)
    raise _checks.fail(FN, arg, value, "is not an init", INIT_EXPECTED, exc=TypeError)


def draw_auto(model: object, m: Model, key: jax.Array, x0: jax.Array) -> Any:
    """Parameters from ``jinit.auto.init(model, key, x0)``, in the form ``m.apply`` takes."""
    import jinit.auto

    made, _ = jinit.auto.init(model, key, x0)
    if m.kind == "linen":
        return made if "params" in made else {"params": made}
    if m.kind == "nnx":
        from flax import nnx

        return nnx.split(made, nnx.Param, ...)[1]
    if m.kind == "equinox":
        import equinox as eqx

        return eqx.partition(made, eqx.is_inexact_array)[0]
    return made
