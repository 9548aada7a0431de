"""Exact laws and confidence bounds for the statistical tests, independent of jinit.

Every expected value here is written from its formula (normal, uniform and truncated-normal
CDFs and moments, the marginal of a Haar-orthogonal entry, circular complex laws), never
taken from the code under test. Low-precision outputs are compared with the exact law
*rounded* to the dtype: the dtype's finite values are enumerated (at most 65,536) and each
receives the probability of its rounding cell, so "the promised variance holds" is checked
without widening any tolerance.

Tolerances come from the sample size at a stated false-failure rate: ``Z = 4.9`` is the
two-sided normal quantile for ``ALPHA = 1e-6`` per check; a mean of ``n`` iid draws is
within ``Z * sd / sqrt(n)`` of its expectation, a second moment within
``Z * sqrt((mu4 - var**2) / n)`` (that is ``Z * var * sqrt((kurtosis - 1) / n)``), and an
empirical CDF within the DKW bound ``sqrt(ln(2 / ALPHA) / (2 n))`` of the true one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import ml_dtypes
import numpy as np
from scipy import special

ALPHA = 1e-6
Z = 4.9  # two-sided normal quantile at ALPHA: Phi^-1(1 - 5e-7) = 4.89


def std_pdf(x):
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi)


def std_cdf(x):
    return 0.5 * special.erfc(-np.asarray(x, np.float64) / math.sqrt(2.0))


# ----------------------------------------------------------------------------------- laws


@dataclass(frozen=True)
class Law:
    """A real distribution known exactly: its CDF, mean, variance, 4th central moment, support."""

    cdf: Callable[[np.ndarray], np.ndarray]
    mean: float
    var: float
    mu4: float
    lo: float = -math.inf
    hi: float = math.inf
    name: str = ""

    @property
    def sd(self) -> float:
        return math.sqrt(self.var)


def _central(m1: float, m2: float, m3: float, m4: float) -> tuple[float, float]:
    var = m2 - m1**2
    mu4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    return var, mu4


def normal(sigma: float, mu: float = 0.0) -> Law:
    """N(mu, sigma^2): variance sigma^2, kurtosis 3."""
    return Law(lambda x: std_cdf((np.asarray(x) - mu) / sigma), mu, sigma**2, 3 * sigma**4,
               name=f"N({mu:g}, {sigma:g}^2)")


def uniform(a: float, b: float) -> Law:
    """U[a, b]: mean (a+b)/2, variance (b-a)^2/12, 4th central moment (b-a)^4/80."""
    w = b - a
    return Law(lambda x: np.clip((np.asarray(x) - a) / w, 0.0, 1.0), (a + b) / 2, w**2 / 12,
               w**4 / 80, a, b, f"U[{a:g}, {b:g}]")


def truncated_normal(sigma: float, a: float = -2.0, b: float = 2.0) -> Law:
    """sigma * z, z ~ N(0, 1) conditioned on a <= z <= b.

    Raw moments of the truncated standard normal follow the recurrence
    ``E[z^k] = (k-1) E[z^(k-2)] + (a^(k-1) phi(a) - b^(k-1) phi(b)) / (Phi(b) - Phi(a))``.
    """
    mass = float(std_cdf(b) - std_cdf(a))
    pa, pb = float(std_pdf(a)), float(std_pdf(b))
    m = [1.0, (pa - pb) / mass]
    for k in (2, 3, 4):
        m.append((k - 1) * m[k - 2] + (a ** (k - 1) * pa - b ** (k - 1) * pb) / mass)
    var, mu4 = _central(m[1], m[2], m[3], m[4])

    def cdf(x):
        z = np.clip(np.asarray(x, np.float64) / sigma, a, b)
        return (std_cdf(z) - std_cdf(a)) / mass

    return Law(cdf, sigma * m[1], sigma**2 * var, sigma**4 * mu4, a * sigma, b * sigma,
               f"TN({sigma:g}; {a:g}, {b:g})")


def sphere_coordinate(m: int, scale: float = 1.0) -> Law:
    """``scale * u_1`` for u uniform on the unit sphere of R^m: one entry of a Haar Q (m rows).

    ``u_1^2 ~ Beta(1/2, (m-1)/2)``, so ``E u_1^2 = 1/m`` and ``E u_1^4 = 3 / (m (m+2))``.
    """
    def cdf(x):
        t = np.clip(np.asarray(x, np.float64) / scale, -1.0, 1.0)
        return 0.5 + 0.5 * np.sign(t) * special.betainc(0.5, (m - 1) / 2, t * t)

    return Law(cdf, 0.0, scale**2 / m, 3 * scale**4 / (m * (m + 2)), -scale, scale,
               f"{scale:g}*sphere({m})")


def exponential(mean: float, upper: float = math.inf) -> Law:
    """``mean * X`` with X ~ Exp(1) conditioned on ``X <= upper``: the law of ``|w|^2`` of a
    circular complex normal (truncated at modulus ``sqrt(upper)``).

    ``E[X^k | X <= u] = (k! - e^{-u} sum_{j<=k} k!/j! u^j) / (1 - e^{-u})``.
    """
    tail = math.exp(-upper) if math.isfinite(upper) else 0.0

    def raw(k: int) -> float:
        if not math.isfinite(upper):
            return float(math.factorial(k))
        s = sum(math.factorial(k) / math.factorial(j) * upper**j for j in range(k + 1))
        return (math.factorial(k) - tail * s) / (1 - tail)

    var, mu4 = _central(raw(1), raw(2), raw(3), raw(4))

    def cdf(x):
        t = np.clip(np.asarray(x, np.float64) / mean, 0.0, upper)
        return -np.expm1(-t) / (1 - tail)

    return Law(cdf, mean * raw(1), mean**2 * var, mean**4 * mu4, 0.0, mean * upper,
               f"{mean:g}*Exp(1)|<={upper:g}")


def scaled(law: Law, factor: float) -> Law:
    """The law of ``factor * X`` (factor > 0): for negative controls with a wrong scale."""
    return Law(lambda x: law.cdf(np.asarray(x) / factor), law.mean * factor, law.var * factor**2,
               law.mu4 * factor**4, law.lo * factor, law.hi * factor, f"{factor:g}*{law.name}")


def shifted(law: Law, delta: float) -> Law:
    return Law(lambda x: law.cdf(np.asarray(x) - delta), law.mean + delta, law.var, law.mu4,
               law.lo + delta, law.hi + delta, f"{law.name}+{delta:g}")


# ------------------------------------------------------------------------------ rounding


@functools.cache
def representable(dtype: np.dtype) -> np.ndarray:
    """Every finite value of a float dtype of at most 16 bits, sorted and unique, as float64."""
    dtype = np.dtype(dtype)
    bits = np.arange(2 ** (8 * dtype.itemsize)).astype(np.dtype(f"uint{8 * dtype.itemsize}"))
    with np.errstate(invalid="ignore", over="ignore"):
        values = bits.view(dtype).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def is_exact(dtype: np.dtype) -> bool:
    """float32/float64: rounding to the dtype is negligible against any tolerance used here."""
    return np.dtype(dtype).itemsize >= 4


def rounded(law: Law, dtype: np.dtype, *, open_hi: bool = False) -> Law:
    """The exact law of ``law`` rounded to the nearest value of ``dtype``, kept inside its support.

    The kept values are those inside ``[law.lo, law.hi]`` (``< law.hi`` with ``open_hi``) and
    the dtype's finite range; each gets the probability of its rounding cell (midpoints
    between neighbours), the outermost cells extending to infinity, so mass that would round
    outside the support or overflow lands on the extreme kept value.
    """
    if is_exact(dtype):
        return law
    v = representable(dtype)
    keep = (v >= law.lo) & ((v < law.hi) if open_hi else (v <= law.hi))
    v = v[keep]
    edges = np.concatenate([[-np.inf], (v[1:] + v[:-1]) / 2, [np.inf]])
    cdf_edges = np.concatenate([[0.0], law.cdf(edges[1:-1]), [1.0]])
    p = np.diff(cdf_edges)
    p = np.clip(p, 0.0, None)
    p /= p.sum()
    return discrete(v, p, f"{law.name} in {np.dtype(dtype).name}")


def discrete(values: np.ndarray, probs: np.ndarray, name: str = "") -> Law:
    m1 = float(np.dot(probs, values))
    c = values - m1
    var = float(np.dot(probs, c * c))
    mu4 = float(np.dot(probs, c**4))
    cum = np.cumsum(probs)

    def cdf(x):
        idx = np.searchsorted(values, np.asarray(x, np.float64), side="right")
        return np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)

    return Law(cdf, m1, var, mu4, float(values[0]), float(values[-1]), name)


# -------------------------------------------------------------------------------- checks


def as_f64(x) -> np.ndarray:
    """Flattened float64 (or complex128) copy of an array of any float dtype."""
    x = np.asarray(x)
    if np.iscomplexobj(x):
        return x.astype(np.complex128).ravel()
    if x.dtype.itemsize < 4:
        x = x.astype(np.float32)  # exact for every float type of 16 bits or fewer
    return x.astype(np.float64).ravel()


def mean_ok(x: np.ndarray, law: Law, z: float = Z) -> bool:
    """Sample mean within ``z * sd / sqrt(n)`` of the law's mean (exact when var == 0)."""
    n = x.size
    half = z * math.sqrt(law.var / n)
    return abs(float(np.mean(x)) - law.mean) <= half + 1e-12 * (abs(law.mean) + law.sd)


