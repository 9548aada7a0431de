"""PyTorch and Keras defaults as jinit initializers, on Flax layouts.

Every preset reproduces one framework's default *distribution* exactly (bounds, variance,
truncation, fan convention) on Flax's layouts — Dense kernels ``(in, out)`` and convolution
kernels HWIO ``(*spatial, in / groups, out)`` — so a Flax model can start where the PyTorch or
Keras model would. The random streams differ (PyTorch's generator is not JAX's), so values match
in law, not bit for bit; the tests compare against PyTorch itself by distribution and by fans.

PyTorch's layer defaults (``torch/nn/modules/linear.py``, ``conv.py``, ``sparse.py``):

=====================  ============================================  ===============================
layer                  weight                                        bias
=====================  ============================================  ===============================
``Linear``, ``Conv*``  ``kaiming_uniform_(a=√5)`` = U(±1/√fan_in)     U(±1/√fan_in), 0 if fan_in=0
``ConvTranspose*``     the same, with PyTorch's fan_in (see below)    the same
``Embedding``          N(0, 1)                                        —
=====================  ============================================  ===============================

Keras 3 defaults (``keras/src/layers``): ``Dense``/``Conv*`` kernels ``glorot_uniform``, biases
zeros, ``Embedding`` ``RandomUniform(-0.05, 0.05)``.

Fan conventions: PyTorch computes ``fan_in = w.shape[1] * prod(w.shape[2:])`` on its stored
weight. A ``Conv`` weight is ``(out, in / groups, *k)``, so fan_in = (in/groups)·∏k — the same
number jax's rule gives on the Flax kernel. A ``ConvTranspose`` weight is stored
``(in, out / groups, *k)``, so PyTorch's "fan_in" counts **output** channels:
``ConvTranspose2d(16, 4, 3)`` gets fan_in = 4·9 = 36, not 16·9. :func:`torch_fans` returns
PyTorch's fans for each layer kind; :func:`torch_conv_transpose_kernel` applies the convention
to Flax ``ConvTranspose`` kernels. Moving PyTorch weights into Flax is :mod:`jinit.layouts`.

PyTorch's ``torch.nn.init`` functions, one factory each (PyTorch's parameter names and defaults;
the tensor argument becomes the initializer's ``shape``; weights are on Flax's layouts, so
PyTorch's ``(out, in)`` weight is ``(in, out)`` here, as :mod:`jinit.layouts` converts it):

===========================================  ===============================  ========================================
``torch.nn.init``                            jinit                            note
===========================================  ===============================  ========================================
``uniform_(a=0, b=1)``                       ``torch_uniform(a, b)``          U[a, b)
``normal_(mean=0, std=1)``                   ``torch_normal(mean, std)``      untruncated
``trunc_normal_(mean, std, a, b)``           ``torch_trunc_normal``           absolute bounds
``constant_(val)``                           ``torch_constant(val)``          ``jinit.constant(val)``
``ones_``                                    ``torch_ones()``
``zeros_``                                   ``torch_zeros()``                same object as ``keras_bias``
``eye_``                                     ``torch_eye()``                  ``jinit.identity(1.0)``
``dirac_(groups=1)``                         ``torch_dirac(groups)``          ``jinit.dirac(1.0, groups)``, HWIO
``xavier_uniform_(gain=1)``                  ``torch_xavier_uniform(gain)``
``xavier_normal_(gain=1)``                   ``torch_xavier_normal(gain)``    untruncated
``kaiming_uniform_(a, mode, nonlinearity)``  ``torch_kaiming_uniform``        PyTorch's defaults
``kaiming_normal_(a, mode, nonlinearity)``   ``torch_kaiming_normal``         untruncated
``orthogonal_(gain=1)``                      ``torch_orthogonal(gain)``       ``jinit.orthogonal(gain)``
``sparse_(sparsity, std=0.01)``              ``torch_sparse(sparsity, std)``  same object as ``jinit.sparse_outgoing``
``calculate_gain``                           ``jinit.calculate_gain``         the same table
===========================================  ===============================  ========================================

Identical presets are one object under two names: ``torch_conv_kernel`` is
``torch_linear_kernel``, ``torch_conv_bias`` is ``torch_linear_bias``, ``keras_conv_kernel`` is
``keras_dense_kernel``, ``torch_zeros`` is ``keras_bias``, ``torch_sparse`` is
``jinit.sparse_outgoing``.
"""

from .._base import public
from ._keras import keras_bias as keras_bias
from ._keras import keras_conv_kernel as keras_conv_kernel
from ._keras import keras_dense_kernel as keras_dense_kernel
from ._keras import keras_embedding as keras_embedding
from ._keras import keras_random_normal as keras_random_normal
from ._keras import keras_random_uniform as keras_random_uniform
from ._keras import keras_truncated_normal as keras_truncated_normal
from ._torch import torch_conv_bias as torch_conv_bias
from ._torch import torch_conv_kernel as torch_conv_kernel
from ._torch import torch_conv_transpose_kernel as torch_conv_transpose_kernel
from ._torch import torch_embedding as torch_embedding
from ._torch import torch_fans as torch_fans
from ._torch import torch_linear_bias as torch_linear_bias
from ._torch import torch_linear_kernel as torch_linear_kernel
from ._torch_init import torch_kaiming_normal as torch_kaiming_normal
from ._torch_init import torch_kaiming_uniform as torch_kaiming_uniform
from ._torch_init import torch_normal as torch_normal
from ._torch_init import torch_trunc_normal as torch_trunc_normal
from ._torch_init import torch_uniform as torch_uniform
from ._torch_init import torch_xavier_normal as torch_xavier_normal
from ._torch_init import torch_xavier_uniform as torch_xavier_uniform
from ._torch_structured import torch_constant as torch_constant
from ._torch_structured import torch_dirac as torch_dirac
from ._torch_structured import torch_eye as torch_eye
from ._torch_structured import torch_ones as torch_ones
from ._torch_structured import torch_orthogonal as torch_orthogonal
from ._torch_structured import torch_sparse as torch_sparse

torch_zeros = keras_bias

__all__ = [
    "keras_bias",
    "keras_conv_kernel",
    "keras_dense_kernel",
    "keras_embedding",
    "keras_random_normal",
    "keras_random_uniform",
    "keras_truncated_normal",
    "torch_constant",
    "torch_conv_bias",
    "torch_conv_kernel",
    "torch_conv_transpose_kernel",
    "torch_dirac",
    "torch_embedding",
    "torch_eye",
    "torch_fans",
    "torch_kaiming_normal",
    "torch_kaiming_uniform",
    "torch_linear_bias",
    "torch_linear_kernel",
    "torch_normal",
    "torch_ones",
    "torch_orthogonal",
    "torch_sparse",
    "torch_trunc_normal",
    "torch_uniform",
    "torch_xavier_normal",
    "torch_xavier_uniform",
    "torch_zeros",
]

# Reprs and docs show the public path; objects that are top-level jinit schemes keep theirs.
for _name in __all__:
    _obj = globals()[_name]
    if _obj.__module__.startswith("jinit.presets."):
        public("jinit.presets")(_obj)
del _name, _obj
