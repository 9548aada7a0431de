r"""The checks of one task, from its reduced statistics: verdicts with derived tolerances.

Tolerances, each at false-failure rate :math:`\alpha` (default :math:`10^{-6}`, two-sided
:math:`z = \Phi^{-1}(1 - \alpha/2) = 4.89`), for :math:`n` values from a law with variance
:math:`\sigma^2` and kurtosis :math:`\kappa` (of the *rounded* law in 16/8-bit dtypes):

.. math::

    |\bar x - \mu| \le z\frac{\sigma}{\sqrt n}, \qquad
    |s^2 - \sigma^2| \le z\,\sigma^2\sqrt{\frac{\kappa - 1}{n} + \frac{2}{n(n-1)}}, \qquad
    \max_j |F_n(e_j) - F(e_j)| \le \sqrt{\frac{\ln(2/\alpha)}{2n}} \ \text{(DKW)}.

Mass at a bound (:func:`bound_mass`): with :math:`p` the probability a correct draw puts a
value at the bound (see there), the count :math:`C \sim \mathrm{Bin}(n, p)` obeys the Chernoff
bound :math:`P(C \ge c) \le \exp(-\lambda h(c/\lambda))`, :math:`\lambda = np`,
:math:`h(t) = t\ln t - t + 1`; the limit is the smallest :math:`c > \lambda` with
:math:`\lambda h(c/\lambda) \ge \ln(2/\alpha)` (:math:`\alpha/2` per bound), minus one.

Complex laws: :math:`2n|\bar w|^2/\mathbb{E}|w|^2 \sim \chi^2_2`, so
:math:`|\bar w| \le \sqrt{\mathbb{E}|w|^2 \ln(1/\alpha)/n}`; the same for the circularity
statistic :math:`|\overline{w^2}|` with :math:`\mathbb{E}|w|^4`. Support, finiteness,
orthogonality and structure are exact checks (no false failures).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from . import _laws
from ._complex_laws import ComplexHaarEntry, ComplexLaw
from ._laws import HaarEntry, RealLaw, ZeroInflated
from ._moments import ALPHA, EDGES, Check, Task, compute_dtype, dkw_bound, values, z_value
from ._structured_laws import ConvIsometry, DeltaOrthogonal, Exact, Orthogonal


def bin_counts(hist: object) -> np.ndarray:
    """Histogram counts summed over the reductions of a task."""
    return np.asarray(hist, np.int64).reshape(-1, EDGES + 1).sum(axis=0)


def _fmt(x: float) -> str:
    return f"{x:.5g}"


def evaluate(task: Task, stats: dict | Exception, alpha: float = ALPHA) -> list[Check]:
    """The checks of one task, from its stats."""
    row = dict(initializer=task.label, shape=task.shape_label or str(task.shape),
               dtype=task.dtype.name)
    if isinstance(stats, Exception):
        return [Check(**row, check="runs", expected="an array", measured=str(stats), bound="",
                      passed=False)]
    law = task.law
    if isinstance(law, Exact):
        return _exact_checks(task, stats, row)
    if isinstance(law, (Orthogonal, DeltaOrthogonal)):
        return _orthogonal_checks(task, stats, row, alpha)
    if isinstance(law, ConvIsometry):
        return _isometry_checks(task, stats, row)
    if isinstance(law, ComplexLaw):
        return _complex_checks(task, stats, row, alpha)
    return _real_checks(task, stats, row, alpha)


def _finite(stats: dict, row: dict, n: int) -> Check:
    bad = int(np.sum(stats["nonfinite"]))
    return Check(**row, check="finite", expected=0, measured=bad, bound="= 0 non-finite",
                 passed=bad == 0, info={"n": n})


def _eps_of(dtype: np.dtype) -> float:
    real = np.dtype(jnp.finfo(dtype).dtype)
    return float(jnp.finfo(compute_dtype(real) if not _laws.is_rounded(real) else real).eps)


def _upper_atom(value: float, dtype: np.dtype) -> float:
    """The smallest value of a rounded dtype >= ``value`` (``value`` itself for 32/64-bit)."""
    if not _laws.is_rounded(dtype):
        return value * (1 + 8 * float(jnp.finfo(np.float32).eps)) if value >= 0 else value * (
            1 - 8 * float(jnp.finfo(np.float32).eps))
    atoms = _laws.representable(np.dtype(dtype))
    return float(atoms[min(np.searchsorted(atoms, value, side="left"), atoms.size - 1)])


def _lower_atom(value: float, dtype: np.dtype) -> float:
    return -_upper_atom(-value, dtype)


def _dkw(counts: np.ndarray, points: np.ndarray, cdf: np.ndarray, n: int, alpha: float,
         row: dict, name: str) -> Check:
    cum = np.cumsum(counts)[: points.size] / max(n, 1)
    d = float(np.max(np.abs(cum - cdf))) if n else 0.0
    eps = dkw_bound(max(n, 1), alpha)
    return Check(**row, check=name, expected=0.0, measured=d, bound=f"<= {eps:.3g}",
                 passed=d <= eps, info={"n": n, "alpha": alpha, "statistic": "DKW sup |F_n - F|"})


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


def bound_mass(law: RealLaw, dtype: np.dtype, at_lo: int, at_hi: int, n: int, alpha: float,
               row: dict) -> Check | None:
    r"""Flags a point mass at a bound: more values at ``lo``/``hi`` than the law allows.

    A continuous law puts no mass on a point; what a correct draw may put *at* a bound (the
    values of :func:`jinit.verify._laws.bound_edges`) has probability

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
    lo_e, hi_e = _laws.bound_edges(law, dtype)
    delivered = _laws.for_dtype(law, dtype)
    wide = np.dtype(jnp.finfo(dtype).dtype).itemsize == 8
    rho = float(jnp.finfo(np.float64 if wide else np.float32).eps)
    half = 0.5 * math.sqrt(max(law.variance, 0.0))
    rows = []  # (side, count, limit, p)
    for side, count, edge in (("lo", at_lo, lo_e), ("hi", at_hi, hi_e)):
        if not math.isfinite(edge):
            continue
        if side == "lo":
            cell = (_value(delivered.cdf(edge)) if _laws.is_rounded(dtype)
                    else _value(law.cdf(edge + (edge - law.lo) / 4)))  # 5 spacings
            near = _value(law.cdf(law.lo + half))
        else:
            cell = 1 - (_value(delivered.cdf_left(edge)) if _laws.is_rounded(dtype)
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


def _real_checks(task: Task, st: dict, row: dict, alpha: float) -> list[Check]:
    law = _laws.for_dtype(task.law, task.dtype)
    base = task.law
    n = values(task)
    z = z_value(alpha)
    mu, var, kurt = law.mean, law.variance, law.kurtosis
    s1, s2 = float(np.sum(st["s1"], dtype=np.float64)), float(np.sum(st["s2"], dtype=np.float64))
    mean_d = s1 / n
    mean = float(st["centre"]) + mean_d  # the sums are of x - centre
    svar = (s2 - n * mean_d * mean_d) / (n - 1)
    checks = [_finite(st, row, n)]
    half = z * math.sqrt(var / n)
    checks.append(Check(**row, check="mean", expected=mu, measured=mean, bound=f"+- {half:.3g}",
                        passed=abs(mean - mu) <= half, info={"n": n, "alpha": alpha, "z": z}))
    vhalf = z * var * math.sqrt((kurt - 1) / n + 2 / (n * (n - 1)))
    checks.append(Check(**row, check="variance", expected=var, measured=svar,
                        bound=f"+- {vhalf:.3g}", passed=abs(svar - var) <= vhalf,
                        info={"n": n, "alpha": alpha, "z": z, "kurtosis": kurt,
                              "relative_error": svar / var - 1 if var else None}))
    lo, hi = float(np.min(st["min"])), float(np.max(st["max"]))
    if math.isfinite(base.lo) or math.isfinite(base.hi):
        a = _lower_atom(law.lo, task.dtype) if math.isfinite(base.lo) else -math.inf
        b = _upper_atom(law.hi, task.dtype) if math.isfinite(base.hi) else math.inf
        checks.append(Check(**row, check="support", expected=f"[{_fmt(law.lo)}, {_fmt(law.hi)}]",
                            measured=f"[{_fmt(lo)}, {_fmt(hi)}]", bound="within",
                            passed=a <= lo and hi <= b, info={"lo": lo, "hi": hi}))
    if "at_lo" in st:
        atoms = bound_mass(base, task.dtype, int(np.sum(st["at_lo"])), int(np.sum(st["at_hi"])),
                           n, alpha, row)
        if atoms is not None:
            checks.append(atoms)
    points = np.sort(np.asarray(base.ppf(np.arange(1, EDGES + 1) / (EDGES + 1)),
                                compute_dtype(task.dtype))).astype(np.float64)
    counts = bin_counts(st["hist"])
    checks.append(_dkw(counts, points, law.cdf(points), n, alpha, row, "cdf (DKW)"))
    if isinstance(base, ZeroInflated):
        p0 = law.zero_probability
        zeros = int(np.sum(st["zeros"]))
        half0 = z * math.sqrt(max(p0 * (1 - p0), 1e-300) / n)
        checks.append(Check(**row, check="zero fraction", expected=p0, measured=zeros / n,
                            bound=f"+- {half0:.3g}", passed=abs(zeros / n - p0) <= half0,
                            info={"n": n}))
        if base.zeros_per is not None:
            axis, count = base.zeros_per
            zmin, zmax = int(np.min(st["zeros_min"])), int(np.max(st["zeros_max"]))
            what = "zeros per row" if axis == 1 else "zeros per unit"
            checks.append(Check(**row, check=what, expected=count, measured=f"{zmin}..{zmax}",
                                bound=f">= {count}", passed=zmin >= count,
                                info={"min": zmin, "max": zmax}))
    return checks


def _complex_checks(task: Task, st: dict, row: dict, alpha: float) -> list[Check]:
    law = task.law
    n = values(task)
    z = z_value(alpha)
    m2, m4 = law.modulus_moments()
    checks = [_finite(st, row, n)]
    mean = complex(np.sum(st["s_re"], dtype=np.float64), np.sum(st["s_im"], dtype=np.float64)) / n
    bound = math.sqrt(m2 * math.log(1 / alpha) / n)
    checks.append(Check(**row, check="|mean|", expected=0.0, measured=abs(mean),
                        bound=f"<= {bound:.3g}", passed=abs(mean) <= bound, info={"n": n}))
    r2 = float(np.sum(st["s_r2"], dtype=np.float64)) / n
    half = z * math.sqrt(max(m4 - m2 * m2, 0.0) / n)
    checks.append(Check(**row, check="E|w|^2", expected=m2, measured=r2, bound=f"+- {half:.3g}",
                        passed=abs(r2 - m2) <= half,
                        info={"n": n, "relative_error": r2 / m2 - 1 if m2 else None}))
    pseudo = abs(complex(np.sum(st["s_pr"], dtype=np.float64),
                         np.sum(st["s_pi"], dtype=np.float64))) / n
    pbound = math.sqrt(m4 * math.log(1 / alpha) / n)
    checks.append(Check(**row, check="|E[w^2]| (circular)", expected=0.0, measured=pseudo,
                        bound=f"<= {pbound:.3g}", passed=pseudo <= pbound, info={"n": n}))
    if math.isfinite(law.max_modulus):
        rmax = float(np.max(st["max_r"]))
        top = law.max_modulus * (1 + 8 * _eps_of(task.dtype))
        checks.append(Check(**row, check="max |w|", expected=f"<= {_fmt(law.max_modulus)}",
                            measured=rmax, bound="within", passed=rmax <= top))
    cdt = compute_dtype(task.dtype)
    pr = np.asarray(law.modulus_ppf(np.arange(1, EDGES + 1) / (EDGES + 1)), cdt).astype(np.float64)
    checks.append(_dkw(bin_counts(st["hist_r"]), pr,
                       law.modulus_cdf(pr), n, alpha, row, "|w| cdf (DKW)"))
    pp = np.asarray(-np.pi + 2 * np.pi * np.arange(1, EDGES + 1) / (EDGES + 1), cdt).astype(np.float64)
    nonzero = n - int(np.sum(st["zeros"]))
    checks.append(_dkw(bin_counts(st["hist_p"]), pp,
                       (pp + np.pi) / (2 * np.pi), nonzero, alpha, row, "phase cdf (DKW)"))
    return checks


def gram_bound(dtype: np.dtype, length: int, scale: float, extra: float = 1.0) -> float:
    r"""Largest :math:`|Q^H Q/s^2 - I|` entry an exactly orthogonal matrix can show in ``dtype``.

    Rounding each entry to ``dtype`` (unit roundoff :math:`u`, absolute error :math:`\eta` below
    the normal range) perturbs a unit column of length :math:`L` by at most
    :math:`\rho = u + \eta\sqrt{L}/s` in norm, so by Cauchy–Schwarz each Gram entry moves by at
    most :math:`2\rho + \rho^2`; :math:`\gamma = 8 L u_c` covers the float32/float64 QR and
    Gram arithmetic (:math:`u_c` the compute dtype's unit roundoff).
    """
    real = np.dtype(jnp.finfo(dtype).dtype)
    u_c = _laws.unit_roundoff(compute_dtype(real))
    if _laws.is_rounded(real):
        u = _laws.unit_roundoff(real)
        eta = _laws.smallest_spacing(real) / 2 / max(abs(scale), 1e-300)
    else:
        u, eta = 0.0, 0.0
    rho = extra * (u + eta * math.sqrt(length))
    return 2 * rho + rho * rho + 8 * length * u_c


def _haar_law(task: Task, dim: int, scale: float) -> object:
    if jnp.issubdtype(task.dtype, jnp.complexfloating):
        return ComplexHaarEntry(dim, scale)
    return _laws.for_dtype(HaarEntry(dim, scale), task.dtype)


def _ks(values: np.ndarray, law: RealLaw) -> float:
    """Exact Kolmogorov–Smirnov statistic of a sample against ``law`` (atoms allowed)."""
    x = np.sort(values.astype(np.float64))
    n = x.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - law.cdf(x)), np.max(law.cdf_left(x) - (i - 1) / n)))


