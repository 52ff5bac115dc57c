"""Acoustic waves from a smooth source in an inhomogeneous 2D medium (FBPINN paper's (2+1)D wave).

    u_tt = c(x, y)^2 (u_xx + u_yy) + A g(x, y) w(t)   in [0, 1]^2 x [0, T],   u = u_t = 0 at t = 0,

in free space: the medium continues constantly beyond the box and waves leave it
without reflecting. g is a Gaussian at the centre of width c0 / (2 pi f0) and w a Ricker
wavelet of peak frequency f0 delayed by 1.5 / f0, so the data vanish to 1e-8 at t = 0.
The scale knob is f0, i.e. dominant wavelengths across the box. Velocity models:
homogeneous, layered (smoothed steps in y) and a seeded Gaussian mixture of fast and
slow anomalies; ``contrast`` is the relative size of the perturbation.

The amplitude A makes max |u| = 1 on the test grid in the homogeneous medium (from the
exact free-space solution), so PINN losses stay O(1) at every frequency. The reference
is a Devito finite-difference solve, space order 16, on a grid (and time step) far finer
than any solver in a sweep, whose convergence is verified in the tests against the exact
solution; it is cached on disk. Errors are measured on a common (x, y, t) grid over the
scored box [0, 1]^2.

Free space has no sides, and a physics-informed network needs some: its ``bounds`` are the
scored box widened by :attr:`AcousticWave2D.margin` on every side, with a first-order
absorbing condition there (see :meth:`AcousticWave2D.residual`). The margin is set by
causality, from the fastest wave speed and the final time: nothing reflected by those sides
reaches the scored box before T, so there the widened problem is the free-space one (the
tests check it by finite differences to 1e-3). Finite-difference solvers simulate the scored
box with their own absorbing layer (:meth:`AcousticWave2D.finite_difference_setup`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from types import ModuleType
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.cache import cached_arrays
from parity.knobs import ParameterError, at_least, knob, positive
from parity.numerics.acoustic_fd import AcousticSetup, SnapshotField, simulate
from parity.numerics.free_space import free_space_solution
from parity.problems.base import AcousticWave, ForwardProblem, PointwiseFn, Snapshot
from parity.problems.derivatives import second_partial
from parity.problems.halton import halton

VELOCITY_MODELS = ("homogeneous", "layered", "gaussian_mixture")
_COLLOCATION_SEED = 7
_RICKER_ONSET = 1.0
"""The Ricker wavelet stays below 1e-3 of its peak until this many periods 1 / f0 before its centre 1.5 / f0."""
_SOURCE_RADIUS = 3.72
"""The Gaussian source is below 1e-3 of its peak beyond this many widths sigma from the centre."""


@dataclasses.dataclass(frozen=True)
class AcousticWave2D(ForwardProblem, AcousticWave):
    name: ClassVar[str] = "acoustic_wave_2d"
    description: ClassVar[str] = "u_tt = c(x)^2 lap u + Gaussian x Ricker source in free space, scored on [0,1]^2 x [0,T]; Devito reference"
    in_dim: ClassVar[int] = 3
    out_dim: ClassVar[int] = 1
    time_axis: ClassVar[int | None] = 2

    frequency: float = knob(4.0, "Ricker peak frequency f0: dominant wavelengths across the box (scale knob)", "number in [0.5, 32]", lambda f: 0.5 <= f <= 32)
    velocity_model: str = knob("layered", "velocity model", " | ".join(VELOCITY_MODELS), VELOCITY_MODELS.__contains__)
    contrast: float = knob(0.5, "relative velocity perturbation (0 = homogeneous)", "number in [0, 1)", lambda c: 0 <= c < 1)
    model_seed: int = knob(0, "seed of the Gaussian-mixture anomalies", "integer >= 0", at_least(0))
    duration: float = knob(1.0, "final time T", "number > 0", positive)
    test_cells: int = knob(32, "test grid cells per side", "integer >= 4", at_least(4))
    test_times: int = knob(8, "test snapshots, equally spaced in (0, T]", "integer >= 1", at_least(1))

    background: ClassVar[float] = 1.0
    """c0."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.velocity_minimum <= 0.2 * self.background:  # slower media need ever finer grids
            raise ParameterError(
                f"{self.name}: parameter 'contrast' = {self.contrast!r} makes the {self.velocity_model} velocity fall to "
                f"{self.velocity_minimum:.3g}; allowed: a contrast that keeps c > {0.2 * self.background:g}"
            )

    # --- the medium and the source, written once for numpy and jax.numpy -------------------

    def velocity(self, x: Any, y: Any, xp: ModuleType) -> Any:
        c0 = self.background
        if self.velocity_model == "homogeneous" or self.contrast == 0:
            return c0 + 0.0 * x
        if self.velocity_model == "layered":  # three layers, c0, c0 (1 + contrast / 2), c0 (1 + contrast)
            steps = sum(0.5 * (1.0 + xp.tanh((y - interface) / 0.02)) for interface in (1 / 3, 2 / 3))
            return c0 * (1.0 + 0.5 * self.contrast * steps)
        bump = 0.0 * x
        for (mx, my), width, sign in self._anomalies:
            bump = bump + sign * xp.exp(-((x - mx) ** 2 + (y - my) ** 2) / (2 * width**2))
        return c0 * (1.0 + self.contrast * bump)

    @functools.cached_property
    def _anomalies(self) -> tuple[tuple[tuple[float, float], float, float], ...]:
        """Five seeded Gaussian anomalies: centres in the box, widths 0.08-0.15, alternately fast and slow."""
        rng = np.random.default_rng(self.model_seed)
        return tuple(
            ((float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9))), float(rng.uniform(0.08, 0.15)), (-1.0) ** i * float(rng.uniform(0.5, 1.0)))
            for i in range(5)
        )

    @functools.cached_property
    def velocity_minimum(self) -> float:
        axis = np.linspace(0.0, 1.0, 201)
        return float(np.min(self.velocity(*np.meshgrid(axis, axis, indexing="ij"), np)))

    @functools.cached_property
    def velocity_maximum(self) -> float:
        """The fastest wave speed, sampled on the scored box and a unit band around it (the media level off outside)."""
        axis = np.linspace(-1.0, 2.0, 601)
        return float(np.max(self.velocity(*np.meshgrid(axis, axis, indexing="ij"), np)))

    @functools.cached_property
    def margin(self) -> float:
        """How far the PINN's box reaches beyond the scored one: no reflection from its sides gets back by T.

        The source starts (above 1e-3 of its peak) at t0 = 0.5 / f0 within r = 3.72 sigma of the
        centre, 0.5 from the scored box's sides; a wave reflected at the margin's edge has travelled
        0.5 - r + 2 margin by T at the speed c_max at most, so margin = (c_max (T - t0) + r - 0.5) / 2,
        rounded up to whole test-grid cells (the finite-difference check needs them on its grid).
        """
        onset = (1.5 - _RICKER_ONSET) / self.frequency
        reach = self.velocity_maximum * max(self.duration - onset, 0.0) + _SOURCE_RADIUS * self.source_sigma - 0.5
        return math.ceil(max(reach, 0.0) / 2 * self.test_cells) / self.test_cells

    @property
    def source_sigma(self) -> float:
        return self.background / (2 * math.pi * self.frequency)

    def source_space(self, x: Any, y: Any, xp: ModuleType) -> Any:
        return xp.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / (2 * self.source_sigma**2))

    def source_time(self, t: Any, xp: ModuleType) -> Any:
        return self.amplitude * self._ricker(t, xp)

    def _ricker(self, t: Any, xp: ModuleType) -> Any:
        """Ricker wavelet of peak frequency f0 and unit peak, centred at 1.5 / f0."""
        arg = (math.pi * self.frequency * (t - 1.5 / self.frequency)) ** 2
        return (1.0 - 2.0 * arg) * xp.exp(-arg)

    # --- what solvers see -------------------------------------------------------------------

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 3"], Float[np.ndarray, " 3"]]:
        """The physics-informed box: the scored [0, 1]^2 widened by the margin, times [0, T]."""
        m = self.margin
        return np.array([-m, -m, 0.0]), np.array([1.0 + m, 1.0 + m, self.duration])

    def finite_difference_setup(self) -> AcousticSetup:
        """The scored box [0, 1]^2: a finite-difference solver surrounds it with its own absorbing layer."""
        return AcousticSetup(
            velocity=lambda x, y: self.velocity(x, y, np), source_space=lambda x, y: self.source_space(x, y, np),
            source_time=lambda t: self.source_time(t, np), extent=(1.0, 1.0), snapshot_times=self.snapshot_times,
        )

    @property
    def snapshot_times(self) -> tuple[float, ...]:
        return tuple(self.duration * (i + 1) / self.test_times for i in range(self.test_times))

    @property
    def residual_scale(self) -> float:
        return (2 * math.pi * self.frequency) ** 2  # |u_tt| ~ (2 pi f0)^2 |u| with max |u| ~ 1

    def residual(self, u: PointwiseFn, x: Float[Array, "n 3"]) -> Float[Array, "n 1"]:
        """The wave equation inside the (widened) box; on its sides, the first-order absorbing condition.

        Without a condition on the sides the problem in the box is not well posed: waves
        coming in through the sides solve it too, and flexible networks (FBPINNs) find
        them. u_t + c du/dn = 0 (Engquist & Majda 1977) lets waves out and none in; it
        is exact at normal incidence and reflects obliquely incident waves (17 % at 45
        degrees). On the scored box's own sides that would cost 1.6e-2 (f0 = 2) and
        5.0e-2 (f0 = 4) against free space; on the widened box's sides the reflections
        come too late to reach the scored box (see :attr:`margin`).
        """
        _, u_x, u_xx = second_partial(u, x, 0)
        _, u_y, u_yy = second_partial(u, x, 1)
        _, u_t, u_tt = second_partial(u, x, 2)
        px, py, t = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        c = self.velocity(px, py, jnp)
        interior = u_tt - c**2 * (u_xx + u_yy) - self.source_space(px, py, jnp) * self.source_time(t, jnp)
        low, high = -self.margin, 1.0 + self.margin
        outward = jnp.where(px <= low, -u_x, jnp.where(px >= high, u_x, jnp.where(py <= low, -u_y, u_y)))
        absorbing = 2 * math.pi * self.frequency * (u_t + c * outward)  # scaled to the interior's units
        on_side = (px <= low) | (px >= high) | (py <= low) | (py >= high)
        return jnp.where(on_side, absorbing, interior)

    def loss_terms(self, x: Float[np.ndarray, "n 3"]) -> dict[str, Float[np.ndarray, "n 1"]]:
        """The wave equation inside the box and the absorbing condition on its sides."""
        on_side = np.any((x[:, :2] <= -self.margin) | (x[:, :2] >= 1.0 + self.margin), axis=1, keepdims=True).astype(np.float32)
        return {"wave equation": 1.0 - on_side, "absorbing condition": on_side}

    def ansatz(self, x: Float[Array, "n 3"], raw: Float[Array, "n 1"]) -> Float[Array, "n 1"]:
        # u = u_t = 0 at t = 0 exactly; (f0 t)^2 saturates by tanh so late times are not amplified.
        return jnp.tanh(self.frequency * x[:, 2:3]) ** 2 * raw

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 3"]:
        """Scrambled Halton points: inside the widened space-time box, and a fifth on its four sides.

        Low-discrepancy coverage, disjoint from the test grid; the side points carry the
        absorbing condition (see :meth:`residual`).
        """
        n_sides = n // 5
        inside = halton(3, n - n_sides, seed=_COLLOCATION_SEED)
        along, when = halton(2, n_sides, seed=_COLLOCATION_SEED + 1).T
        side = np.arange(n_sides) % 4
        fixed = (side % 2).astype(float)  # sides 0, 1: x = 0, 1; sides 2, 3: y = 0, 1
        sides = np.where((side < 2)[:, None], np.c_[fixed, along, when], np.c_[along, fixed, when])
        lower, upper = self.bounds
        return lower + np.concatenate([inside, sides]) * (upper - lower)

    def test_points(self) -> Float[np.ndarray, "m 3"]:
        axis = np.linspace(0.0, 1.0, self.test_cells + 1)
        x, y, t = np.meshgrid(axis, axis, np.asarray(self.snapshot_times), indexing="ij")
        return np.stack([x, y, t], axis=-1).reshape(-1, 3)

    def snapshot(self) -> Snapshot:
        time = self.snapshot_times[(3 * len(self.snapshot_times)) // 4 - 1]  # three quarters in; with one snapshot, T
        return Snapshot.grid((0.0, 1.0), (0.0, 1.0), f"wavefield at t = {time:g}", time)

    # --- the reference ------------------------------------------------------------------------

    reference_resolution: ClassVar[int] = 16
    """Reference grid cells per test cell (so the test grid lies on reference nodes)."""

    def reference(self, x: Float[np.ndarray, "n 3"]) -> Float[np.ndarray, "n 1"]:
        return self._reference_field(x)

    @functools.cached_property
    def _reference_field(self) -> SnapshotField:
        """The cached reference solve, loaded once per problem object (its splines are kept too)."""
        fields = cached_arrays(f"{self.name}-reference", self.params(), self._reference_fields)
        return SnapshotField(fields["x"], fields["y"], fields["times"], fields["fields"])

    def _reference_fields(self) -> dict[str, np.ndarray]:
        cells = self.test_cells * self.reference_resolution
        simulation = simulate(self.finite_difference_setup(), cells, space_order=16, courant=0.25)
        return {"x": simulation.x, "y": simulation.y, "times": simulation.times, "fields": simulation.fields}

    @functools.cached_property
    def amplitude(self) -> float:
        """A: max |u| = 1 on the test grid for the homogeneous medium."""
        unit = free_space_solution(
            self.test_points(), velocity=self.background, centre=(0.5, 0.5), sigma=self.source_sigma,
            source_time=lambda t: self._ricker(t, np),
        )
        return 1.0 / float(np.max(np.abs(unit)))
