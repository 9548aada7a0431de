"""jinit.theory: known cases, an independent brute-force integration, and Monte-Carlo networks.

References are computed here without jinit: closed forms (ReLU's arc-cosine kernel, the
arcsine kernel of erf, ELU moments) and, for tanh, the plain trapezoid rule on a fine grid,
which converges spectrally for these analytic integrands, with bisection for every root.
"""

from __future__ import annotations

import functools
import math

import _stats as S
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jinit import theory

H = 1.0 / 64
Z1 = np.arange(-40.0, 40.0 + H / 2, H)
W1 = H * np.exp(-0.5 * Z1 * Z1) / math.sqrt(2 * math.pi)


def ref_e(f, q: float) -> float:
    """E f(sqrt(q) z) by the trapezoid rule on [-40, 40] (spectral for analytic f, q <= 100)."""
    return float(np.dot(W1, f(math.sqrt(q) * Z1)))


def tanh2(x):
    return np.tanh(x) ** 2


def sech4(x):
    return 1.0 / np.cosh(x) ** 4


def bisect(g, lo: float, hi: float, iters: int = 200) -> float:
    g_lo = g(lo)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if (g(mid) > 0) == (g_lo > 0):
            lo, g_lo = mid, g(mid)
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ref_qstar(sw2: float, sb2: float) -> float:
    """Tanh: V(q) - q is positive at 0 (sb2 > 0) and negative at sw2 + sb2 + 1 (V <= sw2 + sb2)."""
    return bisect(lambda q: sw2 * ref_e(tanh2, q) + sb2 - q, 0.0, sw2 + sb2 + 1)


def ref_critical(sb2: float) -> float:
    return bisect(lambda sw2: sw2 * ref_e(sech4, ref_qstar(sw2, sb2)) - 1, 1.0, 4.0, iters=60)


# 2-D trapezoid grid on [-10, 10]^2, step 1/20: spectral for tanh at the q used here.
G = np.arange(-10.0, 10.0 + 1 / 40, 1 / 20)
GW = np.exp(-0.5 * G * G) / math.sqrt(2 * math.pi) / 20


def ref_pair(f, q: float, c: float) -> float:
    s = math.sqrt((1 - c) * (1 + c))
    u1 = math.sqrt(q) * G[:, None]
    u2 = math.sqrt(q) * (c * G[:, None] + s * G[None, :])
    return float(GW @ (f(u1) * f(u2)) @ GW)


def relu_kernel(q: float, c: float) -> float:
    """E relu(u1) relu(u2): q/(2 pi) (sqrt(1 - c^2) + (pi - arccos c) c) (Cho & Saul 2009)."""
    return q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)


def erf_kernel(q: float, c: float) -> float:
    """E erf(u1) erf(u2) = (2/pi) arcsin(2 q c / (1 + 2 q)) (Williams 1997)."""
    return 2 / math.pi * math.asin(2 * q * c / (1 + 2 * q))


def erfcx(x: float) -> float:
    """e^(x^2) erfc(x) for x >= 0: directly below 5, else by its continued fraction
    1 / (sqrt(pi) (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))), converged to rounding."""
    if x < 5.0:
        return math.exp(x * x) * math.erfc(x)
    t = x
    for n in range(200, 0, -1):
        t = x + (n / 2) / t
    return 1 / (math.sqrt(math.pi) * t)


# --------------------------------------------------------------------------- variance map


def test_variance_map_tanh_matches_brute_force():
    for q in (1e-6, 0.01, 0.4, 1.0, 7.0, 100.0):
        expected = 1.5 * ref_e(tanh2, q) + 0.05
        assert abs(theory.variance_map("tanh", q, sigma_w2=1.5, sigma_b2=0.05) / expected - 1) < 1e-13, q
    qs = np.array([[0.5, 1.0], [2.0, 4.0]])
    out = theory.variance_map(jnp.tanh, qs, sigma_w2=1.5, sigma_b2=0.05)
    assert out.shape == (2, 2)
    assert np.allclose(out, [[1.5 * ref_e(tanh2, q) + 0.05 for q in row] for row in qs], rtol=1e-13)


