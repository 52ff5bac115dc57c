"""A physics-informed neural network: one global MLP with a hard-constraint ansatz.

Data-parallel over ``budget.devices`` JAX devices: the parameters are replicated and the
collocation points (with their loss weights) are split along the points, padded to a
multiple of the device count with weight-0 copies of a real point. Each device sums its
own weighted squared residuals inside a ``shard_map``; one ``psum`` of that sum and of
the weight total makes the loss, and its transpose one all-reduce of the gradient: the
parameters' bytes per step, whatever the device count. (Leaving the partitioning to XLA's
automatic sharding reduced each weight's partial gradients from the residual's primal
and derivative paths separately: 2x the gradient in 1D, 4x in the 2D wave problem.)
On one device the same code runs on a one-device mesh without padding.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec
from jaxtyping import Array, Float

from parity import devices as device_mesh
from parity.knobs import at_least, knob, positive
from parity.problems.base import ForwardProblem, Problem
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.physics_informed.networks import ACTIVATIONS, StackedMLP
from parity.solvers.physics_informed.schedule import TimeMarching, weighted_mean_square
from parity.solvers.physics_informed.training import Placement, TrainingTask, communication_per_step, solve_result, train


def input_features(problem: ForwardProblem, x: Float[Array, "n d"]) -> Float[Array, "n f"]:
    """Each coordinate scaled to [-1, 1]; a periodic one as (cos, sin) of its phase instead."""
    lower, upper = (jnp.asarray(b, dtype=x.dtype) for b in problem.bounds)
    scaled = 2.0 * (x - lower) / (upper - lower) - 1.0
    columns = []
    for axis, period in enumerate(problem.periods or (None,) * problem.in_dim):
        if period is None:
            columns.append(scaled[:, axis])
        else:
            phase = 2.0 * jnp.pi * x[:, axis] / period
            columns += [jnp.cos(phase), jnp.sin(phase)]
    return jnp.stack(columns, axis=-1)


def data_parallel(count: int) -> Placement:
    """Replicated parameters, and data split along its leading axis, over a mesh of ``count`` devices."""
    mesh = device_mesh.mesh(count)
    replicated, split = device_mesh.replicated(mesh), device_mesh.split(mesh)
    return Placement(model=lambda tree: jax.device_put(tree, replicated), data=lambda tree: jax.device_put(tree, split))


@dataclasses.dataclass(frozen=True)
class PINN(Solver):
    name: ClassVar[str] = "pinn"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "global MLP PINN, Adam, hard-constraint ansatz (Raissi et al. 2019)"
    multi_device: ClassVar[bool] = True

    width: int = knob(64, "hidden units per layer", "integer >= 1", at_least(1))
    depth: int = knob(4, "hidden layers", "integer >= 1", at_least(1))
    activation: str = knob("tanh", "activation", " | ".join(ACTIVATIONS), ACTIVATIONS.__contains__)
    learning_rate: float = knob(1e-3, "Adam learning rate", "finite number > 0", positive)
    n_collocation: int = knob(3000, "collocation (training) points", "integer >= 2", at_least(2))
    steps_per_dispatch: int = knob(100, "optimiser steps fused per jitted call (also the checkpoint interval)", "integer >= 1", at_least(1))
    time_stages: int = knob(1, "causal time-marching stages for evolution problems (1 = train on all times at once)", "integer >= 1", at_least(1))
    marching_fraction: float = knob(0.5, "fraction of the steps spent marching; the rest trains on all times", "number in (0, 1]", lambda f: 0 < f <= 1)
    lbfgs_fraction: float = knob(0.0, "fraction of the steps, at the end, taken by L-BFGS (zoom line search) after Adam", "number in [0, 1]", lambda f: 0 <= f <= 1)

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem)

    def network(self, problem: ForwardProblem, seed: int) -> StackedMLP:
        n_features = problem.in_dim + sum(period is not None for period in problem.periods or ())
        return StackedMLP(1, (n_features, *[self.width] * self.depth, problem.out_dim), ACTIVATIONS[self.activation], seed=seed)

    @staticmethod
    def evaluate(problem: ForwardProblem, model: StackedMLP, x: Float[Array, "n d"]) -> Float[Array, "n out"]:
        """u(x): the network on the inputs' features, through the problem's ansatz."""
        return problem.ansatz(x, model(input_features(problem, x)[None])[0])

    def training_task(self, problem: ForwardProblem, seed: int, x_test: Float[np.ndarray, "m d"], devices: int = 1) -> TrainingTask:
        """Mean squared residual (scaled by the problem's residual scale) on the collocation points,
        data-parallel over ``devices`` devices (see the module's docstring)."""

        mesh = device_mesh.mesh(devices)

        def local_loss(model: StackedMLP, x: Float[Array, "n d"], weights: Float[Array, " n"]) -> Float[Array, ""]:
            r = problem.residual(lambda x_: self.evaluate(problem, model, x_), x) / problem.residual_scale
            return weighted_mean_square(r, weights, device_mesh.AXIS)

        split = PartitionSpec(device_mesh.AXIS)
        sharded_loss = jax.shard_map(local_loss, mesh=mesh, in_specs=(PartitionSpec(), split, split), out_specs=PartitionSpec())

        def loss(model: StackedMLP, data: tuple[Float[Array, "n d"], Float[Array, " n"]]) -> Float[Array, ""]:
            return sharded_loss(model, *data)

        x_train = problem.collocation_points(self.n_collocation)
        x_j = jnp.asarray(device_mesh.pad_rows(np.asarray(x_train, np.float32), devices))
        weights = jnp.asarray(device_mesh.pad_weights(np.ones(len(x_train), np.float32), devices))
        marching = TimeMarching.for_problem(problem, x_train, self.time_stages, self.marching_fraction, self.name, self.lbfgs_fraction)
        x_test_j = jnp.asarray(x_test, dtype=jnp.float32)
        return TrainingTask(
            model=self.network(problem, seed),
            loss_fn=loss,
            data=(x_j, weights),
            predict_test=lambda model: self.evaluate(problem, model, x_test_j),
            optimiser=optax.adam(self.learning_rate),
            finisher=optax.lbfgs() if self.lbfgs_fraction > 0 else None,
            finisher_fraction=self.lbfgs_fraction,
            data_schedule=None if marching is None else lambda step, total: (x_j, device_mesh.pad_weights(marching.weights(step, total), devices)),
            placement=data_parallel(devices),
        )

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem)
        t0 = time.perf_counter()
        task = self.training_task(problem, seed, evaluator.x_test, budget.devices)
        setup_s = time.perf_counter() - t0
        comm_bytes = sum(communication_per_step(task, budget.devices).values())  # one more compilation, timed nowhere
        outcome = train(
            task, steps=budget.steps, steps_per_dispatch=self.steps_per_dispatch,
            evaluator=evaluator, progress=progress, max_seconds=budget.seconds,
        )
        predict = jax.jit(lambda x: self.evaluate(problem, outcome.model, x))
        return solve_result(
            outcome, setup_s, lambda x: np.asarray(predict(jnp.asarray(x, dtype=jnp.float32))), {"devices": budget.devices, "comm_bytes_per_step": comm_bytes},
        )
