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
from jinit import layouts, presets

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
        hwio = layouts.oihw_to_hwio(w)
        assert hwio.shape == shape[2:] + (shape[1], shape[0])
        assert np.array_equal(layouts.hwio_to_oihw(hwio), w)
        assert np.array_equal(layouts.oihw_to_hwio(layouts.hwio_to_oihw(hwio)), hwio)
        wj = jnp.asarray(w, jnp.float32)
        assert np.array_equal(layouts.hwio_to_oihw(layouts.oihw_to_hwio(wj)), wj)
    w = rng.normal(size=(10, 7))
    assert np.array_equal(layouts.linear_to_dense(w), w.T)
    assert np.array_equal(layouts.dense_to_linear(layouts.linear_to_dense(w)), w)
    assert np.array_equal(layouts.oihw_to_hwio(w), layouts.linear_to_dense(w))
    o = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    h = layouts.oihw_to_hwio(o)
    assert h[1, 2, 0, 1] == o[1, 0, 1, 2]  # W_HWIO[h, w, i, o] = W_OIHW[o, i, h, w]


def test_layout_errors():
    with pytest.raises(ValueError, match=r"layouts\.oihw_to_hwio\(\): w=.* has 1 axis; expected at "
                       r"least 2 axes"):
        layouts.oihw_to_hwio(np.zeros(3))
    with pytest.raises(ValueError, match=r"(?s)layouts\.linear_to_dense\(\): w=.* has 4 axes; expected 2"):
        layouts.linear_to_dense(np.zeros((2, 2, 2, 2)))
    with pytest.raises(TypeError, match=r"layouts\.hwio_to_oihw\(\): w=\[1, 2\] is not an array"):
        layouts.hwio_to_oihw([1, 2])


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
    kernel = layouts.oihw_to_hwio(conv.weight.detach().numpy())
    y = jax.lax.conv_general_dilated(jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(kernel),
                                     (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                     feature_group_count=4, precision=jax.lax.Precision.HIGHEST)
    y = np.asarray(y + conv.bias.detach().numpy()).transpose(0, 3, 1, 2)
    assert np.allclose(y, expected, rtol=1e-5, atol=1e-5)
    lin = torch.nn.Linear(7, 3)
    xl = x[0, 0]
    expected = lin(torch.from_numpy(xl)).detach().numpy()
    dense = layouts.linear_to_dense(lin.weight.detach().numpy())
    assert np.allclose(xl @ dense + lin.bias.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    t = torch.randn(4, 3, 2, 5)
    assert torch.equal(layouts.hwio_to_oihw(layouts.oihw_to_hwio(t)), t)  # tensors stay tensors


# ------------------------------------------------------------ torch.nn.init, one by one

# torch.nn.init function -> its jinit preset (every function with a jinit equivalent).
TORCH_INIT = {
    "uniform_": "torch_uniform", "normal_": "torch_normal", "trunc_normal_": "torch_trunc_normal",
    "constant_": "torch_constant", "ones_": "torch_ones", "zeros_": "torch_zeros",
    "eye_": "torch_eye", "dirac_": "torch_dirac", "xavier_uniform_": "torch_xavier_uniform",
    "xavier_normal_": "torch_xavier_normal", "kaiming_uniform_": "torch_kaiming_uniform",
    "kaiming_normal_": "torch_kaiming_normal", "orthogonal_": "torch_orthogonal",
    "sparse_": "torch_sparse",
}


def _torch_params(fn) -> dict:
    import inspect

    return {n: p.default for n, p in inspect.signature(fn).parameters.items()
            if n not in ("tensor", "generator")}


def _our_params(fn) -> dict:
    import inspect

    return {n: p.default for n, p in inspect.signature(fn).parameters.items()
            if n not in ("dtype", "in_axis", "out_axis", "batch_axis")}


@pytest.mark.torch
def test_every_torch_init_function_has_a_preset_with_its_parameters():
    torch = pytest.importorskip("torch")
    public = {n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")}
    assert public == set(TORCH_INIT), public ^ set(TORCH_INIT)
    for theirs, ours in TORCH_INIT.items():
        t, o = _torch_params(getattr(torch.nn.init, theirs)), _our_params(getattr(presets, ours))
        assert list(t) == list(o) and t == o, (theirs, t, o)  # names, order and defaults
        assert ours in presets.__all__ and f"``{theirs}" in presets.__doc__, ours


def _torch_draws(fn, torch_shape, n, **kwargs) -> np.ndarray:
    """``n`` PyTorch draws of ``fn(torch.empty(torch_shape), **kwargs)``, Flax layout, float64."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    out = [fn(torch.empty(torch_shape), **kwargs).numpy().astype(np.float64) for _ in range(n)]
    return np.stack([layouts.oihw_to_hwio(w) for w in out])


# (torch function, kwargs, our factory, PyTorch weight shape, ECDF points). The negative control
# scales our draws by 5%; sparse_ puts 30% of its mass at 0, so its control scales by 20%.
TORCH_LAWS = [
    ("uniform_", {"a": -0.3, "b": 0.5}, lambda: presets.torch_uniform(-0.3, 0.5), (40, 30),
     np.linspace(-0.4, 0.6, 201)),
    ("uniform_", {}, lambda: presets.torch_uniform(), (40, 30), np.linspace(-0.1, 1.1, 201)),
    ("normal_", {"mean": 0.5, "std": 2.0}, lambda: presets.torch_normal(0.5, 2.0), (40, 30),
     np.linspace(-8, 9, 241)),
    ("normal_", {}, lambda: presets.torch_normal(), (40, 30), np.linspace(-5, 5, 241)),
    ("orthogonal_", {"gain": 1.5}, lambda: presets.torch_orthogonal(1.5), (24, 64),
     np.linspace(-0.6, 0.6, 241)),
    ("sparse_", {"sparsity": 0.3, "std": 0.5}, lambda: presets.torch_sparse(0.3, 0.5), (30, 20),
     np.linspace(-2, 2, 241)),
]


@pytest.mark.torch
@pytest.mark.parametrize("fn,kwargs,make,shape,at", TORCH_LAWS,
                         ids=[f"{c[0]}{c[1]}" for c in TORCH_LAWS])
def test_torch_fills_match_torch_in_law(fn, kwargs, make, shape, at):
    torch = pytest.importorskip("torch")
    n = 200
    theirs = _torch_draws(getattr(torch.nn.init, fn), shape, n, **kwargs)
    ours = _draws(make(), shape[::-1], n)
    assert ours.shape == theirs.shape
    assert _same_law(ours, theirs, at), fn
    off = 1.2 if fn == "sparse_" else 1.05
    assert not _same_law(off * ours, theirs, at), fn  # negative control: a wrong scale
    if fn == "sparse_":  # the same zeros per input unit: a column of (out, in), a row here
        assert np.array_equal(np.sum(ours == 0, axis=-1), np.sum(theirs == 0, axis=-1))


@pytest.mark.torch
@pytest.mark.parametrize("fn,kwargs,make,shape", [
    ("constant_", {"val": -0.7}, lambda: presets.torch_constant(-0.7), (5, 3)),
    ("ones_", {}, lambda: presets.torch_ones(), (5, 3)),
    ("zeros_", {}, lambda: presets.torch_zeros(), (5, 3)),
    ("eye_", {}, lambda: presets.torch_eye(), (5, 3)),
    ("dirac_", {}, lambda: presets.torch_dirac(), (8, 8, 3, 3)),
    ("dirac_", {"groups": 2}, lambda: presets.torch_dirac(2), (8, 4, 3, 5)),
    ("dirac_", {}, lambda: presets.torch_dirac(), (6, 4, 4)),  # even kernel: k // 2
])
def test_deterministic_torch_fills_equal_torch(fn, kwargs, make, shape):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn.init, fn)(torch.empty(shape), **kwargs).numpy()
    ours = np.asarray(make()(KEY, layouts.oihw_to_hwio(np.empty(shape)).shape))
    assert np.array_equal(layouts.hwio_to_oihw(ours), theirs), fn


def test_torch_fills_closed_forms():
    """Without torch: bounds, moments and the objects the thin presets return."""
    w = _draws(presets.torch_uniform(-0.3, 0.5), (64, 32), 50)
    assert w.min() >= -0.3 and w.max() < 0.5
    assert _fits(w, lambda x: np.clip((x + 0.3) / 0.8, 0, 1), np.linspace(-0.4, 0.6, 201))
    assert not _fits(w, lambda x: np.clip((x + 0.3) / 0.84, 0, 1), np.linspace(-0.4, 0.6, 201))
    z = _draws(presets.torch_normal(0.5, 2.0), (64, 32), 50)
    cdf = np.vectorize(NormalDist(0.5, 2.0).cdf)
    assert _fits(z, cdf, np.linspace(-8, 9, 241))
    assert not _fits(z, np.vectorize(NormalDist(0.5, 2.1).cdf), np.linspace(-8, 9, 241))
    assert presets.torch_zeros is presets.keras_bias
    assert presets.torch_sparse is jinit.sparse_outgoing
    assert presets.torch_conv_kernel is presets.torch_linear_kernel
    assert presets.torch_conv_bias is presets.torch_linear_bias
    assert presets.keras_conv_kernel is presets.keras_dense_kernel
    assert np.array_equal(presets.torch_orthogonal(2.0)(KEY, (8, 4)), jinit.orthogonal(2.0)(KEY, (8, 4)))
    with pytest.raises(ValueError, match=r"presets\.torch_uniform\(\): b=0\.0 is not above a=1\.0; "
                       r"expected a < b\."):
        presets.torch_uniform(1.0, 0.0)
    with pytest.raises(ValueError, match=r"presets\.torch_normal\(\): std=-1\.0 is out of range"):
        presets.torch_normal(0.0, -1.0)
