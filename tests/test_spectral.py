"""Pseudo-spectral numerics, the decaying-turbulence problem and the spectral solver."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import silent

from parity.knobs import ParameterError
from parity.numerics.spectral import SpectralRun, energy_spectra, evaluate_2d, velocity_2d, vorticity_2d, wavenumbers_2d
from parity.problems import Burgers1D, MultiScale1D, PointwiseFn
from parity.problems.turbulence_2d import DecayingTurbulence2D
from parity.solvers import Budget
from parity.solvers.pde.spectral import PseudoSpectral


def kinetic_energy(w_hat: np.ndarray) -> float:
    """<u^2 + v^2> / 2 by Parseval."""
    kx, ky = wavenumbers_2d(w_hat.shape[0])
    k2 = np.where(kx**2 + ky**2 > 0, kx**2 + ky**2, np.inf)
    return float(np.sum(np.where(ky == 0, 1.0, 2.0) * np.abs(w_hat) ** 2 / k2) / 2)


def test_inviscid_energy_is_conserved() -> None:
    """The dealiased Galerkin truncation conserves energy; ETDRK4 (RK4 at nu = 0) errs by O(dt^4)."""
    problem = DecayingTurbulence2D(k0=4)
    run = vorticity_2d(problem.initial_coefficients(64), 0.0, 0.5, 5, cfl=0.5)
    energy = np.array([kinetic_energy(c) for c in run.coefficients])
    assert energy[0] == pytest.approx(0.5, rel=1e-12)  # unit rms velocity
    assert np.max(np.abs(energy / energy[0] - 1)) < 1e-6
    assert np.max(np.abs(run.coefficients[-1] - run.coefficients[0])) > 1e-3  # the flow did evolve


def test_a_single_fourier_mode_decays_exactly() -> None:
    """w = cos(3x + 2y) is a steady Euler flow (psi is parallel to w): it only decays, as exp(-nu k^2 t)."""
    n, nu = 32, 0.05
    x, y = np.meshgrid(*(2 * np.pi * np.arange(n) / n,) * 2, indexing="ij")
    w0 = np.fft.rfft2(np.cos(3 * x + 2 * y)) / n**2
    run = vorticity_2d(w0, nu, 2.0, 4, cfl=0.5)
    decay = np.array([np.max(np.abs(c)) for c in run.coefficients]) / np.max(np.abs(w0))
    np.testing.assert_allclose(decay, np.exp(-nu * 13 * run.times), rtol=1e-8, atol=0)


def test_burgers_converges_to_the_cole_hopf_reference() -> None:
    problem = Burgers1D(n_test=2000)
    result = PseudoSpectral(resolutions=(128, 512, 2048)).solve(problem, Budget(), 0, problem.evaluator(), silent)
    errors = [c.metrics["rel_l2"] for c in result.trace]
    assert result.status == "ok" and result.info["resolution"] == 2048
    assert errors[0] > 50 * errors[1] > 2500 * errors[2] and errors[2] < 1e-8, errors
    assert all(c.details["compile_s"] > 0 and c.details["time_steps"] > 0 for c in result.trace)
    assert [c.step for c in result.trace] == sorted(c.step for c in result.trace)


def test_initial_vorticity_in_jax_matches_its_fourier_coefficients_and_has_unit_rms_velocity() -> None:
    problem = DecayingTurbulence2D(k0=3, flow_seed=5)
    x, y = np.random.default_rng(1).uniform(0, 2 * np.pi, (2, 300))
    with jax.enable_x64(True):
        w_jax = np.asarray(problem.initial_vorticity(jnp.asarray(x), jnp.asarray(y)))
    coefficients = problem.initial_coefficients(64)
    np.testing.assert_allclose(w_jax, evaluate_2d(coefficients, x, y), atol=1e-12)
    u, v = velocity_2d(coefficients)
    assert np.mean(u**2 + v**2) == pytest.approx(1.0, rel=1e-12)
    spectrum = energy_spectra(np.fft.irfft2(coefficients, (64, 64)) * 64**2)
    assert np.argmax(spectrum) + 1 == 3 and spectrum[3 * 3 + 1 :].max() < 1e-30  # peaked at k0, cut at 3 k0 (round-off beyond)
    other = DecayingTurbulence2D(k0=3, flow_seed=6).initial_coefficients(64)
    assert np.max(np.abs(other - coefficients)) > 0.01


def test_reference_rule_is_converged_under_doubling() -> None:
    """At Re = 250, k0 = 1 the rule gives N = 128; doubling it changes the test vorticity by < 1e-8 (4e-10 measured)."""
    common = {"reynolds": 250.0, "k0": 1, "duration": 0.5, "test_cells": 32, "test_times": 2}
    problem = DecayingTurbulence2D(**common)
    assert problem.reference_resolution() == 128
    x = problem.test_points()
    doubled = DecayingTurbulence2D(**common, reference_n=256).reference(x)
    reference = problem.reference(x)
    assert np.linalg.norm(reference - doubled) / np.linalg.norm(doubled) < 1e-8
    assert DecayingTurbulence2D(reynolds=1e4).reference_resolution() == 2048


def jax_field(run: SpectralRun) -> PointwiseFn:
    """(w, psi)(x, y, t) of a run in JAX: trigonometric sums in space, the solver's Hermite interpolation in time."""
    kx, ky = (np.broadcast_to(k, run.coefficients.shape[1:]).ravel() for k in wavenumbers_2d(run.n))
    k2 = kx**2 + ky**2
    weight = np.where(ky == 0, 1.0, 2.0)
    states, rates = (jnp.asarray(c.reshape(len(run.times), -1)) for c in (run.coefficients, run.rates))
    times = jnp.asarray(run.times)
    spacing = run.times[1] - run.times[0]
    inverse_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)

    def field(x: jnp.ndarray) -> jnp.ndarray:
        j = jnp.clip(jnp.searchsorted(times, x[:, 2], side="right") - 1, 0, len(run.times) - 2)
        s = ((x[:, 2] - times[j]) / spacing)[:, None]
        c = ((2 * s**3 - 3 * s**2 + 1) * states[j] + (s**3 - 2 * s**2 + s) * spacing * rates[j]
             + (3 * s**2 - 2 * s**3) * states[j + 1] + (s**3 - s**2) * spacing * rates[j + 1])
        phase = jnp.exp(1j * (x[:, 0:1] * kx + x[:, 1:2] * ky))
        w = jnp.real(jnp.sum(weight * c * phase, axis=1))
        psi = jnp.real(jnp.sum(weight * inverse_k2 * c * phase, axis=1))
        return jnp.stack([w, psi], axis=1)

    return field


