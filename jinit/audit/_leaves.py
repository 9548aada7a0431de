"""The leaves of whatever a user calls their parameters, named as ``init_tree`` names them."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from jinit import _checks
from jinit.tree import path_str

EXPECTED = ("a linen variables/params dict (boxes such as nn.Partitioned allowed), an nnx.State "
            "or NNX module, an Equinox module, or any pytree of arrays")


def _nnx_params(tree: object) -> object:
    """An NNX module's ``nnx.Param`` state; anything else unchanged."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(tree, nnx.Module):
        return nnx.state(tree, nnx.Param)
    return tree


def flatten(fn: str, arg: str, tree: object) -> list[tuple[str, object]]:
    """``[(path, leaf)]`` in tree order; a leaf is anything with a shape and a dtype.

    Paths are :func:`jinit.tree.path_str` of the key path, so Flax boxes (``Partitioned``,
    ``nnx.Variable``) add nothing to a leaf's name and rules written for ``init_tree`` apply
    unchanged. An NNX module stands for its ``nnx.Param`` state.
    """
    tree = _nnx_params(tree)
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    if not flat:
        raise _checks.fail(fn, arg, tree, "has no leaves", EXPECTED)
    out, seen = [], set()
    for key_path, leaf in flat:
        path = path_str(key_path)
        if isinstance(leaf, (int, float, complex, np.number)) and not isinstance(leaf, bool):
            leaf = np.asarray(leaf)
        if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
            raise _checks.fail(fn, f"{arg}[{path!r}]", leaf, "is not an array", EXPECTED,
                               exc=TypeError)
        if isinstance(leaf, jax.ShapeDtypeStruct):
            raise _checks.fail(fn, f"{arg}[{path!r}]", leaf, "is a shape, not values",
                               "arrays of parameter values",
                               "Audit the initialized tree, e.g. init_tree(key, shapes, rules).",
                               TypeError)
        if path in seen:
            raise _checks.fail(fn, arg, path, "names two leaves", "distinct path strings",
                               "Rename one of the keys (a key containing '/' renders like a "
                               "nested path).")
        seen.add(path)
        out.append((path, leaf))
    return out


def is_floating(leaf: object) -> bool:
    try:
        dt = np.dtype(leaf.dtype)  # type: ignore[attr-defined]
    except TypeError:
        return False  # PRNG key arrays and other extended dtypes
    return bool(jnp.issubdtype(dt, jnp.inexact))


def dtype_name(leaf: object) -> str:
    return str(getattr(leaf, "dtype", "?"))


def sharding_of(leaf: object) -> object:
    """The leaf's sharding when it is a jax array, else ``None`` (default placement)."""
    return getattr(leaf, "sharding", None) if isinstance(leaf, jax.Array) else None
