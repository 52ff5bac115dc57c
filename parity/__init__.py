"""Parity: scientific machine learning against classical numerical solvers, honestly."""

from __future__ import annotations

import pkgutil
from typing import Any

# The built-in plugins live at the repository's top, in problems/ and solvers/, and are
# installed as parity.problems and parity.solvers. Run from the checkout's root, this
# folder is found first on sys.path; extending __path__ lets those two still come from
# the installed tree.
__path__ = pkgutil.extend_path(__path__, __name__)

__all__ = ["load_records"]


def __getattr__(name: str) -> Any:
    if name == "load_records":  # imported on first use: ``import parity`` must not start JAX
        from parity.harness.store import load_records

        return load_records
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
