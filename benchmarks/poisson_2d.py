"""asv benchmarks for the 2D elliptic problems (multi-scale Poisson, Helmholtz) and their solvers.

``FEMSolve`` times one finite-element solve (mesh, forms, assembly, CG + GAMG) at one
resolution and tracks its error on the held-out test points, so a slower assembly or a
weaker preconditioner shows up as a regression. The 1M-DoF P1 case (1000 x 1000 cells)
runs only with ``PARITY_ASV_SLOW=1``. ``HelmholtzFEMSolve`` does the same for the
indefinite Helmholtz operator (direct solver) as k grows; ``FBPINNTrainStep`` times the
one-level and multilevel FBPINN training steps.

asv runs every benchmark and parameter combination in a process of its own, so the
FEM classes solve every combination once in ``setup_cache`` for their ``track_``
numbers, and only ``time_solve`` has a setup (its own ``setup`` attribute, which asv
calls without the instance): it builds the problem and solver, warms them up with one
solve on an 8 x 8 mesh (the forms do not depend on the mesh, so FFCx compiles or loads
the same ones) and leaves them in the module-level ``_live`` dict for the timed solve.
"""

from __future__ import annotations

import os
from typing import Any

import jax

from parity.problems import Helmholtz2D, MultiScalePoisson2D
from parity.solvers import FBPINN, Evaluator
from parity.solvers.pde.fem_poisson import FEMPoisson, FEMSolution

from ._compilation_cache import cache_compilations

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"
CELLS: list[int] = [64, 256, *([1000] if SLOW else [])]


WARM_UP_CELLS = 8
"""Cells per side of the warm-up solve: the forms do not depend on the mesh, so this compiles them."""

_live: dict[str, Any] = {}
"""The timed benchmark's problem and solver, from its own setup (one benchmark per process)."""


def _warm_up(problem: MultiScalePoisson2D | Helmholtz2D, degree: int) -> None:
    """Keep ``problem`` and its solver in ``_live`` after one small solve with them.

    The small solve compiles (or loads) the forms, sets PETSc up and fills the problem's
    own caches, so the timed solve at full size pays for none of it.
    """
    solver = FEMPoisson(degree=degree)
    solver.solve_at(problem, WARM_UP_CELLS)
    _live.update(problem=problem, solver=solver)


def _setup_fem_solve(cache: dict[str, dict[str, float]], degree: int, cells_per_side: int) -> None:
    """``FEMSolve.time_solve``'s own setup (asv calls a benchmark's ``setup`` attribute with its parameters)."""
    _warm_up(MultiScalePoisson2D(n_components=4), degree)


def _setup_helmholtz_solve(cache: dict[str, float], degree: int, k: float) -> None:
    """``HelmholtzFEMSolve.time_solve``'s own setup."""
    _warm_up(Helmholtz2D(k=k), degree)


def _rel_l2(problem: MultiScalePoisson2D | Helmholtz2D, solution: FEMSolution) -> float:
    x = problem.test_points()
    return Evaluator(x, problem.reference(x))(solution(x))["rel_l2"]


class FEMSolve:
    """One P1 or P2 solve of the 4-component problem (frequencies 2, 4, 8, 16)."""

    params = ([1, 2], CELLS)
    param_names = ["degree", "cells_per_side"]
    timeout = 1800 if SLOW else 600  # setup_cache solves every combination

    def setup_cache(self) -> dict[str, dict[str, float]]:
        """Every combination solved once, each after a warm-up of its degree."""
        problem = MultiScalePoisson2D(n_components=4)
        cache: dict[str, dict[str, float]] = {}
        for degree in self.params[0]:
            _warm_up(problem, degree)
            for cells_per_side in self.params[1]:
                solution = _live["solver"].solve_at(problem, cells_per_side)
                cache[f"{degree}/{cells_per_side}"] = {"assemble_s": solution.assemble_s, "solve_s": solution.solve_s, "rel_l2": _rel_l2(problem, solution)}
        return cache

    def time_solve(self, cache: dict[str, dict[str, float]], degree: int, cells_per_side: int) -> None:
        _live["solver"].solve_at(_live["problem"], cells_per_side)

    time_solve.setup = _setup_fem_solve  # type: ignore[attr-defined]  # this benchmark's own setup

    def track_linear_solve_seconds(self, cache: dict[str, dict[str, float]], degree: int, cells_per_side: int) -> float:
        return cache[f"{degree}/{cells_per_side}"]["solve_s"]

    track_linear_solve_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_assembly_seconds(self, cache: dict[str, dict[str, float]], degree: int, cells_per_side: int) -> float:
        return cache[f"{degree}/{cells_per_side}"]["assemble_s"]

    track_assembly_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_rel_l2(self, cache: dict[str, dict[str, float]], degree: int, cells_per_side: int) -> float:
        return cache[f"{degree}/{cells_per_side}"]["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class HelmholtzFEMSolve:
    """One P1 or P2 solve (MUMPS LU) of the Helmholtz cavity at growing wavenumber, on a 256 x 256 mesh."""

    params = ([1, 2], [15.0, 30.0, 60.0])
    param_names = ["degree", "k"]
    timeout = 600

    def setup_cache(self) -> dict[str, float]:
        """Every combination's error, one solve each."""
        cache: dict[str, float] = {}
        for degree in self.params[0]:
            for k in self.params[1]:
                problem = Helmholtz2D(k=k)
                cache[f"{degree}/{k:g}"] = _rel_l2(problem, FEMPoisson(degree=degree).solve_at(problem, 256))
        return cache

    def time_solve(self, cache: dict[str, float], degree: int, k: float) -> None:
        _live["solver"].solve_at(_live["problem"], 256)

    time_solve.setup = _setup_helmholtz_solve  # type: ignore[attr-defined]

    def track_rel_l2(self, cache: dict[str, float], degree: int, k: float) -> float:
        return cache[f"{degree}/{k:g}"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class FBPINNTrainStep:
    """100 fused FBPINN steps in 2D: one level of 8 x 8 subdomains against the multilevel 1-2-4-8.

    Tracks the cost of the coarse levels, which is well above their share of the
    point-subdomain pairs on the CPU (see docs/benchmarks.md).
    """

    params = (["8", "1,8", "1,2,4,8"],)
    param_names = ["levels"]

    def setup(self, levels: str) -> None:
        cache_compilations()
        problem = MultiScalePoisson2D(n_components=2, n_test=100)
        solver = FBPINN(levels=tuple(int(n) for n in levels.split(",")), width=16, depth=1, n_collocation=48**2)
        task = solver.training_task(problem, 0, problem.test_points())
        self.steps = task.compile_steps(100)
        self.params_, _, self.opt_state = task.initial_state()
        self.data = task.data
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))

    def time_100_steps(self, levels: str) -> None:
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))
