"""asv benchmarks for the 2D multi-scale Poisson problem and its DOLFINx FEM reference.

``FEMSolve`` times one finite-element solve (mesh, forms, assembly, CG + GAMG) at one
resolution and tracks its error on the held-out test points, so a slower assembly or a
weaker preconditioner shows up as a regression. The 1M-DoF P1 case (1000 x 1000 cells)
runs only with ``PARITY_ASV_SLOW=1``.
"""

from __future__ import annotations

import os

from parity.problems import MultiScalePoisson2D
from parity.solvers import Evaluator
from parity.solvers.fem_poisson import FEMPoisson, FEMSolution

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