def var_ok(x: np.ndarray, law: Law, z: float = Z) -> bool:
    """Mean of ``(x - law.mean)^2`` within ``z * sqrt((mu4 - var^2) / n)`` of ``law.var``.

    Centring at the known mean makes the statistic a plain mean of iid terms whose
    variance is ``mu4 - var^2`` (``var^2 (kurtosis - 1)``).
    """
    n = x.size
    second = float(np.mean(np.square(x - law.mean)))
    half = z * math.sqrt(max(law.mu4 - law.var**2, 0.0) / n)
    return abs(second - law.var) <= half + 1e-12 * law.var


def dkw_bound(n: int, alpha: float = ALPHA) -> float:
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def dkw_ok(x: np.ndarray, law: Law, alpha: float = ALPHA, points: int = 127) -> bool:
    """Empirical CDF within the DKW bound of ``law.cdf`` at ``points`` fixed abscissae.

    The DKW inequality bounds the supremum over all x, so checking fewer points is
    conservative; it holds for discrete laws too.
    """
    lo = max(law.mean - 4 * law.sd, law.lo)
    hi = min(law.mean + 4 * law.sd, law.hi)
    grid = np.linspace(lo, hi, points + 2)[1:-1]
    counts = np.bincount(np.searchsorted(grid, x, side="left"), minlength=points + 1)
    empirical = np.cumsum(counts)[:points] / x.size
    return float(np.max(np.abs(empirical - law.cdf(grid)))) <= dkw_bound(x.size, alpha)


def inward(dtype: np.dtype, lo: float, hi: float, open_hi: bool = False) -> tuple[float, float]:
    """The representable support of ``[lo, hi]`` (``[lo, hi)``) in ``dtype``."""
    if is_exact(dtype):
        return lo, hi
    v = representable(dtype)
    v = v[(v >= lo) & ((v < hi) if open_hi else (v <= hi))]
    return float(v[0]), float(v[-1])


def unit_roundoff(dtype: np.dtype) -> float:
    """Half the spacing of the dtype's values just above 1 (relative rounding error bound)."""
    return float(ml_dtypes.finfo(np.dtype(dtype)).eps) / 2


def smallest_normal(dtype: np.dtype) -> float:
    return float(ml_dtypes.finfo(np.dtype(dtype)).smallest_normal)


def mean_of_draws_ok(stat: np.ndarray, expected: float, z: float = Z, floor: float = 0.0) -> bool:
    """Mean over iid draws of a per-draw statistic within ``z`` empirical standard errors."""
    half = z * float(np.std(stat, ddof=1)) / math.sqrt(stat.size)
    return abs(float(np.mean(stat)) - expected) <= half + floor
