"""A learned weakly convex ridge regulariser (Goujon, Neumayer & Unser 2024, WCRR): the learned-regulariser family.

R_sigma(x) = sum over channels c and pixels of phi_c((W x)_c), where W is a multi-convolution
(convolutions without biases or activations, so one linear map) scaled to unit spectral
norm, and phi_c(t) = (s / a_c)^2 psi(a_c t / s): one learned even profile psi, rescaled per
channel by a_c and for the noise level by s = exp(c0 + c1 log sigma). psi's derivative is a
linear spline on |t| <= ``SPLINE_RANGE`` whose slopes are mu(sigma) p_k - q_k, a convex part
p_k >= 0 with a strength mu = exp(m0 + m1 log sigma) and a concave part q_k in [0, 1] (the
paper's psi = mu psi+ - psi-). So psi'' >= -1 and, with |W| = 1, R is 1-weakly convex whatever
the parameters and sigma: the denoising energy 1/2 |x - y|^2 + R_sigma(x) is convex. The
concave part is what lets the profile flatten for large responses (edges cost little),
which a convex regulariser cannot do.

Why this learned regulariser and not the adversarial one (Lunz, Oktem & Schonlieb 2018):
it is trained by a supervised denoising loss (no critic and min-max game to balance), it
has about 10^4 parameters, and its reconstruction is an ordinary minimisation with a
step size known in advance, so the family reads "a learned prior in a classical optimiser"
without doubt about whether the optimiser converged.

Against the paper, said plainly: the scale s and strength mu follow power laws in sigma
(two numbers each) where the paper learns splines in sigma; the denoiser trained through is
``regulariser_unroll`` steps of accelerated gradient descent from the noisy image (the paper
trains the energy's minimiser); widths default to 1-4-8-32 channels (the paper: 80 last).
"""

from __future__ import annotations

import dataclasses
import math

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
from parity.solvers.priors.denoiser import augmented
from parity.solvers.priors.trained_once import TrainedOnce, denoising_psnr, fit_best, trained_once

SPLINE_RANGE = 4.0
"""psi' is a linear spline on |t| <= SPLINE_RANGE and constant beyond (psi grows linearly there)."""
TRAIN_SIGMAS = (0.005, 0.15)
"""Noise levels (image units) drawn log-uniformly in training."""
VALIDATION_SIGMAS = (0.02, 0.05, 0.1)
VALIDATION_ITERATIONS = 50
POWER_ITERATIONS = 20
"""Power iterations estimating |W| in each training step (the final |W| uses many more)."""


def convolved(kernels: tuple[Float[Array, "out in k k"], ...], x: Float[Array, "h w"]) -> Float[Array, "c h w"]:
    """The raw multi-convolution W x (zero padding, no biases), before scaling to unit norm."""
    out = x[None, None]
    for kernel in kernels:
        out = jax.lax.conv_general_dilated(out, kernel, (1, 1), "SAME")
    return out[0]


