"""What the diffusion posterior samplers share: the noise schedule and batched sampling with a per-pixel spread.

Samples run in batches of (images x samples per image), one jitted step per noise level
driven from Python: XLA's CPU backend runs convolutions inside a loop body many times
slower, so the loop stays outside the compiled program and each step compiles once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Inexact

from parity.solvers.priors.posterior import DataTerm
from parity.solvers.reconstruction.classical_reconstruction import padded_chunk

SIGMA_MAX = 10.0
"""Largest noise level (image units, where images span [0, 1]): the start is pure noise at this scale."""
SIGMA_MIN = 0.002
RHO = 7.0
"""Karras et al.'s schedule exponent: steps crowd where the noise is small."""

Step = Callable[[Array, Array, Array, Array, Array, Array], Array]
"""``(x, observations, sigma, sigma_next, key, weight) -> x_next`` on a batch (the last step has sigma_next = 0)."""


def batched(one: Callable[[Array, Array, Array, Array, Array, Array], Array]) -> Step:
    """A :data:`Step` from ``one(x, y, sigma, sigma_next, noise, weight)`` on one draw: fresh noise per draw, vmapped over the batch."""
    def step(x: Array, y: Array, sigma: Array, sigma_next: Array, key: Array, weight: Array) -> Array:
        noise = jax.random.normal(key, x.shape)
        return jax.vmap(one, in_axes=(0, 0, None, None, 0, None))(x, y, sigma, sigma_next, noise, weight)

    return step


def compiled_step(step: Step, draws: int, data: DataTerm, dtype: np.dtype) -> Step:
    """``step`` compiled once for a batch of ``draws`` images and their observations."""
    scalar = jax.ShapeDtypeStruct((), jnp.float32)
    images = jax.ShapeDtypeStruct((draws, *data.operator.image_shape), jnp.float32)
    observations = jax.ShapeDtypeStruct((draws, *data.operator.data_shape), dtype)
    return jax.jit(step).lower(images, observations, scalar, scalar, jax.random.key(0), scalar).compile()


def noise_levels(evaluations: int) -> Float[np.ndarray, " k"]:
    """Karras et al. (2022)'s decreasing noise levels, ``evaluations`` of them, then 0 (one denoiser call per level)."""
    ramp = np.linspace(0.0, 1.0, evaluations) if evaluations > 1 else np.zeros(1)
    sigmas = (SIGMA_MAX ** (1 / RHO) + ramp * (SIGMA_MIN ** (1 / RHO) - SIGMA_MAX ** (1 / RHO))) ** RHO
    return np.append(sigmas, 0.0).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Samples:
    mean: Float[np.ndarray, "n h w"]
    """The reconstruction: each image's sample mean (NaN where a chunk stopped)."""
    spread: Float[np.ndarray, "n h w"]
    """Per-pixel standard deviation over an image's samples: the uncertainty image."""
    finished: int
    """Images whose samples all stayed finite (they are kept when a later chunk diverges)."""
    message: str
    residuals: tuple[float, ...] = ()
    """Mean relative fixed-point residual per iteration, for iterative (plug-and-play) reconstructions."""


def sample_posterior(step: Step, observations: Inexact[np.ndarray, "n ..."], image_shape: tuple[int, int], evaluations: int,
                     samples: int, weight: float, seed: int, chunk: int) -> Samples:
    """Run ``step`` down the schedule for ``samples`` draws per observation, ``chunk`` observations at a time."""
    sigmas = jnp.asarray(noise_levels(evaluations))
    n = len(observations)
    mean = np.full((n, *image_shape), np.nan, np.float32)
    spread = np.full((n, *image_shape), np.nan, np.float32)
    key = jax.random.key(seed)
    for start in range(0, n, chunk):
        part = np.asarray(observations[start:start + chunk])
        data = jnp.repeat(jnp.asarray(padded_chunk(part, chunk)), samples, axis=0)
        start_key, steps_key = jax.random.split(jax.random.fold_in(key, start))
        x = sigmas[0] * jax.random.normal(start_key, (len(data), *image_shape))
        for level in range(evaluations):
            x = step(x, data, sigmas[level], sigmas[level + 1], jax.random.fold_in(steps_key, level), jnp.float32(weight))
        draws = np.asarray(x).reshape(chunk, samples, *image_shape)[: len(part)]
        if not np.all(np.isfinite(draws)):
            bad = start + int(np.argmax(~np.isfinite(draws).reshape(len(part), -1).all(axis=1)))
            return Samples(mean, spread, start, f"a sample of test image {bad} turned non-finite")
        mean[start:start + len(part)] = draws.mean(axis=1)
        spread[start:start + len(part)] = draws.std(axis=1)
    return Samples(mean, spread, n, "")
