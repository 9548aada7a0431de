"""Structured schemes: identity, dirac, hadamard_identity, sparse_outgoing, sparse_incoming, conv_orthogonal.

Exact properties (identity behaviour, sparsity counts, norm preservation) are checked exactly or
to float tolerance; statistical ones (the law of the non-zero values, uniformity of the zero
positions) with tolerances derived from the sample size at alpha = 1e-6 per check, each paired
with a negative control that must be rejected.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _compile import law_jit
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jinit

Z = 4.9  # two-sided normal quantile for alpha ~ 1e-6
ALPHA = 1e-6
KEY = jax.random.key(0)
HIGHEST = jax.lax.Precision.HIGHEST


def _keys(n, seed=0):
    return jax.random.split(jax.random.key(seed), n)


def _draw(init, shape, n, dtype=jnp.float32, seed=0):
    return np.asarray(jax.vmap(lambda k: init(k, shape, dtype))(_keys(n, seed)))


def _law_draw(init, shape, n, dtype=jnp.float32, seed=0):
    """:func:`_draw` as one program compiled for a law check (``law_jit``: not for bits)."""
    return np.asarray(law_jit(jax.vmap(lambda k: init(k, shape, dtype)))(_keys(n, seed)))


def _conv(x, w, padding="SAME", groups=1):
    nd = w.ndim - 2
    spec = {1: ("NHC", "HIO", "NHC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}
    return jax.lax.conv_general_dilated(x, w, (1,) * nd, padding, dimension_numbers=spec[nd],
                                        feature_group_count=groups, precision=HIGHEST)


def _variance_ok(values, variance, kurtosis=3.0):
    """Sample variance (mean known 0) within z * sigma^2 * sqrt((kappa - 1) / n) of ``variance``."""
    v = np.asarray(values, np.float64)
    measured = np.mean(v ** 2)
    return abs(measured - variance) <= Z * variance * math.sqrt((kurtosis - 1) / v.size)


@functools.cache
def _chi2_quantile(p, dof, upper=False):
    """The chi-square quantile with tail mass ``p`` (lower, or ``upper``), by bisection.

    The CDF is the regularized incomplete gamma function ``P(dof/2, x/2)`` (its complement
    for the upper tail, so that a tail mass of 5e-7 keeps full precision), in float64.
    """
    cdf = jax.scipy.special.gammaincc if upper else jax.scipy.special.gammainc
    lo, hi = 0.0, dof + 40 * math.sqrt(2 * dof) + 200
    with jax.enable_x64(True):
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            below = float(cdf(dof / 2, mid / 2)) < p
            lo, hi = (mid, hi) if below != upper else (lo, mid)
    return 0.5 * (lo + hi)


def _norm_cdf(x):
    return 0.5 * np.vectorize(math.erfc)(-np.asarray(x, np.float64) / math.sqrt(2))


def _subset_chi2(counts, trials, m):
    """Two-sided chi-square test that ``m``-subsets of ``n`` positions are uniform, per row.

    ``counts[r, j]``: how often position ``j`` of row ``r`` was chosen in ``trials`` independent
    draws. An indicator vector of a uniform m-subset has covariance ``s2 * (I - 11^T/n)`` with
    ``s2 = p (1 - p) n / (n - 1)``, ``p = m / n``; so ``|c - trials p|^2 / (trials s2)`` is
    asymptotically chi-square with ``n - 1`` degrees of freedom, and rows add up.
    """
    counts = np.asarray(counts, np.float64)
    rows, n = counts.shape
    p = m / n
    s2 = p * (1 - p) * n / (n - 1)
    stat = np.sum((counts - trials * p) ** 2) / (trials * s2)
    dof = rows * (n - 1)
    return _chi2_quantile(ALPHA / 2, dof) <= stat <= _chi2_quantile(ALPHA / 2, dof, upper=True)


# ------------------------------------------------------------------------------ identity


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (4, 3, 3), (2, 3, 4, 6)])
def test_identity_is_a_scaled_eye_over_the_last_two_axes(shape):
    w = jinit.identity(-1.5)(KEY, shape)
    expected = np.broadcast_to(-1.5 * np.eye(shape[-2], shape[-1]), shape)
    assert w.shape == shape and w.dtype == jnp.float32
    assert np.array_equal(np.asarray(w), expected)


def test_identity_ignores_the_key_and_supports_dtypes():
    a = jinit.identity()(jax.random.key(1), (4, 4))
    b = jinit.identity()(None, (4, 4))
    assert np.array_equal(a, b)
    for dt in (jnp.bfloat16, jnp.float16, jnp.float8_e4m3fn, jnp.complex64):
        w = jinit.identity(3.0)(KEY, (3, 3), dt)
        assert w.dtype == dt
        assert np.array_equal(np.asarray(w.astype(jnp.complex64)), 3.0 * np.eye(3))


def test_identity_dense_layer_copies_its_input():
    x = jax.random.normal(KEY, (5, 8))
    w = jinit.identity()(KEY, (8, 8))
    assert np.array_equal(x @ w, x)
    w = jinit.identity()(KEY, (8, 3))
    assert np.array_equal(x @ w, x[:, :3])


def test_identity_errors():
    with pytest.raises(ValueError, match=r"identity\(\): shape=\(5,\) has 1 axis; expected at least 2"):
        jinit.identity()(KEY, (5,))
    with pytest.raises(ValueError, match=r"identity\(\): scale=inf is not finite"):
        jinit.identity(float("inf"))
    with pytest.raises(TypeError, match=r"identity\(\): scale='a' is not a real number"):
        jinit.identity("a")
    with pytest.raises(ValueError, match=r"identity\(\): scale=1000000.0 overflows float16"):
        jinit.identity(1e6)(KEY, (2, 2), jnp.float16)


# --------------------------------------------------------------------------------- dirac


DIRAC_KERNELS = [(1,), (3,), (5,), (3, 3), (1, 5), (3, 3, 3), (5, 1, 3)]
DIRAC_GROUPS = [2, 3, 6]


@functools.cache
def _dirac_convolutions():
    """``(x, conv(x, w))`` for every case of the two tests below, from one jitted program.

    One compile instead of one program per op and shape; every case is still its own kernel
    and convolution (the identity is exact whatever the program: each output sums one
    ``x * 1`` with zeros).
    """
    c = 6

    def run(key, key_x):
        same = []
        for kernel in DIRAC_KERNELS:
            w = jinit.dirac()(key, kernel + (c, c))
            x = jax.random.normal(key_x, (2,) + (7,) * len(kernel) + (c,))
            same.append((x, _conv(x, w)))
        grouped = []
        for groups in DIRAC_GROUPS:
            w = jinit.dirac(groups=groups)(key, (3, 3, c // groups, c))
            wrong = jinit.dirac()(key, (3, 3, c // groups, c))
            x = jax.random.normal(key_x, (2, 6, 6, c))
            grouped.append((x, _conv(x, w, groups=groups), _conv(x, wrong, groups=groups)))
        return same, grouped

    return jax.tree.map(np.asarray, law_jit(run)(KEY, jax.random.key(1)))


@pytest.mark.parametrize("kernel", DIRAC_KERNELS)
def test_dirac_same_convolution_returns_the_input_exactly(kernel):
    x, y = _dirac_convolutions()[0][DIRAC_KERNELS.index(kernel)]
    assert x.shape == (2,) + (7,) * len(kernel) + (6,)
    assert np.array_equal(y, x)


@pytest.mark.parametrize("groups", DIRAC_GROUPS)
def test_dirac_with_groups_is_the_identity_of_a_grouped_convolution(groups):
    x, y, y_wrong = _dirac_convolutions()[1][DIRAC_GROUPS.index(groups)]
    assert np.array_equal(y, x)
    # Negative control: the groups=1 kernel has the wrong shape for a grouped conv, and the
    # groups=1 layout on a (3, 3, c/groups, c) kernel does not give the identity.
    assert not np.array_equal(y_wrong, x)


def test_dirac_scale_and_channel_mismatch():
    x = jax.random.normal(jax.random.key(1), (1, 8, 4))
    y = _conv(x, jinit.dirac(2.5)(KEY, (3, 4, 6)))              # 4 -> 6 channels: pad with zeros
    assert np.array_equal(np.asarray(y[..., :4]), 2.5 * np.asarray(x))
    assert not np.any(np.asarray(y[..., 4:]))
    y = _conv(x, jinit.dirac()(KEY, (3, 4, 2)))                 # 4 -> 2: keep the first two
    assert np.array_equal(np.asarray(y), np.asarray(x[..., :2]))


def test_dirac_even_kernel_centre_is_k_over_2_and_shifts_same_padding_by_one():
    w = np.asarray(jinit.dirac()(KEY, (4, 3, 3)))
    assert np.array_equal(np.nonzero(w)[0], [2, 2, 2])          # k // 2, as PyTorch
    d = np.asarray(jinit.delta_orthogonal()(KEY, (4, 3, 3)))
    assert set(np.nonzero(d)[0]) == {1}                          # (k - 1) // 2, as jax/TF
    x = jax.random.normal(jax.random.key(1), (1, 9, 3))
    y = np.asarray(_conv(x, w))
    shifted = np.concatenate([np.asarray(x)[:, 1:], np.zeros((1, 1, 3))], axis=1)
    assert np.array_equal(y, shifted)                            # y[n] = x[n + 1]


@pytest.mark.torch
def test_dirac_matches_torch_dirac():
    torch = pytest.importorskip("torch")
    from jinit import layouts

    for oihw, groups in [((6, 6, 3), 1), ((8, 4, 3, 3), 2), ((9, 2, 4, 2), 3), ((4, 5, 3, 2, 5), 2),
                         ((6, 1, 5, 5), 6)]:
        expected = torch.nn.init.dirac_(torch.empty(oihw), groups).numpy()
        hwio = oihw[2:] + (oihw[1], oihw[0])
        got = np.asarray(layouts.hwio_to_oihw(jinit.dirac(groups=groups)(KEY, hwio)))
        assert np.array_equal(got, expected), (oihw, groups)


def test_dirac_errors():
    with pytest.raises(ValueError, match=r"dirac\(\): shape=\(3, 3\) has 2 axes; expected 3, 4 or 5"):
        jinit.dirac()(KEY, (3, 3))
    with pytest.raises(ValueError, match=r"dirac\(\): groups=4 does not divide the 6 output"):
        jinit.dirac(groups=4)(KEY, (3, 2, 6))
    with pytest.raises(ValueError, match=r"dirac\(\): groups=0 is out of range; expected an int >= 1"):
        jinit.dirac(groups=0)
    with pytest.raises(TypeError, match=r"dirac\(\): groups=1.5 is not an int"):
        jinit.dirac(groups=1.5)


# ----------------------------------------------------------------------------- hadamard_identity


def _sylvester(p):
    h = np.ones((1, 1))
    while h.shape[0] < p:
        h = np.block([[h, h], [h, -h]])
    return h


def _zero_reference(n_in, n_out, c2):
    """The ZerO matrix in PyTorch's (out, in) layout, as the paper builds it: c I* H I*."""
    if n_out <= n_in:
        return np.eye(n_out, n_in)
    p = 2 ** math.ceil(math.log2(n_out))
    return math.sqrt(c2(p)) * (np.eye(n_out, p) @ _sylvester(p) @ np.eye(p, n_in))


