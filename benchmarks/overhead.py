"""asv benchmarks: what a whole ``parity run`` process costs besides its training.

A user times the process from outside; the record's ``train_s`` is what the solver
trained. The rest is the interpreter and imports, compiling (or loading from the
persistent compilation cache), the evaluations on the test points and writing the
record. ``ProcessOverhead`` runs the issue's two commands with a smaller budget (the
overhead does not grow with the steps) in a fresh process and tracks whole minus
training seconds, with the compilation cache warm (``cached``: the second run of a
command, what a user rerunning it waits) and without it (``uncached``: what a first run
waits). The issue's target: at most 2.5 s for the full commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

COMMANDS: dict[str, list[str]] = {
    "fbpinn_multiscale_1d": ["multiscale_1d", "--solver", "fbpinn", "--set", "overlap=2.99", "--steps", "1000"],
    "pinn_burgers_1d": ["burgers_1d", "--solver", "pinn", "--set", "width=20", "--set", "depth=3", "--set", "n_collocation=2780",
                        "--steps", "300"],
}


def _overhead_s(command: list[str], store: str, cache: str) -> float:
    """Wall seconds of the whole ``parity run`` process minus the training seconds its record gives."""
    argv = [sys.executable, "-m", "parity", "run", *command, "--store", store, "--quiet", "--json"]
    if cache == "uncached":
        argv.append("--no-compilation-cache")
    t = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    whole = time.perf_counter() - t
    return whole - json.loads(out.stdout)["train_s"]


class ProcessOverhead:
    """Whole-process seconds minus training seconds of one ``parity run``."""

    params = (list(COMMANDS), ["cached", "uncached"])
    param_names = ("command", "compilation_cache")
    timeout = 600
    unit = "seconds"

    def setup(self, command: str, cache: str) -> None:
        self.store = tempfile.mkdtemp(prefix="parity-overhead-")
        _overhead_s(COMMANDS[command], self.store, cache)  # fills the caches: compilation (if used) and reference solutions

    def track_overhead_s(self, command: str, cache: str) -> float:
        return _overhead_s(COMMANDS[command], self.store, cache)
