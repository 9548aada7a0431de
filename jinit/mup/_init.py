"""``mup.initializer`` and ``mup.attention_scale``: the μP init of one weight, the logit scale."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import _checks, _fans
from .._base import Init, factory
from .._typing import DISTRIBUTIONS, Array, DTypeLike, KeyArray, OutSharding
from .._variance import variance_scaling_init as _variance_scaling


@factory
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
    _checks.integer(fn, "base_fan_in", base_fan_in, minimum=1)
    for arg, value in (("in_axis", in_axis), ("out_axis", out_axis), ("batch_axis", batch_axis)):
        _checks.axis_arg(fn, arg, value)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding
             ) -> Array:
        fan_in, _ = _fans.fans(fn, shape, in_axis, out_axis, batch_axis)
        factor = float(base_fan_in) / fan_in if fan_in else 1.0
        inner = _variance_scaling(fn, scale * factor, "fan_in", distribution, in_axis,
                                  out_axis, batch_axis, None, params)
        return inner(key, shape, dt, out_sharding)

    return Init(fn, body, params, dtype)


def attention_scale(head_dim: int, base_head_dim: int | None = None) -> float:
    r"""The μP attention-logit scale: :math:`1/d` instead of :math:`1/\sqrt{d}`.

    .. math::

        \text{logits} = \tau\, q^\top k, \qquad
        \tau = \begin{cases} 1/d & \text{base_head_dim} = \text{None} \\
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
    d = float(_checks.integer(fn, "head_dim", head_dim, minimum=1))
    if base_head_dim is None:
        return 1.0 / d
    d0 = float(_checks.integer(fn, "base_head_dim", base_head_dim, minimum=1))
    return math.sqrt(d0) / d
