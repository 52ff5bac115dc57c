"""What the classical reconstruction solvers share: tune on validation, then reconstruct.

A classical inversion has no training, but it has settings a fair comparison must tune
(FBP's filter and cutoff, TV's weight). They are chosen by mean PSNR on the problem's
*validation* split, and that search is recorded as the method's one-off cost (``train_s``),
the counterpart of a learned method's training. The result is built, with the chosen
settings, for the operator that measured the test split (``test_operator()``: the tuning
one unless a shift measures fewer observations) and reconstructs any batch of its
observations; its single checkpoint is the test set's quality and reconstruction time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from parity.evaluation import Evaluator
from parity.numerics import image_quality
from parity.operators import MeasurementOperator
from parity.problems.inverse import InverseProblem
from parity.solvers.base import Checkpoint, ProgressFn, SolveResult

Reconstruct = Callable[[np.ndarray], np.ndarray]
"""observations (m, ...) -> reconstructions (m, h, w), real."""
Build = Callable[[MeasurementOperator], Reconstruct]
"""A tuned method, built for the operator that measured the observations it will reconstruct."""


def validation_psnr(reconstruct: Reconstruct, problem: InverseProblem, limit: int | None = None) -> float:
    """Mean PSNR of ``reconstruct`` on (the first ``limit`` samples of) the validation split."""
    validation = problem.dataset("validation")
    chosen = slice(None, limit)
    reconstructions = reconstruct(validation.observations[chosen])
    return float(np.mean([image_quality.psnr(r, t) for r, t in zip(reconstructions, validation.truths[chosen], strict=True)]))


def tuned_solve(
    problem: InverseProblem,
    evaluator: Evaluator,
    progress: ProgressFn,
    tune: Callable[[], tuple[Build, dict[str, Any]]],
) -> SolveResult:
    """Time the operators' set-up, ``tune()`` (validation search) and the test reconstruction apart."""
    started = time.perf_counter()
    problem.operator()
    test_operator = problem.test_operator()
    problem.dataset("validation")
    setup_s = time.perf_counter() - started
    started = time.perf_counter()
    build, chosen = tune()
    tune_s = time.perf_counter() - started
    progress(1, 2, {})
    started = time.perf_counter()
    reconstruct = build(test_operator)
    reconstructions = reconstruct(evaluator.x_test)
    solve_s = time.perf_counter() - started
    metrics = evaluator(reconstructions)
    progress(2, 2, {"psnr": metrics.get("psnr", float("nan"))})
    return SolveResult(
        status="ok",
        trace=[Checkpoint(wall_s=solve_s, step=1, metrics=metrics)],
        trace_kind="refinement",
        predict=reconstruct,
        timings={"setup_s": setup_s, "train_s": tune_s, "solve_s": solve_s},
        info={"tuned": chosen, "n_validation": problem.split_size("validation")},
    )


def padded_chunk(part: np.ndarray, size: int) -> np.ndarray:
    """``part`` filled up to ``size`` rows with copies of its last, so a compiled batch function sees one shape."""
    return np.concatenate([part, np.repeat(part[-1:], size - len(part), axis=0)]) if len(part) < size else part


def in_chunks(fn: Callable[[np.ndarray], np.ndarray], observations: np.ndarray, chunk: int) -> np.ndarray:
    """``fn`` over fixed-size chunks (the last one padded), so a jitted ``fn`` compiles once."""
    outputs = []
    for start in range(0, len(observations), chunk):
        part = observations[start:start + chunk]
        outputs.append(np.asarray(fn(padded_chunk(part, chunk)))[: len(part)])
    return np.concatenate(outputs)
