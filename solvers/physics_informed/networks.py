"""Networks shared by the physics-informed solvers."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

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


def uniform_layer(rng: np.random.Generator, n_nets: int, fan_in: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """A stacked dense layer's (weight, bias), uniform in +-1/sqrt(fan_in) (equinox.nn.Linear's scale), weight drawn first."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, (n_nets, fan_in, fan_out)), rng.uniform(-bound, bound, (n_nets, 1, fan_out))


def factorise(weight: np.ndarray, rng: np.random.Generator, factorisation: tuple[float, float]) -> tuple[Array, Array]:
    """Random weight factorisation (Wang, Wang & Perdikaris 2022): ``weight = exp(s) * V`` per output unit.

    ``s ~ N(mean, std^2)`` and ``V = weight / exp(s)``, so the factorised layer starts equal to the
    plain one; ``rng`` is a stream of its own, so drawing ``s`` leaves the plain draws untouched.
    Returns ``(V, s)`` as float32, ``s`` shaped ``[nets, 1, fan_out]``.
    """
    mean, std = factorisation
    s = rng.normal(mean, std, (weight.shape[0], 1, weight.shape[2]))
    return jnp.asarray(weight / np.exp(s), dtype=jnp.float32), jnp.asarray(s, dtype=jnp.float32)


def dense(
    x: Float[Array, "nets points fan_in"],
    weight: Float[Array, "nets fan_in fan_out"],
    bias: Float[Array, "nets 1 fan_out"],
    log_scale: Float[Array, "nets 1 fan_out"] | None = None,
) -> Float[Array, "nets points fan_out"]:
    """One stacked dense layer; with ``log_scale`` the weight is the factorised ``exp(s) * V``."""
    if log_scale is not None:
        weight = jnp.exp(log_scale) * weight
    return jnp.einsum("spi,sio->spo", x, weight) + bias


class StackedMLP(eqx.Module):
    """``n_nets`` independent MLPs of one shape, stored as stacked weights.

    Evaluating all of them is one batched matmul per layer over a leading network axis,
    which is how an FBPINN runs its subdomain networks without a Python loop.
    With ``factorisation=(mean, std)`` every layer is factorised (see ``factorise``): ``weights``
    then hold V and ``log_scales`` hold s, drawn from ``default_rng([seed, 1])``.
    """

    weights: tuple[Float[Array, "nets fan_in fan_out"], ...]
    biases: tuple[Float[Array, "nets 1 fan_out"], ...]
    log_scales: tuple[Float[Array, "nets 1 fan_out"], ...] | None
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        n_nets: int,
        sizes: tuple[int, ...],
        activation: Callable[[Array], Array],
        *,
        seed: int,
        factorisation: tuple[float, float] | None = None,
    ):
        # NumPy draws the initial weights: jax.random would spend seconds compiling
        # tiny kernels, which would be charged to every run's setup time.
        rng = np.random.default_rng(seed)
        layers = [uniform_layer(rng, n_nets, fan_in, fan_out) for fan_in, fan_out in pairwise(sizes)]
        self.biases = tuple(jnp.asarray(b, dtype=jnp.float32) for _, b in layers)
        if factorisation is None:
            self.weights = tuple(jnp.asarray(w, dtype=jnp.float32) for w, _ in layers)
            self.log_scales = None
        else:
            scale_rng = np.random.default_rng([seed, 1])
            self.weights, self.log_scales = (tuple(a) for a in zip(*(factorise(w, scale_rng, factorisation) for w, _ in layers)))
        self.activation = activation

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points fan_out"]:
        scales = self.log_scales or (None,) * len(self.weights)
        *hidden, last = zip(self.weights, self.biases, scales)
        for w, b, s in hidden:
            x = self.activation(dense(x, w, b, s))
        return dense(x, *last)
