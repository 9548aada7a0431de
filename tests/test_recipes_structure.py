"""Recipes fitted to a traced model: ``Recipe.fit`` and ``structure=`` with recipes.

Every expected number is computed by hand from the layer's definition (the einsum string,
the kernel layout, the recipe's published formula), never read back from jinit.
"""

import math
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
import jinit.nnx
from jinit import audit, recipes, structure

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

D, H, HD, V = 32, 4, 8, 50


class OnePlusRMSNorm(nn.Module):
    """Gemma's RMSNorm: ``x · (1 + scale)``, so its scale starts at 0."""

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.zeros, (x.shape[-1],))
        var = jnp.mean(x * x, axis=-1, keepdims=True)
        return x * jax.lax.rsqrt(var + 1e-6) * (1 + scale)


class Block(nn.Module):
    """A pre-norm attention block with a DenseGeneral query and an untied head."""

    @nn.compact
    def __call__(self, x):
        h = OnePlusRMSNorm(name="pre_attention_norm")(x)
        q = nn.DenseGeneral((H, HD), name="query")(h)          # (D, H, HD): fan-in D
        x = x + nn.DenseGeneral(D, axis=(-2, -1), name="attn_out")(q)   # fan-in H·HD
        return nn.Dense(V, name="lm_head")(x)


def _block():
    model, x = Block(), jnp.zeros((2, 5, D))
    return model, x, structure.trace(model, x), jax.eval_shape(model.init, jax.random.key(0), x)


def test_one_plus_scale_norm_gets_zeros_and_the_table_says_so():
    _, _, s, shapes = _block()
    r = recipes.olmo_megatron(2, D)
    fitted = r.fit(s)
    assert fitted is not r and r.structure is None            # the recipe itself is unchanged
    path = "params/pre_attention_norm/scale"
    assert fitted.initializer_for(path, (D,)) is jinit.zeros
    assert r.initializer_for(path, (D,)) is jinit.ones
    assert re.search(r"pre_attention_norm/scale \(norm\): ones → zeros.*1 \+ scale", str(fitted))
    p = jinit.tree.init_tree(jax.random.key(1), shapes, r, structure=s)
    assert float(jnp.abs(p["params"]["pre_attention_norm"]["scale"]).max()) == 0.0
    assert audit.check(p, r, structure=s).ok
    # negative control: without the structure the recipe's ones are drawn, and the audit
    # that knows the model flags them
    q = jinit.tree.init_tree(jax.random.key(1), shapes, r)
    assert float(q["params"]["pre_attention_norm"]["scale"].min()) == 1.0
    assert path in audit.check(q, r, structure=s).flagged


def test_a_scale_given_one_by_overrides_under_one_plus_scale_is_an_error():
    _, _, s, _ = _block()
    r = recipes.olmo_megatron(2, D, overrides={"norm": jinit.ones})
    with pytest.raises(ValueError, match=r"pre_attention_norm/scale.*overrides=.*starts at 2"):
        r.fit(s)
    # an override of zeros is what such a norm wants: nothing to adapt, nothing to refuse
    assert recipes.olmo_megatron(2, D, overrides={"norm": jinit.zeros}).fit(s).initializer_for(
        "params/pre_attention_norm/scale", (D,)) is jinit.zeros


def test_a_wrong_d_model_is_one_error_listing_every_leaf():
    _, _, s, shapes = _block()
    wrong = 2 * D
    with pytest.raises(ValueError, match=r"at 3 leaf path\(s\)") as e:
        recipes.olmo_mitchell(2, wrong).fit(s)
    text = str(e.value)
    # OLMo computes the query's, the output projection's (H·HD = D here) and the head's std
    # from d_model; the norm and the biases read no size and are not named
    for path in ("params/query/kernel", "params/attn_out/kernel", "params/lm_head/kernel"):
        assert f"'{path}'" in text and f"fan-in of {wrong}, but the model contracts {D}" in text
    assert "bias" not in text and "norm" not in text
    # the same error comes from init_tree's hook
    with pytest.raises(ValueError, match=r"olmo_mitchell\.fit\(\).*at 3 leaf path"):
        jinit.tree.init_tree(jax.random.key(0), shapes, recipes.olmo_mitchell(2, wrong),
                             structure=s)
    assert recipes.olmo_mitchell(2, D).fit(s).fitted[-1].startswith(
        "params/pre_attention_norm/scale")


