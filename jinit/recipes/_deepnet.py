"""DeepNet's depth-scaled Xavier init (Wang et al. 2022)."""

from __future__ import annotations

from .. import _checks, _variance
from .._rules import check_initializer
from ._recipe import Recipe, Spec, split
from ._specs import fan_axes, ones, xavier, zeros


def deepnet(n_layer: int, *, embedding: object = None, lm_head: object = None,
            roles: object = None, layer: str | None = None,
            scan_axis: int | None = None, stack: str | None = None,
        layout: str = "in_out") -> Recipe:
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

    This follows the paper's pseudocode. microsoft/torchscale differs in the base draws
    (``xavier_uniform_`` with gain :math:`1/\sqrt{2}` on q, k, v; PyTorch's default
    ``nn.Linear`` init for the FFN) before dividing by :math:`(8N)^{1/4}`, with the same
    :math:`\alpha` and :math:`\beta`.

    Args:
      n_layer: :math:`N`, the number of blocks.
      embedding: the token (and position) embedding initializer, if the model has them.
      lm_head: the untied LM head initializer, if the model has one.
      roles, layer, scan_axis, stack, layout: as in :func:`jinit.recipes.gpt2`.

    Returns:
      A :class:`Recipe` with ``extras = {"alpha": α, "beta": β}``.

    References:
      Wang et al., "DeepNet: Scaling Transformers to 1,000 Layers", arXiv:2203.00555, 2022:
      Figure 2 (pseudocode: ``xavier_normal_(w, gain=β)`` for ``ffn``, ``v_proj``,
      ``out_proj``; ``gain=1`` for ``q_proj``, ``k_proj``) and Table 1 (decoder-only:
      :math:`\alpha = (2N)^{1/4}`, :math:`\beta = (8N)^{-1/4}`).

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

    def fused(leaf):
        in_axis, out_axis = fan_axes(leaf)
        inits = [_variance.variance_scaling(g * g, "fan_avg", "normal", in_axis=in_axis,
                                            out_axis=out_axis) for g in (1.0, 1.0, beta)]
        return split("recipes.deepnet.qkv", -1, inits)

    specs: dict[tuple[str, str], Spec] = {
        ("q", "weight"): one, ("k", "weight"): one,
        ("qkv", "weight"): Spec("xavier_normal(q, k: 1; v: β)", "per part", fused),
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
                  roles=roles, layer=layer, scan_axis=scan_axis, stack=stack, layout=layout,
                  extras={"alpha": alpha, "beta": beta})
