"""Variance scaling and its named presets: Glorot/Xavier, He/Kaiming, LeCun."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _fans, _sampling
from ._base import Init, factory, public
from ._typing import DISTRIBUTIONS, MODES, Array, DTypeLike, KeyArray, OutSharding

# Standard deviation of N(0, 1) truncated to [-2, 2]:
#   sqrt(1 - 4 phi(2) / (2 Phi(2) - 1))  (the truncated-normal variance, a = -b = -2).
# Equals the literal .87962566103423978 that jax, Keras, TF and Haiku use, to the last bit.
_PHI2 = math.exp(-2.0) / math.sqrt(2.0 * math.pi)
_TRUNC_STD = math.sqrt(1.0 - 4.0 * _PHI2 / math.erf(2.0 / math.sqrt(2.0)))

# sqrt(E|z|^2) of a standard circular complex normal with |z| <= 2. |z|^2 ~ Exp(1), and
# E[X | X <= 4] = 1 - 4 e^-4 / (1 - e^-4) for X ~ Exp(1), so this is 0.96196...
# jax uses .95311164380491208, which makes its complex truncated variance 1.87% too large.
_COMPLEX_TRUNC_STD = math.sqrt(1.0 - 4.0 * math.exp(-4.0) / (1.0 - math.exp(-4.0)))

_DENOMINATORS = {
    "fan_in": lambda fan_in, fan_out: fan_in,
    "fan_out": lambda fan_in, fan_out: fan_out,
    "fan_avg": lambda fan_in, fan_out: (fan_in + fan_out) / 2,
    "fan_geo_avg": lambda fan_in, fan_out: (fan_in * fan_out) ** 0.5,  # as jax writes it
}


def _real_draw(distribution: str, key: KeyArray, shape: tuple[int, ...], dt: np.dtype,
               variance: object, xp, out_sharding: OutSharding) -> Array:
    sdt = _sampling.sampling_dtype(dt)
    if distribution == "truncated_normal":
        stddev = xp.sqrt(variance) / xp.asarray(_TRUNC_STD, sdt)
        return _sampling.truncated_normal(key, -2.0, 2.0, shape, dt, stddev, out_sharding)
    if distribution == "normal":
        return _sampling.normal(key, shape, dt, xp.sqrt(variance), out_sharding)
    bound = xp.sqrt(xp.asarray(3, sdt) * variance)
    return _sampling.uniform(key, shape, dt, -1.0, 1.0, bound, out_sharding)


def _complex_draw(distribution: str, key: KeyArray, shape: tuple[int, ...], dt: np.dtype,
                  variance: Array, out_sharding: OutSharding) -> Array:
    if distribution == "truncated_normal":
        stddev = jnp.sqrt(variance) / jnp.array(_COMPLEX_TRUNC_STD, dt)
        z = _sampling.complex_truncated_normal(key, 2.0, shape, dt, out_sharding)
        return _sampling.barrier(z) * stddev
    if distribution == "normal":
        return _sampling.normal(key, shape, dt, jnp.sqrt(variance), out_sharding)
    return _sampling.complex_uniform_disk(key, shape, dt, out_sharding) * jnp.sqrt(variance)


def variance_scaling_init(name: str, scale: float, mode: str, distribution: str,
                          in_axis: int | Sequence[int], out_axis: int | Sequence[int],
                          batch_axis: int | Sequence[int], dtype: DTypeLike | None,
                          params: dict[str, object]) -> Init:
    """:func:`variance_scaling` under the public name ``name`` (``"he_normal"``,
    ``"presets.torch_linear_kernel"``), with ``params`` for its repr: every scheme of the
    family (presets, Fixup, T-Fixup) is built here."""
    scale = _checks.scalar(name, "scale", scale)
    _checks.choice(name, "mode", mode, MODES)
    _checks.choice(name, "distribution", distribution, DISTRIBUTIONS)
    for arg, value in (("in_axis", in_axis), ("out_axis", out_axis), ("batch_axis", batch_axis)):
        _checks.axis_arg(name, arg, value)
    denominator_of = _DENOMINATORS[mode]

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _fans.fans(name, shape, in_axis, out_axis, batch_axis)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        fan_in, fan_out = _fans.fans(name, shape, in_axis, out_axis, batch_axis)
        ratio = scale / denominator_of(fan_in, fan_out)
        _checks.representable(name, params, ratio, (fan_in, fan_out), _sampling.sampling_dtype(dt))
        if jnp.issubdtype(dt, jnp.complexfloating):
            return _complex_draw(distribution, key, shape, dt, jnp.array(ratio, dt), out_sharding)
        # Constants in numpy (static, identical to XLA's correctly rounded f32/f64 ops), so
        # eager and jitted calls see the same values and low-precision bounds are known.
        xp = jnp if isinstance(ratio, jax.core.Tracer) else np
        variance = xp.asarray(ratio, _sampling.sampling_dtype(dt))
        return _real_draw(distribution, key, shape, dt, variance, xp, out_sharding)

    init = Init(name, body, params, dtype, check=check)
    _FAMILY[init] = (name, scale, mode, distribution, in_axis, out_axis, batch_axis, dtype, params)
    return init


# How each variance-scaling initializer was built, so :func:`with_axes` can rebuild it with
# the fan axes a model's computation implies (jinit.structure). Weak: no initializer is kept.
_FAMILY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
DEFAULT_AXES = (-2, -1, ())  # jax's in_axis, out_axis, batch_axis


def fan_axes(init: object) -> tuple[object, object, object] | None:
    """``(in_axis, out_axis, batch_axis)`` of a variance-scaling initializer, else ``None``."""
    built = _FAMILY.get(init) if isinstance(init, Init) else None
    return None if built is None else built[4:7]


def with_axes(init: Init, in_axis: int | Sequence[int], out_axis: int | Sequence[int],
              batch_axis: int | Sequence[int]) -> Init:
    """The same variance-scaling initializer (name, scale, mode, distribution, dtype) with
    other fan axes; its repr shows them."""
    name, scale, mode, distribution, _, _, _, dtype, params = _FAMILY[init]
    params = {**params, "in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis}
    return variance_scaling_init(name, scale, mode, distribution, in_axis, out_axis, batch_axis,
                                 dtype, params)


@public
@factory
def variance_scaling(
    scale: float,
    mode: str,
    distribution: str,
    in_axis: int | Sequence[int] = -2,
    out_axis: int | Sequence[int] = -1,
    batch_axis: int | Sequence[int] = (),
    dtype: DTypeLike | None = None,
) -> Init:
    r"""Builds an initializer whose variance adapts to the weight's fans.

    .. math::

        \operatorname{Var}[w] = \frac{s}{n}, \qquad \mathbb{E}[w] = 0, \qquad
        n = \begin{cases}
          \text{fan}_\text{in} & \text{mode} = \texttt{"fan_in"} \\
          \text{fan}_\text{out} & \texttt{"fan_out"} \\
          (\text{fan}_\text{in} + \text{fan}_\text{out})/2 & \texttt{"fan_avg"} \\
          \sqrt{\text{fan}_\text{in} \cdot \text{fan}_\text{out}} & \texttt{"fan_geo_avg"}
        \end{cases}

    with :math:`s` = ``scale`` and fans from :func:`jinit.compute_fans` (``in_axis``,
    ``out_axis``, ``batch_axis``). For a complex dtype the variance is :math:`\mathbb{E}|w|^2`.
    Distributions:

    * ``"truncated_normal"``: :math:`w = \sigma z`, :math:`z \sim \mathcal{N}(0,1)` truncated
      to :math:`[-2, 2]`, :math:`\sigma = \sqrt{s/n}\,/\,0.87962566103423978`, where
      :math:`0.8796\ldots = \sqrt{1 - 4\varphi(2)/(2\Phi(2)-1)}` is the standard deviation
      of the truncated standard normal, so the variance *after* truncation is :math:`s/n`.
      Support :math:`[-2\sigma, 2\sigma]`. Complex: circular normal with modulus truncated
      at :math:`2\sigma`, :math:`\sigma = \sqrt{s/n}\,/\,0.96196`, where
      :math:`0.96196\ldots = \sqrt{1 - 4e^{-4}/(1 - e^{-4})}`.
    * ``"normal"``: :math:`\mathcal{N}(0, s/n)`, untruncated.
    * ``"uniform"``: :math:`\mathcal{U}(-\sqrt{3s/n}, \sqrt{3s/n})` (the :math:`\sqrt{3}`
      makes the variance :math:`s/n`); complex: uniform on the disk of radius
      :math:`\sqrt{2s/n}`.

    Same parameters, order, defaults and distributions as
    ``jax.nn.initializers.variance_scaling``; for float32/float64 and complex ``"normal"``
    and ``"uniform"`` the same bits. Deliberate differences, each tested:

    .. warning::
       * Complex ``"truncated_normal"``: jax divides by 0.95311164380491208, which is not the
         standard deviation of a circular normal truncated at modulus 2, so jax's variance is
         :math:`1.0187\, s/n`. jinit uses the correct 0.96196… and delivers :math:`s/n`.
       * bfloat16/float16/float8: drawn and scaled in float32, then rounded once (see below).
       * ``mode``/``distribution`` and the axes are checked when the factory is called, not
         at the first ``init``; a zero-size shape returns an empty array instead of raising
         ``ZeroDivisionError``; complex draws honour ``out_sharding``.

    Precision: float32/float64/complex are drawn in the output dtype. bfloat16, float16 and
    float8 are drawn and scaled in float32, clipped to the support (rounded inward to
    representable values) and to the dtype's finite range, then rounded once.

    Args:
      scale: :math:`s \ge 0`, the variance multiplier (2 for ReLU, 1 for linear/SELU, …).
      mode: ``"fan_in"``, ``"fan_out"``, ``"fan_avg"`` or ``"fan_geo_avg"``.
      distribution: ``"truncated_normal"``, ``"normal"`` or ``"uniform"``.
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: an unknown ``mode``/``distribution``, a negative or non-finite ``scale``;
        at call time, a shape whose rank does not have the fan axes.
      TypeError: non-int axes, a non-real ``scale``; at call time a non-inexact dtype or a
        key that is not a key.

    References:
      Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010. He et al., "Delving Deep into Rectifiers", ICCV 2015,
      arXiv:1502.01852. LeCun et al., "Efficient BackProp", 1998. Trabelsi et al., "Deep
      Complex Networks", ICLR 2018 (complex variance). jax ``jax.nn.initializers``.

    Example:
      >>> import jax, jinit
      >>> init = jinit.variance_scaling(2.0, "fan_in", "uniform")
      >>> w = init(jax.random.key(0), (512, 256))
      >>> bound = (3 * 2.0 / 512) ** 0.5
      >>> bool(abs(w).max() <= bound), bool(abs(w.var() * 512 / 2.0 - 1) < 0.02)
      (True, True)
    """
    params = {"scale": scale, "mode": mode, "distribution": distribution, "in_axis": in_axis,
              "out_axis": out_axis, "batch_axis": batch_axis, "dtype": dtype}
    return variance_scaling_init("variance_scaling", scale, mode, distribution, in_axis, out_axis,
                                 batch_axis, dtype, params)


def _preset(name: str, scale: float, mode: str, distribution: str, in_axis: int | Sequence[int],
            out_axis: int | Sequence[int], batch_axis: int | Sequence[int],
            dtype: DTypeLike | None) -> Init:
    params = {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis, "dtype": dtype}
    return variance_scaling_init(name, scale, mode, distribution, in_axis, out_axis, batch_axis,
                                 dtype, params)


@public
@factory
def glorot_uniform(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                   batch_axis: int | Sequence[int] = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds a Glorot (Xavier) uniform initializer,
    ``variance_scaling(1.0, "fan_avg", "uniform")``.

    .. math::

        w \sim \mathcal{U}\bigl(-\sqrt{3/n}, \sqrt{3/n}\bigr), \qquad \operatorname{Var}[w] = 1/n,
        \qquad n = (\text{fan}_\text{in} + \text{fan}_\text{out})/2

    Balances forward and backward signal variance for linear/tanh-like units. Equals
    PyTorch's ``xavier_uniform_`` (gain 1) and Keras's ``GlorotUniform``. Same parameters,
    defaults and bits (float32/float64) as ``jax.nn.initializers.glorot_uniform``; see
    :func:`jinit.variance_scaling` for the precision policy, complex dtypes and every
    deliberate difference from jax.

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: non-int axes; at call time, a non-inexact dtype or a bad key.
      ValueError: at call time, a shape with too few axes for the fans.

    References:
      Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010, eq. 16.

    Example:
      >>> import jax, jinit
      >>> w = jinit.glorot_uniform()(jax.random.key(0), (3, 3, 64, 128))   # Flax HWIO conv kernel
      >>> fan_in, fan_out = jinit.compute_fans(w.shape)
      >>> n = (fan_in + fan_out) / 2
      >>> bool(abs(w.var() * n - 1) < 0.02), bool(abs(w).max() <= (3 / n) ** 0.5)
      (True, True)
    """
    return _preset("glorot_uniform", 1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis, dtype)


