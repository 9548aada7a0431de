r"""The statistical tests of a sample against a law: tolerances derived from the sampling
distribution, one rule for every caller (:mod:`jinit.verify`'s batches, :mod:`jinit.audit`'s
leaves).

Every tolerance is stated for a false-failure rate :math:`\alpha` *per check*; how a caller
spreads its own rate over its checks (the verifier: :math:`10^{-6}` per check; the audit: a
leaf's rate split over its :math:`k` random checks) is the caller's statement. For :math:`n`
values from a law with mean :math:`\mu`, variance :math:`\sigma^2` and kurtosis
:math:`\kappa` (of the law as rounded to the dtype), :math:`z = \Phi^{-1}(1 - \alpha/2)`:

.. math::

    |\bar x - \mu| \le z\frac{\sigma}{\sqrt n}, \qquad
    \Bigl|\frac{s^2}{\sigma^2} - 1\Bigr| \le z\,r, \quad
    r = \sqrt{\frac{\kappa - 1}{n} + \frac{2}{n(n-1)}}, \qquad
    \max_j |F_n(e_j) - F(e_j)| \le \sqrt{\frac{\ln(2/\alpha)}{2n}},

the last by the Dvoretzky–Kiefer–Wolfowitz inequality with Massart's constant, at any test
points :math:`e_j`. A zero-inflated law's zero fraction: :math:`|\hat p_0 - p_0| \le
z\sqrt{p_0(1-p_0)/n}`.

Mass at a bound (:func:`bound_mass`): with :math:`p` the probability a correct draw puts a
value at the bound (see there), the count :math:`C \sim \mathrm{Bin}(n, p)` obeys the Chernoff
bound :math:`P(C \ge c) \le \exp(-\lambda h(c/\lambda))`, :math:`\lambda = np`,
:math:`h(t) = t\ln t - t + 1`; the limit is the smallest :math:`c > \lambda` with
:math:`\lambda h(c/\lambda) \ge \ln(2/\alpha)` (:math:`\alpha/2` per bound), minus one.

Support (:func:`support_limits`), finiteness and orthogonality (:func:`gram_bound`) are
exact checks: no false failures.

**Detectable error.** A sample whose standard deviation is :math:`(1 + \delta)\sigma` has
:math:`s^2 \approx \mathcal{N}(\sigma^2(1+\delta)^2, \sigma^4(1+\delta)^4 r^2)`, so the variance
check flags it with probability 0.999 once

.. math::

    (1 + \delta)^2 (1 - z_\beta r) \ge 1 + z r \quad\text{and}\quad
    (1 - \delta)^2 (1 + z_\beta r) \le 1 - z r, \qquad z_\beta = \Phi^{-1}(0.999) = 3.09

(:func:`detectable`).

References:
  Massart, "The tight constant in the Dvoretzky-Kiefer-Wolfowitz inequality", Annals of
  Probability 18(3), 1990.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from . import _real

EDGES = 255  # test points of a goodness-of-fit check
Z_POWER = 3.090232306167813  # Phi^-1(0.999): the power every "detects" figure is stated at
# Relative slack of a support check in 32/64-bit dtypes: scaling a float32 draw may round
# a value a few spacings across the bound.
SUPPORT_SLACK = 8 * float(jnp.finfo(np.float32).eps)


@dataclasses.dataclass
class Check:
    """One row of a report.

    Attributes:
      initializer: the initializer's label (name and verified arguments).
      shape: the shape (with per-shape arguments), as text.
      dtype: the dtype name.
      check: what was checked.
      expected: the declared value.
      measured: the measured value.
      bound: the acceptance bound, as text.
      passed: the verdict.
      info: numbers for ``--json`` (sample size, tolerance, ...).
    """

    initializer: str
    shape: str
    dtype: str
    check: str
    expected: object
    measured: object
    bound: str
    passed: bool
    info: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype statistics run in: float64 for 64-bit values (a complex dtype by its real
    part, so ``complex128``), float32 otherwise (``complex64`` included)."""
    dtype = np.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        dtype = np.dtype(jnp.finfo(dtype).dtype)
    return np.dtype(np.float64) if dtype.itemsize == 8 else np.dtype(np.float32)


def z_value(alpha: float) -> float:
    r"""Two-sided normal quantile :math:`\Phi^{-1}(1 - \alpha/2)`."""
    return float(-_real.ndtri(np.asarray(alpha / 2.0)))


