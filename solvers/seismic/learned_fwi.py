"""Learned gradient descent for FWI, trained greedily stage by stage (Hauptmann et al. 2018).

From the problem's prior c_0, stage k proposes c_{k+1} = c_k + N_k(c_k, g_k, c_0), where
g_k is the data misfit's gradient at c_k from the differentiable JAX wave solver
(normalised by its RMS: the network learns the step, the physics gives the direction),
and N_k is a small CNN. Backpropagating the training loss through g_k would need a
second-order adjoint per sample and step; instead each stage is trained on its own to
bring c_{k+1} closest to the truth, given the iterates the stages before it produced,
as Hauptmann et al. did for photoacoustics. Training then costs one gradient per train
model per stage plus cheap CNN steps; an inversion costs ``stages`` gradients.
The checkpoint of each stage with the best validation error is kept.

Data-parallel over ``budget.devices`` JAX devices: each chunk of misfit gradients (the
wave solves, nearly all the cost) is split over the devices, and so is each Adam step's
batch of models (padded to a multiple of the device count and masked out of the mean),
with the stage's parameters replicated. One device runs the same code on a one-device mesh.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from parity import devices as device_mesh
from parity.knobs import at_least, knob, positive
from parity.numerics import acoustic_jax
from parity.problems.base import Problem
from parity.problems.seismic_2d import VELOCITY_RANGE, SeismicFWI2D
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.reconstruction.classical_reconstruction import in_chunks
from parity.solvers.reconstruction.learned_reconstruction import ConvNet
from parity.solvers.supervised import masked_mean, minibatches, padded_batch

CENTRE, HALF_RANGE = (VELOCITY_RANGE[0] + VELOCITY_RANGE[1]) / 2, (VELOCITY_RANGE[1] - VELOCITY_RANGE[0]) / 2
GRADIENT_CHUNK = 4
"""Models whose gradients are computed at once (vmapped, split over the devices; memory grows with it)."""


def _scaled(velocity: Array) -> Array:
    """Velocity mapped to [-1, 1] over the problem's range: the networks' input scale."""
    return (velocity - CENTRE) / HALF_RANGE


class Stage(eqx.Module):
    """One learned update: c + HALF_RANGE * N([c, g / rms(g), c_0]), clipped to the velocity range."""

    network: ConvNet

    def __call__(self, velocity: Float[Array, "nx nz"], gradient: Float[Array, "nx nz"], prior: Float[Array, "nx nz"]) -> Float[Array, "nx nz"]:
        direction = gradient / (jnp.sqrt(jnp.mean(gradient**2)) + 1e-30)
        update = self.network(jnp.stack([_scaled(velocity), direction, _scaled(prior)]))[0]
        return jnp.clip(velocity + HALF_RANGE * update, *VELOCITY_RANGE)


@dataclasses.dataclass(frozen=True)
class LearnedFWI(Solver):
    name: ClassVar[str] = "learned_fwi"
    family: ClassVar[str] = "sciml"
    multi_device: ClassVar[bool] = True
    description: ClassVar[str] = "learned gradient descent on the FWI misfit gradient (JAX wave solver), CNN stages trained greedily"

    stages: int = knob(5, "unrolled updates (each costs one misfit gradient per inversion)", "integer >= 1", at_least(1))
    width: int = knob(32, "channels of each stage's 3-layer CNN", "integer >= 1", at_least(1))
    depth: int = knob(3, "convolution layers per stage", "integer >= 2", at_least(2))
    batch_size: int = knob(8, "training models per Adam step", "integer >= 1", at_least(1))
    learning_rate: float = knob(1e-3, "Adam's peak learning rate (cosine decay per stage)", "number > 0", positive)
    validate_every: int = knob(100, "Adam steps between validations (the best stage checkpoint is kept)", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, SeismicFWI2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        """``budget.steps`` Adam steps in all, shared equally by the stages."""
        assert isinstance(problem, SeismicFWI2D)
        started = time.perf_counter()
        train, validation = problem.dataset("train"), problem.dataset("validation")
        if len(train.truths) == 0:
            return SolveResult("error", [], "iterative", None, {}, message=f"{problem.name}: learned FWI needs training models; n_train is 0")
        mesh = device_mesh.mesh(budget.devices)
        gradients = _gradient_fn(problem, budget.devices)
        prior = jnp.asarray(problem.prior_model(), jnp.float32)
        rng = np.random.default_rng(seed)
        stages = [Stage(ConvNet(3, 1, self.width, self.depth, 2, rng, final_scale=0.0)) for _ in range(self.stages)]
        setup_s = time.perf_counter() - started
        steps_per_stage = max(1, budget.steps // self.stages)
        iterates = {name: np.repeat(np.asarray(prior)[None], len(data.truths), axis=0) for name, data in (("train", train), ("validation", validation))}
        train_s = gradient_s = compile_s = 0.0
        trace: list[Checkpoint] = []
        status, message = "ok", ""
        for k in range(self.stages):
            t0 = time.perf_counter()
            directions = {name: gradients(iterates[name], data.observations) for name, data in (("train", train), ("validation", validation))}
            gradient_s += time.perf_counter() - t0
            stages[k], stage_compile_s, stage_train_s = self._train_stage(
                stages[k], iterates, directions, prior, train.truths, validation.truths, steps_per_stage, rng, mesh,
                lambda done, k=k: progress(k * steps_per_stage + done, self.stages * steps_per_stage, {}),
            )
            compile_s, train_s = compile_s + stage_compile_s, train_s + stage_train_s
            iterates = {name: np.asarray(_apply(stages[k], iterates[name], directions[name], prior)) for name in iterates}
            metrics = evaluator(_invert(stages[: k + 1], prior, evaluator.x_test, gradients))
            trace.append(Checkpoint(wall_s=train_s + gradient_s, step=(k + 1) * steps_per_stage, metrics=metrics, details={"stage": k + 1}))
            progress((k + 1) * steps_per_stage, self.stages * steps_per_stage, {"rel_l2": metrics["rel_l2"]})
            if not np.isfinite(metrics["rel_l2"]):
                status, message = "diverged", f"non-finite test error after stage {k + 1}"
                break
            if time.perf_counter() - started > budget.seconds and k + 1 < self.stages:
                status, message = "timeout", f"stopped after {k + 1} of {self.stages} stages"
                break
        trained = stages[: len(trace)]
        return SolveResult(
            status=status, trace=trace, trace_kind="iterative",
            predict=lambda observations: _invert(trained, prior, observations, gradients),
            timings={"setup_s": setup_s, "compile_s": compile_s, "train_s": train_s + gradient_s},
            info={"gradient_s": gradient_s, "n_params": sum(x.size for x in jax.tree.leaves(eqx.filter(stages, eqx.is_array))),
                  "n_train": len(train.truths), "stages_trained": len(trace),
                  "wave_solves_per_model": 2 * problem.shots * len(trace), "devices": budget.devices},  # a forward and an adjoint per shot per stage
            message=message,
        )

    def _train_stage(
        self, stage: Stage, iterates: dict[str, np.ndarray], directions: dict[str, np.ndarray], prior: Array,
        truths: np.ndarray, validation_truths: np.ndarray, steps: int, rng: np.random.Generator, mesh: Any,
        progress: ProgressFn,
    ) -> tuple[Stage, float, float]:
        """Adam on the stage's mean squared velocity error; the best validation checkpoint is returned.

        The parameters and the train set are replicated on the mesh, each batch of indices is split over it.
        """
        replicated, split = device_mesh.replicated(mesh), device_mesh.split(mesh)
        optimiser = optax.adam(optax.cosine_decay_schedule(self.learning_rate, steps))
        params, static = eqx.partition(stage, eqx.is_array)
        stage = eqx.combine(jax.device_put(params, replicated), static)
        state = eqx.filter_jit(optimiser.init)(eqx.filter(stage, eqx.is_array))  # jit: the state is replicated like the parameters
        data = jax.device_put(tuple(jnp.asarray(a, jnp.float32) for a in (iterates["train"], directions["train"], truths)), replicated)

        @eqx.filter_jit
        def step(model: Stage, opt_state: optax.OptState, batch: tuple[Array, Array]) -> tuple[Stage, optax.OptState, Array]:
            indices, mask = batch

            def loss(m: Stage) -> Array:
                c, g, truth = (a[indices] for a in data)
                return masked_mean((_scaled(jax.vmap(m, in_axes=(0, 0, None))(c, g, prior)) - _scaled(truth)) ** 2, mask)
            value, grads = eqx.filter_value_and_grad(loss)(model)
            updates, opt_state = optimiser.update(grads, opt_state)
            return eqx.apply_updates(model, updates), opt_state, value

        @eqx.filter_jit
        def validation_error(model: Stage) -> Array:
            c = jax.vmap(model, in_axes=(0, 0, None))(iterates["validation"], directions["validation"], prior)
            return jnp.mean((c - validation_truths) ** 2)

        sampler = minibatches(len(truths), min(self.batch_size, len(truths)), rng)
        batches = (jax.device_put(padded_batch(indices, mesh.size), split) for indices in sampler)
        t0 = time.perf_counter()
        stage, state, _ = step(stage, state, next(batches))
        best, best_error = stage, float(validation_error(stage))
        compile_s, train_s = time.perf_counter() - t0, 0.0
        for done in range(2, steps + 1):
            t0 = time.perf_counter()
            stage, state, _ = step(stage, state, next(batches))
            train_s += time.perf_counter() - t0
            if done % self.validate_every == 0 or done == steps:
                error = float(validation_error(stage))
                if error < best_error:
                    best, best_error = stage, error
                progress(done)
        return best, compile_s, train_s


def _gradient_fn(problem: SeismicFWI2D, devices: int = 1):  # noqa: ANN202 - a closure over the survey
    """(velocities, observations) -> misfit gradients, by the JAX solver, in chunks of GRADIENT_CHUNK models
    (rounded up to a multiple of ``devices``) split over the devices."""
    survey, c_max = problem.survey(), VELOCITY_RANGE[1]
    split = device_mesh.split(device_mesh.mesh(devices))

    @jax.jit
    def chunk(velocities: Array, observations: Array) -> Array:
        return jax.vmap(lambda c, d: acoustic_jax.misfit_and_gradient(c, d, survey, c_max)[1])(velocities, observations)

    def gradients(velocities: np.ndarray, observations: np.ndarray) -> np.ndarray:
        def of(rows: np.ndarray) -> Array:  # in_chunks pads the last chunk of rows, so one compilation serves all
            return chunk(*jax.device_put((np.asarray(velocities[rows], np.float32), np.asarray(observations[rows], np.float32)), split))
        return in_chunks(of, np.arange(len(velocities)), device_mesh.padded_size(GRADIENT_CHUNK, devices))

    return gradients


def _invert(stages: list[Stage], prior: Array, observations: np.ndarray, gradients) -> np.ndarray:  # noqa: ANN001
    """Run the trained stages from the prior on each observation."""
    velocities = np.repeat(np.asarray(prior)[None], len(observations), axis=0)
    for stage in stages:
        velocities = np.asarray(_apply(stage, velocities, gradients(velocities, observations), prior))
    return velocities.astype(np.float64)


@eqx.filter_jit
def _apply(stage: Stage, velocities: Array, gradients: Array, prior: Array) -> Array:
    """A stage on a batch (one compilation serves every stage: they share a structure)."""
    return jax.vmap(stage, in_axes=(0, 0, None))(velocities, gradients, prior)