def test_variance_map_closed_forms_at_extreme_variances():
    """ELU: E elu(x)^2 = q/2 + erfcx(sqrt(2q))/2 - erfcx(sqrt(q/2)) + 1/2 for x ~ N(0, q).

    From E[e^(t x); x < 0] = e^(t^2 q/2) Phi(-t sqrt(q)) = erfcx(t sqrt(q/2)) / 2.
    """
    for q in (0.01, 1.0, 50.0, 1e4, 1e8):  # below 0.01 the closed form cancels
        elu = q / 2 + erfcx(math.sqrt(2 * q)) / 2 - erfcx(math.sqrt(q / 2)) + 0.5
        assert abs(theory.variance_map("elu", q, sigma_w2=1.0) / elu - 1) < 1e-13, q
    for q in (1e-8, 1e-3, 1.0, 50.0, 1e4, 1e8):
        relu = q / 2
        assert abs(theory.variance_map(lambda x: jnp.maximum(x, 0), q, sigma_w2=1.0) / relu - 1) < 1e-13


def test_fixed_point_q():
    for sw2, sb2 in ((1.5, 0.05), (1.0, 0.3), (3.0, 0.01)):
        assert abs(theory.fixed_point_q("tanh", sigma_w2=sw2, sigma_b2=sb2) / ref_qstar(sw2, sb2) - 1) < 1e-12
    assert theory.fixed_point_q("relu", sigma_w2=2.0, q0=3.0) == 3.0  # neutral: keeps q0
    assert theory.fixed_point_q("relu", sigma_w2=1.0, sigma_b2=0.5) == 1.0  # q = q/2 + 1/2
    assert theory.fixed_point_q("relu", sigma_w2=2.5) == math.inf
    assert theory.fixed_point_q("tanh", sigma_w2=0.5) == 0.0
    assert theory.fixed_point_q("relu", sigma_w2=1.5, q0=5.0) == 0.0


def test_depth_variance_curve():
    curve = theory.depth_variance_curve("tanh", 30, sigma_w2=1.5, sigma_b2=0.05, q0=4.0)
    assert curve.shape == (31,) and curve.dtype == np.float64 and curve[0] == 4.0
    for a, b in zip(curve[:-1], curve[1:], strict=True):
        assert abs(b - (1.5 * ref_e(tanh2, a) + 0.05)) < 1e-13
    assert abs(curve[-1] - ref_qstar(1.5, 0.05)) < 1e-8
    assert (theory.depth_variance_curve("relu", 50, sigma_w2=2.0) == 1.0).all()
    grows = theory.depth_variance_curve("relu", 10, sigma_w2=2.2)
    assert np.allclose(grows, 1.1 ** np.arange(11), rtol=1e-14)


def test_stability_diagnostics():
    sw2 = 1 / ref_e(tanh2, 1.0)
    s = theory.stability("tanh")
    slope = sw2 * ref_e(lambda x: np.tanh(x) * x / np.cosh(x) ** 2, 1.0)  # E[phi phi' x] / q
    assert s.verdict == "stable" and s.q_star == 1.0
    assert abs(s.sigma_w2 / sw2 - 1) < 1e-12 and abs(s.slope - slope) < 1e-12
    assert abs(s.chi1 - sw2 * ref_e(sech4, 1.0)) < 1e-12
    assert theory.stability("relu") == theory.Stability(2.0, 0.0, 1.0, 1.0, 1.0, "neutral")
    assert theory.stability(lambda x: jnp.maximum(x, 0)).verdict == "neutral"
    assert theory.stability("gelu").verdict == "unstable" and theory.stability("gelu").slope > 1.1
    assert theory.stability("gelu", sigma_w2=1.5, sigma_b2=0.5).verdict == "stable"
    assert theory.stability("tanh", sigma_w2=0.5).verdict == "vanishing"
    assert theory.stability("relu", sigma_w2=3.0).verdict == "exploding"


