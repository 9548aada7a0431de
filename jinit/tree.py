r"""Initialize a whole parameter tree with jitted, optionally sharded draws.

:func:`init_tree` takes the *abstract* parameters of a model — a pytree of
``jax.ShapeDtypeStruct`` from ``jax.eval_shape(model.init, ...)`` (Flax linen, with or
without ``nn.with_partitioning`` boxes) or the ``nnx.State`` of ``nnx.eval_shape`` — and a
set of rules that say which initializer each leaf gets (by a regular expression on the
leaf's path, or by a function of path, shape and dtype). Leaves that share an
initializer, shape, dtype and sharding share one compiled program (the identical blocks
of a transformer compile once), which writes each leaf straight into its own buffer;
given shardings (or a mesh and the model's partitioning metadata) it writes each shard on
the device that holds it, so no host ever builds a full-size array.

Each leaf's key depends only on the root key and the leaf's own path (:func:`leaf_key`):
adding, removing or reordering other leaves never changes a leaf's values, and the same
call gives the same values on one device, on a mesh, or across processes.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, Sharding

from . import _checks, _rules
from ._rules import UnmatchedRuleWarning, path_str
from ._typing import Array, DTypeLike, KeyArray

__all__ = ["UnmatchedRuleWarning", "init_tree", "leaf_key", "path_str"]

Rule = Callable[[str, tuple[int, ...], np.dtype], Callable[..., Array] | None]
Rules = Mapping[str, Callable[..., Array]] | Sequence[tuple[str, Callable[..., Array]]] | Rule


# ----------------------------------------------------------------------------- paths


def _digest(path: str) -> tuple[int, int]:
    h = hashlib.blake2b(path.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h[:4], "little"), int.from_bytes(h[4:], "little")


def leaf_key(key: KeyArray, path: str) -> KeyArray:
    r"""The key :func:`init_tree` uses for the leaf at ``path``.

    .. math::

        k_\text{leaf} = \operatorname{fold\_in}\bigl(\operatorname{fold\_in}(k, h_0), h_1\bigr),
        \qquad (h_0, h_1) = \text{BLAKE2b-64}(\text{path})

    where :math:`k` is the root key and :math:`h_0, h_1` are the two little-endian 32-bit
    halves of the 8-byte BLAKE2b digest of the UTF-8 path string. The digest is stable
    across processes and Python versions (unlike the salted built-in ``hash``), and 64 bits
    make an accidental collision between two paths of one model negligible (probability
    about :math:`n^2/2^{65}` for :math:`n` leaves).

    Args:
      key: the root PRNG key (typed or legacy).
      path: the leaf's path string (see :func:`path_str`).

    Returns:
      A key of the same kind as ``key``.

    References:
      Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011
      (counter-based generation, which ``fold_in`` relies on); Aumasson et al., BLAKE2,
      RFC 7693, 2015.

    Example:
      >>> import jax
      >>> from jinit.tree import leaf_key
      >>> a = leaf_key(jax.random.key(0), "params/Dense_0/kernel")
      >>> b = leaf_key(jax.random.key(0), "params/Dense_1/kernel")
      >>> bool((jax.random.key_data(a) != jax.random.key_data(b)).any())
      True
    """
    h0, h1 = _digest(path)
    return jax.random.fold_in(jax.random.fold_in(key, np.uint32(h0)), np.uint32(h1))


def _draw(init: Callable[..., Array], shape: tuple[int, ...], dtype: np.dtype,
          key: KeyArray, digest: Array) -> Array:
    """One leaf: ``init`` at the key :func:`leaf_key` derives from ``digest`` (traced, so
    leaves that share an initializer, shape and dtype share one compiled program)."""
    with jax.named_scope("jinit.init_tree"):
        leaf = jax.random.fold_in(jax.random.fold_in(key, digest[0]), digest[1])
        return init(leaf, shape, dtype)


def _hashable(x: object) -> object:
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return x


# ----------------------------------------------------------------------- flax boxes


def _is_box(x: object) -> bool:
    """A Flax metadata box (linen ``Partitioned``, nnx ``Variable``), if Flax is loaded."""
    meta = sys.modules.get("flax.core.meta")
    if meta is not None and isinstance(x, meta.AxisMetadata):
        return True
    variablelib = sys.modules.get("flax.nnx.variablelib")
    return variablelib is not None and isinstance(x, variablelib.Variable)


def _is_leaf(x: object) -> bool:
    return isinstance(x, jax.ShapeDtypeStruct) or _is_box(x)


def _box_spec(box: object) -> PartitionSpec | None:
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


# ---------------------------------------------------------------------------- rules


# ------------------------------------------------------------------------- shardings


def _sharding_leaves(fn: str, shardings: object, plain: object, boxes: list[object],
                     leaves: list[jax.ShapeDtypeStruct], paths: list[str]) -> list[object] | None:
    """One sharding (or ``None``) per leaf, from a mesh, a pytree, or a pytree prefix."""
    if shardings is None:
        return None
    if isinstance(shardings, Mesh):
        out = []
        for box, leaf in zip(boxes, leaves, strict=True):
            spec = _box_spec(box) if box is not None else None
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


def _check_sharding(fn: str, path: str, sharding: object, leaf: jax.ShapeDtypeStruct) -> None:
    if not isinstance(sharding, Sharding):
        return
    try:
        sharding.shard_shape(tuple(leaf.shape))
    except (ValueError, TypeError) as e:
        raise _checks.fail(fn, f"shardings[{path!r}]", sharding,
                           f"does not fit the leaf's shape {tuple(leaf.shape)} ({e})",
                           "a sharding whose spec has at most one entry per axis") from None


# ---------------------------------------------------------------------- init_tree


def init_tree(key: KeyArray, shapes: object, rules: Rules | None, *,
              default: Callable[..., Array] | None = None, shardings: object = None,
              dtype: DTypeLike | None = None, strict: bool = False) -> object:
    r"""Initializes every leaf of a parameter tree with jitted, optionally sharded draws.

    For each leaf (path :math:`p`, shape :math:`s`, dtype :math:`d`) the first rule that
    matches :math:`p` picks an initializer :math:`f`, and

    .. math::

        w_p = f\bigl(k_p,\ s,\ d\bigr), \qquad k_p = \texttt{leaf\_key}(k, p),

    where :math:`k` is ``key`` and :math:`k_p` depends only on :math:`k` and :math:`p`
    (:func:`leaf_key`). So each leaf has the distribution its initializer documents, leaves
    are independent, and a leaf's values do not change when other leaves are added,
    removed or renamed.

    Each distinct (initializer, shape, dtype, sharding) is compiled once, as
    ``jax.jit(lambda k, h: f(k_h, s, d), out_shardings=...)`` with the leaf's path digest
    ``h`` as an argument, and run once per leaf: compile time grows with the number of
    *distinct* leaves (a 12-block GPT-2 compiles about ten draws, not 150), and each leaf
    is written directly into its own output buffer, with no stacked intermediate, so peak
    memory stays close to the parameter bytes. Every value equals
    ``jax.jit(f, static_argnums=(1, 2))(leaf_key(key, p), s, d)``. With ``shardings``
    every device writes only its own shards, with values identical to the unsharded call
    (jax's partitionable threefry draws the same bits whatever the sharding).

    Rules are tried in order; a pattern matches when ``re.search(pattern, path)`` finds it
    in the path string (``'params/Dense_0/kernel'``, see :func:`path_str`; Flax boxes such
    as ``Partitioned`` or ``nnx.Param`` do not add to the path). A rule function
    ``rules(path, shape, dtype)`` returns an initializer, or ``None`` to fall through to
    ``default``.

    Args:
      key: the root PRNG key (typed ``jax.random.key`` or legacy ``PRNGKey``).
      shapes: a pytree whose leaves are ``jax.ShapeDtypeStruct`` (or arrays, whose shape
        and dtype are used): ``jax.eval_shape(model.init, key, x)`` for Flax linen,
        including ``nn.with_partitioning`` boxes, or the state of ``nnx.eval_shape``
        (split off the ``nnx.Param`` state first: rng keys and counters are not weights).
      rules: a mapping ``{regex: initializer}``, a sequence of ``(regex, initializer)``
        pairs, a function ``(path, shape, dtype) -> initializer | None``, or ``None`` (use
        ``default`` everywhere).
      default: the initializer for leaves no rule matches; ``None`` makes such a leaf an
        error.
      shardings: ``None`` (default placement); a ``jax.sharding.Mesh``, whose partition
        specs come from the tree's Flax partitioning metadata (``nn.with_partitioning``,
        ``nn.with_logical_partitioning`` with its rules, ``nnx.with_partitioning``) or from
        the leaves' own ``NamedSharding``, replicated otherwise; or a pytree (or pytree
        prefix) of ``Sharding``/``None`` matching ``shapes`` with its boxes removed, e.g.
        ``nn.get_sharding(shapes, mesh)``.
      dtype: if given, every leaf is created in this dtype instead of its own.
      strict: a rule whose pattern matches no leaf raises ``ValueError`` instead of warning
        (:class:`UnmatchedRuleWarning`).

    Returns:
      A pytree of the same structure as ``shapes`` (Flax boxes kept, holding arrays).

    Raises:
      ValueError: a leaf no rule matches and no ``default``; an invalid regex; an
        initializer that returns the wrong shape or dtype for a leaf; a sharding that does
        not fit the tree or a leaf's shape; two leaves with the same path string. Errors an
        initializer raises for a leaf are re-raised naming that leaf.
      TypeError: a bad key, rule, initializer or sharding.

    References:
      JAX documentation, "Distributed arrays and automatic parallelization"
      (``jax.jit`` with ``out_shardings``); Flax, "Scale up Flax modules on multiple
      devices" (partitioning metadata).

    Example:
      >>> import jax, jax.numpy as jnp, flax.linen as nn, jinit
      >>> model = nn.Sequential([nn.Dense(64), nn.relu, nn.Dense(10)])
      >>> shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((1, 32)))
      >>> params = jinit.tree.init_tree(
      ...     jax.random.key(1), shapes,
      ...     {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros})
      >>> k = params["params"]["layers_0"]["kernel"]
      >>> k.shape, k.dtype, float(abs(params["params"]["layers_2"]["bias"]).max())
      ((32, 64), dtype('float32'), 0.0)
      >>> y = model.apply(params, jnp.ones((2, 32)))
      >>> y.shape
      (2, 10)
    """
    fn = "init_tree"
    _checks.key(fn, key)
    compiled = _rules.compile_rules(fn, rules)
    match = compiled.match
    if default is not None:
        _rules.check_initializer(fn, "default", default)
    override = None if dtype is None else _checks.dtype(fn, dtype)

    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes, is_leaf=_is_leaf)
    paths, boxes, leaves = [], [], []
    for kp, node in flat:
        path = path_str(kp)
        if _is_box(node):
            inner = jax.tree.leaves(node)
            if len(inner) != 1:
                raise _checks.fail(fn, f"shapes[{path!r}]", node,
                                   f"is a box holding {len(inner)} leaves", "a box holding one "
                                   "ShapeDtypeStruct", exc=TypeError)
            boxes.append(node)
            node = inner[0]
        else:
            boxes.append(None)
        if not (hasattr(node, "shape") and hasattr(node, "dtype")):
            raise _checks.fail(fn, f"shapes[{path!r}]", node, "has no shape and dtype",
                               "jax.ShapeDtypeStruct leaves, e.g. from jax.eval_shape(model.init, ...)",
                               exc=TypeError)
        if path in paths:
            raise _checks.fail(fn, "shapes", path, "names two leaves",
                               "distinct path strings, since each leaf's key is derived from its "
                               "path", "Rename one of the keys (a key containing '/' can render like a nested path).")
        paths.append(path)
        leaves.append(node)
    if not leaves:
        return shapes

    plain = jax.tree.unflatten(treedef, leaves)
    out_shardings = _sharding_leaves(fn, shardings, plain, boxes, leaves, paths)

    groups: dict[tuple[int, tuple[int, ...], np.dtype], list[int]] = {}
    inits: dict[int, Callable[..., Array]] = {}
    patterns = compiled.pattern_strings
    for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True)):
        shape = tuple(int(d) for d in leaf.shape)
        dt = override if override is not None else np.dtype(leaf.dtype)
        found = match(path, shape, dt)
        if found is None:
            if default is None:
                tried = "" if not patterns else " (patterns tried: " + ", ".join(
                    repr(p) for p in patterns) + ")"
                raise _checks.fail(fn, f"shapes[{path!r}]", jax.ShapeDtypeStruct(shape, dt),
                                   f"matches no rule{tried}", "a rule for every leaf",
                                   "Add a rule for this path or pass default=.")
            found = (f"default={default!r}", default)
        name, init = found
        if not callable(init):
            raise _checks.fail(fn, name, init, f"is not callable (for leaf {path!r})",
                               "an initializer init(key, shape, dtype)", exc=TypeError)
        if out_shardings is not None:
            _check_sharding(fn, path, out_shardings[i], leaf)
        group = (id(init), shape, dt)
        if group in groups:  # same initializer, shape and dtype: checked once
            groups[group].append(i)
            continue
        try:
            out = jax.eval_shape(lambda k, init=init, shape=shape, dt=dt: init(k, shape, dt), key)
        except (ValueError, TypeError) as e:
            raise type(e)(f"{fn}(): leaf {path!r} (shape {shape}, {dt.name}), initialized by "
                          f"{name}: {e}") from e
        if tuple(out.shape) != shape or np.dtype(out.dtype) != dt:
            raise _checks.fail(fn, name, init,
                               f"returned shape {tuple(out.shape)} {np.dtype(out.dtype).name} for "
                               f"leaf {path!r}", f"shape {shape} {dt.name}",
                               "Check the rule's initializer for this leaf.")
        groups[group] = [i]
        inits[id(init)] = init

    compiled.report_unmatched(paths, strict=strict)

    # One compiled program per group (initializer, shape, dtype, sharding), run once per
    # leaf with that leaf's path digest as an argument: XLA compiles each distinct draw
    # once (the identical blocks of a transformer share one), and every leaf is written
    # straight into its own output buffer, on the devices that hold it.
    arrays: list[Array | None] = [None] * len(paths)
    programs: dict[tuple[object, ...], Callable[..., Array]] = {}
    for (init_id, shape, dt), members in groups.items():
        init = inits[init_id]
        for i in members:
            sharding = None if out_shardings is None else out_shardings[i]
            slot = (init_id, shape, dt, _hashable(sharding))
            program = programs.get(slot)
            if program is None:
                program = programs[slot] = jax.jit(
                    functools.partial(_draw, init, shape, dt), out_shardings=sharding)
            arrays[i] = program(key, np.asarray(_digest(paths[i]), np.uint32))
    rebuilt = [a if box is None else jax.tree.unflatten(jax.tree.structure(box), [a])
               for a, box in zip(arrays, boxes, strict=True)]
    return jax.tree.unflatten(treedef, rebuilt)
