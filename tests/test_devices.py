"""Device count as a harness axis: meshes, flags, sweeps, launch commands and records."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from parity import devices
from parity.cli import _DEFAULT_STEPS, main
from parity.harness import Case, Store, load_sweep
from parity.harness.run import UnsupportedError
from parity.harness.sweep import _command
from parity.knobs import ParameterError
from parity.problems import MultiScale1D
from parity.solvers import PINN, Budget, Chebyshev

HLO = """
  %all-reduce = (f32[3,5]{1,0}, f32[5]{0}) all-reduce(%a, %b), channel_id=1, replica_groups={{0,1}}
  %all-to-all.2 = (f32[1,7]{1,0}, f32[1,7]{1,0}) all-to-all(%c, %d), channel_id=2
  %ars = f64[10]{0} all-reduce-start(%e), channel_id=3
  %ard = f64[10]{0} all-reduce-done(%ars)
  %fusion = f32[1000]{0} fusion(%f), kind=kLoop, calls=%all-reduce-like
  %cp = bf16[4,4]{1,0} collective-permute(%g), source_target_pairs={{0,1}}
"""


def test_collective_bytes_counts_each_collective_once_by_its_result() -> None:
    counts = devices.collective_bytes(HLO)
    assert counts == {"all-reduce": (15 + 5) * 4 + 10 * 8, "all-to-all": 2 * 7 * 4, "collective-permute": 16 * 2}


def test_collective_bytes_of_a_data_parallel_gradient_is_one_all_reduce_of_the_parameters() -> None:
    script = (
        "import jax, jax.numpy as jnp\n"
        "from parity import devices\n"
        "m = devices.mesh(4)\n"
        "x = jax.device_put(jnp.ones((4000, 3)), devices.split(m))\n"
        "w = jax.device_put(jnp.ones((3, 5)), devices.replicated(m))\n"
        "grad = jax.jit(jax.grad(lambda w, x: jnp.sum(jnp.tanh(x @ w) ** 2))).lower(w, x).compile()\n"
        "print(sum(devices.collective_bytes(grad.as_text()).values()))\n"
    )
    out = _python(script, host_devices=4)
    assert int(out) == 3 * 5 * 4  # the gradient, summed over devices; the points never move


def test_host_devices_are_requested_before_jax_starts_and_the_cli_does_not_start_it() -> None:
    script = (
        "import sys\n"
        "import parity, parity.cli, parity.harness\n"
        "assert 'jax' not in sys.modules, 'importing the CLI started JAX'\n"
        "from parity import devices\n"
        "devices.request_host_devices(3)\n"
        "import jax\n"
        "print(len(jax.devices()))\n"
    )
    assert _python(script) == "3"


def test_asking_for_more_devices_than_jax_sees_names_the_fix() -> None:
    with pytest.raises(ValueError, match=r"64 devices requested, but JAX sees \d+ \(cpu\).*xla_force_host_platform_device_count=64"):
        devices.mesh(64)
    with pytest.raises(ValueError, match="budget devices must be an integer >= 1; got 0"):
        Budget(devices=0)


def test_only_parallel_solvers_take_several_devices_and_keys_keep_one_device_history() -> None:
    problem = MultiScale1D()
    with pytest.raises(UnsupportedError, match="solver 'chebyshev' runs on one device; 2 devices"):
        Case(problem, Chebyshev(), budget=Budget(devices=2))
    one = Case(problem, PINN(), budget=Budget(devices=1))
    assert one.key() == Case(problem, PINN()).key()
    assert Case(problem, PINN(), budget=Budget(devices=2)).key() != one.key()
    assert Case(problem, PINN(), budget=Budget(devices=1), scaling="weak").key() != one.key()  # a weak series has its own baseline


def test_the_default_step_budget_of_the_cli_is_the_budgets() -> None:
    assert _DEFAULT_STEPS == Budget().steps


SCALING_SWEEP = """
name = "scaling"
seeds = [0, 1]
steps = 100
devices = [4, 1, 2]

[[studies]]
problem = "multiscale_1d"
solvers = [{ name = "fbpinn", config = { levels = [8] } }, { name = "chebyshev" }]

[[studies]]
problem = "multiscale_1d"
scaling = "weak"
per_device = { n_collocation = 500, levels = [8], omega2 = 10 }
solvers = [{ name = "fbpinn", label = "weak", seeds = [0] }]

