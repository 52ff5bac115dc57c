"""The 2D multi-scale Poisson problem and its finite-element reference."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_under_mpiexec, silent

from parity.harness import load_records
from parity.problems.poisson_multiscale_2d import MultiScalePoisson2D
from parity.solvers import FBPINN, Budget, Evaluator
from parity.solvers.pde.fem_poisson import FEMPoisson


@pytest.mark.parametrize("n_components", [1, 3, 6])
def test_exact_solution_satisfies_the_residual(n_components: int) -> None:
    problem = MultiScalePoisson2D(n_components=n_components)
    x = jnp.asarray(problem.test_points()[:2000], dtype=jnp.float32)
    residual = problem.residual(lambda x_: problem.solution((x_[:, 0:1], x_[:, 1:2]), jnp), x)
    assert float(jnp.max(jnp.abs(residual))) < 1e-4 * problem.residual_scale
    wrong = problem.residual(lambda x_: 1.1 * problem.solution((x_[:, 0:1], x_[:, 1:2]), jnp), x)
    assert float(jnp.sqrt(jnp.mean(wrong**2))) > 1e-2 * problem.residual_scale


def test_ansatz_vanishes_on_the_boundary_and_points_are_held_out() -> None:
    problem = MultiScalePoisson2D()
    edge = jnp.array([[0.0, 0.3], [1.0, 0.7], [0.2, 0.0], [0.9, 1.0], [0.5, 0.5]])
    u = np.asarray(problem.ansatz(edge, jnp.full((5, 1), 7.0)))
    np.testing.assert_allclose(u[:4, 0], 0.0, atol=1e-6)
    assert u[4, 0] == pytest.approx(7.0)
    train, test = problem.collocation_points(4096), problem.test_points()
    assert train.shape == (4096, 2) and test.shape == (problem.n_test, 2)
    assert np.min(np.abs(test[:, None, 0] - np.unique(train[:, 0])[None, :])) > 0.0
    np.testing.assert_allclose(problem.reference(np.array([[0.25, 0.25]]))[0, 0], np.mean([np.sin(2**i * np.pi / 4) ** 2 for i in (1, 2, 3, 4)]))


def l2_error(problem: MultiScalePoisson2D, degree: int, cells: int) -> float:
    """The FEM solution's L2 error against the exact solution, by quadrature."""
    import dolfinx_solver  # noqa: F401  (must precede dolfinx)
    import ufl
    from dolfinx import fem

    solution = FEMPoisson(degree=degree).solve_at(problem, cells)
    uh = solution.function
    x = ufl.SpatialCoordinate(uh.function_space.mesh)
    error = fem.form((uh - problem.solution(x, ufl)) ** 2 * ufl.dx(metadata={"quadrature_degree": degree + 6}))
    return math.sqrt(fem.assemble_scalar(error))


@pytest.mark.parametrize(("degree", "cells", "rate", "tolerance"), [(1, (32, 64, 128), 2.0, 0.1), (2, (16, 32, 64), 3.0, 0.15)])
def test_fem_converges_at_the_optimal_rate(degree: int, cells: tuple[int, ...], rate: float, tolerance: float) -> None:
    problem = MultiScalePoisson2D(n_components=2)
    errors = [l2_error(problem, degree, n) for n in cells]
    rates = [math.log2(coarse / fine) for coarse, fine in zip(errors, errors[1:])]
    assert all(abs(r - rate) <= tolerance for r in rates), rates


def test_fem_refinement_sweep_on_the_test_points() -> None:
    problem = MultiScalePoisson2D(n_components=3, n_test=2000)
    x = problem.test_points()
    evaluator = Evaluator(x, problem.reference(x))
    result = FEMPoisson(degree=2, resolutions=(8, 16, 32, 64)).solve(problem, Budget(), 0, evaluator, silent)
    errors = [c.metrics["rel_l2"] for c in result.trace]
    assert result.status == "ok" and result.trace_kind == "refinement"
    assert errors == sorted(errors, reverse=True) and errors[-1] < 2e-3
    assert [c.step for c in result.trace] == [(2 * n + 1) ** 2 for n in (8, 16, 32, 64)]  # P2 dofs
    for key in ("compile_s", "setup_s", "assemble_s", "linear_solve_s", "solve_s"):
        assert result.timings[key] > 0, key
    assert {"assemble_s", "linear_solve_s", "iterations"} <= set(result.trace[-1].details)


def test_direct_and_multigrid_solvers_agree() -> None:
    problem = MultiScalePoisson2D(n_components=3)
    x = problem.test_points()[:500]
    iterative = FEMPoisson(linear_solver="cg_gamg", rtol=1e-12).solve_at(problem, 48)(x)
    direct = FEMPoisson(linear_solver="lu").solve_at(problem, 48)(x)
    np.testing.assert_allclose(iterative, direct, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["poisson_multiscale_2d", "helmholtz_2d"])  # CG + GAMG, and MUMPS LU
def test_serial_and_two_mpi_ranks_agree(tmp_path: Path, problem: str) -> None:
    common = ["-m", "parity", "run", problem, "--solver", "fem", "--set", "resolutions=16,48",
              "--set", "rtol=1e-12", "--store", str(tmp_path), "--quiet", "--json"]
    serial = json.loads(subprocess.run([sys.executable, *common], check=True, capture_output=True, text=True, timeout=300).stdout)
    launched = run_under_mpiexec(2, common)
    parallel = json.loads(launched.stdout.strip().splitlines()[-1])
    assert len(launched.stdout.strip().splitlines()) == 1  # rank 0 alone prints
    assert parallel["device_count"] == 2 and serial["device_count"] == 1
    assert parallel["info"]["dofs"] == serial["info"]["dofs"] == 49**2
    assert parallel["rel_l2"] == pytest.approx(serial["rel_l2"], rel=1e-8)
    assert parallel["case_key"] != serial["case_key"]  # rank count is part of a case's identity
    assert len(load_records(tmp_path)) == 2  # one record per launch, not per rank


def test_solvers_that_are_not_mpi_parallel_are_refused_under_mpi(tmp_path: Path) -> None:
    mpiexec = Path(sys.executable).with_name("mpiexec")
    if not mpiexec.exists():
        pytest.skip(f"no mpiexec next to {sys.executable}")
    command = [str(mpiexec), "-n", "2", sys.executable, "-m", "parity", "run", "poisson_multiscale_2d", "--solver", "pinn", "--store", str(tmp_path)]
    launched = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert launched.returncode == 2 and "solver 'pinn' does not run under MPI" in launched.stderr


@pytest.mark.slow
def test_multilevel_fbpinn_beats_one_level_with_many_subdomains() -> None:
    """Dolean et al. (2024): one level of 8 x 8 subdomains passes global information slowly; coarse levels fix it."""
    problem = MultiScalePoisson2D(n_components=2, n_test=2000)
    x = problem.test_points()
    evaluator = Evaluator(x, problem.reference(x))

    def errors(levels: tuple[int, ...]) -> list[float]:
        solver = FBPINN(levels=levels, width=16, depth=1, n_collocation=48**2)
        return [solver.solve(problem, Budget(steps=1200), seed, evaluator, silent).trace[-1].metrics["rel_l2"] for seed in (0, 1)]

    one_level, multilevel = errors((8,)), errors((1, 2, 4, 8))
    assert max(multilevel) < 0.5 * min(one_level), (one_level, multilevel)
