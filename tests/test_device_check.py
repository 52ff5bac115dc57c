"""The device check (``scripts/gpu-check``): its tiny CPU profile end to end, XLA's step count, and the report's arithmetic."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jax
import pytest

from parity.devices import flops
from parity.harness import device_check
from parity.problems import MultiScale1D
from parity.report.device_check import device_peaks, scaling_points, summary
from parity.solvers import PINN

ROOT = Path(__file__).resolve().parent.parent


def test_the_script_runs_every_solver_of_the_tiny_profile_and_reports_it(tmp_path: Path) -> None:
    """What a GPU machine runs, at toy sizes: a record per solver with its rates, plus a 2-device scaling point."""
    store, report = tmp_path / "store", tmp_path / "report"
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check"), "--profile", "tiny", "--devices", "2", "--quiet",
                           "--store", str(store), "--report", str(report)], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(path.read_text()) for path in sorted((store / "records").glob("*.json"))]
    expected = [row[0] for row in device_check.PROFILES["tiny"]]
    assert sorted(r["label"] for r in records) == sorted([*expected, f"{expected[device_check.SCALED['tiny']]}, 2 devices"])
    for record in records:
        assert record["status"] == "ok", record["message"]
        assert record["steps_per_s"] > 0 and record["info"]["flops_per_step"] > 0, record["label"]
    scaled = next(r for r in records if r["device_count"] == 2)
    single = next(r for r in records if r["label"] == expected[device_check.SCALED["tiny"]])
    assert scaled["devices_simulated"] and scaled["scaling"] == "strong"
    assert scaled["info"]["flops_per_step"] < 0.75 * single["info"]["flops_per_step"]  # each device computes its share
    text = (report / "index.md").read_text()
    assert all(f"| {label} | 1 |" in text for label in expected) and "## Strong scaling" in text
    verdict = json.loads((report / "verdict.json").read_text())
    assert len(verdict["verdicts"]) == len(records)


def test_a_fused_chunk_counts_one_step() -> None:
    """Training records a chunk of fused steps' FLOP count as one step's: XLA counts a scan body once."""
    problem = MultiScale1D(n_test=100)
    task = PINN(width=16, depth=2, n_collocation=128).training_task(problem, 0, problem.test_points()[:8], 1)
    one, chunk = flops(task.compile_steps(1)), flops(task.compile_steps(50))
    assert one is not None and chunk is not None
    assert chunk == pytest.approx(one, rel=0.02)


def test_achieved_flops_are_the_step_count_times_the_rate_against_the_matching_peak() -> None:
    record = {"label": "x", "status": "ok", "device_kind": "NVIDIA H100 PCIe", "steps_per_s": 2000.0, "info": {"flops_per_step": 5e9}}
    row = summary(record)
    assert row["tflops_per_device"] == pytest.approx(10.0)
    assert row["fp32_share"] == pytest.approx(10 / 51.2) and row["tf32_share"] == pytest.approx(10 / 378)
    assert device_peaks("NVIDIA H100 80GB HBM3") == (67e12, pytest.approx(494.7e12))
    assert device_peaks(jax.devices("cpu")[0].device_kind) == (None, None)
    assert summary({**record, "device_kind": "cpu"})["fp32_share"] is None


def test_strong_scaling_is_steps_per_second_against_the_one_device_row() -> None:
    rows = [summary({"label": "FBPINN", "status": "ok", "device_kind": "cpu", "steps_per_s": 100.0, "device_count": 1}),
            summary({"label": "FBPINN, 4 devices", "status": "ok", "device_kind": "cpu", "steps_per_s": 300.0, "device_count": 4})]
    (point,) = scaling_points(rows)
    assert point["speedup"] == pytest.approx(3.0) and point["efficiency"] == pytest.approx(0.75)


def test_an_unknown_profile_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown device-check profile 'huge'; allowed: gpu, tiny"):
        device_check.cases("huge", 1)


def test_every_profile_builds_its_cases_and_the_gpu_one_adds_the_scaling_point() -> None:
    """Knob names and values of both profiles are valid (a typo would only show on the GPU machine)."""
    assert len(device_check.cases("gpu", 8)) == len(device_check.PROFILES["gpu"]) + 1
    assert device_check.cases("gpu", 8)[-1].devices == 8
    assert len(device_check.cases("tiny", 1)) == len(device_check.PROFILES["tiny"])
