"""The comparison report: honest costs, medians over seeds, and the files it writes."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from parity.harness.store import Store, load_records
from parity.report import write_index, write_report
from parity.report.analysis import cost_curve, select_runs, time_to_accuracy, time_to_accuracy_table
from parity.report.index import read_entries as index_entries
from parity.report.text import finite

_ERRORS = ("rel_l2", "norm_l1", "max_abs")


def _trace(wall: list[float], rel_l2: list[float], steps: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "wall_s": wall, "step": steps if steps is not None else [100 * i for i in range(len(wall))],
        "loss": [float("nan")] * len(wall), "rel_l2": rel_l2, "norm_l1": rel_l2, "max_abs": rel_l2,
    })


_STARTS = itertools.count()
"""Records start a minute apart, one after another as a sweep runs them (their 9 s never overlap)."""


def _record(case_key: str, *, label: str, seed: int = 0, omega2: float = 1.0, status: str = "ok", message: str = "",
            classical: bool = False, setup_s: float = 1.0, compile_s: float = 2.0, final: float = 1e-3,
            created: str | None = None) -> dict[str, Any]:
    minute = next(_STARTS) % 1440
    created = created or f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00+00:00"
    return {
        "record_id": f"{case_key}-{created[:10]}", "case_key": case_key, "created_utc": created,
        "problem": "toy", "problem_params": {"omega1": 1.0, "omega2": omega2},
        "solver": "cheb" if classical else "pinn", "family": "classical" if classical else "sciml", "label": label,
        "solver_config": {"width": 8}, "seed": seed, "budget_steps": 0 if classical else 1000,
        "status": status, "message": message, "trace_kind": "refinement" if classical else "iterative",
        **{name: final for name in _ERRORS},
        "setup_s": 0.0 if classical else setup_s, "compile_s": None if classical else compile_s,
        "train_s": None if classical else 5.0, "solve_s": 0.004 if classical else None, "eval_s": None,
        "inference_s": 0.001, "total_s": 9.0, "steps": None if classical else 400, "steps_per_s": None if classical else 80.0,
        "info": {} if classical else {"n_params": 321}, "versions": {"jax": "0.1", "numpy": "2.0"},
        "git_commit": "abc123", "host": "testhost", "cpu_count": 4, "device_kind": "cpu", "device_count": 1,
        "peak_rss_mb": 100.0, "python": "3.12.0",
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Three PINN seeds per omega2 reaching 1e-2 at training 3, 7 and 27 s (cost 6, 10, 30 s); one Chebyshev run each."""
    store = Store(tmp_path / "store")
    for omega2 in (1.0, 4.0):
        for seed, reach in enumerate((3.0, 7.0, 27.0)):
            trace = _trace([0.0, 1.0, reach, 40.0], [1.0, 0.5, 0.009, 0.0008])
            store.append(_record(f"p{omega2:g}-{seed}", label="pinn", seed=seed, omega2=omega2, final=0.0008), trace)
        cheb = _trace([0.001, 0.002, 0.004], [0.5, 0.05, 1e-12], steps=[8, 16, 32])
        store.append(_record(f"c{omega2:g}", label="cheb", omega2=omega2, classical=True, final=1e-12), cheb)
    # A superseded attempt: the later record of the same case must win.
    store.append(_record("d", label="pinn", seed=9, omega2=4.0, status="error", message="RuntimeError: boom\ntraceback"), None)
    store.append(_record("d", label="pinn", seed=9, omega2=4.0, status="diverged", message="non-finite loss\nmore",
                         final=float("nan"), created="2026-01-02T00:00:00+00:00"), _trace([0.0, 1.0], [1.0, 0.9]))
    return store


def test_time_to_accuracy_includes_setup_and_compile() -> None:
    run = {"trace_kind": "iterative", "setup_s": 1.0, "compile_s": 2.0}
    curve = cost_curve(run, _trace([0.0, 1.0, 3.0, 5.0], [1.0, 0.5, 0.009, 0.02]))
    assert time_to_accuracy(curve, 1e-2) == pytest.approx(6.0)
    assert time_to_accuracy(curve, 1e-1) == pytest.approx(6.0)
    assert math.isnan(time_to_accuracy(curve, 1e-3))


def test_time_to_accuracy_refinement_picks_cheapest_resolution() -> None:
    run = {"trace_kind": "refinement", "setup_s": 0.0, "compile_s": float("nan")}
    curve = cost_curve(run, _trace([0.001, 0.004, 0.002], [0.1, 1e-4, 1e-3], steps=[8, 32, 16]))
    assert time_to_accuracy(curve, 1e-2) == pytest.approx(0.002)
    assert time_to_accuracy(curve, 1e-3) == pytest.approx(0.002)
    assert time_to_accuracy(curve, 1e-4) == pytest.approx(0.004)


def test_time_to_accuracy_table_uses_median_over_seeds(store: Store) -> None:
    runs = select_runs(load_records(store.root), problem="toy")
    curves = {r["record_id"]: cost_curve(r, store.trace(r)) for _, r in runs.iterrows()}
    table = time_to_accuracy_table(runs, curves, thresholds=(1e-2, 1e-4)).set_index(["setting", "label", "eps"])
    pinn = table.loc[("omega2=1", "pinn", 1e-2)]
    assert pinn["median_s"] == pytest.approx(10.0)  # median of 6, 10, 30: not the best seed (6), not the mean
    assert (pinn["reached"], pinn["n"]) == (3, 3)
    diverged_group = table.loc[("omega2=4", "pinn", 1e-2)]
    # the diverged fourth seed never got there and counts as infinitely slow: median of 6, 10, 30, inf
    assert (diverged_group["median_s"], diverged_group["reached"], diverged_group["n"]) == (pytest.approx(20.0), 3, 4)
    assert table.loc[("omega2=1", "pinn", 1e-4), "reached"] == 0
    assert table.loc[("omega2=1", "cheb", 1e-2), "median_s"] == pytest.approx(0.004)


