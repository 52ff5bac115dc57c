"""2D Helmholtz with a Gaussian source in a sound-soft square cavity (after Dolean et al. 2024).

    -laplace(u) - k^2 u = f on [0, 1]^2,  u = 0 on the boundary,
    f = A exp(-|x - (1/2, 1/2)|^2 / (2 sigma^2)).

The scale knob is the wavenumber k: the solution oscillates with wavelength 2 pi / k
around a source of fixed width sigma. (The multilevel FBPINN paper narrows the source
with k; here sigma stays below 0.067 so that the Gaussian vanishes to 1e-12 on the
boundary, which the exact series reference needs.) The amplitude A is chosen so that
max |u| = 1, which keeps the PINN losses O(1) at every k.

The reference is the Dirichlet eigenfunction expansion of the exact solution: the
Gaussian is separable, so its sine coefficients are products of 1D integrals done by
Gauss-Legendre quadrature, and the series converges like exp(-(m pi sigma)^2 / 2). It is
exact to round-off and shares no code with the finite-element solver it judges.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import ParameterError, at_least, knob
from parity.problems.base import DirichletPoisson, ForwardProblem, PointwiseFn
from parity.problems.derivatives import second_partial
from parity.problems.unit_square import bubble, square_grid

_TEST_SEED = 20_241_172
_MIN_SPECTRAL_GAP = 1.0
"""Smallest allowed |pi^2 (m^2 + n^2) - k^2|: closer to an eigenvalue the cavity resonates."""


@dataclasses.dataclass(frozen=True)
class Helmholtz2D(ForwardProblem, DirichletPoisson):
    name: ClassVar[str] = "helmholtz_2d"
    description: ClassVar[str] = "-lap u - k^2 u = Gaussian source on [0,1]^2, u = 0 on the boundary (Dolean et al. 2024); reference by eigenfunction series"
    in_dim: ClassVar[int] = 2
    out_dim: ClassVar[int] = 1

    k: float = knob(15.0, "wavenumber (scale knob); wavelength 2 pi / k", "number in (0, 400], away from the cavity's resonances", lambda k: 0 < k <= 400)
    source_sigma: float = knob(0.05, "standard deviation of the Gaussian source", "number in (0, 0.067]", lambda s: 0 < s <= 0.067)
    n_test: int = knob(10_000, "number of held-out test points", "integer >= 10", at_least(10))

    def __post_init__(self) -> None:
        super().__post_init__()
        (m, n), gap = self._nearest_resonance()
        if gap < _MIN_SPECTRAL_GAP:
            raise ParameterError(
                f"{self.name}: parameter 'k' = {self.k!r} is within {gap:.3g} of the cavity eigenvalue "
                f"pi^2 ({m}^2 + {n}^2) = {math.pi**2 * (m * m + n * n):.6g} (the solution is resonant); "
                f"allowed: k with |pi^2 (m^2 + n^2) - k^2| >= {_MIN_SPECTRAL_GAP} for all m, n >= 1"
            )

    def _nearest_resonance(self) -> tuple[tuple[int, int], float]:
        top = int(self.k / math.pi) + 2
        modes = np.arange(1, top + 1)
        gaps = np.abs(_eigenvalues(modes) - self.k**2)
        m, n = np.unravel_index(np.argmin(gaps), gaps.shape)
        return (int(modes[m]), int(modes[n])), float(gaps[m, n])

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 2"], Float[np.ndarray, " 2"]]:
        return np.zeros(2), np.ones(2)

    @property
    def residual_scale(self) -> float:
        return self.k**2 + 2 * math.pi**2  # |lap u| ~ k^2 |u| with max |u| = 1

    def wavenumber_squared(self) -> float:
        return self.k**2

    def poisson_source(self, x: Sequence[Any], xp: ModuleType) -> Any:
        r2 = (x[0] - 0.5) ** 2 + (x[1] - 0.5) ** 2
        return self._amplitude * xp.exp(-r2 / (2 * self.source_sigma**2))

    def dirichlet_value(self, x: Sequence[Any], xp: ModuleType) -> Any:
        return 0.0 * x[0]

    def residual(self, u: PointwiseFn, x: Float[Array, "n 2"]) -> Float[Array, "n 1"]:
        value, _, u_xx = second_partial(u, x, 0)
        _, _, u_yy = second_partial(u, x, 1)
        return u_xx + u_yy + self.k**2 * value + self.poisson_source((x[:, 0:1], x[:, 1:2]), jnp)

    def ansatz(self, x: Float[Array, "n 2"], raw: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        return bubble(x) * raw  # zero on the boundary exactly

    def reference(self, x: Float[np.ndarray, "n 2"]) -> Float[np.ndarray, "n 1"]:
        return self._amplitude * self._unit_source_solution(x)

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 2"]:
        return square_grid(n)

    def test_points(self) -> Float[np.ndarray, "m 2"]:
        return np.random.default_rng(_TEST_SEED).uniform(0.0, 1.0, (self.n_test, 2))

    @functools.cached_property
    def _series(self) -> tuple[Float[np.ndarray, " M"], Float[np.ndarray, "M M"]]:
        """Mode numbers and solution coefficients for the source with A = 1."""
        count = int(math.ceil(14.0 / (math.pi * self.source_sigma))) + 8  # exp(-(m pi sigma)^2 / 2) < 1e-40 beyond
        modes = np.arange(1, count + 1)
        nodes, weights = np.polynomial.legendre.leggauss(2 * count + 200)
        s = 0.5 * (nodes + 1.0)
        gaussian = np.exp(-((s - 0.5) ** 2) / (2 * self.source_sigma**2))
        coefficients_1d = 2.0 * (0.5 * weights * gaussian) @ np.sin(np.pi * np.outer(s, modes))  # 2 int_0^1 g sin(m pi s) ds
        return modes, np.outer(coefficients_1d, coefficients_1d) / (_eigenvalues(modes) - self.k**2)

    def _unit_source_solution(self, x: Float[np.ndarray, "n 2"]) -> Float[np.ndarray, "n 1"]:
        modes, coefficients = self._series
        sin_x = np.sin(np.pi * np.outer(x[:, 0], modes))
        sin_y = np.sin(np.pi * np.outer(x[:, 1], modes))
        return np.einsum("nm,nm->n", sin_x @ coefficients, sin_y)[:, None]

    @functools.cached_property
    def _amplitude(self) -> float:
        axis = np.linspace(0.0, 1.0, 201)
        grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
        return 1.0 / float(np.max(np.abs(self._unit_source_solution(grid))))


def _eigenvalues(modes: np.ndarray) -> np.ndarray:
    """pi^2 (m^2 + n^2): the Dirichlet Laplacian's eigenvalues on the unit square, for all pairs of ``modes``."""
    return math.pi**2 * (modes[:, None] ** 2 + modes[None, :] ** 2)
