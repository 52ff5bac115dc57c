"""Diffusion posterior sampling (Chung, Kim, Mccann, Klasky & Ye, ICLR 2023) on the learned denoising prior.

Each noise level costs one denoiser call and its vector-Jacobian product: from x at noise
sigma the denoiser's estimate x0 = D(x, sigma) takes a DDIM step to the next level (eta
sets how much fresh noise it draws; eta = 1 is the ancestral sampler), and the step is
pulled towards the data by the gradient, *through the denoiser*, of the misfit
|A x0(x) - y|, times ``weight`` (Chung et al.'s zeta_i = zeta / |y - A x0|, in unit-norm
units). The reconstruction is the mean of ``samples`` draws; their per-pixel spread is kept.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from parity.knobs import at_least, knob
from parity.solvers.priors.denoiser import Denoiser
from parity.solvers.priors.posterior import DataTerm
from parity.solvers.priors.prior_solver import PriorSolver, Reconstruct
from parity.solvers.priors.sampling import Step, batched, compiled_step, sample_posterior


def ddim_step(x: Array, x0: Array, sigma: Array, sigma_next: Array, noise: Array, eta: float) -> Array:
    """From x at ``sigma`` to ``sigma_next`` given the clean estimate x0: eta = 0 deterministic, 1 ancestral."""
    fresh = eta * sigma_next * jnp.sqrt(jnp.clip(1 - (sigma_next / sigma) ** 2, 0.0, 1.0))
    return x0 + jnp.sqrt(sigma_next**2 - fresh**2) * (x - x0) / sigma + fresh * noise


@dataclasses.dataclass(frozen=True)
class DiffusionPosteriorSampling(PriorSolver):
    name: ClassVar[str] = "dps"
    approach: ClassVar[str] = "diffusion"
    description: ClassVar[str] = ("diffusion posterior sampling (Chung et al. 2023): denoising steps guided by the misfit gradient through "
                                  "the learned prior; weight = guidance step")
    weight_name: ClassVar[str] = "guidance"
    weight_grid: ClassVar[tuple[float, ...]] = (0.1, 0.3, 1.0, 3.0, 10.0)

    evaluations: int = knob(100, "noise levels, one denoiser call and its gradient each (the cost knob)", "integer >= 1", at_least(1))
    samples: int = knob(1, "posterior samples per image (the reconstruction is their mean)", "integer >= 1", at_least(1))
    eta: float = knob(1.0, "fresh noise per step: 0 deterministic DDIM, 1 ancestral", "number in [0, 1]", lambda e: 0 <= e <= 1)

    def evaluations_per_image(self) -> int:
        return self.evaluations * self.samples

    def compile(self, denoiser: Denoiser, data: DataTerm, dtype: np.dtype) -> Reconstruct:
        compiled = compiled_step(guided_step(denoiser, data, self.eta), self.batch * self.samples, data, dtype)
        return lambda observations, weight, seed: sample_posterior(
            compiled, observations, data.operator.image_shape, self.evaluations, self.samples, weight, seed, self.batch)


def guided_step(denoiser: Denoiser, data: DataTerm, eta: float) -> Step:
    """One DPS step on a batch: a DDIM step from the denoiser's estimate, minus ``weight`` times the misfit's gradient through it."""
    def one(x: Array, y: Array, sigma: Array, sigma_next: Array, noise: Array, weight: Array) -> Array:
        x0, pullback = jax.vjp(lambda image: denoiser(image, sigma), x)
        (guidance,) = pullback(data.gradient(x0, y) / jnp.maximum(data.misfit(x0, y), 1e-12))
        return ddim_step(x, x0, sigma, sigma_next, noise, eta) - weight * guidance

    return batched(one)
