r"""Laws that are not one value at a time: orthogonal matrices, isometries, exact arrays."""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Orthogonal:
    r""":math:`sQ`, :math:`Q` Haar on the Stiefel manifold of the matrix view of the shape.

    The view has :math:`n` = ``shape[column_axis]`` columns and :math:`m = \prod/n` rows;
    columns orthonormal when :math:`m \ge n`, rows otherwise (unitary for complex dtypes).
    """

    scale: float = 1.0
    column_axis: int = -1
    kind = "orthogonal"

    def view(self, shape: tuple[int, ...]) -> tuple[int, int]:
        n = shape[self.column_axis]
        return math.prod(shape) // n, n

    def second_moment_for(self, shape: tuple[int, ...]) -> float:
        m, n = self.view(shape)
        return self.scale ** 2 * min(m, n) / (m * n)


@dataclasses.dataclass(frozen=True)
class DeltaOrthogonal:
    r"""Zero off the centre tap ``(k - 1) // 2``; the centre ``(c_in, c_out)`` block is :math:`sH`, :math:`H` Haar."""

    scale: float = 1.0
    column_axis: int = -1
    centre: str = "lower"  # "lower": (k - 1) // 2 (jax, TF); "upper": k // 2 (PyTorch dirac_)
    kind = "delta_orthogonal"

    def centre_index(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.centre == "lower":
            return tuple((k - 1) // 2 for k in shape[:-2])
        return tuple(k // 2 for k in shape[:-2])

    def second_moment_for(self, shape: tuple[int, ...]) -> float:
        c_in, c_out = shape[-2:]
        return self.scale ** 2 * min(c_in, c_out) / math.prod(shape)


@dataclasses.dataclass(frozen=True)
class ConvIsometry:
    r"""A kernel whose circular convolution is :math:`s` times an isometry.

    For HWIO taps :math:`W[\mathbf{c}]` the symbol :math:`\hat W(\omega) = \sum_\mathbf{c}
    W[\mathbf{c}] e^{-i\omega\cdot\mathbf{c}}` satisfies :math:`\hat W(\omega)\hat W(\omega)^H =
    s^2 I` at every frequency; checked on the DFT grid of ``grid`` points per spatial axis.
    """

    scale: float = 1.0
    grid: int = 8
    kind = "conv_isometry"

    def second_moment_for(self, shape: tuple[int, ...]) -> float:
        c_in, c_out = shape[-2:]
        return self.scale ** 2 * c_in / math.prod(shape)


@dataclasses.dataclass(frozen=True, eq=False)
class Exact:
    """A deterministic array (any key gives the same), compared within ``ulps`` units of the dtype."""

    value: np.ndarray
    ulps: float = 0.0
    kind = "exact"

    @property
    def second_moment(self) -> float:
        return float(np.mean(np.abs(self.value) ** 2)) if self.value.size else 0.0
