"""The truncated normal at wide bounds: no point mass at a bound, and the checks that see one.

jax draws ``u`` uniform on ``[erf(a/√2), erf(b/√2))`` and returns ``√2 erf_inv(u)`` clipped
to ``(a, b)``. Once ``erf`` rounds a bound to ±1 (float32: ``a <= -5.38``), the lowest
uniform value is ``u = -1``, ``erf_inv(-1) = -inf`` and the clip puts one draw in ``2^23``
exactly at the bound (PyTorch's absolute ±2 at σ = 0.02 is ±100σ). These tests pin the
end points of that map, the whole path (presets, dtypes, the fallback to ``jax.random``),
the bits left unchanged, and the verifier's and the audit's count of values at a bound,
each with its negative control.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit import _fastbits, laws, presets
from jinit.audit import _tests as audit_tests
from jinit.laws import TruncatedNormal
from jinit.verify import _moments, _verdicts

F32 = np.dtype(np.float32)
Z_LOW = -5.419983  # √2 erf_inv(nextafter(-1, 0)) in float32: the lowest value of jax's normal


def _zero_bits(monkeypatch, fill: int = 0):
    """Every random word ``fill``: ``u`` is the lowest uniform value (all zeros) or the highest."""
    def bits(k0, k1, shape, width, counter=None):
        return jnp.full(shape, fill, np.dtype(f"uint{width}"))
    monkeypatch.setattr(_fastbits, "_bits", bits)


# ----------------------------------------------------------------- the map's end points


@pytest.mark.parametrize("lower, upper", [(-100.0, 100.0), (-10.0, 10.0), (-6.0, 3.0)])
def test_clipped_bound_from_u_minus_one_moves_inside(lower, upper):
    lo = np.nextafter(F32.type(lower), F32.type(0))
    hi = np.nextafter(F32.type(upper), F32.type(0))
    out = np.asarray(_fastbits.off_the_ends(jnp.array([lo, hi, 0.5], F32), lower, upper, F32))
    assert out[0] == np.float32(Z_LOW) and out[0] > lower
    # erf(3/√2) is not 1: the upper clip value is a legitimate draw there and stays.
    assert out[1] == (-np.float32(Z_LOW) if upper > 6 else hi)
    assert out[2] == 0.5


def test_float64_lowest_draw_lands_inside(x64, monkeypatch):
    f64 = np.dtype(np.float64)
    lo = np.nextafter(-100.0, 0.0)
    out = np.asarray(_fastbits.off_the_ends(jnp.array([lo, 8.0], f64), -100.0, 100.0, f64))
    assert -8.3 < out[0] < -8.29 and out[1] == 8.0
    _zero_bits(monkeypatch)
    with jax.disable_jit():
        w = jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)(jax.random.key(0), (3,), f64)
    np.testing.assert_array_equal(np.asarray(w), out[0])
    # bounds that erf does not round to -1 in float64 (8σ) keep the clipped value
    x = jnp.array([np.nextafter(-8.0, 0.0)], f64)
    np.testing.assert_array_equal(_fastbits.off_the_ends(x, -8.0, 8.0, f64), x)


@pytest.mark.parametrize("bound", [2.0, 3.0, 5.0])
def test_moderate_bounds_are_untouched(bound):
    x = jnp.array([np.nextafter(F32.type(-bound), F32.type(0)), -1.0, 0.0,
                   np.nextafter(F32.type(bound), F32.type(0))], F32)
    np.testing.assert_array_equal(_fastbits.off_the_ends(x, -bound, bound, F32), x)


def test_lowest_uniform_draw_lands_inside_the_support(monkeypatch):
    _zero_bits(monkeypatch)  # every u = erf(lower/√2) = -1
    key = jax.random.key(0)
    with jax.disable_jit():
        w = jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)(key, (4, 3))
        p = presets.torch_trunc_normal(std=0.02)(key, (4, 3))
        h = presets.torch_trunc_normal(std=0.02)(key, (4, 3), jnp.bfloat16)
        u = jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)(key, (4, 3), jnp.float16)
    np.testing.assert_array_equal(np.asarray(w), np.float32(Z_LOW))
    assert np.all(np.asarray(p) > -0.11) and np.all(np.asarray(p) < -0.1)
    assert np.all(np.asarray(h, np.float32) > -0.11) and np.all(np.isfinite(np.asarray(u)))
    assert np.all(np.asarray(u, np.float32) > -5.5)


def test_highest_uniform_draw_stays_finite_and_inside(monkeypatch):
    _zero_bits(monkeypatch, 0xFFFFFFFF)  # u = the largest uniform value, below erf(upper/√2)
    with jax.disable_jit():
        w = jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)(jax.random.key(0), (5,))
        c = jinit.he_normal()(jax.random.key(0), (8, 4), jnp.complex64)
    assert np.all(np.asarray(w) < 5.2) and np.all(np.asarray(w) > 5.1)
    # Complex: |z|^2 inverts the truncated Exp(1) CDF, log(1 - t) with t < 1 - e^-4: finite.
    r = np.abs(np.asarray(c))
    assert np.all(np.isfinite(r)) and np.all(r > 0) and np.ptp(r) == 0


def test_fallback_to_jax_random_has_no_atom_either():
    # An rbg key goes to jax.random.truncated_normal; its clipped-bound output is repaired the same way.
    key = jax.random.key(3, impl="rbg")
    out = _fastbits.truncated_normal(key, -100.0, 100.0, (64,), F32)
    ref = jax.random.truncated_normal(key, -100.0, 100.0, (64,), F32)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(_fastbits.off_the_ends(ref, -100.0, 100.0, F32)))
    np.testing.assert_array_equal(
        np.asarray(_fastbits._jit_off_the_ends(jnp.array([np.nextafter(F32.type(-100), F32.type(0))]),
                                              -100.0, 100.0)), np.float32(Z_LOW))


def test_default_bounds_stay_bit_identical_to_jax():
    key = jax.random.key(11)
    for lower, upper in ((-2.0, 2.0), (-3.0, 3.0), (-1.5, 0.25)):
        ours = jinit.truncated_normal(0.02, lower=lower, upper=upper)(key, (256, 512))
        ref = jax.random.truncated_normal(key, lower, upper, (256, 512), F32) * np.float32(0.02)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    ours = jax.jit(jinit.truncated_normal(0.02), static_argnums=1)(key, (256, 512))
    ref = jax.jit(jax.nn.initializers.truncated_normal(0.02), static_argnums=1)(key, (256, 512))
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))


def test_sharded_and_jitted_draws_have_no_atom():
    """2^24 draws at ±100σ (seed 1: jax puts 4 on the bound): sharded over 8 devices, jitted
    and eager give one array, with jax's bits everywhere but at those 4."""
    key, shape = jax.random.key(1), (1 << 12, 1 << 12)
    init = jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)
    ref = np.asarray(jax.random.truncated_normal(key, -100.0, 100.0, shape, F32))
    eager = np.asarray(init(key, shape))
    mesh = jax.make_mesh((2, 4), ("a", "b"), axis_types=(jax.sharding.AxisType.Explicit,) * 2)
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("a", "b"))
    with jax.set_mesh(mesh):
        sharded = init(key, shape, out_sharding=sharding)
    jitted = jax.jit(init, static_argnums=1)(key, shape)
    atoms = ref <= -99.0
    assert atoms.sum() == 4
    np.testing.assert_array_equal(eager[~atoms], ref[~atoms])
    np.testing.assert_array_equal(eager[atoms], np.float32(Z_LOW))
    np.testing.assert_array_equal(np.asarray(sharded), eager)
    np.testing.assert_array_equal(np.asarray(jitted), eager)


