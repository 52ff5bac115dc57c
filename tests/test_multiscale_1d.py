"""The 1D multi-scale problem: residual, ansatz and point sets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity.problems import MultiScale1D


@pytest.mark.parametrize("omega2", [1.0, 15.0, 60.0])
def test_exact_solution_satisfies_the_residual(omega2: float) -> None:
    problem = MultiScale1D(omega2=omega2)
    x = jnp.asarray(problem.collocation_points(2000), dtype=jnp.float32)

    def exact(x_: jax.Array) -> jax.Array:
        return jnp.sin(problem.omega1 * x_) + jnp.sin(problem.omega2 * x_)

    residual = problem.residual(exact, x)
    # float32: relative to the size of the source terms
    assert float(jnp.max(jnp.abs(residual))) < 1e-5 * problem.residual_scale * 10


def test_residual_detects_a_wrong_solution(problem: MultiScale1D) -> None:
    x = jnp.asarray(problem.collocation_points(500), dtype=jnp.float32)
    residual = problem.residual(lambda x_: jnp.sin(x_) + jnp.sin(14.0 * x_), x)
    assert float(jnp.sqrt(jnp.mean(residual**2))) > 1.0


def test_reference_matches_the_closed_form_and_the_anchor(problem: MultiScale1D) -> None:
    x = problem.test_points()
    np.testing.assert_allclose(problem.reference(x), np.sin(x) + np.sin(15 * x))
    x0, u0 = problem.anchor
    assert problem.reference(np.array([[x0]]))[0, 0] == u0


def test_ansatz_pins_u_at_zero_whatever_the_network(problem: MultiScale1D) -> None:
    x = jnp.array([[0.0], [1.0]])
    raw = jnp.array([[123.0], [2.0]])
    u = problem.ansatz(x, raw)
    assert float(u[0, 0]) == 0.0 and float(u[1, 0]) != 0.0


def test_test_points_are_held_out(problem: MultiScale1D) -> None:
    test = problem.test_points()
    assert test.shape == (problem.n_test, 1)
    assert np.all(test >= -problem.half_width) and np.all(test <= problem.half_width)
    for n in (100, 3000, 10_000):
        train = problem.collocation_points(n)
        gaps = np.abs(test[:, None, 0] - train[None, :, 0]).min()
        assert gaps > 0.0
    np.testing.assert_array_equal(test, problem.test_points())  # fixed, independent of any seed
