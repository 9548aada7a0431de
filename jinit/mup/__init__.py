r"""Parametrizations that transfer hyperparameters: μP (width), depth-μP / CompleteP (depth),
u-μP (unit scale), for Flax and optax.

* :func:`plan` relates a model to a smaller base model and returns a :class:`Plan`: each
  parameter's init and learning-rate factors (Tensor Programs V, Table 3, for width), and,
  with ``alpha``, the residual-branch multiplier :math:`(L/L_0)^{-\alpha}` and the depth
  factors of depth-μP (``alpha=0.5``) or CompleteP (``alpha=1``). At the base shapes every
  factor is 1: the plan equals the standard parametrization there.
* :func:`initializer` is the μP init of one weight, for ``kernel_init=``;
  :func:`attention_scale` the μP attention-logit scale :math:`1/d`.
* :mod:`jinit.mup.unit` is u-μP: unit-variance weights, per-op scales and their learning
  rates.

Each is checked by ``jinit verify --coord-check`` (width and depth sweeps); the README's μP
section walks through linen and NNX models.

References:
  Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
  Hyperparameter Transfer", arXiv:2203.03466, 2022, Table 3. Yang, Yu, Zhu & Hayou,
  "Tensor Programs VI: Feature Learning in Infinite-Depth Neural Networks",
  arXiv:2310.02244, 2023. Dey et al., "Don't be lazy: CompleteP enables compute-efficient
  deep transformers", arXiv:2505.01618, 2025. Blake et al., "u-μP: The Unit-Scaled Maximal
  Update Parametrization", ICLR 2025, arXiv:2407.17465.

Example:
  >>> import jax, jax.numpy as jnp, optax, flax.linen as nn, jinit
  >>> class MLP(nn.Module):
  ...     width: int
  ...     @nn.compact
  ...     def __call__(self, x):
  ...         x = nn.relu(nn.Dense(self.width)(x))
  ...         x = nn.relu(nn.Dense(self.width)(x))
  ...         return nn.Dense(10)(x)
  >>> x = jnp.ones((4, 8))
  >>> params = MLP(256).init(jax.random.key(0), x)["params"]
  >>> base = jax.eval_shape(MLP(32).init, jax.random.key(0), x)["params"]
  >>> plan = jinit.mup.plan(params, base, optimizer="adam")
  >>> params = plan.rescale(params)                          # μP init of the readout
  >>> tx = optax.chain(optax.adam(1e-3), plan.transform())   # μP learning rates
  >>> [plan.roles[p] for p in ("Dense_0/kernel", "Dense_1/kernel", "Dense_2/kernel")]
  ['input', 'hidden', 'output']
  >>> plan.lr_multipliers["Dense_1/kernel"], plan.lr_multipliers["Dense_0/bias"]
  (0.125, 1.0)
"""

from .._base import public
from . import unit as unit
from ._build import plan as plan
from ._init import attention_scale as attention_scale
from ._init import initializer as initializer
from ._plan import ALPHAS as ALPHAS
from ._plan import DEPTH_ROLES as DEPTH_ROLES
from ._plan import FORMULATIONS as FORMULATIONS
from ._plan import OPTIMIZERS as OPTIMIZERS
from ._plan import ROLES as ROLES
from ._plan import Leaf as Leaf
from ._plan import Plan as Plan
from ._plan import depth_exponents as depth_exponents

for _obj in (plan, attention_scale, initializer, Leaf, Plan, depth_exponents):
    public(__name__)(_obj)
del _obj

__all__ = ["ALPHAS", "DEPTH_ROLES", "FORMULATIONS", "OPTIMIZERS", "ROLES", "Leaf", "Plan",
           "attention_scale", "depth_exponents", "initializer", "plan", "unit"]