def test_write_report_files_and_tables(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "toy"
    index = write_report(store, out, title="toy report", description="A synthetic store.")
    assert index == out / "index.md"
    for name in ("index.md", "index.html", "error_vs_time_toy_1.png", "error_vs_scale_toy.png", "error_vs_steps_toy_1.png"):
        assert (out / name).stat().st_size > 0, name
    text = index.read_text()
    assert "13 records" not in text and "9 records" in text  # the superseded attempt is not counted
    assert "| parameters | label | ε = 1e-01 | ε = 1e-02 | ε = 1e-03 |" in text
    assert "| omega2=1 | pinn | 10 s (3/3) | 10 s (3/3) | 43 s (3/3) |" in text
    assert "| omega2=4 | pinn | 20 s (3/4) | 20 s (3/4) | 43 s (3/4) |" in text  # the miss counts as never
    assert "| omega2=1 | cheb | 0.002 s (1/1) | 0.004 s (1/1) | 0.004 s (1/1) |" in text
    assert "fixed omega1=1" in text
    assert "3 ok, 1 diverged" in text
    assert "non-finite loss" in text and "boom" not in text and "more" not in text.split("## Failures")[1].split("##")[0]
    assert "](error_vs_time_toy_1.png)" in text
    page = (out / "index.html").read_text()
    assert "<title>toy report</title>" in page and "<table>" in page and 'src="error_vs_scale_toy.png"' in page


def test_problem_specific_metrics_get_their_own_table(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    for seed, score in enumerate((0.1, 0.3, 0.2)):
        store.append({**_record(f"s{seed}", label="pinn", seed=seed), "metrics": {"spectrum_error": score}}, _trace([0.0, 1.0], [1.0, 0.1]))
    text = write_report(store, tmp_path / "r").read_text()
    section = text.split("## Problem-specific metrics")[1].split("## Plots")[0]
    assert "| label | spectrum_error |" in section and "| pinn | 2.00e-01 [1.00e-01–3.00e-01] |" in section
    plain = write_report(store, tmp_path / "r2", case_keys={"s0"})
    assert "Problem-specific" in plain.read_text()
    store.append(_record("q", label="pinn", seed=5), _trace([0.0, 1.0], [1.0, 0.1]))
    assert "Problem-specific" not in write_report(store, tmp_path / "r3", case_keys={"q"}).read_text()


def test_write_report_restricts_to_case_keys(store: Store, tmp_path: Path) -> None:
    text = write_report(store, tmp_path / "r", case_keys={"c1", "c4"}).read_text()
    assert "2 records" in text and "| omega2=4 | cheb |" in text and "pinn" not in text


def test_write_report_raises_when_nothing_matches(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no records match"):
        write_report(store, tmp_path / "r", problem="nonexistent")
    with pytest.raises(ValueError, match="no records match"):
        write_report(Store(tmp_path / "empty"), tmp_path / "r")


def test_two_dimensional_solutions_are_stored_and_pictured(tmp_path: Path) -> None:
    from parity.harness import Case, run_case
    from parity.problems import Helmholtz2D
    from parity.solvers.pde.fem_poisson import FEMPoisson

    store = Store(tmp_path / "store")
    problem = Helmholtz2D(n_test=500)
    for degree in (1, 2):
        record = run_case(Case(problem, FEMPoisson(degree=degree, resolutions=(8, 32)), label=f"P{degree}"), store)
        field = store.field(record)
        snapshot = problem.snapshot()
        assert field is not None and snapshot is not None and field.shape == snapshot.shape == (129, 129)
        truth = problem.reference(snapshot.points).reshape(snapshot.shape)
        assert np.linalg.norm(field - truth) / np.linalg.norm(truth) == pytest.approx(record["rel_l2"], rel=0.5)
    index = write_report(store, tmp_path / "report", title="pictures")
    assert (tmp_path / "report" / "snapshot_helmholtz_2d_1.png").stat().st_size > 10_000
    assert "snapshot_helmholtz_2d_1.png" in index.read_text()


def _reconstruction_runs(rows: list[tuple[str, str, float, float, float, float]]) -> pd.DataFrame:
    """(label, family, psnr, one-off seconds, per-image seconds, angles) rows as selected runs of an inverse problem."""
    frame = pd.DataFrame([{
        "record_id": f"r{i}", "case_key": f"k{i}", "created_utc": "2026-01-01T00:00:00+00:00", "problem": "ct",
        "problem_kind": "inverse", "problem_params.angles": angles, "solver": label, "family": family, "label": label,
        "seed": 0, "status": "ok", "setup_s": 0.0, "compile_s": 0.0, "train_s": one_off, "reconstruction_s": per_image,
        "metrics.psnr": psnr, "metrics.ssim": 0.9, "metrics.nmse": 0.01,
    } for i, (label, family, psnr, one_off, per_image, angles) in enumerate(rows)])
    frame["created_utc"] = pd.to_datetime(frame["created_utc"])
    return select_runs(frame)


def test_break_even_is_against_the_best_classical_method_per_setting() -> None:
    from parity.report.analysis import reconstruction_table

    runs = _reconstruction_runs([
        ("FBP", "classical", 29.0, 1.0, 0.001, 30), ("TV", "classical", 31.0, 10.0, 0.5, 30),
        ("LGD", "sciml", 32.0, 100.0, 0.01, 30), ("slow net", "sciml", 33.0, 100.0, 0.6, 30),
        ("FBP", "classical", 25.0, 1.0, 0.001, 10), ("LGD", "sciml", 27.0, 50.0, 0.01, 10),
    ])
    table = reconstruction_table(runs).set_index(["setting", "label"])
    assert table.loc[("angles=30", "LGD"), "versus"] == "TV"
    assert table.loc[("angles=30", "LGD"), "break_even"] == pytest.approx((100.0 - 10.0) / (0.5 - 0.01))
    assert math.isinf(table.loc[("angles=30", "slow net"), "break_even"])  # slower per image than TV: never repaid
    assert table.loc[("angles=10", "LGD"), "versus"] == "FBP"
    assert math.isinf(table.loc[("angles=10", "LGD"), "break_even"])  # FBP is faster per image


def test_velocity_fields_break_even_against_the_classical_method_with_the_lowest_error() -> None:
    """FWI-like records (a data misfit among their metrics) rank by rel L2, lowest first, not by PSNR."""
    from parity.report.analysis import FIELD_QUALITY, reconstruction_quality, reconstruction_table

    rows = [("start", "classical", 0.164, 30.0, 0.0, 0.0), ("FWI", "classical", 0.142, 10.0, 4.0, 30.0),
            ("learned", "sciml", 0.153, 5.0, 700.0, 4.0)]
    frame = pd.DataFrame([{
        "record_id": f"r{i}", "case_key": f"k{i}", "created_utc": "2026-01-01T00:00:00+00:00", "problem": "fwi",
        "problem_kind": "inverse", "problem_params.shots": 5, "solver": label, "family": family, "label": label,
        "seed": 0, "status": "ok", "setup_s": 0.0, "compile_s": 0.0, "train_s": one_off, "reconstruction_s": per_model,
        "rel_l2": rel_l2, "metrics.psnr": psnr, "metrics.ssim": 0.6, "metrics.mae": 0.3, "metrics.data_misfit": 0.1,
    } for i, (label, family, rel_l2, psnr, one_off, per_model) in enumerate(rows)])
    frame["created_utc"] = pd.to_datetime(frame["created_utc"])
    runs = select_runs(frame)
    assert reconstruction_quality(runs) == FIELD_QUALITY
    table = reconstruction_table(runs).set_index("label")
    assert table.loc["learned", "versus"] == "FWI"  # the starting model has the higher PSNR here, but the larger error
    assert table.loc["learned", "break_even"] == pytest.approx((700.0 - 4.0) / (30.0 - 4.0))


def _scaling_record(case_key: str, *, label: str, count: int, seconds: float, scaling: str = "strong", seed: int = 0,
                    classical: bool = False, device_kind: str = "cpu", simulated: bool = False, n_collocation: int = 1000,
                    comm: float | None = None, status: str = "ok") -> dict[str, Any]:
    record = _record(case_key, label=label, seed=seed, classical=classical, status=status)
    record.update(problem_params={"omega1": 1.0, "omega2": 1.0, "n_collocation": n_collocation}, scaling=scaling,
                  device_count=count, device_kind=device_kind, devices_simulated=simulated, backend="cpu" if "cpu" in device_kind else "gpu",
                  process_count=1, cpu_count=4)
    if classical:
        record["solve_s"] = seconds
    else:
        record.update(train_s=seconds, info={"n_params": 321, **({"comm_bytes_per_step": comm} if comm is not None else {})})
    return record


@pytest.fixture
def scaling_store(tmp_path: Path) -> Store:
    """A strong series on simulated CPU devices, a strong MPI series (8 ranks on 4 cores), and a weak GPU series from 2 GPUs."""
    store = Store(tmp_path / "store")
    iterative = _trace([0.0, 1.0, 2.0], [1.0, 0.1, 0.01])
    for count, times in ((1, (10.0, 12.0, 11.0)), (2, (8.0, 9.0, 10.0)), (4, (7.0, 7.0, 7.0))):
        for seed, seconds in enumerate(times):
            store.append(_scaling_record(f"sim{count}-{seed}", label="pinn dp", count=count, seconds=seconds, seed=seed,
                                         simulated=count > 1, comm=None if count == 1 else 2048.0 * count), iterative)
    refinement = _trace([0.001, 0.002], [0.1, 0.001], steps=[8, 16])
    for count, seconds in ((1, 8.0), (2, 4.0), (4, 2.5), (8, 2.0)):
        store.append(_scaling_record(f"mpi{count}", label="fem mpi", count=count, seconds=seconds, classical=True,
                                     device_kind="cpu (MPI ranks)"), refinement)
    for count, times in ((2, (4.0, 5.0, 6.0)), (4, (5.0, 5.5, 7.0)), (8, (6.25,))):
        for seed, seconds in enumerate(times):
            store.append(_scaling_record(f"weak{count}-{seed}", label="fbpinn weak", count=count, seconds=seconds, seed=seed,
                                         scaling="weak", device_kind="NVIDIA H200", n_collocation=1000 * count, comm=1.5e6), iterative)
    store.append(_scaling_record("weak8-9", label="fbpinn weak", count=8, seconds=99.0, seed=9, scaling="weak",
                                 device_kind="NVIDIA H200", n_collocation=8000, status="error"), None)
    return store


def test_scaling_table_speed_ups_and_efficiencies(scaling_store: Store) -> None:
    from parity.report.analysis import scaling_table

    table = scaling_table(select_runs(load_records(scaling_store.root))).set_index(["label", "device_count"])
    mpi = table.loc["fem mpi"]
    assert list(mpi["speedup"]) == pytest.approx([1.0, 2.0, 3.2, 4.0])
    assert list(mpi["efficiency"]) == pytest.approx([1.0, 1.0, 0.8, 0.5])  # speed-up / N
    assert list(mpi["ideal_time_s"]) == pytest.approx([8.0, 4.0, 2.0, 1.0])
    assert list(mpi["oversubscribed"]) == [False, False, False, True]
    assert not mpi["series_simulated"].any() and set(mpi["time_from"]) == {"solve_s"}

    simulated = table.loc["pinn dp"]
    assert list(simulated["time_s"]) == pytest.approx([11.0, 9.0, 7.0])  # median over seeds of train_s
    assert list(simulated["simulated"]) == [False, True, True] and simulated["series_simulated"].all()
    assert simulated[["speedup", "efficiency", "ideal_time_s", "ideal_speedup"]].isna().all().all()  # never a speed-up
    assert simulated.loc[4, "comm_bytes_per_step"] == pytest.approx(8192.0)

    weak = table.loc["fbpinn weak"]
    assert list(weak.index) == [2, 4, 8] and weak["setting"].eq("").all()  # one series although the setting grows with N
    assert list(weak["time_s"]) == pytest.approx([5.0, 5.5, 6.25])  # the failed seed at 8 GPUs is left out
    assert list(weak["efficiency"]) == pytest.approx([1.0, 5.0 / 5.5, 0.8])
    assert weak["speedup"].isna().all() and list(weak["ideal_time_s"]) == pytest.approx([5.0] * 3)
    assert weak.loc[2, "baseline_note"] == "baseline: smallest count 2 (no 1-device run)"
    assert list(weak["row_setting"]) == ["n_collocation=2000", "n_collocation=4000", "n_collocation=8000"]


def test_scaling_section_and_plots(scaling_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from parity.report import plots

    drawn: dict[str, list[Any]] = {}
    save = plots._save

    def spy(fig: Any, axes: list[Any], path: Path) -> None:
        drawn[path.name] = [(ax.get_title(), [(line.get_label(), line.get_linestyle(), list(line.get_xdata()), list(line.get_ydata()))
                                              for line in ax.get_lines()]) for ax in axes]
        save(fig, axes, path)

    monkeypatch.setattr(plots, "_save", spy)
    out = tmp_path / "report"
    text = write_report(scaling_store, out).read_text()
    final = text.split("## Final accuracy and cost")[1].split("## Scaling with device count")[0]
    assert "| n_collocation=1000 | pinn dp (4 devices) | 3 | 3 ok |" in final  # device counts never pool as seeds
    assert "| n_collocation=1000 | fem mpi (8 ranks) | 1 | 1 ok |" in final
    section = text.split("## Scaling with device count")[1].split("## Plots")[0]
    assert "`train_s`" in section and "`solve_s`" in section and "JIT compile excluded" in section
    assert "| strong: fem mpi @ n_collocation=1000 | 4 | cpu (MPI ranks) | 1 | 2.5 s | 3.20× | 80% | — | — |" in section
    assert "| strong: fem mpi @ n_collocation=1000 | 8 | cpu (MPI ranks) | 1 | 2 s | 4.00× | 50% | — | oversubscribed (8 ranks > 4 cores) |" in section
    simulated_rows = [line for line in section.splitlines() if line.startswith("| strong: pinn dp")]
    assert len(simulated_rows) == 3
    for line in simulated_rows:
        assert "simulated — not a speed-up" in line and "×" not in line and "%" not in line
    assert "| weak: fbpinn weak | 4 | NVIDIA H200 | 3 | 5.5 s | 0.91 | 91% | 1.5 MB |" in section
    assert "baseline: smallest count 2 (no 1-device run)" in section
    for name in ("scaling_strong_toy.png", "scaling_strong_toy_simulated.png", "scaling_weak_toy.png"):
        assert (out / name).stat().st_size > 0 and f"]({name})" in section, name
    assert "scaling_" not in text.split("## Plots")[1]  # the scaling figures sit in their own section only

    (_, time_lines), (_, speedup_lines) = drawn["scaling_strong_toy.png"]
    ideal_time = [line for line in time_lines if line[1] == "--"]
    assert len(ideal_time) == 1 and ideal_time[0][3] == pytest.approx([8.0, 4.0, 2.0, 1.0])  # T_base N_base / N
    ideal_speedup = [line for line in speedup_lines if line[0] == "ideal: N / N_base"]
    assert len(ideal_speedup) == 1 and ideal_speedup[0][1] == "--" and ideal_speedup[0][3] == pytest.approx(ideal_speedup[0][2])
    assert all("pinn dp" not in line[0] for line in time_lines + speedup_lines)  # simulated series kept apart

    [(title, lines)] = drawn["scaling_strong_toy_simulated.png"]
    assert "simulated CPU devices: correctness check, not a speed-up" in title.replace("\n", " ")
    assert [line[1] for line in lines] == ["-"] and "pinn dp" in lines[0][0]  # time only: no ideal line, no speed-up

    (_, weak_time), (_, efficiency) = drawn["scaling_weak_toy.png"]
    assert [line[3] for line in efficiency if line[0] == "ideal: 1"] == [[1.0, 1.0]]
    assert [line[3] for line in efficiency if "fbpinn weak" in line[0]][0] == pytest.approx([1.0, 5.0 / 5.5, 0.8])


def test_report_without_scaling_records_has_no_scaling_section(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "report"
    text = write_report(store, out).read_text()
    assert "Scaling with device count" not in text and not list(out.glob("scaling_*.png"))


def _damage(store: Store) -> dict[str, str]:
    """Four kinds of damage beside the good records; returns each file's name and the reason it must be skipped for."""
    records = store.records_dir
    (records / "truncated.json").write_text('{\n "record_id": "x",\n "case_key": "x",\n "status": "o')
    (records / "foreign.json").write_text("[1, 2, 3]")
    (records / "incomplete.json").write_text('{"record_id": "y", "case_key": "y", "status": "ok"}')
    orphan = store.append(_record("orphan", label="pinn", seed=5), _trace([0.0, 1.0], [1.0, 0.1]))
    (store.root / orphan["trace_path"]).unlink()
    return {"truncated.json": "not readable JSON", "foreign.json": "not a record object",
            "incomplete.json": "missing field(s) created_utc, problem, solver, seed", f"{orphan['record_id']}.json": "trace file"}


def test_a_damaged_store_is_reported_file_by_file_and_the_report_still_written(
        store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damaged = _damage(store)
    index = write_report(store, tmp_path / "r", title="toy report")
    assert "9 records" in index.read_text()  # exactly the good ones
    lines = [line for line in capsys.readouterr().err.splitlines() if "skipping damaged record" in line]
    assert len(lines) == len(damaged)
    for name, why in damaged.items():
        assert any(name in line and why in line for line in lines), (name, lines)


def test_a_store_with_nothing_usable_fails_naming_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.records_dir.mkdir(parents=True)
    (store.records_dir / "truncated.json").write_text('{"record_id": "x", "case')
    with pytest.raises(ValueError, match=r"cannot write report from store .*store.*0 records"):
        write_report(store, tmp_path / "r")


def _verdicts(report: Path) -> dict[str, dict[str, Any]]:
    """The report's verdict.json entries by setting."""
    import json

    return {v["setting"]: v for v in json.loads((report.parent / "verdict.json").read_text())["verdicts"]}


def _add_rivals(store: Store) -> None:
    """At omega2=1: a SciML method whose best seed (1e-6) beats the PINN's median (8e-4) but whose median (0.5) does
    not, and a classical method faster than Chebyshev to 1e-3 whose final error (1e-6) is worse than Chebyshev's."""
    for seed, final in enumerate((1e-6, 0.5, 0.6)):
        store.append(_record(f"lucky-{seed}", label="lucky", seed=seed, final=final), _trace([0.0, 1.0, 2.0], [1.0, 0.9, final]))
    store.append(_record("rk", label="rk", classical=True, final=1e-6), _trace([0.0001, 0.0002], [1e-3, 1e-6], steps=[8, 16]))


def test_verdict_sets_the_best_classical_against_the_best_sciml_method_by_median(store: Store, tmp_path: Path) -> None:
    _add_rivals(store)
    report = write_report(store, tmp_path / "reports" / "toy", title="toy report", description="A synthetic store.")
    verdict = _verdicts(report)["omega2=1"]
    assert verdict["classical"]["label"] == "cheb"  # lowest final error, although rk reaches 1e-3 sooner
    assert verdict["sciml"]["label"] == "pinn"  # median 8e-4, not the lucky method's best seed of 1e-6
    assert verdict["sciml"]["final_rel_l2"] == pytest.approx(8e-4)
    # PINN: median cost to 1e-2 of 6, 10, 30 s and to 1e-3 of 43 s (all seeds); Chebyshev 0.002 and 0.004 s
    assert verdict["classical"]["time_s"] == pytest.approx([0.002, 0.004, 0.004])
    assert verdict["sciml"]["time_s"] == pytest.approx([10.0, 10.0, 43.0])
    assert verdict["time_ratio"] == pytest.approx([5000.0, 2500.0, 10750.0])
    assert verdict["sciml"]["steps"] == 400 and verdict["sciml"]["train_s"] == pytest.approx(5.0)
    line = verdict["line"]
    assert line == ("toy omega2=1: cheb reaches 1e-3 in 0.004 s; best SciML (pinn) in 43 s (11,000× slower); "
                    "at 60 s, errors 1.00e-12 vs 8.00e-04.")  # 60 s: the first budget every run (longest 43 s) fits in
    text = report.read_text()
    head, verdict_section = text.split("## Verdict")
    assert "A synthetic store." in head and "## Time to accuracy" in verdict_section  # the verdict precedes the tables
    verdict_section = verdict_section.split("## Reconstruction")[0].split("## Time to accuracy")[0]
    assert f"- {line}" in verdict_section
    assert "| omega2=1 | SciML time / classical time |  | 5,000× | 2,500× | 11,000× |  |  |" in verdict_section
    assert "| omega2=1 | SciML: pinn | 8.00e-04 | 10 s | 10 s | 43 s | 400 | 5 s |" in verdict_section


def test_verdict_says_when_sciml_never_reached_a_threshold(store: Store, tmp_path: Path) -> None:
    _add_rivals(store)
    report = write_report(store, tmp_path / "r", case_keys={"c1", "lucky-0", "lucky-1", "lucky-2"})
    verdict = _verdicts(report)[""]
    assert verdict["headline_eps"] == 0.1 and verdict["line"].startswith(
        "toy: cheb reaches 1e-1 in 0.002 s; best SciML (lucky) never reaches 1e-1")
    assert "SciML never reached 1e-3" in report.read_text().split("## Time to accuracy")[0]


def test_side_by_side_seconds_are_flagged_in_the_verdict_line_and_no_ratio_drawn(store: Store, tmp_path: Path) -> None:
    for seed in range(3):
        record = json.loads(next(store.records_dir.glob(f"p1-{seed}-*.json")).read_text())
        store.append({**record, "record_id": f"p1-{seed}-again", "created_utc": f"2026-01-03T00:0{seed}:00+00:00", "concurrency": 2},
                     store.trace(record))
    report = write_report(store, tmp_path / "r")
    text = report.read_text()
    assert "3 records were measured with 2 cases running side by side; their seconds are not comparable with runs measured alone." in text
    shared, alone = _verdicts(report)["omega2=1"], _verdicts(report)["omega2=4"]
    assert not shared["alone"] and alone["alone"] and alone["side_by_side"] == ""
    assert "slower" not in shared["line"] and "at 60 s" not in shared["line"] and "slower" in alone["line"]
    assert shared["line"].endswith("; seconds measured side by side (pinn: 3 of 3 runs with up to 2 cases at once), "
                                   "so no time ratio or break-even is drawn from them.")
    assert all(r is None for r in shared["time_ratio"]) and all(r > 1000 for r in alone["time_ratio"])
    assert "withheld (seconds measured side by side)" in text.split("## Time to accuracy")[0]


def _timed(label: str, start: str, seconds: float, **fields: Any) -> dict[str, Any]:
    return {"record_id": f"{label}-{start}", "label": label, "family": "sciml", "created_utc": pd.Timestamp(start, tz="UTC"),
            "total_s": seconds, "host": "h", "store": "s", **fields}


def test_measured_alone_reads_placement_overlapping_runs_and_the_list_of_shared_periods() -> None:
    from parity.report.alone import SharedPeriod, measured_alone

    sequential = pd.DataFrame([_timed("a", "2026-01-01T00:00", 60.0), _timed("a", "2026-01-01T00:01", 60.0),
                               _timed("b", "2026-01-01T00:02", 60.0, family="classical")])
    assert measured_alone(sequential) == (True, "")  # one after another: each had the machine to itself
    overlapping = pd.concat([sequential, pd.DataFrame([_timed("b", "2026-01-01T00:03", 30.0, host="other")])], ignore_index=True)
    assert measured_alone(overlapping).alone  # the same minute on another host shares nothing
    late = sequential.assign(total_s=[60.0, 90.0, 60.0])  # the second run of a ends 30 s into b's
    assert measured_alone(late) == (False, "a: 1 of 2 runs overlap another run of this report in time; "
                                           "b: 1 of 1 runs overlap another run of this report in time")
    finished = late.assign(finished_utc=["2026-01-01T00:01:00+00:00", "2026-01-01T00:01:59+00:00", None])
    assert measured_alone(finished).alone  # the recorded finish time wins over total_s
    assert measured_alone(late[late["label"] == "a"], late).reason == "a: 1 of 2 runs overlap another run of this report in time"
    placed = sequential.assign(concurrency=[1, 2, None])
    assert measured_alone(placed) == (False, "a: 1 of 2 runs with up to 2 cases at once")
    period = SharedPeriod(("s",), "2026-01-01T00:01:30", "2026-01-01T00:05", "beside the tests (the README)", family="sciml")
    assert measured_alone(sequential, shared=(period,)) == (False, "a: 1 of 2 runs: beside the tests (the README)")  # b is classical
    assert measured_alone(sequential.assign(store="t"), shared=(period,)).alone  # another store
    assert measured_alone(sequential.drop(columns="store"), shared=(period,)).alone  # a store not named is not in the list


def test_the_committed_list_flags_the_ct_dival_timings_issue_27_names() -> None:
    """TV's 4.36 s per image and learned GD's training on dival's setting ran beside other work (the report says so)."""
    from parity.report.alone import measured_alone

    records = pd.DataFrame([
        _timed("TV (PDHG)", "2026-12-01T09:45:45", 2146.0, family="classical", store="ct_2d_dival"),
        _timed("learned GD", "2026-12-01T11:17:08", 1019.0, store="ct_2d_dival")])
    measured = measured_alone(records)
    assert not measured.alone and measured.reason.startswith("TV (PDHG): 1 of 1 runs: the Darcy operator sweep")
    assert "learned GD: 1 of 1 runs: the learned cases shared the CPU" in measured.reason
    rerun = records.assign(created_utc=pd.Timestamp("2026-12-07T09:00", tz="UTC") + pd.to_timedelta([0, 3000], unit="s"))
    assert measured_alone(rerun).alone  # rerun alone, one after the other, later


def test_a_modelling_gap_gets_its_own_floor_row_beside_the_verdict(store: Store, tmp_path: Path) -> None:
    for seed in range(3):
        record = json.loads(next(store.records_dir.glob(f"p1-{seed}-*.json")).read_text())
        gap = {"rel_l2": (0.04, 0.042, 0.05)[seed], "what": "smoothed lid against Ghia's lid"}
        store.append({**record, "record_id": f"p1-{seed}-gap", "created_utc": f"2026-01-03T00:0{seed}:00+00:00",
                      "info": {**record["info"], "modelling_gap": gap}}, store.trace(record))
    reports = tmp_path / "reports"
    report = write_report(store, reports / "toy")
    row = "floor: smoothed lid against Ghia's lid, rel L2 4.20e-02 (pinn)"  # the median over seeds
    verdicts = _verdicts(report)
    assert verdicts["omega2=1"]["floors"] == [row] and verdicts["omega2=4"]["floors"] == []
    assert f"- {verdicts['omega2=1']['line']}\n  - {row}\n" in report.read_text()
    write_index(reports)
    index = (reports / "index.md").read_text()
    assert f"- {verdicts['omega2=1']['line']}\n  - {row}\n" in index and "final 8.00e-04, floor 4.20e-02" in index


def _board_store(tmp_path: Path) -> Store:
    """Three settings of one problem: SciML 20x slower to 1e-3 (omega2=1), 7x faster (omega2=2, the classical method
    slow), and never below 0.5 (omega2=3); and omega2=2 again measured side by side in a second store."""
    store = Store(tmp_path / "store")
    for omega2, wall, final in ((1.0, [0.0, 1.0, 2.0, 5.0], 8e-4), (2.0, [0.0, 1.0, 2.0, 4.0], 8e-4), (3.0, [0.0, 1.0, 2.0, 3.0], 0.5)):
        for seed in range(3):
            errors = [1.0, 0.05, 0.005, final] if final < 0.1 else [1.0, 0.9, 0.7, final]
            store.append(_record(f"p{omega2:g}-{seed}", label="pinn", seed=seed, omega2=omega2, final=final), _trace(wall, errors))
        walls = [0.05, 0.1, 0.4] if omega2 != 2.0 else [5.0, 20.0, 49.0]
        store.append(_record(f"c{omega2:g}", label="cheb", omega2=omega2, classical=True, final=1e-6),
                     _trace(walls, [0.05, 0.005, 1e-6], steps=[8, 16, 32]))
    return store


def test_scoreboard_has_one_row_per_setting_from_the_verdicts_and_a_figure(tmp_path: Path) -> None:
    from parity.report import scoreboard

    store, reports = _board_store(tmp_path), tmp_path / "reports"
    write_report(store, reports / "toy")
    shared = Store(tmp_path / "shared")
    for path in store.records_dir.glob("*.json"):
        record = json.loads(path.read_text())
        if record["problem_params"]["omega2"] == 2.0:
            shared.append({**record, "concurrency": 2}, store.trace(record))
    write_report(shared, reports / "shared")
    write_index(reports)
    entries = index_entries(reports)
    board, left_out = scoreboard.rows(entries, "index.md")
    assert [(row["report"], row["setting"]) for row in board] == [
        ("shared", ""), ("toy", "omega2=1"), ("toy", "omega2=2"), ("toy", "omega2=3")]
    assert left_out == []
    by_key = {(row["report"], row["setting"]): row for row in board}
    verdicts = {(e["name"], v["setting"]): v for e in entries for v in e["verdicts"]}
    for key, row in by_key.items():  # the numbers are the verdicts' own
        if finite(row["sciml_s"]):
            i = verdicts[key]["thresholds"].index(row["eps"])
            assert (row["classical_s"], row["sciml_s"]) == (verdicts[key]["classical"]["time_s"][i], verdicts[key]["sciml"]["time_s"][i])
    slow, fast, never, shared_row = by_key["toy", "omega2=1"], by_key["toy", "omega2=2"], by_key["toy", "omega2=3"], by_key["shared", ""]
    # cost = setup 1 + compile 2 + wall: SciML reaches 1e-3 at 8 s (omega2=1) and 7 s (omega2=2); cheb at 0.4 s and 49 s
    assert (slow["eps"], slow["ratio"], slow["winner"]) == (1e-3, "SciML 20× slower", "classical")
    assert (fast["eps"], fast["ratio"], fast["winner"]) == (1e-3, "SciML 7× faster", "SciML")
    assert never["ratio"] == "—" and never["winner"] == "classical" and "does not reach 1e-1 (final 5.00e-01)" in never["sciml"]
    assert shared_row["ratio"] == "withheld †" and shared_row["winner"] == "SciML †"  # 7x: more than side by side inflates
    assert not shared_row["alone"] and slow["alone"]
    index = (reports / "index.md").read_text()
    assert index.index("## Scoreboard") < index.index("## Reports") and "](scoreboard.png)" in index
    assert "| 3 | [toy](toy/index.md) | omega2=2 | cheb: 1e-3 in 49 s | pinn: 1e-3 in 7 s (final 8.00e-04) | SciML 7× faster | SciML |" in index
    assert (reports / "scoreboard.png").stat().st_size > 10_000
    assert 'src="scoreboard.png"' in (reports / "index.html").read_text()


def test_scoreboard_winner_of_inverse_and_operator_settings_follows_quality_and_cost() -> None:
    from parity.report import scoreboard
    from parity.report.verdict import verdicts

    runs = _reconstruction_runs([
        ("TV", "classical", 31.0, 10.0, 0.5, 30), ("LGD", "sciml", 32.0, 100.0, 0.01, 30),
        ("TV", "classical", 28.0, 10.0, 0.5, 10), ("LGD", "sciml", 27.9, 100.0, 0.01, 10)])
    board, _ = scoreboard.rows([{"name": "ct", "verdicts": verdicts(runs, {})}], "index.md")
    above, below = {row["setting"]: row for row in board}["angles=30"], {row["setting"]: row for row in board}["angles=10"]
    assert above["winner"] == "learned after 184 images" and above["gain_db"] == pytest.approx(1.0)
    assert above["ratio"] == "break-even after 184 images (+1.00 dB)" and above["cost_ratio"] == pytest.approx(0.02)
    assert below["winner"] == "classical" and below["ratio"] == "does not reach TV's quality (-0.10 dB)"
    surrogate = {"label": "FNO", "rel_l2": 0.03, "instance_s": 0.01, "one_off_s": 100.0, "classical_resolution": 32.0,
                 "classical_rel_l2": 0.02, "classical_instance_s": 0.002, "break_even": math.inf}
    operator = {"problem": "darcy", "setting": "", "kind": "operator", "alone": True, "side_by_side": "",
                "classical": {"label": "P1", "finest_resolution": 256.0, "finest_rel_l2": 1e-3, "finest_instance_s": 0.1}, "sciml": surrogate}
    cheaper = {**operator, "sciml": {**surrogate, "instance_s": 0.001, "break_even": 100.0 / 0.001}}
    board, _ = scoreboard.rows([{"name": "op", "verdicts": [operator, cheaper]}], "index.md")
    assert (board[0]["winner"], board[0]["ratio"]) == ("classical", "surrogate 5× slower per instance: never repays its one-off cost")
    assert (board[1]["winner"], board[1]["ratio"]) == ("SciML after 100,000 instances", "break-even after 100,000 instances")


def test_inverse_verdict_gives_quality_cost_and_break_even() -> None:
    from parity.report.render import verdict_line
    from parity.report.verdict import verdicts

    runs = _reconstruction_runs([
        ("FBP", "classical", 29.0, 1.0, 0.001, 30), ("TV", "classical", 31.0, 10.0, 0.5, 30),
        ("LGD", "sciml", 32.0, 100.0, 0.01, 30), ("weak net", "sciml", 30.0, 100.0, 0.6, 30),
        ("FBP", "classical", 25.0, 1.0, 0.001, 10), ("LGD", "sciml", 27.0, 50.0, 0.01, 10),
    ])
    by_setting = {v["setting"]: v for v in verdicts(runs, {})}
    thirty = by_setting["angles=30"]
    assert (thirty["classical"]["label"], thirty["sciml"]["label"]) == ("TV", "LGD")
    assert thirty["sciml"]["break_even"] == pytest.approx((100.0 - 10.0) / (0.5 - 0.01))
    assert verdict_line(thirty) == ("ct angles=30: TV gets PSNR 31.00 dB, SSIM 0.900 at 0.5 s per image; best learned (LGD) "
                                    "gets PSNR 32.00 dB, SSIM 0.900 at 0.01 s per image after 100 s one-off (100 s training); "
                                    "repays its extra one-off cost after 184 images.")
    assert verdict_line(by_setting["angles=10"]).endswith("never repays its one-off cost (not faster per image).")


def test_index_lists_every_report_with_its_verdict_lines(store: Store, tmp_path: Path) -> None:
    from parity.cli import main

    reports = tmp_path / "reports"
    first = write_report(store, reports / "toy", title="toy report")
    write_report(store, reports / "cheb_only", case_keys={"c1", "c4"}, title="cheb_only")
    assert not (reports / "index.md").exists()  # writing a report leaves the committed index alone
    assert main(["report", "--index-only", "--reports-dir", str(reports)]) == 0
    lines = [v["line"] for v in _verdicts(first).values()]
    index = (reports / "index.md").read_text()
    assert "### [toy](toy/index.md) (toy report)" in index and "### [cheb_only](cheb_only/index.md)\n" in index
    reports_section = index.split("## Reports")[1]
    assert reports_section.index("cheb_only") < reports_section.index("[toy]")
    assert "| 1 | [toy](toy/index.md) | omega2=1 | cheb: 1e-3 in 0.004 s | pinn: 1e-3 in 43 s (final 8.00e-04) | SciML 11,000× slower | classical |" in index
    assert "Not on the scoreboard (one side missing): cheb_only: toy omega2=1 (no SciML result)" in index
    assert "9 records; git commit abc123; date 2026-01-01 to 2026-01-02." in index
    for line in lines:
        assert f"- {line}" in index
    assert "- toy omega2=1: cheb reaches 1e-3 in 0.004 s; no SciML result." in index
    (reports / "index.md").unlink()
    assert main(["report", "--index-only", "--reports-dir", str(reports)]) == 0
    assert (reports / "index.md").read_text() == index
    assert 'href="toy/index.html"' in (reports / "index.html").read_text()


def _tick_label_overlaps(fig: Any) -> list[tuple[str, str]]:
    """Pairs of drawn tick labels (major or minor, in view) whose bounding boxes overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    overlaps = []
    for ax in fig.axes:
        for axis, coordinate in ((ax.xaxis, 0), (ax.yaxis, 1)):
            low, high = sorted(axis.get_view_interval())
            labels = [label for label in axis.get_ticklabels(which="both")
                      if label.get_visible() and label.get_text() and low <= label.get_position()[coordinate] <= high]
            boxes = [label.get_window_extent(renderer) for label in labels]
            overlaps += [(labels[i].get_text(), labels[j].get_text()) for i in range(len(labels)) for j in range(i + 1, len(labels))
                         if boxes[i].overlaps(boxes[j])]
    return overlaps


@pytest.mark.parametrize(("low", "high"), [(1.7, 80.0), (3.6, 5.0), (3.6, 3.9), (2e-4, 3e-3), (0.11, 99.0), (1e-6, 1e6), (1e-20, 1.0)])
def test_log_axis_tick_labels_never_overlap(low: float, high: float) -> None:
    """Short ranges (a decade or two: Matplotlib would label the minor ticks too) and wide ones, on narrow panels."""
    import matplotlib.pyplot as plt

    from parity.report import plots

    fig, axes = plots._panels(3)
    for ax in axes:
        ax.plot([low, high], [low, high])
        ax.set(xscale="log", yscale="log", xlabel="cost", ylabel="error")
    axes[2].set_xscale("log", base=2)
    plots.fit_log_ticks(fig)
    assert _tick_label_overlaps(fig) == []
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            low_view, high_view = sorted(axis.get_view_interval())
            shown = [t for t in axis.get_majorticklocs() if low_view <= t <= high_view]
            assert len(shown) >= 2, (low, high, shown)  # still readable: at least two labelled ticks
    plt.close(fig)


@pytest.mark.parametrize("pinn_only", [False, True])
def test_report_figures_have_no_overlapping_tick_labels(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinn_only: bool) -> None:
    """Error against cost from 0.001 to 43 s (cheb and PINN), and from 3 to 43 s (PINN only: the axis spans about a decade)."""
    import matplotlib.pyplot as plt

    figures: list[Any] = []
    close = plt.close
    monkeypatch.setattr(plt, "close", figures.append)  # keep each written figure as saved, to measure its labels
    keys = {f"p{o}-{s}" for o in (1, 4) for s in range(3)} if pinn_only else None
    write_report(store, tmp_path / "r", case_keys=keys)
    assert len(figures) >= 3
    for fig in figures:
        assert _tick_label_overlaps(fig) == [], [ax.get_title() for ax in fig.axes]
        close(fig)


def test_ablation_section_compares_each_variant_with_the_full_recipe_and_the_plain_network(tmp_path: Path) -> None:
    """Three seeds per variant; errors and per-step costs chosen so every ratio is known."""
    store = Store(tmp_path / "store")
    variants = {  # label: (config changes, ingredients, final errors over seeds, train seconds for 400 steps)
        "plain": ({}, [], (0.2, 0.3, 0.4), 4.0),
        "recipe": ({"recipe": "jaxpi"}, ["causal", "fourier"], (0.01, 0.02, 0.05), 8.0),
        "recipe - causal": ({"recipe": "jaxpi", "drop": ["causal"]}, ["fourier"], (0.05, 0.08, 0.1), 6.0),
    }
    for label, (config, ingredients, errors, train_s) in variants.items():
        for seed, error in enumerate(errors):
            record = _record(f"{label}-{seed}", label=label, seed=seed, final=error)
            record |= {"solver_config": {"width": 8, **config}, "train_s": train_s, "info": {"n_params": 321, "ingredients": ingredients}}
            store.append(record, _trace([0.0, train_s], [1.0, error], steps=[0, 400]))
    text = write_report(store, tmp_path / "out", title="ablation", description="").read_text()
    section = text.split("## Ablation of the training recipe")[1].split("\n## ")[0]
    assert "| — | recipe | causal, fourier | 2.00e-02 [1.00e-02–5.00e-02] | 1.00 | 400 | 20.0 | 2.00 |" in section
    assert "| — | recipe - causal | fourier | 8.00e-02 [5.00e-02–1.00e-01] | 4.00 | 400 | 15.0 | 1.50 |" in section
    assert "| — | plain | none | 3.00e-01 [2.00e-01–4.00e-01] | 15.00 | 400 | 10.0 | 1.00 |" in section


def test_report_without_a_recipe_has_no_ablation_section(store: Store, tmp_path: Path) -> None:
    assert "## Ablation" not in write_report(store, tmp_path / "out", title="t", description="").read_text()


def test_the_readme_shows_the_committed_scoreboard_headline() -> None:
    """The README's answer is the scoreboard's own headline, which scripts/regenerate-reports copies from reports/index.md."""
    from parity.report.index import headline_of

    root = Path(__file__).resolve().parents[1]
    headline = headline_of((root / "reports" / "index.md").read_text())
    assert headline.startswith("| problems | settings | classical wins |")
    readme = (root / "README.md").read_text()
    assert headline in readme and "](reports/scoreboard.png)" in readme and (root / "reports" / "scoreboard.png").exists()


def test_copy_headline_replaces_the_readme_table_after_its_mark(tmp_path: Path) -> None:
    from parity.report.index import HEADLINE_MARK, copy_headline

    index, readme = tmp_path / "index.md", tmp_path / "README.md"
    index.write_text("# Parity reports\n\nintro\n\n## Scoreboard\n\n| problems | n |\n| --- | --- |\n| forward | 3 |\n\n| # | rows |\n")
    readme.write_text(f"# Parity\n\n{HEADLINE_MARK}\n| problems | n |\n| --- | --- |\n| forward | 2 |\n| inverse | 1 |\n\nAfter.\n")
    copy_headline(index, readme)
    assert readme.read_text() == f"# Parity\n\n{HEADLINE_MARK}\n| problems | n |\n| --- | --- |\n| forward | 3 |\n\nAfter.\n"
    readme.write_text("# Parity\n")
    with pytest.raises(ValueError, match="has no line"):
        copy_headline(index, readme)
