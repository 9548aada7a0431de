"""Gains and for_activation: PyTorch's table, closed forms, an independent integrator, deep stacks.

Reference values never come from jinit: closed forms written here from their derivations,
and an independent integrator (the trapezoid rule after exponential / tanh substitutions,
which converges spectrally on each smooth piece) that is itself checked against closed forms.
"""

from __future__ import annotations

import functools
import math
import warnings
from statistics import NormalDist

import _stats as S
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit

PHI = NormalDist().cdf  # standard normal CDF, float64


def pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


# ------------------------------------------------------------------ reference integrator


def _trap(g, lo: float, hi: float, h: float) -> float:
    s = np.arange(lo, hi + h / 2, h)
    with np.errstate(over="ignore", under="ignore"):  # cosh/exp -> inf where the terms are 0
        y = g(s)
    assert np.all(np.isfinite(y))
    return float(h * (np.sum(y) - 0.5 * (y[0] + y[-1])))


def _npdf(z):
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def ref_expect(f, kinks=()) -> float:
    """E f(z), z ~ N(0, 1), by the trapezoid rule on pieces between kinks.

    Tails use z = k -+ e^s, bounded pieces z = m + r tanh(s): both make each piece's integrand
    analytic and doubly-exponentially decaying in s, so the trapezoid rule with step 1/64 is
    accurate to rounding. No Gauss rule, no panels: independent of jinit's method.
    """
    pts = sorted(set(float(k) for k in kinks))
    h = 1.0 / 64
    if not pts:
        return _trap(lambda z: f(z) * _npdf(z), -40.0, 40.0, h)
    total = _trap(lambda s: f(pts[0] - np.exp(s)) * _npdf(pts[0] - np.exp(s)) * np.exp(s), -40, 4, h)
    total += _trap(lambda s: f(pts[-1] + np.exp(s)) * _npdf(pts[-1] + np.exp(s)) * np.exp(s), -40, 4, h)
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        m, r = (a + b) / 2, (b - a) / 2
        total += _trap(lambda s, m=m, r=r: f(m + r * np.tanh(s)) * _npdf(m + r * np.tanh(s))
                       * r / np.cosh(s) ** 2, -20, 20, h)
    return total


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(x / 2))


def _erf(x):
    return np.vectorize(math.erf)(x)


SELU_A, SELU_L = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
C_GELU = math.sqrt(2 / math.pi)

# name: (f, f', kinks), written independently of jinit.
REF = {
    "linear": (lambda x: x, lambda x: np.ones_like(x), ()),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0, (0,)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1, 0.01), (0,)),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0, (0, 6)),
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2, ()),
    "hard_tanh": (lambda x: np.clip(x, -1, 1), lambda x: (abs(x) < 1) * 1.0, (-1, 1)),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x)), ()),
    "hard_sigmoid": (lambda x: np.clip((x + 3) / 6, 0, 1), lambda x: (abs(x) < 3) / 6.0, (-3, 3)),
    "log_sigmoid": (lambda x: -np.log1p(np.exp(-x)), lambda x: 1 - _sigmoid(x), ()),
    "gelu": (lambda x: x * 0.5 * (1 + _erf(x / math.sqrt(2))),
             lambda x: 0.5 * (1 + _erf(x / math.sqrt(2))) + x * _npdf(x), ()),
    "gelu_tanh": (lambda x: 0.5 * x * (1 + np.tanh(C_GELU * (x + 0.044715 * x**3))),
                  lambda x: 0.5 * (1 + np.tanh(C_GELU * (x + 0.044715 * x**3)))
                  + 0.5 * x * C_GELU * (1 + 3 * 0.044715 * x * x)
                  / np.cosh(C_GELU * (x + 0.044715 * x**3)) ** 2, ()),
    "silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) + x * _sigmoid(x) * (1 - _sigmoid(x)), ()),
    "hard_silu": (lambda x: x * np.clip((x + 3) / 6, 0, 1),
                  lambda x: np.where(x > 3, 1.0, np.where(x < -3, 0.0, (2 * x + 3) / 6)), (-3, 3)),
    "mish": (lambda x: x * np.tanh(np.log1p(np.exp(x))),
             lambda x: np.tanh(np.log1p(np.exp(x)))
             + x * _sigmoid(x) / np.cosh(np.log1p(np.exp(x))) ** 2, ()),
    "softplus": (lambda x: np.log1p(np.exp(x)), _sigmoid, ()),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))), (0,)),
    "celu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
             lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))), (0,)),
    "selu": (lambda x: SELU_L * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0))),
             lambda x: SELU_L * np.where(x > 0, 1.0, SELU_A * np.exp(np.minimum(x, 0))), (0,)),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2, (0,)),
    "squareplus": (lambda x: (x + np.sqrt(x * x + 4)) / 2, lambda x: (1 + x / np.sqrt(x * x + 4)) / 2, ()),
}
ALIASES = {"identity": "linear", "swish": "silu", "hard_swish": "hard_silu", "soft_sign": "softsign"}


