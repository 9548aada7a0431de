r"""Statistics of one leaf, reduced where the leaf lives.

Each function here is one ``jax.jit`` program, compiled once per distinct leaf shape, dtype
and sharding and fed the leaf itself: on a sharded leaf XLA reduces every shard on the
device that holds it and combines a few numbers (sums, extremes, a 256-bin histogram), so no
leaf is gathered onto one device or the host. Sums run axis by axis (one axis per stage),
so float32 rounding grows with the longest axis, not with the leaf's size.

For a leaf :math:`x` of :math:`n` values, a centre :math:`c` and sorted test points
:math:`e_1 < \dots < e_{255}`:

.. math::

    S_k = \sum_i (x_i - c)^k \ (k = 1..4), \qquad
    H_j = \#\{i : e_{j} < x_i \le e_{j+1}\} \ (e_0 = -\infty,\ e_{256} = +\infty),

plus the minimum, maximum, number of non-finite values, of exact zeros and of values at the
law's bounds (:math:`x \le \ell`, :math:`x \ge u` for the edges ``ends`` of
:func:`jinit.verify._laws.bound_edges`).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

EDGES = 255  # test points per goodness-of-fit check
_HIGHEST = jax.lax.Precision.HIGHEST


def _total(v: jax.Array) -> jax.Array:
    """Sum of every entry, one axis at a time (the last first)."""
    while v.ndim:
        v = jnp.sum(v, axis=-1)
    return v


def compute_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype).itemsize == 8 else np.dtype(np.float32)


class Bins(NamedTuple):
    """Test points, and the lookup tables that rank a value among them in O(1).

    The range of the points is cut into ``G`` equal cells; each cell keeps at most one
    point, at least 5% of a cell away from the cell's edges (a point too near an edge is
    moved to the cell's centre, extra points in a cell are dropped: the bounds hold at any
    points). A value's rank, the number of points strictly below it, is then
    ``first[c] + (x > point[c])`` for its cell ``c``: exact despite float32 rounding of
    ``c`` (at most ``G * 2^-23`` cells), and two gathers per value instead of eight.
    """

    points: np.ndarray   # float64 copies of the kept points (compute-dtype values)
    lo: np.ndarray
    inv_width: np.ndarray
    first: np.ndarray    # int32[G]: kept points in earlier cells
    point: np.ndarray    # compute dtype[G]: this cell's point (+inf if none)


CELLS = 4096


def bins(points: np.ndarray, dtype: np.dtype) -> Bins:
    """Builds :class:`Bins` from candidate test ``points`` in compute ``dtype``."""
    distinct = np.unique(np.asarray(points, np.float64).astype(dtype))
    distinct = distinct[np.isfinite(distinct)]
    if distinct.size == 0:
        distinct = np.zeros(1, dtype)
    span = float(distinct[-1]) - float(distinct[0])
    width = span / (CELLS - 1) if span > 0 else 1.0
    lo = np.asarray(float(distinct[0]) - 0.5 * width, dtype)
    inv = np.asarray(1.0 / width, dtype)
    pos = (distinct.astype(dtype) - lo) * inv            # the device's float arithmetic
    cell = np.clip(np.floor(pos), 0, CELLS - 1).astype(np.int64)
    keep = np.concatenate([[True], np.diff(cell) > 0])
    cell, value, pos = cell[keep], distinct[keep], pos[keep].astype(np.float64)
    frac = pos - cell
    centre = (lo.astype(np.float64) + (cell + 0.5) / float(inv)).astype(dtype)
    value = np.where((frac < 0.05) | (frac > 0.95), centre, value).astype(dtype)
    point = np.full(CELLS, np.inf, dtype)
    point[cell] = value
    has = np.zeros(CELLS, np.int64)
    has[cell] = 1
    first = np.concatenate([[0], np.cumsum(has)[:-1]]).astype(np.int32)
    return Bins(value.astype(np.float64), lo, inv, first, point)


def _rank(x: jax.Array, b: Bins) -> jax.Array:
    cells = b.first.shape[0]
    c = jnp.clip(jnp.floor((x - b.lo) * b.inv_width), 0, cells - 1).astype(jnp.int32)
    return b.first[c] + (x > b.point[c]).astype(jnp.int32)


ROW = 1024


def bucket(n: int) -> int:
    """Rows of ``ROW`` values that hold ``n`` values: the next of 2^k x {1, 1.25, 1.5, 1.75}."""
    rows = max(-(-n // ROW), 1)
    k = max(rows.bit_length() - 3, 0)
    step = 1 << k
    return -(-rows // step) * step


def packed(x: jax.Array, fill: np.ndarray) -> tuple[jax.Array, int]:
    """An unsharded leaf as ``(bucket(n), ROW)`` rows padded with ``fill``, and the pad count.

    Leaves of similar size then share one compiled reduction (a GPT-2 compiles about five),
    at most 25% padding. Padding with the centre adds nothing to the centred sums, lies
    inside the extremes of any sample around it, and its histogram count is subtracted on
    the host. Sharded leaves keep their shape, so each shard is reduced in place.
    """
    n = int(x.size)
    pad = bucket(n) * ROW - n
    flat = jnp.ravel(x).astype(fill.dtype)
    return jnp.pad(flat, (0, pad), constant_values=fill).reshape(-1, ROW), pad


@functools.partial(jax.jit, static_argnames=("zeros_axis", "higher"))
def moments(x: jax.Array, centre: jax.Array, b: Bins, zeros_axis: int | None = None,
            higher: bool = False, ends: jax.Array | None = None) -> dict[str, jax.Array]:
    """Centred power sums (3rd and 4th with ``higher``), extremes, the histogram at ``b.points``;
    with ``ends = (lo_edge, hi_edge)`` the counts ``at_lo``/``at_hi`` at the law's bounds.

    A non-finite value makes ``s2`` or an extreme non-finite, which the checks report.
    """
    x = x.astype(b.point.dtype)
    d = x - centre
    d2 = d * d
    out = {"s1": _total(d), "s2": _total(d2), "min": jnp.min(x), "max": jnp.max(x)}
    if ends is not None:
        out["at_lo"] = _total((x <= ends[0]).astype(jnp.int32))
        out["at_hi"] = _total((x >= ends[1]).astype(jnp.int32))
    if higher:
        out["s3"], out["s4"] = _total(d2 * d), _total(d2 * d2)
    out["hist"] = jnp.zeros(b.points.shape[0] + 1, jnp.int32).at[_rank(x, b)].add(1)
    if zeros_axis is not None:
        zero = (x == 0).astype(jnp.int32)
        out["zeros"] = _total(zero)
        axes = (x.ndim - 1,) if zeros_axis == 1 else tuple(range(x.ndim - 1))
        counts = jnp.sum(zero, axis=axes) if axes and x.ndim else zero
        out["zeros_min"], out["zeros_max"] = jnp.min(counts), jnp.max(counts)
    return out


def leaf_moments(x: jax.Array, centre: np.ndarray, b: Bins, zeros_axis: int | None = None,
                 higher: bool = False, ends: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`moments` of a leaf: packed when it sits on one device, in place when sharded.

    The padding (the centre, inside the law's support) is never at a bound."""
    sharding = getattr(x, "sharding", None)
    if zeros_axis is None and (sharding is None or len(sharding.device_set) == 1):
        xp, pad = packed(x, centre)
        st = jax.device_get(moments(xp, centre, b, higher=higher, ends=ends))
        if pad:
            hist = np.array(st["hist"], np.int64)
            hist[np.searchsorted(b.points, float(centre), side="left")] -= pad
            st["hist"] = hist
        return st
    return jax.device_get(moments(x, centre, b, zeros_axis=zeros_axis, higher=higher, ends=ends))


