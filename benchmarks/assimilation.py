"""asv benchmarks for cycled assimilation on Lorenz-96 (Sakov & Oke's set-up): seconds per cycle of each method.

``Cycle`` times 200 cycles of one experiment, compiled in ``setup``, at fixed settings (the
tuned values of the committed sweep): the square-root EnKF with 24 members, the LETKF with 10
members and radius 4, 3D-Var, and 4D-Var with a 5-cycle window and 20 L-BFGS iterations (its
seconds per iteration are the cycle's divided by 20).
"""

from __future__ import annotations

import time

import numpy as np

from parity.problems.lorenz96 import Lorenz96
from parity.solvers.assimilation.ensemble_kalman import EnsembleTransformKF
from parity.solvers.assimilation.tuning import Assimilate
from parity.solvers.assimilation.variational import FourDVar, ThreeDVar

CYCLES = 200
METHODS = ["ETKF N=24", "LETKF N=10", "3D-Var", "4D-Var window 5"]


def assimilator(method: str, problem: Lorenz96) -> Assimilate:
    if method == "ETKF N=24":
        return EnsembleTransformKF(members=24).assimilator(problem, 1.02, 0)
    if method == "LETKF N=10":
        return EnsembleTransformKF(members=10, localisation=4.0).assimilator(problem, 1.03, 0)
    if method == "3D-Var":
        return ThreeDVar.assimilator(problem, 0.02)
    return FourDVar(window=5, iterations=20).assimilator(problem, 0.02)


class Cycle:
    """Seconds per assimilation cycle of one Lorenz-96 experiment (40 variables, all observed)."""

    params = (METHODS,)
    param_names = ["method"]
    timeout = 300

    def setup(self, method: str) -> None:
        problem = Lorenz96(cycles=CYCLES, burn_in=0, n_validation=1, n_test=1)
        self.observations = problem.experiments("test").observations
        self.assimilate = assimilator(method, problem)
        self.assimilate(self.observations)  # compile

    def time_cycle(self, method: str) -> None:
        np.asarray(self.assimilate(self.observations))

    def track_seconds_per_cycle(self, method: str) -> float:
        """The same, as one number per cycle (asv's time_ reports the whole 200-cycle run)."""
        started = time.perf_counter()
        self.assimilate(self.observations)
        return (time.perf_counter() - started) / CYCLES

    track_seconds_per_cycle.unit = "s"  # type: ignore[attr-defined]
