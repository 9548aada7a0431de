r"""Initialize a ``flax.nnx`` model with jinit rules in one call, sharded or not.

:func:`init` takes a concrete NNX model (initialized in place) or the abstract one
``nnx.eval_shape(lambda: Model(..., rngs=nnx.Rngs(0)))`` returns (nothing allocated yet),
draws every ``nnx.Param`` that the rules match through :func:`jinit.tree.init_tree`, and
gives the other variables what the model's own code would: RNG keys and counters
(``nnx.Dropout``, stored ``nnx.Rngs``) fresh keys and zero counts, ``nnx.BatchNorm``
statistics zeros (``mean``) and ones (``var``). Rules match the paths
``jinit.tree.path_str`` gives the entries of ``nnx.state(model)`` (``'blocks/0/mlp/kernel'``:
no ``/value`` suffix), which are the paths ``init_tree`` sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import _checks, _rules
from . import structure as _structure
from ._typing import Array, KeyArray
from .tree import init_tree, leaf_key

__all__ = ["init"]

_FN = "nnx.init"


def _abstract(x: object) -> bool:
    return isinstance(x, jax.ShapeDtypeStruct)


def _shape_dtype(var: object) -> tuple[tuple[int, ...], object]:
    (leaf,) = jax.tree.leaves(var)
    return tuple(leaf.shape), leaf.dtype


def _batchnorm_prefixes(nnx: Any, model: Any) -> set[str]:
    return {"/".join(str(p) for p in path) for path, node in nnx.iter_graph(model)
            if isinstance(node, nnx.BatchNorm)}


def _fresh(nnx: Any, key: KeyArray, path: str, var: Any, leaf: jax.ShapeDtypeStruct,
           batchnorm: set[str], mesh: Mesh | None) -> Array:
    """The value the model's own code gives a non-Param variable, built from its abstract."""
    shape, dtype = tuple(leaf.shape), leaf.dtype
    parent, _, name = path.rpartition("/")
    if isinstance(var, nnx.RngKey):
        def make():
            k = leaf_key(key, path)
            if not jnp.issubdtype(k.dtype, jax.dtypes.prng_key):
                k = jax.random.wrap_key_data(k)
            return k if shape == () else jax.random.split(k, shape)
        if jax.eval_shape(make).dtype != dtype:
            raise _checks.fail(_FN, "key", key, f"makes {jax.eval_shape(make).dtype} keys, but "
                               f"the RNG key at {path!r} is {dtype}", f"a key of kind {dtype}",
                               "Pass a key made with the same PRNG implementation.", TypeError)
    elif isinstance(var, nnx.RngCount):
        def make():
            return jnp.zeros(shape, dtype)
    elif isinstance(var, nnx.BatchStat) and parent in batchnorm and name in ("mean", "var"):
        def make():  # flax/nnx/nn/normalization.py: BatchNorm.mean zeros, .var ones
            return (jnp.zeros if name == "mean" else jnp.ones)(shape, dtype)
    else:
        raise _checks.fail(
            _FN, f"model_or_abstract[{path!r}]", leaf,
            f"is an abstract {type(var).__name__} (not a Param) whose initial value jinit "
            "cannot know", "abstract Params, RNG state and nnx.BatchNorm statistics",
            "Build the model concretely (Model(..., rngs=nnx.Rngs(0))) and pass it: "
            "its own values are kept and only the Params are re-initialized.")
    sharding = None
    if mesh is not None:
        spec = leaf.sharding.spec if isinstance(getattr(leaf, "sharding", None),
                                                NamedSharding) else PartitionSpec()
        sharding = NamedSharding(mesh, spec)
    return jax.jit(make, out_shardings=sharding)()


