r"""The statistical tests of one leaf, each at a stated false-flag rate.

**Against a declared law** (:func:`one_sample`). For :math:`n` values with declared mean
:math:`\mu`, variance :math:`\sigma^2` and kurtosis :math:`\kappa` (of the law as rounded to
the leaf's dtype), the leaf's false-flag rate :math:`\alpha` is split evenly over its
:math:`k` random checks (Bonferroni), :math:`z = \Phi^{-1}(1 - \alpha/2k)`:

.. math::

    |\bar x - \mu| \le z\frac{\sigma}{\sqrt n}, \qquad
    \Bigl|\frac{s^2}{\sigma^2} - 1\Bigr| \le z\,r, \quad
    r = \sqrt{\frac{\kappa - 1}{n} + \frac{2}{n(n-1)}}, \qquad
    \max_j |F_n(e_j) - F(e_j)| \le \sqrt{\frac{\ln(2k/\alpha)}{2n}},

the last by the Dvoretzky–Kiefer–Wolfowitz inequality with Massart's constant, which holds
for every law and so at any test points :math:`e_j` (here the law's 255 quantiles); support,
finiteness and exact zero counts have no false flags. A bounded law adds the count of
values at its bounds (:func:`jinit.verify._verdicts.bound_mass`: a point mass where the law
has none, such as a truncated normal's ``erf_inv(-1) = -inf`` clipped to the bound), limited
by a Chernoff bound at :math:`\alpha/k`. A zero-inflated (sparse) law adds the
zero fraction, :math:`|\hat p_0 - p_0| \le z\sqrt{p_0(1-p_0)/n}`.

**Detectable error.** A leaf whose standard deviation is :math:`(1 + \delta)\sigma` has
:math:`s^2 \approx \mathcal{N}(\sigma^2(1+\delta)^2, \sigma^4(1+\delta)^4 r^2)`, so the variance
check flags it with probability 0.999 once

.. math::

    (1 + \delta)^2 (1 - z_\beta r) \ge 1 + z r \quad\text{and}\quad
    (1 - \delta)^2 (1 + z_\beta r) \le 1 - z r, \qquad z_\beta = \Phi^{-1}(0.999) = 3.09;

each row reports the smallest such :math:`\delta`. A 64-value bias detects only
:math:`\delta \approx 100\%`; a 768 × 768 kernel detects 0.8%.

**Two samples** (:func:`two_sample`: a leaf against a fresh draw of its initializer, or
:func:`jinit.audit.diff`). Means: :math:`|\bar x - \bar y| \le z\sqrt{s_x^2/n + s_y^2/m}`;
spread: :math:`|\ln(s_x^2/s_y^2)| \le z\sqrt{(\hat\kappa_x - 1)/n + (\hat\kappa_y - 1)/m}`
(delta method, kurtosis estimated from each sample); shape: with both samples from one law
:math:`F`, :math:`\sup|F_n - G_m| \le \sup|F_n - F| + \sup|G_m - F|`, so two DKW bounds at
:math:`\alpha/2k` each give an exact, distribution-free bound
:math:`\sqrt{\ln(4k/\alpha)/2n} + \sqrt{\ln(4k/\alpha)/2m}`, valid at any test points (here
quantiles of a corner of the samples).

References:
  Massart, "The tight constant in the Dvoretzky-Kiefer-Wolfowitz inequality", Annals of
  Probability 18(3), 1990.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _laws, _stats
from ._laws import Check, ZeroInflated

Z_POWER = 3.090232306167813  # Phi^-1(0.999): the power every "detects" column is stated at


def detectable(r: float, z: float) -> float:
    """Smallest relative std error the variance check flags at 99.9% power (see module)."""
    h, b = z * r, Z_POWER * r
    if h >= 1 or b >= 1:
        return math.inf
    return max(math.sqrt((1 + h) / (1 - b)) - 1, 1 - math.sqrt((1 - h) / (1 + b)))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _sums(st: dict, n: int) -> tuple[float, float, float]:
    """``(mean offset from the centre, sample variance, sample kurtosis)`` in float64."""
    s1, s2, s3, s4 = (float(np.asarray(st.get(k, 0.0), np.float64))
                      for k in ("s1", "s2", "s3", "s4"))
    m = s1 / n
    m2 = s2 / n - m * m
    m4 = s4 / n - 4 * m * s3 / n + 6 * m * m * s2 / n - 3 * m ** 4
    var = m2 * n / (n - 1) if n > 1 else 0.0
    kurt = m4 / (m2 * m2) if m2 > 0 else 1.0
    return m, max(var, 0.0), kurt


def _finite(st: dict, row: dict, n: int) -> Check:
    keys = ("nonfinite",) if "nonfinite" in st else ("s1", "s2", "min", "max")
    ok = all(np.all(np.isfinite(np.asarray(st[k], np.float64))) if k != "nonfinite"
             else int(st[k]) == 0 for k in keys)
    return Check(**row, check="finite", expected="all finite",
                 measured="all finite" if ok else "NaN or inf present", bound="exact",
                 passed=bool(ok), info={"n": n})


@functools.lru_cache(maxsize=256)
def _law_bins(law: object, cdt: np.dtype) -> _stats.Bins:
    """Test points at the law's 255 quantiles (cached: a model has few distinct laws)."""
    return _stats.bins(np.asarray(law.ppf(np.arange(1, _stats.EDGES + 1) / (_stats.EDGES + 1))),
                       cdt)


