"""Shared fixtures. Tests run on the CPU whatever the machine has."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "PYTEST_XDIST_WORKER" in os.environ:
    # Test files run side by side (pytest -n): OpenMP (Devito) spinning on every core
    # against another worker's process slows both many times over, so one thread each.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from parity.problems import MultiScale1D  # noqa: E402
from parity.solvers import Evaluator  # noqa: E402


@pytest.fixture
def problem() -> MultiScale1D:
    return MultiScale1D()


@pytest.fixture
def evaluator(problem: MultiScale1D) -> Evaluator:
    x = problem.test_points()
    return Evaluator(x, problem.reference(x))


def silent(done: int, total: int, postfix: dict[str, float]) -> None:
    return None


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def run_under_mpiexec(ranks: int, args: list[str], timeout_s: float = 150, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n ranks python args``, checked, with stdin closed (mpiexec forwards it).

    A launch that hangs is retried once: MPICH's launcher has hung on a shared 2-core CI
    machine (a 4-second case past 300 s) where the same case never hangs otherwise; the
    retry is warned about, so a hang that comes back every time still fails.
    """
    mpiexec = Path(sys.executable).with_name("mpiexec")
    if not mpiexec.exists():
        pytest.skip(f"no mpiexec next to {sys.executable}")
    command = [str(mpiexec), "-n", str(ranks), sys.executable, *args]
    for attempt in range(2):
        try:
            return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL, **kwargs)
        except subprocess.TimeoutExpired:
            if attempt:
                raise
            warnings.warn(f"mpiexec -n {ranks} hung for {timeout_s:.0f} s; launching it again", stacklevel=2)
    raise AssertionError("unreachable")
