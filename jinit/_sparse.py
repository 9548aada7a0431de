"""Sparse schemes: a fixed number of zeros per input unit (PyTorch's ``sparse_``) or of
non-zeros per output unit (Martens 2010)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _sampling
from ._base import Init, factory, public
from ._typing import Array, DTypeLike, KeyArray, OutSharding


@public
@factory
def sparse_outgoing(sparsity: float, std: float = 0.01, dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``sparse_``: a fixed number of zeros in each input unit's outgoing weights.

    For a Dense kernel of shape ``(n_in, n_out)`` (Flax layout, :math:`y = xW`), every row — the
    :math:`n_\text{out}` outgoing weights of one input unit — has exactly

    .. math::

        z = \lceil \text{sparsity} \cdot n_\text{out} \rceil

    zeros at uniformly random positions (all :math:`\binom{n_\text{out}}{z}` subsets equally
    likely, rows independent); the other entries are i.i.d. :math:`\mathcal{N}(0, \sigma^2)`,
    :math:`\sigma` = ``std``. Per entry: mean 0,
    :math:`\mathbb{E}[w^2] = \sigma^2 (n_\text{out} - z)/n_\text{out}`.

    This is ``torch.nn.init.sparse_(w, sparsity, std)`` translated to Flax's layout. PyTorch's
    weight is ``(out, in)`` and it zeroes ``ceil(sparsity * rows)`` entries of each *column*,
    i.e. of each input unit's outgoing weights; in the ``(in, out)`` layout those are the *rows*.
    So this scheme sparsifies **fan-out**, hence its name: a unit's incoming weights carry no fixed count (for
    that, see :func:`jinit.sparse_incoming`). :math:`z` is computed in double precision exactly
    as PyTorch does (``0.07 * 100`` is 7.000000000000001, so 8 zeros). Unlike PyTorch, whose zero positions come from
    the global RNG even when a ``generator`` is passed, every draw here — values and zero
    positions — comes from the key.

    Args:
      sparsity: the fraction of each row to zero, in ``[0, 1)``.
      std: the standard deviation :math:`\sigma \ge 0` of the non-zero entries (default 0.01).
      dtype: the initializer's default dtype (complex: :math:`\mathbb{E}|w|^2 = \sigma^2`).

    Returns:
      An initializer for 2-D ``(in, out)`` shapes; a zero-size shape gives an empty array.

    Raises:
      ValueError: ``sparsity`` outside ``[0, 1)``, a negative or non-finite ``std``; at call
        time a shape that is not 2-D.
      TypeError: non-real ``sparsity``/``std``.

    References:
      PyTorch ``torch.nn.init.sparse_``, which cites Martens, "Deep learning via Hessian-free
      optimization", ICML 2010 (whose scheme fixes *incoming* counts: :func:`jinit.sparse_incoming`).

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> w = jinit.sparse_outgoing(0.25)(jax.random.key(0), (64, 40))
      >>> zeros_per_row = jnp.sum(w == 0, axis=1)
      >>> bool(jnp.all(zeros_per_row == 10)), w.dtype
      (True, dtype('float32'))
    """
    fn = "sparse_outgoing"
    _checks.scalar(fn, "sparsity", sparsity)
    if not float(sparsity) < 1.0:
        raise _checks.fail(fn, "sparsity", sparsity, "is out of range", "a fraction in [0, 1)",
                           "sparsity=1 would zero every weight; use jinit.zeros.")
    std = _checks.scalar(fn, "std", std)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _checks.rank(fn, "shape", shape, len(shape), (2,),
                     "2 axes (a Dense kernel (in, out)), as PyTorch's sparse_",
                     "For any rank use jinit.sparse_incoming.")

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        n_out = shape[1]
        n_zeros = math.ceil(float(sparsity) * n_out)  # PyTorch's rounding, in double precision
        key_values, key_mask = jax.random.split(key)
        values = _sampling.normal(key_values, shape, dt, std)
        keep = jnp.broadcast_to(jnp.arange(n_out) >= n_zeros, shape)
        keep = jax.random.permutation(key_mask, keep, axis=1, independent=True)
        return _sampling.place(jnp.where(keep, values, jnp.zeros((), dt)), out_sharding)

    return Init(fn, body, {"sparsity": sparsity, "std": std, "dtype": dtype}, dtype, check=check)