def law_moments(leaf: jax.Array, law: object, dtype: np.dtype) -> tuple[dict, object]:
    """Runs :func:`_stats.moments` on ``leaf`` with the test points of ``law``."""
    cdt = _stats.compute_dtype(dtype)
    delivered = _laws.for_dtype(law, dtype)
    try:
        b = _law_bins(law, cdt)
    except TypeError:  # an unhashable law
        b = _law_bins.__wrapped__(law, cdt)
    zeros = None
    if isinstance(law, ZeroInflated):
        zeros = law.zeros_per[0] if law.zeros_per else 1
    ends = np.asarray(_laws.bound_edges(law, dtype), cdt)
    return _stats.leaf_moments(leaf, np.asarray(delivered.mean, cdt), b, zeros, ends=ends), b


def one_sample(law: object, dtype: np.dtype, st: dict, b: _stats.Bins, n: int, alpha: float,
               row: dict) -> tuple[list[Check], float]:
    """The checks of a leaf against a real law, and the leaf's detectable std error."""
    delivered = _laws.for_dtype(law, dtype)
    zero_inflated = isinstance(law, ZeroInflated)
    bounded = "at_lo" in st and (math.isfinite(law.lo) or math.isfinite(law.hi))
    k = 3 + zero_inflated + bounded
    z = _laws.z_value(alpha / k)
    mu, var, kurt = delivered.mean, delivered.variance, delivered.kurtosis
    checks = [_finite(st, row, n)]
    if not checks[0].passed:
        return checks, math.inf
    offset, svar, _ = _sums(st, n)
    mean = float(delivered.mean) + offset
    sd = math.sqrt(var)
    half = z * sd / math.sqrt(n)
    checks.append(Check(**row, check="mean", expected=mu, measured=mean, bound=f"+- {half:.3g}",
                        passed=abs(mean - mu) <= half, info={"n": n, "alpha": alpha / k}))
    r = math.sqrt((kurt - 1) / n + 2 / (n * (n - 1))) if n > 1 else math.inf
    delta = detectable(r, z) if var > 0 else math.inf
    if n > 1 and var > 0:
        rel = svar / var - 1
        checks.append(Check(**row, check="std", expected=sd, measured=math.sqrt(svar),
                            bound=f"var +- {z * r:.3g} rel", passed=abs(rel) <= z * r,
                            info={"n": n, "alpha": alpha / k, "kurtosis": kurt,
                                  "relative_variance_error": rel, "detectable": delta}))
    lo, hi = float(st["min"]), float(st["max"])
    if math.isfinite(law.lo) or math.isfinite(law.hi):
        a, c = delivered.lo, delivered.hi
        slack = 0.0 if _laws.is_rounded(dtype) else 8 * float(jnp.finfo(np.float32).eps)
        ok = (not math.isfinite(law.lo) or lo >= a - slack * abs(a)) and \
             (not math.isfinite(law.hi) or hi <= c + slack * abs(c))
        checks.append(Check(**row, check="support", expected=f"[{_fmt(a)}, {_fmt(c)}]",
                            measured=f"[{_fmt(lo)}, {_fmt(hi)}]", bound="within", passed=ok))
        if bounded:
            atoms = _laws.bound_mass(law, dtype, int(st["at_lo"]), int(st["at_hi"]), n,
                                     alpha / k, row)
            if atoms is not None:
                checks.append(atoms)
    cum = np.cumsum(np.asarray(st["hist"], np.int64))[: b.points.size] / n
    d = float(np.max(np.abs(cum - delivered.cdf(b.points))))
    eps = _laws.dkw_bound(n, alpha / k)
    checks.append(Check(**row, check="cdf (DKW)", expected=0.0, measured=d, bound=f"<= {eps:.3g}",
                        passed=d <= eps, info={"n": n, "alpha": alpha / k}))
    if zero_inflated:
        p0 = delivered.zero_probability
        frac = int(st["zeros"]) / n
        h0 = z * math.sqrt(max(p0 * (1 - p0), 1e-300) / n)
        checks.append(Check(**row, check="zero fraction", expected=p0, measured=frac,
                            bound=f"+- {h0:.3g}", passed=abs(frac - p0) <= h0))
        if law.zeros_per is not None:
            axis, count = law.zeros_per
            zmin, zmax = int(st["zeros_min"]), int(st["zeros_max"])
            checks.append(Check(**row, check="zeros per row" if axis == 1 else "zeros per unit",
                                expected=count, measured=f"{zmin}..{zmax}", bound=f">= {count}",
                                passed=zmin >= count))
    return checks, delta


