r"""The laws initializers promise: exact CDFs and moments, written from their formulas.

Every expected value the suite compares against comes from here, computed in float64 from
closed forms (or, for a dtype narrower than 32 bits, by summing the closed-form CDF over the
dtype's representable values), never by calling the code under test.

Rounding: a 16- or 8-bit output is the float32 draw clipped inward to the support and rounded
once to the nearest representable value. Its exact law is discrete,

.. math::

    P(Y = v) = F(m^+_v) - F(m^-_v),

where :math:`m^\pm_v` are the midpoints between :math:`v` and its neighbours among the
representable values inside the support (the outermost bins extend to :math:`\pm\infty`,
which is what clipping does), and :math:`F` is the CDF of the unrounded law. Moments and
CDF values of :math:`Y` are exact sums over that table; tolerances then follow from the
rounded law's own kurtosis, so low precision needs no loosened bounds.

Complex laws live in :mod:`jinit.verify._complex_laws`, orthogonal and deterministic arrays in
:mod:`jinit.verify._structured_laws`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax.numpy as jnp
import numpy as np

_SQRT2 = math.sqrt(2.0)


def _phi(x: float) -> float:
    """Standard normal density."""
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _Phi(x: float) -> float:
    """Standard normal CDF, from ``math.erf``."""
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


_erfc = np.frompyfunc(math.erfc, 1, 1)


def ndtr(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, elementwise in float64 (``erfc`` keeps the lower tail accurate)."""
    x = np.asarray(x, np.float64)
    return np.asarray(0.5 * _erfc(-x / _SQRT2), np.float64)


def ndtri(p: np.ndarray) -> np.ndarray:
    r""":math:`\Phi^{-1}(p)` by bisection on :func:`ndtr` (to ~1e-15; used for test points)."""
    p = np.asarray(p, np.float64)
    a, b = np.full(p.shape, -40.0), np.full(p.shape, 40.0)
    for _ in range(90):
        mid = 0.5 * (a + b)
        below = ndtr(mid) < p
        a, b = np.where(below, mid, a), np.where(below, b, mid)
    return 0.5 * (a + b)


def sphere_coordinate_cdf(x: np.ndarray, dim: int) -> np.ndarray:
    r""":math:`P(u_1 \le x)` for :math:`u` uniform on the unit sphere of :math:`\mathbb{R}^d`.

    With :math:`u_1 = \sin\theta`, :math:`\theta` has density :math:`\propto \cos^{d-2}\theta`
    on :math:`[-\pi/2, \pi/2]`; the CDF is that density integrated by the trapezoid rule on
    a fine grid (smooth integrand, error ~1e-10) and interpolated.
    """
    theta = np.linspace(-math.pi / 2, math.pi / 2, 20001)
    dens = np.cos(theta).clip(0.0) ** (dim - 2) if dim > 2 else np.ones_like(theta)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]))])
    cum /= cum[-1]
    t = np.arcsin(np.clip(np.asarray(x, np.float64), -1.0, 1.0))
    return np.interp(t, theta, cum)


