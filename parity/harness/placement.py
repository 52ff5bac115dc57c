"""What a case needs of the machine it runs on, and where an executor ran it.

A sweep's cases may run one after another (the default), several at once on one host
(``parity sweep --workers N``) or on the workers of a Dask cluster. Timings mean
something only with their circumstances, so every record says how it was placed: the
executor, the worker, how many cases could run side by side on that host (its
``concurrency``; reports flag seconds measured with neighbours), the cores it was
pinned to and the GPUs it could see.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from parity.knobs import ParameterError

EXECUTORS = ("sequential", "local", "dask")


@dataclasses.dataclass(frozen=True)
class Resources:
    """Cores and GPUs a case holds while it runs; an executor never gives the same ones to two cases at once.

    On a Dask cluster they are worker resources (workers declare theirs, e.g. ``--resources
    "cores=8,gpus=1"``); a case waits for a worker with enough free.
    """

    cores: int = 1
    gpus: int = 0

    def __post_init__(self) -> None:
        if self.cores < 1 or self.gpus < 0:
            raise ParameterError(f"resources need cores >= 1 and gpus >= 0; got cores={self.cores}, gpus={self.gpus}")

    @classmethod
    def from_spec(cls, spec: Any, where: str, mpi_ranks: int = 1) -> Resources:
        """From a sweep's ``resources = { cores = 2, gpus = 1 }``; an MPI case needs a core per rank at least."""
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"cores", "gpus"}:
            raise ParameterError(f"{where}: resources must be a table with keys cores and gpus (integers); got {spec!r}")
        values = {key: spec.get(key, default) for key, default in (("cores", mpi_ranks), ("gpus", 0))}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
            raise ParameterError(f"{where}: resources.cores and resources.gpus must be integers; got {spec!r}")
        if values["cores"] < mpi_ranks:
            raise ParameterError(f"{where}: an MPI case on {mpi_ranks} ranks needs at least {mpi_ranks} cores; got cores={values['cores']}")
        return cls(**values)

    def as_dask(self) -> dict[str, float]:
        return {name: float(amount) for name, amount in dataclasses.asdict(self).items() if amount}


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where one case ran: recorded beside its timings."""

    executor: str = "sequential"
    concurrency: int = 1
    """Cases that could run at once on this host (1: the case had the host to itself)."""
    worker: str = ""
    cpu_set: tuple[int, ...] = ()
    """Cores the case's process was pinned to (empty: not pinned)."""
    visible_gpus: str = ""
    """``CUDA_VISIBLE_DEVICES`` as the case saw it."""

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"unknown executor {self.executor!r}; allowed: {', '.join(EXECUTORS)}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Placement:
        fields = json.loads(text)
        return cls(**{**fields, "cpu_set": tuple(fields.get("cpu_set", ()))})

    def record_fields(self) -> dict[str, Any]:
        return {"executor": self.executor, "concurrency": self.concurrency, "worker": self.worker,
                "cpu_set": list(self.cpu_set), "visible_gpus": self.visible_gpus}


ALONE = Placement()
"""A case run by the sequential sweep or ``parity run``: the host to itself."""
