"""asv benchmarks for scaling with device count: sharded SciML training and MPI classical solves.

Three questions:

* ``ShardedTraining``: seconds per 1000 optimiser steps and bytes each device receives
  per step, for the FBPINN (subdomains partitioned over devices, halo exchange where
  windows overlap) and the PINN (collocation points split, gradient all-reduce) on the
  2D acoustic wave problem, at 1, 2, 4 and 8 devices;
* ``WeakScaling``: the same with the work per device fixed (1D multi-scale FBPINN, 8
  subdomains and 1000 collocation points per device);
* ``MPISolve``: FEM (DOLFINx) and Devito solve seconds at 1 and 2 MPI ranks.

The device count is fixed when JAX starts, so every JAX measurement runs in a child
process that asks for the devices it needs; on a CPU those are XLA's simulated devices,
which share the host's cores. On a CPU the seconds then check the partitioned code's
overhead, not a speed-up; the bytes per step are exact on any machine and predict what
an interconnect must carry. On a GPU machine the same benchmarks use the real GPUs
(``jax.devices()``); device counts beyond those present are skipped.

Training the 2D wave networks at four device counts costs minutes (eight trainings of
300 steps, each with its compilations), so ``ShardedTraining`` trains only with
``PARITY_ASV_SLOW=1``; without it the child compiles one step per count for the exact
bytes per step, and the two timed numbers show as n/a. ``WeakScaling`` (a small 1D
network) trains at every count in the default run too.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from typing import Any

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"
"""Train ``ShardedTraining``'s configurations too (see the module's docstring)."""

DEVICES: list[int] = [1, 2, 4, 8]
STEPS = 300
"""Steps per measurement: three fused dispatches of 100 steps."""

_CHILD = """
import json, sys, statistics
from parity import devices
devices.request_host_devices(max(COUNTS))
import jax
from parity.problems import AcousticWave2D, MultiScale1D
from parity.solvers import FBPINN, PINN, Evaluator
from parity.solvers.physics_informed.training import train

def quiet(done, total, postfix):
    pass

def configuration(name, count):
    if name == "fbpinn":
        return AcousticWave2D(), FBPINN(levels=(4,), width=32, depth=2, n_collocation=8192)
    if name == "pinn":
        return AcousticWave2D(), PINN(n_collocation=8192)
    if name == "fbpinn_weak":
        return MultiScale1D(), FBPINN(levels=(8 * count,), n_collocation=1000 * count)
    raise ValueError(name)

out = {}
for name in NAMES:
    for count in COUNTS:
        if count > len(jax.devices()):
            continue
        problem, solver = configuration(name, count)
        # The solver's own training loop (what solve() runs), checkpointed on a few test
        # points: the errors are not used, and evaluation is timed apart from training anyway.
        x = problem.test_points()[:8]
        task = solver.training_task(problem, 0, x, count)
        one_step = task.compile_steps(1)  # one compiled step gives both the collectives and XLA's FLOP count
        numbers = {"comm_bytes_per_step": 0 if count == 1 else sum(devices.collective_bytes(one_step.as_text()).values())}
        if TRAIN:
            outcome = train(task, steps=STEPS, steps_per_dispatch=solver.steps_per_dispatch, evaluator=Evaluator(x, problem.reference(x)), progress=quiet)
            points = [(p.step, p.wall_s) for p in outcome.trace]
            per_step = [(w1 - w0) / (s1 - s0) for (s0, w0), (s1, w1) in zip(points, points[1:]) if s1 > s0]
            cost = one_step.cost_analysis()
            flops = (cost[0] if isinstance(cost, list) else cost)["flops"]  # XLA's count for one device's program
            seconds_per_step = statistics.median(per_step)
            numbers.update(seconds_per_1000_steps=1000 * seconds_per_step, gflops_per_second=flops / seconds_per_step / 1e9, status=outcome.status)
        out[f"{name}/{count}"] = numbers
