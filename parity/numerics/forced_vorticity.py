"""Forced 2D vorticity on the unit torus (the FNO Navier-Stokes benchmark), batched, pseudo-spectral.

    w_t + u . grad w = nu lap w + f,   u = (psi_y, -psi_x),   -lap psi = w   on [0, 1)^2,

with f(x, y) = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y)) (Li et al. 2021). Fields are rFFT
coefficients divided by n^2 on an n x n grid (x along the first axis, nodes x_j = j / n);
wavenumbers are 2 pi m. Products are dealiased by the 2/3 rule and time stepping is
ETDRK4, both from :mod:`parity.numerics.spectral`; the forcing is a constant added to the
nonlinear term, so the viscous part is still integrated exactly. A batch of instances is
one array: one compiled program per (grid, batch size, frames), the step a runtime value.

Frames are returned as point values at the nodes of an ``out`` x ``out`` grid, what the FNO
datasets hold (their 256^2 solutions subsampled to 64^2): the band-limited field is
zero-padded to a multiple of ``out`` and read at every k-th node, exactly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from parity.numerics.spectral import dealias_mask, etdrk4_coefficients, etdrk4_step, wavenumbers_2d

FORCING_AMPLITUDE = 0.1


def wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Angular wavenumbers (2 pi m_x, 2 pi m_y) of the rFFT layout on the unit torus, broadcastable."""
    kx, ky = wavenumbers_2d(n)
    return 2 * np.pi * kx, 2 * np.pi * ky


def forcing(n: int) -> Complex[np.ndarray, "n h"]:
    """rFFT coefficients (scaled by 1 / n^2) of f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))."""
    x = np.arange(n) / n
    phase = 2 * np.pi * (x[:, None] + x[None, :])
    return np.fft.rfft2(FORCING_AMPLITUDE * (np.sin(phase) + np.cos(phase))) / n**2


def to_coefficients(values: Float[np.ndarray, "... n n"]) -> Complex[np.ndarray, "... n h"]:
    """rFFT coefficients (scaled by 1 / n^2) of grid values over the last two axes."""
    n = values.shape[-1]
    return np.fft.rfft2(values) / n**2


