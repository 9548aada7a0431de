"""Keras 3's layer defaults and random initializers as jinit factories (``keras/src/layers``,
``keras/src/initializers``)."""

from __future__ import annotations

from .. import _checks
from .._base import Init, factory
from .._typing import DTypeLike
from ._fills import (
    PREFIX,
    Axes,
    axes_params,
    filled,
    shifted_normal,
    uniform_between,
    variance_scaled,
)


@factory
def keras_dense_kernel(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                       dtype: DTypeLike | None = None) -> Init:
    r"""Builds Keras's default ``Dense`` and ``Conv1D/2D/3D`` kernel init: ``glorot_uniform``.

    ``keras_conv_kernel`` is the same object, under the convolution layers' name.

    .. math::

        w \sim \mathcal{U}\left(-\sqrt{\tfrac{6}{\text{fan}_\text{in} + \text{fan}_\text{out}}},\
        \sqrt{\tfrac{6}{\text{fan}_\text{in} + \text{fan}_\text{out}}}\right), \qquad
        \operatorname{Var}[w] = \frac{2}{\text{fan}_\text{in} + \text{fan}_\text{out}}.

    For a convolution kernel ``(*k, c_in / groups, c_out)`` (Keras and Flax share this layout)
    :math:`\text{fan}_\text{in} + \text{fan}_\text{out} = (c_\text{in}/g + c_\text{out})\prod k`: Keras's fans for
    rank ≥ 3 use the receptive field ``prod(shape[:-2])`` (HWIO), the same as jax's defaults, so this equals ``jinit.glorot_uniform()`` bit for bit. Keras's bias default
    is zeros (:func:`keras_bias`).

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.variance_scaling`.

    References:
      Keras 3 ``keras.layers.Dense`` (``kernel_initializer="glorot_uniform"``); Glorot & Bengio,
      AISTATS 2010. Keras 3 ``keras.layers.Conv2D``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.keras_dense_kernel()(jax.random.key(0), (100, 200))
      >>> bool(abs(w).max() <= (6 / 300) ** 0.5)
      True
      >>> w = presets.keras_conv_kernel()(jax.random.key(0), (3, 3, 16, 32))
      >>> bool(abs(w).max() <= (6 / ((16 + 32) * 9)) ** 0.5)
      True
    """
    params = axes_params(in_axis, out_axis, batch_axis, dtype)
    return variance_scaled("keras_dense_kernel", 1.0, "fan_avg", "uniform", in_axis, out_axis,
                           batch_axis, dtype, params)


keras_conv_kernel = keras_dense_kernel


@factory
def keras_bias(dtype: DTypeLike | None = None) -> Init:
    """Builds Keras's default bias init: zeros (``bias_initializer="zeros"``).

    Every value is exactly 0 (mean 0, variance 0); the key is ignored. The same values as
    :func:`jinit.zeros`, as a factory like the other presets. ``torch_zeros`` (PyTorch's
    ``zeros_``) is the same object.

    Args:
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError, ValueError: at call time, a bad shape or a non-inexact dtype.

    References:
      Keras 3 ``keras.layers.Dense``/``Conv*`` (``bias_initializer="zeros"``); PyTorch
      ``torch.nn.init.zeros_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> presets.keras_bias()(jax.random.key(0), (3,))
      Array([0., 0., 0.], dtype=float32)
    """
    return filled("keras_bias", 0, dtype)


@factory
def keras_random_uniform(minval: float = -0.05, maxval: float = 0.05,
                         dtype: DTypeLike | None = None) -> Init:
    r"""Builds Keras's ``RandomUniform(minval, maxval)``: U[minval, maxval).

    .. math::

        w \sim \mathcal{U}[\ell, u), \qquad \mathbb{E}[w] = \frac{\ell + u}{2},\quad
        \operatorname{Var}[w] = \frac{(u - \ell)^2}{12},

    with Keras's defaults :math:`\ell = -0.05`, :math:`u = 0.05` (variance :math:`0.05^2/3`).
    Note ``jinit.uniform(scale)`` is jax's one-sided ``[0, scale)``.

    Args:
      minval: :math:`\ell` (default -0.05).
      maxval: :math:`u > \ell` (default 0.05).
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: non-finite bounds or ``minval >= maxval``.
      TypeError: non-real bounds; at call time a complex dtype.

    References:
      Keras 3 ``keras.initializers.RandomUniform``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.keras_random_uniform()(jax.random.key(0), (100, 100))
      >>> bool(w.min() >= -0.05), bool(w.max() < 0.05)
      (True, True)
    """
    return uniform_between("keras_random_uniform", "minval", "maxval", minval, maxval, dtype,
                           {"minval": minval, "maxval": maxval, "dtype": dtype})


