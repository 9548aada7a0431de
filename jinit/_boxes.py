"""Flax's metadata boxes and the shardings of a tree's leaves, as :func:`jinit.tree.init_tree`
reads them: a box's declared partition spec, and one sharding per leaf from a mesh or a pytree.
"""

from __future__ import annotations

import sys

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec, Sharding

from . import _checks


def is_box(x: object) -> bool:
    """A Flax metadata box (linen ``Partitioned``, nnx ``Variable``), if Flax is loaded."""
    meta = sys.modules.get("flax.core.meta")
    if meta is not None and isinstance(x, meta.AxisMetadata):
        return True
    variablelib = sys.modules.get("flax.nnx.variablelib")
    return variablelib is not None and isinstance(x, variablelib.Variable)


def is_leaf(x: object) -> bool:
    return isinstance(x, jax.ShapeDtypeStruct) or is_box(x)


def box_spec(box: object) -> PartitionSpec | None:
    """The mesh partition spec a Flax box declares, or ``None`` if it declares none."""
    meta = sys.modules.get("flax.core.meta")
    if meta is not None and isinstance(box, meta.Partitioned):
        spmd = sys.modules.get("flax.linen.spmd")
        if spmd is not None and isinstance(box, spmd.LogicallyPartitioned):
            return spmd.logical_to_mesh_axes(box.names, box.rules)
        return box.get_partition_spec()
    get_metadata = getattr(box, "get_metadata", None)
    if callable(get_metadata):
        info = get_metadata()
        for name in ("out_sharding", "sharding_names", "sharding"):
            names = info.get(name)
            if names is not None:
                return names if isinstance(names, PartitionSpec) else PartitionSpec(*names)
    return None


# ------------------------------------------------------------------------- shardings


def sharding_leaves(fn: str, shardings: object, plain: object, boxes: list[object],
                    leaves: list[jax.ShapeDtypeStruct], paths: list[str]) -> list[object] | None:
    """One sharding (or ``None``) per leaf, from a mesh, a pytree, or a pytree prefix."""
    if shardings is None:
        return None
    if isinstance(shardings, Mesh):
        out = []
        for box, leaf in zip(boxes, leaves, strict=True):
            spec = box_spec(box) if box is not None else None
            if spec is None and isinstance(getattr(leaf, "sharding", None), NamedSharding):
                spec = leaf.sharding.spec
            out.append(NamedSharding(shardings, spec if spec is not None else PartitionSpec()))
        return out

    def is_spec(x):
        return x is None or isinstance(x, (Sharding, PartitionSpec))

    try:
        full = jax.tree.broadcast(shardings, plain, is_leaf=is_spec)
        flat = jax.tree.structure(plain).flatten_up_to(full)
    except (ValueError, TypeError) as e:
        raise _checks.fail(fn, "shardings", shardings, "does not match the structure of shapes",
                           "a Mesh, or a pytree (or pytree prefix) of shapes' structure with "
                           f"Sharding or None leaves ({e})") from None
    for path, s in zip(paths, flat, strict=True):
        if not is_spec(s):
            raise _checks.fail(fn, f"shardings[{path!r}]", s, "is not a sharding",
                               "a jax.sharding.Sharding (e.g. NamedSharding), PartitionSpec or None",
                               exc=TypeError)
    return list(flat)


def check_sharding(fn: str, path: str, sharding: object, leaf: jax.ShapeDtypeStruct) -> None:
    if not isinstance(sharding, Sharding):
        return
    try:
        sharding.shard_shape(tuple(leaf.shape))
    except (ValueError, TypeError) as e:
        raise _checks.fail(fn, f"shardings[{path!r}]", sharding,
                           f"does not fit the leaf's shape {tuple(leaf.shape)} ({e})",
                           "a sharding whose spec has at most one entry per axis") from None
