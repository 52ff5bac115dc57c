"""Variational assimilation: 3D-Var (and optimal interpolation) and strong-constraint 4D-Var.

Both weigh a background x_b with covariance B = s C (C the problem's prior covariance: the
climatology of a filter, the initial states' distribution of a window; the scale s chosen on
the validation experiments unless given) against the observations (R = noise^2 I).

- 3D-Var (filters): x_a = x_b + K (y - H x_b), K = B H^T (H B H^T + R)^-1, x_b the previous
  analysis forecast one cycle (at the first cycle, the prior mean). With s = 1 it is optimal
  interpolation with the climatological covariance.
- 4D-Var: the state x at the first cycle of a window of observations minimises

      J(v) = 1/2 |v|^2 + sum_j 1/2 |y_j - H M^j(x)|^2 / noise^2,    x = x_b + B^(1/2) v,

  through the model M by automatic differentiation (the adjoint), with ``iterations`` L-BFGS
  steps (optax, zoom line search). On a window problem the window is the problem's, x_b the
  prior mean, and the estimate is M^k(x) at every scored cycle (the forecast included). On a
  filter the window of ``window`` cycles slides by one; the estimate at cycle k is
  M^(window - 1)(x) of the window ending at k (so it uses no later observation, as a filter
  must), and the next window's background is M(x). Overlapping windows assimilate each
  observation ``window`` times; the tuned scale s absorbs that. A window of one is 3D-Var solved
  iteratively (a test checks the two agree).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from parity.knobs import ParameterError, at_least, knob
from parity.problems.assimilation import AssimilationProblem
from parity.problems.base import Problem
from parity.solvers.assimilation.tuning import Assimilate, given_or_chosen, tuned_assimilation_solve
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult

BACKGROUND_SCALES = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.0)
"""The validation search's candidates for s in B = s C."""

Model = Callable[[Array], Array]


def background_factor(problem: AssimilationProblem, scale: float) -> Float[np.ndarray, "n n"]:
    """B^(1/2) = s^(1/2) L, L the problem's square root of its prior covariance."""
    return np.sqrt(scale) * problem.prior_root


def window_cost(v: Float[Array, " n"], background: Float[Array, " n"], factor: Float[Array, "n n"], observations: Float[Array, "w p"],
                weights: Float[Array, " w"], model: Model, observe: Model, noise: float) -> Float[Array, ""]:
    """J(v) of one window; ``weights`` are 1 for an observation in the window and 0 for padding before cycle 1."""
    def term(x: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
        y, weight = inputs
        misfit = observe(x) - y
        return model(x), 0.5 * weight * jnp.sum(misfit**2) / noise**2

    _, terms = jax.lax.scan(term, background + factor @ v, (observations, weights))
    return 0.5 * jnp.sum(v**2) + jnp.sum(terms)


def minimise(cost: Callable[[Array], Array], v0: Array, iterations: int) -> Array:
    """``iterations`` L-BFGS steps on ``cost`` from ``v0`` (a fixed count, so it compiles into the cycle's scan)."""
    optimiser = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(cost)

    def step(carry: tuple[Array, optax.OptState], _: None) -> tuple[tuple[Array, optax.OptState], None]:
        v, state = carry
        value, grad = value_and_grad(v, state=state)
        updates, state = optimiser.update(grad, state, v, value=value, grad=grad, value_fn=cost)
        return (optax.apply_updates(v, updates), state), None

    (v, _), _ = jax.lax.scan(step, (v0, optimiser.init(v0)), None, length=iterations)
    return v


@dataclasses.dataclass(frozen=True)
class ThreeDVar(Solver):
    name: ClassVar[str] = "three_d_var"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "cycled 3D-Var with a climatological background covariance (scale 1: optimal interpolation)"
    deterministic: ClassVar[bool] = True
    requires: ClassVar[str] = "a filtering (cycled) assimilation problem"

    background_scale: float = knob(0.0, "s in B = s C (C climatological); 0 chooses it on validation, 1 is optimal interpolation",
                                   "number >= 0", at_least(0))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, AssimilationProblem) and problem.protocol == "filter"

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AssimilationProblem)
        return tuned_assimilation_solve(problem, evaluator, progress, lambda: given_or_chosen(
            "background_scale", self.background_scale, BACKGROUND_SCALES, lambda s: self.assimilator(problem, s), problem, progress))

    @staticmethod
    def assimilator(problem: AssimilationProblem, scale: float) -> Assimilate:
        """3D-Var with B = scale C: a constant gain."""
        b_ht = np.asarray(problem.observe(scale * problem.prior[1]))  # B H^T (B symmetric): H applied to B's rows
        h_b_ht = np.asarray(problem.observe(b_ht.T))
        gain = np.linalg.solve(h_b_ht + problem.noise**2 * np.eye(len(h_b_ht)), b_ht.T).T
        batched = _compiled_3dvar(problem)
        return lambda observations: np.asarray(batched(jnp.asarray(observations, jnp.float32), jnp.asarray(gain, jnp.float32)), np.float64)


