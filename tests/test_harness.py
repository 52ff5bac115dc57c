"""Run -> record -> store, the CLI, and sweeps that survive being killed."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from parity.cli import main
from parity.harness import Case, Store, load_records, load_sweep, run_case, run_sweep
from parity.harness.run import UnsupportedError
from parity.harness.sweep import _parity_args as sweep_command_line
from parity.knobs import ParameterError, knob
from parity.problems import ForwardProblem, MultiScale1D
from parity.problems.derivatives import partial
from parity.solvers import FBPINN, PINN, Budget, Chebyshev


def test_run_case_appends_a_complete_record_and_trace(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = run_case(Case(MultiScale1D(omega2=30), FBPINN(steps_per_dispatch=50), seed=3, budget=Budget(steps=200)), store)
    assert record["status"] == "ok" and record["seed"] == 3 and record["steps"] == 200
    for key in ("compile_s", "train_s", "setup_s", "inference_s", "peak_rss_mb", "steps_per_s", "rel_l2", "norm_l1"):
        assert record[key] > 0, key
    assert record["device_kind"] and record["device_count"] == 1 and record["versions"]["jax"]
    assert record["problem_params"]["omega2"] == 30.0 and record["solver_config"]["levels"] == [30]

    trace = store.trace(record)
    assert list(trace["step"]) == [0, 50, 100, 150, 200]
    assert trace["wall_s"].is_monotonic_increasing
    assert trace["rel_l2"].iloc[-1] == pytest.approx(record["rel_l2"], rel=1e-4)  # final = last checkpoint

    frame = load_records(tmp_path)
    assert len(frame) == 1
    assert {"problem_params.omega2", "solver_config.levels", "versions.jax", "info.n_params"} <= set(frame.columns)


def test_a_crashing_solver_is_recorded_as_an_error(tmp_path: Path) -> None:
    @dataclasses.dataclass(frozen=True)
    class Exploding(Chebyshev):
        name: ClassVar[str] = "exploding"

        def solve(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    record = run_case(Case(MultiScale1D(), Exploding()), Store(tmp_path))
    assert record["status"] == "error" and "RuntimeError: boom" in record["message"]
    assert load_records(tmp_path)["status"].tolist() == ["error"]


def test_store_is_append_only(tmp_path: Path) -> None:
    store = Store(tmp_path)
    case = Case(MultiScale1D(), Chebyshev(resolutions=(16, 128)))
    first, second = run_case(case, store), run_case(case, store)
    assert first["record_id"] != second["record_id"] and first["case_key"] == second["case_key"]
    assert len(list((tmp_path / "records").glob("*.json"))) == 2
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_trace_of_checkpoint_rows_reads_back_as_the_frame_of_those_rows(tmp_path: Path) -> None:
    """Rows are written without pandas: a NaN left empty, a column some rows lack, ints and floats kept."""
    rows = [{"wall_s": 0.0, "step": 0, "loss": float("nan"), "rel_l2": 1.0},
            {"wall_s": 0.125, "step": 100, "loss": 0.3, "rel_l2": 1 / 3, "lbfgs": 1.0},
            {"wall_s": np.float64(2.5e-7), "step": 200, "loss": 1e-12, "rel_l2": 0.1}]
    store = Store(tmp_path)
    record = store.append({"record_id": "r", "case_key": "k", "created_utc": "2026-01-01T00:00:00+00:00", "status": "ok",
                           "problem": "p", "solver": "s", "seed": 0}, rows)
    pd.testing.assert_frame_equal(store.trace(record), pd.DataFrame(rows))


@dataclasses.dataclass(frozen=True)
class ResidualOnly(ForwardProblem):
    """A forward problem without the SourceODE1D capability that quadrature needs."""

    name: ClassVar[str] = "residual_only"
    description: ClassVar[str] = "u' = 0 on [0, 1]"
    in_dim: ClassVar[int] = 1
    out_dim: ClassVar[int] = 1
    bounds = (np.zeros(1), np.ones(1))

    def residual(self, u, x):  # type: ignore[no-untyped-def]
        return partial(u, x, 0)[1]

    def ansatz(self, x, raw):  # type: ignore[no-untyped-def]
        return x * raw

    def reference(self, x):  # type: ignore[no-untyped-def]
        return np.zeros_like(x)

    def collocation_points(self, n):  # type: ignore[no-untyped-def]
        return np.linspace(0, 1, n)[:, None]

    def test_points(self):  # type: ignore[no-untyped-def]
        return np.linspace(0.01, 0.99, 7)[:, None]


def test_unsupported_pairs_are_refused() -> None:
    assert FBPINN.supports(ResidualOnly()) and not Chebyshev.supports(ResidualOnly())
    with pytest.raises(UnsupportedError, match="solver 'chebyshev' does not support problem 'residual_only'"):
        Case(ResidualOnly(), Chebyshev())


def test_cli_run_json_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "multiscale_1d", "--solver", "chebyshev", "--set", "omega2=20", "--store", str(tmp_path), "--quiet"]
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["problem_params"]["omega2"] == 20.0 and record["rel_l2"] < 1e-6
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "chebyshev on multiscale_1d" in out and "rel_l2" in out and ": ok" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nosuch", "--solver", "pinn"], "unknown problem 'nosuch'; available: acoustic_wave_2d, burgers_1d, burgers_assimilation_1d, burgers_operator_1d, ct_2d, darcy_operator_2d, helmholtz_2d, kolmogorov_2d, kolmogorov_assimilation_2d, kovasznay_2d, lid_cavity_2d, lorenz96, mri_2d, multiscale_1d, navier_stokes_operator_2d, poisson_multiscale_2d, seismic_fwi_2d, turbulence_2d"),
        (["run", "multiscale_1d", "--solver", "nosuch"], "unknown solver 'nosuch'; available: calibration, chebyshev, climatology, coarse_grid, deeponet, devito, diffpir, dip_tv, dps, "
                                                            "etkf, fbp, fbpinn, fem, fem_ns, fno, four_d_var, fwi, learned_correction, learned_fwi, learned_gd, learned_pd, odil, pinn, "
                                                            "pinn_assimilation, pinn_fwi, pnp_admm, post_unet, rk_ode, spectral, starting_model, three_d_var, tv, wcrr, zero_filled"),
        (["run", "multiscale_1d", "--solver", "pinn", "--set", "omega2=-1"], "parameter 'omega2' = -1.0 is not allowed; allowed: finite number > 0"),
        (["run", "multiscale_1d", "--solver", "pinn", "--set", "omega2=nan"], "parameter 'omega2' must be finite; got nan"),
        (["run", "multiscale_1d", "--solver", "pinn", "--set", "omega2"], "--set expects KEY=VALUE; got 'omega2'"),
        (["run", "multiscale_1d", "--solver", "pinn", "--set", "colour=red"], "--set colour: no such knob"),
        (["run", "multiscale_1d", "--solver", "pinn", "--steps", "0"], "budget steps must be an integer >= 1; got 0"),
        (["sweep", "no/such/file.toml"], "No such file"),
    ],
)
def test_cli_errors_are_clear(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--store", str(tmp_path)] if argv[0] == "run" else argv) == 2
    assert message in capsys.readouterr().err


def test_cli_list_shows_knobs_and_supporting_solvers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "multiscale_1d" in out and "omega2" in out and "default 15.0" in out
    assert "solvers: chebyshev, fbpinn, pinn, rk_ode" in out


SWEEP = """
name = "resume"
problem = "multiscale_1d"
seeds = [0, 1]
steps = 300
timeout_s = 300
[grid]
omega2 = [10.0, 20.0]
[[solvers]]
name = "chebyshev"
config = {{ resolutions = [32, 256] }}
[[solvers]]
name = "fbpinn"
label = "small fbpinn"
config = {{ levels = [8], steps_per_dispatch = 100 }}
"""


def test_sweep_file_validation(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('problem = "multiscale_1d"\nsolvers = [{ name = "fbpinn", confg = {} }]\n')
    with pytest.raises(ParameterError, match=r"unknown key\(s\) \['confg'\]"):
        load_sweep(path)
    path.write_text('problem = "multiscale_1d"\nsolvers = [{ name = "fbpinn" }]\n[grid]\nomega2 = [-1.0]\n')
    with pytest.raises(ParameterError, match="omega2"):
        load_sweep(path)
    path.write_text('problem = "multiscale_1d"\nsolvers = [{ name = "chebyshev" }]\n[[studies]]\nproblem = "ct_2d"\nsolvers = []\n')
    with pytest.raises(ParameterError, match="either 'studies' or a top-level 'problem'"):
        load_sweep(path)
    path.write_text('[[studies]]\nproblem = "ct_2d"\nsolvers = [{ name = "fbp" }]\ngrids = {}\n')
    with pytest.raises(ParameterError, match=r"studies\[0\] has unknown key\(s\) \['grids'\]"):
        load_sweep(path)


def test_a_sweep_of_several_studies_takes_defaults_from_the_top(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text('seeds = [0, 1]\nsteps = 30\n'
                    '[[studies]]\nproblem = "multiscale_1d"\nsolvers = [{ name = "pinn" }, { name = "chebyshev" }]\n'
                    '[[studies]]\nproblem = "ct_2d"\nseeds = [5]\nsteps = 7\ngrid = { angles = [10, 20] }\nsolvers = [{ name = "learned_gd" }]\n')
    cases = load_sweep(path).cases
    assert [(c.problem.name, c.solver.name, c.seed, c.budget.steps) for c in cases] == [
        ("multiscale_1d", "pinn", 0, 30), ("multiscale_1d", "pinn", 1, 30), ("multiscale_1d", "chebyshev", 0, 30),
        ("ct_2d", "learned_gd", 5, 7), ("ct_2d", "learned_gd", 5, 7),
    ]
    assert [c.problem.angles for c in cases[3:]] == [10, 20]


def test_a_solver_row_may_have_its_own_budget(tmp_path: Path) -> None:
    """A recipe whose steps are cheaper or slower gets its own steps and training seconds; the other rows keep the sweep's."""
    path = tmp_path / "rows.toml"
    path.write_text('steps = 30\nseeds = [0]\nproblem = "multiscale_1d"\n'
                    'solvers = [{ name = "pinn" }, { name = "pinn", steps = 90, seconds = 12.5, config = { recipe = "jaxpi" } }]\n')
    plain, recipe = load_sweep(path).cases
    assert (plain.budget.steps, plain.budget.seconds) == (30, float("inf"))
    assert (recipe.budget.steps, recipe.budget.seconds) == (90, 12.5)


