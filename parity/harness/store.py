"""The append-only record store.

Layout under the store root::

    records/<record_id>.json   one record per file, written atomically (temp + rename)
    traces/<record_id>.csv     its trace, written before the record that points to it
    fields/<record_id>.npy     the final solution on the problem's snapshot grid (float32)
    claims/<case_key>.json     a case some sweep is running now (removed when it ends)

One file per record makes every append atomic and lets concurrent processes (a sweep's
workers, MPI ranks) write without locks; nothing is ever rewritten. ``load_records``
returns every record as one tidy DataFrame, nested dicts flattened to dotted columns
(``problem_params.omega2``, ``solver_config.width``, ``versions.jax``...).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd  # imported where records are read: a run that only writes one saves the import

FINISHED = ("ok", "diverged")
"""Statuses a rerun of a sweep does not repeat; ``error`` and ``timeout`` are retried."""
REQUIRED_FIELDS = ("record_id", "case_key", "created_utc", "status", "problem", "solver", "seed")
"""What a record must hold to be read at all; a file without them is skipped as damaged."""


class DamagedRecord(ValueError):
    """A file under ``records/`` that is not a usable record (truncated, foreign, incomplete)."""


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

    def append(
        self, record: dict[str, Any], trace: Sequence[Mapping[str, Any]] | pd.DataFrame | None, field: np.ndarray | None = None,
        pictures: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Write ``trace`` (checkpoint rows, or a frame such as :meth:`trace` returns), ``field`` and the extra ``pictures``
        (``<name>_path`` each), then ``record`` pointing to them, atomically; return the record."""
        record = dict(record)
        record["trace_path"] = record["field_path"] = ""
        if trace is not None:
            path = self.traces_dir / f"{record['record_id']}.csv"
            _atomic_write(path, trace.to_csv(index=False) if hasattr(trace, "to_csv") else _csv(trace))
            record["trace_path"] = str(path.relative_to(self.root))
        if field is not None:
            path = self.fields_dir / f"{record['record_id']}.npy"
            buffer = io.BytesIO()
            np.save(buffer, field.astype(np.float32))
            _atomic_write(path, buffer.getvalue())
            record["field_path"] = str(path.relative_to(self.root))
        for name, picture in (pictures or {}).items():
            path = self.fields_dir / f"{record['record_id']}-{name}.npy"
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(picture, np.float32))
            _atomic_write(path, buffer.getvalue())
            record[f"{name}_path"] = str(path.relative_to(self.root))
        _atomic_write(self.records_dir / f"{record['record_id']}.json", json.dumps(record, indent=1, sort_keys=True))
        return record

    def raw_records(self, *, quiet: bool = False) -> list[dict[str, Any]]:
        """Every readable record; each damaged file is skipped with one line on stderr naming it and why.

        A sweep's resume therefore treats a damaged record's case as not done, and a report
        is written from what is left.
        """
        if not self.records_dir.is_dir():
            return []
        records = []
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                records.append(self._read_record(path))
            except DamagedRecord as exc:
                if not quiet:
                    print(f"parity: skipping damaged record {path}: {exc}", file=sys.stderr)
        return records

    def _read_record(self, path: Path) -> dict[str, Any]:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DamagedRecord(f"not readable JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise DamagedRecord(f"a JSON {type(record).__name__}, not a record object")
        missing = [name for name in REQUIRED_FIELDS if name not in record]
        if missing:
            raise DamagedRecord(f"missing field(s) {', '.join(missing)}")
        for kind in ("trace_path", "field_path"):
            linked = record.get(kind)
            if isinstance(linked, str) and linked and not (self.root / linked).is_file():
                raise DamagedRecord(f"its {kind.removesuffix('_path')} file {linked} is missing")
        return record

    def read_record(self, record_id: str) -> dict[str, Any] | None:
        """One record by id; ``None`` when it is missing or damaged."""
        try:
            return self._read_record(self.records_dir / f"{record_id}.json")
        except DamagedRecord:
            return None

    def finished_keys(self) -> set[str]:
        return {r["case_key"] for r in self.raw_records(quiet=True) if r.get("status") in FINISHED}

    def finished_record(self, case_key: str) -> dict[str, Any] | None:
        """The latest ok or diverged record of one case, read from its own files only (record ids hold the key)."""
        latest = None
        for path in sorted(self.records_dir.glob(f"*-{case_key}-*.json")):
            try:
                record = self._read_record(path)
            except DamagedRecord:
                continue
            if record["case_key"] == case_key and record["status"] in FINISHED:
                latest = record
        return latest

    def record_ids(self, case_key: str) -> set[str]:
        """The ids of every record file of one case, readable or not."""
        return {path.stem for path in self.records_dir.glob(f"*-{case_key}-*.json")}

    def claim(self, case_key: str, owner: str, stale_after_s: float) -> bool:
        """Mark ``case_key`` as running for ``owner``; False when another owner runs it now.

        Two sweeps over one store (the same sweep started twice, a rerun while an abandoned
        client's cases still run, two clusters) must not run a case twice. The claim file is
        created exclusively; one left by the same owner (a retry after its worker died), by a
        dead process on this host or older than ``stale_after_s`` is taken over.
        """
        path = self._claim_path(case_key)
        mine = json.dumps({"owner": owner, "host": socket.gethostname(), "pid": os.getpid(), "time": time.time()})
        if _atomic_write(path, mine, exclusive=True):
            return True
        if not _abandoned(self._read_claim(case_key), owner, stale_after_s):
            return False
        _atomic_write(path, mine)
        return True

    @contextlib.contextmanager
    def alone_on_this_host(self) -> Iterator[None]:
        """Within: no other one-at-a-time sweep on this store runs a case on this host (they take turns).

        Such a sweep's records say their case had the host to itself; two of them started
        on one store would otherwise measure their cases side by side. (The lock is a file
        of this host's, outside the store, which stays as clean as its records.)
        """
        store = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        with open(Path(tempfile.gettempdir()) / f"parity-store-{store}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or its process dies
            yield

    def claimed_by_other(self, case_key: str, owner: str, stale_after_s: float) -> bool:
        """Whether someone other than ``owner`` holds a live claim on ``case_key`` (see :meth:`claim`)."""
        return not _abandoned(self._read_claim(case_key), owner, stale_after_s) if self._claim_path(case_key).exists() else False

    def release(self, case_key: str, owner: str) -> None:
        """Drop ``owner``'s claim on ``case_key`` (another's is left alone)."""
        if self._read_claim(case_key).get("owner") == owner:
            self._claim_path(case_key).unlink(missing_ok=True)

    def discard_unrecorded(self, case_key: str) -> None:
        """Remove what a stopped or killed run of ``case_key`` half wrote: traces, fields and temporary files no record points to.

        Only the holder of the case's claim calls it, so nobody is writing them.
        """
        recorded = self.record_ids(case_key)
        for folder in (self.traces_dir, self.fields_dir, self.records_dir):
            for path in folder.glob(f"*-{case_key}-*"):
                if path.name.startswith(".") or path.name.partition(".")[0] not in recorded:  # ".<id>.json.<random>.tmp": half written
                    path.unlink(missing_ok=True)

    def _claim_path(self, case_key: str) -> Path:
        return self.root / "claims" / f"{case_key}.json"

    def _read_claim(self, case_key: str) -> dict[str, Any]:
        """The claim on ``case_key``; empty when there is none or it cannot be read."""
        try:
            claim = json.loads(self._claim_path(case_key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return claim if isinstance(claim, dict) else {}

    def trace(self, record: dict[str, Any] | pd.Series) -> pd.DataFrame:
        import pandas as pd

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


def load_records(root: str | os.PathLike[str] = "results", *, quiet: bool = False) -> pd.DataFrame:
    """Every readable record in the store at ``root`` as one flat DataFrame (one row per record).

    Damaged files are skipped, each named on stderr unless ``quiet``.
    """
    import pandas as pd

    raw = Store(root).raw_records(quiet=quiet)
    if not raw:
        return pd.DataFrame()
    frame = pd.json_normalize(raw)
    frame["created_utc"] = pd.to_datetime(frame["created_utc"])
    return frame.sort_values("created_utc", ignore_index=True)


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as CSV: a column for every key, in order of first appearance; a missing or NaN value left empty."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if _missing(row.get(column)) else row[column] for column in columns])
    return buffer.getvalue()


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN


def _abandoned(claim: dict[str, Any], owner: str, stale_after_s: float) -> bool:
    """Whether a claim may be taken over by ``owner``: its own, unreadable, its process gone, or stale."""
    if not claim or claim.get("owner") == owner or time.time() - float(claim.get("time", 0.0)) > stale_after_s:
        return True
    if claim.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(claim["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError):
        return False
    return False


def _atomic_write(path: Path, content: str | bytes, *, exclusive: bool = False) -> bool:
    """Write ``path`` whole (readers never see it half written); ``exclusive``: only if it does not exist (else False)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic, and fails where the path exists
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink()
        return True
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
