"""A learned correction trained through the coarse solver it corrects (Kochkov et al. 2021; Dresdner et al. 2022).

Each step of the hybrid is

    w <- S(w) + dt N(w),

S one step of the coarse ``base`` scheme on the ``grid`` and N a periodic CNN (Kochkov's
layout: 6 layers of 64 channels, 3 x 3 kernels) whose last layer starts at zero, so the
untrained hybrid is the coarse solver. ``base = none`` drops S and steps a whole frame
interval at once, w <- w + frame_interval N(w): a pure learned emulator with the same network
and training, the third corner of the comparison.

Training is solver-in-the-loop: from a frame of a training trajectory (the reference filtered
to the grid) the hybrid is rolled out ``unroll`` frames (each ``steps_per_frame`` solver steps,
differentiated through), and the loss is the mean squared vorticity error over those frames,
scaled by the train frames' variance. ``curriculum = doubling`` trains on 1, 2, 4, ... ``unroll``
frames in equal shares of the step budget, as unrolled training often needs to stay stable.
Adam with the learning rate decayed by ``decay`` over the run; the checkpoint with the longest
validation correlation time (0.95) is kept, and the test split is only scored.

``missing = drag`` gives the coarse scheme no drag (incomplete physics): the network must
learn the missing -0.1 w from trajectories. What a hybrid costs before its first prediction
(``data_s``, ``setup_s``, ``compile_s``, ``train_s``) is recorded apart, as for every learned solver.
"""

from __future__ import annotations

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

from parity.evaluation import Evaluator
from parity.knobs import ParameterError, at_least, knob, positive
from parity.problems.base import Problem
from parity.problems.kolmogorov_2d import CFL, MAX_SPEED, Kolmogorov2D, correlation, crossing_time
from parity.solvers import supervised
from parity.solvers.base import Budget, Checkpoint, ProgressFn, Solver, SolveResult
from parity.solvers.hybrid.coarse_model import BASES, CoarseModel, resample
from parity.solvers.hybrid.periodic_cnn import PeriodicCNN

CURRICULA = ("none", "doubling")
MISSING = ("", "drag")
PREDICT_BATCH = 8


@dataclasses.dataclass(frozen=True)
class LearnedCorrection(Solver):
    name: ClassVar[str] = "learned_correction"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "CNN correction trained through the unrolled coarse solver (Kochkov 2021, Dresdner 2022); base none: learned emulator"

    base: str = knob("spectral", "the coarse scheme corrected: spectral, finite_volume, or none (a pure learned emulator)", " | ".join(BASES),
                     lambda b: b in BASES)
    grid: int = knob(0, "grid the hybrid steps on (0: the problem's learning grid)", "0 or an even integer >= 16", lambda n: n == 0 or (n >= 16 and n % 2 == 0))
    width: int = knob(64, "CNN channels (Kochkov's 64)", "integer >= 1", at_least(1))
    depth: int = knob(6, "convolution layers (Kochkov's 6)", "integer >= 2", at_least(2))
    kernel: int = knob(3, "convolution kernel size (Kochkov's 3)", "odd integer >= 1", lambda k: k >= 1 and k % 2 == 1)
    unroll: int = knob(2, "frames of a training rollout, differentiated through", "integer >= 1", at_least(1))
    curriculum: str = knob("doubling", "unroll lengths over training: doubling = 1, 2, 4, ... unroll in equal shares; none = unroll throughout",
                           " | ".join(CURRICULA), lambda c: c in CURRICULA)
    learning_rate: float = knob(1e-3, "Adam's initial learning rate (Kochkov's 1e-3)", "finite number > 0", positive)
    decay: float = knob(0.1, "the learning rate's final fraction (exponential decay over the run)", "number in (0, 1]", lambda d: 0 < d <= 1)
    batch_size: int = knob(8, "training windows per step", "integer >= 1", at_least(1))
    missing: str = knob("", "a term the coarse scheme lacks, for the network to learn (incomplete physics): drag", "empty | drag", lambda m: m in MISSING)
    checkpoint_every: int = knob(500, "optimiser steps between checkpoints (each rolls out the validation and test splits)", "integer >= 1",
                                 at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, Kolmogorov2D)

    def coarse_model(self, problem: Kolmogorov2D) -> CoarseModel:
        n = self.grid or problem.resolution
        if n > problem.resolution:
            raise ParameterError(f"{self.name}: grid = {n} is finer than the learning grid {problem.resolution} the training frames are on; "
                                 f"allowed: 0 or an even integer in [16, {problem.resolution}]")
        flow = dataclasses.replace(problem.flow, drag=0.0) if self.missing == "drag" else problem.flow
        return CoarseModel.build(self.base, n, flow, problem.frame_interval, MAX_SPEED, CFL)

    def unroll_stages(self) -> tuple[int, ...]:
        if self.curriculum == "none":
            return (self.unroll,)
        stages = [1]
        while stages[-1] < self.unroll:
            stages.append(min(2 * stages[-1], self.unroll))
        return tuple(stages)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, Kolmogorov2D)
        return train_hybrid(self, problem, budget, seed, evaluator, progress)


