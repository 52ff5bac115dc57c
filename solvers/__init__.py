"""Solver plugins and the interface they implement, one subpackage per family.

``base`` is the interface (``Solver.solve(problem, budget, seed)`` and its result);
``physics_informed`` (PINN, FBPINN and their training machinery), ``pde`` (classical
PDE/ODE solvers as refinement sweeps), ``reconstruction`` (CT / MRI, classical and
learned) and ``seismic`` (full-waveform inversion) hold the built-in plugins, which
register through the ``parity.solvers`` entry points like any third-party solver.
Their flat paths of before (``parity.solvers.refinement``, ...) still import, with a
``DeprecationWarning`` (:mod:`parity.moved`).
"""

from parity import moved
from parity.solvers.base import Budget, Checkpoint, Evaluator, Solver, SolveResult
from parity.solvers.pde.chebyshev import Chebyshev
from parity.solvers.pde.rk_ode import RungeKuttaODE
from parity.solvers.physics_informed.fbpinn import FBPINN
from parity.solvers.physics_informed.pinn import PINN

__all__ = ["FBPINN", "PINN", "Budget", "Checkpoint", "Chebyshev", "Evaluator", "RungeKuttaODE", "SolveResult", "Solver"]

moved.install()
__getattr__ = moved.package_getattr(__name__)
