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
import os
import subprocess
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from parity.knobs import ParameterError

if TYPE_CHECKING:
    from parity.harness.run import Case

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


def local_shares(workers: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """This machine's cores and GPUs split into ``workers`` disjoint shares, by worker name ("0", "1", ...).

    A machine with fewer cores than workers is refused: two timed cases would share a core.
    """
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        raise ParameterError(f"--workers {workers} on {len(cores)} cores: two cases would share a core; allowed: 1..{len(cores)}")
    gpus = _visible_gpus()
    per_core, per_gpu = len(cores) // workers, len(gpus) // workers if len(gpus) >= workers else 0
    return {str(i): (tuple(cores[i * per_core:(i + 1) * per_core]), ",".join(gpus[i * per_gpu:(i + 1) * per_gpu]))
            for i in range(workers)}


def share_resources(shares: dict[str, tuple[tuple[int, ...], str]]) -> dict[str, float]:
    """What one of :func:`local_shares` offers a case (every share is the same size)."""
    cores, gpus = next(iter(shares.values()))
    return {"cores": float(len(cores) or 1), "gpus": float(len(gpus.split(",")) if gpus else 0)}


def check_fits(cases: Iterable[Case], offered: dict[str, float], where: str) -> None:
    """Refuse, before anything runs, a case that asks for more cores or GPUs than ``where`` offers.

    A sweep row's ``resources`` are a promise about where its seconds were measured (a
    case that asked for a GPU and ran on the CPU is not the case asked for), so every
    executor refuses such a row rather than running it on what there is.
    """
    for case in cases:
        for name, amount in case.resources.as_dask().items():
            if amount > offered.get(name, 0.0):
                raise ParameterError(
                    f"sweep row {case.display_label!r} (problem {case.problem.name}) asks for resources {name}={amount:g}, "
                    f"but {where} has {name}={offered.get(name, 0.0):g}; lower the row's resources or run the sweep where they exist "
                    "(--scheduler, or a cluster in the sweep file)"
                )


def _visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, by index (``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in listing.splitlines() if line.startswith("GPU "))]