@public
@factory
def glorot_normal(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                  batch_axis: int | Sequence[int] = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds a Glorot (Xavier) truncated-normal initializer,
    ``variance_scaling(1.0, "fan_avg", "truncated_normal")``.

    .. math::

        w = \sigma z,\ z \sim \mathcal{N}(0, 1)|_{[-2, 2]},\ \sigma = \sqrt{1/n}\,/\,0.8796\ldots,
        \qquad \operatorname{Var}[w] = 1/n,
        \qquad n = (\text{fan}_\text{in} + \text{fan}_\text{out})/2

    Balances forward and backward signal variance for linear/tanh-like units; as Keras's
    ``GlorotNormal``. Same parameters, defaults and bits (float32/float64) as
    ``jax.nn.initializers.glorot_normal``; see :func:`jinit.variance_scaling` for the precision
    policy, complex dtypes and every deliberate difference from jax.

    .. warning::
       PyTorch's ``xavier_normal_`` draws an *untruncated* normal; for that use
       ``jinit.variance_scaling(1.0, "fan_avg", "normal")``.

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: non-int axes; at call time, a non-inexact dtype or a bad key.
      ValueError: at call time, a shape with too few axes for the fans.

    References:
      Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010, eq. 16.

    Example:
      >>> import jax, jinit
      >>> w = jinit.glorot_normal()(jax.random.key(0), (3, 3, 64, 128))   # Flax HWIO conv kernel
      >>> fan_in, fan_out = jinit.compute_fans(w.shape)
      >>> bound = 2 * (2 / (fan_in + fan_out)) ** 0.5 / 0.8796256610342398
      >>> bool(abs(w.var() * (fan_in + fan_out) / 2 - 1) < 0.02), bool(abs(w).max() <= bound)
      (True, True)
    """
    return _preset("glorot_normal", 1.0, "fan_avg", "truncated_normal", in_axis, out_axis, batch_axis, dtype)


@public
@factory
def he_uniform(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
               batch_axis: int | Sequence[int] = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds a He (Kaiming) uniform initializer, ``variance_scaling(2.0, "fan_in", "uniform")``.

    .. math::

        w \sim \mathcal{U}\bigl(-b, b\bigr), \quad b = \sqrt{\frac{6}{\text{fan}_\text{in}}},
        \qquad \operatorname{Var}[w] = \frac{2}{\text{fan}_\text{in}}

    Preserves the forward second moment through ReLU layers (ReLU halves it; the 2 restores
    it). Equals PyTorch's ``kaiming_uniform_(a=0, nonlinearity='relu')``. Same parameters,
    defaults and bits (float32/float64) as ``jax.nn.initializers.he_uniform``; see
    :func:`jinit.variance_scaling` for the precision policy, complex dtypes and every
    deliberate difference from jax.

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: non-int axes; at call time, a non-inexact dtype or a bad key.
      ValueError: at call time, a shape with too few axes for the fans.

    References:
      He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing Human-Level Performance
      on ImageNet Classification", ICCV 2015, arXiv:1502.01852, eq. 10.

    Example:
      >>> import jax, jinit
      >>> w = jinit.he_uniform()(jax.random.key(0), (3, 3, 64, 128))   # Flax HWIO conv kernel
      >>> fan_in, fan_out = jinit.compute_fans(w.shape)
      >>> bool(abs(w.var() * fan_in / 2 - 1) < 0.02), bool(abs(w).max() <= (6 / fan_in) ** 0.5)
      (True, True)
    """
    return _preset("he_uniform", 2.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


@public
@factory
def he_normal(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
              batch_axis: int | Sequence[int] = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds a He (Kaiming) truncated-normal initializer,
    ``variance_scaling(2.0, "fan_in", "truncated_normal")``.

    .. math::

        w = \sigma z, \quad z \sim \mathcal{N}(0, 1)|_{[-2, 2]}, \quad
        \sigma = \frac{1}{0.8796\ldots}\sqrt{\frac{2}{\text{fan}_\text{in}}},
        \qquad \operatorname{Var}[w] = \frac{2}{\text{fan}_\text{in}}

    Preserves the forward second moment through ReLU layers (ReLU halves it; the 2 restores
    it). Same parameters, defaults and bits (float32/float64) as
    ``jax.nn.initializers.he_normal``; see :func:`jinit.variance_scaling` for the precision
    policy, complex dtypes and every deliberate difference from jax.

    .. warning::
       PyTorch's ``kaiming_normal_`` draws an *untruncated* normal; for that use
       ``jinit.variance_scaling(2.0, "fan_in", "normal")``.

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: non-int axes; at call time, a non-inexact dtype or a bad key.
      ValueError: at call time, a shape with too few axes for the fans.

    References:
      He, Zhang, Ren & Sun, "Delving Deep into Rectifiers: Surpassing Human-Level Performance
      on ImageNet Classification", ICCV 2015, arXiv:1502.01852, eq. 10.

    Example:
      >>> import jax, jinit
      >>> w = jinit.he_normal()(jax.random.key(0), (3, 3, 64, 128))   # Flax HWIO conv kernel
      >>> fan_in, fan_out = jinit.compute_fans(w.shape)
      >>> bound = 2 * (2 / fan_in) ** 0.5 / 0.8796256610342398
      >>> bool(abs(w.var() * fan_in / 2 - 1) < 0.02), bool(abs(w).max() <= bound)
      (True, True)
    """
    return _preset("he_normal", 2.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis, dtype)


@public
@factory
def lecun_uniform(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                  batch_axis: int | Sequence[int] = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds a LeCun uniform initializer, ``variance_scaling(1.0, "fan_in", "uniform")``.

    .. math::

        w \sim \mathcal{U}\bigl(-b, b\bigr), \quad b = \sqrt{\frac{3}{\text{fan}_\text{in}}},
        \qquad \operatorname{Var}[w] = \frac{1}{\text{fan}_\text{in}}

    Unit forward variance for linear units. Same parameters, defaults and bits
    (float32/float64) as ``jax.nn.initializers.lecun_uniform``; see
    :func:`jinit.variance_scaling` for the precision policy, complex dtypes and every
    deliberate difference from jax.

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: non-int axes; at call time, a non-inexact dtype or a bad key.
      ValueError: at call time, a shape with too few axes for the fans.

    References:
      LeCun, Bottou, Orr & Müller, "Efficient BackProp", in Neural Networks: Tricks of the
      Trade, 1998, §4.6; Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017.

    Example:
      >>> import jax, jinit
      >>> w = jinit.lecun_uniform()(jax.random.key(0), (3, 3, 64, 128))   # Flax HWIO conv kernel
      >>> fan_in, fan_out = jinit.compute_fans(w.shape)
      >>> bool(abs(w.var() * fan_in - 1) < 0.02), bool(abs(w).max() <= (3 / fan_in) ** 0.5)
      (True, True)
    """
    return _preset("lecun_uniform", 1.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


@public
@factory
def lecun_normal(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                 batch_axis: int | Sequence[int] = (), dtype: DTypeLike | None = None) -> Init:
    r"""Builds a LeCun truncated-normal initializer,
    ``variance_scaling(1.0, "fan_in", "truncated_normal")``.

    .. math::

        w = \sigma z, \quad z \sim \mathcal{N}(0, 1)|_{[-2, 2]}, \quad
        \sigma = \frac{1}{0.8796\ldots}\sqrt{\frac{1}{\text{fan}_\text{in}}},
        \qquad \operatorname{Var}[w] = \frac{1}{\text{fan}_\text{in}}

    Unit forward variance for linear units; the init for SELU self-normalizing networks and
    Flax's default ``kernel_init``. Same parameters, defaults and bits (float32/float64) as
    ``jax.nn.initializers.lecun_normal``; see :func:`jinit.variance_scaling` for the precision
    policy, complex dtypes and every deliberate difference from jax.

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: non-int axes; at call time, a non-inexact dtype or a bad key.
      ValueError: at call time, a shape with too few axes for the fans.

    References:
      LeCun, Bottou, Orr & Müller, "Efficient BackProp", in Neural Networks: Tricks of the
      Trade, 1998, §4.6; Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017.

    Example:
      >>> import jax, jinit
      >>> w = jinit.lecun_normal()(jax.random.key(0), (3, 3, 64, 128))   # Flax HWIO conv kernel
      >>> fan_in, fan_out = jinit.compute_fans(w.shape)
      >>> bound = 2 * (1 / fan_in) ** 0.5 / 0.8796256610342398
      >>> bool(abs(w.var() * fan_in - 1) < 0.02), bool(abs(w).max() <= bound)
      (True, True)
    """
    return _preset("lecun_normal", 1.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis, dtype)


# Aliases are the same objects, as in jax.
xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal
