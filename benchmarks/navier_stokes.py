"""asv benchmarks for steady Navier-Stokes: Taylor-Hood FEM with Newton, and PINN training.

``FEMKovasznay`` times one mesh's discretisation and Newton solve (P2/P1, MUMPS LU) and
tracks its velocity error against the exact flow; ``FEMCavity`` times the Reynolds
continuation to Re on a wall-graded mesh and tracks Newton iterations. ``PINNTrainStep``
times 100 fused steps of the velocity-pressure PINN. Re = 3200 and 128 cells run only
with ``PARITY_ASV_SLOW=1``.

asv runs every benchmark and parameter combination in a process of its own, so the FEM
classes solve every combination once in ``setup_cache`` for their ``track_`` numbers,
and only the timed benchmark has a setup (its own ``setup`` attribute, which asv calls
without the instance): it builds the problem and solver, runs the same solve once
(which compiles the forms) and leaves them in the module-level ``_live`` dict.
"""

from __future__ import annotations

import os
from typing import Any

import jax

from parity.problems.kovasznay_2d import Kovasznay2D
from parity.problems.lid_cavity_2d import LidDrivenCavity2D
from parity.solvers import PINN
from parity.solvers.pde.fem_navier_stokes import FEMNavierStokes

from ._compilation_cache import cache_compilations

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"


KOVASZNAY_CELLS: list[int] = [16, 32, 64, *([128] if SLOW else [])]
CAVITY_REYNOLDS: list[float] = [400.0, 1000.0, *([3200.0] if SLOW else [])]


_live: dict[str, Any] = {}
"""The timed benchmark's problem and solver, from its own setup (one benchmark per process)."""


def _setup_kovasznay(cache: dict[str, float], cells_per_side: int) -> None:
    """``FEMKovasznay.time_solve``'s own setup: the same solve once, which compiles the forms."""
    problem, solver = Kovasznay2D(re=40.0), FEMNavierStokes()
    solver.solve_at(problem, cells_per_side)
    _live.update(problem=problem, solver=solver)


def _setup_cavity(cache: dict[str, float], reynolds: float) -> None:
    """``FEMCavity.time_continuation``'s own setup: the same continuation once."""
    problem, solver = LidDrivenCavity2D(re=reynolds), FEMNavierStokes(grading=0.5)
    solver.solve_at(problem, 32)
    _live.update(problem=problem, solver=solver)


class FEMKovasznay:
    """P2/P1 at Re = 40 on a uniform mesh of the Kovasznay box."""

    params = (KOVASZNAY_CELLS,)
    param_names = ["cells_per_side"]
    timeout = 600

    def setup_cache(self) -> dict[str, float]:
        """Every mesh's velocity error, one solve each."""
        problem, solver = Kovasznay2D(re=40.0), FEMNavierStokes()
        return {str(n): problem.evaluator()(solver.solve_at(problem, n)(problem.test_points()))["rel_l2"] for n in KOVASZNAY_CELLS}

    def time_solve(self, cache: dict[str, float], cells_per_side: int) -> None:
        _live["solver"].solve_at(_live["problem"], cells_per_side)

    time_solve.setup = _setup_kovasznay  # type: ignore[attr-defined]  # this benchmark's own setup

    def track_rel_l2(self, cache: dict[str, float], cells_per_side: int) -> float:
        return cache[str(cells_per_side)]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class FEMCavity:
    """Newton continuation (factor 2 from Re = 100) on a 32-cell mesh graded towards the walls."""

    params = (CAVITY_REYNOLDS,)
    param_names = ["reynolds"]
    timeout = 600

    def setup_cache(self) -> dict[str, float]:
        """Every Reynolds number's Newton iterations, one continuation each."""
        solver = FEMNavierStokes(grading=0.5)
        return {f"{re:g}": float(solver.solve_at(LidDrivenCavity2D(re=re), 32).details()["newton_iterations"]) for re in CAVITY_REYNOLDS}

    def time_continuation(self, cache: dict[str, float], reynolds: float) -> None:
        _live["solver"].solve_at(_live["problem"], 32)

    time_continuation.setup = _setup_cavity  # type: ignore[attr-defined]

    def track_newton_iterations(self, cache: dict[str, float], reynolds: float) -> float:
        return cache[f"{reynolds:g}"]

    track_newton_iterations.unit = "iterations"  # type: ignore[attr-defined]


class PINNTrainStep:
    """100 fused Adam steps of the 4 x 50 velocity-pressure PINN on 4096 Kovasznay points."""

    def setup(self) -> None:
        cache_compilations()
        problem = Kovasznay2D()
        task = PINN(width=50, depth=4, n_collocation=4096).training_task(problem, 0, problem.test_points()[:100])
        self.steps = task.compile_steps(100)
        params, _, opt_state = task.initial_state()
        self.state = (params, opt_state, task.data)
        jax.block_until_ready(self.steps(*self.state))

    def time_100_steps(self) -> None:
        jax.block_until_ready(self.steps(*self.state))

