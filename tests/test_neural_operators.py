"""The Burgers operator problem, the FNO solver and the coarse-grid classical side (issue 17)."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import silent

from parity.harness import Case, run_case
from parity.numerics import spectral
from parity.problems.burgers_operator_1d import SOURCE_MODES, BurgersOperator1D, initial_values, mode_std, resample
from parity.problems.inverse import Split
from parity.problems.operator_learning import OperatorData, instance_errors, trivial_baselines
from parity.solvers import Budget
from parity.solvers.neural_operators.deeponet import DeepONet
from parity.solvers.neural_operators.fno_solver import FNO
from parity.solvers.pde.coarse_grid import CoarseGrid

SMALL = {"resolution": 128, "n_train": 64, "n_validation": 16, "n_test": 32}


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))


def test_initial_values_have_the_stated_mode_variances() -> None:
    problem = BurgersOperator1D()
    weights = np.stack([problem.sample_source(np.random.default_rng(i)) for i in range(2000)])
    coefficients = np.fft.rfft(initial_values(weights, 64), axis=-1) / 64
    measured = np.mean(np.abs(coefficients[:, 1:6]) ** 2, axis=0)
    np.testing.assert_allclose(measured, mode_std(np.arange(1, 6)) ** 2, rtol=0.1)  # E|c_k|^2 = the covariance eigenvalue
    assert np.abs(coefficients[:, 0]).max() < 1e-12  # mean zero
    assert weights.shape[1:] == (2, SOURCE_MODES)


@pytest.mark.parametrize("nu", [0.1, 0.01])
def test_the_reference_is_converged_against_a_grid_twice_as_fine(nu: float) -> None:
    problem = BurgersOperator1D(nu=nu, resolution=256)
    sources = np.stack([problem.sample_source(np.random.default_rng([2, i])) for i in range(4)])
    _, outputs = problem.reference_solve(sources)
    finer = resample(spectral.burgers_1d_batch(initial_values(sources, 2 * problem.reference_resolution), nu, 1.0, 1.0, 0.5), 256)
    assert instance_errors(outputs[:, 0], finer).max() < 1e-7  # measured 4e-9 (nu = 0.1) and 2e-10 (nu = 0.01)


def test_splits_are_seeded_disjoint_and_prefixes_of_larger_ones() -> None:
    problem = BurgersOperator1D(**SMALL)
    train, test = problem.dataset("train"), problem.dataset("test")
    assert train.inputs.shape == (64, 1, 128) and test.outputs.shape == (32, 1, 128)
    flat_train, flat_test = train.inputs.reshape(64, -1), test.inputs.reshape(32, -1)
    assert np.min(np.linalg.norm(flat_train[:, None] - flat_test[None], axis=-1)) > 1e-3  # no test instance is a train one
    larger = BurgersOperator1D(**{**SMALL, "n_train": 80}).dataset("train")
    np.testing.assert_array_equal(larger.inputs[:64], train.inputs)
    assert np.all(train.solve_s > 0) and problem.data_seconds("train", "validation") == pytest.approx(train.solve_s.sum() + problem.dataset("validation").solve_s.sum())


def test_coarse_grid_errors_fall_with_resolution_and_reach_the_reference() -> None:
    problem = BurgersOperator1D(nu=0.01, **SMALL)
    result = CoarseGrid(resolutions=(16, 32, 64, 128, 256)).solve(problem, Budget(), 0, problem.evaluator(), silent)
    errors = [point.metrics["rel_l2"] for point in result.trace]
    assert errors == sorted(errors, reverse=True) and errors[0] > 1e-2 and errors[-1] < 1e-6
    assert all(point.wall_s > 0 for point in result.trace) and result.timings["compile_s"] > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Two seeds of a small FNO on 64 Burgers instances, run through the harness (records, as a sweep writes them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PARITY_CACHE_DIR", str(tmp_path_factory.mktemp("operator-data")))
        problem = BurgersOperator1D(**SMALL)
        solver = FNO(modes=12, width=24, checkpoint_every=100, super_resolutions=(256,))
        return [run_case(Case(problem, solver, seed, Budget(steps=400))) | {"baselines": trivial_baselines(problem)} for seed in (0, 1)]


@pytest.mark.slow
def test_a_trained_fno_beats_the_trivial_baselines_on_held_out_instances(trained: list[dict]) -> None:
    for record in trained:
        assert record["status"] == "ok"
        baselines = record["baselines"]
        assert record["rel_l2"] < 0.1 * min(baselines.values()), (record["rel_l2"], baselines)  # measured ~1e-2 against 0.5 and 1.0


def test_a_trained_deeponet_beats_the_trivial_baselines_on_held_out_instances() -> None:
    problem = BurgersOperator1D(**SMALL)
    baselines = trivial_baselines(problem)
    errors = [DeepONet(width=64, basis=64, checkpoint_every=200).solve(problem, Budget(steps=800), seed, problem.evaluator(), silent).trace[-1]
              for seed in (0, 1)]
    for checkpoint in errors:
        assert checkpoint.metrics["rel_l2"] < 0.2 * min(baselines.values()), (checkpoint.metrics["rel_l2"], baselines)  # measured ~0.1 against 1.2


@pytest.mark.slow
def test_the_data_generation_is_charged_to_the_surrogate(trained: list[dict]) -> None:
    problem = BurgersOperator1D(**SMALL)
    for record in trained:
        assert record["data_s"] > 0 and record["data_s"] == pytest.approx(problem.data_seconds("train", "validation"), rel=1e-9)
        assert record["instance_s"] > 0 and record["train_s"] > 0 and record["compile_s"] > 0


@pytest.mark.slow
def test_the_fno_evaluates_unchanged_on_a_finer_grid(trained: list[dict]) -> None:
    for record in trained:
        finer = record["info"]["super_resolution"]["256"]["rel_l2"]
        assert finer < 1.5 * record["rel_l2"] + 1e-3, (finer, record["rel_l2"])


def test_break_even_is_one_off_over_the_saving_against_the_cheapest_classical_resolution_at_the_same_accuracy() -> None:
    import pandas as pd

    from parity.report.operator_learning import learned_table

    common = {"problem": "p", "setting": "", "problem_kind": "operator"}
    runs = pd.DataFrame([
        {**common, "label": "coarse", "family": "classical", "record_id": "c", "seed": 0},
        {**common, "label": "fast surrogate", "family": "sciml", "record_id": "f", "seed": 0, "rel_l2": 5e-3, "instance_s": 5e-4,
         "data_s": 20.0, "setup_s": 1.0, "compile_s": 4.0, "train_s": 75.0},
        {**common, "label": "slow surrogate", "family": "sciml", "record_id": "s", "seed": 0, "rel_l2": 5e-2, "instance_s": 5e-3,
         "data_s": 20.0, "setup_s": 1.0, "compile_s": 4.0, "train_s": 75.0},
    ])
    curves = {"c": pd.DataFrame({"cost": [1e-3, 2e-3, 8e-3], "step": [16, 32, 64], "rel_l2": [1e-2, 1e-4, 1e-6]})}
    table = learned_table(runs, curves).set_index("label")
    fast, slow = table.loc["fast surrogate"], table.loc["slow surrogate"]
    assert fast["one_off_s"] == 100.0 and fast["classical_resolution"] == 32  # 16 points miss 5e-3
    assert fast["break_even"] == pytest.approx(100.0 / (2e-3 - 5e-4)) and fast["speedup"] == pytest.approx(4.0)
    assert slow["classical_resolution"] == 16 and slow["break_even"] == float("inf")  # 16 points reach 5e-2 faster than it predicts


@pytest.mark.slow
def test_a_report_of_an_operator_problem_sets_the_surrogate_against_the_classical_scheme(tmp_path: Path) -> None:
    from parity.harness import Store
    from parity.report.write import write_report

    store = Store(tmp_path / "store")
    problem = BurgersOperator1D(**SMALL)
    run_case(Case(problem, CoarseGrid(resolutions=(8, 16, 32)), 0), store)
    for seed in (0, 1):
        run_case(Case(problem, DeepONet(width=32, basis=32, checkpoint_every=200), seed, Budget(steps=400)), store)
    text = write_report(store, tmp_path / "report", title="operators").read_text()
    assert "## Surrogates: accuracy, cost and break-even" in text and "best surrogate (deeponet" in text
    # every resolution beats this barely trained DeepONet: the cheapest is named, whichever timing noise makes it
    assert re.search(r"reaches it at resolution (8|16|32) ", text) and "break-even (instances)" in text and "mean_field:" in text
    assert (tmp_path / "report" / "operator_cost_burgers_operator_1d.png").stat().st_size > 10_000


def test_the_autoregressive_fno_feeds_each_predicted_frame_back_into_its_window() -> None:
    import jax
    import jax.numpy as jnp

    from parity.solvers.neural_operators.fno import FourierNeuralOperator
    from parity.solvers.neural_operators.fno_solver import Autoregressive

    step = FourierNeuralOperator(3, 1, (4, 4), 8, 2, 16, key=jax.random.key(0))
    window = jax.random.normal(jax.random.key(1), (3, 16, 16))
    frames = Autoregressive(step, 4)(window)
    assert frames.shape == (4, 16, 16)
    first = step(window)
    second = step(jnp.concatenate([window[1:], first]))
    np.testing.assert_allclose(frames[0], first[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(frames[1], second[0], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_solving_the_data_is_charged_as_data_not_as_set_up(trained: list[dict]) -> None:
    """A split solved in the run (here made 3 s slower) shows in data_s alone; set-up starts once the data is there."""
    @dataclasses.dataclass(frozen=True)
    class SlowToSolve(BurgersOperator1D):
        def dataset(self, split: Split) -> OperatorData:
            time.sleep(3.0)
            return super().dataset(split)

    problem = SlowToSolve(**SMALL)
    result = FNO(modes=12, width=24).solve(problem, Budget(steps=1), 0, problem.evaluator(), silent)  # the network as `trained`'s: compiled there
    assert result.timings["setup_s"] < 3.0, result.timings