def test_a_training_time_budget_is_part_of_a_sciml_case_and_ends_training_as_ok(tmp_path: Path) -> None:
    """``seconds`` in a sweep is the training budget of every case: it names the case, and meeting it is no failure."""
    path = tmp_path / "timed.toml"
    path.write_text('steps = 100000\nseconds = 1.5\nproblem = "multiscale_1d"\nsolvers = [{ name = "pinn", config = { width = 8, depth = 1 } }]\n')
    (case,) = load_sweep(path).cases
    assert case.budget.seconds == 1.5 and case.key() != dataclasses.replace(case, budget=Budget(steps=100000)).key()
    store = Store(tmp_path / "store")
    assert sweep_command_line(case, store)[-6:-4] == ["--seconds", "1.5"]  # a sweep's case process gets the budget too
    record = run_case(case, store)
    assert record["status"] == "ok" and "time budget of 1.5 s" in record["message"]
    assert 0 < record["steps"] < 100000 and record["train_s"] >= 1.5


@pytest.mark.slow
def test_sweep_killed_mid_run_loses_nothing_and_resumes(tmp_path: Path) -> None:
    sweep_file = tmp_path / "resume.toml"
    sweep_file.write_text(SWEEP.format())
    sweep = load_sweep(sweep_file)
    assert len(sweep.cases) == 2 * (1 + 2)  # deterministic chebyshev runs one seed

    store_dir = tmp_path / "store"
    command = [sys.executable, "-m", "parity", "sweep", str(sweep_file), "--store", str(store_dir), "--quiet"]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(list((store_dir / "records").glob("*.json"))) < 2:
        assert process.poll() is None, "the sweep ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its worker, as a hard kill would
    process.wait()

    survivors = {p.name: p.read_text() for p in (store_dir / "records").glob("*.json")}
    assert 2 <= len(survivors) < len(sweep.cases)
    assert all(json.loads(text)["status"] == "ok" for text in survivors.values())

    subprocess.run(command, check=True, timeout=300)
    frame = load_records(store_dir)
    assert sorted(frame["case_key"]) == sorted(c.key() for c in sweep.cases)  # each case exactly once
    assert (frame["status"] == "ok").all()
    for name, text in survivors.items():  # finished records untouched
        assert (store_dir / "records" / name).read_text() == text
    assert not list(store_dir.rglob("*.tmp"))

    subprocess.run(command, check=True, timeout=120)  # a finished sweep reruns nothing
    assert len(load_records(store_dir)) == len(sweep.cases)
    assert isinstance(frame.loc[0, "created_utc"], pd.Timestamp)


