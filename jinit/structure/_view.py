"""A parameter's value as the walk sees it (:class:`View`), its raw uses, and axis bookkeeping."""

from __future__ import annotations

import dataclasses

from ._use import IDENTITY, After


@dataclasses.dataclass(frozen=True)
class View:
    """A value that is (a moved, cast or rescaled copy of) parameter ``leaf``."""

    leaf: int
    dims: tuple[tuple[int, ...], ...]  # for each axis of the value: the parameter axes in it
    indexed: frozenset[int] = frozenset()  # parameter axes indexed away (stacked layers)
    offset: float = 0.0
    mult: float = 1.0
    modified: bool = False


@dataclasses.dataclass
class RawUse:
    leaf: int
    op: str
    node: int
    out: int | None
    inp: object
    fan_in: float | None = None
    fan_out: float | None = None
    in_axes: tuple[int, ...] = ()
    out_axes: tuple[int, ...] = ()
    batch_axes: tuple[int, ...] = ()
    receptive: int = 1
    offset: float = 0.0
    mult: float = 1.0
    after: After = IDENTITY
    residual: bool = False
    stream: int | None = None


def union(groups) -> tuple[int, ...]:
    out: set[int] = set()
    for g in groups:
        out.update(g)
    return tuple(sorted(out))


def reshape_dims(src: tuple[int, ...], dst: tuple[int, ...], dims, leaf_shape):
    """Parameter axes of each output axis of a reshape, by matching runs of equal products."""
    out: list[tuple[int, ...]] = [()] * len(dst)
    dropped: set[int] = set()
    ins = [k for k, d in enumerate(src) if d != 1]
    outs = [k for k, d in enumerate(dst) if d != 1]
    for k, d in enumerate(src):
        if d == 1:
            dropped.update(a for a in dims[k] if leaf_shape[a] > 1)
    a = b = 0
    while a < len(ins) and b < len(outs):
        ga, gb = [ins[a]], [outs[b]]
        pa, pb = src[ins[a]], dst[outs[b]]
        while pa != pb:
            if pa < pb:
                a += 1
                ga.append(ins[a])
                pa *= src[ins[a]]
            else:
                b += 1
                gb.append(outs[b])
                pb *= dst[outs[b]]
        axes = union(dims[k] for k in ga)
        for k in gb:
            out[k] = axes
        a += 1
        b += 1
    return tuple(out), frozenset(dropped)
