"""The classical answer to incomplete physics: fit the missing coefficient by least squares through the solver.

A coarse scheme that lacks a term of known form (the -c w of linear drag) has one unknown, c. This solver fits it to the same training trajectories the hybrid learns
from, with the same loss (the mean squared vorticity error over ``unroll``-frame rollouts from
training frames, filtered to the grid), minimised by L-BFGS-B on gradients taken through the
differentiable solver, and then runs the coarse scheme with the fitted c. The term is added
explicitly each step, w <- S(w) - dt c w, exactly where a hybrid adds its network's output. It is what a
modeller would do before reaching for a network: the comparison asks what the network's
freedom buys over one well-posed coefficient.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jaxtyping import Array, Float

from parity.evaluation import Evaluator
from parity.knobs import ParameterError, at_least, knob
from parity.problems.base import Problem
from parity.problems.kolmogorov_2d import CFL, MAX_SPEED, Kolmogorov2D
from parity.solvers.base import Budget, Checkpoint, ProgressFn, Solver, SolveResult
from parity.solvers.hybrid.coarse_model import CoarseModel
from parity.solvers.hybrid.learned_correction import Hybrid, rollout_predictor, training_frames

SCHEMES = ("spectral", "finite_volume")
DRAG_BOUNDS = (0.0, 1.0)


class LinearDrag(eqx.Module):
    """The missing term's known form, -c w, in the place of a hybrid's network: the calibrated model is a one-parameter hybrid."""

    coefficient: Float[Array, ""]

    def __call__(self, w: Float[Array, "1 n n"]) -> Float[Array, "1 n n"]:
        return -self.coefficient * w


@dataclasses.dataclass(frozen=True)
class Calibration(Solver):
    name: ClassVar[str] = "calibration"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "a coarse scheme missing its drag, the drag coefficient fitted by least squares through the solver"
    deterministic: ClassVar[bool] = True

    scheme: str = knob("spectral", "the coarse scheme", " | ".join(SCHEMES), lambda s: s in SCHEMES)
    grid: int = knob(0, "grid the scheme runs on (0: the problem's learning grid)", "0 or an even integer >= 16", lambda n: n == 0 or (n >= 16 and n % 2 == 0))
    unroll: int = knob(2, "frames of each fitted rollout (the hybrid's loss)", "integer >= 1", at_least(1))
    windows: int = knob(32, "training rollouts in the least-squares fit (evenly spaced starts)", "integer >= 1", at_least(1))
    iterations: int = knob(50, "L-BFGS-B iterations at most", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, Kolmogorov2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, Kolmogorov2D)
        n = self.grid or problem.resolution
        if n > problem.resolution:
            raise ParameterError(f"{self.name}: grid = {n} is finer than the learning grid {problem.resolution}; allowed: 0 or an even integer in [16, {problem.resolution}]")
        if problem.n_train == 0:
            raise ParameterError(f"{self.name}: the drag is fitted to trajectories; the train split is empty (n_train = 0)")
        train = training_frames(problem, "train", n)
        data_s = problem.data_seconds("train")
        per = problem.output_channels + 1 - self.unroll
        if per < 1:
            raise ParameterError(f"{self.name}: unroll = {self.unroll} frames is longer than a trajectory's {problem.output_channels}")
        picks = np.linspace(0, len(train) * per - 1, min(self.windows, len(train) * per)).round().astype(int)
        windows = np.stack([train[i // per, i % per : i % per + self.unroll + 1] for i in picks])

        coarse = CoarseModel.build(self.scheme, n, dataclasses.replace(problem.flow, drag=0.0), problem.frame_interval, MAX_SPEED, CFL)

        def hybrid(drag: Array) -> Hybrid:
            return Hybrid(LinearDrag(drag), coarse, 1.0)

        def loss(drag: Array) -> Array:
            predicted = hybrid(drag).rollout(jnp.asarray(windows[:, 0]), self.unroll, n)
            return jnp.mean((predicted - windows[:, 1:]) ** 2) / float(train.var())

        started = time.perf_counter()
        value_and_grad = jax.jit(jax.value_and_grad(loss))
        value_and_grad(jnp.float32(0.0))
        compile_s = time.perf_counter() - started
        started = time.perf_counter()
        history: list[tuple[float, float]] = []

        def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            value, gradient = value_and_grad(jnp.float32(x[0]))
            history.append((float(x[0]), float(value)))
            progress(len(history), self.iterations, {"drag": float(x[0]), "loss": float(value)})
            return float(value), np.array([float(gradient)], np.float64)

        fit = scipy.optimize.minimize(objective, np.array([0.0]), jac=True, method="L-BFGS-B", bounds=[DRAG_BOUNDS],
                                      options={"maxiter": self.iterations})
        fit_s = time.perf_counter() - started
        drag = float(fit.x[0])
        params, static = eqx.partition(hybrid(jnp.float32(drag)), eqx.is_inexact_array)
        started = time.perf_counter()
        predict = rollout_predictor(static, problem, n)
        predict(params, np.asarray(evaluator.x_test))  # compiles outside the timing
        compile_s += time.perf_counter() - started
        started = time.perf_counter()
        outputs = predict(params, np.asarray(evaluator.x_test))
        solve_s = time.perf_counter() - started
        metrics = evaluator(outputs)
        return SolveResult(
            status="ok",
            trace=[Checkpoint(wall_s=solve_s / len(outputs), step=n, metrics=metrics, details={"fitted_drag": drag})],
            trace_kind="refinement",
            predict=lambda inputs: predict(params, inputs),
            timings={"data_s": data_s, "setup_s": fit_s, "compile_s": compile_s, "solve_s": solve_s},
            info={"fitted_drag": drag, "true_drag": problem.flow.drag, "fit_evaluations": len(history), "fit_message": str(fit.message),
                  "grid": n, "windows": len(windows)},
        )
