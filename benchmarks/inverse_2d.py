"""asv benchmarks for CT reconstruction: what one image costs each method, and a learned step.

``ClassicalReconstruction`` times one tuned-filter FBP and one 300-iteration TV-PDHG
reconstruction of a dival-like ellipse phantom; ``LearnedTrainingStep`` times the loss and
gradient of one training sample through the unrolled learned GD / learned PD networks (a
batch-1 training step without the optimiser's update), which sizes a training budget:
steps per 30 minutes = 1800 s / this time.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from parity.harness import registry
from parity.numerics import tv
from parity.operators import operator_norm
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.solvers.reconstruction.learned_reconstruction import NormalisedOperator

from ._compilation_cache import cache_compilations

TV_ITERATIONS = 300


def _sample(image_size: int, angles: int) -> tuple[ParallelBeamCT2D, np.ndarray, np.ndarray]:
    problem = ParallelBeamCT2D(image_size=image_size, angles=angles)
    truth, sinogram = problem.simulate(np.random.default_rng(0))
    return problem, truth.astype(np.float32), sinogram.astype(np.float32)


class ClassicalReconstruction:
    """One 30-angle, 5%-noise sinogram reconstructed by FBP (Hann, 0.8 Nyquist) and by TV-PDHG."""

    params = ([64, 128],)
    param_names = ["image_size"]
    timeout = 300

    def setup(self, image_size: int) -> None:
        cache_compilations()
        problem, _, sinogram = _sample(image_size, 30)
        operator = problem.operator()
        norm = operator_norm(operator)
        self.sinograms = jnp.asarray(sinogram[None])
        self.fbp = jax.jit(lambda y: operator.fbp(y, "hann", 0.8))
        self.tv = lambda: tv.tv_reconstruct_batch(operator, self.sinograms, 1e-3 * norm**2, TV_ITERATIONS, True, operator_norm=norm)
        jax.block_until_ready((self.fbp(self.sinograms[0]), self.tv()))

    def time_fbp(self, image_size: int) -> None:
        jax.block_until_ready(self.fbp(self.sinograms[0]))

    def time_tv_300_iterations(self, image_size: int) -> None:
        jax.block_until_ready(self.tv())


class LearnedTrainingStep:
    """Loss and gradient of one sample through the default networks (10 unrolled iterations, 32 channels)."""

    params = (["learned_gd", "learned_pd"], [64, 128])
    param_names = ["solver", "image_size"]
    timeout = 600

    def setup(self, solver: str, image_size: int) -> None:
        cache_compilations()
        problem, truth, sinogram = _sample(image_size, 30)
        norm = operator_norm(problem.operator())
        operator = NormalisedOperator(problem.operator(), norm)
        model = registry.solver_class(solver)().network(operator, np.random.default_rng(0))
        observation, target = jnp.asarray(sinogram / norm), jnp.asarray(truth)

        @eqx.filter_jit
        def loss_and_gradient(model: eqx.Module) -> tuple[jax.Array, eqx.Module]:
            return eqx.filter_value_and_grad(lambda m: jnp.mean((m(observation, operator) - target) ** 2))(model)

        self.step = lambda: loss_and_gradient(model)
        jax.block_until_ready(self.step())

    def time_loss_and_gradient(self, solver: str, image_size: int) -> None:
        jax.block_until_ready(self.step())
