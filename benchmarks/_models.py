"""Model shapes for the whole-model benchmarks: GPT-2 (Flax and torch) and Llama-2 (Flax).

The models exist only to give ``jax.eval_shape`` and torch a realistic parameter tree; the
forward passes are minimal but shape-correct, so ``model.apply`` runs on the result.
"""

from __future__ import annotations

STD = 0.02  # GPT-2 (and Llama HF) weight standard deviation

# GPT-2: vocab, context, width, layers, heads (Radford et al. 2019, Table 2; HF configs)
GPT2 = {
    "tiny": (512, 64, 64, 2, 2),
    "small": (50257, 1024, 768, 12, 12),
    "medium": (50257, 1024, 1024, 24, 16),
    "large": (50257, 1024, 1280, 36, 20),
    "xl": (50257, 1024, 1600, 48, 25),
}
DEPTHS = (3, 6, 12, 24, 48)  # the depth sweep: GPT-2 small's width (768), these many blocks

# Llama-2: vocab, width, layers, heads, MLP width (Touvron et al. 2023; meta-llama/Llama-2-7b
# config.json: hidden_size 4096, intermediate_size 11008, 32 layers, 32 heads, vocab 32000)
LLAMA = {
    "tiny": (256, 64, 2, 4, 160),
    "7b": (32000, 4096, 32, 32, 11008),
}


def gpt2_config(name: str) -> tuple[int, int, int, int, int]:
    """A GPT-2 config by name, or ``d768_L<n>`` for the depth sweep."""
    if name.startswith("d768_L"):
        return (50257, 1024, 768, int(name.removeprefix("d768_L")), 12)
    return GPT2[name]


def gpt2_flax(cfg):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    vocab, ctx, d, layers, heads = cfg
    w_init = jax.nn.initializers.normal(STD)

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            b, t, _ = x.shape
            h = nn.LayerNorm(name="ln_1")(x)
            q, k, v = jnp.split(nn.Dense(3 * d, kernel_init=w_init, name="c_attn")(h), 3, -1)
            q, k, v = (a.reshape(b, t, heads, d // heads) for a in (q, k, v))
            att = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // heads), -1)
            y = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, d)
            x = x + nn.Dense(d, kernel_init=w_init, name="c_proj")(y)
            h = nn.LayerNorm(name="ln_2")(x)
            h = nn.gelu(nn.Dense(4 * d, kernel_init=w_init, name="c_fc")(h))
            return x + nn.Dense(d, kernel_init=w_init, name="mlp_proj")(h)

    class GPT2(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            wte = nn.Embed(vocab, d, embedding_init=w_init, name="wte")
            x = wte(tokens) + nn.Embed(ctx, d, embedding_init=w_init, name="wpe")(
                jnp.arange(tokens.shape[1]))
            for i in range(layers):
                x = Block(name=f"h_{i}")(x)
            return wte.attend(nn.LayerNorm(name="ln_f")(x))

    return GPT2()


def gpt2_torch(cfg):
    """GPT-2 in torch, initialized the way GPT-2 code does: N(0, 0.02) weights, zero biases."""
    from torch import nn

    vocab, ctx, d, layers, heads = cfg

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    class GPT2(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.h = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)
            self.apply(self._init_weights)

        @staticmethod
        def _init_weights(m):
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, STD)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    return GPT2()


def gpt2_rules():
    import jinit

    return {r"(kernel|embedding)$": jinit.normal(STD), r"bias$": jinit.zeros,
            r"scale$": jinit.ones}


def gpt2_scanned(shapes, layers: int):
    """GPT-2's abstract params with blocks ``h_0 .. h_{L-1}`` stacked into one ``h`` whose
    leaves have the layer axis first (the tree ``nn.scan`` over the blocks gives)."""
    import jax

    params = dict(shapes["params"])
    blocks = [params.pop(f"h_{i}") for i in range(layers)]
    params["h"] = jax.tree.map(
        lambda *xs: jax.ShapeDtypeStruct((len(xs), *xs[0].shape), xs[0].dtype), *blocks)
    return {"params": params}


def gpt2_scanned_recipe(layers: int):
    """``recipes.gpt2`` for :func:`gpt2_scanned` (this model's MLP output is ``mlp_proj``)."""
    from jinit import recipes

    return recipes.gpt2(layers, scan_axis=0, roles={
        r"h/c_proj/(kernel|bias)$": "attn_out", r"mlp_proj/(kernel|bias)$": "mlp_out"})


def llama_flax(cfg, axis: str | None = "model"):
    """Llama-2 in Flax linen, bfloat16 parameters, every matrix ``nn.with_partitioning``
    over mesh axis ``axis`` (its output axis for q/k/v/gate/up and the embeddings, its
    input axis for o/down); norms are replicated."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    vocab, d, layers, heads, ffn = cfg
    bf16 = jnp.bfloat16
    w = jax.nn.initializers.normal(STD)

    def split_out(init):
        return nn.with_partitioning(init, (None, axis))

    def split_in(init):
        return nn.with_partitioning(init, (axis, None))

    def dense(features, name, partition):
        return nn.Dense(features, use_bias=False, kernel_init=partition(w), param_dtype=bf16,
                        dtype=bf16, name=name)

    class RMSNorm(nn.Module):
        @nn.compact
        def __call__(self, x):
            scale = self.param("scale", nn.initializers.ones, (d,), bf16)
            return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + 1e-5) * scale

    class Layer(nn.Module):
        @nn.compact
        def __call__(self, x):
            b, t, _ = x.shape
            h = RMSNorm(name="attention_norm")(x)
            q, k, v = (dense(d, n, split_out)(h).reshape(b, t, heads, d // heads)
                       for n in ("wq", "wk", "wv"))
            att = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d // heads), -1)
            y = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(b, t, d)
            x = x + dense(d, "wo", split_in)(y)
            h = RMSNorm(name="ffn_norm")(x)
            g = jax.nn.silu(dense(ffn, "w1", split_out)(h)) * dense(ffn, "w3", split_out)(h)
            return x + dense(d, "w2", split_in)(g)

    class Llama(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(vocab, d, embedding_init=split_out(w), param_dtype=bf16, dtype=bf16,
                         name="tok_embeddings")(tokens)
            for i in range(layers):
                x = Layer(name=f"layers_{i}")(x)
            return dense(vocab, "output", split_out)(RMSNorm(name="norm")(x))

    return Llama()


def llama_rules():
    import jinit

    return {r"(kernel|embedding)$": jinit.normal(STD), r"scale$": jinit.ones}