@pytest.mark.parametrize("n_in,n_out", [(4, 4), (8, 3), (3, 8), (16, 64), (5, 12), (1, 7), (33, 100)])
@pytest.mark.parametrize("normalization,c2", [("isometry", lambda p: 1 / p), ("paper", lambda p: 2 / p)])
def test_hadamard_identity_matches_the_paper_construction(n_in, n_out, normalization, c2, x64):
    w = np.asarray(jinit.hadamard_identity(normalization)(KEY, (n_in, n_out), jnp.float64))
    assert np.array_equal(w, _zero_reference(n_in, n_out, c2).T)


@pytest.mark.parametrize("n_in,n_out", [(16, 64), (1, 8), (3, 4), (7, 256)])
def test_hadamard_identity_norms_for_power_of_two_expansion(n_in, n_out, x64):
    iso = np.asarray(jinit.hadamard_identity("isometry")(KEY, (n_in, n_out), jnp.float64))
    paper = np.asarray(jinit.hadamard_identity("paper")(KEY, (n_in, n_out), jnp.float64))
    assert np.allclose(iso @ iso.T, np.eye(n_in), rtol=0, atol=1e-14)      # isometry
    assert np.allclose(paper @ paper.T, 2 * np.eye(n_in), rtol=0, atol=1e-14)  # doubles |x|^2
    x = np.random.default_rng(0).normal(size=(10, n_in))
    assert np.allclose(np.linalg.norm(x @ iso, axis=1), np.linalg.norm(x, axis=1), rtol=1e-13)
    assert np.allclose(np.linalg.norm(x @ paper, axis=1) ** 2, 2 * np.linalg.norm(x, axis=1) ** 2,
                       rtol=1e-13)


