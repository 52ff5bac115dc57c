"""Fourier pseudo-spectral solver (ETDRK4, 2/3 dealiasing) over a resolution sweep.

The classical reference for periodic flows at high Reynolds number: exponential
convergence in N for smooth solutions, the viscous term integrated exactly. Each
resolution is one jitted run; its time in the curve is the run alone, the one-off XLA
compilation is recorded apart (``compile_s`` per checkpoint and for the last solve).

Predictions are exact trigonometric interpolation in space. In time, the solution is
saved on an equispaced grid and interpolated by cubic Hermite polynomials whose slopes
come from the equation, an O(dt_save^4) error. Burgers' test times are random, so it is
saved ``saves_per_time`` times per unit time: at the default 500 the interpolation
error is about 3e-10 relative (5e-9 at 250, 1e-10 at 1000), the floor that the N = 2048
and 4096 solves reach; coarser grids' spatial errors are far larger.
The vorticity problem is saved at its snapshot times only, where it is compared;
between them the interpolant is a rough guide.

The default vorticity sweep stops at 256, a grid below the reference's (512 at
Re = 1000): a sweep that reaches the reference's grid reproduces it to round-off, since
it is the same method, and says nothing about the error there.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
from jaxtyping import Float

from parity.knobs import knob
from parity.numerics.spectral import SpectralRun, burgers_1d, evaluate_1d, evaluate_2d, interpolate_in_time, vorticity_2d, wavenumbers_2d
from parity.problems.base import ForwardProblem, Problem
from parity.problems.spectral_capability import PeriodicBurgers1D, PeriodicVorticity2D
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.pde.refinement import refinement_sweep

DEFAULT_RESOLUTIONS = {"burgers": (64, 128, 256, 512, 1024, 2048, 4096), "vorticity": (64, 128, 256)}


@dataclasses.dataclass(frozen=True)
class BurgersSolution:
    """u(x, t) from saved Fourier states of a periodic Burgers run."""

    run: SpectralRun
    origin: float
    period: float

    def __call__(self, x: Float[np.ndarray, "m 2"], chunk: int = 1024) -> Float[np.ndarray, "m 1"]:
        out = np.empty(len(x))
        for start in range(0, len(x), chunk):
            part = slice(start, start + chunk)
            coefficients = interpolate_in_time(self.run, x[part, 1])
            out[part] = evaluate_1d(coefficients, self.run.n, x[part, 0] - self.origin, self.period)
        return out[:, None]


@dataclasses.dataclass(frozen=True)
class VorticitySolution:
    """(w, psi)(x, y, t) from saved Fourier states of a vorticity run."""

    run: SpectralRun

    def __call__(self, x: Float[np.ndarray, "m 3"]) -> Float[np.ndarray, "m 2"]:
        kx, ky = wavenumbers_2d(self.run.n)
        inverse_k2 = np.where(kx**2 + ky**2 > 0, 1.0 / np.where(kx**2 + ky**2 > 0, kx**2 + ky**2, 1.0), 0.0)
        out = np.empty((len(x), 2))
        for t in np.unique(x[:, 2]):
            rows = x[:, 2] == t
            w_hat = interpolate_in_time(self.run, np.array([t]))[0]
            out[rows, 0] = evaluate_2d(w_hat, x[rows, 0], x[rows, 1])
            out[rows, 1] = evaluate_2d(w_hat * inverse_k2, x[rows, 0], x[rows, 1])
        return out


@dataclasses.dataclass(frozen=True)
class PseudoSpectral(Solver):
    name: ClassVar[str] = "spectral"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "Fourier pseudo-spectral, 2/3 dealiasing, ETDRK4 (JAX, float64), resolution sweep"
    deterministic: ClassVar[bool] = True

    resolutions: tuple[int, ...] = knob(
        (), "grid points per side of the sweep (the last one is the result); empty = "
        f"{DEFAULT_RESOLUTIONS['burgers']} for Burgers, {DEFAULT_RESOLUTIONS['vorticity']} for vorticity",
        "list of integers >= 16 (empty for the default)", lambda v: all(n >= 16 for n in v),
    )
    cfl: float = knob(0.5, "time step as a fraction of dx / max|u| at t = 0", "number in (0, 1]", lambda c: 0 < c <= 1)
    saves_per_time: int = knob(500, "states saved per unit time for Hermite interpolation in time (Burgers)", "integer >= 10", lambda s: s >= 10)

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem) and isinstance(problem, PeriodicBurgers1D | PeriodicVorticity2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem) and isinstance(problem, PeriodicBurgers1D | PeriodicVorticity2D)
        resolutions = self.resolutions or self.default_resolutions(problem)
        dims = 1 if isinstance(problem, PeriodicBurgers1D) else 2
        result, n = refinement_sweep(
            resolutions, lambda n: self.solve_at(problem, n), lambda n, solution: n**dims * solution.run.steps,
            budget, evaluator, progress, own_time=lambda solution: solution.run.run_s,
            details_of=lambda solution: {
                "n": solution.run.n, "dt": solution.run.dt, "time_steps": solution.run.steps,
                "compile_s": solution.run.compile_s, "run_s": solution.run.run_s,
            },
        )
        last = result.trace[-1].details
        result.timings.update(compile_s=last["compile_s"], run_s=last["run_s"])
        result.info = {"resolution": n, "dofs": n**dims, "dt": last["dt"], "time_steps": int(last["time_steps"])}
        return result

    @staticmethod
    def default_resolutions(problem: PeriodicBurgers1D | PeriodicVorticity2D) -> tuple[int, ...]:
        """The default sweep, less the grids too coarse for a vorticity problem's initial band."""
        if isinstance(problem, PeriodicBurgers1D):
            return DEFAULT_RESOLUTIONS["burgers"]
        fitting = tuple(n for n in DEFAULT_RESOLUTIONS["vorticity"] if n > 3 * problem.initial_band)
        return fitting or (2 ** math.ceil(math.log2(3 * problem.initial_band + 1)),)

    def solve_at(self, problem: ForwardProblem, n: int) -> BurgersSolution | VorticitySolution:
        """One run on an n (x n) grid."""
        duration = float(problem.bounds[1][problem.time_axis])
        if isinstance(problem, PeriodicBurgers1D):
            origin, end = problem.period_interval
            period = end - origin
            u0 = problem.initial_value(origin + period * np.arange(n) / n)
            saves = max(1, round(self.saves_per_time * duration))
            run = burgers_1d(u0, problem.viscosity, period, duration, saves, self.cfl)
            return BurgersSolution(run, origin, period)
        assert isinstance(problem, PeriodicVorticity2D)
        times = np.asarray(problem.snapshot_times)
        if not np.allclose(times, duration * np.arange(1, len(times) + 1) / len(times)):
            raise ValueError(f"{problem.name}: snapshot times must be equally spaced in (0, T]; got {times}")
        run = vorticity_2d(problem.initial_coefficients(n), problem.viscosity, duration, len(times), self.cfl)
        return VorticitySolution(run)
