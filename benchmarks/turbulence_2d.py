"""asv benchmarks for the JAX pseudo-spectral solver: decaying 2D turbulence and Burgers.

``VorticitySolve`` tracks the time stepping alone (compilation kept apart) per grid and
its vorticity error against the cached reference at Re = 1000 (reference grid 512).
``BurgersSolve`` does the same for Burgers at nu = 0.01/pi. The 512 x 512 turbulence
grid runs only with ``PARITY_ASV_SLOW=1``.
"""

from __future__ import annotations

import os

from parity.problems import Burgers1D
from parity.problems.turbulence_2d import DecayingTurbulence2D
from parity.solvers.pde.spectral import PseudoSpectral

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"


class VorticitySolve:
    """ETDRK4 at CFL 0.5 to T = 1, Re = 1000, k0 = 4."""

    params = ([128, 256, *([512] if SLOW else [])],)
    param_names = ["n"]
    timeout = 900

    def setup(self, n: int) -> None:
        self.problem = DecayingTurbulence2D(reynolds=1000.0)
        self.solution = PseudoSpectral().solve_at(self.problem, n)

    def track_run_seconds(self, n: int) -> float:
        return self.solution.run.run_s

    track_run_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_seconds_per_step(self, n: int) -> float:
        return self.solution.run.run_s / self.solution.run.steps

    track_seconds_per_step.unit = "seconds"  # type: ignore[attr-defined]

    def track_rel_l2(self, n: int) -> float:
        evaluator = self.problem.evaluator()
        return evaluator(self.solution(evaluator.x_test))["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class BurgersSolve:
    """Fourier pseudo-spectral Burgers, nu = 0.01/pi, to T = 1."""

    params = ([512, 2048],)
    param_names = ["n"]
    timeout = 300

    def setup(self, n: int) -> None:
        self.problem = Burgers1D()
        self.solution = PseudoSpectral().solve_at(self.problem, n)

    def track_run_seconds(self, n: int) -> float:
        return self.solution.run.run_s

    track_run_seconds.unit = "seconds"  # type: ignore[attr-defined]

    def track_rel_l2(self, n: int) -> float:
        evaluator = self.problem.evaluator()
        return evaluator(self.solution(evaluator.x_test))["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]
