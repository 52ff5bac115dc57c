"""Lorenz-96 with 40 variables, F = 8: the standard check that assimilation methods are tuned right.

Sakov & Oke's (2008) set-up as DAPPER states it: RK4 at dt = 0.05, every variable observed
every 0.05 with unit noise (R = I). Published analysis RMSEs there: square-root EnKF (N = 24)
0.18, 3D-Var 0.41, optimal interpolation 0.95, climatology 3.6. The scale knobs thin the
observations (``sensors``, regularly spaced or at random places), raise their noise, or space
them further apart in time (``interval``: model steps per cycle).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import ParameterError, at_least, knob
from parity.numerics import lorenz96
from parity.problems.assimilation import LAYOUTS, AssimilationProblem, Protocol, sensor_indices

DT = 0.05
SPIN_UP_STEPS = 2000
"""100 time units from a perturbed rest state F: onto the attractor (its leading Lyapunov time is about 0.6)."""
CLIMATOLOGY_CYCLES = 20_000


@dataclasses.dataclass(frozen=True)
class Lorenz96(AssimilationProblem):
    name: ClassVar[str] = "lorenz96"
    protocol: ClassVar[Protocol] = "filter"
    description: ClassVar[str] = "Lorenz-96 (40 variables, F = 8) assimilation: Sakov 2008's set-up, sensors and noise as knobs"

    size: int = knob(40, "state variables on the ring", "integer >= 4", at_least(4))
    forcing: float = knob(8.0, "forcing F (8: chaotic, about 13 positive Lyapunov exponents at 40 variables)", "number > 0", lambda f: f > 0)
    sensors: int = knob(40, "observed variables (all: Sakov's set-up)", "integer between 1 and size", at_least(0))
    layout: str = knob("regular", "where the sensors sit: equally spaced, or a fixed random subset", " | ".join(LAYOUTS),
                       lambda value: value in LAYOUTS)
    noise: float = knob(1.0, "observation noise standard deviation (R = noise^2 I)", "number > 0", lambda s: s > 0)
    interval: int = knob(1, "RK4 steps of dt = 0.05 between observations", "integer >= 1", at_least(1))
    cycles: int = knob(1000, "observation cycles per experiment", "integer >= 2", at_least(2))
    burn_in: int = knob(200, "first cycles left out of the score (the filters' spin-up from the climatology)", "integer >= 0",
                        at_least(0))
    n_validation: int = knob(4, "validation experiments (methods tune on them)", "integer >= 1", at_least(1))
    n_test: int = knob(4, "test experiments", "integer >= 1", at_least(1))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sensors > self.size:
            raise ParameterError(f"{self.name}: sensors = {self.sensors} exceeds the {self.size} state variables; "
                                 f"allowed: an integer between 1 and {self.size}")
        self._check_observed()
        if not self.burn_in < self.cycles:
            raise ParameterError(f"{self.name}: burn_in = {self.burn_in} leaves no cycle to score out of cycles = {self.cycles}; "
                                 "allowed: burn_in < cycles")

    @property
    def state_size(self) -> int:
        return self.size

    @property
    def observed_cycles(self) -> int:
        return self.cycles

    @property
    def spin_up_cycles(self) -> int:
        """The first half of the unscored burn-in."""
        return self.burn_in // 2

    def observed(self) -> np.ndarray:
        return sensor_indices(self.sensors, self.size, self.layout, 7)

    def model_step(self, x: Float[Array, "... n"]) -> Float[Array, "... n"]:
        return lorenz96.advance(x, self.interval, DT, self.forcing, jnp)

    def truth_run(self, rng: np.random.Generator) -> Float[np.ndarray, "k n"]:
        return self._run(self._attractor_state(rng), self.cycles)

    def prior_moments(self) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, "n n"]]:
        """The climatology: mean and covariance of a free run of 20 000 cycles on the attractor."""
        states = self._run(self._attractor_state(np.random.default_rng([0, self.size])), CLIMATOLOGY_CYCLES)
        return states.mean(axis=0), np.cov(states, rowvar=False)

    def score(self, estimates: Float[np.ndarray, "m k n"], truths: Float[np.ndarray, "m k n"]) -> dict[str, float]:
        """rmse: the mean over experiments and over cycles after ``burn_in`` of the spatial RMSE (DAPPER's rmse.a)."""
        spatial = np.sqrt(np.mean((np.asarray(estimates) - truths) ** 2, axis=-1))
        return {"rmse": float(np.mean(spatial[:, self.burn_in:]))}

    def _run(self, x: Float[np.ndarray, " n"], cycles: int) -> Float[np.ndarray, "k n"]:
        """The states at the ``cycles`` observation times after ``x`` (float64)."""
        states = np.empty((cycles, self.size))
        for k in range(cycles):
            x = lorenz96.advance(x, self.interval, DT, self.forcing, np)
            states[k] = x
        return states

    def _attractor_state(self, rng: np.random.Generator) -> Float[np.ndarray, " n"]:
        x = self.forcing + rng.standard_normal(self.size)
        return lorenz96.advance(x, SPIN_UP_STEPS, DT, self.forcing, np)
