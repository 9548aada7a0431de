"""Fan computation shared by every variance-scaling scheme."""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import _checks
from ._base import public


@public
def compute_fans(
    shape: Sequence[int],
    in_axis: int | Sequence[int] = -2,
    out_axis: int | Sequence[int] = -1,
    batch_axis: int | Sequence[int] = (),
) -> tuple[float, float]:
    r"""Effective input and output sizes ``(fan_in, fan_out)`` of a weight tensor.

    Axes named by none of ``in_axis``, ``out_axis``, ``batch_axis`` form the receptive
    field (a convolution's spatial axes); batch axes (stacked layers, heads) are ignored:

    .. math::

        r = \frac{\prod_i s_i}{n_\text{in}\, n_\text{out}\, n_\text{batch}}, \qquad
        \text{fan}_\text{in} = n_\text{in}\, r, \qquad \text{fan}_\text{out} = n_\text{out}\, r,

    where :math:`s` is the shape and :math:`n_\text{in}, n_\text{out}, n_\text{batch}` are the
    products of the sizes of the in, out and batch axes. This is exactly jax's rule
    (``jax.nn.initializers`` computes the same floats, so variance-scaling results match bit
    for bit), including its treatment of overlapping axes, which Flax's ``Embed`` relies on.

    Layouts (``k`` the spatial kernel axes, ``g`` the groups):

    ==============  ===============  ===========================  ============================
    framework       Dense / Linear   convolution                  axes to pass
    ==============  ===============  ===========================  ============================
    Flax (linen,    ``(in, out)``    HWIO ``(*k, in/g, out)``     none (the defaults)
    nnx)
    Keras 3         ``(in, out)``    ``(*k, in/g, out)``          none (the defaults)
    PyTorch         ``(out, in)``    OIHW ``(out, in/g, *k)``;    ``in_axis=1, out_axis=0``
                                     ConvTranspose                (ConvTranspose: ``in_axis=0,
                                     ``(in, out/g, *k)``          out_axis=1``)
    Equinox         ``(out, in)``    ``(out, in/g, *k)``, also    ``in_axis=1, out_axis=0``, or
                                     ConvTranspose                none through
                                                                  :func:`jinit.equinox.init`
    ==============  ===============  ===========================  ============================

    * HWIO ``(3, 3, 16, 32)`` gives ``(144, 288)``; OIHW ``(32, 16, 3, 3)`` with
      ``in_axis=1, out_axis=0`` gives the same. With the default axes an ``(out, in)``
      weight swaps the two fans silently: He on an Equinox ``Linear(32, 128)`` weight
      ``(128, 32)`` then has a quarter of its variance.
    * Several input axes, e.g. an attention output projection ``(heads, head_dim, d_model)``:
      ``in_axis=(0, 1)``.
    * Stacked layers ``(layers, in, out)``: ``batch_axis=0``.

    A shape with a zero-size axis returns fans computed from the non-zero rule
    ``r = prod(other axes)`` without division, so it never raises ``ZeroDivisionError``
    (initializers return an empty array for such shapes).

    Args:
      shape: the weight shape.
      in_axis: axis or axes of the input dimension (default ``-2``).
      out_axis: axis or axes of the output dimension (default ``-1``).
      batch_axis: axis or axes to ignore (default none).

    Returns:
      ``(fan_in, fan_out)`` as floats.

    Raises:
      ValueError: if an axis is out of range for ``shape`` (e.g. a 1-D shape with the
        default ``in_axis=-2``) or a role repeats an axis.
      TypeError: if ``shape`` or an axis is not made of ints.

    References:
      Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
      networks", AISTATS 2010; jax ``jax.nn.initializers`` (fan rule and axis arguments).

    Example:
      >>> import jinit
      >>> jinit.compute_fans((3, 3, 16, 32))                        # Flax HWIO
      (144.0, 288.0)
      >>> jinit.compute_fans((32, 16, 3, 3), in_axis=1, out_axis=0)  # PyTorch OIHW
      (144.0, 288.0)
      >>> jinit.compute_fans((8, 64, 128), batch_axis=0)             # 8 stacked layers
      (64.0, 128.0)
    """
    return fans("compute_fans", _checks.shape("compute_fans", shape), in_axis, out_axis, batch_axis)


def fans(fn: str, shape: tuple[int, ...], in_axis, out_axis, batch_axis) -> tuple[float, float]:
    """:func:`compute_fans` on a checked shape, with errors naming ``fn``."""
    rank = len(shape)
    fix = ("For a bias use jinit.zeros, or pass in_axis." if rank < 2 else "")
    ins = _checks.axis(fn, "in_axis", in_axis, rank, shape, fix)
    outs = _checks.axis(fn, "out_axis", out_axis, rank, shape, fix)
    batch = _checks.axis(fn, "batch_axis", batch_axis, rank, shape, fix)
    in_size = math.prod(shape[i] for i in ins)
    out_size = math.prod(shape[i] for i in outs)
    batch_size = math.prod(shape[i] for i in batch)
    if 0 in shape:
        rest = math.prod(d for i, d in enumerate(shape) if i not in set(ins + outs + batch))
        return float(in_size * rest), float(out_size * rest)
    # The same float operations, in the same order, as jax's _compute_fans.
    receptive_field = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive_field, out_size * receptive_field
