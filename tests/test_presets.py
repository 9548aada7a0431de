"""jinit.presets against the frameworks they imitate: PyTorch itself when installed, closed forms always.

Distributions are compared by their empirical CDFs over many draws: against the exact CDF
with the DKW band ``sqrt(ln(2/alpha) / (2 n))``, and against PyTorch's own samples with the
two-sample band (the sum of two one-sample bands at alpha/2), alpha = 1e-6 per check. Every
comparison is paired with a negative control (the bound 5% off, PyTorch's ConvTranspose fan
replaced by the naive one) that the same band must reject.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit import presets

ALPHA = 1e-6
KEY = jax.random.key(0)
GRID = np.linspace(-1.2, 1.2, 241)  # evaluation points, in units of the bound


def _band(n: int, alpha: float = ALPHA) -> float:
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def _ecdf(x: np.ndarray, at: np.ndarray) -> np.ndarray:
    x = np.sort(np.asarray(x, np.float64).ravel())
    return np.searchsorted(x, at, side="right") / x.size


def _uniform_cdf(at: np.ndarray, bound: float) -> np.ndarray:
    return np.clip((at + bound) / (2 * bound), 0.0, 1.0)


def _fits(x: np.ndarray, cdf, at: np.ndarray) -> bool:
    """One-sample DKW check of ``x`` against an exact ``cdf`` at the points ``at``."""
    return float(np.max(np.abs(_ecdf(x, at) - cdf(at)))) <= _band(np.size(x))


def _same_law(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> bool:
    """Two-sample check: both ECDFs within their DKW bands (alpha/2 each) of one CDF."""
    gap = float(np.max(np.abs(_ecdf(x, at) - _ecdf(y, at))))
    return gap <= _band(np.size(x), ALPHA / 2) + _band(np.size(y), ALPHA / 2)


def _draws(init, shape, n: int) -> np.ndarray:
    keys = jax.random.split(jax.random.key(1), n)
    return np.asarray(jax.vmap(lambda k: init(k, shape))(keys), np.float64)


# ------------------------------------------------------------------------- closed forms


# layer, in, out, kernel, groups -> PyTorch's fans, from the stored layouts written out here.
FAN_CASES = [
    ("linear", 20, 30, (), 1, (20, 30)),
    ("conv", 16, 32, (3,), 1, (48, 96)),
    ("conv", 16, 32, (3, 5), 4, (4 * 15, 32 * 15)),
    ("conv", 6, 9, (2, 3, 1), 3, (2 * 6, 9 * 6)),
    ("conv_transpose", 16, 4, (3, 3), 1, (4 * 9, 16 * 9)),  # fan_in counts the outputs
    ("conv_transpose", 8, 12, (5,), 4, (3 * 5, 8 * 5)),
    ("embedding", 64, 1000, (), 1, (64, 1000)),
]


@pytest.mark.parametrize("layer,cin,cout,k,groups,expected", FAN_CASES)
def test_torch_fans_closed_forms(layer, cin, cout, k, groups, expected):
    assert presets.torch_fans(layer, cin, cout, k, groups) == expected


def test_torch_kernels_are_uniform_with_bound_one_over_sqrt_fan_in():
    cases = [(presets.torch_linear_kernel(), (48, 40), 48),
             (presets.torch_conv_kernel(), (3, 3, 4, 8), 36),
             (presets.torch_conv_transpose_kernel(), (3, 3, 16, 4), 36),  # (*k, in, out): 4·9
             (presets.torch_conv_transpose_kernel(transpose_kernel=True), (3, 3, 4, 16), 36),
             (presets.torch_linear_bias(48), (40,), 48),
             (presets.torch_conv_bias(36), (8,), 36)]
    for init, shape, fan_in in cases:
        x = _draws(init, shape, 2000)
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(x).max() <= bound
        at = GRID * bound
        assert _fits(x, lambda t, b=bound: _uniform_cdf(t, b), at), (init, shape)
        assert not _fits(x, lambda t, b=1.05 * bound: _uniform_cdf(t, b), at), (init, shape)
    naive = 1 / math.sqrt(16 * 9)  # the ConvTranspose fan a user would guess: in_channels·∏k
    x = _draws(presets.torch_conv_transpose_kernel(), (3, 3, 16, 4), 2000)
    assert not _fits(x, lambda t: _uniform_cdf(t, naive), GRID / 6)


def test_torch_bias_of_zero_fan_in_is_zero():
    assert not np.any(np.asarray(presets.torch_linear_bias(0)(KEY, (5,))))


def test_torch_embedding_is_a_standard_normal():
    x = _draws(presets.torch_embedding(), (50, 20), 400)
    at = np.linspace(-4, 4, 161)
    assert _fits(x, np.vectorize(NormalDist().cdf), at)
    assert not _fits(x, np.vectorize(NormalDist(0, 1.05).cdf), at)


def test_keras_defaults_closed_forms():
    key = jax.random.key(3)
    for shape in ((100, 200), (3, 3, 16, 32)):
        a = presets.keras_dense_kernel()(key, shape)
        assert np.array_equal(a, jinit.glorot_uniform()(key, shape))
        assert np.array_equal(presets.keras_conv_kernel()(key, shape), a)
    assert not np.any(np.asarray(presets.keras_bias()(key, (7,))))
    e = _draws(presets.keras_embedding(), (40, 16), 400)
    assert e.min() >= -0.05 and e.max() < 0.05
    assert _fits(e, lambda t: _uniform_cdf(t, 0.05), GRID * 0.05)
    # Keras's truncated "normal": N(0, s^2) cut at +-2s, no variance correction.
    s = 0.05
    t = _draws(presets.keras_truncated_normal(stddev=s), (50, 20), 400)
    norm = NormalDist()
    mass = norm.cdf(2) - norm.cdf(-2)

    def trunc_cdf(u):
        return np.clip((np.vectorize(norm.cdf)(np.clip(u / s, -2, 2)) - norm.cdf(-2)) / mass, 0, 1)

    assert np.abs(t).max() <= 2 * s
    at = np.linspace(-2.2, 2.2, 89) * s
    assert _fits(t, trunc_cdf, at)
    corrected = s / math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / mass)  # jax's rule
    assert not _fits(t, lambda u: trunc_cdf(u * s / corrected), at)


# ------------------------------------------------------------------------------- layouts


def test_layout_round_trips():
    rng = np.random.default_rng(0)
    for shape in ((5, 3), (8, 4, 3), (8, 4, 3, 5), (6, 2, 3, 1, 4)):
        w = rng.normal(size=shape)
        hwio = presets.oihw_to_hwio(w)
        assert hwio.shape == shape[2:] + (shape[1], shape[0])
        assert np.array_equal(presets.hwio_to_oihw(hwio), w)
        assert np.array_equal(presets.oihw_to_hwio(presets.hwio_to_oihw(hwio)), hwio)
        wj = jnp.asarray(w, jnp.float32)
        assert np.array_equal(presets.hwio_to_oihw(presets.oihw_to_hwio(wj)), wj)
    w = rng.normal(size=(10, 7))
    assert np.array_equal(presets.linear_to_dense(w), w.T)
    assert np.array_equal(presets.dense_to_linear(presets.linear_to_dense(w)), w)
    assert np.array_equal(presets.oihw_to_hwio(w), presets.linear_to_dense(w))
    o = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    h = presets.oihw_to_hwio(o)
    assert h[1, 2, 0, 1] == o[1, 0, 1, 2]  # W_HWIO[h, w, i, o] = W_OIHW[o, i, h, w]


def test_layout_errors():
    with pytest.raises(ValueError, match=r"presets\.oihw_to_hwio\(\): w=.* has 1 axis; expected at "
                       r"least 2 axes"):
        presets.oihw_to_hwio(np.zeros(3))
    with pytest.raises(ValueError, match=r"(?s)presets\.linear_to_dense\(\): w=.* has 4 axes; expected 2"):
        presets.linear_to_dense(np.zeros((2, 2, 2, 2)))
    with pytest.raises(TypeError, match=r"presets\.hwio_to_oihw\(\): w=\[1, 2\] is not an array"):
        presets.hwio_to_oihw([1, 2])


# --------------------------------------------------------------------------- PyTorch itself


def _torch_weights(make, n: int):
    """``n`` freshly initialized PyTorch layers: (weights, biases) as float64 numpy arrays."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ws, bs = [], []
    for _ in range(n):
        layer = make(torch.nn)
        ws.append(layer.weight.detach().numpy().astype(np.float64))
        if getattr(layer, "bias", None) is not None:
            bs.append(layer.bias.detach().numpy().astype(np.float64))
    return np.stack(ws), (np.stack(bs) if bs else None)


