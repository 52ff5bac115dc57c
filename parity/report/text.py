"""Numbers and tables as the reports write them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite number (None, NaN, infinities and text are not)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def error_text(value: float) -> str:
    return "—" if not finite(value) else f"{value:.2e}"


def eps_text(eps: float) -> str:
    """A threshold as 1e-3 (the tables' headers say 1e-03)."""
    mantissa, exponent = f"{eps:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def times_text(ratio: float) -> str:
    """A ratio to two significant figures, with thousands separators (24,000; 7.1)."""
    rounded = float(f"{ratio:.2g}")
    return f"{rounded:,.0f}" if rounded >= 10 else f"{rounded:g}"


def seconds_text(value: float) -> str:
    """Three significant digits, without an exponent above 1e-4 s."""
    if not finite(value):
        return "—"
    return f"{value:.0f} s" if abs(value) >= 100 else f"{value:.3g} s"


def pipe_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown pipe table; pipes inside cells are escaped."""
    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)])
