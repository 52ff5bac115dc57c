"""The refinement sweep shared by classical solvers.

A classical baseline is a curve, not a point: the solver is run at each resolution
(degree, mesh size, tolerance) from coarse to fine, each solve timed on its own, and the
finest one that fitted in the budget is the result. Future classical solvers (FEM, FD)
plug a ``solve_at(resolution)`` into the same loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from jaxtyping import Float

from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, SolveResult
from parity.solvers.timing import median_time

R = TypeVar("R")
Solution = Callable[[Float[np.ndarray, "m d"]], Float[np.ndarray, "m out"]]


def refinement_sweep(
    resolutions: Sequence[R],
    solve_at: Callable[[R], Solution],
    cost_of: Callable[[R, Solution], int],
    budget: Budget,
    evaluator: Evaluator,
    progress: ProgressFn,
    min_timing_s: float = 0.05,
    details_of: Callable[[Solution], dict[str, float]] = lambda _: {},
    own_time: Callable[[Solution], float] | None = None,
) -> tuple[SolveResult, R]:
    """Solve at each resolution in turn; return the result and the resolution it ended at.

    ``cost_of(resolution, solution)`` is the trace's ``step``: degrees of freedom, or
    right-hand-side evaluations, whichever measures the work of that solve;
    ``details_of(solution)`` adds solver-specific columns to the trace; ``own_time``, when
    given, reads a solve's time from the solution (one run, one-off compilation left
    out) instead of timing ``solve_at`` by repetition. Once the
    budget's seconds are spent the sweep stops with status ``timeout``, keeping what it has.
    """
    trace: list[Checkpoint] = []
    solution: Solution | None = None
    started = time.perf_counter()
    for i, resolution in enumerate(resolutions):
        if own_time is None:
            seconds, solution = median_time(lambda: solve_at(resolution), min_total_s=min_timing_s)
        else:
            solution = solve_at(resolution)
            seconds = own_time(solution)
        metrics = evaluator(solution(evaluator.x_test))
        trace.append(Checkpoint(seconds, cost_of(resolution, solution), metrics, details=details_of(solution)))
        progress(i + 1, len(resolutions), {"rel_l2": metrics["rel_l2"]})
        if time.perf_counter() - started > budget.seconds and i + 1 < len(resolutions):
            break
    assert solution is not None, "a refinement sweep needs at least one resolution"
    result = SolveResult(
        status="ok" if len(trace) == len(resolutions) else "timeout",
        trace=trace,
        trace_kind="refinement",
        predict=solution,
        timings={"setup_s": 0.0, "solve_s": trace[-1].wall_s},
        message="" if len(trace) == len(resolutions) else f"time budget spent after {len(trace)} resolutions",
    )
    return result, resolutions[len(trace) - 1]

