"""Finite elements for -div(a grad u) = 1 on the unit square with u = 0 on its boundary, a batch of coefficients at a time.

The coefficient is piecewise constant on the mesh's cells (DG0), so a mesh whose vertices
follow the coefficient's jumps resolves the interfaces exactly and Lagrange elements keep
their convergence. A batch only changes the coefficient: mesh, spaces, forms, the load
vector, the matrix's sparsity and the Krylov solver are built once, so a solve costs one
matrix assembly and one linear solve. Everything runs on ``MPI.COMM_SELF``: data
generation solves many small problems, one per process.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
from jaxtyping import Float

LINEAR_SOLVERS = {
    "cg_gamg": {"ksp_type": "cg", "pc_type": "gamg"},
    "cholesky": {"ksp_type": "preonly", "pc_type": "cholesky", "pc_factor_mat_solver_type": "mumps"},
}
"""CG + smoothed-aggregation AMG (hypre is not in the PyPI wheel), or a sparse direct MUMPS Cholesky."""
_prefixes = itertools.count()


@dataclasses.dataclass
class DarcyFEM:
    """One mesh's Lagrange FEM solve, set up once; ``solve`` takes one DG0 coefficient per instance."""

    cell_centres: Float[np.ndarray, "c 2"]
    """Centroid of each cell, in the order ``solve`` takes the coefficient's values."""
    dofs: int
    """Unknowns of the Lagrange space (boundary included)."""
    _coefficient: Any
    _solution: Any
    _bilinear: Any
    _bc: Any
    _matrix: Any
    _rhs: Any
    _ksp: Any
    _points: Float[np.ndarray, "p 3"]
    _point_cells: Any

    @classmethod
    def build(cls, breaks: Float[np.ndarray, " m"], degree: int, points: Float[np.ndarray, "p 2"], linear_solver: str = "cholesky",
              rtol: float = 1e-10) -> DarcyFEM:
        """Set up on the tensor-product triangle mesh with vertex coordinates ``breaks`` (0 to 1) on both axes.

        ``points`` are where ``solve`` returns u (the learning grid).
        """
        import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
        import ufl
        from dolfinx import fem, geometry, mesh
        from dolfinx.fem import petsc
        from mpi4py import MPI

        cells = len(breaks) - 1
        domain = mesh.create_rectangle(MPI.COMM_SELF, [[0.0, 0.0], [1.0, 1.0]], [cells, cells], mesh.CellType.triangle)
        uniform = np.linspace(0.0, 1.0, cells + 1)
        for axis in (0, 1):  # move the uniform vertices onto the breaks: the triangles stay straight
            domain.geometry.x[:, axis] = np.interp(domain.geometry.x[:, axis], uniform, breaks)
        space = fem.functionspace(domain, ("Lagrange", degree))
        cellwise = fem.functionspace(domain, ("DG", 0))
        coefficient, solution = fem.Function(cellwise), fem.Function(space)
        u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
        bilinear = fem.form(coefficient * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
        tdim = domain.topology.dim
        domain.topology.create_connectivity(tdim - 1, tdim)
        boundary = fem.locate_dofs_topological(space, tdim - 1, mesh.exterior_facet_indices(domain.topology))
        bc = fem.dirichletbc(np.float64(0.0), boundary, space)
        rhs = petsc.assemble_vector(fem.form(fem.Constant(domain, 1.0) * v * ufl.dx))
        petsc.set_bc(rhs, [bc])  # zero boundary data: no lifting needed
        matrix = petsc.create_matrix(bilinear)
        ksp = _krylov(matrix, linear_solver, rtol)
        lifted = np.zeros((len(points), 3))
        lifted[:, :2] = points
        tree = geometry.bb_tree(domain, tdim)
        colliding = geometry.compute_colliding_cells(domain, geometry.compute_collisions_points(tree, lifted), lifted)
        if np.any(np.diff(colliding.offsets) == 0):
            raise ValueError("output points must lie in the unit square")
        point_cells = colliding.array[colliding.offsets[:-1]].astype(np.int32)
        centres = cellwise.tabulate_dof_coordinates()[:, :2]
        return cls(centres, space.dofmap.index_map.size_global, coefficient, solution, bilinear, bc, matrix, rhs, ksp, lifted, point_cells)

    def solve(self, coefficients: Float[np.ndarray, "b c"]) -> Float[np.ndarray, "b p"]:
        """u at the output points for each instance's cell values of a (assemble, solve, evaluate)."""
        from dolfinx.fem import petsc

        values = np.empty((len(coefficients), len(self._points)))
        for i, cell_values in enumerate(coefficients):
            self._coefficient.x.array[:] = cell_values
            self._matrix.zeroEntries()
            petsc.assemble_matrix(self._matrix, self._bilinear, bcs=[self._bc])
            self._matrix.assemble()
            self._ksp.setOperators(self._matrix)
            self._ksp.solve(self._rhs, self._solution.x.petsc_vec)
            if self._ksp.getConvergedReason() <= 0:
                raise RuntimeError(f"Darcy linear solve did not converge: PETSc reason {self._ksp.getConvergedReason()}")
            self._solution.x.scatter_forward()
            values[i] = self._solution.eval(self._points, self._point_cells)[:, 0]
        return values


def _krylov(matrix: Any, linear_solver: str, rtol: float) -> Any:
    """A KSP configured from :data:`LINEAR_SOLVERS` under its own options prefix."""
    from petsc4py import PETSc

    ksp = PETSc.KSP().create(matrix.getComm())
    ksp.setOptionsPrefix(f"parity_darcy_{next(_prefixes)}_")
    options = PETSc.Options()
    settings = LINEAR_SOLVERS[linear_solver]
    for key, value in settings.items():
        options[f"{ksp.getOptionsPrefix()}{key}"] = value
    ksp.setOperators(matrix)
    ksp.setTolerances(rtol=rtol, atol=1e-50)
    ksp.setFromOptions()
    for key in settings:
        options.delValue(f"{ksp.getOptionsPrefix()}{key}")
    return ksp
