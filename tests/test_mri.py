"""Single-coil Cartesian MRI: undersampling masks and the phase-exact unitary DFT."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from parity.numerics import image_quality
from parity.numerics.mri import CartesianFourier, kspace_from_phantom, undersampling_mask
from parity.numerics.phantoms import shepp_logan


def complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> jnp.ndarray:
    return jnp.asarray(rng.standard_normal(shape) + 1j * rng.standard_normal(shape), jnp.complex64)


@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize(("acceleration", "center_fraction"), [(4, 0.08), (8, 0.04)])
def test_mask_samples_one_line_in_acceleration_with_a_full_centre(kind: str, acceleration: int, center_fraction: float) -> None:
    n = 256
    masks = np.stack([undersampling_mask(n, acceleration, center_fraction, kind, np.random.default_rng(s)) for s in range(100)])
    low = round(n * center_fraction)
    centre = slice((n - low + 1) // 2, (n - low + 1) // 2 + low)
    assert masks[:, centre].all() and masks[:, n // 2].all()
    assert masks.mean() * acceleration == pytest.approx(1.0, abs=0.03)
    if kind == "equispaced":  # not just on average: every mask is close
        assert np.all(np.abs(masks.mean(axis=1) * acceleration - 1.0) < 0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((128, 4, 0.08, "radial"), "kind 'radial'"),
        ((128, 0, 0.08, "random"), "acceleration = 0"),
        ((128, 4, 0.3, "equispaced"), r"center_fraction = 0.3 must lie in \[0, 1/acceleration\)"),
        ((1, 4, 0.08, "random"), "n = 1"),
    ],
)
def test_mask_rejects_bad_inputs(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        undersampling_mask(*args, rng=np.random.default_rng(0))


def test_adjoint_is_exact(rng: np.random.Generator) -> None:
    operator = CartesianFourier(undersampling_mask(64, 4, 0.08, "random", rng))
    x, y = complex_normal(rng, (64, 64)), complex_normal(rng, (64, 64))
    lhs = jnp.vdot(y, operator.forward(x))
    rhs = jnp.vdot(operator.adjoint(y), x)
    assert abs(lhs - rhs) / abs(lhs) < 1e-5


def test_full_mask_is_unitary(rng: np.random.Generator) -> None:
    operator = CartesianFourier(np.ones(64, dtype=bool))
    x = complex_normal(rng, (64, 64))
    assert float(jnp.linalg.norm(operator.forward(x))) == pytest.approx(float(jnp.linalg.norm(x)), rel=1e-5)
    assert float(jnp.max(jnp.abs(operator.adjoint(operator.forward(x)) - x))) < 1e-5


def test_analytic_kspace_matches_the_dft_of_the_raster_at_low_frequencies() -> None:
    """The phase ramps place the DFT's origin at the square's centre: F(raster) ~ the continuous transform."""
    n = 128
    phantom = shepp_logan()
    discrete = np.asarray(CartesianFourier(np.ones(n, dtype=bool)).fourier(jnp.asarray(phantom.raster(n), jnp.complex64)))
    exact = kspace_from_phantom(phantom, n)
    low = slice(n // 2 - n // 8, n // 2 + n // 8)
    error = np.linalg.norm(discrete[low, low] - exact[low, low]) / np.linalg.norm(exact[low, low])
    assert error < 0.03


def test_zero_filled_reconstruction_of_full_analytic_kspace_is_the_raster() -> None:
    n = 128
    phantom = shepp_logan()
    operator = CartesianFourier(np.ones(n, dtype=bool))
    image = np.abs(np.asarray(operator.pseudo_inverse(jnp.asarray(kspace_from_phantom(phantom, n), jnp.complex64))))
    assert image_quality.psnr(image, phantom.raster(n)) > 25.0


def test_odd_image_size_is_refused() -> None:
    with pytest.raises(ValueError, match="even image size; got n = 31"):
        CartesianFourier(np.ones(31, dtype=bool))