@jax.jit
def mismatch(x: jax.Array, ref: jax.Array, rtol: jax.Array) -> dict[str, jax.Array]:
    """Entries of ``x`` that differ from ``ref`` by more than ``rtol * |ref|``, and the worst gap."""
    if jnp.iscomplexobj(x):
        xf, rf = x.astype(jnp.complex64), ref.astype(jnp.complex64)
    else:
        xf, rf = x.astype(rtol.dtype), ref.astype(rtol.dtype)
    gap = jnp.abs(xf - rf)
    bad = ~(gap <= rtol * jnp.abs(rf))  # NaN counts as a mismatch
    return {"differ": _total(bad.astype(jnp.int32)),
            "worst": jnp.max(jnp.where(jnp.isfinite(gap), gap, jnp.inf))}


def _gram_error(q: jax.Array, scale2: jax.Array) -> jax.Array:
    m, n = q.shape
    qh = jnp.conj(q.T) if jnp.iscomplexobj(q) else q.T
    g = jnp.matmul(qh, q, precision=_HIGHEST) if m >= n else jnp.matmul(q, qh, precision=_HIGHEST)
    return jnp.max(jnp.abs(g / scale2.astype(g.dtype) - jnp.eye(g.shape[0], dtype=g.dtype)))


def _as_compute(x: jax.Array) -> jax.Array:
    if jnp.iscomplexobj(x):
        return x.astype(jnp.complex128 if x.dtype == jnp.complex128 else jnp.complex64)
    return x.astype(compute_dtype(x.dtype))


