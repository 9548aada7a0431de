r"""The mean-field choice of one layer's weight and bias variances.

For a layer :math:`h = W\,\phi(h_{\text{in}}) + b` with :math:`W_{ij} \sim
\mathcal{N}(0, \sigma_w^2/\text{fan}_\text{in})`, :math:`b_i \sim \mathcal{N}(0, \sigma_b^2)`, and
an input pre-activation of unit second moment, the variance map and the order-to-chaos
parameter at :math:`q = 1` are (Poole et al. 2016, eq. 3 and 7; Schoenholz et al. 2017,
eq. 8)

.. math::

    V(1) = \sigma_w^2\,\mathbb{E}[\phi(z)^2] + \sigma_b^2, \qquad
    \chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(z)^2], \qquad z \sim \mathcal{N}(0, 1).

Asking for the fixed point :math:`q^* = 1` (:math:`V(1) = 1`) *and* the edge of chaos
(:math:`\chi_1 = 1`) gives

.. math::

    \sigma_w^2 = \frac{1}{\mathbb{E}[\phi'(z)^2]}, \qquad
    \sigma_b^2 = 1 - \frac{\mathbb{E}[\phi(z)^2]}{\mathbb{E}[\phi'(z)^2]},

which is a valid choice when :math:`\sigma_b^2 \ge 0`, i.e. :math:`\mathbb{E}[\phi'^2] \ge
\mathbb{E}[\phi^2]` (ReLU and leaky ReLU: equality, so :math:`\sigma_b^2 = 0` and He's
:math:`2/(1 + a^2)`; tanh: 2.153 and 0.151; SELU: 0.933 and 0.067; ``sin``: 1.762 and 0.238).
On the line :math:`V(1) = 1`, :math:`\sigma_b^2 \ge 0`, :math:`\chi_1` grows linearly with
:math:`\sigma_w^2 \le 1/\mathbb{E}[\phi^2]`, so where the edge is out of reach (a sigmoid,
:math:`\mathbb{E}[\phi'^2] < \mathbb{E}[\phi^2]`), or the layer has no bias (:math:`\sigma_b^2
= 0` is forced), the nearest critical point on the line is its end
:math:`\sigma_w^2 = 1/\mathbb{E}[\phi^2]`, :math:`\sigma_b^2 = 0`, and :math:`\chi_1` is
reported. The fixed point must also be stable, :math:`V'(1) = \sigma_w^2\,\partial_q
\mathbb{E}[\phi(\sqrt{q} z)^2]|_{q=1} \le 1` (:func:`jinit.theory.stability`'s slope): where
the edge of chaos breaks it (GELU: :math:`V'(1) = 1.067`), the nearest stable point on the
line, :math:`V'(1) = 1` (neutral, as ReLU's), is taken and its :math:`\chi_1` reported.
Every expectation is :mod:`jinit.theory`'s quadrature.

References:
  Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli, "Exponential expressivity in deep neural
  networks through transient chaos", NeurIPS 2016, arXiv:1606.05340.
  Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, "Deep Information Propagation", ICLR 2017,
  arXiv:1611.01232.
"""

from __future__ import annotations

import dataclasses
import functools

from .. import theory

# A bias variance below this is taken as zero (ReLU's is 0 up to quadrature rounding).
_ZERO = 1e-9


