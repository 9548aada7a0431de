"""Gains: PyTorch's table, the gain of any activation by quadrature, and the init it needs."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Literal, get_args

from . import _checks, _meanfield
from ._activations import Activation, from_name, resolve
from ._base import Init, factory, public
from ._typing import DISTRIBUTIONS, MODES, DTypeLike
from ._variance import variance_scaling

GainDefinition = Literal["forward", "variance", "backward"]
DEFINITIONS: tuple[str, ...] = get_args(GainDefinition)


@public
class InitStabilityWarning(UserWarning):
    r"""Warns that a deep stack's forward variance cannot stay at the initializer's fixed point.

    Raised by :func:`jinit.for_activation` when the variance map
    :math:`q \mapsto \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q}\,z)^2]` has slope above 1 at
    its fixed point (see :func:`jinit.theory.stability`). Silence it for one activation with
    ``warnings.filterwarnings("ignore", category=jinit.InitStabilityWarning)``.

    Example:
      >>> import jinit
      >>> issubclass(jinit.InitStabilityWarning, UserWarning)
      True
    """


_TORCH_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d")
_TORCH_NAMES = (*_TORCH_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu")


@public
def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""PyTorch's recommended gain for a nonlinearity: the same names and values.

    .. math::

        g = \begin{cases}
          1 & \text{linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid} \\
          5/3 & \text{tanh} \\
          \sqrt{2} & \text{relu} \\
          \sqrt{2 / (1 + s^2)} & \text{leaky_relu, negative slope } s = \texttt{param}
            \text{ (default } 0.01) \\
          3/4 & \text{selu}
        \end{cases}

    Initializers multiply their standard deviation by :math:`g` (their variance by
    :math:`g^2`), so :math:`g` should make :math:`g^2\,\mathbb{E}[\phi(z)^2] = 1` for
    :math:`z \sim \mathcal{N}(0, 1)`. Which of these values are exact:

    * **exact**: linear (1), relu (:math:`\sqrt 2`: :math:`\mathbb{E}[\mathrm{relu}(z)^2] = 1/2`)
      and leaky_relu (:math:`\mathbb{E}[\phi(z)^2] = (1 + s^2)/2`). For these the forward,
      backward (:math:`\mathbb{E}[\phi'(z)^2]`) and jinit's :func:`jinit.gain` agree.
    * **conventions**: tanh 5/3 (the forward-moment gain is 1.5925, the backward one
      1.4674); sigmoid 1 (forward 1.8462, centred variance 4.8013, backward 4.7226); selu
      3/4, chosen empirically in PyTorch PR #50664 for gradient flow (the forward gain of
      SELU is exactly 1 by construction of its constants, which is why PyTorch's docs and
      :func:`jinit.for_activation` use LeCun scaling, ``'linear'``, for self-normalizing
      networks). Use :func:`jinit.gain` for the exact value under a named definition.

    Same values as ``torch.nn.init.calculate_gain`` (tested against it when torch is
    installed), returned as floats (torch returns the int 1 for the linear names).

    Args:
      nonlinearity: one of ``'linear'``, ``'conv1d'``, ``'conv2d'``, ``'conv3d'``,
        ``'conv_transpose1d'``, ``'conv_transpose2d'``, ``'conv_transpose3d'``,
        ``'sigmoid'``, ``'tanh'``, ``'relu'``, ``'leaky_relu'``, ``'selu'``.
      param: the negative slope for ``'leaky_relu'`` (an int or float, not a bool; default
        0.01); ignored for the other names, as in PyTorch.

    Returns:
      The gain, a Python float.

    Raises:
      ValueError: an unknown name (PyTorch raises ``ValueError`` too), or a non-finite
        ``param`` for ``'leaky_relu'``.
      TypeError: a ``param`` for ``'leaky_relu'`` that is a bool or not a real number.

    References:
      PyTorch ``torch.nn.init.calculate_gain``. He et al., "Delving Deep into Rectifiers",
      ICCV 2015, arXiv:1502.01852. Klambauer et al., "Self-Normalizing Neural Networks",
      NeurIPS 2017, arXiv:1706.02515.

    Example:
      >>> import jinit
      >>> jinit.calculate_gain("relu") == 2 ** 0.5, jinit.calculate_gain("tanh")
      (True, 1.6666666666666667)
      >>> round(jinit.calculate_gain("leaky_relu", 0.2), 6)
      1.38675
    """
    fn = "calculate_gain"
    if not isinstance(nonlinearity, str) or nonlinearity not in _TORCH_NAMES:
        listed = ", ".join(repr(n) for n in _TORCH_NAMES)
        raise _checks.fail(fn, "nonlinearity", nonlinearity, "is not a supported nonlinearity",
                           f"one of {listed}", "For any other activation use jinit.gain(...).")
    if nonlinearity in _TORCH_LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else _checks.real(fn, "param", param)
    return math.sqrt(2.0 / (1 + slope**2))


