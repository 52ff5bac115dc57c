"""asv benchmarks for steady Navier-Stokes: Taylor-Hood FEM with Newton, and PINN training.

``FEMKovasznay`` times one mesh's discretisation and Newton solve (P2/P1, MUMPS LU) and
tracks its velocity error against the exact flow; ``FEMCavity`` times the Reynolds
continuation to Re on a wall-graded mesh and tracks Newton iterations. ``PINNTrainStep``
times 100 fused steps of the velocity-pressure PINN. Re = 3200 and 128 cells run only
with ``PARITY_ASV_SLOW=1``.
"""

from __future__ import annotations

import os

import jax

from parity.problems.kovasznay_2d import Kovasznay2D
from parity.problems.lid_cavity_2d import LidDrivenCavity2D
from parity.solvers import PINN
from parity.solvers.pde.fem_navier_stokes import FEMNavierStokes

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"


class FEMKovasznay:
    """P2/P1 at Re = 40 on a uniform mesh of the Kovasznay box."""

    params = ([16, 32, 64, *([128] if SLOW else [])],)
    param_names = ["cells_per_side"]
    timeout = 600

    def setup(self, cells_per_side: int) -> None:
        self.problem = Kovasznay2D(re=40.0)
        self.solver = FEMNavierStokes()
        self.solved = self.solver.solve_at(self.problem, cells_per_side)  # also compiles the forms

    def time_solve(self, cells_per_side: int) -> None:
        self.solver.solve_at(self.problem, cells_per_side)

    def track_rel_l2(self, cells_per_side: int) -> float:
        return self.problem.evaluator()(self.solved(self.problem.test_points()))["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class FEMCavity:
    """Newton continuation (factor 2 from Re = 100) on a 32-cell mesh graded towards the walls."""

    params = ([400.0, 1000.0, *([3200.0] if SLOW else [])],)
    param_names = ["reynolds"]
    timeout = 600

    def setup(self, reynolds: float) -> None:
        self.problem = LidDrivenCavity2D(re=reynolds)
        self.solver = FEMNavierStokes(grading=0.5)
        self.solved = self.solver.solve_at(self.problem, 32)

    def time_continuation(self, reynolds: float) -> None:
        self.solver.solve_at(self.problem, 32)

    def track_newton_iterations(self, reynolds: float) -> float:
        return self.solved.details()["newton_iterations"]

    track_newton_iterations.unit = "iterations"  # type: ignore[attr-defined]


class PINNTrainStep:
    """100 fused Adam steps of the 4 x 50 velocity-pressure PINN on 4096 Kovasznay points."""

    def setup(self) -> None:
        problem = Kovasznay2D()
        task = PINN(width=50, depth=4, n_collocation=4096).training_task(problem, 0, problem.test_points()[:100])
        self.steps = task.compile_steps(100)
        params, _, opt_state = task.initial_state()
        self.state = (params, opt_state, task.data)
        jax.block_until_ready(self.steps(*self.state))

    def time_100_steps(self) -> None:
        jax.block_until_ready(self.steps(*self.state))

