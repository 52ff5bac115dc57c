"""Devito finite differences for acoustic-wave problems, over a grid-refinement sweep.

The classical reference a seismic modeller would run: leapfrog in time, space order 8
by default, an absorbing layer around the box (see :mod:`parity.numerics.acoustic_fd`).
Each resolution is one solve, and the curve's time is its set-up plus time stepping:
operator construction and JIT compilation are one-off costs (a modeller builds the
operator once and runs it for many shots; the compiled code is cached on disk), recorded
apart as ``compile_s``. Devito's own performance summary is recorded per solve.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

from parity.knobs import all_at_least, knob
from parity.numerics.acoustic_fd import SPACE_ORDERS, AcousticSimulation, simulate
from parity.problems.base import AcousticWave, ForwardProblem, Problem
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.pde.refinement import refinement_sweep


@dataclasses.dataclass(frozen=True)
class DevitoWave(Solver):
    name: ClassVar[str] = "devito"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "Devito finite differences (leapfrog, high-order space, absorbing layer), grid-refinement sweep"
    deterministic: ClassVar[bool] = True
    mpi_parallel: ClassVar[bool] = True

    space_order: int = knob(8, "spatial order of the stencil", "even integer in 2..16", SPACE_ORDERS.__contains__)
    resolutions: tuple[int, ...] = knob(
        (16, 32, 64, 128), "grid cells per unit length of the refinement sweep (the last one is the result)",
        "non-empty list of integers >= 4", all_at_least(4),
    )
    courant: float = knob(0.5, "Courant number c_max dt / h", "number in (0, 0.6]", lambda c: 0 < c <= 0.6)

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem) and isinstance(problem, AcousticWave)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AcousticWave)
        t0 = time.perf_counter()
        self.solve_at(problem, min(self.resolutions))  # JIT compilation, cached for every grid size
        compile_s = time.perf_counter() - t0
        result, cells = refinement_sweep(
            self.resolutions, lambda n: self.solve_at(problem, n), lambda _, sim: int(sim.grid_points * sim.steps),
            budget, evaluator, progress, own_time=lambda sim: sim.setup_s + sim.run_s,
            details_of=lambda sim: {
                "setup_s": sim.setup_s, "compile_s": sim.compile_s, "run_s": sim.run_s, "time_steps": sim.steps,
                **{f"devito_{key}": value for key, value in sim.performance.items()},
            },
        )
        last = result.trace[-1].details
        result.timings.update(compile_s=compile_s, setup_s=last["setup_s"], run_s=last["run_s"])
        result.info = {
            "cells_per_unit": cells, "space_order": self.space_order, "time_steps": int(last["time_steps"]),
            **{key: value for key, value in last.items() if key.startswith("devito_")},
        }
        return result

    def solve_at(self, problem: AcousticWave, cells_per_unit: int) -> AcousticSimulation:
        return simulate(problem.finite_difference_setup(), cells_per_unit, space_order=self.space_order, courant=self.courant)