class RidgeRegulariser(eqx.Module):
    """R_sigma(x) and its gradient W^T phi'(W x) for one real image x (image units)."""

    kernels: tuple[Float[Array, "out in k k"], ...]
    convex_raw: Float[Array, " knots"]
    concave_raw: Float[Array, " knots"]
    log_channel_scales: Float[Array, " channels"]
    sigma_law: Float[Array, "2"]
    """(c0, c1) of log s = c0 + c1 log sigma."""
    strength_law: Float[Array, "2"]
    """(m0, m1) of log mu = m0 + m1 log sigma."""
    norm: Float[Array, ""]
    """|W| of the raw kernels; W is applied divided by it."""

    def multiconv(self, x: Float[Array, "h w"]) -> Float[Array, "c h w"]:
        return convolved(self.kernels, x) / self.norm

    def slopes(self, sigma: Float[Array, ""] | float) -> Float[Array, " knots"]:
        """psi'' on each spline interval at noise level sigma: >= -1 by construction (weak convexity)."""
        strength = jnp.exp(self.strength_law[0] + self.strength_law[1] * jnp.log(sigma))
        return strength * jax.nn.softplus(self.convex_raw) - jax.nn.sigmoid(self.concave_raw)

    def lipschitz(self, sigma: Float[Array, ""] | float) -> Float[Array, ""]:
        """A bound on the Lipschitz constant of grad R_sigma (max |psi''|, since |W| = 1)."""
        return jnp.max(jnp.abs(self.slopes(sigma)))

    def _profile(self, t: Array, sigma: Float[Array, ""] | float) -> tuple[Array, Array]:
        """psi(t) and psi'(t) of the even spline profile at noise level sigma, elementwise."""
        slopes = self.slopes(sigma)
        width = SPLINE_RANGE / len(slopes)
        knots_derivative = jnp.concatenate([jnp.zeros(1), jnp.cumsum(slopes * width)])
        knots_value = jnp.concatenate([jnp.zeros(1), jnp.cumsum(knots_derivative[:-1] * width + slopes * width**2 / 2)])
        magnitude = jnp.abs(t)
        inside = jnp.minimum(jnp.floor(magnitude / width).astype(jnp.int32), len(slopes) - 1)
        offset = jnp.minimum(magnitude, SPLINE_RANGE) - inside * width
        derivative = knots_derivative[inside] + slopes[inside] * offset
        value = knots_value[inside] + knots_derivative[inside] * offset + slopes[inside] * offset**2 / 2
        beyond = jnp.maximum(magnitude - SPLINE_RANGE, 0.0)
        return value + knots_derivative[-1] * beyond, jnp.sign(t) * jnp.where(magnitude > SPLINE_RANGE, knots_derivative[-1], derivative)

    def _scales(self, sigma: Float[Array, ""] | float) -> Float[Array, "c 1 1"]:
        s = jnp.exp(self.sigma_law[0] + self.sigma_law[1] * jnp.log(sigma))
        return (s / jnp.exp(self.log_channel_scales))[:, None, None]

    def __call__(self, x: Float[Array, "h w"], sigma: Float[Array, ""] | float) -> Float[Array, ""]:
        scale = self._scales(sigma)
        value, _ = self._profile(self.multiconv(x) / scale, sigma)
        return jnp.sum(scale**2 * value)

    def gradient(self, x: Float[Array, "h w"], sigma: Float[Array, ""] | float) -> Float[Array, "h w"]:
        scale = self._scales(sigma)
        responses, adjoint = jax.vjp(self.multiconv, x)
        _, derivative = self._profile(responses / scale, sigma)
        return adjoint(scale * derivative)[0]


def spectral_norm(kernels: tuple[Array, ...], shape: tuple[int, int], iterations: int, key: Array) -> Float[Array, ""]:
    """|W| of the raw multi-convolution on images of ``shape``, by power iteration on W^T W (gradient flows to the kernels)."""
    def apply(x: Array) -> Array:
        return convolved(kernels, x)

    vector = jax.random.normal(key, shape)
    for _ in range(iterations):
        _, adjoint = jax.vjp(apply, vector)
        vector = adjoint(apply(vector))[0]
        vector = vector / jnp.linalg.norm(vector)
    vector = jax.lax.stop_gradient(vector)
    return jnp.linalg.norm(apply(vector))