print(json.dumps(out))
"""


def measure_in_child(names: list[str], counts: list[int], train: bool = True) -> dict[str, dict[str, Any]]:
    """Each named configuration at each device count, in one child process: its numbers.

    Always the bytes each device receives per step (from one compiled step); with
    ``train``, also the seconds per 1000 steps of a ``STEPS``-step training and the
    achieved GFLOP/s.
    """
    script = _CHILD.replace("COUNTS", repr(counts)).replace("NAMES", repr(names)).replace("STEPS", str(STEPS)).replace("TRAIN", repr(train))
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1500, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"scaling child failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class ShardedTraining:
    """Strong scaling of training on the 2D wave problem (fixed problem, more devices).

    FBPINN: 4 x 4 x 4 subdomains of [3, 32, 32, 1] networks over (x, y, t); PINN: 4 x 64.
    Both train on 8192 collocation points. The seconds (and so the seconds per teraflop)
    need the trainings, which run only with ``PARITY_ASV_SLOW=1``; they are n/a otherwise.
    """

    params = (["fbpinn", "pinn"], DEVICES)
    param_names = ["solver", "devices"]
    timeout = 1800
    number = 1
    repeat = 1
    processes = 1

    def setup_cache(self) -> dict[str, dict[str, Any]]:
        return measure_in_child(["fbpinn", "pinn"], DEVICES, train=SLOW)

    def setup(self, cache: dict[str, dict[str, Any]], solver: str, devices: int) -> None:
        if f"{solver}/{devices}" not in cache:
            raise NotImplementedError(f"{devices} devices are not available")  # asv shows n/a

    def track_seconds_per_1000_steps(self, cache: dict[str, dict[str, Any]], solver: str, devices: int) -> float:
        return cache[f"{solver}/{devices}"].get("seconds_per_1000_steps", math.nan)  # NaN: n/a without the slow gate

    track_seconds_per_1000_steps.unit = "seconds"  # type: ignore[attr-defined]

    def track_comm_bytes_per_step(self, cache: dict[str, dict[str, Any]], solver: str, devices: int) -> float:
        """Bytes each device receives per step (collectives of the compiled one-step program)."""
        return cache[f"{solver}/{devices}"]["comm_bytes_per_step"]

    track_comm_bytes_per_step.unit = "bytes"  # type: ignore[attr-defined]

    def track_seconds_per_teraflop(self, cache: dict[str, dict[str, Any]], solver: str, devices: int) -> float:
        """1 / achieved FLOP/s per device (XLA's FLOP count of one step over its time), so smaller is better.

        Divide the device's peak into 1e12 / this to get the fraction of peak achieved.
        """
        return 1000.0 / cache[f"{solver}/{devices}"].get("gflops_per_second", math.nan)

    track_seconds_per_teraflop.unit = "seconds per 1e12 FLOP"  # type: ignore[attr-defined]


class WeakScaling:
    """1D multi-scale FBPINN with 8 subdomains and 1000 collocation points per device."""

    params = DEVICES
    param_names = ["devices"]
    timeout = 1800
    number = 1
    repeat = 1
    processes = 1

    def setup_cache(self) -> dict[str, dict[str, Any]]:
        return measure_in_child(["fbpinn_weak"], DEVICES)

    def setup(self, cache: dict[str, dict[str, Any]], devices: int) -> None:
        if f"fbpinn_weak/{devices}" not in cache:
            raise NotImplementedError(f"{devices} devices are not available")

    def track_seconds_per_1000_steps(self, cache: dict[str, dict[str, Any]], devices: int) -> float:
        return cache[f"fbpinn_weak/{devices}"]["seconds_per_1000_steps"]

    track_seconds_per_1000_steps.unit = "seconds"  # type: ignore[attr-defined]

    def track_comm_bytes_per_step(self, cache: dict[str, dict[str, Any]], devices: int) -> float:
        return cache[f"fbpinn_weak/{devices}"]["comm_bytes_per_step"]

    track_comm_bytes_per_step.unit = "bytes"  # type: ignore[attr-defined]


class MPISolve:
    """Classical solves at 1 and 2 MPI ranks, through ``parity run --devices N``.

    FEM: P1 Poisson on 512 x 512 cells (multi-scale source); Devito: the wave problem at
    128 cells per unit length. The time is the solver's own ``solve_s``.
    """

    params = (["fem", "devito"], [1, 2])
    param_names = ["solver", "ranks"]
    timeout = 900
    number = 1
    repeat = 1
    processes = 1

    def setup_cache(self) -> dict[str, float]:
        cases = {
            "fem": ["poisson_multiscale_2d", "--set", "resolutions=512"],
            "devito": ["acoustic_wave_2d", "--set", "resolutions=128"],
        }
        cache: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="parity-asv-mpi-") as store:  # the records are not kept
            for solver, problem_args in cases.items():
                for ranks in (1, 2):
                    command = [sys.executable, "-m", "parity", "run", *problem_args, "--solver", solver,
                               "--devices", str(ranks), "--store", store, "--json", "--quiet"]
                    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
                    record = json.loads(done.stdout.strip().splitlines()[-1])
                    cache[f"{solver}/{ranks}"] = record["solve_s"]
        return cache

    def track_solve_seconds(self, cache: dict[str, float], solver: str, ranks: int) -> float:
        return cache[f"{solver}/{ranks}"]

    track_solve_seconds.unit = "seconds"  # type: ignore[attr-defined]