def test_a_knob_added_with_its_old_behaviour_as_default_keeps_case_keys(problem: MultiScale1D) -> None:
    @dataclasses.dataclass(frozen=True)
    class PINNWithNewKnob(PINN):
        dropout: float = knob(0.0, "a knob added in a later version", "number in [0, 1)", lambda p: 0 <= p < 1)

    assert Case(problem, PINNWithNewKnob(width=32), seed=1).key() == Case(problem, PINN(width=32), seed=1).key()
    assert Case(problem, PINNWithNewKnob(width=32, dropout=0.1), seed=1).key() != Case(problem, PINN(width=32), seed=1).key()


def test_a_sweep_reruns_exactly_the_cases_whose_records_are_damaged(tmp_path: Path) -> None:
    sweep_file = tmp_path / "damaged.toml"
    sweep_file.write_text('name = "damaged"\nproblem = "multiscale_1d"\ngrid = { omega2 = [10.0, 20.0, 30.0] }\n'
                          'solvers = [{ name = "chebyshev", config = { resolutions = [32, 64] } }]\n')
    sweep = load_sweep(sweep_file)
    store = Store(tmp_path / "store")
    run_sweep(sweep, store, quiet=True)
    paths = sorted(store.records_dir.glob("*.json"))
    truncated, foreign = paths[0], paths[1]
    lost = {json.loads(p.read_text())["case_key"] for p in (truncated, foreign)}
    truncated.write_text(truncated.read_text()[:60])
    foreign.write_text('{"hello": "world"}')

    rerun = run_sweep(sweep, store, quiet=True)
    assert sorted(r["case_key"] for r in rerun) == sorted(lost)
    frame = load_records(store.root, quiet=True)
    assert sorted(frame["case_key"]) == sorted(c.key() for c in sweep.cases) and (frame["status"] == "ok").all()


