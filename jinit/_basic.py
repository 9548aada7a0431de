"""Fixed-scale random initializers: normal, uniform, truncated_normal (jax's semantics)."""

from __future__ import annotations

import numpy as np

from . import _checks, _sampling
from ._base import Init, factory, public
from ._typing import Array, DTypeLike, KeyArray, OutSharding


@public
@factory
def normal(stddev: float = 1e-2, dtype: DTypeLike | None = None) -> Init:
    r"""Builds an initializer that draws from a zero-mean normal distribution.

    .. math::

        w \sim \mathcal{N}(0, \sigma^2), \qquad \mathbb{E}[w] = 0, \quad \operatorname{Var}[w] = \sigma^2,

    with :math:`\sigma` = ``stddev``. For a complex dtype, real and imaginary parts are
    independent :math:`\mathcal{N}(0, \sigma^2/2)`, so :math:`\mathbb{E}|w|^2 = \sigma^2`.
    Same parameters, defaults and distribution as ``jax.nn.initializers.normal``.

    Precision: drawn in the output dtype for float32/float64 and complex (bit-identical to
    ``jax.nn.initializers``); for bfloat16, float16 and float8 drawn and scaled in float32 and
    rounded once, with values clipped to the dtype's finite range.

    Args:
      stddev: the standard deviation :math:`\sigma \ge 0` (default ``1e-2``, as jax).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: ``stddev`` is negative or not finite.
      TypeError: ``stddev`` is not a real number.

    References:
      jax ``jax.nn.initializers.normal``.

    Example:
      >>> import jax, jinit
      >>> w = jinit.normal(0.5)(jax.random.key(0), (1000, 100))
      >>> w.shape, w.dtype, bool(abs(w.std() - 0.5) < 0.01)
      ((1000, 100), dtype('float32'), True)
    """
    stddev = _checks.scalar("normal", "stddev", stddev)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.normal(key, shape, dt, stddev, out_sharding)

    return Init("normal", body, {"stddev": stddev, "dtype": dtype}, dtype)


@public
@factory
def uniform(scale: float = 1e-2, dtype: DTypeLike | None = None) -> Init:
    r"""Builds an initializer that draws from the one-sided uniform distribution ``[0, scale)``.

    .. math::

        w \sim \mathcal{U}[0, s), \qquad \mathbb{E}[w] = s/2, \quad \operatorname{Var}[w] = s^2/12,

    with :math:`s` = ``scale``.

    .. warning::
       This is jax's convention: the interval is ``[0, scale)``, not ``(-scale, scale)`` as
       Keras's ``RandomUniform(-0.05, 0.05)`` or a symmetric ``torch.nn.init.uniform_(a, b)``.
       For a symmetric, variance-targeted uniform use ``variance_scaling(..., "uniform")``.

    Precision: drawn in the output dtype for float32/float64 (bit-identical to
    ``jax.nn.initializers``); for bfloat16, float16 and float8 drawn and scaled in float32 and
    rounded once, with values clipped to the dtype's finite range and to the largest representable value below ``scale``.

    Real dtypes only (as jax): a complex dtype raises ``TypeError``.

    Args:
      scale: the upper end :math:`s \ge 0` of the interval (default ``1e-2``, as jax).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: ``scale`` is negative or not finite.
      TypeError: ``scale`` is not a real number, or the dtype is complex.

    References:
      jax ``jax.nn.initializers.uniform``.

    Example:
      >>> import jax, jinit
      >>> w = jinit.uniform(2.0)(jax.random.key(0), (100, 100), jax.numpy.bfloat16)
      >>> w.dtype, bool(w.min() >= 0), bool(w.max() < 2)
      (dtype(bfloat16), True, True)
    """
    scale = _checks.scalar("uniform", "scale", scale)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.uniform(key, shape, dt, 0.0, 1.0, scale, out_sharding)

    return Init("uniform", body, {"scale": scale, "dtype": dtype}, dtype, complex_ok=False)


