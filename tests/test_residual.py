"""Residual-depth schemes: Fixup's depth-invariant first update, SkipInit/ReZero, T-Fixup.

The Fixup claim (Zhang, Dauphin & Ma 2019, §3) is about the first SGD step of a residual
network ``x_{l+1} = x_l + W2_l relu(W1_l x_l)`` whose last branch layers ``W2_l`` start at 0:
each branch moves the representation by ``-eta |h_l|^2 g``-like terms, where ``h_l`` is the
branch's hidden activation. With plain He branches every branch contributes Theta(eta) and
the total grows like L; with Fixup's ``L^(-1/(2m-2))`` scaling each contributes Theta(eta/L)
and the total is depth-invariant. The tests measure that slope over L = 4 ... 64.
"""

import importlib.util
import math
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _compile import law_jit

import jinit
from jinit import residual

WIDTH, BATCH, CLASSES, ETA = 64, 32, 10, 0.1
DEPTHS = (4, 16, 64)
KEYS = 8


def _params(key, depth, branch_init, last_init):
    k1, k2, k3 = jax.random.split(key, 3)
    w1 = jax.vmap(lambda k: branch_init(k, (WIDTH, WIDTH)))(jax.random.split(k1, depth))
    w2 = jax.vmap(lambda k: last_init(k, (WIDTH, WIDTH)))(jax.random.split(k2, depth))
    # A nonzero classifier, so that gradients reach the branches at the first step.
    cls = jinit.lecun_normal()(k3, (WIDTH, CLASSES))
    return {"w1": w1, "w2": w2, "cls": cls}


def _features(p, x):
    def block(h, w):
        return h + jax.nn.relu(h @ w[0]) @ w[1], None

    h, _ = jax.lax.scan(block, x, (p["w1"], p["w2"]))
    return h


