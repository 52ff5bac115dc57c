"""A physics-informed network fitted to the observations: the PINN's answer to a window problem.

Each test experiment gets its own network u(x, t) (tanh MLP on (cos x, sin x, t'), t' the time
scaled to [-1, 1], output times the prior's standard deviation: periodic in x by construction),
trained from scratch on

    L = data_weight * mean over sensors and observed cycles of (u - y)^2 / field_scale^2
        + mean over collocation points of r(u)^2 / residual_scale^2,

r the problem's PDE residual (derivatives by forward-mode AD), the collocation points spread
over the window *and* the forecast period (a PINN forecasts by the physics alone past its data;
Du, Wang & Zaki 2022 found it fails just past the window when the physics stops there). The
networks of all experiments are stacked and trained in one program (their losses are
independent), with Adam and then L-BFGS for ``lbfgs_fraction`` of the steps, Raissi et al.'s
recipe. The PINN is given the same equation, observations and noise level as every method; it
does not use the prior covariance (its prior is its network and initialisation), which is the
method as published.

Checkpoints: every ``steps / checkpoints`` steps all experiments' estimates on the grid at the
scored cycles are scored together at the training seconds so far. ``predict`` returns the final
estimates of the test experiments it was trained on (assimilating other observations is a new
training run).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from parity.knobs import at_least, knob
from parity.problems.assimilation import AssimilationProblem, PeriodicPDE1D
from parity.problems.base import Problem
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.physics_informed.networks import StackedMLP
from parity.solvers.physics_informed.training import parameter_count


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


@dataclasses.dataclass(frozen=True)
class PhysicsInformedAssimilation(Solver):
    name: ClassVar[str] = "pinn_assimilation"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "PINN fitted to the observations and the PDE over the window and the forecast (Raissi et al.'s recipe)"
    requires: ClassVar[str] = "a window assimilation problem whose model is a periodic 1D PDE"

    width: int = knob(64, "hidden units per layer", "integer >= 1", at_least(1))
    depth: int = knob(4, "hidden layers", "integer >= 1", at_least(1))
    n_collocation: int = knob(4096, "collocation points over space x (window + forecast)", "integer >= 16", at_least(16))
    learning_rate: float = knob(1e-3, "Adam's learning rate (decayed tenfold over its steps)", "number > 0", lambda r: r > 0)
    lbfgs_fraction: float = knob(0.5, "fraction of the steps taken by L-BFGS after Adam", "number in [0, 1)", lambda f: 0 <= f < 1)
    data_weight: float = knob(1.0, "weight of the data misfit against the residual (0: the PINN without observations)", "number >= 0",
                              at_least(0))
    checkpoints: int = knob(10, "scored checkpoints over training", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, AssimilationProblem) and isinstance(problem, PeriodicPDE1D) and problem.protocol == "window"

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AssimilationProblem) and isinstance(problem, PeriodicPDE1D)
        started = time.perf_counter()
        observations = np.asarray(evaluator.x_test)
        problem.check_observations(observations)
        setup = _Setup.build(self, problem, observations, seed)
        setup_s = time.perf_counter() - started
        adam_steps = round(budget.steps * (1 - self.lbfgs_fraction))
        phases = [(optax.adam(optax.exponential_decay(self.learning_rate, max(adam_steps, 1), 0.1)), adam_steps, False),
                  (optax.lbfgs(), budget.steps - adam_steps, True)]
        marks = sorted({min(budget.steps, math.ceil(budget.steps * (j + 1) / self.checkpoints)) for j in range(self.checkpoints)})
        net, trace, train_s, compile_s, done, status = setup.net, [], 0.0, 0.0, 0, "ok"
        for optimiser, steps, line_search in phases:
            run, state, compiled = setup.program(optimiser, line_search), optimiser.init(eqx.filter(net, eqx.is_array)), {}
            while steps > 0 and status == "ok":
                chunk = min(steps, next(mark for mark in marks if mark > done) - done)
                if chunk not in compiled:  # compiled apart, so that training seconds are the steps' own
                    tick = time.perf_counter()
                    compiled[chunk] = run.lower(net, state, chunk).compile()
                    compile_s += time.perf_counter() - tick
                tick = time.perf_counter()
                net, state, loss = compiled[chunk](net, state, chunk)
                loss = float(loss)
                train_s += time.perf_counter() - tick
                done, steps = done + chunk, steps - chunk
                if not math.isfinite(loss):
                    status = "diverged"
                if done in marks or status != "ok":
                    trace.append(Checkpoint(wall_s=train_s, step=done, metrics=evaluator(setup.estimates(net)), loss=loss))
                    progress(done, budget.steps, {"rmse": trace[-1].metrics.get("rmse", math.nan), "loss": loss})
                if train_s > budget.seconds and done < budget.steps:
                    status = "timeout"
            if status != "ok":
                break
        final = setup.estimates(net)
        return SolveResult(
            status=status, trace=trace, trace_kind="iterative", predict=lambda _: final,
            timings={"setup_s": setup_s, "compile_s": compile_s, "train_s": train_s, "reconstruction_s": train_s / len(observations)},
            info={"steps": done, "n_params": parameter_count(net) // len(observations), "experiments": len(observations)},
            message="" if status == "ok" else f"stopped at step {done}: {status}",
        )


@dataclasses.dataclass
class _Setup:
    """The stacked networks, the data and collocation points, and the problem's scales."""

    net: FieldNet
    data_points: Float[Array, "d 2"]
    data: Float[Array, "m d"]
    collocation: Float[Array, "c 2"]
    grid_points: Float[Array, "g 2"]
    problem: Any
    data_weight: float

    @classmethod
    def build(cls, solver: PhysicsInformedAssimilation, problem: Any, observations: np.ndarray, seed: int) -> _Setup:
        experiments, cycles = len(observations), problem.scored_cycles
        horizon = max(cycles - 1, 1) * problem.interval
        x = problem.period * np.arange(problem.state_size) / problem.state_size
        times = problem.interval * np.arange(cycles)
        sensor_x, sensor_t = np.meshgrid(x[problem.observed()], times[: problem.observed_cycles])  # (cycles, sensors), as observed
        rng = np.random.default_rng([seed, 7])
        collocation = np.stack([rng.uniform(0, problem.period, solver.n_collocation), rng.uniform(0, horizon, solver.n_collocation)], axis=1)
        grid_x, grid_t = np.meshgrid(x, times)  # (cycles, grid)
        mlp = StackedMLP(experiments, (3, *[solver.width] * solver.depth, 1), jnp.tanh, seed=seed)
        return cls(
            net=FieldNet(mlp, horizon, problem.field_scale),
            data_points=jnp.asarray(np.stack([sensor_x.ravel(), sensor_t.ravel()], axis=1), jnp.float32),
            data=jnp.asarray(observations.reshape(experiments, -1), jnp.float32),
            collocation=jnp.asarray(collocation, jnp.float32),
            grid_points=jnp.asarray(np.stack([grid_x.ravel(), grid_t.ravel()], axis=1), jnp.float32),
            problem=problem, data_weight=solver.data_weight,
        )

    def loss(self, net: FieldNet) -> Array:
        """Per-experiment losses summed: each network's gradient is its own experiment's."""
        u, u_t, u_x, u_xx = derivatives(net, self.collocation)
        residual = self.problem.pde_residual(u, u_t, u_x, u_xx) / self.problem.residual_scale
        misfit = (net(self.data_points) - self.data) / self.problem.field_scale
        return jnp.sum(self.data_weight * jnp.mean(misfit**2, axis=1) + jnp.mean(residual**2, axis=1))

    def program(self, optimiser: optax.GradientTransformation, line_search: bool) -> Any:
        """run(net, state, steps) -> (net, state, last loss): ``steps`` optimiser steps in one compiled scan.

        ``line_search``: the optimiser keeps the last value and gradient in its state (L-BFGS) and they are reused.
        """

        @eqx.filter_jit
        def run(net: FieldNet, state: optax.OptState, steps: int) -> tuple[FieldNet, optax.OptState, Array]:
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

    def estimates(self, net: FieldNet) -> np.ndarray:
        """Every experiment's field on the grid at the scored cycles: (experiments, cycles, grid)."""
        values = np.asarray(eqx.filter_jit(lambda n: n(self.grid_points))(net), np.float64)
        return values.reshape(len(values), self.problem.scored_cycles, self.problem.state_size)
