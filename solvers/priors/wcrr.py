"""Reconstruction with the learned weakly convex ridge regulariser: min_x 1/2 |A x - y|^2 + lambda R_sigma(x).

The regulariser (``ridge.py``) is trained once per phantom distribution as a denoiser and
cached; here it enters a classical optimiser: Nesterov's accelerated gradient with
O'Donoghue & Candes's gradient restart, on the unit-norm operator, with step 1 / (1 + lambda L_R)
(L_R bounds the Lipschitz constant of grad R) and, for CT, projection onto x >= 0 as TV has.
Its two settings, lambda and the noise level sigma the regulariser is set for, are chosen
together on validation images. The record keeps the last iterations' relative change, the
evidence the minimisation converged.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Inexact

from parity.knobs import ParameterError, at_least, knob
from parity.numerics import image_quality
from parity.problems.base import Problem
from parity.problems.inverse import InverseProblem
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.priors.posterior import DataTerm
from parity.solvers.priors.trained_once import train_truths
from parity.solvers.priors.ridge import RegulariserConfig, RidgeRegulariser, trained_regulariser
from parity.solvers.reconstruction.classical_reconstruction import padded_chunk
from parity.solvers.seismic.per_sample_inversion import memoised_predict

SIGMA_GRID = (0.005, 0.01, 0.02, 0.05, 0.1)
LAMBDA_GRID = tuple(float(c) for c in np.logspace(-3, 1, 9))

Minimise = Callable[[Inexact[np.ndarray, "n ..."], float, float], tuple[Float[np.ndarray, "n h w"], float]]
"""(observations in unit-norm units, lambda, sigma) -> (reconstructions, last relative change)."""


CHUNK = 10
"""Iterations per compiled call: unrolled, since XLA's CPU convolutions run about 20x slower inside a loop."""

State = tuple[Array, Array, Array, Array]
"""(iterate x, extrapolated point z, momentum t, last relative change)."""


def accelerated_steps(gradient: Callable[[Array], Array], state: State, step: Array, count: int,
                      project: Callable[[Array], Array]) -> State:
    """``count`` projected Nesterov steps with gradient restart (O'Donoghue & Candes 2015), unrolled."""
    def one(carry: State, _: None) -> tuple[State, None]:
        x, z, t, _ = carry
        x_next = project(z - step * gradient(z))
        restart = jnp.sum((z - x_next) * (x_next - x)) > 0  # momentum points uphill: drop it
        t = jnp.where(restart, 1.0, t)
        t_next = (1 + jnp.sqrt(1 + 4 * t**2)) / 2
        change = jnp.linalg.norm(x_next - x) / jnp.maximum(jnp.linalg.norm(x_next), 1e-12)
        return (x_next, x_next + (t - 1) / t_next * (x_next - x), t_next, change), None

    return jax.lax.scan(one, state, None, length=count, unroll=True)[0]