def test_spectral_solution_makes_the_jax_residual_small() -> None:
    """The problem's residual (signs, psi convention, 2 pi periodicity) agrees with the solver's equation.

    Transport row: 7e-7 from the Hermite interpolation in time, against 1e-1 when the
    velocity's sign is flipped; Poisson row: round-off, against O(1) for psi = 0.
    """
    problem = DecayingTurbulence2D(reynolds=100.0, k0=1, duration=0.4)
    with jax.enable_x64(True):
        run = vorticity_2d(problem.initial_coefficients(32), problem.viscosity, 0.4, 40, cfl=0.2)
        field = jax_field(run)
        rng = np.random.default_rng(3)
        x = jnp.asarray(np.c_[rng.uniform(0, 2 * np.pi, (100, 2)), rng.uniform(0.05, 0.35, 100)])

        def residual(u: PointwiseFn) -> np.ndarray:
            return np.max(np.abs(np.asarray(jax.jit(lambda x_: problem.residual(u, x_))(x))), axis=0)

        solved = residual(field)
        flipped = residual(lambda x_: field(x_) * jnp.array([1.0, -1.0]))
        frozen = residual(lambda x_: problem.ansatz(x_, jnp.zeros((len(x_), 2))))
        start = np.asarray(field(x.at[:, 2].set(0.0))[:, 0])
        ansatz_start = np.asarray(problem.ansatz(x.at[:, 2].set(0.0), jnp.ones((len(x), 2)))[:, 0])
    np.testing.assert_allclose(ansatz_start, start, atol=1e-12)  # the ansatz starts from the solver's initial value
    assert solved[0] < 1e-4 * flipped[0] and solved[0] < 1e-5, (solved, flipped)
    assert solved[1] < 1e-12 * frozen[1] and frozen[1] > 0.5, (solved, frozen)


@pytest.fixture(scope="module")
def small_turbulence() -> DecayingTurbulence2D:
    return DecayingTurbulence2D(reynolds=250.0, k0=2, duration=1.0, test_cells=32, test_times=4, reference_n=128)