LAUNCHER_SWEEP = """
name = "launcher"
problem = "multiscale_1d"
seeds = [0]
steps = 200
timeout_s = 300
grid = {{ omega2 = [{omegas}] }}
solvers = [
    {{ name = "chebyshev", config = {{ resolutions = [32, 256] }} }},
    {{ name = "fbpinn", label = "small fbpinn", config = {{ levels = [8], steps_per_dispatch = 100 }} }},
]
"""


@pytest.mark.slow
def test_a_case_forked_from_the_launcher_records_what_a_fresh_interpreter_does(tmp_path: Path) -> None:
    sweep_file = tmp_path / "launcher.toml"
    sweep_file.write_text(LAUNCHER_SWEEP.format(omegas="20.0"))
    sweep = load_sweep(sweep_file)
    forked = run_sweep(sweep, Store(tmp_path / "forked"), quiet=True)
    fresh = run_sweep(sweep, Store(tmp_path / "fresh"), quiet=True, launcher=False)
    assert [r["solver"] for r in forked] == [r["solver"] for r in fresh] == ["chebyshev", "fbpinn"]
    for a, b in zip(forked, fresh, strict=True):
        assert a["status"] == b["status"] == "ok" and a["forked"] and not b["forked"]
        assert set(a) == set(b)
        for name in ("rel_l2", "norm_l1", "max_abs"):
            assert a[name] == pytest.approx(b[name], rel=1e-6, abs=1e-12), name
        assert a["steps"] == b["steps"] and a["case_key"] == b["case_key"] and a["git_commit"] == b["git_commit"]
        for name in ("setup_s", "solve_s", "total_s", "peak_rss_mb", "device_count"):
            assert (a[name] is None) == (b[name] is None), name
    fbpinn_forked, fbpinn_fresh = (Store(tmp_path / kind).trace(records[1]) for kind, records in (("forked", forked), ("fresh", fresh)))
    assert list(fbpinn_forked["step"]) == list(fbpinn_fresh["step"])
    np.testing.assert_allclose(fbpinn_forked["rel_l2"], fbpinn_fresh["rel_l2"], rtol=1e-6)
    assert forked[1]["compile_s"] > 0  # compiled afresh: nothing compiled is inherited