@pytest.mark.slow
def test_no_draw_at_the_bound_in_2_to_26():
    """2^26 draws at ±100σ: jax puts ~8 at the lower bound (2^26 / 2^23); jinit none, and
    every other value keeps jax's bits."""
    key = jax.random.key(7)
    n = 1 << 26
    ref = np.asarray(jax.random.truncated_normal(key, -100.0, 100.0, (n,), F32))
    ours = np.asarray(jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)(key, (n,)))
    atoms = ref <= -99.0
    assert atoms.sum() >= 1  # P(0 atoms | mean 8) = 3e-4; fixed seed
    assert np.all(np.abs(ours) < 5.5)
    np.testing.assert_array_equal(ours[~atoms], ref[~atoms])
    np.testing.assert_array_equal(ours[atoms], np.float32(Z_LOW))
    p = np.asarray(presets.torch_trunc_normal(std=0.02)(key, (n,)))
    assert np.all(np.abs(p) < 0.11)


# ----------------------------------------------------------------- the checks that see a point mass


def test_count_limit():
    assert laws.count_limit(10**9, 0.0, 1e-6) == 0
    # Chernoff at lambda = 1, alpha = 1e-6: the limit sits above the exact Poisson quantile (9).
    assert 9 <= laws.count_limit(10**6, 1e-6, 1e-6) <= 14
    lam, lim = 1e4, laws.count_limit(10**8, 1e-4, 1e-6)
    assert lam + 4.9 * lam ** 0.5 < lim < lam + 8 * lam ** 0.5


