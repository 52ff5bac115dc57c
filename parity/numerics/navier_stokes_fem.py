"""Taylor-Hood finite elements for steady incompressible Navier-Stokes flow in a 2D box (DOLFINx).

Shared by the classical solver and by problems whose reference is a converged finite-element
solve (the lid-driven cavity), so both run the same, tested numerics. The discretisation is
P(k)/P(k-1) Taylor-Hood on a triangle mesh, optionally stretched towards the walls where the
boundary layers and corner singularities are. The nonlinear system is solved by Newton's
method (PETSc SNES with a backtracking line search, MUMPS LU for every Jacobian), and high
Reynolds numbers are reached by continuation in the viscosity from a moderate one, each step
starting from the previous solution; a step whose Newton iteration fails is retried with a
smaller factor. The pressure's free constant is fixed by pinning it at the lower-left corner
during the solve and by making it mean-free afterwards.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Protocol

import numpy as np
from jaxtyping import Float

from parity.numerics.fem_points import point_values


class SteadyFlowData(Protocol):
    """What a flow problem gives these numerics: nu, the wall velocity g and the body force f.

    Coefficients are written against an array module ``xp`` (numpy here, ``ufl`` for f);
    :class:`parity.problems.flow.SteadyIncompressibleFlow` satisfies it.
    """

    @property
    def viscosity(self) -> float: ...

    def velocity_boundary(self, x: Sequence[Any], xp: ModuleType) -> tuple[Any, Any]: ...

    def body_force(self, x: Sequence[Any], xp: ModuleType) -> tuple[Any, Any]: ...

NEWTON_OPTIONS = {
    "snes_type": "newtonls",
    "snes_linesearch_type": "bt",
    "snes_rtol": 1e-10,
    "snes_atol": 1e-11,
    "snes_max_it": 30,
    "ksp_type": "preonly",
    "pc_type": "lu",
    "pc_factor_mat_solver_type": "mumps",
}
_MIN_FACTOR = 1.02
"""Continuation gives up once a step would raise the Reynolds number by less than this factor."""
_prefixes = itertools.count()


@dataclasses.dataclass(frozen=True)
class Mesh:
    """A box split into ``cells`` x ``cells`` squares, each cut into two triangles.

    ``grading`` in [0, 1) stretches every axis by s -> s - grading sin(2 pi s) / (2 pi): cells at
    the walls are (1 - grading) / (1 + grading) the size of those in the middle.
    """

    lower: tuple[float, float]
    upper: tuple[float, float]
    cells: int
    grading: float = 0.0

    def __post_init__(self) -> None:
        if self.cells < 1:
            raise ValueError(f"mesh cells per side = {self.cells!r} is not allowed; allowed: integer >= 1")
        if not 0.0 <= self.grading < 1.0:
            raise ValueError(f"mesh grading = {self.grading!r} is not allowed; allowed: number in [0, 1)")

    def build(self, comm: Any) -> Any:
        """The dolfinx mesh on ``comm``."""
        import dolfinx_solver  # noqa: F401  (must precede dolfinx / petsc4py)
        from dolfinx import mesh

        domain = mesh.create_rectangle(comm, [list(self.lower), list(self.upper)], [self.cells] * 2, mesh.CellType.triangle)
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        s = (domain.geometry.x[:, :2] - lower) / (upper - lower)
        domain.geometry.x[:, :2] = lower + (upper - lower) * (s - self.grading * np.sin(2 * np.pi * s) / (2 * np.pi))
        return domain


@dataclasses.dataclass
class NewtonStats:
    """Work done by the Newton iterations of one continuation, summed over its steps."""

    reynolds: list[float] = dataclasses.field(default_factory=list)
    """The Reynolds numbers of the converged steps, in order."""
    iterations: list[int] = dataclasses.field(default_factory=list)
    """Newton iterations of each converged step."""
    failed_steps: int = 0
    failed_iterations: int = 0
    """Newton iterations spent on the failed steps."""
    assemble_s: float = 0.0
    """Jacobian and residual assembly."""
    linear_solve_s: float = 0.0
    """LU factorisations and triangular solves."""


@dataclasses.dataclass
class FlowSolution:
    """A velocity and a mean-free pressure, evaluable at arbitrary points of the box."""

    velocity: Any
    pressure: Any
    dofs: int

    def __call__(self, x: Float[np.ndarray, "m 2"]) -> Float[np.ndarray, "m 3"]:
        """(u, v, p) at ``x``."""
        return np.hstack([point_values(self.velocity, x), point_values(self.pressure, x)])


@dataclasses.dataclass
class ContinuationResult:
    """The solution at the highest Reynolds number reached, and whether that was the target."""

    solution: FlowSolution
    converged: bool
    stats: NewtonStats
    message: str


class TaylorHoodFlow:
    """The discrete flow problem on one mesh: spaces, forms and Newton solver, reused along a continuation."""

    def __init__(self, flow: SteadyFlowData, mesh: Mesh, degree: int, comm: Any):
        """Build the mesh, the P``degree``/P``degree - 1`` spaces, the boundary conditions and the forms."""
        import dolfinx_solver  # noqa: F401, I001  (must precede dolfinx / petsc4py)
        import basix.ufl
        import ufl
        from dolfinx import fem
        from dolfinx import mesh as dmesh
        from dolfinx.fem import petsc
        from petsc4py import PETSc

        if degree < 2:
            raise ValueError(f"Taylor-Hood velocity degree = {degree!r} is not allowed; allowed: integer >= 2")
        PETSc.Log.begin()  # the assembly / solve split is read from PETSc's event log
        self.target_reynolds = 1.0 / flow.viscosity
        domain = mesh.build(comm)
        cell = domain.basix_cell()
        velocity_element = basix.ufl.element("Lagrange", cell, degree, shape=(2,))
        space = fem.functionspace(domain, basix.ufl.mixed_element([velocity_element, basix.ufl.element("Lagrange", cell, degree - 1)]))
        velocity_space, _ = space.sub(0).collapse()
        pressure_space, _ = space.sub(1).collapse()

        domain.topology.create_connectivity(1, 2)
        walls = fem.locate_dofs_topological((space.sub(0), velocity_space), 1, dmesh.exterior_facet_indices(domain.topology))
        wall_velocity = fem.Function(velocity_space)
        wall_velocity.interpolate(lambda p: np.stack([np.broadcast_to(g, p.shape[1:]) for g in flow.velocity_boundary(p, np)]))
        corner = fem.locate_dofs_geometrical(
            (space.sub(1), pressure_space), lambda p: np.isclose(p[0], mesh.lower[0]) & np.isclose(p[1], mesh.lower[1])
        )
        bcs = [fem.dirichletbc(wall_velocity, walls, space.sub(0)), fem.dirichletbc(fem.Function(pressure_space), corner, space.sub(1))]

        self._state = fem.Function(space)
        self._viscosity = fem.Constant(domain, PETSc.ScalarType(flow.viscosity))
        u, p = ufl.split(self._state)
        v, q = ufl.TestFunctions(space)
        x = ufl.SpatialCoordinate(domain)
        force = ufl.as_vector(flow.body_force(x, ufl))
        residual = (
            self._viscosity * ufl.inner(ufl.grad(u), ufl.grad(v)) + ufl.inner(ufl.grad(u) * u, v)
            - p * ufl.div(v) - q * ufl.div(u) - ufl.inner(force, v)
        ) * ufl.dx
        self._newton = petsc.NonlinearProblem(
            residual, self._state, bcs=bcs, petsc_options_prefix=f"parity_ns_{next(_prefixes)}_", petsc_options=NEWTON_OPTIONS
        )
        self._domain = domain
        self.dofs = space.dofmap.index_map.size_global * space.dofmap.index_map_bs

    def continuation(self, start_reynolds: float, factor: float) -> ContinuationResult:
        """Newton solves at Re = start, start * factor, ... up to the target; a failed step retries with sqrt(factor)."""
        if not start_reynolds > 0 or not factor > 1:
            raise ValueError(f"continuation needs start_reynolds > 0 and factor > 1; got {start_reynolds!r} and {factor!r}")
        stats = NewtonStats()
        reynolds = min(start_reynolds, self.target_reynolds)
        last_good: np.ndarray | None = None
        while True:
            converged, iterations = self._newton_at(reynolds, stats)
            if converged:
                stats.reynolds.append(reynolds)
                stats.iterations.append(iterations)
                if reynolds >= self.target_reynolds:
                    return ContinuationResult(self.solution(), True, stats, "")
                last_good = self._state.x.array.copy()
                reynolds = min(reynolds * factor, self.target_reynolds)
                continue
            stats.failed_steps += 1
            stats.failed_iterations += iterations
            if last_good is None:
                return ContinuationResult(self.solution(), False, stats, f"Newton did not converge at the first step, Re = {reynolds:.6g}")
            previous = stats.reynolds[-1]
            self._state.x.array[:] = last_good
            factor = math.sqrt(factor)
            if factor < _MIN_FACTOR:
                return ContinuationResult(
                    self.solution(), False, stats,
                    f"Newton continuation stalled at Re = {previous:.6g} of {self.target_reynolds:.6g}: "
                    f"steps up by factors down to {factor**2:.4g} failed",
                )
            reynolds = min(previous * factor, self.target_reynolds)

    def _newton_at(self, reynolds: float, stats: NewtonStats) -> tuple[bool, int]:
        """One Newton solve at ``reynolds`` from the current state; its assembly and solve seconds go to ``stats``."""
        from petsc4py import PETSc

        events = [PETSc.Log.Event(name) for name in ("SNESFunctionEval", "SNESJacobianEval", "PCSetUp", "KSPSolve")]
        before = [event.getPerfInfo()["time"] for event in events]
        self._viscosity.value = 1.0 / reynolds
        self._newton.solve()
        spent = [event.getPerfInfo()["time"] - t for event, t in zip(events, before, strict=True)]
        stats.assemble_s += spent[0] + spent[1]
        stats.linear_solve_s += spent[2] + spent[3]
        snes = self._newton.solver
        finite = bool(np.all(np.isfinite(self._state.x.array)))
        return snes.getConvergedReason() > 0 and finite, snes.getIterationNumber()

    def state(self) -> np.ndarray:
        """The coefficient vector (owned and ghost entries): what a cache stores to rebuild the solution."""
        return self._state.x.array.copy()

    def load(self, values: np.ndarray) -> None:
        """Restore a state saved by :meth:`state` on the same mesh, degree and communicator layout."""
        if values.shape != self._state.x.array.shape:
            raise ValueError(f"stored flow state has {values.shape[0]} entries; this discretisation has {self._state.x.array.shape[0]}")
        self._state.x.array[:] = values

    def solution(self) -> FlowSolution:
        """The current state as collapsed velocity and mean-free pressure functions."""
        import dolfinx_solver  # noqa: F401
        import ufl
        from dolfinx import fem
        from mpi4py import MPI

        velocity = self._state.sub(0).collapse()
        pressure = self._state.sub(1).collapse()
        comm = self._domain.comm
        area = comm.allreduce(fem.assemble_scalar(fem.form(fem.Constant(self._domain, 1.0) * ufl.dx)), op=MPI.SUM)
        mean = comm.allreduce(fem.assemble_scalar(fem.form(pressure * ufl.dx)), op=MPI.SUM) / area
        pressure.x.array[:] -= mean
        return FlowSolution(velocity, pressure, self.dofs)
