"""The 2D acoustic wave equation by explicit finite differences on Devito.

    u_tt = c(x, y)^2 (u_xx + u_yy) + g(x, y) w(t),   u = u_t = 0 at t = 0,

on the box [0, Lx] x [0, Ly] in free space. This is what a seismic or acoustic modeller
would run: second-order leapfrog in time, a high even order in space, and a perfectly
matched layer (PML) around the box so that outgoing waves leave without reflecting. It serves
both as the classical solver and as the reference of the wave benchmark, so it also
returns Devito's own performance figures and works under ``DEVITO_MPI=1 mpiexec`` (Devito
then compiles with ``mpicc``, which must be on PATH: the virtualenv's bin holds one).

Its exact counterpart in a homogeneous medium is :mod:`parity.numerics.free_space`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float
from scipy.interpolate import RectBivariateSpline

SPACE_ORDERS = tuple(range(2, 17, 2))
ABSORBING_FRACTION = 0.15
"""Default layer width as a fraction of the box's longer side (see ``simulate``)..."""
ABSORBING_MIN_CELLS = 16
"""...but at least this many cells: below that the discrete layer reflects."""
DAMPING_STRENGTH = 12.0
"""Peak damping rate x width / c_max: a wave crossing the layer and back is damped by
exp(-DAMPING_STRENGTH) (the ramp's mean is 1/2); stronger, the discrete layer reflects more."""
COURANT_MARGIN = 0.95
"""Largest courant / the leapfrog's interior limit: the PML's extra terms need a margin
(measured with c_max on the layer: order 2 grows at 0.98 of the limit, orders 4-6 at 0.995)."""
SNAPSHOT_RTOL = 1e-9

Field = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class AcousticSetup:
    """The medium, the source and the output times of one wave simulation."""

    velocity: Field
    """c(x, y), vectorised; outside the box it is evaluated at the nearest box point."""
    source_space: Field
    """g(x, y), vectorised; evaluated as is on the absorbing layer too."""
    source_time: Callable[[np.ndarray], np.ndarray]
    """w(t), vectorised, ~0 for t <= 0 (the medium is at rest before)."""
    extent: tuple[float, float]
    snapshot_times: tuple[float, ...]
    """Positive and increasing; the last one is the final time T."""


@dataclasses.dataclass
class SnapshotField:
    """Snapshots of a field on a box's grid nodes, evaluable at (x, y, t) points."""

    x: np.ndarray
    y: np.ndarray
    times: np.ndarray
    fields: np.ndarray
    """(n_snap, nx + 1, ny + 1), the whole box on every MPI rank."""
    _splines: dict[int, RectBivariateSpline] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def __call__(self, points: Float[np.ndarray, "m 3"]) -> Float[np.ndarray, "m 1"]:
        """Spline interpolation in space (exact at the nodes); t must be a snapshot time."""
        points = np.asarray(points, dtype=np.float64)
        index = self._snapshot_index(points[:, 2])
        values = np.empty(points.shape[0])
        for snapshot in np.unique(index):
            rows = index == snapshot
            values[rows] = self._spline(int(snapshot)).ev(points[rows, 0], points[rows, 1])
        return values[:, None]

    def _snapshot_index(self, t: np.ndarray) -> np.ndarray:
        distance = np.abs(t[:, None] - self.times[None, :])
        index = np.argmin(distance, axis=1)
        if np.any(distance[np.arange(t.size), index] > SNAPSHOT_RTOL * self.times[index]):
            raise ValueError(f"t must be one of the snapshot times {self.times.tolist()}")
        return index

    def _spline(self, snapshot: int) -> RectBivariateSpline:
        if snapshot not in self._splines:
            degree = 5 if min(self.x.size, self.y.size) > 5 else 3  # quintic needs 6 nodes a side
            self._splines[snapshot] = RectBivariateSpline(self.x, self.y, self.fields[snapshot], kx=degree, ky=degree, s=0)
        return self._splines[snapshot]