def _verify_check(law, x):
    task = _moments.Task("t", None, law, tuple(x.shape[1:]), np.dtype(x.dtype), arrays=x.shape[0])
    st = _moments._stats(task, x)
    checks = _verdicts.evaluate(task, st)
    [atoms] = [c for c in checks if c.check == "mass at bounds"]
    return atoms, checks


def _audit_check(law, leaf):
    st, b = audit_tests.law_moments(leaf, law, np.dtype(leaf.dtype))
    row = dict(initializer="t", shape=str(leaf.shape), dtype=leaf.dtype.name)
    checks, _ = audit_tests.one_sample(law, np.dtype(leaf.dtype), st, b, leaf.size, 1e-6, row)
    [atoms] = [c for c in checks if c.check == "mass at bounds"]
    return atoms, checks


CASES = [  # (law, init, dtype)
    (TruncatedNormal(0.02, -100.0, 100.0), presets.torch_trunc_normal(std=0.02), "float32"),
    (TruncatedNormal(0.02), jinit.truncated_normal(0.02), "float32"),
    (TruncatedNormal(0.02), jinit.truncated_normal(0.02), "bfloat16"),
    (TruncatedNormal(1.0, -10.0, 10.0), jinit.truncated_normal(1.0, lower=-10.0, upper=10.0),
     "float16"),
    # ±5σ: the lowest uniform value lands on the bound (one 2^-23 quantum): allowed
    (TruncatedNormal(1.0, -5.0, 5.0), jinit.truncated_normal(1.0, lower=-5.0, upper=5.0),
     "float32"),
]


@pytest.mark.parametrize("law, init, dtype", CASES)
def test_verify_and_audit_flag_a_planted_atom_not_a_correct_draw(law, init, dtype):
    x = init(jax.random.key(5), (1 << 20,), dtype)
    for check in (_verify_check(law, x[None])[0], _audit_check(law, x)[0]):
        assert check.passed, check
    bound = laws.bound_edges(law, np.dtype(dtype))[0]
    k = 20 if law.lower < -4 else 600  # ±2σ: a few at the bound are legitimate, 0.06% is not
    planted = x.at[:k].set(jnp.asarray(bound, dtype))
    for atoms, checks in (_verify_check(law, planted[None]), _audit_check(law, planted)):
        assert not atoms.passed, atoms
        failed = [c.check for c in checks if not c.passed]
        # inside the support: only the new check sees them (at ±100σ the variance does too)
        assert failed == ["mass at bounds"] if law.lower > -20 else "mass at bounds" in failed


def test_jax_s_own_draw_is_flagged_at_wide_bounds():
    """The old law, built from its end point: ``u = -1`` values clipped to the bound."""
    law = TruncatedNormal(1.0, -100.0, 100.0)
    x = jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)(jax.random.key(2), (1 << 18,))
    x = x.at[:2].set(np.nextafter(F32.type(-100), F32.type(0)))  # what jax returns for u = -1
    assert not _verify_check(law, x[None])[0].passed
    assert not _audit_check(law, x)[0].passed


@pytest.mark.slow
def test_verifier_flags_jax_random_at_2_to_26():
    """The statistics alone, on 2^26 real draws: jax's (with its atoms) fails, jinit's passes."""
    key = jax.random.key(7)
    law = TruncatedNormal(1.0, -100.0, 100.0)
    n = 1 << 26
    ref = jax.random.truncated_normal(key, -100.0, 100.0, (n,), F32)
    ours = jinit.truncated_normal(1.0, lower=-100.0, upper=100.0)(key, (n,))
    assert not _audit_check(law, ref)[0].passed
    assert _audit_check(law, ours)[0].passed
