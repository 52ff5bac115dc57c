"""Finite-basis PINNs, one-level and multilevel.

u(x) = ansatz(x, sum_l sum_j  wbar_lj(x) NN_lj((x - mu_lj) / sigma_lj))

where level l is a regular decomposition with ``levels[l]`` subdomains per dimension
and wbar_lj its partition-of-unity windows (Moseley et al. 2023; Dolean et al. 2024 for
several levels). All networks of a level are evaluated as one batched computation over
stacked weights, and only on the point-subdomain pairs inside each window's support.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from parity.knobs import all_at_least, at_least, knob, positive
from parity.problems.base import ForwardProblem, Problem
from parity.solvers.base import Budget, Evaluator, ProgressFn, SolveResult, Solver
from parity.solvers.decomposition import Level, Pairs, window
from parity.solvers.networks import ACTIVATIONS, StackedMLP
from parity.solvers.schedule import TimeMarching, weighted_mean_square
from parity.solvers.training import TrainingTask, solve_result, train

Geometry = tuple[tuple[Float[Array, "s d"], Float[Array, "s d"]], ...]
"""Per level: (centres, half_widths)."""


def fbpinn_raw(
    nets: tuple[StackedMLP, ...], geometry: Geometry, pairs: tuple[Pairs, ...], x: Float[Array, "n d"]
) -> Float[Array, "n out"]:
    """Sum over levels of the window-weighted subdomain networks, before the ansatz."""
    total = 0.0
    for net, (centres, half_widths), (index, mask) in zip(nets, geometry, pairs):
        x_local = (x[index] - centres[:, None, :]) / half_widths[:, None, :]  # (s, slots, d)
        weight = window(x_local) * mask
        out = net(x_local)  # (s, slots, out)
        numerator = jax.ops.segment_sum((weight[..., None] * out).reshape(-1, out.shape[-1]), index.reshape(-1), x.shape[0])
        denominator = jax.ops.segment_sum(weight.reshape(-1), index.reshape(-1), x.shape[0])
        if len(nets) > 1:  # keeps XLA from fusing levels into one scatter loop: 3-10x faster on CPU
            numerator, denominator = jax.lax.optimization_barrier((numerator, denominator))
        total = total + numerator / denominator[:, None]
    return total


@dataclasses.dataclass(frozen=True)
class FBPINN(Solver):
    name: ClassVar[str] = "fbpinn"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "finite-basis PINN, one-level or multilevel (Moseley 2023, Dolean 2024)"

    levels: tuple[int, ...] = knob((30,), "subdomains per dimension at each level; several = multilevel", "non-empty list of integers >= 1", all_at_least(1))
    overlap: float = knob(1.9, "subdomain width / subdomain spacing", "number > 1", lambda v: v > 1.0)
    width: int = knob(16, "hidden units per layer of each subdomain network", "integer >= 1", at_least(1))
    depth: int = knob(2, "hidden layers of each subdomain network", "integer >= 1", at_least(1))
    activation: str = knob("tanh", "activation", " | ".join(ACTIVATIONS), ACTIVATIONS.__contains__)
    learning_rate: float = knob(1e-3, "Adam learning rate", "finite number > 0", positive)
    n_collocation: int = knob(3000, "collocation (training) points", "integer >= 2", at_least(2))
    steps_per_dispatch: int = knob(100, "optimiser steps fused per jitted call (also the checkpoint interval)", "integer >= 1", at_least(1))
    time_stages: int = knob(1, "causal time-marching stages for evolution problems (1 = train on all times at once)", "integer >= 1", at_least(1))
    marching_fraction: float = knob(0.5, "fraction of the steps spent marching; the rest trains on all times", "number in (0, 1]", lambda f: 0 < f <= 1)
    lbfgs_fraction: float = knob(0.0, "fraction of the steps, at the end, taken by L-BFGS (zoom line search) after Adam", "number in [0, 1]", lambda f: 0 <= f <= 1)

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        """Forward problems on a box; not periodic ones, whose windows would have to wrap around."""
        return isinstance(problem, ForwardProblem) and not any(p is not None for p in problem.periods or ())

    def decomposition(self, problem: ForwardProblem) -> list[Level]:
        lower, upper = problem.bounds
        return [Level.regular(lower, upper, n, self.overlap) for n in self.levels]

    def networks(self, problem: ForwardProblem, seed: int) -> tuple[StackedMLP, ...]:
        """One stack of subdomain networks per level, each level seeded independently."""
        sizes = (problem.in_dim, *[self.width] * self.depth, problem.out_dim)
        seeds = np.random.SeedSequence(seed).generate_state(len(self.levels))
        return tuple(
            StackedMLP(lv.n_subdomains, sizes, ACTIVATIONS[self.activation], seed=int(s))
            for lv, s in zip(self.decomposition(problem), seeds)
        )

    def evaluate(
        self, problem: ForwardProblem, nets: tuple[StackedMLP, ...], pairs: tuple[Pairs, ...], x: Float[Array, "n d"]
    ) -> Float[Array, "n out"]:
        """u(x) at points whose point-subdomain ``pairs`` were found by :meth:`Level.pairs`."""
        geometry = tuple((jnp.asarray(lv.centres, x.dtype), jnp.asarray(lv.half_widths, x.dtype)) for lv in self.decomposition(problem))
        return problem.ansatz(x, fbpinn_raw(nets, geometry, pairs, x))

    def training_task(self, problem: ForwardProblem, seed: int, x_test: Float[np.ndarray, "m d"]) -> TrainingTask:
        """Mean squared residual (scaled by the problem's residual scale) on the collocation points."""
        levels = self.decomposition(problem)
        x_train = problem.collocation_points(self.n_collocation)
        train_pairs = tuple(lv.pairs(x_train) for lv in levels)
        test_pairs = tuple(lv.pairs(x_test) for lv in levels)
        x_test_j = jnp.asarray(x_test, dtype=jnp.float32)

        def loss(nets: tuple[StackedMLP, ...], data: tuple[Float[Array, "n d"], tuple[Pairs, ...], Float[Array, " n"]]) -> Float[Array, ""]:
            x, pairs, weights = data
            r = problem.residual(lambda x_: self.evaluate(problem, nets, pairs, x_), x) / problem.residual_scale
            return weighted_mean_square(r, weights)

        x_j = jnp.asarray(x_train, dtype=jnp.float32)
        marching = TimeMarching.for_problem(problem, x_train, self.time_stages, self.marching_fraction, self.name, self.lbfgs_fraction)
        return TrainingTask(
            model=self.networks(problem, seed),
            loss_fn=loss,
            data=(x_j, train_pairs, jnp.ones(x_train.shape[0], jnp.float32)),
            predict_test=lambda nets: self.evaluate(problem, nets, test_pairs, x_test_j),
            optimiser=optax.adam(self.learning_rate),
            finisher=optax.lbfgs() if self.lbfgs_fraction > 0 else None,
            finisher_fraction=self.lbfgs_fraction,
            data_schedule=None if marching is None else lambda step, total: (x_j, train_pairs, marching.weights(step, total)),
        )

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem)
        t0 = time.perf_counter()
        task = self.training_task(problem, seed, evaluator.x_test)
        setup_s = time.perf_counter() - t0
        outcome = train(
            task, steps=budget.steps, steps_per_dispatch=self.steps_per_dispatch,
            evaluator=evaluator, progress=progress, max_seconds=budget.seconds,
        )
        levels = self.decomposition(problem)
        evaluate = jax.jit(lambda nets, pairs, x: self.evaluate(problem, nets, pairs, x))

        def predict(x: Float[np.ndarray, "m d"]) -> Float[np.ndarray, "m out"]:
            pairs = tuple(lv.pairs(x) for lv in levels)
            return np.asarray(evaluate(outcome.model, pairs, jnp.asarray(x, dtype=jnp.float32)))

        _, train_pairs, _ = task.data
        return solve_result(outcome, setup_s, predict, {
            "n_subdomains": sum(lv.n_subdomains for lv in levels),
            "active_pairs": int(sum(float(p.mask.sum()) for p in train_pairs)),
        })