@dataclasses.dataclass
class AcousticSimulation(SnapshotField):
    """A finite-difference solution, with what it cost."""

    dt: float
    steps: int
    cells: tuple[int, int]
    space_order: int
    absorbing_cells: int
    setup_s: float
    compile_s: float
    run_s: float
    performance: dict[str, float]
    """Devito's gflopss, gpointss (points of the whole grid, layer included), oi and
    elapsed_s (in the C sections), over all steps; see ``_performance``."""

    @property
    def grid_points(self) -> int:
        """Nodes updated per time step, absorbing layer included (the work per step)."""
        return (self.cells[0] + 2 * self.absorbing_cells + 1) * (self.cells[1] + 2 * self.absorbing_cells + 1)


def simulate(
    setup: AcousticSetup, cells_per_unit: int, *, space_order: int = 8, courant: float = 0.5,
    absorbing_width: float | None = None,
) -> AcousticSimulation:
    """Leapfrog from rest to every snapshot time, with spacing h = 1 / ``cells_per_unit``.

    The time step is ``courant * h / c_max``, shrunk to the largest step that puts every
    snapshot on a time level (the leapfrog needs one fixed step). ``absorbing_width`` (of
    the PML) defaults to 0.15 of the box's longer side and at least 16 cells: a physical
    width lets the layer's error vanish under refinement, which a fixed cell count would
    not, and the 2D wake's low frequencies need it; on the unit box it leaves < 1e-4 of
    the peak (see the tests).
    """
    _prepare_devito_for_mpi()
    from devito import switchconfig

    if space_order not in SPACE_ORDERS:
        raise ValueError(f"space_order must be one of {SPACE_ORDERS}, got {space_order}")
    if not 0 < courant <= (limit := COURANT_MARGIN * _courant_limit(space_order)):
        raise ValueError(f"courant must be in (0, {limit:.4f}] for space order {space_order}, got {courant}")
    h = 1.0 / cells_per_unit
    cells = _cells(setup.extent, h)
    width = max(ABSORBING_FRACTION * max(setup.extent), ABSORBING_MIN_CELLS * h) if absorbing_width is None else absorbing_width
    layer = max(1, math.ceil(width / h - 1e-9))
    times = _snapshot_times(setup.snapshot_times)
    with switchconfig(log_level="WARNING", profiling="advanced"):  # "advanced" counts flops and traffic
        t0 = time.perf_counter()
        grid, medium, c_max = _medium(setup, h, cells, layer, space_order)
        dt, snapshot_steps = _time_grid(times, courant * h / c_max)
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        op, u = _operator(grid, medium, setup.source_time(dt * np.arange(snapshot_steps[-1] + 1)), space_order)
        compile_s = time.perf_counter() - t0
        box = (slice(layer, layer + cells[0] + 1), slice(layer, layer + cells[1] + 1))
        fields, summaries, run_s = _run(op, u, dt, snapshot_steps, box)
    return AcousticSimulation(
        x=h * np.arange(cells[0] + 1), y=h * np.arange(cells[1] + 1), times=times, fields=fields,
        dt=dt, steps=int(snapshot_steps[-1]), cells=cells, space_order=space_order, absorbing_cells=layer,
        setup_s=setup_s, compile_s=compile_s, run_s=run_s, performance=_performance(summaries),
    )


