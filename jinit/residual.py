r"""Depth-aware initialization of residual networks without normalization.

Three schemes that let a deep residual network train without BatchNorm/LayerNorm:

* **Fixup** (Zhang, Dauphin & Ma 2019): zero the last layer of every residual branch and
  the classifier, He-initialize the other branch layers scaled by
  :math:`L^{-1/(2m-2)}` (:math:`L` branches of :math:`m` layers), and add a scalar
  multiplier (init 1) per branch and scalar biases (init 0) before each layer and
  activation. :func:`fixup`, :func:`fixup_inits`.
* **T-Fixup** (Huang, Perez, Ba & Volkovs 2020): the scalings of a Transformer without
  LayerNorm. :func:`tfixup`, :func:`tfixup_embedding`.
* **SkipInit / ReZero** (De & Smith 2020; Bachlechner et al. 2020): a learnable scalar
  :math:`\alpha`, initialized to 0, multiplies each residual branch,
  :math:`x_{l+1} = x_l + \alpha_l F_l(x_l)`. :func:`rezero`, :func:`skipinit`.

Why Fixup scales by :math:`L^{-1/(2m-2)}`: after one SGD step of size :math:`\eta`, each
branch changes the output by a term proportional to the squared norm of its last hidden
activation, which carries the product of the :math:`m-1` scaled layers' variances,
:math:`(L^{-1/(m-1)})^{m-1} = 1/L`; summed over :math:`L` branches the change is
:math:`\Theta(\eta)` at every depth. With only the last layers zeroed it is
:math:`\Theta(L\eta)`.

Example:
  A Fixup residual MLP block in Flax linen (L blocks of m = 2 layers):

  >>> import jax, jax.numpy as jnp, flax.linen as nn, jinit
  >>> inits = jinit.residual.fixup_inits(num_branches=16, layers_per_branch=2)
  >>> class Block(nn.Module):
  ...     @nn.compact
  ...     def __call__(self, x):
  ...         bias = lambda name: self.param(name, inits.bias, ())
  ...         h = nn.Dense(x.shape[-1], use_bias=False, kernel_init=inits.branch)(x + bias("b1"))
  ...         h = nn.relu(h + bias("b2"))
  ...         h = nn.Dense(x.shape[-1], use_bias=False, kernel_init=inits.last)(h + bias("b3"))
  ...         return x + self.param("scale", inits.multiplier, ()) * h
  >>> x = jnp.ones((2, 32))
  >>> params = Block().init(jax.random.key(0), x)
  >>> y = Block().apply(params, x)
  >>> bool(jnp.all(y == x))          # every branch starts as the identity
  True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from . import _checks
from ._base import Init, factory
from ._constant import constant, ones, zeros
from ._typing import DISTRIBUTIONS, DTypeLike
from ._variance import variance_scaling_init

__all__ = ["FixupInits", "fixup", "fixup_inits", "rezero", "skipinit", "tfixup",
           "tfixup_embedding"]

_PARTS = ("encoder", "decoder")


@factory
def fixup(num_branches: int, layers_per_branch: int, *, scale: float = 2.0,
          distribution: str = "normal", in_axis: int | Sequence[int] = -2,
          out_axis: int | Sequence[int] = -1, batch_axis: int | Sequence[int] = (),
          dtype: DTypeLike | None = None) -> Init:
    r"""Builds the Fixup initializer of a residual branch's layers other than the last.

    He initialization scaled by :math:`L^{-1/(2m-2)}` in standard deviation:

    .. math::

        w \sim \mathcal{N}\!\left(0,\ \frac{s}{n_i}\, L^{-1/(m-1)}\right)

    with :math:`L` = ``num_branches`` (residual branches in the network), :math:`m` =
    ``layers_per_branch`` (:math:`m \ge 2`), :math:`s` = ``scale`` (2, He, for ReLU) and
    :math:`n_i` the fan-in (:func:`jinit.compute_fans`). The last layer of each branch and
    the classifier start at zero (``jinit.zeros``); see :func:`fixup_inits` for the whole
    recipe. Equals ``jinit.variance_scaling(s * L ** (-1 / (m - 1)), "fan_in",
    distribution)``.

    Args:
      num_branches: :math:`L \ge 1`.
      layers_per_branch: :math:`m \ge 2`, the layers in each branch (2 for a basic block, 3
        for a bottleneck).
      scale: :math:`s`, the He variance multiplier (default 2).
      distribution: ``"normal"`` (default, as in the paper), ``"truncated_normal"`` or
        ``"uniform"``; all have the variance above.
      in_axis, out_axis, batch_axis: fan axes as in :func:`jinit.variance_scaling`.
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: :math:`L < 1`, :math:`m < 2` (the exponent needs :math:`m \ge 2`), a
        negative ``scale`` or an unknown ``distribution``.
      TypeError: non-int counts.

    References:
      Zhang, Dauphin & Ma, "Fixup Initialization: Residual Learning Without
      Normalization", ICLR 2019, arXiv:1901.09321, §3.

    Example:
      >>> import jax, jinit
      >>> w = jinit.residual.fixup(16, 2)(jax.random.key(0), (256, 256))
      >>> bool(abs(w.var() * 256 / (2 / 16) - 1) < 0.02)   # variance 2 / (n L)
      True
    """
    fn = "residual.fixup"
    L = _checks.integer(fn, "num_branches", num_branches, 1)
    m = _checks.integer(fn, "layers_per_branch", layers_per_branch, 2)
    _checks.scalar(fn, "scale", scale)
    _checks.choice(fn, "distribution", distribution, DISTRIBUTIONS)
    params = {"num_branches": num_branches, "layers_per_branch": layers_per_branch,
              "scale": scale, "distribution": distribution, "dtype": dtype}
    return variance_scaling_init(fn, float(scale) * L ** (-1.0 / (m - 1)), "fan_in",
                                 distribution, in_axis, out_axis, batch_axis, dtype, params)


class FixupInits(NamedTuple):
    """The initializers of one Fixup network (see :func:`fixup_inits`).

    Attributes:
      branch: every layer of a residual branch except the last (:func:`fixup`).
      last: the last layer of each branch: zeros.
      classifier: the final fully connected layer (weights and bias): zeros.
      bias: the scalar biases before each layer and activation: zeros.
      multiplier: the scalar multiplier of each branch: ones.
    """

    branch: Init
    last: object
    classifier: object
    bias: object
    multiplier: object


def fixup_inits(num_branches: int, layers_per_branch: int, *, scale: float = 2.0,
                distribution: str = "normal", dtype: DTypeLike | None = None) -> FixupInits:
    r"""All the initializers of a Fixup network, by the three rules of the paper.

    1. The classification layer and the last layer of each residual branch start at 0.
    2. The other layers start from He initialization, standard deviation scaled by
       :math:`L^{-1/(2m-2)}` (:func:`fixup`).
    3. Each branch gets a scalar multiplier (init 1) applied to its output, and a scalar
       bias (init 0) before each convolution/linear layer and each activation.

    .. math::

        x_{l+1} = x_l + c_l\, W_m^{(l)}\bigl(\phi(\cdots\phi(W_1^{(l)}(x_l + a_1) + a_2)
        \cdots) + a_{2m-1}\bigr), \qquad W_m^{(l)} = 0,\ c_l = 1,\ a_j = 0

    The paper also adds a bias after each branch's multiplier; its first update is not
    scaled by depth, so the helpers leave it out (add ``bias`` there to follow the paper
    to the letter).

    Args:
      num_branches: :math:`L \ge 1`, the number of residual branches.
      layers_per_branch: :math:`m \ge 2`.
      scale: the He variance multiplier (default 2, for ReLU).
      distribution: the distribution of :attr:`FixupInits.branch`.
      dtype: the default dtype of :attr:`FixupInits.branch`.

    Returns:
      A :class:`FixupInits` of initializers (``last``, ``classifier``, ``bias`` are
      ``jinit.zeros``, ``multiplier`` is ``jinit.ones``).

    Raises:
      ValueError, TypeError: as :func:`fixup`.

    References:
      Zhang, Dauphin & Ma, "Fixup Initialization: Residual Learning Without
      Normalization", ICLR 2019, arXiv:1901.09321, §3.

    Example:
      >>> import jax, jinit
      >>> inits = jinit.residual.fixup_inits(8, 3)
      >>> inits.branch
      jinit.residual.fixup(num_branches=8, layers_per_branch=3, scale=2.0, distribution='normal', dtype=None)
      >>> float(inits.multiplier(jax.random.key(0), ())), float(inits.last(None, (2, 2)).sum())
      (1.0, 0.0)
    """
    branch = fixup(num_branches, layers_per_branch, scale=scale, distribution=distribution,
                   dtype=dtype)
    return FixupInits(branch=branch, last=zeros, classifier=zeros, bias=zeros, multiplier=ones)


@factory
def rezero(value: float = 0.0, dtype: DTypeLike | None = None) -> Init:
    r"""The initializer of a ReZero/SkipInit residual scalar: the constant :math:`\alpha_0 = 0`.

    .. math::

        x_{l+1} = x_l + \alpha_l\, F_l(x_l), \qquad \alpha_l \leftarrow \alpha_0 = 0

    Every branch starts switched off, so the network is the identity at initialization
    and each :math:`\alpha_l` is learned. ReZero (Bachlechner et al.) uses this with no
    normalization at all; SkipInit (De & Smith) uses the same zero-initialized scalar to
    replace BatchNorm. Pass ``value`` for a small non-zero start.

    Args:
      value: :math:`\alpha_0` (default 0).
      dtype: the initializer's default dtype.

    Returns:
      ``jinit.constant(value, dtype)``: use it for the scalar parameter, shape ``()``.

    Raises:
      ValueError, TypeError: as :func:`jinit.constant`.

    References:
      Bachlechner, Majumder, Mao, Cottrell & McAuley, "ReZero is All You Need: Fast
      Convergence at Large Depth", UAI 2021, arXiv:2003.04887. De & Smith, "Batch
      Normalization Biases Residual Blocks Towards the Identity Function in Deep
      Networks", NeurIPS 2020, arXiv:2002.10444.

    Example:
      >>> import jax, jinit
      >>> alpha = jinit.residual.rezero()(jax.random.key(0), ())
      >>> alpha.shape, float(alpha)
      ((), 0.0)
    """
    return constant(value, dtype)


skipinit = rezero


def _tfixup_factor(part: str, num_layers: int) -> float:
    # Huang et al. 2020, Algorithm 1: decoder (9N)^(-1/4), encoder 0.67 N^(-1/4).
    return (9.0 * num_layers) ** -0.25 if part == "decoder" else 0.67 * num_layers ** -0.25


@factory
def tfixup(num_layers: int, part: str = "encoder", *, in_axis: int | Sequence[int] = -2,
           out_axis: int | Sequence[int] = -1, batch_axis: int | Sequence[int] = (),
           dtype: DTypeLike | None = None) -> Init:
    r"""Builds the T-Fixup initializer of a Transformer's value, attention-output and MLP weights.

    Xavier (Glorot) uniform scaled by :math:`g` in standard deviation:

    .. math::

        w \sim \mathcal{U}\!\left(-g\sqrt{\tfrac{6}{n_i + n_o}},\
        g\sqrt{\tfrac{6}{n_i + n_o}}\right), \qquad
        \operatorname{Var}[w] = g^2\, \frac{2}{n_i + n_o}, \qquad
        g = \begin{cases} 0.67\, N^{-1/4} & \text{encoder} \\
                          (9N)^{-1/4} & \text{decoder} \end{cases}

    with :math:`N` = ``num_layers`` (layers of the encoder, or of the decoder) and fans from
    :func:`jinit.compute_fans`. Use it for the value projection :math:`v`, the attention
    output projection :math:`w` and both MLP weights of every block of that part; the
    query and key projections keep plain Xavier (``jinit.glorot_uniform()``), and the input
    embeddings use :func:`tfixup_embedding`. The network has no LayerNorm and needs no
    learning-rate warmup. For a fused QKV kernel, give the value slice this initializer
    (the authors' code multiplies a fused kernel's gain by :math:`\sqrt{2}` to undo the
    fused fans).

    Args:
      num_layers: :math:`N \ge 1`.
      part: ``"encoder"`` or ``"decoder"``.
      in_axis, out_axis, batch_axis: fan axes as in :func:`jinit.variance_scaling`.
      dtype: the initializer's default dtype.

    Returns:
      An initializer ``init(key, shape, dtype=dtype, out_sharding=None)``.

    Raises:
      ValueError: :math:`N < 1` or an unknown ``part``.
      TypeError: a non-int ``num_layers``.

    References:
      Huang, Perez, Ba & Volkovs, "Improving Transformer Optimization Through Better
      Initialization", ICML 2020, Algorithm 1 (steps 2 and 3).

    Example:
      >>> import jax, jinit
      >>> w = jinit.residual.tfixup(6, "decoder")(jax.random.key(0), (512, 512))
      >>> bound = (9 * 6) ** -0.25 * (6 / 1024) ** 0.5
      >>> bool(abs(w).max() <= bound), bool(abs(w.var() / (bound ** 2 / 3) - 1) < 0.02)
      (True, True)
    """
    fn = "residual.tfixup"
    n = _checks.integer(fn, "num_layers", num_layers, 1)
    _checks.choice(fn, "part", part, _PARTS)
    g = _tfixup_factor(part, n)
    params = {"num_layers": num_layers, "part": part, "dtype": dtype}
    return variance_scaling_init(fn, g * g, "fan_avg", "uniform", in_axis, out_axis,
                                 batch_axis, dtype, params)


@factory
def tfixup_embedding(num_layers: int, *, dtype: DTypeLike | None = None) -> Init:
    r"""Builds the T-Fixup initializer of a token-embedding table of shape ``(vocab, d)``.

    .. math::

        E_{ij} \sim \mathcal{N}\!\left(0,\ \frac{(9N)^{-1/2}}{d}\right)

    a Gaussian of standard deviation :math:`d^{-1/2}` (the embedding init of the authors'
    code) scaled by :math:`(9N)^{-1/4}`, with :math:`N` = ``num_layers`` of the part that
    reads the embedding and :math:`d` the embedding dimension (the last axis). The paper
    applies the same factor to encoder and decoder embeddings.

    Args:
      num_layers: :math:`N \ge 1`.
      dtype: the initializer's default dtype.

    Returns:
      An initializer for 2-axis ``(vocab, d)`` tables (``nn.Embed``'s layout).

    Raises:
      ValueError: :math:`N < 1`; at call time, a shape without 2 axes.
      TypeError: a non-int ``num_layers``.

    References:
      Huang, Perez, Ba & Volkovs, "Improving Transformer Optimization Through Better
      Initialization", ICML 2020, Algorithm 1 (steps 1 and 2).

    Example:
      >>> import jax, jinit
      >>> e = jinit.residual.tfixup_embedding(6)(jax.random.key(0), (1000, 512))
      >>> bool(abs(e.var() * 512 * (9 * 6) ** 0.5 - 1) < 0.02)
      True
    """
    fn = "residual.tfixup_embedding"
    n = _checks.integer(fn, "num_layers", num_layers, 1)
    params = {"num_layers": num_layers, "dtype": dtype}
    # (vocab, d): fan_out = d with out_axis=-1, so Var = (9N)^(-1/2) / d.
    return variance_scaling_init(fn, (9.0 * n) ** -0.5, "fan_out", "normal", -2, -1, (),
                                 dtype, params)
