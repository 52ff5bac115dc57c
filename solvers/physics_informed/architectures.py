"""Network architectures for the physics-informed solvers, beyond the plain MLP.

Every network maps stacked inputs ``[nets, points, features]`` to ``[nets, points, out]``, so an
FBPINN can stack its subdomain networks, and draws its initial values with NumPy from a seed
(as ``networks.StackedMLP`` does, to keep jax.random's compile time out of the set-up):
``default_rng(seed)`` for the weights and biases, ``default_rng([seed, 1])`` for the random
weight factorisation's scales and ``default_rng([seed, 2])`` for the Fourier matrix, so turning
an option on leaves every other draw as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.solvers.physics_informed.networks import StackedMLP, dense, factorise, uniform_layer

ARCHITECTURES = ("mlp", "modified_mlp", "pirate")


class FourierFeatures(eqx.Module):
    """Random Fourier features ``[cos(x B), sin(x B)]`` with ``B ~ N(0, scale^2)`` (Tancik et al. 2020).

    They let a network fit frequencies near ``scale`` that a plain MLP's spectral bias would learn
    slowly (Wang, Wang & Perdikaris 2021). ``B`` is frozen: a stop_gradient makes its gradient
    exactly zero, so an optimiser without weight decay leaves it unchanged.
    """

    B: Float[Array, "nets fan_in m"]
    scale: float = eqx.field(static=True)

    def __init__(self, n_nets: int, n_in: int, m: int, scale: float, *, seed: int):
        self.B = jnp.asarray(np.random.default_rng([seed, 2]).normal(0.0, scale, (n_nets, n_in, m)), dtype=jnp.float32)
        self.scale = float(scale)

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points 2m"]:
        z = jnp.einsum("spi,sim->spm", x, jax.lax.stop_gradient(self.B))
        return jnp.concatenate([jnp.cos(z), jnp.sin(z)], axis=-1)


class Dense(eqx.Module):
    """A stacked dense layer, optionally factorised (``log_scale`` is then s and ``weight`` is V)."""

    weight: Float[Array, "nets fan_in fan_out"]
    bias: Float[Array, "nets 1 fan_out"]
    log_scale: Float[Array, "nets 1 fan_out"] | None

    def __init__(
        self,
        n_nets: int,
        fan_in: int,
        fan_out: int,
        rng: np.random.Generator,
        scale_rng: np.random.Generator,
        factorisation: tuple[float, float] | None,
    ):
        w, b = uniform_layer(rng, n_nets, fan_in, fan_out)
        self.bias = jnp.asarray(b, dtype=jnp.float32)
        if factorisation is None:
            self.weight, self.log_scale = jnp.asarray(w, dtype=jnp.float32), None
        else:
            self.weight, self.log_scale = factorise(w, scale_rng, factorisation)

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points fan_out"]:
        return dense(x, self.weight, self.bias, self.log_scale)


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The weight stream and the factorisation's own stream (see the module's docstring)."""
    return np.random.default_rng(seed), np.random.default_rng([seed, 1])


class ModifiedMLP(eqx.Module):
    """The modified MLP of Wang, Teng & Perdikaris (2021), against gradient pathologies in PINNs.

    Two encoders ``U = act(x Wu + bu)``, ``V = act(x Wv + bv)`` gate every hidden layer,
    ``H <- (1 - Z) * U + Z * V`` with ``Z`` the layer's activation, the first layer included, which
    carries the input's information to every depth. ``depth`` hidden layers of ``width``; the
    encoders are extra. The hidden and output layers are drawn first, in ``StackedMLP``'s order,
    so they start equal to the plain MLP of the same seed; the encoders are drawn after them.
    """

    hidden: tuple[Dense, ...]
    output: Dense
    encoder_u: Dense
    encoder_v: Dense
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        n_nets: int,
        n_in: int,
        width: int,
        depth: int,
        n_out: int,
        activation: Callable[[Array], Array],
        *,
        seed: int,
        factorisation: tuple[float, float] | None = None,
    ):
        if depth < 1:
            raise ValueError(f"ModifiedMLP needs depth >= 1, got {depth}")
        rng, scale_rng = _streams(seed)
        sizes = (n_in, *[width] * depth)
        self.hidden = tuple(Dense(n_nets, i, o, rng, scale_rng, factorisation) for i, o in pairwise(sizes))
        self.output = Dense(n_nets, width, n_out, rng, scale_rng, factorisation)
        self.encoder_u = Dense(n_nets, n_in, width, rng, scale_rng, factorisation)
        self.encoder_v = Dense(n_nets, n_in, width, rng, scale_rng, factorisation)
        self.activation = activation

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points fan_out"]:
        u, v = self.activation(self.encoder_u(x)), self.activation(self.encoder_v(x))
        gap = v - u  # (1 - z) u + z v written as u + z (v - u): one product per layer
        h = x
        for layer in self.hidden:
            h = u + self.activation(layer(h)) * gap
        return self.output(h)


