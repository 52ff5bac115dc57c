"""Ellipse phantoms: their exact transforms against quadrature, and image-quality metrics."""

from __future__ import annotations

import numpy as np
import pytest

from parity.numerics import image_quality, phantoms


def _disc(radius: float = 0.5, intensity: float = 2.0, centre: tuple[float, float] = (0.1, -0.2)) -> phantoms.Ellipses:
    one = lambda v: np.array([v])  # noqa: E731
    return phantoms.Ellipses(one(intensity), one(radius), one(radius), one(centre[0]), one(centre[1]), one(0.0))


def test_disc_line_integrals_are_chords() -> None:
    disc = _disc()
    offsets = np.array([-0.2, 0.0, 0.3, 0.7])  # relative to the centre's projection at theta = 0 (x = 0.1)
    chords = disc.radon(np.array([0.0]), offsets + 0.1)[0]
    expected = 2.0 * 2 * np.sqrt(np.clip(0.25 - offsets**2, 0, None))
    np.testing.assert_allclose(chords, expected, rtol=1e-12, atol=1e-12)


def test_rotated_ellipse_radon_matches_quadrature() -> None:
    ellipse = phantoms.Ellipses(*(np.array([v]) for v in (1.0, 0.5, 0.2, 0.1, 0.2, 0.6)))
    theta, s = 1.1, 0.15
    t = np.linspace(-1.5, 1.5, 300_001)
    x, y = s * np.cos(theta) - t * np.sin(theta), s * np.sin(theta) + t * np.cos(theta)
    quadrature = np.sum(ellipse.values(x, y)) * (t[1] - t[0])
    assert ellipse.radon(np.array([theta]), np.array([s]))[0, 0] == pytest.approx(quadrature, rel=1e-4)


def test_fourier_transform_matches_quadrature() -> None:
    ellipse = phantoms.Ellipses(*(np.array([v]) for v in (0.7, 0.4, 0.25, -0.1, 0.2, 0.4)))
    side = np.linspace(-1, 1, 1601)
    x, y = np.meshgrid(side, side, indexing="ij")
    values, area = ellipse.values(x, y), (side[1] - side[0]) ** 2
    for kx, ky in [(0.0, 0.0), (1.5, -0.5), (3.0, 2.0)]:
        quadrature = np.sum(values * np.exp(-2j * np.pi * (kx * x + ky * y))) * area
        assert abs(ellipse.fourier(kx, ky) - quadrature) < 2e-3 * abs(ellipse.fourier(0.0, 0.0))
    assert ellipse.fourier(0.0, 0.0).real == pytest.approx(0.7 * np.pi * 0.4 * 0.25, rel=1e-12)


def test_a_background_over_the_square_has_exact_transforms() -> None:
    empty = np.zeros(0)
    square = phantoms.Ellipses(empty, empty, empty, empty, empty, empty, background=0.5)
    chords = square.radon(np.array([0.0, np.pi / 4, np.pi / 2]), np.array([0.0, 0.5, 1.2]))
    np.testing.assert_allclose(chords[0], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(chords[1], [np.sqrt(2), np.sqrt(2) - 0.5, np.sqrt(2) - 1.2], rtol=1e-12)
    assert square.fourier(0.0, 0.0) == pytest.approx(2.0) and abs(square.fourier(0.5, 0.0)) < 1e-12
    phantom = phantoms.random_ellipses(np.random.default_rng(5)).normalised(32)
    assert phantom.raster(32).min() == pytest.approx(0.0, abs=1e-12) and phantom.raster(32).max() == pytest.approx(1.0)


def test_shepp_logan_and_random_phantoms_are_in_range() -> None:
    head = phantoms.shepp_logan().raster(64)
    assert head.min() >= -1e-12 and head.max() == pytest.approx(1.0)
    image = phantoms.random_ellipses(np.random.default_rng(3)).raster(32)
    assert image.min() < 0 < image.max()  # dival's intensities: some ellipses subtract
    assert not image[0, :].any() and not image[:, 0].any()  # nothing touches the square's edge


def test_image_quality_conventions() -> None:
    truth = np.zeros((64, 64))
    truth[16:48, 16:48] = 2.0
    noisy = truth + 0.1
    assert image_quality.psnr(noisy, truth) == pytest.approx(10 * np.log10(4 / 0.01))
    assert image_quality.nmse(noisy, truth) == pytest.approx(64**2 * 0.01 / (32**2 * 4))
    assert image_quality.ssim(truth, truth) == pytest.approx(1.0)
    assert image_quality.ssim(noisy + np.random.default_rng(0).normal(0, 0.5, truth.shape), truth) < 0.5
