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

**Which fixed point.** The same holds at any :math:`q^*` (:func:`choose`'s ``q``: replace 1 by
:math:`q^*` and expectations over :math:`\mathcal{N}(0, 1)` by :math:`\mathcal{N}(0, q^*)`).
:func:`fixed_scale` picks :math:`q^*` from the depth: 1 unless the activation's own spread of
the Jacobian's spectrum over :math:`L` layers exceeds one Gaussian layer's, then the largest
:math:`q^*` where it does not (tanh at 25 layers: :math:`q^* \approx 0.1`, which trains the
digits test's deep tanh MLP to 0.69x the best classic scheme's loss where :math:`q^* = 1`
reached 1.12x).

References:
  Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli, "Exponential expressivity in deep neural
  networks through transient chaos", NeurIPS 2016, arXiv:1606.05340.
  Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, "Deep Information Propagation", ICLR 2017,
  arXiv:1611.01232.
  Pennington, Schoenholz & Ganguli, "Resurrecting the sigmoid in deep learning through
  dynamical isometry: theory and practice", NeurIPS 2017, arXiv:1711.04735.
"""

from __future__ import annotations

import dataclasses
import functools
import math

from .. import _activations, _meanfield, _quadrature, theory

# A bias variance below this is taken as zero (ReLU's is 0 up to quadrature rounding).
_ZERO = 1e-9
_FN = "auto.init"


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


def _moments(act: _activations.Activation, q: float) -> tuple[float, float, float]:
    """``(E phi(x)^2, E phi'(x)^2, d/dq E phi(x)^2)``, :math:`x \\sim \\mathcal{N}(0, q)`:
    jinit.theory's V(q) and chi1 at sigma_w2 = 1, and the slope V'(q) / sigma_w2."""
    return _meanfield.m2(act, q), _meanfield.d2(act, q), _meanfield.dm2_dq(act, q)


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


def _arg_key(after: object) -> tuple[object, object]:
    arg = _theory_arg(after) if not isinstance(after, str) else after
    return (arg if isinstance(arg, str) else after), arg


def _edge(act: _activations.Activation, q: float) -> tuple[float, float] | None:
    """On the critical line at ``q`` (sigma_w2 = 1/E[phi'^2]): ``(V'(q), spread)``, or
    ``None`` where the edge needs a negative bias variance or the moments vanish."""
    m2, d2, dm2 = _moments(act, q)
    if not (m2 > 0 and d2 > 0) or q - m2 / d2 < -_ZERO * q:
        return None
    d4 = _quadrature.expect(lambda x: act.df(x) ** 4, q, act.points) \
        if act.pieces is None else (act.pieces[0] ** 4 + act.pieces[1] ** 4) / 2
    return dm2 / d2, d4 / (d2 * d2) - 1.0


@functools.lru_cache(maxsize=256)
def _scale(key: object, arg: object, depth: int) -> tuple[float, str]:
    try:
        act = _activations.resolve(_FN, arg)
        at_one = _edge(act, 1.0)
    except (ValueError, TypeError, ArithmeticError):
        return 1.0, "activation not understood: q*=1"

    def ok(q):
        e = _edge(act, q)
        return e is not None and e[0] <= 1.0 + _ZERO and depth * e[1] <= 1.0

    if at_one is None or at_one[0] > 1.0 + _ZERO or ok(1.0):
        return 1.0, "q*=1"
    hi, lo = 1.0, None
    for k in range(1, 41):                       # q = 2^(-k/2), down to 1e-6
        q = 2.0 ** (-k / 2)
        if ok(q):
            lo = q
            break
        hi = q
    if lo is None:
        return 1.0, (f"q*=1: the activation's Jacobian spread E[phi'^4]/E[phi'^2]^2-1="
                     f"{at_one[1]:.3g} per layer stays above 1/L on the stable critical line")
    for _ in range(40):                          # the largest q with L * spread <= 1
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo, (f"q*={lo:.3g}, the largest on the critical line with L*(E[phi'^4]/E[phi'^2]^2"
                f"-1) <= 1 for L={depth} layers (at q*=1 it is {depth * at_one[1]:.3g})")


def fixed_scale(after: object, depth: int) -> tuple[float, str]:
    r"""The second moment :math:`q^*` of the pre-activations that feed ``after`` in a plain
    stack of ``depth`` layers, with a note.

    On the critical line :math:`\chi_1 = 1` every :math:`q^*` is a fixed point with its own
    :math:`(\sigma_w^2, \sigma_b^2)`; :math:`q^*` sets how far into the nonlinearity the
    signal sits. The spread of the squared singular values of the input-output Jacobian grows
    by :math:`s(q^*) = \mu_2/\mu_1^2 - 1` per layer from the activation,
    :math:`\mu_k = \mathbb{E}[\phi'(x)^{2k}]`, :math:`x \sim \mathcal{N}(0, q^*)`, on top
    of what the weights add (Pennington, Schoenholz & Ganguli, "Resurrecting the sigmoid in
    deep learning through dynamical isometry", NeurIPS 2017, arXiv:1711.04735, §2.5). The
    choice: :math:`q^* = 1` where :math:`L\,s(1) \le 1`; else the largest :math:`q^* < 1`
    on the stable critical line (:math:`V'(q^*) \le 1`, :math:`\sigma_b^2 \ge 0`) with
    :math:`L\,s(q^*) \le 1`, so over the whole depth the activation spreads the spectrum no
    more than one Gaussian layer does; where none exists (ReLU and leaky ReLU: :math:`s = 1`
    at every :math:`q^*`; SELU: :math:`s \ge 0.166`) or the edge is unstable (GELU),
    :math:`q^* = 1`. tanh at :math:`L = 25`: :math:`q^* \approx 0.1`; ``sin``: 0.16.
    """
    key, arg = _arg_key(after)
    return _scale(key, arg, int(depth))


@functools.lru_cache(maxsize=256)
def _cached(key: object, arg: object, bias: bool, q: float) -> Choice:
    label = key if isinstance(key, str) else getattr(arg, "name", repr(arg))
    try:
        m2, d2, dm2 = _moments(_activations.resolve(_FN, arg), q)
    except (ValueError, TypeError, ArithmeticError) as e:
        return Choice(label, 1.0, 0.0, float("nan"), "unknown",
                      f"activation {label!r} not understood by jinit.theory ({e}); "
                      "LeCun's sigma_w2 = 1 stated as the default", understood=False)
    if not (m2 > 0 and d2 > 0):
        return Choice(label, 1.0, 0.0, float("nan"), "unknown",
                      f"activation {label!r} has E phi^2 = {m2:.3g}, E phi'^2 = {d2:.3g}: no "
                      "unit fixed point; LeCun's sigma_w2 = 1 stated as the default",
                      understood=False)
    # V'(q) = sigma_w2 * dm2/dq(q); q* = q is stable while sigma_w2 <= 1 / dm2/dq(q).
    stable_max = 1.0 / dm2 if dm2 > 0 else float("inf")
    edge = 1.0 / d2
    at = f"q*={q:.3g}"
    if bias and edge <= q / m2 + _ZERO and edge <= stable_max:
        sw2 = edge
        sb2 = max(q - sw2 * m2, 0.0)
        if sb2 < _ZERO:
            sb2 = 0.0
        note = (f"{at} and chi1=1 (edge of chaos): sigma_w2=1/E[phi'^2]={sw2:.4g}, "
                f"sigma_b2=q*-E[phi^2]/E[phi'^2]={sb2:.3g}")
    elif bias and edge <= q / m2 + _ZERO:
        sw2 = stable_max
        sb2 = max(q - sw2 * m2, 0.0)
        note = (f"the edge of chaos (sigma_w2={edge:.4g}) makes {at} unstable (V'="
                f"{edge * dm2:.3g} > 1); nearest stable point, V'=1: sigma_w2=1/V'="
                f"{sw2:.4g}, sigma_b2={sb2:.3g}, chi1={sw2 * d2:.4g}")
    else:
        sw2, sb2 = q / m2, 0.0
        why = "the layer has no bias" if not bias else "E[phi'^2] < E[phi^2]"
        note = (f"{at} with sigma_w2=q*/E[phi^2]={sw2:.4g}, sigma_b2=0; the edge of chaos "
                f"needs sigma_b2={q - m2 / d2:.3g} ({why}): nearest critical "
                f"point, chi1={sw2 * d2:.4g}")
    st = theory.stability(arg, sigma_w2=sw2, sigma_b2=sb2, q0=q)
    return Choice(label, sw2, sb2, st.chi1, st.verdict, note)


def choose(after: object, bias: bool, q: float = 1.0) -> Choice:
    """The :class:`Choice` for a layer whose input is ``after`` applied to a pre-activation of
    second moment ``q`` (``after``: a :class:`jinit.structure.After` or a name), holding the
    fixed point :math:`q^* = q`."""
    key, arg = _arg_key(after)
    return _cached(key, arg, bool(bias), float(q))


def unit_input(bias_var: float) -> float:
    """A first layer's ``sigma_w2`` on data of unit second moment: :math:`1 - \\sigma_b^2`,
    so that :math:`V = \\sigma_w^2 \\cdot 1 + \\sigma_b^2 = 1` (LeCun et al., "Efficient
    BackProp", 1998, for standardized inputs)."""
    return 1.0 - bias_var