class _Modulus(RealLaw):
    def __init__(self, law: ComplexLaw):
        self.law = law

    def cdf(self, x):
        return self.law.modulus_cdf(x)


def _orthogonal_checks(task: Task, st: dict, row: dict, alpha: float) -> list[Check]:
    law, shape = task.law, task.shape
    m = task.arrays
    checks = [_finite(st, row, m * math.prod(shape))]
    if isinstance(law, DeltaOrthogonal):
        off = float(np.max(st["off_centre"]))
        checks.append(Check(**row, check="off-centre taps", expected=0.0, measured=off,
                            bound="= 0", passed=off == 0.0))
        rows, cols = shape[-2], shape[-1]
        what = "centre orthogonality"
    else:
        rows, cols = law.view(shape)
        what = "orthogonality"
    length = max(rows, cols)
    err = float(np.max(st["gram"]))
    bound = gram_bound(task.dtype, length, law.scale)
    side = "Q^T Q" if rows >= cols else "Q Q^T"
    checks.append(Check(**row, check=f"{what} max|{side}/s^2 - I|", expected=0.0, measured=err,
                        bound=f"<= {bound:.3g}", passed=err <= bound, info={"arrays": m}))
    haar = _haar_law(task, length, law.scale)
    e00 = np.asarray(st["e00"])
    eps = dkw_bound(m, alpha)
    if isinstance(haar, ComplexLaw):
        d = _ks(np.abs(e00), _Modulus(haar))
        name = "Haar |w[0,0]| (KS)"
    else:
        d = _ks(np.real(e00), haar)
        name = "Haar w[0,0] (KS)"
    checks.append(Check(**row, check=name, expected=0.0, measured=d, bound=f"<= {eps:.3g}",
                        passed=d <= eps, info={"n": m, "dim": length}))
    return checks


