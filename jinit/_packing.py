"""jinit.tree's packed draws: the leaves of one law drawn by one program, whatever their shapes.

:func:`jinit.tree.init_tree` plans each leaf (``_group`` there); the leaves and pieces that
are one sampler call become :class:`Part` s of a packed draw (:func:`pack`), read back as
views or cut by one split program (:func:`unpack`). A ``plan`` here is ``init_tree``'s list
of leaf plans (``jinit.tree._Leaf``: ``init``, ``shape``, ``dtype``, ``sharding``,
``pieces``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from . import _base, _constant, _fastbits, _programs, _sampling
from ._typing import Array, KeyArray

# XLA's CPU client keeps (does not copy) a host buffer given to jax.device_put when its data
# is this aligned; numpy's own allocations are 16-byte aligned, and would be copied.
HOST_ALIGN = 64


def host_buffer(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialized host array whose data is :data:`HOST_ALIGN`-byte aligned, so that on a
    CPU ``jax.device_put`` places it without a copy (no second buffer of the leaf's size)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + HOST_ALIGN, np.uint8)
    start = -raw.ctypes.data % HOST_ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


@dataclasses.dataclass(frozen=True)
class Part:
    """One member of a packed draw: a whole leaf (``piece`` -1), or piece ``piece`` of a
    :class:`jinit.recipes.Pieces` leaf, drawn under ``fold_in(leaf key, piece)``. ``view``
    is the shape read back from where the part starts: the leaf's for a whole leaf and for
    the first piece of a leaf whose pieces lie end to end, the piece's for a piece to be
    copied into its leaf, ``None`` for the later pieces of a leaf read whole."""

    leaf: int
    piece: int
    shape: tuple[int, ...]
    draw: _sampling.Leaf
    view: tuple[int, ...] | None


@dataclasses.dataclass
class Program:
    """One compiled draw: shared by every leaf with its (initializer, shape, dtype, sharding),
    or (``layout`` set) the packed draw of every leaf of one law (:func:`pack`)."""

    cache_key: object
    compiled: object = None  # from the process-wide cache, or compiled for this call
    traced: object = None  # traced for this call, compiled by _materialize
    layout: list[tuple[Part, int]] = dataclasses.field(default_factory=list)  # (part, start)
    args: tuple = ()  # a packed draw's block arrays: offset, scale, lo, hi, blocks per part
    size: int = 0  # elements the program writes (for ordering the compiles)


def law_of(init: Callable[..., Array], shape: tuple[int, ...], dtype: np.dtype,
            key: KeyArray) -> _sampling.Leaf | None:
    """``init`` at ``(shape, dtype)`` as one sampler call, or ``None``. Only jinit's own
    initializers are asked (any other callable would be traced twice)."""
    if math.prod(shape) == 0 or not (isinstance(init, _base.Init) or any(
            init is f for f in (_constant.zeros, _constant.ones))):
        return None
    return _programs.law(init, shape, dtype, key)


def one_fill(pieces: list[tuple[tuple[object, ...], tuple[int, ...], _sampling.Leaf]],
              dtype: np.dtype) -> bool:
    """Whether every piece is the same constant, bit for bit in ``dtype`` (``-0.0`` is not
    ``0.0``): then the leaf is one fill."""
    first = pieces[0][2]

    def value(draw: _sampling.Leaf) -> bytes:
        return np.full((), draw.scale, dtype).tobytes()

    return first.law.kind == "full" and all(
        draw.law == first.law and value(draw) == value(first) for _, _, draw in pieces)


def end_to_end(pieces: list[tuple[tuple[object, ...], tuple[int, ...], _sampling.Leaf]]
                ) -> bool:
    """Whether a leaf's pieces, packed one after another, are the leaf in C order: cut along
    its first axis, all of one drawn law, each a whole number of blocks."""
    law = pieces[0][2].law
    return law.kind != "full" and all(
        len(where) == 1 and draw.law == law and math.prod(shape) % _programs.BLOCK == 0
        for where, shape, draw in pieces)


def pieces_of(init: Callable[..., Array], shape: tuple[int, ...], dtype: np.dtype,
              key: KeyArray
              ) -> list[tuple[tuple[object, ...], tuple[int, ...], _sampling.Leaf]] | None:
    """A :class:`jinit.recipes.Pieces` ``init`` at ``(shape, dtype)`` as its pieces'
    indices, shapes and draws, or ``None`` (not such an initializer, a shape its pieces do
    not fit, a piece that is not one sampler call)."""
    if not isinstance(init, _base.Pieces) or math.prod(shape) == 0:
        return None
    parts = init.parts(shape)
    if parts is None:
        return None
    out = []
    for where, part, piece in parts:
        draw = law_of(piece, part, dtype, key)
        if draw is None:
            return None
        out.append((where, part, draw))
    return out


def pack(law: _sampling.Law, parts: list[Part]) -> Program:
    """The packed draw of ``parts`` (all of law ``law``).

    Each part takes ``ceil(size / BLOCK)`` consecutive blocks; block ``j`` of a part draws
    the part's elements ``j * BLOCK ..`` under the part's key, scale and clip, so the part
    is the first ``size`` elements of its blocks, in its shape (:func:`unpack`). The
    program depends on the law and the number of blocks alone.
    """
    block = _programs.BLOCK
    counts = [-(-math.prod(p.shape) // block) for p in parts]
    clips = any(p.draw.bounds is not None for p in parts)
    ckey, compiled, traced = _programs.packed(law, clips, sum(counts))
    starts = np.cumsum([0] + counts[:-1]) * block
    program = Program(ckey, compiled=compiled, traced=traced, size=sum(counts) * block,
                       layout=[(p, int(s)) for p, s in zip(parts, starts, strict=True)])
    sdt = _sampling.sampling_dtype(law.dtype)
    bounds = [p.draw.bounds or (-np.inf, np.inf) for p in parts]

    def per_block(values: list[object]) -> np.ndarray:
        return np.repeat(np.asarray(values, sdt), counts)

    offset = np.concatenate([np.arange(n, dtype=np.uint32) for n in counts]) * np.uint32(block)
    program.args = (offset, per_block([p.draw.scale for p in parts]),
                    per_block([b[0] for b in bounds]), per_block([b[1] for b in bounds]),
                    np.asarray(counts))
    return program


def host_views() -> bool:
    """Whether packed draws are read back as host views (on a CPU, unless set)."""
    views = _programs.HOST_VIEWS
    return views if views is not None else jax.default_backend() == "cpu"


def part_keys(data: np.ndarray, parts: list[Part]) -> np.ndarray:
    """Each part's key data: its leaf's, folded with the piece's index for a piece."""
    rows = data[[p.leaf for p in parts]]
    piece = np.asarray([p.piece for p in parts])
    sub = piece >= 0
    if sub.any():
        rows[sub] = _fastbits.fold_in_host(rows[sub], piece[sub].astype(np.uint32))
    return rows


