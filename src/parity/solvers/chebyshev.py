"""Chebyshev spectral integration for du/dx = f(x), u(x0) = u0.

Interpolate f at N Chebyshev points, integrate the series exactly, pin it at x0. For a
smooth f the error falls exponentially once N resolves the highest frequency, which
makes this the strong classical baseline for the 1D problem. It runs over a resolution
sweep, so the record holds a whole error-versus-cost curve.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import numpy as np
from numpy.polynomial import Chebyshev as ChebyshevSeries

from parity.knobs import all_at_least, knob
from parity.problems.base import ForwardProblem, Problem, SourceODE1D
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, SolveResult, Solver
from parity.solvers.timing import median_time


def chebyshev_solution(problem: SourceODE1D, degree: int) -> ChebyshevSeries:
    """The solution as a Chebyshev series of ``degree`` + 1 terms on the problem's interval."""
    assert isinstance(problem, ForwardProblem)
    domain = [float(problem.bounds[0][0]), float(problem.bounds[1][0])]
    x0, u0 = problem.anchor
    return ChebyshevSeries.interpolate(problem.source, degree, domain=domain).integ(lbnd=x0) + u0


@dataclasses.dataclass(frozen=True)
class Chebyshev(Solver):
    name: ClassVar[str] = "chebyshev"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "Chebyshev interpolation of the source and exact series integration (NumPy)"
    deterministic: ClassVar[bool] = True

    resolutions: tuple[int, ...] = knob(
        (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512),
        "polynomial degrees of the refinement sweep (the last one is the result)",
        "non-empty list of integers >= 2",
        all_at_least(2),
    )

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem) and isinstance(problem, SourceODE1D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem) and isinstance(problem, SourceODE1D)
        trace: list[Checkpoint] = []
        series = None
        started = time.perf_counter()
        for i, degree in enumerate(self.resolutions):
            seconds, series = median_time(lambda: chebyshev_solution(problem, degree))
            metrics = evaluator(series(evaluator.x_test[:, 0])[:, None])
            trace.append(Checkpoint(wall_s=seconds, step=degree, metrics=metrics))
            progress(i + 1, len(self.resolutions), {"rel_l2": metrics["rel_l2"]})
            if time.perf_counter() - started > budget.seconds and i + 1 < len(self.resolutions):
                break
        assert series is not None
        final = series
        return SolveResult(
            status="ok" if len(trace) == len(self.resolutions) else "timeout",
            trace=trace,
            trace_kind="refinement",
            predict=lambda x: final(np.asarray(x)[:, 0])[:, None],
            timings={"setup_s": 0.0, "solve_s": trace[-1].wall_s},
            info={"resolution": trace[-1].step, "dofs": trace[-1].step + 1},
        )
