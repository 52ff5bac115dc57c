"""Lorenz-96: dx_j/dt = (x_{j+1} - x_{j-2}) x_{j-1} - x_j + F on a ring, stepped by classical RK4.

Written once for NumPy (the truth, in float64) and JAX (what the assimilation methods
differentiate and vmap over ensembles): ``xp`` is the array module. The last axis is the ring.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def tendency(x: Any, forcing: float, xp: ModuleType) -> Any:
    """dx/dt along the last axis."""
    return (xp.roll(x, -1, axis=-1) - xp.roll(x, 2, axis=-1)) * xp.roll(x, 1, axis=-1) - x + forcing


def rk4_step(x: Any, dt: float, forcing: float, xp: ModuleType) -> Any:
    """One classical Runge-Kutta step of length ``dt`` (DAPPER's and Sakov's integrator at dt = 0.05)."""
    k1 = tendency(x, forcing, xp)
    k2 = tendency(x + 0.5 * dt * k1, forcing, xp)
    k3 = tendency(x + 0.5 * dt * k2, forcing, xp)
    k4 = tendency(x + dt * k3, forcing, xp)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def advance(x: Any, steps: int, dt: float, forcing: float, xp: ModuleType) -> Any:
    """``steps`` RK4 steps (a Python loop: ``steps`` is the few steps between two observations)."""
    for _ in range(steps):
        x = rk4_step(x, dt, forcing, xp)
    return x
