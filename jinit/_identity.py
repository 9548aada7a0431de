"""Identity-like deterministic schemes: identity, dirac, and ZerO's identity/Hadamard matrices."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, _sampling
from ._base import Init, factory, public
from ._typing import Array, DTypeLike, KeyArray, OutSharding

_CONV_RANKS = (3, 4, 5)
_ZERO_NORMALIZATIONS = ("isometry", "paper")


def _fits(fn: str, scale: object, dt: np.dtype) -> None:
    """Raises if a concrete ``scale`` overflows ``dt``."""
    if isinstance(scale, jax.core.Tracer):
        return
    big = float(jnp.finfo(dt).max)
    if abs(float(np.asarray(scale))) > big:
        raise _checks.fail(fn, "scale", scale, f"overflows {dt.name} (max {big:g})",
                           f"|scale| <= {big:g}", "Use a wider dtype.")


def _fill(scale: object, dt: np.dtype) -> Array:
    """``scale`` as a 0-d array of ``dt``, rounded once (checked by :func:`_fits`)."""
    if isinstance(scale, jax.core.Tracer):
        return jnp.asarray(scale, _sampling.sampling_dtype(dt)).astype(dt)
    return jnp.asarray(float(np.asarray(scale)), dt)


def _iota(shape: tuple[int, ...], axis: int) -> Array:
    # The sharding is applied once, to the result (_sampling.place); under jit(out_shardings=...) XLA
    # partitions these elementwise programs so each device builds only its shard.
    return jax.lax.broadcasted_iota(jnp.int32, shape, axis)


def _at_centre(shape: tuple[int, ...]) -> Array:
    """Boolean mask of the spatial centre ``k // 2`` on every axis but the last two."""
    mask = jnp.ones((), bool)
    for axis, k in enumerate(shape[:-2]):
        mask = mask & (_iota(shape, axis) == k // 2)
    return mask


# --------------------------------------------------------------------------- identity


@public
@factory
def identity(scale: float = 1.0, dtype: DTypeLike | None = None) -> Init:
    r"""Builds an initializer that returns (scaled) identity matrices over the last two axes.

    For a shape ``(*batch, n, m)`` every ``(n, m)`` slice is

    .. math::

        W_{ij} = s\,\delta_{ij}, \qquad 0 \le i < n,\ 0 \le j < m,

    with :math:`s` = ``scale``: the identity when :math:`n = m`, ones on the main diagonal
    (:math:`\min(n, m)` of them) when rectangular. Leading axes are batch axes (stacked
    layers, heads), each holding the same matrix. Deterministic: the key is ignored. As an
    ``(in, out)`` Dense kernel, :math:`xW` copies the first :math:`\min(n, m)` inputs to the
    first outputs. Entries: :math:`s` on the diagonal, 0 elsewhere; the mean over one slice
    is :math:`s\min(n,m)/(nm)`.

    Equals PyTorch's ``eye_`` (2-D) times ``scale``, and Haiku's/Keras's ``Identity(gain)``
    (Haiku also broadcasts over leading axes). ``jax.nn.initializers`` has no identity.

    Args:
      scale: the diagonal value :math:`s` (any finite real; default 1).
      dtype: the initializer's default dtype (real or complex).

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)`` for shapes with at
      least 2 axes; a zero-size shape gives an empty array.

    Raises:
      ValueError: a non-finite ``scale``; at call time a shape with fewer than 2 axes, or a
        ``scale`` that overflows the dtype.
      TypeError: a non-real ``scale``.

    References:
      Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent Networks of Rectified Linear
      Units", arXiv:1504.00941, 2015 (identity recurrent kernels). PyTorch
      ``torch.nn.init.eye_``; Haiku ``hk.initializers.Identity``.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> w = jinit.identity(2.0)(jax.random.key(0), (4, 3, 3))   # 4 stacked 3x3 layers
      >>> w.shape, bool(jnp.all(w == 2.0 * jnp.eye(3)))
      ((4, 3, 3), True)
      >>> jinit.identity()(None, (2, 3))
      Array([[1., 0., 0.],
             [0., 1., 0.]], dtype=float32)
    """
    fn = "identity"
    scale = _checks.scalar(fn, "scale", scale, minimum=None)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _checks.rank(fn, "shape", shape, len(shape), 2,
                     "at least 2 axes (the last two form each matrix)",
                     "For a bias use jinit.zeros or jinit.ones.")
        _fits(fn, scale, dt)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        diag = _iota(shape, len(shape) - 2) == _iota(shape, len(shape) - 1)
        return _sampling.place(jnp.where(diag, _fill(scale, dt), jnp.zeros((), dt)), out_sharding)

    return Init(fn, body, {"scale": scale, "dtype": dtype}, dtype, keyed=False, check=check)


# ------------------------------------------------------------------------------ dirac


def _conv_rank(fn: str, shape: tuple[int, ...], dense_ok: bool = False) -> None:
    kinds = "a 1-, 2- or 3-D convolution kernel (*spatial, in, out), Flax HWIO"
    expected = (f"2 to 5 axes (a Dense kernel (in, out) or {kinds})" if dense_ok
                else f"3, 4 or 5 axes ({kinds})")
    _checks.rank(fn, "shape", shape, len(shape), (2,) + _CONV_RANKS if dense_ok else _CONV_RANKS,
                 expected, "For a PyTorch OIHW weight, build the HWIO kernel and convert it with "
                 "jinit.layouts.hwio_to_oihw.")


@public
@factory
def dirac(scale: float = 1.0, groups: int = 1, dtype: DTypeLike | None = None) -> Init:
    r"""Builds an initializer for identity ("Dirac delta") convolution kernels, Flax HWIO layout.

    For a kernel of shape ``(*spatial, c_in / groups, c_out)`` (a 1-, 2- or 3-D convolution
    with ``feature_group_count=groups``), the output channels split into ``groups`` blocks of
    :math:`o = c_\text{out}/\text{groups}`; within each block, output channel :math:`d` copies
    the block's input channel :math:`d`:

    .. math::

        W[\mathbf{c}, i, j] = \begin{cases} s & i = j \bmod o
        \ \text{and}\ \mathbf{c} = (\lfloor k_1/2 \rfloor, \ldots) \\ 0 & \text{otherwise,}
        \end{cases}

    with :math:`s` = ``scale``, :math:`i` the input-channel index within the group (``shape[-2]``)
    and :math:`j` the output channel. So ``W[centre, d, g*o + d] = s`` for
    :math:`d < \min(o, c_\text{in}/\text{groups})` — exactly PyTorch's ``dirac_(w, groups)`` on
    the transposed layout ``(c_out, c_in/groups, *spatial)``. When each group has as many
    inputs as outputs, the convolution with ``SAME`` padding returns ``s`` times its input.
    Deterministic: the key is ignored.

    Centre tap: index ``k // 2`` on each spatial axis, as PyTorch's ``dirac_``. For odd ``k`` it
    is the middle. For even ``k`` it is the later of the two middle taps, one after
    :func:`jinit.delta_orthogonal` (jax and TF use ``(k - 1) // 2``); since ``SAME`` padding (in
    jax and in PyTorch's ``padding="same"``) pads ``(k - 1) // 2`` before, an even kernel built
    here shifts the output by one position along that axis: ``y[n] = s * x[n + 1]``.

    Args:
      scale: the value :math:`s` of each copied tap (any finite real; default 1).
      groups: the convolution's ``feature_group_count``; must divide ``c_out``.
      dtype: the initializer's default dtype (real or complex).

    Returns:
      An initializer for 3-, 4- or 5-D HWIO kernels; a zero-size shape gives an empty array.

    Raises:
      ValueError: a non-finite ``scale``, ``groups < 1``; at call time a shape of another rank,
        ``c_out`` not divisible by ``groups``, or a ``scale`` that overflows the dtype.
      TypeError: a non-int ``groups`` or a non-real ``scale``.

    References:
      PyTorch ``torch.nn.init.dirac_``; Zagoruyko & Komodakis, "DiracNets: Training Very Deep
      Neural Networks Without Skip-Connections", arXiv:1706.00388, 2017.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> w = jinit.dirac()(jax.random.key(0), (3, 3, 8, 8))
      >>> x = jax.random.normal(jax.random.key(1), (2, 16, 16, 8))
      >>> y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
      ...                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
      >>> bool(jnp.allclose(x, y)), float(w.sum())
      (True, 8.0)
    """
    fn = "dirac"
    scale = _checks.scalar(fn, "scale", scale, minimum=None)
    groups = _checks.integer(fn, "groups", groups, 1)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _conv_rank(fn, shape)
        if shape[-1] % groups:
            raise _checks.fail(fn, "groups", groups,
                               f"does not divide the {shape[-1]} output channels of shape={shape}",
                               "a divisor of shape[-1]")
        _fits(fn, scale, dt)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        per_group = shape[-1] // groups
        i = _iota(shape, len(shape) - 2)
        j = _iota(shape, len(shape) - 1)
        hit = _at_centre(shape) & (i == j % per_group)
        return _sampling.place(jnp.where(hit, _fill(scale, dt), jnp.zeros((), dt)), out_sharding)

    return Init(fn, body, {"scale": scale, "groups": groups, "dtype": dtype}, dtype, keyed=False,
                check=check)


# --------------------------------------------------------------- ZerO: identity / Hadamard


@public
@factory
def hadamard_identity(normalization: str = "isometry", dtype: DTypeLike | None = None) -> Init:
    r"""Builds ZerO initialization (Zhao et al. 2022): deterministic identity / Hadamard kernels.

    The name says what it returns: a (partial) identity where a layer keeps or shrinks its
    width, a scaled Hadamard matrix where it widens. It is not :func:`jinit.zeros` (nor
    Flax's ``zeros_init()``): "ZerO" is the paper's name for a scheme that uses only zeros and
    ones up to one normalization constant. For a Dense kernel of shape ``(n_in, n_out)`` (used as :math:`y = xW`):

    .. math::

        W = \begin{cases}
          I_{n_\text{in} \times n_\text{out}} & n_\text{in} \ge n_\text{out}
            \quad\text{(identity / partial identity: } y = x_{1:n_\text{out}}) \\
          c\, H_m[{:}n_\text{in}, {:}n_\text{out}] & n_\text{in} < n_\text{out},
        \end{cases}
        \qquad m = \lceil \log_2 n_\text{out} \rceil,\ p = 2^m,

    where :math:`H_m` is the :math:`p \times p` Sylvester–Hadamard matrix,
    :math:`(H_m)_{ij} = (-1)^{\operatorname{popcount}(i \wedge j)}` (entries :math:`\pm 1`,
    :math:`H_m H_m^\top = p I`), and the constant depends on ``normalization``:

    * ``"isometry"`` (default): :math:`c = 2^{-m/2} = 1/\sqrt{p}`, the constant of the authors'
      reference code (``ZerO_Init_on_matrix``). :math:`H_m/\sqrt{p}` is orthogonal, so when
      :math:`n_\text{out} = p` is a power of two :math:`WW^\top = I` and
      :math:`\|xW\| = \|x\|` exactly; otherwise each row has squared norm
      :math:`n_\text{out}/p \in (1/2, 1]`.
    * ``"paper"``: :math:`c = 2^{-(m-1)/2} = \sqrt{2/p}`, the constant printed in the paper's
      Algorithm 1. It doubles the squared norm: :math:`WW^\top = 2I` and
      :math:`\|xW\|^2 = 2\|x\|^2` when :math:`n_\text{out} = p`; otherwise squared row norms
      are :math:`2 n_\text{out}/p \in (1, 2]`.

    The two coincide with the identity branch when :math:`n_\text{in} \ge n_\text{out}` (no
    constant). Convolution kernels ``(*spatial, c_in, c_out)`` (Flax HWIO) get this matrix at
    the spatial centre tap ``k // 2`` and zeros elsewhere (the paper's Algorithm 2, stated for
    odd ``k``; the centre convention is :func:`jinit.dirac`'s). Deterministic: the key is
    ignored. Every entry is :math:`0`, :math:`1` or :math:`\pm c`.

    Args:
      normalization: ``"isometry"`` (reference code, :math:`c = 1/\sqrt{p}`) or ``"paper"``
        (Algorithm 1, :math:`c = \sqrt{2/p}`).
      dtype: the initializer's default dtype (real or complex).

    Returns:
      An initializer for 2-D ``(in, out)`` kernels and 3-, 4- or 5-D HWIO convolution kernels;
      a zero-size shape gives an empty array.

    Raises:
      ValueError: an unknown ``normalization``; at call time a shape of rank 1 or above 5.

    References:
      Zhao, Schäfer & Anandkumar, "ZerO Initialization: Initializing Neural Networks with only
      Zeros and Ones", TMLR 2022, arXiv:2110.12661 (Algorithms 1 and 2); reference code
      https://github.com/jiaweizzhao/ZerO-initialization.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> key = jax.random.key(0)
      >>> w = jinit.hadamard_identity()(key, (16, 64))                   # expand 16 -> 64 = 2**6
      >>> bool(jnp.allclose(w @ w.T, jnp.eye(16))), sorted({float(abs(v)) for v in w.ravel()})
      (True, [0.125])
      >>> w = jinit.hadamard_identity("paper")(key, (16, 64))
      >>> bool(jnp.allclose(w @ w.T, 2 * jnp.eye(16), atol=1e-6))
      True
      >>> bool(jnp.array_equal(jinit.hadamard_identity()(key, (64, 16)), jnp.eye(64, 16)))
      True
    """
    fn = "hadamard_identity"
    _checks.choice(fn, "normalization", normalization, _ZERO_NORMALIZATIONS)

    def check(shape: tuple[int, ...], dt: np.dtype) -> None:
        _conv_rank(fn, shape, dense_ok=True)

    def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding) -> Array:
        n_in, n_out = shape[-2:]
        i = _iota(shape, len(shape) - 2)
        j = _iota(shape, len(shape) - 1)
        if n_in >= n_out:
            matrix = jnp.where(i == j, jnp.ones((), dt), jnp.zeros((), dt))
        else:
            p = 1 << (n_out - 1).bit_length()
            c = math.sqrt((1.0 if normalization == "isometry" else 2.0) / p)
            odd = (jax.lax.population_count(i & j) & 1) == 1
            matrix = jnp.where(odd, jnp.asarray(-c, dt), jnp.asarray(c, dt))
        if len(shape) > 2:
            matrix = jnp.where(_at_centre(shape), matrix, jnp.zeros((), dt))
        return _sampling.place(matrix, out_sharding)

    return Init(fn, body, {"normalization": normalization, "dtype": dtype}, dtype, keyed=False,
                check=check)
