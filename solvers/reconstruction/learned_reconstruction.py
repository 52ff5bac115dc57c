"""What learned reconstructors share: real channels, a unit-norm operator, a CNN block and supervised training.

A learned reconstructor is an Equinox module ``model(observation, operator) -> image`` that
unrolls an iterative scheme with convolutional networks in place of hand-made updates. It is
trained to minimise the mean squared error to the ground truths of the *train* split; the
checkpoint with the best mean PSNR on the *validation* split is the one returned, so the test
split is only ever scored (through the evaluator), never used to choose. The model sees
A / ||A|| and y / ||A|| (Adler & Öktem 2018), so its inputs are O(1) whatever the operator;
the test split is reconstructed with its own operator (``test_operator()``, normalised by
its own norm), which differs from the training one when a shift measures fewer observations.

Training is data-parallel over ``budget.devices`` JAX devices: the parameters, the operator's
arrays and the train split are replicated, each step's batch of indices is split over the
devices (padded to a multiple of their count, the padding masked out of the mean), and XLA
all-reduces the gradient. Checkpoint reconstructions are split over the devices the same way.
One device runs the same code on a one-device mesh.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Callable
from typing import ClassVar, Protocol

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Inexact, PyTree

from parity import devices as device_mesh
from parity import moved
from parity.knobs import ParameterError, at_least, knob, positive
from parity.numerics import image_quality
from parity.operators import ImagingOperator, operator_norm
from parity.problems.base import Problem
from parity.problems.inverse import InverseProblem
from parity.solvers import supervised
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.reconstruction.classical_reconstruction import in_chunks
from parity.solvers.supervised import masked_mean, padded_batch

CLIP_NORM = 1.0
"""Global gradient-norm clip (Adler & Öktem 2018): one bad batch cannot throw the unrolled scheme off."""
EVAL_CHUNK = 32
"""Most samples reconstructed per call at checkpoints and in ``predict``."""
__getattr__ = moved.names_getattr(__name__)  # minibatches, now in parity.solvers.supervised

OPTIMISERS: dict[str, Callable[[optax.Schedule], optax.GradientTransformation]] = {
    "adam": lambda rate: optax.adam(rate, b2=0.99),  # Adler & Öktem 2018's settings
    "rmsprop": lambda rate: optax.rmsprop(rate),  # Adler & Öktem 2017's choice
}


def to_channels(z: Inexact[Array, "*spatial"]) -> Float[Array, "c *spatial"]:
    """A real array as one channel, a complex one as two (real, imaginary)."""
    return jnp.stack([z.real, z.imag]) if jnp.iscomplexobj(z) else z[None]


def from_channels(channels: Float[Array, "c *spatial"], complex_valued: bool) -> Inexact[Array, "*spatial"]:
    """The inverse of :func:`to_channels` (reads the first one or two channels)."""
    return jax.lax.complex(channels[0], channels[1]) if complex_valued else channels[0]


def field_channels(operator: ImagingOperator) -> int:
    """Real channels per image or datum of the operator's field."""
    return 2 if operator.complex_valued else 1


class NormalisedOperator(ImagingOperator):
    """A / ||A||: gradients and back-projections of unit-scale data stay O(1) for any operator.

    Applied to data divided by ||A|| too, its pseudo-inverse gives the original operator's
    reconstruction, and its data-fit gradient is A^H(Ax - y) / ||A||^2.
    """

    operator: ImagingOperator
    scale: float
    image_shape: tuple[int, int]
    data_shape: tuple[int, ...]
    complex_valued: bool

    def __init__(self, operator: ImagingOperator, norm: float):
        self.operator = operator
        self.scale = 1.0 / norm
        self.image_shape = operator.image_shape
        self.data_shape = operator.data_shape
        self.complex_valued = operator.complex_valued

    def forward(self, image: Inexact[Array, "h w"]) -> Inexact[Array, "..."]:
        return self.scale * self.operator.forward(image)

    def adjoint(self, data: Inexact[Array, "..."]) -> Inexact[Array, "h w"]:
        return self.scale * self.operator.adjoint(data)

    def pseudo_inverse(self, data: Inexact[Array, "..."]) -> Inexact[Array, "h w"]:
        return self.operator.pseudo_inverse(data) / self.scale


