"""The wave problem as a physics-informed network poses it: a box with a first-order absorbing condition.

A PINN of :class:`parity.problems.AcousticWave2D` cannot see free space, so on the sides of
its box it imposes Engquist & Majda's u_t + c du/dn = 0, which reflects obliquely incident
waves. This module solves that boundary-value problem by finite differences (second-order
leapfrog, Mur's discretisation of the condition) on the scored box [0, 1]^2 widened by
``pad`` on every side, so that what the sides cost in the scored box can be measured: on the
scored box's own sides (``pad`` = 0) 1.6e-2 (f0 = 2) and 5.0e-2 (f0 = 4) against free space;
with the problem's causal margin as ``pad``, nothing (the tests check below 1e-3).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol

import numpy as np
from jaxtyping import Float


class WaveSetup(Protocol):
    """What the solver reads of a wave problem (:class:`parity.problems.AcousticWave2D` has it)."""

    duration: float

    @property
    def snapshot_times(self) -> tuple[float, ...]: ...

    def velocity(self, x: Any, y: Any, xp: ModuleType) -> Any: ...

    def source_space(self, x: Any, y: Any, xp: ModuleType) -> Any: ...

    def source_time(self, t: Any, xp: ModuleType) -> Any: ...


def absorbing_box_solution(problem: WaveSetup, points: Float[np.ndarray, "m 3"], cells: int, pad: float = 0.0) -> Float[np.ndarray, "m 1"]:
    """u at ``points`` (x, y in [0, 1], t at the problem's snapshot times) on a grid of ``cells`` per unit length.

    The points' x and y must lie on the grid (a test grid whose spacing is a multiple of 1 / cells).
    """
    if np.any(np.abs(points[:, :2] * cells - np.rint(points[:, :2] * cells)) > 1e-6) or abs(pad * cells - round(pad * cells)) > 1e-9:
        raise ValueError(f"points and pad must lie on the grid of {cells} cells per unit length; choose cells a multiple of the test grid's")
    h = 1.0 / cells
    lower = -pad
    n = round((1.0 + 2 * pad) / h) + 1
    axis = lower + h * np.arange(n)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    c = np.broadcast_to(np.asarray(problem.velocity(x, y, np), dtype=float), x.shape)
    g = np.broadcast_to(np.asarray(problem.source_space(x, y, np), dtype=float), x.shape)
    snapshots_count = len(problem.snapshot_times)  # equally spaced in (0, T]: a step count they divide lands on each
    steps = snapshots_count * int(np.ceil(problem.duration / (0.25 * h / c.max()) / snapshots_count))  # Courant <= 0.25
    dt = problem.duration / steps
    wanted = {round(t / dt): t for t in problem.snapshot_times}

    before = np.zeros_like(x)
    now = 0.5 * dt**2 * g * float(problem.source_time(np.array(0.0), np))  # from rest: u(dt) ~ u_tt(0) dt^2 / 2
    snapshots: dict[float, np.ndarray] = {}
    for step in range(1, steps + 1):
        if step in wanted:
            snapshots[wanted[step]] = now
        if step == steps:
            break
        laplacian = np.zeros_like(now)
        laplacian[1:-1, 1:-1] = (now[2:, 1:-1] + now[:-2, 1:-1] + now[1:-1, 2:] + now[1:-1, :-2] - 4 * now[1:-1, 1:-1]) / h**2
        after = 2 * now - before + dt**2 * (c**2 * laplacian + g * float(problem.source_time(np.array(step * dt), np)))
        _mur_sides(after, now, c, dt, h)
        before, now = now, after

    values = np.empty(len(points))
    for t, field in snapshots.items():
        rows = np.isclose(points[:, 2], t)
        i, j = (np.rint((points[rows, k] - lower) / h).astype(int) for k in (0, 1))
        values[rows] = field[i, j]
    return values[:, None]


def _mur_sides(after: np.ndarray, now: np.ndarray, c: np.ndarray, dt: float, h: float) -> None:
    """Mur's first-order condition on the four sides, in place: u_t + c du/dn = 0 centred between the side and its neighbour."""
    for side, inner in (
        ((0, slice(None)), (1, slice(None))),
        ((-1, slice(None)), (-2, slice(None))),
        ((slice(None), 0), (slice(None), 1)),
        ((slice(None), -1), (slice(None), -2)),
    ):
        ratio = (c[side] * dt - h) / (c[side] * dt + h)
        after[side] = now[inner] + ratio * (after[inner] - now[side])
