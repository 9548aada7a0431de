r"""Mean-field signal propagation through deep random networks, for any activation.

A fully connected stack :math:`h_{l+1} = W_{l+1}\,\phi(h_l) + b_{l+1}` with
:math:`W_{ij} \sim (0, \sigma_w^2/N)` and :math:`b_i \sim (0, \sigma_b^2)`, in the limit of
wide layers, carries two numbers per layer (Poole et al. 2016; Schoenholz et al. 2017):

* the variance :math:`q_l` of a pre-activation, through the **variance map**
  :math:`q_{l+1} = V(q_l) = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q_l}\,z)^2] + \sigma_b^2`,
  :math:`z \sim \mathcal{N}(0, 1)`, which settles at a fixed point :math:`q^*`;
* the correlation :math:`c_l` between the pre-activations of two inputs, through the
  **correlation map** :math:`c_{l+1} = C(c_l) = (\sigma_w^2\,\mathbb{E}[\phi(u_1)\phi(u_2)]
  + \sigma_b^2) / q^*`, :math:`(u_1, u_2) \sim \mathcal{N}(0, q^*[[1, c_l], [c_l, 1]])`,
  with fixed point :math:`c^*`.

:math:`\chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*}\,z)^2]`, the slope of :math:`C` at
:math:`c = 1`, separates the ordered phase (:math:`\chi_1 < 1`: inputs become correlated,
:math:`c^* = 1`, gradients vanish) from the chaotic one (:math:`\chi_1 > 1`:
:math:`c^* < 1`, gradients explode); the **edge of chaos** :math:`\chi_1 = 1` is where
signals and gradients travel deepest, and the **correlation depth**
:math:`\xi_c = -1/\ln\chi_c`, :math:`\chi_c = C'(c^*)`, measures how deep.

Every function takes the activation as a name or an elementwise callable (exactly as
:func:`jinit.gain`: named forms, ``jax.nn`` functions recognised, others evaluated in
float64 and differentiated by ``jax.jvp``; kinks at 0, at the named activation's own kinks
and at ``breakpoints``). Expectations use the quadrature of :func:`jinit.gain` (about 1e-14);
the correlation map uses its Cholesky form
:math:`u_1 = \sqrt{q}\,z_1,\ u_2 = \sqrt{q}\,(c z_1 + \sqrt{1-c^2}\,z_2)` with the inner
rule split at each node's kinks (about 1e-13). Linear, ReLU and leaky ReLU use closed forms
(the arc-cosine kernel of Cho & Saul 2009 for the correlation map). Computations run in
NumPy float64; results are Python floats (NumPy arrays for array inputs).

References:
  Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli, "Exponential expressivity in deep neural
  networks through transient chaos", NeurIPS 2016, arXiv:1606.05340.
  Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, "Deep Information Propagation", ICLR 2017,
  arXiv:1611.01232.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from . import _checks, _gain, _quadrature
from ._gain import Activation, Stability

__all__ = [
    "Stability",
    "chi1",
    "correlation_depth",
    "correlation_map",
    "critical_sigma_w2",
    "depth_variance_curve",
    "fixed_point_c",
    "fixed_point_q",
    "stability",
    "variance_map",
]

ActivationLike = str | Callable


def _public(obj):
    obj.__module__ = "jinit.theory"
    return obj


Stability = _public(Stability)
Stability.__doc__ = """Forward-variance stability of a deep stack (returned by :func:`stability`).

