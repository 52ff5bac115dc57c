"""The harness: registry, case runner, sweeps and the record store.

Names are imported on first use, so ``parity run --devices N`` can ask XLA for N CPU
devices before anything here starts JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "UnknownNameError": "registry", "problem_class": "registry", "problems": "registry",
    "solver_class": "registry", "solvers": "registry", "solvers_for": "registry",
    "Case": "run", "UnsupportedError": "run", "run_case": "run",
    "Store": "store", "load_records": "store",
    "Sweep": "sweep", "load_sweep": "sweep", "run_sweep": "sweep",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
