"""PyTorch and Keras layer defaults as jinit initializers, and PyTorch ↔ Flax weight layouts.

Every preset reproduces one framework's default *distribution* exactly (bounds, variance,
truncation, fan convention) on Flax's layouts — Dense kernels ``(in, out)`` and convolution
kernels HWIO ``(*spatial, in / groups, out)`` — so a Flax model can start where the PyTorch or
Keras model would. The random streams differ (PyTorch's generator is not JAX's), so values match
in law, not bit for bit; the tests compare against PyTorch itself by distribution and by fans.

PyTorch's layer defaults (``torch/nn/modules/linear.py``, ``conv.py``, ``sparse.py``):

=====================  ===========================================  ============================
layer                  weight                                       bias
=====================  ===========================================  ============================
``Linear``, ``Conv*``  ``kaiming_uniform_(a=√5)`` = U(±1/√fan_in)   U(±1/√fan_in), 0 if fan_in=0
``ConvTranspose*``     the same, with PyTorch's fan_in (see below)  the same
``Embedding``          N(0, 1)                                      —
=====================  ===========================================  ============================

Keras 3 defaults (``keras/src/layers``): ``Dense``/``Conv*`` kernels ``glorot_uniform``, biases
zeros, ``Embedding`` ``RandomUniform(-0.05, 0.05)``.

Fan conventions: PyTorch computes ``fan_in = w.shape[1] * prod(w.shape[2:])`` on its stored
weight. A ``Conv`` weight is ``(out, in / groups, *k)``, so fan_in = (in/groups)·∏k — the same
number jax's rule gives on the Flax kernel. A ``ConvTranspose`` weight is stored
``(in, out / groups, *k)``, so PyTorch's "fan_in" counts **output** channels:
``ConvTranspose2d(16, 4, 3)`` gets fan_in = 4·9 = 36, not 16·9. :func:`torch_fans` returns
PyTorch's fans for each layer kind; :func:`torch_conv_transpose_kernel` applies the convention
to Flax ``ConvTranspose`` kernels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _sampling, _variance
from ._base import Init
from ._typing import Array, DTypeLike, KeyArray, OutSharding

__all__ = [
    "dense_to_linear",
    "hwio_to_oihw",
    "keras_bias",
    "keras_conv_kernel",
    "keras_dense_kernel",
    "keras_embedding",
    "keras_random_normal",
    "keras_random_uniform",
    "keras_truncated_normal",
    "linear_to_dense",
    "oihw_to_hwio",
    "torch_conv_bias",
    "torch_conv_kernel",
    "torch_conv_transpose_kernel",
    "torch_embedding",
    "torch_fans",
    "torch_kaiming_normal",
    "torch_kaiming_uniform",
    "torch_linear_bias",
    "torch_linear_kernel",
    "torch_trunc_normal",
    "torch_xavier_normal",
    "torch_xavier_uniform",
]

Axes = int | Sequence[int]
_P = "presets."

# PyTorch's calculate_gain table (torch/nn/init.py). The leaky_relu entry takes the slope.
_TORCH_GAINS = {
    "linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
    "relu": math.sqrt(2.0), "selu": 3.0 / 4,
}
_TORCH_MODES = ("fan_in", "fan_out")
_TORCH_LAYERS = ("linear", "conv", "conv_transpose", "embedding")


def _torch_gain(fn: str, nonlinearity: object, a: object) -> float:
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1 + float(a) ** 2))
    _checks.choice(fn, "nonlinearity", nonlinearity, tuple(_TORCH_GAINS) + ("leaky_relu",))
    return _TORCH_GAINS[nonlinearity]  # type: ignore[index]


def _vs(name: str, scale: float, mode: str, distribution: str, in_axis: Axes, out_axis: Axes,
        batch_axis: Axes, dtype: DTypeLike | None, params: dict[str, object]) -> Init:
    return _variance._variance_scaling(_P + name, scale, mode, distribution, in_axis, out_axis,
                                       batch_axis, dtype, params)


def _axes(in_axis: Axes, out_axis: Axes, batch_axis: Axes, dtype: DTypeLike | None) -> dict:
    return {"in_axis": in_axis, "out_axis": out_axis, "batch_axis": batch_axis, "dtype": dtype}


def _inward(value: float, dt: np.dtype, up: bool) -> float:
    """The representable value of ``dt`` nearest to ``value`` on the inside (``up``: ``>= value``)."""
    x = np.asarray(value, dt)
    if up and float(x) < value:
        x = np.nextafter(x, np.asarray(np.inf, dt))
    if not up and float(x) > value:
        x = np.nextafter(x, np.asarray(-np.inf, dt))
    return float(x)


@jax.jit
def _affine(z: Array, mean: Array, std: Array) -> Array:
    """``mean + std * z``, compiled alone so eager and jitted calls fuse it (FMA) the same way."""
    return mean + std * z


def _shifted(fn: str, key: KeyArray, shape: tuple[int, ...], dt: np.dtype, mean: float,
             std: float, lower: float | None, upper: float | None,
             out_sharding: OutSharding) -> Array:
    """``mean + std * z`` with ``z`` standard normal (truncated to ``[lower, upper]`` in σ units).

    Drawn and shifted in :func:`_sampling.sampling_dtype`, clipped to the support rounded
    inward, then rounded once to ``dt``.
    """
    sdt = _sampling.sampling_dtype(dt)
    if math.prod(shape) == 0:
        return _sampling.empty(shape, dt, out_sharding)
    if lower is None:
        z = _sampling.normal(key, shape, sdt, 1.0, out_sharding)
        return _sampling.finish(_affine(z, jnp.asarray(mean, sdt), jnp.asarray(std, sdt)), dt)
    z = _sampling.truncated_normal(key, lower, upper, shape, sdt, 1.0, out_sharding)
    lo, hi = mean + std * lower, mean + std * upper
    x = _affine(z, jnp.asarray(mean, sdt), jnp.asarray(std, sdt))
    x = jnp.clip(x, _inward(lo, sdt, True), _inward(hi, sdt, False))
    return _sampling.finish(x, dt, lo=lo, hi=hi)


# ------------------------------------------------------------------------- PyTorch


def torch_fans(layer: str, in_features: int, out_features: int,
               kernel_size: int | Sequence[int] = (), groups: int = 1) -> tuple[int, int]:
    r"""PyTorch's ``(fan_in, fan_out)`` for the weight of a layer, as its initializers see it.

    PyTorch computes fans on the stored weight (``torch.nn.init._calculate_fan_in_and_fan_out``:
    ``fan_in = w.shape[1]·∏ w.shape[2:]``, ``fan_out = w.shape[0]·∏ w.shape[2:]``). With
    :math:`r = \prod k` the receptive field and :math:`g` the groups:

    ====================  ===================  =====================  =======
    ``layer``             stored weight        fan_in                 fan_out
    ====================  ===================  =====================  =======
    ``"linear"``          ``(out, in)``        in                     out
    ``"conv"``            ``(out, in/g, *k)``  (in/g)·r               out·r
    ``"conv_transpose"``  ``(in, out/g, *k)``  **(out/g)·r**          in·r
    ``"embedding"``       ``(num, dim)``       dim (``in_features``)  num
    ====================  ===================  =====================  =======

    For ``"embedding"`` pass ``in_features=embedding_dim, out_features=num_embeddings``
    (PyTorch's ``Embedding`` default N(0, 1) ignores fans anyway). The ConvTranspose fan_in
    counts output channels because of the stored layout — the value PyTorch's
    ``ConvTranspose*`` uses for its default weight and bias bounds.

    Args:
      layer: ``"linear"``, ``"conv"``, ``"conv_transpose"`` or ``"embedding"``.
      in_features: input features/channels of the layer (``embedding_dim`` for embeddings).
      out_features: output features/channels (``num_embeddings`` for embeddings).
      kernel_size: an int or a sequence of ints (convolutions only).
      groups: the convolution's groups; must divide both channel counts.

    Returns:
      ``(fan_in, fan_out)`` as ints.

    Raises:
      ValueError: an unknown ``layer``, negative sizes, or groups that do not divide the channels.
      TypeError: non-int sizes.

    References:
      PyTorch ``torch/nn/init.py`` (``_calculate_fan_in_and_fan_out``), ``torch/nn/modules/conv.py``
      (weight layouts); pytorch/pytorch PR #30079 (the ConvTranspose convention).

    Example:
      >>> from jinit import presets
      >>> presets.torch_fans("conv", 16, 32, (3, 3))
      (144, 288)
      >>> presets.torch_fans("conv_transpose", 16, 4, 3 * [3])[0]   # counts the 4 outputs
      108
      >>> presets.torch_fans("conv", 32, 32, (3, 3), groups=8)
      (36, 288)
    """
    fn = _P + "torch_fans"
    _checks.choice(fn, "layer", layer, _TORCH_LAYERS)
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        _nonneg_int(fn, name, value)
    groups = _nonneg_int(fn, "groups", groups, 1)
    ks = (kernel_size,) if _checks._is_int(kernel_size) else tuple(kernel_size)
    for k in ks:
        _nonneg_int(fn, "kernel_size", k)
    if layer in ("linear", "embedding"):
        if ks or groups != 1:
            raise _checks.fail(fn, "kernel_size", kernel_size,
                               f"is given for layer={layer!r}", "() and groups=1 for a "
                               "linear or embedding layer")
        return int(in_features), int(out_features)
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if value % groups:
            raise _checks.fail(fn, "groups", groups, f"does not divide {name}={value}",
                               "a divisor of both channel counts")
    r = math.prod(ks)
    if layer == "conv":
        return in_features // groups * r, out_features * r
    return out_features // groups * r, in_features * r


def _nonneg_int(fn: str, name: str, value: object, minimum: int = 0) -> int:
    if not _checks._is_int(value):
        raise _checks.fail(fn, name, value, "is not an int", f"an int >= {minimum}", exc=TypeError)
    if value < minimum:
        raise _checks.fail(fn, name, value, "is out of range", f"an int >= {minimum}")
    return int(value)


_TORCH_KERNEL_DOC = r"""Builds PyTorch's default {layer} weight init for a Flax {flax} kernel.

    .. math::

        w \sim \mathcal{{U}}\left(-\frac{{1}}{{\sqrt{{n}}}},\ \frac{{1}}{{\sqrt{{n}}}}\right),
        \qquad \mathbb{{E}}[w] = 0,\quad \operatorname{{Var}}[w] = \frac{{1}}{{3n}},

    with :math:`n` = {n}. PyTorch writes this as ``kaiming_uniform_(w, a=math.sqrt(5))``: the
    leaky-ReLU gain :math:`\sqrt{{2/(1+a^2)}} = 1/\sqrt{{3}}` times the uniform bound
    :math:`\sqrt{{3/n}}` is :math:`1/\sqrt{{n}}`. It equals ``jinit.variance_scaling(1/3,
    "{mode}", "uniform")`` bit for bit (same draws, same bound
    :math:`\sqrt{{3 \cdot (1/3)/n}}`).{extra}

    Args:
{args}      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.variance_scaling` (bad axes, dtype, key, shape).

    References:
      PyTorch ``torch/nn/modules/{src}`` (``reset_parameters``); He et al., "Delving Deep into
      Rectifiers", ICCV 2015, arXiv:1502.01852; pytorch/pytorch issue #57109 (why a=√5).

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.{name}()(jax.random.key(0), {shape})
      >>> bound = 1 / {fan} ** 0.5
      >>> bool(abs(w).max() <= bound), bool(abs(w.var() * 3 * {fan} - 1) < 0.05)
      (True, True)
    """

_AXES_ARGS = """      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
"""


def torch_linear_kernel(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                        dtype: DTypeLike | None = None) -> Init:
    params = _axes(in_axis, out_axis, batch_axis, dtype)
    return _vs("torch_linear_kernel", 1.0 / 3.0, "fan_in", "uniform", in_axis, out_axis,
               batch_axis, dtype, params)


def torch_conv_kernel(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                      dtype: DTypeLike | None = None) -> Init:
    params = _axes(in_axis, out_axis, batch_axis, dtype)
    return _vs("torch_conv_kernel", 1.0 / 3.0, "fan_in", "uniform", in_axis, out_axis,
               batch_axis, dtype, params)


def torch_conv_transpose_kernel(transpose_kernel: bool = False,
                                dtype: DTypeLike | None = None) -> Init:
    if not isinstance(transpose_kernel, (bool, np.bool_)):
        raise _checks.fail(_P + "torch_conv_transpose_kernel", "transpose_kernel",
                           transpose_kernel, "is not a bool", "True or False", exc=TypeError)
    mode = "fan_in" if transpose_kernel else "fan_out"
    params = {"transpose_kernel": bool(transpose_kernel), "dtype": dtype}
    return _vs("torch_conv_transpose_kernel", 1.0 / 3.0, mode, "uniform", -2, -1, (), dtype,
               params)


torch_linear_kernel.__doc__ = _TORCH_KERNEL_DOC.format(
    layer="``nn.Linear``", flax="``Dense``", n=r"fan_in = ``shape[in_axis]`` (the input "
    "features; the Dense kernel is ``(in, out)``)", mode="fan_in", extra="",
    args=_AXES_ARGS, src="linear.py", name="torch_linear_kernel", shape="(256, 128)", fan=256)
torch_conv_kernel.__doc__ = _TORCH_KERNEL_DOC.format(
    layer="``nn.Conv1d/2d/3d``", flax="``Conv``", n=r"fan_in = :math:`(c_\text{in}/g)\prod k` "
    "for the HWIO kernel ``(*k, c_in / groups, c_out)`` — the same number PyTorch computes on "
    "its ``(c_out, c_in / groups, *k)`` weight", mode="fan_in",
    extra=" It is the same distribution as :func:`torch_linear_kernel`; the two names say "
    "which layer they stand for.", args=_AXES_ARGS, src="conv.py",
    name="torch_conv_kernel", shape="(3, 3, 32, 64)", fan="(3 * 3 * 32)")
torch_conv_transpose_kernel.__doc__ = _TORCH_KERNEL_DOC.format(
    layer="``nn.ConvTranspose1d/2d/3d``", flax="``ConvTranspose``",
    n=r"PyTorch's fan_in :math:`c_\text{out}\prod k`, which counts the **output** channels "
    "(PyTorch stores the weight ``(c_in, c_out / groups, *k)``; see :func:`torch_fans`). On "
    "Flax's default ConvTranspose kernel ``(*k, c_in, c_out)`` that is jax's fan_out; with "
    "``transpose_kernel=True`` Flax stores ``(*k, c_out, c_in)`` and it is jax's fan_in",
    mode="fan_out", extra=" (``\"fan_in\"`` with ``transpose_kernel=True``). For the bias use "
    ":func:`torch_conv_bias` with ``torch_fans(\"conv_transpose\", ...)[0]``.",
    args="      transpose_kernel: Flax ``ConvTranspose``'s flag of the same name (default False).\n",
    src="conv.py", name="torch_conv_transpose_kernel", shape="(3, 3, 64, 16)", fan="(3 * 3 * 16)")


def _torch_bias(name: str, fan_in: object, dtype: DTypeLike | None) -> Init:
    fn = _P + name
    _checks.scalar(fn, "fan_in", fan_in)
    bound = 1.0 / math.sqrt(float(fan_in)) if float(fan_in) > 0 else 0.0

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        if math.prod(shape) == 0:
            return _sampling.empty(shape, dt, out_sharding)
        sdt = _sampling.sampling_dtype(dt)
        return _sampling.uniform(key, shape, dt, -1.0, 1.0, np.asarray(bound, sdt), out_sharding)

    return Init(fn, body, {"fan_in": fan_in, "dtype": dtype}, dtype, complex_ok=False)


_TORCH_BIAS_DOC = r"""Builds PyTorch's default {layer} bias init: U(±1/√fan_in) for an explicit fan_in.

    .. math::

        b \sim \mathcal{{U}}\left(-\frac{{1}}{{\sqrt{{n}}}},\ \frac{{1}}{{\sqrt{{n}}}}\right),
        \qquad \mathbb{{E}}[b] = 0,\quad \operatorname{{Var}}[b] = \frac{{1}}{{3n}},

    with :math:`n` = ``fan_in`` the *kernel's* fan-in; all zeros when ``fan_in == 0``, as PyTorch.
    A bias initializer only sees the bias shape ``(out,)``, so the kernel's fan-in must be passed
    in: {how}.

    Args:
      fan_in: the layer's kernel fan-in :math:`n \ge 0` (an int, or the float
        :func:`jinit.compute_fans` returns).
      dtype: the initializer's default dtype (real).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)`` for any shape.

    Raises:
      ValueError: a negative or non-finite ``fan_in``.
      TypeError: a non-real ``fan_in``; at call time a complex dtype.

    References:
      PyTorch ``torch/nn/modules/{src}`` (``reset_parameters``); flax issue #3019.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> b = presets.{name}({example})(jax.random.key(0), (4096,))
      >>> bool(abs(b).max() <= 1 / {fan} ** 0.5), bool(abs(b).max() > 0.99 / {fan} ** 0.5)
      (True, True)
    """


def torch_linear_bias(fan_in: float, dtype: DTypeLike | None = None) -> Init:
    return _torch_bias("torch_linear_bias", fan_in, dtype)


def torch_conv_bias(fan_in: float, dtype: DTypeLike | None = None) -> Init:
    return _torch_bias("torch_conv_bias", fan_in, dtype)


torch_linear_bias.__doc__ = _TORCH_BIAS_DOC.format(
    layer="``nn.Linear``", how="for ``nn.Dense(features)`` on ``in_features`` inputs, "
    "``torch_linear_bias(in_features)``", src="linear.py", name="torch_linear_bias",
    example="256", fan=256)
torch_conv_bias.__doc__ = _TORCH_BIAS_DOC.format(
    layer="``nn.Conv*``/``nn.ConvTranspose*``", how=r"for a convolution "
    r":math:`(c_\text{in}/g)\prod k` (``torch_fans(\"conv\", c_in, c_out, k, groups)[0]``); for "
    "a transposed convolution PyTorch's own convention, :math:`(c_\\text{out}/g)\\prod k` "
    "(``torch_fans(\"conv_transpose\", ...)[0]``)", src="conv.py", name="torch_conv_bias",
    example='presets.torch_fans("conv", 16, 32, (3, 3))[0]', fan=144)


def torch_embedding(dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's default ``nn.Embedding`` weight init: N(0, 1).

    .. math::

        w \sim \mathcal{N}(0, 1), \qquad \mathbb{E}[w] = 0,\quad \operatorname{Var}[w] = 1,

    independent of the table size (``init.normal_(self.weight)``; untruncated). PyTorch then
    zeroes the ``padding_idx`` row if one is given; do that on the returned table if needed.
    Flax's ``Embed`` default is N(0, 1/features) instead.

    Args:
      dtype: the initializer's default dtype (complex: :math:`\mathbb{E}|w|^2 = 1`).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError: at call time a non-inexact dtype or a bad key.

    References:
      PyTorch ``torch/nn/modules/sparse.py`` (``Embedding.reset_parameters``).

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> e = presets.torch_embedding()(jax.random.key(0), (1000, 64))
      >>> bool(abs(e.std() - 1) < 0.02), bool(abs(e.mean()) < 0.02)
      (True, True)
    """
    fn = _P + "torch_embedding"

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        if math.prod(shape) == 0:
            return _sampling.empty(shape, dt, out_sharding)
        return _sampling.normal(key, shape, dt, 1.0, out_sharding)

    return Init(fn, body, {"dtype": dtype}, dtype)


def _kaiming(name: str, distribution: str, a: float, mode: str, nonlinearity: str,
             in_axis: Axes, out_axis: Axes, batch_axis: Axes, dtype: DTypeLike | None) -> Init:
    fn = _P + name
    _checks.scalar(fn, "a", a, minimum=None)
    _checks.choice(fn, "mode", mode, _TORCH_MODES)
    gain = _torch_gain(fn, nonlinearity, a)
    params = {"a": a, "mode": mode, "nonlinearity": nonlinearity,
              **_axes(in_axis, out_axis, batch_axis, dtype)}
    return _vs(name, gain * gain, mode, distribution, in_axis, out_axis, batch_axis, dtype, params)


_KAIMING_DOC = r"""Builds PyTorch's ``kaiming_{dist}_`` (He initialization) with PyTorch's arguments.

    .. math::

        {formula},

    where :math:`n` is fan_in or fan_out (``mode``) and :math:`g` = ``calculate_gain(nonlinearity,
    a)`` from PyTorch's table: 1 for ``"linear"``, ``"conv*"``, ``"conv_transpose*"``,
    ``"sigmoid"``; 5/3 for ``"tanh"``; √2 for ``"relu"``; 3/4 for ``"selu"``;
    :math:`\sqrt{{2/(1+a^2)}}` for ``"leaky_relu"`` (the default, with ``a = 0``, gives √2).
    Equals ``jinit.variance_scaling(g**2, mode, "{vs}")``.{note} Fans follow jax's rule on the
    given axes (Flax layouts by default; for a PyTorch OIHW weight pass ``in_axis=1,
    out_axis=0``, which reproduces PyTorch's fans).

    Args:
      a: the leaky-ReLU negative slope (used only by ``"leaky_relu"``; default 0).
      mode: ``"fan_in"`` (preserves forward variance) or ``"fan_out"`` (backward).
      nonlinearity: a name from PyTorch's ``calculate_gain`` table (default ``"leaky_relu"``).
{axes}      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: an unknown ``mode`` or ``nonlinearity``, a non-finite ``a``.
      TypeError: a non-real ``a``, non-int axes.

    References:
      He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852.
      PyTorch ``torch.nn.init.kaiming_{dist}_`` and ``calculate_gain``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_kaiming_{dist}(nonlinearity="relu")(jax.random.key(0), (512, 256))
      >>> bool(abs(w.var() * 512 / 2 - 1) < 0.02)
      True
    """


def torch_kaiming_uniform(a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                          in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                          dtype: DTypeLike | None = None) -> Init:
    return _kaiming("torch_kaiming_uniform", "uniform", a, mode, nonlinearity, in_axis, out_axis,
                    batch_axis, dtype)


def torch_kaiming_normal(a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                         in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                         dtype: DTypeLike | None = None) -> Init:
    return _kaiming("torch_kaiming_normal", "normal", a, mode, nonlinearity, in_axis, out_axis,
                    batch_axis, dtype)


torch_kaiming_uniform.__doc__ = _KAIMING_DOC.format(
    dist="uniform", vs="uniform", axes=_AXES_ARGS,
    formula=r"w \sim \mathcal{U}\left(-g\sqrt{3/n},\ g\sqrt{3/n}\right), \qquad "
    r"\operatorname{Var}[w] = g^2/n", note="")
torch_kaiming_normal.__doc__ = _KAIMING_DOC.format(
    dist="normal", vs="normal", axes=_AXES_ARGS,
    formula=r"w \sim \mathcal{N}(0, g^2/n)",
    note=" The normal is **untruncated**, as PyTorch's (``jinit.he_normal`` is truncated).")


def _xavier(name: str, distribution: str, gain: float, in_axis: Axes, out_axis: Axes,
            batch_axis: Axes, dtype: DTypeLike | None) -> Init:
    fn = _P + name
    _checks.scalar(fn, "gain", gain)
    params = {"gain": gain, **_axes(in_axis, out_axis, batch_axis, dtype)}
    g = float(gain)
    return _vs(name, g * g, "fan_avg", distribution, in_axis, out_axis, batch_axis, dtype, params)


_XAVIER_DOC = r"""Builds PyTorch's ``xavier_{dist}_`` (Glorot initialization) with a gain.

    .. math::

        {formula}, \qquad \operatorname{{Var}}[w] = \frac{{2 g^2}}{{\text{{fan\_in}} + \text{{fan\_out}}}},

    with :math:`g` = ``gain``. Equals ``jinit.variance_scaling(gain**2, "fan_avg", "{dist}")``.{note}

    Args:
      gain: the factor :math:`g \ge 0` (default 1), e.g. ``jinit.calculate_gain("tanh")``.
{axes}      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: a negative or non-finite ``gain``.
      TypeError: a non-real ``gain``, non-int axes.

    References:
      Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010. PyTorch ``torch.nn.init.xavier_{dist}_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_xavier_{dist}()(jax.random.key(0), (300, 500))
      >>> bool(abs(w.var() * 400 - 1) < 0.02)
      True
    """


def torch_xavier_uniform(gain: float = 1.0, in_axis: Axes = -2, out_axis: Axes = -1,
                         batch_axis: Axes = (), dtype: DTypeLike | None = None) -> Init:
    return _xavier("torch_xavier_uniform", "uniform", gain, in_axis, out_axis, batch_axis, dtype)


def torch_xavier_normal(gain: float = 1.0, in_axis: Axes = -2, out_axis: Axes = -1,
                        batch_axis: Axes = (), dtype: DTypeLike | None = None) -> Init:
    return _xavier("torch_xavier_normal", "normal", gain, in_axis, out_axis, batch_axis, dtype)


torch_xavier_uniform.__doc__ = _XAVIER_DOC.format(
    dist="uniform", axes=_AXES_ARGS, note=" The same law as ``jinit.glorot_uniform`` times ``gain``.",
    formula=r"w \sim \mathcal{{U}}\left(-g\sqrt{{\tfrac{{6}}{{\text{{fan\_in}} + \text{{fan\_out}}}}}},"
    r"\ g\sqrt{{\tfrac{{6}}{{\text{{fan\_in}} + \text{{fan\_out}}}}}}\right)")
torch_xavier_normal.__doc__ = _XAVIER_DOC.format(
    dist="normal", axes=_AXES_ARGS,
    note=" The normal is **untruncated**, as PyTorch's (``jinit.glorot_normal`` is truncated).",
    formula=r"w \sim \mathcal{{N}}\left(0,\ \frac{{2 g^2}}{{\text{{fan\_in}} + \text{{fan\_out}}}}\right)")


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
    is applied. Sampled by inverse CDF in float32 (float64 under x64), so intervals lying
    entirely far in one tail (both :math:`\alpha, \beta` beyond about ±5 on the same side) are
    sampled coarsely; PyTorch 2.13 uses rejection sampling there.

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
    fn = _P + "torch_trunc_normal"
    _checks.scalar(fn, "mean", mean, minimum=None)
    _checks.scalar(fn, "std", std, strict=True)
    _checks.scalar(fn, "a", a, minimum=None)
    _checks.scalar(fn, "b", b, minimum=None)
    if not float(a) < float(b):
        raise _checks.fail(fn, "b", b, f"is not above a={a!r}", "a < b")
    mu, sigma = float(mean), float(std)
    lower, upper = (float(a) - mu) / sigma, (float(b) - mu) / sigma

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _shifted(fn, key, shape, dt, mu, sigma, lower, upper, out_sharding)

    return Init(fn, body, {"mean": mean, "std": std, "a": a, "b": b, "dtype": dtype}, dtype,
                complex_ok=False)


# --------------------------------------------------------------------------- Keras


def keras_dense_kernel(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                       dtype: DTypeLike | None = None) -> Init:
    r"""Builds Keras's default ``Dense`` kernel init: ``glorot_uniform``.

    .. math::

        w \sim \mathcal{U}\left(-\sqrt{\tfrac{6}{\text{fan\_in} + \text{fan\_out}}},\
        \sqrt{\tfrac{6}{\text{fan\_in} + \text{fan\_out}}}\right), \qquad
        \operatorname{Var}[w] = \frac{2}{\text{fan\_in} + \text{fan\_out}}.

    Keras's fans for rank ≥ 3 use the receptive field ``prod(shape[:-2])`` (HWIO), the same as
    jax's defaults, so this equals ``jinit.glorot_uniform()`` bit for bit. Keras's bias default
    is zeros (:func:`keras_bias`).

    Args:
{axes}      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.variance_scaling`.

    References:
      Keras 3 ``keras.layers.Dense`` (``kernel_initializer="glorot_uniform"``); Glorot & Bengio,
      AISTATS 2010.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.keras_dense_kernel()(jax.random.key(0), (100, 200))
      >>> bool(abs(w).max() <= (6 / 300) ** 0.5)
      True
    """
    params = _axes(in_axis, out_axis, batch_axis, dtype)
    return _vs("keras_dense_kernel", 1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis,
               dtype, params)


def keras_conv_kernel(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                      dtype: DTypeLike | None = None) -> Init:
    r"""Builds Keras's default ``Conv1D/2D/3D`` kernel init: ``glorot_uniform`` on HWIO.

    .. math::

        w \sim \mathcal{U}\left(-\sqrt{\tfrac{6}{(c_\text{in}/g + c_\text{out})\prod k}},\
        \sqrt{\tfrac{6}{(c_\text{in}/g + c_\text{out})\prod k}}\right),

    for a kernel ``(*k, c_in / groups, c_out)`` (Keras and Flax share this layout). The same
    distribution as :func:`keras_dense_kernel`; the name says which layer it stands for.

    Args:
{axes}      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.variance_scaling`.

    References:
      Keras 3 ``keras.layers.Conv2D`` (``kernel_initializer="glorot_uniform"``).

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.keras_conv_kernel()(jax.random.key(0), (3, 3, 16, 32))
      >>> bool(abs(w).max() <= (6 / ((16 + 32) * 9)) ** 0.5)
      True
    """
    params = _axes(in_axis, out_axis, batch_axis, dtype)
    return _vs("keras_conv_kernel", 1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis,
               dtype, params)


keras_dense_kernel.__doc__ = keras_dense_kernel.__doc__.replace("{axes}", _AXES_ARGS.rstrip("\n") + "\n")
keras_conv_kernel.__doc__ = keras_conv_kernel.__doc__.replace("{axes}", _AXES_ARGS.rstrip("\n") + "\n")


def keras_bias(dtype: DTypeLike | None = None) -> Init:
    """Builds Keras's default bias init: zeros (``bias_initializer="zeros"``).

    Every value is exactly 0 (mean 0, variance 0); the key is ignored. The same values as
    :func:`jinit.zeros`, as a factory like the other presets.

    Args:
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError, ValueError: at call time, a bad shape or a non-inexact dtype.

    References:
      Keras 3 ``keras.layers.Dense``/``Conv*`` (``bias_initializer="zeros"``).

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> presets.keras_bias()(jax.random.key(0), (3,))
      Array([0., 0., 0.], dtype=float32)
    """
    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return jnp.zeros(shape, dt, out_sharding=out_sharding)

    return Init(_P + "keras_bias", body, {"dtype": dtype}, dtype, keyed=False)


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
    return _keras_uniform("keras_random_uniform", minval, maxval, dtype)


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
    return _keras_uniform("keras_embedding", -0.05, 0.05, dtype, params={"dtype": dtype})


def _keras_uniform(name: str, minval: float, maxval: float, dtype: DTypeLike | None,
                   params: dict[str, object] | None = None) -> Init:
    fn = _P + name
    _checks.scalar(fn, "minval", minval, minimum=None)
    _checks.scalar(fn, "maxval", maxval, minimum=None)
    if not float(minval) < float(maxval):
        raise _checks.fail(fn, "maxval", maxval, f"is not above minval={minval!r}", "minval < maxval")
    lo, hi = float(minval), float(maxval)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        if math.prod(shape) == 0:
            return _sampling.empty(shape, dt, out_sharding)
        return _sampling.uniform(key, shape, dt, lo, hi, 1.0, out_sharding)

    if params is None:
        params = {"minval": minval, "maxval": maxval, "dtype": dtype}
    return Init(fn, body, params, dtype, complex_ok=False)


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
    fn = _P + "keras_random_normal"
    _checks.scalar(fn, "mean", mean, minimum=None)
    _checks.scalar(fn, "stddev", stddev)
    mu, sigma = float(mean), float(stddev)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _shifted(fn, key, shape, dt, mu, sigma, None, None, out_sharding)

    return Init(fn, body, {"mean": mean, "stddev": stddev, "dtype": dtype}, dtype, complex_ok=False)


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
    fn = _P + "keras_truncated_normal"
    _checks.scalar(fn, "mean", mean, minimum=None)
    _checks.scalar(fn, "stddev", stddev)
    mu, sigma = float(mean), float(stddev)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _shifted(fn, key, shape, dt, mu, sigma, -2.0, 2.0, out_sharding)

    return Init(fn, body, {"mean": mean, "stddev": stddev, "dtype": dtype}, dtype, complex_ok=False)


# -------------------------------------------------------------------------- layouts


def _permute(fn: str, w: object, perm: tuple[int, ...]) -> object:
    if hasattr(w, "permute"):  # a torch.Tensor: keep it one
        return w.permute(*perm)
    return w.transpose(perm) if hasattr(w, "transpose") else np.transpose(w, perm)


def _rank(fn: str, w: object, ranks: str, ok) -> int:
    ndim = getattr(w, "ndim", None)
    if ndim is None:
        raise _checks.fail(fn, "w", w, "is not an array", "a numpy, jax or torch array",
                           exc=TypeError)
    if not ok(ndim):
        raise _checks.fail(fn, "w", w, _checks.has_axes(ndim), ranks)
    return ndim


def oihw_to_hwio(w):
    r"""Converts a PyTorch weight ``(out, in, *spatial)`` to Flax's ``(*spatial, in, out)``.

    .. math::

        W_\text{HWIO}[h, w, i, o] = W_\text{OIHW}[o, i, h, w]

    (and likewise for 1-D and 3-D kernels; for a 2-D ``nn.Linear`` weight ``(out, in)`` this is
    the transpose to a Dense kernel ``(in, out)``). Grouped convolutions map unchanged: PyTorch's
    ``(out, in / groups, *k)`` becomes Flax's ``(*k, in / groups, out)`` for
    ``feature_group_count=groups``, both with the output channels split into contiguous groups.
    A pure axis permutation: values are untouched. Works on numpy and jax arrays, and on torch
    tensors (returning a torch view). Not for ``ConvTranspose`` weights, whose PyTorch layout
    ``(in, out / groups, *k)`` and Flax semantics differ by more than a permutation.

    Args:
      w: a weight with at least 2 axes.

    Returns:
      The same values, axes permuted, of the same array type.

    Raises:
      ValueError: fewer than 2 axes.
      TypeError: not an array.

    References:
      PyTorch ``torch.nn.Conv2d`` (weight ``(out, in/groups, kH, kW)``); Flax ``nn.Conv``
      (kernel ``(*kernel_size, in/groups, features)``).

    Example:
      >>> import numpy as np
      >>> from jinit import presets
      >>> presets.oihw_to_hwio(np.zeros((32, 16, 3, 5))).shape
      (3, 5, 16, 32)
    """
    fn = _P + "oihw_to_hwio"
    r = _rank(fn, w, "at least 2 axes (out, in, *spatial)", lambda n: n >= 2)
    return _permute(fn, w, tuple(range(2, r)) + (1, 0))


def hwio_to_oihw(w):
    r"""Converts a Flax kernel ``(*spatial, in, out)`` to PyTorch's ``(out, in, *spatial)``.

    .. math::

        W_\text{OIHW}[o, i, h, w] = W_\text{HWIO}[h, w, i, o]

    The inverse of :func:`oihw_to_hwio` (a Dense kernel ``(in, out)`` becomes an ``nn.Linear``
    weight ``(out, in)``). Values are untouched.

    Args:
      w: a kernel with at least 2 axes.

    Returns:
      The same values, axes permuted, of the same array type.

    Raises:
      ValueError: fewer than 2 axes.
      TypeError: not an array.

    References:
      As :func:`oihw_to_hwio`.

    Example:
      >>> import numpy as np
      >>> from jinit import presets
      >>> w = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
      >>> bool((presets.oihw_to_hwio(presets.hwio_to_oihw(w)) == w).all())
      True
    """
    fn = _P + "hwio_to_oihw"
    r = _rank(fn, w, "at least 2 axes (*spatial, in, out)", lambda n: n >= 2)
    return _permute(fn, w, (r - 1, r - 2) + tuple(range(r - 2)))


def linear_to_dense(w):
    r"""Converts a PyTorch ``nn.Linear`` weight ``(out, in)`` to a Flax ``Dense`` kernel ``(in, out)``.

    .. math::

        W_\text{Dense} = W_\text{Linear}^\top, \qquad x W_\text{Dense} = W_\text{Linear}\, x.

    Args:
      w: a 2-D weight.

    Returns:
      The transpose, of the same array type.

    Raises:
      ValueError: not 2-D.
      TypeError: not an array.

    References:
      PyTorch ``torch.nn.Linear`` (``y = x W^T + b``); Flax ``nn.Dense`` (``y = x W + b``).

    Example:
      >>> import numpy as np
      >>> from jinit import presets
      >>> presets.linear_to_dense(np.zeros((10, 784))).shape
      (784, 10)
    """
    fn = _P + "linear_to_dense"
    _rank(fn, w, "2 axes (out, in)", lambda n: n == 2)
    return _permute(fn, w, (1, 0))


def dense_to_linear(w):
    r"""Converts a Flax ``Dense`` kernel ``(in, out)`` to a PyTorch ``nn.Linear`` weight ``(out, in)``.

    .. math::

        W_\text{Linear} = W_\text{Dense}^\top.

    Args:
      w: a 2-D kernel.

    Returns:
      The transpose, of the same array type.

    Raises:
      ValueError: not 2-D.
      TypeError: not an array.

    References:
      As :func:`linear_to_dense`.

    Example:
      >>> import numpy as np
      >>> from jinit import presets
      >>> presets.dense_to_linear(np.zeros((784, 10))).shape
      (10, 784)
    """
    fn = _P + "dense_to_linear"
    _rank(fn, w, "2 axes (in, out)", lambda n: n == 2)
    return _permute(fn, w, (1, 0))


for _name in __all__:
    globals()[_name].__module__ = "jinit.presets"
del _name