@public
@factory
def truncated_normal(stddev: float = 1e-2, dtype: DTypeLike | None = None,
                     lower: float = -2.0, upper: float = 2.0) -> Init:
    r"""Builds an initializer that draws from a truncated normal distribution (jax's convention).

    .. math::

        w = \sigma z, \quad z \sim \mathcal{N}(0, 1) \text{ conditioned on } a \le z \le b,

        \mathbb{E}[w] = \sigma\,\frac{\varphi(a) - \varphi(b)}{Z}, \qquad
        \operatorname{Var}[w] = \sigma^2\left[1 + \frac{a\varphi(a) - b\varphi(b)}{Z}
        - \left(\frac{\varphi(a) - \varphi(b)}{Z}\right)^2\right],

    where :math:`\sigma` = ``stddev``, :math:`a, b` = ``lower, upper`` (in units of
    :math:`\sigma`), :math:`\varphi, \Phi` are the standard normal density and CDF and
    :math:`Z = \Phi(b) - \Phi(a)`. Support: :math:`[a\sigma, b\sigma]`.

    .. warning::
       As in jax (and Keras, Haiku, TF), ``stddev`` is the standard deviation *before*
       truncation; no correction is applied. With the default bounds ±2 the standard
       deviation of the result is :math:`0.8796\,\sigma`. ``variance_scaling`` and the
       Glorot/He/LeCun schemes do apply the correction. PyTorch's ``trunc_normal_`` takes
       absolute bounds instead.

    Precision: drawn in the output dtype for float32/float64 (bit-identical to
    ``jax.nn.initializers``); for bfloat16, float16 and float8 drawn and scaled in float32 and
    rounded once, with values clipped to the dtype's finite range and to the largest representable interval inside the support.
    One deliberate difference: with a bound so far out that ``erf`` rounds it to ±1 (float32:
    beyond ±5.37σ), jax puts one draw in :math:`2^{23}` exactly on the bound
    (``erf_inv(-1) = -inf``, clipped); here that draw lands at -5.42 (float64: -8.29), the
    lowest value of jax's ``normal``. Every other value is jax's.

    Real dtypes only (as jax): a complex dtype raises ``TypeError``.

    Args:
      stddev: :math:`\sigma \ge 0`, the untruncated standard deviation (default ``1e-2``).
      dtype: the initializer's default dtype.
      lower: lower truncation bound :math:`a` in units of ``stddev`` (default ``-2.0``).
      upper: upper truncation bound :math:`b > a` in units of ``stddev`` (default ``2.0``).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: ``stddev`` negative or not finite; bounds not finite or ``lower >= upper``.
      TypeError: a non-real argument, or a complex dtype.

    References:
      jax ``jax.nn.initializers.truncated_normal``; Johnson, Kotz & Balakrishnan,
      "Continuous Univariate Distributions", Vol. 1, 2nd ed., 1994, §10.1 (moments).

    Example:
      >>> import jax, jinit
      >>> w = jinit.truncated_normal(1.0)(jax.random.key(0), (1000, 100))
      >>> bool(w.min() >= -2.0), bool(w.max() <= 2.0), bool(abs(w.std() - 0.8796) < 0.01)
      (True, True, True)
    """
    fn = "truncated_normal"
    stddev = _checks.scalar(fn, "stddev", stddev)
    _checks.scalar(fn, "lower", lower, minimum=None)
    _checks.scalar(fn, "upper", upper, minimum=None)
    if not float(lower) < float(upper):
        raise _checks.fail(fn, "upper", upper, f"is not above lower={lower!r}", "lower < upper")

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.truncated_normal(key, lower, upper, shape, dt, stddev, out_sharding)

    return Init(fn, body, {"stddev": stddev, "dtype": dtype, "lower": lower, "upper": upper},
                dtype, complex_ok=False)
