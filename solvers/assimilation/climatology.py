"""The prior mean at every cycle, whatever was observed: a filter's climatology, a window's mean initial state.

The floor every assimilation method must beat by far (Lorenz-96: RMSE 3.6 in Sakov & Oke's
table): an estimate no better than it has learned nothing from the observations.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from parity.problems.assimilation import AssimilationProblem
from parity.problems.base import Problem
from parity.solvers.assimilation.tuning import Assimilate, tuned_assimilation_solve
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult


@dataclasses.dataclass(frozen=True)
class Climatology(Solver):
    name: ClassVar[str] = "climatology"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "the prior mean (a filter's climatology) at every cycle: the floor, using no observation"
    deterministic: ClassVar[bool] = True
    requires: ClassVar[str] = "an assimilation problem"

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, AssimilationProblem)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AssimilationProblem)

        def tune() -> tuple[Assimilate, dict[str, object]]:
            mean = problem.prior[0]
            return lambda observations: np.broadcast_to(mean, (len(observations), problem.scored_cycles, len(mean))).copy(), {}

        return tuned_assimilation_solve(problem, evaluator, progress, tune)
