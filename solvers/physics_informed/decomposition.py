"""Overlapping domain decompositions and their partition-of-unity windows (FBPINN).

A level splits the box into a regular grid of ``n`` subdomains per dimension. Subdomain
j has centre mu_j and half-width sigma_j = overlap * spacing / 2; its window is the
FBPINN paper's cosine bump, a product over dimensions of

    w(x) = ((1 + cos(pi (x - mu) / sigma)) / 2)^2   for |x - mu| < sigma, else 0,

and the windows of one level are divided by their sum, so they form a partition of
unity. Only point-subdomain pairs inside a window's support are ever evaluated: they
are found once, here, in NumPy, and padded to a rectangular (subdomain, slot) layout.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int


@dataclasses.dataclass(frozen=True)
class Level:
    """One decomposition: subdomain centres and half-widths, shape (subdomains, d)."""

    centres: Float[np.ndarray, "s d"]
    half_widths: Float[np.ndarray, "s d"]

    @classmethod
    def regular(cls, lower: np.ndarray, upper: np.ndarray, per_dim: int, overlap: float) -> Level:
        spacing = (upper - lower) / per_dim
        axes = [lower[k] + (np.arange(per_dim) + 0.5) * spacing[k] for k in range(lower.size)]
        centres = np.array(list(itertools.product(*axes)), dtype=np.float64)
        return cls(centres, np.broadcast_to(overlap * spacing / 2, centres.shape).copy())

    @property
    def n_subdomains(self) -> int:
        return self.centres.shape[0]

    def support(self, x: Float[np.ndarray, "n d"]) -> Bool[np.ndarray, "s n"]:
        """Whether each point lies inside each subdomain's support (where its window is nonzero)."""
        return np.all(np.abs(x[None, :, :] - self.centres[:, None, :]) < self.half_widths[:, None, :], axis=-1)

    def pairs(self, x: Float[np.ndarray, "n d"]) -> Pairs:
        """The points inside each subdomain's support, padded to the fullest subdomain."""
        inside = self.support(x)
        counts = inside.sum(axis=1)
        slots = max(int(counts.max()), 1)
        index = np.zeros((self.n_subdomains, slots), dtype=np.int32)
        mask = np.zeros((self.n_subdomains, slots), dtype=np.float32)
        for s in range(self.n_subdomains):
            members = np.flatnonzero(inside[s])
            index[s, : members.size] = members
            mask[s, : members.size] = 1.0
        if not np.all(inside.any(axis=0)):
            raise ValueError("decomposition leaves points uncovered; increase the overlap")
        return Pairs(jnp.asarray(index), jnp.asarray(mask))


class Pairs(NamedTuple):
    """Point indices per subdomain (``index``), with ``mask`` = 0 on padding slots."""

    index: Int[Array, "s slots"]
    mask: Float[Array, "s slots"]


def window(x_local: Float[Array, "... d"]) -> Float[Array, ...]:
    """Unnormalised cosine window of local coordinates (support is |x_local| < 1)."""
    x_local = jnp.clip(x_local, -1.0, 1.0)
    return jnp.prod(((1.0 + jnp.cos(jnp.pi * x_local)) / 2.0) ** 2, axis=-1)
