"""Timing of fast classical solves, robust to timer resolution and noise."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def median_time(fn: Callable[[], T], min_total_s: float = 0.05, max_repeats: int = 50) -> tuple[float, T]:
    """Median wall seconds of ``fn()`` over repeats until ``min_total_s`` has passed; and its last result."""
    times: list[float] = []
    result: T
    while True:
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
        if sum(times) >= min_total_s or len(times) >= max_repeats:
            return statistics.median(times), result
