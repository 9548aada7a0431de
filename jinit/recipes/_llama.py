"""Llama as Hugging Face and torchtitan initialize it."""

from __future__ import annotations

import math

from .. import _checks
from ._recipe import Recipe, Spec
from ._specs import normal, ones, torch_trunc, truncated, zeros

_MATRICES = ("qkv", "q", "k", "v", "kv", "attn_out", "mlp_gate", "mlp_up", "mlp_out", "lm_head")


def llama_hf(n_layer: int, *, initializer_range: float = 0.02, roles: object = None,
             layer: str | None = None, scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""Llama as Hugging Face's ``LlamaPreTrainedModel`` initializes it.

    .. math::

        W \sim \mathcal{N}(0, r^2) \quad\text{for every Linear and Embedding weight},

    with :math:`r` = ``initializer_range`` (0.02 in ``LlamaConfig``); biases 0; RMSNorm
    weights 1. There is no depth scaling. (A padding row, when the config names a
    ``pad_token_id``, is zeroed by transformers; models without one, like Llama's, have none.)

    Args:
      n_layer: the number of blocks (used for scanned stacks).
      initializer_range: :math:`r`.
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      huggingface/transformers at commit 5dd4a635, ``src/transformers/models/llama/modeling_llama.py``:
      ``LlamaPreTrainedModel._init_weights`` (``normal_(mean=0.0, std=config.initializer_range)``
      for ``nn.Linear`` and ``nn.Embedding``, biases ``zero_()``);
      ``configuration_llama.py`` (``initializer_range=0.02``).

    Example:
      >>> import jinit
      >>> r = jinit.recipes.llama_hf(32)
      >>> r.initializer_for("model/layers/3/self_attn/o_proj/kernel", (4096, 4096))
      jinit.normal(stddev=0.02, dtype=None)
    """
    fn = "recipes.llama_hf"
    n = _checks.integer(fn, "n_layer", n_layer, minimum=1)
    r = _checks.real(fn, "initializer_range", initializer_range, minimum=0.0, strict=True)
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): normal(r, "initializer_range"),
    }
    for role in _MATRICES:
        specs[(role, "weight")] = normal(r, "initializer_range")
    specs[("*", "bias")] = zeros()
    specs[("norm", "scale")] = ones()
    return Recipe("llama_hf", "huggingface/transformers models/llama/modeling_llama.py", specs,
                  n_layer=n, roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)


def llama_torchtitan(n_layer: int, d_model: int, *, depth_init: bool = True,
                     enable_weight_tying: bool = False, roles: object = None,
                     layer: str | None = None,
                     scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""Llama as torchtitan initializes it, with or without ``depth_init``.

    ==========================  =========================================  ==============
    role                        law                                        σ
    ==========================  =========================================  ==============
    ``tok_embeddings``          :math:`\mathcal{N}(0, 1)`                   1
    tied ``tok_embeddings``     ``trunc_normal_``, bounds ±3σ              :math:`d^{-1/2}`
    ``wq, wk, wv, w1``          ``trunc_normal_(std=0.02)``, bounds ±2     0.02
    ``wo, w2, w3``              ``trunc_normal_(std=σ_l)``, bounds ±2      :math:`\sigma_l`
    ``output``                  ``trunc_normal_``, bounds ±3σ              :math:`d^{-1/2}`
    norms                       1
    ==========================  =========================================  ==============

    with :math:`\sigma_l = 0.02/\sqrt{2(l+1)}` for block :math:`l` (``depth_init=True``, the
    default) or :math:`0.02/\sqrt{2 n_\text{layers}}`. The ±2 bounds are **absolute**, as
    PyTorch's ``trunc_normal_`` defaults: with σ = 0.02 they sit at 100σ, so these draws are
    in effect untruncated normals (:func:`jinit.presets.torch_trunc_normal` reproduces them).
    The output projection's bounds are ±3σ.

    ``w1`` is the SwiGLU gate (Hugging Face's ``gate_proj``), ``w3`` the up projection
    (``up_proj``) and ``w2`` the down projection (``down_proj``).

    With ``enable_weight_tying=True`` (torchtitan's Llama-3.2 1B and 3B configs) the token
    embedding and the output head are one matrix, and torchtitan skips the embedding's init
    (``skip_param_init``): the shared matrix is drawn as the output head, ``trunc_normal_``
    with :math:`\sigma = d^{-1/2}` at ±3σ, not :math:`\mathcal{N}(0, 1)`. Give both the
    embedding leaf and (if the model keeps one) the head leaf this law.

    Args:
      n_layer: :math:`n_\text{layers}`.
      d_model: :math:`d`, the model width (``dim``).
      depth_init: scale by the layer index (default) or by the depth.
      enable_weight_tying: the embedding is tied to the output head (torchtitan's
        ``enable_weight_tying``) and takes the head's law.
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      pytorch/torchtitan at commit 238fa995, ``torchtitan/models/llama3/model/model.py``:
      ``Attention.init_weights`` (``wq, wk, wv``: ``trunc_normal_(std=0.02)``; ``wo``:
      ``init_std``), ``FeedForward.init_weights`` (``w1``: 0.02; ``w2, w3``: ``init_std``),
      ``TransformerBlock.__init__`` (``weight_init_std = 0.02 / (2 * (layer_id + 1)) ** 0.5``
      or ``0.02 / (2 * n_layers) ** 0.5``), ``Transformer.init_weights`` (``tok_embeddings``:
      ``normal_``; ``output``: ``std = dim ** -0.5``, ``cutoff_factor = 3``).
      At commit b5bcd76 the init moved to ``torchtitan/models/llama3/__init__.py`` and
      ``torchtitan/models/common/param_init.py`` with the same values for untied configs
      (``_LINEAR_INIT``: ``trunc_normal_(std=0.02)``; ``_depth_init``:
      ``depth_scaled_std(0.02, layer_id)``; ``_EMBEDDING_INIT``: ``normal_(std=1.0)``;
      ``_output_linear_init``: ``std = dim**-0.5``, ``a=-3 * s, b=3 * s``; only depth
      scaling is left there), while the tied configs (``_1b``, ``_3b``:
      ``enable_weight_tying=True``) give the embedding ``_EMBEDDING_SKIP_INIT``
      (``skip_param_init``, a no-op) and ``torchtitan/models/common/decoder.py``
      (``Decoder.init_states``) re-points ``tok_embeddings.weight`` at the initialized
      ``lm_head.weight``.

    Example:
      >>> import jinit
      >>> r = jinit.recipes.llama_torchtitan(32, 4096)
      >>> r.initializer_for("layers/1/attention/wo/kernel", (4096, 4096))
      jinit.presets.torch_trunc_normal(mean=0.0, std=0.01, a=-2.0, b=2.0, dtype=None)
    """
    fn = "recipes.llama_torchtitan"
    n = _checks.integer(fn, "n_layer", n_layer, minimum=1)
    d = _checks.integer(fn, "d_model", d_model, minimum=1)
    for name, flag in (("depth_init", depth_init), ("enable_weight_tying", enable_weight_tying)):
        if not isinstance(flag, bool):
            raise _checks.fail(fn, name, flag, "is not a bool", "True or False", exc=TypeError)
    if depth_init:
        def init_std(layer):
            return 0.02 / math.sqrt(2 * (layer + 1))
        formula = "0.02/√(2(layer+1))"
    else:
        def init_std(layer):
            return 0.02 / math.sqrt(2 * n)
        formula = "0.02/√(2·n_layers)"
    out_std = d ** -0.5
    head = truncated(out_std, 3.0, "dim^-0.5, ±3σ", fan_in=d)
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): truncated(out_std, 3.0, "dim^-0.5, ±3σ (tied: the head's)")
        if enable_weight_tying else normal(1.0, "1 (normal_)"),
        ("lm_head", "weight"): head,
    }
    for role in ("qkv", "q", "k", "v", "kv", "mlp_gate"):
        specs[(role, "weight")] = torch_trunc(0.02, -2.0, 2.0, "0.02")
    for role in ("attn_out", "mlp_up", "mlp_out"):
        specs[(role, "weight")] = torch_trunc(init_std, -2.0, 2.0, formula,
                                              per_layer=depth_init)
    specs[("*", "bias")] = zeros()
    specs[("norm", "scale")] = ones()
    return Recipe("llama_torchtitan", "pytorch/torchtitan torchtitan/models/llama3/model/model.py"
                  + (" (tied: llama3/__init__.py, b5bcd76)" if enable_weight_tying else ""),
                  specs, n_layer=n, roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)