def structure(leaf: jax.Array, law: object, dtype: np.dtype, row: dict
              ) -> tuple[list[Check], float]:
    """Orthogonality (or the convolution isometry) of one leaf; no false flags."""
    shape = tuple(leaf.shape)
    s2 = np.asarray(law.scale ** 2, _stats.compute_dtype(np.dtype(jnp.finfo(dtype).dtype)))
    checks = []
    if isinstance(law, _laws.ConvIsometry):
        st = jax.device_get(_stats.isometry(leaf, s2, grid=law.grid))
        taps = math.prod(shape[:-2])
        bound = _laws.gram_bound(dtype, taps * shape[-1], law.scale, extra=math.sqrt(taps))
        what = "isometry max|W W^H/s^2 - I|"
    elif isinstance(law, _laws.DeltaOrthogonal):
        st = jax.device_get(_stats.delta_orthogonality(leaf, s2, centre=law.centre_index(shape)))
        off = float(st["off_centre"])
        checks.append(Check(**row, check="off-centre taps", expected=0.0, measured=off,
                            bound="= 0", passed=off == 0.0))
        bound = _laws.gram_bound(dtype, max(shape[-2:]), law.scale)
        what = "centre orthogonality"
    else:
        st = jax.device_get(_stats.orthogonality(leaf, s2, column_axis=law.column_axis % len(shape)))
        bound = _laws.gram_bound(dtype, max(law.view(shape)), law.scale)
        what = "orthogonality max|Q^T Q/s^2 - I|"
    checks.insert(0, _finite(st, row, math.prod(shape)))
    err = float(st["gram"])
    checks.append(Check(**row, check=what, expected=0.0, measured=err, bound=f"<= {bound:.3g}",
                        passed=err <= bound))
    return checks, math.sqrt(1 + bound) - 1  # a scale error (1 + d) moves the diagonal by ~2d


