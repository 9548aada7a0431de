"""Recipes applied to small models of their architectures, each leaf checked against its source.

Every model is built in Flax (linen or NNX, one scanned stack), initialized with
``init_tree(key, shapes, recipe)``, and every leaf's standard deviation is compared with the
formula written here from the cited source (not from jinit), at a tolerance derived from the
leaf's size: the sample variance of n draws from a law with kurtosis κ has relative standard
deviation √((κ−1)/n), and a bound of z = 5.3 such deviations (two-sided α ≈ 1e-7 per leaf)
keeps the suite from flaking over its few hundred leaves. Deterministic roles are compared
exactly. Each recipe's check is paired with a planted mismatch (another recipe's values, or a
wrong std) that must fail.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jinit
from jinit import audit, recipes
from jinit.tree import init_tree, path_str

Z = 5.3
KEY = jax.random.key(7)
# Standard deviation of N(0, 1) truncated to ±3: sqrt(1 - 6 φ(3) / (2 Φ(3) - 1)).
_PHI3 = math.exp(-4.5) / math.sqrt(2 * math.pi)
TRUNC3 = math.sqrt(1 - 6 * _PHI3 / math.erf(3 / math.sqrt(2)))
TRUNC2 = math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2)))
KURTOSIS = {"normal": 3.0, "trunc3": 2.8, "trunc2": 2.4, "uniform": 1.8}
# Support: the largest |w| a law allows, in units of its standard deviation (truncated at
# ±3σ_pre: 3/τ(3); jax's variance-corrected ±2σ_pre: 2/τ(2); uniform: √3). An untruncated
# normal leaf of n ≥ 4096 draws exceeds 3σ with probability 1 − (1 − 0.0027)^n ≥ 1 − 1.6e-5,
# so a truncation planted where the source has none (or dropped where it has one) fails.
SUPPORT = {"trunc3": 3 / TRUNC3, "trunc2": 2 / TRUNC2, "uniform": math.sqrt(3)}
TAIL_N = 4096


# ------------------------------------------------------------------------------ models

D, H, FF, V, T, L = 64, 4, 256, 512, 32, 4


class GPTAttn(nn.Module):
    split: bool = False

    @nn.compact
    def __call__(self, x):
        if self.split:   # grouped-query: k and v are half as wide (fan_out < fan_in)
            q = nn.Dense(D, use_bias=False, name="c_q")(x)
            k, v = (nn.Dense(D // 2, use_bias=False, name=n)(x) for n in ("c_k", "c_v"))
            x = q + jnp.concatenate([k, v], axis=-1)
        else:
            x = nn.Dense(3 * D, name="c_attn")(x)[..., :D]
        return nn.Dense(D, use_bias=not self.split, name="c_proj")(x)


class GPTMLP(nn.Module):
    bias: bool = True

    @nn.compact
    def __call__(self, x):
        h = nn.gelu(nn.Dense(FF, use_bias=self.bias, name="c_fc")(x))
        return nn.Dense(D, use_bias=self.bias, name="c_proj")(h)


class GPTBlock(nn.Module):
    split: bool = False

    @nn.compact
    def __call__(self, x):
        x = x + GPTAttn(self.split, name="attn")(nn.LayerNorm(name="ln_1")(x))
        return x + GPTMLP(not self.split, name="mlp")(nn.LayerNorm(name="ln_2")(x))


class GPT(nn.Module):
    """GPT-2 in linen, GPT-2's names (``split=True``: nanochat's c_q/c_k/c_v, no biases)."""

    split: bool = False

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(V, D, name="wte")(tokens)
        if not self.split:
            x = x + nn.Embed(T, D, name="wpe")(jnp.arange(tokens.shape[-1]))
        for i in range(L):
            x = GPTBlock(self.split, name=f"h_{i}")(x)
        x = nn.LayerNorm(name="ln_f")(x)
        return nn.Dense(V, use_bias=False, name="lm_head")(x)


def gpt_shapes(split=False):
    return jax.eval_shape(GPT(split).init, KEY, jnp.zeros((1, T), jnp.int32))


class NAttn(nnx.Module):
    def __init__(self, rngs):
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            setattr(self, n, nnx.Linear(D, D, use_bias=False, rngs=rngs))


class NMLP(nnx.Module):
    def __init__(self, rngs):
        self.gate_proj = nnx.Linear(D, FF, use_bias=False, rngs=rngs)
        self.up_proj = nnx.Linear(D, FF, use_bias=False, rngs=rngs)
        self.down_proj = nnx.Linear(FF, D, use_bias=False, rngs=rngs)


class NLayer(nnx.Module):
    def __init__(self, rngs):
        self.self_attn = NAttn(rngs)
        self.mlp = NMLP(rngs)
        self.input_layernorm = nnx.RMSNorm(D, rngs=rngs)
        self.post_attention_layernorm = nnx.RMSNorm(D, rngs=rngs)


class Llama(nnx.Module):
    """Llama in NNX with Hugging Face's names."""

    def __init__(self, rngs):
        self.embed_tokens = nnx.Embed(V, D, rngs=rngs)
        self.layers = nnx.List([NLayer(rngs) for _ in range(L)])
        self.norm = nnx.RMSNorm(D, rngs=rngs)
        self.lm_head = nnx.Linear(D, V, use_bias=False, rngs=rngs)


def llama_state():
    model = nnx.eval_shape(lambda: Llama(nnx.Rngs(0)))
    _, state = nnx.split(model, nnx.Param)
    return state


