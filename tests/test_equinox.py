"""jinit.equinox: every Equinox layer gets the promised variance in its own layout.

Each statistical check measures the mean square m2 of n independent draws (zero-mean laws)
and accepts when |m2 - s2| <= Z * s2 * sqrt((kurtosis - 1) / n), the normal approximation of
the sampling distribution of m2 at a false-failure rate of about 1e-6 (Z = 4.9). Every
check is paired with a negative control that must fail: the same draws with variance off by
3%, and the naive call with jinit's default (Flax) axes on the Equinox weight.
"""

import importlib.util
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _compile import law_jit

import jinit
from jinit.tree import UnmatchedRuleWarning, leaf_key

eqx = pytest.importorskip("equinox")
je = pytest.importorskip("jinit.equinox")

Z = 4.9
N_DRAWS = 2**19  # draws per check (at least): a 3% error is 3.6 half-widths away


def _truncnorm_kurtosis(a=2.0):
    """Kurtosis of N(0,1) truncated to [-a, a], from the moment recursion
    E[z^k] = (k-1) E[z^(k-2)] - 2 a^(k-1) phi(a) / Z_a."""
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    za = math.erf(a / math.sqrt(2))
    m2 = 1 - 2 * a * phi / za
    m4 = 3 * m2 - 2 * a**3 * phi / za
    return m4 / m2**2


KURTOSIS = {"truncated_normal": _truncnorm_kurtosis(), "uniform": 9 / 5, "normal": 3.0}


def passes(samples, variance, law):
    x = np.asarray(samples, np.float64).ravel()
    half = Z * variance * math.sqrt((KURTOSIS[law] - 1) / x.size)
    return abs(np.mean(x * x) - variance) <= half


