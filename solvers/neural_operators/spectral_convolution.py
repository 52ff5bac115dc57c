"""The Fourier layer's global convolution (Li et al. 2021, "Fourier neural operator").

The layer multiplies each retained Fourier mode of its input by a learned complex matrix
(input channels to output channels) and drops every other mode. That is a circular
convolution whose kernel is band-limited, so the weights do not depend on the grid: the
same layer acts on any resolution whose grid resolves the retained modes, which is what
the "zero-shot super-resolution" claim rests on. The retained modes are the FNO code's:
along every axis but the last the lowest ``m`` non-negative and the ``m`` most negative
frequencies, along the last (real FFT) axis the lowest ``m``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray


class SpectralConvolution(eqx.Module):
    """``out[o] = irfft(sum_i W[i, o] * rfft(x[i]))`` on the retained modes, for 1, 2 or 3 spatial axes."""

    weights_real: Float[Array, "cin cout *modes"]
    weights_imag: Float[Array, "cin cout *modes"]
    modes: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...], *, key: PRNGKeyArray) -> None:
        """Weights uniform in [0, 1 / (in_channels * out_channels)), real and imaginary parts, as the FNO code draws them."""
        if not modes or any(m < 1 for m in modes):
            raise ValueError(f"modes must be one positive integer per spatial axis; got {modes}")
        shape = (in_channels, out_channels, *(2 * m for m in modes[:-1]), modes[-1])
        scale = 1.0 / (in_channels * out_channels)
        real_key, imag_key = jax.random.split(key)
        self.weights_real = scale * jax.random.uniform(real_key, shape)
        self.weights_imag = scale * jax.random.uniform(imag_key, shape)
        self.modes = tuple(modes)

    @property
    def weights(self) -> Complex[Array, "cin cout *modes"]:
        return self.weights_real + 1j * self.weights_imag

    def __call__(self, x: Float[Array, "cin ..."]) -> Float[Array, "cout ..."]:
        grid = x.shape[1:]
        axes = tuple(range(1, len(grid) + 1))
        retained = retained_modes(grid, self.modes)
        coefficients = jnp.fft.rfftn(x, axes=axes)
        where = (slice(None), *np.ix_(*retained))
        mixed = jnp.einsum("i...,io...->o...", coefficients[where], self.weights)
        out = jnp.zeros((mixed.shape[0], *coefficients.shape[1:]), mixed.dtype).at[where].set(mixed)
        return jnp.fft.irfftn(out, s=grid, axes=axes)


def retained_modes(grid: tuple[int, ...], modes: tuple[int, ...]) -> list[np.ndarray]:
    """Indices, axis by axis, of the retained coefficients of a real FFT on ``grid``; a clear error if the grid cannot hold them."""
    if len(grid) != len(modes):
        raise ValueError(f"input has {len(grid)} spatial axes {grid}; the layer has modes for {len(modes)}: {modes}")
    indices = []
    for axis, (n, m) in enumerate(zip(grid, modes, strict=True)):
        last = axis == len(grid) - 1
        if (m > n // 2 + 1) if last else (2 * m > n):
            need = 2 * (m - 1) if last else 2 * m
            raise ValueError(f"grid {grid} is too coarse for {m} modes along axis {axis}; it needs at least {need} points there")
        indices.append(np.arange(m) if last else np.r_[0:m, n - m : n])
    return indices