@functools.cache
def ref_gain(name: str, definition: str) -> float:
    f, df, kinks = REF[ALIASES.get(name, name)]
    if definition == "forward":
        return ref_expect(lambda x: f(x) ** 2, kinks) ** -0.5
    if definition == "backward":
        return ref_expect(lambda x: df(x) ** 2, kinks) ** -0.5
    mean = ref_expect(f, kinks)
    return ref_expect(lambda x: (f(x) - mean) ** 2, kinks) ** -0.5


def elu_moments(alpha: float, t: float = 1.0) -> tuple[float, float, float]:
    """E phi, E phi^2, E phi'^2 for phi = x (x > 0), alpha (e^(t x) - 1) (x < 0).

    From E[e^(s z); z < 0] = e^(s^2/2) Phi(-s) and E[z; z > 0] = phi(0), E[z^2; z > 0] = 1/2.
    ELU: t = 1; CELU(alpha): t = 1/alpha.
    """
    ex = lambda s: math.exp(s * s / 2) * PHI(-s)  # noqa: E731
    m1 = pdf(0) + alpha * (ex(t) - 0.5)
    m2 = 0.5 + alpha**2 * (ex(2 * t) - 2 * ex(t) + 0.5)
    d2 = 0.5 + (alpha * t) ** 2 * ex(2 * t)
    return m1, m2, d2


def closed_forms() -> dict[tuple[str, str], float]:
    """Gains with closed forms, derived in the comments."""
    out = {}

    def put(name, m1, m2, d2):
        out[name, "forward"] = m2**-0.5
        out[name, "variance"] = (m2 - m1 * m1) ** -0.5
        out[name, "backward"] = d2**-0.5

    put("linear", 0.0, 1.0, 1.0)
    put("relu", pdf(0), 0.5, 0.5)
    s = 0.01
    put("leaky_relu", (1 - s) * pdf(0), (1 + s * s) / 2, (1 + s * s) / 2)
    put("elu", *elu_moments(1.0))
    put("celu", *elu_moments(1.0))
    m1, m2, d2 = elu_moments(SELU_A)
    put("selu", SELU_L * m1, SELU_L**2 * m2, SELU_L**2 * d2)
    # hard tanh: E[z^2; |z| < 1] + P(|z| > 1) = 1 - 2 phi(1); E phi' ^2 = P(|z| < 1)
    put("hard_tanh", 0.0, 1 - 2 * pdf(1), 2 * PHI(1) - 1)
    # relu6: E[z^2; 0<z<6] = Phi(6) - 1/2 - 6 phi(6); E[z; 0<z<6] = phi(0) - phi(6)
    put("relu6", pdf(0) - pdf(6) + 6 * (1 - PHI(6)),
        PHI(6) - 0.5 - 6 * pdf(6) + 36 * (1 - PHI(6)), PHI(6) - 0.5)
    # truncated moments on [-3, 3]: M0, M2 = M0 - 6 phi(3), M4 = 3 M2 - 54 phi(3)
    M0 = 2 * PHI(3) - 1
    M2 = M0 - 2 * 3 * pdf(3)
    M4 = 3 * M2 - 2 * 27 * pdf(3)
    put("hard_sigmoid", 0.5, (10 * M0 - 6 * pdf(3)) / 36 + 1 - PHI(3), M0 / 36)
    put("hard_silu", M2 / 6 + pdf(3), (M4 + 9 * M2) / 36 + (1 - PHI(3)) + 3 * pdf(3),
        (4 * M2 + 9 * M0) / 36 + 1 - PHI(3))
    # squareplus, b = 4: E[(z + sqrt(z^2 + 4))^2 / 4] = (2 E z^2 + 4) / 4 (the odd term vanishes)
    out["squareplus", "forward"] = 1.5**-0.5
    return out


