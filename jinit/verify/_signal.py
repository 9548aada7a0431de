r"""Signal propagation: does a deep stack keep forward and backward signals alive?

A stack of ``depth`` dense layers of equal width :math:`N`,

.. math::

    h_0 = x, \qquad h_{l+1} = \phi(h_l)\,W_{l+1} + b_{l+1}, \qquad
    \mathcal{L} = \textstyle\sum h_L \odot g,

with :math:`x, g \sim \mathcal{N}(0, I)`, weights from the scheme under test and biases
:math:`\mathcal{N}(0, \sigma_b^2)`, is run on a batch, vmapped over independent keys. Per
layer it records the forward second moment :math:`q_l = \overline{h_l^2}` and the backward
second moment :math:`g_l = \overline{(\partial\mathcal{L}/\partial h_l)^2}` (so
:math:`q_0 = g_L = 1` in expectation), averaged over the batch, the units and the keys.

Mean-field theory predicts, for a scheme with weight variance :math:`\sigma_w^2/N`,

.. math::

    q_{l+1} = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q_l}\,z)^2] + \sigma_b^2, \qquad
    g_l = g_{l+1}\,\sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q_l}\,z)^2].

Each of :math:`q_L/q_0` and :math:`g_0/g_L` is classified *vanishing* (below
``1/band``), *exploding* (above ``band``) or *stable*: the initialization's own fate, which
the report shows next to the verdict. The predictions are computed here, by the suite's own
quadrature (:mod:`jinit.laws`), never by :mod:`jinit.theory`, which is code
under test. The check passes when the measured
class is one theory allows (the verdict says whether measurement *agrees with theory*, not
whether the scheme is a good one): the classes of the predicted factor and of the factor ×2 and
÷2, along the curves from :math:`q_0` and from :math:`q_0(1 \pm 10\%)` — so a class edge or
an unstable fixed point (GELU at :math:`q^* = 1`, where any perturbation grows) admits
either side, and a clear prediction admits only itself.

References:
  Poole et al., "Exponential expressivity in deep neural networks through transient
  chaos", NeurIPS 2016, arXiv:1606.05340; Schoenholz et al., "Deep Information
  Propagation", ICLR 2017, arXiv:1611.01232.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jinit import laws
from jinit.laws import BAND, CLASSES, Check, classify

ACTIVATIONS = ("relu", "tanh", "gelu", "selu")
SCHEMES = ("lecun_normal", "glorot_uniform", "he_normal", "orthogonal", "for_activation",
           "presets.torch_linear_kernel")


Scheme = str | tuple[str, Callable, float]


def _scheme(scheme: Scheme, activation: str) -> tuple[str, Callable, float]:
    """``(label, initializer, sigma_w^2)`` of a scheme for a square ``(N, N)`` kernel.

    A scheme is a name (``"he_normal"``, ``"for_activation"``) or a triple ``(label,
    initializer, declared sigma_w^2)``: the check then tests the initializer against the
    variance it declares.
    """
    import jinit
    from jinit import presets

    if isinstance(scheme, tuple):
        label, init, sw2 = scheme
        return str(label), init, float(sw2)
    table = {
        "lecun_normal": (jinit.lecun_normal, 1.0),
        "lecun_uniform": (jinit.lecun_uniform, 1.0),
        "glorot_normal": (jinit.glorot_normal, 1.0),
        "glorot_uniform": (jinit.glorot_uniform, 1.0),
        "he_normal": (jinit.he_normal, 2.0),
        "he_uniform": (jinit.he_uniform, 2.0),
        "orthogonal": (jinit.orthogonal, 1.0),
        "presets.torch_linear_kernel": (presets.torch_linear_kernel, 1.0 / 3.0),
    }
    if scheme == "for_activation":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GELU/SiLU: no stable variance scaling (shown here)
            init = jinit.for_activation(activation)
        return scheme, init, laws.forward_scale(activation)
    if scheme not in table:
        raise ValueError(f"signal_propagation(): scheme={scheme!r} is not known; expected one "
                         f"of {', '.join(map(repr, KNOWN))}, or a (label, initializer, "
                         "sigma_w2) triple.")
    factory, sw2 = table[scheme]
    return scheme, factory(), sw2


# Every scheme name signal propagation knows (SCHEMES is the default selection).
KNOWN = ("lecun_normal", "lecun_uniform", "glorot_normal", "glorot_uniform", "he_normal",
         "he_uniform", "orthogonal", "for_activation", "presets.torch_linear_kernel")


def theory_curves(activation: str, sigma_w2: float, sigma_b2: float, depth: int,
                  q0: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean-field ``(q_l, g_l)`` for ``l = 0..depth`` (``g_depth = 1``).

    :math:`q_{l+1} = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q_l}z)^2] + \sigma_b^2` from
    :math:`q_0`, and :math:`g_l = g_{l+1}\,\sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q_l}z)^2]`,
    by the suite's own Simpson rule; a variance past ``1e300`` counts as overflowed (inf).
    """
    phi = laws.ACTIVATIONS[activation][0]
    dphi = laws.derivative(activation)
    q = np.empty(depth + 1)
    q[0] = q0
    for layer in range(depth):
        prev = q[layer]
        q[layer + 1] = (sigma_w2 * laws.gauss(lambda x: phi(x) ** 2, prev) + sigma_b2
                        if math.isfinite(prev) and prev <= _OVERFLOW else math.inf)
    g = np.ones(depth + 1)
    for layer in range(depth - 1, -1, -1):
        chi = sigma_w2 * laws.gauss(lambda x: dphi(x) ** 2, q[layer]) if (
            math.isfinite(q[layer]) and q[layer] <= _OVERFLOW) else math.inf
        g[layer] = g[layer + 1] * chi
    return q, g


