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

Compiled programs are kept for the life of the process (a second call compiles nothing).
To reuse them across processes, turn on jax's persistent compilation cache before the
first call; init programs compile in well under jax's default one-second threshold, so
lower it::

    jax.config.update("jax_compilation_cache_dir", "/tmp/jax-cache")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

(or set ``JAX_COMPILATION_CACHE_DIR`` and ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0``
in the environment). A later process then reads each program back instead of compiling it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, Sharding

from . import _checks, _constant, _fastbits, _programs, _rules
from . import structure as _structure
from ._rules import UnmatchedRuleWarning, path_str
from ._typing import Array, DTypeLike, KeyArray
from .linen import rules_from as rules_from

__all__ = ["UnmatchedRuleWarning", "init_tree", "leaf_key", "path_str", "rules_from"]

Rule = Callable[[str, tuple[int, ...], np.dtype], Callable[..., Array] | None]
Rules = Mapping[str, Callable[..., Array]] | Sequence[tuple[str, Callable[..., Array]]] | Rule


# ----------------------------------------------------------------------------- paths


def _digest(path: str) -> tuple[int, int]:
    h = hashlib.blake2b(path.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h[:4], "little"), int.from_bytes(h[4:], "little")


def leaf_key(key: KeyArray, path: str) -> KeyArray:
    r"""The key :func:`init_tree` uses for the leaf at ``path``.

    .. math::

        k_\text{leaf} = \texttt{fold_in}\bigl(\texttt{fold_in}(k, h_0), h_1\bigr),
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


@jax.jit
def _derive(key: KeyArray, digest: Array) -> KeyArray:
    """:func:`leaf_key` from the path's digest as data: one compiled program for every leaf
    of every tree (an eager ``fold_in`` runs the threefry hash operation by operation)."""
    return jax.random.fold_in(jax.random.fold_in(key, digest[0]), digest[1])


def _leaf_keys(key: KeyArray, paths: list[str]) -> list[KeyArray]:
    """:func:`leaf_key` of every path. A concrete threefry key (typed, or legacy ``uint32[2]``)
    is folded on the host, all leaves at once (:func:`jinit._fastbits.fold_in_host`: the same
    bits, no program); any other key goes through :func:`_derive`."""
    digests = np.asarray([_digest(p) for p in paths], np.uint32).reshape(-1, 2)
    data = _fastbits.host_key_data(key)
    if data is None:
        return [_derive(key, d) for d in digests]
    folded = _fastbits.fold_in_host(_fastbits.fold_in_host(data, digests[:, 0]), digests[:, 1])
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(key)
        return [jax.random.wrap_key_data(d, impl=impl) for d in folded]
    return [jax.numpy.asarray(d) for d in folded]


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
              dtype: DTypeLike | None = None, strict: bool = False,
              structure: _structure.Structure | None = None) -> object:
    r"""Initializes every leaf of a parameter tree with jitted, optionally sharded draws.

    For each leaf (path :math:`p`, shape :math:`s`, dtype :math:`d`) the first rule that
    matches :math:`p` picks an initializer :math:`f`, and

    .. math::

        w_p = f\bigl(k_p,\ s,\ d\bigr), \qquad k_p = \texttt{leaf_key}(k, p),

    where :math:`k` is ``key`` and :math:`k_p` depends only on :math:`k` and :math:`p`
    (:func:`leaf_key`). So each leaf has the distribution its initializer documents, leaves
    are independent, and a leaf's values do not change when other leaves are added,
    removed or renamed.

    Each distinct (initializer, shape, dtype, sharding) is one program,
    ``jax.jit(lambda k: f(k, s, d), out_shardings=...)``, run once per leaf on the leaf's
    key :math:`k_p`: a 12-block GPT-2 compiles about ten draws, not 150, and each leaf is
    written directly into its own output buffer, with no stacked intermediate, so peak
    memory stays close to the parameter bytes. Programs are traced once (the trace also
    checks the initializer's output shape and dtype), compiled concurrently in worker
    threads while finished ones already run, and kept for the life of the process, keyed
    by what the initializer computes (its code and the values it closes over, so a fresh
    ``jinit.normal(0.02)`` reuses an earlier one's program): a
    second call compiles nothing. jax's persistent compilation cache
    (``jax_compilation_cache_dir``) carries them across processes. Every value equals
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
      structure: what :func:`jinit.structure.trace` read from the model: every
        variance-scaling initializer left at its default axes gets the fan axes the model's
        computation implies (:func:`jinit.structure.fit`). Without it, fans come from each
        leaf's shape, and rank ≥ 3 leaves whose fans a shape cannot settle are listed in one
        :class:`jinit.structure.AmbiguousFanWarning`.

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
    if default is not None:
        _rules.check_initializer(fn, "default", default)
    compiled = _structure.fit_rules(fn, compiled, structure, default)
    override = None if dtype is None else _checks.dtype(fn, dtype)

    treedef, paths, boxes, leaves = _flatten(fn, shapes)
    if not leaves:
        return shapes
    compiled.check_paths(paths)
    out_shardings = _sharding_leaves(fn, shardings, jax.tree.unflatten(treedef, leaves), boxes,
                                     leaves, paths)
    plan = [_assign(fn, compiled, default, override, path, leaf,
                    None if out_shardings is None else out_shardings[i])
            for i, (path, leaf) in enumerate(zip(paths, leaves, strict=True))]
    if structure is None:
        _structure.warn_ambiguous(fn, ((p.path, p.shape, p.init) for p in plan))
    programs = _group(fn, key, plan)
    compiled.report_unmatched(paths, strict=strict)
    arrays = _materialize(fn, key, plan, programs)
    rebuilt = [a if box is None else jax.tree.unflatten(jax.tree.structure(box), [a])
               for a, box in zip(arrays, boxes, strict=True)]
    return jax.tree.unflatten(treedef, rebuilt)


# --------------------------------------------------- flatten -> group -> materialize


def _flatten(fn: str, shapes: object) -> tuple[object, list[str], list[object], list[object]]:
    """The tree's leaves (Flax boxes opened), their path strings and boxes (``None``: none)."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes, is_leaf=_is_leaf)
    paths: list[str] = []
    boxes: list[object] = []
    leaves: list[object] = []
    seen: set[str] = set()
    for kp, node in flat:
        path = path_str(kp)
        box = None
        if _is_box(node):
            inner = jax.tree.leaves(node)
            if len(inner) != 1:
                raise _checks.fail(fn, f"shapes[{path!r}]", node,
                                   f"is a box holding {len(inner)} leaves", "a box holding one "
                                   "ShapeDtypeStruct", exc=TypeError)
            box, node = node, inner[0]
        if not (hasattr(node, "shape") and hasattr(node, "dtype")):
            raise _checks.fail(fn, f"shapes[{path!r}]", node, "has no shape and dtype",
                               "jax.ShapeDtypeStruct leaves, e.g. from jax.eval_shape(model.init, ...)",
                               exc=TypeError)
        if path in seen:
            raise _checks.fail(fn, "shapes", path, "names two leaves",
                               "distinct path strings, since each leaf's key is derived from its "
                               "path", "Rename one of the keys (a key containing '/' can render like a nested path).")
        seen.add(path)
        paths.append(path)
        boxes.append(box)
        leaves.append(node)
    return treedef, paths, boxes, leaves


@dataclasses.dataclass
class _Leaf:
    """One leaf's plan: where it is, what it becomes, which rule said so, where it lives."""

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype
    init: Callable[..., Array]
    label: str
    sharding: object
    program: int = -1  # index into the call's list of programs; -1 with ``fill``: a host fill
    fill: int | None = None  # the value of a host-filled leaf (_FILLS), set by _group


def _assign(fn: str, compiled: _rules.Rules, default: Callable[..., Array] | None,
            override: np.dtype | None, path: str, leaf: object, sharding: object) -> _Leaf:
    """The initializer the first matching rule (or ``default``) gives one leaf."""
    shape = tuple(int(d) for d in leaf.shape)
    dt = override if override is not None else np.dtype(leaf.dtype)
    found = compiled.match(path, shape, dt)
    if found is None:
        if default is None:
            patterns = compiled.pattern_strings
            tried = "" if not patterns else " (patterns tried: " + ", ".join(
                repr(p) for p in patterns) + ")"
            raise _checks.fail(fn, f"shapes[{path!r}]", jax.ShapeDtypeStruct(shape, dt),
                               f"matches no rule{tried}", "a rule for every leaf",
                               "Add a rule for this path or pass default=.")
        found = (f"default={default!r}", default)
    label, init = found
    if not callable(init):
        raise _checks.fail(fn, label, init, f"is not callable (for leaf {path!r})",
                           "an initializer init(key, shape, dtype)", exc=TypeError)
    if sharding is not None:
        _check_sharding(fn, path, sharding, leaf)
    return _Leaf(path, shape, dt, init, label, sharding)


@dataclasses.dataclass
class _Program:
    """One compiled draw shared by every leaf with its (initializer, shape, dtype, sharding)."""

    cache_key: object
    compiled: object = None  # from the process-wide cache, or compiled for this call
    traced: object = None  # traced for this call, compiled by _materialize


def _group(fn: str, key: KeyArray, plan: list[_Leaf]) -> list[_Program]:
    """One program per distinct (initializer, shape, dtype, sharding), checked by tracing it.

    A program already in the process-wide cache is reused as it is; a new one is traced
    once, which also checks that the initializer returns the leaf's shape and dtype. Under
    a transformation (``jax.vmap`` or ``jax.jit`` around ``init_tree``: a traced key) each
    program is its jitted draw, traced into the caller's computation, and nothing is cached.
    """
    transformed = isinstance(key, jax.core.Tracer)
    programs: list[_Program] = []
    index: dict[object, int] = {}
    for leaf in plan:
        leaf.fill = None if transformed else _fill_of(leaf)
        if leaf.fill is not None:
            continue
        ckey = None if transformed else _programs.cache_key(leaf.init, leaf.shape, leaf.dtype,
                                                            leaf.sharding, key)
        slot = ckey if ckey is not None else (id(leaf.init), leaf.shape, leaf.dtype.str,
                                              id(leaf.sharding))
        if slot in index:
            leaf.program = index[slot]
            continue
        program = _Program(ckey, compiled=_programs.lookup(ckey))
        if program.compiled is None:
            jitted, program.traced = _trace(fn, key, leaf)
            if transformed:
                program.compiled, program.traced = jitted, None
        leaf.program = index[slot] = len(programs)
        programs.append(program)
    return programs


# Small zeros/ones leaves (biases, norm scales) are filled on the host and placed with
# jax.device_put: the same values (0 and 1 are exact in every dtype), and no program to compile.
_FILLS = {id(_constant.zeros): 0, id(_constant.ones): 1}
_HOST_FILL_MAX = 1 << 22


def _fill_of(leaf: _Leaf) -> int | None:
    if math.prod(leaf.shape) > _HOST_FILL_MAX or not jax.numpy.issubdtype(leaf.dtype, jax.numpy.inexact):
        return None  # large: one XLA fill is faster; not inexact: the initializer says why
    return _FILLS.get(id(leaf.init))


def _trace(fn: str, key: KeyArray, leaf: _Leaf) -> tuple[Callable[..., Array], jax.stages.Traced]:
    try:  # a leaf key has the root key's type, so the root key stands in for it
        jitted, traced = _programs.trace(leaf.init, leaf.shape, leaf.dtype, leaf.sharding, key)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{fn}(): leaf {leaf.path!r} (shape {leaf.shape}, {leaf.dtype.name}), "
                      f"initialized by {leaf.label}: {e}") from e
    out = traced.out_info
    if not isinstance(out, jax.ShapeDtypeStruct) or tuple(out.shape) != leaf.shape or \
            np.dtype(out.dtype) != leaf.dtype:
        got = (f"shape {tuple(out.shape)} {np.dtype(out.dtype).name}"
               if isinstance(out, jax.ShapeDtypeStruct) else f"{type(out).__name__} {out!r}")
        raise _checks.fail(fn, leaf.label, leaf.init, f"returned {got} for leaf {leaf.path!r}",
                           f"shape {leaf.shape} {leaf.dtype.name}",
                           "Check the rule's initializer for this leaf.")
    return jitted, traced


def _materialize(fn: str, key: KeyArray, plan: list[_Leaf], programs: list[_Program]
                 ) -> list[Array]:
    """Runs each leaf's program on the leaf's own key, writing it into its own buffer.

    New programs start compiling first (concurrently, largest leaves first); meanwhile the
    leaf keys are derived and cached programs run, and each new program runs as soon as it
    is ready, so sampling overlaps compilation.
    """
    members: dict[int, list[int]] = {}
    for i, leaf in enumerate(plan):
        members.setdefault(leaf.program, []).append(i)
    fills = members.pop(-1, [])
    pending = sorted((p for p, program in enumerate(programs) if program.compiled is None),
                     key=lambda p: -sum(math.prod(plan[i].shape) for i in members[p]))
    ready = _programs.compile_all([(programs[p].cache_key, programs[p].traced) for p in pending])
    keys = _leaf_keys(key, [leaf.path for leaf in plan])
    arrays: list[Array | None] = [None] * len(plan)

    def run(p: int, program: object) -> None:
        for i in members[p]:
            arrays[i] = program(keys[i])

    for i in fills:
        leaf = plan[i]
        arrays[i] = jax.device_put(np.full(leaf.shape, leaf.fill, leaf.dtype), leaf.sharding)
    for p, program in enumerate(programs):
        if program.compiled is not None:
            run(p, program.compiled)
    for j, compiled in ready:
        run(pending[j], compiled)
    return arrays
