r"""The :class:`Plan`: per-parameter μP / depth-μP factors, as exponents of the multipliers.

Every factor of a plan is a product of powers of three multipliers of the parameter,

.. math::

    m_\text{in} = \frac{\text{fan}_\text{in}}{\text{fan}_{\text{in},0}}, \qquad
    m_\text{out} = \frac{\text{fan}_\text{out}}{\text{fan}_{\text{out},0}}, \qquad
    m_L = \frac{L}{L_0}\ \ (\text{1 outside the residual blocks}),

so the tables below hold exponents ``(e_in, e_out)`` per role and ``e_L`` per depth rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import jax
import jax.numpy as jnp

from .. import _checks
from .._rules import path_str

Role = Literal["input", "hidden", "output", "bias", "fixed"]
DepthRole = Literal["block", "stacked", "trunk"]
Optimizer = Literal["adam", "sgd"]
Formulation = Literal["init", "multiplier"]

ROLES: tuple[str, ...] = get_args(Role)
DEPTH_ROLES: tuple[str, ...] = get_args(DepthRole)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
FORMULATIONS: tuple[str, ...] = get_args(Formulation)
ALPHAS: tuple[float, ...] = (0.5, 1.0)

# Tensor Programs V (Yang et al. 2022, arXiv:2203.03466), Table 3, relative to a base model:
# learning-rate factor = m_in**e_in * m_out**e_out, per optimizer, formulation and role.
# "multiplier" moves the readout's 1/m_in into the forward pass (abc symmetry with
# theta = 1/m_in: Adam lr / theta, SGD lr / theta**2 on the readout).
_LR_EXPONENTS: dict[tuple[str, str], dict[str, tuple[int, int]]] = {
    ("adam", "init"): {"input": (0, 0), "hidden": (-1, 0), "output": (-1, 0),
                       "bias": (0, 0), "fixed": (0, 0)},
    ("adam", "multiplier"): {"input": (0, 0), "hidden": (-1, 0), "output": (0, 0),
                             "bias": (0, 0), "fixed": (0, 0)},
    ("sgd", "init"): {"input": (0, 1), "hidden": (-1, 1), "output": (-1, 0),
                      "bias": (0, 1), "fixed": (0, 0)},
    ("sgd", "multiplier"): {"input": (0, 1), "hidden": (-1, 1), "output": (1, 0),
                            "bias": (0, 1), "fixed": (0, 0)},
}
# Adam's epsilon scales as the parameter's gradient does (so eps keeps its place relative to
# sqrt(v)): 1/m_out for input, hidden and bias; the readout's gradient is Theta(1) in the
# "init" form and 1/m_in with the logit multiplier. This is CompleteP's Eq. 40 (Dey et al.
# 2025; EleutherAI/nanoGPT-mup model.py, configure_optimizers: eps / m_N) written per role.
_EPS_EXPONENTS: dict[str, dict[str, tuple[int, int]]] = {
    "init": {"input": (0, -1), "hidden": (0, -1), "output": (0, 0), "bias": (0, -1),
             "fixed": (0, 0)},
    "multiplier": {"input": (0, -1), "hidden": (0, -1), "output": (-1, 0), "bias": (0, -1),
                   "fixed": (0, 0)},
}


def depth_exponents(alpha: float) -> dict[str, float]:
    r"""Exponents of :math:`m_L` for a parameter inside a residual block (see :func:`plan`).

    ``branch``: the forward multiplier of every residual branch, :math:`m_L^{-\alpha}`;
    ``adam``/``sgd``: the learning-rate factor; ``eps``: Adam's :math:`\epsilon`; ``init``: the
    init standard deviation (depth-independent: the branch multiplier carries the depth).
    """
    return {"branch": -alpha, "adam": alpha - 1.0, "sgd": 2.0 * alpha - 1.0, "eps": -alpha,
            "init": 0.0}


@dataclass(frozen=True)
class Leaf:
    r"""One parameter's data in a :class:`Plan`.

    Attributes:
      role: ``"input"``, ``"hidden"``, ``"output"``, ``"bias"`` or ``"fixed"`` (width role).
      shape: the parameter's shape.
      m_in: fan-in width multiplier :math:`m_\text{in}`.
      m_out: fan-out width multiplier :math:`m_\text{out}`.
      block: whether the parameter lives inside a residual block (gets the depth factors).
      m_depth: :math:`m_L = L / L_0` for a block parameter, else 1.
    """

    role: str
    shape: tuple[int, ...]
    m_in: float
    m_out: float
    block: bool = False
    m_depth: float = 1.0


@dataclass(frozen=True)
class Plan:
    """The μP scalings of one model, parameter by parameter (built by :func:`jinit.mup.plan`).

    Parameters are named by :func:`jinit.tree.path_str` (``"Dense_1/kernel"``).

    Attributes:
      leaves: ``{name: Leaf}`` for every parameter.
      optimizer: ``"adam"`` or ``"sgd"``: which column of learning rates applies.
      formulation: ``"init"`` (Table 3 as printed) or ``"multiplier"`` (readout factor in the
        forward pass).
      alpha: the residual-branch exponent (``0.5`` depth-μP, ``1.0`` CompleteP), or ``None``
        for width only.
      depth, base_depth: the number of residual blocks :math:`L` and :math:`L_0` (``None``
        for width only).
    """

    leaves: dict[str, Leaf]
    optimizer: str
    formulation: str
    alpha: float | None = None
    depth: int | None = None
    base_depth: int | None = None

    def _depth(self, leaf: Leaf, key: str) -> float:
        if self.alpha is None or not leaf.block:
            return 1.0
        return leaf.m_depth ** depth_exponents(self.alpha)[key]

    @property
    def roles(self) -> dict[str, str]:
        """``{name: role}``."""
        return {k: v.role for k, v in self.leaves.items()}

    @property
    def blocks(self) -> dict[str, bool]:
        """``{name: inside a residual block}``."""
        return {k: v.block for k, v in self.leaves.items()}

    @property
    def branch_multiplier(self) -> float:
        r""":math:`m_L^{-\alpha}`: multiply every residual branch's output by it,
        ``x = x + plan.branch_multiplier * f(x)``; 1 at the base depth and for width only."""
        if self.alpha is None:
            return 1.0
        return (self.depth / self.base_depth) ** depth_exponents(self.alpha)["branch"]

    @property
    def lr_multipliers(self) -> dict[str, float]:
        """``{name: factor}``: each parameter's learning rate is ``factor * lr``."""
        table = _LR_EXPONENTS[self.optimizer, self.formulation]
        out = {}
        for k, v in self.leaves.items():
            e_in, e_out = table[v.role]
            out[k] = float(v.m_in ** e_in * v.m_out ** e_out * self._depth(v, self.optimizer))
        return out

    @property
    def init_multipliers(self) -> dict[str, float]:
        """``{name: factor}`` on the standard deviation of a fan-in-scaled SP init.

        :math:`m_\\text{in}^{-1/2}` for output weights (``"init"``), :math:`m_\\text{in}^{1/2}`
        (``"multiplier"``), 1 for every other parameter, at any depth.
        """
        power = -0.5 if self.formulation == "init" else 0.5
        return {k: float(v.m_in ** power) if v.role == "output" else 1.0
                for k, v in self.leaves.items()}

    @property
    def eps_multipliers(self) -> dict[str, float]:
        """``{name: factor}`` on Adam's epsilon: the width factor of the gradient's size, times
        :math:`m_L^{-\\alpha}` inside residual blocks (CompleteP, Eq. 40). Applied by
        :meth:`scale_eps`."""
        table = _EPS_EXPONENTS[self.formulation]
        out = {}
        for k, v in self.leaves.items():
            e_in, e_out = table[v.role]
            out[k] = float(v.m_in ** e_in * v.m_out ** e_out * self._depth(v, "eps"))
        return out

    @property
    def decay_multipliers(self) -> dict[str, float]:
        """``{name: factor}`` on a decoupled weight decay λ, for :meth:`add_decayed_weights`.

        CompleteP's rule (EleutherAI/nanoGPT-mup ``configure_optimizers``: hidden weights get
        ``weight_decay / width_lr_scaling``): the per-step decay ``lr * lr_multiplier * λ *
        factor`` keeps the depth factor of the learning rate and drops its width factor.
        """
        table = _LR_EXPONENTS[self.optimizer, self.formulation]
        out = {}
        for k, v in self.leaves.items():
            e_in, e_out = table[v.role]
            out[k] = float(v.m_in ** -e_in * v.m_out ** -e_out)
        return out

    @property
    def output_multiplier(self) -> float:
        """The factor the model applies to its logits: :math:`1/m_\\text{in}` of the readout
        with ``formulation="multiplier"``, else 1. With several output weights, the largest
        readout's factor (they share one width in practice)."""
        if self.formulation == "init":
            return 1.0
        outs = [v.m_in for v in self.leaves.values() if v.role == "output"]
        return 1.0 / max(outs) if outs else 1.0

    def rescale(self, params: object, *, zero_output: bool = False) -> object:
        """Turns parameters initialized in SP (fan-in variance) into μP ones.

        Multiplies each output weight by :attr:`init_multipliers` (or sets it to 0 with
        ``zero_output``, which Tensor Programs V recommends for the readout); every other
        parameter is returned unchanged, since μP keeps SP's fan-in variance for them.

        Args:
          params: the tree the plan was built from (or one of the same structure).
          zero_output: zero the output weights instead of rescaling them.

        Returns:
          A tree of the same structure.

        Raises:
          KeyError: ``params`` has a parameter that the plan does not name.
        """
        mults = self.init_multipliers

        def one(path, leaf):
            name = path_str(path)
            factor = self._lookup("Plan.rescale", name, mults)
            if zero_output and self.leaves[name].role == "output":
                return jnp.zeros_like(leaf)
            if factor == 1.0:
                return leaf
            return leaf * jnp.asarray(factor, jnp.asarray(leaf).dtype)

        return jax.tree_util.tree_map_with_path(one, params)

    def _scaler(self, fn: str, table: dict[str, float], invert: bool = False):
        import optax

        lookup = self._lookup

        def scale(tree):
            def one(path, u):
                factor = lookup(fn, path_str(path), table)
                if u is None or factor == 1.0:
                    return u
                return u * jnp.asarray(1.0 / factor if invert else factor, u.dtype)
            return jax.tree_util.tree_map_with_path(one, tree)

        def init_fn(params):
            jax.tree_util.tree_map_with_path(lambda p, _: lookup(fn, path_str(p), table), params)
            return optax.EmptyState()

        def update_fn(updates, state, params=None):
            del params
            return scale(updates), state

        return optax.GradientTransformation(init_fn, update_fn)

    def transform(self):
        """An optax ``GradientTransformation`` multiplying each update by its learning-rate factor.

        Chain it after the optimizer whose column the plan was built for:
        ``optax.chain(optax.adam(lr), plan.transform())`` (Adam, AdamW, RMSProp, Adagrad…)
        or ``optax.chain(optax.sgd(lr), plan.transform())`` with ``optimizer="sgd"``.
        It is stateless and works on dicts, ``nnx.State`` and ``nnx.Optimizer``.

        Returns:
          ``optax.GradientTransformation``.

        Raises:
          KeyError: at ``init``/``update``, a parameter the plan does not name.
        """
        return self._scaler("Plan.transform", self.lr_multipliers)

    def scale_eps(self):
        """An optax transform that gives Adam a per-parameter epsilon: chain it *before* Adam.

        Adam is invariant to rescaling a gradient by :math:`c` when :math:`\\epsilon` is
        rescaled by :math:`c` too, so dividing each gradient by its
        :attr:`eps_multipliers` factor :math:`k` makes ``optax.adam(lr, eps=eps)`` act with
        :math:`\\epsilon k` on that parameter, exactly:
        ``optax.chain(plan.scale_eps(), optax.adam(lr, eps=eps), plan.transform())``.
        """
        return self._scaler("Plan.scale_eps", self.eps_multipliers, invert=True)

    def add_decayed_weights(self, weight_decay: float):
        """``optax.add_decayed_weights`` with each parameter's λ times :attr:`decay_multipliers`.

        Chain it after ``optax.scale_by_adam()`` and before the learning rate and
        :meth:`transform`, as ``optax.adamw`` orders them.
        """
        import optax

        lam = _checks.real("Plan.add_decayed_weights", "weight_decay", weight_decay, minimum=0.0)
        table, lookup = self.decay_multipliers, self._lookup

        def update_fn(updates, state, params=None):
            if params is None:
                raise ValueError(_checks.message(
                    "Plan.add_decayed_weights", "params", None, "is missing",
                    "the parameters, passed to update()"))

            def one(path, u, p):
                factor = lam * lookup("Plan.add_decayed_weights", path_str(path), table)
                return u if factor == 0.0 else u + jnp.asarray(factor, p.dtype) * p
            return jax.tree_util.tree_map_with_path(one, updates, params), state

        return optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn)

    def _lookup(self, fn: str, name: str, table: dict[str, float]) -> float:
        try:
            return table[name]
        except KeyError:
            known = ", ".join(sorted(table)[:6])
            raise KeyError(_checks.message(
                fn, "params", name, "names a parameter the plan does not know",
                f"one of {known}{', ...' if len(table) > 6 else ''}",
                "Build the plan from the same tree the optimizer sees (for linen, "
                "variables['params'], not variables).")) from None

    def summary(self) -> str:
        """A table: name, shape, role, block, init factor and learning-rate factor per parameter."""
        init, lr = self.init_multipliers, self.lr_multipliers
        rows = [("parameter", "shape", "role", "block", "init std x", f"{self.optimizer} lr x")]
        for k, v in self.leaves.items():
            rows.append((k, str(v.shape), v.role, "yes" if v.block else "", f"{init[k]:.4g}",
                         f"{lr[k]:.4g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                         for r in rows)
