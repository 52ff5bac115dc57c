"""Ellipse phantoms with exact line integrals and exact Fourier transforms.

A phantom is a sum of constant-intensity ellipses on the square [-1, 1]^2. Its Radon
transform and its continuous Fourier transform are known in closed form, so CT sinograms
and MRI k-space are computed *exactly* from the continuous object, never by applying a
discretised operator to a pixel image: no reconstruction method can profit from the
inverse crime. Ground-truth images are pixel averages (supersampled rasterisation).

Image arrays follow the suite's convention: ``image[i, j]`` is the pixel centred at
``x = -1 + (i + 1/2) h``, ``y = -1 + (j + 1/2) h`` with ``h = 2 / n`` (x along axis 0).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.special
from jaxtyping import Complex, Float


@dataclasses.dataclass(frozen=True)
class Ellipses:
    """Per-ellipse arrays of equal length: intensity, half-axes, centre and rotation (radians)."""

    intensity: Float[np.ndarray, " k"]
    half_x: Float[np.ndarray, " k"]
    half_y: Float[np.ndarray, " k"]
    centre_x: Float[np.ndarray, " k"]
    centre_y: Float[np.ndarray, " k"]
    angle: Float[np.ndarray, " k"]
    background: float = 0.0
    """A constant added over the whole square [-1, 1]^2 (zero outside it)."""

    def normalised(self, n: int) -> Ellipses:
        """The affine copy (f - min) / (max - min) of the phantom whose n x n raster spans exactly [0, 1]."""
        raster = self.raster(n)
        low, span = float(raster.min()), float(raster.max() - raster.min())
        return dataclasses.replace(self, intensity=self.intensity / span, background=(self.background - low) / span)

    def values(self, x: Float[np.ndarray, "..."], y: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
        """The phantom at points (x, y) of the square."""
        total = np.full(np.broadcast(x, y).shape, self.background)
        for a, hx, hy, cx, cy, phi in self._rows():
            u = (x - cx) * np.cos(phi) + (y - cy) * np.sin(phi)
            v = -(x - cx) * np.sin(phi) + (y - cy) * np.cos(phi)
            total += np.where((u / hx) ** 2 + (v / hy) ** 2 <= 1.0, a, 0.0)
        return total

    def sampled(self, n: int) -> Float[np.ndarray, "n n"]:
        """Point values on the n x n grid whose first and last pixel centres lie at -1 and 1.

        That is how ODL's ``ellipsoid_phantom``, which dival draws its images with, maps the
        ellipses' square onto pixels: no averaging, so edges are aliased, as in dival's truths.
        """
        nodes = np.linspace(-1.0, 1.0, n)
        return self.values(nodes[:, None], nodes[None, :])

    def raster(self, n: int, supersample: int = 4) -> Float[np.ndarray, "n n"]:
        """Pixel averages on an n x n grid over [-1, 1]^2, from supersample^2 points per pixel."""
        fine = (np.arange(n * supersample) + 0.5) * (2.0 / (n * supersample)) - 1.0
        image = np.full((fine.size, fine.size), self.background)
        for a, hx, hy, cx, cy, phi in self._rows():
            reach = max(hx, hy)  # evaluate each ellipse on its bounding box only
            (i0, i1), (j0, j1) = np.searchsorted(fine, [cx - reach, cx + reach]), np.searchsorted(fine, [cy - reach, cy + reach])
            x, y = fine[i0:i1, None] - cx, fine[None, j0:j1] - cy
            u, v = x * np.cos(phi) + y * np.sin(phi), -x * np.sin(phi) + y * np.cos(phi)
            image[i0:i1, j0:j1] += np.where((u / hx) ** 2 + (v / hy) ** 2 <= 1.0, a, 0.0)
        return image.reshape(n, supersample, n, supersample).mean(axis=(1, 3))

    def radon(self, angles: Float[np.ndarray, " m"], offsets: Float[np.ndarray, " d"]) -> Float[np.ndarray, "m d"]:
        """Exact line integrals along {x cos(theta) + y sin(theta) = s} for every (theta, s)."""
        theta = np.asarray(angles, dtype=np.float64)[:, None]
        s = np.asarray(offsets, dtype=np.float64)[None, :]
        total = self.background * _square_chord(theta, s)
        for a, hx, hy, cx, cy, phi in self._rows():
            # The chord through an ellipse with support function alpha at distance s' from its centre.
            alpha_sq = (hx * np.cos(theta - phi)) ** 2 + (hy * np.sin(theta - phi)) ** 2
            shifted = s - cx * np.cos(theta) - cy * np.sin(theta)
            inside = np.clip(alpha_sq - shifted**2, 0.0, None)
            total += 2.0 * a * hx * hy * np.sqrt(inside) / alpha_sq
        return total

    def fourier(self, kx: Float[np.ndarray, "..."], ky: Float[np.ndarray, "..."]) -> Complex[np.ndarray, "..."]:
        """The continuous transform F(k) = integral of f(x) exp(-2 pi i k.x) dx (k in cycles per unit)."""
        kx, ky = np.broadcast_arrays(np.asarray(kx, dtype=np.float64), np.asarray(ky, dtype=np.float64))
        total = (self.background * 4.0 * np.sinc(2 * kx) * np.sinc(2 * ky)).astype(np.complex128)
        for a, hx, hy, cx, cy, phi in self._rows():
            ku = kx * np.cos(phi) + ky * np.sin(phi)
            kv = -kx * np.sin(phi) + ky * np.cos(phi)
            rho = np.hypot(hx * ku, hy * kv)
            # J1(2 pi rho) / rho -> pi as rho -> 0 (the unit disc's area).
            safe = np.where(rho > 1e-12, rho, 1.0)
            shape = np.where(rho > 1e-12, scipy.special.j1(2 * np.pi * safe) / safe, np.pi)
            total += a * hx * hy * shape * np.exp(-2j * np.pi * (kx * cx + ky * cy))
        return total

    def _rows(self) -> zip:
        return zip(self.intensity, self.half_x, self.half_y, self.centre_x, self.centre_y, self.angle, strict=True)


def _square_chord(theta: Float[np.ndarray, "m 1"], s: Float[np.ndarray, "1 d"]) -> Float[np.ndarray, "m d"]:
    """Length of the line {x cos(theta) + y sin(theta) = s} inside the square [-1, 1]^2."""
    # Points s (cos, sin) + t (-sin, cos); each coordinate bound gives an interval of t.
    low, high = np.full(np.broadcast(theta, s).shape, -np.inf), np.full(np.broadcast(theta, s).shape, np.inf)
    for base, step in ((s * np.cos(theta), -np.sin(theta)), (s * np.sin(theta), np.cos(theta))):
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (-1.0 - base) / step, (1.0 - base) / step
        parallel = np.abs(step) < 1e-12
        inside = np.abs(base) <= 1.0
        low = np.maximum(low, np.where(parallel, np.where(inside, -np.inf, np.inf), np.minimum(a, b)))
        high = np.minimum(high, np.where(parallel, np.where(inside, np.inf, -np.inf), np.maximum(a, b)))
    return np.clip(high - low, 0.0, None)


def shepp_logan() -> Ellipses:
    """The modified Shepp-Logan head (Toft's higher-contrast intensities); values in [0, 1]."""
    table = np.array([
        # intensity, half_x, half_y, centre_x, centre_y, angle (degrees)
        [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
        [-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0],
        [-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0],
        [-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0],
        [0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0],
        [0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0],
        [0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0],
        [0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0],
        [0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0],
        [0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0],
    ])
    return Ellipses(*table[:, :5].T, np.deg2rad(table[:, 5]))


def random_ellipses(rng: np.random.Generator, mean_count: float = 40.0, max_count: int = 70) -> Ellipses:
    """A random phantom after dival's ellipses: many overlapping ellipses of intensity in [-0.4, 1].

    As there, the count is Poisson (here at least 1, at most ``max_count``), half-axes are
    0.2 times an exponential variable and rotations uniform; unlike there, every ellipse is
    kept inside the unit disc (half-axes at most 0.6, centres closer), so the object lies in
    the reconstruction square and its exact transforms are the data. Callers rescale it with
    :meth:`Ellipses.normalised` (dival normalises its images to [0, 1] the same way).
    """
    count = int(np.clip(rng.poisson(mean_count), 1, max_count))
    half_x = np.clip(0.2 * rng.exponential(size=count), 0.01, 0.6)
    half_y = np.clip(0.2 * rng.exponential(size=count), 0.01, 0.6)
    radius = (0.95 - np.maximum(half_x, half_y)) * np.sqrt(rng.uniform(size=count))
    direction = rng.uniform(0.0, 2 * np.pi, count)
    return Ellipses(
        intensity=rng.uniform(-0.4, 1.0, count),
        half_x=half_x,
        half_y=half_y,
        centre_x=radius * np.cos(direction),
        centre_y=radius * np.sin(direction),
        angle=rng.uniform(0.0, np.pi, count),
    )


def dival_ellipses(rng: np.random.Generator, candidates: int = 70, mean_count: float = 40.0) -> Ellipses:
    """dival's random ellipses (version 0.4 on, the setting of Baguer et al. 2020), drawn in dival's order.

    Of ``candidates`` drawn ellipses the first min(Poisson(mean_count), candidates) are kept;
    intensities are uniform in [-0.4, 1] and add where ellipses overlap, half-axes are 0.2
    times an exponential variable, centres uniform in [-0.9, 0.9]^2 and rotations uniform.
    Unlike :func:`random_ellipses` nothing keeps them inside the square: they are cut at its
    edges. Normalise their images with :func:`foreground_normalised`, as dival does.
    """
    intensity = rng.uniform(-0.4, 1.0, candidates)
    half_x, half_y = 0.2 * rng.exponential(size=candidates), 0.2 * rng.exponential(size=candidates)
    centre_x, centre_y = rng.uniform(-0.9, 0.9, candidates), rng.uniform(-0.9, 0.9, candidates)
    angle = rng.uniform(0.0, 2 * np.pi, candidates)
    count = min(int(rng.poisson(mean_count)), candidates)
    return Ellipses(intensity[:count], half_x[:count], half_y[:count], centre_x[:count], centre_y[:count], angle[:count])


def foreground_normalised(image: Float[np.ndarray, "h w"]) -> Float[np.ndarray, "h w"]:
    """dival's normalisation: non-zero pixels shifted up by the image's minimum, then all divided by the maximum.

    The background stays exactly 0 and the maximum is 1; where ellipses of negative
    intensity overlap, the lifted foreground jumps above the background. An empty image is
    returned as it is.
    """
    shifted = np.where(image != 0, image - image.min(), 0.0)
    peak = shifted.max()
    return shifted / peak if peak > 0 else shifted


def random_heads(rng: np.random.Generator, lesions: tuple[int, int] = (1, 5), radius: float = 0.95) -> Ellipses:
    """A random Shepp-Logan-like head: :func:`shepp_logan` perturbed, plus small lesions; inside the unit disc.

    The skull pair (outer ellipse and the brain inside it) keeps its ring, stretched by up
    to 10% per axis; the skull's intensity is 0.9 to 1.1 and the brain's level b 0.1 to
    0.3. Each inner structure moves by up to 0.03, is scaled by 0.8 to 1.2 and turned by
    up to 10 degrees; the two dark ventricles lie 0.4 b to 0.9 b below the brain (above
    the air, as in the original's level 0), the bright structures' intensities are scaled
    by 0.5 to 1.5. A random count in ``lesions`` (inclusive) of small ellipses (half-axes
    0.015 to 0.06) lie in the brain, bright (+0.05 to +0.2) or dark (30% to 70% below the
    level at their centre). The whole head is then turned by up to 15 degrees, scaled by 0.85
    to 1 and moved by up to 0.05, and shrunk if any ellipse could reach past ``radius``, so
    the object lies in the reconstruction square and its exact transforms are the data.
    Callers rescale it with :meth:`Ellipses.normalised`, as :func:`random_ellipses`.
    """
    head = shepp_logan()
    intensity, half_x, half_y = head.intensity.copy(), head.half_x.copy(), head.half_y.copy()
    centre_x, centre_y, angle = head.centre_x.copy(), head.centre_y.copy(), head.angle.copy()
    stretch = rng.uniform(0.9, 1.1, 2)  # the skull pair, and the inner structures' positions with it
    half_x[:2], half_y[:2] = half_x[:2] * stretch[0], half_y[:2] * stretch[1]
    centre_x, centre_y = centre_x * stretch[0], centre_y * stretch[1]
    brain = rng.uniform(0.1, 0.3)
    intensity[0] = rng.uniform(0.9, 1.1)
    intensity[1] = brain - intensity[0]
    inner = slice(2, None)
    count = len(intensity) - 2
    centre_x[inner] += rng.uniform(-0.03, 0.03, count)
    centre_y[inner] += rng.uniform(-0.03, 0.03, count)
    scale = rng.uniform(0.8, 1.2, (2, count))
    half_x[inner], half_y[inner] = half_x[inner] * scale[0], half_y[inner] * scale[1]
    angle[inner] += np.deg2rad(rng.uniform(-10.0, 10.0, count))
    contrast = rng.uniform(0.5, 1.5, count)
    intensity[inner] = np.where(intensity[inner] < 0, -brain * rng.uniform(0.4, 0.9, count), intensity[inner] * contrast)

    k = int(rng.integers(lesions[0], lesions[1] + 1))
    lesion_x, lesion_y = rng.uniform(0.015, 0.06, k), rng.uniform(0.015, 0.06, k)
    # Centres uniform in the brain ellipse shrunk by 25%, so a lesion never touches the skull.
    reach, direction = 0.75 * np.sqrt(rng.uniform(size=k)), rng.uniform(0.0, 2 * np.pi, k)
    lesion_cx = centre_x[1] + reach * half_x[1] * np.cos(direction)
    lesion_cy = centre_y[1] + reach * half_y[1] * np.sin(direction)
    # A dark lesion takes 30% to 70% off the level at its centre: it seldom (about 5% of heads) dips below the air.
    level = Ellipses(intensity, half_x, half_y, centre_x, centre_y, angle).values(lesion_cx, lesion_cy)
    lesion_intensity = np.where(rng.uniform(size=k) < 0.5, rng.uniform(0.05, 0.2, k), -level * rng.uniform(0.3, 0.7, k))
    lesion_angle = rng.uniform(0.0, np.pi, k)

    intensity = np.concatenate([intensity, lesion_intensity])
    half_x, half_y = np.concatenate([half_x, lesion_x]), np.concatenate([half_y, lesion_y])
    centre_x, centre_y = np.concatenate([centre_x, lesion_cx]), np.concatenate([centre_y, lesion_cy])
    angle = np.concatenate([angle, lesion_angle])

    turn, size, shift = np.deg2rad(rng.uniform(-15.0, 15.0)), rng.uniform(0.85, 1.0), rng.uniform(-0.05, 0.05, 2)
    centre_x, centre_y = (size * (np.cos(turn) * centre_x - np.sin(turn) * centre_y) + shift[0],
                          size * (np.sin(turn) * centre_x + np.cos(turn) * centre_y) + shift[1])
    half_x, half_y, angle = size * half_x, size * half_y, angle + turn
    extent = float(np.max(np.hypot(centre_x, centre_y) + np.maximum(half_x, half_y)))  # a bound on each ellipse's farthest point
    if extent > radius:
        fit = radius / extent
        centre_x, centre_y, half_x, half_y = fit * centre_x, fit * centre_y, fit * half_x, fit * half_y
    return Ellipses(intensity, half_x, half_y, centre_x, centre_y, angle)
