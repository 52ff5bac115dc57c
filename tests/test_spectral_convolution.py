"""The Fourier layer: a circular convolution with a band-limited kernel, the same at every resolution."""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import numpy as np
import pytest

from parity.solvers.neural_operators.spectral_convolution import SpectralConvolution, retained_modes


def band_limited(rng: np.random.Generator, channels: int, grid: tuple[int, int], modes: tuple[int, int]) -> np.ndarray:
    """Real fields whose spectrum lies on the layer's retained modes."""
    coefficients = np.zeros((channels, grid[0], grid[1] // 2 + 1), complex)
    where = (slice(None), *np.ix_(*retained_modes(grid, modes)))
    coefficients[where] = rng.normal(size=coefficients[where].shape) + 1j * rng.normal(size=coefficients[where].shape)
    coefficients[:, grid[0] - modes[0]] = 0  # frequency -m is retained, +m is not: a real field must lack both
    return np.fft.irfftn(coefficients, s=grid, axes=(1, 2))


def test_the_layer_is_a_circular_convolution_for_band_limited_input() -> None:
    rng, grid, modes = np.random.default_rng(0), (16, 12), (4, 3)
    kernel = rng.normal(size=(2, 3, *grid))  # real kernels, input channel x output channel
    layer = SpectralConvolution(2, 3, modes, key=jax.random.key(0))
    spectrum = np.fft.rfftn(kernel, axes=(2, 3))[(slice(None), slice(None), *np.ix_(*retained_modes(grid, modes)))]
    layer = eqx.tree_at(lambda l: (l.weights_real, l.weights_imag), layer, (spectrum.real, spectrum.imag))
    x = band_limited(rng, 2, grid, modes)
    direct = np.zeros((3, *grid))
    for i, o, (s0, s1) in itertools.product(range(2), range(3), itertools.product(range(grid[0]), range(grid[1]))):
        direct[o] += kernel[i, o, s0, s1] * np.roll(x[i], (s0, s1), axis=(0, 1))
    np.testing.assert_allclose(np.asarray(layer(x)), direct, atol=1e-4 * np.abs(direct).max())


def test_modes_beyond_the_retained_ones_are_dropped() -> None:
    layer = SpectralConvolution(1, 1, (4, 4), key=jax.random.key(1))
    x = np.linspace(0, 1, 32, endpoint=False)
    high = np.cos(2 * np.pi * 6 * x)[:, None] * np.cos(2 * np.pi * 5 * x)[None, :]
    assert float(np.abs(np.asarray(layer(high[None]))).max()) < 1e-5


def test_the_same_weights_act_alike_on_a_finer_grid() -> None:
    """Sampled on 16 x 16 or 64 x 64, a band-limited input gives the samples of one output (zero-shot super-resolution)."""
    rng, modes = np.random.default_rng(2), (4, 4)
    layer = SpectralConvolution(2, 2, modes, key=jax.random.key(2))
    coarse = band_limited(rng, 2, (16, 16), modes)
    coefficients, padded = np.fft.rfftn(coarse, axes=(1, 2)), np.zeros((2, 64, 33), complex)
    padded[:, :8, :9], padded[:, -8:, :9] = coefficients[:, :8], coefficients[:, -8:]
    fine = np.fft.irfftn(padded * 16, s=(64, 64), axes=(1, 2))  # the same function on 64^2 (16 = the ratio of the point counts)
    np.testing.assert_allclose(fine[:, ::4, ::4], coarse, atol=1e-10)
    np.testing.assert_allclose(np.asarray(layer(fine))[:, ::4, ::4], np.asarray(layer(coarse)), atol=1e-5)


def test_a_grid_too_coarse_for_the_modes_is_a_clear_error() -> None:
    layer = SpectralConvolution(1, 1, (8, 8), key=jax.random.key(3))
    with pytest.raises(ValueError, match=r"grid \(12, 32\) is too coarse for 8 modes along axis 0; it needs at least 16 points"):
        layer(np.zeros((1, 12, 32)))


def test_the_fourier_neural_operator_maps_fields_of_any_resolution() -> None:
    """Channels in, channels out, on the input's own grid; a band-limited input gives nearby outputs on two resolutions
    (only the pointwise maps of the coordinates and the activations differ between grids)."""
    from parity.solvers.neural_operators.fno import FourierNeuralOperator

    model = FourierNeuralOperator(1, 2, (4, 4), width=8, layers=3, projection=16, key=jax.random.key(4))
    x = np.linspace(0, 1, 32, endpoint=False)
    field = np.sin(2 * np.pi * x)[:, None] * np.cos(2 * np.pi * 2 * x)[None, :]
    fine, coarse = np.asarray(model(field[None])), np.asarray(model(field[None, ::2, ::2]))
    assert fine.shape == (2, 32, 32) and coarse.shape == (2, 16, 16)
    assert np.linalg.norm(fine[:, ::2, ::2] - coarse) < 0.05 * np.linalg.norm(coarse)
