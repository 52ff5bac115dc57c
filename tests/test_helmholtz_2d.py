"""2D Helmholtz: the eigenfunction-series reference and the finite-element solver."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import silent

from parity.knobs import ParameterError
from parity.problems.helmholtz_2d import Helmholtz2D
from parity.solvers import Budget, Evaluator
from parity.solvers.pde.fem_poisson import FEMPoisson


@pytest.mark.parametrize("k", [4.0, 15.0, 40.0])
def test_series_reference_solves_the_pde(k: float) -> None:
    """Fourth-order finite differences of the series reproduce the source to their own accuracy."""
    problem = Helmholtz2D(k=k)
    h = 2e-3
    x = np.random.default_rng(1).uniform(0.1, 0.9, (50, 2))

    def u(shift: tuple[float, float]) -> np.ndarray:
        return problem.reference(x + np.asarray(shift))[:, 0]

    laplacian = sum(
        (-u(2 * e) + 16 * u(e) - 30 * u((0.0, 0.0)) + 16 * u(-e) - u(-2 * e)) / (12 * h**2)
        for e in (np.array([h, 0.0]), np.array([0.0, h]))
    )
    residual = -laplacian - k**2 * u((0.0, 0.0)) - problem.poisson_source((x[:, 0], x[:, 1]), np)
    assert np.max(np.abs(residual)) < 1e-5 * problem.residual_scale


def test_reference_is_normalised_and_vanishes_on_the_boundary() -> None:
    problem = Helmholtz2D()
    axis = np.linspace(0.0, 1.0, 201)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    values = problem.reference(grid).reshape(201, 201)
    assert np.max(np.abs(values)) == pytest.approx(1.0)
    edges = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    assert np.max(np.abs(edges)) < 1e-12


def test_jax_residual_matches_the_series() -> None:
    """The PINN residual, applied to an interpolant of the reference, is small next to its scale."""
    problem = Helmholtz2D(k=8.0)
    modes, coefficients = problem._series

    def u(x: jax.Array) -> jax.Array:
        sin_x = jnp.sin(jnp.pi * x[:, 0:1] * modes)
        sin_y = jnp.sin(jnp.pi * x[:, 1:2] * modes)
        return problem._amplitude * jnp.sum((sin_x @ coefficients) * sin_y, axis=1, keepdims=True)

    x = jnp.asarray(problem.test_points()[:200])
    residual = problem.residual(u, x)
    assert float(jnp.max(jnp.abs(residual))) < 1e-5 * problem.residual_scale  # float32 round-off


def test_resonant_wavenumber_is_refused_with_the_eigenvalue_named() -> None:
    with pytest.raises(ParameterError, match=r"k' = 15.7079.*pi\^2 \((3\^2 \+ 4\^2|4\^2 \+ 3\^2)\)"):
        Helmholtz2D(k=5 * math.pi)  # the multilevel paper's k = 2^3 pi / 1.6 is a cavity eigenvalue here
    with pytest.raises(ParameterError, match="allowed: number in"):
        Helmholtz2D(k=-1.0)


@pytest.mark.parametrize(("degree", "cells", "rate", "tolerance"), [(1, (64, 128), 2.0, 0.1), (2, (64, 128), 3.0, 0.15)])
def test_fem_converges_at_the_optimal_rate(degree: int, cells: tuple[int, int], rate: float, tolerance: float) -> None:
    problem = Helmholtz2D(n_test=4000)
    x = problem.test_points()
    reference = problem.reference(x)
    errors = [np.linalg.norm(FEMPoisson(degree=degree).solve_at(problem, n)(x) - reference) / np.linalg.norm(reference) for n in cells]
    assert abs(math.log2(errors[0] / errors[1]) - rate) <= tolerance, errors


def test_fem_picks_a_direct_solver_for_the_indefinite_operator() -> None:
    problem = Helmholtz2D(n_test=2000)
    x = problem.test_points()
    result = FEMPoisson(degree=2, resolutions=(16, 32, 64)).solve(problem, Budget(), 0, Evaluator(x, problem.reference(x)), silent)
    assert result.info["linear_solver"] == "lu" and result.info["iterations"] == 1
    assert result.trace[-1].metrics["rel_l2"] < 2e-4
