"""Schwarz-preconditioned L-BFGS: local quasi-Newton solves on subspaces of the parameters, then a global step.

One outer iteration (Kopaničáková, Kothari, Karniadakis & Krause, SISC 2024; Salvadó-Benasco
et al. 2026 for FBPINNs) is

1. with a coarse space (two-level), a few L-BFGS steps on the coarse parameters, the rest frozen;
2. a few L-BFGS steps on each local space's parameters with the others frozen, on its own
   loss (an FBPINN subdomain: the points in its window; a group of layers: all points).
   *Additive*: every local space starts from the same parameters and the corrections are
   combined, either ``average``d (each space's share where they overlap) or weighted by a
   low-dimensional ``subspace`` minimisation over one weight per correction (as in
   multi-preconditioned L-BFGS); a combination that does not lower the loss is dropped.
   *Multiplicative*: the spaces in turn, a colour at a time (spaces of one colour share no
   loss term, so solving them together is solving them in turn), each correction applied;
3. one global L-BFGS step with a zoom line search, whose memory spans the whole outer move.

A local space is any :class:`LocalSpace`: :mod:`.fbpinn_schwarz` (subdomains) and
:mod:`.layerwise` (groups of layers) provide them. Costs are counted on every axis of
:mod:`.costs`; a local solve that ends non-finite is dropped and counted, not hidden.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PyTree

from parity.knobs import Configurable, ParameterError, at_least, knob
from parity.solvers.physics_informed.costs import StepCost, line_search_evaluations
from parity.solvers.physics_informed.optimisers import OPTIMISERS

Objective = Callable[[PyTree], Float[Array, ""]]
VARIANTS = ("additive", "multiplicative")
COMBINATIONS = ("average", "subspace")


class LocalSpace(Protocol):
    """Subspaces of the parameters with a local problem each."""

    @property
    def colours(self) -> Sequence[Sequence[int]]:
        """The spaces grouped so that no two in a group share a loss term (all of them: one group each)."""
        ...

    def solve(self, params: PyTree, objective: Objective, members: Sequence[int], steps: int) -> tuple[Any, StepCost]:
        """``steps`` local L-BFGS steps on each member from ``params``: their corrections (opaque) and cost."""
        ...

    def apply(self, params: PyTree, corrections: Any, members: Sequence[int], weights: Float[Array, " m"]) -> PyTree:
        """``params`` plus the members' corrections times ``weights`` (one per member)."""
        ...

    def average_weights(self, members: Sequence[int]) -> Float[Array, " m"]:
        """Weights that average the corrections where the members' spaces overlap."""
        ...


class CoarseSpace(Protocol):
    """A global subspace (a multilevel FBPINN's coarse levels) corrected before the local spaces."""

    def select(self, params: PyTree) -> PyTree: ...

    def replace(self, params: PyTree, coarse: PyTree) -> PyTree: ...


def lbfgs_steps(objective: Objective, x0: PyTree, steps: int, memory: int = 10) -> tuple[PyTree, Array, Array, Array, Array]:
    """Up to ``steps`` L-BFGS steps (zoom line search) from ``x0``, each kept only if it lowers the objective.

    Returns (x, evaluations, value at x0, value at x, whether a trial was non-finite). The
    first step that does not lower the objective (optax's line search, when it fails, takes
    its last trial) ends the solve there; evaluations are counted until then, as a solver
    that stops would spend them. The line search's last value and gradient are carried
    from step to step instead of fetched by ``optax.value_and_grad_from_state``, whose
    ``cond`` would evaluate both branches under ``vmap``.
    """
    optimiser = optax.lbfgs(memory_size=memory)
    value0, grad0 = jax.value_and_grad(objective)(x0)
    Carry = tuple[PyTree, PyTree, Array, PyTree, Array, Array]

    def body(carry: Carry, _: None) -> tuple[Carry, Array]:
        x, state, value, grad, stopped, diverged = carry
        updates, new_state = optimiser.update(grad, state, x, value=value, grad=grad, value_fn=objective)
        new_value = optax.tree_utils.tree_get(new_state, "value")
        accept = ~stopped & jnp.isfinite(new_value) & (new_value <= value)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, old)  # noqa: E731
        spent = jnp.where(stopped, 0.0, line_search_evaluations(new_state))
        carry = (
            keep(optax.apply_updates(x, updates), x), keep(new_state, state), jnp.where(accept, new_value, value),
            keep(optax.tree_utils.tree_get(new_state, "grad"), grad), ~accept, diverged | (~stopped & ~jnp.isfinite(new_value)),
        )
        return carry, spent

    start = (x0, optimiser.init(x0), value0, grad0, ~jnp.isfinite(value0), ~jnp.isfinite(value0))
    (x, _, value, _, _, diverged), evaluations = jax.lax.scan(body, start, None, length=steps)
    return x, 1.0 + jnp.sum(evaluations), value0, value, diverged


