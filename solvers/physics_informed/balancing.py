"""Weights for a loss of several terms, so no term's gradient drowns the others'.

Every ``every`` steps the weights are set from a statistic s_t of each term t,

    lambda_t = sum_j s_j / s_t,   then smoothed:  lambda <- momentum * lambda + (1 - momentum) * lambda_new

- ``grad_norm`` (Wang, Wang & Perdikaris 2023, "An expert's guide to training
  physics-informed neural networks"): s_t = ||grad L_t||, so every weighted term has the
  same gradient norm, sum_j ||grad L_j||.
- ``ntk`` (Wang, Yu & Perdikaris 2022, "When and why PINNs fail to train: a neural tangent
  kernel perspective"): s_t = the mean diagonal of term t's NTK, mean_i ||grad r_i||^2,
  estimated from one gradient per term (Hutchinson: ||grad sum_i s_i r_i||^2 / n with
  random signs s_i has that mean), not from a per-point Jacobian.

The weights are data of the optimiser step (carried through the fused steps), never
differentiated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

BALANCINGS = ("grad_norm", "ntk")


@dataclasses.dataclass(frozen=True)
class LossBalancing:
    kind: Literal["grad_norm", "ntk"]
    terms: int
    every: int = 1000
    """Steps between weight updates (the first update is at step 0)."""
    momentum: float = 0.9

    def initial(self) -> Float[Array, " T"]:
        return jnp.ones(self.terms, jnp.float32)

    def statistics(self, per_term: Callable[[PyTree], Float[Array, " T"]], params: PyTree) -> Float[Array, " T"]:
        """s_t from ``per_term(params)``: the term losses (grad_norm) or their NTK probes (ntk)."""
        jacobian = jax.jacrev(per_term)(params)
        squares = sum(jnp.sum(leaf.reshape(self.terms, -1) ** 2, axis=1) for leaf in jax.tree.leaves(jacobian))
        return jnp.sqrt(squares) if self.kind == "grad_norm" else squares

    def update(self, weights: Float[Array, " T"], statistics: Float[Array, " T"]) -> Float[Array, " T"]:
        """The smoothed new weights; a term with no gradient at all keeps its weight."""
        tiny = jnp.finfo(statistics.dtype).tiny
        fresh = jnp.where(statistics > 0, jnp.sum(statistics) / jnp.maximum(statistics, tiny), weights)
        return jax.lax.stop_gradient(self.momentum * weights + (1.0 - self.momentum) * fresh)

    def maybe_update(
        self, step: Array, weights: Float[Array, " T"], per_term: Callable[[PyTree], Float[Array, " T"]], params: PyTree
    ) -> Float[Array, " T"]:
        """The weights after ``step``: updated on multiples of ``every``, else unchanged (no work done)."""
        return jax.lax.cond(
            step % self.every == 0, lambda: self.update(weights, self.statistics(per_term, params)), lambda: weights
        )
