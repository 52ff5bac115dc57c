"""asv benchmarks for the JAX pseudo-spectral solver: decaying 2D turbulence and Burgers.

``VorticitySolve`` tracks the time stepping alone (compilation kept apart) per grid and
its vorticity error against the cached reference at Re = 1000 (reference grid 512).
``BurgersSolve`` does the same for Burgers at nu = 0.01/pi. The 512 x 512 turbulence
grid runs only with ``PARITY_ASV_SLOW=1``.

Every benchmark here is a ``track_``: the solver's own clock times the stepping apart
from compilation, so each class solves every grid once in ``setup_cache`` (asv would
otherwise repeat the solve in a process per benchmark and grid) and looks the numbers up.
"""

from __future__ import annotations

import os

from parity.problems import Burgers1D
from parity.problems.turbulence_2d import DecayingTurbulence2D
from parity.solvers.pde.spectral import PseudoSpectral

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"


VORTICITY_N: list[int] = [128, 256, *([512] if SLOW else [])]
BURGERS_N: list[int] = [512, 2048]


class VorticitySolve:
    """ETDRK4 at CFL 0.5 to T = 1, Re = 1000, k0 = 4."""

    params = (VORTICITY_N,)
    param_names = ["n"]
    timeout = 1800 if SLOW else 900

    def setup_cache(self) -> dict[str, dict[str, float]]:
        problem = DecayingTurbulence2D(reynolds=1000.0)
        evaluator = problem.evaluator()
        cache: dict[str, dict[str, float]] = {}
        for n in VORTICITY_N:
            solution = PseudoSpectral().solve_at(problem, n)
            cache[str(n)] = {
                "run_s": solution.run.run_s,
                "steps": solution.run.steps,
                "rel_l2": evaluator(solution(evaluator.x_test))["rel_l2"],
            }
        return cache

    def track_run_seconds(self, cache: dict[str, dict[str, float]], n: int) -> float:
        return cache[str(n)]["run_s"]

    track_run_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_seconds_per_step(self, cache: dict[str, dict[str, float]], n: int) -> float:
        return cache[str(n)]["run_s"] / cache[str(n)]["steps"]

    track_seconds_per_step.unit = "seconds"  # type: ignore[attr-defined]

    def track_rel_l2(self, cache: dict[str, dict[str, float]], n: int) -> float:
        return cache[str(n)]["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class BurgersSolve:
    """Fourier pseudo-spectral Burgers, nu = 0.01/pi, to T = 1."""

    params = (BURGERS_N,)
    param_names = ["n"]
    timeout = 300

    def setup_cache(self) -> dict[str, dict[str, float]]:
        problem = Burgers1D()
        evaluator = problem.evaluator()
        cache: dict[str, dict[str, float]] = {}
        for n in BURGERS_N:
            solution = PseudoSpectral().solve_at(problem, n)
            cache[str(n)] = {"run_s": solution.run.run_s, "rel_l2": evaluator(solution(evaluator.x_test))["rel_l2"]}
        return cache

    def track_run_seconds(self, cache: dict[str, dict[str, float]], n: int) -> float:
        return cache[str(n)]["run_s"]

    track_run_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_rel_l2(self, cache: dict[str, dict[str, float]], n: int) -> float:
        return cache[str(n)]["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]