@dataclasses.dataclass(frozen=True)
class SchwarzLBFGS:
    """The outer iteration of the module's docstring, for one :class:`LocalSpace`."""

    space: LocalSpace
    variant: str = "additive"
    local_steps: int = 5
    combine: str = "average"
    subspace_steps: int = 3
    coarse: CoarseSpace | None = None
    memory: int = 10

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"Schwarz variant {self.variant!r} is not allowed; allowed: {' | '.join(VARIANTS)}")
        if self.combine not in COMBINATIONS:
            raise ValueError(f"combination {self.combine!r} is not allowed; allowed: {' | '.join(COMBINATIONS)}")

    @property
    def global_optimiser(self) -> optax.GradientTransformationExtraArgs:
        return optax.lbfgs(memory_size=self.memory)

    def init(self, params: PyTree) -> PyTree:
        """The global L-BFGS state and the loss at the current parameters (inf: not known yet)."""
        return self.global_optimiser.init(params), jnp.asarray(jnp.inf, jnp.float32)

    def step(self, params: PyTree, state: PyTree, objective: Objective) -> tuple[PyTree, PyTree, Array, StepCost]:
        """One outer iteration: (parameters, state, loss after it, its cost)."""
        lbfgs_state, value = state
        known = jnp.isfinite(value)
        value = jax.lax.cond(known, lambda: value, lambda: objective(params))
        cost = StepCost.global_only(jnp.where(known, 0.0, 1.0))
        if self.coarse is not None:
            params, value, coarse_cost = self._coarse_correction(params, value, objective)
            cost = cost + coarse_cost
        if self.variant == "additive":
            members = [m for colour in self.space.colours for m in colour]
            corrections, local_cost = self.space.solve(params, objective, members, self.local_steps)
            params, value, combine_cost = self._combined(params, value, objective, corrections, members)
            cost = cost + local_cost + combine_cost
        else:
            for colour in self.space.colours:
                corrections, local_cost = self.space.solve(params, objective, colour, self.local_steps)
                params = self.space.apply(params, corrections, colour, jnp.ones(len(colour), jnp.float32))
                cost = cost + local_cost
        params, lbfgs_state, loss, global_cost = self._global_step(params, lbfgs_state, objective)
        return params, (lbfgs_state, loss), loss, cost + global_cost

    def _global_step(self, params: PyTree, state: PyTree, objective: Objective) -> tuple[PyTree, PyTree, Array, StepCost]:
        """One global L-BFGS step; one that raises the loss (a failed line search, a memory spoilt by the
        local moves' curvature) is undone and the memory cleared."""
        value, grad = jax.value_and_grad(objective)(params)
        updates, new_state = self.global_optimiser.update(grad, state, params, value=value, grad=grad, value_fn=objective)
        new_value = optax.tree_utils.tree_get(new_state, "value")
        accept = jnp.isfinite(new_value) & (new_value <= value)
        fresh = self.global_optimiser.init(params)
        params = jax.tree.map(lambda a, b: jnp.where(accept, a, b), optax.apply_updates(params, updates), params)
        state = jax.tree.map(lambda a, b: jnp.where(accept, a, b), new_state, fresh)
        return params, state, jnp.where(accept, new_value, value), StepCost.global_only(1.0 + line_search_evaluations(new_state))

    def _coarse_correction(self, params: PyTree, value: Array, objective: Objective) -> tuple[PyTree, Array, StepCost]:
        """L-BFGS steps on the coarse space, kept when they lower the loss (they are global evaluations)."""
        assert self.coarse is not None
        coarse = self.coarse
        start = coarse.select(params)
        x, evaluations, _, new_value, diverged = lbfgs_steps(lambda c: objective(coarse.replace(params, c)), start, self.local_steps, self.memory)
        better = new_value < value
        x = jax.tree.map(lambda a, b: jnp.where(better, a, b), x, start)
        cost = StepCost.global_only(evaluations)._replace(local_failures=diverged.astype(jnp.float32))
        return coarse.replace(params, x), jnp.where(better, new_value, value), cost

    def _combined(self, params: PyTree, value: Array, objective: Objective, corrections: Any, members: list[int]) -> tuple[PyTree, Array, StepCost]:
        """The corrections combined by the chosen rule, or dropped when they do not lower the loss."""
        weights = self.space.average_weights(members)
        if self.combine == "subspace":
            def reduced(alpha: Float[Array, " m"]) -> Float[Array, ""]:
                return objective(self.space.apply(params, corrections, members, alpha))

            weights, evaluations, _, new_value, _ = lbfgs_steps(reduced, weights, self.subspace_steps, self.memory)
        else:
            new_value, evaluations = objective(self.space.apply(params, corrections, members, weights)), jnp.asarray(1.0)
        better = jnp.isfinite(new_value) & (new_value < value) & jnp.all(jnp.isfinite(weights))
        weights = jnp.where(better, weights, 0.0)
        return self.space.apply(params, corrections, members, weights), jnp.where(better, new_value, value), StepCost.global_only(evaluations)