def _isometry_checks(task: Task, st: dict, row: dict) -> list[Check]:
    law, shape = task.law, task.shape
    taps = math.prod(shape[:-2])
    checks = [_finite(st, row, task.arrays * math.prod(shape))]
    err = float(np.max(st["gram"]))
    bound = gram_bound(task.dtype, taps * shape[-1], law.scale, extra=math.sqrt(taps))
    checks.append(Check(**row, check="isometry max|W W^H/s^2 - I| (all freq.)", expected=0.0,
                        measured=err, bound=f"<= {bound:.3g}", passed=err <= bound,
                        info={"arrays": task.arrays}))
    top = float(np.max(st["max_abs"]))
    limit = _upper_atom(abs(law.scale), np.dtype(jnp.finfo(task.dtype).dtype))
    checks.append(Check(**row, check="max |w|", expected=f"<= {_fmt(abs(law.scale))}",
                        measured=top, bound="within", passed=top <= limit))
    return checks


def _exact_checks(task: Task, st: dict, row: dict) -> list[Check]:
    law = task.law
    want = np.broadcast_to(law.value, task.shape)
    cplx = jnp.issubdtype(task.dtype, jnp.complexfloating)
    target = want.astype(np.complex128 if cplx else np.float64)
    rounded = np.asarray(target.astype(task.dtype)).astype(target.dtype)
    worst, shape_ok = 0.0, True
    for draw in st["draws"]:
        shape_ok &= draw.shape == task.shape and draw.dtype == task.dtype
        got = draw.astype(target.dtype)
        diff = np.abs(got - rounded)
        tol = law.ulps * np.abs(rounded) * _eps_of(task.dtype)
        excess = np.max(diff - tol, initial=0.0)
        worst = max(worst, float(excess) if np.all(np.isfinite(got)) else math.inf)
    bound = "= exact" if law.ulps == 0 else f"within {law.ulps:g} ulp"
    return [Check(**row, check="values", expected="declared array", measured=(
        "equal" if worst == 0 and shape_ok else f"off by {worst:.3g}"), bound=bound,
        passed=worst == 0 and shape_ok)]