def _prepare_devito_for_mpi() -> None:
    """Under ``mpiexec -n N`` (N > 1), let Devito split the grid and find ``mpicc``.

    Devito reads DEVITO_MPI when it is first imported, and compiles MPI code with the
    ``mpicc`` on PATH; the MPI wheels put theirs next to this interpreter.
    """
    ranks = max(int(os.environ.get(name, "1")) for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"))
    if ranks > 1 and "devito" not in sys.modules:
        os.environ.setdefault("DEVITO_MPI", "1")
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _medium(setup: AcousticSetup, h: float, cells: tuple[int, int], layer: int, space_order: int) -> tuple[Any, dict[str, Any], float]:
    """The grid over box and layer, c^2, g and the layer's damping on it, and the largest c.

    Each rank fills only its own part of the grid, so that the set-up scales under MPI.
    """
    from devito import Function, Grid

    shape = tuple(n + 2 * layer + 1 for n in cells)
    grid = Grid(shape=shape, extent=tuple((n - 1) * h for n in shape), origin=(-layer * h, -layer * h), dtype=np.float64)
    medium = {name: Function(name=name, grid=grid, space_order=space_order) for name in ("c2", "g", "zeta_x", "zeta_y")}
    local = np.meshgrid(*(-layer * h + h * np.arange(n)[s] for n, s in zip(shape, medium["c2"].local_indices, strict=True)),
                        indexing="ij")
    inside = [np.clip(coordinate, 0.0, side) for coordinate, side in zip(local, setup.extent, strict=True)]
    velocity = np.broadcast_to(setup.velocity(*inside), local[0].shape)
    c_max = _global_max(grid, float(velocity.max()))
    medium["c2"].data_local[:] = velocity**2
    medium["g"].data_local[:] = np.broadcast_to(setup.source_space(*local), local[0].shape)
    for name, coordinate, side in zip(("zeta_x", "zeta_y"), local, setup.extent, strict=True):
        medium[name].data_local[:] = c_max * _damping(coordinate, side, layer * h)
    return grid, medium, c_max


def _operator(grid: Any, medium: dict[str, Any], source_series: np.ndarray, space_order: int) -> tuple[Any, Any]:
    """The JIT-compiled time step, and the field u it advances.

    In the layer the Laplacian is that of complex-stretched coordinates (an unsplit PML,
    Grote & Sim 2010): u_tt + (zx + zy) u_t + zx zy u = c^2 (lap u + div phi) + g w with
    phi_x,t = -zx phi_x + (zy - zx) u_x and likewise for y, zx a function of x alone. A
    sponge (the damping term alone) reflects the low frequencies of the 2D wake, ~10% of
    the peak. phi's derivatives are centred (Devito's default at order 2 is one-sided,
    which is unstable here); phi sits on the nodes (on half cells the mismatch between
    its derivatives and the Laplacian's grows modes at order >= 4) and at half steps
    (Crank-Nicolson in its decay). u_t is centred and w taken at the level the leapfrog
    is centred on, so the scheme is second order in time throughout.
    """
    from devito import Eq, Function, Operator, TimeFunction, centered, solve

    c2, g, zeta_x, zeta_y = (medium[name] for name in ("c2", "g", "zeta_x", "zeta_y"))
    u = TimeFunction(name="u", grid=grid, time_order=2, space_order=space_order)
    x, y = grid.dimensions
    phi_x, phi_y = (TimeFunction(name=name, grid=grid, time_order=1, space_order=space_order) for name in ("phi_x", "phi_y"))
    w = Function(name="w", dimensions=(grid.time_dim,), shape=source_series.shape, dtype=np.float64)
    w.data[:] = source_series
    dt = grid.time_dim.spacing
    auxiliary = [
        Eq(phi.forward, ((1 - zeta * dt / 2) * phi + dt * (other - zeta) * u.diff(axis, side=centered)) / (1 + zeta * dt / 2))
        for phi, zeta, other, axis in ((phi_x, zeta_x, zeta_y, x), (phi_y, zeta_y, zeta_x, y))
    ]
    divergence = ((phi_x.forward + phi_x).diff(x, side=centered) + (phi_y.forward + phi_y).diff(y, side=centered)) / 2
    u_t = (u.forward - u.backward) / (2 * dt)  # u.dt would be one-sided
    pde = u.dt2 + (zeta_x + zeta_y) * u_t + zeta_x * zeta_y * u - c2 * (u.laplace + divergence) - g * w
    op = Operator([*auxiliary, Eq(u.forward, solve(pde, u.forward))], name="AcousticFD")
    op.cfunction  # JIT-compile here, so that the run's timing is the time stepping alone
    return op, u


def _run(op: Any, u: Any, dt: float, snapshot_steps: np.ndarray, box: tuple[slice, slice]) -> tuple[np.ndarray, list[Any], float]:
    """Step from one snapshot to the next; the snapshots on the box, Devito's summaries, the stepping time."""
    fields, summaries, run_s, first = [], [], 0.0, 0
    for last in snapshot_steps.tolist():
        t0 = time.perf_counter()
        summaries.append(op.apply(time_m=first, time_M=last - 1, dt=dt))
        run_s += time.perf_counter() - t0
        fields.append(_gather(u, last % 3)[box])  # u at step n lives in buffer slot n mod 3
        first = last
    return np.stack(fields), summaries, run_s


def _cells(extent: Sequence[float], h: float) -> tuple[int, int]:
    """Cells per side; the box must hold a whole number of cells so its edges are nodes."""
    cells = tuple(round(side / h) for side in extent)
    if len(extent) != 2 or any(n < 1 or abs(n * h - side) > 1e-9 * max(side, 1.0) for n, side in zip(cells, extent, strict=True)):
        raise ValueError(f"extent {tuple(extent)} must be positive whole multiples of h = 1/cells_per_unit = {h}")
    return cells[0], cells[1]


def _snapshot_times(times: Sequence[float]) -> np.ndarray:
    array = np.asarray(times, dtype=np.float64)
    if array.ndim != 1 or array.size == 0 or array[0] <= 0 or np.any(np.diff(array) <= 0):
        raise ValueError(f"snapshot_times must be positive and increasing, got {tuple(times)}")
    return array


def _time_grid(times: np.ndarray, dt_max: float) -> tuple[float, np.ndarray]:
    """The largest dt <= dt_max with every snapshot on a step, and the snapshots' step numbers.

    Snapshot times must be commensurate: t_k / T rational with a denominator the search
    reaches (any equal spacing is; at most a halving of dt is tried).
    """
    first = math.ceil(times[-1] / dt_max - 1e-9)
    for n in range(first, 2 * first + 1):
        steps = times / times[-1] * n
        if np.all(np.abs(steps - np.round(steps)) < 1e-6) and np.all(np.diff(np.round(steps)) > 0):
            return float(times[-1] / n), np.round(steps).astype(int)
    raise ValueError(f"snapshot times {times.tolist()} are not commensurate with a time step near {dt_max:.3g}")


def _courant_limit(space_order: int) -> float:
    """Leapfrog in 2D is stable while courant^2 times the Laplacian stencil's largest symbol is <= 4."""
    half = space_order // 2
    weights = [2.0 * (-1) ** (j + 1) * math.factorial(half) ** 2 / (j**2 * math.factorial(half - j) * math.factorial(half + j))
               for j in range(1, half + 1)]  # the central second-difference weights a_j, j = 1..half
    symbol = 4.0 * sum(weights[::2])  # -(a_0 + 2 sum_j a_j cos(j pi)) per axis, at the grid's Nyquist mode
    return math.sqrt(4.0 / (2.0 * symbol))


def _damping(coordinate: np.ndarray, side: float, width: float) -> np.ndarray:
    """Damping rate / c_max along one axis: a C2 ramp s - sin(2 pi s) / (2 pi), s the depth into the layer.

    It must not depend on the other coordinate (nor on the local c) for the layer to match.
    """
    depth = np.clip(np.maximum(-coordinate, coordinate - side) / width, 0.0, 1.0)
    return DAMPING_STRENGTH / width * (depth - np.sin(2 * np.pi * depth) / (2 * np.pi))


def _global_max(grid: Any, value: float) -> float:
    if not grid.distributor.is_parallel:
        return value
    from mpi4py import MPI

    return float(grid.distributor.comm.allreduce(value, op=MPI.MAX))


def _gather(u: Any, level: int) -> np.ndarray:
    """One time level of ``u`` over the whole grid, on every rank."""
    block = np.array(u.data_local[level], dtype=np.float64)
    if not u.grid.distributor.is_parallel:
        return block
    whole = np.empty(u.grid.shape)
    for where, part in u.grid.distributor.comm.allgather((u.local_indices[1:], block)):
        whole[where] = part
    return whole


def _performance(summaries: Sequence[Any]) -> dict[str, float]:
    """Devito's global figures, combined over the applies (one per snapshot interval).

    The "-nosetup" globals are used: they come from the C section timers (halo exchanges
    included under MPI), whereas the plain ones divide by the Python wall time rounded up
    to 10 ms. Flops, points and traffic are summed (rate x time, flops / oi) and divided by
    the summed time, so the result is what one apply over all steps would report.
    """
    elapsed = sum(s.globals["vanilla-nosetup"].time for s in summaries)
    flops = sum(s.globals["vanilla-nosetup"].gflopss * s.globals["vanilla-nosetup"].time for s in summaries)
    points = sum(s.globals["fdlike-nosetup"].gpointss * s.globals["fdlike-nosetup"].time for s in summaries)
    traffic = sum(s.globals["vanilla-nosetup"].gflopss * s.globals["vanilla-nosetup"].time / s.globals["vanilla-nosetup"].oi
                  for s in summaries)
    return {"gflopss": flops / elapsed, "gpointss": points / elapsed, "oi": flops / traffic, "elapsed_s": elapsed}
