"""Problems and solvers found through ``importlib.metadata`` entry points.

Built-in plugins register through the same groups a third-party package uses
(``parity.problems`` and ``parity.solvers`` in its pyproject), so an outside plugin is
a first-class citizen. A plugin that fails to import, or is not a Problem / Solver
subclass, is reported in one line on stderr and skipped.

Looking one name up imports that plugin alone: ``parity run`` must not pay for every
plugin's imports (SciPy's statistics, DOLFINx, Devito) to run one case.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from parity.problems.base import Problem
from parity.solvers.base import Solver

PROBLEM_GROUP = "parity.problems"
SOLVER_GROUP = "parity.solvers"

T = TypeVar("T", bound=type)


class UnknownNameError(ValueError):
    """A problem or solver name that no plugin registers."""


def _load(group: str, base: T, only: str | None = None) -> dict[str, T]:
    """The group's plugins by name (only those named ``only`` when given), each imported once."""
    found: dict[str, T] = {}
    for ep in entry_points(group=group):
        if only is not None and ep.name != only:
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin must not take the suite down
            print(f"parity: skipped plugin {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if not (isinstance(obj, type) and issubclass(obj, base)):
            print(f"parity: skipped plugin {ep.name!r} ({ep.value}): not a {base.__name__} subclass", file=sys.stderr)
            continue
        if ep.name in found and found[ep.name] is not obj:
            print(f"parity: skipped plugin {ep.name!r} ({ep.value}): name already registered", file=sys.stderr)
            continue
        found[ep.name] = obj
    return dict(sorted(found.items()))


@functools.cache
def problems() -> dict[str, type[Problem]]:
    """All registered problem classes by name."""
    return _load(PROBLEM_GROUP, Problem)


@functools.cache
def solvers() -> dict[str, type[Solver]]:
    """All registered solver classes by name."""
    return _load(SOLVER_GROUP, Solver)


@functools.cache
def _named(group: str, base: type, name: str) -> dict[str, type]:
    return _load(group, base, only=name)


def refresh() -> None:
    """Forget the loaded plugins (after installing one at run time)."""
    problems.cache_clear()
    solvers.cache_clear()
    _named.cache_clear()


def problem_class(name: str) -> type[Problem]:
    """The problem class registered as ``name``; only its plugin is imported."""
    return _lookup("problem", name, _named(PROBLEM_GROUP, Problem, name), problems)


def solver_class(name: str) -> type[Solver]:
    """The solver class registered as ``name``; only its plugin is imported."""
    return _lookup("solver", name, _named(SOLVER_GROUP, Solver, name), solvers)


def _lookup(what: str, name: str, found: dict[str, T], everything: Callable[[], dict[str, T]]) -> T:
    if name not in found:  # the error lists every plugin, so only a wrong name imports them all
        raise UnknownNameError(f"unknown {what} {name!r}; available: {', '.join(everything()) or '(none registered)'}")
    return found[name]


def solvers_for(problem: Problem) -> list[str]:
    """Names of the registered solvers that support ``problem``."""
    return [name for name, cls in solvers().items() if cls.supports(problem)]
