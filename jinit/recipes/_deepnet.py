"""DeepNet's depth-scaled Xavier init (Wang et al. 2022)."""

from __future__ import annotations

from .. import _checks, _variance
from .._rules import check_initializer
from ._recipe import Recipe, Spec, split
from ._specs import fan_axes, ones, xavier, zeros


def deepnet(n_layer: int, *, embedding: object = None, lm_head: object = None,
            roles: object = None, layer: str | None = None,
            scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out", overrides: object = None) -> Recipe:
    r"""DeepNet for a decoder-only (or encoder-only) Transformer with :math:`N` blocks.

    .. math::

        x_{l+1} = \operatorname{LN}\bigl(\alpha\, x_l + G_l(x_l)\bigr), \qquad
        \alpha = (2N)^{1/4}, \qquad \beta = (8N)^{-1/4},

    with the feed-forward, value and output projections drawn from ``xavier_normal`` with
    gain :math:`\beta` (:math:`\operatorname{Var} = \beta^2\, 2/(n_\text{in} + n_\text{out})`)
    and the query and key projections with gain 1. A fused QKV kernel is initialized as its
    three parts (gains 1, 1, :math:`\beta`), each with its own fans. :math:`\alpha` is for
    the forward pass: ``recipe.extras["alpha"]``. DeepNet says nothing of embeddings or the
    LM head: pass their initializers as ``embedding=`` / ``lm_head=``; biases start at 0 and
    LayerNorm at 1/0. :math:`N` counts blocks (torchscale's ``decoder_layers``), not
    sublayers.

    A fused QKV einsum kernel (``qkv_einsum`` ``(3, heads, d, head_dim)``) is split along
    its stacking axis 0, a fused ``kv_einsum`` into (k: 1, v: :math:`\beta`).

    This follows the paper's pseudocode. microsoft/torchscale (at commit 4d1e0e8) differs in
    the base draws: its ``MultiheadAttention.reset_parameters`` (``xavier_uniform_`` with
    gain :math:`1/\sqrt{2}` on q, k, v) is defined but never called, so q, k, v, the output
    projection and the FFN keep PyTorch's default ``nn.Linear`` init (or
    ``init_bert_params`` with ``bert_init``); ``Decoder.__init__`` then divides every
    parameter named ``fc1``, ``fc2``, ``out_proj`` or ``v_proj`` (biases included) by
    :math:`(8N)^{1/4}`. :math:`\alpha` and :math:`\beta` are the same.

    Args:
      n_layer: :math:`N`, the number of blocks.
      embedding: the token (and position) embedding initializer, if the model has them.
      lm_head: the untied LM head initializer, if the model has one.
      roles, layer, scan_axis, stack, layout, overrides: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe` with ``extras = {"alpha": α, "beta": β}``.

    References:
      Wang et al., "DeepNet: Scaling Transformers to 1,000 Layers", arXiv:2203.00555, 2022:
      Figure 2 (pseudocode: ``xavier_normal_(w, gain=β)`` for ``ffn``, ``v_proj``,
      ``out_proj``; ``gain=1`` for ``q_proj``, ``k_proj``) and Table 1 (decoder-only:
      :math:`\alpha = (2N)^{1/4}`, :math:`\beta = (8N)^{-1/4}`).
      microsoft/torchscale at commit 4d1e0e8, ``torchscale/component/multihead_attention.py``
      (``MultiheadAttention.__init__`` does not call ``reset_parameters``) and
      ``torchscale/architecture/decoder.py`` (``Decoder.__init__``: ``init_scale =
      math.pow(8.0 * args.decoder_layers, 0.25)``, ``p.data.div_(init_scale)``; ``DecoderLayer.__init__``:
      ``alpha = math.pow(2.0 * args.decoder_layers, 0.25)``).

    Example:
      >>> import jinit
      >>> r = jinit.recipes.deepnet(64)
      >>> round(r.extras["alpha"], 4), round(r.extras["beta"], 4)
      (3.3636, 0.2102)
    """
    fn = "recipes.deepnet"
    n = _checks.integer(fn, "n_layer", n_layer, minimum=1)
    alpha, beta = (2 * n) ** 0.25, (8 * n) ** -0.25
    one = xavier("normal", 1.0, "gain 1", float("nan"))
    scaled = xavier("normal", beta, "gain β = (8N)^-1/4", float("nan"))

    def fused(gains):
        def make(leaf):
            in_axis, out_axis, batch = fan_axes(leaf)
            # An einsum kernel stacks its parts on a batch axis (qkv_einsum (3, heads, d,
            # head_dim)); a Dense kernel concatenates them on its last axis.
            axis = batch[0] if batch else -1
            parts = [_variance.variance_scaling(g * g, "fan_avg", "normal", in_axis=in_axis,
                                                out_axis=out_axis, batch_axis=batch)
                     for g in gains]
            return split(f"recipes.deepnet.{leaf.role}", axis, parts)
        return make

    specs: dict[tuple[str, str], Spec] = {
        ("q", "weight"): one, ("k", "weight"): one,
        ("qkv", "weight"): Spec("xavier_normal(q, k: 1; v: β)", "per part",
                                fused((1.0, 1.0, beta)), fans=True),
        ("kv", "weight"): Spec("xavier_normal(k: 1; v: β)", "per part", fused((1.0, beta)),
                               fans=True),
        ("*", "bias"): zeros(), ("norm", "scale"): ones(),
    }
    for role in ("v", "attn_out", "mlp_gate", "mlp_up", "mlp_out"):
        specs[(role, "weight")] = scaled
    for role, init in (("token_embedding", embedding), ("position_embedding", embedding),
                       ("lm_head", lm_head)):
        if init is not None:
            check_initializer(fn, role if role == "lm_head" else "embedding", init)
            specs[(role, "weight")] = Spec(repr(init), "given", lambda leaf, i=init: i)
    return Recipe("deepnet", "Wang et al. 2022, arXiv:2203.00555, Fig. 2", specs, n_layer=n,
                  roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout, overrides=overrides,
                  extras={"alpha": alpha, "beta": beta})
