"""The starting model itself, as a row of the comparison: the error an inversion has to beat.

Every FWI method starts from the problem's prior (the mean depth profile of training
models); how far each one moves the error below this row is what the data bought.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import numpy as np

from parity.problems.base import Problem
from parity.problems.seismic_2d import SeismicFWI2D
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult


@dataclasses.dataclass(frozen=True)
class StartingModel(Solver):
    name: ClassVar[str] = "starting_model"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "no inversion: the prior every FWI method starts from (the baseline to beat)"
    deterministic: ClassVar[bool] = True

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, SeismicFWI2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, SeismicFWI2D)
        started = time.perf_counter()
        prior = problem.prior_model()
        setup_s = time.perf_counter() - started

        def predict(observations: np.ndarray) -> np.ndarray:
            return np.repeat(prior[None], len(observations), axis=0)

        metrics = evaluator(predict(evaluator.x_test))
        progress(1, 1, {"rel_l2": metrics["rel_l2"]})
        return SolveResult("ok", [Checkpoint(wall_s=0.0, step=0, metrics=metrics)], "refinement", predict,
                           {"setup_s": setup_s, "solve_s": 0.0}, {"wave_solves_per_model": 0})
