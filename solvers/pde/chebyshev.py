"""Chebyshev spectral integration for du/dx = f(x), u(x0) = u0.

Interpolate f at N Chebyshev points, integrate the series exactly, pin it at x0. For a
smooth f the error falls exponentially once N resolves the highest frequency, which
makes this the strong classical baseline for the 1D problem. It runs over a resolution
sweep, so the record holds a whole error-versus-cost curve.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from jaxtyping import Float
from numpy.polynomial import Chebyshev as ChebyshevSeries

from parity.knobs import all_at_least, knob
from parity.problems.base import ForwardProblem, Problem, SourceODE1D
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.pde.refinement import refinement_sweep


@dataclasses.dataclass(frozen=True)
class ChebyshevSolution:
    """The solution as a Chebyshev series on the problem's interval."""

    series: ChebyshevSeries

    def __call__(self, x: Float[np.ndarray, "m 1"]) -> Float[np.ndarray, "m 1"]:
        return self.series(np.asarray(x)[:, 0])[:, None]


def chebyshev_solution(problem: SourceODE1D, degree: int) -> ChebyshevSolution:
    """Interpolate f at ``degree`` + 1 Chebyshev points, integrate exactly, pin at the anchor."""
    assert isinstance(problem, ForwardProblem)
    domain = [float(problem.bounds[0][0]), float(problem.bounds[1][0])]
    x0, u0 = problem.anchor
    return ChebyshevSolution(ChebyshevSeries.interpolate(problem.source, degree, domain=domain).integ(lbnd=x0) + u0)


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
        result, degree = refinement_sweep(
            self.resolutions, lambda degree: chebyshev_solution(problem, degree), lambda degree, _: degree + 1,
            budget, evaluator, progress,
        )
        result.info = {"resolution": degree, "dofs": degree + 1}
        return result
