"""Public import paths that moved, kept working with a ``DeprecationWarning`` that names the new place.

A name a plugin could import is public (see :mod:`parity.api`). When one moves, it is
added here: a whole module to :data:`MODULES`, a name that left its module to
:data:`NAMES`. An old module path imports the new module itself (the same object, so
``isinstance`` checks and monkeypatching agree) through a meta-path finder that
``parity.solvers`` installs; an old name is served by the old module's ``__getattr__``.
Only the standard library is imported here, so any layer may use it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

_SOLVER_MOVES = {  # parity.solvers.<old> -> parity.solvers.<new>: the solvers grouped by family (commit 65d7b03)
    "chebyshev": "pde.chebyshev", "devito_wave": "pde.devito_wave", "fem_navier_stokes": "pde.fem_navier_stokes",
    "fem_poisson": "pde.fem_poisson", "refinement": "pde.refinement", "rk_ode": "pde.rk_ode", "spectral": "pde.spectral",
    "decomposition": "physics_informed.decomposition", "fbpinn": "physics_informed.fbpinn",
    "fbpinn_partition": "physics_informed.fbpinn_partition", "networks": "physics_informed.networks",
    "pinn": "physics_informed.pinn", "schedule": "physics_informed.schedule", "training": "physics_informed.training",
    "classical_reconstruction": "reconstruction.classical_reconstruction", "fbp": "reconstruction.fbp",
    "learned_gd": "reconstruction.learned_gd", "learned_pd": "reconstruction.learned_pd",
    "learned_reconstruction": "reconstruction.learned_reconstruction", "tv_reconstruction": "reconstruction.tv_reconstruction",
    "zero_filled": "reconstruction.zero_filled", "fwi": "seismic.fwi", "learned_fwi": "seismic.learned_fwi",
    "per_sample_inversion": "seismic.per_sample_inversion", "pinn_fwi": "seismic.pinn_fwi", "starting_model": "seismic.starting_model",
}
MODULES: dict[str, str] = {
    **{f"parity.solvers.{old}": f"parity.solvers.{new}" for old, new in _SOLVER_MOVES.items()},
    "parity.solvers.assimilation.filtering": "parity.solvers.assimilation.tuning",  # it serves windows too (issue 30)
}
"""Old dotted module path -> the module's place now."""

NAMES: dict[str, dict[str, str]] = {
    "parity.problems.inverse": {"ImagingOperator": "parity.operators", "operator_norm": "parity.operators"},
    "parity.solvers.reconstruction.learned_reconstruction": {"minibatches": "parity.solvers.supervised"},
}
"""Module -> {name that left it: the module that holds it now}."""

RENAMED: dict[str, dict[str, str]] = {
    "parity.solvers.assimilation.tuning": {"tuned_filter_solve": "tuned_assimilation_solve"},
}
"""Module -> {old name: the name it has now in the same module}."""


def _warn(old: str, new: str) -> None:
    """Warn at the line that used the old path: past this module's frames and the import machinery's."""
    message = f"{old} moved to {new}; import it from there (or from parity.api)"
    frame = sys._getframe(1)
    while frame.f_back is not None and (frame.f_code.co_filename == __file__ or "importlib" in frame.f_code.co_filename):
        frame = frame.f_back
    where = frame.f_globals
    warnings.warn_explicit(message, DeprecationWarning, frame.f_code.co_filename, frame.f_lineno, where.get("__name__"),
                           where.setdefault("__warningregistry__", {}), where)


class _Alias(importlib.abc.Loader):
    """Loads an old module path as the module that now lives at ``new``."""

    def __init__(self, new: str) -> None:
        self.new = new
        self.own_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        _warn(spec.name, self.new)
        module = importlib.import_module(self.new)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the module; it keeps its own (reload, pickling, tracebacks).
        module.__spec__ = self.own_spec


class _MovedModules(importlib.abc.MetaPathFinder):
    """Answers only for the old paths in :data:`MODULES`, and only after the ordinary finders found nothing."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        new = MODULES.get(fullname)
        return None if new is None else importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder last on ``sys.meta_path`` (once), so old module paths keep importing."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())


def package_getattr(package: str) -> Callable[[str], ModuleType]:
    """A package's ``__getattr__`` that gives ``package.<old>`` (attribute access, no import statement) too."""

    def __getattr__(name: str) -> ModuleType:
        if f"{package}.{name}" in MODULES:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def names_getattr(module: str) -> Callable[[str], Any]:
    """A module's ``__getattr__`` that serves the names in :data:`NAMES` that left it and the old names in :data:`RENAMED`."""

    def __getattr__(name: str) -> Any:
        if name in RENAMED.get(module, {}):
            new_name = RENAMED[module][name]
            _warn(f"{module}.{name}", f"{module}.{new_name}")
            return getattr(sys.modules[module], new_name)
        new = NAMES.get(module, {}).get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        _warn(f"{module}.{name}", f"{new}.{name}")
        return getattr(importlib.import_module(new), name)

    return __getattr__
