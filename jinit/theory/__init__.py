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

Every function is called the same way: the activation first, then the map's own variable
if it has one (``q``, ``c``, ``depth``), then keyword-only arguments:

* ``activation``: a name or an elementwise callable, exactly as :func:`jinit.gain` takes it;
* ``sigma_w2``: weight variance times fan-in, :math:`\ge 0`; ``None`` (default) is the scale
  :func:`jinit.for_activation` picks, :math:`1/\mathbb{E}[\phi(z)^2]`;
* ``sigma_b2``: bias variance, :math:`\ge 0` (default 0);
* ``q0``: the input variance the fixed point :math:`q^*` is reached from, :math:`> 0`
  (default 1);
* ``param``, ``breakpoints``: the named activation's parameter and a callable's extra kinks.

Every function raises ``ValueError`` for negative or non-finite variances, ``q0 <= 0`` and a
bad activation (as :func:`jinit.gain` does), and ``TypeError`` for non-real arguments and an
activation that is neither a name nor a callable; the Raises sections below add the rest.

Expectations use the quadrature of :func:`jinit.gain` (about 1e-14; pairs about 1e-13, by
the Cholesky form :math:`u_2 = \sqrt{q}\,(c z_1 + \sqrt{1-c^2}\,z_2)`); linear, ReLU and leaky
ReLU use closed forms (Cho & Saul's arc-cosine kernel for pairs). A :math:`\chi` within 1e-12
of 1, a hundred times that accuracy, is the edge of chaos. Results are Python floats (float64
arrays for array inputs).

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

from .. import _checks, _meanfield
from .._activations import Activation, resolve
from .._base import public
from .._meanfield import Stability

__all__ = ["Stability", "chi1", "correlation_depth", "correlation_map", "critical_sigma_w2",
           "depth_variance_curve", "fixed_point_c", "fixed_point_q", "stability", "variance_map"]

ActivationLike = str | Callable


def _args(fn: str, activation: object, param: object, breakpoints: object, sigma_w2: object,
          sigma_b2: object) -> tuple[Activation, float, float]:
    """The activation, ``sigma_w2`` (``None``: for_activation's scale) and ``sigma_b2``."""
    act = resolve(fn, activation, param, breakpoints)
    sb2 = _checks.real(fn, "sigma_b2", sigma_b2, minimum=0.0)
    if sigma_w2 is None:
        return act, _meanfield.unit_variance_scale(act), sb2
    return act, _checks.real(fn, "sigma_w2", sigma_w2, minimum=0.0), sb2


def _q0(fn: str, q0: object) -> float:
    return _checks.real(fn, "q0", q0, minimum=0.0, strict=True)


def _finite(fn: str, q: float, sw2: float, sb2: float) -> float:
    if math.isinf(q):
        raise _checks.fail(fn, "sigma_w2", sw2, f"with sigma_b2={sb2!r} makes the variance "
                           "diverge (q* = inf), so there is no correlation fixed point",
                           "a (sigma_w2, sigma_b2) with a finite q* (see fixed_point_q)")
    return q


@public("jinit.theory")
def variance_map(activation: ActivationLike, q: float | np.ndarray, *,
                 sigma_w2: float | None = None, sigma_b2: float = 0.0,
                 param: float | None = None, breakpoints: Sequence[float] = ()
                 ) -> float | np.ndarray:
    r"""The variance map: the next layer's pre-activation variance.

    .. math::

        V(q) = \sigma_w^2\,\mathbb{E}_{z \sim \mathcal{N}(0,1)}\left[\phi(\sqrt{q}\,z)^2\right]
        + \sigma_b^2.

    Args:
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      q: pre-activation variance(s), :math:`\ge 0` (a number or an array).
      sigma_w2, sigma_b2, param, breakpoints: as in :mod:`jinit.theory`.

    Returns:
      :math:`V(q)`: a float, or an array of ``q``'s shape.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, eq. 3.

    Example:
      >>> from jinit import theory
      >>> theory.variance_map("relu", 1.0, sigma_w2=2.0)
      1.0
      >>> round(theory.variance_map("tanh", 1.0, sigma_w2=1.0, sigma_b2=0.05), 10)
      0.4442944904
    """
    fn = "variance_map"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    qs, scalar = _checks.real_array(fn, "q", q, 0.0)
    out = np.asarray([_meanfield.variance_map(act, float(v), sw2, sb2)
                      for v in qs.ravel()]).reshape(qs.shape)
    return float(out) if scalar else out


@public("jinit.theory")
def fixed_point_q(activation: ActivationLike, *, sigma_w2: float | None = None,
                  sigma_b2: float = 0.0, q0: float = 1.0, param: float | None = None,
                  breakpoints: Sequence[float] = ()) -> float:
    r"""The fixed point :math:`q^* = V(q^*)` that a deep stack's variance settles at.

    .. math::

        q^* = \lim_{l\to\infty} q_l, \qquad q_{l+1} = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q_l}\,z)^2]
        + \sigma_b^2, \quad q_0 = \texttt{q0}.

    :math:`V` is increasing for every named activation, so the iterates move monotonically to
    the first root of :math:`V(q) - q` on the side :math:`V(q_0) - q_0` points to, found by
    bracketing and false position to about 1e-15. A ``q0`` that is itself a fixed point
    (within 1e-13) is returned, stable or not (ReLU at :math:`\sigma_w^2 = 2` keeps any
    :math:`q_0`; see :func:`stability`).

    Args:
      activation, sigma_w2, sigma_b2, q0, param, breakpoints: as in :mod:`jinit.theory`.

    Returns:
      :math:`q^*` as a float: ``inf`` when the variance grows without bound (beyond 1e30),
      ``0.0`` when it decays to 0 (below 1e-30).

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, §2 (the fixed point :math:`q^*`).

    Example:
      >>> from jinit import theory
      >>> theory.fixed_point_q("relu", sigma_w2=2.0, q0=3.0)
      3.0
      >>> theory.fixed_point_q("relu", sigma_w2=1.0, sigma_b2=0.5)
      1.0
      >>> round(theory.fixed_point_q("tanh", sigma_w2=1.5, sigma_b2=0.05), 8)
      0.4180372
    """
    fn = "fixed_point_q"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    return _meanfield.fixed_point_q(act, sw2, sb2, _q0(fn, q0))


@public("jinit.theory")
def depth_variance_curve(activation: ActivationLike, depth: int, *,
                         sigma_w2: float | None = None, sigma_b2: float = 0.0, q0: float = 1.0,
                         param: float | None = None, breakpoints: Sequence[float] = ()
                         ) -> np.ndarray:
    r"""The pre-activation variance of every layer of a deep stack, :math:`q_0, \ldots, q_L`.

    .. math::

        q_{l+1} = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q_l}\,z)^2] + \sigma_b^2,
        \qquad l = 0, \ldots, L-1.

    Args:
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      depth: :math:`L \ge 0`, the number of layers (an int).
      sigma_w2, sigma_b2, param, breakpoints: as in :mod:`jinit.theory`.
      q0: the input variance :math:`q_0`, :math:`\ge 0` (default 1).

    Returns:
      A float64 array of shape ``(depth + 1,)``; entries may overflow to ``inf``.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, Fig. 1.

    Example:
      >>> from jinit import theory
      >>> curve = theory.depth_variance_curve("relu", 50, sigma_w2=2.0)
      >>> curve.shape, bool((curve == 1.0).all())
      ((51,), True)
      >>> theory.depth_variance_curve("tanh", 3, sigma_w2=0.5, q0=4.0).round(4).tolist()
      [4.0, 0.3176, 0.1026, 0.043]
    """
    fn = "depth_variance_curve"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    layers = _checks.integer(fn, "depth", depth)
    q = _checks.real(fn, "q0", q0, minimum=0.0)
    out = [q]
    for _ in range(layers):
        q = _meanfield.variance_map(act, q, sw2, sb2) if math.isfinite(q) and q < 1e300 else math.inf
        out.append(q)
    return np.asarray(out, np.float64)


@public("jinit.theory")
def stability(activation: ActivationLike, *, sigma_w2: float | None = None,
              sigma_b2: float = 0.0, q0: float = 1.0, param: float | None = None,
              breakpoints: Sequence[float] = ()) -> Stability:
    r"""Whether a deep stack's forward variance is held at its fixed point, and how firmly.

    .. math::

        V'(q^*) = \frac{\sigma_w^2\,\mathbb{E}[\phi(x)\,\phi'(x)\,x]}{q^*},
        \quad x \sim \mathcal{N}(0, q^*), \qquad
        \chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(x)^2].

    Deviations evolve as :math:`\delta_{l+1} \approx V'(q^*)\,\delta_l`: the fixed point
    attracts below slope 1, is neutral at 1 (ReLU, leaky ReLU, linear keep any variance) and
    repels above. The derivative needs no second derivative of :math:`\phi`, so kinks are
    fine. :math:`\chi_1` is the per-layer factor of back-propagated gradient second moments.

    Args:
      activation, sigma_w2, sigma_b2, q0, param, breakpoints: as in :mod:`jinit.theory`
        (the default ``sigma_w2`` gives the diagnosis of :func:`jinit.for_activation`).

    Returns:
      A :class:`Stability` ``(sigma_w2, sigma_b2, q_star, slope, chi1, verdict)``.

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
      >>> theory.stability("gelu", sigma_w2=1.5, sigma_b2=0.5).verdict   # smaller, with a bias
      'stable'
    """
    fn = "stability"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    return _meanfield.stability(act, sw2, sb2, _q0(fn, q0))


@public("jinit.theory")
def correlation_map(activation: ActivationLike, c: float | np.ndarray, *,
                    sigma_w2: float | None = None, sigma_b2: float = 0.0,
                    q_star: float | None = None, q0: float = 1.0, param: float | None = None,
                    breakpoints: Sequence[float] = ()) -> float | np.ndarray:
    r"""The correlation map: the next layer's correlation between two inputs' pre-activations.

    .. math::

        C(c) = \frac{\sigma_w^2\,\mathbb{E}[\phi(u_1)\,\phi(u_2)] + \sigma_b^2}{V(q^*)},
        \qquad (u_1, u_2) \sim \mathcal{N}\!\left(0,\ q^*\begin{pmatrix}1 & c\\ c & 1
        \end{pmatrix}\right),

    :math:`V` the variance map (:math:`V(q^*) = q^*` at a fixed point, Poole et al.'s
    normalization); dividing by :math:`V(q^*)` keeps :math:`C(1) = 1` for any ``q_star``.

    Args:
      activation: a name or an elementwise callable (see :func:`jinit.gain`).
      c: correlation(s) in :math:`[-1, 1]` (a number or an array).
      sigma_w2, sigma_b2, q0, param, breakpoints: as in :mod:`jinit.theory`.
      q_star: the variance of both inputs' pre-activations, :math:`> 0`; ``None`` (default)
        uses :func:`fixed_point_q` from ``q0``.

    Returns:
      :math:`C(c)`: a float, or an array of ``c``'s shape.

    Raises:
      ValueError: ``c`` outside :math:`[-1, 1]`, ``q_star <= 0``, a next-layer variance of 0,
        or :math:`q^* = \infty`.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, eq. 5.

    Example:
      >>> import math
      >>> from jinit import theory
      >>> c = theory.correlation_map("relu", 0.0, sigma_w2=2.0)   # the arc-cosine kernel at 0
      >>> bool(abs(c - 1 / math.pi) < 1e-15), theory.correlation_map("relu", 1.0, sigma_w2=2.0)
      (True, 1.0)
    """
    fn = "correlation_map"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    cs, scalar = _checks.real_array(fn, "c", c, -1.0, 1.0)
    if q_star is None:
        q = _finite(fn, _meanfield.fixed_point_q(act, sw2, sb2, _q0(fn, q0)), sw2, sb2)
    else:
        q = _checks.real(fn, "q_star", q_star, minimum=0.0, strict=True)
    vq = _meanfield.variance_map(act, q, sw2, sb2)
    if not vq > 0.0:
        raise _checks.fail(fn, "sigma_w2", sw2, f"with sigma_b2={sb2!r} gives a next-layer "
                           "variance of 0, so correlations are undefined",
                           "weights or biases with positive variance")
    out = np.asarray([1.0 if v == 1.0 else _meanfield.correlation_map(act, float(v), q, sw2, sb2, vq)
                      for v in cs.ravel()]).reshape(cs.shape)
    return float(out) if scalar else out


@public("jinit.theory")
def fixed_point_c(activation: ActivationLike, *, sigma_w2: float | None = None,
                  sigma_b2: float = 0.0, q0: float = 1.0, param: float | None = None,
                  breakpoints: Sequence[float] = ()) -> float:
    r"""The stable fixed point :math:`c^* = C(c^*)` of the correlation map.

    .. math::

        c^* = \begin{cases} 1 & \chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*} z)^2] \le 1
        \quad\text{(ordered phase)} \\
        \text{the root of } C(c) = c \text{ in } [0, 1) & \chi_1 > 1 \quad\text{(chaotic phase)}
        \end{cases}

    :math:`c = 1` is a fixed point with slope :math:`C'(1) = \chi_1`; when it repels,
    :math:`C(0) \ge 0` puts the attracting root in :math:`[0, 1)`, found by bracketing and
    false position. At the edge (:math:`\chi_1` within 1e-12 of 1) :math:`c^* = 1`.

    Args:
      activation, sigma_w2, sigma_b2, q0, param, breakpoints: as in :mod:`jinit.theory`.

    Returns:
      :math:`c^*`, a float.

    Raises:
      ValueError: when :math:`q^* = \infty`.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, §3 and Fig. 2; Schoenholz et al.,
      ICLR 2017, arXiv:1611.01232, §3.

    Example:
      >>> from jinit import theory
      >>> theory.fixed_point_c("tanh", sigma_w2=1.0, sigma_b2=0.05)   # ordered: chi1 < 1
      1.0
      >>> c = theory.fixed_point_c("tanh", sigma_w2=4.0, sigma_b2=0.05)   # chaotic
      >>> bool(0 < c < 1)
      True
      >>> bool(abs(theory.correlation_map("tanh", c, sigma_w2=4.0, sigma_b2=0.05) - c) < 1e-12)
      True
    """
    fn = "fixed_point_c"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    q, c, _ = _meanfield.fixed_point_c(act, sw2, sb2, _q0(fn, q0))
    _finite(fn, q, sw2, sb2)
    return c


@public("jinit.theory")
def chi1(activation: ActivationLike, *, sigma_w2: float | None = None, sigma_b2: float = 0.0,
         q_star: float | None = None, q0: float = 1.0, param: float | None = None,
         breakpoints: Sequence[float] = ()) -> float:
    r"""The slope of the correlation map at :math:`c = 1`: the order-to-chaos parameter.

    .. math::

        \chi_1 = \sigma_w^2\,\mathbb{E}_{z\sim\mathcal{N}(0,1)}\left[\phi'(\sqrt{q^*}\,z)^2\right].

    :math:`\chi_1 < 1`: ordered (nearby inputs converge, gradients vanish as
    :math:`\chi_1^L`); :math:`\chi_1 > 1`: chaotic; :math:`\chi_1 = 1`: the edge of chaos.
    For :math:`q^* = \infty`, the limit :math:`q \to \infty` (evaluated at 1e30).

    Args:
      activation, sigma_w2, sigma_b2, q0, param, breakpoints: as in :mod:`jinit.theory`.
      q_star: the variance to evaluate at, :math:`\ge 0`; ``None`` (default) uses
        :func:`fixed_point_q` from ``q0``.

    Returns:
      :math:`\chi_1` as a float.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, eq. 7; Schoenholz et al., ICLR 2017,
      arXiv:1611.01232, eq. 8.

    Example:
      >>> from jinit import theory
      >>> theory.chi1("relu", sigma_w2=2.0), round(theory.chi1("tanh", sigma_w2=1.0), 12)
      (1.0, 1.0)
    """
    fn = "chi1"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    q0 = _q0(fn, q0)
    if q_star is None:
        q = _meanfield.fixed_point_q(act, sw2, sb2, q0)
    else:
        q = _checks.real(fn, "q_star", q_star, minimum=0.0)
    return _meanfield.chi1(act, q, sw2)


@public("jinit.theory")
def critical_sigma_w2(activation: ActivationLike, *, sigma_b2: float = 0.0, q0: float = 1.0,
                      param: float | None = None, breakpoints: Sequence[float] = ()) -> float:
    r"""The edge of chaos: the weight variance where :math:`\chi_1 = 1` for a bias variance.

    .. math::

        \sigma_w^2:\quad \sigma_w^2\,\mathbb{E}\left[\phi'(\sqrt{q^*(\sigma_w^2, \sigma_b^2)}\,z)^2
        \right] = 1,

    with :math:`q^*` from :func:`fixed_point_q`, solved by bracketing (doubling or halving
    from 1) and false position to about 1e-13 (1e-8 for tanh at :math:`\sigma_b^2 = 0`, where
    :math:`\chi_1 - 1 \approx (\sigma_w^2 - 1)^2/3`). ReLU gives 2 for every
    :math:`\sigma_b^2`; tanh gives 1 at :math:`\sigma_b^2 = 0`, 1.7610 at 0.05, along the
    critical line of Poole et al.'s Fig. 2.

    Args:
      activation, sigma_b2, q0, param, breakpoints: as in :mod:`jinit.theory`.

    Returns:
      The critical :math:`\sigma_w^2` as a float.

    Raises:
      ValueError: when :math:`\chi_1` does not cross 1 continuously for :math:`\sigma_w^2`
        in :math:`[2^{-40}, 2^{40}]` (it jumps over 1 where :math:`q^*` jumps between 0 and
        :math:`\infty`, as for GELU at zero bias).

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340, Fig. 2; Schoenholz et al., "Deep
      Information Propagation", ICLR 2017, arXiv:1611.01232, Fig. 1.

    Example:
      >>> from jinit import theory
      >>> theory.critical_sigma_w2("relu"), theory.critical_sigma_w2("relu", sigma_b2=0.3)
      (2.0, 2.0)
      >>> round(theory.critical_sigma_w2("tanh", sigma_b2=0.05), 4)
      1.761
    """
    fn = "critical_sigma_w2"
    act = resolve(fn, activation, param, breakpoints)
    sb2 = _checks.real(fn, "sigma_b2", sigma_b2, minimum=0.0)
    root, residual = _meanfield.critical_sigma_w2(act, sb2, _q0(fn, q0))
    if root is None:
        raise _checks.fail(fn, "activation", activation, "has chi1 on one side of 1 for every "
                           "sigma_w2 in [2^-40, 2^40], so it has no edge of chaos at "
                           f"sigma_b2={sb2!r}", "an activation whose chi1 crosses 1")
    if abs(residual) > 1e-8:
        raise _checks.fail(fn, "activation", activation, "has chi1 jumping over 1 near "
                           f"sigma_w2={root:.6g} (q* jumps there) at sigma_b2={sb2!r}, so it has "
                           "no edge of chaos", "an activation whose chi1 crosses 1 continuously",
                           "A larger sigma_b2 often gives a finite, stable q* and an edge.")
    return root


@public("jinit.theory")
def correlation_depth(activation: ActivationLike, *, sigma_w2: float | None = None,
                      sigma_b2: float = 0.0, q0: float = 1.0, param: float | None = None,
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
      activation, sigma_w2, sigma_b2, q0, param, breakpoints: as in :mod:`jinit.theory`.

    Returns:
      :math:`\xi_c`, a float: ``math.inf`` at the edge of chaos (:math:`\chi_c \ge 1 - 10^{-12}`,
      within the accuracy of :math:`\chi_c`: the output of :func:`critical_sigma_w2` gives
      ``inf``), ``0.0`` when :math:`\chi_c = 0`.

    Raises:
      ValueError: when :math:`q^* = \infty`.

    References:
      Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, "Deep Information Propagation", ICLR
      2017, arXiv:1611.01232, eq. 9 and Fig. 1.

    Example:
      >>> import math
      >>> from jinit import theory
      >>> theory.correlation_depth("relu", sigma_w2=2.0)        # critical: chi_c = 1
      inf
      >>> edge = theory.critical_sigma_w2("elu", sigma_b2=0.3)
      >>> theory.correlation_depth("elu", sigma_w2=edge, sigma_b2=0.3)
      inf
      >>> xi = theory.correlation_depth("tanh", sigma_w2=1.0, sigma_b2=0.05)  # -1/ln(chi1)
      >>> bool(abs(xi + 1 / math.log(theory.chi1("tanh", sigma_w2=1.0, sigma_b2=0.05))) < 1e-9)
      True
    """
    fn = "correlation_depth"
    act, sw2, sb2 = _args(fn, activation, param, breakpoints, sigma_w2, sigma_b2)
    q, _, chi_c = _meanfield.fixed_point_c(act, sw2, sb2, _q0(fn, q0))
    _finite(fn, q, sw2, sb2)
    if chi_c >= 1.0 - _meanfield.EDGE_TOL:
        return math.inf
    if chi_c <= 0.0:
        return 0.0
    return -1.0 / math.log(chi_c)
