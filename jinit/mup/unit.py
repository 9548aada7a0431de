r"""u-μP: the unit-scaled maximal update parametrization (Blake et al., ICLR 2025).

Every weight starts at unit variance (``kernel_init=jinit.normal(1.0)``), and each op
carries the scale that keeps its output, and separately its gradients, at unit RMS for
unit-RMS inputs, so activations and gradients stay near 1 in bfloat16 without loss
scaling. The scales, as graphcore-research/unit-scaling defines them
(``unit_scaling/functional.py``; :math:`n_i`, :math:`n_o` fans, :math:`B` the batch size,
:math:`V` the vocabulary):

.. math::

    \text{hidden matmul: } y = n_i^{-1/2}\, x W, \quad \partial x \times n_i^{-1/2},
    \quad \partial W \times B^{-1/2}; \qquad
    \text{readout: } y = n_i^{-1}\, x W, \quad \partial x \times n_o^{-1/2}; \\
    \text{residual: } x_{l+1} = \frac{x_l + \tau_l f(x_l)}{\sqrt{1 + \tau_l^2}}; \qquad
    \text{attention logits: } \frac{\alpha_\text{attn}}{d} q^\top k; \qquad
    \text{loss: } \partial\,\text{logits} \times \frac{V}{\sqrt{V - 1}}.

The backward scale of a hidden matmul equals its forward scale (the reference's default
``"to_output_scale"`` constraint), so gradients are exact; weight gradients and the
readout's input gradient carry their own scales, which Adam's normalization ignores.
Nonlinearities are scaled by :func:`jinit.gain` (the factor keeping a unit Gaussian's second
moment, computed by quadrature, where the reference fits it empirically). Only the logits
are not unit: μP's readout shrinks them as :math:`n_i^{-1/2}` at init.

Learning rates (``unit_scaling/optim.py``, ``lr_scale_func_adam``/``lr_scale_func_sgd``),
absolute rather than relative to a base model, with :math:`L` the number of residual blocks
a parameter's block belongs to:

=========================  =====================================  ==========================
parameter                  Adam                                   SGD
=========================  =====================================  ==========================
hidden/input weight        :math:`\eta\, n_i^{-1/2}`              :math:`\eta\, n_i^{-1/2}`
embedding                  :math:`\eta\, n_o^{-1/2}` (the width)  :math:`\eta\, n_o^{-1/2}`
readout                    :math:`\eta`                           :math:`\eta`
bias, norm gain            :math:`\eta`                           :math:`\eta\, n`
inside a residual block    × :math:`L^{-1/2}`                     × :math:`L^{-1/2}`
=========================  =====================================  ==========================

Weight decay is independent of the learning rate in u-μP (``scaled_parameters``:
``weight_decay / lr``); :mod:`jinit.mup`'s depth rules follow CompleteP instead.

References:
  Blake, Eichenberg, Dean, Balles, Prince, Deiseroth, Cruz-Salinas, Luschi, Weinbach &
  Orr, "u-μP: The Unit-Scaled Maximal Update Parametrization", ICLR 2025,
  arXiv:2407.17465 (residual rule: Appendix G). Blake, Orr & Luschi, "Unit Scaling:
  Out-of-the-Box Low-Precision Training", ICML 2023, arXiv:2303.11257.

Example:
  >>> import jax, jax.numpy as jnp, jinit
  >>> from jinit.mup import unit
  >>> k1, k2 = jax.random.split(jax.random.key(0))
  >>> x = jax.random.normal(k1, (64, 512), jnp.bfloat16)
  >>> w = jinit.normal(1.0)(k2, (512, 512), jnp.bfloat16)
  >>> y = unit.linear(x, w)
  >>> bool(0.9 < float(jnp.sqrt(jnp.mean(jnp.square(y.astype(jnp.float32))))) < 1.1)
  True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import jax
import jax.numpy as jnp

from .. import _checks, _fans
from .._base import public
from .._rules import compile_rules, path_str
from ..structure import guess, guess_blocks, warn_ambiguous
from ._build import _leaves, _traced, check_structure

UnitRole = Literal["weight", "embedding", "output", "bias"]
UNIT_ROLES: tuple[str, ...] = get_args(UnitRole)

__all__ = ["UNIT_ROLES", "UnitPlan", "activation", "attention", "cross_entropy", "linear",
           "plan", "residual_add", "residual_apply", "residual_split", "residual_taus",
           "scale_bwd", "scale_fwd", "transformer_taus"]


# ------------------------------------------------------------------------------ scaling


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _scaled(x, forward: float, backward: float):
    return x * jnp.asarray(forward, x.dtype)


def _scaled_fwd(x, forward, backward):
    return _scaled(x, forward, backward), None


def _scaled_bwd(forward, backward, _, g):
    return (g * jnp.asarray(backward, g.dtype),)


_scaled.defvjp(_scaled_fwd, _scaled_bwd)


def scale_fwd(x: jax.Array, scale: float) -> jax.Array:
    """``scale * x`` in the forward pass; the gradient passes through unscaled.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jinit.mup import unit
      >>> float(jax.grad(lambda x: unit.scale_fwd(x, 3.0))(jnp.float32(1.0)))
      1.0
    """
    return _scaled(x, float(scale), 1.0)


def scale_bwd(x: jax.Array, scale: float) -> jax.Array:
    """The identity in the forward pass; the gradient is multiplied by ``scale``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jinit.mup import unit
      >>> float(jax.grad(lambda x: unit.scale_bwd(x, 3.0))(jnp.float32(1.0)))
      3.0
    """
    return _scaled(x, 1.0, float(scale))


def linear(x: jax.Array, w: jax.Array, b: jax.Array | None = None, *, readout: bool = False,
           exact_grad: bool | None = None) -> jax.Array:
    r"""The u-μP matmul ``x @ w (+ b)`` for a Flax-layout kernel ``(fan_in, fan_out)``.

    Forward scale :math:`n_i^{-1/2}` (hidden) or :math:`n_i^{-1}` (``readout``); the input
    gradient is scaled like the forward (``exact_grad``, default for hidden) or by
    :math:`n_o^{-1/2}` (default for the readout, as the reference's ``linear_readout``);
    weight and bias gradients by :math:`B^{-1/2}`, :math:`B` = rows of ``x``.

    Args:
      x: ``(..., fan_in)``.
      w: ``(fan_in, fan_out)``, unit variance.
      b: optional ``(fan_out,)``.
      readout: the final projection to logits.
      exact_grad: scale the input gradient like the forward (the true gradient).

    Returns:
      ``(..., fan_out)``.
    """
    fan_in, fan_out = w.shape
    batch = max(1, x.size // max(1, fan_in))
    forward = 1.0 / fan_in if readout else fan_in ** -0.5
    exact = (not readout) if exact_grad is None else exact_grad
    x = scale_bwd(x, forward if exact else fan_out ** -0.5)
    w = scale_bwd(w, batch ** -0.5)
    y = scale_fwd(x @ w, forward)
    if b is not None:
        y = y + scale_bwd(b, batch ** -0.5)
    return y


def activation(fn: str | Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    r"""A nonlinearity scaled to keep a unit Gaussian's second moment: ``gain * fn(x)``.

    The gain is :func:`jinit.gain` (:math:`\sqrt{2}` for ReLU); the gradient is the exact
    gradient of the scaled function, as the reference's ``"to_output_scale"`` constraint.

    Example:
      >>> from jinit.mup import unit
      >>> import jax.numpy as jnp
      >>> round(float(unit.activation("relu")(jnp.float32(1.0))), 6)
      1.414214
    """
    from .._gain import gain

    scale = float(gain(fn))
    f = getattr(jax.nn, fn) if isinstance(fn, str) else fn
    return lambda x: f(x) * jnp.asarray(scale, x.dtype)


def residual_split(x: jax.Array, tau: float) -> tuple[jax.Array, jax.Array]:
    """``(branch input, skip)``: the gradients are scaled by :math:`\\tau/\\sqrt{1+\\tau^2}`
    and :math:`1/\\sqrt{1+\\tau^2}`, where :func:`residual_add` scales the forward."""
    d = math.sqrt(1.0 + tau * tau)
    return scale_bwd(x, tau / d), scale_bwd(x, 1.0 / d)


def residual_add(branch: jax.Array, skip: jax.Array, tau: float) -> jax.Array:
    r""":math:`(\tau f + x) / \sqrt{1 + \tau^2}` in the forward pass (pairs with
    :func:`residual_split`, which applies the same factors to the gradients)."""
    d = math.sqrt(1.0 + tau * tau)
    return scale_fwd(branch, tau / d) + scale_fwd(skip, 1.0 / d)


def residual_apply(f: Callable[[jax.Array], jax.Array], x: jax.Array, tau: float) -> jax.Array:
    r"""The u-μP residual block :math:`x \mapsto (x + \tau f(x))/\sqrt{1 + \tau^2}`, with the
    branch's gradients kept at unit scale (:func:`residual_split`, :func:`residual_add`).

    Example:
      >>> import jax.numpy as jnp
      >>> from jinit.mup import unit
      >>> y = unit.residual_apply(lambda h: -h, jnp.ones(3), tau=1.0)
      >>> [round(float(v), 6) for v in y]
      [0.0, 0.0, 0.0]
    """
    branch, skip = residual_split(x, tau)
    return residual_add(f(branch), skip, tau)


def residual_taus(depth: int, mult: float = 1.0) -> list[float]:
    r"""The :math:`\tau_l` of a stack of ``depth`` residual branches of one kind.

    Each branch contributes the same variance to the final residual stream and all of them
    together ``mult**2`` times the embedding's (u-μP, Appendix G, with one kind of layer):

    .. math::

        \tau_l = \frac{m}{\sqrt{L + l\, m^2}}, \qquad l = 0, \ldots, L - 1.

    Example:
      >>> from jinit.mup import unit
      >>> [round(t, 4) for t in unit.residual_taus(4)]
      [0.5, 0.4472, 0.4082, 0.378]
    """
    fn = "mup.unit.residual_taus"
    depth = _checks.integer(fn, "depth", depth, minimum=1)
    m = _checks.real(fn, "mult", mult, minimum=0.0, strict=True)
    return [m / math.sqrt(depth + i * m * m) for i in range(depth)]


def transformer_taus(layers: int, residual_mult: float = 1.0, attn_ratio: float = 1.0
                     ) -> list[float]:
    r"""The :math:`\tau` of a Transformer's ``2 * layers`` branches (attention, MLP, …).

    u-μP Appendix G (``transformer_residual_scaling_rule``): with
    :math:`\alpha_\text{mlp} = m\sqrt{2/(1 + r^2)}`, :math:`\alpha_\text{attn} = r\,
    \alpha_\text{mlp}`, branch :math:`i` (attention when even) after :math:`a_i` attention
    and :math:`b_i` MLP branches has
    :math:`\tau_i = \alpha_i / \sqrt{L + a_i\alpha_\text{attn}^2 + b_i\alpha_\text{mlp}^2}`.

    Example:
      >>> from jinit.mup import unit
      >>> [round(t, 4) for t in unit.transformer_taus(2)]
      [0.7071, 0.5774, 0.5, 0.4472]
    """
    fn = "mup.unit.transformer_taus"
    layers = _checks.integer(fn, "layers", layers, minimum=1)
    m = _checks.real(fn, "residual_mult", residual_mult, minimum=0.0, strict=True)
    r = _checks.real(fn, "attn_ratio", attn_ratio, minimum=0.0, strict=True)
    a_mlp = m * math.sqrt(2.0 / (1.0 + r * r))
    a_attn = r * a_mlp
    out = []
    for i in range(2 * layers):
        n_attn, n_mlp = (i + 1) // 2, i // 2
        a = a_attn if i % 2 == 0 else a_mlp
        out.append(a / math.sqrt(layers + n_attn * a_attn ** 2 + n_mlp * a_mlp ** 2))
    return out


def attention(q: jax.Array, k: jax.Array, v: jax.Array, *, mult: float = 1.0,
              causal: bool = False) -> jax.Array:
    r"""u-μP dot-product attention over ``(..., seq, heads, head_dim)`` inputs.

    Logits :math:`\alpha\, q^\top k / d` (μP's :math:`1/d`); the output and the gradients of
    ``q``, ``k``, ``v`` are multiplied by the reference's model of the output's inverse RMS,
    :math:`1 / \exp(a \log 1 + (1 - a)\log \sqrt{c/s})` with
    :math:`a = 1/(1 + 4d/\alpha^2)`, :math:`s` the sequence length and :math:`c = \log s`
    (causal) or 1 (``scaled_dot_product_attention`` in ``unit_scaling/functional.py``).
    """
    s, d = v.shape[-3], v.shape[-1]
    a = 1.0 / (1.0 + 4.0 * d / (mult * mult))
    lower = math.sqrt((math.log(s) if causal and s > 1 else 1.0) / s)
    scale = 1.0 / math.exp((1.0 - a) * math.log(lower))
    q, k, v = (scale_bwd(t, scale) for t in (q, k, v))
    out = jax.nn.dot_product_attention(q, k, v, scale=mult / d, is_causal=causal)
    return scale_fwd(out, scale)


def cross_entropy(logits: jax.Array, labels: jax.Array, *, mult: float = 1.0) -> jax.Array:
    r"""Mean softmax cross-entropy whose gradient reaches the logits at unit RMS per row.

    The logits are multiplied by ``mult`` (u-μP's :math:`\alpha_\text{loss}`); their gradient
    is :math:`(p - y)\, V/\sqrt{V-1}` per example (no :math:`1/B`), as the reference's
    ``cross_entropy``.
    """
    import optax

    vocab = logits.shape[-1]
    batch = max(1, logits.size // vocab)
    z = scale_fwd(scale_bwd(logits, vocab / math.sqrt(vocab - 1.0)), mult)
    loss = optax.softmax_cross_entropy_with_integer_labels(z, labels).sum()
    return scale_fwd(loss, 1.0 / batch)


# ------------------------------------------------------------------------ learning rates


@dataclass(frozen=True)
class UnitPlan:
    """u-μP learning-rate factors per parameter (built by :func:`plan`).

    Attributes:
      roles: ``{name: role}``, roles from :data:`UNIT_ROLES`.
      lr_multipliers: ``{name: factor}``; each parameter's learning rate is ``factor * lr``.
      optimizer: ``"adam"`` or ``"sgd"``.
    """

    roles: dict[str, str]
    lr_multipliers: dict[str, float]
    optimizer: str

    def transform(self):
        """An optax transform multiplying each update by its factor; chain it after the
        optimizer: ``optax.chain(optax.adam(lr), uplan.transform())``."""
        import optax

        table = self.lr_multipliers

        def update_fn(updates, state, params=None):
            def one(path, u):
                name = path_str(path)
                if name not in table:
                    raise KeyError(_checks.message("UnitPlan.transform", "params", name,
                                                   "names a parameter the plan does not know",
                                                   "a parameter of the planned tree"))
                return u if u is None else u * jnp.asarray(table[name], u.dtype)
            return jax.tree_util.tree_map_with_path(one, updates), state

        return optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn)


def plan(params: object, *, roles: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
         optimizer: str = "adam", depth: int | None = None,
         structure: object = None) -> UnitPlan:
    r"""The u-μP learning-rate factors of a parameter tree (table in :mod:`jinit.mup.unit`).

    Roles: ≥2-axis leaves are ``"weight"`` and shorter ones ``"bias"`` unless ``roles``
    (``{regex: role}``, first match) says ``"embedding"`` or ``"output"``. Residual blocks
    are found from the paths as in :func:`jinit.mup.plan`; their number :math:`L` (or
    ``depth``) gives the block factor :math:`L^{-1/2}`. A weight's fan-in :math:`n_i` is
    the one its shape implies (:func:`jinit.compute_fans` on the last two axes: every axis
    but the last), or, with ``structure`` (:func:`jinit.structure.trace` of the model), the
    traced one of a leaf the model contracts over whole axes. Without a structure, weights
    of 3 or more axes not shaped like a convolution (a scanned stack, whose layer axis the
    shape counts in :math:`n_i`; a DenseGeneral or einsum kernel) are listed in one
    :class:`jinit.structure.AmbiguousFanWarning`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jinit.mup import unit
      >>> tree = {"inp": jnp.zeros((16, 256)), "blocks": [{"w": jnp.zeros((256, 256))}] * 4,
      ...         "out": jnp.zeros((256, 10))}
      >>> p = unit.plan(tree, roles={"out": "output"})
      >>> p.lr_multipliers["blocks/0/w"], p.lr_multipliers["inp"], p.lr_multipliers["out"]
      (0.03125, 0.25, 1.0)
    """
    fn = "mup.unit.plan"
    _checks.choice(fn, "optimizer", optimizer, ("adam", "sgd"))
    rules = compile_rules(fn, roles, arg="roles",
                          check=lambda f, label, v: _checks.choice(f, label, v, UNIT_ROLES),
                          expected="a mapping {regex: role} or (regex, role) pairs",
                          allow_function=False)
    check_structure(fn, structure)
    leaves = _leaves(params)
    _, templates, n_blocks = guess_blocks([n for n, _ in leaves])
    L = _checks.integer(fn, "depth", depth, minimum=1) if depth is not None else n_blocks
    out_roles, lrs = {}, {}
    unsure: list[tuple[str, tuple[int, ...], None]] = []
    for name, shape in leaves:
        hit = rules.match(name, shape)
        role = hit[1] if hit else ("weight" if len(shape) >= 2 else "bias")
        fan_in = 1
        traced = _traced(structure, name, shape)
        if traced is not None:
            fan_in = _fans.fans(fn, shape, *traced)[0]
        elif len(shape) >= 2:
            use = guess(shape)
            fan_in = use.fan_in
            if role == "weight" and structure is None and use.assumed is not None:
                unsure.append((name, shape, None))
        width = shape[-1] if shape else 1
        factor = {"weight": fan_in ** -0.5, "embedding": width ** -0.5, "output": 1.0,
                  "bias": 1.0 if optimizer == "adam" else float(width)}[role]
        if name in templates and L:
            factor *= L ** -0.5
        out_roles[name], lrs[name] = role, float(factor)
    warn_ambiguous(fn, unsure, fix="check their learning-rate factors")
    rules.report_unmatched([n for n, _ in leaves], arg="roles")
    return UnitPlan(out_roles, lrs, optimizer)


# ------------------------------------------------------------------------------- Flax


def _dense_class():
    import flax.linen as nn

    from .._basic import normal

    class Dense(nn.Module):
        """A linen Dense layer with u-μP scales: unit-variance kernel, :func:`linear` inside."""

        features: int
        use_bias: bool = False
        readout: bool = False
        param_dtype: object = jnp.float32

        @nn.compact
        def __call__(self, x):
            w = self.param("kernel", normal(1.0), (x.shape[-1], self.features),
                           self.param_dtype)
            b = (self.param("bias", jax.nn.initializers.zeros, (self.features,),
                            self.param_dtype) if self.use_bias else None)
            return linear(x, w.astype(x.dtype), None if b is None else b.astype(x.dtype),
                          readout=self.readout)

    public(__name__)(Dense)
    return Dense


def __getattr__(name: str):
    # ``Dense`` needs flax, an optional extra: built on first use.
    if name == "Dense":
        cls = _dense_class()
        globals()["Dense"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