def test_a_case_that_crashes_its_forked_process_is_an_error_and_the_sweep_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from parity.harness.launcher import Launcher

    sweep_file = tmp_path / "crash.toml"
    sweep_file.write_text('problem = "multiscale_1d"\ngrid = { omega2 = [10.0, 20.0, 30.0] }\n'
                          'solvers = [{ name = "chebyshev", config = { resolutions = [32, 256] } }]\n')
    sweep = load_sweep(sweep_file)
    assert [c.solver.name for c in sweep.cases] == ["chebyshev"] * 3
    crashes = iter([
        "import os; os._exit(7)",  # a hard exit: no traceback, no record
        "raise RuntimeError('boom in the child')",  # an uncaught exception
    ])
    original = Launcher.run
    pids = []

    def crash_first_two(self: Launcher, argv: list[str], timeout_s: float) -> object:
        pids.append(self._process.pid if self._process else None)
        code = next(crashes, None)
        return original(self, argv, timeout_s) if code is None else original(self, code, timeout_s, target="builtins:exec")

    monkeypatch.setattr(Launcher, "run", crash_first_two)
    records = run_sweep(sweep, Store(tmp_path / "store"), quiet=True)
    assert [r["status"] for r in records] == ["error", "error", "ok"]
    assert "worker exited with code 7" in records[0]["message"]
    assert "worker exited with code 1" in records[1]["message"] and "RuntimeError: boom in the child" in records[1]["message"]
    assert records[2]["forked"] and records[2]["rel_l2"] < 1e-6
    assert pids[1] == pids[2] and pids[1] is not None  # one launcher served every case
    frame = load_records(tmp_path / "store", quiet=True)
    assert sorted(frame["status"]) == ["error", "error", "ok"]


def test_a_forked_case_past_its_timeout_is_killed_and_recorded_as_timeout(tmp_path: Path) -> None:
    from parity.harness.launcher import Launcher

    with Launcher() as launcher:
        started = time.monotonic()
        outcome = launcher.run("import os, time; print(os.getpid(), flush=True); time.sleep(60)", 1.0, target="builtins:exec")
        assert outcome.timed_out and time.monotonic() - started < 30
        pid = int(outcome.stdout.split()[0])
        assert not Path(f"/proc/{pid}").exists()  # killed and reaped, no zombie left
        again = launcher.run("print('still serving')", 30, target="builtins:exec")
        assert again.returncode == 0 and again.stdout.strip() == "still serving"

    sweep_file = tmp_path / "slow.toml"
    sweep_file.write_text('problem = "multiscale_1d"\nsteps = 100000\ntimeout_s = 0.5\nsolvers = [{ name = "fbpinn", config = { levels = [8] } }]\n')
    (record,) = run_sweep(load_sweep(sweep_file), Store(tmp_path / "store"), quiet=True)
    assert record["status"] == "timeout" and "timeout_s = 0.5" in record["message"]


def _session_members(session: int) -> list[int]:
    """Live (not zombie) processes of a session, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # fields after the name: state, ppid, pgrp, session
            members.append(int(stat.parent.name))
    return members


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("kill", ["group", "sweep only"])
def test_killing_a_sweep_leaves_no_launcher_or_case_behind(tmp_path: Path, kill: str) -> None:
    sweep_file = tmp_path / "long.toml"
    sweep_file.write_text('problem = "multiscale_1d"\nsteps = 100000\nsolvers = [{ name = "pinn" }]\n')
    command = [sys.executable, "-m", "parity", "sweep", str(sweep_file), "--store", str(tmp_path / "store"), "--quiet"]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 240

    def launcher_and_child() -> list[int]:
        found = []
        for pid in _session_members(process.pid):
            try:
                if b"parity.harness.launcher" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue
        return found

    while len(launcher_and_child()) < 2:  # the launcher and the case it forked (a fork keeps the command line)
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    if kill == "group":
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.kill()  # the launcher and the child follow through their parent-death signal
    process.wait()
    deadline = time.monotonic() + 30
    while _session_members(process.pid):
        assert time.monotonic() < deadline, f"left behind: {_session_members(process.pid)}"
        time.sleep(0.2)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parent.parent / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_every_committed_sweep_file_loads_into_distinct_cases(path: Path) -> None:
    """A renamed knob or solver would otherwise show only when someone reruns that sweep, perhaps hours into it."""
    sweep = load_sweep(path)
    keys = [case.key() for case in sweep.cases]
    assert keys and len(set(keys)) == len(keys)
