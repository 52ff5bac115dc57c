"""A physics-informed neural network: one global MLP with a hard-constraint ansatz."""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from parity.knobs import at_least, knob, positive
from parity.problems.base import ForwardProblem, Problem
from parity.solvers.base import Budget, Evaluator, ProgressFn, SolveResult, Solver
from parity.solvers.networks import ACTIVATIONS, StackedMLP
from parity.solvers.training import parameter_count, train


@dataclasses.dataclass(frozen=True)
class PINN(Solver):
    name: ClassVar[str] = "pinn"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "global MLP PINN, Adam, hard-constraint ansatz (Raissi et al. 2019)"

    width: int = knob(64, "hidden units per layer", "integer >= 1", at_least(1))
    depth: int = knob(4, "hidden layers", "integer >= 1", at_least(1))
    activation: str = knob("tanh", "activation", " | ".join(ACTIVATIONS), ACTIVATIONS.__contains__)
    learning_rate: float = knob(1e-3, "Adam learning rate", "finite number > 0", positive)
    n_collocation: int = knob(3000, "collocation (training) points", "integer >= 2", at_least(2))
    steps_per_dispatch: int = knob(100, "optimiser steps fused per jitted call (also the checkpoint interval)", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem)
        t0 = time.perf_counter()
        lower, upper = (jnp.asarray(b, dtype=jnp.float32) for b in problem.bounds)
        mlp = StackedMLP(1, (problem.in_dim, *[self.width] * self.depth, problem.out_dim), ACTIVATIONS[self.activation], seed=seed)

        def u(model: StackedMLP, x: Float[Array, "n d"]) -> Float[Array, "n out"]:
            x_normalised = 2.0 * (x - lower) / (upper - lower) - 1.0
            return problem.ansatz(x, model(x_normalised[None])[0])

        def loss(model: StackedMLP, x: Float[Array, "n d"]) -> Float[Array, ""]:
            r = problem.residual(lambda x_: u(model, x_), x) / problem.residual_scale
            return jnp.mean(r**2)

        x_train = jnp.asarray(problem.collocation_points(self.n_collocation), dtype=jnp.float32)
        x_test = jnp.asarray(evaluator.x_test, dtype=jnp.float32)
        setup_s = time.perf_counter() - t0
        outcome = train(
            mlp, loss, lambda model: u(model, x_test), x_train, optax.adam(self.learning_rate),
            steps=budget.steps, steps_per_dispatch=self.steps_per_dispatch,
            evaluator=evaluator, progress=progress, max_seconds=budget.seconds,
        )
        predict = jax.jit(lambda x: u(outcome.model, x))
        return SolveResult(
            status=outcome.status,
            trace=outcome.trace,
            trace_kind="iterative",
            predict=lambda x: np.asarray(predict(jnp.asarray(x, dtype=jnp.float32))),
            timings={"setup_s": setup_s, "compile_s": outcome.compile_s, "train_s": outcome.train_s, "eval_s": outcome.eval_s},
            info={"steps": outcome.steps_done, "n_params": parameter_count(outcome.model)},
            message=outcome.message,
        )