_OVERFLOW = 1e300


def allowed_classes(activation: str, sigma_w2: float, sigma_b2: float, depth: int,
                    band: float = BAND) -> tuple[set[str], set[str], float, float]:
    """Classes theory admits for the forward and backward factors, and the nominal factors."""
    fwd, bwd = set(), set()
    nominal = (math.nan, math.nan)
    for q0 in (1.0, 0.9, 1.1):
        q, g = theory_curves(activation, sigma_w2, sigma_b2, depth, q0)
        f, b = q[-1] / q[0], g[0] / g[-1]
        if q0 == 1.0:
            nominal = (f, b)
        for m in (0.5, 1.0, 2.0):
            fwd.add(classify(f * m, band))
            bwd.add(classify(b * m, band))
    return fwd, bwd, nominal[0], nominal[1]


@dataclasses.dataclass
class Propagation:
    """One scheme × activation: measured and predicted curves and classes.

    Attributes:
      scheme, activation: what was propagated.
      sigma_w2: the scheme's weight variance times fan-in.
      forward, backward: measured :math:`q_l` and :math:`g_l`, ``l = 0..depth``.
      forward_theory, backward_theory: the mean-field predictions.
      forward_class, backward_class: the measured classes.
      forward_allowed, backward_allowed: the classes theory admits.
    """

    scheme: str
    activation: str
    sigma_w2: float
    forward: np.ndarray
    backward: np.ndarray
    forward_theory: np.ndarray
    backward_theory: np.ndarray
    forward_class: str
    backward_class: str
    forward_allowed: tuple[str, ...]
    backward_allowed: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.forward_class in self.forward_allowed and (
            self.backward_class in self.backward_allowed)

    def as_dict(self) -> dict:
        def floats(a):
            return [float(v) if math.isfinite(v) else str(v) for v in np.asarray(a, np.float64)]

        return {"scheme": self.scheme, "activation": self.activation, "sigma_w2": self.sigma_w2,
                "forward": floats(self.forward), "backward": floats(self.backward),
                "forward_theory": floats(self.forward_theory),
                "backward_theory": floats(self.backward_theory),
                "forward_class": self.forward_class, "backward_class": self.backward_class,
                "forward_allowed": list(self.forward_allowed),
                "backward_allowed": list(self.backward_allowed), "passed": self.passed}


