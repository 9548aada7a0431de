"""jinit.nnx.init: one call for NNX models with Dropout and BatchNorm, sharded or not."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

import jinit
from jinit.tree import leaf_key, path_str

nnx = pytest.importorskip("flax.nnx")
jnnx = pytest.importorskip("jinit.nnx")

Z = 4.9  # two-sided normal quantile, false-failure rate about 1e-6 per check
RULES = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros, r"scale$": jinit.ones}


class Net(nnx.Module):
    def __init__(self, rngs, width=64, sharded=False):
        kernel = jinit.lecun_normal()
        if sharded:
            kernel = nnx.with_partitioning(kernel, (None, "model"))
        self.hidden = nnx.Linear(16, width, kernel_init=kernel, rngs=rngs)
        self.bn = nnx.BatchNorm(width, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.out = nnx.Linear(width, 8, rngs=rngs)

    def __call__(self, x):
        return self.out(self.drop(jax.nn.relu(self.bn(self.hidden(x)))))


def abstract(**kw):
    return nnx.eval_shape(lambda: Net(nnx.Rngs(0), **kw))


def test_paths_users_see_are_the_paths_rules_match():
    model = Net(nnx.Rngs(0))
    seen = {path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(nnx.state(model))[0]}
    assert "hidden/kernel" in seen and "drop/rngs/key" in seen
    assert not any(p.endswith("/value") for p in seen)
    new = jnnx.init(abstract(), RULES, jax.random.key(1))
    np.testing.assert_array_equal(new.hidden.kernel[...],
                                  jinit.he_normal()(leaf_key(jax.random.key(1), "hidden/kernel"),
                                                    (16, 64)))


def test_from_abstract_dropout_and_batchnorm_state_are_made_properly():
    new = jnnx.init(abstract(), RULES, jax.random.key(1))
    assert float(jnp.abs(new.bn.mean[...]).max()) == 0.0
    assert float(jnp.abs(new.bn.var[...] - 1).max()) == 0.0
    assert int(new.drop.rngs.count[...]) == 0
    x = jax.random.normal(jax.random.key(3), (4, 16))
    a, b = new(x), new(x)  # train mode: two different dropout masks
    assert a.shape == (4, 8) and not bool(jnp.all(a == b))
    assert int(new.drop.rngs.count[...]) == 2
    new.eval()
    np.testing.assert_array_equal(new(x), new(x))


def test_he_variance_through_nnx_init_and_negative_control():
    """Mean square of the (16, 256) kernel over 256 keys: 2/16 within Z standard errors."""
    keys = jax.random.split(jax.random.key(7), 256)
    kernels = np.stack([np.asarray(jnnx.init(abstract(width=256), RULES, k).hidden.kernel[...],
                                   np.float64) for k in keys[:8]])
    draws = np.concatenate([kernels.ravel()] + [
        np.asarray(jinit.he_normal()(leaf_key(k, "hidden/kernel"), (16, 256)), np.float64).ravel()
        for k in keys[8:]])
    phi, za = math.exp(-2) / math.sqrt(2 * math.pi), math.erf(math.sqrt(2))
    m2 = 1 - 4 * phi / za
    kurtosis = (3 * m2 - 16 * phi / za) / m2**2
    half = Z * (2 / 16) * math.sqrt((kurtosis - 1) / draws.size)
    assert abs(np.mean(draws**2) - 2 / 16) <= half
    assert abs(np.mean((draws * math.sqrt(1.03)) ** 2) - 2 / 16) > half  # negative control


def test_in_place_redraws_matched_params_and_keeps_everything_else():
    model = Net(nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(2), (32, 16))
    model(x)  # BatchNorm statistics move, the dropout counter advances
    before = {path_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(nnx.state(model))[0]}
    same = jnnx.init(model, {r"hidden/kernel$": jinit.he_normal()}, jax.random.key(1))
    assert same is model
    after = {path_str(p): v for p, v in jax.tree_util.tree_flatten_with_path(nnx.state(model))[0]}
    for path, value in before.items():
        if path == "hidden/kernel":
            assert not bool(jnp.all(after[path] == value))
        elif jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            np.testing.assert_array_equal(jax.random.key_data(after[path]),
                                          jax.random.key_data(value))
        else:
            np.testing.assert_array_equal(after[path], value)
    fresh = jnnx.init(abstract(), RULES, jax.random.key(1))
    np.testing.assert_array_equal(model.hidden.kernel[...], fresh.hidden.kernel[...])


def test_sharded_on_eight_devices_no_full_leaf_on_one_device():
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    with jax.set_mesh(mesh):
        shapes = abstract(width=256, sharded=True)
    new = jnnx.init(shapes, RULES, jax.random.key(1), mesh=mesh)
    kernel = new.hidden.kernel[...]
    assert kernel.sharding == NamedSharding(mesh, PartitionSpec(None, "model"))
    assert {s.data.shape for s in kernel.addressable_shards} == {(16, 64)}
    assert new.out.kernel[...].sharding.mesh == mesh
    plain = jnnx.init(shapes, RULES, jax.random.key(1))
    np.testing.assert_array_equal(kernel, plain.hidden.kernel[...])
    assert int(new.drop.rngs.count[...]) == 0


def test_errors():
    with pytest.raises(ValueError, match=re.escape("init_tree(): shapes['bn/scale']")):
        jnnx.init(abstract(), {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros},
                  jax.random.key(0))
    with pytest.raises(TypeError, match=re.escape("nnx.init(): model_or_abstract=")):
        jnnx.init({"w": 1.0}, RULES, jax.random.key(0))
    with pytest.raises(TypeError, match=re.escape("nnx.init(): mesh=")):
        jnnx.init(abstract(), RULES, jax.random.key(0), mesh="model")

    class WithCache(nnx.Module):
        def __init__(self, rngs):
            self.lin = nnx.Linear(2, 2, rngs=rngs)
            self.cache = nnx.Cache(jnp.zeros((3,)))

    with pytest.raises(ValueError, match=re.escape("model_or_abstract['cache']") + ".*Cache"):
        jnnx.init(nnx.eval_shape(lambda: WithCache(nnx.Rngs(0))), {"": jinit.zeros},
                  jax.random.key(0))
