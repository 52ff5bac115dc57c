"""Facts about the software and machine a record was produced on."""

from __future__ import annotations

import functools
import os
import platform
import resource
import socket
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

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


def _git_state() -> tuple[str, bool]:
    repo = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        status = subprocess.run(  # results and reports change as the suite runs; they are not code
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results", ":!reports"],
            cwd=repo, capture_output=True, text=True, timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "", False
    return commit, bool(status.strip())


def devices() -> dict[str, Any]:
    """The JAX devices this process computes on (kind, count, backend)."""
    import jax

    devs = jax.devices()
    return {"backend": jax.default_backend(), "device_kind": devs[0].device_kind, "device_count": 1, "devices_available": len(devs)}


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process, and peak device memory where JAX reports it."""
    import jax

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["peak_device_mb"] = stats["peak_bytes_in_use"] / 2**20
    return out
