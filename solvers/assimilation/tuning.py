"""What the classical assimilation methods share: tune on validation experiments, then assimilate.

A filter, a smoother or 4D-Var has settings a fair comparison must tune (an ensemble's
inflation, a variational background's weight). Each is chosen by the analysis RMSE on the problem's
*validation* experiments over a fixed grid of candidates, and that search is the method's
one-off cost (``train_s``), the counterpart of a learned method's training. The tuned method
then assimilates the test observations; its single checkpoint is the test score and time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from parity import moved
from parity.evaluation import Evaluator
from parity.problems.assimilation import AssimilationProblem
from parity.solvers.base import Checkpoint, ProgressFn, SolveResult

__getattr__ = moved.names_getattr(__name__)  # tuned_filter_solve, now tuned_assimilation_solve

Assimilate = Callable[[np.ndarray], np.ndarray]
"""observations (experiments, cycles, observed) -> the state's estimates (experiments, cycles, state)."""


def choose(build: Callable[[float], Assimilate], candidates: Sequence[float], problem: AssimilationProblem,
           progress: ProgressFn) -> tuple[float, float]:
    """The candidate with the lowest validation analysis RMSE (a diverged candidate scores infinity), and that RMSE."""
    validation = problem.experiments("validation")
    scores: dict[str, float] = {}
    for index, value in enumerate(candidates):
        analyses = build(value)(validation.observations)
        score = problem.score(analyses, validation.truths)["rmse"] if np.all(np.isfinite(analyses)) else math.inf
        scores[f"{value:g}"] = score
        progress(index + 1, len(candidates) + 1, {"rmse": score})
    best = min(candidates, key=lambda value: scores[f"{value:g}"])
    return best, scores[f"{best:g}"]


def given_or_chosen(name: str, value: float, candidates: Sequence[float], build: Callable[[float], Assimilate],
                    problem: AssimilationProblem, progress: ProgressFn) -> tuple[Assimilate, dict[str, Any]]:
    """The method with its setting ``name`` at ``value``, or (``value`` 0) at the validation search's best candidate."""
    if value:
        return build(value), {name: value}
    best, score = choose(build, candidates, problem, progress)
    return build(best), {name: best, "validation_rmse": score, "candidates": len(candidates)}


def tuned_assimilation_solve(problem: AssimilationProblem, evaluator: Evaluator, progress: ProgressFn,
                             tune: Callable[[], tuple[Assimilate, dict[str, Any]]]) -> SolveResult:
    """Time the prior, its square root and the validation data (set-up), ``tune()`` and the test assimilation apart."""
    started = time.perf_counter()
    problem.prior_root  # noqa: B018 - computed here (with the prior) so set-up, not tuning, pays for it
    problem.experiments("validation")
    setup_s = time.perf_counter() - started
    started = time.perf_counter()
    assimilate, chosen = tune()
    tune_s = time.perf_counter() - started
    problem.check_observations(evaluator.x_test)
    started = time.perf_counter()
    analyses = assimilate(evaluator.x_test)
    solve_s = time.perf_counter() - started
    metrics = evaluator(analyses)
    finite = bool(np.all(np.isfinite(analyses)))
    progress(1, 1, {"rmse": metrics.get("rmse", math.nan)})
    return SolveResult(
        status="ok" if finite else "diverged",
        trace=[Checkpoint(wall_s=solve_s, step=1, metrics=metrics)],
        trace_kind="refinement",
        predict=assimilate,
        timings={"setup_s": setup_s, "train_s": tune_s, "solve_s": solve_s},
        info={"tuned": chosen, "observed_cycles": problem.observed_cycles, "n_validation": problem.n_validation},
        message="" if finite else "the analyses left the finite numbers",
    )
