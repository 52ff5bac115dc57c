"""Filtered back-projection with a tuned filter: the classical CT baseline.

An untuned Ram-Lak FBP is a weak baseline at low dose or few angles (LoDoPaB's tuned Hann
filter gains ~6 dB over it), so by default the filter window and its frequency cutoff
are chosen by mean PSNR on the validation split over every window and a grid of cutoffs;
the choice is recorded in the run's ``info.tuned``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from parity.knobs import knob
from parity.numerics import radon
from parity.problems.base import Problem
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.reconstruction.classical_reconstruction import Build, Reconstruct, in_chunks, tuned_solve, validation_psnr

CUTOFFS = tuple(np.round(np.linspace(0.3, 1.0, 15), 3))
"""Frequency scalings searched (fractions of the detector's Nyquist frequency)."""


@dataclasses.dataclass(frozen=True)
class FilteredBackProjection(Solver):
    name: ClassVar[str] = "fbp"
    approach: ClassVar[str] = "classical"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "filtered back-projection; filter window and cutoff tuned on the validation split"
    deterministic: ClassVar[bool] = True

    filter: str = knob("tuned", "filter window, or 'tuned' to choose window and cutoff on validation",
                       "tuned or " + ", ".join(radon.FILTERS), lambda f: f == "tuned" or f in radon.FILTERS)
    frequency_scaling: float = knob(1.0, "cutoff as a fraction of Nyquist (ignored when tuned)", "number in (0, 1]", lambda s: 0 < s <= 1)

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ParallelBeamCT2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ParallelBeamCT2D)
        return tuned_solve(problem, evaluator, progress, lambda: self._tune(problem))

    def _tune(self, problem: ParallelBeamCT2D) -> tuple[Build, dict[str, float | str]]:
        windows = radon.FILTERS if self.filter == "tuned" else (self.filter,)
        cutoffs = CUTOFFS if self.filter == "tuned" else (self.frequency_scaling,)
        operator = problem.operator()
        scores = {(window, cutoff): validation_psnr(reconstructor(operator, window, cutoff), problem) for window in windows for cutoff in cutoffs}
        window, cutoff = max(scores, key=scores.__getitem__)
        return lambda operator: reconstructor(operator, window, cutoff), {
            "filter": window, "frequency_scaling": float(cutoff), "validation_psnr": scores[window, cutoff]}


def reconstructor(operator: radon.ParallelBeamRadon, window: str, cutoff: float) -> Reconstruct:
    """Batched FBP of ``operator``'s sinograms with one filter window and cutoff (what the tuning searches over)."""
    geometry = operator.geometry
    response = jnp.asarray(radon.filter_response(geometry.n_det, geometry.pixel, window, float(cutoff)), jnp.float32)
    batched = _batched_fbp(geometry)
    return lambda observations: in_chunks(lambda chunk: batched(chunk, response), observations, chunk=16)


@functools.lru_cache(maxsize=16)
def _batched_fbp(geometry: radon.Geometry) -> Callable:
    """Batched FBP for one geometry, compiled once: the filter response is an argument, so the search never recompiles."""
    return jax.jit(jax.vmap(lambda sinogram, response: radon.fbp_backprojection(geometry, radon.apply_filter(sinogram, response)),
                            in_axes=(0, None)))