def _loss(p, x, y):
    logits = _features(p, x) @ p["cls"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def _first_update(depth, branch_init, last_init=jinit.zeros):
    """Mean over keys of |features after one SGD step - features before| / sqrt(batch)."""

    def one(key):
        kp, kx, ky = jax.random.split(key, 3)
        p = _params(kp, depth, branch_init, last_init)
        x = jax.random.normal(kx, (BATCH, WIDTH))
        y = jax.random.randint(ky, (BATCH,), 0, CLASSES)
        g = jax.grad(_loss)(p, x, y)
        p1 = jax.tree_util.tree_map(lambda a, b: a - ETA * b, p, g)
        return jnp.linalg.norm(_features(p1, x) - _features(p, x)) / math.sqrt(BATCH)

    keys = jax.random.split(jax.random.key(2019), KEYS)
    return float(jnp.mean(law_jit(jax.vmap(one))(keys)))


def _slope(sizes):
    return float(np.polyfit(np.log(DEPTHS), np.log(sizes), 1)[0])


def test_fixup_first_update_is_depth_invariant_while_zero_last_layer_alone_grows():
    fixup = [_first_update(L, residual.fixup_inits(L, 2).branch) for L in DEPTHS]
    plain = [_first_update(L, jinit.he_normal()) for L in DEPTHS]
    # Theory: slope 0 (Fixup) and 1 (He branches, last layer zero). Over a 16x range of depth
    # a slope of 0.15 is a 1.5x drift; the plain scheme's 64-block update is ~16x its 4-block one.
    assert abs(_slope(fixup)) < 0.15, fixup
    assert _slope(plain) > 0.8, plain
    assert plain[-1] / fixup[-1] > 20


def _variance_matches(init, expected):
    """Whether 64 vmapped (128, 128) draws of ``init`` have variance ``expected``.

    Normal entries: the sample variance has relative sd sqrt(2/n); 5 sd ~ alpha 6e-7.
    """
    w = jax.vmap(lambda k: init(k, (128, 128)))(jax.random.split(jax.random.key(0), 64))
    measured = float(np.asarray(w, np.float64).var())
    return abs(measured / expected - 1) < 5 * math.sqrt(2 / w.size)


def test_fixup_branch_variance_and_recipe():
    L, m = 16, 3
    inits = residual.fixup_inits(L, m)
    expected = 2.0 / 128 * L ** (-1.0 / (m - 1))
    assert _variance_matches(inits.branch, expected)
    # Negative controls on drawn data: He without the depth factor (4x), and the standard-
    # deviation factor L^(-1/(2m-2)) applied to the variance instead (2x), must be rejected.
    assert not _variance_matches(jinit.variance_scaling(2.0, "fan_in", "normal"), expected)
    assert not _variance_matches(
        jinit.variance_scaling(2.0 * L ** (-1.0 / (2 * m - 2)), "fan_in", "normal"), expected)
    assert float(jnp.abs(inits.last(jax.random.key(0), (4, 4))).sum()) == 0.0
    assert float(jnp.abs(inits.classifier(jax.random.key(0), (4, 3))).sum()) == 0.0
    assert float(inits.multiplier(jax.random.key(0), ())) == 1.0
    # fixup() equals variance_scaling with the scaled factor, bit for bit.
    key = jax.random.key(7)
    a = residual.fixup(L, m)(key, (32, 48))
    b = jinit.variance_scaling(2.0 * L ** (-1.0 / (m - 1)), "fan_in", "normal")(key, (32, 48))
    assert bool(jnp.array_equal(a, b))


def test_rezero_branch_starts_as_identity_and_first_update_is_depth_invariant():
    alpha = residual.rezero()(jax.random.key(0), ())
    assert alpha.shape == () and float(alpha) == 0.0

    def first_update(depth):
        def one(key):
            kp, kx, ky = jax.random.split(key, 3)
            p = _params(kp, depth, jinit.he_normal(), jinit.he_normal())
            p["alpha"] = jax.vmap(lambda k: residual.rezero()(k, ()))(jax.random.split(kp, depth))
            x = jax.random.normal(kx, (BATCH, WIDTH))
            y = jax.random.randint(ky, (BATCH,), 0, CLASSES)

            def feats(q):
                def block(h, w):
                    return h + w[2] * (jax.nn.relu(h @ w[0]) @ w[1]), None
                return jax.lax.scan(block, x, (q["w1"], q["w2"], q["alpha"]))[0]

            def loss(q):
                logits = feats(q) @ q["cls"]
                return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

            before = feats(p)
            assert_identity = jnp.max(jnp.abs(before - x))
            g = jax.grad(loss)(p)
            p1 = jax.tree_util.tree_map(lambda a, b: a - ETA * b, p, g)
            return jnp.linalg.norm(feats(p1) - before) / math.sqrt(BATCH), assert_identity

        size, ident = law_jit(jax.vmap(one))(jax.random.split(jax.random.key(2020), KEYS))
        assert float(jnp.max(ident)) == 0.0  # every branch starts switched off
        return float(jnp.mean(size))

    # With alpha = 0 only the alphas move at step one, each by Theta(eta); their effect on the
    # features is Theta(eta^2 * L) -- small, but it does grow with depth. What ReZero promises
    # is the identity at init and a first update far below the plain network's.
    sizes = [first_update(L) for L in (4, 64)]
    plain = _first_update(64, jinit.he_normal())
    assert sizes[1] < plain / 10, (sizes, plain)


@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_tfixup_scale_matches_the_paper(part):
    # Huang et al. 2020: encoder weights scaled by 0.67 N^(-1/4), decoder by (9N)^(-1/4).
    n = 6
    factor = 0.67 * n ** -0.25 if part == "encoder" else (9 * n) ** -0.25
    key = jax.random.key(3)
    w = jax.vmap(lambda k: residual.tfixup(n, part)(k, (256, 256)))(jax.random.split(key, 32))
    # Xavier-uniform base: variance 2 / (fan_in + fan_out) times factor^2.
    expected = 2.0 / 512 * factor ** 2
    n_draws = w.size
    # Uniform entries: kurtosis 1.8, relative sd of the sample variance sqrt(0.8/n).
    tol = 5 * math.sqrt(0.8 / n_draws)
    measured = float(jnp.var(w))
    assert abs(measured / expected - 1) < tol, (measured, expected)
    # Negative control: the other part's factor ((0.67 / 54^(-1/4))^2 = 1.36x in variance)
    # and plain Xavier (no depth factor) must both be rejected by the same tolerance.
    other = (9 * n) ** -0.25 if part == "encoder" else 0.67 * n ** -0.25
    assert abs(measured / (2.0 / 512 * other ** 2) - 1) > tol
    assert abs(measured / (2.0 / 512) - 1) > tol


def test_tfixup_embedding_matches_the_paper():
    # Algorithm 1: Gaussian embeddings of standard deviation d^(-1/2) (the authors' code), then
    # scaled by (9N)^(-1/4): Var = (9N)^(-1/2) / d, written out here.
    n, vocab, d = 6, 512, 128
    key = jax.random.key(5)
    e = jax.vmap(lambda k: residual.tfixup_embedding(n)(k, (vocab, d)))(
        jax.random.split(key, 16))
    expected = (9 * n) ** -0.5 / d
    x = np.asarray(e, np.float64)
    measured = float(x.var())
    # Normal entries: relative sd of the sample variance sqrt(2/n); 5 sd ~ alpha 6e-7.
    tol = 5 * math.sqrt(2 / e.size)
    assert abs(measured / expected - 1) < tol, (measured, expected)
    assert abs(float(x.mean())) < 5 * math.sqrt(expected / e.size)
    # Negative controls: the unscaled N(0, 1/d) and the encoder-weight factor 0.67 N^(-1/4).
    assert abs(measured / (1 / d) - 1) > tol
    assert abs(measured / (0.67 ** 2 * n ** -0.5 / d) - 1) > tol


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: residual.fixup(0, 2), r"residual\.fixup\(\): num_branches=0"),
        (lambda: residual.fixup(4, 1), r"residual\.fixup\(\): layers_per_branch=1"),
        (lambda: residual.fixup(4, 2, distribution="cauchy"), r"distribution='cauchy'"),
        (lambda: residual.tfixup(6, "middle"), r"part='middle'"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _load_example(name):
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.standard_promotion  # optax's sgd with momentum
def test_deep_residual_mlp_trains_from_fixup_and_skipinit_not_from_he(capsys):
    # examples/residual_fixup.py, reduced: 32 blocks of width 32 without normalization, 100
    # SGD steps. Fixup and SkipInit start at loss ~ln 10 and fall below half of it (measured:
    # 2.30 -> 0.42 and 2.70 -> 0.51); plain He branches double the signal's variance per
    # block, so the first loss is ~4e7 and the next step is nan. He is the negative control:
    # the same "trains" criterion must reject it.
    out = _load_example("residual_fixup").main(
        ["--depth", "32", "--width", "32", "--steps", "100", "--batch", "32",
         "--samples", "1024"])
    summary = out["summary"]
    for scheme in ("fixup", "skipinit"):
        assert summary[scheme]["trains"], summary
        assert np.all(np.isfinite(out["curves"][scheme])), scheme
        assert summary[scheme]["final"] < 0.5 * math.log(10), summary
    assert not summary["he"]["trains"], summary
    assert summary["he"]["initial"] > 1e3 or not np.isfinite(summary["he"]["final"]), summary
    assert "fixup" in capsys.readouterr().out