_MOMENTS = {"forward": ("E[phi(z)^2]", _meanfield.m2), "variance": ("Var[phi(z)]", _meanfield.centred2),
            "backward": ("E[phi'(z)^2]", _meanfield.d2)}


def _gain_value(fn: str, act: Activation, definition: str) -> float:
    what, moment = _MOMENTS[definition]
    value = moment(act, 1.0)
    if not value > 0.0:
        raise _checks.fail(fn, "activation", act.label,
                           f"has {what} = {value:g} for z ~ N(0, 1), so its "
                           f"{definition} gain is infinite", "an activation that is not "
                           f"{'constant' if definition == 'variance' else 'zero'} almost everywhere")
    return math.sqrt(1.0 / value)  # exactly sqrt(2) for ReLU, as PyTorch computes it


@functools.lru_cache(maxsize=256)
def _named_gain(name: str, param: float | None, points: tuple[float, ...], definition: str) -> float:
    return _gain_value("gain", from_name("gain", name, param, points), definition)


@public
def gain(activation: str | Callable, definition: str = "forward", *,
         param: float | None = None, breakpoints: Sequence[float] = ()) -> float:
    r"""The gain of any activation under a named definition, by Gaussian quadrature.

    With :math:`z \sim \mathcal{N}(0, 1)` a unit-Gaussian pre-activation:

    .. math::

        g_\text{forward} = \mathbb{E}[\phi(z)^2]^{-1/2}, \qquad
        g_\text{variance} = \operatorname{Var}[\phi(z)]^{-1/2}, \qquad
        g_\text{backward} = \mathbb{E}[\phi'(z)^2]^{-1/2}.

    ``"forward"`` (default) keeps the second moment of the next pre-activation under weights
    of variance :math:`g^2/\text{fan}_\text{in}` (He et al.; the scale :func:`jinit.for_activation`
    uses). ``"variance"`` normalizes the centred activation (centred or weight-standardized
    kernels, Brock et al. 2021). ``"backward"`` keeps the second moment of back-propagated
    gradients (use it with ``mode="fan_out"``).

    Linear (1), ReLU (:math:`\sqrt 2`, as PyTorch) and leaky ReLU (:math:`\sqrt{2/(1+s^2)}`)
    are closed forms; everything else is composite Gauss–Legendre quadrature with panels
    split at the activation's kinks, at 0 and at ``breakpoints``, accurate to about 1e-14, in
    float64 whatever jax's x64 setting. A callable is evaluated in float64 and differentiated
    with ``jax.jvp``; the ``jax.nn`` functions, and ``functools.partial`` of them binding
    their parameter, are recognised and use the named form.

    .. warning::
       ``jax.nn.gelu`` (and Flax's ``nn.gelu``) default to the tanh approximation, here
       ``'gelu_tanh'``; PyTorch's ``nn.GELU()`` is the exact ``'gelu'``. These gains are not
       PyTorch's conventional table: :func:`jinit.calculate_gain` gives tanh 5/3, its forward
       gain is 1.5925.

    Args:
      activation: an elementwise callable such as ``jax.nn.gelu``, or a name: ``'linear'``
        (``'identity'``), ``'relu'``, ``'leaky_relu'`` (param: negative slope, default 0.01),
        ``'relu6'``, ``'tanh'``, ``'hard_tanh'``, ``'sigmoid'``, ``'hard_sigmoid'``,
        ``'log_sigmoid'``, ``'gelu'`` (:math:`x\,\Phi(x)`), ``'gelu_tanh'``, ``'silu'``
        (``'swish'``), ``'hard_silu'`` (``'hard_swish'``), ``'mish'``, ``'softplus'``,
        ``'elu'`` (param :math:`\alpha \ge 0`, default 1), ``'celu'`` (param
        :math:`\alpha > 0`, default 1), ``'selu'``, ``'softsign'`` (``'soft_sign'``),
        ``'squareplus'`` (param :math:`b \ge 0`, default 4).
      definition: ``"forward"``, ``"variance"`` or ``"backward"``.
      param: the parameter of a named activation.
      breakpoints: the kinks of a callable other than 0 (without them a panel straddling a
        kink converges only algebraically).

    Returns:
      The gain, a Python float.

    Raises:
      ValueError: an unknown name or definition, a ``param`` out of range or given to an
        activation without one, an activation that is zero (constant, for ``"variance"``)
        almost everywhere, or a callable that returns non-finite values or a different shape.
      TypeError: an activation that is neither a name nor a callable, a callable jax cannot
        evaluate or differentiate, non-real ``param`` or ``breakpoints``.

    References:
      He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852.
      Glorot & Bengio, AISTATS 2010 (forward and backward variance). Brock, De & Smith,
      "Characterizing signal propagation to close the performance gap in unnormalized
      ResNets", ICLR 2021, arXiv:2101.08692 (centred gains). Hendrycks & Gimpel, "Gaussian
      Error Linear Units", arXiv:1606.08415.

    Example:
      >>> import jax, jinit
      >>> jinit.gain("relu") == 2 ** 0.5, round(jinit.gain("tanh"), 10)
      (True, 1.5925374197)
      >>> round(jinit.gain(jax.nn.gelu), 6), round(jinit.gain("gelu"), 6)   # tanh form, erf form
      (1.533581, 1.53353)
      >>> round(jinit.gain("selu"), 12), round(jinit.gain("tanh", "backward"), 6)
      (1.0, 1.467414)
    """
    fn = "gain"
    _checks.choice(fn, "definition", definition, DEFINITIONS)
    act = resolve(fn, activation, param, breakpoints)
    if act.name is not None:
        return _named_gain(act.name, act.param, act.points, definition)
    return _gain_value(fn, act, definition)


