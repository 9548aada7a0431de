"""OLMo's "mitchell" and "full_megatron" inits, and OLMo-core's ``InitMethod``."""

from __future__ import annotations

import math

from .. import _checks
from ._recipe import Recipe, Spec
from ._specs import constant, fan_in_truncated, normal, ones, truncated, unit_norm, zeros

_IN = ("qkv", "q", "k", "v", "kv", "mlp_gate", "mlp_up")
_OUT = ("attn_out", "mlp_out")
OLMO_CORE_METHODS = ("normal", "llama", "llama_depth", "fan_in", "normalized")


def _sizes(fn: str, n_layer: object, d_model: object) -> tuple[int, int]:
    return (_checks.integer(fn, "n_layer", n_layer, minimum=1),
            _checks.integer(fn, "d_model", d_model, minimum=1))


def _std_arg(fn: str, name: str, value: object) -> float | None:
    return None if value is None else _checks.real(fn, name, value, minimum=0.0, strict=True)


def _norms(specs: dict) -> dict:
    specs[("*", "bias")] = zeros()
    specs[("norm", "scale")] = ones()
    return specs


def olmo_mitchell(n_layer: int, d_model: int, d_ff: int | None = None, *,
                  emb_init_std: float | None = None, roles: object = None,
                  layer: str | None = None, scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""OLMo's "mitchell" init: fan-in truncated normals, output projections scaled by depth.

    .. math::

        \sigma = \frac{1}{\sqrt{n_\text{in}}} \quad \text{(embeddings, } \texttt{att_proj},
        \texttt{ff_proj}\text{, the LM head } \texttt{ff_out}), \qquad
        \sigma_l = \frac{1}{\sqrt{2\, n_\text{in}\, (l + 1)}} \quad
        (\texttt{attn_out}, \text{ the block's } \texttt{ff_out}),

    each drawn from :math:`\mathcal{N}(0, \sigma^2)` truncated at :math:`\pm 3\sigma`
    (PyTorch ``trunc_normal_(std=σ, a=-3σ, b=3σ)``), for block :math:`l`;
    :math:`n_\text{in}` is the layer's fan-in: :math:`d` for every projection reading the
    residual stream (and for the embeddings, whose σ is :math:`1/\sqrt{d}`), the MLP's hidden
    width for the block's ``ff_out``. Biases 0, LayerNorm 1/0.

    Args:
      n_layer: the number of blocks.
      d_model: :math:`d`.
      d_ff: the MLP hidden width that ``ff_out`` reads (default ``4 * d_model``; for the
        table's values only, the leaf's own fan-in is used).
      emb_init_std: OLMo's ``emb_init_std``: the token embedding's σ in place of
        :math:`1/\sqrt{d}` (still at ±3σ; ``wpe`` keeps :math:`1/\sqrt{d}`).
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      allenai/OLMo at commit 59a53e3f, ``olmo/model.py``: ``OLMoSequentialBlock.reset_parameters`` (``att_proj``,
      ``ff_proj``: ``1 / math.sqrt(d_model)``), ``OLMoBlock.reset_parameters``
      (``attn_out_std = 1 / math.sqrt(2 * d_model * (layer_id + 1))``, ``ff_out_std = 1 /
      math.sqrt(2 * ff_out.in_features * (layer_id + 1))``, ``cutoff_factor = self.config.init_cutoff_factor or 3.0``),
      ``OLMo.reset_parameters`` (``wte_std = self.config.emb_init_std or 1.0 /
      math.sqrt(self.config.d_model)``; ``wpe``, ``ff_out``: ``1 / math.sqrt(d_model)``);
      ``olmo/config.py`` (``ModelConfig.emb_init_std``); ``olmo/initialization.py``
      (``init_normal``: ``trunc_normal_(std=std, a=-cutoff_value, b=cutoff_value)``).

    Example:
      >>> import jinit
      >>> r = jinit.recipes.olmo_mitchell(16, 2048)
      >>> r.initializer_for("transformer/blocks/1/attn_out/kernel", (2048, 2048))
      jinit.truncated_normal(stddev=0.0110485434..., dtype=None, lower=-3.0, upper=3.0)
    """
    fn = "recipes.olmo_mitchell"
    n, d = _sizes(fn, n_layer, d_model)
    ff = 4 * d if d_ff is None else _checks.integer(fn, "d_ff", d_ff, minimum=1)
    root = 1 / math.sqrt(d)
    wte = _std_arg(fn, "emb_init_std", emb_init_std)

    def depth(layer):
        return 1 / math.sqrt(2 * (layer + 1))

    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): truncated(root, 3.0, "1/√d, ±3σ") if wte is None
        else truncated(wte, 3.0, "emb_init_std, ±3σ"),
        ("position_embedding", "weight"): truncated(root, 3.0, "1/√d, ±3σ"),
        ("lm_head", "weight"): fan_in_truncated(3.0, "1/√d, ±3σ", root, fan_in=d),
        ("attn_out", "weight"): fan_in_truncated(3.0, "1/√(2·d·(layer+1)), ±3σ", root, depth,
                                                 per_layer=True, fan_in=d),
        ("mlp_out", "weight"): fan_in_truncated(3.0, "1/√(2·d_ff·(layer+1)), ±3σ",
                                                1 / math.sqrt(ff), depth, per_layer=True,
                                                fan_in=None if d_ff is None else ff),
    }
    for role in _IN:
        specs[(role, "weight")] = fan_in_truncated(3.0, "1/√d, ±3σ", root, fan_in=d)
    return Recipe("olmo_mitchell", "allenai/OLMo olmo/model.py", _norms(specs), n_layer=n,
                  roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)


def olmo_megatron(n_layer: int, d_model: int, *, init_std: float = 0.02,
                  scale_emb_init: bool = False, emb_init_std: float | None = None, roles: object = None, layer: str | None = None,
                  scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""OLMo's "full_megatron" init: a fixed σ, output projections scaled by :math:`1/\sqrt{2N}`.

    ==========================  ====================================================
    role                        σ (all truncated at ±3σ)
    ==========================  ====================================================
    ``att_proj``, ``ff_proj``   :math:`\sigma_0`
    ``attn_out``, ``ff_out``    :math:`\sigma_0/\sqrt{2 n_\text{layers}}`
    ``wte``                     :math:`\sigma_0` (:math:`\sigma_0\sqrt{d}` with ``scale_emb_init``)
    ``wpe``                     :math:`\sigma_0`
    LM head (``ff_out``)        :math:`1/\sqrt{d}`
    ==========================  ====================================================

    with :math:`\sigma_0` = ``init_std``; biases 0, LayerNorm 1/0.

    Args:
      n_layer: :math:`n_\text{layers}`.
      d_model: :math:`d`.
      init_std: :math:`\sigma_0` (OLMo's ``init_std``, default 0.02).
      scale_emb_init: multiply the token embedding's σ by :math:`\sqrt{d}`.
      emb_init_std: OLMo's ``emb_init_std``: the token embedding's σ (at ±3σ), which
        OLMo lets win over ``scale_emb_init``; passing both is an error here.
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      allenai/OLMo at commit 59a53e3f, ``olmo/model.py``: ``OLMoBlock.reset_parameters`` (``attn_out_std =
      ff_out_std = init_std / math.sqrt(2.0 * n_layers)``), ``OLMoSequentialBlock.reset_parameters``
      (``std = init_std``), ``OLMo.reset_parameters`` (``wte``, ``wpe``, final ``ff_out`` =
      ``1 / math.sqrt(d_model)``; ``wte_std = self.config.emb_init_std`` when set, else
      ``init_std``, times ``math.sqrt(d_model)`` with ``scale_emb_init``), each with
      ``init_cutoff_factor or 3.0``; ``olmo/config.py`` (``scale_emb_init``: "only used
      with ``full_megatron`` init when ``emb_init_std`` is unset").

    Example:
      >>> import jinit
      >>> r = jinit.recipes.olmo_megatron(16, 2048)
      >>> r.initializer_for("transformer/ff_out/kernel", (2048, 50304))
      jinit.truncated_normal(stddev=0.0220970869..., dtype=None, lower=-3.0, upper=3.0)
    """
    fn = "recipes.olmo_megatron"
    n, d = _sizes(fn, n_layer, d_model)
    s0 = _checks.real(fn, "init_std", init_std, minimum=0.0, strict=True)
    if not isinstance(scale_emb_init, bool):
        raise _checks.fail(fn, "scale_emb_init", scale_emb_init, "is not a bool",
                           "True or False", exc=TypeError)
    wte = _std_arg(fn, "emb_init_std", emb_init_std)
    if wte is not None and scale_emb_init:
        raise _checks.fail(fn, "emb_init_std", emb_init_std, "is given with scale_emb_init=True, "
                           "which OLMo then ignores", "one of the two",
                           "Drop scale_emb_init (OLMo's emb_init_std wins).")
    emb = s0 * math.sqrt(d) if scale_emb_init else s0
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): truncated(
            emb if wte is None else wte, 3.0, "emb_init_std, ±3σ" if wte is not None
            else "init_std·√d, ±3σ" if scale_emb_init else "init_std, ±3σ"),
        ("position_embedding", "weight"): truncated(s0, 3.0, "init_std, ±3σ"),
        ("lm_head", "weight"): truncated(d ** -0.5, 3.0, "1/√d, ±3σ", fan_in=d),
    }
    for role in _IN:
        specs[(role, "weight")] = truncated(s0, 3.0, "init_std, ±3σ")
    for role in _OUT:
        specs[(role, "weight")] = truncated(s0 / math.sqrt(2 * n), 3.0,
                                            "init_std/√(2·n_layers), ±3σ")
    return Recipe("olmo_megatron", "allenai/OLMo olmo/model.py", _norms(specs), n_layer=n,
                  roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)


def olmo_core(method: str, n_layer: int, d_model: int, *, std: float = 0.02,
              embedding_init_std: float | None = None, embed_scale: float | None = None,
              roles: object = None, layer: str | None = None,
              scan_axis: int | None = None, stack: str | None = None,
              layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""OLMo-core's ``InitMethod``: ``"normal"``, ``"llama"``, ``"llama_depth"``, ``"fan_in"``, ``"normalized"``.

    Every linear weight is :math:`\mathcal{N}(0, \sigma^2)` truncated at :math:`\pm 3\sigma`
    (``init_linear``); with :math:`\sigma_0` = ``std``, :math:`d` = ``d_model``, :math:`N`
    the number of blocks, :math:`l` the block index and :math:`n_\text{in}` a layer's fan-in:

    ===============  ==================  ==================  ======================  ==========
    method           embeddings          q, k, v, w_g, w1    w_out, w2, w3           LM head
    ===============  ==================  ==================  ======================  ==========
    ``normal``       σ_e, ±3σ            σ₀                  σ₀                      σ₀
    ``llama``        N(0, 1)             σ₀                  σ₀/√(2N)                d^-1/2
    ``llama_depth``  N(0, 1)             σ₀                  σ₀/√(2(l+1))            d^-1/2
    ``fan_in``       N(0, 1/s²)          n_in^-1/2           n_in^-1/2               d^-1/2
    ===============  ==================  ==================  ======================  ==========

    with σ_e = ``embedding_init_std`` (default σ₀) and :math:`s` = ``embed_scale``
    (default 1). ``w_g`` is the attention gate (``GateConfig``: ``(d, heads)`` or ``(d,
    heads·head_dim)``, role ``attn_gate``), drawn with the base σ₀ (``fan_in``:
    :math:`n_\text{in}^{-1/2}`) and absent from nGPT's ``NormalizedAttention``.
    ``embed_scale`` also multiplies the embeddings in the forward pass (Gemma-style
    configs use :math:`\sqrt d`): ``recipe.extras["embed_scale"]``; it changes the init
    only with ``fan_in``.

    ``w1`` is the SwiGLU gate, ``w3`` the up projection and ``w2`` the down projection. In
    ``init_feed_forward`` one ``std`` variable carries from ``w1`` to ``w3`` to ``w2``: the
    ``llama`` methods rescale it for ``w3``, so ``w2`` inherits ``w3``'s std, and both scale
    with the output projection ``w_out``.

    ``"normalized"`` is nGPT as OLMo-core's ``NormalizedTransformer`` builds it: the method's
    draws (embeddings :math:`\mathcal{N}(0, 1/d)`, every matrix a ±3σ truncated normal), then
    ``normalize_matrices``, which L2-normalizes each one, so the σ cancel and only the
    directions remain (:class:`~jinit.recipes._specs.UnitNorm`):

    - the embedding's rows (each token's vector), untruncated;
    - q, k, v, w1, w3 and the LM head along their input axis (PyTorch ``dim=-1`` of an
      ``(out, in)`` weight: each output unit's weights are a unit vector);
    - w_out and w2 along their output axis (``dim=0``);
    - the learned scalings start at OLMo-core's stored values: ``attn_alpha``,
      ``mlp_alpha`` (role ``alpha``), ``sq``, ``sk`` (``s_qk``) and ``sz`` (``s_z``) at
      :math:`1/\sqrt d`, ``sw1``, ``sw3`` (``s_uv``) at 1.

    ``embedding_init_std`` is used by the ``normal`` method only (OLMo-core passes it to
    ``init_embeddings``, which the other methods ignore): with another method it is an
    error here, not a silent no-op.

    Args:
      method: one of ``"normal"``, ``"llama"``, ``"llama_depth"``, ``"fan_in"``,
        ``"normalized"``.
      n_layer: :math:`N`.
      d_model: :math:`d`.
      std: :math:`\sigma_0` (default 0.02; no effect on ``"normalized"``).
      embedding_init_std: σ_e of the ``normal`` method's embeddings (default ``std``).
      embed_scale: OLMo-core's ``embed_scale`` (the forward multiplier of the
        embeddings); with ``fan_in`` the embeddings are :math:`\mathcal{N}(0, 1/s^2)`.
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      allenai/OLMo-core at commit fa6c5014, ``src/olmo_core/nn/transformer/init.py``:
      ``init_linear`` (``trunc_normal_(std=std, a=-3 * std, b=3 * std)``),
      ``InitMethod.init_embeddings`` (``fan_in``: ``emb_std = 1.0 / embed_scale if
      embed_scale is not None else 1.0``; ``normal``: ``trunc_normal_(std=std, a=-3 * std,
      b=3 * std)``), ``init_final_w_out``, ``init_feed_forward``;
      ``src/olmo_core/nn/transformer/model.py``: ``Transformer.init_weights`` (``std=
      self.embedding_init_std if self.embedding_init_std is not None else self.init_std``,
      ``embed_scale=self.embed_scale``) and ``Transformer.forward`` (``h = h *
      self.embed_scale``);
      ``src/olmo_core/nn/attention/__init__.py``: ``Attention.__init__`` (``w_g``),
      ``Attention.init_weights`` (``w_g``: ``g_std = self.w_g.in_features**-0.5`` with
      ``fan_in``, else ``g_std = std``, through ``init_linear``),
      ``NormalizedAttention`` (``sq``, ``sk``, ``normalize_matrices``);
      ``src/olmo_core/nn/transformer/model.py``: ``NormalizedTransformer.init_weights`` and
      ``normalize_matrices``; ``src/olmo_core/nn/transformer/block.py``:
      ``NormalizedTransformerBlock`` (``attn_alpha``, ``mlp_alpha``);
      ``src/olmo_core/nn/feed_forward.py``: ``NormalizedFeedForward`` (``sw1``, ``sw3``);
      ``src/olmo_core/nn/lm_head.py``: ``NormalizedLMHead`` (``sz``);
      ``src/olmo_core/nn/functional/__init__.py``: ``l2_normalize``.

    Example:
      >>> import jinit
      >>> r = jinit.recipes.olmo_core("llama", 16, 2048)
      >>> r.initializer_for("blocks/0/attention/w_out/kernel", (2048, 2048))
      jinit.truncated_normal(stddev=0.0035355339..., dtype=None, lower=-3.0, upper=3.0)
      >>> n = jinit.recipes.olmo_core("normalized", 16, 2048)
      >>> n.initializer_for("blocks/0/attention/w_out/kernel", (2048, 2048))
      jinit.recipes.unit_norm(axes=(-1,), cutoff=3.0)
    """
    fn = "recipes.olmo_core"
    _checks.choice(fn, "method", method, OLMO_CORE_METHODS)
    n, d = _sizes(fn, n_layer, d_model)
    s0 = _checks.real(fn, "std", std, minimum=0.0, strict=True)
    root = d ** -0.5
    per_layer = method == "llama_depth"
    emb_std = _std_arg(fn, "embedding_init_std", embedding_init_std)
    if emb_std is not None and method != "normal":
        raise _checks.fail(fn, "embedding_init_std", embedding_init_std,
                           f"has no effect with method={method!r} (OLMo-core's "
                           "init_embeddings uses it for 'normal' only)",
                           "None, or method='normal'")
    scale = _std_arg(fn, "embed_scale", embed_scale)
    extras = {} if scale is None else {"embed_scale": scale}
    if method == "normalized":
        return Recipe("olmo_core", "allenai/OLMo-core nn/transformer/model.py, "
                      "NormalizedTransformer (InitMethod.normalized)", _normalized(root),
                      n_layer=n, roles=roles, layer=layer, scan_axis=scan_axis, stack=stack,
                      layout=layout, overrides=overrides, extras=extras)
    if method == "fan_in":
        specs: dict[tuple[str, str], Spec] = {
            ("token_embedding", "weight"): normal(1.0, "1") if scale is None
            else normal(1.0 / scale, "1/embed_scale"),
            ("lm_head", "weight"): truncated(root, 3.0, "d^-1/2, ±3σ", fan_in=d),
        }
        for role in ("qkv", "q", "k", "v", "kv", "attn_out", "attn_gate", "mlp_gate",
                     "mlp_up", "mlp_out"):
            specs[(role, "weight")] = fan_in_truncated(3.0, "n_in^-1/2, ±3σ", root)
        return Recipe("olmo_core", "allenai/OLMo-core nn/transformer/init.py, InitMethod.fan_in",
                      _norms(specs), n_layer=n, roles=roles, layer=layer, scan_axis=scan_axis,
                      stack=stack, layout=layout, overrides=overrides, extras=extras)
    if method == "normal":
        emb = truncated(s0, 3.0, "std, ±3σ") if emb_std is None else \
            truncated(emb_std, 3.0, "embedding_init_std, ±3σ")
        head = (s0, "std")

        def out_std(layer):
            return s0
        out_text = "std"
    else:
        emb, head = normal(1.0, "1"), (root, "d^-1/2")
        if method == "llama":
            def out_std(layer):
                return s0 / math.sqrt(2 * n)
            out_text = "std/√(2N)"
        else:
            def out_std(layer):
                return s0 / math.sqrt(2 * (layer + 1))
            out_text = "std/√(2(layer+1))"
    specs = {
        ("token_embedding", "weight"): emb,
        ("lm_head", "weight"): truncated(head[0], 3.0, head[1] + ", ±3σ",
                                         fan_in=None if method == "normal" else d),
    }
    for role in ("qkv", "q", "k", "v", "kv", "attn_gate", "mlp_gate"):
        specs[(role, "weight")] = truncated(s0, 3.0, "std, ±3σ")
    for role in ("attn_out", "mlp_up", "mlp_out"):
        specs[(role, "weight")] = truncated(out_std, 3.0, out_text + ", ±3σ",
                                            per_layer=per_layer)
    return Recipe("olmo_core", f"allenai/OLMo-core nn/transformer/init.py, InitMethod.{method}",
                  _norms(specs), n_layer=n, roles=roles, layer=layer, scan_axis=scan_axis,
                  stack=stack, layout=layout, overrides=overrides, extras=extras)


def _normalized(root: float) -> dict:
    """nGPT's unit vectors and scalings (see :func:`olmo_core`)."""
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): unit_norm(None, "N(0, 1/d), rows L2-normalized",
                                                 over="last"),
        ("lm_head", "weight"): unit_norm(3.0, "±3σ, L2-normalized over the input axis",
                                         over="in"),
        ("alpha", "weight"): constant(root, "1/√d"),
        ("s_qk", "weight"): constant(root, "1/√d"),
        ("s_uv", "weight"): ones(),
        ("s_z", "weight"): constant(root, "1/√d"),
    }
    for role in ("qkv", "q", "k", "v", "kv", "mlp_gate", "mlp_up"):
        specs[(role, "weight")] = unit_norm(3.0, "±3σ, L2-normalized over the input axis",
                                            over="in")
    for role in _OUT:
        specs[(role, "weight")] = unit_norm(3.0, "±3σ, L2-normalized over the output axis",
                                            over="out")
    return _norms(specs)