# ------------------------------------------------------------------------ calculate_gain

TORCH_NAMES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


def test_calculate_gain_values():
    for name in TORCH_NAMES[:8]:
        assert jinit.calculate_gain(name) == 1
    assert jinit.calculate_gain("tanh") == 5.0 / 3
    assert jinit.calculate_gain("relu") == math.sqrt(2.0)
    assert jinit.calculate_gain("selu") == 0.75
    assert jinit.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    for slope in (0, 1, 0.2, -0.5, 3, np.float64(0.3)):
        assert jinit.calculate_gain("leaky_relu", slope) == math.sqrt(2 / (1 + float(slope) ** 2))
    assert jinit.calculate_gain("relu", 0.3) == math.sqrt(2.0)  # ignored, as in PyTorch


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match=r"calculate_gain\(\): nonlinearity='gelu' is not a supported "
                       r"nonlinearity; expected one of 'linear', 'conv1d'.*'selu'\. For any other "
                       r"activation use jinit\.gain"):
        jinit.calculate_gain("gelu")
    with pytest.raises(ValueError, match=r"nonlinearity=5 is not a supported"):
        jinit.calculate_gain(5)
    with pytest.raises(TypeError, match=r"calculate_gain\(\): param=True is not a real number"):
        jinit.calculate_gain("leaky_relu", True)
    with pytest.raises(TypeError, match=r"param='0.2' is not a real number"):
        jinit.calculate_gain("leaky_relu", "0.2")
    with pytest.raises(ValueError, match=r"param=nan is not finite"):
        jinit.calculate_gain("leaky_relu", float("nan"))


@pytest.mark.torch
def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name in TORCH_NAMES:
        assert jinit.calculate_gain(name) == torch.nn.init.calculate_gain(name), name
    for slope in (0, 1, 0.2, -0.5, 3, 1e-3):
        assert jinit.calculate_gain("leaky_relu", slope) == torch.nn.init.calculate_gain(
            "leaky_relu", slope)
    for bad in ("gelu", "Linear"):
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(bad)
        with pytest.raises(ValueError):
            jinit.calculate_gain(bad)


# ----------------------------------------------------------------------------------- gain


def test_reference_integrator_reproduces_closed_forms():
    """The independent integrator is itself accurate to ~1e-14 on kinked and smooth pieces."""
    for (name, definition), value in closed_forms().items():
        assert abs(ref_gain(name, definition) / value - 1) < 1e-13, (name, definition)


def test_exact_gains():
    assert jinit.gain("relu") == math.sqrt(2)
    assert jinit.gain("relu", "backward") == math.sqrt(2)
    assert jinit.gain("linear") == jinit.gain("identity", "variance") == 1.0
    for s in (0.01, 0.2, 1.0, -0.3):
        assert jinit.gain("leaky_relu", param=s) == math.sqrt(2 / (1 + s * s))
        assert jinit.gain("leaky_relu", "backward", param=s) == math.sqrt(2 / (1 + s * s))
    assert abs(jinit.gain("relu", "variance") - (0.5 - 1 / (2 * math.pi)) ** -0.5) < 1e-15