@dataclasses.dataclass(frozen=True)
class Choice:
    """``sigma_w2``/``sigma_b2`` for an input activation, with ``chi1``, the verdict, a note."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    chi1: float
    verdict: str
    note: str
    understood: bool = True


def _moments(activation: object) -> tuple[float, float]:
    """``(E phi(z)^2, E phi'(z)^2)`` from jinit.theory: V(1) and chi1 at sigma_w2 = 1, q* = 1."""
    m2 = theory.variance_map(activation, 1.0, sigma_w2=1.0)
    d2 = theory.chi1(activation, sigma_w2=1.0, q_star=1.0)
    return m2, d2


def _theory_arg(after: object) -> object:
    """A name :mod:`jinit.theory` knows (closed forms, faster) or the callable itself."""
    name = getattr(after, "name", None)
    if isinstance(name, str) and not name.startswith("custom(") and "*" not in name:
        try:
            theory.variance_map(name, 1.0, sigma_w2=1.0)
            return name
        except (ValueError, TypeError):
            pass
    return after


@functools.lru_cache(maxsize=256)
def _cached(key: object, arg: object, bias: bool) -> Choice:
    label = key if isinstance(key, str) else getattr(arg, "name", repr(arg))
    try:
        m2, d2 = _moments(arg)
    except (ValueError, TypeError, ArithmeticError) as e:
        return Choice(label, 1.0, 0.0, float("nan"), "unknown",
                      f"activation {label!r} not understood by jinit.theory ({e}); "
                      "LeCun's sigma_w2 = 1 stated as the default", understood=False)
    if not (m2 > 0 and d2 > 0):
        return Choice(label, 1.0, 0.0, float("nan"), "unknown",
                      f"activation {label!r} has E phi^2 = {m2:.3g}, E phi'^2 = {d2:.3g}: no "
                      "unit fixed point; LeCun's sigma_w2 = 1 stated as the default",
                      understood=False)
    # V'(1) = sigma_w2 * dm2/dq(1); q* = 1 is stable while sigma_w2 <= 1 / dm2/dq(1).
    dm2 = theory.stability(arg, sigma_w2=1.0, sigma_b2=max(1.0 - m2, 0.0)).slope \
        if m2 <= 1.0 else 0.0
    stable_max = 1.0 / dm2 if dm2 > 0 else float("inf")
    edge = 1.0 / d2
    if bias and edge <= 1.0 / m2 + _ZERO and edge <= stable_max:
        sw2 = edge
        sb2 = max(1.0 - sw2 * m2, 0.0)
        if sb2 < _ZERO:
            sb2 = 0.0
        note = (f"q*=1 and chi1=1 (edge of chaos): sigma_w2=1/E[phi'^2]={sw2:.4g}, "
                f"sigma_b2=1-E[phi^2]/E[phi'^2]={sb2:.3g}")
    elif bias and edge <= 1.0 / m2 + _ZERO:
        sw2 = stable_max
        sb2 = max(1.0 - sw2 * m2, 0.0)
        note = (f"the edge of chaos (sigma_w2={edge:.4g}) makes q*=1 unstable (V'(1)="
                f"{edge * dm2:.3g} > 1); nearest stable point, V'(1)=1: sigma_w2=1/V'="
                f"{sw2:.4g}, sigma_b2={sb2:.3g}, chi1={sw2 * d2:.4g}")
    else:
        sw2, sb2 = 1.0 / m2, 0.0
        why = "the layer has no bias" if not bias else "E[phi'^2] < E[phi^2]"
        note = (f"q*=1 with sigma_w2=1/E[phi^2]={sw2:.4g}, sigma_b2=0; the edge of chaos needs "
                f"sigma_b2={1.0 - m2 / d2:.3g} ({why}): nearest critical point, "
                f"chi1={sw2 * d2:.4g}")
    st = theory.stability(arg, sigma_w2=sw2, sigma_b2=sb2)
    return Choice(label, sw2, sb2, st.chi1, st.verdict, note)


def choose(after: object, bias: bool) -> Choice:
    """The :class:`Choice` for a layer whose input is ``after`` applied to a unit-variance
    pre-activation (``after``: a :class:`jinit.structure.After` or a name)."""
    arg = _theory_arg(after) if not isinstance(after, str) else after
    key = arg if isinstance(arg, str) else after
    return _cached(key, arg, bool(bias))


def unit_input(bias_var: float) -> float:
    """A first layer's ``sigma_w2`` on data of unit second moment: :math:`1 - \\sigma_b^2`,
    so that :math:`V = \\sigma_w^2 \\cdot 1 + \\sigma_b^2 = 1` (LeCun et al., "Efficient
    BackProp", 1998, for standardized inputs)."""
    return 1.0 - bias_var