def resize[C: (np.ndarray, Array)](coefficients: C, n: int) -> C:
    """The same band-limited fields in the rFFT layout of an n x n grid (batched ``spectral.resample_2d``).

    ``coefficients`` are (..., n_from, n_from // 2 + 1); the result is (..., n, n // 2 + 1).
    Modes |m| < min(n, n_from) / 2 are kept: zero-padding is exact, truncation drops the rest
    (and the Nyquist modes, whose sign is ambiguous). NumPy in, NumPy out; JAX in, JAX out.
    """
    xp = np if isinstance(coefficients, np.ndarray) else jnp
    n_from = coefficients.shape[-2]
    keep = (min(n, n_from) - 1) // 2
    positive, negative = coefficients[..., : keep + 1, : keep + 1], coefficients[..., n_from - keep :, : keep + 1]
    gap = xp.zeros((*coefficients.shape[:-2], n - 2 * keep - 1, keep + 1), dtype=coefficients.dtype)
    rows = xp.concatenate([positive, gap, negative], axis=-2)
    return xp.pad(rows, [(0, 0)] * (rows.ndim - 1) + [(0, n // 2 - keep)])


def max_speed(coefficients: Complex[np.ndarray, "... n h"]) -> float:
    """max(|u| + |v|) over the grid and the batch: the speed in a CFL bound."""
    n = coefficients.shape[-2]
    kx, ky = wavenumbers(n)
    k2 = kx**2 + ky**2
    psi = coefficients / np.where(k2 == 0, 1.0, k2)
    u, v = (np.fft.irfft2(1j * k * psi, (n, n)) * n * n for k in (ky, -kx))
    return float(np.max(np.abs(u) + np.abs(v)))


def nonlinear_term(n: int) -> Callable[[Complex[Array, "... n h"]], Complex[Array, "... n h"]]:
    """w_hat -> the dealiased coefficients of f - u . grad w (must be called inside ``jax.enable_x64``)."""
    kx, ky = wavenumbers(n)
    k2 = kx**2 + ky**2
    ikx, iky = jnp.asarray(1j * kx), jnp.asarray(1j * ky)
    inverse_k2 = jnp.asarray(np.where(k2 == 0, 0.0, 1.0 / np.where(k2 == 0, 1.0, k2)))
    keep, source = jnp.asarray(dealias_mask(n, 2)), jnp.asarray(forcing(n))

    def grid(c: Complex[Array, "... n h"]) -> Float[Array, "... n n"]:
        return jnp.fft.irfft2(c, (n, n)) * (n * n)

    def term(w: Complex[Array, "... n h"]) -> Complex[Array, "... n h"]:
        psi = w * inverse_k2
        advection = grid(iky * psi) * grid(ikx * w) - grid(ikx * psi) * grid(iky * w)
        return jnp.where(keep, source - jnp.fft.rfft2(advection) / (n * n), 0)

    return term


def viscous_operator(n: int, nu: float) -> Float[np.ndarray, "n h"]:
    """The diagonal of nu lap in Fourier space, -nu (2 pi)^2 |m|^2."""
    kx, ky = wavenumbers(n)
    return -nu * (kx**2 + ky**2)


def nodal_values(coefficients: Complex[Array, "... n h"], out: int) -> Float[Array, "... out out"]:
    """Exact point values at the nodes j / out (the fields zero-padded to a multiple of ``out``, then every k-th node)."""
    n = coefficients.shape[-2]
    fine = out * math.ceil(n / out)
    stride = fine // out
    values = jnp.fft.irfft2(resize(coefficients, fine), (fine, fine)) * (fine * fine)
    return values[..., ::stride, ::stride]


@functools.lru_cache(maxsize=16)
def _rollout(n: int, frames: int, out: int) -> Callable[..., Float[Array, "b f out out"]]:
    """Jitted (w_hat, ETDRK4 coefficients, steps per frame) -> frames at unit time spacing."""
    term = nonlinear_term(n)

    def run(w: Complex[Array, "b n h"], coefficients: tuple[Array, ...], steps: Array) -> Float[Array, "b f out out"]:
        step = etdrk4_step(term, coefficients)

        def frame(state: Complex[Array, "b n h"], _: None) -> tuple[Complex[Array, "b n h"], Float[Array, "b out out"]]:
            state = jax.lax.fori_loop(0, steps, lambda _, s: step(s), state)
            return state, nodal_values(state, out)

        _, later = jax.lax.scan(frame, w, None, length=frames)
        return jnp.moveaxis(later, 0, 1)

    return jax.jit(run)


def steps_per_unit_time(dt_max: float) -> int:
    """Steps per unit time interval so that the step, 1 / steps, is at most ``dt_max``."""
    return max(1, math.ceil(1.0 / dt_max - 1e-9))


def solve(
    w0: Complex[np.ndarray, "b n h"], nu: float, dt_max: float, frames: int, out: int
) -> Float[np.ndarray, "b f out out"]:
    """w at t = 1, 2, ..., ``frames`` (point values on the ``out`` grid) from rFFT coefficients ``w0`` at t = 0.

    The grid is w0's; its modes outside the 2/3 band are dropped first. The step is 1 / ceil(1 / dt_max).
    """
    n = w0.shape[-2]
    steps = steps_per_unit_time(dt_max)
    with jax.enable_x64(True):
        coefficients = tuple(jnp.asarray(c) for c in etdrk4_coefficients(viscous_operator(n, nu), 1.0 / steps))
        start = jnp.asarray(w0 * dealias_mask(n, 2))
        return np.asarray(_rollout(n, frames, out)(start, coefficients, jnp.asarray(steps)))
