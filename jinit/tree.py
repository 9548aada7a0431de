r"""Initialize a whole parameter tree with jitted, optionally sharded draws.

:func:`init_tree` takes the *abstract* parameters of a model — a pytree of
``jax.ShapeDtypeStruct`` from ``jax.eval_shape(model.init, ...)`` (Flax linen, with or
without ``nn.with_partitioning`` boxes) or the ``nnx.State`` of ``nnx.eval_shape`` — and a
set of rules that say which initializer each leaf gets (by a regular expression on the
leaf's path, or by a function of path, shape and dtype). Leaves drawn from one law
(normal, uniform, truncated normal, at any scale) on one device share one compiled program
whatever their shapes; other leaves that share an initializer, shape, dtype and sharding
share one program, which writes each leaf straight into its own buffer; given shardings
(or a mesh and the model's partitioning metadata) it writes each shard on the device that
holds it, so no host ever builds a full-size array.

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
import math
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np

from . import _checks, _fastbits, _packing, _programs, _rules, _sampling
from . import structure as _structure
from ._boxes import check_sharding as _check_sharding
from ._boxes import is_box as _is_box
from ._boxes import is_leaf as _is_leaf
from ._boxes import sharding_leaves as _sharding_leaves
from ._keys import leaf_key as leaf_key
from ._keys import leaf_key_data as _leaf_key_data
from ._keys import leaf_keys as _leaf_keys
from ._keys import wrap as _wrap
from ._rules import UnmatchedRuleWarning, path_str
from ._typing import Array, DTypeLike, KeyArray
from .linen import rules_from as rules_from

__all__ = ["UnmatchedRuleWarning", "init_tree", "leaf_key", "path_str", "rules_from"]

Rule = Callable[[str, tuple[int, ...], np.dtype], Callable[..., Array] | None]
Rules = Mapping[str, Callable[..., Array]] | Sequence[tuple[str, Callable[..., Array]]] | Rule


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

    Leaves are drawn by as few programs as their laws allow. A leaf whose initializer is
    one normal, uniform or truncated-normal draw (``normal``, ``truncated_normal``,
    ``uniform``, ``variance_scaling`` and the Glorot/He/LeCun families, whose scale depends
    on the shape only through the fans) and that lives on one device is drawn by its
    law's *packed* program, one per (law, dtype) for the whole tree: the program fills
    blocks of :math:`1024` values with each block's key, offset and scale as data, and
    each leaf is a view of its own blocks. With jax's partitionable threefry an element's
    bits depend only on its key and flat index, so every packed leaf equals its own
    draw bit for bit; a 12-block GPT-2 compiles one program, and a tree of 48 shapes as
    few. On a CPU the packed leaves are views of one buffer per law (no copy; the buffer is
    freed with the last of them); elsewhere one more program per law cuts it into the
    leaves. Constant leaves (``zeros``, ``ones``, ``constant``) are filled on the host. A
    recipe's scanned stack or fused projection (:class:`jinit.recipes.Pieces`: piece
    :math:`i` drawn under ``fold_in(k_p, i)``) whose pieces are each a constant or such a
    draw joins the packed programs piece by piece: where its pieces are whole blocks cut
    along its first axis it is read back like a packed leaf; otherwise, on a CPU, its
    pieces are copied into it on the host (such pieces are packed apart from whole leaves,
    one more program and buffer per law, so their buffer is freed once they are copied),
    and elsewhere it takes the route below. Every
    other leaf (orthogonal and other shape-structured schemes, initializers that are not
    jinit's, non-threefry keys, leaves sharded over several devices) gets one program per
    distinct (initializer, shape, dtype, sharding),
    ``jax.jit(lambda k: f(k, s, d), out_shardings=...)``, run once per leaf on its key
    :math:`k_p`, writing each leaf directly into its own buffer (with ``shardings``, each
    device writes only its own shards). Programs are traced once (the trace also checks
    the initializer's output shape and dtype), compiled concurrently in worker threads
    while finished ones already run, and kept for the life of the process, keyed by what
    the initializer computes (its code and the values it closes over, so a fresh
    ``jinit.normal(0.02)`` reuses an earlier one's program): a second call compiles
    nothing. jax's persistent compilation cache (``jax_compilation_cache_dir``) carries
    them across processes. Every value equals
    ``jax.jit(f, static_argnums=(1, 2))(leaf_key(key, p), s, d)``, sharded or not (jax's
    partitionable threefry draws the same bits whatever the sharding).

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
    program: int = -1  # index into the call's list of programs (-1: a host fill, -2: pieces
    # copied into a host buffer)
    draw: _sampling.Leaf | None = None  # the leaf as one sampler call, where it is one
    pieces: list[tuple[tuple[object, ...], tuple[int, ...], _sampling.Leaf]] | None = None
    # where a Pieces leaf is assembled on the host: each piece's index, shape and draw


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


def _group(fn: str, key: KeyArray, plan: list[_Leaf]) -> list[_packing.Program]:
    """The programs a call runs, and how each leaf is made.

    * A leaf whose initializer is a constant fill (``zeros``, ``ones``, ``constant`` of a
      scalar) is filled on the host (:func:`_host_fill`): no program.
    * A leaf whose initializer is one normal, uniform or truncated-normal draw with a scale
      known on the host (a scale from the leaf's fans included:
      :func:`jinit._sampling.law_of`), placed on one device, under a threefry key, joins
      the *packed* draw of its law: one program per (law, dtype) for the whole tree,
      whatever the leaves' shapes (:func:`jinit._packing.pack`).
    * A scanned stack or fused projection (:class:`jinit.recipes.Pieces`) whose pieces are
      each a constant or such a draw, on one device (:func:`_plan_pieces`): if its pieces
      are of one law, cut along the first axis and whole blocks each
      (:func:`jinit._packing.end_to_end`), they join that law's packed draw one after
      another and the leaf is read back whole, like a packed leaf. Otherwise, where the
      host can view the packed buffers (a CPU), each drawn piece joins its law's packed
      draw of pieces (kept apart from whole leaves, so its buffer is freed once the leaves
      are assembled) and the leaf is assembled on the host (:func:`_materialize`).
    * Every other leaf (orthogonal and other shape-structured schemes, initializers that
      are not jinit's, leaves sharded over several devices, which are written where they
      live) gets the program of its (initializer, shape, dtype, sharding), traced once,
      which also checks that the initializer returns the leaf's shape and dtype.

    Programs already in the process-wide cache are reused as they are. Under a
    transformation (``jax.vmap`` or ``jax.jit`` around ``init_tree``: a traced key) every
    leaf takes the last route, each program its jitted draw traced into the caller's
    computation, and nothing is cached.
    """
    transformed = isinstance(key, jax.core.Tracer)
    packable = (_programs.PACK and not transformed
                and _fastbits.host_key_data(key) is not None)
    programs: list[_packing.Program] = []
    index: dict[object, int] = {}
    packs: dict[tuple[_sampling.Law, bool], list[_packing.Part]] = {}
    for i, leaf in enumerate(plan):
        if packable and _one_device(leaf.sharding) and _plan_pieces(i, leaf, key, packs):
            continue
        leaf.draw = (None if transformed else
                     _packing.law_of(leaf.init, leaf.shape, leaf.dtype, key))
        if leaf.draw is not None:
            if leaf.draw.law.kind == "full":
                if _host_fill_ok(leaf):
                    leaf.program = -1
                    continue
            elif packable and _one_device(leaf.sharding):
                packs.setdefault((leaf.draw.law, False), []).append(
                    _packing.Part(i, -1, leaf.shape, leaf.draw, leaf.shape))
                continue
            leaf.draw = None
        ckey = None if transformed else _programs.cache_key(leaf.init, leaf.shape, leaf.dtype,
                                                            leaf.sharding, key)
        slot = ckey if ckey is not None else (id(leaf.init), leaf.shape, leaf.dtype.str,
                                              id(leaf.sharding))
        if slot in index:
            leaf.program = index[slot]
            programs[leaf.program].size += math.prod(leaf.shape)
            continue
        program = _packing.Program(ckey, compiled=_programs.lookup(ckey),
                                   size=math.prod(leaf.shape))
        if program.compiled is None:
            jitted, program.traced = _trace(fn, key, leaf)
            if transformed:
                program.compiled, program.traced = jitted, None
        leaf.program = index[slot] = len(programs)
        programs.append(program)
    for (law, _), parts in packs.items():
        for part in parts:
            if plan[part.leaf].pieces is None:
                plan[part.leaf].program = len(programs)
        programs.append(_packing.pack(law, parts))
    return programs


def _plan_pieces(i: int, leaf: _Leaf, key: KeyArray,
                 packs: dict[tuple[_sampling.Law, bool], list[_packing.Part]]) -> bool:
    """Plans leaf ``i`` piece by piece if it is a :class:`jinit.recipes.Pieces` whose pieces
    are each one sampler call (see :func:`_group`); ``False``: it takes another route."""
    pieces = _packing.pieces_of(leaf.init, leaf.shape, leaf.dtype, key)
    if pieces is None:
        return False
    if _packing.one_fill(pieces, leaf.dtype):  # e.g. a stack of zero biases
        leaf.draw = pieces[0][2]
        if _host_fill_ok(leaf):
            leaf.program = -1
            return True
        leaf.draw = None
    if _packing.end_to_end(pieces):
        # one law, pieces along the first axis, whole blocks each: the pieces' blocks follow
        # each other, so the leaf is read back whole, as a packed leaf is
        parts = packs.setdefault((pieces[0][2].law, False), [])
        for j, (_, shape, draw) in enumerate(pieces):
            parts.append(_packing.Part(i, j, shape, draw, None if j else leaf.shape))
        return True
    if not _packing.host_views():
        return False
    leaf.pieces, leaf.program = pieces, -2
    for j, (_, shape, draw) in enumerate(pieces):
        if draw.law.kind != "full":
            packs.setdefault((draw.law, True), []).append(_packing.Part(i, j, shape, draw, shape))
    return True


def _one_device(sharding: object) -> bool:
    """The sharding kinds a packed draw serves: default placement, or one device."""
    return sharding is None or isinstance(sharding, jax.sharding.SingleDeviceSharding)


# Constant leaves are filled with numpy and placed with jax.device_put: the values of
# jnp.full (numpy and jax round a scalar to the dtype alike; the tests compare bits) and no
# program. On a CPU, device_put keeps the host buffer (aligned: _packing.host_buffer), so any
# size on one device; elsewhere it is a copy to the device, so large fills, and sharded ones,
# keep their program.
_HOST_FILL_MAX = 1 << 22


def _host_fill_ok(leaf: _Leaf) -> bool:
    if math.prod(leaf.shape) <= _HOST_FILL_MAX:
        return True
    return _one_device(leaf.sharding) and jax.default_backend() == "cpu"


def _host_fill(leaf: _Leaf) -> Array:
    out = _packing.host_buffer(leaf.shape, leaf.dtype)
    out[...] = np.full((), leaf.draw.scale, leaf.dtype)
    return jax.device_put(out, leaf.sharding)


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


def _materialize(fn: str, key: KeyArray, plan: list[_Leaf], programs: list[_packing.Program]
                 ) -> list[Array]:
    """Runs each program, writing each leaf into its own buffer (a packed draw: views of
    one buffer per law; a leaf of pieces: a host buffer its pieces are copied into).

    New programs start compiling first (concurrently, largest first); meanwhile the leaf
    keys are derived, constants filled and cached programs run, and each new program runs
    as soon as it is ready, so sampling overlaps compilation.
    """
    pending = sorted((p for p, program in enumerate(programs) if program.compiled is None),
                     key=lambda p: -programs[p].size)
    ready = _programs.compile_all([(programs[p].cache_key, programs[p].traced) for p in pending])
    paths = [leaf.path for leaf in plan]
    data = _leaf_key_data(key, paths)
    keys = _leaf_keys(key, paths) if data is None else None
    members: dict[int, list[int]] = {}
    for i, leaf in enumerate(plan):
        members.setdefault(leaf.program, []).append(i)
    arrays: list[Array | None] = [None] * len(plan)

    def run(program: _packing.Program, compiled: object, p: int) -> None:
        if not program.layout:
            for i in members[p]:
                arrays[i] = compiled(keys[i] if keys is not None else _wrap(key, data[i]))
            return
        offset, scale, lo, hi, counts = program.args
        rows = np.repeat(_packing.part_keys(data, [p for p, _ in program.layout]), counts, axis=0)
        flat = compiled(np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1]),
                        offset, scale, lo, hi)
        for part, array in _packing.unpack(plan, program, flat):
            if plan[part.leaf].pieces is None:
                arrays[part.leaf] = array
            else:
                assembled[part.leaf][plan[part.leaf].pieces[part.piece][0]] = array

    for i in members.pop(-1, []):
        arrays[i] = _host_fill(plan[i])
    assembled = {i: _packing.host_buffer(plan[i].shape, plan[i].dtype)
                 for i in members.pop(-2, [])}
    for i, out in assembled.items():
        for where, _, draw in plan[i].pieces:
            if draw.law.kind == "full":
                out[where] = np.full((), draw.scale, plan[i].dtype)
    for p, program in enumerate(programs):
        if program.compiled is not None:
            run(program, program.compiled, p)
    for j, compiled in ready:
        run(programs[pending[j]], compiled, pending[j])
    for i in list(assembled):  # each host buffer dropped once placed
        arrays[i] = jax.device_put(assembled.pop(i), plan[i].sharding)
    return arrays
