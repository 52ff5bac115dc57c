"""The problem's own classical scheme on coarser grids: the classical side of "same accuracy, how fast?".

A surrogate is trained to reproduce a reference solver. The fair question is not how fast it
is against that reference at the reference's (converged, often excessive) resolution, but
against the same scheme run at the coarsest resolution that reaches the surrogate's error
(McGreivy & Hakim 2024). This solver runs a :class:`CoarseSolvable` problem's scheme from
the *learning-grid* inputs (the information the surrogate gets) at each resolution of a
refinement sweep and scores every resolution on the test instances. A trace point's
``wall_s`` is the seconds per instance, solving the test set in batches (as a surrogate
predicts it), compilation excluded and recorded apart.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import numpy as np

from parity.evaluation import Evaluator
from parity.knobs import at_least, knob
from parity.problems.base import Problem
from parity.problems.operator_learning import CoarseSolvable, OperatorProblem
from parity.solvers.base import Budget, Checkpoint, ProgressFn, Solver, SolveResult, Status


@dataclasses.dataclass(frozen=True)
class CoarseGrid(Solver):
    name: ClassVar[str] = "coarse_grid"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "the problem's reference scheme (spectral, FEM) from the same inputs, over a refinement sweep of resolutions"
    deterministic: ClassVar[bool] = True

    resolutions: tuple[int, ...] = knob((), "resolutions of the sweep, coarse to fine (empty: the problem's own sweep)", "comma-separated integers >= 2 (or none)",
                                        lambda values: all(v >= 2 for v in values))
    scheme: str = knob("", "the problem's classical scheme to sweep (empty: its reference's own; kolmogorov_2d: spectral or finite_volume)",
                       "empty or one of the problem's coarse_schemes")
    batch: int = knob(32, "instances solved together (vectorised), as a surrogate predicts them", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, OperatorProblem) and isinstance(problem, CoarseSolvable)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, OperatorProblem) and isinstance(problem, CoarseSolvable)
        scheme = self.scheme or problem.coarse_schemes[0]
        resolutions = self.resolutions or problem.scheme_resolutions(scheme)
        inputs = np.asarray(evaluator.x_test)
        trace: list[Checkpoint] = []
        compile_s, message = 0.0, ""
        status: Status = "ok"
        started = time.perf_counter()
        for index, resolution in enumerate(resolutions):
            warm = time.perf_counter()
            problem.solve_inputs_with(scheme, inputs[: min(self.batch, len(inputs))], resolution)  # compiles (a full batch's shape) outside the timing
            compile_s += time.perf_counter() - warm
            solve_started = time.perf_counter()
            outputs = self._solve_all(problem, scheme, inputs, resolution)
            seconds = time.perf_counter() - solve_started
            metrics = evaluator(outputs)
            trace.append(Checkpoint(seconds / len(inputs), resolution, metrics, details={"test_set_s": seconds}))
            progress(index + 1, len(resolutions), {"rel_l2": metrics["rel_l2"]})
            if time.perf_counter() - started > budget.seconds and index + 1 < len(resolutions):
                status, message = "timeout", f"time budget of {budget.seconds:g} s spent after resolution {resolution}"
                break
        finest = trace[-1].step
        return SolveResult(
            status=status,
            trace=trace,
            trace_kind="refinement",
            predict=lambda x: self._solve_all(problem, scheme, np.asarray(x), finest),
            timings={"compile_s": compile_s, "solve_s": sum(point.details["test_set_s"] for point in trace)},
            info={"resolution": finest, "resolutions": [point.step for point in trace], "batch": self.batch, "scheme": scheme},
            message=message,
        )

    def _solve_all(self, problem: CoarseSolvable, scheme: str, inputs: np.ndarray, resolution: int) -> np.ndarray:
        """Every instance at ``resolution``, in batches of ``batch`` (the last one padded to the compiled shape)."""
        outputs = []
        for start in range(0, len(inputs), self.batch):
            part = inputs[start : start + self.batch]
            short = len(part) < self.batch and start > 0  # a last partial batch takes the compiled shape; a lone one has it already
            padded = np.concatenate([part, np.repeat(part[-1:], self.batch - len(part), axis=0)]) if short else part
            outputs.append(problem.solve_inputs_with(scheme, padded, resolution)[: len(part)])
        return np.concatenate(outputs)
