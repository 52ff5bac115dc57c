"""Viscous Burgers' equation in 1D (Raissi et al. 2019's PINN benchmark).

    u_t + u u_x = nu u_xx on [-1, 1] x [0, T],  u(x, 0) = -sin(pi x),  u(+-1, t) = 0.

The scale knob is the viscosity nu (Reynolds number ~ 1 / nu): the solution steepens
into a shock at x = 0 whose width shrinks like nu. The reference is exact, by the
Cole-Hopf transform: u = -2 nu (log phi)_x, with phi the heat-equation solution from
phi(x, 0) = exp(-(1 - cos(pi x)) / (2 pi nu)), i.e. a Gaussian convolution. The
convolutions are done in log space (the weights span e^(1/(pi nu))), by the trapezoidal
rule on a grid fine enough for the kernel, which is spectrally accurate here because
the integrands are smooth and decay to round-off inside the grid.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy.special import logsumexp

from parity.cache import cached_arrays
from parity.evaluation import Evaluator
from parity.knobs import at_least, knob, positive
from parity.problems.base import ForwardProblem, PointwiseFn
from parity.problems.derivatives import second_partial
from parity.problems.halton import halton
from parity.problems.spectral_capability import PeriodicBurgers1D

_TEST_SEED = 20_241_173
_COLLOCATION_SEED = 7


@dataclasses.dataclass(frozen=True)
class Burgers1D(ForwardProblem, PeriodicBurgers1D):
    name: ClassVar[str] = "burgers_1d"
    description: ClassVar[str] = "u_t + u u_x = nu u_xx on [-1,1] x [0,T], u(x,0) = -sin(pi x), u(+-1,t) = 0 (Raissi et al. 2019); Cole-Hopf reference"
    in_dim: ClassVar[int] = 2
    out_dim: ClassVar[int] = 1
    time_axis: ClassVar[int | None] = 1

    nu: float = knob(0.01 / math.pi, "viscosity (scale knob; Reynolds number ~ 1 / nu)", "number in [1e-4, 1]", lambda v: 1e-4 <= v <= 1)
    duration: float = knob(1.0, "final time T", "number > 0", positive)
    n_test: int = knob(10_000, "number of held-out test points", "integer >= 10", at_least(10))
    quadrature_points: int = knob(4000, "trapezoidal nodes per unit of the Cole-Hopf integrals' variable", "integer >= 100", at_least(100))

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 2"], Float[np.ndarray, " 2"]]:
        return np.array([-1.0, 0.0]), np.array([1.0, self.duration])

    @property
    def viscosity(self) -> float:
        return self.nu

    @property
    def period_interval(self) -> tuple[float, float]:
        """-sin(pi x) is odd and 2-periodic, and so is u for all t: u(+-1, t) = 0 is the periodic solution's."""
        return -1.0, 1.0

    def initial_value(self, x: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
        return -np.sin(np.pi * x)

    @property
    def residual_scale(self) -> float:
        return 1.0 / math.sqrt(self.nu)  # |u u_x| across the shock ~ 1 / width, width ~ sqrt(nu) early on

    def residual(self, u: PointwiseFn, x: Float[Array, "n 2"]) -> Float[Array, "n 1"]:
        value, u_x, u_xx = second_partial(u, x, 0)
        _, u_t, _ = second_partial(u, x, 1)
        return u_t + value * u_x - self.nu * u_xx

    def ansatz(self, x: Float[Array, "n 2"], raw: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        # Initial and boundary values exactly: -sin(pi x) at t = 0, and 0 at x = +-1 for every t.
        return -jnp.sin(jnp.pi * x[:, 0:1]) + x[:, 1:2] * (1.0 - x[:, 0:1] ** 2) * raw

    def evaluator(self) -> Evaluator:
        """The base's, with the test points' reference cached on disk by the parameters: the quadrature takes seconds."""
        x_test = self.test_points()
        u_ref = cached_arrays(f"{self.name}-reference", self.params(), lambda: {"u": self.reference(x_test)})["u"]
        return Evaluator(x_test, u_ref, self.compared_outputs, self.extra_metrics)

    def reference(self, x: Float[np.ndarray, "n 2"]) -> Float[np.ndarray, "n 1"]:
        order = np.argsort(x[:, 1], kind="stable")  # chunks of similar times share one quadrature grid
        values = np.empty(len(x))
        for chunk in np.array_split(order, max(1, len(x) // 500)):
            values[chunk] = self._cole_hopf(x[chunk])
        return values[:, None]

    def _cole_hopf(self, x: Float[np.ndarray, "n 2"]) -> Float[np.ndarray, " n"]:
        """u = -int sin(pi (x - s)) w(s) ds / int w(s) ds, w = exp(-cos(pi (x - s)) / (2 pi nu) - s^2 / (4 nu t)).

        The weight's exponent, (-cos(pi (x - s)) / (2 pi) - s^2 / (4 t)) / nu, peaks where
        s = t sin(pi (x - s)), so at |s| <= t: the nodes span that, plus 10 kernel widths at
        the chunk's latest time (not the kernel alone: at small nu the peak lies many kernel
        widths from s = 0), and are spaced at most a third of the kernel width at its
        earliest time (the trapezoidal rule on a Gaussian is then accurate to e^-170).
        """
        early = x[:, 1] > 0
        values = -np.sin(np.pi * x[:, 0])  # t = 0: the initial condition
        if not early.any():
            return values
        position, time = x[early, 0:1], x[early, 1:2]
        reach = float(time.max()) + 10.0 * math.sqrt(4.0 * self.nu * float(time.max()))
        spacing = min(1.0 / self.quadrature_points, math.sqrt(2.0 * self.nu * float(time.min())) / 3.0)
        s = np.linspace(-reach, reach, int(math.ceil(2 * reach / spacing)) + 1)[None, :]
        log_weight = -np.cos(np.pi * (position - s)) / (2 * np.pi * self.nu) - s**2 / (4 * self.nu * time)
        numerator, sign = logsumexp(log_weight, b=np.sin(np.pi * (position - s)), axis=1, return_sign=True)
        values[early] = -sign * np.exp(numerator - logsumexp(log_weight, axis=1))
        return values

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 2"]:
        """n points of a scrambled Halton sequence over (x, t).

        Not a regular grid: the shock is narrower than a grid spacing, and a network can
        place a steep front between two grid columns without the residual seeing it.
        """
        lower, upper = self.bounds
        return halton(2, n, rng=_COLLOCATION_SEED) * (upper - lower) + lower

    def test_points(self) -> Float[np.ndarray, "m 2"]:
        rng = np.random.default_rng(_TEST_SEED)
        return np.c_[rng.uniform(-1.0, 1.0, self.n_test), rng.uniform(0.0, self.duration, self.n_test)]