@factory
def keras_embedding(dtype: DTypeLike | None = None) -> Init:
    r"""Builds Keras's default ``Embedding`` init: ``RandomUniform(-0.05, 0.05)``.

    .. math::

        w \sim \mathcal{U}[-0.05, 0.05), \qquad \mathbb{E}[w] = 0,\quad
        \operatorname{Var}[w] = 0.05^2/3,

    independent of the table size (``embeddings_initializer="uniform"``).

    Args:
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: at call time a complex or non-inexact dtype.

    References:
      Keras 3 ``keras.layers.Embedding``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> e = presets.keras_embedding()(jax.random.key(0), (1000, 16))
      >>> bool(abs(e).max() <= 0.05)
      True
    """
    return uniform_between("keras_embedding", "minval", "maxval", -0.05, 0.05, dtype,
                           {"dtype": dtype})


@factory
def keras_random_normal(mean: float = 0.0, stddev: float = 0.05,
                        dtype: DTypeLike | None = None) -> Init:
    r"""Builds Keras's ``RandomNormal(mean, stddev)``: N(mean, stddev²), untruncated.

    .. math::

        w \sim \mathcal{N}(\mu, \sigma^2), \qquad \mathbb{E}[w] = \mu,\quad \operatorname{Var}[w] = \sigma^2,

    with Keras's defaults :math:`\mu = 0`, :math:`\sigma = 0.05` (jax's ``normal`` defaults to
    :math:`\sigma = 0.01`).

    Args:
      mean: :math:`\mu` (default 0).
      stddev: :math:`\sigma \ge 0` (default 0.05).
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: a negative or non-finite ``stddev``, a non-finite ``mean``.
      TypeError: non-real arguments; at call time a complex dtype.

    References:
      Keras 3 ``keras.initializers.RandomNormal``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.keras_random_normal(mean=1.0)(jax.random.key(0), (1000, 100))
      >>> bool(abs(w.mean() - 1) < 0.001), bool(abs(w.std() - 0.05) < 0.001)
      (True, True)
    """
    fn = PREFIX + "keras_random_normal"
    _checks.scalar(fn, "mean", mean, minimum=None)
    _checks.scalar(fn, "stddev", stddev)
    return shifted_normal("keras_random_normal", mean, stddev, None, None, dtype,
                          {"mean": mean, "stddev": stddev, "dtype": dtype})


@factory
def keras_truncated_normal(mean: float = 0.0, stddev: float = 0.05,
                           dtype: DTypeLike | None = None) -> Init:
    r"""Builds Keras's ``TruncatedNormal(mean, stddev)``: N(mean, stddev²) cut at ±2 stddev.

    .. math::

        w = \mu + \sigma z,\ z \sim \mathcal{N}(0, 1) \text{ conditioned on } |z| \le 2,
        \qquad \mathbb{E}[w] = \mu,\quad
        \operatorname{Var}[w] = \sigma^2\left(1 - \frac{4\varphi(2)}{2\Phi(2) - 1}\right)
        = 0.7737\,\sigma^2,

    support :math:`[\mu - 2\sigma, \mu + 2\sigma]`. Keras's "normal": ``stddev`` is the standard
    deviation *before* truncation and no correction is applied, so the result's standard
    deviation is :math:`0.8796\,\sigma` (Keras's ``variance_scaling`` does correct; so does
    jinit's). With ``mean=0`` this is ``jinit.truncated_normal(stddev)`` in law.

    Args:
      mean: :math:`\mu` (default 0).
      stddev: :math:`\sigma \ge 0`, before truncation (default 0.05).
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: a negative or non-finite ``stddev``, a non-finite ``mean``.
      TypeError: non-real arguments; at call time a complex dtype.

    References:
      Keras 3 ``keras.initializers.TruncatedNormal``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.keras_truncated_normal()(jax.random.key(0), (1000, 100))
      >>> bool(abs(w).max() <= 0.1), bool(abs(w.std() / 0.05 - 0.8796) < 0.01)
      (True, True)
    """
    fn = PREFIX + "keras_truncated_normal"
    _checks.scalar(fn, "mean", mean, minimum=None)
    _checks.scalar(fn, "stddev", stddev)
    return shifted_normal("keras_truncated_normal", mean, stddev, -2.0, 2.0, dtype,
                          {"mean": mean, "stddev": stddev, "dtype": dtype})
