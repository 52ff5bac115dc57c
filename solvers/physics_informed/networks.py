"""Networks shared by the physics-informed solvers."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

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

    def __init__(self, n_nets: int, sizes: tuple[int, ...], activation: Callable[[Array], Array], *, seed: int):
        # NumPy draws the initial weights: jax.random would spend seconds compiling
        # tiny kernels, which would be charged to every run's setup time.
        rng = np.random.default_rng(seed)
        weights, biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / np.sqrt(fan_in)  # the same scale as equinox.nn.Linear
            weights.append(jnp.asarray(rng.uniform(-bound, bound, (n_nets, fan_in, fan_out)), dtype=jnp.float32))
            biases.append(jnp.asarray(rng.uniform(-bound, bound, (n_nets, 1, fan_out)), dtype=jnp.float32))
        self.weights, self.biases, self.activation = tuple(weights), tuple(biases), activation

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points fan_out"]:
        *hidden, last = zip(self.weights, self.biases)
        for w, b in hidden:
            x = self.activation(jnp.einsum("spi,sio->spo", x, w) + b)
        w, b = last
        return jnp.einsum("spi,sio->spo", x, w) + b
