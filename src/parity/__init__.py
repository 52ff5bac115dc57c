"""Parity: scientific machine learning against classical numerical solvers, honestly."""

from __future__ import annotations

from typing import Any

__all__ = ["load_records"]


def __getattr__(name: str) -> Any:
    if name == "load_records":  # imported on first use: ``import parity`` must not start JAX
        from parity.harness.store import load_records

        return load_records
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
