"""The exact field of a Gaussian source in an unbounded homogeneous 2D medium.

It verifies the finite-difference solver (tests) and normalises the wave problem's
amplitude: each Fourier mode of u_tt = c^2 lap u + g w obeys a forced oscillator, so the
field is a Hankel transform of a Duhamel integral, both done by quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from jaxtyping import Float
from scipy.special import j0


def free_space_solution(
    points: Float[np.ndarray, "m 3"], *, velocity: float, centre: tuple[float, float], sigma: float,
    source_time: Callable[[np.ndarray], np.ndarray],
) -> Float[np.ndarray, "m 1"]:
    """The field in an unbounded homogeneous medium for g = exp(-|x - centre|^2 / (2 sigma^2)).

    Each Fourier mode obeys a forced oscillator, so with g's Hankel transform
    u(r, t) = sigma^2 int_0^inf k exp(-sigma^2 k^2 / 2) J0(k r) h(k, t) dk and
    h(k, t) = int_0^t w(tau) sin(c k (t - tau)) / (c k) dtau. Both integrals are composite
    Gauss-Legendre with panels spanning at most a radian of the fastest oscillation, k cut
    at 10 / sigma (the Gaussian is e^-50 there); w must be smooth on the scale sigma / c.
    """
    points = np.asarray(points, dtype=np.float64)
    r = np.hypot(points[:, 0] - centre[0], points[:, 1] - centre[1])
    t = points[:, 2]
    k_max = 10.0 / sigma
    values = np.zeros(points.shape[0])
    for now in np.unique(t[t > 0]):
        rows = t == now
        radii, inverse = np.unique(r[rows], return_inverse=True)
        k, k_weights = _gauss_legendre(0.0, k_max, k_max * (radii[-1] + velocity * now))
        spectrum = k_weights * sigma**2 * k * np.exp(-0.5 * (sigma * k) ** 2) * _duhamel(k, now, velocity, source_time)
        values[rows] = np.concatenate([j0(np.outer(chunk, k)) @ spectrum for chunk in np.array_split(radii, max(1, radii.size // 512))])[inverse]
    return values[:, None]


def _duhamel(k: np.ndarray, now: float, velocity: float, source_time: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """h(k, t): the response of the oscillator of frequency c k to w, from rest."""
    tau, weights = _gauss_legendre(0.0, now, velocity * k[-1] * now)
    omega = velocity * k
    return np.sin(np.outer(omega, now - tau)) @ (weights * source_time(tau)) / omega


def _gauss_legendre(a: float, b: float, phase: float, nodes: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre on [a, b], one panel per radian of ``phase`` (at least 8)."""
    panels = max(8, math.ceil(phase))
    x, w = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(a, b, panels + 1)
    half = 0.5 * np.diff(edges)
    return ((edges[:-1] + half)[:, None] + half[:, None] * x).ravel(), (half[:, None] * w).ravel()
