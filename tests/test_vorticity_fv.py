"""Finite-volume Kolmogorov flow: convergence order, discrete conservation, the cell/spectral readings, gradients."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity.numerics.kolmogorov import KolmogorovFlow, spectral_rollout, to_coefficients
from parity.numerics.vorticity_fv import (
    cell_averages,
    face_velocities,
    fv_rollout,
    fv_step,
    fv_trajectory,
    point_coefficients,
    stable_step,
)


def nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(*(2 * np.pi * np.arange(n) / n,) * 2, indexing="ij")


def smooth_field(m: int, band: int, seed: int) -> np.ndarray:
    """rFFT coefficients (m x m layout) of a random field with modes 0 < |k| <= band and unit rms."""
    rng = np.random.default_rng(seed)
    kx, ky = np.fft.fftfreq(m, 1 / m)[:, None], np.fft.rfftfreq(m, 1 / m)[None, :]
    shape = (m, m // 2 + 1)
    keep = (kx**2 + ky**2 <= band**2) & (kx**2 + ky**2 > 0)
    values = np.fft.irfft2((rng.normal(size=shape) + 1j * rng.normal(size=shape)) * keep, (m, m))
    return to_coefficients(values / np.std(values))


def solve(w0: np.ndarray, flow: KolmogorovFlow, duration: float, courant: float) -> np.ndarray:
    """FV cells at ``duration`` in float64, with dt = courant h rounded down to divide the duration."""
    n = w0.shape[-1]
    steps = math.ceil(duration / (courant * 2 * np.pi / n))
    return fv_rollout(w0, flow, duration / steps, steps, 1, 8)[0]


def observed_orders(errors: list[float]) -> np.ndarray:
    """log2 of the error ratios between successive grids (each twice the last)."""
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


def rms(values: np.ndarray, axes: tuple[int, ...] = (-2, -1)) -> np.ndarray:
    return np.sqrt(np.mean(values**2, axis=axes))


def test_taylor_green_vortices_converge_at_second_order() -> None:
    """w proportional to psi makes u . grad w vanish, so w decays as exp(-(2 nu + drag) t) exactly.

    2 cos x cos y (grid-aligned extrema) and a sheared mix of the |k|^2 = 2 modes, one batch.
    Measured L2 errors 1.8e-2 / 5.3e-3 / 8.7e-4 / 1.2e-4 (orders 1.7, 2.6, 2.8) and 2.0, 2.4,
    2.7 for the second: the limiter's error, largest on coarse grids, falls faster than h^2.
    """
    flow, duration = KolmogorovFlow(nu=0.01, drag=0.1, forcing_amplitude=0.0), 1.0
    x, y = nodes(8)
    vortices = to_coefficients(np.stack([2 * np.cos(x) * np.cos(y), np.cos(x + y + 0.3) + 0.7 * np.cos(x - y + 1.1)]))
    errors = []
    for n in (16, 32, 64, 128):
        exact = cell_averages(vortices, n) * np.exp(-(2 * flow.nu + flow.drag) * duration)
        errors.append(rms(solve(cell_averages(vortices, n), flow, duration, 0.2) - exact))
    orders = observed_orders(errors)
    assert np.all(orders > 1.6) and np.all(orders[-1] > 2.5), orders
    assert np.all(errors[-1] < 2e-4), errors


def test_a_nonlinear_flow_converges_at_second_order_to_the_spectral_solution() -> None:
    """A random |k| <= 4 field under the full equation for t = 0.5 against the pseudo-spectral solution.

    The 128^2 spectral reference is exact to round-off here (its modes |k| >= 40 stay below 2e-12).
    Measured L2 errors 5.2e-2 / 1.4e-2 / 3.1e-3 / 5.5e-4 at n = 32 ... 256 (orders 1.9, 2.2, 2.5),
    the same to 4 digits with half the step.
    """
    flow, duration = KolmogorovFlow(nu=1e-2, drag=0.1, forcing_amplitude=1.0), 0.5
    initial = smooth_field(128, 4, seed=0)[None]
    reference = spectral_rollout(initial, flow, duration / 250, 250, 1, 8)[0]
    errors = [float(rms(solve(cell_averages(initial, n), flow, duration, 0.1) - cell_averages(reference, n))[0]) for n in (32, 64, 128, 256)]
    orders = observed_orders(errors)
    assert np.all(orders > 1.7) and orders[-1] > 2.3, (errors, orders)
    assert errors[-1] < 7e-4, errors


def test_face_velocities_are_divergence_free_and_inviscid_circulation_is_conserved() -> None:
    n = 32
    with jax.enable_x64(True):
        cells = cell_averages(smooth_field(n, 6, seed=1), n)
        u, v = (np.asarray(velocity) for velocity in face_velocities(jnp.asarray(cells)))
    h = 2 * np.pi / n
    divergence = (u - np.roll(u, 1, 0) + v - np.roll(v, 1, 1)) / h
    assert np.max(np.abs(u)) > 0.3 and np.max(np.abs(divergence)) < 1e-14 * np.max(np.abs(u)) / h  # measured 6e-16
    cells = cells + 0.25  # a nonzero circulation to keep
    last, _ = fv_rollout(cells[None], KolmogorovFlow(nu=0.0, drag=0.0, forcing_amplitude=0.0), 0.02, 50, 1, 8)
    assert np.max(np.abs(last[0] - cells)) > 0.1  # the flow did move
    assert abs(np.sum(last) - np.sum(cells)) < 1e-14 * np.sum(np.abs(cells))  # measured 6e-16 of it


def test_cell_averages_alias_like_real_averaging_and_point_coefficients_invert_them() -> None:
    n, m = 16, 64
    h = 2 * np.pi / n
    x, _ = nodes(m)
    centres = h * np.arange(n)
    for k in (3, 11, 21):  # 11 and 21 lie above n / 2: their averages alias
        averages = cell_averages(to_coefficients(np.cos(k * x)), n)
        exact = (np.sin(k * (centres + h / 2)) - np.sin(k * (centres - h / 2))) / (k * h)
        np.testing.assert_allclose(averages, np.broadcast_to(exact[:, None], (n, n)), rtol=0, atol=1e-14)
    field = smooth_field(m, 7, seed=2)  # band-limited below n / 2
    np.testing.assert_allclose(point_coefficients(cell_averages(field, n), m), field, rtol=0, atol=1e-15)
    np.testing.assert_allclose(point_coefficients(cell_averages(field, 2 * m), m), field, rtol=0, atol=1e-15)


def test_float32_gradient_of_a_rollout_matches_a_float64_finite_difference() -> None:
    """<grad L, d> from reverse mode through 5 steps in float32 against a central difference in float64.

    Measured 2.8e-6 apart. The difference step is 1e-7: the limiter and |u| upwinding are only
    piecewise smooth, and at 1e-5 a step already crosses kinks that move the quotient by 5e-4.
    """
    n, out = 32, 16
    flow = KolmogorovFlow(nu=1e-2, drag=0.1, forcing_amplitude=1.0)
    cells, direction = (cell_averages(smooth_field(n, 5, seed), n) for seed in (3, 4))
    rollout = fv_trajectory(n, flow, 0.05, 1, 5, out)

    def loss(w: jax.Array) -> jax.Array:
        frames = rollout(w)[1]
        return jnp.sum(frames[-1] ** 2) + jnp.sum(jnp.sin(frames[0]))

    gradient = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(cells, jnp.float32)))
    with jax.enable_x64(True):
        value = jax.jit(loss)
        eps = 1e-7
        difference = (value(jnp.asarray(cells + eps * direction)) - value(jnp.asarray(cells - eps * direction))) / (2 * eps)
    assert float(np.sum(gradient * direction)) == pytest.approx(float(difference), rel=1e-5)


def test_stable_step_takes_the_tighter_bound_and_the_step_runs_in_its_input_dtype() -> None:
    h = 2 * np.pi / 64
    assert stable_step(64, 7.0, 1e-3) == pytest.approx(0.5 * h / 7)  # advection binds at Re = 1000
    assert stable_step(64, 7.0, 1.0) == pytest.approx(h**2 / 4)  # diffusion binds when nu is large
    step = fv_step(16, KolmogorovFlow(), 0.01)
    assert step(jnp.zeros((2, 16, 16), jnp.float32)).dtype == jnp.float32