class Hybrid(eqx.Module):
    """The coarse model and its correction network; ``scale`` maps vorticity to the network's O(1) inputs."""

    network: PeriodicCNN
    model: CoarseModel = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def step(self, dtype: type) -> Callable[[Array], Array]:
        solver_step = self.model.step(dtype)

        def advance(state: Array) -> Array:
            values = self.model.decode(state)
            tendency = self.scale * jax.vmap(self.network)(values[:, None] / self.scale)[:, 0]
            return self.model.add(solver_step(state), tendency.astype(values.dtype))

        return jax.checkpoint(advance)  # rematerialised: a long unroll keeps one step's activations, not all of them

    def rollout(self, start: Float[Array, "b n n"], frames: int, out: int) -> Float[Array, "b f out out"]:
        """``frames`` frame intervals from grid values ``start``; each frame read back and resampled to the ``out`` grid."""
        dtype = jnp.complex128 if start.dtype == jnp.float64 else jnp.complex64
        step = self.step(dtype if self.model.base == "spectral" else start.dtype)

        def frame(state: Array, _: None) -> tuple[Array, Array]:
            state = jax.lax.fori_loop(0, self.model.steps_per_frame, lambda _, s: step(s), state)
            return state, resample(self.model.decode(state), out)

        _, later = jax.lax.scan(frame, self.model.encode(start), None, length=frames)
        return jnp.moveaxis(later, 0, 1)


def rollout_predictor(static: PyTree, problem: Kolmogorov2D, n: int) -> Callable[[PyTree, np.ndarray], np.ndarray]:
    """(hybrid parameters, inputs on the reference grid) -> the trajectories' frames on the learning grid.

    Up to :data:`PREDICT_BATCH` trajectories are rolled out together, unpadded (jit compiles each chunk size once).
    """
    compiled = jax.jit(lambda p, a: eqx.combine(p, static).rollout(a, problem.output_channels, problem.resolution))

    def predict(p: PyTree, inputs: Float[np.ndarray, "b 1 r r"]) -> Float[np.ndarray, "b f m m"]:
        starts = np.asarray(resample(jnp.asarray(np.asarray(inputs, np.float32)[:, 0]), n))
        return np.concatenate([np.asarray(compiled(p, starts[i : i + PREDICT_BATCH])) for i in range(0, len(starts), PREDICT_BATCH)])

    return predict


def training_frames(problem: Kolmogorov2D, split: str, n: int) -> Float[np.ndarray, "t f n n"]:
    """The split's trajectories at t = 0, frame_interval, ..., horizon, filtered to the n x n grid (float32)."""
    data = problem.dataset(split)  # type: ignore[arg-type]
    start = np.asarray(resample(jnp.asarray(data.inputs[:, 0]), n))
    frames = np.asarray(resample(jnp.asarray(data.outputs), n))
    return np.concatenate([start[:, None], frames], axis=1).astype(np.float32)