def init(model_or_abstract: Any, rules: object, key: KeyArray, *,
         default: Callable[..., Array] | None = None, mesh: Mesh | None = None,
         strict: bool = False, structure: Any = None) -> Any:
    r"""Initializes an NNX model's Params by rules, in place or from ``nnx.eval_shape``.

    Each ``nnx.Param`` leaf at path :math:`p` that a rule matches (or every one, with
    ``default``) gets

    .. math::

        w_p = f_p\bigl(\texttt{leaf_key}(k, p),\ s_p,\ d_p\bigr),

    exactly as :func:`jinit.tree.init_tree` draws it, where :math:`f_p` is the first rule
    matching :math:`p`, :math:`s_p, d_p` the Param's shape and dtype, and :math:`k` is
    ``key``; so a leaf's values depend only on the key and its path, not on the rest of the
    model or the sharding.

    * **A concrete model** is updated in place (``nnx.update``): matched Params are
      redrawn, every other variable (unmatched Params, BatchNorm statistics, RNG keys and
      counts, caches) is kept as the model made it, and each redrawn Param keeps its
      current sharding (or takes ``mesh``'s).
    * **An abstract model** (``nnx.eval_shape``) becomes a new model: every Param needs a
      rule or ``default``; RNG keys are drawn from ``key`` (at ``leaf_key(key, path)``),
      RNG counts are zero, ``nnx.BatchNorm`` ``mean``/``var`` are zeros/ones; any other
      abstract variable is an error naming it.

    With ``mesh``, each Param is written shard by shard on the devices that hold it, with
    the partition spec of its ``nnx.with_partitioning`` metadata (replicated if it has
    none), so no full-size leaf is ever built on one device.

    Args:
      model_or_abstract: an ``nnx.Module``, concrete or from ``nnx.eval_shape``.
      rules: as for :func:`jinit.tree.init_tree`, matched against the Params' paths.
      key: the root PRNG key.
      default: the initializer for Params no rule matches; ``None`` keeps them (concrete)
        or makes them an error (abstract).
      mesh: a ``jax.sharding.Mesh`` to place Params (and created variables) on.
      strict: raise ``ValueError`` (instead of warning) for a rule that matches no Param.
      structure: ``jinit.structure.trace(model, *args)``: fan axes read from the model's
        computation (``nnx.Einsum`` kernels included), as for :func:`jinit.tree.init_tree`.

    Returns:
      The model: ``model_or_abstract`` itself, updated, when it is concrete; a new model
      otherwise.

    Raises:
      ValueError: an abstract Param no rule matches and no ``default``; an abstract
        non-Param variable of unknown meaning; errors of :func:`jinit.tree.init_tree`.
      TypeError: not an ``nnx.Module``; a bad key, rule or mesh.

    References:
      Flax NNX documentation, "Scale up on multiple devices" (``nnx.eval_shape``,
      ``nnx.with_partitioning``); ``flax/nnx/nn/normalization.py`` (BatchNorm's initial
      statistics), ``flax/nnx/rnglib.py`` (RngKey, RngCount) (google/flax).

    Example:
      >>> import jax, jinit, jinit.nnx
      >>> from flax import nnx
      >>> class Net(nnx.Module):
      ...     def __init__(self, rngs):
      ...         self.hidden = nnx.Linear(16, 64, rngs=rngs)
      ...         self.drop = nnx.Dropout(0.1, rngs=rngs)
      ...         self.out = nnx.Linear(64, 4, rngs=rngs)
      ...     def __call__(self, x):
      ...         return self.out(self.drop(jax.nn.relu(self.hidden(x))))
      >>> abstract = nnx.eval_shape(lambda: Net(nnx.Rngs(0)))
      >>> net = jinit.nnx.init(abstract, {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros},
      ...                      jax.random.key(1))
      >>> int(net.drop.rngs.count[...]), net(jax.numpy.ones((2, 16))).shape
      (0, (2, 4))
    """
    from flax import nnx

    if not isinstance(model_or_abstract, nnx.Module):
        raise _checks.fail(_FN, "model_or_abstract", model_or_abstract, "is not an nnx.Module",
                           "a flax.nnx module, or nnx.eval_shape(lambda: Model(...))",
                           exc=TypeError)
    _checks.key(_FN, key)
    if mesh is not None and not isinstance(mesh, Mesh):
        raise _checks.fail(_FN, "mesh", mesh, "is not a Mesh", "a jax.sharding.Mesh or None",
                           exc=TypeError)
    model = model_or_abstract
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    abstract = any(_abstract(x) for x in jax.tree.leaves((params, rest)))

    def is_var(x):
        return isinstance(x, nnx.Variable)

    flat, treedef = jax.tree_util.tree_flatten_with_path(params, is_leaf=is_var)
    paths = [_rules.path_str(kp) for kp, _ in flat]
    if abstract:
        chosen = paths
    else:  # in place: only what a rule (or default) covers is redrawn
        compiled = _rules.compile_rules(_FN, rules)
        compiled.check_paths(paths)
        chosen = [p for p, (_, v) in zip(paths, flat, strict=True)
                  if default is not None or compiled.match(p, *_shape_dtype(v))]
        if not chosen:
            compiled.report_unmatched(paths, strict=strict)
            return model
    selected = {p: v for p, (_, v) in zip(paths, flat, strict=True) if p in set(chosen)}
    if mesh is not None:
        shardings: object = mesh
    elif not abstract:
        shardings = {p: jax.tree.leaves(v)[0].sharding for p, v in selected.items()}
    else:
        shardings = None
    with _structure.warn_once(_FN, structure, rules, default,
                        [(p, *_shape_dtype(v)) for p, v in selected.items()]):
        drawn = init_tree(key, selected, rules, default=default, shardings=shardings,
                          strict=strict, structure=structure)
    new_params = jax.tree.unflatten(treedef, [drawn.get(p, v) for p, (_, v)
                                              in zip(paths, flat, strict=True)])
    if not abstract:
        nnx.update(model, new_params)
        return model

    batchnorm = _batchnorm_prefixes(nnx, model)
    rest_flat, rest_def = jax.tree_util.tree_flatten_with_path(rest, is_leaf=is_var)
    new_rest = []
    for kp, var in rest_flat:
        path = _rules.path_str(kp)
        (leaf,) = jax.tree.leaves(var)
        value = _fresh(nnx, key, path, var, leaf, batchnorm, mesh) if _abstract(leaf) else leaf
        new_rest.append(jax.tree.unflatten(jax.tree.structure(var), [value]))
    return nnx.merge(graphdef, new_params, jax.tree.unflatten(rest_def, new_rest))
