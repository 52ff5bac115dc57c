"""Timing: of fast classical solves, robust to timer resolution and noise; and of compilation."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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


COMPILATION_CACHE_HIT = "/jax/compilation_cache/cache_hits"
"""The event JAX records when it loads an executable from its persistent cache."""


@dataclasses.dataclass
class CompileTimes:
    """What compiling a solver's programs costs from scratch, and what this process spent on it.

    With JAX's persistent compilation cache on (:func:`use_compilation_cache`), a program
    compiled before is loaded in a fraction of its compile time. ``cold_s`` still counts
    the seconds it took when it was compiled (kept beside the cache), so a record's
    compile seconds mean the same with or without the cache; ``spent_s`` is what this
    process waited, and ``hits`` says how many programs came from the cache.
    """

    cold_s: float = 0.0
    spent_s: float = 0.0
    hits: int = 0

    def compile(self, lower: Callable[[], Any]) -> Any:
        """``lower().compile()``: a program traced, lowered and compiled, all timed, and counted."""
        import jax

        hits = _cache_hits()
        hits_before = hits[0]
        t = time.perf_counter()
        lowered = lower()
        executable = lowered.compile()
        spent = time.perf_counter() - t
        self.spent_s += spent
        cache = jax.config.jax_compilation_cache_dir
        if not cache:
            self.cold_s += spent
            return executable
        ledger = Path(cache) / "parity-compile-seconds" / f"{_program_key(lowered)}.json"
        if hits[0] > hits_before:
            self.hits += 1
            self.cold_s += _read_seconds(ledger, spent)
        else:
            self.cold_s += spent
            _write_seconds(ledger, spent)
        return executable

    def cache_state(self) -> str:
        """``off`` (no persistent cache), ``miss`` (every program compiled here) or ``hit`` (some loaded)."""
        import jax

        if not jax.config.jax_compilation_cache_dir:
            return "off"
        return "hit" if self.hits else "miss"


def use_compilation_cache(directory: Path) -> None:
    """Keep this process's compiled programs in ``directory`` and load those compiled before.

    Call before anything compiles: JAX decides at the first compilation whether it caches.
    """
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)  # evaluation programs too, not only > 1 s
    jax.config.update("jax_compilation_cache_max_size", 2**30)  # least recently used entries go past 1 GiB


@functools.cache
def _cache_hits() -> list[int]:
    """This process's count of programs loaded from the persistent cache (JAX's events), from the first call on."""
    import jax

    hits = [0]

    def count(event: str, **_: Any) -> None:
        if event == COMPILATION_CACHE_HIT:
            hits[0] += 1

    jax.monitoring.register_event_listener(count)
    return hits


def _program_key(lowered: Any) -> str:
    """The program and what compiles it: the same key for the same executable."""
    import jax

    backend = jax.devices()[0]
    text = f"{jax.__version__}\n{backend.platform}\n{backend.device_kind}\n{lowered.as_text()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_seconds(path: Path, fallback: float) -> float:
    try:
        return float(json.loads(path.read_text())["cold_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return fallback  # compiled by a process that kept no seconds: what loading it took is all we know


def _write_seconds(path: Path, seconds: float) -> None:
    with contextlib.suppress(OSError):  # the seconds are a courtesy to later runs, never a reason to fail this one
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
            json.dump({"cold_s": seconds}, handle)
        os.replace(handle.name, path)
