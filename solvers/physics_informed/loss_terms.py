"""A physics-informed loss split into terms, each optionally weighted causally in time.

The problem says which (point, residual column) entries make up each term
(:meth:`~parity.problems.base.ForwardProblem.loss_terms`: the momentum equations and
continuity of a flow, the wave equation and its absorbing condition). Keeping the terms
apart lets a balancer weight them (:mod:`.balancing`), and splitting each term's points
into time chunks lets causal weighting (Wang, Sankaran & Perdikaris 2022, "Respecting
causality is all you need for training physics-informed neural networks") hold back a
chunk's residual until the chunks before it are fitted:

    L_term = mean_k  w_k L_term,k,   w_k = exp(-tolerance * sum_{j < k} L_term,j)

with the weights w_k outside the gradient. Every array here is per point, so a point
set and its tables are resampled (:mod:`.adaptive_sampling`) without recompiling.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.problems.base import ForwardProblem


class TermTables(NamedTuple):
    """Per-point tables of a point set (device-split along the points like the points themselves)."""

    masks: Float[Array, "n r T"]
    """1 where (point, residual column) belongs to a term."""
    chunks: Float[Array, "n K"]
    """One-hot time chunk of each point (one column for steady problems or without causality)."""
    probes: Float[Array, " n"]
    """Fixed random signs, for the Hutchinson estimate of each term's NTK trace (:mod:`.balancing`)."""


@dataclasses.dataclass(frozen=True)
class LossTerms:
    """How a problem's residual becomes term losses: names, time chunks and causal tolerance."""

    problem: ForwardProblem
    names: tuple[str, ...]
    chunks: int = 1
    """Time chunks for causal weighting; 1 = no causal weighting."""
    tolerance: float = 1.0
    """epsilon of the causal weights (Wang et al. use 1 with losses of order 1)."""
    seed: int = 0

    @classmethod
    def for_problem(cls, problem: ForwardProblem, chunks: int = 1, tolerance: float = 1.0, seed: int = 0) -> LossTerms:
        names = tuple(problem.loss_terms(np.asarray(problem.bounds[0])[None]))
        return cls(problem, names, chunks, tolerance, seed)

    @property
    def causal(self) -> bool:
        return self.chunks > 1

    def settled(self) -> LossTerms:
        """The same terms with every causal weight 1 (the mean of the chunks' losses): a fixed
        objective for a line-search finisher, which the moving causal weights would mislead."""
        return dataclasses.replace(self, tolerance=0.0)

    def tables(self, x: Float[np.ndarray, "n d"]) -> TermTables:
        """The tables of point set ``x``, on the host."""
        by_name = self.problem.loss_terms(x)
        masks = np.stack([by_name[name] for name in self.names], axis=-1).astype(np.float32)
        if self.causal:
            axis = self.problem.time_axis
            assert axis is not None, "causal weighting needs a time axis"
            lower, upper = self.problem.bounds
            fraction = (x[:, axis] - lower[axis]) / (upper[axis] - lower[axis])
            chunk = np.clip((fraction * self.chunks).astype(int), 0, self.chunks - 1)
            chunks = np.eye(self.chunks, dtype=np.float32)[chunk]
        else:
            chunks = np.ones((len(x), 1), np.float32)
        probes = np.random.default_rng([self.seed, len(x)]).choice(np.array([-1.0, 1.0], np.float32), size=len(x))
        return TermTables(masks, chunks, probes)

    def losses(
        self, residual: Float[Array, "n r"], weights: Float[Array, " n"], tables: TermTables, axis_name: str | None = None
    ) -> Float[Array, " T"]:
        """Each term's mean squared residual over its (weighted) entries, causally weighted in time.

        With ``axis_name`` (inside ``shard_map``) the sums run over every device's points.
        """
        squares = weights[:, None] * residual**2
        totals = jnp.einsum("nr,nrt,nk->tk", squares, tables.masks, tables.chunks)
        counts = jnp.einsum("n,nrt,nk->tk", weights, tables.masks, tables.chunks)
        if axis_name is not None:
            totals, counts = jax.lax.psum((totals, counts), axis_name)
        if not self.causal:
            return totals[:, 0] / jnp.maximum(counts[:, 0], 1.0)
        chunk_losses = totals / jnp.maximum(counts, 1.0)
        return jnp.mean(causal_weights(chunk_losses, self.tolerance) * chunk_losses, axis=1)

    def probes(
        self, residual: Float[Array, "n r"], weights: Float[Array, " n"], tables: TermTables, axis_name: str | None = None
    ) -> Float[Array, " T"]:
        """sum_i s_i r_i / sqrt(n_term) per term, with random signs s: the squared norm of its
        parameter gradient estimates the mean diagonal of the term's neural tangent kernel."""
        signed = (weights * tables.probes)[:, None] * residual
        totals = jnp.einsum("nr,nrt->t", signed, tables.masks)
        counts = jnp.einsum("n,nrt->t", weights, tables.masks)
        if axis_name is not None:
            totals, counts = jax.lax.psum((totals, counts), axis_name)
        return totals / jnp.sqrt(jnp.maximum(counts, 1.0))


def causal_weights(chunk_losses: Float[Array, "T K"], tolerance: float) -> Float[Array, "T K"]:
    """exp(-tolerance * the summed losses of the earlier chunks), held out of the gradient.

    The first chunk always has weight 1; a chunk's weight rises towards 1 as the
    residual before it falls.
    """
    earlier = jnp.cumsum(chunk_losses, axis=1) - chunk_losses
    return jax.lax.stop_gradient(jnp.exp(-tolerance * earlier))