def test_a_kernel_layout_other_than_the_guess_takes_the_traced_fans():
    # A Gemma-named q_einsum whose layout is (D, H, HD), not Gemma's (H, D, HD): the name
    # says "contract axis 1", the einsum contracts axis 0.
    class Einsum(nnx.Module):
        def __init__(self, rngs):
            self.q_einsum = nnx.Einsum("BTD,DNH->BTNH", (D, H, HD), rngs=rngs)

        def __call__(self, x):
            return self.q_einsum(x)

    model = nnx.eval_shape(lambda: Einsum(nnx.Rngs(0)))
    s = structure.trace(model, jax.ShapeDtypeStruct((2, 5, D), jnp.float32))
    path = "q_einsum/kernel"
    r = recipes.maxtext(1, D, HD)
    guessed = r.initializer_for(path, (D, H, HD))
    assert guessed._params["in_axis"] == 1                     # heads: the name's layout
    fitted = r.fit(s)
    init = fitted.initializer_for(path, (D, H, HD))
    assert (init._params["in_axis"], init._params["out_axis"]) == (0, (1, 2))
    assert re.search(r"q_einsum/kernel \(q\): fans 32, 32 from the trace.*guessed in \(1,\)",
                     str(fitted))
    # the draw: maxtext's query is N(0, 1/(D·HD)) (fan-in D, divided by head_dim)
    net = jinit.nnx.init(model, r, jax.random.key(3), structure=s)
    w = np.asarray(net.q_einsum.kernel[...], np.float64)
    want = 1 / math.sqrt(D * HD)
    n = w.size
    tol = 4.42 * math.sqrt(2 / (n - 1))          # |s/σ - 1| at a 1e-5 false-failure rate
    assert abs(w.std() / want - 1) < tol
    # negative control: the guess's fan-in H gives σ = 1/√(H·HD), twice as large here
    assert abs(w.std() / (1 / math.sqrt(H * HD)) - 1) > tol
    assert audit.check(nnx.state(net, nnx.Param), r, structure=s).ok


def test_a_slice_whose_fans_no_axes_express_is_refused_when_the_guess_disagrees():
    def fn(p, x):
        return x @ p["q_proj"]["kernel"][:D]      # only the first D rows are contracted

    params = {"q_proj": {"kernel": jax.ShapeDtypeStruct((2 * D, D), jnp.float32)}}
    s = structure.trace(fn, jax.ShapeDtypeStruct((3, D), jnp.float32), params=params)
    assert not s["q_proj/kernel"].expressible
    with pytest.raises(ValueError, match=r"'q_proj/kernel' \(q\): contracted over a slice"):
        recipes.olmo_core("fan_in", 1, D).fit(s)
    # a recipe whose std reads no fans has nothing to contradict there
    assert recipes.llama_hf(1).fit(s).fitted == ()


def test_structure_is_checked_and_nothing_changes_for_a_model_used_as_assumed():
    with pytest.raises(TypeError, match=r"recipes\.gpt2\.fit\(\): structure=.*Structure"):
        recipes.gpt2().fit({"a": 1})
    model = nn.Sequential([nn.Dense(D, name="c_fc"), nn.gelu])
    s = structure.trace(model, jnp.zeros((2, D)))
    fitted = recipes.nanogpt(2).fit(s)
    assert fitted.fitted == () and "every leaf is used as assumed" in str(fitted)


