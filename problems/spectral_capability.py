"""Capabilities of problems that a Fourier pseudo-spectral solver can march in time.

A pseudo-spectral solver needs the equation's data (viscosity, initial value), not a
residual: these interfaces give it, the way :class:`parity.problems.base.AcousticWave`
does for finite differences. Both equations are periodic in space; the final time is
the upper bound of the problem's time axis.
"""

from __future__ import annotations

import abc

import numpy as np
from jaxtyping import Complex, Float


class PeriodicBurgers1D(abc.ABC):
    """u_t + u u_x = nu u_xx on the periodic interval [a, b) from u(x, 0) = u0(x).

    A problem posed with Dirichlet values may implement this when its solution is also
    the periodic one (e.g. an odd, periodic initial value, whose symmetry the equation
    keeps, vanishes at both ends for all time).
    """

    @property
    @abc.abstractmethod
    def viscosity(self) -> float:
        """nu."""

    @property
    @abc.abstractmethod
    def period_interval(self) -> tuple[float, float]:
        """(a, b): the solution is (b - a)-periodic."""

    @abc.abstractmethod
    def initial_value(self, x: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
        """u0 at x, float64."""


class PeriodicVorticity2D(abc.ABC):
    """w_t + u . grad w = nu lap w on [0, 2 pi)^2, u = (psi_y, -psi_x), lap psi = -w."""

    @property
    @abc.abstractmethod
    def viscosity(self) -> float:
        """nu."""

    @property
    @abc.abstractmethod
    def initial_band(self) -> int:
        """Largest |kx|, |ky| of the initial vorticity: grids need n > 3 initial_band (2/3 rule)."""

    @abc.abstractmethod
    def initial_coefficients(self, n: int) -> Complex[np.ndarray, "n h"]:
        """w(x, y, 0) as rFFT coefficients on an n x n grid, divided by n^2 (band-limited below n / 3)."""

    @property
    @abc.abstractmethod
    def snapshot_times(self) -> tuple[float, ...]:
        """Times at which solutions are compared (equally spaced, the last one is T)."""
