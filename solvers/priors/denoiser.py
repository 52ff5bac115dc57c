"""The learned denoising prior D(x, sigma): an EDM-preconditioned U-Net trained once per problem setting and cached.

Every learned-prior solver of this package (DPS, DiffPIR, plug-and-play) uses the same
denoiser: a noise-conditioned U-Net trained on the problem's *train* truths by denoising
score matching with Karras et al.'s (2022, EDM) preconditioning and noise distribution.
It never sees an observation, so one prior serves every operator, angle count and noise
level of a phantom distribution; it is keyed on the training truths themselves, so
problems that draw the same phantoms (``ct_2d`` exact and ``mri_2d``) share it.

Images live in [0, 1]; the network works on z = 2x - 1, where EDM's data scale of 0.5
holds, and ``denoise`` converts both ways, so callers speak image units throughout.
Training is deterministic given ``prior_seed``; its seconds are stored with the weights
and charged as one-off cost to every run that loads them (``PriorSolver``).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PyTree

from parity import devices as device_mesh
from parity.knobs import Configurable, at_least, knob, positive
from parity.solvers import supervised
from parity.solvers.base import ProgressFn
from parity.solvers.priors.trained_once import TrainedOnce, denoising_psnr, fit_best, trained_once
from parity.solvers.priors.unet import UNet

SIGMA_DATA = 0.5
"""EDM's data standard deviation, in z = 2x - 1 units."""
P_MEAN, P_STD = -1.2, 1.2
"""EDM's log-normal training distribution of the noise level (z units)."""
VALIDATION_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5)
"""Noise levels (image units) at which checkpoints score denoising PSNR on validation truths."""


class Denoiser(eqx.Module):
    """D(x, sigma) = c_skip x + c_out F(c_in x, c_noise), in z units inside, image units outside."""

    network: UNet

    def denoise_z(self, z: Float[Array, "h w"], sigma: Float[Array, ""]) -> Float[Array, "h w"]:
        scale = jnp.sqrt(sigma**2 + SIGMA_DATA**2)
        c_skip, c_out, c_in = SIGMA_DATA**2 / scale**2, sigma * SIGMA_DATA / scale, 1.0 / scale
        return c_skip * z + c_out * self.network((c_in * z)[None], jnp.log(sigma) / 4)[0]

    def __call__(self, x: Float[Array, "h w"], sigma: Float[Array, ""] | float) -> Float[Array, "h w"]:
        """The posterior-mean estimate of a clean image from x = clean + sigma * noise (image units)."""
        return (self.denoise_z(2 * x - 1, 2 * jnp.asarray(sigma, jnp.float32)) + 1) / 2


@dataclasses.dataclass(frozen=True)
class PriorConfig(Configurable):
    """How the denoising prior is built and trained (knobs every prior-based solver carries)."""

    prior_channels: int = knob(32, "channels of the prior U-Net's first level (widths x1, x2, x2, ...)", "integer >= 4", at_least(4))
    prior_levels: int = knob(3, "resolution levels of the prior U-Net", "integer in [2, 5]", lambda n: 2 <= n <= 5)
    prior_steps: int = knob(2000, "Adam steps training the prior (cosine decay)", "integer >= 1", at_least(1))
    prior_batch: int = knob(16, "training images per prior step (random flips and quarter turns)", "integer >= 1", at_least(1))
    prior_learning_rate: float = knob(1e-3, "peak learning rate of the prior", "finite number > 0", positive)
    prior_seed: int = knob(0, "seed of the prior's initialisation and noise (the solver's seed drives sampling only)", "integer >= 0", at_least(0))

    def network(self) -> UNet:
        multipliers = (1,) + (2,) * (self.prior_levels - 1)
        return UNet(1, 1, self.prior_channels, multipliers, np.random.default_rng([self.prior_seed, 7]), final_scale=0.0)


TrainedPrior = TrainedOnce[Denoiser]