def test_hadamard_identity_row_norms_when_n_out_is_not_a_power_of_two(x64):
    n_in, n_out, p = 5, 12, 16
    iso = np.asarray(jinit.hadamard_identity()(KEY, (n_in, n_out), jnp.float64))
    paper = np.asarray(jinit.hadamard_identity("paper")(KEY, (n_in, n_out), jnp.float64))
    assert np.allclose(np.sum(iso ** 2, axis=1), n_out / p, rtol=1e-14)
    assert np.allclose(np.sum(paper ** 2, axis=1), 2 * n_out / p, rtol=1e-14)
    assert not np.allclose(iso @ iso.T, np.eye(n_in))               # not an exact isometry


def test_hadamard_identity_identity_branches_and_conv_centre():
    assert np.array_equal(jinit.hadamard_identity("paper")(KEY, (6, 6)), np.eye(6))
    assert np.array_equal(jinit.hadamard_identity("paper")(KEY, (6, 4)), np.eye(6, 4))
    w = np.array(jinit.hadamard_identity()(KEY, (3, 3, 4, 16)))
    assert np.array_equal(w[1, 1], np.asarray(jinit.hadamard_identity()(KEY, (4, 16))))
    w[1, 1] = 0
    assert not w.any()
    w = np.asarray(jinit.hadamard_identity()(KEY, (4, 2, 3, 3)))            # even sizes: k // 2
    assert np.array_equal(w[2, 1], np.eye(3))


