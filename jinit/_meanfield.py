r"""The mean-field engine: Gaussian moments of an activation, the variance and correlation maps,
their fixed points and slopes, and the one root finder they share.

Every expectation is over :math:`x \sim \mathcal{N}(0, q)` (pairs: over
:math:`(u_1, u_2) \sim \mathcal{N}(0, q[[1, c], [c, 1]])`) and is computed by the rule of
:mod:`jinit._quadrature`. Positively homogeneous activations (:math:`a x` for :math:`x < 0`,
:math:`b x` for :math:`x > 0`: linear, ReLU, leaky ReLU) use closed forms, so He's 2 and
LeCun's 1 are exact and the correlation map is Cho & Saul's arc-cosine kernel. Arguments here
are already validated (an :class:`jinit._activations.Activation` and Python floats); the
public checks and docs live in :mod:`jinit.theory` and :mod:`jinit._gain`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

from . import _quadrature
from ._activations import Activation
from ._base import public

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Q_MAX = 1e30  # a variance beyond this is infinite: the map diverges
Q_MIN = 1e-30  # a variance below this is zero: the map vanishes
ZERO_TOL = 1e-13  # |V(q0) - q0| <= ZERO_TOL q0: q0 is itself a fixed point
SLOPE_TOL = 1e-6  # |V'(q*) - 1| <= SLOPE_TOL: a neutral fixed point
EDGE_TOL = 1e-12  # |chi - 1| <= EDGE_TOL: the edge of chaos (100x the quadrature's accuracy)

# ------------------------------------------------------------------------------ moments


def m1(act: Activation, q: float) -> float:
    """E phi(x)."""
    if act.pieces is not None:
        a, b = act.pieces
        return math.sqrt(q) * (b - a) * _INV_SQRT_2PI
    return _quadrature.expect(act.f, q, act.points)


def m2(act: Activation, q: float) -> float:
    """E phi(x)^2."""
    if act.pieces is not None:
        a, b = act.pieces
        return q * (a * a + b * b) / 2
    return _quadrature.expect(lambda x: act.f(x) ** 2, q, act.points)


def centred2(act: Activation, q: float) -> float:
    """Var phi(x), computed as E (phi - E phi)^2 to avoid cancellation."""
    if act.pieces is not None:
        a, b = act.pieces
        return q * ((a * a + b * b) / 2 - (b - a) ** 2 / (2 * math.pi))
    x, w = _quadrature.normal_rule(q, act.points)
    y = act.f(x)
    mean = float(np.dot(w, y))
    return float(np.dot(w, (y - mean) ** 2))


def d2(act: Activation, q: float) -> float:
    """E phi'(x)^2."""
    if act.pieces is not None:
        a, b = act.pieces
        return (a * a + b * b) / 2
    return _quadrature.expect(lambda x: act.df(x) ** 2, q, act.points)


def dm2_dq(act: Activation, q: float) -> float:
    """d/dq E phi(sqrt(q) z)^2 = E[phi(x) phi'(x) x] / q (no second derivative, so kinks are fine)."""
    if act.pieces is not None:
        a, b = act.pieces
        return (a * a + b * b) / 2
    q = max(q, 1e-30)  # the q -> 0 limit, phi'(0)^2 + phi(0) phi''(0), to O(1e-30)
    return _quadrature.expect(lambda x: act.f(x) * act.df(x) * x, q, act.points) / q


def _homogeneous_pair(pieces: tuple[float, float], q: float, c: float,
                      derivative: bool) -> float:
    a, b = pieces
    theta = math.acos(min(1.0, max(-1.0, c)))
    if derivative:  # P(u1 > 0, u2 > 0) = (pi - theta) / (2 pi); P(u1 > 0, u2 < 0) = theta / (2 pi)
        return ((a * a + b * b) * (math.pi - theta) + 2 * a * b * theta) / (2 * math.pi)

    def k(c_: float, th: float) -> float:  # E relu(u1) relu(u2): Cho & Saul's arc-cosine kernel
        return q / (2 * math.pi) * (math.sqrt(max((1 - c_) * (1 + c_), 0.0)) + (math.pi - th) * c_)

    return (a * a + b * b) * k(c, theta) - 2 * a * b * k(-c, math.pi - theta)