@dataclasses.dataclass
class SignalResult:
    """Result of :func:`signal_propagation`: one :class:`Propagation` per scheme × activation."""

    rows: list[Propagation]
    depth: int
    width: int
    batch: int
    keys: int
    sigma_b2: float
    band: float

    def checks(self) -> list[Check]:
        """Two report rows (forward, backward) per scheme × activation."""
        out = []
        for r in self.rows:
            for way, meas, theo, cls, allowed in (
                    ("forward q_L/q_0", r.forward[-1] / r.forward[0],
                     r.forward_theory[-1] / r.forward_theory[0], r.forward_class,
                     r.forward_allowed),
                    ("backward g_0/g_L", r.backward[0] / r.backward[-1],
                     r.backward_theory[0] / r.backward_theory[-1], r.backward_class,
                     r.backward_allowed)):
                out.append(Check(
                    initializer=r.scheme, shape=f"depth {self.depth} x width {self.width}",
                    dtype="float32", check=f"signal {r.activation}: {way}",
                    expected=f"{_fmt(theo)} {'/'.join(c for c in CLASSES if c in allowed)}",
                    measured=f"{_fmt(meas)} {cls}", bound=f"band x{self.band:g}",
                    passed=cls in allowed,
                    info={"activation": r.activation, "sigma_w2": r.sigma_w2,
                          "measured_factor": _plain(meas), "theory_factor": _plain(theo),
                          "measured_class": cls, "allowed": list(allowed)}))
        return out

    def as_dict(self) -> dict:
        return {"depth": self.depth, "width": self.width, "batch": self.batch,
                "keys": self.keys, "sigma_b2": self.sigma_b2, "band": self.band,
                "rows": [r.as_dict() for r in self.rows]}


def _plain(v: float) -> float | str:
    v = float(v)
    return v if math.isfinite(v) else str(v)


def _fmt(v: float) -> str:
    return f"{float(v):.3g}"