[[studies]]
problem = "poisson_multiscale_2d"
devices = [1, 2]
solvers = [{ name = "fem", config = { resolutions = [32, 64] } }]
"""


def test_device_count_is_a_sweep_axis_with_strong_and_weak_series(tmp_path: Path) -> None:
    path = tmp_path / "scaling.toml"
    path.write_text(SCALING_SWEEP)
    cases = load_sweep(path).cases
    strong = [(c.devices, c.seed, c.scaling) for c in cases if c.solver.name == "fbpinn" and not c.label]
    assert strong == [(n, s, "strong") for n in (1, 2, 4) for s in (0, 1)]
    assert [(c.devices, c.scaling) for c in cases if c.solver.name == "chebyshev"] == [(1, "")]  # one device: no series
    weak = [c for c in cases if c.label == "weak"]
    assert [(c.devices, c.solver.n_collocation, c.solver.levels, c.problem.omega2, c.scaling) for c in weak] == [
        (n, 500 * n, (8 * n,), 10.0 * n, "weak") for n in (1, 2, 4)
    ]
    fem = [c for c in cases if c.solver.name == "fem"]
    assert [c.devices for c in fem] == [1, 2] and all(c.uses_mpi for c in fem)

    store = Store(tmp_path / "store")
    fem_two = _command(fem[1], store)
    assert Path(fem_two[0]).name == "mpiexec" and fem_two[1:3] == ["-n", "2"]
    assert fem_two[fem_two.index("--devices") + 1] == "2"
    fbpinn_four = _command(next(c for c in cases if c.devices == 4), store)
    assert fbpinn_four[0] == sys.executable and fbpinn_four[fbpinn_four.index("--devices") + 1] == "4"
    assert fbpinn_four[fbpinn_four.index("--scaling") + 1] == "strong"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('devices = [0, 2]\n', "devices must be a non-empty list of integers >= 1"),
        ('devices = [1, 2]\nscaling = "weak"\n', "a weak-scaling study names the knobs that grow with the device count in per_device"),
        ('devices = [1, 2]\nscaling = "sideways"\n', "scaling must be 'strong' or 'weak'; got 'sideways'"),
        ('devices = [1, 2]\nscaling = "weak"\nper_device = { colour = 1 }\n', "per_device: --set colour: no such knob"),
        ('devices = [1, 2]\nscaling = "weak"\nper_device = { levels = "many" }\n', "per_device values must be numbers or lists of numbers"),
    ],
)
def test_device_axis_errors_are_clear(extra: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'problem = "multiscale_1d"\nsolvers = [{{ name = "fbpinn" }}]\n{extra}')
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_sweep(path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--solver", "chebyshev", "--devices", "2"], "solver 'chebyshev' runs on one device; 2 devices"),
        (["--solver", "pinn", "--devices", "0"], "--devices must be an integer >= 1; got 0"),
        (["--solver", "pinn", "--coordinator", "localhost:1234"], "--coordinator, --num-processes and --process-id need --distributed"),
    ],
)
def test_cli_device_errors_are_clear(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "multiscale_1d", *argv, "--store", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_a_two_rank_fem_run_records_its_ranks_as_real_devices(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """``parity run --devices 2`` relaunches an MPI solver under ``mpiexec -n 2`` (its own command line, not the caller's)."""
    assert main(["run", "poisson_multiscale_2d", "--solver", "fem", "--set", "resolutions=32,64",
                 "--devices", "2", "--store", str(tmp_path), "--json", "--quiet"]) == 0
    record = json.loads(capfd.readouterr().out.strip().splitlines()[-1])
    assert record["status"] == "ok" and record["device_count"] == 2
    assert record["device_kind"] == "cpu (MPI ranks)" and record["devices_simulated"] is False
    assert len(list((tmp_path / "records").iterdir())) == 1  # rank 0 alone writes


def _python(script: str, host_devices: int = 0) -> str:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if host_devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={host_devices}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()



def test_a_weak_series_without_a_label_gets_one_label_for_all_device_counts(tmp_path: Path) -> None:
    path = tmp_path / "weak.toml"
    path.write_text('problem = "multiscale_1d"\ndevices = [1, 2]\nscaling = "weak"\nper_device = { levels = [8] }\nsolvers = [{ name = "fbpinn" }]\n')
    assert {c.display_label for c in load_sweep(path).cases} == {"fbpinn [per device: levels=8]"}


def _two_process_job(common: list[str], store: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    """Run ``common`` as a two-process ``--distributed`` job on this host; each process's (stdout, stderr), both exited 0."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    hosts = [
        subprocess.Popen([*common, "--store", str(store), "--distributed", "--coordinator", f"localhost:{port}",
                          "--num-processes", "2", "--process-id", str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in (0, 1)
    ]
    try:
        outputs = [host.communicate(timeout=300) for host in hosts]
    finally:
        for host in hosts:
            host.kill()  # a hung JAX job ignores SIGTERM (its preemption notifier takes it)
    assert all(host.returncode == 0 for host in hosts), outputs[0][1][-2000:] + outputs[1][1][-2000:]
    return outputs


def test_a_two_process_jax_job_trains_like_two_devices_in_one_process(tmp_path: Path) -> None:
    """``--distributed``: two processes (hosts) of one device each give the one-process, two-device result.

    The job runs twice on one cache directory: a multi-process program loaded from JAX's
    persistent cache deadlocks, so a distributed job must compile its programs every time.
    """
    common = [sys.executable, "-m", "parity", "run", "multiscale_1d", "--solver", "pinn", "--set", "width=16", "--set", "depth=2",
              "--set", "n_collocation=1001", "--steps", "200", "--json", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"PARITY_CACHE_DIR": str(tmp_path / "cache")}
    _two_process_job(common, tmp_path / "first", env)
    outputs = _two_process_job(common, tmp_path / "job", env)
    job = json.loads(outputs[0][0].strip().splitlines()[-1])
    assert job["info"]["compile_cache"] == "off"
    assert not any(line.startswith("{") for line in outputs[1][0].splitlines())  # process 1 neither prints a record nor writes one
    assert len(list((tmp_path / "job" / "records").iterdir())) == 1
    assert job["device_count"] == 2 and job["process_count"] == 2 and job["devices_simulated"] is False

    one = subprocess.run([*common, "--store", str(tmp_path / "one"), "--devices", "2"], capture_output=True, text=True, timeout=300, env=env, check=True)
    local = json.loads(one.stdout.strip().splitlines()[-1])
    assert local["devices_simulated"] is True and local["process_count"] == 1
    assert job["rel_l2"] == pytest.approx(local["rel_l2"], rel=1e-4)
    assert job["info"]["comm_bytes_per_step"] == local["info"]["comm_bytes_per_step"] > 0