def test_without_structure_audit_and_nnx_init_warn_once_for_rank3_kernels():
    class Net(nnx.Module):  # 12 heads: not a window of at most 7, so not taken for a conv
        def __init__(self, rngs):
            self.w = nnx.Einsum("BTD,NDH->BTNH", (12, D, HD), rngs=rngs)

        def __call__(self, x):
            return self.w(x)

    model = nnx.eval_shape(lambda: Net(nnx.Rngs(0)))
    rules = {"kernel": jinit.lecun_normal()}
    with pytest.warns(structure.AmbiguousFanWarning, match=r"nnx\.init\(\).*'w/kernel'") as w:
        net = jinit.nnx.init(model, rules, jax.random.key(0))
    assert len([x for x in w if x.category is structure.AmbiguousFanWarning]) == 1
    with pytest.warns(structure.AmbiguousFanWarning, match=r"audit\.check\(\).*'w/kernel'") as w:
        audit.check(nnx.state(net, nnx.Param), rules)
    assert len([x for x in w if x.category is structure.AmbiguousFanWarning]) == 1
    s = structure.trace(model, jax.ShapeDtypeStruct((2, 5, D), jnp.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = jinit.nnx.init(model, rules, jax.random.key(0), structure=s)
        assert audit.check(nnx.state(net, nnx.Param), rules, structure=s).ok


# ------------------------------------------- a transformer in the shape of Flax's lm1b example

# The shape of google/flax examples/lm1b/models.py (a decoder-only TransformerLM: a
# ``shared_embedding``, ``encoderdecoderblock_<i>`` blocks of pre-LayerNorm self-attention and
# an ``MlpBlock``, a final ``encoderdecoder_norm`` and a ``logitdense`` head), written here
# with NNX and per-head ``nnx.Einsum`` projections in Gemma's layout ``(heads, d, head_dim)``.
L1B = dict(vocab=64, d=32, heads=4, head_dim=8, d_ff=64, n_layer=2)


class EinsumAttention(nnx.Module):
    def __init__(self, d, heads, head_dim, rngs):
        self.query = nnx.Einsum("BTD,NDH->BTNH", (heads, d, head_dim), rngs=rngs)
        self.key = nnx.Einsum("BTD,NDH->BTNH", (heads, d, head_dim), rngs=rngs)
        self.value = nnx.Einsum("BTD,NDH->BTNH", (heads, d, head_dim), rngs=rngs)
        self.out = nnx.Einsum("BTNH,NHD->BTD", (heads, head_dim, d), rngs=rngs)
        self.scale = head_dim ** -0.5

    def __call__(self, x):
        q, k, v = self.query(x) * self.scale, self.key(x), self.value(x)
        t = x.shape[1]
        logits = jnp.einsum("BTNH,BSNH->BNTS", q, k)
        logits = jnp.where(jnp.tril(jnp.ones((t, t), bool)), logits, -1e9)
        return self.out(jnp.einsum("BNTS,BSNH->BTNH", jax.nn.softmax(logits), v))


class MlpBlock(nnx.Module):
    def __init__(self, d, d_ff, rngs):
        self.Dense_0 = nnx.Linear(d, d_ff, rngs=rngs)
        self.Dense_1 = nnx.Linear(d_ff, d, rngs=rngs)

    def __call__(self, x):
        return self.Dense_1(nnx.relu(self.Dense_0(x)))


class EncoderDecoder1DBlock(nnx.Module):
    def __init__(self, c, rngs):
        self.LayerNorm_0 = nnx.LayerNorm(c["d"], rngs=rngs)
        self.attention = EinsumAttention(c["d"], c["heads"], c["head_dim"], rngs)
        self.LayerNorm_1 = nnx.LayerNorm(c["d"], rngs=rngs)
        self.MlpBlock_0 = MlpBlock(c["d"], c["d_ff"], rngs)

    def __call__(self, x):
        x = x + self.attention(self.LayerNorm_0(x))
        return x + self.MlpBlock_0(self.LayerNorm_1(x))


class TransformerLM(nnx.Module):
    def __init__(self, c, rngs):
        self.shared_embedding = nnx.Embed(c["vocab"], c["d"], rngs=rngs)
        for i in range(c["n_layer"]):
            setattr(self, f"encoderdecoderblock_{i}", EncoderDecoder1DBlock(c, rngs))
        self.encoderdecoder_norm = nnx.LayerNorm(c["d"], rngs=rngs)
        self.logitdense = nnx.Linear(c["d"], c["vocab"], rngs=rngs)
        self.n_layer = c["n_layer"]

    def __call__(self, tokens):
        x = self.shared_embedding(tokens)
        for i in range(self.n_layer):
            x = getattr(self, f"encoderdecoderblock_{i}")(x)
        return self.logitdense(self.encoderdecoder_norm(x))


def test_lm1b_shaped_transformer_query_std_is_the_d_model_one_only_with_structure():
    c = L1B
    model = nnx.eval_shape(lambda: TransformerLM(c, nnx.Rngs(0)))
    s = structure.trace(model, jax.ShapeDtypeStruct((2, 8), jnp.int32))
    query = "encoderdecoderblock_1/attention/query/kernel"
    assert (s[query].in_axes, s[query].fan_in) == ((1,), c["d"])
    r = recipes.maxtext(c["n_layer"], c["d"], c["head_dim"], c["d_ff"])
    # MaxText's query: fan-in variance scaling divided by head_dim, σ = 1/√(d·head_dim); the
    # name-and-rank guess for a 3-axis query kernel contracts axis 0, the heads
    want = 1 / math.sqrt(c["d"] * c["head_dim"])
    guess = 1 / math.sqrt(c["heads"] * c["head_dim"])
    fitted = r.fit(s)
    assert re.search(re.escape(query) + r" \(q\): fans 32, 32 from the trace \(in \(1,\)",
                     str(fitted))
    net = jinit.nnx.init(model, r, jax.random.key(5), structure=s)
    qs = np.concatenate([np.asarray(getattr(net, f"encoderdecoderblock_{i}").attention.query
                                    .kernel[...], np.float64).ravel() for i in range(2)])
    tol = 4.42 * math.sqrt(2 / (qs.size - 1))   # |s/σ - 1| at a 1e-5 false-failure rate
    assert abs(qs.std() / want - 1) < tol
    assert abs(qs.std() / guess - 1) > tol        # negative control: the guess's σ is 2x
    for name, fan_in in (("key", c["d"]), ("value", c["d"]),
                         ("out", c["heads"] * c["head_dim"])):
        w = np.asarray(getattr(net.encoderdecoderblock_0.attention, name).kernel[...])
        init = fitted.initializer_for(f"encoderdecoderblock_0/attention/{name}/kernel", w.shape)
        assert init._params["in_axis"] == ((0, 1) if name == "out" else 1)
        assert abs(w.std() * math.sqrt(fan_in) - 1) < 4.42 * math.sqrt(2 / (w.size - 1))
    assert audit.check(nnx.state(net, nnx.Param), r, structure=s).ok
    # without the structure the recipe draws the guess (its axes are explicit, from the
    # names: no ambiguity warning), and the audit that knows the model flags every query,
    # key and value
    plain = jinit.nnx.init(model, r, jax.random.key(5))
    flagged = audit.check(nnx.state(plain, nnx.Param), r, structure=s).flagged
    assert set(flagged) == {f"encoderdecoderblock_{i}/attention/{n}/kernel"
                                     for i in range(2) for n in ("query", "key", "value")}


def test_a_scanned_stack_gets_each_slice_its_traced_fans():
    n_layer, heads, d = 3, 4, 16          # per layer (heads, d, d): Gemma's q layout

    def fn(p, x):
        def body(h, w):
            return h + jnp.einsum("btd,ndh->btnh", h, w).mean(axis=2), None
        return jax.lax.scan(body, x, p["layers"]["attention"]["query"]["kernel"])[0]

    shape = (n_layer, heads, d, d)
    params = {"layers": {"attention": {"query": {"kernel": jax.ShapeDtypeStruct(shape,
                                                                                jnp.float32)}}}}
    s = structure.trace(fn, jax.ShapeDtypeStruct((2, 5, d), jnp.float32), params=params)
    path = "layers/attention/query/kernel"
    assert (s[path].in_axes, s[path].batch_axes) == ((2,), (0,))
    r = recipes.maxtext(n_layer, d, d, scan_axis=0)
    plain = r.initializer_for(path, shape).pieces[1][0]
    fitted = r.fit(s).initializer_for(path, shape).pieces[1][0]
    assert (plain._params["in_axis"], fitted._params["in_axis"]) == (0, 1)   # heads vs d
    w = np.asarray(jinit.tree.init_tree(jax.random.key(0), params, r, structure=s)[
        "layers"]["attention"]["query"]["kernel"], np.float64)
    tol = 4.42 * math.sqrt(2 / (w.size - 1))
    assert abs(w.std() * math.sqrt(d * d) - 1) < tol                # 1/√d / √head_dim
    assert abs(w.std() * math.sqrt(heads * d) - 1) > tol            # control: the guess's
