"""asv benchmarks for the 2D acoustic wave problem: Devito finite differences and PINN training.

``DevitoSolve`` times the time stepping of one finite-difference solve and tracks
Devito's own throughput and the error against the cached reference, per grid and
frequency. ``PINNTrainStep`` times 100 fused training steps on the space-time
residual (three second derivatives per point). The finest grid (256 cells per unit
length) runs only with ``PARITY_ASV_SLOW=1``.
"""

from __future__ import annotations

import os

import jax

from parity.numerics.acoustic_fd import AcousticSimulation, simulate
from parity.problems import AcousticWave2D
from parity.solvers import PINN, Evaluator

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"
CELLS: list[int] = [32, 128, *([256] if SLOW else [])]


class DevitoSolve:
    """Space order 8, Courant 0.5, in the layered medium."""

    params = ([2.0, 4.0], CELLS)
    param_names = ["frequency", "cells_per_unit"]
    timeout = 600

    def setup(self, frequency: float, cells_per_unit: int) -> None:
        self.problem = AcousticWave2D(frequency=frequency)
        self.simulation: AcousticSimulation = simulate(self.problem.finite_difference_setup(), cells_per_unit)

    def time_solve(self, frequency: float, cells_per_unit: int) -> None:
        simulate(self.problem.finite_difference_setup(), cells_per_unit)

    def track_run_seconds(self, frequency: float, cells_per_unit: int) -> float:
        """Time stepping alone (operator construction and compilation excluded)."""
        return self.simulation.run_s

    track_run_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_seconds_per_gigapoint(self, frequency: float, cells_per_unit: int) -> float:
        """1 / Devito's Gpts/s, so that smaller is better like every asv number."""
        return 1.0 / self.simulation.performance["gpointss"]

    track_seconds_per_gigapoint.unit = "seconds per 1e9 point updates"  # type: ignore[attr-defined]

    def track_rel_l2(self, frequency: float, cells_per_unit: int) -> float:
        x = self.problem.test_points()
        return Evaluator(x, self.problem.reference(x))(self.simulation(x))["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class PINNTrainStep:
    """100 fused steps of the 4 x 64 PINN on 8192 space-time collocation points."""

    def setup(self) -> None:
        problem = AcousticWave2D()
        task = PINN(n_collocation=8192).training_task(problem, 0, problem.test_points()[:100])
        self.steps = task.compile_steps(100)
        self.params_, _, self.opt_state = task.initial_state()
        self.data = task.data
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))

    def time_100_steps(self) -> None:
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))