def unpack(plan: Sequence[Any], program: Program, flat: Array) -> list[tuple[Part, object]]:
    """The parts of a packed draw. On a CPU each is a view of the packed buffer: a whole
    leaf's placed with ``jax.device_put`` (the host buffer is kept: no copy), a piece's as it
    is, for :func:`_materialize` to assemble. Elsewhere (whole leaves, and leaves whose
    pieces lie end to end) one program cuts the buffer into the leaves
    (``jinit._programs.split``)."""
    if host_views():
        host = np.asarray(flat)
        out: list[tuple[Part, object]] = []
        for p, s in program.layout:
            if p.view is not None:
                view = host[s:s + math.prod(p.view)].reshape(p.view)
                out.append((p, view if plan[p.leaf].pieces is not None else
                            jax.device_put(view, plan[p.leaf].sharding)))
        return out
    read = [(p, s) for p, s in program.layout if p.view is not None]
    ckey, compiled, traced = _programs.split(flat.dtype, flat.size,
                                             tuple((s, p.view) for p, s in read))
    if compiled is None:
        compiled = next(iter(_programs.compile_all([(ckey, traced)])))[1]
    cut = compiled(flat)
    return [(p, a if plan[p.leaf].sharding is None else jax.device_put(a, plan[p.leaf].sharding))
            for (p, _), a in zip(read, cut, strict=True)]
