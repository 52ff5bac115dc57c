"""The FNO Navier-Stokes operator problem: its random initial field, its solver and its data.

The solver is checked against closed forms (the forced mode's relaxation, a hand-computed
advection term), the reference against itself refined (grid and step halved), and the
coarse solves against the reference they must approach.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from parity.knobs import ParameterError
from parity.numerics import forced_vorticity
from parity.problems.navier_stokes_operator_2d import NavierStokesOperator2D, initial_std, sample_initial_vorticity
from parity.problems.operator_learning import instance_errors


def test_initial_vorticity_has_the_fno_covariance() -> None:
    """Re and Im of every coefficient have variance sigma^2 (4 pi^2 |m|^2 + 49)^-2.5 (the FNO data code's)."""
    draws = np.stack([sample_initial_vorticity(np.random.default_rng([5, i])) for i in range(400)])
    std = initial_std(draws.shape[1])
    inside = std > 0
    re = np.mean(draws.real**2, axis=0)[inside] / std[inside] ** 2
    im = np.mean(draws.imag**2, axis=0)[inside] / std[inside] ** 2
    assert inside.sum() > 1500  # the half disk |m| <= 32 of the rFFT layout
    assert abs(re.mean() - 1) < 0.02 and abs(im.mean() - 1) < 0.02  # pooled over modes: ~ 1 +- 0.003
    assert np.all(np.abs(re - 1) < 0.5) and np.all(np.abs(im - 1) < 0.5)  # per mode: chi^2_400 / 400 ~ 1 +- 0.07
    assert np.all(draws[:, ~inside] == 0)  # zero mean, nothing outside the band
    assert std[1, 0] == pytest.approx(7**1.5 * (4 * np.pi**2 + 49) ** -1.25)


def test_forced_mode_relaxes_to_its_steady_state() -> None:
    """From w0 = 0 the flow stays a function of x + y, advection vanishes, and w = f (1 - exp(-8 pi^2 nu t)) / (8 pi^2 nu)."""
    n, nu = 16, 0.01
    frames = forced_vorticity.solve(np.zeros((1, n, n // 2 + 1), complex), nu, 0.1, 3, n)
    rate = 8 * np.pi**2 * nu
    f = np.fft.irfft2(forced_vorticity.forcing(n), (n, n)) * n**2
    expected = np.stack([f * (1 - np.exp(-rate * t)) / rate for t in (1, 2, 3)])
    np.testing.assert_allclose(frames[0], expected, atol=1e-12 * np.abs(expected).max())


def test_advection_term_matches_the_hand_computed_one() -> None:
    """w = cos 2 pi x + cos 4 pi y gives u . grad w = -1.5 sin 2 pi x sin 4 pi y (u = psi_y, v = -psi_x, -lap psi = w)."""
    n = 16
    x = np.arange(n) / n
    w = np.cos(2 * np.pi * x)[:, None] + np.cos(4 * np.pi * x)[None, :]
    with jax.enable_x64(True):
        rate = np.asarray(forced_vorticity.nonlinear_term(n)(forced_vorticity.to_coefficients(w)))
    f = np.fft.irfft2(forced_vorticity.forcing(n), (n, n)) * n**2
    expected = f + 1.5 * np.sin(2 * np.pi * x)[:, None] * np.sin(4 * np.pi * x)[None, :]
    np.testing.assert_allclose(np.fft.irfft2(rate, (n, n)) * n**2, expected, atol=1e-12)


def test_reference_is_converged_in_space_and_time() -> None:
    """nu = 1e-3: the reference (128^2, dt = 1/32) moves < 1e-6 relative when the grid or the step is halved."""
    problem = NavierStokesOperator2D(final_time=12)
    sources = np.stack([problem.sample_source(np.random.default_rng([7, i])) for i in range(2)])
    _, outputs = problem.reference_solve(sources)
    _, finer = problem.solve_sources(sources, 2 * problem.reference_resolution, problem.reference_step)
    _, shorter = problem.solve_sources(sources, problem.reference_resolution, problem.reference_step / 2)
    assert instance_errors(outputs, finer).max() < 1e-6
    assert instance_errors(outputs, shorter).max() < 1e-6
    assert np.abs(outputs).max() > 0.5  # a flow, not a zero field


def test_splits_are_seeded_prefixes_and_disjoint(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    problem = NavierStokesOperator2D(final_time=11, n_train=2, n_validation=1, n_test=2)
    train, test = problem.dataset("train"), problem.dataset("test")
    assert train.inputs.shape == (2, 10, 64, 64) and train.outputs.shape == (2, 1, 64, 64)
    assert (train.solve_s > 0).all()
    larger = NavierStokesOperator2D(final_time=11, n_train=3, n_validation=1, n_test=2).dataset("train")
    np.testing.assert_array_equal(larger.inputs[:2], train.inputs)
    assert min(np.abs(a - b).max() for a in train.inputs for b in test.inputs) > 0.1


def test_coarse_solves_approach_the_reference() -> None:
    problem = NavierStokesOperator2D(final_time=14)
    sources = np.stack([problem.sample_source(np.random.default_rng([2, i])) for i in range(2)])
    inputs, outputs = problem.reference_solve(sources)
    errors = [instance_errors(problem.solve_inputs(inputs, n), outputs).mean() for n in (16, 24, 32, 64, 128)]
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[-1] < 1e-4


def test_knobs_are_validated_and_the_paper_pairs_nu_with_t() -> None:
    assert NavierStokesOperator2D().output_channels == 40
    assert NavierStokesOperator2D(nu=1e-4).output_channels == 20
    assert NavierStokesOperator2D(nu=1e-5).output_channels == 10
    assert NavierStokesOperator2D(final_time=12).output_channels == 2
    with pytest.raises(ParameterError, match="nu"):
        NavierStokesOperator2D(nu=2e-3)
    with pytest.raises(ParameterError, match="final_time"):
        NavierStokesOperator2D(final_time=10)
    with pytest.raises(ParameterError, match="final_time"):
        NavierStokesOperator2D(nu=1e-5, input_steps=20)
