"""Parity: scientific machine learning against classical numerical solvers, honestly."""

from parity.harness.store import load_records

__all__ = ["load_records"]