def test_hadamard_identity_errors():
    with pytest.raises(ValueError, match=r"hadamard_identity\(\): normalization='code' is not valid; "
                                         r"expected one of 'isometry', 'paper'"):
        jinit.hadamard_identity("code")
    with pytest.raises(ValueError, match=r"hadamard_identity\(\): shape=\(4,\) has 1 axis; expected 2 to 5"):
        jinit.hadamard_identity()(KEY, (4,))


# -------------------------------------------------------------------------------- sparse


SPARSE_OUTGOING_CASES = [(0.25, (64, 40)), (0.07, (20, 100)), (0.0, (5, 7)), (0.99, (3, 50)),
                         (0.5, (1, 1))]
SPARSE_INCOMING_CASES = [(15, (100, 30)), (1, (4, 4)), (6, (3, 3, 2, 5)), (8, (8, 3))]


@functools.cache
def _sparse_counts():
    """Every case of the two exact-count tests, drawn at ``KEY`` by one jitted program.

    One compile instead of one program per op and shape (the zero pattern under jit is the
    eager one: ``test_eager_jit_vmap_eval_shape_agree``).
    """
    def run(key):
        return ([jinit.sparse_outgoing(s)(key, shape) for s, shape in SPARSE_OUTGOING_CASES],
                [jinit.sparse_incoming(k)(key, shape) for k, shape in SPARSE_INCOMING_CASES])

    return jax.tree.map(np.asarray, law_jit(run)(KEY))


@pytest.mark.parametrize("sparsity,shape", SPARSE_OUTGOING_CASES)
def test_sparse_outgoing_exact_zero_count_per_input_row(sparsity, shape):
    w = _sparse_counts()[0][SPARSE_OUTGOING_CASES.index((sparsity, shape))]
    assert w.shape == shape
    n_zeros = math.ceil(sparsity * shape[1])  # 0.07 * 100 = 7.000000000000001 -> 8, as PyTorch
    assert np.all(np.sum(w == 0, axis=1) == n_zeros)
    if (sparsity, shape[1]) == (0.07, 100):
        assert n_zeros == 8


def test_sparse_outgoing_values_are_normal_with_std():
    std, n_zeros = 0.03, 10
    w = _law_draw(jinit.sparse_outgoing(0.25, std), (64, 40), 200)
    nonzero = w[w != 0]
    assert nonzero.size == 200 * 64 * (40 - n_zeros)
    assert _variance_ok(nonzero, std ** 2)
    assert not _variance_ok(nonzero, (1.02 * std) ** 2)            # negative control
    # Shape of the law: DKW band against the N(0, std^2) CDF.
    x = np.sort(nonzero.astype(np.float64))
    ecdf = np.arange(1, x.size + 1) / x.size
    band = math.sqrt(math.log(2 / ALPHA) / (2 * x.size))
    assert np.max(np.abs(ecdf - _norm_cdf(x / std))) <= band
    half = std * 3 ** 0.5  # negative control: the uniform law with the same variance
    assert np.max(np.abs(ecdf - np.clip((x + half) / (2 * half), 0, 1))) > band


