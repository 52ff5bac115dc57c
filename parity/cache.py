"""A disk cache for expensive, deterministic arrays (reference solutions).

Every case of a sweep runs in its own process, so a reference that takes a minute to
compute would otherwise be recomputed per case. Entries are keyed by a name and a
JSON-able key (the problem's parameters), written atomically, and live under
``$PARITY_CACHE_DIR`` (default ``~/.cache/parity``). Delete the folder to recompute.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
"""Bump when the way a cached quantity is computed changes, so old entries are ignored."""


def cache_dir() -> Path:
    return Path(os.environ.get("PARITY_CACHE_DIR", Path.home() / ".cache" / "parity"))


def cached_arrays(name: str, key: Mapping[str, Any], compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``'s arrays, from disk when an entry for (``name``, ``key``) exists."""
    digest = hashlib.sha256(json.dumps({"v": FORMAT_VERSION, **key}, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{digest}.npz"
    if path.exists():
        with np.load(path) as stored:
            return {k: stored[k] for k in stored.files}
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz.tmp", delete=False) as handle:
        np.savez(handle, **arrays)
    os.replace(handle.name, path)  # atomic: concurrent writers (MPI ranks, parallel sweeps) cannot tear it
    return arrays
