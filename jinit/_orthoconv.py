"""Orthogonal convolution kernels: the block-orthogonal construction of Xiao et al. (2018)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _sampling
from ._base import Init, factory, public
from ._typing import Array, DTypeLike, KeyArray, OutSharding

_HIGHEST = jax.lax.Precision.HIGHEST


def _shift(f: Array, axis: int) -> Array:
    """Moves every tap one step later along spatial ``axis`` (multiplication by ``z_axis``)."""
    pad = [(0, 0)] * f.ndim
    pad[axis] = (1, 0)
    return jax.lax.slice_in_dim(jnp.pad(f, pad), 0, f.shape[axis], axis=axis)


def _paraunitary(q: Array, bits: Array, ksize: tuple[int, ...]) -> Array:
    """Taps ``(*ksize, n, n)`` of the paraunitary filter ``F(z) = prod_t prod_d B_{t,d}(z_d)``.

    Each factor ``B(z_d) = P + (I - P) z_d`` has the orthogonal projection
    ``P = Q diag(m) Q^H`` (``q[t, d]`` Haar, ``bits[t, d]`` i.i.d. fair bits), so ``B`` is
    unitary on the unit circle. Round ``t`` multiplies by one factor per spatial axis ``d``
    with ``t < ksize[d] - 1`` (so axis ``d`` gets ``ksize[d] - 1`` factors and ``ksize[d]``
    taps); for equal sizes this is TF v1's order (``block_orth(p1, p2, ...)`` per round).
    """
    n, dt = q.shape[-1], q.dtype
    f = jnp.zeros(ksize + (n, n), dt).at[(0,) * len(ksize)].set(jnp.eye(n, dtype=dt))
    if q.shape[0] == 0:
        return f
    q_h = jnp.conj(jnp.swapaxes(q, -1, -2))
    p = jnp.matmul(q * bits, q_h, precision=_HIGHEST)
    p_c = jnp.matmul(q * (1 - bits), q_h, precision=_HIGHEST)
    # Axes with fewer taps sit out the last rounds: their factor there is B = I.
    active = np.array([[t < k - 1 for k in ksize] for t in range(q.shape[0])])[..., None, None]
    p = jnp.where(active, p, jnp.eye(n, dtype=dt))
    p_c = jnp.where(active, p_c, jnp.zeros((), dt))

    def one_round(f: Array, factors: tuple[Array, Array]) -> tuple[Array, None]:
        p_t, p_c_t = factors
        for axis in range(len(ksize)):
            f = (jnp.matmul(f, p_t[axis], precision=_HIGHEST)
                 + jnp.matmul(_shift(f, axis), p_c_t[axis], precision=_HIGHEST))
        return f, None

    return jax.lax.scan(one_round, f, (p, p_c))[0]


@_sampling.compiled(1, 2)
def _kernel(key: KeyArray, shape: tuple[int, ...], dt: np.dtype) -> Array:
    """The unscaled kernel ``H F(z)``: one compiled program per shape (eager calls included).

    All Haar matrices — ``H``'s and every factor's ``Q`` — come from one batched draw.
    """
    ksize, (c_in, c_out) = shape[:-2], shape[-2:]
    rounds, nd = max(ksize) - 1, len(ksize)
    key_q, key_m = jax.random.split(key)
    q = jax.random.orthogonal(key_q, c_out, (1 + rounds * nd,), dt)
    real = np.dtype(jnp.finfo(dt).dtype)
    bits = jax.random.bernoulli(key_m, 0.5, (rounds, nd, 1, c_out)).astype(real).astype(dt)
    taps = _paraunitary(q[1:].reshape(rounds, nd, c_out, c_out), bits, ksize)
    return jnp.matmul(q[0, :c_in], taps, precision=_HIGHEST)


def _kernel_matrix(key: KeyArray, shape: tuple[int, ...], dt: np.dtype) -> Array:
    """:func:`_kernel` as a ``(prod(shape[:-1]), c_out)`` matrix, for :func:`_sampling.on_one_device`."""
    return jnp.reshape(_kernel(key, shape, dt), (-1, shape[-1]))


@public
@factory
def conv_orthogonal(scale: float = 1.0, dtype: DTypeLike | None = None) -> Init:
    r"""Builds an initializer for orthogonal convolution kernels (Xiao et al. 2018, Algorithm 1).

    For a Flax HWIO kernel ``(*spatial, c_in, c_out)`` (1-, 2- or 3-D) with
    :math:`c_\text{in} \le c_\text{out}`, the kernel is the block-orthogonal construction:

    .. math::

        W(\mathbf{z}) = s\, H\, \prod_{t} \prod_{d} \big(P_{t,d} + (I - P_{t,d})\, z_d\big),
        \qquad W(\mathbf{z}) = \sum_{\mathbf{c}} W[\mathbf{c}]\, \mathbf{z}^{\mathbf{c}},

    where :math:`H` is the first :math:`c_\text{in}` rows of a Haar-random orthogonal
    :math:`c_\text{out} \times c_\text{out}` matrix, each :math:`P_{t,d} = Q\,\mathrm{diag}(m)\,Q^\top`
    is a random orthogonal projection (:math:`Q` Haar, :math:`m_i` independent fair bits), and
    spatial axis :math:`d` gets :math:`k_d - 1` factors (so exactly :math:`k_d` taps), applied
    round by round across the axes. Each factor is unitary on the unit circle
    (:math:`|z_d| = 1`), so :math:`W(\mathbf{z})W(\mathbf{z})^H = s^2 I` at every frequency: the
    convolution with circular (periodic) padding is :math:`s` times an isometry,
    :math:`\|W \star x\| = s\|x\|` for every input — exact orthogonality of the whole layer, not
    only of the centre tap as in :func:`jinit.delta_orthogonal`. With zero padding the
    isometry holds up to boundary effects.

    Moments: mean 0 (the law is symmetric); the squared entries sum to exactly
    :math:`s^2 c_\text{in}`, so :math:`\mathbb{E}[w^2]` averaged over entries is
    :math:`s^2/(c_\text{out} \prod_d k_d)`, as for :func:`jinit.delta_orthogonal`; every entry
    satisfies :math:`|w| \le s`. A kernel size of 1 on every axis reduces to :math:`sH`.

    This is the construction of TF v1's ``ConvolutionOrthogonal1D/2D/3D`` (the only library
    that had it; never ported to TF2). Differences: spatial sizes may differ per axis (TF
    requires equal sizes; for equal sizes the factor order is TF's), complex dtypes give a
    unitary construction (:math:`Q^H`), and 16-/8-bit dtypes are built in float32 and rounded
    once. The kernel is built whole and then placed (``out_sharding``); under
    ``jax.jit(..., out_shardings=...)`` it is built on the mesh's first device and broadcast,
    so sharded values equal unsharded ones bit for bit.

    Args:
      scale: the gain :math:`s \ge 0` (the factor on every output norm; default 1).
      dtype: the initializer's default dtype (real or complex).

    Returns:
      An initializer for 3-, 4- or 5-D shapes with ``shape[-2] <= shape[-1]``; a zero-size shape
      gives an empty array.

    Raises:
      ValueError: a negative or non-finite ``scale``; at call time a shape of another rank or
        with more input than output channels.
      TypeError: a non-real ``scale``.

    References:
      Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington, "Dynamical Isometry and a Mean
      Field Theory of CNNs: How to Train 10,000-Layer Vanilla Convolutional Neural Networks",
      ICML 2018, arXiv:1806.05393, Algorithm 1. TF v1 ``tf.compat.v1.initializers``
      ``ConvolutionOrthogonal2D`` (``tensorflow/python/ops/init_ops.py``).

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> w = jinit.conv_orthogonal()(jax.random.key(0), (3, 3, 8, 16))
      >>> x = jax.random.normal(jax.random.key(1), (1, 12, 12, 8))
      >>> x_wrapped = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")   # circular
      >>> y = jax.lax.conv_general_dilated(x_wrapped, w, (1, 1), "VALID",
      ...                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
      >>> y.shape, bool(jnp.allclose(jnp.linalg.norm(y), jnp.linalg.norm(x), rtol=1e-5))
      ((1, 12, 12, 16), True)
    """
    fn = "conv_orthogonal"
    scale = _checks.scalar(fn, "scale", scale)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _checks.rank(fn, "shape", shape, len(shape), (3, 4, 5),
                     "3, 4 or 5 axes (a 1-, 2- or 3-D convolution kernel (*spatial, in, out), "
                     "Flax HWIO)")

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        c_in, c_out = shape[-2:]
        if c_in > c_out:
            raise _checks.fail(fn, "shape", shape,
                               f"has more input channels ({c_in}) than output channels ({c_out})",
                               "shape[-2] <= shape[-1]",
                               "An isometry cannot reduce the channel count; use "
                               "jinit.orthogonal or a larger c_out.")
        sdt = _sampling.sampling_dtype(dt)
        # Built whole on one device and broadcast: XLA would split the matmuls under a
        # sharded jit, and sums in another order change the last bits.
        w = jnp.reshape(_sampling.on_one_device(_kernel_matrix, key, shape, sdt), shape)
        w = w * jnp.asarray(scale, sdt)
        s = None if isinstance(scale, jax.core.Tracer) else abs(float(np.asarray(scale)))
        return _sampling.place(_sampling.finish(w, dt, extent=s), out_sharding)

    return Init(fn, body, {"scale": scale, "dtype": dtype}, dtype, check=check)
