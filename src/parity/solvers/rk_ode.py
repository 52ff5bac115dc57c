"""Adaptive high-order Runge-Kutta (SciPy DOP853) for du/dx = f(x), u(x0) = u0.

The generic time-stepping baseline: march from x0 to both ends of the domain with a
tolerance sweep, so its error-versus-cost curve sits beside the spectral one.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import numpy as np
from scipy.integrate import solve_ivp

from parity.knobs import knob
from parity.problems.base import ForwardProblem, Problem, SourceODE1D
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, SolveResult, Solver
from parity.solvers.timing import median_time


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
        a, b = float(problem.bounds[0][0]), float(problem.bounds[1][0])
        x0, u0 = problem.anchor

        def rhs(x: float, _u: np.ndarray) -> np.ndarray:
            return np.atleast_1d(problem.source(np.asarray(x)))

        def solve_at(tol: float) -> tuple:
            # Two marches from the anchor; each gives a dense (continuous) solution.
            return tuple(solve_ivp(rhs, (x0, end), [u0], method="DOP853", rtol=tol, atol=tol, dense_output=True) for end in (a, b))

        def evaluate(marches: tuple, x: np.ndarray) -> np.ndarray:
            left, right = marches
            return np.where(x < x0, left.sol(np.minimum(x, x0))[0], right.sol(np.maximum(x, x0))[0])

        trace: list[Checkpoint] = []
        marches: tuple = ()
        started = time.perf_counter()
        for i, tol in enumerate(self.tolerances):
            seconds, marches = median_time(lambda: solve_at(tol), min_total_s=0.02, max_repeats=5)
            metrics = evaluator(evaluate(marches, evaluator.x_test[:, 0])[:, None])
            trace.append(Checkpoint(wall_s=seconds, step=int(sum(m.nfev for m in marches)), metrics=metrics))
            progress(i + 1, len(self.tolerances), {"rel_l2": metrics["rel_l2"]})
            if time.perf_counter() - started > budget.seconds and i + 1 < len(self.tolerances):
                break
        final = marches
        return SolveResult(
            status="ok" if len(trace) == len(self.tolerances) else "timeout",
            trace=trace,
            trace_kind="refinement",
            predict=lambda x: evaluate(final, np.asarray(x)[:, 0])[:, None],
            timings={"setup_s": 0.0, "solve_s": trace[-1].wall_s},
            info={"tolerance": self.tolerances[len(trace) - 1], "rhs_evaluations": trace[-1].step},
        )
