"""A physics-informed network for the heat problem, built on Parity's shared training loop.

The solver says *what* to minimise, as a ``TrainingTask``: the network, the mean squared
residual on the problem's collocation points, the prediction on the test points. Parity's
``train`` does the rest: steps fused and compiled ahead of time, checkpoints on the test
points, compile, training and evaluation seconds kept apart, divergence as a status. From
the recipe's ingredients it takes the network builder and the learning-rate warm-up and
decay (``lr_schedule``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

from parity.api import (
    Budget, Evaluator, Problem, ProgressFn, Solver, SolveResult, TrainingTask, at_least, build_network, build_optimiser, knob,
    learning_rate_schedule, positive, solve_result, train,
)
from parity_heat_example.heat import Heat1D


@dataclasses.dataclass(frozen=True)
class HeatPINN(Solver):
    name: ClassVar[str] = "heat_pinn"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "PINN (tanh MLP, exact-constraint ansatz, Adam with warm-up and decay) on Parity's training loop"

    width: int = knob(32, "hidden units per layer", "integer >= 1", at_least(1))
    depth: int = knob(3, "hidden layers", "integer >= 1", at_least(1))
    learning_rate: float = knob(5e-3, "peak learning rate", "finite number > 0", positive)
    warmup_steps: int = knob(100, "linear warm-up steps", "integer >= 0", at_least(0))
    decay_steps: int = knob(200, "steps per decay of the learning rate by decay_rate", "integer >= 1", at_least(1))
    decay_rate: float = knob(0.8, "factor per decay_steps", "number in (0, 1]", lambda r: 0 < r <= 1)
    n_collocation: int = knob(1024, "collocation (training) points", "integer >= 2", at_least(2))
    steps_per_dispatch: int = knob(100, "optimiser steps fused per compiled call (also the checkpoint interval)", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, Heat1D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, Heat1D)
        t0 = time.perf_counter()
        lower, upper = (jnp.asarray(b, jnp.float32) for b in problem.bounds)

        def u(model: PyTree, x: Float[Array, "n 2"]) -> Float[Array, "n 1"]:  # inputs scaled to [-1, 1], through the ansatz
            return problem.ansatz(x, model((2 * (x - lower) / (upper - lower) - 1)[None])[0])

        def loss(model: PyTree, x: Float[Array, "n 2"]) -> Float[Array, ""]:
            return jnp.mean((problem.residual(lambda y: u(model, y), x) / problem.residual_scale) ** 2)

        x_test = jnp.asarray(evaluator.x_test, jnp.float32)
        rate = learning_rate_schedule(self.learning_rate, self.warmup_steps, self.decay_steps, self.decay_rate)
        task = TrainingTask(
            model=build_network("mlp", 1, problem.in_dim, self.width, self.depth, problem.out_dim, jnp.tanh, seed=seed),
            loss_fn=loss,
            data=jnp.asarray(problem.collocation_points(self.n_collocation), jnp.float32),
            predict_test=lambda model: u(model, x_test),
            optimiser=build_optimiser("adam", rate),
        )
        setup_s = time.perf_counter() - t0
        outcome = train(task, steps=budget.steps, steps_per_dispatch=self.steps_per_dispatch, evaluator=evaluator,
                        progress=progress, max_seconds=budget.seconds)
        predict = jax.jit(lambda x: u(outcome.model, x))
        return solve_result(outcome, setup_s, lambda x: np.asarray(predict(jnp.asarray(x, jnp.float32))), {})