SCHWARZ_OPTIMISERS = {"schwarz_additive": "additive", "schwarz_multiplicative": "multiplicative"}
ALL_OPTIMISERS = (*OPTIMISERS, *SCHWARZ_OPTIMISERS)


@dataclasses.dataclass(frozen=True)
class SchwarzKnobs(Configurable):
    """The knobs of the Schwarz-preconditioned optimisers a solver offers as ``optimiser`` values.

    With one of them, a budget's step is one outer iteration. Listed before
    :class:`~parity.solvers.physics_informed.recipes.TrainingRecipe` among a solver's bases, its
    ``optimiser`` knob (the recipe's, widened) is the one the solver gets.
    """

    optimiser: str = knob(
        "adam", "first optimiser; schwarz_* = Schwarz-preconditioned L-BFGS over the solver's local spaces (FBPINN: the finest subdomains; "
        "PINN: groups of layers), one outer iteration per step", " | ".join(ALL_OPTIMISERS), ALL_OPTIMISERS.__contains__,
    )
    local_steps: int = knob(5, "Schwarz: L-BFGS steps of each local (and coarse) solve per outer iteration", "integer >= 1", at_least(1))
    combine: str = knob("average", "Schwarz additive: how local corrections combine", " | ".join(COMBINATIONS), COMBINATIONS.__contains__)
    subspace_steps: int = knob(3, "Schwarz additive, combine = subspace: L-BFGS steps on the corrections' weights", "integer >= 1", at_least(1))

    @property
    def schwarz(self) -> bool:
        return self.optimiser in SCHWARZ_OPTIMISERS

    def check_schwarz(self, time_stages: int, lbfgs_fraction: float) -> None:
        """Refuse what a Schwarz optimiser cannot combine with (called at construction)."""
        if not self.schwarz:
            return
        if lbfgs_fraction > 0:
            raise ParameterError(f"{self.name}: optimiser {self.optimiser!r} ends every outer iteration with a global L-BFGS step; lbfgs_fraction must be 0")
        if time_stages > 1:
            raise ParameterError(f"{self.name}: optimiser {self.optimiser!r} trains on all times at once; time_stages must be 1")

    def schwarz_optimiser(self, space: LocalSpace, coarse: CoarseSpace | None = None) -> SchwarzLBFGS:
        return SchwarzLBFGS(space, SCHWARZ_OPTIMISERS[self.optimiser], self.local_steps, self.combine, self.subspace_steps, coarse)