class ConvNet(eqx.Module):
    """``depth`` 3x3 convolutions, ``width`` channels wide, with per-channel PReLUs between: both papers' block.

    Weights are drawn on the host (Equinox's uniform +-1/sqrt(fan in)): eager JAX sampling
    compiles one program per weight shape, seconds on a CPU. ``final_scale`` multiplies the
    last layer's weights and bias; 0 makes the block output zero at first, so an unrolled
    scheme starts from its initial guess.
    """

    weights: tuple[Float[Array, "o i *kernel"], ...]
    biases: tuple[Float[Array, "o *ones"], ...]
    slopes: tuple[Float[Array, "w *ones"], ...]

    def __init__(
        self, in_channels: int, out_channels: int, width: int, depth: int, spatial_dims: int, rng: np.random.Generator, final_scale: float = 1.0
    ):
        sizes = [in_channels, *[width] * (depth - 1), out_channels]
        scales = [1.0] * (depth - 1) + [final_scale]
        ones = (1,) * spatial_dims

        def uniform(shape: tuple[int, ...], fan_in: int, scale: float) -> Float[Array, "..."]:
            return jnp.asarray((scale / np.sqrt(fan_in) * rng.uniform(-1.0, 1.0, shape)).astype(np.float32))

        layers = list(zip(sizes[:-1], sizes[1:], scales, strict=True))
        self.weights = tuple(uniform((n_out, n_in, *(3,) * spatial_dims), n_in * 3**spatial_dims, scale) for n_in, n_out, scale in layers)
        self.biases = tuple(uniform((n_out, *ones), n_in * 3**spatial_dims, scale) for n_in, n_out, scale in layers)
        self.slopes = tuple(jnp.asarray(np.full((width, *ones), 0.25, np.float32)) for _ in range(depth - 1))

    def __call__(self, z: Float[Array, "c *spatial"]) -> Float[Array, "o *spatial"]:
        strides = (1,) * (z.ndim - 1)
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = jax.lax.conv_general_dilated(z[None], weight, strides, "SAME")[0] + bias
            if layer < len(self.slopes):
                z = jnp.where(z >= 0, z, self.slopes[layer] * z)
        return z


class Reconstructor(Protocol):
    """An Equinox module mapping one observation (of a unit-norm operator) to an image of its field."""

    def __call__(self, observation: Inexact[Array, "..."], operator: ImagingOperator) -> Inexact[Array, "h w"]: ...


@dataclasses.dataclass(frozen=True)
class LearnedReconstruction(Solver):
    """The training knobs of every learned reconstructor; subclasses give the network."""

    family: ClassVar[str] = "sciml"
    multi_device: ClassVar[bool] = True

    learning_rate: float = knob(1e-3, "initial learning rate (cosine decay to 0 over the step budget)", "finite number > 0", positive)
    optimiser: str = knob("adam", "optimiser (adam: beta2 = 0.99 as in Adler & Öktem 2018)", " | ".join(OPTIMISERS), OPTIMISERS.__contains__)
    batch_size: int = knob(8, "training samples per step (at most the train split's size is used)", "integer >= 1", at_least(1))
    checkpoint_every: int = knob(500, "optimiser steps between checkpoints (validation PSNR and test metrics)", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, InverseProblem) and problem.linear

    @abc.abstractmethod
    def network(self, operator: ImagingOperator, rng: np.random.Generator) -> Reconstructor:
        """The untrained reconstructor for ``operator`` (already normalised to unit norm)."""

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, InverseProblem)
        return train_reconstructor(
            problem, self.network, OPTIMISERS[self.optimiser], self.learning_rate,
            budget=budget, seed=seed, evaluator=evaluator, progress=progress,
            batch_size=self.batch_size, checkpoint_every=self.checkpoint_every,
        )


