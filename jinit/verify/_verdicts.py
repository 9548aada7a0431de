r"""The checks of one task, from its reduced statistics: verdicts with derived tolerances.

Tolerances, each at false-failure rate :math:`\alpha` (default :math:`10^{-6}`, two-sided
:math:`z = \Phi^{-1}(1 - \alpha/2) = 4.89`), for :math:`n` values from a law with variance
:math:`\sigma^2` and kurtosis :math:`\kappa` (of the *rounded* law in 16/8-bit dtypes):

.. math::

    |\bar x - \mu| \le z\frac{\sigma}{\sqrt n}, \qquad
    |s^2 - \sigma^2| \le z\,\sigma^2\sqrt{\frac{\kappa - 1}{n} + \frac{2}{n(n-1)}}, \qquad
    \max_j |F_n(e_j) - F(e_j)| \le \sqrt{\frac{\ln(2/\alpha)}{2n}} \ \text{(DKW)}.

Mass at a bound: a Chernoff limit on the count at each bound (:func:`jinit.laws.bound_mass`).
The tolerances are those of :mod:`jinit.laws`, at :math:`\alpha` per check.

Complex laws: :math:`2n|\bar w|^2/\mathbb{E}|w|^2 \sim \chi^2_2`, so
:math:`|\bar w| \le \sqrt{\mathbb{E}|w|^2 \ln(1/\alpha)/n}`; the same for the circularity
statistic :math:`|\overline{w^2}|` with :math:`\mathbb{E}|w|^4`. Support, finiteness,
orthogonality and structure are exact checks (no false failures).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from jinit.laws import (
    EDGES,
    Check,
    ComplexHaarEntry,
    ComplexLaw,
    ConvIsometry,
    DeltaOrthogonal,
    Exact,
    HaarEntry,
    Orthogonal,
    RealLaw,
    ZeroInflated,
    bound_mass,
    cdf_distance,
    compute_dtype,
    dkw_bound,
    epsilon,
    for_dtype,
    gram_bound,
    mean_tolerance,
    round_up,
    support_limits,
    variance_spread,
    z_value,
    zero_tolerance,
)

from ._moments import ALPHA, Task, values


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


def _dkw(counts: np.ndarray, points: np.ndarray, cdf: np.ndarray, n: int, alpha: float,
         row: dict, name: str) -> Check:
    d = cdf_distance(counts, points, cdf, n)
    eps = dkw_bound(max(n, 1), alpha)
    return Check(**row, check=name, expected=0.0, measured=d, bound=f"<= {eps:.3g}",
                 passed=d <= eps, info={"n": n, "alpha": alpha, "statistic": "DKW sup |F_n - F|"})


def _real_checks(task: Task, st: dict, row: dict, alpha: float) -> list[Check]:
    law = for_dtype(task.law, task.dtype)
    base = task.law
    n = values(task)
    z = z_value(alpha)
    mu, var, kurt = law.mean, law.variance, law.kurtosis
    s1, s2 = float(np.sum(st["s1"], dtype=np.float64)), float(np.sum(st["s2"], dtype=np.float64))
    mean_d = s1 / n
    mean = float(st["centre"]) + mean_d  # the sums are of x - centre
    svar = (s2 - n * mean_d * mean_d) / (n - 1)
    checks = [_finite(st, row, n)]
    half = mean_tolerance(var, n, alpha)
    checks.append(Check(**row, check="mean", expected=mu, measured=mean, bound=f"+- {half:.3g}",
                        passed=abs(mean - mu) <= half, info={"n": n, "alpha": alpha, "z": z}))
    vhalf = z * var * variance_spread(kurt, n)
    checks.append(Check(**row, check="variance", expected=var, measured=svar,
                        bound=f"+- {vhalf:.3g}", passed=abs(svar - var) <= vhalf,
                        info={"n": n, "alpha": alpha, "z": z, "kurtosis": kurt,
                              "relative_error": svar / var - 1 if var else None}))
    lo, hi = float(np.min(st["min"])), float(np.max(st["max"]))
    if math.isfinite(base.lo) or math.isfinite(base.hi):
        a, b = support_limits(base, task.dtype)
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
        half0 = zero_tolerance(p0, n, alpha)
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
        top = law.max_modulus * (1 + 8 * epsilon(task.dtype))
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


def _haar_law(task: Task, dim: int, scale: float) -> object:
    if jnp.issubdtype(task.dtype, jnp.complexfloating):
        return ComplexHaarEntry(dim, scale)
    return for_dtype(HaarEntry(dim, scale), task.dtype)


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
    limit = round_up(abs(law.scale), np.dtype(jnp.finfo(task.dtype).dtype))
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
        tol = law.ulps * np.abs(rounded) * epsilon(task.dtype)
        excess = np.max(diff - tol, initial=0.0)
        worst = max(worst, float(excess) if np.all(np.isfinite(got)) else math.inf)
    bound = "= exact" if law.ulps == 0 else f"within {law.ulps:g} ulp"
    return [Check(**row, check="values", expected="declared array", measured=(
        "equal" if worst == 0 and shape_ok else f"off by {worst:.3g}"), bound=bound,
        passed=worst == 0 and shape_ok)]
