"""The 2D acoustic wave problem: media, source, ansatz, time marching, and its Devito reference."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_under_mpiexec, silent

from parity.knobs import ParameterError
from parity.numerics.absorbing_box import absorbing_box_solution
from parity.numerics.free_space import free_space_solution
from parity.problems import AcousticWave2D, MultiScalePoisson2D, PointwiseFn
from parity.problems.derivatives import partial
from parity.solvers import FBPINN, PINN, Budget, Evaluator
from parity.solvers.pde.devito_wave import DevitoWave
from parity.solvers.physics_informed.schedule import TimeMarching
from parity.solvers.physics_informed.training import train


def test_layered_medium_has_three_layers_of_the_requested_contrast() -> None:
    problem = AcousticWave2D(velocity_model="layered", contrast=0.4)
    y = np.array([1 / 6, 1 / 2, 5 / 6])
    np.testing.assert_allclose(problem.velocity(0.3 + 0 * y, y, np), [1.0, 1.2, 1.4], rtol=1e-6)


def test_gaussian_mixture_is_reproducible_and_seeded() -> None:
    axis = np.linspace(0, 1, 50)
    x, y = np.meshgrid(axis, axis)
    first = AcousticWave2D(velocity_model="gaussian_mixture", model_seed=3).velocity(x, y, np)
    again = AcousticWave2D(velocity_model="gaussian_mixture", model_seed=3).velocity(x, y, np)
    other = AcousticWave2D(velocity_model="gaussian_mixture", model_seed=4).velocity(x, y, np)
    np.testing.assert_array_equal(first, again)
    assert np.max(np.abs(first - other)) > 0.1
    assert 0.4 < first.min() < 1.0 < first.max() < 1.6  # fast and slow anomalies of relative size <= contrast


def test_a_contrast_that_stops_the_wave_is_refused() -> None:
    with pytest.raises(ParameterError, match="contrast' = 0.95.*allowed: a contrast that keeps c > 0.2"):
        AcousticWave2D(velocity_model="gaussian_mixture", contrast=0.95, model_seed=2)  # two slow anomalies overlap
    with pytest.raises(ParameterError, match="velocity_model"):
        AcousticWave2D(velocity_model="salt_dome")


def test_ansatz_starts_the_wave_from_rest() -> None:
    problem = AcousticWave2D()
    x = jnp.asarray(np.c_[np.random.default_rng(0).uniform(0, 1, (20, 2)), np.zeros(20)], dtype=jnp.float32)

    def u(x_: jnp.ndarray) -> jnp.ndarray:
        return problem.ansatz(x_, jnp.sin(3 * x_[:, 0:1]) + 2.0)

    value, u_t = partial(u, x, 2)
    assert float(jnp.max(jnp.abs(value))) == 0.0 and float(jnp.max(jnp.abs(u_t))) == 0.0


def test_source_vanishes_before_the_start_and_outside_the_box() -> None:
    problem = AcousticWave2D(frequency=4.0)
    assert abs(problem.source_time(0.0, np)) < 1e-7 * problem.amplitude
    assert problem.source_space(0.0, 0.5, np) < 1e-20  # 0.5 from the centre is 12.6 source widths


def test_test_grid_is_regular_in_space_at_the_snapshot_times() -> None:
    problem = AcousticWave2D(test_cells=8, test_times=4, duration=2.0)
    x = problem.test_points()
    assert x.shape == (9 * 9 * 4, 3)
    np.testing.assert_allclose(np.unique(x[:, 2]), [0.5, 1.0, 1.5, 2.0])
    collocation = problem.collocation_points(1000)
    lower, upper = problem.bounds
    assert np.all(collocation.min(axis=0) >= lower) and np.all(collocation.max(axis=0) <= upper)
    assert lower[0] < 0 and upper[0] > 1 and upper[2] == 2.0  # the network's box reaches beyond the scored one


def test_time_marching_opens_the_window_causally() -> None:
    times = np.linspace(0.0, 1.0, 101)
    schedule = TimeMarching(times, 0.0, 1.0, stages=4, fraction=0.5)
    active = [int(schedule.weights(progress).sum()) for progress in (0, 0.125, 0.25, 0.375, 0.499, 0.5, 0.999)]
    assert active == [26, 51, 76, 101, 101, 101, 101]
    assert all(np.all(times[schedule.weights(progress) > 0] <= (schedule.stage(progress) + 1) / 4 + 1e-12) for progress in (0, 0.2, 0.4))


def test_time_marching_needs_an_evolution_problem() -> None:
    problem = MultiScalePoisson2D()
    with pytest.raises(ParameterError, match="time_stages' = 3 needs an evolution problem; 'poisson_multiscale_2d' has no time axis"):
        PINN(time_stages=3).training_task(problem, 0, problem.test_points()[:10])


def test_time_marching_must_end_before_lbfgs_starts() -> None:
    problem = AcousticWave2D(test_cells=8)
    with pytest.raises(ParameterError, match="'marching_fraction' = 0.6 and 'lbfgs_fraction' = 0.5 overlap"):
        FBPINN(levels=(2,), time_stages=4, marching_fraction=0.6, lbfgs_fraction=0.5).training_task(problem, 0, problem.test_points()[:10])
    assert PINN(n_collocation=64, time_stages=4, marching_fraction=0.5, lbfgs_fraction=0.5).training_task(problem, 0, problem.test_points()[:10]).finisher is not None


def test_a_time_budget_marches_through_every_stage_and_reaches_the_finisher() -> None:
    """With far more steps than the seconds allow, the schedule follows the seconds: a schedule by
    steps would train on the first window until the time ran out, and never start L-BFGS."""
    problem = AcousticWave2D(test_cells=4, test_times=2)
    evaluator = problem.evaluator()
    task = PINN(width=8, depth=1, n_collocation=64, time_stages=4, marching_fraction=0.5, lbfgs_fraction=0.3, steps_per_dispatch=10).training_task(
        problem, 0, evaluator.x_test
    )
    stages_seen: list[int] = []
    marching = TimeMarching.for_problem(problem, problem.collocation_points(64), 4, 0.5, "test")
    assert task.data_schedule is not None and marching is not None

    def recording(step: int, progress: float, model: object) -> object:
        stages_seen.append(marching.stage(progress))
        return task.data_schedule(step, progress, model)

    outcome = train(
        dataclasses.replace(task, data_schedule=recording), steps=10**7, steps_per_dispatch=10, evaluator=evaluator, progress=silent, max_seconds=3.0
    )
    assert outcome.steps_done < 10**7 and "time budget" in outcome.message
    assert sorted(set(stages_seen)) == [0, 1, 2, 3, 4] and stages_seen == sorted(stages_seen)
    assert outcome.finisher_step is not None and 0 < outcome.finisher_step < outcome.steps_done


def test_reference_matches_the_exact_solution_in_a_homogeneous_medium() -> None:
    problem = AcousticWave2D(velocity_model="homogeneous", test_cells=16)
    x = problem.test_points()
    exact = problem.amplitude * free_space_solution(
        x, velocity=1.0, centre=(0.5, 0.5), sigma=problem.source_sigma, source_time=lambda t: problem.source_time(t, np) / problem.amplitude
    )
    reference = problem.reference(x)
    assert np.max(np.abs(exact)) == pytest.approx(1.0)  # the amplitude normalises the field
    assert np.linalg.norm(reference - exact) / np.linalg.norm(exact) < 5e-4


def test_devito_refinement_sweep_converges_and_records_its_performance() -> None:
    problem = AcousticWave2D(test_cells=16)
    x = problem.test_points()
    result = DevitoWave(resolutions=(16, 32, 64)).solve(problem, Budget(), 0, Evaluator(x, problem.reference(x)), silent)
    errors = [c.metrics["rel_l2"] for c in result.trace]
    assert result.status == "ok" and result.trace_kind == "refinement"
    assert errors[0] > 3 * errors[1] > 9 * errors[2] and errors[2] < 2e-2, errors
    assert [c.step for c in result.trace] == sorted(c.step for c in result.trace)  # work: grid points x time steps
    assert result.info["cells_per_unit"] == 64 and result.info["devito_gflopss"] > 0 and result.info["devito_gpointss"] > 0
    assert result.timings["compile_s"] > 0 and result.timings["run_s"] > 0


@pytest.mark.slow
def test_devito_solver_under_two_mpi_ranks_matches_serial(tmp_path: Path) -> None:
    common = ["-m", "parity", "run", "acoustic_wave_2d", "--solver", "devito", "--set", "resolutions=16,32",
              "--set", "test_cells=8", "--store", str(tmp_path), "--quiet", "--json"]
    serial = json.loads(subprocess.run([sys.executable, *common], check=True, capture_output=True, text=True, timeout=300).stdout)
    launched = run_under_mpiexec(2, common)
    parallel = json.loads(launched.stdout.strip().splitlines()[-1])
    assert parallel["device_count"] == 2 and serial["device_count"] == 1
    assert parallel["rel_l2"] == pytest.approx(serial["rel_l2"], rel=1e-9)


def test_sides_let_outgoing_waves_out_and_refuse_incoming_ones() -> None:
    problem = AcousticWave2D(velocity_model="homogeneous")
    x = problem.collocation_points(500)
    low, high = problem.bounds[0][0], problem.bounds[1][0]
    sides = (x[:, 0] == low) | (x[:, 0] == high) | (x[:, 1] == low) | (x[:, 1] == high)
    assert sides.sum() == 100
    xj = jnp.asarray(x[sides], dtype=jnp.float32)
    normal = jnp.where(xj[:, 0:1] == low, -1.0, 0.0) + jnp.where(xj[:, 0:1] == high, 1.0, 0.0)
    normal_y = jnp.where(xj[:, 1:2] == low, -1.0, 0.0) + jnp.where(xj[:, 1:2] == high, 1.0, 0.0)

    def plane_wave(direction: float) -> PointwiseFn:
        def u(x_: jnp.ndarray) -> jnp.ndarray:  # a pulse travelling along the side's normal
            along = normal * x_[:, 0:1] + normal_y * x_[:, 1:2]
            return jnp.exp(-(((along - direction * x_[:, 2:3]) - 0.5) ** 2) / 0.02)
        return u

    outgoing = problem.residual(plane_wave(+1.0), xj)
    incoming = problem.residual(plane_wave(-1.0), xj)
    assert float(jnp.max(jnp.abs(outgoing))) < 1e-4 * float(jnp.max(jnp.abs(incoming)))


def test_absorbing_sides_on_the_scored_box_would_reflect_into_it() -> None:
    """Against the exact free-space solution (homogeneous medium, an outside reference): the first-order
    condition on the scored box's own sides costs nothing until the wave has crossed them, then its
    reflections dominate the error; the problem's margin keeps them out of the scored box."""
    problem = AcousticWave2D(frequency=2.0, velocity_model="homogeneous", test_cells=16)
    x = problem.test_points()
    exact = problem.amplitude * free_space_solution(
        x, velocity=1.0, centre=(0.5, 0.5), sigma=problem.source_sigma, source_time=lambda t: problem.source_time(t, np) / problem.amplitude
    )

    def error(pad: float, rows: np.ndarray) -> float:
        box = absorbing_box_solution(problem, x, cells=256, pad=pad)
        return float(np.linalg.norm(box[rows] - exact[rows]) / np.linalg.norm(exact[rows]))

    early, every = x[:, 2] <= 0.625, np.ones(len(x), dtype=bool)
    assert error(0.0, early) < 5e-4  # 2.2e-4 at 128 cells: the scheme's own error, no reflection yet
    on_the_box, with_margin = error(0.0, every), error(problem.margin, every)
    assert on_the_box > 4e-3 and with_margin < 5e-4, (on_the_box, with_margin)  # 5.4e-3 and 8.4e-4 at 128 cells
