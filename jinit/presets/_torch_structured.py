"""PyTorch's structured ``torch.nn.init`` functions as jinit factories: constant, ones, zeros,
eye, dirac, orthogonal and sparse, each the jinit scheme it equals on Flax layouts."""

from __future__ import annotations

from .. import _checks
from .._base import Init, factory
from .._constant import constant
from .._identity import dirac, identity
from .._orthogonal import orthogonal
from .._sparse import sparse_outgoing
from .._typing import DTypeLike
from ._fills import PREFIX, filled


@factory
def torch_constant(val: float, dtype: DTypeLike | None = None) -> Init:
    """Builds PyTorch's ``constant_(val)``: every value ``val``. Returns ``jinit.constant(val)``.

    Mean ``val``, variance 0; the key is ignored. The checks are :func:`jinit.constant`'s
    (finite, representable in the dtype).

    Args:
      val: the fill value.
      dtype: the initializer's default dtype.

    Returns:
      ``jinit.constant(val, dtype)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.constant`.

    References:
      PyTorch ``torch.nn.init.constant_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> presets.torch_constant(0.5)(jax.random.key(0), (3,))
      Array([0.5, 0.5, 0.5], dtype=float32)
    """
    return constant(val, dtype)


@factory
def torch_ones(dtype: DTypeLike | None = None) -> Init:
    """Builds PyTorch's ``ones_``: every value 1 (mean 1, variance 0); the key is ignored.

    Args:
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      TypeError, ValueError: at call time, a bad shape or a non-inexact dtype.

    References:
      PyTorch ``torch.nn.init.ones_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> presets.torch_ones()(jax.random.key(0), (3,))
      Array([1., 1., 1.], dtype=float32)
    """
    return filled("torch_ones", 1, dtype)


@factory
def torch_eye(dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``eye_``: the identity matrix. Returns ``jinit.identity(1.0, dtype)``.

    .. math::

        W_{ij} = \delta_{ij}

    For a 2-D weight the identity (ones on the main diagonal when rectangular), the same in
    PyTorch's ``(out, in)`` and Flax's ``(in, out)`` layouts. Unlike PyTorch, which accepts only
    2-D tensors, leading axes are batch axes (see :func:`jinit.identity`).

    Args:
      dtype: the initializer's default dtype.

    Returns:
      ``jinit.identity(1.0, dtype)``.

    Raises:
      ValueError: at call time a shape with fewer than 2 axes.

    References:
      PyTorch ``torch.nn.init.eye_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> presets.torch_eye()(jax.random.key(0), (2, 3))
      Array([[1., 0., 0.],
             [0., 1., 0.]], dtype=float32)
    """
    return identity(1.0, dtype)


@factory
def torch_dirac(groups: int = 1, dtype: DTypeLike | None = None) -> Init:
    """Builds PyTorch's ``dirac_(groups)`` on Flax HWIO kernels. Returns ``jinit.dirac(1.0, groups)``.

    Each output channel copies its group's input channel at the spatial centre ``k // 2``
    (PyTorch's convention); see :func:`jinit.dirac` for the formula and the layout mapping
    ``(c_out, c_in / groups, *k)`` → ``(*k, c_in / groups, c_out)``.

    Args:
      groups: the convolution's groups; must divide ``c_out`` (default 1).
      dtype: the initializer's default dtype.

    Returns:
      ``jinit.dirac(1.0, groups, dtype)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.dirac`.

    References:
      PyTorch ``torch.nn.init.dirac_``.

    Example:
      >>> import jax
      >>> from jinit import presets
      >>> w = presets.torch_dirac()(jax.random.key(0), (3, 3, 4, 4))
      >>> float(w[1, 1].sum()), float(w.sum())
      (4.0, 4.0)
    """
    return dirac(1.0, groups, dtype)


@factory
def torch_orthogonal(gain: float = 1.0, dtype: DTypeLike | None = None) -> Init:
    r"""Builds PyTorch's ``orthogonal_(gain)``. Returns ``jinit.orthogonal(gain, -1, dtype)``.

    PyTorch flattens its weight ``(out, *rest)`` to ``(out, prod(rest))`` and makes it a
    Haar-random semi-orthogonal matrix times ``gain``. On Flax's layouts the same matrix is
    transposed, ``(prod(rest), out)`` with the output axis last, which is what
    ``jinit.orthogonal(column_axis=-1)`` draws; the transpose of a Haar-random matrix is
    Haar-random, so the law is PyTorch's:

    .. math::

        W = g\,Q, \qquad Q^\top Q = I \ (\text{or } QQ^\top = I \text{ if fewer rows}).

    Args:
      gain: the factor :math:`g \ge 0` (default 1).
      dtype: the initializer's default dtype.

    Returns:
      ``jinit.orthogonal(gain, -1, dtype)``.

    Raises:
      ValueError, TypeError: as :func:`jinit.orthogonal`.

    References:
      PyTorch ``torch.nn.init.orthogonal_``; Saxe, McClelland & Ganguli, ICLR 2014,
      arXiv:1312.6120.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jinit import presets
      >>> w = presets.torch_orthogonal(2.0)(jax.random.key(0), (64, 16))
      >>> bool(jnp.allclose(w.T @ w, 4 * jnp.eye(16), atol=1e-4))
      True
    """
    _checks.scalar(PREFIX + "torch_orthogonal", "gain", gain)
    return orthogonal(gain, -1, dtype)


# PyTorch's sparse_(sparsity, std=0.01) on Flax's (in, out) layout is jinit.sparse_outgoing.
torch_sparse = sparse_outgoing
