"""What every solver built on the learned denoising prior shares: the prior's cost, the weight search and the timings.

A prior solver loads (or trains, once) the problem's denoiser, compiles its iteration,
chooses its data weight (DPS's guidance, DiffPIR's data-consistency weight, the
plug-and-play denoising strength) by mean PSNR on the first validation images, and then
reconstructs the test observations (with ``test_operator()``, compiled again if a shift
measures them with fewer observations than it tuned on), which *is* its solve: there is no
network of its own to amortise. Its one-off cost is the prior's training seconds (stored with the cached
weights, so every user pays them, not just the first) plus the weight search.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from jaxtyping import Float, Inexact

from parity.knobs import at_least, knob
from parity.numerics import image_quality
from parity.problems.base import Problem
from parity.problems.inverse import InverseProblem
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.priors.denoiser import Denoiser, PriorConfig, trained_prior
from parity.solvers.priors.posterior import DataTerm
from parity.solvers.priors.trained_once import train_truths
from parity.solvers.priors.sampling import Samples
from parity.solvers.priors.unet import check_divisible
from parity.solvers.seismic.per_sample_inversion import memoised_predict

Reconstruct = Callable[[Inexact[np.ndarray, "n ..."], float, int], Samples]
"""``(observations in unit-norm units, weight, seed) -> samples``, compiled for a batch of ``batch`` observations."""


@dataclasses.dataclass(frozen=True)
class PriorSolver(PriorConfig, Solver):
    family: ClassVar[str] = "sciml"
    requires: ClassVar[str] = "a linear inverse problem with real images (ct_2d, mri_2d): it needs the operator's adjoint"
    weight_name: ClassVar[str]
    weight_grid: ClassVar[tuple[float, ...]]
    """The validation search's candidates for the data weight (used when ``weight`` is 0)."""

    weight: float = knob(0.0, "data weight (see the solver's description); 0 chooses it on the validation split", "number >= 0", at_least(0))
    tuning_samples: int = knob(4, "validation images the weight search scores", "integer >= 1", at_least(1))
    batch: int = knob(4, "observations reconstructed per compiled call", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, InverseProblem) and problem.linear

    @abc.abstractmethod
    def compile(self, denoiser: Denoiser, data: DataTerm, dtype: np.dtype) -> Reconstruct:
        """The reconstruction, its iteration compiled for batches of ``batch`` observations of this ``dtype``."""

    @abc.abstractmethod
    def evaluations_per_image(self) -> int:
        """Denoiser calls one reconstruction costs (the cost knob the reports plot quality against)."""

    def prior_config(self) -> PriorConfig:
        return PriorConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(PriorConfig)})

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, InverseProblem)
        check_divisible(problem.image_size, self.prior_levels, self.name)
        started = time.perf_counter()
        train, validation = train_truths(problem, self.name, "denoising prior"), problem.dataset("validation")
        data = DataTerm.of(problem.operator())
        prior = trained_prior(train, validation.truths, self.prior_config(), progress)
        # Training that ran just now is charged once, through train_s, not again as set-up.
        setup_s = time.perf_counter() - started - (0.0 if prior.from_cache else prior.train_s)

        started = time.perf_counter()
        reconstruct = self.compile(prior.model, data, validation.observations.dtype)
        test_data = data.for_test(problem)
        test_reconstruct = reconstruct if test_data is data else self.compile(prior.model, test_data, validation.observations.dtype)
        compile_s = time.perf_counter() - started

        started = time.perf_counter()
        weight, scores = self._tune(reconstruct, data, validation.observations, validation.truths, seed)
        tune_s = time.perf_counter() - started
        progress(1, 2, {})

        started = time.perf_counter()
        samples = test_reconstruct(np.asarray(test_data.scaled(evaluator.x_test)), weight, seed)
        solve_s = time.perf_counter() - started
        metrics = evaluator(samples.mean)
        progress(2, 2, {"psnr": metrics.get("psnr", float("nan"))})
        n_test = len(evaluator.x_test)
        info: dict[str, Any] = {
            self.weight_name: weight, "validation_psnr_by_weight": scores, "tune_s": tune_s,
            "evaluations_per_image": self.evaluations_per_image(), "finished_images": samples.finished,
            "mean_spread": float(np.nanmean(samples.spread)) if samples.finished else float("nan"),
            "prior_train_s": prior.train_s, "prior_from_cache": prior.from_cache, "prior_steps": prior.steps,
            "prior_n_train": prior.n_train, "prior_validation_psnr": prior.validation_psnr,
            "steps": prior.steps, "flops_per_step": prior.flops_per_step,
        }
        if samples.residuals:
            info["fixed_point_residuals"] = list(samples.residuals)
        return SolveResult(
            status="ok" if not samples.message else "diverged",
            trace=[Checkpoint(wall_s=solve_s, step=self.evaluations_per_image(), metrics=metrics, details=self.details(samples))],
            trace_kind="refinement",
            predict=memoised_predict(evaluator.x_test, samples.mean, self.name),
            timings={"setup_s": setup_s, "compile_s": compile_s, "train_s": prior.train_s + tune_s, "solve_s": solve_s,
                     "reconstruction_s": solve_s / n_test},
            info=info,
            message=samples.message,
            pictures={"spread": samples.spread[0]} if samples.finished else {},
        )

    def details(self, samples: Samples) -> dict[str, float]:
        """Solver-specific numbers for the trace's checkpoint."""
        return {"mean_spread": float(np.nanmean(samples.spread)) if samples.finished else float("nan")}

    def _tune(self, reconstruct: Reconstruct, data: DataTerm, observations: np.ndarray, truths: Float[np.ndarray, "n h w"],
              seed: int) -> tuple[float, dict[str, float]]:
        """The fixed weight, or the grid's best by mean PSNR on the first ``tuning_samples`` validation images."""
        if self.weight > 0:
            return self.weight, {}
        count = min(self.tuning_samples, len(truths))
        scaled = np.asarray(data.scaled(observations[:count]))
        scores = {}
        for candidate in self.weight_grid:
            result = reconstruct(scaled, candidate, seed + 1_000_003)  # its own noise: the test draws are not tuned on
            finite = np.all(np.isfinite(result.mean))
            scores[f"{candidate:g}"] = float(np.mean([image_quality.psnr(r, t) for r, t in zip(result.mean, truths[:count], strict=True)])) \
                if finite else float("-inf")
        best = max(scores, key=scores.__getitem__)
        return float(best), scores