# ----------------------------------------------------------------------- correlation map


def test_correlation_map_closed_forms():
    """Quadrature (callables, no closed form inside jinit) against ReLU's and erf's kernels."""
    relu = lambda x: jnp.maximum(x, 0.0)  # noqa: E731
    for q in (0.3, 1.0, 20.0):
        for c in (-0.9, 0.0, 0.5, 0.99, 0.999999):
            got = theory.correlation_map(relu, c, sigma_w2=2.0, sigma_b2=0.1, q_star=q)
            expected = (2.0 * relu_kernel(q, c) + 0.1) / (q + 0.1)
            assert abs(got - expected) < 1e-12, (q, c)
            assert abs(theory.correlation_map("relu", c, sigma_w2=2.0, sigma_b2=0.1, q_star=q) - expected) < 1e-14
            got = theory.correlation_map(jax.scipy.special.erf, c, sigma_w2=1.3, q_star=q)
            assert abs(got - erf_kernel(q, c) / erf_kernel(q, 1.0)) < 1e-12, (q, c)
    cs = np.linspace(-1, 1, 5)
    out = theory.correlation_map("relu", cs, sigma_w2=2.0, q_star=1.0)
    assert out.shape == (5,) and out[-1] == 1.0


def test_correlation_map_tanh_matches_brute_force():
    q = 0.8
    v = 1.7 * ref_e(tanh2, q) + 0.05
    for c in (-0.5, 0.2, 0.9, 0.999):
        expected = (1.7 * ref_pair(np.tanh, q, c) + 0.05) / v
        assert abs(theory.correlation_map("tanh", c, sigma_w2=1.7, sigma_b2=0.05, q_star=q) - expected) < 1e-12, c


def test_fixed_point_c_and_correlation_depth():
    sw2, sb2 = 4.0, 0.05  # chaotic: chi1 > 1
    q = ref_qstar(sw2, sb2)
    v = sw2 * ref_e(tanh2, q) + sb2
    c_ref = bisect(lambda c: (sw2 * ref_pair(np.tanh, q, c) + sb2) / v - c, 0.0, 0.999, iters=45)
    c_star = theory.fixed_point_c("tanh", sigma_w2=sw2, sigma_b2=sb2)
    assert abs(c_star - c_ref) < 1e-10
    chi_c = sw2 * ref_pair(lambda x: 1 / np.cosh(x) ** 2, q, c_ref)
    assert abs(theory.correlation_depth("tanh", sigma_w2=sw2, sigma_b2=sb2) - (-1 / math.log(chi_c))) < 1e-8
    # ordered phase: c* = 1 and xi_c = -1 / ln chi1
    assert theory.fixed_point_c("tanh", sigma_w2=1.2, sigma_b2=0.05) == 1.0
    chi1 = 1.2 * ref_e(sech4, ref_qstar(1.2, 0.05))
    assert abs(theory.chi1("tanh", sigma_w2=1.2, sigma_b2=0.05) - chi1) < 1e-12
    assert abs(theory.correlation_depth("tanh", sigma_w2=1.2, sigma_b2=0.05) + 1 / math.log(chi1)) < 1e-9
    # the edge of chaos: xi_c diverges
    assert theory.correlation_depth("relu", sigma_w2=2.0) == math.inf
    # ReLU, sigma_b = 0: c* = 1 and chi1 = 1 for sigma_w2 = 2
    assert theory.fixed_point_c("relu", sigma_w2=2.0) == 1.0


# ---------------------------------------------------------------------------- edge of chaos


def test_critical_sigma_w2_relu():
    for sb2 in (0.0, 0.1, 1.0):
        assert theory.critical_sigma_w2("relu", sigma_b2=sb2) == 2.0
    assert abs(theory.critical_sigma_w2(lambda x: jnp.maximum(x, 0.0), sigma_b2=0.1) - 2.0) < 1e-10
    assert theory.critical_sigma_w2("leaky_relu", param=0.5) == pytest.approx(2 / 1.25, rel=1e-15)