def central(raw: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """``(mean, variance, fourth central moment)`` from raw moments ``E[x^k]``, k = 1..4."""
    m1, m2, m3, m4 = raw
    var = m2 - m1 * m1
    mu4 = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1 ** 4
    return m1, max(var, 0.0), max(mu4, 0.0)


# ------------------------------------------------------------------------ real laws


class RealLaw:
    """A law on the real line: ``cdf``, raw moments and support (``lo``, ``hi``, ``open_hi``)."""

    lo: float = -math.inf
    hi: float = math.inf
    open_hi: bool = False
    kind = "real"

    def cdf(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def cdf_left(self, x: np.ndarray) -> np.ndarray:
        """:math:`P(X < x)`; equals :meth:`cdf` for continuous laws."""
        return self.cdf(x)

    @property
    def zero_probability(self) -> float:
        """:math:`P(X = 0)`."""
        return float(self.cdf(np.zeros(1))[0] - self.cdf_left(np.zeros(1))[0])

    def raw_moments(self) -> tuple[float, float, float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def mean(self) -> float:
        return central(self.raw_moments())[0]

    @property
    def variance(self) -> float:
        return central(self.raw_moments())[1]

    @property
    def second_moment(self) -> float:
        return self.raw_moments()[1]

    @property
    def kurtosis(self) -> float:
        _, var, mu4 = central(self.raw_moments())
        return mu4 / var ** 2 if var > 0 else 1.0

    def ppf(self, p: np.ndarray) -> np.ndarray:
        """Quantiles by bisection on :meth:`cdf` (used only to place test points)."""
        p = np.asarray(p, np.float64)
        sd = math.sqrt(max(self.second_moment, 1e-300))
        a = np.full_like(p, max(self.lo, -40 * sd) if math.isfinite(self.lo) else -40 * sd)
        b = np.full_like(p, min(self.hi, 40 * sd) if math.isfinite(self.hi) else 40 * sd)
        for _ in range(200):
            mid = 0.5 * (a + b)
            below = self.cdf(mid) < p
            a, b = np.where(below, mid, a), np.where(below, b, mid)
        return 0.5 * (a + b)

    def describe(self) -> str:
        return repr(self)


@dataclasses.dataclass(frozen=True)
class Normal(RealLaw):
    r""":math:`\mathcal{N}(\mu, \sigma^2)`."""

    std: float
    loc: float = 0.0

    def cdf(self, x):
        return ndtr((np.asarray(x, np.float64) - self.loc) / self.std)

    def raw_moments(self):
        m, s2 = self.loc, self.std ** 2
        return m, m * m + s2, m ** 3 + 3 * m * s2, m ** 4 + 6 * m * m * s2 + 3 * s2 * s2

    def ppf(self, p):
        return self.loc + self.std * ndtri(np.asarray(p, np.float64))


@dataclasses.dataclass(frozen=True)
class Uniform(RealLaw):
    r""":math:`\mathcal{U}[a, b)`."""

    lo: float
    hi: float
    open_hi: bool = True

    def cdf(self, x):
        return np.clip((np.asarray(x, np.float64) - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def raw_moments(self):
        a, b = self.lo, self.hi
        return tuple((b ** (k + 1) - a ** (k + 1)) / ((k + 1) * (b - a)) for k in (1, 2, 3, 4))

    def ppf(self, p):
        return self.lo + (self.hi - self.lo) * np.asarray(p, np.float64)


def _shift_raw(raw: tuple[float, ...], loc: float) -> tuple[float, float, float, float]:
    """Raw moments of ``loc + x`` from those of ``x`` (binomial expansion)."""
    m = (1.0,) + tuple(raw)
    return tuple(sum(math.comb(k, j) * loc ** (k - j) * m[j] for j in range(k + 1))
                 for k in (1, 2, 3, 4))


@dataclasses.dataclass(frozen=True)
class TruncatedNormal(RealLaw):
    r""":math:`\mu + \sigma z` with :math:`z \sim \mathcal{N}(0, 1)` conditioned on :math:`a \le z \le b`.

    Raw moments of the standard truncated normal by the recursion
    :math:`m_k = (k-1) m_{k-2} + (a^{k-1}\varphi(a) - b^{k-1}\varphi(b))/Z`,
    :math:`Z = \Phi(b) - \Phi(a)`, :math:`m_0 = 1`.
    """

    std: float
    lower: float = -2.0
    upper: float = 2.0
    loc: float = 0.0

    @property
    def lo(self):  # type: ignore[override]
        return self.loc + self.lower * self.std

    @property
    def hi(self):  # type: ignore[override]
        return self.loc + self.upper * self.std

    def _z(self) -> float:
        return _Phi(self.upper) - _Phi(self.lower)

    def cdf(self, x):
        a, b = self.lower, self.upper
        z = (np.asarray(x, np.float64) - self.loc) / self.std
        out = (ndtr(np.clip(z, a, b)) - _Phi(a)) / self._z()
        return np.clip(out, 0.0, 1.0)

    def raw_moments(self):
        a, b, z = self.lower, self.upper, self._z()
        m = [1.0, (_phi(a) - _phi(b)) / z]
        for k in (2, 3, 4):
            m.append((k - 1) * m[k - 2] + (a ** (k - 1) * _phi(a) - b ** (k - 1) * _phi(b)) / z)
        return _shift_raw(tuple(m[k] * self.std ** k for k in (1, 2, 3, 4)), self.loc)


@dataclasses.dataclass(frozen=True)
class ZeroInflated(RealLaw):
    r"""0 with probability :math:`p`, else ``base``: :math:`F = p\,\mathbb{1}[x \ge 0] + (1-p)F_\text{base}`."""

    base: RealLaw
    zero_fraction: float
    zeros_per: tuple[int, int] | None = None  # (axis, count): exact zeros along an axis of the 2-D view

    @property
    def lo(self):  # type: ignore[override]
        return min(self.base.lo, 0.0)

    @property
    def hi(self):  # type: ignore[override]
        return max(self.base.hi, 0.0)

    def cdf(self, x):
        x = np.asarray(x, np.float64)
        p = self.zero_fraction
        return p * (x >= 0) + (1 - p) * self.base.cdf(x)

    def cdf_left(self, x):
        x = np.asarray(x, np.float64)
        p = self.zero_fraction
        return p * (x > 0) + (1 - p) * self.base.cdf_left(x)

    def raw_moments(self):
        return tuple((1 - self.zero_fraction) * m for m in self.base.raw_moments())


@dataclasses.dataclass(frozen=True)
class HaarEntry(RealLaw):
    r"""One coordinate of :math:`s\,u`, :math:`u` uniform on the unit sphere of :math:`\mathbb{R}^d`.

    :math:`u_1^2 \sim \mathrm{Beta}(\tfrac12, \tfrac{d-1}{2})`, so
    :math:`F(x) = \tfrac12 + \tfrac12 \operatorname{sign}(x)\, I_{x^2/s^2}(\tfrac12, \tfrac{d-1}{2})`;
    :math:`\mathbb{E}[u_1^2] = 1/d`, :math:`\mathbb{E}[u_1^4] = 3/(d(d+2))`.
    """

    dim: int
    scale: float = 1.0

    @property
    def lo(self):  # type: ignore[override]
        return -abs(self.scale)

    @property
    def hi(self):  # type: ignore[override]
        return abs(self.scale)

    def cdf(self, x):
        t = np.clip(np.asarray(x, np.float64) / abs(self.scale), -1.0, 1.0)
        if self.dim == 1:
            return (t >= 1.0) * 0.5 + 0.5 * (t >= -1.0)
        return sphere_coordinate_cdf(t, self.dim)

    def raw_moments(self):
        d, s2 = self.dim, self.scale ** 2
        return 0.0, s2 / d, 0.0, 3 * s2 * s2 / (d * (d + 2))


# ------------------------------------------------------------------- rounding


@functools.cache
def representable(dtype: np.dtype) -> np.ndarray:
    """Every finite value of a float dtype of at most 16 bits, sorted and unique, as float64."""
    width = np.dtype(dtype).itemsize * 8
    bits = np.arange(2 ** width, dtype=np.uint64).astype(np.dtype(f"uint{width}"))
    with np.errstate(invalid="ignore", over="ignore"):
        values = bits.view(dtype).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def is_rounded(dtype: np.dtype) -> bool:
    """Whether outputs of ``dtype`` are float32 draws rounded once (16- and 8-bit floats)."""
    dtype = np.dtype(dtype)
    return jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4


@dataclasses.dataclass(frozen=True, eq=False)
class Rounded(RealLaw):
    """The exact discrete law of ``base`` clipped inward to its support and rounded to ``dtype``."""

    base: RealLaw
    dtype: np.dtype

    def __post_init__(self):
        values = representable(np.dtype(self.dtype))
        lo, hi = max(self.base.lo, values[0]), min(self.base.hi, values[-1])
        lo_t = values[np.searchsorted(values, lo, side="left")]
        side = "left" if self.base.open_hi and self.base.hi <= values[-1] else "right"
        hi_t = values[np.searchsorted(values, hi, side=side) - 1]
        atoms = values[(values >= lo_t) & (values <= hi_t)]
        mids = 0.5 * (atoms[1:] + atoms[:-1])
        cdf_at_mids = self.base.cdf(mids)
        upper = np.concatenate([cdf_at_mids, [1.0]])
        lower = np.concatenate([[0.0], cdf_at_mids])
        pmf = np.clip(upper - lower, 0.0, None)
        object.__setattr__(self, "atoms", atoms)
        object.__setattr__(self, "pmf", pmf / pmf.sum())
        object.__setattr__(self, "cum", np.cumsum(self.pmf))

    @property
    def lo(self):  # type: ignore[override]
        return float(self.atoms[0])

    @property
    def hi(self):  # type: ignore[override]
        return float(self.atoms[-1])

    open_hi = False

    def cdf(self, x):
        idx = np.searchsorted(self.atoms, np.asarray(x, np.float64), side="right") - 1
        return np.where(idx >= 0, self.cum[np.maximum(idx, 0)], 0.0)

    def cdf_left(self, x):
        idx = np.searchsorted(self.atoms, np.asarray(x, np.float64), side="left") - 1
        return np.where(idx >= 0, self.cum[np.maximum(idx, 0)], 0.0)

    def raw_moments(self):
        a, p = self.atoms, self.pmf
        return tuple(float(np.sum(p * a ** k)) for k in (1, 2, 3, 4))

    def ppf(self, p):
        return self.base.ppf(p)


def for_dtype(law: RealLaw, dtype: np.dtype) -> RealLaw:
    """``law`` as delivered in ``dtype``: itself for 32/64-bit floats, :class:`Rounded` below."""
    return Rounded(law, np.dtype(dtype)) if is_rounded(dtype) else law


def bound_edges(law: RealLaw, dtype: np.dtype) -> tuple[float, float]:
    """Where a value counts as *at* a bound of ``law``: ``x <= lo_edge`` or ``x >= hi_edge``.

    16/8-bit dtypes: the outermost representable values of the rounded law (outputs are
    clipped to them); 32/64-bit: within 4 spacings of the bound, or beyond it (scaling a
    draw may round across the bound). An unbounded side gives ``∓inf``.
    """
    if not law.lo < law.hi or not (math.isfinite(law.lo) or math.isfinite(law.hi)):
        return -math.inf, math.inf
    if is_rounded(dtype):
        delivered = for_dtype(law, dtype)
        lo_e, hi_e = delivered.lo, delivered.hi
    else:
        real = np.dtype(jnp.finfo(dtype).dtype)
        lo_e = law.lo + 4 * float(np.spacing(np.asarray(abs(law.lo), real))) \
            if math.isfinite(law.lo) else -math.inf
        hi_e = law.hi - 4 * float(np.spacing(np.asarray(abs(law.hi), real))) \
            if math.isfinite(law.hi) else math.inf
    return (lo_e if math.isfinite(law.lo) else -math.inf,
            hi_e if math.isfinite(law.hi) else math.inf)


def unit_roundoff(dtype: np.dtype) -> float:
    """Half the spacing of ``dtype`` at 1: 2^-24 for float32, 2^-8 for bfloat16."""
    return float(jnp.finfo(dtype).eps) / 2


def smallest_spacing(dtype: np.dtype) -> float:
    """Spacing of ``dtype`` near zero (its smallest subnormal)."""
    return float(jnp.finfo(dtype).smallest_subnormal)
