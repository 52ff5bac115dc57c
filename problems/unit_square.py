"""Shared pieces of the Dirichlet problems on [0, 1]^2."""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Array, Float


def bubble(x: Float[Array, "n 2"]) -> Float[Array, "n 1"]:
    """16 x (1 - x) y (1 - y): zero on the boundary, 1 at the centre (the hard-constraint factor)."""
    return 16.0 * x[:, 0:1] * (1.0 - x[:, 0:1]) * x[:, 1:2] * (1.0 - x[:, 1:2])


def square_grid(n: int) -> Float[np.ndarray, "m 2"]:
    """The smallest regular square grid over [0, 1]^2 with at least n points (boundary included)."""
    side = max(2, math.isqrt(n - 1) + 1)
    axis = np.linspace(0.0, 1.0, side)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
