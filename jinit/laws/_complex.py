r"""Circular laws on the complex plane: a uniform phase and a modulus law, in closed form.

A complex initializer draws :math:`w = |w|e^{i\theta}` with :math:`\theta` uniform and
independent of :math:`|w|`; each law gives the CDF and quantiles of :math:`|w|` and the
moments :math:`\mathbb{E}|w|^2`, :math:`\mathbb{E}|w|^4` the checks compare against.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


class ComplexLaw:
    r"""A circular law on :math:`\mathbb{C}`: uniform phase, a modulus law, moments of :math:`|w|^2`."""

    kind = "complex"
    max_modulus: float = math.inf

    def modulus_cdf(self, r: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def modulus_ppf(self, p: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def modulus_moments(self) -> tuple[float, float]:  # pragma: no cover - abstract
        """``(E|w|^2, E|w|^4)``."""
        raise NotImplementedError

    @property
    def second_moment(self) -> float:
        return self.modulus_moments()[0]

    @property
    def variance(self) -> float:
        return self.modulus_moments()[0]

    mean = 0.0


@dataclasses.dataclass(frozen=True)
class ComplexNormal(ComplexLaw):
    r"""Circular complex normal, :math:`\mathbb{E}|w|^2 = v`: :math:`|w|^2 \sim v\cdot\mathrm{Exp}(1)`."""

    var: float

    def modulus_cdf(self, r):
        r = np.asarray(r, np.float64)
        return np.where(r > 0, -np.expm1(-(r * r) / self.var), 0.0)

    def modulus_ppf(self, p):
        return np.sqrt(-self.var * np.log1p(-np.asarray(p, np.float64)))

    def modulus_moments(self):
        return self.var, 2 * self.var ** 2


@dataclasses.dataclass(frozen=True)
class ComplexDisk(ComplexLaw):
    r"""Uniform on the disk of radius :math:`R`: :math:`P(|w| \le r) = r^2/R^2`."""

    radius: float

    @property
    def max_modulus(self):  # type: ignore[override]
        return self.radius

    def modulus_cdf(self, r):
        return np.clip(np.asarray(r, np.float64) / self.radius, 0.0, 1.0) ** 2

    def modulus_ppf(self, p):
        return self.radius * np.sqrt(np.asarray(p, np.float64))

    def modulus_moments(self):
        return self.radius ** 2 / 2, self.radius ** 4 / 3


@dataclasses.dataclass(frozen=True)
class ComplexTruncatedNormal(ComplexLaw):
    r"""Circular normal (:math:`\mathbb{E}|z|^2 = \sigma^2` before truncation), :math:`|w| \le c\sigma`.

    :math:`|w|^2/\sigma^2 \sim \mathrm{Exp}(1)` conditioned on :math:`\le T = c^2`;
    :math:`\int_0^T x^k e^{-x}dx = k!\,(1 - e^{-T}\sum_{j \le k} T^j/j!)`.
    """

    std: float
    upper: float = 2.0

    @property
    def max_modulus(self):  # type: ignore[override]
        return self.upper * self.std

    def modulus_cdf(self, r):
        t = self.upper ** 2
        x = np.clip((np.asarray(r, np.float64) / self.std) ** 2, 0.0, t)
        return -np.expm1(-x) / -math.expm1(-t)

    def modulus_ppf(self, p):
        t = self.upper ** 2
        return self.std * np.sqrt(-np.log1p(np.asarray(p, np.float64) * math.expm1(-t)))

    def modulus_moments(self):
        t = self.upper ** 2

        def partial(k: int) -> float:
            return math.factorial(k) * (1 - math.exp(-t) * sum(t ** j / math.factorial(j)
                                                                 for j in range(k + 1)))

        z = partial(0)
        return self.std ** 2 * partial(1) / z, self.std ** 4 * partial(2) / z


@dataclasses.dataclass(frozen=True)
class ComplexHaarEntry(ComplexLaw):
    r"""One coordinate of :math:`s\,u`, :math:`u` uniform on the unit sphere of :math:`\mathbb{C}^d`.

    :math:`|u_1|^2 \sim \mathrm{Beta}(1, d-1)`: :math:`P(|w| \le r) = 1 - (1 - r^2/s^2)^{d-1}`;
    :math:`\mathbb{E}|u_1|^2 = 1/d`, :math:`\mathbb{E}|u_1|^4 = 2/(d(d+1))`.
    """

    dim: int
    scale: float = 1.0

    @property
    def max_modulus(self):  # type: ignore[override]
        return abs(self.scale)

    def modulus_cdf(self, r):
        t = np.clip((np.asarray(r, np.float64) / self.scale) ** 2, 0.0, 1.0)
        return 1.0 - (1.0 - t) ** (self.dim - 1) if self.dim > 1 else (t >= 1.0) * 1.0

    def modulus_ppf(self, p):
        p = np.asarray(p, np.float64)
        return abs(self.scale) * np.sqrt(1.0 - (1.0 - p) ** (1.0 / max(self.dim - 1, 1)))

    def modulus_moments(self):
        d, s2 = self.dim, self.scale ** 2
        return s2 / d, 2 * s2 * s2 / (d * (d + 1))


@dataclasses.dataclass(frozen=True)
class ComplexZeroInflated(ComplexLaw):
    """0 with probability :math:`p`, else the circular law ``base`` (phase checked on non-zeros)."""

    base: ComplexLaw
    zero_fraction: float
    zeros_per: tuple[int, int] | None = None

    @property
    def max_modulus(self):  # type: ignore[override]
        return self.base.max_modulus

    def modulus_cdf(self, r):
        r = np.asarray(r, np.float64)
        p = self.zero_fraction
        return np.where(r >= 0, p + (1 - p) * self.base.modulus_cdf(r), 0.0)

    def modulus_ppf(self, p):
        return self.base.modulus_ppf(p)

    def modulus_moments(self):
        m2, m4 = self.base.modulus_moments()
        return (1 - self.zero_fraction) * m2, (1 - self.zero_fraction) * m4