def pair(act: Activation, q: float, c: float, derivative: bool = False) -> float:
    """E f(u1) f(u2) with f = phi (or phi'), (u1, u2) ~ N(0, q [[1, c], [c, 1]])."""
    if act.pieces is not None:
        return _homogeneous_pair(act.pieces, q, c, derivative)
    f = act.df if derivative else act.f
    if c == 1.0:
        return _quadrature.expect(lambda x: f(x) ** 2, q, act.points)
    x1, x2, w = _quadrature.pair_rule(q, c, act.points)
    y2 = f(x2.ravel()).reshape(x2.shape)
    return float(np.sum(f(x1) * np.einsum("ij,ij->i", w, y2)))


# ------------------------------------------------------------------------- root finding


def find_root(g: Callable[[float], float], lo: float, hi: float, g_lo: float, g_hi: float,
              *, rtol: float = 4e-16, iters: int = 200) -> float:
    """A root of ``g`` in ``[lo, hi]`` given ``g_lo * g_hi <= 0`` (Illinois false position).

    Superlinear like the secant method, but always bracketed: when the same end is kept
    twice, its function value is halved so the bracket keeps shrinking from both sides.
    A bisection step is forced whenever the bracket fails to halve in three steps.
    """
    if g_lo == 0.0:
        return lo
    if g_hi == 0.0:
        return hi
    side = 0
    width = abs(hi - lo)
    stalled = 0
    for _ in range(iters):
        if abs(hi - lo) <= rtol * max(abs(lo), abs(hi)) + 1e-300:
            break
        if stalled >= 3:
            x = 0.5 * (lo + hi)
            stalled = 0
        else:
            x = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
            if not lo < x < hi and not hi < x < lo:
                x = 0.5 * (lo + hi)
        gx = g(x)
        if gx == 0.0:
            return x
        if (gx > 0) == (g_hi > 0):
            hi, g_hi = x, gx
            if side == -1:
                g_lo *= 0.5
            side = -1
        else:
            lo, g_lo = x, gx
            if side == 1:
                g_hi *= 0.5
            side = 1
        new_width = abs(hi - lo)
        stalled = stalled + 1 if new_width > 0.5 * width else 0
        if stalled == 0:
            width = new_width
    return lo if abs(g_lo) <= abs(g_hi) else hi


def bracket(g: Callable[[float], float], points: Iterable[float], g_first: float | None = None
            ) -> tuple[float, float, float, float] | None:
    """Walks the monotone ``points`` until ``g`` leaves the strict sign it has at the first.

    Returns ``(lo, hi, g(lo), g(hi))`` with ``lo <= hi``, the last two points walked (both the
    first point when ``g`` is 0 there), or ``None`` when ``g`` keeps its sign at every point.
    ``g_first`` is ``g`` at the first point, when the caller has it already.
    """
    it = iter(points)
    a = next(it)
    g_a = g(a) if g_first is None else g_first
    if g_a == 0.0:
        return a, a, g_a, g_a
    positive = g_a > 0
    for b in it:
        g_b = g(b)
        if (g_b > 0) if positive else (g_b < 0):
            a, g_a = b, g_b
            continue
        return (a, b, g_a, g_b) if a <= b else (b, a, g_b, g_a)
    return None


def solve(g: Callable[[float], float], points: Iterable[float], g_first: float | None = None,
          *, rtol: float = 4e-16) -> float | None:
    """The root of ``g`` that :func:`bracket` finds along ``points``, to ``rtol``; or ``None``."""
    found = bracket(g, points, g_first)
    return None if found is None else find_root(g, *found, rtol=rtol)