@pytest.mark.parametrize("name", jinit._activations.ACTIVATIONS)
def test_gain_matches_independent_integration(name):
    for definition in ("forward", "variance", "backward"):
        value = jinit.gain(name, definition)
        assert abs(value / ref_gain(name, definition) - 1) < 1e-12, (name, definition)


def test_gain_matches_closed_forms():
    for (name, definition), value in closed_forms().items():
        assert abs(jinit.gain(name, definition) / value - 1) < 1e-13, (name, definition)


def test_gain_with_parameters():
    for alpha in (0.5, 2.0):
        m1, m2, d2 = elu_moments(alpha)
        assert abs(jinit.gain("elu", param=alpha) - m2**-0.5) < 1e-13
        assert abs(jinit.gain("elu", "backward", param=alpha) - d2**-0.5) < 1e-13
        m1, m2, d2 = elu_moments(alpha, 1 / alpha)
        assert abs(jinit.gain("celu", "variance", param=alpha) - (m2 - m1 * m1) ** -0.5) < 1e-13
    # squareplus with b: E phi^2 = (2 + b) / 4
    assert abs(jinit.gain("squareplus", param=1.0) - (3 / 4) ** -0.5) < 1e-13
    assert jinit.gain("elu", param=0.0) == pytest.approx(math.sqrt(2), rel=1e-13)  # = relu


def test_gain_of_callables_in_float64():
    """Callables are evaluated in float64 whatever the x64 flag (float32 would give ~1e-7)."""
    assert not jax.config.jax_enable_x64
    cases = [
        (lambda x: jax.nn.gelu(x, approximate=False), "gelu"),
        (lambda x: jax.nn.gelu(x), "gelu_tanh"),
        (lambda x: jnp.tanh(x), "tanh"),
        (lambda x: x * jax.nn.sigmoid(x), "silu"),
        (lambda x: jax.nn.mish(x), "mish"),
        (lambda x: jax.nn.elu(x), "elu"),
        (lambda x: jax.nn.soft_sign(x), "softsign"),
        (lambda x: jnp.maximum(x, 0.0), "relu"),
    ]
    for fn, name in cases:
        for definition in ("forward", "variance", "backward"):
            assert abs(jinit.gain(fn, definition) / ref_gain(name, definition) - 1) < 1e-12, name


def test_jax_nn_functions_are_recognised():
    assert jinit.gain(jax.nn.gelu) == jinit.gain("gelu_tanh")  # jax's default approximate=True
    assert jinit.gain(functools.partial(jax.nn.gelu, approximate=False)) == jinit.gain("gelu")
    assert jinit.gain(jax.nn.relu) == math.sqrt(2)
    assert jinit.gain(functools.partial(jax.nn.leaky_relu, negative_slope=0.2)) == math.sqrt(2 / 1.04)
    assert jinit.gain(jax.nn.silu) == jinit.gain("swish")
    assert jinit.gain(functools.partial(jax.nn.elu, alpha=0.5)) == jinit.gain("elu", param=0.5)


def test_breakpoints_restore_accuracy_at_a_kink():
    """clip(x, -a, a): E = 2[(Phi(a) - 1/2) - a phi(a) + a^2 (1 - Phi(a))]; kinks at +-a."""
    a = 0.3
    exact = (2 * ((PHI(a) - 0.5) - a * pdf(a) + a * a * (1 - PHI(a)))) ** -0.5
    clip = lambda x: jnp.clip(x, -a, a)  # noqa: E731
    assert abs(jinit.gain(clip, breakpoints=(-a, a)) / exact - 1) < 1e-13
    assert abs(jinit.gain(clip) / exact - 1) > 1e-10  # a panel straddles the kink: algebraic