def test_critical_sigma_w2_tanh_line():
    """Poole et al. 2016 Fig. 2 / Schoenholz et al. 2017 Fig. 1: (0, 1), (0.05, ~1.76), ..."""
    # At sigma_b2 = 0, chi1 - 1 grows like (sigma_w2 - 1)^2 / 3 above the edge, so the root is
    # resolved only to about sqrt(rounding) there.
    assert abs(theory.critical_sigma_w2("tanh") - 1.0) < 1e-7
    for sb2 in (0.01, 0.05, 0.3):
        got = theory.critical_sigma_w2("tanh", sigma_b2=sb2)
        assert abs(got - ref_critical(sb2)) < 1e-9, sb2
        assert abs(theory.chi1("tanh", sigma_w2=got, sigma_b2=sb2) - 1.0) < 1e-12
    assert abs(theory.critical_sigma_w2("tanh", sigma_b2=0.05) - 1.76) < 0.005


def test_critical_sigma_w2_refuses_a_jump():
    with pytest.raises(ValueError, match=r"critical_sigma_w2\(\): activation='gelu' has chi1 jumping "
                       r"over 1 near sigma_w2=2\.35"):
        theory.critical_sigma_w2("gelu")


def test_correlation_depth_is_infinite_at_the_edge_of_chaos():
    """At the sigma_w2 critical_sigma_w2 returns, chi lies within rounding of 1: xi_c = inf.

    -1/ln(chi) there is 2^53 (chi = 1 - 2^-53) or a spurious root of C(c) = c in the
    rounding noise just below c = 1. Negative control: a hair off the edge (sigma_w2 down by
    1e-6) the depth is finite and equals -1/ln(chi1), computed here from chi1.
    """
    for name, sb2 in (("elu", 0.01), ("elu", 0.3), ("selu", 0.01), ("selu", 1.0),
                      ("sigmoid", 0.05), ("tanh", 0.3), ("tanh", 1.0)):
        edge = theory.critical_sigma_w2(name, sigma_b2=sb2)
        assert abs(theory.chi1(name, sigma_w2=edge, sigma_b2=sb2) - 1) < 1e-12, (name, sb2)
        assert theory.correlation_depth(name, sigma_w2=edge, sigma_b2=sb2) == math.inf, (name, sb2)
        assert theory.fixed_point_c(name, sigma_w2=edge, sigma_b2=sb2) == 1.0, (name, sb2)
        below = edge * (1 - 1e-6)
        xi = theory.correlation_depth(name, sigma_w2=below, sigma_b2=sb2)
        chi = theory.chi1(name, sigma_w2=below, sigma_b2=sb2)
        assert 1e3 < xi < 1e9 and abs(xi * -math.log(chi) - 1) < 1e-9, (name, sb2, xi)


def test_one_argument_order():
    """The activation first, then the map's own variable; variances only by keyword."""
    import inspect

    positional = {"variance_map": ["activation", "q"], "correlation_map": ["activation", "c"],
                  "depth_variance_curve": ["activation", "depth"]}
    for name in theory.__all__:
        if name == "Stability":
            continue
        params = inspect.signature(getattr(theory, name)).parameters.values()
        assert [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD] == positional.get(
            name, ["activation"]), name
        keyword = {p.name for p in params if p.kind is p.KEYWORD_ONLY}
        assert {"sigma_b2", "param", "breakpoints"} <= keyword, name
        assert name == "variance_map" or "q0" in keyword, name
        assert name == "critical_sigma_w2" or "sigma_w2" in keyword, name
    with pytest.raises(TypeError, match="positional argument"):
        theory.fixed_point_q("tanh", 1.5, 0.05)