def train_hybrid(learner: LearnedCorrection, problem: Kolmogorov2D, budget: Budget, seed: int, evaluator: Evaluator,
                 progress: ProgressFn) -> SolveResult:
    """Fit the correction through unrolled rollouts; return the best-validation checkpoint's hybrid."""
    if problem.n_train == 0:
        raise ParameterError(f"{learner.name}: the hybrid learns from trajectories; the train split is empty (n_train = 0)")
    model = learner.coarse_model(problem)
    train = training_frames(problem, "train", model.n)
    validation = problem.dataset("validation")
    data_s = problem.data_seconds("train", "validation")
    t0 = time.perf_counter()
    scale = float(train.std())
    key = jax.random.key(seed)
    hybrid = Hybrid(PeriodicCNN(1, 1, learner.width, learner.depth, learner.kernel, key=key), model, scale)
    params, static = eqx.partition(hybrid, eqx.is_inexact_array)
    stages = learner.unroll_stages()
    schedule = optax.exponential_decay(learner.learning_rate, budget.steps, learner.decay)
    transform = optax.adam(schedule)
    opt_state = transform.init(params)
    frames_device = jnp.asarray(train)
    setup_s = time.perf_counter() - t0

    def loss_fn(p: PyTree, starts: Array, length: int) -> Array:
        """Mean squared error over ``length`` frames from each (trajectory, start frame) pair, in units of the frames' variance."""
        model_ = eqx.combine(p, static)
        trajectory, first = starts[:, 0], starts[:, 1]
        window = jax.vmap(lambda t, s: jax.lax.dynamic_slice_in_dim(frames_device[t], s, length + 1))(trajectory, first)
        predicted = model_.rollout(window[:, 0], length, model.n)
        return jnp.mean((predicted - window[:, 1:]) ** 2) / scale**2

    def make_step(length: int) -> Callable[..., tuple[PyTree, PyTree, Array]]:
        def step(p: PyTree, s: PyTree, starts: Array) -> tuple[PyTree, PyTree, Array]:
            loss, grads = jax.value_and_grad(loss_fn)(p, starts, length)
            updates, s = transform.update(grads, s, p)
            return optax.apply_updates(p, updates), s, loss

        return jax.jit(step)

    windows_per_trajectory = problem.output_channels + 1 - max(stages)
    if windows_per_trajectory < 1:
        raise ParameterError(f"{learner.name}: unroll = {learner.unroll} frames is longer than a trajectory's {problem.output_channels}")
    n_windows = len(train) * windows_per_trajectory
    batch_size = min(learner.batch_size, n_windows)
    batch = np.zeros((batch_size, 2), np.int32)
    t0 = time.perf_counter()
    steps = {length: make_step(length).lower(params, opt_state, batch).compile() for length in stages}
    predictions = rollout_predictor(static, problem, model.n)
    for inputs in (evaluator.x_test, validation.inputs):  # compiles their chunk sizes outside the training clock
        predictions(params, np.asarray(inputs[:PREDICT_BATCH]))
    compile_s = time.perf_counter() - t0

    def validation_time(p: PyTree) -> float:
        curve = correlation(predictions(p, validation.inputs), validation.outputs).mean(axis=0)
        crossing = crossing_time(curve, problem.frame_times, 0.95)
        return problem.horizon if crossing is None else crossing

    def checkpoint(p: PyTree, step_: int, wall: float, loss: float) -> Checkpoint:
        metrics = evaluator(predictions(p, evaluator.x_test))
        return Checkpoint(wall_s=wall, step=step_, metrics=metrics, loss=loss, details={"validation_corr_time_095": validation_time(p)})

    shares = np.array_split(np.arange(budget.steps), len(stages))
    stage_of_step = np.concatenate([np.full(len(share), i) for i, share in enumerate(shares)])
    counter = iter(range(budget.steps))

    def train_step(p: PyTree, s: PyTree, indices: np.ndarray) -> tuple[PyTree, PyTree, Array]:
        length = stages[stage_of_step[min(next(counter), budget.steps - 1)]]
        trajectory, first = indices // windows_per_trajectory, indices % windows_per_trajectory
        return steps[length](p, s, np.stack([trajectory, first], axis=1).astype(np.int32))

    run = supervised.fit(
        train_step, params, opt_state, checkpoint, lambda point: -point.details["validation_corr_time_095"],
        n_train=n_windows, batch_size=batch_size, budget=budget, seed=seed,
        checkpoint_every=learner.checkpoint_every, progress=progress,
    )
    return run.result(predictions, {"data_s": data_s, "setup_s": setup_s, "compile_s": compile_s}, {
        "best_validation_corr_time_095": run.best.details["validation_corr_time_095"],
        "grid": model.n,
        "dt": model.dt,
        "steps_per_frame": model.steps_per_frame,
        "unroll_stages": list(stages),
        "n_train": len(train),
        "reference_resolution": problem.reference_resolution,
    })
