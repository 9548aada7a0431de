"""GPT-2 as released, nanoGPT (and Hugging Face's GPT-2), and nanochat."""

from __future__ import annotations

import math

from .. import _basic, _checks
from ._recipe import Leaf, Recipe, Spec
from ._specs import fans, normal, ones, zeros

_MATRICES = ("qkv", "q", "k", "v", "kv", "attn_out", "mlp_gate", "mlp_up", "mlp_out")


def _common(fn: str, n_layer: object) -> int:
    return _checks.integer(fn, "n_layer", n_layer, minimum=1)


def gpt2(n_layer: int | None = None, *, roles: object = None, layer: str | None = None,
         scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""GPT-2 as OpenAI released it.

    ========================  ================================  ===========
    role                      law                               std
    ========================  ================================  ===========
    token embedding ``wte``   :math:`\mathcal{N}(0, \sigma^2)`  0.02
    position embedding        :math:`\mathcal{N}(0, \sigma^2)`  0.01
    every other weight        :math:`\mathcal{N}(0, \sigma^2)`  0.02
    biases                    0
    LayerNorm ``g`` / ``b``   1 / 0
    ========================  ================================  ===========

    The released code applies **no** residual scaling: the paper's "scale the weights of
    residual layers by :math:`1/\sqrt{N}`" appears nowhere in ``src/model.py``
    (``conv1d(..., w_init_stdev=0.02)`` is used for ``c_proj`` too). For the scaled variant
    that nanoGPT and Hugging Face use, see :func:`nanogpt`. The LM head is tied to ``wte``;
    an untied head leaf gets ``wte``'s law.

    Args:
      n_layer: the number of blocks, optional: no std depends on it. A scanned stack's
        layer axis (``scan_axis=``) is checked against it when given.
      roles: extra ``{regex: role}`` rules, tried before the defaults (see
        :data:`jinit.recipes.ROLES`).
      layer: a regex whose first group is the block index in a path (default: ``h/3``,
        ``h_3``, ``layers_3``, ``blocks/3`` …).
      scan_axis: the layer axis of scanned (``nn.scan``/``nnx.vmap``) block leaves.
      stack: a regex matching the paths of a scanned stack's leaves (default: a block name
        without an index, such as ``layers/`` or ``blocks/``).
      layout: ``"in_out"`` (default) for Flax ``(in, out)`` kernels, ``"out_in"`` for
        PyTorch/Equinox ``(out, in)`` weights; it matters only where a std depends on fans.
      overrides: ``{role: initializer}`` replacing the recipe's initializer of a role's
        weights (a norm's scale; biases keep theirs), e.g. ``{"norm": jinit.zeros}`` for
        a norm computed as ``x·(1 + scale)`` (Gemma's ``RMSNorm``). Overridden roles are
        marked in the table. A role the recipe does not define is an error listing its
        roles.

    Returns:
      A :class:`Recipe`, usable as rules in :func:`jinit.tree.init_tree`.

    References:
      openai/gpt-2, ``src/model.py``: ``model()`` (``wpe``: ``random_normal_initializer(
      stddev=0.01)``, ``wte``: ``stddev=0.02``), ``conv1d`` (``w_init_stdev=0.02``, bias
      ``constant_initializer(0)``), ``norm`` (``g`` = 1, ``b`` = 0). Radford et al.,
      "Language Models are Unsupervised Multitask Learners", 2019, §2.3.

    Example:
      >>> import jinit
      >>> r = jinit.recipes.gpt2(12)
      >>> r.initializer_for("transformer/wpe/embedding", (1024, 768))
      jinit.normal(stddev=0.01, dtype=None)
    """
    fn = "recipes.gpt2"
    n = None if n_layer is None else _common(fn, n_layer)
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): normal(0.02, "0.02 (model(): wte)"),
        ("position_embedding", "weight"): normal(0.01, "0.01 (model(): wpe)"),
        ("lm_head", "weight"): normal(0.02, "0.02 (tied to wte)"),
    }
    for role in _MATRICES:
        specs[(role, "weight")] = normal(0.02, "0.02 (conv1d w_init_stdev)")
    specs[("*", "bias")] = zeros("0 (conv1d b)")
    specs[("norm", "scale")] = ones("1 (norm g)")
    return Recipe("gpt2", "openai/gpt-2 src/model.py", specs, n_layer=n, roles=roles,
                  layer=layer, scan_axis=scan_axis, stack=stack, layout=layout,
                  overrides=overrides, notes=("no residual scaling in the released code",))


def nanogpt(n_layer: int, *, roles: object = None, layer: str | None = None,
            scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""nanoGPT's GPT-2: :math:`\mathcal{N}(0, 0.02^2)` everywhere, residual projections scaled.

    .. math::

        W \sim \mathcal{N}(0, 0.02^2), \qquad
        W_\text{c_proj} \sim \mathcal{N}\!\left(0, \left(\frac{0.02}{\sqrt{2 n_\text{layer}}}
        \right)^2\right)

    for every Linear and Embedding weight (``wte`` and ``wpe`` both 0.02); biases 0,
    LayerNorm 1/0. ``c_proj`` means both residual projections of a block: the attention
    output and the MLP output. Hugging Face's ``GPT2PreTrainedModel._init_weights`` declares
    the same convention with ``initializer_range`` (default 0.02) in place of 0.02; in
    transformers 5.x its ``c_proj`` scaling went unapplied until PR #47459 (issue #47458),
    which this recipe and :mod:`jinit.audit` make checkable.

    Args:
      n_layer: :math:`n_\text{layer}`, the number of blocks.
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      karpathy/nanoGPT, ``model.py``: ``GPT._init_weights`` (``normal_(std=0.02)`` for
      ``nn.Linear`` and ``nn.Embedding``, ``zeros_`` for biases) and ``GPT.__init__``
      (``c_proj.weight``: ``std=0.02/math.sqrt(2 * config.n_layer)``).

    Example:
      >>> import jinit
      >>> r = jinit.recipes.nanogpt(12)
      >>> r.initializer_for("params/h_0/attn/c_proj/kernel", (768, 768))
      jinit.normal(stddev=0.0040824829..., dtype=None)
    """
    fn = "recipes.nanogpt"
    n = _common(fn, n_layer)
    scaled = 0.02 / math.sqrt(2 * n)
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): normal(0.02, "0.02"),
        ("position_embedding", "weight"): normal(0.02, "0.02"),
        ("lm_head", "weight"): normal(0.02, "0.02 (tied to wte)"),
    }
    for role in _MATRICES:
        specs[(role, "weight")] = normal(0.02, "0.02")
    for role in ("attn_out", "mlp_out"):
        specs[(role, "weight")] = normal(scaled, "0.02/√(2·n_layer)")
    specs[("*", "bias")] = zeros()
    specs[("norm", "scale")] = ones()
    return Recipe("nanogpt", "karpathy/nanoGPT model.py", specs, n_layer=n, roles=roles,
                  layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)