@dataclasses.dataclass(frozen=True)
class FourDVar(Solver):
    name: ClassVar[str] = "four_d_var"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "strong-constraint 4D-Var (adjoint by automatic differentiation, L-BFGS): the problem's window, or a sliding one"
    deterministic: ClassVar[bool] = True
    requires: ClassVar[str] = "an assimilation problem"

    window: int = knob(5, "observation cycles per sliding window (filter problems; a window problem's 4D-Var spans its window)",
                       "integer >= 1", at_least(1))
    iterations: int = knob(20, "L-BFGS iterations per window", "integer >= 1", at_least(1))
    background_scale: float = knob(0.0, "s in B = s C (C the prior covariance); 0 chooses it on validation", "number >= 0", at_least(0))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, AssimilationProblem)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AssimilationProblem)
        if problem.protocol == "filter" and self.window > problem.observed_cycles:
            raise ParameterError(f"{self.name}: window = {self.window} is longer than the {problem.observed_cycles} observed cycles; "
                                 f"allowed: an integer between 1 and {problem.observed_cycles}")
        return tuned_assimilation_solve(problem, evaluator, progress, lambda: given_or_chosen(
            "background_scale", self.background_scale, BACKGROUND_SCALES, lambda s: self.assimilator(problem, s), problem, progress))

    def assimilator(self, problem: AssimilationProblem, scale: float) -> Assimilate:
        """4D-Var with B = scale C over the problem's window, or cycled over sliding windows for a filter."""
        factor = jnp.asarray(background_factor(problem, scale), jnp.float32)
        batched = _compiled_4dvar(self, problem) if problem.protocol == "filter" else _compiled_window_4dvar(self.iterations, problem)
        return lambda observations: np.asarray(batched(jnp.asarray(observations, jnp.float32), factor), np.float64)


@functools.lru_cache(maxsize=4)
def _compiled_3dvar(problem: AssimilationProblem) -> Callable[[Array, Array], Array]:
    """3D-Var over a batch of experiments, compiled once per problem (the gain is an argument)."""
    start = jnp.asarray(problem.prior[0], jnp.float32)

    def run(observations: Float[Array, "k p"], gain: Float[Array, "n p"]) -> Float[Array, "k n"]:
        def cycle(background: Array, y: Array) -> tuple[Array, Array]:
            analysis = background + gain @ (y - problem.observe(background))
            return problem.model_step(analysis), analysis

        return jax.lax.scan(cycle, start, observations)[1]

    return jax.jit(jax.vmap(run, in_axes=(0, None)))


@functools.lru_cache(maxsize=4)
def _compiled_4dvar(solver: FourDVar, problem: AssimilationProblem) -> Callable[[Array, Array], Array]:
    """Cycled 4D-Var over a batch of experiments, compiled once per solver and problem (B^(1/2) is an argument)."""
    start = jnp.asarray(problem.prior[0], jnp.float32)
    model, width = problem.model_step, solver.window

    def run(observations: Float[Array, "k p"], factor: Float[Array, "n n"]) -> Float[Array, "k n"]:
        padded = jnp.concatenate([jnp.zeros((width - 1, observations.shape[1]), observations.dtype), observations])
        weights = jnp.concatenate([jnp.zeros(width - 1), jnp.ones(len(observations))])

        def cycle(background: Array, k: Array) -> tuple[Array, Array]:
            window = jax.lax.dynamic_slice_in_dim(padded, k, width)
            weight = jax.lax.dynamic_slice_in_dim(weights, k, width)
            cost = lambda v: window_cost(v, background, factor, window, weight, model, problem.observe, problem.noise)  # noqa: E731
            first = background + factor @ minimise(cost, jnp.zeros_like(background), solver.iterations)
            last = jax.lax.fori_loop(0, width - 1, lambda _, x: model(x), first)
            return model(first), last

        return jax.lax.scan(cycle, start, jnp.arange(len(observations)))[1]

    return jax.jit(jax.vmap(run, in_axes=(0, None)))


@functools.lru_cache(maxsize=4)
def _compiled_window_4dvar(iterations: int, problem: AssimilationProblem) -> Callable[[Array, Array], Array]:
    """4D-Var over a window problem's observations, then the model's forecast, compiled once per problem (B^(1/2) an argument)."""
    background = jnp.asarray(problem.prior[0], jnp.float32)

    def run(observations: Float[Array, "c p"], factor: Float[Array, "n n"]) -> Float[Array, "k n"]:
        weights = jnp.ones(len(observations))
        cost = lambda v: window_cost(v, background, factor, observations, weights, problem.model_step, problem.observe, problem.noise)  # noqa: E731
        start = background + factor @ minimise(cost, jnp.zeros_like(background), iterations)
        return jax.lax.scan(lambda x, _: (problem.model_step(x), x), start, None, length=problem.scored_cycles)[1]

    return jax.jit(jax.vmap(run, in_axes=(0, None)))