def dkw_bound(n: int, alpha: float) -> float:
    r"""Dvoretzky–Kiefer–Wolfowitz (Massart) half-width :math:`\sqrt{\ln(2/\alpha)/(2n)}`."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def mean_tolerance(variance: float, n: int, alpha: float) -> float:
    r"""Half-width :math:`z\sigma/\sqrt n` of the mean check."""
    return z_value(alpha) * math.sqrt(variance / n)


def variance_spread(kurtosis: float, n: int) -> float:
    r"""Relative standard error :math:`r` of the sample variance (see the module)."""
    return math.sqrt((kurtosis - 1) / n + 2 / (n * (n - 1))) if n > 1 else math.inf


def zero_tolerance(p0: float, n: int, alpha: float) -> float:
    r"""Half-width :math:`z\sqrt{p_0(1-p_0)/n}` of the zero-fraction check."""
    return z_value(alpha) * math.sqrt(max(p0 * (1 - p0), 1e-300) / n)


def cdf_distance(counts: np.ndarray, points: np.ndarray, cdf: np.ndarray, n: int) -> float:
    r""":math:`\max_j |F_n(e_j) - F(e_j)|` from histogram ``counts`` of values ``<= points``."""
    if not n:
        return 0.0
    cum = np.cumsum(np.asarray(counts, np.int64))[: points.size] / n
    return float(np.max(np.abs(cum - cdf)))


def detectable(r: float, z: float) -> float:
    """Smallest relative std error the variance check flags at 99.9% power (see the module)."""
    h, b = z * r, Z_POWER * r
    if h >= 1 or b >= 1:
        return math.inf
    return max(math.sqrt((1 + h) / (1 - b)) - 1, 1 - math.sqrt((1 - h) / (1 + b)))


def round_up(value: float, dtype: np.dtype) -> float:
    """The smallest value a correct ``dtype`` output ``>= value`` may show: the next
    representable value of a 16/8-bit dtype, ``value`` widened by :data:`SUPPORT_SLACK` above."""
    if not _real.is_rounded(dtype):
        return value * (1 + SUPPORT_SLACK) if value >= 0 else value * (1 - SUPPORT_SLACK)
    atoms = _real.representable(np.dtype(dtype))
    return float(atoms[min(np.searchsorted(atoms, value, side="left"), atoms.size - 1)])


def support_limits(law: _real.RealLaw, dtype: np.dtype) -> tuple[float, float]:
    """``(lo, hi)`` a correct output of ``law`` in ``dtype`` stays within (``∓inf`` on an
    unbounded side): the bounds of the law as delivered, rounded outward."""
    delivered = _real.for_dtype(law, dtype)
    lo = -round_up(-delivered.lo, dtype) if math.isfinite(law.lo) else -math.inf
    hi = round_up(delivered.hi, dtype) if math.isfinite(law.hi) else math.inf
    return lo, hi


def epsilon(dtype: np.dtype) -> float:
    """Machine epsilon that bounds a value's rounding in ``dtype``: its own below 32 bits,
    else that of its compute dtype."""
    real = np.dtype(jnp.finfo(dtype).dtype)
    return float(jnp.finfo(compute_dtype(real) if not _real.is_rounded(real) else real).eps)


def count_limit(n: int, p: float, alpha: float) -> int:
    """Largest count of an event of probability ``<= p`` in ``n`` independent values that is
    exceeded with probability ``<= alpha`` (Chernoff bound, see the module; 0 when ``p = 0``)."""
    lam = n * min(max(p, 0.0), 1.0)
    if lam <= 0.0:
        return 0
    need = math.log(1.0 / alpha)

    def enough(c: int) -> bool:
        return c * math.log(c / lam) - c + lam >= need

    lo = math.floor(lam) + 1
    hi = lo
    while not enough(hi):
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid + 1, hi)
    return min(lo - 1, n)


def _value(v: object) -> float:
    """The first entry of a law's (array) answer as a float."""
    return float(np.asarray(v, np.float64).reshape(-1)[0])


