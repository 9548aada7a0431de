"""Orthogonal schemes: orthogonal (Saxe et al.) and delta_orthogonal (Xiao et al.)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _sampling
from ._base import Init, factory, public
from ._typing import Array, DTypeLike, KeyArray, OutSharding


def _haar(key: KeyArray, n_rows: int, n_cols: int, dt: np.dtype) -> Array:
    return jax.random.orthogonal(key, n_rows, (), dt, n_cols)


def _haar_matrix(key: KeyArray, n_rows: int, n_cols: int, dt: np.dtype) -> Array:
    """A Haar-random ``(n_rows, n_cols)`` matrix, the bits of ``jax.random.orthogonal``."""
    return _sampling.on_one_device(_haar, key, n_rows, n_cols, dt)


def _orthogonal_matrix(fn: str, key: KeyArray, shape: tuple[int, ...], dt: np.dtype, scale: object,
                       column_axis: int) -> Array:
    """``scale * Q`` with orthonormal columns along ``column_axis`` (or rows, if fewer)."""
    axis = _checks.axis(fn, "column_axis", column_axis, len(shape), shape)[0]
    n_rows, n_cols = math.prod(shape) // shape[axis], shape[axis]
    sdt = _sampling.sampling_dtype(dt)  # QR has no 16-bit kernel: draw and factor in float32
    q = _haar_matrix(key, n_rows, n_cols, sdt)
    q = jnp.reshape(q, tuple(np.delete(np.array(shape), axis)) + (shape[axis],))
    q = jnp.moveaxis(q, -1, column_axis)
    s = None if isinstance(scale, jax.core.Tracer) else abs(float(np.asarray(scale)))
    return _sampling.finish(jnp.array(scale, sdt) * q, dt, extent=s)


@public
@factory
def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype: DTypeLike | None = None) -> Init:
    r"""Builds an initializer that draws (scaled) uniformly random orthogonal matrices.

    The shape is viewed as a matrix with :math:`n` = ``shape[column_axis]`` columns and
    :math:`m = \prod(\text{shape})/n` rows. The result is :math:`s\,Q`, where :math:`Q` is
    Haar-distributed on the Stiefel manifold: orthonormal columns (:math:`Q^\top Q = I_n`)
    when :math:`m \ge n`, orthonormal rows (:math:`QQ^\top = I_m`) otherwise. Unitary for a
    complex dtype. Each entry has mean 0 and :math:`\mathbb{E}[w^2] = s^2/m` when
    :math:`m \ge n` (:math:`s^2/n` otherwise). Construction: QR of a Gaussian matrix with the
    signs of :math:`\operatorname{diag}(R)` folded into :math:`Q` (Mezzadri 2007), so the
    distribution is exactly Haar.

    Same parameters, defaults and float32/float64/complex bits as
    ``jax.nn.initializers.orthogonal``. Deliberate differences: bfloat16/float16/float8 work
    (jax fails: QR has no 16-bit kernel) — the matrix is drawn and factored in float32 and
    rounded once; ``out_sharding`` is honoured (jax raises ``NotImplementedError``): the
    matrix is built whole, then placed, since a QR needs all of it.

    Args:
      scale: the multiplier :math:`s` (gain), finite and ``>= 0``.
      column_axis: the axis holding the columns that should be orthonormal.
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``; shapes need at least
      2 axes, and a zero-size shape gives an empty array.

    Raises:
      ValueError: a negative or non-finite ``scale``; at call time a shape with fewer than 2
        axes or a ``column_axis`` out of range.
      TypeError: a non-int ``column_axis``.

    References:
      Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics of learning in
      deep linear neural networks", ICLR 2014, arXiv:1312.6120. Mezzadri, "How to generate
      random matrices from the classical compact groups", Notices of the AMS 54(5), 2007.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> q = jinit.orthogonal()(jax.random.key(0), (256, 64), jnp.bfloat16)
      >>> q32 = q.astype(jnp.float32)
      >>> q.dtype, bool(jnp.abs(q32.T @ q32 - jnp.eye(64)).max() < 0.05)
      (dtype(bfloat16), True)
    """
    fn = "orthogonal"
    scale = _checks.scalar(fn, "scale", scale)
    _checks.axis_arg(fn, "column_axis", column_axis)
    if not isinstance(column_axis, (int, np.integer)):
        raise _checks.fail(fn, "column_axis", column_axis, "is not one axis", "an int", exc=TypeError)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _checks.rank(fn, "shape", shape, len(shape), 2, "at least 2 axes",
                     "For a bias use jinit.zeros.")

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        return _sampling.place(_orthogonal_matrix(fn, key, shape, dt, scale, column_axis),
                               out_sharding)

    return Init(fn, body, {"scale": scale, "column_axis": column_axis, "dtype": dtype}, dtype,
                check=check)


@public
@factory
def delta_orthogonal(scale: float = 1.0, column_axis: int = -1,
                     dtype: DTypeLike | None = None) -> Init:
    r"""Builds an initializer for delta-orthogonal convolution kernels (Xiao et al. 2018).

    For a kernel of shape ``(*spatial, c_in, c_out)`` (1-, 2- or 3-D convolutions, Flax HWIO)
    with ``c_in <= c_out``, every spatial tap is zero except the centre, which holds
    :math:`s\,H` for an orthogonal :math:`c_\text{in} \times c_\text{out}` matrix :math:`H`
    (orthonormal rows, as :func:`jinit.orthogonal` draws for that 2-D shape). The convolution
    is then norm-preserving up to :math:`s`: :math:`\|W * x\| = s\|x\|` for inputs with
    circular padding. The centre tap sits at index ``(k - 1) // 2`` on each spatial axis, as in
    jax and TF; for even ``k`` this is one before PyTorch's ``dirac_`` (index ``k // 2``).
    Mean 0; :math:`\mathbb{E}[w^2] = s^2 / (c_\text{out} \prod k)` per entry.

    Same parameters, defaults and float32/float64 bits as ``jax.nn.initializers.delta_orthogonal``;
    16-bit and 8-bit dtypes work (see :func:`jinit.orthogonal`), as does ``out_sharding``.

    Args:
      scale: the multiplier :math:`s` (gain), finite and ``>= 0``.
      column_axis: passed to the orthogonal draw of the ``(c_in, c_out)`` block (jax's meaning).
      dtype: the initializer's default dtype.

    Returns:
      An initializer for 3-, 4- or 5-D shapes with ``shape[-1] >= shape[-2]``.

    Raises:
      ValueError: a negative or non-finite ``scale``; at call time a shape of another rank or
        with ``shape[-2] > shape[-1]``.

    References:
      Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington, "Dynamical Isometry and a Mean
      Field Theory of CNNs: How to Train 10,000-Layer Vanilla Convolutional Neural Networks",
      ICML 2018, arXiv:1806.05393.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> w = jinit.delta_orthogonal()(jax.random.key(0), (3, 3, 16, 32))
      >>> centre = w[1, 1]
      >>> bool(jnp.allclose(centre @ centre.T, jnp.eye(16), atol=1e-5)), float(jnp.abs(w[0]).max())
      (True, 0.0)
    """
    fn = "delta_orthogonal"
    scale = _checks.scalar(fn, "scale", scale)
    _checks.axis_arg(fn, "column_axis", column_axis)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _checks.rank(fn, "shape", shape, len(shape), (3, 4, 5),
                     "3, 4 or 5 axes (a 1-, 2- or 3-D convolution kernel)")

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        # Only for non-empty shapes (every zero-size shape is empty, whatever its channels).
        if shape[-1] < shape[-2]:
            raise _checks.fail(fn, "shape", shape,
                               f"has more input channels ({shape[-2]}) than output channels "
                               f"({shape[-1]})", "shape[-2] <= shape[-1]")
        block = _orthogonal_matrix(fn, key, shape[-2:], dt, scale, column_axis)
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        return _sampling.place(jnp.zeros(shape, dt).at[centre].set(block), out_sharding)

    return Init(fn, body, {"scale": scale, "column_axis": column_axis, "dtype": dtype}, dtype,
                check=check)
