"""What the PINN of a window assimilation problem fits: one network per experiment for the problem's field(s), and its loss.

- :class:`ScalarFieldFit` (a periodic 1D PDE, :class:`~parity.problems.assimilation.PeriodicPDE1D`):
  u(x, t) on (cos x, sin x, t'), the data misfit at the sensors and the PDE residual.
- :class:`StreamVorticityFit` (a 2D vorticity equation, :class:`~parity.problems.assimilation.VorticityWindow2D`):
  the stream function and the vorticity (psi, w)(x, y, t) on (cos x, sin x, cos y, sin y, t'), the misfit of the
  sensors' velocity (psi_y, -psi_x) or vorticity, the vorticity equation's residual with u from psi, and the
  consistency residual lap psi + w (the vorticity-stream function PINN: second derivatives only).

Both are periodic by construction, scale each output and each loss term by the problem's typical sizes so the
terms are O(1), and stack the networks of all experiments into one program (their losses are independent).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from parity.solvers.physics_informed.networks import StackedMLP


@dataclasses.dataclass
class FieldFit(abc.ABC):
    """The stacked networks of a window problem's experiments, their data and collocation points, and their summed loss."""

    net: Any
    data_points: Float[Array, "d D"]
    data: Float[Array, "m ..."]
    collocation: Float[Array, "c D"]
    problem: Any
    data_weight: float

    @classmethod
    @abc.abstractmethod
    def build(cls, solver: Any, problem: Any, observations: np.ndarray, seed: int) -> FieldFit:
        """Networks for every experiment of ``observations`` (the solver's width, depth, collocation count and data weight)."""

    @abc.abstractmethod
    def loss(self, net: Any) -> Array:
        """Per-experiment losses summed: each network's gradient is its own experiment's."""

    @abc.abstractmethod
    def estimates(self, net: Any) -> np.ndarray:
        """Every experiment's state on the grid at the scored cycles: (experiments, cycles, state)."""

    def program(self, optimiser: optax.GradientTransformation, line_search: bool) -> Any:
        """run(net, state, steps) -> (net, state, last loss): ``steps`` optimiser steps in one compiled scan.

        ``line_search``: the optimiser keeps the last value and gradient in its state (L-BFGS) and they are reused.
        """

        @eqx.filter_jit
        def run(net: Any, state: optax.OptState, steps: int) -> tuple[Any, optax.OptState, Array]:
            params, static = eqx.partition(net, eqx.is_array)
            objective = lambda p: self.loss(eqx.combine(p, static))  # noqa: E731
            from_state = optax.value_and_grad_from_state(objective)

            def step(carry: tuple[Any, Any], _: None) -> tuple[tuple[Any, Any], Array]:
                p, s = carry
                value, grad = from_state(p, state=s) if line_search else jax.value_and_grad(objective)(p)
                updates, s = optimiser.update(grad, s, p, value=value, grad=grad, value_fn=objective)
                return (optax.apply_updates(p, updates), s), value

            (params, state), values = jax.lax.scan(step, (params, state), None, length=steps)
            return eqx.combine(params, static), state, values[-1]

        return run

def scored_horizon(problem: Any) -> float:
    """The time from the first to the last scored cycle (the networks' time axis)."""
    return max(problem.scored_cycles - 1, 1) * problem.interval


def space_time_collocation(count: int, space_dims: int, period: float, horizon: float, seed: int) -> Float[Array, "c D"]:
    """The residual's collocation points: uniform over the periodic space and [0, horizon], drawn from ``(seed, 7)``."""
    rng = np.random.default_rng([seed, 7])
    return jnp.asarray(np.column_stack([rng.uniform(0, period, (count, space_dims)), rng.uniform(0, horizon, count)]), jnp.float32)


class FieldNet(eqx.Module):
    """u(x, t) = scale * MLP(cos x, sin x, 2 t / T - 1), one network per experiment (stacked)."""

    mlp: StackedMLP
    horizon: float = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __call__(self, points: Float[Array, "n 2"]) -> Float[Array, "m n"]:
        x, t = points[:, 0], points[:, 1]
        features = jnp.stack([jnp.cos(x), jnp.sin(x), 2.0 * t / self.horizon - 1.0], axis=-1)
        return self.scale * self.mlp(jnp.broadcast_to(features, (len(self.mlp.biases[0]), *features.shape)))[..., 0]