def ridge_denoise(regulariser: RidgeRegulariser, noisy: Float[Array, "h w"], sigma: Float[Array, ""] | float,
                  iterations: int) -> Float[Array, "h w"]:
    """argmin_x 1/2 |x - y|^2 + R_sigma(x), by ``iterations`` steps of Nesterov's accelerated gradient from y."""
    step = 1.0 / (1.0 + regulariser.lipschitz(sigma))

    def one(carry: tuple[Array, Array, Array], _: None) -> tuple[tuple[Array, Array, Array], None]:
        x, z, t = carry
        x_next = z - step * (z - noisy + regulariser.gradient(z, sigma))
        t_next = (1 + jnp.sqrt(1 + 4 * t**2)) / 2
        return (x_next, x_next + (t - 1) / t_next * (x_next - x), t_next), None

    # Unrolled: XLA's CPU convolutions run about 20x slower inside a loop than straight-line.
    (x, _, _), _ = jax.lax.scan(one, (noisy, noisy, jnp.float32(1.0)), None, length=iterations, unroll=True)
    return x


@dataclasses.dataclass(frozen=True)
class RegulariserConfig(Configurable):
    """How the ridge regulariser is built and trained (knobs every solver using it carries)."""

    regulariser_channels: int = knob(32, "channels of the multi-convolution's last layer (1-4-8-C)", "integer >= 1", at_least(1))
    regulariser_kernel: int = knob(5, "kernel size of each of the three convolutions", "odd integer >= 3", lambda k: k >= 3 and k % 2 == 1)
    regulariser_knots: int = knob(32, "linear-spline intervals of the potential's derivative on |t| <= 4", "integer >= 2", at_least(2))
    regulariser_steps: int = knob(1000, "Adam steps training the regulariser as a denoiser (cosine decay)", "integer >= 1", at_least(1))
    regulariser_batch: int = knob(8, "training patches per step", "integer >= 1", at_least(1))
    regulariser_patch: int = knob(32, "side of the random training patches (capped at the image size)", "integer >= 8", at_least(8))
    regulariser_unroll: int = knob(20, "accelerated-gradient steps of the denoiser trained through", "integer >= 1", at_least(1))
    regulariser_learning_rate: float = knob(5e-3, "peak learning rate", "finite number > 0", positive)
    regulariser_seed: int = knob(0, "seed of the initialisation, patches and noise", "integer >= 0", at_least(0))

    def regulariser(self) -> RidgeRegulariser:
        rng = np.random.default_rng([self.regulariser_seed, 11])
        widths = (1, 4, 8, self.regulariser_channels)
        k = self.regulariser_kernel
        kernels = tuple(jnp.asarray(rng.standard_normal((out, inp, k, k)) / (k * math.sqrt(inp)), jnp.float32)
                        for inp, out in zip(widths[:-1], widths[1:], strict=True))
        knots = self.regulariser_knots
        # psi starts Huber-like (convex slope 1 on the first quarter of the range, small beyond) with no concave part.
        convex = np.where(np.arange(knots) < max(1, knots // 4), 1.0, 0.01)
        return RidgeRegulariser(kernels, jnp.asarray(np.log(np.expm1(convex)), jnp.float32), jnp.full(knots, -4.0, jnp.float32),
                                jnp.zeros(self.regulariser_channels, jnp.float32), jnp.asarray([0.0, 1.0], jnp.float32),
                                jnp.asarray([0.0, 0.0], jnp.float32), jnp.float32(1.0))


TrainedRegulariser = TrainedOnce[RidgeRegulariser]


def trained_regulariser(train: np.ndarray, validation: np.ndarray, config: RegulariserConfig, progress: ProgressFn) -> TrainedRegulariser:
    """The regulariser for these training truths, from the disk cache or trained now (and then cached)."""
    def fit(params: PyTree, static: PyTree) -> tuple[RidgeRegulariser, supervised.SupervisedRun, float | None]:
        best, run, flops = _train(params, static, train, validation, config, progress)
        return _normalised(eqx.combine(best, static), train.shape[1:]), run, flops

    return trained_once("ridge-regulariser", config.regulariser(), train, config, VALIDATION_SIGMAS, fit,
                        lambda regulariser: _validation_psnr(regulariser, validation))


def _normalised(regulariser: RidgeRegulariser, shape: tuple[int, ...]) -> RidgeRegulariser:
    """The regulariser with its stored |W| measured accurately at the full image size."""
    norm = spectral_norm(regulariser.kernels, (int(shape[0]), int(shape[1])), 300, jax.random.key(3))
    return eqx.tree_at(lambda r: r.norm, regulariser, norm)


def _random_patches(images: Float[Array, "b h w"], size: int, key: Array) -> Float[Array, "b p p"]:
    corners = jax.random.randint(key, (len(images), 2), 0, jnp.asarray(images.shape[1:]) - size + 1)
    return jax.vmap(lambda image, corner: jax.lax.dynamic_slice(image, (corner[0], corner[1]), (size, size)))(images, corners)


def _train(params: PyTree, static: PyTree, train: np.ndarray, validation: np.ndarray, config: RegulariserConfig,
           progress: ProgressFn) -> tuple[PyTree, supervised.SupervisedRun, float | None]:
    transform = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.warmup_cosine_decay_schedule(
        0.0, config.regulariser_learning_rate, min(100, config.regulariser_steps // 10 + 1), config.regulariser_steps)))
    truths = jnp.asarray(train, jnp.float32)
    size = min(config.regulariser_patch, *train.shape[1:])
    key = jax.random.key(config.regulariser_seed)
    low, high = np.log(TRAIN_SIGMAS[0]), np.log(TRAIN_SIGMAS[1])

    def loss_of(p: PyTree, clean: Array, loss_key: Array) -> Array:
        sigma_key, noise_key, norm_key = jax.random.split(loss_key, 3)
        model = eqx.combine(p, static)
        model = eqx.tree_at(lambda r: r.norm, model, spectral_norm(model.kernels, (size, size), POWER_ITERATIONS, norm_key))
        sigma = jnp.exp(jax.random.uniform(sigma_key, (len(clean),), minval=low, maxval=high))
        noisy = clean + sigma[:, None, None] * jax.random.normal(noise_key, clean.shape)
        denoised = jax.vmap(lambda y, s: ridge_denoise(model, y, s, config.regulariser_unroll))(noisy, sigma)
        return jnp.mean(jnp.sum((denoised - clean) ** 2, axis=(1, 2)) / sigma**2) / size**2  # every noise level weighs alike

    def step(p: PyTree, s: PyTree, indices: Array, step_key: Array) -> tuple[PyTree, PyTree, Array]:
        augment_key, patch_key, loss_key = jax.random.split(step_key, 3)
        clean = _random_patches(augmented(truths[indices], augment_key), size, patch_key)
        loss, grads = jax.value_and_grad(loss_of)(p, clean, loss_key)
        updates, s = transform.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    batch = min(config.regulariser_batch, len(train))
    opt_state = transform.init(params)
    compiled = jax.jit(step).lower(params, opt_state, jnp.zeros(batch, jnp.int32), key).compile()
    run = fit_best(compiled, params, opt_state, lambda p: _validation_psnr(_normalised(eqx.combine(p, static), train.shape[1:]), validation),
                   n_train=len(train), batch=batch, steps=config.regulariser_steps, seed=config.regulariser_seed, progress=progress,
                   what="ridge regulariser")
    return run.best_params, run, device_mesh.flops(compiled)


@eqx.filter_jit
def denoise_batch(regulariser: RidgeRegulariser, images: Float[Array, "b h w"], sigma: Float[Array, ""],
                  iterations: int = VALIDATION_ITERATIONS) -> Float[Array, "b h w"]:
    """The regulariser's denoiser on every image at one noise level (``iterations`` unrolled: compile time grows with it)."""
    return jax.vmap(lambda y: ridge_denoise(regulariser, y, sigma, iterations))(images)


def _validation_psnr(regulariser: RidgeRegulariser, validation: np.ndarray) -> dict[str, float]:
    return denoising_psnr(lambda noisy, sigma: denoise_batch(regulariser, noisy, sigma), validation, VALIDATION_SIGMAS)