def _nanochat_linear(leaf: Leaf):
    fan_in, fan_out = fans(leaf)
    return _basic.normal(1.0 / math.sqrt(fan_in) * min(1.0, math.sqrt(fan_out / fan_in)))


def nanochat(n_layer: int, d_model: int, *, roles: object = None,
             layer: str | None = None, scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""nanochat's initial GPT init: fan-in normal with a fan-out cap, zero projections.

    .. math::

        W \sim \mathcal{N}\!\left(0, \sigma^2\right), \qquad
        \sigma = \frac{1}{\sqrt{n_\text{in}}}\,\min\!\left(1, \sqrt{\frac{n_\text{out}}{n_\text{in}}}
        \right)

    for ``c_q``, ``c_k``, ``c_v`` and ``c_fc`` (:math:`n_\text{in}, n_\text{out}` the
    layer's fans); the LM head and every ``c_proj`` (attention and MLP) start at 0; the
    token embedding is :math:`\mathcal{N}(0, 1)`.

    This is the initialization of nanochat's first release. Commit 48abd7d (2026-01-01)
    replaced it (uniform blocks, a 0.001 LM head) and aa530cd (2026-01-11) added learnable
    per-layer scalars; this recipe does not follow that rework.

    Args:
      n_layer: the number of blocks.
      d_model: the model width (for the table's values).
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`gpt2`.

    Returns:
      A :class:`Recipe`.

    References:
      karpathy/nanochat, ``nanochat/gpt.py`` at commit 3a5e0bc: ``GPT.init_weights`` (zeros
      for ``lm_head`` and each block's ``mlp.c_proj`` and ``attn.c_proj``) and
      ``GPT._init_weights`` (the formula above, citing arXiv:2310.17813; Embedding
      ``std=1.0``).

    Example:
      >>> import jinit
      >>> r = jinit.recipes.nanochat(12, 768)
      >>> r.initializer_for("h/0/mlp/c_fc/kernel", (768, 3072))
      jinit.normal(stddev=0.0360843918..., dtype=None)
    """
    fn = "recipes.nanochat"
    n = _common(fn, n_layer)
    d = _checks.integer(fn, "d_model", d_model, minimum=1)
    law = "1/√n_in · min(1, √(n_out/n_in))"
    specs: dict[tuple[str, str], Spec] = {
        ("token_embedding", "weight"): normal(1.0, "1"),
        ("lm_head", "weight"): zeros("0 (lm_head)"),
        ("attn_out", "weight"): zeros("0 (attn.c_proj)"),
        ("mlp_out", "weight"): zeros("0 (mlp.c_proj)"),
        ("mlp_up", "weight"): Spec("normal", law, _nanochat_linear,
                                   lambda layer: 1 / math.sqrt(d), fan_in=d, fans=True),
        ("*", "bias"): zeros(),
        ("norm", "scale"): ones(),
    }
    # Every listed matrix reads d_model features and writes at least as many (c_fc: 4d), so
    # min(1, .) = 1 and σ = 1/√d_model; grouped-query k/v projections get less.
    for role in ("qkv", "q", "k", "v", "kv"):
        specs[(role, "weight")] = Spec("normal", law, _nanochat_linear,
                                       lambda layer: 1 / math.sqrt(d), fan_in=d, fans=True)
    return Recipe("nanochat", "karpathy/nanochat nanochat/gpt.py (3a5e0bc)", specs, n_layer=n,
                  roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides)
