"""PyTorch's layer defaults (``Linear``, ``Conv*``, ``ConvTranspose*``, ``Embedding``) and fans."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import _checks, _sampling
from .._base import Init, factory
from .._typing import Array, DTypeLike, KeyArray, OutSharding
from ._fills import PREFIX, Axes, axes_params, variance_scaled

_TORCH_LAYERS = ("linear", "conv", "conv_transpose", "embedding")


def torch_fans(layer: str, in_features: int, out_features: int,
               kernel_size: int | Sequence[int] = (), groups: int = 1) -> tuple[int, int]:
    r"""PyTorch's ``(fan_in, fan_out)`` for the weight of a layer, as its initializers see it.

    PyTorch computes fans on the stored weight (``torch.nn.init._calculate_fan_in_and_fan_out``:
    ``fan_in = w.shape[1]·∏ w.shape[2:]``, ``fan_out = w.shape[0]·∏ w.shape[2:]``). With
    :math:`r = \prod k` the receptive field and :math:`g` the groups:

    ======================  ============================  ========================  ==================
    ``layer``               stored weight                 fan_in                    fan_out
    ======================  ============================  ========================  ==================
    ``"linear"``            ``(out, in)``                 in                        out
    ``"conv"``              ``(out, in/g, *k)``           (in/g)·r                  out·r
    ``"conv_transpose"``    ``(in, out/g, *k)``           **(out/g)·r**             in·r
    ``"embedding"``         ``(num, dim)``                dim (``in_features``)     num
    ======================  ============================  ========================  ==================

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
    fn = PREFIX + "torch_fans"
    _checks.choice(fn, "layer", layer, _TORCH_LAYERS)
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        _checks.integer(fn, name, value)
    groups = _checks.integer(fn, "groups", groups, 1)
    ks = (kernel_size,) if _checks._is_int(kernel_size) else tuple(kernel_size)
    for k in ks:
        _checks.integer(fn, "kernel_size", k)
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