def train_reconstructor(
    problem: InverseProblem,
    network: Callable[[ImagingOperator, np.random.Generator], Reconstructor],
    optimiser: Callable[[optax.Schedule], optax.GradientTransformation],
    learning_rate: float,
    *,
    budget: Budget,
    seed: int,
    evaluator: Evaluator,
    progress: ProgressFn,
    batch_size: int,
    checkpoint_every: int,
) -> SolveResult:
    """Fit ``network`` to the train split by mean squared error (:func:`supervised.fit`); return its best-validation checkpoint."""
    t0 = time.perf_counter()
    train, validation = problem.dataset("train"), problem.dataset("validation")
    if len(train.truths) == 0:
        raise ParameterError(f"{problem.name}: a learned reconstructor needs training samples; the train split is empty")
    raw_operator, raw_test_operator = problem.operator(), problem.test_operator()
    operator = NormalisedOperator(raw_operator, operator_norm(raw_operator))
    test_operator = operator if raw_test_operator is raw_operator else NormalisedOperator(raw_test_operator, operator_norm(raw_test_operator))
    params, static = eqx.partition(network(operator, np.random.default_rng([seed, 0])), eqx.is_inexact_array)
    operator_arrays, operator_static = eqx.partition(operator, eqx.is_array)
    test_operator_arrays, test_operator_static = eqx.partition(test_operator, eqx.is_array)
    field = jnp.complex64 if operator.complex_valued else jnp.float32
    mesh = device_mesh.mesh(budget.devices)
    replicated, split_rows = device_mesh.replicated(mesh), device_mesh.split(mesh)

    def split(tree: PyTree) -> PyTree:
        """Arrays split along their first axis (samples) over the devices."""
        return jax.device_put(tree, split_rows)

    params, operator_arrays, test_operator_arrays = jax.device_put((params, operator_arrays, test_operator_arrays), replicated)
    train_data = jax.device_put((jnp.asarray(train.observations, field), jnp.asarray(train.truths, jnp.float32)), replicated)
    transform = optax.chain(optax.clip_by_global_norm(CLIP_NORM), optimiser(optax.cosine_decay_schedule(learning_rate, budget.steps)))
    opt_state = jax.jit(transform.init)(params)  # jit: the state is replicated like the parameters
    setup_s = time.perf_counter() - t0

    def reconstruct(p: PyTree, unit_operator: NormalisedOperator, y: Inexact[Array, "b ..."]) -> Inexact[Array, "b h w"]:
        model = eqx.combine(p, static)
        return jax.vmap(lambda y_: model(y_ * unit_operator.scale, unit_operator))(y)

    def loss_fn(p: PyTree, op: PyTree, y: Inexact[Array, "b ..."], x: Float[Array, "b h w"], mask: Float[Array, " b"]) -> Float[Array, ""]:
        error = reconstruct(p, eqx.combine(op, operator_static), y) - x
        return masked_mean(jnp.square(error.real) + jnp.square(error.imag), mask)

    def step(p: PyTree, s: PyTree, op: PyTree, data: PyTree, batch: tuple[Array, Array]) -> tuple[PyTree, PyTree, Float[Array, ""]]:
        """One optimiser step on the batch ``(indices, mask)`` of the train split (an argument, not a constant)."""
        observations, truths = data
        indices, mask = batch
        loss, grads = jax.value_and_grad(loss_fn)(p, op, observations[indices], truths[indices], mask)
        updates, s = transform.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    def pictures_with(op_static: PyTree) -> Callable[[PyTree, PyTree, Inexact[Array, "b ..."]], Float[Array, "b h w"]]:
        """Reconstructions as pictures, for the operator whose static part is ``op_static`` (its arrays an argument)."""
        def pictures(p: PyTree, op: PyTree, y: Inexact[Array, "b ..."]) -> Float[Array, "b h w"]:
            images = reconstruct(p, eqx.combine(op, op_static), y)
            return jnp.abs(images) if operator.complex_valued else images
        return pictures

    batch_size = min(batch_size, len(train.truths))
    chunk = device_mesh.padded_size(min(EVAL_CHUNK, max(len(validation.truths), len(evaluator.x_test))), budget.devices)
    t0 = time.perf_counter()
    batch_shape = split(padded_batch(np.zeros(batch_size, np.int32), budget.devices))
    train_step = jax.jit(step).lower(params, opt_state, operator_arrays, train_data, batch_shape).compile()
    picture_chunk = jax.jit(pictures_with(operator_static)).lower(
        params, operator_arrays, split(jnp.zeros((chunk, *operator.data_shape), field))).compile()
    test_picture_chunk = picture_chunk if test_operator is operator else jax.jit(pictures_with(test_operator_static)).lower(
        params, test_operator_arrays, split(jnp.zeros((chunk, *test_operator.data_shape), field))).compile()
    compile_s = time.perf_counter() - t0

    def images(p: PyTree, data: Inexact[np.ndarray, "m ..."], test: bool = False) -> Float[np.ndarray, "m h w"]:
        """Reconstructions (of the test operator's data if ``test``) in chunks of one compiled size (the last one padded),
        split over the devices."""
        compiled, arrays = (test_picture_chunk, test_operator_arrays) if test else (picture_chunk, operator_arrays)
        return in_chunks(lambda part: compiled(p, arrays, split(part)), np.asarray(data, field), chunk)

    def checkpoint(p: PyTree, step_: int, wall: float, loss: float) -> Checkpoint:
        pairs = zip(images(p, validation.observations), validation.truths, strict=True)
        validation_psnr = float(np.mean([image_quality.psnr(r, x) for r, x in pairs]))
        metrics = evaluator(images(p, evaluator.x_test, test=True))
        return Checkpoint(wall_s=wall, step=step_, metrics=metrics, loss=loss, details={"validation_psnr": validation_psnr})

    run = supervised.fit(
        lambda p, s, indices: train_step(p, s, operator_arrays, train_data, split(padded_batch(indices, budget.devices))),
        params, opt_state, checkpoint, lambda point: -point.details["validation_psnr"],
        n_train=len(train.truths), batch_size=batch_size, budget=budget, seed=seed,
        checkpoint_every=checkpoint_every, progress=progress,
    )
    return run.result(lambda params, data: images(params, data, test=True), {"setup_s": setup_s, "compile_s": compile_s}, {
        "best_validation_psnr": run.best.details["validation_psnr"],
        "n_train": len(train.truths),
        "devices": budget.devices,
        "flops_per_step": device_mesh.flops(train_step),
    })