def test_default_sigma_w2_is_for_activations_scale():
    """sigma_w2=None is 1 / E[phi(z)^2], the scale for_activation returns: q* = V(1) = 1."""
    sw2 = 1 / ref_e(tanh2, 1.0)
    assert abs(theory.variance_map("tanh", 1.0) - 1) < 1e-14
    assert theory.fixed_point_q("tanh") == 1.0
    assert theory.chi1("tanh") == theory.chi1("tanh", sigma_w2=theory.stability("tanh").sigma_w2)
    assert abs(theory.chi1("tanh") - sw2 * ref_e(sech4, 1.0)) < 1e-12
    assert theory.variance_map("relu", 3.0) == 3.0
    # q_star defaults to the fixed point reached from q0
    q = theory.fixed_point_q("tanh", sigma_w2=1.5, sigma_b2=0.05)
    assert theory.correlation_map("tanh", 0.3, sigma_w2=1.5, sigma_b2=0.05) == theory.correlation_map(
        "tanh", 0.3, sigma_w2=1.5, sigma_b2=0.05, q_star=q)


def test_one_root_finder():
    """The bracket walk and false position behind every fixed point and the edge of chaos."""
    from jinit import _meanfield

    def g(x):
        return x * x - 2.0

    assert _meanfield.solve(g, (2.0**k for k in range(10))) == pytest.approx(math.sqrt(2), rel=4e-16)
    assert _meanfield.solve(g, (2.0**-k for k in range(1, 10))) is None  # no sign change: None
    assert _meanfield.solve(g, [4.0, 1.0]) == pytest.approx(math.sqrt(2), rel=4e-16)  # downwards
    assert _meanfield.bracket(g, [math.sqrt(2), 5.0], g_first=0.0) == (math.sqrt(2),) * 2 + (0.0, 0.0)


# ------------------------------------------------------------------------- Monte Carlo


WIDTH, KEYS = 256, 256
Q, C, SW2, SB2 = 0.7, 0.4, 1.5, 0.1
MC_ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "gelu_tanh": jax.nn.gelu}


@functools.cache
def _one_layer():
    """Per network and activation: mean_i h1_i^2 and mean_i h1_i h2_i for h = W phi(u) + b.

    u1, u2 iid over units with variance Q and correlation C; W ~ N(0, SW2/WIDTH),
    b ~ N(0, SB2), the same draws for every activation. The expectations are exactly V(Q) and
    SW2 E[phi(u1) phi(u2)] + SB2 at any width.
    """
    s = math.sqrt((1 - C) * (1 + C))
    phis = list(MC_ACTIVATIONS.values())

    def one(key):
        kz, kw, kb = jax.random.split(key, 3)
        z = jax.random.normal(kz, (2, WIDTH), jnp.float32)
        u1 = jnp.float32(math.sqrt(Q)) * z[0]
        u2 = jnp.float32(math.sqrt(Q)) * (jnp.float32(C) * z[0] + jnp.float32(s) * z[1])
        w = jax.random.normal(kw, (WIDTH, WIDTH), jnp.float32) * jnp.float32(math.sqrt(SW2 / WIDTH))
        b = jax.random.normal(kb, (WIDTH,), jnp.float32) * jnp.float32(math.sqrt(SB2))
        out = []
        for phi in phis:
            h1, h2 = w @ phi(u1) + b, w @ phi(u2) + b
            out.append(jnp.stack([jnp.mean(h1 * h1), jnp.mean(h1 * h2)]))
        return jnp.stack(out)

    keys = jax.random.split(jax.random.key(7), KEYS)
    stats = np.asarray(jax.jit(jax.vmap(one))(keys), np.float64)
    return {name: (stats[:, i, 0], stats[:, i, 1]) for i, name in enumerate(MC_ACTIVATIONS)}