# name, PyTorch layer, (cin, cout, k, groups), Flax kernel shape, our kernel init, torch_fans layer
TORCH_LAYERS = [
    ("Linear", lambda nn: nn.Linear(48, 40), (48, 40, (), 1), (48, 40),
     presets.torch_linear_kernel(), "linear"),
    ("Conv1d", lambda nn: nn.Conv1d(6, 10, 5), (6, 10, (5,), 1), (5, 6, 10),
     presets.torch_conv_kernel(), "conv"),
    ("Conv2d groups", lambda nn: nn.Conv2d(8, 12, (3, 2), groups=4), (8, 12, (3, 2), 4),
     (3, 2, 2, 12), presets.torch_conv_kernel(), "conv"),
    ("Conv3d", lambda nn: nn.Conv3d(3, 4, 3), (3, 4, (3, 3, 3), 1), (3, 3, 3, 3, 4),
     presets.torch_conv_kernel(), "conv"),
    ("ConvTranspose2d", lambda nn: nn.ConvTranspose2d(16, 4, 3), (16, 4, (3, 3), 1),
     (3, 3, 16, 4), presets.torch_conv_transpose_kernel(), "conv_transpose"),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,make,dims,flax_shape,init,layer", TORCH_LAYERS,
                         ids=[c[0] for c in TORCH_LAYERS])