def _geometric(x0: float, up: bool, limit: float) -> Iterator[float]:
    """x0, then x0 * 2, * 4, * 16, * 256 and * 1e4 per step (or divided), until past ``limit``."""
    x, factor = x0, 2.0
    yield x
    while True:
        x = factor * x if up else x / factor
        yield x
        if (x > limit) if up else (x < limit):
            return
        factor = min(factor * factor, 1e4)


# ------------------------------------------------------------------------------- variance


def variance_map(act: Activation, q: float, sigma_w2: float, sigma_b2: float) -> float:
    """V(q) = sigma_w2 E phi(sqrt(q) z)^2 + sigma_b2."""
    return sigma_w2 * m2(act, q) + sigma_b2


def unit_variance_scale(act: Activation) -> float:
    """The sigma_w2 whose zero-bias variance map has the fixed point q* = 1: 1 / E phi(z)^2.

    Exact for the homogeneous activations (He's 2 / (a^2 + b^2); LeCun's 1 for linear) and
    for SELU, whose constants make E selu(z)^2 = 1 (Klambauer et al. 2017).
    """
    if act.name == "selu":
        return 1.0
    if act.pieces is not None:
        if act.name == "linear":
            return 1.0
        a, b = act.pieces
        return 2.0 / (a * a + b * b)
    return 1.0 / m2(act, 1.0)


def fixed_point_q(act: Activation, sigma_w2: float, sigma_b2: float, q0: float) -> float:
    """The limit of q_{l+1} = V(q_l) from q0: ``inf`` beyond Q_MAX, ``0.0`` below Q_MIN.

    For a map that is increasing in q (every activation named here), the iterates move
    monotonically towards the first root of V(q) - q on the side where V(q0) - q0 points.
    """
    def g(q: float) -> float:
        return variance_map(act, q, sigma_w2, sigma_b2) - q

    g0 = g(q0)
    if abs(g0) <= ZERO_TOL * max(q0, g0 + q0):
        return q0
    up = g0 > 0
    root = solve(g, _geometric(q0, up, Q_MAX if up else Q_MIN), g0)
    if root is None:
        return math.inf if up else 0.0
    return root


def chi1(act: Activation, q: float, sigma_w2: float) -> float:
    """sigma_w2 E phi'(sqrt(q) z)^2, the slope of the correlation map at c = 1 (q = inf: at Q_MAX)."""
    return sigma_w2 * d2(act, Q_MAX if math.isinf(q) else q)


@public("jinit.theory")
class Stability(NamedTuple):
    r"""Forward-variance stability of a deep stack, as :func:`jinit.theory.stability` returns it.

    Fields:
      sigma_w2: the weight variance times fan-in the diagnosis is for.
      sigma_b2: the bias variance.
      q_star: the fixed point reached from ``q0`` (``inf``: the variance diverges, ``0.0``:
        it vanishes).
      slope: :math:`V'(q^*)`, the factor by which a small deviation from :math:`q^*` grows
        per layer.
      chi1: :math:`\sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*} z)^2]`, the per-layer factor of
        back-propagated gradient second moments.
      verdict: ``'stable'`` (slope < 1), ``'neutral'`` (slope = 1 within 1e-6),
        ``'unstable'`` (slope > 1), ``'vanishing'`` (:math:`q^* = 0`) or ``'exploding'``
        (:math:`q^* = \infty`).

    Example:
      >>> from jinit import theory
      >>> theory.stability("relu")
      Stability(sigma_w2=2.0, sigma_b2=0.0, q_star=1.0, slope=1.0, chi1=1.0, verdict='neutral')
    """

    sigma_w2: float
    sigma_b2: float
    q_star: float
    slope: float
    chi1: float
    verdict: str


