"""Crank-Nicolson finite differences for the heat problem: a classical solver as a refinement sweep.

With as many time steps as grid intervals n, the scheme is second order in both, so the
error on the test points (bilinear interpolation between grid values, second order too)
falls like n^-2 while the work grows like n^2: the sweep's curve has slope -1 in the work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import numpy as np
from jaxtyping import Float
from scipy.interpolate import RegularGridInterpolator
from scipy.linalg import solve_banded

from parity.api import Budget, Evaluator, Problem, ProgressFn, Solver, SolveResult, all_at_least, knob, refinement_sweep
from parity_heat_example.heat import Heat1D

Solution = Callable[[Float[np.ndarray, "m 2"]], Float[np.ndarray, "m 1"]]


def crank_nicolson(problem: Heat1D, n: int) -> Solution:
    """u on an (n + 1) x (n + 1) space-time grid, n steps of Crank-Nicolson, interpolated bilinearly."""
    (x0, t0), (x1, t1) = problem.bounds
    x, t = np.linspace(x0, x1, n + 1), np.linspace(t0, t1, n + 1)
    r = problem.kappa * (t[1] - t[0]) / (x[1] - x[0]) ** 2
    implicit = np.zeros((3, n - 1))  # I - r/2 L on the interior nodes, banded
    implicit[0, 1:], implicit[1], implicit[2, :-1] = -r / 2, 1 + r, -r / 2
    u = np.zeros((n + 1, n + 1))  # [time, space]; zero at both ends
    u[0, 1:-1] = problem.initial_value(x[1:-1])
    for k in range(n):
        explicit = (1 - r) * u[k, 1:-1] + r / 2 * (u[k, :-2] + u[k, 2:])
        u[k + 1, 1:-1] = solve_banded((1, 1), implicit, explicit)
    interpolate = RegularGridInterpolator((x, t), u.T)
    return lambda points: interpolate(points)[:, None]


@dataclasses.dataclass(frozen=True)
class CrankNicolson(Solver):
    name: ClassVar[str] = "crank_nicolson"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "Crank-Nicolson finite differences, as many steps as grid intervals (NumPy/SciPy)"
    deterministic: ClassVar[bool] = True

    resolutions: tuple[int, ...] = knob(
        (8, 16, 32, 64, 128, 256, 512), "grid intervals (= time steps) of the refinement sweep; the last one is the result",
        "non-empty list of integers >= 2", all_at_least(2),
    )

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, Heat1D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, Heat1D)
        result, n = refinement_sweep(  # each resolution solved and timed on its own: the trace is the error-versus-cost curve
            self.resolutions, lambda n: crank_nicolson(problem, n), lambda n, _: n * n, budget, evaluator, progress
        )
        result.info = {"resolution": n, "unknowns": (n + 1) ** 2}
        return result