def trained_prior(train: np.ndarray, validation: np.ndarray, config: PriorConfig, progress: ProgressFn) -> TrainedPrior:
    """The prior for these training truths, from the disk cache or trained now (and then cached)."""
    def fit(params: PyTree, static: PyTree) -> tuple[Denoiser, supervised.SupervisedRun, float | None]:
        best, run, flops = _train(params, static, train, validation, config, progress)
        return eqx.combine(best, static), run, flops

    return trained_once("denoising-prior", Denoiser(config.network()), train, config, VALIDATION_SIGMAS, fit,
                        lambda denoiser: _validation_psnr(denoiser, validation))


def augmented(images: Float[Array, "b h w"], key: Array) -> Float[Array, "b h w"]:
    """Each image flipped and turned by one of the 8 symmetries of the square (the phantom laws are invariant to them)."""
    flip_key, turn_key = jax.random.split(key)
    flips = jax.random.bernoulli(flip_key, 0.5, (len(images),))
    turns = jax.random.randint(turn_key, (len(images),), 0, 4)

    def one(image: Array, flip: Array, turn: Array) -> Array:
        image = jnp.where(flip, image[:, ::-1], image)
        return jax.lax.switch(turn, [lambda a, k=k: jnp.rot90(a, k) for k in range(4)], image)

    return jax.vmap(one)(images, flips, turns)


def edm_loss(denoiser: Denoiser, clean_z: Float[Array, "b h w"], key: Array) -> Float[Array, ""]:
    """EDM's weighted denoising loss at log-normal noise levels (z units)."""
    sigma_key, noise_key = jax.random.split(key)
    sigma = jnp.exp(P_MEAN + P_STD * jax.random.normal(sigma_key, (len(clean_z),)))
    noisy = clean_z + sigma[:, None, None] * jax.random.normal(noise_key, clean_z.shape)
    weight = (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2
    errors = jax.vmap(denoiser.denoise_z)(noisy, sigma) - clean_z
    return jnp.mean(weight * jnp.mean(errors**2, axis=(1, 2)))


def _train(params: PyTree, static: PyTree, train: np.ndarray, validation: np.ndarray, config: PriorConfig,
           progress: ProgressFn) -> tuple[PyTree, supervised.SupervisedRun, float | None]:
    transform = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.warmup_cosine_decay_schedule(
        0.0, config.prior_learning_rate, min(200, config.prior_steps // 10 + 1), config.prior_steps)))
    truths = jnp.asarray(2 * train - 1, jnp.float32)
    key = jax.random.key(config.prior_seed)

    def step(p: PyTree, s: PyTree, indices: Array, step_key: Array) -> tuple[PyTree, PyTree, Array]:
        augment_key, loss_key = jax.random.split(step_key)
        batch = augmented(truths[indices], augment_key)
        loss, grads = jax.value_and_grad(lambda q: edm_loss(eqx.combine(q, static), batch, loss_key))(p)
        updates, s = transform.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    batch = min(config.prior_batch, len(train))
    opt_state = transform.init(params)
    compiled = jax.jit(step).lower(params, opt_state, jnp.zeros(batch, jnp.int32), key).compile()
    run = fit_best(compiled, params, opt_state, lambda p: _validation_psnr(eqx.combine(p, static), validation), n_train=len(train),
                   batch=batch, steps=config.prior_steps, seed=config.prior_seed, progress=progress, what="denoising prior")
    return run.best_params, run, device_mesh.flops(compiled)


def _validation_psnr(denoiser: Denoiser, validation: np.ndarray) -> dict[str, float]:
    return denoising_psnr(lambda noisy, sigma: denoise_batch(denoiser, noisy, sigma), validation, VALIDATION_SIGMAS)


@eqx.filter_jit
def denoise_batch(denoiser: Denoiser, images: Float[Array, "b h w"], sigma: Float[Array, ""]) -> Float[Array, "b h w"]:
    """D(x, sigma) of every image at one noise level, compiled once per shape."""
    return jax.vmap(lambda x: denoiser(x, sigma))(images)