def test_sparse_outgoing_zero_positions_are_uniform_and_rows_independent():
    trials, shape, n_zeros = 4000, (6, 10), 3
    w = _law_draw(jinit.sparse_outgoing(0.3, 1.0), shape, trials)
    zero = w == 0
    assert np.all(zero.sum(axis=2) == n_zeros)
    assert _subset_chi2(zero.sum(axis=0), trials, n_zeros)
    # Rows independent: the overlap of the zero sets of rows 0 and 1 is then hypergeometric,
    # mean m^2/n and variance m (m/n) ((n-m)/n) ((n-m)/(n-1)); a shared permutation gives m.
    n, m = shape[1], n_zeros
    both = np.sum(zero[:, 0] & zero[:, 1], axis=1).astype(np.float64)
    var = m * (m / n) * ((n - m) / n) * ((n - m) / (n - 1))
    assert abs(both.mean() - m * m / n) <= Z * math.sqrt(var / trials)
    # Negative control: positions drawn with a slight bias towards the first column fail.
    # Successive sampling without replacement with weights w (numpy's choice(..., p=w/sum w))
    # is, in law, the m largest of u^(1/w), u uniform (Efraimidis & Spirakis 2006): all rows
    # and trials at once.
    rng = np.random.default_rng(0)
    weights = np.ones(shape[1])
    weights[0] = 1.25
    scores = np.log(rng.random((trials,) + shape)) / weights
    picked = np.argsort(-scores, axis=-1)[..., :n_zeros]
    biased = np.stack([np.bincount(picked[:, r].ravel(), minlength=shape[1])
                       for r in range(shape[0])])
    assert not _subset_chi2(biased, trials, n_zeros)


def test_sparse_outgoing_depends_only_on_the_key():
    init = jinit.sparse_outgoing(0.5)
    a, b = init(KEY, (16, 16)), init(KEY, (16, 16))
    assert np.array_equal(a, b)
    jitted = jax.jit(init, static_argnums=(1, 2))(KEY, (16, 16), jnp.float32)
    assert np.array_equal(jitted == 0, a == 0)
    c = init(jax.random.key(1), (16, 16))
    assert not np.array_equal(a == 0, c == 0)


@pytest.mark.torch
def test_sparse_outgoing_matches_torch_counts_on_the_transposed_layout():
    torch = pytest.importorskip("torch")
    for sparsity, n_in, n_out in [(0.07, 7, 100), (0.25, 5, 40), (0.7, 3, 9)]:
        g = torch.Generator().manual_seed(0)
        t = torch.nn.init.sparse_(torch.empty(n_out, n_in), sparsity, generator=g).numpy()
        ours = np.asarray(jinit.sparse_outgoing(sparsity)(KEY, (n_in, n_out)))
        # PyTorch: zeros per column of (out, in) == zeros per row of Flax's (in, out).
        assert np.array_equal(np.sum(t == 0, axis=0), np.sum(ours == 0, axis=1))


@pytest.mark.torch
def test_sparse_outgoing_values_match_torch_with_its_default_std():
    """Same default std (0.01) and the same law of the non-zero values as torch's sparse_."""
    import inspect

    torch = pytest.importorskip("torch")
    default = inspect.signature(jinit.sparse_outgoing).parameters["std"].default
    assert default == inspect.signature(torch.nn.init.sparse_).parameters["std"].default == 0.01
    g = torch.Generator().manual_seed(0)
    theirs = np.concatenate([torch.nn.init.sparse_(torch.empty(100, 50), 0.3, generator=g).numpy()
                             .ravel() for _ in range(120)]).astype(np.float64)
    ours = _law_draw(jinit.sparse_outgoing(0.3), (50, 100), 120).astype(np.float64).ravel()
    assert np.sum(theirs == 0) == np.sum(ours == 0) == 120 * 50 * 30
    theirs, ours = theirs[theirs != 0], ours[ours != 0]
    at = np.linspace(-0.04, 0.04, 161)
    gap = lambda a, b: np.max(np.abs(np.searchsorted(np.sort(a), at, "right") / a.size  # noqa: E731
                                     - np.searchsorted(np.sort(b), at, "right") / b.size))
    band = 2 * math.sqrt(math.log(4 / ALPHA) / (2 * ours.size))  # two DKW bands at ALPHA/2
    assert gap(ours, theirs) <= band
    assert gap(1.05 * ours, theirs) > band                          # negative control


