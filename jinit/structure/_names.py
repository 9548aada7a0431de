"""Roles and layer indices read from parameter names: the guesses a recipe makes.

A recipe (:mod:`jinit.recipes`) decides a leaf's role (``q``, ``mlp_out``, ``lm_head``, ...)
and its layer from its path alone; these patterns are that guess, kept here with the other
guesses from names and shapes (:mod:`jinit.structure._guess`). Where a model is at hand,
:func:`jinit.structure.trace` reads fans and layouts from its computation instead; a role is
still named by these patterns. Public as ``jinit.recipes.DEFAULT_ROLES`` and
``jinit.recipes.DEFAULT_LAYER``.
"""

from __future__ import annotations

# A path part that follows the model's scope: linen wraps everything in ``params``; Hugging
# Face's Flax ports add ``transformer`` or ``model``; MaxText adds ``decoder``.
_TOP = r"^(?:(?:params|model|transformer)/)*(?:decoder/)?"
_ATTN = r"(?:attn|attention|self_attn|self_attention|MultiHeadDotProductAttention_\d+|mha)"
_MLP = r"(?:mlp|feed_forward|ffn|ff|MlpBlock_\d+)"

# regex -> role, tried in order; ``re.search`` on the full leaf path.
DEFAULT_ROLES: tuple[tuple[str, str], ...] = (
    # nGPT's learned scalings (OLMo-core's names and the paper's): before the head's pattern,
    # which would take ``lm_head/sz``.
    (r"(?:^|/)(?:attn_alpha|mlp_alpha|alpha_a|alpha_m)$", "alpha"),
    (r"(?:^|/)(?:sq|sk|s_qk)$", "s_qk"),
    (r"(?:^|/)(?:sw1|sw3|s_u|s_v)$", "s_uv"),
    (r"(?:^|/)(?:sz|s_z)$", "s_z"),
    (r"(?:^|/)(?:ln_?\w*|\w*[Ll]ayer_?[Nn]orm\w*|\w*_norm|norm|RMSNorm_\d+|\w*_layernorm)/[^/]+$",
     "norm"),
    (r"(?:^|/)cls$", "cls_token"),
    (r"(?:^|/)(?:wpe|pos_embed\w*|position_embed\w*|posembed_input)(?:/|$)", "position_embedding"),
    (r"(?:^|/)(?:embedding|patch_embed\w*|conv_proj)/(?:kernel|bias)$", "patch_embedding"),
    (r"(?:^|/)(?:wte|embed_tokens|tok_embeddings|token_embedder|word_embeddings|embeddings|"
     r"shared|shared_embedding|embed|Embed_\d+|embedder)/(?:embedding|weight)$",
     "token_embedding"),
    (_TOP + r"(?:lm_head|output|logits_dense|logitdense|ff_out)/(?:w_out/)?[^/]+$", "lm_head"),
    (_TOP + r"head/[^/]+$", "head"),
    (_TOP + r"pre_logits/[^/]+$", "pre_logits"),
    (r"(?:^|/)(?:c_attn|att_proj|qkv|qkv_proj|wqkv|w_qkv|in_proj|qkv_einsum)/[^/]+$", "qkv"),
    (r"(?:^|/)(?:q_proj|wq|w_q|query|c_q|q_einsum)/[^/]+$", "q"),
    (r"(?:^|/)(?:k_proj|wk|w_k|key|c_k)/[^/]+$", "k"),
    (r"(?:^|/)(?:v_proj|wv|w_v|value|c_v)/[^/]+$", "v"),
    (r"(?:^|/)kv_einsum/[^/]+$", "kv"),
    (r"(?:^|/)(?:attn_out|o_proj|out_proj|attn_vec_einsum)/[^/]+$", "attn_out"),
    (r"(?:^|/)" + _ATTN + r"/w_g/[^/]+$", "attn_gate"),
    (r"(?:^|/)" + _ATTN + r"/(?:c_proj|wo|w_out|out|proj|dense)/[^/]+$", "attn_out"),
    (r"(?:^|/)(?:gate_proj|w1|wi_0)/[^/]+$", "mlp_gate"),
    (r"(?:^|/)(?:c_fc|up_proj|w3|wi_1|wi|ff_proj|fc1|fc_in|dense_h_to_4h)/[^/]+$", "mlp_up"),
    (r"(?:^|/)MlpBlock_\d+/Dense_0/[^/]+$", "mlp_up"),
    (r"(?:^|/)(?:down_proj|w2|ff_out|fc2|fc_out|dense_4h_to_h)/[^/]+$", "mlp_out"),
    (r"(?:^|/)" + _MLP + r"/(?:c_proj|wo|proj|Dense_1)/[^/]+$", "mlp_out"),
)

# The layer index of an unrolled stack: ``h/3``, ``h_3``, ``layers_3``, ``blocks/3``,
# ``encoderblock_3``, ``encoderdecoderblock_3`` (google/flax 18f8f31, ``examples/lm1b`` and
# ``examples/wmt`` ``models.py``), ``layers.3``.
DEFAULT_LAYER = (r"(?:^|/)(?:h|layers?|blocks?|encoderblock|encoderdecoderblock|decoder_?block|"
                 r"transformer_?block|Block|Layer)[_./]?(\d+)(?=/|$)")

# The scope of a scanned stack (``nn.scan``/``nnx.vmap``): a block name with no index.
DEFAULT_STACK = (r"(?:^|/)(?:h|layers?|blocks?|encoderblock|encoderdecoderblock|decoder_?block|"
                 r"transformer_?block|Block|Layer)(?:/|$)")
