"""The append-only record store.

Layout under the store root::

    records/<record_id>.json   one record per file, written atomically (temp + rename)
    traces/<record_id>.csv     its trace, written before the record that points to it
    fields/<record_id>.npy     the final solution on the problem's snapshot grid (float32)

One file per record makes every append atomic and lets concurrent processes (a sweep's
workers, MPI ranks) write without locks; nothing is ever rewritten. ``load_records``
returns every record as one tidy DataFrame, nested dicts flattened to dotted columns
(``problem_params.omega2``, ``solver_config.width``, ``versions.jax``...).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FINISHED = ("ok", "diverged")
"""Statuses a rerun of a sweep does not repeat; ``error`` and ``timeout`` are retried."""


class Store:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    @property
    def traces_dir(self) -> Path:
        return self.root / "traces"

    @property
    def fields_dir(self) -> Path:
        return self.root / "fields"

    def append(self, record: dict[str, Any], trace: pd.DataFrame | None, field: np.ndarray | None = None) -> dict[str, Any]:
        """Write ``trace`` and ``field``, then ``record`` pointing to them, atomically; return the record."""
        record = dict(record)
        record["trace_path"] = record["field_path"] = ""
        if trace is not None:
            path = self.traces_dir / f"{record['record_id']}.csv"
            _atomic_write(path, trace.to_csv(index=False))
            record["trace_path"] = str(path.relative_to(self.root))
        if field is not None:
            path = self.fields_dir / f"{record['record_id']}.npy"
            buffer = io.BytesIO()
            np.save(buffer, field.astype(np.float32))
            _atomic_write(path, buffer.getvalue())
            record["field_path"] = str(path.relative_to(self.root))
        _atomic_write(self.records_dir / f"{record['record_id']}.json", json.dumps(record, indent=1, sort_keys=True))
        return record

    def raw_records(self) -> list[dict[str, Any]]:
        if not self.records_dir.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.records_dir.glob("*.json"))]

    def finished_keys(self) -> set[str]:
        return {r["case_key"] for r in self.raw_records() if r.get("status") in FINISHED}

    def trace(self, record: dict[str, Any] | pd.Series) -> pd.DataFrame:
        path = record.get("trace_path") if hasattr(record, "get") else None
        if not path or (isinstance(path, float) and pd.isna(path)):
            return pd.DataFrame(columns=["wall_s", "step", "loss", "rel_l2", "norm_l1", "max_abs"])
        return pd.read_csv(self.root / path)


    def field(self, record: dict[str, Any] | pd.Series) -> np.ndarray | None:
        """The record's solution picture (see :meth:`ForwardProblem.snapshot`), if it has one."""
        path = record.get("field_path")
        if not isinstance(path, str) or not path:
            return None
        return np.load(self.root / path)


def load_records(root: str | os.PathLike[str] = "results") -> pd.DataFrame:
    """Every record in the store at ``root`` as one flat DataFrame (one row per record)."""
    raw = Store(root).raw_records()
    if not raw:
        return pd.DataFrame()
    frame = pd.json_normalize(raw)
    frame["created_utc"] = pd.to_datetime(frame["created_utc"])
    return frame.sort_values("created_utc", ignore_index=True)


def _atomic_write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
