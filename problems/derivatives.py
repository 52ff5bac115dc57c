"""Derivatives of pointwise batched functions by forward-mode JVPs.

For a function whose output row i depends only on input row i, one JVP with the
tangent e_k in every row returns all the partial derivatives d/dx_k at once: the cost
of about two forward passes, whatever the network behind ``u`` (a vmapped MLP, or an
FBPINN that evaluates only point-subdomain pairs).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parity.problems.base import PointwiseFn


def partial(u: PointwiseFn, x: Float[Array, "n d"], dim: int) -> tuple[Float[Array, "n out"], Float[Array, "n out"]]:
    """``(u(x), du/dx_dim (x))`` for a pointwise batched ``u``."""
    tangent = jnp.zeros_like(x).at[:, dim].set(1.0)
    return jax.jvp(u, (x,), (tangent,))


def second_partial(
    u: PointwiseFn, x: Float[Array, "n d"], dim: int
) -> tuple[Float[Array, "n out"], Float[Array, "n out"], Float[Array, "n out"]]:
    """``(u, du/dx_dim, d2u/dx_dim2)`` by a nested JVP."""

    def first(x_: Float[Array, "n d"]) -> Float[Array, "n out"]:
        return partial(u, x_, dim)[1]

    tangent = jnp.zeros_like(x).at[:, dim].set(1.0)
    (value, du), (_, d2u) = jax.jvp(lambda x_: (u(x_), first(x_)), (x,), (tangent,))
    return value, du, d2u