def derivatives(net: FieldNet, points: Float[Array, "n 2"]) -> tuple[Array, Array, Array, Array]:
    """u, u_t, u_x and u_xx of every network at the points (forward mode: each output depends on its own point only)."""
    along_x, along_t = jnp.zeros_like(points).at[:, 0].set(1.0), jnp.zeros_like(points).at[:, 1].set(1.0)

    def u_and_slope(p: Array) -> tuple[Array, Array]:
        return jax.jvp(net, (p,), (along_x,))

    (u, u_x), (_, u_xx) = jax.jvp(u_and_slope, (points,), (along_x,))
    _, u_t = jax.jvp(net, (points,), (along_t,))
    return u, u_t, u_x, u_xx


@dataclasses.dataclass
class ScalarFieldFit(FieldFit):
    """A field u(x, t) of a periodic 1D PDE, and the grid's points at the scored cycles where it is estimated."""

    grid_points: Float[Array, "g 2"]

    @classmethod
    def build(cls, solver: Any, problem: Any, observations: np.ndarray, seed: int) -> ScalarFieldFit:
        experiments, cycles, horizon = len(observations), problem.scored_cycles, scored_horizon(problem)
        x = problem.period * np.arange(problem.state_size) / problem.state_size
        times = problem.interval * np.arange(cycles)
        sensor_x, sensor_t = np.meshgrid(x[problem.observed()], times[: problem.observed_cycles])  # (cycles, sensors), as observed
        grid_x, grid_t = np.meshgrid(x, times)  # (cycles, grid)
        mlp = StackedMLP(experiments, (3, *[solver.width] * solver.depth, 1), jnp.tanh, seed=seed)
        return cls(
            net=FieldNet(mlp, horizon, problem.field_scale),
            data_points=jnp.asarray(np.stack([sensor_x.ravel(), sensor_t.ravel()], axis=1), jnp.float32),
            data=jnp.asarray(observations.reshape(experiments, -1), jnp.float32),
            collocation=space_time_collocation(solver.n_collocation, 1, problem.period, horizon, seed),
            problem=problem, data_weight=solver.data_weight,
            grid_points=jnp.asarray(np.stack([grid_x.ravel(), grid_t.ravel()], axis=1), jnp.float32),
        )

    def loss(self, net: FieldNet) -> Array:
        """Per-experiment losses summed: each network's gradient is its own experiment's."""
        u, u_t, u_x, u_xx = derivatives(net, self.collocation)
        residual = self.problem.pde_residual(u, u_t, u_x, u_xx) / self.problem.residual_scale
        misfit = (net(self.data_points) - self.data) / self.problem.field_scale
        return jnp.sum(self.data_weight * jnp.mean(misfit**2, axis=1) + jnp.mean(residual**2, axis=1))

    def estimates(self, net: FieldNet) -> np.ndarray:
        """Every experiment's field on the grid at the scored cycles: (experiments, cycles, grid)."""
        values = np.asarray(eqx.filter_jit(lambda n: n(self.grid_points))(net), np.float64)
        return values.reshape(len(values), self.problem.scored_cycles, self.problem.state_size)


class StreamVorticityNet(eqx.Module):
    """(psi, w)(x, y, t) = scales * MLP(cos x, sin x, cos y, sin y, 2 t / T - 1), one network per experiment (stacked)."""

    mlp: StackedMLP
    horizon: float = eqx.field(static=True)
    scales: tuple[float, float] = eqx.field(static=True)

    def __call__(self, points: Float[Array, "n 3"]) -> Float[Array, "m n 2"]:
        x, y, t = points[:, 0], points[:, 1], points[:, 2]
        features = jnp.stack([jnp.cos(x), jnp.sin(x), jnp.cos(y), jnp.sin(y), 2.0 * t / self.horizon - 1.0], axis=-1)
        return jnp.asarray(self.scales) * self.mlp(jnp.broadcast_to(features, (len(self.mlp.biases[0]), *features.shape)))


