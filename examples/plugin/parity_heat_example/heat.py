"""The 1D heat equation with an exact solution, a forward problem written against parity.api.

    u_t = kappa u_xx on [0, 1] x [0, 1],  u(0, t) = u(1, t) = 0,  u(x, 0) = sin(k pi x),
    exact u = exp(-kappa (k pi)^2 t) sin(k pi x).

The scale knob is k, the half-waves across the rod: gradients grow like k, the decay like k^2.
"""

from __future__ import annotations

import dataclasses
import math
from types import ModuleType
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy.stats import qmc

from parity.api import ForwardProblem, PointwiseFn, at_least, knob, partial, positive, second_partial


@dataclasses.dataclass(frozen=True)
class Heat1D(ForwardProblem):
    name: ClassVar[str] = "heat_1d"
    description: ClassVar[str] = "u_t = kappa u_xx on [0,1] x [0,1], u = 0 at both ends, u(x,0) = sin(k pi x); exact solution"
    in_dim: ClassVar[int] = 2  # (x, t)
    out_dim: ClassVar[int] = 1
    time_axis: ClassVar[int | None] = 1

    modes: int = knob(2, "half-waves k of the initial value across the rod (scale knob)", "integer >= 1", at_least(1))
    kappa: float = knob(0.05, "diffusivity", "finite number > 0", positive)
    n_test: int = knob(4000, "held-out random test points", "integer >= 10", at_least(10))

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 2"], Float[np.ndarray, " 2"]]:
        return np.zeros(2), np.ones(2)

    @property
    def residual_scale(self) -> float:
        return self.kappa * (self.modes * math.pi) ** 2  # the decay rate: u_t's size at t = 0

    def initial_value(self, x: Any, xp: ModuleType = np) -> Any:
        return xp.sin(self.modes * xp.pi * x)

    def residual(self, u: PointwiseFn, x: Float[Array, "n 2"]) -> Float[Array, "n 1"]:
        _, u_t = partial(u, x, 1)
        _, _, u_xx = second_partial(u, x, 0)
        return u_t - self.kappa * u_xx

    def ansatz(self, x: Float[Array, "n 2"], raw: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        # The initial value, plus a term that vanishes at t = 0 and at both ends: the conditions hold exactly.
        return self.initial_value(x[:, :1], jnp) + 4 * x[:, :1] * (1 - x[:, :1]) * x[:, 1:] * raw

    def reference(self, x: Float[np.ndarray, "n 2"]) -> Float[np.ndarray, "n 1"]:
        return (np.exp(-self.residual_scale * x[:, 1]) * self.initial_value(x[:, 0]))[:, None]

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 2"]:
        return qmc.Halton(2, scramble=False).random(n)  # deterministic: runs differ only by their seed

    def test_points(self) -> Float[np.ndarray, "m 2"]:
        return np.random.default_rng(20_261_206).uniform(0.0, 1.0, (self.n_test, 2))
