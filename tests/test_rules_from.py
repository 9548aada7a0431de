"""jinit.tree.rules_from: init_tree with a linen model's own declarations draws each leaf
from the law model.init draws it from.

Each leaf is compared with Flax's own ``model.init`` over the same number of keys by a
two-sample test on the second and fourth moments: |m_a - m_b| <= Z * sqrt(s_a^2/n + s_b^2/n)
with Z = 4.9 (false-failure rate about 1e-6 per comparison). Negative controls: a declared
initializer swapped for another with the same variance (m4 differs), and a 5% variance error.
"""

import math
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit.tree import init_tree, leaf_key, rules_from

pytest.importorskip("flax")

Z = 4.9
KEYS = 96


class Model(nn.Module):
    @nn.compact
    def __call__(self, tokens, image):
        h = nn.Embed(200, 64)(tokens)                                  # Flax default embedding
        h = nn.Dense(128, kernel_init=jinit.he_normal())(h)
        h = nn.LayerNorm()(h)                                          # scale ones, bias zeros
        h = nn.DenseGeneral((4, 16), kernel_init=jinit.lecun_uniform())(h)   # (128, 4, 16)
        h = nn.Dense(64, kernel_init=nn.with_partitioning(jinit.glorot_normal(), (None, "m")))(
            h.reshape(h.shape[:-2] + (64,)))
        c = nn.Conv(32, (3, 3))(image)                                # Flax default lecun_normal
        return h.sum() + c.sum()


X = (jnp.zeros((2, 5), jnp.int32), jnp.zeros((1, 8, 8, 8)))


def flat(tree):
    from jinit.tree import path_str
    return {path_str(p): np.asarray(v, np.float64)
            for p, v in jax.tree_util.tree_flatten_with_path(nn.unbox(tree))[0]}


def same_law(a, b):
    """Two-sample check on E[x^2] and E[x^4] (arrays with keys on axis 0)."""
    a, b = a.ravel(), b.ravel()
    for k in (2, 4):
        pa, pb = a**k, b**k
        se = math.sqrt(pa.var() / pa.size + pb.var() / pb.size)
        if abs(pa.mean() - pb.mean()) > Z * se:
            return False
    return True


@pytest.fixture(scope="module")
def draws():
    model = Model()
    shapes = jax.eval_shape(model.init, jax.random.key(0), *X)
    rules = rules_from(model, *X)
    keys = jax.random.split(jax.random.key(5), KEYS)
    ours = flat(jax.jit(jax.vmap(lambda k: init_tree(k, shapes, rules)))(keys))
    theirs = flat(jax.jit(jax.vmap(lambda k: model.init(k, *X)))(keys))
    return model, shapes, rules, ours, theirs


def test_every_param_has_an_exact_path_rule(draws):
    model, shapes, rules, ours, theirs = draws
    assert set(ours) == set(theirs)
    for path in ours:
        assert sum(bool(re.search(p, path)) for p in rules) == 1, path


def test_each_leaf_law_matches_model_init(draws):
    _, _, _, ours, theirs = draws
    for path in ours:
        a, b = ours[path], theirs[path]
        if np.all(b == b.flat[0]):  # constant initializers: exactly the same values
            np.testing.assert_array_equal(a, b)
            continue
        assert same_law(a, b), path
        assert not same_law(a * math.sqrt(1.05), b), path  # negative control: 5% variance


def test_declared_initializer_is_called_bit_for_bit():
    model = Model()
    shapes = jax.eval_shape(model.init, jax.random.key(0), *X)
    params = flat(init_tree(jax.random.key(3), shapes, rules_from(model, *X)))
    k = leaf_key(jax.random.key(3), "params/Dense_0/kernel")
    np.testing.assert_array_equal(params["params/Dense_0/kernel"],
                                  jinit.he_normal()(k, (64, 128)))


def test_dense_general_keeps_flax_fans_and_naive_shape_does_not(draws):
    """Flax draws the (128, 4, 16) kernel on (128, 64): Var = 1/128, not 1/4."""
    _, _, _, ours, theirs = draws
    a = ours["params/DenseGeneral_0/kernel"]
    assert same_law(a, theirs["params/DenseGeneral_0/kernel"])
    keys = jax.random.split(jax.random.key(6), KEYS)
    naive = np.asarray(jax.vmap(lambda k: jinit.lecun_uniform()(k, (128, 4, 16)))(keys))
    assert not same_law(naive, theirs["params/DenseGeneral_0/kernel"])


def test_a_different_declaration_is_detected(draws):
    """Same variance, other law: an untruncated He normal instead of the declared one."""
    _, _, _, ours, theirs = draws
    keys = jax.random.split(jax.random.key(8), KEYS)
    other = jinit.variance_scaling(2.0, "fan_in", "normal")
    wrong = np.asarray(jax.vmap(lambda k: other(k, (64, 128)))(keys), np.float64)
    assert same_law(ours["params/Dense_0/kernel"], theirs["params/Dense_0/kernel"])
    assert not same_law(wrong, theirs["params/Dense_0/kernel"])


def test_errors():
    with pytest.raises(TypeError, match=re.escape("tree.rules_from(): model=")):
        rules_from(lambda x: x, jnp.ones(3))