def test_gain_errors():
    with pytest.raises(ValueError, match=r"gain\(\): activation='gleu' is not a known activation; "
                       r"expected one of 'celu', 'elu', 'gelu'.*, or a callable such as jax\.nn\.gelu"):
        jinit.gain("gleu")
    with pytest.raises(TypeError, match=r"gain\(\): activation=3 is neither a name nor a callable"):
        jinit.gain(3)
    with pytest.raises(ValueError, match=r"gain\(\): definition='fwd' is not valid; expected one of "
                       r"'forward', 'variance', 'backward'"):
        jinit.gain("tanh", "fwd")
    with pytest.raises(ValueError, match=r"param=-1.0 is out of range for 'elu'; expected a number >= 0"):
        jinit.gain("elu", param=-1.0)
    with pytest.raises(ValueError, match=r"param=0.0 is out of range for 'celu'; expected a number > 0"):
        jinit.gain("celu", param=0.0)
    with pytest.raises(ValueError, match=r"param=0.5 is given but 'tanh' takes no parameter"):
        jinit.gain("tanh", param=0.5)
    with pytest.raises(TypeError, match=r"param=True is not a real number"):
        jinit.gain("leaky_relu", param=True)
    with pytest.raises(ValueError, match=r"param=0.2 is given with a callable activation.*"
                       r"functools\.partial"):
        jinit.gain(jax.nn.leaky_relu, param=0.2)
    with pytest.raises(TypeError, match=r"breakpoints='ab' is not a sequence"):
        jinit.gain("tanh", breakpoints="ab")
    with pytest.raises(ValueError, match=r"breakpoints=nan is not finite"):
        jinit.gain("tanh", breakpoints=(float("nan"),))


