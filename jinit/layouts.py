"""PyTorch ↔ Flax weight layouts: pure axis permutations, values untouched.

===========================  ===============================  ===============================
weight                       PyTorch                          Flax
===========================  ===============================  ===============================
``Linear`` / ``Dense``       ``(out, in)``                    ``(in, out)``
``Conv1d/2d/3d`` / ``Conv``  OIHW ``(out, in / groups, *k)``  HWIO ``(*k, in / groups, out)``
===========================  ===============================  ===============================

:func:`oihw_to_hwio` and :func:`hwio_to_oihw` convert convolution kernels (and, for 2-D
weights, ``Linear`` ↔ ``Dense``); :func:`linear_to_dense` and :func:`dense_to_linear` are
the 2-D transposes with a rank check. Each works on numpy and jax arrays and on torch
tensors (returning the same type). PyTorch's *initializer* defaults for those layers are in
:mod:`jinit.presets`.
"""

from __future__ import annotations

import numpy as np

from . import _checks

__all__ = ["dense_to_linear", "hwio_to_oihw", "linear_to_dense", "oihw_to_hwio"]


def _permute(w: object, perm: tuple[int, ...]) -> object:
    if hasattr(w, "permute"):  # a torch.Tensor: keep it one
        return w.permute(*perm)
    return w.transpose(perm) if hasattr(w, "transpose") else np.transpose(w, perm)


def _rank(fn: str, w: object, allowed: int | tuple[int, ...], expected: str) -> int:
    ndim = getattr(w, "ndim", None)
    if ndim is None:
        raise _checks.fail(fn, "w", w, "is not an array", "a numpy, jax or torch array",
                           exc=TypeError)
    _checks.rank(fn, "w", w, ndim, allowed, expected)
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
      >>> from jinit import layouts
      >>> layouts.oihw_to_hwio(np.zeros((32, 16, 3, 5))).shape
      (3, 5, 16, 32)
    """
    fn = "layouts.oihw_to_hwio"
    r = _rank(fn, w, 2, "at least 2 axes (out, in, *spatial)")
    return _permute(w, tuple(range(2, r)) + (1, 0))


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
      >>> from jinit import layouts
      >>> w = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
      >>> bool((layouts.oihw_to_hwio(layouts.hwio_to_oihw(w)) == w).all())
      True
    """
    fn = "layouts.hwio_to_oihw"
    r = _rank(fn, w, 2, "at least 2 axes (*spatial, in, out)")
    return _permute(w, (r - 1, r - 2) + tuple(range(r - 2)))


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
      >>> from jinit import layouts
      >>> layouts.linear_to_dense(np.zeros((10, 784))).shape
      (784, 10)
    """
    fn = "layouts.linear_to_dense"
    _rank(fn, w, (2,), "2 axes (out, in)")
    return _permute(w, (1, 0))


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
      >>> from jinit import layouts
      >>> layouts.dense_to_linear(np.zeros((784, 10))).shape
      (10, 784)
    """
    fn = "layouts.dense_to_linear"
    _rank(fn, w, (2,), "2 axes (in, out)")
    return _permute(w, (1, 0))
