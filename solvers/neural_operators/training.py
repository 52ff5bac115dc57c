"""Supervised training of a neural operator on a problem's train split, the FNO paper's recipe by default.

The recipe (Li et al. 2021, section 5): Adam with coupled L2 weight decay 1e-4, learning rate
1e-3 halved every fifth of the run (the paper: every 100 of 500 epochs), batch 20, and the
relative L2 error of each instance as the loss. Inputs and outputs can be normalised pointwise
by the train split's mean and standard deviation (the FNO code's ``UnitGaussianNormalizer``);
the loss is taken after decoding, so it is the error the harness scores. On another grid (the
zero-shot super-resolution test) those statistics are interpolated linearly to it.

The checkpoint with the lowest mean relative error on the *validation* split is the one
returned; the test split is only ever scored. Training is data-parallel over
``budget.devices`` JAX devices the way learned reconstruction is: parameters and data
replicated, each batch split over the devices, the gradient all-reduced by XLA.

What a surrogate costs before its first prediction is recorded apart: ``data_s`` (the
classical solves of the train and validation instances, from the problem's cached
timings), ``setup_s``, ``compile_s`` and ``train_s``.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from parity import devices as device_mesh
from parity.evaluation import Evaluator
from parity.knobs import ParameterError, at_least, knob, positive
from parity.problems.base import Problem
from parity.problems.operator_learning import OperatorProblem, instance_errors, trivial_baselines
from parity.solvers import supervised
from parity.solvers.base import Budget, Checkpoint, ProgressFn, Solver, SolveResult
from parity.solvers.reconstruction.classical_reconstruction import in_chunks
from parity.solvers.supervised import masked_mean, padded_batch

EVAL_CHUNK = 20
"""Most instances predicted per call at checkpoints and in ``predict``."""

Network = Callable[[Float[Array, "cin ..."]], Float[Array, "cout ..."]]


@dataclasses.dataclass(frozen=True)
class Normaliser:
    """Pointwise (per channel and grid point) mean and standard deviation of a train split's fields."""

    mean: Float[np.ndarray, "c ..."]
    std: Float[np.ndarray, "c ..."]

    @classmethod
    def fit(cls, fields: Float[np.ndarray, "n c ..."], enabled: bool) -> Normaliser:
        if not enabled:
            return cls(np.zeros(fields.shape[1:], np.float32), np.ones(fields.shape[1:], np.float32))
        return cls(fields.mean(axis=0).astype(np.float32), (fields.std(axis=0) + 1e-6).astype(np.float32))