@pytest.mark.parametrize("name", list(MC_ACTIVATIONS))
def test_maps_match_monte_carlo_network(name):
    second, cross = _one_layer()[name]
    activation = MC_ACTIVATIONS[name] if name == "gelu_tanh" else name  # a callable too
    v = theory.variance_map(activation, Q, sigma_w2=SW2, sigma_b2=SB2)
    cov = theory.correlation_map(activation, C, sigma_w2=SW2, sigma_b2=SB2, q_star=Q) * v  # C(c) is normalized by V(q)
    assert S.mean_of_draws_ok(second, v)
    assert S.mean_of_draws_ok(cross, cov)
    # negative controls: no bias variance, a different correlation
    assert not S.mean_of_draws_ok(second, theory.variance_map(activation, Q, sigma_w2=SW2, sigma_b2=0.0))
    assert not S.mean_of_draws_ok(cross, theory.correlation_map(activation, C + 0.1, sigma_w2=SW2, sigma_b2=SB2, q_star=Q) * v)


# ---------------------------------------------------------------------------- bad input


def test_bad_input():
    with pytest.raises(ValueError, match=r"variance_map\(\): sigma_w2=-1.0 is out of range; "
                       r"expected a number >= 0"):
        theory.variance_map("tanh", 1.0, sigma_w2=-1.0)
    with pytest.raises(ValueError, match=r"variance_map\(\): q=-0.5 is out of range; expected finite "
                       r"values >= 0"):
        theory.variance_map("tanh", -0.5, sigma_w2=1.0)
    with pytest.raises(ValueError, match=r"fixed_point_q\(\): sigma_b2=inf is not finite"):
        theory.fixed_point_q("tanh", sigma_w2=1.0, sigma_b2=math.inf)
    with pytest.raises(ValueError, match=r"fixed_point_q\(\): q0=0.0 is out of range; expected a "
                       r"number > 0"):
        theory.fixed_point_q("tanh", sigma_w2=1.0, q0=0.0)
    with pytest.raises(ValueError, match=r"correlation_map\(\): c=1.5 is out of range; expected values "
                       r"in \[-1, 1\]"):
        theory.correlation_map("tanh", 1.5, sigma_w2=1.0, q_star=1.0)
    with pytest.raises(ValueError, match=r"correlation_map\(\): q_star=0.0 is out of range"):
        theory.correlation_map("tanh", 0.5, sigma_w2=1.0, q_star=0.0)
    with pytest.raises(ValueError, match=r"correlation_map\(\): sigma_w2=0.0 with sigma_b2=0.0 gives a "
                       r"next-layer variance of 0"):
        theory.correlation_map("tanh", 0.5, sigma_w2=0.0, q_star=1.0)
    with pytest.raises(TypeError, match=r"depth_variance_curve\(\): depth=2.5 is not an int"):
        theory.depth_variance_curve("tanh", 2.5, sigma_w2=1.0)
    with pytest.raises(ValueError, match=r"depth_variance_curve\(\): depth=-1 is out of range; expected an int >= 0"):
        theory.depth_variance_curve("tanh", -1, sigma_w2=1.0)
    with pytest.raises(ValueError, match=r"chi1\(\): activation='tahn' is not a known activation; "
                       r"expected one of .*'tanh'"):
        theory.chi1("tahn", sigma_w2=1.0)
    with pytest.raises(TypeError, match=r"critical_sigma_w2\(\): activation=None is neither a name nor "
                       r"a callable"):
        theory.critical_sigma_w2(None)
    with pytest.raises(TypeError, match=r"stability\(\): sigma_w2='2' is not a real number"):
        theory.stability("relu", sigma_w2="2")
    with pytest.raises(ValueError, match=r"fixed_point_c\(\): sigma_w2=3.0 with sigma_b2=0.0 makes the "
                       r"variance diverge"):
        theory.fixed_point_c("relu", sigma_w2=3.0)
    with pytest.raises(ValueError, match=r"correlation_depth\(\): activation=.* is not finite"):
        theory.correlation_depth(lambda x: jnp.log(x), sigma_w2=1.0)


def test_public_names():
    for name in theory.__all__:
        obj = getattr(theory, name)
        assert obj.__module__ == "jinit.theory", name
