"""Shared fixtures. Tests run on the CPU whatever the machine has."""

from __future__ import annotations

import os

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
