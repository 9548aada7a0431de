"""Gaussian expectations E[f(x)], x ~ N(m, s^2), and E[f(u1) g(u2)] for correlated pairs.

Shared by the gains (:mod:`jinit._gain`) and the mean-field engine (:mod:`jinit._meanfield`).

The rule
--------
Every expectation is written in the standard variable ``z = (x - m) / s`` and integrated
over ``|z| <= 13`` (the normal mass outside is ``2 Phi(-13) = 1.2e-38``) by composite
20-point Gauss-Legendre on panels whose edges are

* a uniform grid of step 1/2, which resolves the Gaussian weight itself;
* every *point* of the activation mapped to ``z``: its kinks (where a derivative jumps, such
  as 0 for ReLU/ELU/SELU/softsign, +-1 for hard tanh, 0 and 6 for ReLU6) and 0, where every
  named activation has its curvature; a panel never straddles a kink, so each panel sees a
  function that is analytic on it;
* a geometric grading around each point, ``+-a, +-2a, +-4a, ...`` up to 1/2, with ``a`` a
  quarter of the activation's length scale 1 in ``z`` units (``1/(4s)`` when ``s > 1``).
  Panels ``[a 2^j, a 2^(j+1)]`` sit at least their own width away from the point, so a
  singularity of the continuation at the point (the poles of tanh and sigmoid at
  ``+-i pi/2``, the branch points of softplus) costs nothing: the Gauss-Legendre error decays
  like ``4.2^(-40)`` per panel.

The result is accurate to about 1e-14 relative for every activation this package names and
for any ``s`` from 0 to 1e12 (checked in ``tests/test_gain.py`` against closed forms and
an independent integration). An activation with a kink or a sharp feature at a point other
than those must name it (``breakpoints=``), or that panel converges only algebraically.

For a correlated pair ``u1 = sqrt(q) z1``, ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)``
(the Cholesky form of the covariance ``q [[1, c], [c, 1]]``), the inner expectation over
``z2`` is the same rule applied to ``N(c u1, q (1 - c^2))`` at every outer node, with the
kinks mapped per node; the outer rule over ``z1`` adds the points ``b / c`` where the inner
average has its smoothed kink and grades down to that smoothing width
``sqrt(1 - c^2) / |c|``, so the tensor rule stays accurate as ``c -> 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

_CUT = 13.0  # |z| limit
_STEP = 0.5  # uniform panel width in z
_FINEST = 1e-9  # no grading below this (a kink smoothed over less than this is a kink)
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)
_GRID = np.arange(-_CUT, _CUT + _STEP / 2, _STEP)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _offsets(finest: float) -> np.ndarray:
    """Geometric offsets ``finest * 2^j`` below the uniform step."""
    finest = max(finest, _FINEST)
    out = []
    a = finest
    while a < _STEP:
        out.append(a)
        a *= 2.0
    return np.asarray(out, np.float64)


def _rule(mean: np.ndarray, std: float, points: np.ndarray,
          finest: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x`` and weights ``w`` with ``sum(w * f(x)) = E f(mean + std z)`` per row.

    ``mean`` has shape ``(R,)``; the result has shape ``(R, N)``, the same ``N`` for every row
    (edges outside ``[-13, 13]`` collapse onto the limits and make zero-width panels).
    """
    mean = np.asarray(mean, np.float64)[:, None]
    rows = mean.shape[0]
    if std > 0.0:
        centres = (points[None, :] - mean) / std
    else:  # a point mass: every point is at +-infinity except one exactly at the mean
        centres = np.where(points[None, :] > mean, np.inf, -np.inf)
        centres = np.where(points[None, :] == mean, 0.0, centres)
    offsets = _offsets(finest)
    graded = centres[:, :, None] + np.concatenate([offsets, -offsets])[None, None, :]
    edges = np.concatenate(
        [np.broadcast_to(_GRID, (rows, _GRID.size)), centres, graded.reshape(rows, -1)], axis=1)
    edges = np.sort(np.clip(edges, -_CUT, _CUT), axis=1)
    half = 0.5 * (edges[:, 1:] - edges[:, :-1])
    mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
    z = mid[:, :, None] + half[:, :, None] * _NODES
    w = half[:, :, None] * _WEIGHTS * (_INV_SQRT_2PI * np.exp(-0.5 * z * z))
    return (mean + std * z.reshape(rows, -1)), w.reshape(rows, -1)


def _points(points: Sequence[float]) -> np.ndarray:
    return np.unique(np.asarray([0.0, *points], np.float64))


def normal_rule(q: float, points: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``E f(x)``, ``x ~ N(0, q)``, panels split at ``points`` and 0."""
    s = math.sqrt(q)
    x, w = _rule(np.zeros(1), s, _points(points), 0.25 * min(1.0, 1.0 / s) if s > 0 else 0.25)
    return x[0], w[0]


def expect(f: Callable[[np.ndarray], np.ndarray], q: float, points: Sequence[float] = ()) -> float:
    """``E f(x)`` for ``x ~ N(0, q)`` with ``f`` a vectorized float64 function."""
    x, w = normal_rule(q, points)
    return float(np.dot(w, f(x)))


def pair_rule(q: float, c: float,
              points: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes and weights for ``E f(u1) g(u2)``, ``(u1, u2) ~ N(0, q [[1, c], [c, 1]])``.

    Returns ``x1`` of shape ``(R,)``, ``x2`` and ``w`` of shape ``(R, M)``, so that the
    expectation is ``sum(w * f(x1)[:, None] * g(x2))``.
    """
    pts = _points(points)
    s = math.sqrt(q)
    sc = math.sqrt(max((1.0 - c) * (1.0 + c), 0.0))  # sqrt(1 - c^2) without cancellation
    outer_pts = pts
    outer_finest = 0.25 * min(1.0, 1.0 / s) if s > 0 else 0.25
    if c != 0.0:
        outer_pts = np.unique(np.concatenate([pts, pts / c]))
        outer_finest = min(outer_finest, 0.25 * sc / abs(c))
    x1, w1 = _rule(np.zeros(1), s, outer_pts, outer_finest)
    x1, w1 = x1[0], w1[0]
    inner_std = s * sc
    inner_finest = 0.25 * min(1.0, 1.0 / inner_std) if inner_std > 0 else 0.25
    x2, w2 = _rule(c * x1, inner_std, pts, inner_finest)
    return x1, x2, w1[:, None] * w2

