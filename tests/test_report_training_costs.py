"""The training-algorithms report: error on every cost axis, the modelled parallel time, adapted decompositions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from parity.harness.store import Store
from parity.problems import MultiScale1D
from parity.report import write_report
from parity.report.training_costs import SYNC_LATENCY_S, modelled_parallel_seconds, targets

SPG = 0.002
"""Seconds per whole-loss gradient: the median the records state (seeds 0 and 2 state it, seed 1 twice it: a noisy measurement)."""


def _record(
    key: str, label: str, seed: int, *, workers: int, decomposition: dict | None = None, adapt: int = 0, final: float, config: dict | None = None
) -> dict[str, Any]:
    minute = 10 * seed + hash(label) % 7
    return {
        "record_id": f"{key}-{seed}", "case_key": f"{key}-{seed}", "created_utc": f"2026-01-01T01:{minute:02d}:00+00:00",
        "problem": "multiscale_1d", "problem_params": {"omega2": 15.0}, "solver": "fbpinn", "family": "sciml", "label": label,
        "solver_config": {"adapt_rounds": adapt, **(config or {})}, "seed": seed, "budget_steps": 100, "status": "ok", "message": "",
        "trace_kind": "iterative", "rel_l2": final, "norm_l1": final, "max_abs": final,
        "setup_s": 0.1, "compile_s": 1.0, "train_s": 30.0, "solve_s": None, "eval_s": 0.1, "inference_s": 0.01, "total_s": 31.0,
        "steps": 100, "steps_per_s": 3.0, "versions": {"jax": "0.1"}, "git_commit": "abc", "host": "h", "cpu_count": 2,
        "device_kind": "cpu", "device_count": 1, "peak_rss_mb": 1.0, "python": "3.12.0",
        "info": {"costs": {"fine_gradients": 1.0}, "seconds_per_gradient": SPG * (1 + seed % 2), "parallel_workers": workers,
                 **({"decomposition": decomposition} if decomposition else {})},
    }


def _trace(errors: list[float], fine: list[float], syncs: list[float], critical: list[float]) -> pd.DataFrame:
    n = len(errors)
    return pd.DataFrame({"wall_s": np.arange(n, dtype=float) + 1.0, "step": np.arange(n), "loss": np.nan, "rel_l2": errors,
                         "norm_l1": errors, "max_abs": errors, "fine_gradients": fine, "global_evaluations": syncs,
                         "critical_local_gradients": critical})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Adam: 1e-2 after 1000 gradients (1000 syncs); Schwarz: 1e-2 after 1500 fine gradients but 100 syncs and 200 critical."""
    store = Store(tmp_path / "store")
    for seed in (0, 1, 2):
        adam = _record("adam", "FBPINN Adam", seed, workers=30, final=1e-3)
        store.append(adam, _trace([1.0, 1e-2, 1e-3], [0, 1000, 5000], [0, 1000, 5000], [0, 0, 0]).to_dict("records"))
        schwarz = _record("schwarz", "FBPINN Schwarz", seed, workers=30, final=5e-3)
        store.append(schwarz, _trace([1.0, 1e-2, 5e-3], [0, 1500, 3000], [0, 100, 200], [0, 200, 400]).to_dict("records"))
        adaptive = _record("adaptive", "FBPINN adaptive", seed, workers=36, adapt=1, final=2e-3, decomposition={
            "centres": [[-3.0], [1.0], [1.5], [4.0]], "half_widths": [[2.0], [0.5], [0.5], [2.0]]})
        store.append(adaptive, _trace([1.0, 2e-2, 2e-3], [0, 1000, 5000], [0, 1000, 5000], [0, 0, 0]).to_dict("records"))
        lower, upper = (float(b[0]) for b in MultiScale1D(omega2=15.0).bounds)  # 4 windows, the second's upper edge moved
        spacing = (upper - lower) / 4
        centres, half_widths = lower + (np.arange(4) + 0.5) * spacing, np.full(4, 0.95 * spacing)
        centres[1], half_widths[1] = centres[1] + 0.1 * spacing, half_widths[1] + 0.1 * spacing
        trained = _record("trained", "FBPINN trainable windows", seed, workers=4, final=3e-3, config={"window_motion": 0.5, "levels": [4], "overlap": 1.9},
                          decomposition={"centres": centres[:, None].tolist(), "half_widths": half_widths[:, None].tolist()})
        store.append(trained, _trace([1.0, 2e-2, 3e-3], [0, 1000, 5000], [0, 1000, 5000], [0, 0, 0]).to_dict("records"))
    return store


def test_the_report_gives_each_method_its_cost_to_a_target_on_every_axis(store: Store, tmp_path: Path) -> None:
    report = write_report(store, tmp_path / "out", title="training")
    text = report.read_text()
    assert "## Training algorithms on every cost axis" in text
    rows = {line.split(" | ")[1]: line.split(" | ") for line in text.splitlines() if line.startswith("| — | FBPINN")}
    adam, schwarz = rows["FBPINN Adam"], rows["FBPINN Schwarz"]
    # columns: setting, method, final, then to 1e-2: wall s, fine grads, syncs, modelled s
    assert adam[4:7] == ["1,000", "1,000", f"{(1000 / 36 + 0) * SPG + 1000 * SYNC_LATENCY_S:.3g}"]
    assert schwarz[4:7] == ["1,500", "100", f"{(100 / 36 + 200) * SPG + 100 * SYNC_LATENCY_S:.3g}"]  # P = 36, the setting's most workers
    assert "not reached (0/3)" in schwarz[7]  # 1e-3: never
    assert "FBPINN Adam (1.00e-03)" in text  # the best training algorithm of the setting
    assert (tmp_path / "out" / "error_vs_costs_multiscale_1d_1.png").exists()


def test_an_adapted_decomposition_is_drawn_over_the_solution(store: Store, tmp_path: Path) -> None:
    report = write_report(store, tmp_path / "out", title="training")
    assert (tmp_path / "out" / "decomposition_multiscale_1d_1.png").exists()
    assert "the adapted decomposition (median seed) over the reference solution" in report.read_text()


def test_trained_windows_are_drawn_beside_the_regular_ones(store: Store, tmp_path: Path) -> None:
    report = write_report(store, tmp_path / "out", title="training")
    assert (tmp_path / "out" / "decomposition_multiscale_1d_2.png").exists()
    assert "the trained windows (median seed) over the reference solution" in report.read_text()


def test_the_parallel_time_model_splits_global_work_and_adds_the_critical_path_and_latency() -> None:
    modelled = modelled_parallel_seconds(np.array([10.0]), np.array([3.0]), 0.5, 5, latency_s=0.01)[0]
    assert modelled == pytest.approx((10 / 5 + 3) * 0.5 + 10 * 0.01)
    with pytest.raises(ValueError, match="workers = 0 is not allowed"):
        modelled_parallel_seconds(np.array([1.0]), np.array([0.0]), 0.5, 0)


@pytest.mark.parametrize(("best", "expected"), [(5e-2, (1e-1,)), (2e-3, (1e-1, 1e-2)), (1e-4, (1e-2, 1e-3)), (0.7, (1e-1,))])
def test_the_cost_targets_are_the_lowest_two_the_best_method_reaches(best: float, expected: tuple[float, ...]) -> None:
    """The best method's median seed decides (here 'b', whose seeds end at best/2, best and 10 best)."""
    runs = pd.DataFrame({"setting": "", "label": ["a"] * 3 + ["b"] * 3, "rel_l2": [0.9, 0.9, 0.9, best / 2, best, 10 * best]})
    assert targets(runs) == expected
