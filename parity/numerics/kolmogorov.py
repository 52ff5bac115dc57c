"""Kolmogorov flow: forced, damped 2D vorticity on [0, 2 pi)^2, pseudo-spectral and batched.

    w_t + u . grad w = nu lap w - drag w + f,   u = (psi_y, -psi_x),   -lap psi = w,

with f = -k_f A cos(k_f y), the curl of the body force A sin(k_f y) in x (Kochkov et al.
2021 and jax-cfd: nu = 1e-3, drag 0.1, A = 1, k_f = 4). Fields are rFFT coefficients divided
by n^2 on an n x n grid (x along the first axis, nodes x_j = 2 pi j / n, integer
wavenumbers). Products are dealiased by the 2/3 rule; steps are ETDRK4 with the viscosity and
the drag in the exactly integrated linear part and the forcing added to the nonlinear term.

Everything here is plain ``jax.numpy`` on whatever dtype it is given: the reference runs it
in float64 under ``jax.enable_x64``, the hybrid solvers differentiate through it in float32.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from parity.numerics.forced_vorticity import resize
from parity.numerics.spectral import dealias_mask, etdrk4_coefficients, etdrk4_step, wavenumbers_2d

Field = Complex[Array, "... n h"]


@dataclasses.dataclass(frozen=True)
class KolmogorovFlow:
    """The equation's coefficients; a model that misses a term sets it to zero (incomplete physics)."""

    nu: float = 1e-3
    drag: float = 0.1
    forcing_amplitude: float = 1.0
    forcing_wavenumber: int = 4

    def forcing(self, n: int) -> Complex[np.ndarray, "n h"]:
        """rFFT coefficients (scaled by 1 / n^2) of f = -k_f A cos(k_f y), exact on any grid with k_f < n / 3."""
        out = np.zeros((n, n // 2 + 1), complex)
        out[0, self.forcing_wavenumber] = -self.forcing_wavenumber * self.forcing_amplitude / 2
        return out

    def linear(self, n: int) -> Float[np.ndarray, "n h"]:
        """The diagonal linear part, -nu |k|^2 - drag."""
        kx, ky = wavenumbers_2d(n)
        return -self.nu * (kx**2 + ky**2) - self.drag


def to_grid(coefficients: Field, n: int | None = None) -> Float[Array, "... n n"]:
    """Point values at the nodes of the coefficients' own grid (or of an n x n grid, resampled spectrally)."""
    xp = np if isinstance(coefficients, np.ndarray) else jnp
    if n is not None and n != coefficients.shape[-2]:
        coefficients = resize(coefficients, n)
    m = coefficients.shape[-2]
    return xp.fft.irfft2(coefficients, (m, m)) * (m * m)


def to_coefficients[A: (np.ndarray, Array)](values: A) -> A:
    """rFFT coefficients (scaled by 1 / n^2) of point values over the last two axes."""
    xp = np if isinstance(values, np.ndarray) else jnp
    n = values.shape[-1]
    return xp.fft.rfft2(values) / (n * n)


def tendency(n: int, flow: KolmogorovFlow) -> Callable[[Field], Field]:
    """w_hat -> the dealiased coefficients of f - u . grad w (the ETDRK4 nonlinear part)."""
    kx, ky = wavenumbers_2d(n)
    k2 = kx**2 + ky**2
    inverse_k2 = np.where(k2 == 0, 0.0, 1.0 / np.where(k2 == 0, 1.0, k2))
    keep, source = dealias_mask(n, 2), flow.forcing(n)

    def term(w: Field) -> Field:
        psi = w * inverse_k2
        advection = to_grid(1j * ky * psi) * to_grid(1j * kx * w) - to_grid(1j * kx * psi) * to_grid(1j * ky * w)
        return jnp.where(keep, source - jnp.fft.rfft2(advection) / (n * n), 0).astype(w.dtype)

    return term


def spectral_step(n: int, flow: KolmogorovFlow, dt: float, dtype: type = np.complex64) -> Callable[[Field], Field]:
    """One ETDRK4 step of size dt on an n x n grid (differentiable; batched over leading axes)."""
    real = np.float64 if dtype == np.complex128 else np.float32
    coefficients = tuple(c.astype(real) for c in etdrk4_coefficients(flow.linear(n), dt))  # NumPy: this may first run inside a trace
    return etdrk4_step(tendency(n, flow), coefficients)


@functools.lru_cache(maxsize=32)
def _rollout(n: int, flow: KolmogorovFlow, dt: float, steps_per_frame: int, frames: int, out: int, double: bool) -> Callable[[Field], Array]:
    step = spectral_step(n, flow, dt, np.complex128 if double else np.complex64)
    keep = jnp.asarray(dealias_mask(n, 2))

    def run(w: Field) -> tuple[Field, Float[Array, "b f out out"]]:
        def frame(state: Field, _: None) -> tuple[Field, Array]:
            state = jax.lax.fori_loop(0, steps_per_frame, lambda _, s: step(s), state)
            return state, to_grid(state, out)

        last, later = jax.lax.scan(frame, jnp.where(keep, w, 0), None, length=frames)
        return last, jnp.moveaxis(later, 0, 1)

    return jax.jit(run)


def spectral_rollout(
    w0: Complex[np.ndarray, "b n h"], flow: KolmogorovFlow, dt: float, steps_per_frame: int, frames: int, out: int, double: bool = True
) -> tuple[Complex[np.ndarray, "b n h"], Float[np.ndarray, "b f out out"]]:
    """The state after ``frames`` x ``steps_per_frame`` steps and each frame's point values on the ``out`` grid.

    Frames are the solution spectrally truncated to the ``out`` grid (its modes |m| < out / 2),
    the same filter the reference is seen through; ``double`` runs in float64.
    """
    n = w0.shape[-2]
    with jax.enable_x64(double):
        dtype = np.complex128 if double else np.complex64
        last, frames_out = _rollout(n, flow, float(dt), steps_per_frame, frames, out, double)(jnp.asarray(w0.astype(dtype)))
        return np.asarray(last), np.asarray(frames_out)