class OLMoBlock(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.Dense(3 * D, use_bias=False, name="att_proj")(nn.LayerNorm(name="attn_norm")(x))
        x = x + nn.Dense(D, use_bias=False, name="attn_out")(h[..., :D])
        h = nn.Dense(FF, use_bias=False, name="ff_proj")(nn.LayerNorm(name="ff_norm")(x))
        return x + nn.Dense(D, use_bias=False, name="ff_out")(h)


class OLMo(nn.Module):
    """OLMo in linen with OLMo's names: ``blocks_i``, a top-level ``ff_out`` LM head."""

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(V, D, name="wte")(tokens)
        for i in range(L):
            x = OLMoBlock(name=f"blocks_{i}")(x)
        return nn.Dense(V, use_bias=False, name="ff_out")(nn.LayerNorm(name="ln_f")(x))


class MaxText(nn.Module):
    """A MaxText-style decoder whose layers are one ``nn.scan`` stack (axis 0)."""

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(V, D, name="token_embedder")(tokens)
        stack = nn.scan(MTLayerWrap, variable_axes={"params": 0}, split_rngs={"params": True},
                        length=L)
        x, _ = stack(name="layers")(x, None)
        x = nn.RMSNorm(name="decoder_norm")(x)
        return nn.Dense(V, use_bias=False, name="logits_dense")(x)


class MTLayerWrap(nn.Module):
    @nn.compact
    def __call__(self, x, _):
        h = nn.RMSNorm(name="pre_self_attention_layer_norm")(x)
        attn = MTAttention(name="self_attention")
        x = x + attn(h)
        h = nn.RMSNorm(name="post_self_attention_layer_norm")(x)
        return x + MTMlp(name="mlp")(h), None


class MTAttention(nn.Module):
    @nn.compact
    def __call__(self, h):
        q, k, v = (nn.DenseGeneral((H, D // H), use_bias=False, name=n)(h)
                   for n in ("query", "key", "value"))
        return nn.DenseGeneral(D, axis=(-2, -1), use_bias=False, name="out")(q + k + v)


class MTMlp(nn.Module):
    @nn.compact
    def __call__(self, h):
        g = nn.Dense(FF, use_bias=False, name="wi_0")(h) * nn.Dense(FF, use_bias=False,
                                                                      name="wi_1")(h)
        return nn.Dense(D, use_bias=False, name="wo")(g)


def maxtext_shapes():
    return jax.eval_shape(MaxText().init, KEY, jnp.zeros((1, T), jnp.int32))


class MlpBlock(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(D)(nn.gelu(nn.Dense(FF)(x)))


class Encoder1DBlock(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.LayerNorm()(x)
        x = x + nn.MultiHeadDotProductAttention(num_heads=H)(h, h)
        return x + MlpBlock()(nn.LayerNorm()(x))


class AddPositionEmbs(nn.Module):
    @nn.compact
    def __call__(self, x):
        return x + self.param("pos_embedding", nn.initializers.normal(0.02), (1,) + x.shape[1:])


class Encoder(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = AddPositionEmbs(name="posembed_input")(x)
        for i in range(L):
            x = Encoder1DBlock(name=f"encoderblock_{i}")(x)
        return nn.LayerNorm(name="encoder_norm")(x)


class ViT(nn.Module):
    """vit_jax's layout: patch ``embedding`` conv, ``cls``, ``Transformer``, ``head``."""

    @nn.compact
    def __call__(self, images):
        x = nn.Conv(D, (4, 4), strides=(4, 4), padding="VALID", name="embedding")(images)
        n, h, w, c = x.shape
        x = x.reshape(n, h * w, c)
        cls = self.param("cls", nn.initializers.zeros, (1, 1, c))
        x = jnp.concatenate([jnp.tile(cls, (n, 1, 1)), x], axis=1)
        x = Encoder(name="Transformer")(x)
        return nn.Dense(10, name="head")(x[:, 0])


def vit_shapes():
    return jax.eval_shape(ViT().init, KEY, jnp.zeros((1, 16, 16, 3)))


# --------------------------------------------------------------------------- checking


def _leaves(tree):
    return {path_str(p): np.asarray(x, np.float64)
            for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _std_ok(x, expected, law):
    """|s/σ − 1| within Z standard errors of the sample std for n draws."""
    n = x.size
    rel = Z * math.sqrt((KURTOSIS[law] - 1) / n) / 2
    measured = float(np.sqrt(np.mean(x * x)))
    return abs(measured / expected - 1) <= rel, measured, rel


def _support_ok(x, std, law):
    peak = float(np.max(np.abs(x))) / std
    if law in SUPPORT:
        return peak <= SUPPORT[law] * (1 + 1e-5)
    return law != "normal" or x.size < TAIL_N or peak > 3.0


def check(params, expect):
    """Every leaf against ``expect(path, shape) -> (law, std)``; returns the failures.

    Checks the standard deviation (within its sampling bound) and the support: bounded laws
    never leave theirs, and large untruncated normal leaves reach past 3σ.
    """
    bad = []
    for path, x in _leaves(params).items():
        law, value = expect(path, x.shape)
        if law == "zeros" or law == "ones" or law == "const":
            target = {"zeros": 0.0, "ones": 1.0}.get(law, value)
            if not np.all(x == target):
                bad.append((path, law, value))
            continue
        ok, measured, rel = _std_ok(x, value, law)
        if not ok:
            bad.append((path, f"{law} std {value:.4g}", f"measured {measured:.4g} (±{rel:.1%})"))
        elif not _support_ok(x, value, law):
            bad.append((path, f"{law} support", f"max |w|/σ = {np.max(np.abs(x)) / value:.3f}"))
    return bad


def _last(path):
    return path.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- gpt2 family


def expect_gpt2(path, shape):
    if _last(path) in ("bias",):
        return "zeros", 0
    if "ln_" in path:
        return "ones", 1
    if "wpe" in path:
        return "normal", 0.01
    return "normal", 0.02


def expect_nanogpt(path, shape):
    if _last(path) == "bias":
        return "zeros", 0
    if "ln_" in path:
        return "ones", 1
    if path.endswith("c_proj/kernel"):
        return "normal", 0.02 / math.sqrt(2 * L)
    return "normal", 0.02


def expect_nanochat(path, shape):
    if "ln_" in path:
        return ("zeros", 0) if _last(path) == "bias" else ("ones", 1)
    if "wte" in path:
        return "normal", 1.0
    if "lm_head" in path or "c_proj" in path:
        return "zeros", 0
    fan_in, fan_out = shape
    return "normal", 1 / math.sqrt(fan_in) * min(1.0, math.sqrt(fan_out / fan_in))


@pytest.mark.parametrize("name,recipe,expect,split", [
    ("gpt2", recipes.gpt2(L), expect_gpt2, False),
    ("nanogpt", recipes.nanogpt(L), expect_nanogpt, False),
    ("nanochat", recipes.nanochat(L, D), expect_nanochat, True),
])
def test_gpt_family_linen(name, recipe, expect, split):
    params = init_tree(KEY, gpt_shapes(split), recipe)
    assert check(params, expect) == []
    assert audit.check(params, recipe).ok


def test_gpt2_and_nanogpt_tell_each_other_apart():
    """Negative control: GPT-2's values against nanoGPT's expectation fail exactly where the
    two differ: every c_proj (0.02 against 0.02/√(2L)) and wpe (0.01 against 0.02)."""
    params = init_tree(KEY, gpt_shapes(), recipes.gpt2(L))
    bad = {b[0] for b in check(params, expect_nanogpt)}
    planted = {f"params/h_{i}/{m}/c_proj/kernel" for i in range(L) for m in ("attn", "mlp")
               } | {"params/wpe/embedding"}
    assert bad == planted
    assert set(audit.check(params, recipes.nanogpt(L)).flagged) == planted


# ---------------------------------------------------------------------------- llama (nnx)


def expect_llama_hf(path, shape):
    if "norm" in path:
        return "ones", 1
    return "normal", 0.02


def _titan_std(layer):
    return 0.02 / math.sqrt(2 * (layer + 1))


def _layer(path):
    return int(path.split("layers/")[1].split("/")[0])


def expect_torchtitan(path, shape, depth_init=True):
    if "norm" in path:
        return "ones", 1
    if "embed_tokens" in path:
        return "normal", 1.0
    if "lm_head" in path:
        return "trunc3", D ** -0.5 * TRUNC3
    if any(n in path for n in ("o_proj", "up_proj", "down_proj")):
        return "normal", _titan_std(_layer(path)) if depth_init else 0.02 / math.sqrt(2 * L)
    return "normal", 0.02        # ±2 absolute bounds at σ = 0.02: untruncated in effect


def _state_params(state):
    return {path_str(p): x for p, x in jax.tree_util.tree_flatten_with_path(state)[0]}


@pytest.mark.parametrize("depth_init", [True, False])
def test_llama_torchtitan_nnx(depth_init):
    recipe = recipes.llama_torchtitan(L, D, depth_init=depth_init)
    state = init_tree(KEY, llama_state(), recipe)
    assert check(state, lambda p, s: expect_torchtitan(p, s, depth_init)) == []
    assert audit.check(state, recipe).ok


def test_llama_hf_nnx_merges_into_a_working_model():
    model = nnx.eval_shape(lambda: Llama(nnx.Rngs(0)))
    graphdef, state = nnx.split(model, nnx.Param)
    state = init_tree(KEY, state, recipes.llama_hf(L))
    assert check(state, expect_llama_hf) == []
    merged = nnx.merge(graphdef, state)
    assert float(jnp.abs(merged.layers[2].self_attn.o_proj.kernel[...]).max()) > 0


def test_torchtitan_depth_init_is_detected():
    """Negative control: depth_init=False values fail the depth_init expectation (layer > 0)."""
    state = init_tree(KEY, llama_state(), recipes.llama_torchtitan(L, D, depth_init=False))
    bad = {b[0] for b in check(state, expect_torchtitan)}
    assert bad and all(("o_proj" in p or "up_proj" in p or "down_proj" in p) for p in bad)


# ---------------------------------------------------------------------------- OLMo family


def _blk(path):
    return int(path.split("blocks_")[1].split("/")[0])


def expect_mitchell(path, shape):
    if "norm" in path or "ln_f" in path:
        return ("zeros", 0) if _last(path) == "bias" else ("ones", 1)
    if "attn_out" in path:
        return "trunc3", TRUNC3 / math.sqrt(2 * D * (_blk(path) + 1))
    if "blocks_" in path and "ff_out" in path:
        return "trunc3", TRUNC3 / math.sqrt(2 * FF * (_blk(path) + 1))
    return "trunc3", TRUNC3 / math.sqrt(D)


def expect_megatron(path, shape):
    if "norm" in path or "ln_f" in path:
        return ("zeros", 0) if _last(path) == "bias" else ("ones", 1)
    if "attn_out" in path or ("blocks_" in path and "ff_out" in path):
        return "trunc3", TRUNC3 * 0.02 / math.sqrt(2 * L)
    if path.startswith("params/ff_out"):
        return "trunc3", TRUNC3 / math.sqrt(D)
    return "trunc3", TRUNC3 * 0.02


def olmo_shapes():
    return jax.eval_shape(OLMo().init, KEY, jnp.zeros((1, T), jnp.int32))


@pytest.mark.parametrize("recipe,expect", [
    (recipes.olmo_mitchell(L, D, FF), expect_mitchell),
    (recipes.olmo_megatron(L, D), expect_megatron),
])
def test_olmo_linen(recipe, expect):
    params = init_tree(KEY, olmo_shapes(), recipe)
    assert check(params, expect) == []
    assert audit.check(params, recipe).ok


def test_support_checks_catch_a_planted_truncation_change():
    """Negative controls: a ±3σ truncation dropped (torchtitan's output) or planted (an
    untruncated normal leaf checked as truncated) fails the support check alone."""
    x = np.asarray(jinit.normal(0.02)(KEY, (64, 64)), np.float64)
    assert _std_ok(x, 0.02 * TRUNC3, "trunc3")[0] and not _support_ok(x, 0.02 * TRUNC3, "trunc3")
    t = np.asarray(jinit.truncated_normal(0.02, lower=-3, upper=3)(KEY, (64, 64)), np.float64)
    assert _std_ok(t, 0.02, "normal")[0] and not _support_ok(t, 0.02, "normal")
    u = np.asarray(jinit.variance_scaling(1.0, "fan_avg", "normal")(KEY, (64, 64)), np.float64)
    assert not _support_ok(u, 1 / 8, "uniform")


def test_olmo_mitchell_against_megatron_fails():
    params = init_tree(KEY, olmo_shapes(), recipes.olmo_megatron(L, D))
    assert len(check(params, expect_mitchell)) >= 3 * L
    assert len(audit.check(params, recipes.olmo_mitchell(L, D, FF)).flagged) >= 3 * L


class OCAttention(nnx.Module):
    def __init__(self, rngs):
        for n in ("w_q", "w_k", "w_v", "w_out"):
            setattr(self, n, nnx.Linear(D, D, use_bias=False, rngs=rngs))


class OCFeedForward(nnx.Module):
    def __init__(self, rngs):
        self.w1 = nnx.Linear(D, FF, use_bias=False, rngs=rngs)
        self.w3 = nnx.Linear(D, FF, use_bias=False, rngs=rngs)
        self.w2 = nnx.Linear(FF, D, use_bias=False, rngs=rngs)


class OCBlock(nnx.Module):
    def __init__(self, rngs):
        self.attention = OCAttention(rngs)
        self.attention_norm = nnx.RMSNorm(D, rngs=rngs)
        self.feed_forward = OCFeedForward(rngs)
        self.feed_forward_norm = nnx.RMSNorm(D, rngs=rngs)


class OCHead(nnx.Module):
    def __init__(self, rngs):
        self.norm = nnx.RMSNorm(D, rngs=rngs)
        self.w_out = nnx.Linear(D, V, use_bias=False, rngs=rngs)


class OLMoCore(nnx.Module):
    """OLMo-core's attribute names: embeddings, blocks/<i>/attention/w_*, lm_head/w_out."""

    def __init__(self, rngs):
        self.embeddings = nnx.Embed(V, D, rngs=rngs)
        self.blocks = nnx.List([OCBlock(rngs) for _ in range(L)])
        self.lm_head = OCHead(rngs)


def expect_olmo_core(method):
    """From OLMo-core's init.py: one std carries w1 -> w3 -> w2 in init_feed_forward."""

    def expect(path, shape):
        if "norm" in path:
            return "ones", 1
        layer = int(path.split("blocks/")[1].split("/")[0]) if "blocks/" in path else None
        if path.startswith("embeddings"):
            return ("trunc3", 0.02 * TRUNC3) if method == "normal" else ("normal", 1.0)
        if path.startswith("lm_head"):
            return "trunc3", TRUNC3 * (0.02 if method == "normal" else D ** -0.5)
        if method == "fan_in":
            return "trunc3", TRUNC3 / math.sqrt(shape[0])
        scaled = {"normal": 0.02, "llama": 0.02 / math.sqrt(2 * L),
                  "llama_depth": 0.02 / math.sqrt(2 * ((layer or 0) + 1))}[method]
        if any(path.endswith(f"{n}/kernel") for n in ("w_out", "w2", "w3")):
            return "trunc3", TRUNC3 * scaled
        return "trunc3", TRUNC3 * 0.02

    return expect


def olmo_core_state():
    _, state = nnx.split(nnx.eval_shape(lambda: OLMoCore(nnx.Rngs(0))), nnx.Param)
    return state


@pytest.mark.parametrize("method", ("normal", "llama", "llama_depth", "fan_in"))
def test_olmo_core_nnx(method):
    recipe = recipes.olmo_core(method, L, D)
    state = init_tree(KEY, olmo_core_state(), recipe)
    assert check(state, expect_olmo_core(method)) == []
    assert audit.check(state, recipe).ok


def test_olmo_core_llama_against_normal_fails():
    """Negative control: llama's scaled w_out/w2/w3 and N(0, 1) embeddings are not 'normal'."""
    state = init_tree(KEY, olmo_core_state(), recipes.olmo_core("llama", L, D))
    bad = {b[0] for b in check(state, expect_olmo_core("normal"))}
    assert {"embeddings/embedding", "lm_head/w_out/kernel"} <= bad
    assert {f"blocks/{i}/feed_forward/w3/kernel" for i in range(L)} <= bad
    assert not any("w1" in p or "w_q" in p for p in bad)


class NGPTAttention(OCAttention):
    def __init__(self, rngs):
        super().__init__(rngs)
        self.sq = nnx.Param(jnp.zeros((D,)))
        self.sk = nnx.Param(jnp.zeros((D // 2,)))   # n_kv_heads * head_dim


class NGPTFeedForward(OCFeedForward):
    def __init__(self, rngs):
        super().__init__(rngs)
        self.sw1 = nnx.Param(jnp.zeros((FF,)))
        self.sw3 = nnx.Param(jnp.zeros((FF,)))


class NGPTBlock(nnx.Module):
    def __init__(self, rngs):
        self.attention = NGPTAttention(rngs)
        self.feed_forward = NGPTFeedForward(rngs)
        self.attn_alpha = nnx.Param(jnp.zeros((D,)))
        self.mlp_alpha = nnx.Param(jnp.zeros((D,)))


class NGPTHead(nnx.Module):
    def __init__(self, rngs):
        self.w_out = nnx.Linear(D, V, use_bias=False, rngs=rngs)
        self.sz = nnx.Param(jnp.zeros((V,)))


class NGPT(nnx.Module):
    """OLMo-core's NormalizedTransformer names: no norms, nGPT's scalings."""

    def __init__(self, rngs):
        self.embeddings = nnx.Embed(V, D, rngs=rngs)
        self.blocks = nnx.List([NGPTBlock(rngs) for _ in range(L)])
        self.lm_head = NGPTHead(rngs)


def ngpt_state():
    _, state = nnx.split(nnx.eval_shape(lambda: NGPT(nnx.Rngs(0))), nnx.Param)
    return state


def unit_axis_ngpt(path):
    """From OLMo-core's normalize_matrices: torch dim=-1 of an (out, in) weight is the Flax
    kernel's axis 0 (its input); dim=0 (w_out, w2) is axis 1; embedding rows are axis 1."""
    if path.startswith("embeddings"):
        return 1
    return 1 if path.endswith(("w_out/kernel", "w2/kernel")) and "lm_head" not in path else 0


def test_olmo_core_normalized_gives_unit_vectors_and_scalings():
    recipe = recipes.olmo_core("normalized", L, D)
    leaves = _leaves(init_tree(KEY, ngpt_state(), recipe))
    scalings = {"sq": D ** -0.5, "sk": D ** -0.5, "sz": D ** -0.5, "attn_alpha": D ** -0.5,
                "mlp_alpha": D ** -0.5, "sw1": 1.0, "sw3": 1.0}
    matrices = 0
    for path, x in leaves.items():
        last = _last(path)
        if last in scalings:
            assert np.all(x == np.float32(scalings[last])), path
            continue
        matrices += 1
        axis = unit_axis_ngpt(path)
        np.testing.assert_allclose(np.sum(x * x, axis=axis), 1.0, rtol=2e-6, err_msg=path)
        # negative control: the other axis is not normalized (norms spread around √(m/n))
        other = np.sum(x * x, axis=1 - axis)
        assert np.max(np.abs(other - 1)) > 0.05, path
        # each coordinate of a unit n-vector has variance exactly 1/n
        assert _std_ok(x, x.shape[axis] ** -0.5, "trunc3")[0], path
    assert matrices == 1 + 7 * L + 1
    assert "1/√n (unit vectors)" in str(recipe)


def test_olmo_core_normalized_audit_passes_and_flags_plants():
    recipe = recipes.olmo_core("normalized", L, D)
    state = init_tree(KEY, ngpt_state(), recipe)
    report = audit.check(state, recipe)
    assert report.ok, str(report)
    rows = {leaf.path: leaf for leaf in report.leaves}
    assert rows["blocks/0/attention/w_out/kernel"].method == "unit norm"
    # planted: a 1% scale error, and the same matrix normalized along the wrong axis
    w = state["blocks"][1]["attention"]["w_q"]["kernel"]
    w.set_value(w.get_value() * 1.01)
    v = state["blocks"][2]["feed_forward"]["w2"]["kernel"]
    v.set_value(v.get_value() / jnp.linalg.norm(v.get_value(), axis=0, keepdims=True))
    flagged = audit.check(state, recipe).flagged
    assert set(flagged) == {"blocks/1/attention/w_q/kernel", "blocks/2/feed_forward/w2/kernel"}


def test_olmo_core_llama_is_not_normalized():
    """Negative control: llama's truncated normals fail every unit-norm check."""
    shapes = ngpt_state()
    llama = recipes.olmo_core("llama", L, D, roles={r"(sq|sk|sz|sw1|sw3|_alpha)$": "norm"})
    flagged = audit.check(init_tree(KEY, shapes, llama), recipes.olmo_core("normalized", L, D)
                          ).flagged
    matrices = {path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(shapes)[0]}
    assert {p for p in flagged if p.endswith(("kernel", "embedding"))} == {
        p for p in matrices if p.endswith(("kernel", "embedding"))}


def test_olmo_core_normalized_axes_in_both_layouts():
    flax_r = recipes.olmo_core("normalized", L, D)
    torch_r = recipes.olmo_core("normalized", L, D, layout="out_in")
    for path, flax_axes, torch_axes in (("blocks/0/attention/w_q", (0,), (-1,)),
                                        ("blocks/0/attention/w_out", (-1,), (-2,)),
                                        ("blocks/0/feed_forward/w2", (-1,), (-2,)),
                                        ("lm_head/w_out", (-2,), (-1,))):
        assert flax_r.initializer_for(path + "/kernel", (D, D)).unit_axes in (
            flax_axes, tuple(a - 2 for a in flax_axes)), path
        assert torch_r.initializer_for(path + "/weight", (D, D)).unit_axes == torch_axes, path
    dense_general = flax_r.initializer_for("blocks/0/attention/w_q/kernel", (D, H, D // H))
    assert dense_general.unit_axes == (0,)
    assert flax_r.initializer_for("embeddings/embedding", (V, D)).unit_axes == (-1,)


def test_unit_norm_dtypes_and_determinism():
    init = recipes.olmo_core("normalized", L, D).initializer_for(
        "blocks/0/attention/w_q/kernel", (D, 3 * D))
    a = init(KEY, (D, 3 * D), jnp.bfloat16)
    assert a.dtype == jnp.bfloat16
    norms = jnp.sum(a.astype(jnp.float32) ** 2, axis=0)
    assert float(jnp.max(jnp.abs(norms - 1))) < 2 ** -7
    b = jax.jit(lambda k: init(k, (D, 3 * D), jnp.bfloat16))(KEY)
    assert bool(jnp.all(a == b))
    with pytest.raises(TypeError, match="complex"):
        init(KEY, (D, D), jnp.complex64)


# ------------------------------------------------------------------ maxtext (scanned)


def expect_maxtext(path, shape):
    if "norm" in path:
        return "ones", 1
    if "token_embedder" in path:
        return "normal", 1.0
    if path.endswith("query/kernel"):
        return "normal", 1 / math.sqrt(D) / math.sqrt(D // H)
    if any(path.endswith(f"{n}/kernel") for n in ("key", "value")):
        return "normal", 1 / math.sqrt(D)
    if path.endswith("out/kernel"):
        return "normal", 1 / math.sqrt(D)           # fan_in = heads · head_dim
    # MlpBlock and logits_dense: truncated_normal, variance corrected (jax's ±2σ_pre)
    if path.endswith("wo/kernel"):
        return "trunc2", 1 / math.sqrt(FF)
    return "trunc2", 1 / math.sqrt(D)


def test_maxtext_scanned_stack():
    shapes = maxtext_shapes()
    q = shapes["params"]["layers"]["self_attention"]["query"]["kernel"]
    assert q.shape == (L, D, H, D // H)
    recipe = recipes.maxtext(L, D, D // H, FF, scan_axis=0)
    params = init_tree(KEY, shapes, recipe)
    assert check(params, expect_maxtext) == []
    assert audit.check(params, recipe).ok         # each layer's slice against its own law


def test_maxtext_scanned_stack_needs_scan_axis_for_fans():
    """Negative control: without per-slice fans the scanned query kernel takes fan_in = L."""
    with pytest.raises(ValueError, match="scan_axis"):
        init_tree(KEY, maxtext_shapes(), recipes.llama_torchtitan(L, D))
    params = init_tree(KEY, maxtext_shapes(), recipes.maxtext(L, D, D // H, FF))
    bad = {b[0] for b in check(params, expect_maxtext)}
    assert "params/layers/self_attention/query/kernel" in bad


@pytest.mark.parametrize("axis", [0, 1])
def test_scanned_per_layer_std_equals_unrolled(axis):
    """A scanned stack gets the same per-layer std as the unrolled model (torchtitan's wo),
    with the layer axis first (nn.scan) or second (MaxText's param_scan_axis=1)."""
    s = jax.ShapeDtypeStruct
    shape = (L, 128, 128) if axis == 0 else (128, L, 128)
    stacked = {"layers": {"attention": {"wo": {"kernel": s(shape, jnp.float32)}}}}
    unrolled = {"layers": {str(i): {"attention": {"wo": {"kernel": s((128, 128), jnp.float32)}}}
                           for i in range(L)}}
    r = recipes.llama_torchtitan(L, D, scan_axis=axis)
    a = np.asarray(init_tree(KEY, stacked, r)["layers"]["attention"]["wo"]["kernel"], np.float64)
    b = init_tree(KEY, unrolled, r)
    for i in range(L):
        u = np.asarray(b["layers"][str(i)]["attention"]["wo"]["kernel"], np.float64)
        for x in (np.take(a, i, axis=axis), u):
            assert _std_ok(x, _titan_std(i), "normal")[0]
            assert not _std_ok(x, _titan_std(i + 1), "normal")[0]     # control: next layer
    assert audit.check(init_tree(KEY, stacked, r), r).ok
    # Negative control: the unrolled layer 0 values stacked in every slice fail slices 1..L-1.
    same = np.stack([np.asarray(b["layers"]["0"]["attention"]["wo"]["kernel"])] * L, axis=axis)
    report = audit.check({"layers": {"attention": {"wo": {"kernel": jnp.asarray(same)}}}}, r)
    assert list(report.flagged) == ["layers/attention/wo/kernel"]


# --------------------------------------------------------------------------------- ViT


def expect_vit(path, shape):
    last = _last(path)
    if "LayerNorm" in path or "encoder_norm" in path:
        return ("zeros", 0) if last == "bias" else ("ones", 1)
    if path.endswith("cls") or path.startswith("params/head"):
        return "zeros", 0
    if "pos_embedding" in path:
        return "normal", 0.02
    if path.startswith("params/embedding"):
        return ("zeros", 0) if last == "bias" else ("trunc2", 1 / math.sqrt(4 * 4 * 3))
    if "MlpBlock" in path:
        if last == "bias":
            return "normal", 1e-6
        fan_in, fan_out = shape
        return "uniform", math.sqrt(2 / (fan_in + fan_out))
    if last == "bias":
        return "zeros", 0
    return "uniform", math.sqrt(2 / (D + D))         # flattened DenseGeneral fans


def test_vit():
    params = init_tree(KEY, vit_shapes(), recipes.vit(L, D))
    assert check(params, expect_vit) == []
    assert audit.check(params, recipes.vit(L, D)).ok


def test_vit_against_gpt2_fails():
    params = init_tree(KEY, vit_shapes(), recipes.vit(L, D))
    assert len(check(params, lambda p, s: ("normal", 0.02))) > 10


# ------------------------------------------------------------------------------ DeepNet


def test_deepnet_constants_and_fused_qkv():
    n = L
    r = recipes.deepnet(n, embedding=jinit.normal(0.02), lm_head=jinit.normal(0.02))
    beta = (8 * n) ** -0.25
    assert r.extras == pytest.approx({"alpha": (2 * n) ** 0.25, "beta": beta})
    params = init_tree(KEY, gpt_shapes(), r)

    def expect(path, shape):
        if "ln_" in path:
            return ("zeros", 0) if _last(path) == "bias" else ("ones", 1)
        if _last(path) == "bias":
            return "zeros", 0
        if "wte" in path or "wpe" in path or "lm_head" in path:
            return "normal", 0.02
        fan_in, fan_out = shape
        if "c_attn" in path:
            fan_out //= 3
        return "normal", beta * math.sqrt(2 / (fan_in + fan_out))

    leaves = _leaves(params)
    assert [b for b in check(params, expect) if "c_attn" not in b[0]] == []
    assert audit.check(params, r).ok          # the fused QKV part by part
    for i in range(L):   # fused QKV: q and k at gain 1, v at gain beta
        w = leaves[f"params/h_{i}/attn/c_attn/kernel"]
        std = math.sqrt(2 / (D + D))
        for part, gain in zip(np.split(w, 3, axis=-1), (1.0, 1.0, beta), strict=True):
            assert _std_ok(part, gain * std, "normal")[0]


# ----------------------------------------------------------------------- roles and errors


def test_hf_flax_namings_get_their_roles():
    r = recipes.nanogpt(12)
    assert r.role_of("transformer/h/3/attn/c_proj/kernel") == ("attn_out", "weight")
    assert r.role_of("transformer/h/3/mlp/c_proj/kernel") == ("mlp_out", "weight")
    assert r.role_of("transformer/h/3/mlp/c_fc/bias") == ("mlp_up", "bias")
    assert r.layer_of("transformer/h/3/attn/c_proj/kernel") == 3
    llama = recipes.llama_torchtitan(32, 4096)
    assert llama.role_of("model/layers/3/self_attn/o_proj/kernel") == ("attn_out", "weight")
    assert llama.role_of("model/layers/3/mlp/gate_proj/kernel") == ("mlp_gate", "weight")
    assert llama.role_of("model/norm/weight") == ("norm", "scale")
    assert llama.layer_of("model/layers/3/self_attn/o_proj/kernel") == 3
    assert llama.layer_of("params/layers_17/attention/wo/kernel") == 17


def test_torchtitan_and_olmo_core_namings_get_their_roles():
    """torchtitan's w1 is the gate and w3 the up projection (scaled by depth in the recipe)."""
    r = recipes.llama_torchtitan(32, 4096)
    roles = {p: r.role_of(p)[0] for p in (
        "tok_embeddings/embedding", "layers/3/attention/wq/kernel",
        "layers/3/attention/wo/kernel", "layers/3/feed_forward/w1/kernel",
        "layers/3/feed_forward/w3/kernel", "layers/3/feed_forward/w2/kernel",
        "layers/3/attention_norm/scale", "layers/3/ffn_norm/scale", "norm/scale",
        "output/kernel", "layers/3/attention/wqkv/kernel",
        "embeddings/embedding", "blocks/2/attention/w_qkv/kernel", "lm_head/w_out/kernel")}
    assert list(roles.values()) == [
        "token_embedding", "q", "attn_out", "mlp_gate", "mlp_up", "mlp_out", "norm", "norm",
        "norm", "lm_head", "qkv", "token_embedding", "qkv", "lm_head"]
    assert r.initializer_for("layers/3/feed_forward/w3/kernel", (8, 8)).params["std"] == \
        pytest.approx(0.02 / math.sqrt(8))
    assert r.initializer_for("layers/3/feed_forward/w1/kernel", (8, 8)).params["std"] == 0.02


def test_encoder_outputs_and_routers_are_not_mistaken():
    r = recipes.nanogpt(2)
    assert r.role_of("params/encoder/output/kernel") is None
    assert r.role_of("model/decoder/output/dense/kernel") is None
    assert r.role_of("layers/0/block_sparse_moe/gate/kernel") is None
    assert r.role_of("decoder/logits_dense/kernel")[0] == "lm_head"


def test_torch_layout_weight_is_refused_where_fans_matter():
    r = recipes.nanochat(2, 64)
    with pytest.raises(ValueError, match=r"names a 'weight'.*layout='out_in'"):
        r.initializer_for("h/0/mlp/c_fc/weight", (256, 64))
    out_in = recipes.nanochat(2, 64, layout="out_in")
    assert out_in.initializer_for("h/0/mlp/c_fc/weight", (256, 64)).params["stddev"] == \
        pytest.approx(1 / 8)
    assert r.initializer_for("wte/weight", (10, 64)) is not None   # no fans: no layout


def test_maxtext_fused_mlp_input_contracts_axis_0():
    init = recipes.maxtext(2, 1024, 64).initializer_for("layers_0/mlp/wi/kernel", (1024, 2, 4096))
    w = init(KEY, (1024, 2, 4096))
    assert _std_ok(np.asarray(w, np.float64), 1 / math.sqrt(1024), "trunc2")[0]


def test_unmatched_leaf_is_an_error_naming_it():
    shapes = {"params": {"mystery": {"kernel": jax.ShapeDtypeStruct((4, 4), jnp.float32)}}}
    with pytest.raises(ValueError, match=r"recipes\.gpt2\(\): roles=.*'params/mystery/kernel'"):
        init_tree(KEY, shapes, recipes.gpt2(2))
    r = recipes.gpt2(2, roles={r"mystery/": "mlp_up"})
    assert r.role_of("params/mystery/kernel") == ("mlp_up", "weight")


def test_roles_of_lists_every_unmatched_path():
    shapes = {"a": {"kernel": jax.ShapeDtypeStruct((2, 2), jnp.float32)},
              "b": {"kernel": jax.ShapeDtypeStruct((2, 2), jnp.float32)}}
    with pytest.raises(ValueError, match=r"2 leaf path\(s\): 'a/kernel', 'b/kernel'"):
        recipes.gpt2(2).roles_of(shapes)


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"recipes\.nanogpt\(\): n_layer='12' is not an int"):
        recipes.nanogpt("12")
    with pytest.raises(ValueError, match=r"recipes\.olmo_core\(\): method='llama2' is not valid"):
        recipes.olmo_core("llama2", 2, 8)
    with pytest.raises(ValueError, match=r"roles\['x'\]='mlp' is not valid"):
        recipes.gpt2(2, roles={"x": "mlp"})
    with pytest.raises(ValueError, match="scan_axis"):
        recipes.llama_torchtitan(4, 8).initializer_for("layers/attention/wo/kernel", (8, 8))


def test_table_lists_every_role_with_formula_and_value():
    text = str(recipes.llama_torchtitan(32, 4096))
    assert "attn_out" in text and "0.02/√(2(layer+1))" in text
    assert "0.01414 (layer 0) … 0.0025 (layer 31)" in text
    assert "pytorch/torchtitan" in text


# ------------------------------------------------------------------------------ sharding


def test_sharded_values_equal_unsharded():
    mesh = Mesh(np.array(jax.devices()[:8]).reshape(8), ("x",))
    shapes = gpt_shapes()
    r = recipes.nanogpt(L)

    def spec(x):
        return NamedSharding(mesh, PartitionSpec("x") if x.shape[0] % 8 == 0 else PartitionSpec())

    shardings = jax.tree.map(spec, shapes)
    a = init_tree(KEY, shapes, r, shardings=shardings)
    b = init_tree(KEY, shapes, r)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    kernel = a["params"]["h_0"]["mlp"]["c_fc"]["kernel"]
    assert len(kernel.sharding.device_set) == 8


def test_recipes_example_runs(capsys):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "examples" / "recipes.py"
    spec = importlib.util.spec_from_file_location("recipes_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--layers", "2", "--width", "32", "--vocab", "64"]) == 0
    out = capsys.readouterr().out
    assert "audit: PASS" in out and "exactly the residual projections and wpe: yes" in out


def test_normalized_sharded_values_equal_unsharded():
    """nGPT's unit vectors are normalized along a sharded axis: the values must not move."""
    mesh = Mesh(np.array(jax.devices()[:8]).reshape(8), ("x",))
    shapes = ngpt_state()
    r = recipes.olmo_core("normalized", L, D)

    def spec(x):
        return NamedSharding(mesh, PartitionSpec("x") if x.shape[0] % 8 == 0 else PartitionSpec())

    shardings = jax.tree.map(lambda v: spec(v.get_value()), shapes,
                             is_leaf=lambda x: isinstance(x, nnx.Variable))
    a = init_tree(KEY, shapes, r, shardings=shardings)
    b = init_tree(KEY, shapes, r)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert len(a["blocks"][0]["attention"]["w_q"]["kernel"].sharding.device_set) == 8


# ------------------------------------------------------------ tied torchtitan embedding


def _sds(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def test_torchtitan_tied_embedding_takes_the_output_law():
    """torchtitan b5bcd76 (llama3/__init__.py): tied configs skip the embedding's init, so
    the shared matrix is the head's trunc_normal(std=d^-1/2, ±3σ), not N(0, 1)."""
    shapes = {"tok_embeddings": {"embedding": _sds(V, D)}}
    tied = init_tree(KEY, shapes, recipes.llama_torchtitan(L, D, enable_weight_tying=True))
    x = _leaves(tied)["tok_embeddings/embedding"]
    assert _std_ok(x, D ** -0.5 * TRUNC3, "trunc3")[0]
    assert _support_ok(x, D ** -0.5 * TRUNC3, "trunc3")
    # negative control: the untied recipe's N(0, 1) is 8x (here) the std and unbounded
    untied = _leaves(init_tree(KEY, shapes, recipes.llama_torchtitan(L, D)))
    assert not _std_ok(untied["tok_embeddings/embedding"], D ** -0.5 * TRUNC3, "trunc3")[0]
    doc = recipes.llama_torchtitan.__doc__
    assert "b5bcd76" in doc and "_EMBEDDING_SKIP_INIT" in doc and "same values," not in doc
    with pytest.raises(TypeError, match=r"enable_weight_tying=1 is not a bool"):
        recipes.llama_torchtitan(L, D, enable_weight_tying=1)


def test_deepnet_docstring_states_torchscale_never_calls_reset_parameters():
    doc = recipes.deepnet.__doc__
    assert "4d1e0e8" in doc and "never called" in doc and "on q, k, v; PyTorch" not in doc


# ------------------------------------------------------------------ errors and options


def test_one_error_names_every_roleless_leaf():
    shapes = {"params": {f"mystery_{i}": {"kernel": _sds(4, 4)} for i in range(15)}
              | {"wte": {"embedding": _sds(8, 4)}}}
    everyone = "".join(f".*'params/mystery_{i}/kernel'" for i in sorted(
        range(15), key=lambda i: f"mystery_{i}"))
    for call in (lambda: init_tree(KEY, shapes, recipes.gpt2(2)),
                 lambda: audit.check(jax.tree.map(lambda s: jnp.zeros(s.shape), shapes),
                                     recipes.gpt2(2)),
                 lambda: recipes.gpt2(2).roles_of(shapes)):
        with pytest.raises(ValueError, match=r"gives no role to 15 leaf path\(s\)" + everyone):
            call()


def test_one_error_names_every_leaf_whose_role_the_recipe_lacks():
    shapes = {"blocks": {str(i): {"attention": {"w_g": {"kernel": _sds(D, H)}}}
                         for i in range(3)}}
    with pytest.raises(ValueError, match=r"gives 3 leaf path\(s\) a role this recipe does not "
                       r"define: 'blocks/0/attention/w_g/kernel' \(attn_gate\), "
                       r"'blocks/1/.*'blocks/2/"):
        init_tree(KEY, shapes, recipes.llama_hf(L))
    assert init_tree(KEY, shapes, recipes.olmo_core("llama", L, D)) is not None


def test_layer_regex_without_a_group_is_refused_when_built():
    with pytest.raises(ValueError, match=r"recipes\.nanogpt\(\): layer='blk_\\\\d\+' has no "
                       r"capture group"):
        recipes.nanogpt(4, layer=r"blk_\d+")
    r = recipes.llama_torchtitan(4, 8, layer=r"blk_(\d+)")
    assert r.layer_of("blk_3/attention/wo/kernel") == 3
    with pytest.raises(ValueError, match=r"layer=.*captures 'x'"):
        recipes.llama_torchtitan(4, 8, layer=r"blk_(\w)").layer_of("blk_x/wo/kernel")


ALL_RECIPES = {
    "gpt2": lambda **kw: recipes.gpt2(L, **kw),
    "nanogpt": lambda **kw: recipes.nanogpt(L, **kw),
    "nanochat": lambda **kw: recipes.nanochat(L, D, **kw),
    "llama_hf": lambda **kw: recipes.llama_hf(L, **kw),
    "llama_torchtitan": lambda **kw: recipes.llama_torchtitan(L, D, **kw),
    "olmo_mitchell": lambda **kw: recipes.olmo_mitchell(L, D, **kw),
    "olmo_megatron": lambda **kw: recipes.olmo_megatron(L, D, **kw),
    "olmo_core": lambda **kw: recipes.olmo_core("llama", L, D, **kw),
    "olmo_core_normalized": lambda **kw: recipes.olmo_core("normalized", L, D, **kw),
    "maxtext": lambda **kw: recipes.maxtext(L, D, D // H, **kw),
    "vit": lambda **kw: recipes.vit(L, D, **kw),
    "deepnet": lambda **kw: recipes.deepnet(L, **kw),
}


@pytest.mark.parametrize("name", sorted(ALL_RECIPES))
def test_overrides_replace_one_role_on_every_recipe(name):
    make = ALL_RECIPES[name]
    init = jinit.constant(0.5)
    r = make(overrides={"attn_out": init})
    assert r.initializer_for("layers/1/attention/o_proj/kernel", (D, D)) is init
    base = make().initializer_for("layers/1/attention/q_proj/kernel", (D, D))
    assert repr(r.initializer_for("layers/1/attention/q_proj/kernel", (D, D))) == repr(base)
    text = str(r)
    assert "jinit.constant(value=0.5" in text and "[overridden]" in text
    assert "overridden (overrides=): attn_out" in text
    assert "[overridden]" not in str(make())
    with pytest.raises(ValueError, match=r"overrides='mlp' is not a role of this recipe; "
                       r"expected one of .*'attn_out'"):
        make(overrides={"mlp": init})
    with pytest.raises(TypeError, match=r"overrides\['attn_out'\]=0.02 is not callable"):
        make(overrides={"attn_out": 0.02})
    with pytest.raises(TypeError, match=r"Did you mean jinit\.he_normal\(\)"):
        make(overrides={"attn_out": jinit.he_normal})


def test_overrides_norm_zeros_for_one_plus_scale_norms_and_audit():
    """Gemma's RMSNorm computes x·(1 + scale), so its scale starts at 0: overrides says so."""
    state = llama_state()
    r = recipes.llama_hf(L, overrides={"norm": jinit.zeros})
    params = init_tree(KEY, state, r)
    leaves = _leaves(params)
    norms = [p for p in leaves if "norm" in p]
    assert norms and all(np.all(leaves[p] == 0) for p in norms)
    assert check(params, lambda p, s: ("zeros", 0) if "norm" in p
                 else expect_llama_hf(p, s)) == []
    assert audit.check(params, r).ok
    # negative control: the recipe without the override flags every norm
    assert set(audit.check(params, recipes.llama_hf(L)).flagged) == set(norms)


def test_gpt2_n_layer_is_optional():
    assert repr(recipes.gpt2(12).initializer_for("h/0/attn/c_proj/kernel", (8, 8))) == \
        repr(recipes.gpt2().initializer_for("h/0/attn/c_proj/kernel", (8, 8)))
    stacked = {"h": {"attn": {"c_proj": {"kernel": _sds(L, 128, 128)}}}}
    x = _leaves(init_tree(KEY, stacked, recipes.gpt2(scan_axis=0)))["h/attn/c_proj/kernel"]
    assert _std_ok(x, 0.02, "normal")[0] and not _std_ok(x, 0.021, "normal")[0]
    with pytest.raises(ValueError, match="scan_axis"):
        init_tree(KEY, stacked, recipes.gpt2(L + 1, scan_axis=0))


# ------------------------------------------------------- Flax's own example models' names
# Path trees shaped like google/flax examples/lm1b and examples/wmt ``models.py`` (linen,
# ``Decoder``: ``Embed_0``, ``encoderdecoderblock_<i>``, ``encoderdecoder_norm``,
# ``logitdense``; wmt: ``shared_embedding``, ``encoderblock_<i>``, cross-attention
# ``MultiHeadDotProductAttention_1``) and examples/gemma ``transformer.py``/``modules.py``
# (NNX: ``embedder``, ``layers/<i>/attn/{q,kv,qkv,attn_vec}_einsum``, ``mlp/*_proj``).


def _ln():
    return {"bias": _sds(D), "scale": _sds(D)}


def _mha():
    qkv = {n: {"kernel": _sds(D, H, D // H)} for n in ("query", "key", "value")}
    return qkv | {"out": {"kernel": _sds(H, D // H, D)}}


def _mlp_block():
    return {"Dense_0": {"bias": _sds(FF), "kernel": _sds(D, FF)},
            "Dense_1": {"bias": _sds(D), "kernel": _sds(FF, D)}}


def lm1b_shapes():
    block = {"LayerNorm_0": _ln(), "LayerNorm_1": _ln(), "MlpBlock_0": _mlp_block(),
             "MultiHeadDotProductAttention_0": _mha()}
    decoder = {"Embed_0": {"embedding": _sds(V, D)}, "encoderdecoder_norm": _ln(),
               "logitdense": {"bias": _sds(V), "kernel": _sds(D, V)}}
    decoder |= {f"encoderdecoderblock_{i}": block for i in range(L)}
    return {"params": {"decoder": decoder}}


def wmt_shapes():
    enc = {"LayerNorm_0": _ln(), "LayerNorm_1": _ln(), "MlpBlock_0": _mlp_block(),
           "MultiHeadDotProductAttention_0": _mha()}
    dec = enc | {"LayerNorm_2": _ln(), "MultiHeadDotProductAttention_1": _mha()}
    encoder = {"encoder_norm": _ln()} | {f"encoderblock_{i}": enc for i in range(L)}
    decoder = {"encoderdecoder_norm": _ln(), "logitdense": {"bias": _sds(V),
                                                             "kernel": _sds(D, V)}}
    decoder |= {f"encoderdecoderblock_{i}": dec for i in range(L)}
    return {"params": {"shared_embedding": {"embedding": _sds(V, D)}, "encoder": encoder,
                       "decoder": decoder}}


GN, GK, GH = 4, 2, 16     # Gemma: heads, kv heads, head_dim


def gemma_shapes(gqa=True):
    heads = GN if gqa else GK
    attn = {"attn_vec_einsum": {"kernel": _sds(heads, GH, D)}}
    if gqa:
        attn |= {"q_einsum": {"kernel": _sds(GN, D, GH)},
                 "kv_einsum": {"kernel": _sds(2, GK, D, GH)}}
    else:
        attn |= {"qkv_einsum": {"kernel": _sds(3, GK, D, GH)}}
    layer = {"pre_attention_norm": {"scale": _sds(D)}, "attn": attn,
             "pre_ffw_norm": {"scale": _sds(D)},
             "mlp": {"gate_proj": {"kernel": _sds(D, FF)}, "up_proj": {"kernel": _sds(D, FF)},
                     "down_proj": {"kernel": _sds(FF, D)}}}
    return {"embedder": {"embedding": _sds(V, D)}, "layers": {str(i): layer for i in range(L)},
            "final_norm": {"scale": _sds(D)}}


def test_flax_example_names_get_roles_and_layers():
    r = recipes.llama_torchtitan(L, D)
    lm1b = r.roles_of(lm1b_shapes())
    assert lm1b["params/decoder/logitdense/kernel"] == ("lm_head", "weight")
    assert lm1b["params/decoder/Embed_0/embedding"] == ("token_embedding", "weight")
    blk = "params/decoder/encoderdecoderblock_2/"
    assert lm1b[blk + "MultiHeadDotProductAttention_0/out/kernel"] == ("attn_out", "weight")
    assert lm1b[blk + "MlpBlock_0/Dense_1/kernel"] == ("mlp_out", "weight")
    assert r.layer_of(blk + "MlpBlock_0/Dense_1/kernel") == 2
    wmt = r.roles_of(wmt_shapes())
    assert wmt["params/shared_embedding/embedding"] == ("token_embedding", "weight")
    assert wmt["params/decoder/encoderdecoderblock_1/MultiHeadDotProductAttention_1/key/kernel"
               ] == ("k", "weight")
    gemma = r.roles_of(gemma_shapes()) | r.roles_of(gemma_shapes(gqa=False))
    assert {p.rsplit("/", 2)[-2]: role for p, (role, _) in gemma.items()} == {
        "embedder": "token_embedding", "pre_attention_norm": "norm", "pre_ffw_norm": "norm",
        "final_norm": "norm", "q_einsum": "q", "kv_einsum": "kv", "qkv_einsum": "qkv",
        "attn_vec_einsum": "attn_out", "gate_proj": "mlp_gate", "up_proj": "mlp_up",
        "down_proj": "mlp_out"}
    # the per-layer recipe draws both examples (the layer index read from the block name)
    params = init_tree(KEY, lm1b_shapes(), r)
    for i in range(L):
        x = _leaves(params)[f"params/decoder/encoderdecoderblock_{i}/"
                            "MultiHeadDotProductAttention_0/out/kernel"]
        assert _std_ok(x, _titan_std(i), "normal")[0]
        assert not _std_ok(x, _titan_std(i + 1), "normal")[0]        # control: next layer
    assert audit.check(init_tree(KEY, wmt_shapes(), r), r).ok


def expect_gemma_fan_in(path, shape):
    """OLMo-core's fan_in law from each einsum's own contraction (examples/gemma): q, kv,
    qkv read d_model; attn_vec reads heads·head_dim; Gemma's norms start at 0."""
    if "norm" in path:
        return "zeros", 0
    if path.startswith("embedder"):
        return "normal", 1.0
    n_in = {"attn_vec_einsum": GN * GH, "down_proj": FF}.get(path.split("/")[-2], D)
    return "trunc3", TRUNC3 / math.sqrt(n_in)


def test_gemma_einsum_kernels_get_their_own_fans():
    r = recipes.olmo_core("fan_in", L, D, overrides={"norm": jinit.zeros})
    params = init_tree(KEY, gemma_shapes(), r)
    assert check(params, expect_gemma_fan_in) == []
    assert audit.check(params, r).ok
    # negative control: the DenseGeneral guess (axis 0 contracted) gives q_einsum fan_in =
    # heads and qkv_einsum fan_in = 3, both far off
    q = _leaves(params)["layers/0/attn/q_einsum/kernel"]
    assert not _std_ok(q, TRUNC3 / math.sqrt(GN), "trunc3")[0]
    mha = init_tree(KEY, gemma_shapes(gqa=False), r)
    assert check(mha, lambda p, s: expect_gemma_fan_in(p, s) if "attn_vec" not in p
                 else ("trunc3", TRUNC3 / math.sqrt(GK * GH))) == []
    qkv = _leaves(mha)["layers/0/attn/qkv_einsum/kernel"]
    assert not _std_ok(qkv, TRUNC3 / math.sqrt(3), "trunc3")[0]


def test_deepnet_splits_einsum_kernels_on_their_stacking_axis():
    beta = (8 * L) ** -0.25
    r = recipes.deepnet(L, embedding=jinit.normal(0.02))
    for gqa, name, gains in ((True, "kv_einsum", (1.0, beta)),
                             (False, "qkv_einsum", (1.0, 1.0, beta))):
        w = _leaves(init_tree(KEY, gemma_shapes(gqa), r))[f"layers/0/attn/{name}/kernel"]
        fan_out = GK * GH
        for part, gain in zip(w, gains, strict=True):          # axis 0: one matrix per part
            assert _std_ok(part, gain * math.sqrt(2 / (D + fan_out)), "normal")[0]
        assert not _std_ok(w[-1], math.sqrt(2 / (D + fan_out)), "normal")[0]   # v is scaled


def test_einsum_kernels_of_unknown_layout_are_refused_where_fans_matter():
    r = recipes.olmo_core("fan_in", L, D, roles={r"foo_einsum/": "q"})
    with pytest.raises(ValueError, match=r"3-axis einsum kernel whose contracted axes are in "
                       r"its einsum string"):
        r.initializer_for("layers/0/attn/foo_einsum/kernel", (GN, D, GH))
    with pytest.raises(ValueError, match=r"einsum kernel 'layers/0/attn/q_einsum/kernel' has "
                       r"4 axes.*Gemma"):
        r.initializer_for("layers/0/attn/q_einsum/kernel", (1, GN, D, GH))
    # a recipe whose std does not depend on fans takes them as they are
    assert recipes.llama_hf(L, roles={r"foo_einsum/": "q"}).initializer_for(
        "layers/0/attn/foo_einsum/kernel", (GN, D, GH)) is not None


# ------------------------------------------------------------ OLMo-core's and OLMo's options


class GatedAttention(OCAttention):
    def __init__(self, rngs):
        super().__init__(rngs)
        self.w_g = nnx.Linear(D, H, use_bias=False, rngs=rngs)     # headwise gate


@pytest.mark.parametrize("method,std", [("normal", 0.02), ("llama", 0.02),
                                        ("llama_depth", 0.02), ("fan_in", D ** -0.5)])
def test_olmo_core_attention_gate(method, std):
    """Attention.init_weights: w_g at the base std (fan_in: its in_features^-1/2), ±3σ."""
    shapes = _state_params(nnx.split(nnx.eval_shape(lambda: GatedAttention(nnx.Rngs(0))),
                                     nnx.Param)[1])
    shapes = {"blocks": {"0": {"attention": {k.split("/")[0]: {"kernel": v}
                                             for k, v in shapes.items()}}}}
    big = {"blocks": {"0": {"attention": {"w_g": {"kernel": _sds(D, 64 * H)}}}}}
    r = recipes.olmo_core(method, L, D)
    x = _leaves(init_tree(KEY, big, r))["blocks/0/attention/w_g/kernel"]
    assert _std_ok(x, TRUNC3 * std, "trunc3")[0] and _support_ok(x, TRUNC3 * std, "trunc3")
    assert not _std_ok(x, TRUNC3 * std * 1.1, "trunc3")[0]              # control
    assert r.role_of("blocks/0/attention/w_g/kernel") == ("attn_gate", "weight")
    assert audit.check(init_tree(KEY, shapes, r), r).ok


def test_olmo_core_embedding_init_std_and_embed_scale():
    shapes = {"embeddings": {"embedding": _sds(V, D)}}
    x = _leaves(init_tree(KEY, shapes, recipes.olmo_core("normal", L, D,
                                                         embedding_init_std=0.05)))
    e = x["embeddings/embedding"]
    assert _std_ok(e, 0.05 * TRUNC3, "trunc3")[0] and _support_ok(e, 0.05 * TRUNC3, "trunc3")
    assert not _std_ok(e, 0.02 * TRUNC3, "trunc3")[0]                   # control: std
    with pytest.raises(ValueError, match=r"embedding_init_std=0.05 has no effect with "
                       r"method='llama'"):
        recipes.olmo_core("llama", L, D, embedding_init_std=0.05)
    s = math.sqrt(D)
    r = recipes.olmo_core("fan_in", L, D, embed_scale=s)
    assert r.extras == {"embed_scale": s}
    e = _leaves(init_tree(KEY, shapes, r))["embeddings/embedding"]
    assert _std_ok(e, 1 / s, "normal")[0] and not _std_ok(e, 1.0, "normal")[0]
    # embed_scale is a forward multiplier; with llama the init is unchanged
    assert repr(recipes.olmo_core("llama", L, D, embed_scale=s).initializer_for(
        "embeddings/embedding", (V, D))) == repr(recipes.olmo_core("llama", L, D)
                                                 .initializer_for("embeddings/embedding", (V, D)))


def test_olmo_emb_init_std():
    shapes = {"wte": {"embedding": _sds(V, D)}, "wpe": {"embedding": _sds(T * 8, D)}}
    for r in (recipes.olmo_mitchell(L, D, emb_init_std=0.1),
              recipes.olmo_megatron(L, D, emb_init_std=0.1)):
        x = _leaves(init_tree(KEY, shapes, r))
        assert _std_ok(x["wte/embedding"], 0.1 * TRUNC3, "trunc3")[0]
        assert _support_ok(x["wte/embedding"], 0.1 * TRUNC3, "trunc3")
        wpe = D ** -0.5 if r.name == "olmo_mitchell" else 0.02       # wpe keeps its std
        assert _std_ok(x["wpe/embedding"], wpe * TRUNC3, "trunc3")[0]
        assert not _std_ok(x["wte/embedding"], wpe * TRUNC3, "trunc3")[0]
    with pytest.raises(ValueError, match=r"emb_init_std=0.1 is given with scale_emb_init"):
        recipes.olmo_megatron(L, D, emb_init_std=0.1, scale_emb_init=True)
    with pytest.raises(ValueError, match=r"emb_init_std=-1"):
        recipes.olmo_mitchell(L, D, emb_init_std=-1)


def test_scanned_gemma_einsum_slices_get_their_own_fans():
    stacked = {"layers": {"attn": {"q_einsum": {"kernel": _sds(L, GN, D, GH)}}}}
    r = recipes.olmo_core("fan_in", L, D, scan_axis=0)
    w = _leaves(init_tree(KEY, stacked, r))["layers/attn/q_einsum/kernel"]
    for i in range(L):
        assert _std_ok(w[i], TRUNC3 / math.sqrt(D), "trunc3")[0]
        assert not _std_ok(w[i], TRUNC3 / math.sqrt(GN), "trunc3")[0]    # control: heads
    with pytest.raises(ValueError, match=r"has 4 axes.*pass scan_axis="):
        init_tree(KEY, stacked, recipes.olmo_core("fan_in", L, D))
