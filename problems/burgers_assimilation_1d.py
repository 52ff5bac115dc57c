"""Burgers' equation on the circle: the initial state from sparse noisy sensors, then a forecast.

    u_t + u u_x = nu u_xx   on [0, 2 pi), periodic,

from an initial state drawn from a Gaussian prior (every Fourier mode 1 <= k < n / 2 of the
grid, standard deviation 1 / k^2 each for the cosine and the sine: a smooth field whose
covariance has full rank but for the mean, which is zero), so the prior every method is given
is the one the truths come from. The truth runs on the problem's grid with the pseudo-spectral
scheme (2/3 dealiasing, ETDRK4, float64); methods get the same scheme in float32 as their
model (a perfect-model experiment: no modelling gap between the truth and any method's model).
Sensors at fixed grid points observe u every ``interval`` over the first ``window`` cycles
(cycle 0 is t = 0) with Gaussian noise; the estimate covers the window and ``forecast``
cycles after it.

Scores: :class:`~parity.problems.assimilation.WindowAssimilation`'s (the window's and the
forecast's RMSE, the initial and the last state's relative L2 error).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import ParameterError, at_least, knob
from parity.numerics.spectral import burgers_nonlinear, dealias_mask, etdrk4_coefficients, etdrk4_step
from parity.problems.assimilation import LAYOUTS, PeriodicPDE1D, WindowAssimilation, sensor_indices

PERIOD = 2 * math.pi
DECAY = 2.0
"""Prior mode k's standard deviation is k^-DECAY: |u0| of about 1, slopes of about 1.3, fronts steepening by t ~ 1."""
SPEED = 5.0
"""The speed in the CFL rule: above max |u0| for all but a vanishing share of prior draws (max |u| cannot grow)."""
CFL = 0.4


@dataclasses.dataclass(frozen=True)
class BurgersAssimilation1D(WindowAssimilation, PeriodicPDE1D):
    name: ClassVar[str] = "burgers_assimilation_1d"
    period: ClassVar[float] = PERIOD
    description: ClassVar[str] = "Burgers 1D: the initial state from sparse noisy sensors over a window, then a forecast"

    nu: float = knob(0.05, "viscosity (scale knob: smaller is steeper fronts)", "number in [0.01, 1]", lambda v: 0.01 <= v <= 1)
    grid: int = knob(128, "grid points of the state (and of the truth)", "even integer >= 32", lambda n: n >= 32 and n % 2 == 0)
    sensors: int = knob(16, "observed grid points", "integer between 1 and grid", at_least(0))
    layout: str = knob("regular", "where the sensors sit: equally spaced, or a fixed random subset", " | ".join(LAYOUTS),
                       lambda value: value in LAYOUTS)
    noise: float = knob(0.05, "observation noise standard deviation", "number > 0", lambda s: s > 0)
    interval: float = knob(0.1, "time between observation cycles", "number in (0, 1]", lambda t: 0 < t <= 1)
    window: int = knob(10, "observed cycles (cycle 0 is t = 0)", "integer >= 1", at_least(1))
    forecast: int = knob(10, "cycles forecast after the window and scored", "integer >= 0", at_least(0))
    n_validation: int = knob(2, "validation experiments (methods tune on them)", "integer >= 1", at_least(1))
    n_test: int = knob(4, "test experiments", "integer >= 1", at_least(1))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sensors > self.grid:
            raise ParameterError(f"{self.name}: sensors = {self.sensors} exceeds the {self.grid} grid points; "
                                 f"allowed: an integer between 1 and {self.grid}")
        self._check_observed()

    @property
    def state_size(self) -> int:
        return self.grid

    @property
    def x(self) -> Float[np.ndarray, " n"]:
        return PERIOD * np.arange(self.grid) / self.grid

    def observed(self) -> np.ndarray:
        return sensor_indices(self.sensors, self.grid, self.layout, 11)

    def model_step(self, x: Float[Array, "... n"]) -> Float[Array, "... n"]:
        return _march(self.grid, self.nu, self.interval, jnp.float32)(x)

    def truth_run(self, rng: np.random.Generator) -> Float[np.ndarray, "k n"]:
        u = self.prior_sample(rng)
        with jax.enable_x64(True):
            step = _march(self.grid, self.nu, self.interval, jnp.float64)
            states = [u]
            for _ in range(self.scored_cycles - 1):
                states.append(np.asarray(step(jnp.asarray(states[-1]))))
        return np.stack(states)

    @property
    def modes(self) -> Float[np.ndarray, " k"]:
        return np.arange(1, self.grid // 2)

    def prior_sample(self, rng: np.random.Generator) -> Float[np.ndarray, " n"]:
        """u0 = sum_k (a_k cos kx + b_k sin kx) k^-DECAY, a_k and b_k standard normal."""
        k = self.modes
        a, b = rng.standard_normal((2, len(k)))
        return (np.cos(np.outer(self.x, k)) @ (a * k**-DECAY)) + (np.sin(np.outer(self.x, k)) @ (b * k**-DECAY))

    def prior_moments(self) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, "n n"]]:
        """Mean zero; covariance sum_k cos(k (x_i - x_j)) k^(-2 DECAY), exactly that of :meth:`prior_sample`."""
        gap = self.x[:, None] - self.x[None, :]
        return np.zeros(self.grid), np.cos(gap[..., None] * self.modes) @ self.modes ** (-2 * DECAY)

    def pde_residual(self, u: Array, u_t: Array, u_x: Array, u_xx: Array) -> Array:
        return u_t + u * u_x - self.nu * u_xx

    @property
    def residual_scale(self) -> float:
        """|u u_x|: the prior's field scale times its slope scale."""
        return self.field_scale * float(np.sqrt(np.sum(self.modes ** (2 - 2 * DECAY))))

    @property
    def field_scale(self) -> float:
        return float(np.sqrt(np.sum(self.modes ** (-2 * DECAY))))


@functools.lru_cache(maxsize=8)
def _march(n: int, nu: float, interval: float, dtype: type) -> Callable[[Array], Array]:
    """One cycle of the pseudo-spectral scheme on grid values (batched), at the CFL step for :data:`SPEED`."""
    steps = math.ceil(interval / (CFL * PERIOD / n / SPEED))
    k = np.fft.rfftfreq(n, 1.0 / n)
    real = np.float32 if dtype == jnp.float32 else np.float64  # NumPy constants: this may first run inside a trace
    coefficients = tuple(c.astype(real) for c in etdrk4_coefficients(-nu * k**2, interval / steps))
    keep = dealias_mask(n, 1)
    step = etdrk4_step(burgers_nonlinear(n, (1j * k).astype(np.complex64 if real == np.float32 else np.complex128)), coefficients)

    def cycle(u: Array) -> Array:
        v = jnp.where(keep, jnp.fft.rfft(u.astype(dtype), axis=-1), 0)
        return jnp.fft.irfft(jax.lax.fori_loop(0, steps, lambda _, w: step(w), v), n, axis=-1).astype(dtype)

    return jax.jit(cycle)
