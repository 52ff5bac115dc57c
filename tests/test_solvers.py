"""Every solver against the analytic solution, on held-out test points."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import silent

from parity.problems import MultiScale1D
from parity.solvers import FBPINN, PINN, Budget, Chebyshev, Evaluator, RungeKuttaODE, SolveResult
from parity.solvers.physics_informed.pinn import input_features as pinn_input_features


def rel_l2_at(result: SolveResult, step: int) -> float:
    return next(c.metrics["rel_l2"] for c in result.trace if c.step == step)


@pytest.mark.parametrize("omega2", [15.0, 60.0])
def test_chebyshev_converges_spectrally(omega2: float) -> None:
    problem = MultiScale1D(omega2=omega2)
    x = problem.test_points()
    result = Chebyshev().solve(problem, Budget(), 0, Evaluator(x, problem.reference(x)), silent)
    errors = [c.metrics["rel_l2"] for c in result.trace]
    assert result.status == "ok" and result.trace_kind == "refinement"
    assert errors[-1] <= 1e-6
    assert errors[0] > 1e-1  # the coarsest degree cannot resolve w2
    wavelengths = 2 * omega2 * problem.half_width / (2 * np.pi)
    resolved = [c.metrics["rel_l2"] for c in result.trace if c.step >= 1.3 * np.pi * wavelengths]
    assert max(resolved) < 1e-9  # exponential convergence past ~pi points per wavelength
    np.testing.assert_allclose(result.predict(x), problem.reference(x), atol=1e-9)


def test_runge_kutta_reaches_tolerance_order_accuracy(problem: MultiScale1D, evaluator: Evaluator) -> None:
    result = RungeKuttaODE().solve(problem, Budget(), 0, evaluator, silent)
    errors = [c.metrics["rel_l2"] for c in result.trace]
    assert errors[-1] <= 1e-6
    assert errors[-1] < errors[0] * 1e-6  # a tolerance sweep is a real refinement curve
    costs = [c.step for c in result.trace]
    assert costs == sorted(costs)  # tighter tolerance, more right-hand-side evaluations


@pytest.fixture(scope="module")
def fbpinn_runs() -> list[SolveResult]:
    problem = MultiScale1D()
    x = problem.test_points()
    evaluator = Evaluator(x, problem.reference(x))
    return [FBPINN().solve(problem, Budget(steps=5000), seed, evaluator, silent) for seed in (0, 1, 2)]


@pytest.mark.slow
def test_fbpinn_reaches_one_percent_in_the_median_and_no_seed_fails(fbpinn_runs: list[SolveResult]) -> None:
    """Measured on a 2-core x86: 4.6e-3, 3.7e-3 and 8.0e-4 for seeds 0-2; the claims leave 2.5x and 5x margins."""
    for result in fbpinn_runs:
        assert result.status == "ok"
        assert result.info["steps"] == 5000 and result.info["n_subdomains"] == 30
        assert result.timings["compile_s"] > 0 and result.timings["train_s"] > 0
    errors = [result.trace[-1].metrics["rel_l2"] for result in fbpinn_runs]
    assert np.median(errors) <= 1e-2 and max(errors) <= 2.5e-2, errors


@pytest.mark.slow
def test_fbpinn_beats_pinn_at_equal_steps(fbpinn_runs: list[SolveResult], problem: MultiScale1D, evaluator: Evaluator) -> None:
    pinn = PINN(width=64, depth=4).solve(problem, Budget(steps=2000), 0, evaluator, silent)
    fbpinn_errors = [rel_l2_at(r, 2000) for r in fbpinn_runs]
    pinn_error = pinn.trace[-1].metrics["rel_l2"]
    assert pinn_error > 0.3  # spectral bias: a global PINN barely starts on w2 = 15
    assert max(fbpinn_errors) < pinn_error / 3


@pytest.mark.slow
def test_multilevel_fbpinn_beats_one_level_at_equal_steps(fbpinn_runs: list[SolveResult], problem: MultiScale1D, evaluator: Evaluator) -> None:
    """Seeds 0-2 at 1000 steps, measured on a 2-core x86: multilevel 1.8e-2, 1.8e-2, 2.7e-2; one level 0.185, 0.115, 0.160.

    The medians differ 8.7x; the claim asks for 4x (seeds 3-4 too give no pair closer than 4.3x),
    and the multilevel seeds stay 2x under 5e-2. A multilevel FBPINN whose coarse levels did
    nothing would train like the one-level one. The learning-rate schedule does not depend on
    the budget, so a 1000-step run is the 5000-step runs' first 1000 steps.
    """
    multilevel = [FBPINN(levels=(1, 2, 4, 8, 16, 32)).solve(problem, Budget(steps=1000), seed, evaluator, silent) for seed in (0, 1, 2)]
    assert all(result.info["n_subdomains"] == 63 for result in multilevel)
    multilevel_errors = [result.trace[-1].metrics["rel_l2"] for result in multilevel]
    one_level_errors = [rel_l2_at(result, 1000) for result in fbpinn_runs]
    assert max(multilevel_errors) < 5e-2, multilevel_errors
    assert np.median(multilevel_errors) < np.median(one_level_errors) / 4, (multilevel_errors, one_level_errors)


@dataclasses.dataclass(frozen=True)
class PoisonedProblem(MultiScale1D):
    """A residual that turns non-finite: training must stop with status 'diverged'."""

    name: ClassVar[str] = "poisoned"

    def residual(self, u, x):  # type: ignore[no-untyped-def]
        return super().residual(u, x) * jnp.nan


def test_divergence_is_a_status_not_an_exception() -> None:
    problem = PoisonedProblem()
    x = problem.test_points()
    result = FBPINN(steps_per_dispatch=10).solve(problem, Budget(steps=50), 0, Evaluator(x, problem.reference(x)), silent)
    assert result.status == "diverged"
    assert "non-finite loss" in result.message
    assert result.info["steps"] == 0 and len(result.trace) == 1  # the initial checkpoint is kept



def test_lbfgs_finisher_takes_over_and_lowers_the_loss_further_than_adam(problem: MultiScale1D, evaluator: Evaluator) -> None:
    """Raissi et al.'s schedule: Adam, then L-BFGS from Adam's parameters, at equal step counts."""
    config = {"width": 32, "depth": 2, "n_collocation": 500, "steps_per_dispatch": 50}
    adam = PINN(**config).solve(MultiScale1D(omega2=2.0), Budget(steps=600), 0, evaluator, silent)
    finished = PINN(**config, lbfgs_fraction=0.5).solve(MultiScale1D(omega2=2.0), Budget(steps=600), 0, evaluator, silent)
    assert [c.step for c in finished.trace] == [c.step for c in adam.trace]  # chunks stop exactly at the switch
    switch = next(i for i, c in enumerate(finished.trace) if c.step == 300)
    assert [c.loss for c in finished.trace[1:switch + 1]] == pytest.approx([c.loss for c in adam.trace[1:switch + 1]], rel=1e-4)
    assert finished.status == "ok" and finished.trace[-1].loss < 0.1 * adam.trace[-1].loss


def test_pinn_inputs_on_a_periodic_axis_give_a_periodic_network() -> None:
    @dataclasses.dataclass(frozen=True)
    class Ring(MultiScale1D):
        periods: ClassVar[tuple[float | None, ...]] = (2.0,)

    problem = Ring()
    model = PINN(width=8, depth=2).network(problem, seed=3)
    x = jnp.linspace(-1.0, 1.0, 7)[:, None]
    raw = model(pinn_input_features(problem, x)[None])[0]
    shifted = model(pinn_input_features(problem, x + 2.0)[None])[0]
    np.testing.assert_allclose(shifted, raw, atol=1e-5)
    assert float(jnp.std(raw)) > 1e-3  # not trivially constant
    assert not FBPINN.supports(problem)  # its windows do not wrap around
