"""Deep image prior with a TV term (Baguer, Leuschner & Schmidt 2020, "Computed tomography reconstruction using deep image prior
and learned reconstruction methods", Inverse Problems 36): an untrained U-Net fitted to each test image.

Per observation y, a U-Net f with a fixed random input z (one channel, 0.1 N(0, 1) per pixel, dival's choice) is fitted by Adam to

    min_theta |A' f(z) - y'|^2 + gamma * TV(f(z)),   A' = A / |A|, y' = y / |A|,

TV anisotropic, sum |dx| + |dy| (dival's ``tv_loss``); the reconstruction is the output of the lowest objective seen (Baguer et al.'s
code keeps it: no ground truth is needed to choose it). There is no training data: the whole cost is per image. gamma is chosen by
mean validation PSNR over a log grid (``tuned_solve``), recorded as the one-off cost, which also holds the step's compilation.
``batch`` images are fitted at once, one network each, by ``jax.vmap`` over (theta, z, y, gamma); steps loop in Python over one
compiled step (XLA's CPU backend runs convolutions in a loop body ~15x slower). ``batch`` defaults to 1: on XLA's CPU backend the
vmapped convolution with per-image weights becomes a grouped one, measured 1.8x (64^2, 2 images) to 2.2x (32^2, 4 images) slower per
image than one image at a time. For MRI the image is real (the phantoms are) and the data term is |A x - y|^2 of the complex residual.

Baguer et al. on dival's ellipses (128^2, 30 angles; 28.94 dB): a U-Net of 5 scales, 128 channels each, skip channels (0, 0, 0, 4, 4),
batch norm, a sigmoid output, Adam at lr 1e-3, 5000-10000 iterations and gamma in logspace(-4, -3, 5) of their mean-squared data term,
chosen on validation images. CPU-sized defaults here: ``solvers/priors/unet.py``'s residual U-Net, 4 levels of 32 channels each (the
paper's constant width), 1000 iterations, the same learning rate and sigmoid output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Inexact, Int, PyTree

from parity.knobs import at_least, knob, positive
from parity.numerics import image_quality, tv
from parity.operators import MeasurementOperator, operator_norm
from parity.problems.base import Problem
from parity.problems.inverse import InverseProblem
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.physics_informed.training import parameter_count
from parity.solvers.priors.unet import UNet, check_divisible
from parity.solvers.reconstruction.classical_reconstruction import Build, Reconstruct, tuned_solve
from parity.solvers.reconstruction.learned_reconstruction import NormalisedOperator
from parity.solvers.seismic.per_sample_inversion import memoised_predict

WEIGHTS = (3e-4, 1e-3, 3e-3, 1e-2)
"""The validation grid of gamma on |A' x - y'|^2 (images in [0, 1]): around half of TV's tuned weights, 2c in 0.5 |A' x - y'|^2 + c TV
(1e-3 to 6e-3 on Parity's CT and MRI settings); 32^2 CT at 10 angles measured best at 3e-3 of {1e-3, 3e-3, 1e-2, 3e-2, 1e-1}."""
INPUT_SCALE = 0.1
"""Standard deviation of the network's fixed input (dival: 0.1 N(0, 1))."""
VALIDATION, TEST = 0, 1
"""Seed streams of the networks and inputs: the search's fits and the test fits differ."""

Fit = Callable[[Inexact[np.ndarray, "m ..."], Float[np.ndarray, " m"], int, Int[np.ndarray, " m"]], Float[np.ndarray, "m h w"]]
"""(observations, gamma per observation, seed stream, index per observation) -> reconstructions."""


@dataclasses.dataclass(frozen=True)
class DeepImagePriorTV(Solver):
    name: ClassVar[str] = "dip_tv"
    requires: ClassVar[str] = "a linear inverse problem with real images (ct_2d, mri_2d): it needs the operator's adjoint"
    approach: ClassVar[str] = "deep image prior"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "deep image prior + TV: an untrained U-Net fitted to each test image (Baguer et al. 2020); gamma tuned on validation"

    iterations: int = knob(1000, "Adam steps per image (Baguer et al.: 5000-10000)", "integer >= 1", at_least(1))
    learning_rate: float = knob(1e-3, "Adam's learning rate (Baguer et al.: 1e-3)", "finite number > 0", positive)
    weight: float = knob(0.0, "TV weight gamma on |A x - y|^2 / |A|^2; 0 chooses it on the validation split", "number >= 0", at_least(0))
    tuning_samples: int = knob(2, "validation images the weight search fits for each candidate", "integer >= 1", at_least(1))
    batch: int = knob(1, "images fitted at once, one network each (vmapped; raise it on a GPU)", "integer >= 1", at_least(1))
    channels: int = knob(32, "U-Net channels at every level (Baguer et al.: 128)", "integer >= 1", at_least(1))
    levels: int = knob(4, "U-Net levels; image_size must divide by 2^(levels - 1) (Baguer et al.: 5)", "integer >= 1", at_least(1))
    sigmoid: bool = knob(True, "squash the output into (0, 1), the phantoms' range, as Baguer et al. do", "true or false")

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, InverseProblem) and problem.linear

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        """``tuned_solve`` fits the test images once; ``predict`` hands those fits back instead of fitting again."""
        assert isinstance(problem, InverseProblem)
        check_divisible(problem.image_size, self.levels, self.name)
        fitted: list[np.ndarray] = []

        def tune() -> tuple[Build, dict[str, Any]]:
            build, chosen = self._tune(problem, seed)

            def build_kept(operator: MeasurementOperator) -> Reconstruct:
                reconstruct = build(operator)

                def kept(observations: np.ndarray) -> np.ndarray:
                    fitted.append(reconstruct(observations))
                    return fitted[-1]
                return kept
            return build_kept, chosen

        result = tuned_solve(problem, evaluator, progress, tune)
        per_image_s = result.timings["solve_s"] / len(evaluator.x_test)
        return dataclasses.replace(result, predict=memoised_predict(evaluator.x_test, fitted[-1], "DIP+TV"),
                                   timings={**result.timings, "reconstruction_s": per_image_s})

    def _tune(self, problem: InverseProblem, seed: int) -> tuple[Build, dict[str, Any]]:
        operator = problem.operator()
        norm = operator_norm(operator)
        chunk = min(self.batch, problem.split_size("test"))
        fit = self._fitter(NormalisedOperator(operator, norm), chunk, seed)
        n_params = parameter_count(eqx.filter(self._network(np.random.default_rng(0)), eqx.is_inexact_array))
        chosen: dict[str, Any] = {"operator_norm": norm, "n_params": n_params}
        if self.weight > 0:
            weight = self.weight
        else:  # every candidate fits image i from the same network and input, so the scores differ by gamma alone
            validation = problem.dataset("validation")
            count = min(self.tuning_samples, len(validation.truths))
            observations, truths = validation.observations[:count] / norm, validation.truths[:count]
            repeated = np.tile(observations, (len(WEIGHTS), *[1] * (observations.ndim - 1)))
            images = fit(repeated, np.repeat(WEIGHTS, count), VALIDATION, np.tile(np.arange(count), len(WEIGHTS)))
            scores = [float(np.mean([image_quality.psnr(r, t) for r, t in zip(group, truths, strict=True)]))
                      for group in images.reshape(len(WEIGHTS), count, *images.shape[1:])]
            weight = WEIGHTS[int(np.argmax(scores))]
            chosen |= {"validation_psnr": dict(zip(map(str, WEIGHTS), scores, strict=True)), "tuning_samples": count}

        def build(test_operator: MeasurementOperator) -> Reconstruct:
            """Fits with the tuned gamma, which weighs TV against the unit-norm data term of any operator."""
            test_norm, test_fit = norm, fit
            if test_operator is not operator:
                test_norm = operator_norm(test_operator)
                test_fit = self._fitter(NormalisedOperator(test_operator, test_norm), chunk, seed)

            def reconstruct(observations: Inexact[np.ndarray, "m ..."]) -> Float[np.ndarray, "m h w"]:
                return test_fit(observations / test_norm, np.full(len(observations), weight), TEST, np.arange(len(observations)))
            return reconstruct
        return build, {"weight": weight, **chosen}

    def _fitter(self, operator: NormalisedOperator, chunk: int, seed: int) -> Fit:
        """Fits in chunks of ``chunk`` images by one step compiled here, so that its compilation counts as tuning."""
        shape = operator.image_shape
        optimiser = optax.adam(self.learning_rate)
        template, static = eqx.partition(self._network(np.random.default_rng(0)), eqx.is_inexact_array)
        operator_arrays, operator_static = eqx.partition(operator, eqx.is_array)

        def objective(params: PyTree, op: PyTree, z: Float[Array, "1 h w"], y: Inexact[Array, "..."],
                      weight: Float[Array, ""]) -> tuple[Float[Array, ""], Float[Array, "h w"]]:
            output = eqx.combine(params, static)(z)[0]
            image = jax.nn.sigmoid(output) if self.sigmoid else output
            residual = eqx.combine(op, operator_static).forward(image) - y
            return jnp.sum(jnp.abs(residual) ** 2) + weight * jnp.sum(jnp.abs(tv.gradient(image))), image

        def step(state: PyTree, op: PyTree, z: Float[Array, "1 h w"], y: Inexact[Array, "..."], weight: Float[Array, ""]) -> PyTree:
            """One Adam step, keeping the output of the lowest objective seen."""
            params, opt_state, best, best_loss = state
            (loss, image), grads = jax.value_and_grad(objective, has_aux=True)(params, op, z, y, weight)
            updates, opt_state = optimiser.update(grads, opt_state)
            better = loss < best_loss
            return optax.apply_updates(params, updates), opt_state, jnp.where(better, image, best), jnp.where(better, loss, best_loss)

        def start(params: PyTree) -> PyTree:
            return params, optimiser.init(params), jnp.zeros(shape, jnp.float32), jnp.asarray(jnp.inf, jnp.float32)

        params = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct((chunk, *leaf.shape), leaf.dtype), template)
        dtype = jnp.complex64 if operator.complex_valued else jnp.float32
        data = jax.ShapeDtypeStruct((chunk, *operator.data_shape), dtype)
        inputs = jax.ShapeDtypeStruct((chunk, 1, *shape), jnp.float32)
        weights = jax.ShapeDtypeStruct((chunk,), jnp.float32)
        start_chunk = jax.jit(jax.vmap(start)).lower(params).compile()
        state = jax.eval_shape(jax.vmap(start), params)
        step_chunk = jax.jit(jax.vmap(step, in_axes=(0, None, 0, 0, 0)), donate_argnums=0).lower(state, operator_arrays, inputs, data, weights).compile()

        def fit_chunk(y: Inexact[np.ndarray, "c ..."], gamma: Float[np.ndarray, " c"], rngs: list[np.random.Generator]) -> Float[np.ndarray, "c h w"]:
            z = jnp.asarray(np.stack([INPUT_SCALE * rng.standard_normal((1, *shape)) for rng in rngs]).astype(np.float32))
            state = start_chunk(self._networks(rngs))
            y, gamma = jnp.asarray(y, dtype), jnp.asarray(gamma, jnp.float32)
            for _ in range(self.iterations):
                state = step_chunk(state, operator_arrays, z, y, gamma)
            _, _, best, _ = state
            return np.asarray(best)

        def fit(observations: Inexact[np.ndarray, "m ..."], gamma: Float[np.ndarray, " m"], stream: int,
                index: Int[np.ndarray, " m"]) -> Float[np.ndarray, "m h w"]:
            """Row k's network and input come from the seed (seed, stream, index[k]); the last chunk is padded with repeats."""
            n, outputs = len(observations), []
            for first in range(0, n, chunk):
                rows = np.minimum(np.arange(first, first + chunk), n - 1)
                rngs = [np.random.default_rng([seed, stream, int(index[k])]) for k in rows]
                outputs.append(fit_chunk(observations[rows], gamma[rows], rngs)[: n - first])
            return np.concatenate(outputs)

        return fit

    def _network(self, rng: np.random.Generator) -> UNet:
        return UNet(1, 1, self.channels, (1,) * self.levels, rng, conditioned=False)

    def _networks(self, rngs: list[np.random.Generator]) -> PyTree:
        """One network per generator, their weights stacked along a leading axis (on the host: no compilation per shape)."""
        trees = [eqx.partition(self._network(rng), eqx.is_inexact_array)[0] for rng in rngs]
        return jax.tree.map(lambda *leaves: np.stack(leaves), *trees)
