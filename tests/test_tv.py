"""PDHG total-variation reconstruction and validation-set weight selection."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float

from parity.numerics import image_quality, tv
from parity.numerics.mri import CartesianFourier, kspace_from_phantom, undersampling_mask
from parity.numerics.phantoms import shepp_logan
from parity.operators import ImagingOperator


class MaskedIdentity(ImagingOperator):
    """A x = m . x: denoising where m = 1, inpainting where m = 0; real, ||A|| = 1."""

    mask: Float[Array, "h w"]
    image_shape: tuple[int, int] = eqx.field(static=True)
    data_shape: tuple[int, int] = eqx.field(static=True)
    complex_valued: bool = eqx.field(static=True)

    def __init__(self, mask: np.ndarray):
        self.mask = jnp.asarray(mask, jnp.float32)
        self.image_shape = self.data_shape = mask.shape
        self.complex_valued = False

    def forward(self, image: Array) -> Array:
        return self.mask * image

    def adjoint(self, data: Array) -> Array:
        return self.mask * data

    def pseudo_inverse(self, data: Array) -> Array:
        return self.mask * data


def squares(n: int = 32) -> np.ndarray:
    """A piecewise-constant test image in [0, 1]."""
    image = np.zeros((n, n), np.float32)
    image[4:20, 6:16] = 1.0
    image[14:28, 12:26] = 0.5
    return image


def noisy(image: np.ndarray, level: float, seed: int = 0) -> jnp.ndarray:
    return jnp.asarray(image + level * np.random.default_rng(seed).standard_normal(image.shape), jnp.float32)


def test_gradient_adjoint_is_exact(rng: np.random.Generator) -> None:
    x, q = jnp.asarray(rng.standard_normal((9, 7))), jnp.asarray(rng.standard_normal((2, 9, 7)))
    assert float(jnp.vdot(tv.gradient(x), q)) == pytest.approx(float(jnp.vdot(x, tv.gradient_adjoint(q))), rel=1e-5)


def test_pdhg_objective_decreases_and_converges() -> None:
    operator = MaskedIdentity(np.ones((32, 32)))
    data = noisy(squares(), 0.2)
    objective = [
        float(tv.tv_objective(operator, data, tv.tv_reconstruct(operator, data, 0.2, iterations, operator_norm=1.0), 0.2))
        for iterations in (0, 30, 300, 2000, 4000)
    ]
    assert all(later < earlier for earlier, later in zip(objective[:3], objective[1:4], strict=True))
    assert abs(objective[3] - objective[4]) / objective[4] < 1e-4


def test_tv_denoising_raises_psnr() -> None:
    truth = squares()
    data = noisy(truth, 0.2)
    denoised = np.asarray(tv.tv_reconstruct(MaskedIdentity(np.ones((32, 32))), data, 0.15, 300, operator_norm=1.0))
    assert image_quality.psnr(denoised, truth) > image_quality.psnr(np.asarray(data), truth) + 6.0


def test_nonnegativity_is_respected() -> None:
    operator = MaskedIdentity(np.random.default_rng(1).uniform(size=(32, 32)) < 0.7)  # inpaint 30 % of pixels
    data = operator.forward(noisy(squares(), 0.3))
    free = np.asarray(tv.tv_reconstruct(operator, data, 0.05, 300, operator_norm=1.0))
    clamped = np.asarray(tv.tv_reconstruct(operator, data, 0.05, 300, nonnegative=True, operator_norm=1.0))
    assert free.min() < -0.05 and clamped.min() >= 0.0


def test_compressed_sensing_tv_beats_zero_filling() -> None:
    """The complex path: at n = 64, 4x (17 of 64 lines) TV gains 2.6 dB; at n = 32 Shepp-Logan is too coarse to gain much."""
    n = 64
    phantom = shepp_logan()
    truth = phantom.raster(n)
    mask = undersampling_mask(n, 4, 0.08, "random", np.random.default_rng(0))
    operator = CartesianFourier(mask)
    rng = np.random.default_rng(1)
    noise = 0.01 * (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    data = jnp.asarray(mask[None, :] * (kspace_from_phantom(phantom, n) + noise), jnp.complex64)
    zero_filled = np.abs(np.asarray(operator.pseudo_inverse(data)))
    reconstruction = np.abs(np.asarray(tv.tv_reconstruct(operator, data, 0.003, 500)))
    assert image_quality.psnr(reconstruction, truth) > image_quality.psnr(zero_filled, truth) + 1.5


def test_changing_the_weight_does_not_recompile() -> None:
    operator = MaskedIdentity(np.ones((16, 16)))
    data = jnp.stack([noisy(squares(16), 0.1, seed) for seed in range(3)])
    before = tv._pdhg_batch._cached._cache_size()  # equinox's jitted function (private, but the only witness)
    for weight in (0.01, 0.1, 1.0):
        tv.tv_reconstruct_batch(operator, data, weight, 17, operator_norm=1.0)
    assert tv._pdhg_batch._cached._cache_size() == before + 1


def test_choose_weight_finds_the_optimum_of_a_unimodal_score() -> None:
    truths = np.stack([squares(), squares()[::-1]])
    pattern = np.random.default_rng(2).standard_normal(truths.shape)

    def reconstruct(weight: float) -> np.ndarray:
        return truths + 0.01 * (1.0 + np.log(weight / 0.037) ** 2) * pattern  # PSNR peaks at 0.037

    best, table = tv.choose_weight(reconstruct, truths, np.geomspace(1e-4, 1.0, 5), refinements=10)
    assert best == pytest.approx(0.037, rel=0.05)
    assert len(table) == 15 and table[best] == max(table.values())