def test_sparse_outgoing_errors():
    with pytest.raises(ValueError, match=r"sparse_outgoing\(\): sparsity=1.0 is out of range; "
                                         r"expected a fraction in \[0, 1\)"):
        jinit.sparse_outgoing(1.0)
    with pytest.raises(ValueError, match=r"sparse_outgoing\(\): sparsity=-0.1 is out of range"):
        jinit.sparse_outgoing(-0.1)
    with pytest.raises(ValueError, match=r"sparse_outgoing\(\): std=-1 is out of range"):
        jinit.sparse_outgoing(0.5, -1)
    with pytest.raises(ValueError, match=r"sparse_outgoing\(\): shape=\(3, 3, 4\) has 3 axes; "
                                         r"expected 2 axes"):
        jinit.sparse_outgoing(0.5)(KEY, (3, 3, 4))


@pytest.mark.parametrize("k,shape", SPARSE_INCOMING_CASES)
def test_sparse_incoming_exact_nonzero_count_per_unit(k, shape):
    w = _sparse_counts()[1][SPARSE_INCOMING_CASES.index((k, shape))]
    assert w.shape == shape
    per_unit = np.sum(w.reshape(-1, shape[-1]) != 0, axis=0)
    assert np.all(per_unit == k)


def test_sparse_incoming_values_and_positions():
    k, scale, shape, trials = 4, 2.0, (12, 5), 4000
    w = _law_draw(jinit.sparse_incoming(k, scale), shape, trials)
    nonzero = w[w != 0]
    assert nonzero.size == trials * k * shape[1]
    assert _variance_ok(nonzero, scale ** 2)
    assert not _variance_ok(nonzero, 1.05 * scale ** 2)            # negative control
    chosen = (w != 0).sum(axis=0).T                                  # (units, fan_in)
    assert _subset_chi2(chosen, trials, k)
    # Negative control: the same counts with one position doubled in one unit must fail.
    skewed = chosen.copy()
    skewed[0, 0] += trials * k / shape[0] * 0.25
    assert not _subset_chi2(skewed, trials, k)


def test_sparse_incoming_errors():
    with pytest.raises(ValueError, match=r"sparse_incoming\(\): k=15 exceeds the 9 incoming "
                                         r"connections of each unit of shape=\(9, 4\); expected k <= 9"):
        jinit.sparse_incoming()(KEY, (9, 4))
    with pytest.raises(ValueError, match=r"sparse_incoming\(\): k=0 is out of range"):
        jinit.sparse_incoming(0)
    with pytest.raises(TypeError, match=r"sparse_incoming\(\): k=2.0 is not an int"):
        jinit.sparse_incoming(2.0)
    with pytest.raises(ValueError, match=r"sparse_incoming\(\): shape=\(4,\) has 1 axis"):
        jinit.sparse_incoming(2)(KEY, (4,))


# ----------------------------------------------------------------------- conv_orthogonal


