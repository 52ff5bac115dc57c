"""Measurement operators: the forward maps of inverse problems, written in JAX for one sample.

They sit below both the problems (which own one) and the numerics (the Radon transform,
the MRI operator, TV-PDHG), so neither has to import the other to share them.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Inexact


class MeasurementOperator(eqx.Module):
    """A forward operator F from images (or parameter fields) to data, written in JAX for one sample.

    Images are ``image_shape`` arrays, real or complex; data are ``data_shape`` arrays.
    F may be nonlinear (seismic waveforms depend nonlinearly on the velocity); batch with
    ``jax.vmap``.
    """

    image_shape: eqx.AbstractVar[tuple[int, int]]
    data_shape: eqx.AbstractVar[tuple[int, ...]]
    complex_valued: eqx.AbstractVar[bool]

    @abc.abstractmethod
    def forward(self, image: Inexact[Array, "h w"]) -> Inexact[Array, "..."]:
        """F(x)."""


class ImagingOperator(MeasurementOperator):
    """A linear forward operator A from images to data (CT, MRI).

    Data are of the same field as images. ``adjoint`` is the exact adjoint of ``forward``
    (to float precision), so gradients of data misfits are exact.
    """

    @abc.abstractmethod
    def adjoint(self, data: Inexact[Array, "..."]) -> Inexact[Array, "h w"]:
        """A^T y (A^H y for complex operators)."""

    @abc.abstractmethod
    def pseudo_inverse(self, data: Inexact[Array, "..."]) -> Inexact[Array, "h w"]:
        """A fast direct reconstruction (FBP for CT, zero-filled inverse FFT for MRI): learned methods start from it."""


def operator_norm(operator: ImagingOperator, iterations: int = 100, seed: int = 0) -> float:
    """||A||_2 by power iteration on A^H A (PDHG step sizes and gradient scalings need it)."""
    dtype = jnp.complex64 if operator.complex_valued else jnp.float32
    x = jax.random.normal(jax.random.key(seed), operator.image_shape).astype(dtype)

    @jax.jit
    def step(x: Array, _: None) -> tuple[Array, Array]:
        y = operator.adjoint(operator.forward(x))
        norm = jnp.linalg.norm(y)
        return y / norm, norm

    _, norms = jax.lax.scan(step, x / jnp.linalg.norm(x), None, length=iterations)
    return float(jnp.sqrt(norms[-1]))