def stability(act: Activation, sigma_w2: float, sigma_b2: float, q0: float) -> Stability:
    """The fixed point reached from q0, the map's slope there, chi1, and the verdict."""
    q_star = fixed_point_q(act, sigma_w2, sigma_b2, q0)
    if math.isinf(q_star):
        slope = math.inf
        verdict = "exploding"
    else:
        slope = sigma_w2 * dm2_dq(act, q_star)
        if q_star == 0.0:
            verdict = "vanishing"
        elif slope > 1 + SLOPE_TOL:
            verdict = "unstable"
        elif slope >= 1 - SLOPE_TOL:
            verdict = "neutral"
        else:
            verdict = "stable"
    return Stability(float(sigma_w2), float(sigma_b2), float(q_star), float(slope),
                     float(chi1(act, q_star, sigma_w2)), verdict)


# ---------------------------------------------------------------------------- correlation


def correlation_map(act: Activation, c: float, q: float, sigma_w2: float, sigma_b2: float,
                    vq: float) -> float:
    """C(c) = (sigma_w2 E phi(u1) phi(u2) + sigma_b2) / V(q), with ``vq`` = V(q) > 0."""
    return (sigma_w2 * pair(act, q, c) + sigma_b2) / vq


def fixed_point_c(act: Activation, sigma_w2: float, sigma_b2: float, q0: float
                  ) -> tuple[float, float, float]:
    """``(q*, c*, chi_c)``, with q* reached from q0 (``(inf, nan, nan)`` when q* is infinite).

    c* = 1 and chi_c = chi1 in the ordered phase (chi1 <= 1 + EDGE_TOL); in the chaotic
    phase c* is the root of C(c) = c found walking 0, 1/2, 3/4, ..., 1 - 2^-50, where
    C(0) >= 0 (a negative computed C(0) is rounding, taken as 0) and C(c) < c just below 1.
    """
    q = fixed_point_q(act, sigma_w2, sigma_b2, q0)
    if math.isinf(q):
        return q, math.nan, math.nan
    chi = chi1(act, q, sigma_w2)
    if q == 0.0 or chi <= 1.0 + EDGE_TOL:
        return q, 1.0, chi
    vq = variance_map(act, q, sigma_w2, sigma_b2)

    def d(c: float) -> float:
        return correlation_map(act, c, q, sigma_w2, sigma_b2, vq) - c

    points = (0.0, 0.5, *(1.0 - 2.0**-k for k in range(2, 51)))
    c = solve(d, points, max(d(0.0), 0.0), rtol=1e-15)
    if c is None:
        return q, 1.0, chi
    return q, c, sigma_w2 * pair(act, q, c, derivative=True)


def critical_sigma_w2(act: Activation, sigma_b2: float, q0: float
                      ) -> tuple[float | None, float]:
    """``(sigma_w2, chi1 - 1 there)`` where chi1 crosses 1, or ``(None, nan)`` if it never does.

    The bracket walks from 1 by doubling or halving (40 steps each way). A coarse solve first:
    a jump of chi1 over 1 (where q* jumps between 0 and inf) shows as a large residual there;
    a continuous crossing is then refined to 1e-15 in a bracket of +-1e-6 around it.
    """
    def f(sw2: float) -> float:
        return chi1(act, fixed_point_q(act, sw2, sigma_b2, q0), sw2) - 1.0

    f1 = f(1.0)
    up = f1 < 0
    points = (2.0**k if up else 0.5**k for k in range(41))
    found = bracket(f, points, f1)
    if found is None:
        return None, math.nan
    root = find_root(f, *found, rtol=1e-7)
    f_root = f(root)
    if abs(f_root) < 1e-4:
        a, b = root * (1 - 1e-6), root * (1 + 1e-6)
        f_a, f_b = f(a), f(b)
        if f_a * f_b <= 0:
            found = a, b, f_a, f_b
        root = find_root(f, *found, rtol=1e-15)
        f_root = f(root)
    return root, f_root
