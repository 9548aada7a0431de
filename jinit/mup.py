r"""Maximal update parametrization (μP) for Flax and optax.

μP scales each parameter's initialization and learning rate with the model's width so
that every layer's features move by :math:`\Theta(1)` per step at any width; the
optimal hyperparameters found on a small model then transfer to a wide one. This
module implements Table 3 of Tensor Programs V (Yang et al. 2022), the μP scalings for
SGD and Adam, written *relative to a base model*: at the base shapes μP equals the
standard parametrization (SP) exactly, and every factor below is a power of the width
multiplier of the parameter's fan-in or fan-out.

.. math::

    m_\text{in} = \frac{\text{fan\_in}}{\text{base fan\_in}}, \qquad
    m_\text{out} = \frac{\text{fan\_out}}{\text{base fan\_out}}

Table 3 of Tensor Programs V (SP in brackets; :math:`n_i` = fan-in)::

                      input weights, biases   hidden weights            output weights
    init variance     s / n_i                 s / n_i                   s / (n_i m_in)   [s / n_i]
    SGD lr            lr * m_out   [lr]       lr * m_out / m_in  [lr]   lr / m_in        [lr]
    Adam lr           lr                      lr / m_in          [lr]   lr / m_in        [lr]

with :math:`s` the variance multiplier the model already uses (LeCun 1, He 2). *Input* weights map a width-independent dimension to a width-sized
one (an embedding, the first layer), *output* weights the reverse (the readout, the
unembedding), *hidden* weights map width to width; *biases* are every vector-like
parameter (biases, norm gains). A fifth role, *fixed*, marks parameters whose shapes do
not depend on width: every factor is 1. The hidden SGD entry is Table 3's 1 whenever fan-in
and fan-out grow together (:math:`m_\text{out} = m_\text{in}`).

``formulation="multiplier"`` moves the output layer's extra factor from its weights into
the forward pass, by the symmetry of abc-parametrizations (Tensor Programs IV and V: a weight :math:`W = \theta w`
trains identically when :math:`w`'s init standard deviation is divided by
:math:`\theta`, its Adam learning rate divided by :math:`\theta` and its SGD learning
rate by :math:`\theta^2`). With :math:`\theta = 1/m_\text{in}`: the logits are multiplied
by :math:`1/m_\text{in}` (:attr:`Plan.output_multiplier`), the output weights keep the
width-independent variance :math:`s/\text{base fan\_in}`, and their learning rate
is lr (Adam) or :math:`\text{lr}\cdot m_\text{in}` (SGD). The multiplier scales the
readout's weight product :math:`x W` only: a readout bias added inside it would train
:math:`m_\text{in}^2` times slower (SGD) than in the ``"init"`` form, so add the bias after
the multiplier or leave it out. This is the form to use when the input embedding and the
readout share one matrix.

Attention: μP scales attention logits by :math:`1/d` instead of :math:`1/\sqrt{d}`
(:func:`attention_scale`); the query projection may be zero-initialized, and so may the
readout (both remain μP, and Tensor Programs V recommends them).

References:
  Yang & Hu, "Tensor Programs IV: Feature Learning in Infinite-Width Neural Networks",
  ICML 2021, arXiv:2011.14522. Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki,
  Chen & Gao, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
  Hyperparameter Transfer", NeurIPS 2021 / arXiv:2203.03466 (2022), Table 3.

Example:
  A Flax linen MLP switched to μP in three lines (base width 32, target width 256):

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
  >>> params = plan.rescale(params)                       # μP init of the readout
  >>> tx = optax.chain(optax.adam(1e-3), plan.transform())   # μP learning rates
  >>> [plan.roles[p] for p in ("Dense_0/kernel", "Dense_1/kernel", "Dense_2/kernel")]
  ['input', 'hidden', 'output']
  >>> plan.lr_multipliers["Dense_1/kernel"], plan.lr_multipliers["Dense_0/bias"]
  (0.125, 1.0)

  The same for a Flax NNX model: plan on ``nnx.state(model, nnx.Param)`` against a base
  model built with ``nnx.eval_shape``, write the rescaled state back, and give the
  transform to ``nnx.Optimizer``:

  >>> from flax import nnx
  >>> class Net(nnx.Module):
  ...     def __init__(self, width, rngs):
  ...         self.inp = nnx.Linear(8, width, rngs=rngs)
  ...         self.hid = nnx.Linear(width, width, rngs=rngs)
  ...         self.out = nnx.Linear(width, 10, rngs=rngs)
  ...     def __call__(self, x):
  ...         return self.out(nnx.relu(self.hid(nnx.relu(self.inp(x)))))
  >>> model = Net(256, nnx.Rngs(0))
  >>> base = nnx.eval_shape(lambda: Net(32, nnx.Rngs(0)))
  >>> plan = jinit.mup.plan(nnx.state(model, nnx.Param), nnx.state(base, nnx.Param),
  ...                       optimizer="sgd")
  >>> nnx.update(model, plan.rescale(nnx.state(model, nnx.Param)))
  >>> opt = nnx.Optimizer(model, optax.chain(optax.sgd(0.1), plan.transform()),
  ...                     wrt=nnx.Param)
  >>> plan.roles["out/kernel"], plan.lr_multipliers["inp/kernel"], plan.lr_multipliers["out/kernel"]
  ('output', 8.0, 0.125)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _fans
from ._base import Init
from ._typing import DISTRIBUTIONS, Array, DTypeLike, KeyArray, OutSharding
from ._variance import _variance_scaling
from .tree import path_str

Role = Literal["input", "hidden", "output", "bias", "fixed"]
Optimizer = Literal["adam", "sgd"]
Formulation = Literal["init", "multiplier"]

ROLES: tuple[str, ...] = get_args(Role)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
FORMULATIONS: tuple[str, ...] = get_args(Formulation)

__all__ = ["FORMULATIONS", "OPTIMIZERS", "ROLES", "Leaf", "Plan", "attention_scale",
           "initializer", "path_name", "plan"]


# ------------------------------------------------------------------------------ paths


def path_name(path: Sequence[object]) -> str:
    """Names a pytree leaf by its key path: ``"Dense_0/kernel"``, ``"layers/0/kernel"``.

    Dict keys, attribute names and sequence indices are joined with ``/``; a trailing
    ``value`` attribute (how ``nnx.State`` and ``nnx.Variable`` hold their arrays) is
    dropped, so a linen ``params`` dict and an ``nnx.State`` name a layer alike.

    Args:
      path: a key path from ``jax.tree_util.tree_leaves_with_path``.

    Returns:
      The ``/``-joined name.

    Example:
      >>> import jax, jinit
      >>> tree = {"Dense_0": {"kernel": 0, "bias": 1}, "blocks": [2]}
      >>> [jinit.mup.path_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]
      ['Dense_0/bias', 'Dense_0/kernel', 'blocks/0']
    """
    name = path_str(path)
    head, _, last = name.rpartition("/")
    return head if head and last in ("value", "raw_value") else name


def _leaves(tree: object) -> list[tuple[str, tuple[int, ...]]]:
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        shape = getattr(leaf, "shape", None)
        if shape is None:
            shape = np.shape(leaf)
        out.append((path_name(path), tuple(int(d) for d in shape)))
    return out


def _rules(fn: str, arg: str, value: object, allowed: tuple[str, ...] | None
           ) -> list[tuple[re.Pattern[str], object]]:
    if value is None:
        return []
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    rules = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise _checks.fail(fn, arg, value, "is not a mapping of regex to value",
                               "a dict {regex: value} or a sequence of (regex, value) pairs",
                               exc=TypeError)
        pattern, target = item
        if allowed is not None:
            _checks.choice(fn, f"{arg}[{pattern!r}]", target, allowed)
        try:
            rules.append((re.compile(pattern), target))
        except re.error as err:
            raise _checks.fail(fn, arg, value, f"has the invalid regex {pattern!r} ({err})",
                               "valid Python regular expressions") from None
    return rules


def _first(rules: list[tuple[re.Pattern[str], object]], name: str) -> object | None:
    for pattern, target in rules:
        if pattern.search(name):
            return target
    return None


# ------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Leaf:
    """One parameter's μP data: its role, fans and width multipliers.

    Attributes:
      role: ``"input"``, ``"hidden"``, ``"output"``, ``"bias"`` or ``"fixed"``.
      shape: the parameter's shape.
      m_in: fan-in width multiplier :math:`m_\\text{in}` (1 for input weights and biases).
      m_out: fan-out width multiplier :math:`m_\\text{out}` (1 for output weights).
    """

    role: str
    shape: tuple[int, ...]
    m_in: float
    m_out: float


_ADAM = {
    "init": {"input": lambda a, b: 1.0, "hidden": lambda a, b: 1.0 / a,
             "output": lambda a, b: 1.0 / a, "bias": lambda a, b: 1.0, "fixed": lambda a, b: 1.0},
    "multiplier": {"input": lambda a, b: 1.0, "hidden": lambda a, b: 1.0 / a,
                   "output": lambda a, b: 1.0, "bias": lambda a, b: 1.0,
                   "fixed": lambda a, b: 1.0},
}
_SGD = {
    "init": {"input": lambda a, b: b, "hidden": lambda a, b: b / a, "output": lambda a, b: 1.0 / a,
             "bias": lambda a, b: b, "fixed": lambda a, b: 1.0},
    "multiplier": {"input": lambda a, b: b, "hidden": lambda a, b: b / a,
                   "output": lambda a, b: a, "bias": lambda a, b: b, "fixed": lambda a, b: 1.0},
}
_LR = {"adam": _ADAM, "sgd": _SGD}


@dataclass(frozen=True)
class Plan:
    """The μP scalings of one model, parameter by parameter (see :mod:`jinit.mup`).

    Built by :func:`plan`. Parameters are named by :func:`path_name` (``"Dense_1/kernel"``).

    Attributes:
      leaves: ``{name: Leaf}`` for every parameter.
      optimizer: ``"adam"`` or ``"sgd"``: which column of learning rates applies.
      formulation: ``"init"`` (Table 3 as printed) or ``"multiplier"`` (readout factor in the
        forward pass).
    """

    leaves: dict[str, Leaf]
    optimizer: str
    formulation: str

    @property
    def roles(self) -> dict[str, str]:
        """``{name: role}``."""
        return {k: v.role for k, v in self.leaves.items()}

    @property
    def lr_multipliers(self) -> dict[str, float]:
        """``{name: factor}``: each parameter's learning rate is ``factor * lr``."""
        table = _LR[self.optimizer][self.formulation]
        return {k: float(table[v.role](v.m_in, v.m_out)) for k, v in self.leaves.items()}

    @property
    def init_multipliers(self) -> dict[str, float]:
        """``{name: factor}`` on the standard deviation of a fan-in-scaled SP init.

        :math:`m_\\text{in}^{-1/2}` for output weights (``"init"``), :math:`m_\\text{in}^{1/2}`
        (``"multiplier"``), 1 for every other parameter.
        """
        power = -0.5 if self.formulation == "init" else 0.5
        return {k: float(v.m_in ** power) if v.role == "output" else 1.0
                for k, v in self.leaves.items()}

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
          params: the tree the plan was built from (or one of the same structure): a dict,
            an ``nnx.State``, any pytree of arrays.
          zero_output: zero the output weights instead of rescaling them.

        Returns:
          A tree of the same structure.

        Raises:
          KeyError: ``params`` has a parameter that the plan does not name.
        """
        mults = self.init_multipliers

        def one(path, leaf):
            name = path_name(path)
            factor = self._lookup("Plan.rescale", name, mults)
            if zero_output and self.leaves[name].role == "output":
                return jnp.zeros_like(leaf)
            if factor == 1.0:
                return leaf
            return leaf * jnp.asarray(factor, jnp.asarray(leaf).dtype)

        return jax.tree_util.tree_map_with_path(one, params)

    def transform(self):
        """An optax ``GradientTransformation`` multiplying each update by its learning-rate factor.

        Chain it after the optimizer whose column the plan was built for:
        ``optax.chain(optax.adam(lr), plan.transform())`` (Adam, AdamW — whose decoupled
        weight decay is then scaled too, as μP's AdamW does — RMSProp, Adagrad…) or
        ``optax.chain(optax.sgd(lr), plan.transform())`` with ``optimizer="sgd"``.
        It is stateless and works on dicts, ``nnx.State`` and ``nnx.Optimizer``.

        Returns:
          ``optax.GradientTransformation``.

        Raises:
          KeyError: at ``init``/``update``, a parameter the plan does not name.
        """
        import optax

        mults = self.lr_multipliers
        lookup = self._lookup

        def scale(tree):
            def one(path, u):
                factor = lookup("Plan.transform", path_name(path), mults)
                if u is None or factor == 1.0:
                    return u
                return u * jnp.asarray(factor, u.dtype)
            return jax.tree_util.tree_map_with_path(one, tree)

        def init_fn(params):
            jax.tree_util.tree_map_with_path(
                lambda p, _: lookup("Plan.transform", path_name(p), mults), params)
            return optax.EmptyState()

        def update_fn(updates, state, params=None):
            del params
            return scale(updates), state

        return optax.GradientTransformation(init_fn, update_fn)

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
        """A table: name, shape, role, init factor and learning-rate factor per parameter."""
        init, lr = self.init_multipliers, self.lr_multipliers
        rows = [("parameter", "shape", "role", "init std x", f"{self.optimizer} lr x")]
        for k, v in self.leaves.items():
            rows.append((k, str(v.shape), v.role, f"{init[k]:.4g}", f"{lr[k]:.4g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _infer(m_in: float, m_out: float, ndim: int) -> str:
    if ndim < 2:
        return "bias" if m_out != 1.0 else "fixed"
    return {(True, True): "hidden", (True, False): "output", (False, True): "input",
            (False, False): "fixed"}[(m_in != 1.0, m_out != 1.0)]


def plan(params: object, base: object, *, width: int | None = None,
         roles: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
         optimizer: str = "adam", formulation: str = "init",
         fan_axes: Mapping[str, tuple[object, object]] | None = None) -> Plan:
    r"""Builds the μP :class:`Plan` of a parameter tree against a base model.

    The base is either the base model's parameter tree (any tree with the same paths whose
    leaves have ``.shape``; ``jax.eval_shape(model_at_base_width.init, ...)`` costs no
    memory) or a base width (a number) together with ``width``. With a base tree, each
    parameter's width multipliers are the ratios of its fans to the base fans,

    .. math::

        m_\text{in} = \frac{\text{fan\_in}}{\text{fan\_in}_\text{base}}, \qquad
        m_\text{out} = \frac{\text{fan\_out}}{\text{fan\_out}_\text{base}},

    and a parameter without a ``roles`` entry gets the role its shapes imply: ≥2 axes with
    both fans growing → hidden, only fan-out → input, only fan-in → output, neither →
    fixed; fewer than 2 axes → bias (fixed if it does not grow). With a base width, the
    role (from ``roles``, or bias for 1-axis parameters) says which fans grow, each by
    ``width / base``. Fans follow :func:`jinit.compute_fans` (``in_axis=-2``,
    ``out_axis=-1``; for a 1-axis parameter fan-out is its length), overridable per
    parameter with ``fan_axes``. The scalings are Table 3 of Tensor Programs V (see
    :mod:`jinit.mup`).

    Args:
      params: the parameter tree of the model to train (a dict such as linen's
        ``variables["params"]``, an ``nnx.State``, any pytree of arrays or
        ``jax.ShapeDtypeStruct``).
      base: the base model's parameter tree, or a base width (a positive number).
      width: the model's width, required when ``base`` is a number.
      roles: ``{regex: role}`` (or ``(regex, role)`` pairs), matched with ``re.search``
        against each parameter's :func:`path_name`, first match wins; roles are
        ``"input"``, ``"hidden"``, ``"output"``, ``"bias"``, ``"fixed"``.
      optimizer: ``"adam"`` (any entrywise-normalizing optimizer) or ``"sgd"``.
      formulation: ``"init"`` (Table 3) or ``"multiplier"`` (readout multiplier
        :math:`1/m_\text{in}` in the forward pass; see :mod:`jinit.mup`).
      fan_axes: ``{regex: (in_axis, out_axis)}`` for parameters whose fans are not on the
        last two axes (e.g. ``nn.DenseGeneral`` attention kernels).

    Returns:
      A :class:`Plan`.

    Raises:
      ValueError: an unknown role/optimizer/formulation, a non-positive base width, a base
        tree whose paths or ranks differ from ``params``, a ≥2-axis parameter without a role
        when ``base`` is a number.
      TypeError: ``roles``/``fan_axes`` of the wrong type; ``width`` missing with a number base.

    References:
      Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
      Hyperparameter Transfer", arXiv:2203.03466, 2022, Table 3.

    Example:
      >>> import jax.numpy as jnp, jinit
      >>> params = {"embed": jnp.zeros((100, 512)), "mlp": jnp.zeros((512, 512)),
      ...           "bias": jnp.zeros((512,)), "head": jnp.zeros((512, 100))}
      >>> p = jinit.mup.plan(params, 128, width=512, optimizer="sgd",
      ...                    roles={"embed": "input", "mlp": "hidden", "head": "output"})
      >>> p.roles["bias"], p.lr_multipliers["embed"], p.lr_multipliers["head"]
      ('bias', 4.0, 0.25)
      >>> p.init_multipliers["head"], p.init_multipliers["mlp"]
      (0.5, 1.0)
    """
    fn = "mup.plan"
    _checks.choice(fn, "optimizer", optimizer, OPTIMIZERS)
    _checks.choice(fn, "formulation", formulation, FORMULATIONS)
    role_rules = _rules(fn, "roles", roles, ROLES)
    axis_rules = _rules(fn, "fan_axes", fan_axes, None)
    leaves = _leaves(params)
    numeric = isinstance(base, (int, float, np.integer, np.floating)) and not isinstance(base, bool)
    if numeric:
        _checks.scalar(fn, "base", base, strict=True)
        if width is None:
            raise _checks.fail(fn, "width", width, "is missing",
                               "the model's width when base is a number",
                               "Pass width=..., or pass the base model's parameter tree.",
                               TypeError)
        _checks.scalar(fn, "width", width, strict=True)
        ratio = float(width) / float(base)
        base_shapes = None
    else:
        base_shapes = dict(_leaves(base))
        missing = [n for n, _ in leaves if n not in base_shapes]
        if missing or len(base_shapes) != len(leaves):
            extra = sorted(set(base_shapes) - {n for n, _ in leaves})
            raise _checks.fail(fn, "base", missing or extra, "lists parameters that do not match",
                               "a base tree with the same parameter paths as params",
                               "Build both trees from the same model class.")
    out: dict[str, Leaf] = {}
    for name, shape in leaves:
        axes = _first(axis_rules, name)
        in_axis, out_axis = axes if axes is not None else (-2, -1)
        role = _first(role_rules, name)
        if base_shapes is not None:
            bshape = base_shapes[name]
            if len(bshape) != len(shape):
                raise _checks.fail(fn, "base", bshape, f"has rank {len(bshape)} at {name!r}",
                                   f"rank {len(shape)}, as in params")
            fi, fo = _leaf_fans(fn, shape, in_axis, out_axis)
            bi, bo = _leaf_fans(fn, bshape, in_axis, out_axis)
            m_in, m_out = _ratio(fi, bi), _ratio(fo, bo)
            if role is None:
                role = _infer(m_in, m_out, len(shape))
        else:
            if role is None:
                if len(shape) >= 2:
                    raise _checks.fail(fn, "roles", roles, f"gives no role for {name!r} "
                                       f"(shape {shape})", f"a role from {', '.join(ROLES)}",
                                       "Add a regex for it, or pass the base model's tree.")
                role = "bias" if len(shape) == 1 else "fixed"
            grows_in = role in ("hidden", "output")
            grows_out = role in ("hidden", "input", "bias")
            m_in, m_out = (ratio if grows_in else 1.0), (ratio if grows_out else 1.0)
        out[name] = Leaf(str(role), shape, float(m_in), float(m_out))
    return Plan(out, optimizer, formulation)


def _leaf_fans(fn: str, shape: tuple[int, ...], in_axis, out_axis) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return 1.0, float(shape[0])
    return _fans.fans(fn, shape, in_axis, out_axis, ())


def _ratio(a: float, b: float) -> float:
    return 1.0 if a == b else (a / b if b else 1.0)


# ------------------------------------------------------------------------ initializers


def initializer(role: str, *, base_fan_in: int | None = None, scale: float = 1.0,
                distribution: str = "normal", in_axis: int | Sequence[int] = -2,
                out_axis: int | Sequence[int] = -1, batch_axis: int | Sequence[int] = (),
                dtype: DTypeLike | None = None) -> Init:
    r"""Builds the μP initializer of a weight of the given role (Tensor Programs V, Table 3).

    .. math::

        \operatorname{Var}[w] = \begin{cases}
          s / n_i & \text{input and hidden weights} \\
          s \cdot n_{i,0} / n_i^2 = \dfrac{s}{n_i\, m_\text{in}} & \text{output weights}
        \end{cases}

    with :math:`s` = ``scale``, :math:`n_i` the fan-in (:func:`jinit.compute_fans`),
    :math:`n_{i,0}` = ``base_fan_in`` and :math:`m_\text{in} = n_i / n_{i,0}`. Input and
    hidden weights keep SP's fan-in variance, so this equals
    ``jinit.variance_scaling(scale, "fan_in", distribution)`` for them; the output weight
    gets the extra :math:`1/m_\text{in}` (its variance falls as :math:`1/\text{width}^2`),
    and equals that SP init at the base width. Biases and gains are width-independent
    (``jinit.zeros``/``jinit.ones``). Pair with the learning rates of :func:`plan`.

    Args:
      role: ``"input"``, ``"hidden"`` or ``"output"``.
      base_fan_in: the output weight's fan-in in the base model (required for ``"output"``).
      scale: the variance multiplier :math:`s` (1 LeCun, 2 He).
      distribution: ``"normal"`` (default), ``"truncated_normal"`` or ``"uniform"``.
      in_axis, out_axis, batch_axis: fan axes as in :func:`jinit.variance_scaling`.
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: an unknown role or distribution, ``"bias"``/``"fixed"``, a missing or
        non-positive ``base_fan_in`` for ``"output"``, a negative ``scale``.

    References:
      Yang et al., "Tensor Programs V", arXiv:2203.03466, 2022, Table 3.

    Example:
      >>> import jax, jinit
      >>> init = jinit.mup.initializer("output", base_fan_in=64)
      >>> w = init(jax.random.key(0), (1024, 10))          # width 16x the base
      >>> bool(abs(w.var() * 1024 * 16 - 1) < 0.1), w.shape
      (True, (1024, 10))
    """
    fn = "mup.initializer"
    _checks.choice(fn, "role", role, ("input", "hidden", "output"))
    _checks.choice(fn, "distribution", distribution, DISTRIBUTIONS)
    _checks.scalar(fn, "scale", scale)
    params = {"role": role, "base_fan_in": base_fan_in, "scale": scale,
              "distribution": distribution, "dtype": dtype}
    if role != "output":
        return _variance_scaling(fn, scale, "fan_in", distribution, in_axis, out_axis,
                                 batch_axis, dtype, params)
    if base_fan_in is None:
        raise _checks.fail(fn, "base_fan_in", base_fan_in, "is missing for an output weight",
                           "the readout's fan-in in the base model, a positive int")
    _checks.scalar(fn, "base_fan_in", base_fan_in, strict=True)
    for arg, value in (("in_axis", in_axis), ("out_axis", out_axis), ("batch_axis", batch_axis)):
        _checks.axis_arg(fn, arg, value)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding
             ) -> Array:
        fan_in, _ = _fans.fans(fn, shape, in_axis, out_axis, batch_axis)
        factor = float(base_fan_in) / fan_in if fan_in else 1.0
        inner = _variance_scaling(fn, scale * factor, "fan_in", distribution, in_axis,
                                  out_axis, batch_axis, None, params)
        return inner._body(key, shape, dt, out_sharding)

    return Init(fn, body, params, dtype)


def attention_scale(head_dim: int, base_head_dim: int | None = None) -> float:
    r"""The μP attention-logit scale: :math:`1/d` instead of :math:`1/\sqrt{d}`.

    .. math::

        \text{logits} = \tau\, q^\top k, \qquad
        \tau = \begin{cases} 1/d & \text{base\_head\_dim} = \text{None} \\
                             \sqrt{d_0}/d & \text{otherwise} \end{cases}

    with :math:`d` = ``head_dim``. Under μP, query and key coordinates become correlated
    after training, so :math:`q^\top k` grows like :math:`d` rather than :math:`\sqrt{d}`;
    dividing by :math:`d` keeps the logits :math:`\Theta(1)`. With a base head dimension
    :math:`d_0` the scale equals SP's :math:`1/\sqrt{d_0}` at the base width.

    For attention built with ``flax.linen.dot_product_attention`` or
    ``nnx.dot_product_attention`` (which divide by :math:`\sqrt{d}` themselves), multiply
    the query by ``attention_scale(d, d0) * d ** 0.5`` first; ``jax.nn.dot_product_attention``
    takes ``scale=attention_scale(d, d0)`` directly.

    Args:
      head_dim: :math:`d`, a positive int.
      base_head_dim: :math:`d_0`, or ``None`` for the bare :math:`1/d`.

    Returns:
      :math:`\tau` as a Python float.

    Raises:
      ValueError: a non-positive ``head_dim`` or ``base_head_dim``.

    References:
      Yang et al., "Tensor Programs V", arXiv:2203.03466, 2022.

    Example:
      >>> import jinit
      >>> jinit.mup.attention_scale(64), jinit.mup.attention_scale(256, base_head_dim=64)
      (0.015625, 0.03125)
    """
    fn = "mup.attention_scale"
    _checks.scalar(fn, "head_dim", head_dim, strict=True)
    if base_head_dim is None:
        return 1.0 / float(head_dim)
    _checks.scalar(fn, "base_head_dim", base_head_dim, strict=True)
    return math.sqrt(float(base_head_dim)) / float(head_dim)
