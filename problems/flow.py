"""Steady incompressible Navier-Stokes flow in a 2D box: the capability and the shared PINN pieces.

    -nu laplace(u) + (u . grad) u + grad p = f,  div u = 0  in the box,  u = g on its boundary.

Outputs are (u, v, p). Only the velocity is compared against references: the pressure is
determined up to a constant. Data are written once against an array module ``xp``
(``numpy``, ``jax.numpy``, and ``ufl`` for the body force), so a finite-element solver gets
exact UFL expressions and interpolates exact boundary values.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.problems.base import ForwardProblem, PointwiseFn, Snapshot
from parity.problems.derivatives import second_partial
from parity.problems.halton import halton

_COLLOCATION_SEED = 20_251_123


class SteadyIncompressibleFlow(abc.ABC):
    """Capability of problems -nu lap u + (u . grad) u + grad p = f, div u = 0 in a 2D box, u = g on its boundary."""

    @property
    @abc.abstractmethod
    def viscosity(self) -> float:
        """nu = 1 / Re (velocities and lengths are scaled to O(1))."""

    @abc.abstractmethod
    def velocity_boundary(self, x: Sequence[Any], xp: ModuleType) -> tuple[Any, Any]:
        """g = (gx, gy) at boundary coordinates ``x[0], x[1]`` (numpy or jax.numpy)."""

    def body_force(self, x: Sequence[Any], xp: ModuleType) -> tuple[Any, Any]:
        """f = (fx, fy) at ``x[0], x[1]``; none by default."""
        return 0.0 * x[0], 0.0 * x[0]


class FlowProblem(ForwardProblem, SteadyIncompressibleFlow):
    """The PINN side shared by flow problems: residual, hard-constraint ansatz, points and picture.

    Subclasses give the box, the data, the reference velocity, and ``re`` and ``n_test`` knobs.
    """

    in_dim: ClassVar[int] = 2
    out_dim: ClassVar[int] = 3
    compared_outputs: ClassVar[tuple[int, ...] | None] = (0, 1)
    residual_names: ClassVar[tuple[str, ...]] = ("x-momentum", "y-momentum", "continuity")
    re: float
    n_test: int
    _test_seed: ClassVar[int]

    @property
    def viscosity(self) -> float:
        return 1.0 / self.re

    def residual(self, u: PointwiseFn, x: Float[Array, "n 2"]) -> Float[Array, "n 3"]:
        """The two momentum equations and continuity, by forward-mode derivatives of (u, v, p)."""
        value, d_x, d_xx = second_partial(u, x, 0)
        _, d_y, d_yy = second_partial(u, x, 1)
        velocity = value[:, :2]
        force = jnp.concatenate(jnp.broadcast_arrays(*self.body_force((x[:, 0:1], x[:, 1:2]), jnp)), axis=1)
        pressure_gradient = jnp.concatenate([d_x[:, 2:3], d_y[:, 2:3]], axis=1)
        momentum = (
            -self.viscosity * (d_xx[:, :2] + d_yy[:, :2]) + velocity[:, 0:1] * d_x[:, :2] + velocity[:, 1:2] * d_y[:, :2]
            + pressure_gradient - force
        )
        return jnp.concatenate([momentum, d_x[:, 0:1] + d_y[:, 1:2]], axis=1)

    def ansatz(self, x: Float[Array, "n 2"], raw: Float[Array, "n 3"]) -> Float[Array, "n 3"]:
        """velocity = lift + d raw, with d = 0 on the boundary; pressure = raw (free)."""
        s, t = self._unit_coordinates(x)
        distance = 16.0 * s * (1.0 - s) * t * (1.0 - t)
        return jnp.concatenate([self._lift(x) + distance * raw[:, :2], raw[:, 2:3]], axis=1)

    def lift_boundary_velocity(self, x: Sequence[Any], xp: ModuleType) -> tuple[Any, Any]:
        """The boundary values the ansatz's lift interpolates: g itself unless g is not representable."""
        return self.velocity_boundary(x, xp)

    def _lift(self, x: Float[Array, "n 2"]) -> Float[Array, "n 2"]:
        """Transfinite (Coons) interpolation of the boundary values: exact on all four edges, from them alone."""
        (x0, y0), (x1, y1) = (tuple(map(float, corner)) for corner in self.bounds)
        s, t = self._unit_coordinates(x)
        px, py = x[:, 0:1], x[:, 1:2]

        def g(bx: Any, by: Any) -> Float[Array, "n 2"]:
            """The boundary velocity at (bx, by), each a column or a corner's coordinate, as n x 2."""
            columns = jnp.broadcast_arrays(bx + 0.0 * px, by + 0.0 * px)
            return jnp.concatenate(jnp.broadcast_arrays(*self.lift_boundary_velocity(columns, jnp), px), axis=1)[:, :2]

        edges = (1 - s) * g(x0, py) + s * g(x1, py) + (1 - t) * g(px, y0) + t * g(px, y1)
        corners = (1 - s) * (1 - t) * g(x0, y0) + s * (1 - t) * g(x1, y0) + (1 - s) * t * g(x0, y1) + s * t * g(x1, y1)
        return edges - corners

    def _unit_coordinates(self, x: Float[Array, "n 2"]) -> tuple[Float[Array, "n 1"], Float[Array, "n 1"]]:
        lower, upper = self.bounds
        return (x[:, 0:1] - lower[0]) / (upper[0] - lower[0]), (x[:, 1:2] - lower[1]) / (upper[1] - lower[1])

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 2"]:
        """n points of a scrambled Halton sequence (fixed scrambling) over the box."""
        lower, upper = self.bounds
        return halton(2, n, rng=_COLLOCATION_SEED) * (np.asarray(upper) - lower) + lower

    def test_points(self) -> Float[np.ndarray, "m 2"]:
        lower, upper = self.bounds
        return np.random.default_rng(self._test_seed).uniform(lower, upper, (self.n_test, 2))

    def snapshot(self) -> Snapshot:
        lower, upper = self.bounds
        return Snapshot.grid((lower[0], upper[0]), (lower[1], upper[1]), "vorticity v_x - u_y")

    def picture(self, values: Float[np.ndarray, "m 2"], snapshot: Snapshot) -> Float[np.ndarray, "side side"]:
        """Vorticity v_x - u_y by second-order differences on the snapshot's regular grid (x along axis 0)."""
        u, v = (values[:, i].reshape(snapshot.shape) for i in (0, 1))
        x_min, x_max, y_min, y_max = snapshot.extent
        dx = (x_max - x_min) / (snapshot.shape[0] - 1)
        dy = (y_max - y_min) / (snapshot.shape[1] - 1)
        return np.gradient(v, dx, axis=0, edge_order=2) - np.gradient(u, dy, axis=1, edge_order=2)
