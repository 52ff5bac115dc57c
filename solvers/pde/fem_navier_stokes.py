"""Taylor-Hood finite elements with Newton continuation for steady incompressible flow (DOLFINx).

The classical baseline a CFD practitioner would run for a steady 2D flow: P2/P1 (or P3/P2)
Taylor-Hood on a triangle mesh, Newton's method with a sparse direct LU (MUMPS) for every
Jacobian, and continuation in the Reynolds number from a moderate one, each step started
from the previous solution (see :mod:`parity.numerics.navier_stokes_fem`). It runs over a
mesh-refinement sweep; each mesh_solve records the mesh setup, the assembly and linear-solve
seconds, the Newton iterations and the continuation steps. A Newton failure is recorded as
the status ``diverged`` with the Reynolds number reached, never raised.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import numpy as np
from jaxtyping import Float

from parity.knobs import all_at_least, at_least, knob
from parity.numerics.navier_stokes_fem import ContinuationResult, FlowSolution, Mesh, TaylorHoodFlow
from parity.problems.base import ForwardProblem, Problem
from parity.problems.flow import SteadyIncompressibleFlow
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.pde.refinement import refinement_sweep


@dataclasses.dataclass
class _MeshSolve:
    """One resolution's continuation and what it cost; callable like its solution."""

    result: ContinuationResult
    setup_s: float
    solve_s: float

    @property
    def solution(self) -> FlowSolution:
        return self.result.solution

    def __call__(self, x: Float[np.ndarray, "m 2"]) -> Float[np.ndarray, "m 3"]:
        return self.solution(x)

    def details(self) -> dict[str, float]:
        stats = self.result.stats
        return {
            "setup_s": self.setup_s, "assemble_s": stats.assemble_s, "linear_solve_s": stats.linear_solve_s,
            "newton_iterations": float(sum(stats.iterations) + stats.failed_iterations), "continuation_steps": float(len(stats.reynolds)),
            "failed_steps": float(stats.failed_steps), "reynolds_reached": stats.reynolds[-1] if stats.reynolds else float("nan"),
            "converged": float(self.result.converged),
        }


@dataclasses.dataclass(frozen=True)
class FEMNavierStokes(Solver):
    name: ClassVar[str] = "fem_ns"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "DOLFINx Taylor-Hood FEM, Newton + MUMPS LU with Reynolds continuation, mesh-refinement sweep"
    deterministic: ClassVar[bool] = True
    mpi_parallel: ClassVar[bool] = True

    degree: int = knob(2, "velocity degree k of Taylor-Hood Pk/Pk-1", "2 or 3", lambda d: d in (2, 3))
    resolutions: tuple[int, ...] = knob(
        (8, 16, 32, 64, 128), "cells per side of the refinement sweep (the last one is the result)",
        "non-empty list of integers >= 2", all_at_least(2),
    )
    grading: float = knob(
        0.0, "mesh stretching towards the walls (wall cells (1 - g) / (1 + g) of the central ones)", "number in [0, 0.9]",
        lambda g: 0 <= g <= 0.9,
    )
    start_reynolds: float = knob(
        100.0, "Reynolds number of the first Newton solve (from rest); the target when lower", "number >= 1", at_least(1)
    )
    continuation_factor: float = knob(
        2.0, "Reynolds number ratio of consecutive continuation steps (square-rooted after a failed step)", "number in (1, 100]",
        lambda f: 1 < f <= 100,
    )

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem) and isinstance(problem, SteadyIncompressibleFlow) and problem.in_dim == 2

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem) and isinstance(problem, SteadyIncompressibleFlow)
        t0 = time.perf_counter()  # FFCx compiles the forms once (cached on disk); keep it out of the curve
        TaylorHoodFlow(problem, self._mesh(problem, min(self.resolutions)), self.degree, self._comm())
        compile_s = time.perf_counter() - t0
        result, cells = refinement_sweep(
            self.resolutions, lambda n: self.solve_at(problem, n), lambda _, mesh_solve: mesh_solve.solution.dofs,
            budget, evaluator, progress,
            details_of=lambda mesh_solve: mesh_solve.details(), own_time=lambda mesh_solve: mesh_solve.setup_s + mesh_solve.solve_s,
        )
        last = result.trace[-1].details
        result.timings.update(compile_s=compile_s, setup_s=last["setup_s"], assemble_s=last["assemble_s"], linear_solve_s=last["linear_solve_s"])
        result.info = {"cells_per_side": cells, "dofs": result.trace[-1].step, "degree": self.degree,
                       "newton_iterations": int(last["newton_iterations"]), "continuation_steps": int(last["continuation_steps"])}
        short = [f"{n} cells: Re {c.details['reynolds_reached']:.6g}" for n, c in zip(self.resolutions, result.trace) if not c.details["converged"]]
        if not last["converged"]:
            assert isinstance(result.predict, _MeshSolve)
            result.status, result.message = "diverged", f"finest mesh: {result.predict.result.message}"
        elif short:
            result.message = f"coarser meshes stopped short of the target Reynolds number: {', '.join(short)}"
        return result

    def solve_at(self, problem: SteadyIncompressibleFlow, cells_per_side: int) -> _MeshSolve:
        """Mesh, discretise and continue to the problem's Reynolds number at one resolution."""
        assert isinstance(problem, ForwardProblem)
        t0 = time.perf_counter()
        discrete = TaylorHoodFlow(problem, self._mesh(problem, cells_per_side), self.degree, self._comm())
        t1 = time.perf_counter()
        continued = discrete.continuation(self.start_reynolds, self.continuation_factor)
        return _MeshSolve(continued, t1 - t0, time.perf_counter() - t1)

    def _mesh(self, problem: ForwardProblem, cells_per_side: int) -> Mesh:
        lower, upper = problem.bounds
        return Mesh((float(lower[0]), float(lower[1])), (float(upper[0]), float(upper[1])), cells_per_side, self.grading)

    @staticmethod
    def _comm() -> object:
        """All ranks of an ``mpiexec`` launch (one rank otherwise)."""
        from mpi4py import MPI

        return MPI.COMM_WORLD