Fields: ``sigma_w2``, ``sigma_b2``; ``q_star``, the fixed point reached from ``q0``
(``inf``: the variance diverges, ``0.0``: it vanishes); ``slope``, :math:`V'(q^*)`;
``chi1``, :math:`\\sigma_w^2\\,\\mathbb{E}[\\phi'(\\sqrt{q^*} z)^2]`; ``verdict``, one of
``'stable'`` (slope < 1), ``'neutral'`` (slope = 1 within 1e-6), ``'unstable'``
(slope > 1), ``'vanishing'`` (:math:`q^* = 0`), ``'exploding'`` (:math:`q^* = \\infty`).
"""


def _nonneg(fn: str, name: str, value: object) -> float:
    _checks.scalar(fn, name, value)
    return float(value)  # type: ignore[arg-type]


def _resolve(fn: str, activation: object, param: object, breakpoints: object) -> Activation:
    return _gain.resolve(fn, activation, param, breakpoints)


def _array_or_float(fn: str, name: str, value: object, lo: float, hi: float
                    ) -> tuple[np.ndarray, bool]:
    if isinstance(value, (bool, np.bool_, str)):
        raise _checks.fail(fn, name, value, "is not a real number", "a real number or array",
                           exc=TypeError)
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise _checks.fail(fn, name, value, "is not a real number", "a real number or array",
                           exc=TypeError) from None
    if not np.all(np.isfinite(arr)) or np.any(arr < lo) or np.any(arr > hi):
        bounds = f"finite values >= {lo:g}" if hi == math.inf else f"values in [{lo:g}, {hi:g}]"
        raise _checks.fail(fn, name, value, "is out of range", bounds)
    return arr, arr.ndim == 0


# ------------------------------------------------------------------------------ variance


def _vmap(act: Activation, q: float, sigma_w2: float, sigma_b2: float) -> float:
    return sigma_w2 * _gain.m2(act, q) + sigma_b2


@_public
def variance_map(q: float | np.ndarray, sigma_w2: float, sigma_b2: float,
                 activation: ActivationLike, *, param: float | None = None,
                 breakpoints: Sequence[float] = ()) -> float | np.ndarray:
    r"""The variance map: the next layer's pre-activation variance.

    .. math::

        V(q) = \sigma_w^2\,\mathbb{E}_{z \sim \mathcal{N}(0,1)}\left[\phi(\sqrt{q}\,z)^2\right]
        + \sigma_b^2,

    for weights of variance :math:`\sigma_w^2/N` (fan-in :math:`N`) and biases of variance
    :math:`\sigma_b^2`. Exact in expectation at any width:
    :math:`\mathbb{E}[h_{l+1,i}^2] = V(q)` when the :math:`h_l` are iid :math:`\mathcal{N}(0, q)`.

    Args:
      q: pre-activation variance(s), :math:`\ge 0` (a number or an array).
      sigma_w2: weight variance times fan-in, :math:`\ge 0`.
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      :math:`V(q)`: a float, or an array of ``q``'s shape.

    Raises:
      ValueError: negative or non-finite variances; a bad activation (see :func:`jinit.gain`).
      TypeError: non-real arguments; an activation that is neither a name nor a callable.

    References:
      Poole et al., "Exponential expressivity in deep neural networks through transient
      chaos", NeurIPS 2016, arXiv:1606.05340, eq. 3.

    Example:
      >>> from jinit import theory
      >>> theory.variance_map(1.0, 2.0, 0.0, "relu")
      1.0
      >>> round(theory.variance_map(1.0, 1.0, 0.05, "tanh"), 10)
      0.4442944904
    """
    fn = "variance_map"
    qs, scalar = _array_or_float(fn, "q", q, 0.0, math.inf)
    sw2 = _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    act = _resolve(fn, activation, param, breakpoints)
    out = np.asarray([_vmap(act, float(v), sw2, sb2) for v in qs.ravel()]).reshape(qs.shape)
    return float(out) if scalar else out


@_public
def fixed_point_q(sigma_w2: float, sigma_b2: float, activation: ActivationLike, *,
                  q0: float = 1.0, param: float | None = None,
                  breakpoints: Sequence[float] = ()) -> float:
    r"""The fixed point :math:`q^* = V(q^*)` that a deep stack's variance settles at.

    .. math::

        q^* = \lim_{l\to\infty} q_l, \qquad q_{l+1} = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q_l}\,z)^2]
        + \sigma_b^2, \quad q_0 = \texttt{q0}.

    The variance map is increasing in :math:`q` for every named activation, so the iterates
    move monotonically to the first root of :math:`V(q) - q` on the side
    :math:`V(q_0) - q_0` points to; that root is found by bracketing and false position to
    about 1e-15 relative. When ``q0`` is itself a fixed point (within 1e-13) it is returned,
    stable or not (a neutral map such as ReLU at :math:`\sigma_w^2 = 2, \sigma_b^2 = 0` keeps
    any :math:`q_0`; see :func:`stability` for the slope).

    Args:
      sigma_w2: weight variance times fan-in, :math:`\ge 0`.
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      q0: the input variance, :math:`> 0` (default 1).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      :math:`q^*` as a float: ``inf`` when the variance grows without bound (beyond 1e30),
      ``0.0`` when it decays to 0 (below 1e-30).

    Raises:
      ValueError, TypeError: as :func:`variance_map`; ``q0 <= 0``.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, §2 (the fixed point :math:`q^*`).

    Example:
      >>> from jinit import theory
      >>> theory.fixed_point_q(2.0, 0.0, "relu", q0=3.0), theory.fixed_point_q(1.0, 0.5, "relu")
      (3.0, 1.0)
      >>> round(theory.fixed_point_q(1.5, 0.05, "tanh"), 8), theory.fixed_point_q(0.5, 0.0, "tanh")
      (0.4180372, 0.0)
    """
    fn = "fixed_point_q"
    sw2 = _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    _checks.scalar(fn, "q0", q0, strict=True)
    act = _resolve(fn, activation, param, breakpoints)
    return _gain.fixed_point_q(act, sw2, sb2, float(q0))


@_public
def depth_variance_curve(depth: int, q0: float, sigma_w2: float, sigma_b2: float,
                         activation: ActivationLike, *, param: float | None = None,
                         breakpoints: Sequence[float] = ()) -> np.ndarray:
    r"""The pre-activation variance of every layer of a deep stack, :math:`q_0, \ldots, q_L`.

    .. math::

        q_{l+1} = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q_l}\,z)^2] + \sigma_b^2,
        \qquad l = 0, \ldots, L-1.

    Args:
      depth: :math:`L \ge 0`, the number of layers.
      q0: the input variance, :math:`\ge 0`.
      sigma_w2: weight variance times fan-in, :math:`\ge 0`.
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      A float64 array of shape ``(depth + 1,)``; entries may overflow to ``inf``.

    Raises:
      ValueError, TypeError: as :func:`variance_map`; a negative or non-int ``depth``.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, Fig. 1.

    Example:
      >>> from jinit import theory
      >>> curve = theory.depth_variance_curve(50, 1.0, 2.0, 0.0, "relu")
      >>> curve.shape, bool((curve == 1.0).all())
      ((51,), True)
      >>> curve = theory.depth_variance_curve(50, 4.0, 1.5, 0.05, "tanh")
      >>> bool(abs(curve[-1] - theory.fixed_point_q(1.5, 0.05, "tanh")) < 1e-9)
      True
    """
    fn = "depth_variance_curve"
    if not _checks._is_int(depth):
        raise _checks.fail(fn, "depth", depth, "is not an int", "a non-negative int", exc=TypeError)
    if depth < 0:
        raise _checks.fail(fn, "depth", depth, "is negative", "a non-negative int")
    q = _nonneg(fn, "q0", q0)
    sw2 = _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    act = _resolve(fn, activation, param, breakpoints)
    out = [q]
    for _ in range(int(depth)):
        q = _vmap(act, q, sw2, sb2) if math.isfinite(q) and q < 1e300 else math.inf
        out.append(q)
    return np.asarray(out, np.float64)


@_public
def stability(activation: ActivationLike, sigma_w2: float | None = None, sigma_b2: float = 0.0,
              *, q0: float = 1.0, param: float | None = None,
              breakpoints: Sequence[float] = ()) -> Stability:
    r"""Whether a deep stack's forward variance is held at its fixed point, and how firmly.

    .. math::

        V'(q^*) = \frac{\sigma_w^2\,\mathbb{E}[\phi(x)\,\phi'(x)\,x]}{q^*},
        \quad x \sim \mathcal{N}(0, q^*), \qquad
        \chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(x)^2].

    Small deviations :math:`\delta_l = q_l - q^*` evolve as
    :math:`\delta_{l+1} \approx V'(q^*)\,\delta_l`: the fixed point attracts when the slope is
    below 1, is neutral at exactly 1 (ReLU, leaky ReLU, linear: any variance is kept) and
    repels above 1. At zero bias the slope equals :math:`d\log q_{l+1}/d\log q_l`. The
    derivative is taken under the expectation without second derivatives, so kinks are fine.
    :math:`\chi_1` is the per-layer factor of back-propagated gradient second moments.

    Args:
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      sigma_w2: weight variance times fan-in; ``None`` (default) uses the scale
        :func:`jinit.for_activation` picks.
      sigma_b2: bias variance (default 0).
      q0: the input variance the fixed point is reached from (default 1).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      A :class:`Stability` ``(sigma_w2, sigma_b2, q_star, slope, chi1, verdict)``.

    Raises:
      ValueError, TypeError: as :func:`fixed_point_q`.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340; Schoenholz et al., "Deep Information
      Propagation", ICLR 2017, arXiv:1611.01232, eq. 5 (the depth scale of :math:`q`).

    Example:
      >>> from jinit import theory
      >>> theory.stability("relu").verdict, theory.stability("tanh").verdict
      ('neutral', 'stable')
      >>> s = theory.stability("gelu")
      >>> s.verdict, round(s.slope, 4), s.q_star
      ('unstable', 1.1441, 1.0)
      >>> theory.stability("gelu", 1.5, 0.5).verdict       # a smaller sigma_w2 and a bias
      'stable'
    """
    fn = "stability"
    act = _resolve(fn, activation, param, breakpoints)
    sw2 = _gain._he_scale(act)[0] if sigma_w2 is None else _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    _checks.scalar(fn, "q0", q0, strict=True)
    return _gain.stability(act, sw2, sb2, float(q0))


# --------------------------------------------------------------------------- correlation


def _homogeneous_pair(pieces: tuple[float, float], q: float, c: float,
                      derivative: bool) -> float:
    a, b = pieces
    theta = math.acos(min(1.0, max(-1.0, c)))
    if derivative:  # P(u1 > 0, u2 > 0) = (pi - theta) / (2 pi); P(u1 > 0, u2 < 0) = theta / (2 pi)
        return ((a * a + b * b) * (math.pi - theta) + 2 * a * b * theta) / (2 * math.pi)

    def k(c_: float, th: float) -> float:  # E relu(u1) relu(u2): Cho & Saul's arc-cosine kernel
        return q / (2 * math.pi) * (math.sqrt(max((1 - c_) * (1 + c_), 0.0)) + (math.pi - th) * c_)

    return (a * a + b * b) * k(c, theta) - 2 * a * b * k(-c, math.pi - theta)


def _pair(act: Activation, q: float, c: float, derivative: bool = False) -> float:
    """E f(u1) f(u2) with f = phi (or phi'), (u1, u2) ~ N(0, q [[1, c], [c, 1]])."""
    if act.pieces is not None:
        return _homogeneous_pair(act.pieces, q, c, derivative)
    f = act.df if derivative else act.f
    if c == 1.0:
        return _quadrature.expect(lambda x: f(x) ** 2, q, act.points)
    x1, x2, w = _quadrature.pair_rule(q, c, act.points)
    y2 = f(x2.ravel()).reshape(x2.shape)
    return float(np.sum(f(x1) * np.einsum("ij,ij->i", w, y2)))


def _cmap(act: Activation, c: float, q: float, sw2: float, sb2: float, vq: float) -> float:
    return (sw2 * _pair(act, q, c) + sb2) / vq


@_public
def correlation_map(c: float | np.ndarray, q_star: float, sigma_w2: float, sigma_b2: float,
                    activation: ActivationLike, *, param: float | None = None,
                    breakpoints: Sequence[float] = ()) -> float | np.ndarray:
    r"""The correlation map: the next layer's correlation between two inputs' pre-activations.

    .. math::

        C(c) = \frac{\sigma_w^2\,\mathbb{E}[\phi(u_1)\,\phi(u_2)] + \sigma_b^2}{V(q^*)},
        \qquad (u_1, u_2) \sim \mathcal{N}\!\left(0,\ q^*\begin{pmatrix}1 & c\\ c & 1
        \end{pmatrix}\right),

    with :math:`V` the variance map; at a fixed point :math:`V(q^*) = q^*`, Poole et al.'s
    normalization. Dividing by :math:`V(q^*)` keeps :math:`C(1) = 1` for any ``q_star``.

    Args:
      c: correlation(s) in :math:`[-1, 1]` (a number or an array).
      q_star: the variance of both inputs' pre-activations, :math:`> 0` (usually
        :func:`fixed_point_q`).
      sigma_w2: weight variance times fan-in, :math:`\ge 0`.
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      :math:`C(c)`: a float, or an array of ``c``'s shape.

    Raises:
      ValueError: ``c`` outside :math:`[-1, 1]`, ``q_star <= 0``, negative variances, a
        next-layer variance of 0, a bad activation.
      TypeError: non-real arguments; an activation that is neither a name nor a callable.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, eq. 5.

    Example:
      >>> import math
      >>> from jinit import theory
      >>> c = theory.correlation_map(0.0, 1.0, 2.0, 0.0, "relu")   # arc-cosine kernel at 0
      >>> bool(abs(c - 1 / math.pi) < 1e-15), theory.correlation_map(1.0, 1.0, 2.0, 0.0, "relu")
      (True, 1.0)
    """
    fn = "correlation_map"
    cs, scalar = _array_or_float(fn, "c", c, -1.0, 1.0)
    _checks.scalar(fn, "q_star", q_star, strict=True)
    q = float(q_star)
    sw2 = _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    act = _resolve(fn, activation, param, breakpoints)
    vq = _vmap(act, q, sw2, sb2)
    if not vq > 0.0:
        raise _checks.fail(fn, "sigma_w2", sigma_w2, f"with sigma_b2={sb2!r} gives a next-layer "
                           "variance of 0, so correlations are undefined",
                           "weights or biases with positive variance")
    out = np.asarray([1.0 if v == 1.0 else _cmap(act, float(v), q, sw2, sb2, vq)
                      for v in cs.ravel()]).reshape(cs.shape)
    return float(out) if scalar else out


def _chi1(act: Activation, q: float, sw2: float) -> float:
    return sw2 * _gain.d2(act, _gain._Q_MAX if math.isinf(q) else q)


def _fixed_c(fn: str, act: Activation, sw2: float, sb2: float, q0: float
             ) -> tuple[float, float, float]:
    """(q*, c*, chi_c)."""
    q = _gain.fixed_point_q(act, sw2, sb2, q0)
    if math.isinf(q):
        raise _checks.fail(fn, "sigma_w2", sw2, f"with sigma_b2={sb2!r} makes the variance "
                           "diverge (q* = inf), so there is no correlation fixed point",
                           "a (sigma_w2, sigma_b2) with a finite q* (see fixed_point_q)")
    chi = _chi1(act, q, sw2)
    if q == 0.0 or chi <= 1.0:
        return q, 1.0, chi
    vq = _vmap(act, q, sw2, sb2)

    def d(c: float) -> float:
        return _cmap(act, c, q, sw2, sb2, vq) - c

    d_lo = d(0.0)
    lo, hi, d_hi = 0.0, 0.5, d(0.5)
    k = 1
    while d_hi >= 0.0 and k < 50:  # C(c) < c just below 1 when chi1 > 1
        lo, d_lo = hi, d_hi
        k += 1
        hi = 1.0 - 2.0**-k
        d_hi = d(hi)
    if d_hi >= 0.0:
        return q, 1.0, chi
    c = 0.0 if d_lo == 0.0 else _quadrature.find_root(d, lo, hi, d_lo, d_hi, rtol=1e-15)
    return q, c, sw2 * _pair(act, q, c, derivative=True)


@_public
def fixed_point_c(sigma_w2: float, sigma_b2: float, activation: ActivationLike, *,
                  q0: float = 1.0, param: float | None = None,
                  breakpoints: Sequence[float] = ()) -> float:
    r"""The stable fixed point :math:`c^* = C(c^*)` of the correlation map.

    .. math::

        c^* = \begin{cases} 1 & \chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*} z)^2] \le 1
        \quad\text{(ordered phase)} \\
        \text{the root of } C(c) = c \text{ in } [0, 1) & \chi_1 > 1 \quad\text{(chaotic phase)}
        \end{cases}

    :math:`c = 1` is always a fixed point, with slope :math:`C'(1) = \chi_1`; when
    :math:`\chi_1 > 1` it repels and :math:`C(0) \ge 0` puts the attracting root in
    :math:`[0, 1)`, found by bracketing and false position. :math:`q^*` comes from
    :func:`fixed_point_q` with ``q0``.

    Args:
      sigma_w2: weight variance times fan-in, :math:`\ge 0`.
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      q0: the input variance :math:`q^*` is reached from (default 1).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      :math:`c^*` as a float.

    Raises:
      ValueError: as :func:`fixed_point_q`, or when :math:`q^* = \infty`.
      TypeError: as :func:`fixed_point_q`.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, §3 and Fig. 2; Schoenholz et al.,
      ICLR 2017, arXiv:1611.01232, §3.

    Example:
      >>> from jinit import theory
      >>> theory.fixed_point_c(1.0, 0.05, "tanh")            # ordered: chi1 < 1
      1.0
      >>> c = theory.fixed_point_c(4.0, 0.05, "tanh")        # chaotic
      >>> bool(0 < c < 1), bool(abs(theory.correlation_map(c, theory.fixed_point_q(4.0, 0.05, "tanh"), 4.0, 0.05, "tanh") - c) < 1e-12)
      (True, True)
    """
    fn = "fixed_point_c"
    sw2 = _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    _checks.scalar(fn, "q0", q0, strict=True)
    act = _resolve(fn, activation, param, breakpoints)
    return _fixed_c(fn, act, sw2, sb2, float(q0))[1]


@_public
def chi1(sigma_w2: float, sigma_b2: float, activation: ActivationLike, *,
         q_star: float | None = None, q0: float = 1.0, param: float | None = None,
         breakpoints: Sequence[float] = ()) -> float:
    r"""The slope of the correlation map at :math:`c = 1`: the order-to-chaos parameter.

    .. math::

        \chi_1 = \sigma_w^2\,\mathbb{E}_{z\sim\mathcal{N}(0,1)}\left[\phi'(\sqrt{q^*}\,z)^2\right].

    :math:`\chi_1 < 1`: ordered (nearby inputs converge, gradients vanish as
    :math:`\chi_1^L`); :math:`\chi_1 > 1`: chaotic (they decorrelate, gradients explode);
    :math:`\chi_1 = 1`: the edge of chaos. Also the per-layer factor of the gradient's second
    moment. For :math:`q^* = \infty` the limit :math:`q \to \infty` (evaluated at 1e30).

    Args:
      sigma_w2: weight variance times fan-in, :math:`\ge 0`.
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      q_star: the variance to evaluate at; ``None`` (default) uses :func:`fixed_point_q`.
      q0: the input variance :math:`q^*` is reached from when ``q_star`` is ``None``.
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      :math:`\chi_1` as a float.

    Raises:
      ValueError, TypeError: as :func:`fixed_point_q`; a negative ``q_star``.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, eq. 7; Schoenholz et al., ICLR 2017,
      arXiv:1611.01232, eq. 8.

    Example:
      >>> from jinit import theory
      >>> theory.chi1(2.0, 0.0, "relu"), round(theory.chi1(1.0, 0.0, "tanh"), 12)
      (1.0, 1.0)
    """
    fn = "chi1"
    sw2 = _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    _checks.scalar(fn, "q0", q0, strict=True)
    act = _resolve(fn, activation, param, breakpoints)
    if q_star is None:
        q = _gain.fixed_point_q(act, sw2, sb2, float(q0))
    else:
        q = _nonneg(fn, "q_star", q_star)
    return _chi1(act, q, sw2)


@_public
def critical_sigma_w2(sigma_b2: float, activation: ActivationLike, *, q0: float = 1.0,
                      param: float | None = None, breakpoints: Sequence[float] = ()) -> float:
    r"""The edge of chaos: the weight variance where :math:`\chi_1 = 1` for a bias variance.

    .. math::

        \sigma_w^2:\quad \sigma_w^2\,\mathbb{E}\left[\phi'(\sqrt{q^*(\sigma_w^2, \sigma_b^2)}\,z)^2
        \right] = 1,

    with :math:`q^*` from :func:`fixed_point_q` (and ``q0``), solved by bracketing (doubling
    or halving from 1) and false position to about 1e-13 (about 1e-8 for tanh at
    :math:`\sigma_b^2 = 0`, where :math:`\chi_1 - 1` grows only like
    :math:`(\sigma_w^2 - 1)^2/3` above the edge). Known cases: ReLU gives 2 for every
    :math:`\sigma_b^2` (:math:`\chi_1 = \sigma_w^2/2` whatever :math:`q^*`); tanh gives 1 at
    :math:`\sigma_b^2 = 0` and rises along the critical line of Poole et al.'s Fig. 2 and
    Schoenholz et al.'s Fig. 1 (1.7610 at :math:`\sigma_b^2 = 0.05`).

    Args:
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      q0: the input variance :math:`q^*` is reached from (default 1).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      The critical :math:`\sigma_w^2` as a float.

    Raises:
      ValueError: as :func:`fixed_point_q`; or when :math:`\chi_1` does not cross 1
        continuously for :math:`\sigma_w^2` in :math:`[2^{-40}, 2^{40}]` (e.g. it jumps
        over 1 where :math:`q^*` jumps between 0 and :math:`\infty`, as for GELU at zero bias).
      TypeError: as :func:`fixed_point_q`.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, Fig. 2; Schoenholz et al., "Deep
      Information Propagation", ICLR 2017, arXiv:1611.01232, Fig. 1.

    Example:
      >>> from jinit import theory
      >>> theory.critical_sigma_w2(0.0, "relu"), theory.critical_sigma_w2(0.3, "relu")
      (2.0, 2.0)
      >>> round(theory.critical_sigma_w2(0.05, "tanh"), 4)
      1.761
    """
    fn = "critical_sigma_w2"
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    _checks.scalar(fn, "q0", q0, strict=True)
    act = _resolve(fn, activation, param, breakpoints)

    def f(sw2: float) -> float:
        return _chi1(act, _gain.fixed_point_q(act, sw2, sb2, float(q0)), sw2) - 1.0

    lo = hi = 1.0
    f_lo = f_hi = f(1.0)
    steps = 0
    if f_hi < 0:
        while f_hi < 0 and steps < 40:
            lo, f_lo, hi = hi, f_hi, 2.0 * hi
            f_hi = f(hi)
            steps += 1
    else:
        while f_lo > 0 and steps < 40:
            hi, f_hi, lo = lo, f_lo, 0.5 * lo
            f_lo = f(lo)
            steps += 1
    if f_lo > 0 or f_hi < 0:
        raise _checks.fail(fn, "activation", activation, "has chi1 on one side of 1 for every "
                           "sigma_w2 in [2^-40, 2^40], so it has no edge of chaos at "
                           f"sigma_b2={sb2!r}", "an activation whose chi1 crosses 1")
    # Coarse first: a jump of chi1 over 1 (where q* jumps) shows as a large |f| at the root.
    root = _quadrature.find_root(f, lo, hi, f_lo, f_hi, rtol=1e-7)
    f_root = f(root)
    if abs(f_root) < 1e-4:
        a, b = root * (1 - 1e-6), root * (1 + 1e-6)
        f_a, f_b = f(a), f(b)
        if f_a * f_b <= 0:
            lo, hi, f_lo, f_hi = a, b, f_a, f_b
        root = _quadrature.find_root(f, lo, hi, f_lo, f_hi, rtol=1e-15)
        f_root = f(root)
    if abs(f_root) > 1e-8:
        raise _checks.fail(fn, "activation", activation, "has chi1 jumping over 1 near "
                           f"sigma_w2={root:.6g} (q* jumps there) at sigma_b2={sb2!r}, so it has "
                           "no edge of chaos", "an activation whose chi1 crosses 1 continuously",
                           "A larger sigma_b2 often gives a finite, stable q* and an edge.")
    return root


@_public
def correlation_depth(sigma_w2: float, sigma_b2: float, activation: ActivationLike, *,
                      q0: float = 1.0, param: float | None = None,
                      breakpoints: Sequence[float] = ()) -> float:
    r"""The depth scale over which two inputs' correlation approaches its fixed point.

    .. math::

        \xi_c = -\frac{1}{\ln \chi_c}, \qquad
        \chi_c = \sigma_w^2\,\mathbb{E}[\phi'(u_1)\,\phi'(u_2)],\quad
        (u_1, u_2) \sim \mathcal{N}\!\left(0,\ q^*\begin{pmatrix}1 & c^*\\ c^* & 1
        \end{pmatrix}\right),

    so :math:`|c_l - c^*| \sim e^{-l/\xi_c}`. In the ordered phase :math:`c^* = 1` and
    :math:`\chi_c = \chi_1`; at the edge of chaos :math:`\chi_c = 1` and :math:`\xi_c` diverges:
    Schoenholz et al. show networks train only when their depth is a few :math:`\xi_c`.

    Args:
      sigma_w2: weight variance times fan-in, :math:`\ge 0`.
      sigma_b2: bias variance, :math:`\ge 0`.
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      q0: the input variance :math:`q^*` is reached from (default 1).
      param: the named activation's parameter.
      breakpoints: extra kinks of a callable.

    Returns:
      :math:`\xi_c` as a float; ``inf`` when :math:`\chi_c \ge 1` (the edge of chaos, or a
      map with no contraction), ``0.0`` when :math:`\chi_c = 0`.

    Raises:
      ValueError, TypeError: as :func:`fixed_point_c`.

    References:
      Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, "Deep Information Propagation", ICLR
      2017, arXiv:1611.01232, eq. 9 and Fig. 1.

    Example:
      >>> import math
      >>> from jinit import theory
      >>> theory.correlation_depth(2.0, 0.0, "relu")        # critical: chi_c = 1
      inf
      >>> xi = theory.correlation_depth(1.0, 0.05, "tanh")  # ordered: -1/ln(chi1)
      >>> bool(abs(xi + 1 / math.log(theory.chi1(1.0, 0.05, "tanh"))) < 1e-9)
      True
    """
    fn = "correlation_depth"
    sw2 = _nonneg(fn, "sigma_w2", sigma_w2)
    sb2 = _nonneg(fn, "sigma_b2", sigma_b2)
    _checks.scalar(fn, "q0", q0, strict=True)
    act = _resolve(fn, activation, param, breakpoints)
    _, _, chi_c = _fixed_c(fn, act, sw2, sb2, float(q0))
    if chi_c >= 1.0:
        return math.inf
    if chi_c <= 0.0:
        return 0.0
    return -1.0 / math.log(chi_c)
