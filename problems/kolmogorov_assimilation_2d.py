"""Kolmogorov flow from sparse noisy velocity sensors: the vorticity over a window, then a forecast (Frerix et al. 2021).

    w_t + u . grad w = nu lap w - 0.1 w - 4 cos(4 y),   -lap psi = w,   u = (psi_y, -psi_x)   on [0, 2 pi)^2,

the forced, damped flow of :mod:`parity.problems.kolmogorov_2d` at Frerix et al.'s viscosity
nu = 1e-2 on their 64^2 grid, stepped at Kochkov's CFL rule (dt = 0.5 h / 7, jax-cfd's stable
step). A truth starts from a random vorticity burnt in for ``burn_in`` time units onto the
attractor, then is observed every ``steps_per_cycle`` steps (Frerix: 25) over ``window`` cycles
(Frerix: 10 snapshots), at every ``stride``-th grid point along each axis (Frerix: 16, so 16 of
4096 points; 4 is the denser setting where the flow is well constrained), through the velocity
(u and v at each sensor) or the vorticity, with Gaussian noise. Every method estimates the
vorticity at each cycle of the window and of the ``forecast`` cycles after it.

The model every method gets is the truth's own pseudo-spectral scheme (ETDRK4, 2/3 dealiasing)
on the same grid in float32 (the truth runs in float64): a perfect-model experiment.

The prior is the climatology (free runs on the attractor from a seed stream of their own): its
mean is the time- and x-averaged vorticity profile in y (the flow is statistically homogeneous
in x), its covariance that of a statistically homogeneous field with the anomalies' measured
spectrum, E |w'_k|^2 for every wavevector (the "spectral" background covariance of variational
assimilation; the forcing makes the true anomalies slightly inhomogeneous in y). Its square
root is known exactly (the circulant matrix with spectrum |w'_k|), so no Cholesky factor of a
4096 x 4096 matrix is needed.

Measured (2-core CPU, nu = 1e-2, 64^2): the vorticity's rms is about 3.7 and the velocity's 0.85
(max |u| about 4); the vorticity's correlation with itself falls to 0.97 after one cycle of 25
steps (0.175 time units), to 0.65 after 5 and to 0.39 after 10, so a 10-cycle window spans about
one decorrelation time. Scores: ``rmse`` of the vorticity over the window, ``forecast_rmse``
over the forecast, ``initial_rel_l2`` and ``final_rel_l2`` (t = 0 and the last forecast cycle),
and ``final_correlation``, the vorticity correlation at the last forecast cycle.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.cache import cached_arrays
from parity.knobs import ParameterError, at_least, knob
from parity.numerics import kolmogorov
from parity.numerics.forced_vorticity import resize
from parity.numerics.spectral import dealias_mask, velocity_2d
from parity.problems.assimilation import VorticityWindow2D, WindowAssimilation
from parity.problems.kolmogorov_2d import CFL, MAX_SPEED, correlation, random_vorticity

GRIDS = (32, 64, 128)
OBSERVABLES = ("velocity", "vorticity")
CLIMATOLOGY_RUNS = 4
CLIMATOLOGY_SPACING = 0.5
"""Time between the climatology's samples (about a third of the flow's decorrelation time)."""


@dataclasses.dataclass(frozen=True)
class KolmogorovAssimilation2D(WindowAssimilation, VorticityWindow2D):
    name: ClassVar[str] = "kolmogorov_assimilation_2d"
    period: ClassVar[float] = 2 * math.pi
    hovmoller: ClassVar[bool] = False
    description: ClassVar[str] = "Kolmogorov flow 2D (Frerix et al. 2021): the vorticity from sparse noisy velocity sensors over a window, then a forecast"

    nu: float = knob(1e-2, "viscosity (Frerix et al.'s 1e-2)", "number in [1e-3, 0.1]", lambda v: 1e-3 <= v <= 0.1)
    grid: int = knob(64, "grid points per side of the state (Frerix et al.'s 64)", " | ".join(map(str, GRIDS)), lambda n: n in GRIDS)
    stride: int = knob(16, "sensors at every stride-th grid point along each axis (Frerix: 16; 4 is well constrained)",
                       "an integer >= 1 dividing grid", at_least(1))
    observable: str = knob("velocity", "what each sensor measures", " | ".join(OBSERVABLES), lambda value: value in OBSERVABLES)
    noise: float = knob(0.05, "observation noise standard deviation (the velocity's rms is about 0.85)", "number > 0", lambda s: s > 0)
    steps_per_cycle: int = knob(25, "model time steps between observations (Frerix: 25)", "integer >= 1", at_least(1))
    window: int = knob(10, "observed cycles (cycle 0 is t = 0; Frerix: 10 snapshots)", "integer >= 1", at_least(1))
    forecast: int = knob(10, "cycles forecast after the window and scored", "integer >= 0", at_least(0))
    burn_in: float = knob(40.0, "time a random start runs for onto the attractor before t = 0", "number in [0, 200]", lambda t: 0 <= t <= 200)
    climatology_time: float = knob(400.0, "attractor time the climatology (the prior) averages over", "number in [10, 4000]",
                                   lambda t: 10 <= t <= 4000)
    n_validation: int = knob(2, "validation experiments (methods tune on them)", "integer >= 1", at_least(1))
    n_test: int = knob(4, "test experiments", "integer >= 1", at_least(1))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.grid % self.stride:
            raise ParameterError(f"{self.name}: stride = {self.stride} does not divide grid = {self.grid}; "
                                 f"allowed: {', '.join(str(s) for s in range(1, self.grid + 1) if self.grid % s == 0)}")
        self._check_observed()

    @property
    def flow(self) -> kolmogorov.KolmogorovFlow:
        return kolmogorov.KolmogorovFlow(nu=self.nu)

    @property
    def dt(self) -> float:
        """Kochkov's CFL rule on the grid: 0.5 h / 7."""
        return CFL * (2 * math.pi / self.grid) / MAX_SPEED

    @property
    def interval(self) -> float:
        return self.steps_per_cycle * self.dt

    @property
    def state_size(self) -> int:
        return self.grid * self.grid

    @property
    def state_shape(self) -> tuple[int, ...]:
        return (self.grid, self.grid)

    def observed(self) -> np.ndarray:
        sensors = np.arange(0, self.grid, self.stride)
        return (sensors[:, None] * self.grid + sensors[None, :]).ravel()

    @property
    def observation_size(self) -> int:
        return len(self.observed()) * (2 if self.observable == "velocity" else 1)

    def observation_positions(self) -> Float[np.ndarray, "p 2"]:
        positions = super().observation_positions()
        return np.concatenate([positions, positions]) if self.observable == "velocity" else positions

    def observe(self, x: Any) -> Any:
        """The vorticity at the sensors, or the velocity there (all u, then all v): linear in the state."""
        if self.observable == "vorticity":
            return x[..., self.observed()]
        xp = np if isinstance(x, np.ndarray) else jnp
        u, v = velocity(xp.reshape(x, (*x.shape[:-1], self.grid, self.grid)))
        flat = (*x.shape[:-1], self.state_size)
        return xp.concatenate([xp.reshape(u, flat)[..., self.observed()], xp.reshape(v, flat)[..., self.observed()]], axis=-1)

    def model_step(self, x: Float[Array, "... n"]) -> Float[Array, "... n"]:
        return _cycle(self.grid, self.nu, self.dt, self.steps_per_cycle, double=False)(x)

    def truth_run(self, rng: np.random.Generator) -> Float[np.ndarray, "k n"]:
        start = self._attractor_states(rng, 1)
        _, frames = kolmogorov.spectral_rollout(start, self.flow, self.dt, self.steps_per_cycle, self.scored_cycles - 1, self.grid)
        states = np.concatenate([kolmogorov.to_grid(start), frames[0]])
        return states.reshape(self.scored_cycles, self.state_size)

    def _attractor_states(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """rFFT coefficients of ``count`` random starts after ``burn_in`` on the grid (float64)."""
        start = resize(np.stack([random_vorticity(rng) for _ in range(count)]), self.grid)
        steps = round(self.burn_in / self.dt)
        return kolmogorov.spectral_rollout(start, self.flow, self.dt, steps, 1, self.grid)[0] if steps else start

    @functools.cached_property
    def _climatology(self) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, "g g"]]:
        """The mean field and the anomalies' spectrum E |fft2(w') / n^2|^2 (symmetric under k -> -k), from the disk cache if there."""
        key = {"nu": self.nu, "grid": self.grid, "burn_in": self.burn_in, "time": self.climatology_time}
        arrays = cached_arrays(f"{self.name}-climatology", key, self._free_run_statistics)
        return arrays["mean"], arrays["spectrum"]

    def _free_run_statistics(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([0, self.grid])
        starts = self._attractor_states(rng, CLIMATOLOGY_RUNS)
        samples = max(round(self.climatology_time / CLIMATOLOGY_RUNS / CLIMATOLOGY_SPACING), 2)
        steps = max(round(CLIMATOLOGY_SPACING / self.dt), 1)
        _, frames = kolmogorov.spectral_rollout(starts, self.flow, self.dt, steps, samples, self.grid)
        profile = frames.mean(axis=(0, 1, 2))  # over runs, samples and x: a function of y
        spectrum = np.mean(np.abs(np.fft.fft2(frames - profile) / self.state_size) ** 2, axis=(0, 1))
        spectrum = 0.5 * (spectrum + np.roll(np.flip(spectrum, (0, 1)), 1, (0, 1)))
        return {"mean": np.tile(profile, self.grid), "spectrum": spectrum}

    def prior_moments(self) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, "n n"]]:
        mean, spectrum = self._climatology
        return mean, self._circulant(self.state_size * np.real(np.fft.ifft2(spectrum)))

    def prior_root_factor(self) -> Float[np.ndarray, "n n"]:
        """The symmetric square root: the circulant matrix with spectrum |w'_k| (exact, no regularisation)."""
        return self._circulant(np.real(np.fft.ifft2(self.grid * np.sqrt(self._climatology[1]))))

    def _circulant(self, kernel: Float[np.ndarray, "g g"]) -> Float[np.ndarray, "n n"]:
        """The matrix M[i, j] = kernel(x_i - x_j) on the periodic grid."""
        ix, iy = np.divmod(np.arange(self.state_size), self.grid)
        return kernel[(ix[:, None] - ix[None, :]) % self.grid, (iy[:, None] - iy[None, :]) % self.grid]

    def sensor_points(self) -> Float[np.ndarray, "s 2"]:
        ix, iy = np.divmod(self.observed(), self.grid)
        return self.period / self.grid * np.stack([ix, iy], axis=-1).astype(float)

    def vorticity_residual(self, w: Array, w_t: Array, w_x: Array, w_y: Array, w_lap: Array, u: Array, v: Array, y: Array) -> Array:
        flow = self.flow
        forcing = -flow.forcing_wavenumber * flow.forcing_amplitude * jnp.cos(flow.forcing_wavenumber * y)
        return w_t + u * w_x + v * w_y - flow.nu * w_lap + flow.drag * w - forcing

    @property
    def pinn_scales(self) -> dict[str, float]:
        """From the climatology's total spectrum E_k (mean and anomalies): sums of E_k |k|^(2 p) for p = 0, -2, -1, 1."""
        mean, spectrum = self._climatology
        total = spectrum + np.abs(np.fft.fft2(mean.reshape(self.grid, self.grid)) / self.state_size) ** 2
        k = np.fft.fftfreq(self.grid, 1.0 / self.grid)
        k2 = k[:, None] ** 2 + k[None, :] ** 2
        inverse_k2 = np.where(k2 == 0, 0.0, 1.0 / np.where(k2 == 0, 1.0, k2))
        velocity = float(np.sqrt(np.sum(total * inverse_k2)))
        return {"vorticity": float(np.sqrt(np.sum(total))), "stream": float(np.sqrt(np.sum(total * inverse_k2**2))), "velocity": velocity,
                "residual": velocity * float(np.sqrt(np.sum(total * k2)))}

    def score(self, estimates: Float[np.ndarray, "m k n"], truths: Float[np.ndarray, "m k n"]) -> dict[str, float]:
        """The window's scores and the vorticity correlation at the last scored cycle."""
        correlation_at_end = np.mean(correlation(np.asarray(estimates, np.float64)[:, -1:], truths[:, -1:]))
        return {**super().score(estimates, truths), "final_correlation": float(correlation_at_end)}

    def picture(self, analyses: Float[np.ndarray, "k n"]) -> Float[np.ndarray, "g w"]:
        """The vorticity at t = 0, at the window's last cycle and at the last forecast cycle, side by side (NaN gaps)."""
        fields = np.asarray(analyses, np.float64).reshape(-1, self.grid, self.grid)
        cycles = sorted({0, self.window - 1, len(fields) - 1})
        gap = np.full((self.grid, 2), np.nan)
        panels = [part for cycle in cycles for part in (fields[cycle].T, gap)][:-1]  # y up the page, x across
        return np.concatenate(panels, axis=1)


def velocity[A: (np.ndarray, Array)](w: A) -> tuple[A, A]:
    """(u, v) = (psi_y, -psi_x) from the vorticity's grid values, -lap psi = w (NumPy or JAX, batched over leading axes)."""
    u, v = velocity_2d(kolmogorov.to_coefficients(w))
    return u.astype(w.dtype), v.astype(w.dtype)


@functools.lru_cache(maxsize=8)
def _cycle(n: int, nu: float, dt: float, steps: int, double: bool) -> Callable[[Array], Array]:
    """``steps`` ETDRK4 steps on flattened grid values (batched over leading axes)."""
    step = kolmogorov.spectral_step(n, kolmogorov.KolmogorovFlow(nu=nu), dt, np.complex128 if double else np.complex64)
    keep, real = dealias_mask(n, 2), np.float64 if double else np.float32

    def cycle(x: Array) -> Array:
        coefficients = jnp.where(keep, kolmogorov.to_coefficients(x.astype(real).reshape(*x.shape[:-1], n, n)), 0)
        coefficients = jax.lax.fori_loop(0, steps, lambda _, c: step(c), coefficients)
        return kolmogorov.to_grid(coefficients).reshape(x.shape).astype(real)

    return jax.jit(cycle)
