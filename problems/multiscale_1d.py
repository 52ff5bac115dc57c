"""The 1D multi-scale ODE of the FBPINN paper (Moseley et al., Adv. Comput. Math. 2023).

    du/dx = w1 cos(w1 x) + w2 cos(w2 x),  u(0) = 0,  x in [-2 pi, 2 pi],
    exact u = sin(w1 x) + sin(w2 x).

w2 is the scale knob: the number of wavelengths across the domain grows with it, which
is what makes a single global PINN spectrally biased and slow to converge.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import at_least, knob, positive
from parity.problems.base import ForwardProblem, PointwiseFn, SourceODE1D
from parity.problems.derivatives import partial

_TEST_SEED = 20_231_062  # fixed, and unrelated to any training seed


@dataclasses.dataclass(frozen=True)
class MultiScale1D(ForwardProblem, SourceODE1D):
    name: ClassVar[str] = "multiscale_1d"
    description: ClassVar[str] = "du/dx = w1 cos(w1 x) + w2 cos(w2 x), u(0) = 0 on [-2pi, 2pi] (FBPINN paper)"
    in_dim: ClassVar[int] = 1
    out_dim: ClassVar[int] = 1

    omega1: float = knob(1.0, "low frequency w1", "finite number > 0", positive)
    omega2: float = knob(15.0, "high frequency w2 (scale knob)", "finite number > 0", positive)
    half_width: float = knob(2 * math.pi, "domain is [-half_width, half_width]", "finite number > 0", positive)
    n_test: int = knob(5000, "number of held-out test points", "integer >= 10", at_least(10))

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 1"], Float[np.ndarray, " 1"]]:
        return np.array([-self.half_width]), np.array([self.half_width])

    @property
    def residual_scale(self) -> float:
        return max(self.omega1, self.omega2)

    @property
    def anchor(self) -> tuple[float, float]:
        return 0.0, 0.0

    def source(self, x: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
        w1, w2 = self.omega1, self.omega2
        return w1 * np.cos(w1 * x) + w2 * np.cos(w2 * x)

    def residual(self, u: PointwiseFn, x: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        w1, w2 = self.omega1, self.omega2
        _, du = partial(u, x, 0)
        return du - (w1 * jnp.cos(w1 * x) + w2 * jnp.cos(w2 * x))

    def ansatz(self, x: Float[Array, "n 1"], raw: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        # u(0) = 0 exactly; tanh(w2 x) rises over one short wavelength (FBPINN paper).
        return jnp.tanh(self.omega2 * x) * raw

    def reference(self, x: Float[np.ndarray, "n 1"]) -> Float[np.ndarray, "n 1"]:
        return np.sin(self.omega1 * x) + np.sin(self.omega2 * x)

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 1"]:
        return np.linspace(-self.half_width, self.half_width, n)[:, None]

    def test_points(self) -> Float[np.ndarray, "m 1"]:
        # Uniform random, sorted: disjoint (with probability one) from any regular grid.
        rng = np.random.default_rng(_TEST_SEED)
        return np.sort(rng.uniform(-self.half_width, self.half_width, self.n_test))[:, None]