@public
@factory
def sparse_incoming(k: int = 15, scale: float = 1.0, dtype: DTypeLike | None = None) -> Init:
    r"""Builds Martens's sparse initialization: exactly ``k`` non-zero incoming weights per unit.

    The last axis indexes the units; all other axes are their incoming connections (a Dense
    kernel ``(n_in, n_out)``, or a convolution kernel ``(*spatial, c_in, c_out)`` whose output
    channel sees :math:`n = \prod k_i \cdot c_\text{in}` inputs). For every unit, :math:`k` of
    its :math:`n` incoming weights are chosen uniformly at random (all :math:`\binom{n}{k}`
    subsets equally likely, units independent) and drawn i.i.d. from
    :math:`\mathcal{N}(0, s^2)`, :math:`s` = ``scale``; the rest are 0. Per entry:

    .. math::

        \mathbb{E}[w] = 0, \qquad \mathbb{E}[w^2] = s^2 \frac{k}{n}, \qquad
        \operatorname{Var}\Big[\textstyle\sum_i x_i w_{ij}\Big] = s^2 k \ \text{ for unit-variance
        i.i.d. inputs,}

    so with the defaults (:math:`k = 15`, :math:`s = 1`) a unit's pre-activation variance is 15
    whatever the width — the point of the scheme: units are "highly differentiated" (few, large
    weights) rather than all scaled down. Biases are not touched; Martens sets them to 0
    (0.5 for tanh units).

    Martens (2010) fixes the count (15 in all his experiments); the unit-Gaussian values follow
    Sutskever et al. (2013), who describe the same scheme as "each random unit is connected to
    15 randomly chosen units in the previous layer, whose weights are drawn from a unit
    Gaussian". Compare :func:`jinit.sparse_outgoing` (PyTorch's ``sparse_``), which fixes zeros
    per *outgoing* row instead. Every draw — values and positions — comes from the key.

    Args:
      k: the number of non-zero incoming weights per unit, an int ``>= 1`` (default 15); at
        call time it must not exceed :math:`n`.
      scale: the standard deviation :math:`s \ge 0` of the non-zero weights (default 1).
      dtype: the initializer's default dtype (complex: :math:`\mathbb{E}|w|^2 = s^2`).

    Returns:
      An initializer for shapes with at least 2 axes; a zero-size shape gives an empty array.

    Raises:
      ValueError: ``k < 1``, a negative or non-finite ``scale``; at call time a shape with fewer
        than 2 axes or ``k`` larger than the fan-in :math:`n`.
      TypeError: a non-int ``k`` or non-real ``scale``.

    References:
      Martens, "Deep learning via Hessian-free optimization", ICML 2010 ("sparse
      initialization"). Sutskever, Martens, Dahl & Hinton, "On the importance of initialization
      and momentum in deep learning", ICML 2013.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> w = jinit.sparse_incoming()(jax.random.key(0), (3, 3, 32, 64))   # HWIO conv kernel
      >>> nonzeros_per_unit = jnp.sum(w.reshape(-1, 64) != 0, axis=0)
      >>> bool(jnp.all(nonzeros_per_unit == 15))
      True
    """
    fn = "sparse_incoming"
    k = _checks.integer(fn, "k", k, 1)
    scale = _checks.scalar(fn, "scale", scale)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _checks.rank(fn, "shape", shape, len(shape), 2,
                     "at least 2 axes (incoming connections, then units)",
                     "For a bias use jinit.zeros.")

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        fan_in, n_units = math.prod(shape[:-1]), shape[-1]
        if k > fan_in:
            raise _checks.fail(fn, "k", k,
                               f"exceeds the {fan_in} incoming connections of each unit of "
                               f"shape={shape}", f"k <= {fan_in} (prod(shape[:-1]))",
                               f"Pass k={fan_in} or fewer.")
        key_values, key_mask = jax.random.split(key)
        values = _sampling.normal(key_values, shape, dt, scale)
        keep = jnp.broadcast_to((jnp.arange(fan_in) < k)[:, None], (fan_in, n_units))
        keep = jax.random.permutation(key_mask, keep, axis=0, independent=True).reshape(shape)
        return _sampling.place(jnp.where(keep, values, jnp.zeros((), dt)), out_sharding)

    return Init(fn, body, {"k": k, "scale": scale, "dtype": dtype}, dtype, check=check)
