"""A noise-conditioned U-Net in Equinox: the network behind every learned prior of this package.

Levels of two 3x3 residual convolutions, ``channels * multipliers[k]`` wide, halved in
resolution between levels by 2x2 average pooling and doubled back by nearest-neighbour
upsampling, with skip connections concatenated on the way up (Ronneberger et al. 2015).
A scalar noise level enters every residual block as a per-channel shift computed from its
Fourier features by a small MLP (the conditioning of DDPM and EDM); an unconditioned
U-Net (post-processing, deep image prior) passes ``conditioned=False`` and gets no MLP.

Weights are drawn on the host, as :class:`ConvNet`'s are: eager JAX sampling would compile
one program per weight shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import equinox as eqx
from jaxtyping import Array, Float

EMBEDDING = 32
"""Fourier features of the noise level (half sines, half cosines)."""


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, scale: float = 1.0) -> Float[Array, "..."]:
    return jnp.asarray((scale / np.sqrt(fan_in) * rng.uniform(-1.0, 1.0, shape)).astype(np.float32))


class Conv(eqx.Module):
    """One 3x3 (or 1x1) 'same' convolution with a bias, on one (c, h, w) image."""

    weight: Float[Array, "o i k k"]
    bias: Float[Array, "o 1 1"]

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, kernel: int = 3, scale: float = 1.0):
        fan_in = n_in * kernel * kernel
        self.weight = _uniform(rng, (n_out, n_in, kernel, kernel), fan_in, scale)
        self.bias = _uniform(rng, (n_out, 1, 1), fan_in, scale)

    def __call__(self, z: Float[Array, "c h w"]) -> Float[Array, "o h w"]:
        return jax.lax.conv_general_dilated(z[None], self.weight, (1, 1), "SAME")[0] + self.bias


class Dense(eqx.Module):
    weight: Float[Array, "o i"]
    bias: Float[Array, " o"]

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, scale: float = 1.0):
        self.weight = _uniform(rng, (n_out, n_in), n_in, scale)
        self.bias = _uniform(rng, (n_out,), n_in, scale)

    def __call__(self, v: Float[Array, " i"]) -> Float[Array, " o"]:
        return self.weight @ v + self.bias


class ResidualBlock(eqx.Module):
    """x + conv(silu(conv(silu(x)) + shift(noise))), with a 1x1 projection when the width changes."""

    first: Conv
    second: Conv
    skip: Conv | None
    shift: Dense | None

    def __init__(self, n_in: int, n_out: int, conditioned: bool, rng: np.random.Generator):
        self.first = Conv(n_in, n_out, rng)
        self.second = Conv(n_out, n_out, rng, scale=0.5)
        self.skip = Conv(n_in, n_out, rng, kernel=1) if n_in != n_out else None
        self.shift = Dense(EMBEDDING, n_out, rng) if conditioned else None

    def __call__(self, z: Float[Array, "c h w"], embedding: Float[Array, " e"] | None) -> Float[Array, "o h w"]:
        h = self.first(jax.nn.silu(z))
        if self.shift is not None and embedding is not None:
            h = h + self.shift(embedding)[:, None, None]
        h = self.second(jax.nn.silu(h))
        return (z if self.skip is None else self.skip(z)) + h


class UNet(eqx.Module):
    """``(c_in, h, w)`` image (and a noise level when conditioned) to ``(c_out, h, w)``; h and w divisible by 2^(levels - 1)."""

    stem: Conv
    down: tuple[ResidualBlock, ...]
    middle: ResidualBlock
    up: tuple[ResidualBlock, ...]
    head: Conv
    embed: tuple[Dense, Dense] | None
    frequencies: Float[Array, " f"] | None

    def __init__(self, in_channels: int, out_channels: int, channels: int, multipliers: tuple[int, ...], rng: np.random.Generator,
                 *, conditioned: bool = True, final_scale: float = 1.0):
        widths = [channels * m for m in multipliers]
        self.stem = Conv(in_channels, widths[0], rng)
        self.down = tuple(ResidualBlock(w_prev, w, conditioned, rng) for w_prev, w in zip([widths[0], *widths[:-1]], widths, strict=True))
        self.middle = ResidualBlock(widths[-1], widths[-1], conditioned, rng)
        self.up = tuple(ResidualBlock(w + w_skip, w_skip, conditioned, rng)
                        for w, w_skip in zip([widths[-1], *widths[:0:-1]], widths[::-1], strict=True))
        self.head = Conv(widths[0], out_channels, rng, scale=final_scale)
        if conditioned:
            self.embed = (Dense(EMBEDDING, EMBEDDING, rng), Dense(EMBEDDING, EMBEDDING, rng))
            self.frequencies = jnp.asarray(rng.standard_normal(EMBEDDING // 2).astype(np.float32) * 4.0)
        else:
            self.embed, self.frequencies = None, None

    @property
    def levels(self) -> int:
        return len(self.down)

    def __call__(self, z: Float[Array, "c h w"], noise: Float[Array, ""] | float = 0.0) -> Float[Array, "o h w"]:
        embedding = None
        if self.embed is not None and self.frequencies is not None:
            angles = 2 * jnp.pi * self.frequencies * noise
            features = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)])
            embedding = self.embed[1](jax.nn.silu(self.embed[0](features)))
        h = self.stem(z)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, embedding)
            skips.append(h)
            if level < self.levels - 1:
                h = _pool(h)
        h = self.middle(h, embedding)
        for level, block in enumerate(self.up):
            if level > 0:
                h = _upsample(h)
            h = block(jnp.concatenate([h, skips.pop()]), embedding)
        return self.head(jax.nn.silu(h))


def _pool(z: Float[Array, "c h w"]) -> Float[Array, "c h/2 w/2"]:
    c, h, w = z.shape
    return z.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def _upsample(z: Float[Array, "c h w"]) -> Float[Array, "c 2h 2w"]:
    return jnp.repeat(jnp.repeat(z, 2, axis=1), 2, axis=2)


def check_divisible(image_size: int, levels: int, who: str) -> None:
    """A clear error when the image cannot be halved ``levels - 1`` times."""
    factor = 2 ** (levels - 1)
    if image_size % factor:
        raise ValueError(f"{who}: image_size {image_size} must be divisible by {factor} for a U-Net of {levels} levels; "
                         f"use an image_size that is a multiple of {factor} or fewer levels")
