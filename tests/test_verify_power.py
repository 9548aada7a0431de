"""Power of the suite: planted wrong initializers are flagged, correct ones pass.

Sample size: 2**20 values per check (the default of ``jinit verify``), false-failure rate
1e-6 per check. The variance check's half-width is then z * sqrt((kappa - 1)/n) =
4.89 * sqrt(2/2**20) = 0.68% for a normal law, so a 2% variance error sits 5.9 half-widths'
worth of standard errors beyond it (miss probability < 1e-8); the smallest error flagged in
99.9% of runs is (4.89 + 3.09) * sqrt(2/2**20) = 1.10% (``detectable_variance_error``).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit import laws
from jinit.laws import Normal, Orthogonal, TruncatedNormal, Uniform
from jinit.verify import _moments, _verdicts

N = 2 ** 20
DENSE = (256, 128)  # fan_in 256, fan_out 128


def checks_of(init, law, shape=DENSE, dtype=jnp.float32, seed=0, samples=N):
    dtype = np.dtype(dtype)
    task = _moments.Task("planted", init, law, shape, dtype, str(shape),
                         _moments.arrays_for(law, shape, samples), seed,
                         min(samples, _moments.arrays_for(law, shape, samples) * math.prod(shape)))
    return {c.check: c for c in _verdicts.evaluate(task, _moments.run_tasks([task])[0])}


def failed(checks):
    return sorted(name for name, c in checks.items() if not c.passed)


def he_normal_law(shape=DENSE, dtype=np.float32):
    return laws.vs(2.0, "fan_in", "truncated_normal")(shape, np.dtype(dtype), {})


def scaled(init, factor):
    return lambda key, shape, dtype=None: (init(key, shape, jnp.float32) * factor).astype(dtype)


@pytest.mark.parametrize("seed", range(4))
def test_correct_initializers_pass(seed):
    for init, law, shape in ((jinit.he_normal(), he_normal_law(), DENSE),
                             (jinit.he_uniform(), laws.vs(2.0, "fan_in", "uniform")(
                                 DENSE, np.dtype(np.float32), {}), DENSE),
                             (jinit.orthogonal(), Orthogonal(), (64, 32))):
        checks = checks_of(init, law, shape=shape, seed=seed)
        assert failed(checks) == [], (init, seed)


def test_variance_off_by_two_percent_is_flagged():
    for seed in range(3):
        checks = checks_of(scaled(jinit.he_normal(), math.sqrt(1.02)), he_normal_law(), seed=seed)
        assert "variance" in failed(checks)
        assert checks["variance"].info["relative_error"] == pytest.approx(0.02, abs=0.006)


def test_variance_off_by_two_percent_is_flagged_in_bfloat16():
    law = he_normal_law(dtype=jnp.bfloat16)
    checks = checks_of(scaled(jinit.he_normal(), math.sqrt(1.02)), law, dtype=jnp.bfloat16)
    assert "variance" in failed(checks)


def test_missing_sqrt3_in_uniform_is_flagged():
    def no_sqrt3(key, shape, dtype=None):
        bound = math.sqrt(2.0 / shape[-2])  # should be sqrt(3 * 2 / fan_in)
        return jax.random.uniform(key, shape, jnp.float32, -bound, bound).astype(dtype)

    law = laws.vs(2.0, "fan_in", "uniform")(DENSE, np.dtype(np.float32), {})
    assert {"variance", "cdf (DKW)"} <= set(failed(checks_of(no_sqrt3, law)))


def test_swapped_fan_mode_is_flagged():
    # glorot promises fan_avg; the plant uses fan_in (1/256 instead of 1/192)
    law = laws.vs(1.0, "fan_avg", "uniform")(DENSE, np.dtype(np.float32), {})
    planted = jinit.variance_scaling(1.0, "fan_in", "uniform")
    assert "variance" in failed(checks_of(planted, law))
    assert failed(checks_of(jinit.glorot_uniform(), law)) == []


def test_biased_mean_is_flagged():
    law = Normal(0.05)
    shifted = lambda key, shape, dtype=None: (  # noqa: E731
        jinit.normal(0.05)(key, shape, jnp.float32) + 0.001).astype(dtype)  # 0.02 sigma
    assert "mean" in failed(checks_of(shifted, law))
    assert failed(checks_of(jinit.normal(0.05), law)) == []


def test_almost_orthogonal_matrix_is_flagged():
    def almost(key, shape, dtype=None):
        q = jinit.orthogonal()(key, shape, jnp.float32)
        return (q + 1e-3 * jax.random.normal(jax.random.fold_in(key, 7), shape)).astype(dtype)

    checks = checks_of(almost, Orthogonal(), shape=(64, 32))
    assert any(name.startswith("orthogonality") for name in failed(checks))


def test_slightly_scaled_orthogonal_matrix_is_flagged():
    checks = checks_of(scaled(jinit.orthogonal(), 1.0 + 1e-4), Orthogonal(), shape=(64, 32))
    assert any(name.startswith("orthogonality") for name in failed(checks))


def test_wrong_truncation_is_flagged():
    # truncated at +-2.5 sigma_pre, rescaled to the declared variance: only the shape differs
    target = he_normal_law()
    z25 = TruncatedNormal(1.0, -2.5, 2.5)
    std = math.sqrt(target.variance / z25.variance)

    def wrong(key, shape, dtype=None):
        return (std * jax.random.truncated_normal(key, -2.5, 2.5, shape, jnp.float32)).astype(dtype)

    assert {"support", "cdf (DKW)"} <= set(failed(checks_of(wrong, target)))


def test_uncorrected_truncation_is_flagged():
    # stddev before truncation (no 0.8796 correction), as jax.nn.initializers.truncated_normal
    sigma = math.sqrt(2.0 / 256)

    def uncorrected(key, shape, dtype=None):
        return (sigma * jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)).astype(dtype)

    assert "variance" in failed(checks_of(uncorrected, he_normal_law()))


def test_wrong_distribution_family_is_flagged():
    # a normal with the right variance where a uniform is promised: only the shape differs
    law = Uniform(-math.sqrt(3.0), math.sqrt(3.0))
    normal = lambda key, shape, dtype=None: jax.random.normal(key, shape, dtype)  # noqa: E731
    assert {"support", "cdf (DKW)"} <= set(failed(checks_of(normal, law)))
