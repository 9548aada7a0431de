"""PyTorch's random ``torch.nn.init`` laws as jinit factories: kaiming, xavier, trunc_normal,
uniform and normal, on Flax layouts."""

from __future__ import annotations

from .. import _checks
from .._base import Init, factory
from .._gain import calculate_gain
from .._typing import DTypeLike
from ._fills import PREFIX, Axes, axes_params, shifted_normal, uniform_between, variance_scaled

_TORCH_MODES = ("fan_in", "fan_out")
# The names torch.nn.init.calculate_gain accepts (its values come from jinit.calculate_gain).
_NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                   "conv_transpose3d", "sigmoid", "tanh", "relu", "selu", "leaky_relu")


def _kaiming(name: str, distribution: str, a: float, mode: str, nonlinearity: str,
             in_axis: Axes, out_axis: Axes, batch_axis: Axes, dtype: DTypeLike | None) -> Init:
    fn = PREFIX + name
    _checks.scalar(fn, "a", a, minimum=None)
    _checks.choice(fn, "mode", mode, _TORCH_MODES)
    _checks.choice(fn, "nonlinearity", nonlinearity, _NONLINEARITIES)
    gain = calculate_gain(nonlinearity, a)
    params = {"a": a, "mode": mode, "nonlinearity": nonlinearity,
              **axes_params(in_axis, out_axis, batch_axis, dtype)}
    return variance_scaled(name, gain * gain, mode, distribution, in_axis, out_axis, batch_axis,
                           dtype, params)


def _xavier(name: str, distribution: str, gain: float, in_axis: Axes, out_axis: Axes,
            batch_axis: Axes, dtype: DTypeLike | None) -> Init:
    _checks.scalar(PREFIX + name, "gain", gain)
    params = {"gain": gain, **axes_params(in_axis, out_axis, batch_axis, dtype)}
    g = float(gain)
    return variance_scaled(name, g * g, "fan_avg", distribution, in_axis, out_axis, batch_axis,
                           dtype, params)


