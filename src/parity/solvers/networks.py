"""Networks shared by the physics-informed solvers."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "sin": jnp.sin,
    "gelu": jax.nn.gelu,
    "softplus": jax.nn.softplus,
}


class StackedMLP(eqx.Module):
    """``n_nets`` independent MLPs of one shape, stored as stacked weights.

    Evaluating all of them is one batched matmul per layer over a leading network axis,
    which is how an FBPINN runs its subdomain networks without a Python loop.
    """

    weights: tuple[Float[Array, "nets fan_in fan_out"], ...]
    biases: tuple[Float[Array, "nets 1 fan_out"], ...]
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(self, n_nets: int, sizes: tuple[int, ...], activation: Callable[[Array], Array], *, key: PRNGKeyArray):
        weights, biases = [], []
        for fan_in, fan_out, k in zip(sizes[:-1], sizes[1:], jax.random.split(key, len(sizes) - 1)):
            kw, kb = jax.random.split(k)
            bound = 1.0 / jnp.sqrt(fan_in)  # the same scale as equinox.nn.Linear
            weights.append(jax.random.uniform(kw, (n_nets, fan_in, fan_out), minval=-bound, maxval=bound))
            biases.append(jax.random.uniform(kb, (n_nets, 1, fan_out), minval=-bound, maxval=bound))
        self.weights, self.biases, self.activation = tuple(weights), tuple(biases), activation

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points fan_out"]:
        *hidden, last = zip(self.weights, self.biases)
        for w, b in hidden:
            x = self.activation(jnp.einsum("spi,sio->spo", x, w) + b)
        w, b = last
        return jnp.einsum("spi,sio->spo", x, w) + b
