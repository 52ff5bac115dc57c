"""Total-variation regularised reconstruction by PDHG (Chambolle-Pock): CT's TV and MRI's CS-TV.

min_x 1/2 |A x - y|^2 + lambda TV(x) (and x >= 0 for CT). The weight is chosen by mean
validation PSNR (coarse log grid, then a local refinement) on ``tuning_samples``
validation images; it is searched as lambda = c |A|^2, so one grid of c fits every
operator scaling, and c is what carries over to a test operator with fewer observations.
The search is the method's one-off cost.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from parity.knobs import at_least, knob
from parity.numerics import tv
from parity.operators import operator_norm
from parity.problems.base import Problem
from parity.problems.inverse import InverseProblem
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.operators import MeasurementOperator
from parity.solvers.reconstruction.classical_reconstruction import Build, Reconstruct, in_chunks, tuned_solve

RELATIVE_WEIGHTS = tuple(float(c) for c in np.logspace(-4, 0, 9))
"""The coarse grid of c in lambda = c |A|^2."""


@dataclasses.dataclass(frozen=True)
class TVReconstruction(Solver):
    name: ClassVar[str] = "tv"
    approach: ClassVar[str] = "classical"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "TV-regularised least squares by PDHG (Chambolle-Pock); weight tuned on the validation split"
    deterministic: ClassVar[bool] = True

    iterations: int = knob(300, "PDHG iterations per reconstruction", "integer >= 1", at_least(1))
    weight: float = knob(0.0, "TV weight lambda; 0 chooses it on the validation split", "number >= 0", at_least(0))
    tuning_samples: int = knob(10, "validation images the weight search uses (also the batch size of reconstructions)", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, InverseProblem) and problem.linear

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, InverseProblem)
        return tuned_solve(problem, evaluator, progress, lambda: self._tune(problem))

    def _tune(self, problem: InverseProblem) -> tuple[Build, dict[str, float]]:
        operator = problem.operator()
        norm = operator_norm(operator)

        def reconstruct_with(operator: MeasurementOperator, norm: float, weight: float) -> Reconstruct:
            nonnegative = not operator.complex_valued

            def reconstruct(chunk: np.ndarray) -> np.ndarray:
                images = tv.tv_reconstruct_batch(operator, chunk, weight, self.iterations, nonnegative, operator_norm=norm)
                return np.stack([problem.picture(image) for image in np.asarray(images)])
            return lambda observations: in_chunks(reconstruct, observations, self.tuning_samples)

        def build(test_operator: MeasurementOperator) -> Reconstruct:
            """TV with the tuned relative weight c = lambda / |A|^2 on ``test_operator``."""
            test_norm = norm if test_operator is operator else operator_norm(test_operator)
            return reconstruct_with(test_operator, test_norm, best * (test_norm / norm) ** 2)

        chosen = {"operator_norm": norm}
        if self.weight > 0:
            best = self.weight
        else:
            validation = problem.dataset("validation")
            count = min(self.tuning_samples, len(validation.truths))
            observations, truths = validation.observations[:count], validation.truths[:count]
            best, _ = tv.choose_weight(lambda w: reconstruct_with(operator, norm, w)(observations), truths,
                                       [c * norm**2 for c in RELATIVE_WEIGHTS])
            chosen["tuning_samples"] = count
        return build, {"weight": best, "relative_weight": best / norm**2, **chosen}