@factory
def torch_kaiming_uniform(a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                          in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                          dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``kaiming_uniform_`` (He initialization) with PyTorch's arguments.

    .. math::

        w \sim \mathcal{U}\left(-g\sqrt{3/n},\ g\sqrt{3/n}\right), \qquad \operatorname{Var}[w] = g^2/n,

    where :math:`n` is fan_in or fan_out (``mode``) and :math:`g` = ``calculate_gain(nonlinearity,
    a)`` from PyTorch's table: 1 for ``"linear"``, ``"conv*"``, ``"conv_transpose*"``,
    ``"sigmoid"``; 5/3 for ``"tanh"``; √2 for ``"relu"``; 3/4 for ``"selu"``;
    :math:`\sqrt{2/(1+a^2)}` for ``"leaky_relu"`` (the default, with ``a = 0``, gives √2).
    Equals ``jinit.variance_scaling(g**2, mode, "uniform")``. Fans follow jax's rule on the
    given axes (Flax layouts by default; for a PyTorch OIHW weight pass ``in_axis=1,
    out_axis=0``, which reproduces PyTorch's fans).

    Args:
      a: the leaky-ReLU negative slope (used only by ``"leaky_relu"``; default 0).
      mode: ``"fan_in"`` (preserves forward variance) or ``"fan_out"`` (backward).
      nonlinearity: a name from PyTorch's ``calculate_gain`` table (default ``"leaky_relu"``).
      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: an unknown ``mode`` or ``nonlinearity``, a non-finite ``a``.
      TypeError: a non-real ``a``, non-int axes.

    References:
      He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852.
      PyTorch ``torch.nn.init.kaiming_uniform_`` and ``calculate_gain``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_kaiming_uniform(nonlinearity="relu")(jax.random.key(0), (512, 256))
      >>> bool(abs(w.var() * 512 / 2 - 1) < 0.02)
      True
    """
    return _kaiming("torch_kaiming_uniform", "uniform", a, mode, nonlinearity, in_axis, out_axis,
                    batch_axis, dtype)


@factory
def torch_kaiming_normal(a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                         in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                         dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``kaiming_normal_`` (He initialization) with PyTorch's arguments.

    .. math::

        w \sim \mathcal{N}(0, g^2/n),

    where :math:`n` is fan_in or fan_out (``mode``) and :math:`g` = ``calculate_gain(nonlinearity,
    a)`` from PyTorch's table: 1 for ``"linear"``, ``"conv*"``, ``"conv_transpose*"``,
    ``"sigmoid"``; 5/3 for ``"tanh"``; √2 for ``"relu"``; 3/4 for ``"selu"``;
    :math:`\sqrt{2/(1+a^2)}` for ``"leaky_relu"`` (the default, with ``a = 0``, gives √2).
    Equals ``jinit.variance_scaling(g**2, mode, "normal")``. The normal is **untruncated**, as PyTorch's (``jinit.he_normal`` is truncated). Fans follow jax's rule on the
    given axes (Flax layouts by default; for a PyTorch OIHW weight pass ``in_axis=1,
    out_axis=0``, which reproduces PyTorch's fans).

    Args:
      a: the leaky-ReLU negative slope (used only by ``"leaky_relu"``; default 0).
      mode: ``"fan_in"`` (preserves forward variance) or ``"fan_out"`` (backward).
      nonlinearity: a name from PyTorch's ``calculate_gain`` table (default ``"leaky_relu"``).
      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: an unknown ``mode`` or ``nonlinearity``, a non-finite ``a``.
      TypeError: a non-real ``a``, non-int axes.

    References:
      He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852.
      PyTorch ``torch.nn.init.kaiming_normal_`` and ``calculate_gain``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_kaiming_normal(nonlinearity="relu")(jax.random.key(0), (512, 256))
      >>> bool(abs(w.var() * 512 / 2 - 1) < 0.02)
      True
    """
    return _kaiming("torch_kaiming_normal", "normal", a, mode, nonlinearity, in_axis, out_axis,
                    batch_axis, dtype)


@factory
def torch_xavier_uniform(gain: float = 1.0, in_axis: Axes = -2, out_axis: Axes = -1,
                         batch_axis: Axes = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``xavier_uniform_`` (Glorot initialization) with a gain.

    .. math::

        w \sim \mathcal{{U}}\left(-g\sqrt{{\tfrac{{6}}{{\text{{fan\_in}} + \text{{fan\_out}}}}}},\ g\sqrt{{\tfrac{{6}}{{\text{{fan\_in}} + \text{{fan\_out}}}}}}\right), \qquad \operatorname{Var}[w] = \frac{2 g^2}{\text{fan\_in} + \text{fan\_out}},

    with :math:`g` = ``gain``. Equals ``jinit.variance_scaling(gain**2, "fan_avg", "uniform")``. The same law as ``jinit.glorot_uniform`` times ``gain``.

    Args:
      gain: the factor :math:`g \ge 0` (default 1), e.g. ``jinit.calculate_gain("tanh")``.
      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: a negative or non-finite ``gain``.
      TypeError: a non-real ``gain``, non-int axes.

    References:
      Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010. PyTorch ``torch.nn.init.xavier_uniform_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_xavier_uniform()(jax.random.key(0), (300, 500))
      >>> bool(abs(w.var() * 400 - 1) < 0.02)
      True
    """
    return _xavier("torch_xavier_uniform", "uniform", gain, in_axis, out_axis, batch_axis, dtype)


@factory
def torch_xavier_normal(gain: float = 1.0, in_axis: Axes = -2, out_axis: Axes = -1,
                        batch_axis: Axes = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``xavier_normal_`` (Glorot initialization) with a gain.

    .. math::

        w \sim \mathcal{{N}}\left(0,\ \frac{{2 g^2}}{{\text{{fan\_in}} + \text{{fan\_out}}}}\right), \qquad \operatorname{Var}[w] = \frac{2 g^2}{\text{fan\_in} + \text{fan\_out}},

    with :math:`g` = ``gain``. Equals ``jinit.variance_scaling(gain**2, "fan_avg", "normal")``. The normal is **untruncated**, as PyTorch's (``jinit.glorot_normal`` is truncated).

    Args:
      gain: the factor :math:`g \ge 0` (default 1), e.g. ``jinit.calculate_gain("tanh")``.
      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: a negative or non-finite ``gain``.
      TypeError: a non-real ``gain``, non-int axes.

    References:
      Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010. PyTorch ``torch.nn.init.xavier_normal_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_xavier_normal()(jax.random.key(0), (300, 500))
      >>> bool(abs(w.var() * 400 - 1) < 0.02)
      True
    """
    return _xavier("torch_xavier_normal", "normal", gain, in_axis, out_axis, batch_axis, dtype)


@factory
def torch_trunc_normal(mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                       dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``trunc_normal_``: N(mean, std²) restricted to the **absolute** ``[a, b]``.

    .. math::

        w \sim \mathcal{N}(\mu, \sigma^2) \text{ conditioned on } a \le w \le b,
        \qquad \alpha = \frac{a - \mu}{\sigma},\ \beta = \frac{b - \mu}{\sigma},\ Z = \Phi(\beta) - \Phi(\alpha),

        \mathbb{E}[w] = \mu + \sigma\frac{\varphi(\alpha) - \varphi(\beta)}{Z}, \qquad
        \operatorname{Var}[w] = \sigma^2\left[1 + \frac{\alpha\varphi(\alpha) - \beta\varphi(\beta)}{Z}
        - \left(\frac{\varphi(\alpha) - \varphi(\beta)}{Z}\right)^2\right],

    support :math:`[a, b]`. Unlike :func:`jinit.truncated_normal` (bounds in units of σ, as jax,
    Keras and Haiku), PyTorch's ``a, b`` are absolute: ``trunc_normal_(w, std=0.02)`` keeps the
    default ±2, i.e. ±100σ, and is in effect an untruncated N(0, 0.02²). No variance correction
    is applied. At ±100σ no draw sits on a bound (jax's inverse CDF would put one in
    :math:`2^{23}` exactly at ``a``; see :func:`jinit.truncated_normal`): float32 draws lie
    in :math:`[\mu - 5.42\sigma, \mu + 5.17\sigma]`. Sampled by inverse CDF in float32
    (float64 under x64), so intervals lying entirely far in one tail (both
    :math:`\alpha, \beta` beyond about ±5 on the same side) are sampled coarsely; PyTorch
    2.13 uses rejection sampling there.

    Args:
      mean: :math:`\mu` (default 0).
      std: :math:`\sigma > 0` (default 1).
      a: the absolute lower bound (default -2).
      b: the absolute upper bound, ``> a`` (default 2).
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: a non-positive or non-finite ``std``, non-finite bounds, or ``a >= b``.
      TypeError: non-real arguments; at call time a complex dtype.

    References:
      PyTorch ``torch.nn.init.trunc_normal_``; Johnson, Kotz & Balakrishnan, "Continuous
      Univariate Distributions", Vol. 1, 2nd ed., 1994, §10.1 (moments).

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_trunc_normal(std=0.02)(jax.random.key(0), (1000, 100))
      >>> bool(abs(w.std() / 0.02 - 1) < 0.01)   # bounds +-2 are +-100 sigma: no truncation
      True
      >>> w = presets.torch_trunc_normal(mean=0.5, std=1.0, a=0.0, b=1.0)(jax.random.key(0), (100,))
      >>> bool(w.min() >= 0.0), bool(w.max() <= 1.0)
      (True, True)
    """
    fn = PREFIX + "torch_trunc_normal"
    _checks.scalar(fn, "mean", mean, minimum=None)
    _checks.scalar(fn, "std", std, strict=True)
    _checks.scalar(fn, "a", a, minimum=None)
    _checks.scalar(fn, "b", b, minimum=None)
    if not float(a) < float(b):
        raise _checks.fail(fn, "b", b, f"is not above a={a!r}", "a < b")
    mu, sigma = float(mean), float(std)
    lower, upper = (float(a) - mu) / sigma, (float(b) - mu) / sigma
    return shifted_normal("torch_trunc_normal", mu, sigma, lower, upper, dtype,
                          {"mean": mean, "std": std, "a": a, "b": b, "dtype": dtype})


@factory
def torch_uniform(a: float = 0.0, b: float = 1.0, dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``uniform_(a, b)``: U[a, b), with PyTorch's defaults ``a=0, b=1``.

    .. math::

        w \sim \mathcal{U}[a, b), \qquad \mathbb{E}[w] = \frac{a + b}{2},\quad
        \operatorname{Var}[w] = \frac{(b - a)^2}{12}.

    Unlike ``jinit.uniform(scale)`` (jax's one-sided ``[0, scale)``), both ends are given.
    Drawn as :func:`keras_random_uniform` is (the same law for the same bounds); bfloat16,
    float16 and float8 results stay inside ``[a, b)`` after rounding.

    Args:
      a: the lower bound (default 0).
      b: the upper bound, ``> a`` (default 1).
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: non-finite bounds or ``a >= b``.
      TypeError: non-real bounds; at call time a complex dtype.

    References:
      PyTorch ``torch.nn.init.uniform_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_uniform(-0.1, 0.1)(jax.random.key(0), (100, 100))
      >>> bool(w.min() >= -0.1), bool(w.max() < 0.1), bool(abs(w.mean()) < 0.002)
      (True, True, True)
    """
    return uniform_between("torch_uniform", "a", "b", a, b, dtype, {"a": a, "b": b, "dtype": dtype})


@factory
def torch_normal(mean: float = 0.0, std: float = 1.0, dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``normal_(mean, std)``: N(mean, std²), untruncated, defaults 0 and 1.

    .. math::

        w \sim \mathcal{N}(\mu, \sigma^2), \qquad \mathbb{E}[w] = \mu,\quad
        \operatorname{Var}[w] = \sigma^2.

    Unlike ``jinit.normal(stddev)`` (jax's zero-mean ``N(0, stddev²)``, default 0.01), the mean
    is given and the default standard deviation is 1. The same law as
    :func:`keras_random_normal` for the same arguments.

    Args:
      mean: :math:`\mu` (default 0).
      std: :math:`\sigma \ge 0` (default 1).
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: a negative or non-finite ``std``, a non-finite ``mean``.
      TypeError: non-real arguments; at call time a complex dtype.

    References:
      PyTorch ``torch.nn.init.normal_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_normal(mean=1.0, std=0.5)(jax.random.key(0), (1000, 100))
      >>> bool(abs(w.mean() - 1) < 0.01), bool(abs(w.std() - 0.5) < 0.01)
      (True, True)
    """
    fn = PREFIX + "torch_normal"
    _checks.scalar(fn, "mean", mean, minimum=None)
    _checks.scalar(fn, "std", std)
    return shifted_normal("torch_normal", mean, std, None, None, dtype,
                          {"mean": mean, "std": std, "dtype": dtype})