def bound_mass(law: _real.RealLaw, dtype: np.dtype, at_lo: int, at_hi: int, n: int,
               alpha: float, row: dict) -> Check | None:
    r"""Flags a point mass at a bound: more values at ``lo``/``hi`` than the law allows.

    A continuous law puts no mass on a point; what a correct draw may put *at* a bound (the
    values of :func:`jinit.laws.bound_edges`) has probability

    .. math::

        p = P_\text{law}(\text{the values that round there})
            + \min\bigl(\rho,\; P_\text{law}(|X - \text{bound}| \le s/2)\bigr),

    the first term the rounding cell (the whole outermost bin of a 16/8-bit dtype, whose
    values are clipped to it), the second one quantum :math:`\rho` of an inverse-CDF
    sampler's uniform (:math:`2^{-23}` for float32 draws, :math:`2^{-52}` for float64), whose
    lowest value lands on the bound: allowed only where the law has that much mass within
    half its standard deviation :math:`s` of the bound. A quantum that stands for a tail far
    away (the ``erf_inv(-1) = -inf`` of a ±100σ truncated normal, clipped to the bound) is
    therefore flagged, the lowest value of a ±2σ or ±5σ draw is not. Counts above
    :func:`count_limit` at :math:`\alpha/2` per side fail. ``None`` when the law is unbounded
    or degenerate.
    """
    if not law.lo < law.hi or not (math.isfinite(law.lo) or math.isfinite(law.hi)):
        return None
    lo_e, hi_e = _real.bound_edges(law, dtype)
    delivered = _real.for_dtype(law, dtype)
    wide = np.dtype(jnp.finfo(dtype).dtype).itemsize == 8
    rho = float(jnp.finfo(np.float64 if wide else np.float32).eps)
    half = 0.5 * math.sqrt(max(law.variance, 0.0))
    rows = []  # (side, count, limit, p)
    for side, count, edge in (("lo", at_lo, lo_e), ("hi", at_hi, hi_e)):
        if not math.isfinite(edge):
            continue
        if side == "lo":
            cell = (_value(delivered.cdf(edge)) if _real.is_rounded(dtype)
                    else _value(law.cdf(edge + (edge - law.lo) / 4)))  # 5 spacings
            near = _value(law.cdf(law.lo + half))
        else:
            cell = 1 - (_value(delivered.cdf_left(edge)) if _real.is_rounded(dtype)
                        else _value(law.cdf_left(edge - (law.hi - edge) / 4)))
            near = 1 - _value(law.cdf_left(law.hi - half))
        p = min(cell + min(rho, near), 1.0)
        rows.append((side, int(count), count_limit(n, p, alpha / 2), p))
    return Check(**row, check="mass at bounds", expected="no point mass",
                 measured=", ".join(f"{c} at {side}" for side, c, _, _ in rows),
                 bound="; ".join(f"{side} <= {lim}" for side, _, lim, _ in rows),
                 passed=all(c <= lim for _, c, lim, _ in rows),
                 info={"n": n, "alpha": alpha, "edges": [lo_e, hi_e],
                       "allowed_probability": {side: p for side, _, _, p in rows}})


BAND = 4.0  # a signal factor within [1/BAND, BAND] over the depth is stable
CLASSES = ("vanishing", "stable", "exploding")


def classify(factor: float, band: float = BAND) -> str:
    """``"vanishing"`` below ``1/band``, ``"exploding"`` above ``band``, else ``"stable"``."""
    if math.isnan(factor) or factor == math.inf:
        return "exploding"  # overflowed
    if factor < 1.0 / band:
        return "vanishing"
    return "exploding" if factor > band else "stable"


def gram_bound(dtype: np.dtype, length: int, scale: float, extra: float = 1.0) -> float:
    r"""Largest :math:`|Q^H Q/s^2 - I|` entry an exactly orthogonal matrix can show in ``dtype``.

    Rounding each entry to ``dtype`` (unit roundoff :math:`u`, absolute error :math:`\eta` below
    the normal range) perturbs a unit column of length :math:`L` by at most
    :math:`\rho = u + \eta\sqrt{L}/s` in norm, so by Cauchy–Schwarz each Gram entry moves by at
    most :math:`2\rho + \rho^2`; :math:`\gamma = 8 L u_c` covers the float32/float64 QR and
    Gram arithmetic (:math:`u_c` the compute dtype's unit roundoff).
    """
    real = np.dtype(jnp.finfo(dtype).dtype)
    u_c = _real.unit_roundoff(compute_dtype(real))
    if _real.is_rounded(real):
        u = _real.unit_roundoff(real)
        eta = _real.smallest_spacing(real) / 2 / max(abs(scale), 1e-300)
    else:
        u, eta = 0.0, 0.0
    rho = extra * (u + eta * math.sqrt(length))
    return 2 * rho + rho * rho + 8 * length * u_c
