"""asv benchmarks for the 2D elliptic problems (multi-scale Poisson, Helmholtz) and their solvers.

``FEMSolve`` times one finite-element solve (mesh, forms, assembly, CG + GAMG) at one
resolution and tracks its error on the held-out test points, so a slower assembly or a
weaker preconditioner shows up as a regression. The 1M-DoF P1 case (1000 x 1000 cells)
runs only with ``PARITY_ASV_SLOW=1``. ``HelmholtzFEMSolve`` does the same for the
indefinite Helmholtz operator (direct solver) as k grows; ``FBPINNTrainStep`` times the
one-level and multilevel FBPINN training steps.
"""

from __future__ import annotations

import os

import jax

from parity.problems import Helmholtz2D, MultiScalePoisson2D
from parity.solvers import FBPINN, Evaluator
from parity.solvers.pde.fem_poisson import FEMPoisson, FEMSolution

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"
CELLS: list[int] = [64, 256, *([1000] if SLOW else [])]


class FEMSolve:
    """One P1 or P2 solve of the 4-component problem (frequencies 2, 4, 8, 16)."""

    params = ([1, 2], CELLS)
    param_names = ["degree", "cells_per_side"]
    timeout = 600

    def setup(self, degree: int, cells_per_side: int) -> None:
        self.problem = MultiScalePoisson2D(n_components=4)
        self.solver = FEMPoisson(degree=degree)
        self.solution: FEMSolution = self.solver.solve_at(self.problem, cells_per_side)  # also compiles the forms

    def time_solve(self, degree: int, cells_per_side: int) -> None:
        self.solver.solve_at(self.problem, cells_per_side)

    def track_linear_solve_seconds(self, degree: int, cells_per_side: int) -> float:
        return self.solution.solve_s

    track_linear_solve_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_assembly_seconds(self, degree: int, cells_per_side: int) -> float:
        return self.solution.assemble_s

    track_assembly_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_rel_l2(self, degree: int, cells_per_side: int) -> float:
        x = self.problem.test_points()
        return Evaluator(x, self.problem.reference(x))(self.solution(x))["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class HelmholtzFEMSolve:
    """One P1 or P2 solve (MUMPS LU) of the Helmholtz cavity at growing wavenumber, on a 256 x 256 mesh."""

    params = ([1, 2], [15.0, 30.0, 60.0])
    param_names = ["degree", "k"]
    timeout = 600

    def setup(self, degree: int, k: float) -> None:
        self.problem = Helmholtz2D(k=k)
        self.solver = FEMPoisson(degree=degree)
        self.solution: FEMSolution = self.solver.solve_at(self.problem, 256)

    def time_solve(self, degree: int, k: float) -> None:
        self.solver.solve_at(self.problem, 256)

    def track_rel_l2(self, degree: int, k: float) -> float:
        x = self.problem.test_points()
        return Evaluator(x, self.problem.reference(x))(self.solution(x))["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class FBPINNTrainStep:
    """100 fused FBPINN steps in 2D: one level of 8 x 8 subdomains against the multilevel 1-2-4-8.

    Tracks the cost of the coarse levels, which is well above their share of the
    point-subdomain pairs on the CPU (see docs/benchmarks.md).
    """

    params = (["8", "1,8", "1,2,4,8"],)
    param_names = ["levels"]

    def setup(self, levels: str) -> None:
        problem = MultiScalePoisson2D(n_components=2, n_test=100)
        solver = FBPINN(levels=tuple(int(n) for n in levels.split(",")), width=16, depth=1, n_collocation=48**2)
        task = solver.training_task(problem, 0, problem.test_points())
        self.steps = task.compile_steps(100)
        self.params_, _, self.opt_state = task.initial_state()
        self.data = task.data
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))

    def time_100_steps(self, levels: str) -> None:
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))