def stream_vorticity_derivatives(net: StreamVorticityNet, points: Float[Array, "n 3"]) -> dict[str, Array]:
    """psi, w and the derivatives the residuals need (forward mode: each output depends on its own point only)."""
    unit = [jnp.zeros_like(points).at[:, axis].set(1.0) for axis in range(3)]

    def first(direction: Array) -> Any:
        return lambda p: jax.jvp(net, (p,), (direction,))

    (out, d_x), (_, d_xx) = jax.jvp(first(unit[0]), (points,), (unit[0],))
    (_, d_y), (_, d_yy) = jax.jvp(first(unit[1]), (points,), (unit[1],))
    _, d_t = jax.jvp(net, (points,), (unit[2],))
    return {"psi": out[..., 0], "w": out[..., 1], "psi_x": d_x[..., 0], "psi_y": d_y[..., 0], "psi_lap": d_xx[..., 0] + d_yy[..., 0],
            "w_t": d_t[..., 1], "w_x": d_x[..., 1], "w_y": d_y[..., 1], "w_lap": d_xx[..., 1] + d_yy[..., 1]}


@dataclasses.dataclass
class StreamVorticityFit(FieldFit):
    """The vorticity-stream function PINN of a 2D vorticity problem (data: experiments x cycles x observed values)."""

    @classmethod
    def build(cls, solver: Any, problem: Any, observations: np.ndarray, seed: int) -> StreamVorticityFit:
        horizon, scales = scored_horizon(problem), problem.pinn_scales
        sensors = problem.sensor_points()
        times = problem.interval * np.arange(problem.observed_cycles)
        data_points = np.concatenate([np.column_stack([sensors, np.full(len(sensors), t)]) for t in times])  # cycle-major, as observed
        mlp = StackedMLP(len(observations), (5, *[solver.width] * solver.depth, 2), jnp.tanh, seed=seed)
        return cls(
            net=StreamVorticityNet(mlp, horizon, (scales["stream"], scales["vorticity"])),
            data_points=jnp.asarray(data_points, jnp.float32),
            data=jnp.asarray(observations, jnp.float32),
            collocation=space_time_collocation(solver.n_collocation, 2, problem.period, horizon, seed),
            problem=problem, data_weight=solver.data_weight,
        )

    def observed(self, net: StreamVorticityNet) -> Array:
        """The networks' sensor values in the observations' layout: (experiments, cycles, values)."""
        experiments, cycles = len(self.data), self.problem.observed_cycles
        if self.problem.observable == "vorticity":
            return net(self.data_points)[..., 1].reshape(experiments, cycles, -1)
        fields = stream_vorticity_derivatives(net, self.data_points)
        u, v = (value.reshape(experiments, cycles, -1) for value in (fields["psi_y"], -fields["psi_x"]))
        return jnp.concatenate([u, v], axis=-1)

    def loss(self, net: StreamVorticityNet) -> Array:
        scales = self.problem.pinn_scales
        fields = stream_vorticity_derivatives(net, self.collocation)
        residual = self.problem.vorticity_residual(fields["w"], fields["w_t"], fields["w_x"], fields["w_y"], fields["w_lap"],
                                                   fields["psi_y"], -fields["psi_x"], self.collocation[:, 1]) / scales["residual"]
        consistency = (fields["psi_lap"] + fields["w"]) / scales["vorticity"]
        data_scale = scales["vorticity" if self.problem.observable == "vorticity" else "velocity"]
        misfit = ((self.observed(net) - self.data) / data_scale).reshape(len(self.data), -1)
        return jnp.sum(self.data_weight * jnp.mean(misfit**2, axis=1) + jnp.mean(residual**2, axis=1) + jnp.mean(consistency**2, axis=1))

    def estimates(self, net: StreamVorticityNet) -> np.ndarray:
        grid, problem = self.problem.grid, self.problem
        axis = problem.period * np.arange(grid) / grid
        x, y = (a.ravel() for a in np.meshgrid(axis, axis, indexing="ij"))  # the state's layout: x along the first axis
        evaluate = eqx.filter_jit(lambda n, p: n(p)[..., 1])
        frames = [np.asarray(evaluate(net, jnp.asarray(np.column_stack([x, y, np.full(len(x), k * problem.interval)]), jnp.float32)))
                  for k in range(problem.scored_cycles)]
        return np.stack(frames, axis=1).astype(np.float64)
