"""Classical full-waveform inversion: Devito adjoint-state gradients, L-BFGS-B, frequency continuation.

Each test gather is inverted on its own from the problem's prior model. The misfit
1/2 |P_k (d(c) - d_obs)|^2 is minimised band after band, P_k a zero-phase low-pass whose
cut-off rises towards the full band: fitting the low frequencies first keeps the
inversion out of the cycle-skipped local minima that sharp layers otherwise cause
(Bunks et al. 1995). L-BFGS-B keeps c inside the problem's velocity range. Cost is
counted in wall time and in wave solves (one forward + one adjoint per shot per
gradient); the trace follows the test models' mean error against iterations.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import scipy.optimize

from parity.knobs import at_least, knob, positive
from parity.numerics.seismic_devito import SeismicModeller
from parity.problems.base import Problem
from parity.problems.seismic_2d import VELOCITY_RANGE, SeismicFWI2D
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.seismic.per_sample_inversion import aligned, memoised_predict


def lowpass(dt: float, cutoff: float, order: int = 8) -> Callable[[np.ndarray], np.ndarray]:
    """P: a zero-phase low-pass of traces along axis 0, self-adjoint so that P^T P = P P.

    Its gain 1 / (1 + (f / cutoff)^order) is real and even in f, and traces are zero-padded
    to twice their length, so P is a symmetric convolution without wrap-around.
    """
    def apply(traces: np.ndarray) -> np.ndarray:
        n = traces.shape[0]
        gain = 1.0 / (1.0 + (np.fft.rfftfreq(2 * n, dt) / cutoff) ** order)
        return np.fft.irfft(np.fft.rfft(traces, 2 * n, axis=0) * gain[:, None], 2 * n, axis=0)[:n]
    return apply


@dataclasses.dataclass
class Inversion:
    """One model's iterates at the checkpoints, with the seconds and wave solves they cost."""

    velocities: list[np.ndarray] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)
    solves: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class FullWaveformInversion(Solver):
    name: ClassVar[str] = "fwi"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "adjoint-state FWI on Devito, L-BFGS-B in the velocity range, low-to-high frequency continuation"
    deterministic: ClassVar[bool] = True

    bands: tuple[float, ...] = knob((0.5, 1.0, 3.0), "low-pass cut-offs of the continuation, as multiples of the peak frequency (3 is the full band)",
                                    "increasing positive numbers", lambda b: len(b) > 0 and all(x > 0 for x in b) and list(b) == sorted(b))
    iterations: int = knob(15, "L-BFGS-B iterations per band", "integer >= 1", at_least(1))
    precondition: bool = knob(True, "scale the gradient by the inverse square root of the source illumination (pseudo-Hessian)")
    stabiliser: float = knob(1e-3, "eps in (illumination / max + eps): bounds the preconditioner's gain at 1 / sqrt(eps)", "number > 0", positive)
    checkpoint_every: int = knob(5, "iterations between the trace's checkpoints", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, SeismicFWI2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, SeismicFWI2D)
        started = time.perf_counter()
        modeller = problem.modeller()
        start = problem.prior_model()
        observations = np.asarray(evaluator.x_test)
        setup_s = time.perf_counter() - started
        total = len(observations) * self.iterations * len(self.bands)
        inversions: list[Inversion] = []
        for index, observed in enumerate(observations):
            inversions.append(self.invert(modeller, start, observed, problem.frequency,
                                           lambda k, i=index: progress(i * self.iterations * len(self.bands) + k, total, {})))
            if time.perf_counter() - started > budget.seconds:
                return SolveResult("timeout", [], "iterative", None, {"setup_s": setup_s},
                                   message=f"stopped after {index + 1} of {len(observations)} inversions")
        trace = self._trace(inversions, evaluator)
        final = np.stack([inversion.velocities[-1] for inversion in inversions])
        progress(total, total, {"rel_l2": trace[-1].metrics["rel_l2"]})
        per_model_s = float(np.mean([inversion.seconds[-1] for inversion in inversions]))
        return SolveResult(
            status="ok", trace=trace, trace_kind="iterative",
            predict=memoised_predict(observations, final, "FWI"),
            timings={"setup_s": setup_s, "compile_s": modeller.compile_s, "train_s": 0.0, "solve_s": per_model_s * len(inversions),
                     "reconstruction_s": per_model_s},
            info={"wave_solves_per_model": float(np.mean([inversion.solves[-1] for inversion in inversions])),
                  "shots": modeller.survey.shots, "bands_hz": [b * problem.frequency for b in self.bands]},
        )

    def invert(self, modeller: SeismicModeller, start: np.ndarray, observed: np.ndarray, peak: float,
                progress: Callable[[int], None]) -> Inversion:
        """L-BFGS-B band by band from ``start``; iterates kept every ``checkpoint_every`` iterations and at each band's end."""
        inversion, shape = Inversion(), start.shape
        solves_before, seconds = modeller.solves.forward + modeller.solves.adjoint, 0.0
        velocity, done = start.astype(np.float64), 0

        def keep() -> None:
            if inversion.solves and inversion.solves[-1] == modeller.solves.forward + modeller.solves.adjoint - solves_before:
                return
            inversion.velocities.append(velocity.copy())
            inversion.seconds.append(seconds)
            inversion.solves.append(modeller.solves.forward + modeller.solves.adjoint - solves_before)

        keep()
        for number, band in enumerate(self.bands, start=1):
            data_filter = lowpass(modeller.survey.dt, band * peak)
            band_seconds, band_started = seconds, time.perf_counter()
            origin, weight = velocity.copy(), self._preconditioner(modeller, velocity)
            scale = [0.0]

            def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
                misfit, gradient = modeller.misfit_and_gradient(origin + weight * p.reshape(shape), observed, data_filter)
                scale[0] = scale[0] or misfit  # the band's first misfit: the objective starts at 1
                return misfit / scale[0], (weight * gradient).ravel() / scale[0]

            def after_iteration(p: np.ndarray) -> None:
                nonlocal velocity, done, seconds
                velocity, done = origin + weight * p.reshape(shape), done + 1
                seconds = band_seconds + time.perf_counter() - band_started
                progress(done)
                if done % self.checkpoint_every == 0:
                    keep()

            low, high = VELOCITY_RANGE[0], modeller.c_max  # the modeller's time step and sponge hold up to c_max
            bounds = np.stack([(low - origin) / weight, (high - origin) / weight], axis=-1)
            result = scipy.optimize.minimize(
                objective, np.zeros(velocity.size), jac=True, method="L-BFGS-B", bounds=bounds.reshape(-1, 2),
                callback=after_iteration, options={"maxiter": self.iterations, "maxfun": 3 * self.iterations},
            )
            velocity, seconds = origin + weight * result.x.reshape(shape), band_seconds + time.perf_counter() - band_started
            done = number * self.iterations  # a band may stop early: L-BFGS-B converged or out of evaluations
            progress(done)
            keep()
        return inversion

    def _preconditioner(self, modeller: SeismicModeller, velocity: np.ndarray) -> np.ndarray:
        """c = c_band_start + W p with W = (illumination / max + eps)^(-1/2): L-BFGS-B on p sees the
        pseudo-Hessian-scaled gradient W g (consistently: p's objective is the same misfit), so deep
        cells, weakly illuminated, move as readily as those near the sources."""
        if not self.precondition:
            return np.ones_like(velocity)
        illumination = modeller.illumination(velocity)
        return 1.0 / np.sqrt(illumination / illumination.max() + self.stabiliser)

    def _trace(self, inversions: list[Inversion], evaluator: Evaluator) -> list[Checkpoint]:
        """Checkpoint j: every model's j-th kept iterate (its last when it kept fewer), scored together."""
        count = max(len(inversion.velocities) for inversion in inversions)
        trace = []
        for j in range(count):
            at = aligned([len(inversion.velocities) for inversion in inversions], j)
            velocities = np.stack([inversion.velocities[k] for inversion, k in zip(inversions, at, strict=True)])
            trace.append(Checkpoint(
                wall_s=float(np.mean([inversion.seconds[k] for inversion, k in zip(inversions, at, strict=True)])), step=j,
                metrics=evaluator(velocities),
                details={"wave_solves": float(np.mean([inversion.solves[k] for inversion, k in zip(inversions, at, strict=True)]))},
            ))
        return trace

