"""MaxText's (T5-family) DenseGeneral inits, and the Vision Transformer's."""

from __future__ import annotations

import math

from .. import _checks
from ._recipe import Recipe, Spec
from ._specs import constant, lecun_normal, normal, ones, variance_scaling, xavier, zeros


def maxtext(n_layer: int, d_model: int, head_dim: int, d_ff: int | None = None, *,
            query_scaling: bool = True, roles: object = None, layer: str | None = None,
            scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""MaxText's decoder init (T5's convention): fan-in variance scaling over multi-axis fans.

    ========================================  ============================================
    role                                      law
    ========================================  ============================================
    query ``(d, heads, head_dim)``            ``variance_scaling(1, "fan_in", "normal")`` / :math:`\sqrt{d_h}`
    key, value, attention out                 ``variance_scaling(1, "fan_in", "normal")``
    MLP ``wi_0``, ``wi_1``, ``wo``            ``variance_scaling(1, "fan_in", "truncated_normal")``
    ``logits_dense`` (untied LM head)         ``variance_scaling(1, "fan_in", "truncated_normal")``
    token embedding                           :math:`\mathcal{N}(0, 1)`
    trainable position embedding              :math:`\mathcal{N}(0, 1)`
    biases, norm scales                       0, 1
    ========================================  ============================================

    so :math:`\operatorname{Var}[W] = 1/n_\text{in}` with :math:`n_\text{in}` the product of
    the contracted axes (:math:`d` for the query/key/value kernels, ``heads·head_dim`` for
    the attention output), and the query kernel's variance divided by :math:`d_h` — T5
    folds the :math:`1/\sqrt{d_h}` logit scale into the query init ("equivalent under
    Adafactor", ``attentions.py``). The attention layers use ``"normal"`` (the ``Attention``
    default, taken by the Llama-2 decoder layer), the MLP and logits ``"truncated_normal"``
    (``MlpBlock``/``DenseGeneral`` defaults); models whose layer passes another
    ``kernel_init`` (``config.dense_init_scale``) differ there. The query is not scaled when
    the model uses QK-norm or a ``query_pre_attn_scalar`` other than 1 (pass
    ``query_scaling=False``), nor is a fused QKV kernel (``init_qkv_w``: plain
    ``kernel_init``). A fused MLP input ``wi`` of shape ``(d, 2, d_ff)`` contracts axis 0.

    Args:
      n_layer: the number of decoder layers (for scanned stacks: MaxText scans by default,
        ``param_scan_axis`` 1).
      d_model: :math:`d`.
      head_dim: :math:`d_h`.
      d_ff: the MLP width (for the table's values; default ``4 * d_model``).
      query_scaling: divide the query kernel by :math:`\sqrt{d_h}` (default, as MaxText
        without QK-norm).
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      AI-Hypercomputer/maxtext, ``src/maxtext/layers/initializers.py`` (``nd_dense_init``,
      ``default_bias_init``), ``layers/attentions.py`` (``kernel_init=nd_dense_init(1.0,
      "fan_in", "normal")``; ``init_query_w``: ``kernel_init(*args) / depth_scaling``,
      ``depth_scaling = jnp.sqrt(self.head_dim)``), ``layers/linears.py`` (``DenseGeneral``
      and ``MlpBlock``: ``nd_dense_init(1.0, "fan_in", "truncated_normal")``, kernel in/out
      axes), ``models/models.py`` (shared embedding ``normal(stddev=1.0)``),
      ``layers/decoders.py`` (position embedder ``normal(stddev=1.0)``).

    Example:
      >>> import jinit
      >>> r = jinit.recipes.maxtext(16, 1024, 64)
      >>> r.initializer_for("decoder/layers_0/self_attention/query/kernel", (1024, 16, 64))
      jinit.variance_scaling(scale=0.015625, mode='fan_in', distribution='normal', in_axis=0, out_axis=(1, 2), batch_axis=(), dtype=None)
    """
    fn = "recipes.maxtext"
    n = _checks.integer(fn, "n_layer", n_layer, minimum=1)
    d = _checks.integer(fn, "d_model", d_model, minimum=1)
    hd = _checks.integer(fn, "head_dim", head_dim, minimum=1)
    ff = 4 * d if d_ff is None else _checks.integer(fn, "d_ff", d_ff, minimum=1)
    if not isinstance(query_scaling, bool):
        raise _checks.fail(fn, "query_scaling", query_scaling, "is not a bool", "True or False",
                           exc=TypeError)
    root = 1 / math.sqrt(d)
    q_scale = 1.0 / hd if query_scaling else 1.0
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): normal(1.0, "1"),
        ("position_embedding", "weight"): normal(1.0, "1"),
        ("q", "weight"): variance_scaling(q_scale, "fan_in", "normal",
                                          "1/√d / √head_dim" if query_scaling else "1/√d",
                                          root * math.sqrt(q_scale), fan_in=d),
        ("lm_head", "weight"): variance_scaling(1.0, "fan_in", "truncated_normal", "1/√d",
                                                root, fan_in=d),
        ("mlp_out", "weight"): variance_scaling(1.0, "fan_in", "truncated_normal", "1/√d_ff",
                                                1 / math.sqrt(ff),
                                                fan_in=None if d_ff is None else ff),
        ("*", "bias"): zeros(),
        ("norm", "scale"): ones(),
    }
    for role in ("qkv", "k", "v", "kv", "attn_out"):
        specs[(role, "weight")] = variance_scaling(1.0, "fan_in", "normal", "1/√n_in", root,
                                                   fan_in=None if role == "attn_out" else d)
    for role in ("mlp_gate", "mlp_up"):
        specs[(role, "weight")] = variance_scaling(1.0, "fan_in", "truncated_normal", "1/√d",
                                                   root, fan_in=d)
    return Recipe("maxtext", "AI-Hypercomputer/maxtext src/maxtext/layers", specs, n_layer=n,
                  roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)


def vit(n_layer: int, d_model: int, *, head_bias_init: float = 0.0, roles: object = None, layer: str | None = None,
        scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""The Vision Transformer's init (``vit_jax``).

    =====================================  ===========================================
    role                                   law
    =====================================  ===========================================
    attention q, k, v, out kernels         ``xavier_uniform`` over the flattened matrix
    MLP kernels                            ``xavier_uniform``
    MLP biases                             :math:`\mathcal{N}(0, (10^{-6})^2)`
    attention biases                       0
    ``pos_embedding``                      :math:`\mathcal{N}(0, 0.02^2)`
    ``cls`` token                          0
    ``head`` kernel and bias               0, ``head_bias_init`` (0)
    patch ``embedding`` conv, pre-logits   ``lecun_normal`` (Flax default), bias 0
    LayerNorm                              1 / 0
    =====================================  ===========================================

    Xavier uniform draws :math:`\mathcal{U}(\pm\sqrt{6/(n_\text{in} + n_\text{out})})`; Flax's
    ``DenseGeneral`` hands the initializer the flattened 2-D kernel, so a query kernel
    ``(d, heads, head_dim)`` has fans :math:`(d,\ \text{heads}\cdot\text{head_dim})`.

    Args:
      n_layer: the number of encoder blocks.
      d_model: the hidden size (for the table's values).
      head_bias_init: the classifier bias's constant (``VisionTransformer.head_bias_init``).
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      google-research/vision_transformer, ``vit_jax/models_vit.py``: ``MlpBlock``
      (``kernel_init=nn.initializers.xavier_uniform()``, ``bias_init=nn.initializers.normal(
      stddev=1e-6)``), ``Encoder1DBlock`` (attention ``kernel_init=xavier_uniform()``),
      ``Encoder`` (``posemb_init=nn.initializers.normal(stddev=0.02)``), ``VisionTransformer``
      (``cls``: zeros; ``head``: ``kernel_init=zeros``, ``bias_init=constant(head_bias_init)``;
      ``embedding``: ``nn.Conv`` defaults). Dosovitskiy et al., "An Image is Worth 16x16
      Words", ICLR 2021.

    Example:
      >>> import jinit
      >>> r = jinit.recipes.vit(12, 768)
      >>> r.initializer_for("params/Transformer/encoderblock_0/MlpBlock_0/Dense_0/bias", (3072,))
      jinit.normal(stddev=1e-06, dtype=None)
    """
    fn = "recipes.vit"
    n = _checks.integer(fn, "n_layer", n_layer, minimum=1)
    d = _checks.integer(fn, "d_model", d_model, minimum=1)
    bias0 = _checks.real(fn, "head_bias_init", head_bias_init, minimum=None)
    glorot = math.sqrt(2 / (2 * d))
    specs: dict[tuple[str, str], Spec] = {
        ("position_embedding", "weight"): normal(0.02, "0.02"),
        ("cls_token", "weight"): zeros(),
        ("head", "weight"): zeros(),
        ("head", "bias"): constant(bias0, "head_bias_init"),
        ("patch_embedding", "weight"): lecun_normal("1/√(k·k·c_in)", float("nan")),
        ("pre_logits", "weight"): lecun_normal("1/√d", 1 / math.sqrt(d)),
        ("mlp_up", "bias"): normal(1e-6, "1e-6"),
        ("mlp_out", "bias"): normal(1e-6, "1e-6"),
        ("*", "bias"): zeros(),
        ("norm", "scale"): ones(),
    }
    for role in ("q", "k", "v", "kv", "attn_out"):
        specs[(role, "weight")] = xavier("uniform", 1.0, "√(2/(d + d))", glorot)
    for role in ("mlp_up", "mlp_out"):
        specs[(role, "weight")] = xavier("uniform", 1.0, "√(2/(d + d_mlp))", float("nan"))
    return Recipe("vit", "google-research/vision_transformer vit_jax/models_vit.py", specs,
                  n_layer=n, roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)