@public
@factory
def for_activation(
    activation: str | Callable,
    *,
    param: float | None = None,
    breakpoints: Sequence[float] = (),
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    in_axis: int | Sequence[int] = -2,
    out_axis: int | Sequence[int] = -1,
    batch_axis: int | Sequence[int] = (),
    dtype: DTypeLike | None = None,
) -> Init:
    r"""The variance-scaling initializer an activation needs, with a stability diagnosis.

    Returns ``jinit.variance_scaling(scale, mode, distribution, ...)`` with

    .. math::

        \text{scale} = \sigma_w^2 = \frac{1}{\mathbb{E}[\phi(z)^2]}, \quad z \sim \mathcal{N}(0,1),
        \qquad \operatorname{Var}[w] = \frac{\sigma_w^2}{\text{fan}_\text{in}},

    the :func:`jinit.gain` squared, so that :math:`q^* = 1` is a fixed point of the variance
    map :math:`V(q) = \sigma_w^2\,\mathbb{E}[\phi(\sqrt q\,z)^2]`: a unit-variance
    pre-activation stays at unit variance. ReLU gives He's 2, leaky ReLU with slope :math:`s`
    :math:`2/(1+s^2)`, linear LeCun's 1, SELU LeCun's 1 (its constants make
    :math:`\mathbb{E}[\mathrm{selu}(z)^2] = 1`), tanh 2.5362.

    .. warning::
       A fixed point only holds a deep stack if it attracts, :math:`V'(1) \le 1`. For GELU
       (slope 1.144), SiLU/swish and Mish it repels, and no zero-bias variance-scaling init
       keeps unit variance in depth: this function still returns the :math:`q^* = 1` scale
       and emits :class:`jinit.InitStabilityWarning`. Use LSUV (``jinit.lsuv``),
       normalization, or a smaller :math:`\sigma_w^2` with a bias variance
       :math:`\sigma_b^2 > 0`; :func:`jinit.theory.stability` evaluates any pair.

    Args:
      activation: a name or an elementwise callable, as for :func:`jinit.gain`.
      param: the parameter of a named activation (leaky ReLU slope, ELU/CELU alpha, …).
      breakpoints: extra kinks of a callable activation, for the quadrature.
      mode: fan mode, as in :func:`jinit.variance_scaling` (default ``"fan_in"``).
      distribution: ``"truncated_normal"`` (default, as jax's ``he_normal``/``lecun_normal``),
        ``"normal"`` or ``"uniform"``.
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      A :func:`jinit.variance_scaling` initializer (works as any ``kernel_init``).

    Raises:
      ValueError, TypeError: as :func:`jinit.gain` for the activation, and as
        :func:`jinit.variance_scaling` for ``mode``, ``distribution`` and the axes.

    Warns:
      InitStabilityWarning: when the fixed point :math:`q^* = 1` is unstable (slope > 1).

    References:
      He et al., "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852. Klambauer,
      Unterthiner, Mayr & Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017,
      arXiv:1706.02515. Poole et al., "Exponential expressivity in deep neural networks
      through transient chaos", NeurIPS 2016, arXiv:1606.05340. Mishkin & Matas, "All you
      need is a good init", ICLR 2016, arXiv:1511.06422.

    Example:
      >>> import warnings, jax, jinit
      >>> jinit.for_activation("relu")
      jinit.variance_scaling(scale=2.0, mode='fan_in', distribution='truncated_normal', in_axis=-2, out_axis=-1, batch_axis=(), dtype=None)
      >>> w = jinit.for_activation("tanh")(jax.random.key(0), (512, 512))
      >>> bool(abs(w.var() * 512 / jinit.gain("tanh") ** 2 - 1) < 0.02)
      True
      >>> with warnings.catch_warnings(record=True) as caught:
      ...     warnings.simplefilter("always")
      ...     init = jinit.for_activation(jax.nn.gelu)
      >>> [w.category.__name__ for w in caught]
      ['InitStabilityWarning']
    """
    fn = "for_activation"
    act = resolve(fn, activation, param, breakpoints)
    _checks.choice(fn, "mode", mode, MODES)
    _checks.choice(fn, "distribution", distribution, DISTRIBUTIONS)
    for arg, value in (("in_axis", in_axis), ("out_axis", out_axis), ("batch_axis", batch_axis)):
        _checks.axis_arg(fn, arg, value)
    scale = _meanfield.unit_variance_scale(act)
    diag = _meanfield.stability(act, scale, 0.0, 1.0)
    if diag.verdict not in ("stable", "neutral"):
        warnings.warn(_checks.message(
            fn, "activation", activation if isinstance(activation, str) else act.label,
            f"has an unstable variance fixed point at scale {scale:.6g}: the map "
            f"q -> {scale:.4g} E[phi(sqrt(q) z)^2] has slope {diag.slope:.4f} > 1 at q*=1, so "
            f"deviations from unit variance grow about {diag.slope:.3f}x per layer and no "
            "zero-bias variance-scaling init keeps a deep stack there",
            "a slope <= 1 (see jinit.theory.stability)",
            "Use LSUV (jinit.lsuv), normalization layers, or a smaller sigma_w^2 with a bias "
            "variance sigma_b^2 > 0 (check it with jinit.theory.stability)."),
            InitStabilityWarning, stacklevel=2)
    return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)
