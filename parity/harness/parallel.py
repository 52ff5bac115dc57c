"""Where this process stands in a parallel launch, and how to make one.

Classical solvers (DOLFINx, Devito) scale with MPI ranks (``mpiexec -n N parity run
...``): the rank count is the run's device count. A multi-host JAX job
(``parity run --distributed``, one process per host) spreads SciML training over every
host's devices. Either way only the first process writes records and prints. mpi4py is
imported only when the environment shows an MPI launch, so a plain run never pays for it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

_LAUNCH_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "HYDI_CONTROL_FD")
_jax_process: list[int] = []
"""This process's index in a multi-host JAX job, once it has joined one."""


@functools.cache
def rank_and_size() -> tuple[int, int]:
    """(rank, number of ranks); (0, 1) outside an MPI launch."""
    if not any(v in os.environ for v in _LAUNCH_VARIABLES):
        return 0, 1
    import dolfinx_solver  # noqa: F401  (loads the MPI library the wheels were built with)
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def joined_jax_job(process_index: int) -> None:
    """Note that this process is ``process_index`` of a multi-host JAX job."""
    _jax_process[:] = [process_index]


def is_root() -> bool:
    """True for the one process that writes and prints: JAX process 0, or MPI rank 0."""
    if _jax_process:
        return _jax_process[0] == 0
    return rank_and_size()[0] == 0


def mpiexec_command(ranks: int) -> list[str]:
    """``mpiexec -n ranks`` from the MPI next to this interpreter (the mpich wheel's), else from PATH."""
    beside = Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError(f"{ranks} MPI ranks requested, but no mpiexec next to {sys.executable} or on PATH")
    return [found, "-n", str(ranks)]
