"""Plug-and-play ADMM (Venkatakrishnan, Bouman & Wohlberg 2013) with the learned denoiser: the prior without sampling.

ADMM on 1/2 |A x - y|^2 + R(x) with R's proximal map replaced by the denoiser at a fixed
noise level sigma (the weight; tuned on validation):
x = argmin 1/2 |A x - y|^2 + rho/2 |x - (z - u)|^2 (conjugate gradients),
z = D(x + u, sigma), u = u + x - z, from z = the pseudo-inverse. The operator is exact and
nothing is random: one reconstruction per image. The relative fixed-point residual
|z_k+1 - z_k| / |z_k| is recorded per iteration (it should fall; PnP-ADMM with a denoiser
that is not a proximal map is not guaranteed to converge).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact

from parity.knobs import at_least, knob, positive
from parity.solvers.priors.denoiser import Denoiser
from parity.solvers.priors.posterior import DataTerm
from parity.solvers.priors.prior_solver import PriorSolver, Reconstruct
from parity.solvers.priors.sampling import Samples
from parity.solvers.reconstruction.classical_reconstruction import padded_chunk


@dataclasses.dataclass(frozen=True)
class PlugAndPlayADMM(PriorSolver):
    name: ClassVar[str] = "pnp_admm"
    approach: ClassVar[str] = "plug-and-play"
    description: ClassVar[str] = "plug-and-play ADMM with the learned denoiser as the prior's proximal map; weight = the denoiser's sigma"
    deterministic: ClassVar[bool] = True
    weight_name: ClassVar[str] = "denoiser_sigma"
    weight_grid: ClassVar[tuple[float, ...]] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)

    iterations: int = knob(30, "ADMM iterations, one denoiser call each (the cost knob)", "integer >= 1", at_least(1))
    rho: float = knob(0.1, "ADMM penalty of the data step (unit-norm operator units)", "number > 0", positive)
    cg_iterations: int = knob(10, "conjugate-gradient steps of each data step", "integer >= 1", at_least(1))

    def evaluations_per_image(self) -> int:
        return self.iterations

    def compile(self, denoiser: Denoiser, data: DataTerm, dtype: np.dtype) -> Reconstruct:
        rho, cg_iterations = self.rho, self.cg_iterations

        def one(z: Array, u: Array, y: Array, sigma: Array) -> tuple[Array, Array, Array]:
            x = data.proximal(z - u, y, rho, cg_iterations)
            z_next = denoiser(x + u, sigma)
            return z_next, u + x - z_next, jnp.linalg.norm(z_next - z) / jnp.maximum(jnp.linalg.norm(z), 1e-12)

        def step(z: Array, u: Array, y: Array, sigma: Array) -> tuple[Array, Array, Array]:
            return jax.vmap(one, in_axes=(0, 0, 0, None))(z, u, y, sigma)

        shape = (self.batch, *data.operator.image_shape)
        images = jax.ShapeDtypeStruct(shape, jnp.float32)
        observations = jax.ShapeDtypeStruct((self.batch, *data.operator.data_shape), dtype)
        compiled = jax.jit(step).lower(images, images, observations, jax.ShapeDtypeStruct((), jnp.float32)).compile()
        start = jax.jit(jax.vmap(data.start))

        def reconstruct(observations: Inexact[np.ndarray, "n ..."], weight: float, seed: int) -> Samples:
            del seed  # deterministic
            n = len(observations)
            result = np.full((n, *data.operator.image_shape), np.nan, np.float32)
            residuals = np.zeros((self.iterations, n))
            for first in range(0, n, self.batch):
                part = observations[first:first + self.batch]
                y = jnp.asarray(padded_chunk(part, self.batch))
                z, u = start(y), jnp.zeros(shape, jnp.float32)
                for k in range(self.iterations):
                    z, u, residual = compiled(z, u, y, jnp.float32(weight))
                    residuals[k, first:first + len(part)] = np.asarray(residual)[: len(part)]
                images = np.asarray(z)[: len(part)]
                if not np.all(np.isfinite(images)):
                    return Samples(result, np.zeros_like(result), first, f"plug-and-play iterates of test image batch at {first} turned non-finite",
                                   tuple(residuals.mean(axis=1)))
                result[first:first + len(part)] = images
            return Samples(result, np.zeros_like(result), n, "", tuple(float(r) for r in residuals.mean(axis=1)))

        return reconstruct

    def details(self, samples: Samples) -> dict[str, float]:
        if not samples.residuals:
            return {}
        return {"fixed_point_residual_first": samples.residuals[0], "fixed_point_residual_last": samples.residuals[-1]}