@factory
def torch_linear_kernel(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                        dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's default ``nn.Linear`` and ``nn.Conv1d/2d/3d`` weight init, on Flax layouts.

    ``torch_conv_kernel`` is the same object: one law, two names that say which layer they stand for.

    .. math::

        w \sim \mathcal{U}\left(-\frac{1}{\sqrt{n}},\ \frac{1}{\sqrt{n}}\right),
        \qquad \mathbb{E}[w] = 0,\quad \operatorname{Var}[w] = \frac{1}{3n},

    with :math:`n` = fan_in: ``shape[in_axis]`` for a Dense kernel ``(in, out)`` (the input features);
    :math:`(c_\text{in}/g)\prod k` for a Conv kernel HWIO ``(*k, c_in / groups, c_out)`` — the same
    number PyTorch computes on its ``(c_out, c_in / groups, *k)`` weight. PyTorch writes this as ``kaiming_uniform_(w, a=math.sqrt(5))``: the
    leaky-ReLU gain :math:`\sqrt{2/(1+a^2)} = 1/\sqrt{3}` times the uniform bound
    :math:`\sqrt{3/n}` is :math:`1/\sqrt{n}`. It equals ``jinit.variance_scaling(1/3,
    "fan_in", "uniform")`` bit for bit (same draws, same bound
    :math:`\sqrt{3 \cdot (1/3)/n}`).

    Args:
      in_axis: axis or axes of the input dimension (default ``-2``; ``1`` for PyTorch OIHW).
      out_axis: axis or axes of the output dimension (default ``-1``; ``0`` for OIHW).
      batch_axis: axis or axes ignored by the fans (default none).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.variance_scaling` (bad axes, dtype, key, shape).

    References:
      PyTorch ``torch/nn/modules/linear.py`` and ``conv.py`` (``reset_parameters``); He et al., "Delving Deep into
      Rectifiers", ICCV 2015, arXiv:1502.01852; pytorch/pytorch issue #57109 (why a=√5).

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_linear_kernel()(jax.random.key(0), (256, 128))
      >>> bound = 1 / 256 ** 0.5
      >>> bool(abs(w).max() <= bound), bool(abs(w.var() * 3 * 256 - 1) < 0.05)
      (True, True)
      >>> w = presets.torch_conv_kernel()(jax.random.key(0), (3, 3, 32, 64))
      >>> bool(abs(w).max() <= 1 / (3 * 3 * 32) ** 0.5)
      True
    """
    params = axes_params(in_axis, out_axis, batch_axis, dtype)
    return variance_scaled("torch_linear_kernel", 1.0 / 3.0, "fan_in", "uniform", in_axis,
                           out_axis, batch_axis, dtype, params)


torch_conv_kernel = torch_linear_kernel


@factory
def torch_conv_transpose_kernel(transpose_kernel: bool = False,
                                dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's default ``nn.ConvTranspose1d/2d/3d`` weight init for a Flax ``ConvTranspose`` kernel.

    .. math::

        w \sim \mathcal{U}\left(-\frac{1}{\sqrt{n}},\ \frac{1}{\sqrt{n}}\right),
        \qquad \mathbb{E}[w] = 0,\quad \operatorname{Var}[w] = \frac{1}{3n},

    with :math:`n` = PyTorch's fan_in :math:`c_\text{out}\prod k`, which counts the **output** channels (PyTorch stores the weight ``(c_in, c_out / groups, *k)``; see :func:`torch_fans`). On Flax's default ConvTranspose kernel ``(*k, c_in, c_out)`` that is jax's fan_out; with ``transpose_kernel=True`` Flax stores ``(*k, c_out, c_in)`` and it is jax's fan_in. PyTorch writes this as ``kaiming_uniform_(w, a=math.sqrt(5))``: the
    leaky-ReLU gain :math:`\sqrt{2/(1+a^2)} = 1/\sqrt{3}` times the uniform bound
    :math:`\sqrt{3/n}` is :math:`1/\sqrt{n}`. It equals ``jinit.variance_scaling(1/3,
    "fan_out", "uniform")`` bit for bit (same draws, same bound
    :math:`\sqrt{3 \cdot (1/3)/n}`). (``"fan_in"`` with ``transpose_kernel=True``). For the bias use :func:`torch_conv_bias` with ``torch_fans("conv_transpose", ...)[0]``.

    Args:
      transpose_kernel: Flax ``ConvTranspose``'s flag of the same name (default False).
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.variance_scaling` (bad axes, dtype, key, shape).

    References:
      PyTorch ``torch/nn/modules/conv.py`` (``reset_parameters``); He et al., "Delving Deep into
      Rectifiers", ICCV 2015, arXiv:1502.01852; pytorch/pytorch issue #57109 (why a=√5).

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_conv_transpose_kernel()(jax.random.key(0), (3, 3, 64, 16))
      >>> bound = 1 / (3 * 3 * 16) ** 0.5
      >>> bool(abs(w).max() <= bound), bool(abs(w.var() * 3 * (3 * 3 * 16) - 1) < 0.05)
      (True, True)
    """
    if not isinstance(transpose_kernel, (bool, np.bool_)):
        raise _checks.fail(PREFIX + "torch_conv_transpose_kernel", "transpose_kernel",
                           transpose_kernel, "is not a bool", "True or False", exc=TypeError)
    mode = "fan_in" if transpose_kernel else "fan_out"
    params = {"transpose_kernel": bool(transpose_kernel), "dtype": dtype}
    return variance_scaled("torch_conv_transpose_kernel", 1.0 / 3.0, mode, "uniform", -2, -1, (),
                           dtype, params)


@factory
def torch_linear_bias(fan_in: float, dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's default ``nn.Linear``/``nn.Conv*`` bias init: U(±1/√fan_in), fan_in given.

    ``torch_conv_bias`` is the same object under the name of the convolution layers.

    .. math::

        b \sim \mathcal{U}\left(-\frac{1}{\sqrt{n}},\ \frac{1}{\sqrt{n}}\right),
        \qquad \mathbb{E}[b] = 0,\quad \operatorname{Var}[b] = \frac{1}{3n},

    with :math:`n` = ``fan_in`` the *kernel's* fan-in; all zeros when ``fan_in == 0``, as PyTorch.
    A bias initializer only sees the bias shape ``(out,)``, so the kernel's fan-in must be passed
    in: for ``nn.Dense(features)`` on ``in_features`` inputs, ``torch_linear_bias(in_features)``;
    for a convolution :math:`(c_\text{in}/g)\prod k` (``torch_fans("conv", c_in, c_out, k, groups)[0]``);
    for a transposed convolution PyTorch's own convention, :math:`(c_\text{out}/g)\prod k`
    (``torch_fans("conv_transpose", ...)[0]``).

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
      PyTorch ``torch/nn/modules/linear.py`` and ``conv.py`` (``reset_parameters``); flax issue #3019.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> b = presets.torch_linear_bias(256)(jax.random.key(0), (4096,))
      >>> bool(abs(b).max() <= 1 / 256 ** 0.5), bool(abs(b).max() > 0.99 / 256 ** 0.5)
      (True, True)
      >>> fan_in = presets.torch_fans("conv", 16, 32, (3, 3))[0]
      >>> b = presets.torch_conv_bias(fan_in)(jax.random.key(0), (4096,))
      >>> fan_in, bool(abs(b).max() <= 1 / 144 ** 0.5)
      (144, True)
    """
    fn = PREFIX + "torch_linear_bias"
    _checks.scalar(fn, "fan_in", fan_in)
    bound = 1.0 / math.sqrt(float(fan_in)) if float(fan_in) > 0 else 0.0

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        sdt = _sampling.sampling_dtype(dt)
        return _sampling.uniform(key, shape, dt, -1.0, 1.0, np.asarray(bound, sdt), out_sharding)

    return Init(fn, body, {"fan_in": fan_in, "dtype": dtype}, dtype, complex_ok=False)


torch_conv_bias = torch_linear_bias


@factory
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
    fn = PREFIX + "torch_embedding"

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.normal(key, shape, dt, 1.0, out_sharding)

    return Init(fn, body, {"dtype": dtype}, dtype)