@jax.jit
def _propagate_all(weights: jax.Array, biases: jax.Array, x: jax.Array, g: jax.Array,
                   act_index: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(q, g)`` per layer for weights ``(K, L, N, N)``, averaged over batch, units, keys."""
    branches = [laws.ACTIVATIONS[a][1] for a in ACTIVATIONS]

    def phi(h):
        return jax.lax.switch(act_index, branches, h)

    def one(w, b, x, g):
        def net(taps):
            def layer(h, wbt):
                wl, bl, tl = wbt
                h = jnp.matmul(phi(h), wl, precision=jax.lax.Precision.HIGHEST) + bl + tl
                return h, h

            h0 = x + taps[0]
            hl, hs = jax.lax.scan(layer, h0, (w, b, taps[1:]))
            return jnp.sum(hl * g), jnp.concatenate([h0[None], hs])

        taps = jnp.zeros((w.shape[0] + 1,) + x.shape, x.dtype)
        (_, hs), grads = jax.value_and_grad(net, has_aux=True)(taps)
        return jnp.mean(hs * hs, axis=(1, 2)), jnp.mean(grads * grads, axis=(1, 2))

    q, gr = jax.vmap(one)(weights, biases, x, g)
    return jnp.mean(q, axis=0), jnp.mean(gr, axis=0)


def signal_propagation(activations: Sequence[str] = ACTIVATIONS,
                       schemes: Sequence[Scheme] = SCHEMES, *, depth: int = 32, width: int = 256,
                       batch: int = 64, keys: int = 4, sigma_b2: float = 0.0, seed: int = 0,
                       band: float = BAND,
                       progress: Callable[[str], None] | None = None) -> SignalResult:
    r"""Propagates signals through deep stacks and classifies each scheme × activation.

    See the module docstring for the network, the recorded moments and the verdicts.

    Args:
      activations: names among ``"relu"``, ``"tanh"``, ``"gelu"``, ``"selu"``.
      schemes: scheme names (``"he_normal"``, ``"orthogonal"``, ``"for_activation"``, ...;
        see ``KNOWN``), or ``(label, initializer, sigma_w2)`` triples to test an initializer
        against the weight variance times fan-in it declares.
      depth: layers :math:`L \ge 1`.
      width: units :math:`N` per layer (fan-in = fan-out).
      batch: inputs per key.
      keys: independent networks averaged.
      sigma_b2: bias variance :math:`\sigma_b^2`.
      seed: the base seed.
      band: the factor beyond which a signal counts as vanishing or exploding.
      progress: called with a line per scheme.

    Returns:
      A :class:`SignalResult`.

    Raises:
      ValueError: an unknown activation or scheme, or a non-positive size.

    References:
      Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli, "Exponential expressivity in deep neural
      networks through transient chaos", NeurIPS 2016; Schoenholz, Gilmer, Ganguli &
      Sohl-Dickstein, "Deep Information Propagation", ICLR 2017.

    Example:
      >>> from jinit.verify import signal_propagation
      >>> res = signal_propagation(["relu"], ["glorot_uniform", "he_normal"], depth=8,
      ...                          width=64, batch=16, keys=2)
      >>> [(r.scheme, r.forward_class, r.passed) for r in res.rows]
      [('glorot_uniform', 'vanishing', True), ('he_normal', 'stable', True)]
    """
    for a in activations:
        if a not in ACTIVATIONS:
            raise ValueError(f"signal_propagation(): activation={a!r} is not supported; "
                             f"expected one of {', '.join(map(repr, ACTIVATIONS))}.")
    for name, value in (("depth", depth), ("width", width), ("batch", batch), ("keys", keys)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"signal_propagation(): {name}={value!r} is not a positive int; "
                             "expected an int >= 1.")
    for scheme in schemes:
        if not isinstance(scheme, tuple) and scheme not in KNOWN:
            _scheme(scheme, activations[0] if activations else "relu")  # raises
    root = jax.random.key(seed)
    kx, kg, kw = jax.random.split(root, 3)
    x = jax.random.normal(kx, (keys, batch, width), jnp.float32)
    g = jax.random.normal(kg, (keys, batch, width), jnp.float32)
    rows = []
    for si, scheme in enumerate(schemes):
        if progress:
            name = scheme[0] if isinstance(scheme, tuple) else scheme
            progress(f"signal: {name} ({si + 1}/{len(schemes)}) x {', '.join(activations)}")
        k = jax.random.fold_in(kw, si)
        wkeys = jax.random.split(k, keys * depth)
        b = math.sqrt(sigma_b2) * jax.random.normal(
            jax.random.fold_in(k, 1), (keys, depth, 1, width), jnp.float32)
        w = None
        for activation in activations:
            label, init, sw2 = _scheme(scheme, activation)
            if w is None or scheme == "for_activation":  # the others ignore the activation
                w = jax.vmap(lambda kk, init=init: init(kk, (width, width), jnp.float32))(wkeys)
                w = w.reshape(keys, depth, width, width)
            q, gr = jax.device_get(_propagate_all(w, b, x, g, ACTIVATIONS.index(activation)))
            q, gr = np.asarray(q, np.float64), np.asarray(gr, np.float64)
            qt, gt = theory_curves(activation, sw2, sigma_b2, depth)
            fwd, bwd, _, _ = allowed_classes(activation, sw2, sigma_b2, depth, band)
            rows.append(Propagation(
                label, activation, sw2, q, gr, qt, gt,
                classify(q[-1] / q[0], band), classify(gr[0] / gr[-1], band),
                tuple(c for c in CLASSES if c in fwd), tuple(c for c in CLASSES if c in bwd)))
    return SignalResult(rows, depth, width, batch, keys, sigma_b2, band)