def test_layer_defaults_match_torch(name, make, dims, flax_shape, init, layer):
    """Same fans, same kernel law, same bias law as the PyTorch layer's own reset_parameters."""
    torch = pytest.importorskip("torch")
    cin, cout, k, groups = dims
    n = max(300, -(-150_000 // math.prod(flax_shape)))  # >= 150k weights: bands ~0.015
    tw, tb = _torch_weights(make, n)
    fan_in, fan_out = presets.torch_fans(layer, cin, cout, k, groups)
    assert (fan_in, fan_out) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(tw.shape[1:]))
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(tw).max() <= bound and np.abs(tb).max() <= bound
    ours = _draws(init, flax_shape, n)
    bias = _draws(presets.torch_conv_bias(fan_in), (tb.shape[1],), 4000)
    at = GRID * bound
    assert _same_law(ours, tw, at), name
    assert _same_law(bias, tb, at), name
    assert not _same_law(1.05 * ours, tw, at), name  # negative control: bound 5% off
    if layer == "conv_transpose":  # negative control: jax's fan_in on the (*k, in, out) kernel
        naive = _draws(jinit.variance_scaling(1 / 3, "fan_in", "uniform"), flax_shape, n)
        assert not _same_law(naive, tw, at)


@pytest.mark.torch
def test_embedding_matches_torch():
    tw, _ = _torch_weights(lambda nn: nn.Embedding(100, 32), 150)
    ours = _draws(presets.torch_embedding(), (100, 32), 150)
    at = np.linspace(-4, 4, 161)
    assert _same_law(ours, tw, at)
    assert not _same_law(1.05 * ours, tw, at)


@pytest.mark.torch
def test_ported_weights_give_torch_outputs():
    """A PyTorch layer's weights, mapped with the layout helpers, give the same outputs in jax."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    x = np.random.default_rng(0).normal(size=(2, 8, 9, 7)).astype(np.float32)  # NCHW
    conv = torch.nn.Conv2d(8, 12, (3, 2), groups=4)
    expected = conv(torch.from_numpy(x)).detach().numpy()
    kernel = presets.oihw_to_hwio(conv.weight.detach().numpy())
    y = jax.lax.conv_general_dilated(jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(kernel),
                                     (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                     feature_group_count=4, precision=jax.lax.Precision.HIGHEST)
    y = np.asarray(y + conv.bias.detach().numpy()).transpose(0, 3, 1, 2)
    assert np.allclose(y, expected, rtol=1e-5, atol=1e-5)
    lin = torch.nn.Linear(7, 3)
    xl = x[0, 0]
    expected = lin(torch.from_numpy(xl)).detach().numpy()
    dense = presets.linear_to_dense(lin.weight.detach().numpy())
    assert np.allclose(xl @ dense + lin.bias.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    t = torch.randn(4, 3, 2, 5)
    assert torch.equal(presets.hwio_to_oihw(presets.oihw_to_hwio(t)), t)  # tensors stay tensors
