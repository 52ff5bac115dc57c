"""Where this process stands in an MPI launch (``mpiexec -n N parity run ...``).

Classical solvers (DOLFINx, Devito) scale with MPI ranks; the harness needs to know the
rank count (it is the run's device count) and to let only rank 0 write and print.
mpi4py is imported only when the environment shows an MPI launch, so a plain run never
pays for it.
"""

from __future__ import annotations

import functools
import os

_LAUNCH_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "HYDI_CONTROL_FD")


@functools.cache
def rank_and_size() -> tuple[int, int]:
    """(rank, number of ranks); (0, 1) outside an MPI launch."""
    if not any(v in os.environ for v in _LAUNCH_VARIABLES):
        return 0, 1
    import dolfinx_solver  # noqa: F401  (loads the MPI library the wheels were built with)
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def is_root() -> bool:
    return rank_and_size()[0] == 0