class PirateBlock(eqx.Module):
    """One PirateNet residual block: three gated dense layers and a trainable skip gate ``alpha``."""

    layers: tuple[Dense, ...]
    alpha: Float[Array, "nets 1 1"]

    def __init__(
        self,
        n_nets: int,
        width: int,
        rng: np.random.Generator,
        scale_rng: np.random.Generator,
        factorisation: tuple[float, float] | None,
    ):
        self.layers = tuple(Dense(n_nets, width, width, rng, scale_rng, factorisation) for _ in range(3))
        self.alpha = jnp.zeros((n_nets, 1, 1), dtype=jnp.float32)

    def __call__(
        self,
        h: Float[Array, "nets points width"],
        u: Float[Array, "nets points width"],
        v: Float[Array, "nets points width"],
        activation: Callable[[Array], Array],
    ) -> Float[Array, "nets points width"]:
        first, second, third = self.layers
        f = activation(first(h))
        g = activation(second(f * u + (1 - f) * v))
        z = activation(third(g * u + (1 - g) * v))
        return self.alpha * z + (1 - self.alpha) * h


class PirateNet(eqx.Module):
    """PirateNet (Wang, Sankaran, Perdikaris et al. 2024): gated residual blocks that open during training.

    Each block's gate ``alpha`` starts at 0, so the network starts as a linear model of its input
    embedding (typically Fourier features) and deepens only as training moves ``alpha``, which
    avoids the poor start of a deep PINN. The residual stream has ``width`` features: it starts at
    the input itself when the input has ``width`` features, otherwise at a linear (not activated)
    projection of it, which keeps the start affine in the input. The encoders ``U``, ``V`` read the
    input itself. ``max(1, depth // 3)`` blocks of three dense layers stand for ``depth`` hidden
    layers. The paper's least-squares initialisation of the output layer is left out.
    Draw order: projection (if any), encoders U and V, the blocks, the output layer.
    """

    projection: Dense | None
    encoder_u: Dense
    encoder_v: Dense
    blocks: tuple[PirateBlock, ...]
    output: Dense
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        n_nets: int,
        n_in: int,
        width: int,
        depth: int,
        n_out: int,
        activation: Callable[[Array], Array],
        *,
        seed: int,
        factorisation: tuple[float, float] | None = None,
    ):
        rng, scale_rng = _streams(seed)
        self.projection = None if n_in == width else Dense(n_nets, n_in, width, rng, scale_rng, factorisation)
        self.encoder_u = Dense(n_nets, n_in, width, rng, scale_rng, factorisation)
        self.encoder_v = Dense(n_nets, n_in, width, rng, scale_rng, factorisation)
        self.blocks = tuple(PirateBlock(n_nets, width, rng, scale_rng, factorisation) for _ in range(max(1, depth // 3)))
        self.output = Dense(n_nets, width, n_out, rng, scale_rng, factorisation)
        self.activation = activation

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points fan_out"]:
        u, v = self.activation(self.encoder_u(x)), self.activation(self.encoder_v(x))
        h = x if self.projection is None else self.projection(x)
        for block in self.blocks:
            h = block(h, u, v, self.activation)
        return self.output(h)


class Embedded(eqx.Module):
    """A network behind a fixed input embedding, so that callers see one module."""

    embedding: FourierFeatures
    network: StackedMLP | ModifiedMLP | PirateNet

    def __call__(self, x: Float[Array, "nets points fan_in"]) -> Float[Array, "nets points fan_out"]:
        return self.network(self.embedding(x))


Network = StackedMLP | ModifiedMLP | PirateNet | Embedded


def build_network(
    architecture: str,
    n_nets: int,
    n_in: int,
    width: int,
    depth: int,
    n_out: int,
    activation: Callable[[Array], Array],
    *,
    seed: int,
    fourier: tuple[float, int] | None = None,
    factorisation: tuple[float, float] | None = None,
) -> Network:
    """``n_nets`` stacked networks of one of ``ARCHITECTURES``, the one place the solvers build them.

    ``fourier=(scale, m)`` puts ``m`` random Fourier features (width ``2m``) in front;
    ``factorisation=(mean, std)`` factorises every dense layer (jaxpi uses ``(1.0, 0.1)``).
    ``"mlp"`` without options is exactly ``StackedMLP(n_nets, (n_in, *[width] * depth, n_out), ...)``.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}")
    n_features = n_in if fourier is None else 2 * fourier[1]
    network: StackedMLP | ModifiedMLP | PirateNet
    if architecture == "mlp":
        network = StackedMLP(n_nets, (n_features, *[width] * depth, n_out), activation, seed=seed, factorisation=factorisation)
    elif architecture == "modified_mlp":
        network = ModifiedMLP(n_nets, n_features, width, depth, n_out, activation, seed=seed, factorisation=factorisation)
    else:
        network = PirateNet(n_nets, n_features, width, depth, n_out, activation, seed=seed, factorisation=factorisation)
    if fourier is None:
        return network
    scale, m = fourier
    return Embedded(FourierFeatures(n_nets, n_in, m, scale, seed=seed), network)
