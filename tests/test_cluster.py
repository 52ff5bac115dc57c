"""Sweeps on Dask workers: the same records as one at a time, a dead worker costs nothing, resources are exclusive."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from parity.harness.placement import Placement, Resources, local_shares
from parity.harness.store import Store
from parity.harness.sweep import Executor, load_sweep, run_sweep
from parity.knobs import ParameterError

QUICK = """
name = "quick"
problem = "multiscale_1d"
timeout_s = {timeout}
[grid]
omega2 = [5.0, 15.0]
[[solvers]]
name = "chebyshev"
[[solvers]]
name = "rk_ode"
[[solvers]]
name = "pinn"
label = "PINN past the timeout"
steps = 1000000000
config = {{ width = 8, depth = 1, n_collocation = 64 }}
"""


def _sweep_file(tmp_path: Path, text: str, **values: object) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text.format(**values))
    return path


def _records(store: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((store / "records").glob("*.json"))]


def _outcomes(records: list[dict]) -> list[tuple[str, str]]:
    return sorted((r["case_key"], r["status"]) for r in records)


def test_two_local_workers_give_the_sequential_records_marked_side_by_side(tmp_path: Path) -> None:
    sweep = load_sweep(_sweep_file(tmp_path, QUICK, timeout=25))  # cheap cases take seconds even on a loaded core
    run_sweep(sweep, Store(tmp_path / "one"), quiet=True)
    run_sweep(sweep, Store(tmp_path / "two"), quiet=True, executor=Executor(workers=2))
    one, two = _records(tmp_path / "one"), _records(tmp_path / "two")
    assert _outcomes(one) == _outcomes(two) and len(one) == 6
    assert {r["status"] for r in two if r["solver"] == "pinn"} == {"timeout"}
    for a, b in zip(sorted(one, key=lambda r: r["case_key"]), sorted(two, key=lambda r: r["case_key"]), strict=True):
        if a["status"] == "ok":
            assert a["rel_l2"] == pytest.approx(b["rel_l2"], rel=1e-9)  # deterministic solvers: the same numbers
    assert {r["executor"] for r in one} == {"sequential"} and {r["concurrency"] for r in one} == {1}
    assert {r["executor"] for r in two} == {"local"} and {r["concurrency"] for r in two} == {2}
    shares = {r["worker"]: tuple(r["cpu_set"]) for r in two if r["cpu_set"]}
    assert len(set(shares.values())) == len(shares)  # each worker pinned to cores of its own
    assert all(r["cpu_model"] and r["host"] for r in two)


SLOW = """
name = "slow"
problem = "multiscale_1d"
timeout_s = 300
[grid]
omega2 = [5.0, 10.0, 15.0]
[[solvers]]
name = "pinn"
steps = {steps}
config = {{ width = 16, depth = 2, n_collocation = 256 }}
"""


def _kill_first_worker_mid_case(store: Path, stop: threading.Event) -> list[int]:
    """Wait for a case's claim (written by the worker running it) and SIGKILL that worker process."""
    killed: list[int] = []
    while not stop.is_set() and not killed:
        for claim in (store / "claims").glob("*.json") if (store / "claims").is_dir() else []:
            try:
                pid = json.loads(claim.read_text())["pid"]
            except (OSError, ValueError, KeyError):
                continue
            time.sleep(1.0)  # into the case
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            break
        time.sleep(0.1)
    return killed


@pytest.mark.parametrize("retries", [0, 2])
def test_a_worker_killed_mid_case_loses_nothing_and_a_rerun_finishes_exactly_the_missing_cases(tmp_path: Path, retries: int) -> None:
    path = _sweep_file(tmp_path, SLOW, steps=4000)
    store = tmp_path / "store"
    command = [sys.executable, "-m", "parity", "sweep", str(path), "--store", str(store), "--workers", "2", "--retries", str(retries), "--quiet"]
    stop = threading.Event()
    killed: list[int] = []
    killer = threading.Thread(target=lambda: killed.extend(_kill_first_worker_mid_case(store, stop)))
    killer.start()
    try:
        first = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    finally:
        stop.set()
        killer.join()
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(killed) == 1
    records = _records(store)
    keys = {c.key() for c in load_sweep(path).cases}
    assert {r["case_key"] for r in records} == keys  # every case has a record
    assert all(sum(r["case_key"] == k and r["status"] == "ok" for r in records) <= 1 for k in keys)  # none finished twice
    errors = [r for r in records if r["status"] == "error"]
    if retries == 0:
        assert len(errors) == 1 and "worker died" in errors[0]["message"]
    else:
        assert errors == []  # started again on a live worker
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    again = _records(store)
    assert len(again) == len(records) + len(errors)  # exactly the missing cases ran
    assert {r["case_key"] for r in again if r["status"] == "ok"} == keys


