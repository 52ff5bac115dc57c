"""1D viscous Burgers: the Cole-Hopf reference against a published value, and the PINN residual."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import silent

from parity.problems import Burgers1D
from parity.solvers import PINN, Budget
from parity.solvers.pde.spectral import PseudoSpectral


def test_reference_reproduces_the_published_maximum_slope() -> None:
    """Basdevant et al. (Comput. Fluids 1986): max |u_x| = 152.00516 at x = 0, t = 1.6037 / pi, nu = 0.01 / pi."""
    problem = Burgers1D()
    h, t = 1e-6, 1.6037 / math.pi
    right, left = problem.reference(np.array([[h, t], [-h, t]]))[:, 0]
    assert (right - left) / (2 * h) == pytest.approx(-152.00516, abs=1e-4)  # the shock at x = 0: u falls from + to -


def test_reference_converges_under_quadrature_refinement() -> None:
    x = Burgers1D(n_test=2000).test_points()
    coarse = Burgers1D(quadrature_points=1000).reference(x)
    fine = Burgers1D(quadrature_points=8000).reference(x)
    assert np.max(np.abs(coarse - fine)) < 1e-10


@pytest.mark.parametrize("nu", [0.1, 0.01 / math.pi])
def test_reference_solves_the_pde_away_from_the_shock(nu: float) -> None:
    problem = Burgers1D(nu=nu)
    rng = np.random.default_rng(2)
    x = np.c_[rng.uniform(0.3, 0.9, 40) * rng.choice([-1, 1], 40), rng.uniform(0.05, 1.0, 40)]
    h = 1e-4

    def u(dx: float, dt: float) -> np.ndarray:
        return problem.reference(x + np.array([dx, dt]))[:, 0]

    u_t = (u(0, h) - u(0, -h)) / (2 * h)
    u_x = (u(h, 0) - u(-h, 0)) / (2 * h)
    u_xx = (u(h, 0) - 2 * u(0, 0) + u(-h, 0)) / h**2
    assert np.max(np.abs(u_t + u(0, 0) * u_x - nu * u_xx)) < 1e-4


def test_reference_agrees_with_the_spectral_solver_at_small_viscosity() -> None:
    """At nu = 0.001/pi the weight peaks far from s = 0; a quadrature window of kernel widths alone missed it (error 0.18)."""
    problem = Burgers1D(nu=0.001 / math.pi, n_test=2000)
    x = problem.test_points()
    spectral = PseudoSpectral(resolutions=(16384,)).solve_at(problem, 16384)
    assert np.linalg.norm(spectral(x) - problem.reference(x)) / np.linalg.norm(problem.reference(x)) < 1e-6


def test_initial_and_boundary_values_hold_for_the_reference_and_the_ansatz() -> None:
    problem = Burgers1D()
    x0 = np.c_[np.linspace(-1, 1, 21), np.zeros(21)]
    np.testing.assert_allclose(problem.reference(x0)[:, 0], -np.sin(np.pi * x0[:, 0]), atol=1e-15)
    edges = np.array([[-1.0, 0.3], [1.0, 0.3], [-1.0, 0.9], [1.0, 0.9]])
    assert np.max(np.abs(problem.reference(edges))) < 1e-12
    raw = jnp.ones((4, 1))
    assert float(jnp.max(jnp.abs(problem.ansatz(jnp.asarray(edges), raw)))) < 1e-6
    np.testing.assert_allclose(problem.ansatz(jnp.asarray(x0), jnp.ones((21, 1)))[:, 0], -np.sin(np.pi * x0[:, 0]), atol=1e-6)


def test_residual_vanishes_for_a_viscous_shock() -> None:
    """u = c - a tanh(a (x - c t) / (2 nu)) is an exact travelling-wave solution of Burgers' equation."""
    problem = Burgers1D(nu=0.05)
    a, c = 0.8, 0.3

    def shock(x: jnp.ndarray) -> jnp.ndarray:
        return c - a * jnp.tanh(a * (x[:, 0:1] - c * x[:, 1:2]) / (2 * problem.nu))

    x = jnp.asarray(problem.test_points()[:200], dtype=jnp.float32)
    assert float(jnp.max(jnp.abs(problem.residual(shock, x)))) < 1e-4 * a**3 / problem.nu
    wrong = problem.residual(lambda x_: 1.1 * shock(x_), x)
    assert float(jnp.max(jnp.abs(wrong))) > 0.01 * a**3 / problem.nu


@pytest.mark.slow
def test_pinn_forms_the_shock_at_raissi_viscosity_in_most_seeds() -> None:
    """The bar at nu = 0.01/pi (Raissi et al.: ~1e-3 after tens of thousands of L-BFGS iterations).
    Test budget: 1500 Adam + 1500 L-BFGS steps on 4096 points, five seeds.

    After Adam alone every seed sits near 0.2 (the shock not yet formed); the L-BFGS half forms
    it. Claimed over seeds because one seed's outcome is not portable across processors: on one
    x86 machine seeds 0-4 ended at 0.010 / 0.011 / 0.0069 / 0.013 / 0.0049, on another seeds
    0-2 at 0.21 / 0.011 / 0.067 (seed 0 stalled). So: the median below 0.1 (most seeds formed
    the shock), the best below 0.02 (Raissi's order is reached), and the L-BFGS half at least
    halves the median error.
    """
    problem = Burgers1D()
    config = PINN(width=20, depth=8, n_collocation=4096, learning_rate=3e-3, lbfgs_fraction=0.5)
    results = [config.solve(problem, Budget(steps=3000), seed, problem.evaluator(), silent) for seed in range(5)]
    assert all(result.status == "ok" for result in results)
    final = [result.trace[-1].metrics["rel_l2"] for result in results]
    adam_only = [next(c.metrics["rel_l2"] for c in result.trace if c.step == 1500) for result in results]
    assert np.median(final) <= 0.1, final
    assert min(final) <= 2e-2, final
    assert np.median(final) < 0.5 * np.median(adam_only), (final, adam_only)