@functools.partial(jax.jit, static_argnames=("column_axis",))
def orthogonality(x: jax.Array, scale2: jax.Array, column_axis: int) -> dict[str, jax.Array]:
    r""":math:`\max|Q^H Q/s^2 - I|` (or :math:`QQ^H`, the smaller side) of the matrix view."""
    xc = _as_compute(x)
    n = x.shape[column_axis]
    q = jnp.moveaxis(xc, column_axis, -1).reshape(-1, n)
    return {"gram": _gram_error(q, scale2), "nonfinite": _total((~jnp.isfinite(xc)).astype(jnp.int32))}


@functools.partial(jax.jit, static_argnames=("axes",))
def unit_norms(x: jax.Array, axes: tuple[int, ...]) -> dict[str, jax.Array]:
    r""":math:`\max |\lVert v \rVert^2 - 1|` over the vectors along ``axes``."""
    xc = _as_compute(x)
    sq = jnp.sum(xc * xc, axis=axes)
    return {"gram": jnp.max(jnp.abs(sq - 1)),
            "nonfinite": _total((~jnp.isfinite(xc)).astype(jnp.int32))}


@functools.partial(jax.jit, static_argnames=("centre",))
def delta_orthogonality(x: jax.Array, scale2: jax.Array, centre: tuple[int, ...]
                        ) -> dict[str, jax.Array]:
    """Largest off-centre tap and the centre block's Gram error."""
    xc = _as_compute(x)
    return {"gram": _gram_error(xc[centre], scale2),
            "off_centre": jnp.max(jnp.abs(xc.at[centre].set(0))),
            "nonfinite": _total((~jnp.isfinite(xc)).astype(jnp.int32))}


@functools.partial(jax.jit, static_argnames=("grid",))
def isometry(x: jax.Array, scale2: jax.Array, grid: int) -> dict[str, jax.Array]:
    r""":math:`\max_\omega |\hat W(\omega)\hat W(\omega)^H/s^2 - I|` on the DFT grid."""
    spatial = tuple(range(x.ndim - 2))
    xc = x.astype(jnp.complex128 if compute_dtype(x.dtype) == np.float64 else jnp.complex64)
    size = max((grid,) + tuple(x.shape[:-2]))
    sym = jnp.fft.fftn(xc, s=(size,) * len(spatial), axes=spatial).reshape(-1, *x.shape[-2:])
    g = jnp.einsum("fij,fkj->fik", sym, jnp.conj(sym), precision=_HIGHEST)
    eye = jnp.eye(x.shape[-2], dtype=g.dtype)
    return {"gram": jnp.max(jnp.abs(g / scale2.astype(g.dtype) - eye)),
            "max_abs": jnp.max(jnp.abs(xc)),
            "nonfinite": _total((~jnp.isfinite(xc)).astype(jnp.int32))}


def head(x: jax.Array, budget: int = 1 << 16) -> np.ndarray:
    """About ``budget`` leading values of ``x`` on the host (a corner block, not the leaf)."""
    index = []
    for i, dim in enumerate(x.shape):
        rest = math.prod(x.shape[i + 1:])
        if rest >= budget:
            index.append(slice(0, 1))
            continue
        index.append(slice(0, min(dim, -(-budget // max(rest, 1)))))
        break
    return np.asarray(jax.device_get(x[tuple(index)])).reshape(-1)