@dataclasses.dataclass(frozen=True)
class OperatorLearner(Solver):
    """The training knobs every neural operator shares; subclasses give the network."""

    family: ClassVar[str] = "sciml"
    multi_device: ClassVar[bool] = True

    learning_rate: float = knob(1e-3, "initial learning rate (the FNO paper's)", "finite number > 0", positive)
    weight_decay: float = knob(1e-4, "coupled L2 weight decay, added to the gradient as in torch's Adam (the FNO paper's)", "number >= 0",
                               at_least(0))
    halvings: int = knob(5, "times the learning rate halves, evenly over the step budget (the FNO paper: every 100 of 500 epochs)",
                         "integer >= 0", at_least(0))
    batch_size: int = knob(20, "training instances per step (the FNO paper's 20; at most the train split's size)", "integer >= 1",
                           at_least(1))
    normalise: str = knob("auto", "scale inputs and outputs pointwise by the train split's mean and std (the FNO code's normaliser); "
                          "auto: as the FNO code did (on a box, Darcy; not on a torus, Burgers and Navier-Stokes)",
                          "auto | pointwise | none", lambda v: v in ("auto", "pointwise", "none"))
    checkpoint_every: int = knob(500, "optimiser steps between checkpoints (validation and test errors)", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        """Operator problems whose inputs and outputs share the learning grid (the networks map one grid to itself)."""
        return isinstance(problem, OperatorProblem) and problem.input_grid_shape == problem.grid_shape

    @abc.abstractmethod
    def network(self, problem: OperatorProblem, key: PRNGKeyArray) -> eqx.Module:
        """The untrained network ``(input_channels, *grid) -> (output_channels, *grid)`` for ``problem``."""

    def normalises(self, problem: OperatorProblem) -> bool:
        """Whether fields are scaled pointwise (see the ``normalise`` knob)."""
        return self.normalise == "pointwise" or (self.normalise == "auto" and not problem.periodic)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, OperatorProblem)
        return train_operator(problem, self, budget=budget, seed=seed, evaluator=evaluator, progress=progress)

    def schedule(self, steps: int) -> optax.Schedule:
        """The learning rate halved ``halvings`` times at even intervals of the run."""
        if self.halvings == 0:
            return optax.constant_schedule(self.learning_rate)
        return optax.exponential_decay(self.learning_rate, max(1, steps // (self.halvings + 1)), 0.5, staircase=True)


def relative_l2(prediction: Float[Array, "b ..."], target: Float[Array, "b ..."]) -> Float[Array, " b"]:
    """Each instance's |u - u*|_2 / |u*|_2: the loss and the score alike."""
    flat = prediction.shape[0], -1
    return jnp.linalg.norm((prediction - target).reshape(flat), axis=1) / jnp.linalg.norm(target.reshape(flat), axis=1)


def train_operator(
    problem: OperatorProblem, learner: OperatorLearner, *, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn
) -> SolveResult:
    """Fit ``learner``'s network to the train split by :func:`supervised.fit`; return its best-validation checkpoint."""
    train, validation = problem.dataset("train"), problem.dataset("validation")  # solved here if not cached: charged as data_s, not set-up
    if len(train.inputs) == 0:
        raise ParameterError(f"{problem.name}: a neural operator needs training instances; the train split is empty (n_train = 0)")
    data_s = problem.data_seconds("train", "validation")
    t0 = time.perf_counter()
    normalised = learner.normalises(problem)
    in_scale, out_scale = Normaliser.fit(train.inputs, normalised), Normaliser.fit(train.outputs, normalised)
    params, static = eqx.partition(learner.network(problem, jax.random.key(seed)), eqx.is_inexact_array)
    mesh = device_mesh.mesh(budget.devices)
    replicated, split_rows = device_mesh.replicated(mesh), device_mesh.split(mesh)
    params = jax.device_put(params, replicated)
    train_data = jax.device_put((jnp.asarray(train.inputs), jnp.asarray(train.outputs)), replicated)
    scales = jax.device_put(tuple(jnp.asarray(a) for a in (in_scale.mean, in_scale.std, out_scale.mean, out_scale.std)), replicated)
    transform = optax.chain(optax.add_decayed_weights(learner.weight_decay), optax.adam(learner.schedule(budget.steps)))
    opt_state = jax.jit(transform.init)(params)
    setup_s = time.perf_counter() - t0

    def predict_batch(p: PyTree, scale: tuple[Array, ...], a: Float[Array, "b cin ..."]) -> Float[Array, "b cout ..."]:
        in_mean, in_std, out_mean, out_std = scale
        model = eqx.combine(p, static)
        return jax.vmap(model)((a - in_mean) / in_std) * out_std + out_mean

    def loss_fn(p: PyTree, scale: tuple[Array, ...], a: Array, u: Array, mask: Array) -> Float[Array, ""]:
        return masked_mean(relative_l2(predict_batch(p, scale, a), u), mask)

    def step(p: PyTree, s: PyTree, scale: tuple[Array, ...], data: PyTree, batch: tuple[Array, Array]) -> tuple[PyTree, PyTree, Array]:
        """One optimiser step on the batch ``(indices, mask)`` of the train split (an argument, not a constant)."""
        inputs, outputs = data
        indices, mask = batch
        loss, grads = jax.value_and_grad(loss_fn)(p, scale, inputs[indices], outputs[indices], mask)
        updates, s = transform.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    def split(tree: PyTree) -> PyTree:
        return jax.device_put(tree, split_rows)

    batch_size = min(learner.batch_size, len(train.inputs))
    chunk = device_mesh.padded_size(min(EVAL_CHUNK, max(len(validation.inputs), len(evaluator.x_test))), budget.devices)
    t0 = time.perf_counter()
    train_step = jax.jit(step).lower(params, opt_state, scales, train_data, split(padded_batch(np.zeros(batch_size, np.int32), budget.devices))).compile()
    predict_chunk = jax.jit(predict_batch).lower(params, scales, split(jnp.zeros((chunk, *train.inputs.shape[1:]), jnp.float32))).compile()
    compile_s = time.perf_counter() - t0
    other_grid = jax.jit(predict_batch)  # compiles once per other grid it meets

    def predictions(p: PyTree, inputs: Float[np.ndarray, "m cin ..."]) -> Float[np.ndarray, "m cout ..."]:
        """Predictions on the training grid by the compiled chunk, on any other grid (super-resolution) by a fresh compile."""
        if inputs.shape[2:] == train.inputs.shape[2:]:
            return in_chunks(lambda part: predict_chunk(p, scales, split(part)), np.asarray(inputs, np.float32), chunk)
        resized = jax.device_put(tuple(jax.image.resize(a, (a.shape[0], *inputs.shape[2:]), "linear") for a in scales), replicated)
        return in_chunks(lambda part: other_grid(p, resized, split(part)), np.asarray(inputs, np.float32), chunk)

    def checkpoint(p: PyTree, step_: int, wall: float, loss: float) -> Checkpoint:
        validation_error = float(np.mean(instance_errors(predictions(p, validation.inputs), validation.outputs)))
        metrics = evaluator(predictions(p, evaluator.x_test))
        return Checkpoint(wall_s=wall, step=step_, metrics=metrics, loss=loss, details={"validation_rel_l2": validation_error})

    run = supervised.fit(
        lambda p, s, indices: train_step(p, s, scales, train_data, split(padded_batch(indices, budget.devices))),
        params, opt_state, checkpoint, lambda point: point.details["validation_rel_l2"],
        n_train=len(train.inputs), batch_size=batch_size, budget=budget, seed=seed,
        checkpoint_every=learner.checkpoint_every, progress=progress,
    )
    return run.result(predictions, {"data_s": data_s, "setup_s": setup_s, "compile_s": compile_s}, {
        "epochs": run.steps * batch_size / len(train.inputs),
        "best_validation_rel_l2": run.best.details["validation_rel_l2"],
        "n_train": len(train.inputs),
        "normalised": normalised,
        "baselines": trivial_baselines(problem),
        "reference_resolution": problem.reference_resolution,
        "devices": budget.devices,
        "flops_per_step": device_mesh.flops(train_step),
    })
