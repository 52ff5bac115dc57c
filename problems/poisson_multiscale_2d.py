"""The multilevel FBPINN paper's 2D multi-scale Poisson problem (Dolean et al., CMAME 2024).

    -laplace(u) = f on [0, 1]^2,  u = 0 on the boundary,
    u = (1/n) sum_{i=1..n} sin(w_i pi x) sin(w_i pi y),  w_i = 2^i.

The scale knob is the number of components n: each adds a frequency twice as high, so
the solution spans scales from 1/2 to 2^-n of the domain at once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import at_least, knob
from parity.problems.base import DirichletPoisson, ForwardProblem, PointwiseFn
from parity.problems.derivatives import second_partial
from parity.problems.unit_square import bubble, square_grid

_TEST_SEED = 20_241_171  # fixed, and unrelated to any training seed


@dataclasses.dataclass(frozen=True)
class MultiScalePoisson2D(ForwardProblem, DirichletPoisson):
    name: ClassVar[str] = "poisson_multiscale_2d"
    description: ClassVar[str] = "-lap u = f on [0,1]^2, u = mean_i sin(2^i pi x) sin(2^i pi y), u = 0 on the boundary (Dolean et al. 2024)"
    in_dim: ClassVar[int] = 2
    out_dim: ClassVar[int] = 1

    n_components: int = knob(4, "components with w_i = 2^i, i = 1..n (scale knob)", "integer in 1..8", lambda n: 1 <= n <= 8)
    n_test: int = knob(10_000, "number of held-out test points", "integer >= 10", at_least(10))

    @property
    def frequencies(self) -> tuple[int, ...]:
        return tuple(2**i for i in range(1, self.n_components + 1))

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 2"], Float[np.ndarray, " 2"]]:
        return np.zeros(2), np.ones(2)

    @property
    def residual_scale(self) -> float:
        return 2.0 * (max(self.frequencies) * math.pi) ** 2 / self.n_components

    def solution(self, x: Sequence[Any], xp: ModuleType) -> Any:
        """The exact solution, for any array module (numpy, jax.numpy, ufl)."""
        terms = [xp.sin(w * xp.pi * x[0]) * xp.sin(w * xp.pi * x[1]) for w in self.frequencies]
        return sum(terms) / self.n_components

    def poisson_source(self, x: Sequence[Any], xp: ModuleType) -> Any:
        terms = [2 * (w * xp.pi) ** 2 * xp.sin(w * xp.pi * x[0]) * xp.sin(w * xp.pi * x[1]) for w in self.frequencies]
        return sum(terms) / self.n_components

    def dirichlet_value(self, x: Sequence[Any], xp: ModuleType) -> Any:
        return 0.0 * x[0]

    def residual(self, u: PointwiseFn, x: Float[Array, "n 2"]) -> Float[Array, "n 1"]:
        _, _, u_xx = second_partial(u, x, 0)
        _, _, u_yy = second_partial(u, x, 1)
        return u_xx + u_yy + self.poisson_source((x[:, 0:1], x[:, 1:2]), jnp)

    def ansatz(self, x: Float[Array, "n 2"], raw: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        return bubble(x) * raw  # zero on the boundary exactly

    def reference(self, x: Float[np.ndarray, "n 2"]) -> Float[np.ndarray, "n 1"]:
        return self.solution((x[:, 0], x[:, 1]), np)[:, None]

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 2"]:
        return square_grid(n)

    def test_points(self) -> Float[np.ndarray, "m 2"]:
        return np.random.default_rng(_TEST_SEED).uniform(0.0, 1.0, (self.n_test, 2))
