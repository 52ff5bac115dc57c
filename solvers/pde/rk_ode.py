"""Adaptive high-order Runge-Kutta (SciPy DOP853) for du/dx = f(x), u(x0) = u0.

The generic time-stepping baseline: march from x0 to both ends of the domain with a
tolerance sweep, so its error-versus-cost curve sits beside the spectral one.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from jaxtyping import Float

from parity.knobs import knob
from parity.problems.base import ForwardProblem, Problem, SourceODE1D
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.pde.refinement import refinement_sweep

if TYPE_CHECKING:  # SciPy's integrators are imported where used: parity.solvers imports this module for every run
    from scipy.integrate import OdeSolution


@dataclasses.dataclass(frozen=True)
class Dop853Solution:
    """Dense output of two marches from the anchor, one to each end of the interval."""

    x0: float
    left: OdeSolution
    right: OdeSolution
    rhs_evaluations: int

    def __call__(self, x: Float[np.ndarray, "m 1"]) -> Float[np.ndarray, "m 1"]:
        x = np.asarray(x)[:, 0]
        u = np.where(x < self.x0, self.left(np.minimum(x, self.x0))[0], self.right(np.maximum(x, self.x0))[0])
        return u[:, None]


def dop853_solution(problem: SourceODE1D, tol: float) -> Dop853Solution:
    """Integrate du/dx = f from the anchor to both ends with rtol = atol = ``tol``."""
    from scipy.integrate import solve_ivp

    assert isinstance(problem, ForwardProblem)
    x0, u0 = problem.anchor

    def rhs(x: float, _u: np.ndarray) -> np.ndarray:
        return np.atleast_1d(problem.source(np.asarray(x)))

    left, right = (
        solve_ivp(rhs, (x0, end), [u0], method="DOP853", rtol=tol, atol=tol, dense_output=True)
        for end in (float(problem.bounds[0][0]), float(problem.bounds[1][0]))
    )
    return Dop853Solution(x0, left.sol, right.sol, int(left.nfev + right.nfev))


@dataclasses.dataclass(frozen=True)
class RungeKuttaODE(Solver):
    name: ClassVar[str] = "rk_ode"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "adaptive Runge-Kutta DOP853 (SciPy) over a tolerance sweep"
    deterministic: ClassVar[bool] = True

    tolerances: tuple[float, ...] = knob(
        (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12),
        "relative = absolute tolerances of the sweep (the last one is the result)",
        "non-empty list of numbers in (0, 1)",
        lambda ts: len(ts) > 0 and all(0 < t < 1 for t in ts),
    )

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem) and isinstance(problem, SourceODE1D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem) and isinstance(problem, SourceODE1D)
        result, tol = refinement_sweep(
            self.tolerances, lambda tol: dop853_solution(problem, tol), lambda _, solution: solution.rhs_evaluations,
            budget, evaluator, progress, min_timing_s=0.02,
        )
        result.info = {"tolerance": tol, "rhs_evaluations": result.trace[-1].step}
        return result