def test_extra_metrics_reward_the_reference_and_catch_a_lagging_field(small_turbulence: DecayingTurbulence2D) -> None:
    problem = small_turbulence
    x = problem.test_points()
    reference = problem.reference(x)
    perfect = problem.extra_metrics(reference, reference)
    assert perfect["spectrum_error"] == 0.0 and perfect["correlation_final"] == pytest.approx(1.0)
    assert perfect["decorrelation_time"] == pytest.approx(1.25)  # never decorrelated: one spacing past T
    initial = np.c_[x[:, :2], np.zeros(len(x))]
    frozen = problem.reference(initial)  # the initial vorticity at every time
    lagging = problem.extra_metrics(frozen, reference)
    assert lagging["correlation_final"] < 0.9 and lagging["decorrelation_time"] <= 1.0
    assert lagging["spectrum_error"] > 0.05
    noisy = reference + np.random.default_rng(0).normal(0, 0.5 * reference.std(), reference.shape)
    assert 0.8 < problem.extra_metrics(noisy, reference)["correlation_final"] < 0.95


def test_turbulence_sweep_converges_and_predicts_vorticity_and_stream(small_turbulence: DecayingTurbulence2D) -> None:
    problem = small_turbulence
    result = PseudoSpectral(resolutions=(32, 64)).solve(problem, Budget(), 0, problem.evaluator(), silent)
    errors = [c.metrics["rel_l2"] for c in result.trace]
    assert result.status == "ok" and errors[0] > 5 * errors[1] and errors[1] < 0.01, errors
    assert result.trace[-1].metrics["decorrelation_time"] > problem.duration
    snapshot = problem.snapshot()
    assert result.predict is not None
    values = result.predict(snapshot.points)
    assert values.shape == (129 * 129, 2) and np.all(snapshot.points[:, 2] == problem.duration)
    wavenumbers, spectrum = problem.spectrum(problem.picture(values[:, :1], snapshot))
    reference_spectrum = energy_spectra(problem.reference(problem.test_points())[:, 0].reshape(32, 32, 4)[..., -1])
    assert len(wavenumbers) == 64 and np.argmax(spectrum) == np.argmax(reference_spectrum)
    np.testing.assert_allclose(spectrum[:10], reference_spectrum[:10], rtol=0.02)  # 128 vs 32 points: the same large scales
    # psi solves lap psi = -w: check by FFT on a periodic grid fine enough for every mode of the 64 solve.
    grid = 2 * np.pi * np.arange(64) / 64
    gx, gy = np.meshgrid(grid, grid, indexing="ij")
    field = result.predict(np.c_[gx.ravel(), gy.ravel(), np.full(gx.size, 0.25)])
    kx, ky = np.meshgrid(*(np.fft.fftfreq(64, 1 / 64),) * 2, indexing="ij")
    laplacian = np.real(np.fft.ifft2(-(kx**2 + ky**2) * np.fft.fft2(field[:, 1].reshape(64, 64))))
    np.testing.assert_allclose(laplacian, -field[:, 0].reshape(64, 64), atol=1e-9 * np.abs(field[:, 0]).max())


def test_bad_knobs_and_requests_raise_clear_errors() -> None:
    with pytest.raises(ParameterError, match=r"turbulence_2d: parameter 'reynolds' = 10.0 .*allowed: number in \[100, 1e5\]"):
        DecayingTurbulence2D(reynolds=10)
    with pytest.raises(ParameterError, match="'k0' = 0"):
        DecayingTurbulence2D(k0=0)
    with pytest.raises(ParameterError, match="'reference_n' = 32 cannot hold the initial band"):
        DecayingTurbulence2D(reference_n=32)
    with pytest.raises(ValueError, match="n = 36 cannot hold"):
        DecayingTurbulence2D().initial_coefficients(36)
    with pytest.raises(ValueError, match="reference is stored at t in"):
        DecayingTurbulence2D(reference_n=40, duration=0.1, test_times=1).reference(np.array([[0.0, 0.0, 0.05]]))
    with pytest.raises(ParameterError, match="spectral: parameter 'cfl' = 2.0"):
        PseudoSpectral(cfl=2)
    with pytest.raises(ParameterError, match="'resolutions'"):
        PseudoSpectral(resolutions=(8,))
    assert PseudoSpectral.supports(DecayingTurbulence2D()) and PseudoSpectral.supports(Burgers1D())
    assert not PseudoSpectral.supports(MultiScale1D())
    assert PseudoSpectral.default_resolutions(DecayingTurbulence2D(k0=8)) == (128, 256)  # n > 3 * 24 holds the band
    assert math.isclose(DecayingTurbulence2D.periods[0], 2 * math.pi) and DecayingTurbulence2D.periods[2] is None