@dataclasses.dataclass(frozen=True)
class WeaklyConvexRidge(RegulariserConfig, Solver):
    name: ClassVar[str] = "wcrr"
    approach: ClassVar[str] = "learned regulariser"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = ("learned weakly convex ridge regulariser (Goujon et al. 2024) minimised with the data term by accelerated "
                                  "gradient; lambda and sigma tuned on validation")
    deterministic: ClassVar[bool] = True
    requires: ClassVar[str] = "a linear inverse problem with real images (ct_2d, mri_2d): it needs the operator's adjoint"

    iterations: int = knob(300, "accelerated-gradient iterations per reconstruction", "integer >= 1", at_least(1))
    weight: float = knob(0.0, "lambda; 0 chooses lambda and sigma together on the validation split", "number >= 0", at_least(0))
    sigma: float = knob(0.0, "noise level the regulariser is set for (with a fixed weight); 0 = chosen with lambda", "number >= 0",
                        at_least(0))
    tuning_samples: int = knob(4, "validation images the search scores", "integer >= 1", at_least(1))
    batch: int = knob(4, "observations reconstructed per compiled call", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, InverseProblem) and problem.linear

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.weight > 0) != (self.sigma > 0):
            raise ParameterError(f"{self.name}: give both weight (lambda) and sigma, or neither (0 tunes both on validation); "
                             f"got weight={self.weight}, sigma={self.sigma}")

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, InverseProblem)
        started = time.perf_counter()
        train, validation = train_truths(problem, self.name, "regulariser"), problem.dataset("validation")
        operator = problem.operator()
        data = DataTerm.of(operator)
        trained = trained_regulariser(train, validation.truths, RegulariserConfig(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(RegulariserConfig)}), progress)
        # Training that ran just now is charged once, through train_s, not again as set-up.
        setup_s = time.perf_counter() - started - (0.0 if trained.from_cache else trained.train_s)

        started = time.perf_counter()
        nonnegative = not operator.complex_valued
        minimise = self._compile(trained.model, data, validation.observations.dtype, nonnegative)
        test_data = data.for_test(problem)
        test_minimise = minimise if test_data is data else self._compile(trained.model, test_data, validation.observations.dtype, nonnegative)
        compile_s = time.perf_counter() - started

        started = time.perf_counter()
        (weight, sigma), scores = self._tune(minimise, data, validation.observations, validation.truths)
        tune_s = time.perf_counter() - started
        progress(1, 2, {})

        started = time.perf_counter()
        images, change = test_minimise(np.asarray(test_data.scaled(evaluator.x_test)), weight, sigma)
        solve_s = time.perf_counter() - started
        finite = bool(np.all(np.isfinite(images)))
        metrics = evaluator(images) if finite else {}
        progress(2, 2, {"psnr": metrics.get("psnr", float("nan"))})
        info: dict[str, Any] = {
            "weight": weight, "sigma": sigma, "validation_psnr_by_setting": scores, "tune_s": tune_s, "iterations": self.iterations,
            "last_relative_change": change, "regulariser_train_s": trained.train_s, "regulariser_from_cache": trained.from_cache,
            "regulariser_parameters": trained.parameters, "regulariser_validation_psnr": trained.validation_psnr,
            "regulariser_lipschitz": float(trained.model.lipschitz(sigma)), "steps": trained.steps,
            "flops_per_step": trained.flops_per_step, "n_train": trained.n_train,
        }
        return SolveResult(
            status="ok" if finite else "diverged",
            trace=[Checkpoint(wall_s=solve_s, step=self.iterations, metrics=metrics, details={"last_relative_change": change})],
            trace_kind="refinement",
            predict=memoised_predict(evaluator.x_test, images, self.name),
            timings={"setup_s": setup_s, "compile_s": compile_s, "train_s": trained.train_s + tune_s, "solve_s": solve_s,
                     "reconstruction_s": solve_s / len(evaluator.x_test)},
            info=info,
            message="" if finite else "the accelerated-gradient iterates turned non-finite",
        )

    def _compile(self, regulariser: RidgeRegulariser, data: DataTerm, dtype: np.dtype, nonnegative: bool) -> Minimise:
        project = (lambda x: jnp.maximum(x, 0.0)) if nonnegative else (lambda x: x)

        def start(y: Array) -> State:
            x = project(data.start(y))
            return x, x, jnp.float32(1.0), jnp.float32(jnp.inf)

        def steps(count: int) -> Callable[..., State]:
            def run(state: State, y: Array, weight: Array, sigma: Array) -> State:
                return accelerated_steps(lambda x: data.gradient(x, y) + weight * regulariser.gradient(x, sigma), state,
                                         1.0 / (1.0 + weight * regulariser.lipschitz(sigma)), count, project)
            return jax.jit(jax.vmap(run, in_axes=(0, 0, None, None)))

        starts = jax.jit(jax.vmap(start))
        chunks = [CHUNK] * (self.iterations // CHUNK) + ([self.iterations % CHUNK] if self.iterations % CHUNK else [])
        compiled = {count: steps(count) for count in set(chunks)}
        scalar = jnp.float32(0.0)
        probe = jnp.zeros((self.batch, *data.operator.data_shape), dtype)
        for count, function in compiled.items():  # compile now, so compile_s holds it
            jax.block_until_ready(function(starts(probe), probe, scalar, scalar))

        def minimise(ys: Inexact[np.ndarray, "n ..."], weight: float, sigma: float) -> tuple[np.ndarray, float]:
            images, changes = [], []
            for first in range(0, len(ys), self.batch):
                part = ys[first:first + self.batch]
                y = jnp.asarray(padded_chunk(part, self.batch))
                state = starts(y)
                for count in chunks:
                    state = compiled[count](state, y, jnp.float32(weight), jnp.float32(sigma))
                images.append(np.asarray(state[0])[: len(part)])
                changes.append(np.asarray(state[3])[: len(part)])
            return np.concatenate(images), float(np.max(np.concatenate(changes)))

        return minimise

    def _tune(self, minimise: Minimise, data: DataTerm, observations: np.ndarray,
              truths: Float[np.ndarray, "n h w"]) -> tuple[tuple[float, float], dict[str, float]]:
        """The fixed (lambda, sigma), or the grid's best pair by mean PSNR on the first ``tuning_samples`` validation images."""
        if self.weight > 0:
            return (self.weight, self.sigma), {}
        count = min(self.tuning_samples, len(truths))
        scaled = np.asarray(data.scaled(observations[:count]))
        scores = {}
        for weight, sigma in itertools.product(LAMBDA_GRID, SIGMA_GRID):
            images, _ = minimise(scaled, weight, sigma)
            scores[f"{weight:g},{sigma:g}"] = float(np.mean([image_quality.psnr(r, t) for r, t in zip(images, truths[:count], strict=True)])) \
                if np.all(np.isfinite(images)) else float("-inf")
        best = max(scores, key=scores.__getitem__)
        weight, sigma = (float(v) for v in best.split(","))
        return (weight, sigma), scores