def unit_norm(leaf: jax.Array, axes: tuple[int, ...], dtype: np.dtype, row: dict
              ) -> tuple[list[Check], float]:
    """Every vector along ``axes`` (non-negative, sorted) has norm 1 within rounding (the Gram
    bound of orthogonal leaves); no false flags."""
    shape = tuple(leaf.shape)
    st = jax.device_get(_stats.unit_norms(leaf, axes))
    bound = _laws.gram_bound(dtype, math.prod(shape[a] for a in axes), 1.0)
    err = float(st["gram"])
    checks = [_finite(st, row, math.prod(shape)),
              Check(**row, check=f"unit norm max|‖v‖²-1| over axes {axes}", expected=0.0,
                    measured=err, bound=f"<= {bound:.3g}", passed=err <= bound)]
    return checks, math.sqrt(1 + bound) - 1  # a scale error (1 + d) moves ‖v‖² by ~2d


def two_sample(x: jax.Array, y: jax.Array, alpha: float, row: dict, *, what: str = "b"
               ) -> tuple[list[Check], float, dict]:
    """Checks that ``x`` and ``y`` come from one law (see module); ``what`` names ``y``."""
    if jnp.iscomplexobj(x):
        x, y = jnp.abs(x), jnp.abs(y)  # complex: compared on the modulus
    n, m = int(x.size), int(y.size)
    cdt = _stats.compute_dtype(np.dtype(x.dtype))
    corner = np.concatenate([_stats.head(x), _stats.head(y)]).astype(np.float64)
    corner = corner[np.isfinite(corner)]
    if corner.size == 0:
        corner = np.zeros(1)
    centre = np.asarray(np.mean(corner), cdt)
    points = np.quantile(corner, np.arange(1, _stats.EDGES + 1) / (_stats.EDGES + 1))
    b = _stats.bins(points, cdt)
    sx = _stats.leaf_moments(x, centre, b, higher=True)
    sy = _stats.leaf_moments(y, centre, b, higher=True)
    k = 3
    z = _laws.z_value(alpha / k)
    mx, vx, kx = _sums(sx, n)
    my, vy, ky = _sums(sy, m)
    checks = [_finite(sx, row, n)]
    if not checks[0].passed or not _finite(sy, row, m).passed:
        checks[0].passed = False
        checks[0].measured = "NaN or inf present" + ("" if _finite(sy, row, m).passed else
                                                     f" (in {what})")
        return checks, math.inf, {}
    half = z * math.sqrt(vx / n + vy / m)
    checks.append(Check(**row, check="mean", expected=float(centre) + my,
                        measured=float(centre) + mx, bound=f"+- {half:.3g}",
                        passed=abs(mx - my) <= half, info={"n": n, "m": m}))
    sd_log = math.sqrt(max(kx - 1, 0.0) / max(n - 1, 1) + max(ky - 1, 0.0) / max(m - 1, 1))
    if vx > 0 and vy > 0:
        log_ratio = math.log(vx / vy)
        ok = abs(log_ratio) <= z * sd_log
    else:
        log_ratio, ok = (0.0, True) if vx == vy else (math.inf, False)
    ratio = math.exp(log_ratio / 2) if math.isfinite(log_ratio) else math.inf
    checks.append(Check(**row, check="std ratio", expected=1.0, measured=ratio,
                        bound=f"+- {math.exp(z * sd_log / 2) - 1:.3g} rel", passed=ok,
                        info={"std": math.sqrt(vx), f"std_{what}": math.sqrt(vy)}))
    cx = np.cumsum(np.asarray(sx["hist"], np.int64))[: b.points.size] / n
    cy = np.cumsum(np.asarray(sy["hist"], np.int64))[: b.points.size] / m
    d = float(np.max(np.abs(cx - cy)))
    eps = _laws.dkw_bound(n, alpha / (2 * k)) + _laws.dkw_bound(m, alpha / (2 * k))
    checks.append(Check(**row, check="two-sample KS", expected=0.0, measured=d,
                        bound=f"<= {eps:.3g}", passed=d <= eps, info={"n": n, "m": m}))
    delta = math.exp((z + Z_POWER) * sd_log / 2) - 1 if sd_log > 0 else 0.0
    return checks, delta, {"std": math.sqrt(vx), "std_other": math.sqrt(vy)}
