"""Facts about the software and machine a record was produced on."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import resource
import socket
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from parity import devices as parity_devices

_PACKAGES = ("parity", "jax", "jaxlib", "equinox", "optax", "numpy", "scipy", "pandas", "devito", "fenics-dolfinx", "dolfinx-solver-real")


@functools.cache
def software() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    commit, dirty = _git_state()
    return {
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count() or 0,
    }


@functools.cache
def hardware() -> dict[str, Any]:
    """The host's processor model and memory: what a record's seconds were measured on, whichever worker ran it."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                model = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {"cpu_model": model or platform.processor() or platform.machine(), "memory_gb": memory_gb}


def _git_state() -> tuple[str, bool]:
    """The checkout's commit, and whether its code (not its results or reports) has changes."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        # results and reports change as the suite runs; they are not code
        status = git("status", "--porcelain", "--untracked-files=no", "--", ":/", ":!/results", ":!/reports")
    except (OSError, subprocess.SubprocessError):
        return "", False
    return commit, bool(status.strip())


def devices(count: int = 1, mpi_ranks: bool = False) -> dict[str, Any]:
    """What a run computes on: device kind and count, and whether the devices are simulated.

    ``count`` is the run's device count: JAX devices, or MPI ranks (``mpi_ranks``). Several
    JAX devices on a CPU are XLA's simulated devices, sharing the host's cores, so their
    timings are no speed-up figures; MPI ranks are real processes on real cores.
    """
    import jax

    devs = jax.devices()
    facts: dict[str, Any] = {
        "backend": jax.default_backend(), "device_kind": devs[0].device_kind, "device_count": count,
        "devices_available": len(devs),
        "devices_simulated": parity_devices.is_simulated(jax.default_backend(), min(count, jax.local_device_count())),
        "process_count": jax.process_count(),
    }
    if mpi_ranks:
        facts.update(device_kind="cpu (MPI ranks)", devices_simulated=False)
    return facts


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process, and peak device memory where JAX reports it."""
    import jax

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["peak_device_mb"] = stats["peak_bytes_in_use"] / 2**20
    return out
