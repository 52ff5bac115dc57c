"""asv benchmarks for the 2D acoustic wave problem: Devito finite differences and PINN training.

``DevitoSolve`` times the time stepping of one finite-difference solve and tracks
Devito's own throughput and the error against the cached reference, per grid and
frequency. ``PINNTrainStep`` times 100 fused training steps on the space-time
residual (three second derivatives per point). The finest grid (256 cells per unit
length) runs only with ``PARITY_ASV_SLOW=1``.

asv runs every benchmark and parameter combination in a process of its own, so
``DevitoSolve`` simulates every combination once in ``setup_cache`` for its ``track_``
numbers, and only ``time_solve`` has a setup (its own ``setup`` attribute, which asv
calls without the instance): it builds the problem, runs the same simulation once
(Devito compiles the operator or loads it from its disk cache, and the problem fills
its own caches) and leaves the problem in the module-level ``_live`` dict.
"""

from __future__ import annotations

import os
from typing import Any

import jax

from parity.numerics.acoustic_fd import AcousticSimulation, simulate
from parity.problems import AcousticWave2D
from parity.solvers import PINN, Evaluator

from ._compilation_cache import cache_compilations

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"
CELLS: list[int] = [32, 128, *([256] if SLOW else [])]


def _key(frequency: float, cells_per_unit: int) -> str:
    return f"{frequency:g}/{cells_per_unit}"


_live: dict[str, Any] = {}
"""The timed benchmark's problem, from its own setup (one benchmark per process)."""


def _setup_devito_solve(cache: dict[str, dict[str, float]], frequency: float, cells_per_unit: int) -> None:
    """``DevitoSolve.time_solve``'s own setup (asv calls a benchmark's ``setup`` attribute with its parameters)."""
    problem = AcousticWave2D(frequency=frequency)
    simulate(problem.finite_difference_setup(), cells_per_unit)
    _live["problem"] = problem


class DevitoSolve:
    """Space order 8, Courant 0.5, in the layered medium."""

    params = ([2.0, 4.0], CELLS)
    param_names = ["frequency", "cells_per_unit"]
    timeout = 600

    def setup_cache(self) -> dict[str, dict[str, float]]:
        """Every combination simulated once: its time stepping, Devito's throughput and its error."""
        cache: dict[str, dict[str, float]] = {}
        for frequency in self.params[0]:
            problem = AcousticWave2D(frequency=frequency)
            x = problem.test_points()
            evaluator = Evaluator(x, problem.reference(x))
            for cells_per_unit in self.params[1]:
                simulation: AcousticSimulation = simulate(problem.finite_difference_setup(), cells_per_unit)
                cache[_key(frequency, cells_per_unit)] = {
                    "run_s": simulation.run_s,
                    "gpointss": simulation.performance["gpointss"],
                    "rel_l2": evaluator(simulation(x))["rel_l2"],
                }
        return cache

    def time_solve(self, cache: dict[str, dict[str, float]], frequency: float, cells_per_unit: int) -> None:
        simulate(_live["problem"].finite_difference_setup(), cells_per_unit)

    time_solve.setup = _setup_devito_solve  # type: ignore[attr-defined]  # this benchmark's own setup

    def track_run_seconds(self, cache: dict[str, dict[str, float]], frequency: float, cells_per_unit: int) -> float:
        """Time stepping alone (operator construction and compilation excluded)."""
        return cache[_key(frequency, cells_per_unit)]["run_s"]

    track_run_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_seconds_per_gigapoint(self, cache: dict[str, dict[str, float]], frequency: float, cells_per_unit: int) -> float:
        """1 / Devito's Gpts/s, so that smaller is better like every asv number."""
        return 1.0 / cache[_key(frequency, cells_per_unit)]["gpointss"]

    track_seconds_per_gigapoint.unit = "seconds per 1e9 point updates"  # type: ignore[attr-defined]

    def track_rel_l2(self, cache: dict[str, dict[str, float]], frequency: float, cells_per_unit: int) -> float:
        return cache[_key(frequency, cells_per_unit)]["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class PINNTrainStep:
    """100 fused steps of the 4 x 64 PINN on 8192 space-time collocation points."""

    def setup(self) -> None:
        cache_compilations()
        problem = AcousticWave2D()
        task = PINN(n_collocation=8192).training_task(problem, 0, problem.test_points()[:100])
        self.steps = task.compile_steps(100)
        self.params_, _, self.opt_state = task.initial_state()
        self.data = task.data
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))

    def time_100_steps(self) -> None:
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))
