"""Lagrange finite elements on DOLFINx for -laplace(u) - k^2 u = f with Dirichlet data.

The classical reference a FEM practitioner would run: P1 or P2 on a uniform triangle
mesh, the data as exact UFL expressions, and by default the linear solver an expert
picks for the operator: conjugate gradients preconditioned by algebraic multigrid
(PETSc GAMG; hypre is not in the PyPI wheel) for the symmetric positive definite
Poisson matrix, and a sparse direct LU (MUMPS, parallel under MPI) for the indefinite
Helmholtz matrix, where CG breaks down and AMG loses its robustness.
It runs over a mesh-refinement sweep, each solve timed on its own, with mesh and form
setup, assembly and the linear solve recorded apart.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any, ClassVar

import numpy as np
from jaxtyping import Float

from parity.knobs import all_at_least, knob
from parity.numerics.fem_points import point_values
from parity.problems.base import DirichletPoisson, ForwardProblem, Problem
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.pde.refinement import refinement_sweep

LINEAR_SOLVERS = {
    "cg_gamg": {"ksp_type": "cg", "pc_type": "gamg"},
    "lu": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"},
}
AUTO = "auto"
"""cg_gamg when k = 0 (SPD), lu otherwise."""
_prefixes = itertools.count()


@dataclasses.dataclass
class FEMSolution:
    """A finite-element solution, evaluable at arbitrary points of the domain."""

    function: Any
    """The dolfinx ``Function``."""
    dofs: int
    iterations: int
    setup_s: float
    assemble_s: float
    solve_s: float

    def __call__(self, x: Float[np.ndarray, "m d"]) -> Float[np.ndarray, "m 1"]:
        """Point values, on every rank."""
        return point_values(self.function, x)


@dataclasses.dataclass(frozen=True)
class FEMPoisson(Solver):
    name: ClassVar[str] = "fem"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "DOLFINx Lagrange FEM, CG + algebraic multigrid (GAMG) for Poisson or MUMPS LU for Helmholtz, mesh-refinement sweep"
    deterministic: ClassVar[bool] = True
    mpi_parallel: ClassVar[bool] = True

    degree: int = knob(1, "Lagrange polynomial degree", "integer in 1..4", lambda d: 1 <= d <= 4)
    resolutions: tuple[int, ...] = knob(
        (8, 16, 32, 64, 128, 256), "cells per side of the refinement sweep (the last one is the result)",
        "non-empty list of integers >= 2", all_at_least(2),
    )
    linear_solver: str = knob(
        AUTO, "linear solver (auto: CG + GAMG for Poisson, MUMPS LU for Helmholtz)", " | ".join([AUTO, *LINEAR_SOLVERS]),
        lambda name: name == AUTO or name in LINEAR_SOLVERS,
    )
    rtol: float = knob(1e-10, "relative residual tolerance of the Krylov solver", "number in (0, 1)", lambda r: 0 < r < 1)

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem) and isinstance(problem, DirichletPoisson) and problem.in_dim in (1, 2, 3)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem) and isinstance(problem, DirichletPoisson)
        t0 = time.perf_counter()  # FFCx compiles the forms once (cached on disk); keep it out of the curve
        self.solve_at(problem, min(self.resolutions))
        compile_s = time.perf_counter() - t0
        result, cells = refinement_sweep(
            self.resolutions, lambda n: self.solve_at(problem, n), lambda _, solution: solution.dofs,
            budget, evaluator, progress, min_timing_s=0.05,
            details_of=lambda solution: {
                "setup_s": solution.setup_s, "assemble_s": solution.assemble_s,
                "linear_solve_s": solution.solve_s, "iterations": solution.iterations,
            },
        )
        last = result.trace[-1].details
        result.timings.update(compile_s=compile_s, setup_s=last["setup_s"], assemble_s=last["assemble_s"], linear_solve_s=last["linear_solve_s"])
        result.info = {"cells_per_side": cells, "dofs": result.trace[-1].step, "iterations": int(last["iterations"]),
                       "linear_solver": self.linear_solver_for(problem), "degree": self.degree}
        return result

    def linear_solver_for(self, problem: DirichletPoisson) -> str:
        """The configured linear solver, with ``auto`` resolved by the operator's definiteness."""
        if self.linear_solver != AUTO:
            return self.linear_solver
        return "cg_gamg" if problem.wavenumber_squared() == 0 else "lu"

    def solve_at(self, problem: DirichletPoisson, cells_per_side: int) -> FEMSolution:
        """Mesh, assemble and solve at one resolution (serial or under ``mpiexec``)."""
        import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
        import ufl
        from dolfinx import fem, mesh
        from dolfinx.fem import petsc
        from mpi4py import MPI
        from petsc4py import PETSc

        assert isinstance(problem, ForwardProblem)
        t0 = time.perf_counter()
        lower, upper = problem.bounds
        comm = MPI.COMM_WORLD
        if problem.in_dim == 1:
            domain = mesh.create_interval(comm, cells_per_side, [lower[0], upper[0]])
        elif problem.in_dim == 2:
            domain = mesh.create_rectangle(comm, [lower, upper], [cells_per_side] * 2, mesh.CellType.triangle)
        else:
            domain = mesh.create_box(comm, [lower, upper], [cells_per_side] * 3, mesh.CellType.tetrahedron)
        space = fem.functionspace(domain, ("Lagrange", self.degree))
        x = ufl.SpatialCoordinate(domain)
        u, v = ufl.TrialFunction(space), ufl.TestFunction(space)
        k2 = problem.wavenumber_squared()
        bilinear = fem.form((ufl.inner(ufl.grad(u), ufl.grad(v)) - k2 * u * v) * ufl.dx)
        linear = fem.form(problem.poisson_source(x, ufl) * v * ufl.dx)
        tdim = domain.topology.dim
        domain.topology.create_connectivity(tdim - 1, tdim)
        boundary = fem.locate_dofs_topological(space, tdim - 1, mesh.exterior_facet_indices(domain.topology))
        g = fem.Function(space)
        g.interpolate(lambda points: np.broadcast_to(problem.dirichlet_value(points, np), points.shape[1:]))
        bc = fem.dirichletbc(g, boundary)
        t1 = time.perf_counter()

        matrix = petsc.assemble_matrix(bilinear, bcs=[bc])
        matrix.assemble()
        rhs = petsc.assemble_vector(linear)
        petsc.apply_lifting(rhs, [bilinear], bcs=[[bc]])
        rhs.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        petsc.set_bc(rhs, [bc])
        t2 = time.perf_counter()

        ksp = PETSc.KSP().create(comm)
        ksp.setOptionsPrefix(f"parity_fem_{next(_prefixes)}_")
        options = PETSc.Options()
        linear_solver = LINEAR_SOLVERS[self.linear_solver_for(problem)]
        for key, value in linear_solver.items():
            options[f"{ksp.getOptionsPrefix()}{key}"] = value
        ksp.setOperators(matrix)
        ksp.setTolerances(rtol=self.rtol, atol=1e-50)
        ksp.setFromOptions()
        for key in linear_solver:
            options.delValue(f"{ksp.getOptionsPrefix()}{key}")
        solution = fem.Function(space)
        ksp.solve(rhs, solution.x.petsc_vec)
        solution.x.scatter_forward()
        t3 = time.perf_counter()
        if ksp.getConvergedReason() <= 0:
            raise RuntimeError(f"linear solve did not converge: PETSc reason {ksp.getConvergedReason()}")
        iterations = ksp.getIterationNumber()
        ksp.destroy(), matrix.destroy(), rhs.destroy()
        return FEMSolution(solution, space.dofmap.index_map.size_global, iterations, t1 - t0, t2 - t1, t3 - t2)