@pytest.mark.parametrize("gpus", [1, 0])
def test_two_one_gpu_cases_never_overlap_on_a_one_gpu_worker(tmp_path: Path, gpus: int) -> None:
    """One worker with two threads and one GPU: the GPU cases run one after the other; cases needing none overlap."""
    resources = f"resources = {{{{ gpus = {gpus} }}}}\n" if gpus else ""
    path = _sweep_file(tmp_path, resources + SLOW.replace("omega2 = [5.0, 10.0, 15.0]", "omega2 = [5.0, 10.0]"), steps=3000)
    executor = Executor(factory="distributed.LocalCluster",
                        options={"n_workers": 1, "threads_per_worker": 2, "processes": True, "resources": {"gpus": 1}})
    run_sweep(load_sweep(path), Store(tmp_path / "store"), quiet=True, executor=executor)
    records = _records(tmp_path / "store")
    assert [r["status"] for r in records] == ["ok", "ok"]
    (_, a1), (b0, _) = sorted((dt.datetime.fromisoformat(r["created_utc"]), dt.datetime.fromisoformat(r["finished_utc"])) for r in records)
    assert (b0 >= a1) == bool(gpus)
    assert {r["concurrency"] for r in records} == {2}  # two threads: the host ran up to two cases at once


def test_a_case_no_worker_can_hold_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = _sweep_file(tmp_path, "resources = {{ gpus = 1 }}\n" + QUICK, timeout=60)
    with pytest.raises(ParameterError, match="asks for resources gpus=1, but the best of the Dask workers .* has gpus=0"):
        run_sweep(load_sweep(path), Store(tmp_path / "store"), quiet=True,
                  executor=Executor(factory="distributed.LocalCluster", options={"n_workers": 1, "processes": False}))
    assert not (tmp_path / "store" / "records").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Executor(workers=2, scheduler="tcp://h:8786"), "give one of workers, scheduler and factory; got workers and scheduler"),
        (lambda: Executor(workers=0), "workers must be an integer >= 1; got 0"),
        (lambda: Executor(retries=-1), "retries must be an integer >= 0; got -1"),
        (lambda: Resources(cores=0), "resources need cores >= 1"),
        (lambda: Resources.from_spec({"gpu": 1}, "here"), "here: resources must be a table with keys cores and gpus"),
        (lambda: Resources.from_spec({"cores": 1}, "here", mpi_ranks=4), "an MPI case on 4 ranks needs at least 4 cores; got cores=1"),
        (lambda: local_shares(os.cpu_count() * 4), "two cases would share a core"),
    ],
)
def test_bad_executor_settings_are_refused_with_what_is_allowed(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=message):
        make()


def test_a_claimed_case_is_not_run_by_a_second_owner_but_is_by_the_same_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.claim("k", "session-a", stale_after_s=60)
    assert not store.claim("k", "session-b", stale_after_s=60)  # a live claim of this very process
    assert store.claim("k", "session-a", stale_after_s=60)  # a retry of the same task
    assert store.claim("k", "session-b", stale_after_s=0)  # stale
    store.release("k", "session-a")  # not the owner any more: left alone
    assert (tmp_path / "claims" / "k.json").exists()
    store.release("k", "session-b")
    assert not (tmp_path / "claims" / "k.json").exists()


def test_placement_round_trips_through_the_command_line() -> None:
    placement = Placement("dask", 4, "tcp://10.0.0.2:4000", (2, 3), "1")
    assert Placement.from_json(placement.to_json()) == placement
    assert placement.record_fields()["cpu_set"] == [2, 3]


def test_the_sweep_file_names_its_cluster_and_the_command_line_overrides_it(tmp_path: Path) -> None:
    cluster = ('[cluster]\nfactory = "dask_jobqueue.SLURMCluster"\njobs = 8\n'
               'options = {{ cores = 1, processes = 1, job_cpu = 16, worker_extra_args = ["--resources", "cores=16,gpus=1"] }}\n')
    sweep = load_sweep(_sweep_file(tmp_path, QUICK + cluster, timeout=60))
    assert (sweep.executor.factory, sweep.executor.jobs, sweep.executor.options["job_cpu"]) == ("dask_jobqueue.SLURMCluster", 8, 16)
    assert sweep.executor.overridden(workers=2) == Executor(workers=2)
    assert sweep.executor.overridden(retries=5).factory == "dask_jobqueue.SLURMCluster"
    with pytest.raises(ParameterError, match="cluster must be a table with keys among"):
        load_sweep(_sweep_file(tmp_path, QUICK + "[cluster]\nnodes = 3\n", timeout=60))


def test_the_command_line_prints_the_dashboard_and_one_progress_bar(tmp_path: Path) -> None:
    path = _sweep_file(tmp_path, QUICK[: QUICK.index('[[solvers]]\nname = "pinn"')], timeout=60)
    done = subprocess.run([sys.executable, "-m", "parity", "sweep", str(path), "--store", str(tmp_path / "store"), "--workers", "2"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "local Dask cluster, dashboard http://" in done.stderr
    assert "sweep quick: 100%" in done.stderr and "4/4" in done.stderr
