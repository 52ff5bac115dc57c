"""The harness: registry, case runner, sweeps and the record store."""

from parity.harness.registry import UnknownNameError, problem_class, problems, solver_class, solvers, solvers_for
from parity.harness.run import Case, UnsupportedError, run_case
from parity.harness.store import Store, load_records
from parity.harness.sweep import Sweep, load_sweep, run_sweep

__all__ = [
    "Case",
    "Store",
    "Sweep",
    "UnknownNameError",
    "UnsupportedError",
    "load_records",
    "load_sweep",
    "problem_class",
    "problems",
    "run_case",
    "run_sweep",
    "solver_class",
    "solvers",
    "solvers_for",
]
