"""Solver plugins and the interface they implement."""

from parity.solvers.base import Budget, Checkpoint, Evaluator, SolveResult, Solver
from parity.solvers.chebyshev import Chebyshev
from parity.solvers.fbpinn import FBPINN
from parity.solvers.pinn import PINN
from parity.solvers.rk_ode import RungeKuttaODE

__all__ = ["FBPINN", "PINN", "Budget", "Checkpoint", "Chebyshev", "Evaluator", "RungeKuttaODE", "SolveResult", "Solver"]
