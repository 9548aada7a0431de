r"""Batched draws and their reductions, for every (initializer, shape, dtype) task.

For each task :math:`M` independent arrays are drawn in one ``jax.vmap`` over split keys;
the first :math:`n` values (``Task.values``, the run's sample size) are reduced to a few
numbers: centred sums :math:`\sum (x - \mu)`, :math:`\sum (x - \mu)^2` (with :math:`\mu`
the mean of the law as delivered in the dtype), extremes, counts of non-finite values, of
zeros and of values at the law's bounds, and counts of values at or below 255 fixed test points :math:`e_j` (the quantiles of
the declared law). Orthogonal schemes reduce to the largest entry of
:math:`|Q^\top Q/s^2 - I|` over the draws and one entry per draw. The host turns the numbers
into checks in float64 (:mod:`jinit.verify._verdicts`, with the tolerances of :mod:`jinit.laws`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import zlib
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jinit._console import first_line
from jinit.laws import (
    EDGES,
    ComplexLaw,
    ConvIsometry,
    DeltaOrthogonal,
    Exact,
    Orthogonal,
    Rounded,
    bound_edges,
    compute_dtype,
    for_dtype,
)

ALPHA = 1e-6  # false-failure rate of each check
_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(eq=False)
class Task:
    """One (initializer, shape, dtype) to verify against ``law``."""

    label: str
    init: Callable
    law: object
    shape: tuple[int, ...]
    dtype: np.dtype
    shape_label: str = ""
    arrays: int = 0
    seed: int = 0
    values: int | None = None  # values used by the moment checks (None: all drawn)

    def key(self) -> jax.Array:
        tag = zlib.crc32(f"{self.label}|{self.shape_label}|{self.dtype.name}".encode()) & 0x7FFFFFFF
        return jax.random.fold_in(jax.random.key(self.seed), tag)


def arrays_for(law: object, shape: tuple[int, ...], samples: int) -> int:
    """How many arrays a task draws: ``samples`` values, within per-family limits."""
    size = max(math.prod(shape), 1)
    m = math.ceil(samples / size)
    if isinstance(law, (Orthogonal, DeltaOrthogonal)):
        return int(min(max(m, 128), 512))
    if isinstance(law, ConvIsometry):
        return int(min(max(m, 16), 64))
    if isinstance(law, Exact):
        return 2
    return int(max(m, 2))


def _total(v: jax.Array) -> jax.Array:
    """Sum in two stages (rows of 256), so float32 rounding stays ~1e-6 relative."""
    v = v.reshape(-1)
    pad = (-v.size) % 256
    return jnp.sum(jnp.sum(jnp.pad(v, (0, pad)).reshape(-1, 256), axis=1))


def _rank(x: jax.Array, edges: jax.Array) -> jax.Array:
    """Number of ``edges`` strictly below each ``x`` (unrolled binary search, 2**k - 1 edges)."""
    pos = jnp.zeros(x.shape, jnp.int32)
    step = (edges.shape[0] + 1) // 2
    while step >= 1:
        cand = pos + step
        pos = jnp.where(jnp.take(edges, cand - 1, mode="clip") < x, cand, pos)
        step //= 2
    return pos


def _hist(x: jax.Array, edges: jax.Array, drop: jax.Array | None = None) -> jax.Array:
    idx = _rank(x.reshape(-1), edges)
    length = edges.shape[0] + 1
    if drop is not None:
        idx = jnp.where(drop.reshape(-1), length, idx)
    return jnp.bincount(idx, length=length + 1)[:length]


def _gram_error(q: jax.Array, scale2: jax.Array) -> jax.Array:
    """``max |Q^H Q / s^2 - I|`` on the smaller side."""
    m, n = q.shape
    qh = jnp.conj(q.T) if jnp.iscomplexobj(q) else q.T
    g = jnp.matmul(qh, q, precision=_HIGHEST) if m >= n else jnp.matmul(q, qh, precision=_HIGHEST)
    eye = jnp.eye(g.shape[0], dtype=g.dtype)
    return jnp.max(jnp.abs(g / scale2.astype(g.dtype) - eye))


# ------------------------------------------------------------------------ stats
#
# Compile time dominates a run on a CPU, so draws and statistics are split: each task's
# arrays are drawn by ``jax.vmap(init)`` over split keys *eagerly*, where every primitive's
# compiled kernel is cached by shape and dtype and therefore shared between initializers;
# the reductions of the values (sums, extremes, histogram against test points passed as
# arguments) are one ``jax.jit`` program per value count, shared by every task of a run.


@jax.jit
def _real_reduce(x: jax.Array, centre: jax.Array, edges: jax.Array, ends: jax.Array) -> dict:
    d = x - centre
    return {"s1": _total(d), "s2": _total(d * d), "min": jnp.min(x), "max": jnp.max(x),
            "nonfinite": jnp.sum(~jnp.isfinite(x)), "zeros": jnp.sum(x == 0),
            "at_lo": jnp.sum(x <= ends[0]), "at_hi": jnp.sum(x >= ends[1]),
            "hist": _hist(x, edges)}


@jax.jit
def _complex_reduce(re: jax.Array, im: jax.Array, edges_r: jax.Array, edges_p: jax.Array) -> dict:
    r2 = re * re + im * im
    r = jnp.sqrt(r2)
    zero = r2 == 0
    return {"s_re": _total(re), "s_im": _total(im), "s_r2": _total(r2),
            "s_pr": _total(re * re - im * im), "s_pi": _total(2 * re * im),
            "max_r": jnp.max(r), "nonfinite": jnp.sum(~jnp.isfinite(r2)),
            "zeros": jnp.sum(zero), "hist_r": _hist(r, edges_r),
            "hist_p": _hist(jnp.arctan2(im, re), edges_p, drop=zero)}


def draw(task: Task) -> jax.Array:
    """``task.arrays`` independent arrays, stacked on a leading axis (vmapped over keys)."""
    keys = jax.random.split(task.key(), task.arrays)
    return jax.vmap(lambda k: task.init(k, task.shape, task.dtype))(keys)


def values(task: Task) -> int:
    """How many values the moment checks of a task use."""
    return task.arrays * math.prod(task.shape) if task.values is None else task.values


@functools.partial(jax.jit, static_argnums=(1, 2))
def _structure_reduce(x: jax.Array, law: object, shape: tuple[int, ...]) -> dict:
    """Orthogonality / isometry statistics of a batch of arrays (one program per law × shape)."""
    dtype = x.dtype
    cdt = compute_dtype(np.dtype(dtype))
    cplx = bool(jnp.issubdtype(dtype, jnp.complexfloating))
    if isinstance(law, ConvIsometry):
        spatial = tuple(range(1, len(shape) - 1))
        grid = max((law.grid,) + shape[:-2])
        xc = x.astype(jnp.complex64 if cdt == np.float32 else jnp.complex128)
        sym = jnp.fft.fftn(xc, s=(grid,) * len(spatial), axes=spatial)
        sym = sym.reshape(-1, shape[-2], shape[-1])
        g = jnp.einsum("fij,fkj->fik", sym, jnp.conj(sym), precision=_HIGHEST)
        eye = jnp.eye(shape[-2], dtype=g.dtype)
        scale2 = np.asarray(law.scale ** 2, cdt).astype(g.dtype)
        return {"nonfinite": jnp.sum(~jnp.isfinite(xc)),
                "gram": jnp.max(jnp.abs(g / scale2 - eye)), "max_abs": jnp.max(jnp.abs(xc))}
    xc = x.astype(jnp.complex64 if cplx and cdt == np.float32 else
                  (jnp.complex128 if cplx else cdt))
    scale2 = np.asarray(law.scale ** 2, cdt)
    out = {"nonfinite": jnp.sum(~jnp.isfinite(xc))}
    if isinstance(law, DeltaOrthogonal):
        centre = (slice(None),) + law.centre_index(shape)
        q = xc[centre]
        out["off_centre"] = jnp.max(jnp.abs(xc.at[centre].set(0)))
    else:
        m, n = law.view(shape)
        q = jnp.moveaxis(xc, law.column_axis % len(shape) + 1, -1).reshape(-1, m, n)
    out["gram"] = jnp.max(jax.vmap(lambda a: _gram_error(a, scale2))(q))
    out["e00"] = q[:, 0, 0]
    return out


def _stats(task: Task, x: jax.Array) -> dict:
    law, shape, dtype = task.law, task.shape, task.dtype
    cdt = compute_dtype(dtype)
    if tuple(x.shape) != (task.arrays,) + tuple(shape) or x.dtype != dtype:
        raise TypeError(f"returned {x.dtype.name}{list(x.shape[1:])}; expected "
                        f"{np.dtype(dtype).name}{list(shape)}")
    if isinstance(law, (Orthogonal, DeltaOrthogonal, ConvIsometry)):
        return jax.device_get(_structure_reduce(x, law, tuple(shape)))

    n = values(task)
    if isinstance(law, ComplexLaw):
        edges_r = np.asarray(law.modulus_ppf(np.arange(1, EDGES + 1) / (EDGES + 1)), cdt)
        edges_p = np.asarray(-np.pi + 2 * np.pi * np.arange(1, EDGES + 1) / (EDGES + 1), cdt)
        flat = x.reshape(-1)[:n]
        out = _complex_reduce(jnp.real(flat).astype(cdt), jnp.imag(flat).astype(cdt),
                              edges_r, edges_p)
        return jax.device_get(out)

    base = law.base if isinstance(law, Rounded) else law
    edges = np.sort(np.asarray(base.ppf(np.arange(1, EDGES + 1) / (EDGES + 1)), cdt))
    xf = x.astype(cdt)
    # Centre at the mean of the law as delivered in this dtype (the rounded law below 32 bits),
    # the same number the host adds back: the sums are then of x - centre exactly.
    centre = np.asarray(for_dtype(base, dtype).mean, cdt)
    ends = np.asarray(bound_edges(base, dtype), cdt)
    out = dict(_real_reduce(xf.reshape(-1)[:n], centre, edges, ends))
    out["centre"] = centre
    zeros_per = getattr(base, "zeros_per", None)
    if zeros_per is not None:
        counts = jnp.sum(xf.reshape(task.arrays, -1, shape[-1]) == 0, axis=zeros_per[0] + 1)
        out["zeros_min"], out["zeros_max"] = jnp.min(counts), jnp.max(counts)
    return jax.device_get(out)


def run_tasks(tasks: Sequence[Task]) -> list[dict | Exception]:
    """Stats for every task; an exception (reported as a failing row) where a task errs."""
    out: list[dict | Exception] = []
    for task in tasks:
        try:
            if isinstance(task.law, Exact):
                out.append(_run_exact(task))
            else:
                out.append(_stats(task, draw(task)))
        except Exception as exc:  # noqa: BLE001 - a broken initializer is a failing row
            out.append(RuntimeError(first_line(exc)))
    return out


def _run_exact(task: Task) -> dict | Exception:
    draws = [np.asarray(jax.device_get(task.init(k, task.shape, task.dtype)))
             for k in jax.random.split(task.key(), 2)]
    return {"draws": draws}