def test_bad_callables():
    with pytest.raises(ValueError, match=r"gain\(\): activation=.* is not finite: it returned nan "
                       r"at x=-4; expected finite values at every real input"):
        jinit.gain(lambda x: jnp.log(x))
    with pytest.raises(ValueError, match=r"returned shape \(\) for an input of shape \(2048,\)"):
        jinit.gain(lambda x: jnp.sum(x))
    with pytest.raises(ValueError, match=r"is not elementwise"):
        jinit.gain(jax.nn.softmax)
    with pytest.raises(TypeError, match=r"raised on a float64 array \(ValueError: boom\)"):
        jinit.gain(lambda x: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(TypeError, match=r"could not be differentiated by jax\.jvp"):
        jinit.gain(lambda x: np.tanh(np.asarray(x)), "backward")
    assert abs(jinit.gain(lambda x: np.tanh(np.asarray(x))) / ref_gain("tanh", "forward") - 1) < 1e-12
    with pytest.raises(ValueError, match=r"has E\[phi\(z\)\^2\] = 0 .* forward gain is infinite"):
        jinit.gain(lambda x: 0.0 * x)
    with pytest.raises(ValueError, match=r"has Var\[phi\(z\)\] = 0 .* variance gain is infinite"):
        jinit.gain(lambda x: 0.0 * x + 1.0, "variance")
    with pytest.warns(UserWarning, match=r"computes in float32 even for float64 inputs"):
        value = jinit.gain(lambda x: jnp.tanh(x.astype(jnp.float32)))
    assert abs(value / ref_gain("tanh", "forward") - 1) < 1e-6


# ------------------------------------------------------------------------ for_activation


def _same(a, b) -> bool:
    key = jax.random.key(3)
    return bool(jnp.array_equal(a(key, (64, 32)), b(key, (64, 32))))


def test_for_activation_scales():
    """Bit-identical to variance_scaling with the scale derived here."""
    vs = jinit.variance_scaling
    assert _same(jinit.for_activation("relu"), vs(2.0, "fan_in", "truncated_normal"))
    assert _same(jinit.for_activation(jax.nn.relu), jinit.he_normal())
    assert _same(jinit.for_activation("leaky_relu", param=0.2), vs(2 / 1.04, "fan_in", "truncated_normal"))
    assert _same(jinit.for_activation("linear"), jinit.lecun_normal())
    assert _same(jinit.for_activation("selu"), jinit.lecun_normal())
    for name in ("tanh", "sigmoid", "elu", "softsign", "hard_tanh"):
        expected = ref_gain(name, "forward") ** 2
        got = jinit.for_activation(name, mode="fan_avg", distribution="uniform")
        assert _same(got, vs(jinit.gain(name) ** 2, "fan_avg", "uniform")), name
        assert abs(jinit.gain(name) ** 2 / expected - 1) < 1e-12
    assert "scale=2.0" in repr(jinit.for_activation("relu"))


def test_for_activation_in_flax():
    nn = pytest.importorskip("flax.linen")
    params = nn.Dense(8, kernel_init=jinit.for_activation("tanh")).init(jax.random.key(0), jnp.ones((1, 4)))
    assert params["params"]["kernel"].shape == (4, 8)


UNSTABLE = ["gelu", "gelu_tanh", "silu", "swish", "mish", "hard_silu", jax.nn.gelu, jax.nn.silu,
            jax.nn.mish, lambda x: x * jax.nn.sigmoid(x)]


@pytest.mark.parametrize("activation", UNSTABLE)
def test_for_activation_warns_where_no_stable_fixed_point(activation):
    with pytest.warns(jinit.InitStabilityWarning, match=r"has an unstable variance fixed point .* "
                      r"slope 1\.\d+ > 1 at q\*=1.*jinit\.lsuv"):
        init = jinit.for_activation(activation)
    assert isinstance(init, jinit.Initializer)
    assert jinit.theory.stability(activation).verdict == "unstable"


def test_for_activation_silent_where_stable():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("relu", "leaky_relu", "linear", "tanh", "selu", "elu", "softsign", "sigmoid",
                     "hard_tanh", "softplus"):
            jinit.for_activation(name)
            assert jinit.theory.stability(name).verdict in ("stable", "neutral"), name


def test_for_activation_errors():
    with pytest.raises(ValueError, match=r"for_activation\(\): mode='fan_inn' is not valid"):
        jinit.for_activation("relu", mode="fan_inn")
    with pytest.raises(ValueError, match=r"for_activation\(\): distribution='gauss' is not valid"):
        jinit.for_activation("relu", distribution="gauss")
    with pytest.raises(ValueError, match=r"for_activation\(\): activation='rleu' is not a known"):
        jinit.for_activation("rleu")
    with pytest.raises(TypeError, match=r"for_activation\(\): in_axis='a' is not an axis"):
        jinit.for_activation("relu", in_axis="a")


# ------------------------------------------------------------------- deep-stack ensembles

WIDTH, DEPTH, KEYS, BATCH = 256, 50, 128, 8


def _v2_moments(f, scale):
    """V'(1), V''(1) and Var[scale * phi(z)^2] by the reference integrator (z ~ N(0, 1))."""
    def m2(q):
        return scale * ref_expect(lambda z: f(math.sqrt(q) * z) ** 2, (0,))
    h = 1e-3
    v1 = (m2(1 + h) - m2(1 - h)) / (2 * h)
    v2 = (m2(1 + h) - 2 * m2(1) + m2(1 - h)) / h**2
    m4 = scale**2 * ref_expect(lambda z: f(z) ** 4, (0,))
    return v1, v2, m4 - m2(1) ** 2


def _stack_second_moments(configs):
    """Mean over units and inputs of h_L^2 for KEYS networks per config, sharing the draws.

    h_{l+1} = phi(h_l) @ (sqrt(scale / WIDTH) Z_l), Z_l ~ N(0, 1) iid; h_0 are BATCH fixed
    permutations of the symmetric normal-quantile vector with mean square 1, so q_0 = 1.
    """
    half = np.array([NormalDist().inv_cdf((i + 0.5) / (WIDTH // 2)) for i in range(WIDTH // 2)])
    base = np.concatenate([half, -half]) / math.sqrt(np.mean(half**2))
    rng = np.random.default_rng(0)
    x0 = jnp.asarray(np.stack([rng.permutation(base) for _ in range(BATCH)]), jnp.float32)
    phis = [c[0] for c in configs]
    stds = [math.sqrt(c[1] / WIDTH) for c in configs]

    def one(key):
        def layer(hs, k):
            z = jax.random.normal(k, (WIDTH, WIDTH), jnp.float32)
            return tuple(phi(h) @ z * jnp.float32(s) for phi, h, s in zip(phis, hs, stds, strict=True)), None

        hs, _ = jax.lax.scan(layer, tuple(x0 for _ in configs), jax.random.split(key, DEPTH))
        return jnp.stack([jnp.mean(h * h) for h in hs])

    keys = jax.random.split(jax.random.key(2024), KEYS)
    return np.asarray(jax.jit(jax.vmap(one))(keys), np.float64)


def test_deep_stack_ensemble_second_moment():
    """For_activation's scale keeps the ensemble-mean E[h_50^2] at 1 where q*=1 is not unstable.

    Band: Z standard errors of the mean over KEYS networks, plus, for non-homogeneous
    activations, three times the second-order finite-width bias of the variance chain:
    with Gaussian weights s_{l+1} = scale * mean_i phi(sqrt(s_l) z_i)^2 has E[s_{l+1}|s_l] =
    V(s_l), so E s - 1 ~ V''(1) Var(s) / (2 (1 - V'(1))), Var(s) ~ Var[scale phi^2] /
    (WIDTH (1 - V'(1)^2)). Homogeneous activations have E[h_L^2] = 1 exactly (symmetry).
    Negative controls, which must be rejected by the same band: He scale 5% too large, and
    PyTorch's conventional gains for tanh (5/3) and SELU (3/4).
    """
    names = ["relu", "leaky_relu", "linear", "tanh", "selu", "elu", "softsign"]
    jfn = {"relu": jax.nn.relu, "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.2),
           "linear": lambda x: x, "tanh": jnp.tanh, "selu": jax.nn.selu, "elu": jax.nn.elu,
           "softsign": jax.nn.soft_sign}
    scales = {"relu": 2.0, "leaky_relu": 2 / 1.04, "linear": 1.0, "selu": 1.0}
    for name in ("tanh", "elu", "softsign"):
        scales[name] = ref_gain(name, "forward") ** 2
    for name in names:  # the scale for_activation returns is the one simulated here
        init = jinit.for_activation(name, param=0.2 if name == "leaky_relu" else None)
        assert _same(init, jinit.variance_scaling(scales[name], "fan_in", "truncated_normal"))
    controls = [("relu +5%", jax.nn.relu, 2.1, "relu"), ("tanh 5/3", jnp.tanh, (5 / 3) ** 2, "tanh"),
                ("selu 3/4", jax.nn.selu, 0.75**2, "selu")]
    configs = [(jfn[n], scales[n]) for n in names] + [(c[1], c[2]) for c in controls]
    moments = _stack_second_moments(configs)

    def within(column, name):
        r = moments[:, column]
        band = S.Z * float(np.std(r, ddof=1)) / math.sqrt(r.size)
        if name not in ("relu", "leaky_relu", "linear"):
            f = REF[name][0]
            v1, v2, var_phi2 = _v2_moments(f, scales[name])
            var_s = var_phi2 / (WIDTH * (1 - v1 * v1))
            band += 3 * abs(v2) * var_s / (2 * (1 - v1))
        return abs(float(np.mean(r)) - 1.0) <= band

    for i, name in enumerate(names):
        assert within(i, name), (name, float(np.mean(moments[:, i])))
    for j, (label, _, _, like) in enumerate(controls):
        assert not within(len(names) + j, like), label
