r"""Activations the suite propagates signals through, and Gaussian expectations of them.

Each activation has a float64 numpy form (for mean-field predictions by quadrature) and a
jax form (for the networks), written here from their definitions:

.. math::

    \mathbb{E}[f(\sqrt{q}\,z)] = \int f(\sqrt{q}\,z)\,\varphi(z)\,dz, \qquad z \sim \mathcal{N}(0, 1),

by composite Simpson's rule on :math:`[-12, 0]` and :math:`[0, 12]` (the kinks of ReLU-like
functions sit at 0, a node, so the rule stays accurate to ~1e-12). Each half evaluates its end
at 0 as a one-sided limit (at :math:`\mp` the smallest normal float), so a jump at 0, as in
the derivative of ReLU, is integrated exactly too. This rule is kept apart from
:mod:`jinit._quadrature` on purpose: the suite's predictions must not reuse the code it checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _real

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _np_selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def _np_elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _np_sigmoid(x):
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# name -> (numpy float64 form, jax form)
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "relu": (lambda x: np.maximum(x, 0.0), jax.nn.relu),
    "tanh": (np.tanh, jnp.tanh),
    "gelu": (lambda x: x * _real.ndtr(x), lambda x: jax.nn.gelu(x, approximate=False)),
    "selu": (_np_selu, jax.nn.selu),
    "elu": (_np_elu, jax.nn.elu),
    "silu": (lambda x: x * _np_sigmoid(x), jax.nn.silu),
    "sigmoid": (_np_sigmoid, jax.nn.sigmoid),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: jax.nn.leaky_relu(x, 0.01)),
    "softplus": (lambda x: np.logaddexp(0.0, x), jax.nn.softplus),
    "linear": (lambda x: x, lambda x: x),
}

_NODES = 4000  # Simpson intervals per half-line


def _simpson_weights() -> tuple[np.ndarray, np.ndarray]:
    z = np.linspace(0.0, 12.0, _NODES + 1)
    w = np.ones(_NODES + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    w *= (z[1] - z[0]) / 3.0 * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.concatenate([-z[::-1], z]), np.concatenate([w[::-1], w])


_Z, _W = _simpson_weights()
_ZERO_LEFT, _ZERO_RIGHT = _NODES, _NODES + 1  # the two copies of z = 0, ends of the halves
_TINY = float(np.finfo(np.float64).tiny)


def gauss(f: Callable[[np.ndarray], np.ndarray], q: float = 1.0) -> float:
    r""":math:`\mathbb{E}[f(\sqrt{q}\,z)]`, :math:`z \sim \mathcal{N}(0, 1)`."""
    x = math.sqrt(q) * _Z
    x[_ZERO_LEFT], x[_ZERO_RIGHT] = -_TINY, _TINY
    return float(np.sum(_W * f(x)))


def derivative(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The numpy derivative of a named activation (central differences where no closed form)."""
    f = ACTIVATIONS[name][0]
    closed = {
        "relu": lambda x: (x > 0).astype(np.float64),
        "tanh": lambda x: 1.0 / np.cosh(x) ** 2,
        "gelu": lambda x: _real.ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
        "selu": lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))),
        "elu": lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
        "leaky_relu": lambda x: np.where(x > 0, 1.0, 0.01),
        "linear": lambda x: np.ones_like(x),
    }
    if name in closed:
        return closed[name]
    h = 1e-5
    return lambda x: (f(x + h) - f(x - h)) / (2 * h)


def forward_scale(name: str) -> float:
    r""":math:`1/\mathbb{E}[\phi(z)^2]`: the weight variance times fan-in that keeps :math:`q = 1` fixed."""
    return 1.0 / gauss(lambda x: ACTIVATIONS[name][0](x) ** 2)
