"""Residual-based adaptive distribution of collocation points (RAD; Wu, Zhu, Tan, Kartha & Lu 2023).

Every few steps (the solver's ``rad_every``) the training points are drawn afresh, without replacement, from a
fixed pool of candidates with probability

    p(x) ∝ e(x)^k / mean(e^k) + c,   e(x) = the residual's norm at x

so points gather where the residual is large while c keeps a uniform share everywhere
(k = 1, c = 1 are the paper's robust default). Points that carry different conditions
(the box's interior and its sides) are drawn within their own class, each class keeping
its count: the set keeps its size and make-up, and nothing recompiles.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Float, Int


@dataclasses.dataclass(frozen=True)
class ResidualAdaptiveSampling:
    pool: Float[np.ndarray, "P d"]
    pool_classes: Int[np.ndarray, " P"]
    counts: dict[int, int]
    """How many training points each class keeps."""
    k: float = 1.0
    c: float = 1.0

    @classmethod
    def from_points(
        cls, initial: Float[np.ndarray, "n d"], initial_classes: Int[np.ndarray, " n"], pool: Float[np.ndarray, "P d"],
        pool_classes: Int[np.ndarray, " P"], k: float = 1.0, c: float = 1.0,
    ) -> ResidualAdaptiveSampling:
        """A sampler that keeps the class counts of the ``initial`` set."""
        labels, counts = np.unique(initial_classes, return_counts=True)
        short = [int(label) for label, count in zip(labels, counts) if np.sum(pool_classes == label) < count]
        if short:
            raise ValueError(f"adaptive sampling: the candidate pool has fewer points than the training set in class(es) {short}")
        return cls(pool, pool_classes, {int(label): int(count) for label, count in zip(labels, counts)}, k, c)

    def probabilities(self, residual_norm: Float[np.ndarray, " m"]) -> Float[np.ndarray, " m"]:
        """p over candidates of one class, from their residual norms."""
        density = np.asarray(residual_norm, np.float64) ** self.k
        mean = density.mean()
        scaled = density / mean if mean > 0 and np.isfinite(mean) else np.zeros_like(density)
        p = scaled + self.c
        return p / p.sum()

    def draw(self, residual_norm: Float[np.ndarray, " P"], rng: np.random.Generator) -> Int[np.ndarray, " n"]:
        """Indices into the pool of a new training set, class by class (each class's points contiguous)."""
        chosen = []
        for label, count in self.counts.items():
            members = np.flatnonzero(self.pool_classes == label)
            chosen.append(rng.choice(members, size=count, replace=False, p=self.probabilities(residual_norm[members])))
        return np.concatenate(chosen)