def draws(layer, rules, get, n=N_DRAWS):
    """The leaf ``get(layer)`` after init, for enough keys that it holds >= n draws.

    ``layer`` is a layer, or a function of no arguments that builds one (it is then built
    inside the compiled program: eager, an Equinox constructor compiles each of its ops on
    its own). The vmapped ``je.init`` runs as one compiled program; optimization level 0
    cuts the compile time, and the draws are the same law (the same keys and initializers;
    jit matches eager is tested below).
    """
    make = layer if callable(layer) and not isinstance(layer, eqx.Module) else (lambda: layer)
    size = get(eqx.filter_eval_shape(make)).size
    keys = jax.random.split(jax.random.key(1234), max(2, -(-n // size)))

    def program(k):
        built = make()
        return get(eqx.filter_vmap(lambda kk: je.init(built, rules, kk))(k))

    compiled = law_jit(program)
    return np.asarray(compiled(keys), np.float64)


def assert_promised(samples, variance, law):
    assert passes(samples, variance, law), (np.mean(samples**2), variance)
    assert not passes(samples * math.sqrt(1.03), variance, law)  # negative control


K = jax.random.key(0)
HE = {r"weight": jinit.he_normal()}

# (layer constructor, leaf getter, fan_in by Equinox's meaning of its axes)
LAYERS = {
    "Linear(32->128)": (lambda: eqx.nn.Linear(32, 128, key=K), lambda m: m.weight, 32),
    "Linear(128->10)": (lambda: eqx.nn.Linear(128, 10, key=K), lambda m: m.weight, 128),
    "Conv1d(6->16, k=5)": (lambda: eqx.nn.Conv1d(6, 16, 5, key=K), lambda m: m.weight, 6 * 5),
    "Conv2d(4->8, k=3)": (lambda: eqx.nn.Conv2d(4, 8, 3, key=K), lambda m: m.weight, 4 * 9),
    "Conv3d(2->4, k=3)": (lambda: eqx.nn.Conv3d(2, 4, 3, key=K), lambda m: m.weight, 2 * 27),
    "Conv2d(8->16, k=3, groups=4)": (lambda: eqx.nn.Conv2d(8, 16, 3, groups=4, key=K),
                                     lambda m: m.weight, 2 * 9),
    "ConvTranspose2d(6->4, k=3)": (lambda: eqx.nn.ConvTranspose2d(6, 4, 3, key=K),
                                   lambda m: m.weight, 6 * 9),
    "ConvTranspose1d(8->4, k=4, groups=2)": (lambda: eqx.nn.ConvTranspose1d(8, 4, 4, groups=2, key=K),
                                             lambda m: m.weight, 4 * 4),
    "MLP layer 0": (lambda: eqx.nn.MLP(16, 4, 64, 2, key=K), lambda m: m.layers[0].weight, 16),
    "MLP layer 2": (lambda: eqx.nn.MLP(16, 4, 64, 2, key=K), lambda m: m.layers[2].weight, 64),
    "MultiheadAttention query_proj": (lambda: eqx.nn.MultiheadAttention(4, 32, qk_size=16, key=K),
                                      lambda m: m.query_proj.weight, 32),
    "MultiheadAttention output_proj": (lambda: eqx.nn.MultiheadAttention(4, 32, vo_size=16, key=K),
                                       lambda m: m.output_proj.weight, 4 * 16),
    "GRUCell weight_ih": (lambda: eqx.nn.GRUCell(12, 20, key=K), lambda m: m.weight_ih, 12),
    "GRUCell weight_hh": (lambda: eqx.nn.GRUCell(12, 20, key=K), lambda m: m.weight_hh, 20),
    "LSTMCell weight_ih": (lambda: eqx.nn.LSTMCell(12, 20, key=K), lambda m: m.weight_ih, 12),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_plain_he_normal_gets_equinox_fans(name):
    make, get, fan_in = LAYERS[name]
    assert_promised(draws(make, HE, get), 2.0 / fan_in, "truncated_normal")


def test_uniform_scheme_on_conv_and_its_bias_shape():
    conv = eqx.nn.Conv2d(4, 8, 3, key=K)
    rules = {r"weight": jinit.lecun_uniform(), r"bias": jinit.presets.torch_conv_bias(36)}
    assert_promised(draws(conv, rules, lambda m: m.weight), 1.0 / 36, "uniform")
    out = je.init(conv, rules, K)
    assert out.bias.shape == conv.bias.shape == (8, 1, 1)
    assert float(jnp.abs(out.bias).max()) <= 1 / 6


def test_embedding_and_norms_use_their_own_layout():
    emb = eqx.nn.Embedding(500, 64, key=K)
    flax_default = jinit.variance_scaling(1.0, "fan_in", "normal", out_axis=0)  # Flax Embed
    assert_promised(draws(emb, {"weight": flax_default}, lambda m: m.weight), 1 / 64, "normal")
    for norm in (eqx.nn.LayerNorm(64), eqx.nn.RMSNorm(64), eqx.nn.GroupNorm(4, 64)):
        s = draws(norm, {"weight": jinit.normal(0.5), "bias": jinit.zeros}, lambda m: m.weight)
        assert_promised(s, 0.25, "normal")


def test_naive_default_axes_are_wrong_and_the_adapter_is_right():
    """The issue's numbers: Var*fan_in/2 = in/out = 0.25 on (128, 32) and 12.8 on (10, 128)."""
    for n_in, n_out in ((32, 128), (128, 10)):
        layer = eqx.nn.Linear(n_in, n_out, key=K)
        keys = jax.random.split(K, -(-N_DRAWS // (n_in * n_out)))
        naive = jax.vmap(lambda k, s=layer.weight.shape: jinit.he_normal()(k, s))(keys)
        ratio = float(np.mean(np.asarray(naive, np.float64) ** 2)) * n_in / 2
        assert ratio == pytest.approx(n_in / n_out, rel=0.02)
        assert not passes(naive, 2.0 / n_in, "truncated_normal")
        assert passes(draws(layer, HE, lambda m: m.weight), 2.0 / n_in, "truncated_normal")


def test_values_are_the_flax_layout_draw_transposed_bit_for_bit():
    conv = eqx.nn.Conv2d(4, 8, 3, key=K)
    out = je.init(conv, HE, K)
    flax = jinit.he_normal()(leaf_key(K, "weight"), (3, 3, 4, 8))
    np.testing.assert_array_equal(out.weight, jnp.transpose(flax, (3, 2, 0, 1)))
    lin = eqx.nn.Linear(16, 48, key=K)
    w = je.init(lin, {"weight": jinit.orthogonal()}, K).weight  # (48, 16): orthonormal columns
    np.testing.assert_allclose(w.T @ w, np.eye(16), atol=1e-5)
    np.testing.assert_array_equal(w, jinit.orthogonal()(leaf_key(K, "weight"), (16, 48)).T)


def test_explicit_axes_and_as_is_use_the_equinox_shape():
    lin = eqx.nn.Linear(32, 128, key=K)
    explicit = jinit.he_normal(in_axis=-1, out_axis=-2)
    for init in (explicit, je.as_is(explicit)):
        w = je.init(lin, {"weight": init}, K).weight
        np.testing.assert_array_equal(w, explicit(leaf_key(K, "weight"), (128, 32)))


def test_untouched_and_non_array_leaves_are_kept_and_jit_matches_eager():
    mlp = eqx.nn.MLP(8, 3, 16, 2, activation=jax.nn.gelu, key=K)
    out = je.init(mlp, {r"layers/1/weight": jinit.he_normal()}, K)
    for i, (a, b) in enumerate(zip(mlp.layers, out.layers, strict=True)):
        assert b.bias is a.bias
        assert (b.weight is a.weight) == (i != 1)
    assert out.activation is mlp.activation
    jitted = eqx.filter_jit(lambda m, k: je.init(m, {r"weight": jinit.he_normal()}, k))(mlp, K)
    eager = je.init(mlp, {r"weight": jinit.he_normal()}, K)
    for a, b in zip(jax.tree.leaves(eqx.filter(eager, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(jitted, eqx.is_array)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_default_covers_every_array_and_batchnorm_state_is_left_alone():
    bn = eqx.nn.BatchNorm(8, "batch", mode="batch")
    out = je.init(bn, {}, K, default=jinit.normal(1.0))
    assert not bool((out.weight == bn.weight).all())
    before = jax.tree.leaves(bn.batch_state_index)
    after = jax.tree.leaves(out.batch_state_index)
    assert all(a is b for a, b in zip(before, after, strict=True))


class Custom(eqx.Module):
    w: jax.Array
    scale: jax.Array


def test_unknown_layout_says_which_axes_to_pass():
    m = Custom(jnp.zeros((64, 16)), jnp.ones(()))
    with pytest.raises(ValueError, match=re.escape("equinox.init(): model['w']=") + ".*"
                       + re.escape("in_axis=-1, out_axis=-2")):
        je.init(m, {"w": jinit.he_normal()}, K)
    with pytest.raises(ValueError, match="may read fans"):
        je.init(m, {"w": lambda k, s, d: jnp.zeros(s, d)}, K)  # a foreign callable: unknowable
    out = je.init(m, {"w": jinit.normal(1.0), "scale": jinit.constant(2.0)}, K)  # layout-free
    assert out.w.shape == (64, 16) and float(out.scale) == 2.0


def test_rule_errors():
    lin = eqx.nn.Linear(4, 4, key=K)
    with pytest.warns(UnmatchedRuleWarning, match="equinox.init"):
        je.init(lin, {"weight": jinit.he_normal(), "kernel": jinit.zeros}, K)
    with pytest.raises(ValueError, match="matched no leaf"):
        je.init(lin, {"kernel": jinit.zeros}, K, strict=True)
    with pytest.raises(TypeError, match=re.escape("equinox.init(): rules['weight']=3")):
        je.init(lin, {"weight": 3}, K)
    with pytest.raises(TypeError, match="equinox.init"):
        je.init(lin, {"weight": jinit.he_normal()}, 0)


def test_a_recipe_names_every_leaf_without_a_role_at_once():
    """An Equinox MLP has no transformer roles: the error lists all six leaves, not the first."""
    mlp = eqx.nn.MLP(4, 2, 8, depth=2, key=K)
    paths = [f"layers/{i}/{name}" for i in range(3) for name in ("weight", "bias")]
    with pytest.raises(ValueError, match=r"gives no role to 6 leaf path\(s\)") as err:
        je.init(mlp, jinit.recipes.gpt2(), K)
    assert all(repr(p) in str(err.value) for p in paths), str(err.value)


def test_example_runs(capsys):
    path = pathlib.Path(__file__).parents[1] / "examples" / "equinox_mlp.py"
    spec = importlib.util.spec_from_file_location("equinox_mlp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--width", "32", "--depth", "2", "--keys", "8", "--steps", "2"])
    assert "adapter" in capsys.readouterr().out
    for row in out["rows"]:
        assert abs(row["adapter"] - 1.0) < 0.15
