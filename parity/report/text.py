"""Numbers and tables as the reports write them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def error_text(value: float) -> str:
    return "—" if not _finite(value) else f"{value:.2e}"


def seconds_text(value: float) -> str:
    """Three significant digits, without an exponent above 1e-4 s."""
    if not _finite(value):
        return "—"
    return f"{value:.0f} s" if abs(value) >= 100 else f"{value:.3g} s"


def pipe_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown pipe table; pipes inside cells are escaped."""
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)])
