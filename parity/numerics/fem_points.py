"""Point evaluation of DOLFINx functions, shared by every finite-element solver and reference.

Test points are arbitrary, so a solution is evaluated where the points are, never
interpolated from a grid; under MPI each rank evaluates the points in its own cells and
the values are gathered, so every rank returns all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jaxtyping import Float


def point_values(function: Any, x: Float[np.ndarray, "m d"]) -> Float[np.ndarray, "m c"]:
    """Values of a dolfinx ``Function`` at points, on every rank (each rank evaluates those in its cells)."""
    from dolfinx import geometry

    domain = function.function_space.mesh
    points = np.zeros((x.shape[0], 3))
    points[:, : x.shape[1]] = x
    tree = geometry.bb_tree(domain, domain.topology.dim)
    cells = geometry.compute_colliding_cells(domain, geometry.compute_collisions_points(tree, points), points)
    found = np.diff(cells.offsets) > 0
    local = np.flatnonzero(found)
    width = int(np.prod(function.function_space.value_shape, dtype=int))
    values = np.zeros((points.shape[0], width))
    if local.size:
        first = cells.array[cells.offsets[local]].astype(np.int32)
        values[local] = np.asarray(function.eval(points[local], first)).reshape(local.size, width)
    if domain.comm.size > 1:  # a point on a partition boundary is found twice, with one value
        for other_values, other_found in domain.comm.allgather((values, found)):
            values = np.where((other_found & ~found)[:, None], other_values, values)
            found |= other_found
    if not found.all():
        raise ValueError(f"{int((~found).sum())} evaluation points lie outside the mesh")
    return values
