"""Seeded families of 2D velocity models for seismic full-waveform inversion (FWI).

The families follow the spirit of OpenFWI (Deng et al., NeurIPS 2022): layered media whose
velocity mostly increases with depth, curved layers, layers cut by a fault, and a smooth
background with Gaussian anomalies, all within 1.5-4.5 km/s by default. The generator is
our own.

A model is a *continuous* function of position, not a pixel image: the inversion grid
and a finer grid on which observed data are simulated both sample the same object, each
at its own resolution, so an inversion cannot profit from the inverse crime. Positions
are in km, x across and z depth with z = 0 at the surface; grids put x on axis 0.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.ndimage
from jaxtyping import Float

FAMILIES = ("flat_layers", "curved_layers", "fault", "anomaly")
"""The families :func:`random_model` draws from; it also accepts ``"mixed"`` (one of these, uniformly)."""

MIN_THICKNESS = 0.08
"""Least layer thickness, as a fraction of the depth extent Lz."""
MAX_CURVATURE = 0.10
"""Largest interface undulation (sum of the sinusoids' amplitudes), as a fraction of Lz."""
CURVATURE_SPREAD = 0.25
"""Each interface scales the shared undulation by a factor in 1 +- this: with MAX_CURVATURE,
neighbouring interfaces move apart by at most 2 * 0.25 * 0.10 = 0.05 Lz < MIN_THICKNESS, so
they never cross."""
MIN_CONTRAST = 0.06
"""Least velocity jump between neighbouring layers, as a fraction of the velocity range."""
LOW_VELOCITY_CHANCE = 0.15
"""Chance that one layer below the top is slower than the layer above it."""


@dataclasses.dataclass(frozen=True)
class Layers:
    """Layers with velocities from top to bottom, below interfaces z_k(x) = depth_k + scale_k * u(x).

    The undulation u(x) = sum_j amplitude_j sin(wavenumber_j x + phase_j) is shared by all
    interfaces (no sinusoids: flat layers), which keeps them ordered.
    """

    depths: tuple[float, ...]
    velocities: tuple[float, ...]
    scales: tuple[float, ...] = ()
    amplitudes: tuple[float, ...] = ()
    wavenumbers: tuple[float, ...] = ()
    phases: tuple[float, ...] = ()

    def interfaces(self, x: Float[np.ndarray, "..."]) -> Float[np.ndarray, "k ..."]:
        """Depth of every interface at positions x, shallowest first."""
        x = np.asarray(x, dtype=float)
        undulation = np.zeros_like(x)
        for a, kx, phi in zip(self.amplitudes, self.wavenumbers, self.phases, strict=True):
            undulation = undulation + a * np.sin(kx * x + phi)
        scales = self.scales or (1.0,) * len(self.depths)
        rows = [d + s * undulation for d, s in zip(self.depths, scales, strict=True)]
        return np.stack(rows) if rows else np.zeros((0, *x.shape))

    def sample(self, x: Float[np.ndarray, "..."], z: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
        """Velocity of the layer holding each point (a point on an interface belongs to the layer below)."""
        x, z = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(z, dtype=float))
        layer = np.sum(z[None] >= self.interfaces(x), axis=0)
        return np.asarray(self.velocities)[layer]


@dataclasses.dataclass(frozen=True)
class Anomalies:
    """A background rising linearly from ``top`` at z = 0 to ``bottom`` at z = ``depth``, times
    1 + sum_i amplitude_i exp(-r_i^2 / (2 radius_i^2)) for Gaussian blobs centred at (x_i, z_i)."""

    top: float
    bottom: float
    depth: float
    amplitudes: tuple[float, ...]
    centres_x: tuple[float, ...]
    centres_z: tuple[float, ...]
    radii: tuple[float, ...]

    def sample(self, x: Float[np.ndarray, "..."], z: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
        """The smooth background with its blobs (unclipped)."""
        x, z = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(z, dtype=float))
        factor = np.ones_like(x)
        for a, cx, cz, r in zip(self.amplitudes, self.centres_x, self.centres_z, self.radii, strict=True):
            factor = factor + a * np.exp(-((x - cx) ** 2 + (z - cz) ** 2) / (2.0 * r**2))
        return (self.top + (self.bottom - self.top) * z / self.depth) * factor


@dataclasses.dataclass(frozen=True)
class Fault:
    """A straight fault through (``surface_x``, 0) dipping ``dip_degrees`` below the horizontal,
    towards +x (``towards`` = 1) or -x (-1). The hanging wall (the side above the fault plane)
    is displaced down by ``throw`` km (negative: up, a reverse fault)."""

    surface_x: float
    dip_degrees: float
    towards: int
    throw: float

    def line_x(self, z: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
        """Where the fault is at depth z."""
        return self.surface_x + self.towards * np.asarray(z, dtype=float) / math.tan(math.radians(self.dip_degrees))

    def hanging(self, x: Float[np.ndarray, "..."], z: Float[np.ndarray, "..."]) -> np.ndarray:
        """True on the hanging-wall side of the fault."""
        return self.towards * (np.asarray(x, dtype=float) - self.line_x(z)) > 0


@dataclasses.dataclass(frozen=True)
class VelocityModel:
    """A velocity model (km/s) on [0, Lx] x [0, Lz] (km): a medium, optionally cut by a fault, clipped to the range."""

    family: str
    extent: tuple[float, float]
    velocity_range: tuple[float, float]
    medium: Layers | Anomalies
    fault: Fault | None = None

    def sample(self, x: Float[np.ndarray, "..."], z: Float[np.ndarray, "..."]) -> Float[np.ndarray, "..."]:
        """Velocity at points (x, z); vectorised and broadcasting, so any grid sees the same object."""
        x, z = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(z, dtype=float))
        if self.fault is not None:  # the hanging wall shows the medium from `throw` higher up
            z = np.where(self.fault.hanging(x, z), z - self.fault.throw, z)
        return np.clip(self.medium.sample(x, z), *self.velocity_range)

    def grid(self, shape: tuple[int, int], spacing: float) -> Float[np.ndarray, "nx nz"]:
        """Values at the nodes x = i h, z = k h (x along axis 0): a fine grid sees interfaces at its own resolution."""
        nx, nz = shape
        x, z = np.arange(nx) * spacing, np.arange(nz) * spacing
        return self.sample(x[:, None], z[None, :])


def random_model(
    family: str,
    rng: np.random.Generator,
    extent: tuple[float, float],
    velocity_range: tuple[float, float] = (1.5, 4.5),
) -> VelocityModel:
    """A model of a family (one of FAMILIES, or "mixed") drawn with rng: the same seed gives the same model."""
    if family == "mixed":
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
    if family not in FAMILIES:
        raise ValueError(f"unknown velocity-model family {family!r}; allowed: {', '.join((*FAMILIES, 'mixed'))}")
    lx, lz = (float(v) for v in extent)
    low, high = (float(v) for v in velocity_range)
    if not (lx > 0 and lz > 0 and 0 < low < high):
        raise ValueError(f"need a positive extent and 0 < low < high velocity, got {extent} and {velocity_range}")
    fault = None
    if family == "anomaly":
        medium: Layers | Anomalies = _anomalies(rng, lx, lz, low, high)
    elif family == "fault":
        medium = _layers(rng, lx, lz, low, high, curved=bool(rng.random() < 0.5))
        fault = _fault(rng, lx, lz)
    else:
        medium = _layers(rng, lx, lz, low, high, curved=family == "curved_layers")
    return VelocityModel(family, (lx, lz), (low, high), medium, fault)


def _layers(rng: np.random.Generator, lx: float, lz: float, low: float, high: float, *, curved: bool) -> Layers:
    """2-5 layers at least MIN_THICKNESS Lz thick, velocities sorted up to one low-velocity layer."""
    n = int(rng.integers(2, 6))
    thickness = MIN_THICKNESS * lz + (1.0 - n * MIN_THICKNESS) * lz * rng.dirichlet(np.ones(n))
    depths = np.cumsum(thickness)[:-1]
    span = high - low
    while True:  # sorted draws, redrawn until neighbouring layers are told apart
        velocities = np.sort(rng.uniform(low, high, n))
        if np.all(np.diff(velocities) >= MIN_CONTRAST * span):
            break
    if n >= 3 and rng.random() < LOW_VELOCITY_CHANCE:
        j = int(rng.integers(1, n))
        ceiling = velocities[j - 1] - MIN_CONTRAST * span
        if ceiling > low:
            velocities[j] = rng.uniform(low, ceiling)
    if not curved:
        return Layers(tuple(depths.tolist()), tuple(velocities.tolist()))
    m = int(rng.integers(1, 3))
    amplitudes = rng.uniform(0.03, MAX_CURVATURE) * lz * rng.dirichlet(np.ones(m)) * rng.choice([-1.0, 1.0], m)
    wavelengths = rng.uniform(lx / 2, 2 * lx, m)
    return Layers(
        tuple(depths.tolist()),
        tuple(velocities.tolist()),
        scales=tuple(rng.uniform(1 - CURVATURE_SPREAD, 1 + CURVATURE_SPREAD, n - 1).tolist()),
        amplitudes=tuple(amplitudes.tolist()),
        wavenumbers=tuple((2 * np.pi / wavelengths).tolist()),
        phases=tuple(rng.uniform(0, 2 * np.pi, m).tolist()),
    )


def _fault(rng: np.random.Generator, lx: float, lz: float) -> Fault:
    """A fault dipping 45-80 degrees that crosses mid-depth in the central half, throw 5-20% of Lz."""
    dip = float(rng.uniform(45.0, 80.0))
    towards = int(rng.choice([-1, 1]))
    mid_x = float(rng.uniform(0.25, 0.75)) * lx
    surface_x = mid_x - towards * (lz / 2) / math.tan(math.radians(dip))
    throw = float(rng.uniform(0.05, 0.20) * lz * rng.choice([-1.0, 1.0]))
    return Fault(surface_x, dip, towards, throw)


def _anomalies(rng: np.random.Generator, lx: float, lz: float, low: float, high: float) -> Anomalies:
    """A linear-in-depth background with 1-3 blobs of +-10-30% and radius 5-20% of Lx."""
    span = high - low
    top = rng.uniform(low, low + 0.3 * span)
    bottom = rng.uniform(top + 0.3 * span, high)
    k = int(rng.integers(1, 4))
    amplitudes = rng.uniform(0.1, 0.3, k) * rng.choice([-1.0, 1.0], k)
    centres_x, centres_z = rng.uniform(0.1, 0.9, k) * lx, rng.uniform(0.15, 0.85, k) * lz
    radii = rng.uniform(0.05, 0.20, k) * lx
    floats = lambda a: tuple(float(v) for v in a)  # noqa: E731
    return Anomalies(float(top), float(bottom), lz, floats(amplitudes), floats(centres_x), floats(centres_z), floats(radii))


def smoothed(model_grid: Float[np.ndarray, "nx nz"], sigma_cells: float) -> Float[np.ndarray, "nx nz"]:
    """A Gaussian-blurred copy (sigma in cells, edges extended): the usual FWI starting model,
    which keeps the long wavelengths and leaves the inversion to recover the sharp ones."""
    return scipy.ndimage.gaussian_filter(np.asarray(model_grid, dtype=float), sigma_cells, mode="nearest")


def depth_profile_prior(models: Float[np.ndarray, "n nx nz"]) -> Float[np.ndarray, "nx nz"]:
    """The laterally constant model whose depth profile is the mean over training models and x:
    a starting model built from training data alone, with no knowledge of the test model."""
    models = np.asarray(models, dtype=float)
    if models.ndim != 3:
        raise ValueError(f"expected a stack (n, nx, nz) of models, got shape {models.shape}")
    return np.broadcast_to(models.mean(axis=(0, 1)), models.shape[1:]).copy()
