"""The Fourier neural operator network (Li et al. 2021), for inputs on 1, 2 or 3 periodic spatial axes.

    v0 = P(a, grid coordinates);  v_{l+1} = gelu(K_l v_l + W_l v_l);  u = Q(v_L)

P and Q act pointwise (Q is a two-layer MLP of width ``projection``), K_l is a
:class:`SpectralConvolution` and W_l a pointwise linear map; the last Fourier layer has no
activation, as in the FNO code. The grid coordinates appended to the input are what lets
the network tell positions apart; on a finer grid they are the finer grid's, so the
same weights evaluate at any resolution. On a non-periodic box the Fourier layers act on
the lifted field zero-padded by ``padding`` (a fraction of each axis), which the FNO code
does so that the circular convolution need not wrap the box's opposite sides together.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from parity.solvers.neural_operators.spectral_convolution import SpectralConvolution


class FourierNeuralOperator(eqx.Module):
    """``(in_channels, *grid) -> (out_channels, *grid)`` on a periodic grid of ``len(modes)`` axes."""

    lift: eqx.nn.Conv
    spectral: tuple[SpectralConvolution, ...]
    pointwise: tuple[eqx.nn.Conv, ...]
    project: tuple[eqx.nn.Conv, eqx.nn.Conv]
    padding: float = eqx.field(static=True)

    def __init__(
        self, in_channels: int, out_channels: int, modes: tuple[int, ...], width: int, layers: int, projection: int, *, padding: float = 0.0,
        key: PRNGKeyArray,
    ) -> None:
        dims = len(modes)
        keys = iter(jax.random.split(key, 3 + 2 * layers))
        self.lift = eqx.nn.Conv(dims, in_channels + dims, width, 1, key=next(keys))
        self.spectral = tuple(SpectralConvolution(width, width, modes, key=next(keys)) for _ in range(layers))
        self.pointwise = tuple(eqx.nn.Conv(dims, width, width, 1, key=next(keys)) for _ in range(layers))
        self.project = (eqx.nn.Conv(dims, width, projection, 1, key=next(keys)), eqx.nn.Conv(dims, projection, out_channels, 1, key=next(keys)))
        self.padding = padding

    def __call__(self, a: Float[Array, "cin ..."]) -> Float[Array, "cout ..."]:
        grid = a.shape[1:]
        v = self.lift(jnp.concatenate([a, grid_coordinates(grid)]))
        v = jnp.pad(v, [(0, 0), *((0, round(self.padding * n)) for n in grid)])
        for index, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            v = spectral(v) + pointwise(v)
            if index < len(self.spectral) - 1:
                v = jax.nn.gelu(v)
        v = v[(slice(None), *(slice(0, n) for n in grid))]
        return self.project[1](jax.nn.gelu(self.project[0](v)))


def grid_coordinates(grid: tuple[int, ...]) -> Float[Array, "dims ..."]:
    """Each axis's coordinate in [0, 1) at every grid point (a periodic grid's nodes)."""
    axes = [jnp.arange(n, dtype=jnp.float32) / n for n in grid]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"))