def _circular(x, w):
    """Circular (periodic) cross-correlation, channels last: wrap-pad then VALID."""
    ks = w.shape[:-2]
    pad = [(0, 0)] + [((k - 1) // 2, k // 2) for k in ks] + [(0, 0)]
    return _conv(jnp.pad(x, pad, mode="wrap"), w, padding="VALID")


@pytest.mark.parametrize("shape", [(3, 8, 8), (4, 5, 12), (3, 3, 8, 16), (3, 5, 6, 6), (2, 3, 2, 3, 7)])
def test_conv_orthogonal_circular_convolution_preserves_the_norm(shape, x64):
    scale = 1.7

    def run(key, key_x):  # one program: a law (a norm), not bits
        w = jinit.conv_orthogonal(scale)(key, shape, jnp.float64)
        x = jax.random.normal(key_x, (3,) + (7,) * (len(shape) - 2) + (shape[-2],), jnp.float64)
        # Negative controls: a He-normal kernel, and the kernel with one tap perturbed.
        he = jinit.he_normal()(key, shape, jnp.float64)
        bad = w.reshape(-1).at[0].add(1e-3).reshape(shape)
        return x, _circular(x, w), _circular(x, he), _circular(x, bad)

    x, y, he_y, bad_y = (np.linalg.norm(np.asarray(a).reshape(3, -1), axis=1)
                         for a in law_jit(run)(KEY, jax.random.key(1)))
    assert np.allclose(y, scale * x, rtol=1e-12, atol=0)
    assert not np.allclose(he_y, scale * x, rtol=1e-3)
    assert not np.allclose(bad_y, scale * x, rtol=1e-9, atol=0)


def test_conv_orthogonal_is_paraunitary_and_spread_over_taps(x64):
    shape = (3, 4, 6, 10)
    w = np.asarray(jinit.conv_orthogonal()(KEY, shape, jnp.float64))
    # Frequency response M(z) = sum_t W[t] z^t is an isometry at every point of the unit torus.
    for w1, w2 in [(0.3, 1.1), (2.0, -0.7), (np.pi, np.pi / 3)]:
        m = sum(w[t] * np.exp(1j * (w1 * t[0] + w2 * t[1])) for t in np.ndindex(*shape[:2]))
        assert np.allclose(m @ m.conj().T, np.eye(6), atol=1e-12)
    assert math.isclose(np.sum(w ** 2), 6.0, rel_tol=1e-13)          # sum of squares = c_in
    assert np.sum(w[1, 1] ** 2) < 6.0 - 0.1                          # not a delta kernel


N_BATCH = 1000  # vmapped keys: test_conv_orthogonal_moments_over_keys's sample size


@functools.cache
def _conv_orthogonal_batch():
    """``jinit.conv_orthogonal()`` at (3, 3, 4, 8), vmapped over ``_keys(N_BATCH)``; shared by
    the moments test and the vmap check of ``test_eager_jit_vmap_eval_shape_agree`` (one
    compile of the batched QR program, not two)."""
    return _draw(jinit.conv_orthogonal(), (3, 3, 4, 8), N_BATCH)


def test_conv_orthogonal_moments_over_keys():
    shape, n = (3, 3, 4, 8), N_BATCH
    w = _conv_orthogonal_batch()
    assert w.shape == (n,) + shape
    # E[w] = 0 (symmetric law); average second moment exactly 1 / (c_out * prod k).
    per_draw = w.reshape(n, -1).astype(np.float64)
    assert np.allclose(np.sum(per_draw ** 2, axis=1), 4.0, rtol=1e-5)
    sd = per_draw.std()
    assert abs(per_draw.mean()) <= Z * sd / math.sqrt(per_draw.size)
    assert np.abs(w).max() <= 1.0


def test_conv_orthogonal_size_one_kernel_is_an_orthogonal_matrix():
    w = np.asarray(jinit.conv_orthogonal()(KEY, (1, 1, 16, 32)))
    assert np.allclose(w[0, 0] @ w[0, 0].T, np.eye(16), atol=1e-5)


def test_conv_orthogonal_complex_and_low_precision():
    lows = (jnp.bfloat16, jnp.float16, jnp.float8_e4m3fn)

    def run(key, key_x):  # one program: norms and bounds, not bits
        x = jax.random.normal(key_x, (2, 8, 8, 4), jnp.complex64)
        w = jinit.conv_orthogonal()(key, (3, 3, 4, 6), jnp.complex64)
        low = [jinit.conv_orthogonal(2.0)(key, (3, 3, 4, 6), dt) for dt in lows]
        wb = jinit.conv_orthogonal()(key, (3, 3, 4, 6), jnp.bfloat16).astype(jnp.float32)
        xr = jax.random.normal(key_x, (2, 8, 8, 4))
        return x, w, _circular(x, w), low, xr, _circular(xr, wb)

    x, w, y, low, xr, yr = law_jit(run)(KEY, jax.random.key(1))
    assert w.dtype == jnp.complex64
    assert np.allclose(np.linalg.norm(np.asarray(y)), np.linalg.norm(np.asarray(x)), rtol=1e-5)
    for dt, w in zip(lows, low, strict=True):
        assert w.dtype == dt
        w32 = np.asarray(w.astype(jnp.float32))
        assert np.all(np.isfinite(w32)) and np.abs(w32).max() <= 2.0
    assert np.allclose(np.linalg.norm(np.asarray(yr)), np.linalg.norm(np.asarray(xr)), rtol=2e-2)


def test_conv_orthogonal_errors():
    with pytest.raises(ValueError, match=r"conv_orthogonal\(\): shape=\(3, 3, 8, 4\) has more input "
                                         r"channels \(8\) than output channels \(4\); expected "
                                         r"shape\[-2\] <= shape\[-1\]"):
        jinit.conv_orthogonal()(KEY, (3, 3, 8, 4))
    with pytest.raises(ValueError, match=r"conv_orthogonal\(\): shape=\(4, 4\) has 2 axes; "
                                         r"expected 3, 4 or 5 axes"):
        jinit.conv_orthogonal()(KEY, (4, 4))
    with pytest.raises(ValueError, match=r"conv_orthogonal\(\): scale=-1.0 is out of range"):
        jinit.conv_orthogonal(-1.0)


# ------------------------------------------------------------------------------- common

ALL = [
    ("identity", lambda: jinit.identity(2.0), (4, 8, 8)),
    ("dirac", lambda: jinit.dirac(groups=2), (3, 3, 4, 8)),
    ("hadamard_identity", lambda: jinit.hadamard_identity(), (8, 32)),
    ("sparse_outgoing", lambda: jinit.sparse_outgoing(0.5), (16, 24)),
    ("sparse_incoming", lambda: jinit.sparse_incoming(3), (3, 3, 4, 8)),
    ("conv_orthogonal", lambda: jinit.conv_orthogonal(), (3, 3, 4, 8)),
]


@pytest.mark.parametrize("name,make,shape", ALL)
def test_eager_jit_vmap_eval_shape_agree(name, make, shape):
    init = make()
    keys = _keys(N_BATCH)
    eager = init(keys[0], shape)
    jitted = jax.jit(init, static_argnums=(1, 2))(keys[0], shape, jnp.float32)
    if name == "conv_orthogonal":  # the same vmapped program as the moments test
        assert (repr(init), shape) == (repr(jinit.conv_orthogonal()), (3, 3, 4, 8))
        batch = _conv_orthogonal_batch()
    else:
        batch = _draw(init, shape, N_BATCH)
    assert batch.shape == (N_BATCH,) + shape
    for other in (jitted, batch[0]):
        # Zero patterns agree exactly; values to an ulp (XLA may fuse the scaling of a normal
        # draw differently under jit, as it does for jax.random.normal(...) * std itself).
        assert np.array_equal(np.asarray(other) == 0, np.asarray(eager) == 0)
        assert np.allclose(other, eager, rtol=1e-6, atol=0)
    assert jax.eval_shape(lambda k: init(k, shape), KEY) == jax.ShapeDtypeStruct(shape, jnp.float32)
    assert repr(init).startswith(f"jinit.{name}(")


@pytest.mark.parametrize("name,make,shape", ALL)
def test_sharded_output_equals_unsharded(name, make, shape):
    init = make()
    mesh = jax.make_mesh((8,), ("x",))
    sharding = NamedSharding(mesh, P(*([None] * (len(shape) - 1)), "x"))
    eager = init(KEY, shape, jnp.float32, sharding)
    assert eager.sharding == sharding
    jitted = jax.jit(init, static_argnums=(1, 2), out_shardings=sharding)(KEY, shape, jnp.float32)
    # conv_orthogonal's matrix products may be partitioned under jit: equal to float rounding.
    atol = 1e-6 if name == "conv_orthogonal" else 0
    for a, b in ((eager, init(KEY, shape)), (jitted, eager)):
        assert np.array_equal(np.asarray(a) == 0, np.asarray(b) == 0)
        assert np.allclose(a, b, rtol=1e-6, atol=atol)


@pytest.mark.parametrize("name,make,shape", ALL)
def test_zero_size_shapes_give_empty_arrays(name, make, shape):
    for zero_shape in (shape[:-1] + (0,), (0,) + shape[1:]):
        w = make()(KEY, zero_shape, jnp.bfloat16)
        assert w.shape == zero_shape and w.dtype == jnp.bfloat16


@pytest.mark.parametrize("name,make,shape", ALL)
def test_low_precision_outputs_are_finite(name, make, shape):
    for dt in (jnp.bfloat16, jnp.float16, jnp.float8_e4m3fn, jnp.float8_e5m2):
        w = make()(KEY, shape, dt)
        assert w.dtype == dt and np.all(np.isfinite(np.asarray(w.astype(jnp.float32))))


def test_flax_layers_accept_the_structured_initializers():
    nn = pytest.importorskip("flax.linen")
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 4))
    conv = nn.Conv(4, (3, 3), kernel_init=jinit.dirac(), use_bias=False)
    params = conv.init(KEY, x)
    assert np.array_equal(conv.apply(params, x), x)
    conv = nn.Conv(8, (3, 3), kernel_init=jinit.conv_orthogonal(), padding="CIRCULAR", use_bias=False)
    y = conv.apply(conv.init(KEY, x), x)
    assert np.allclose(np.linalg.norm(y), np.linalg.norm(x), rtol=1e-5)
    dense = nn.Dense(32, kernel_init=jinit.hadamard_identity(), use_bias=False)
    z = jax.random.normal(KEY, (5, 8))
    out = dense.apply(dense.init(KEY, z), z)
    assert np.allclose(np.linalg.norm(out, axis=1), np.linalg.norm(z, axis=1), rtol=1e-5)
