"""Single-coil Cartesian MRI: fastMRI-style undersampling masks and a unitary, phase-exact DFT.

k-space is sampled at k = m / 2 cycles per unit, m = -n/2 .. n/2 - 1, in both directions
(the field of view [-1, 1]^2 is 2 wide). The operator's DFT carries the phase ramps that
make it, applied to pixel values, a quadrature of the *continuous* Fourier transform at
those k (up to the constant n / 4 of unitary scaling), so :func:`kspace_from_phantom`
(the exact transform of the ellipses) and ``F(raster)`` agree at low frequencies: data
are simulated from the continuous object, never by the inverse crime.

Masks select phase-encode lines, i.e. ky, the image's axis 1; ``mask[p]`` is the line at
m = p - n/2 (the centre of k-space is index n/2).
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Complex, Float

from parity.numerics.phantoms import Ellipses
from parity.operators import ImagingOperator

MaskKind = Literal["random", "equispaced"]
MASK_KINDS: tuple[MaskKind, ...] = ("random", "equispaced")


def undersampling_mask(
    n: int, acceleration: int, center_fraction: float, kind: MaskKind, rng: np.random.Generator
) -> Bool[np.ndarray, " n"]:
    """fastMRI's RandomMaskFunc / EquispacedMaskFunc for one slice: a fully sampled centre plus outer lines.

    Both keep round(n * center_fraction) central lines; "random" draws each other line with the
    probability that makes the expected total n / acceleration, "equispaced" takes every
    ``adjusted``-th line from a random offset, the spacing adjusted for the centre's lines.
    """
    _check_mask_inputs(n, acceleration, center_fraction, kind)
    low = int(round(n * center_fraction))
    if kind == "random":
        probability = (n / acceleration - low) / (n - low)
        mask = rng.uniform(size=n) < probability
    else:
        adjusted = acceleration * (low - n) / (low * acceleration - n)
        offset = rng.integers(0, max(round(adjusted), 1))
        mask = np.zeros(n, dtype=bool)
        mask[np.around(np.arange(offset, n - 1, adjusted)).astype(int)] = True
    pad = (n - low + 1) // 2
    mask[pad : pad + low] = True
    return mask


def _check_mask_inputs(n: int, acceleration: int, center_fraction: float, kind: str) -> None:
    if kind not in MASK_KINDS:
        raise ValueError(f"mask kind {kind!r} is unknown; allowed: {', '.join(MASK_KINDS)}")
    if int(n) != n or n < 2:
        raise ValueError(f"mask size n = {n} must be an integer >= 2")
    if int(acceleration) != acceleration or acceleration < 1:
        raise ValueError(f"acceleration = {acceleration} must be an integer >= 1")
    if not 0.0 <= center_fraction < 1.0 / acceleration:
        raise ValueError(
            f"center_fraction = {center_fraction} must lie in [0, 1/acceleration) = [0, {1.0 / acceleration:.4g}) "
            "so that outer lines remain to be sampled"
        )


def kspace_frequencies(n: int) -> Float[np.ndarray, " n"]:
    """The sampled k (cycles per unit) along either axis, in the operator's (centred) order."""
    return (np.arange(n) - n // 2) / 2.0


def _phase(n: int) -> Complex[np.ndarray, " n"]:
    """exp(-2 pi i k x_0 ...) ramp: moves the DFT's origin from pixel 0's corner to the square's centre.

    With x_i = -1 + (i + 1/2) h and k_m = m / 2, exp(-2 pi i k_m x_i) = exp(-2 pi i m i / n) times
    (-1)^m exp(-i pi m / n); the DFT supplies the first factor, this array the rest.
    """
    m = np.arange(n) - n // 2
    return (-1.0) ** m * np.exp(-1j * np.pi * m / n)


class CartesianFourier(ImagingOperator):
    """A x = mask . F x with F the unitary, centre-phased 2D DFT; A^H y = F^H (mask . y).

    F is unitary, so with a full mask A^H A = I and the zero-filled inverse (the pseudo-inverse
    for any mask, since A A^H is the mask's projection) is the adjoint.
    """

    mask: Float[Array, " n"]
    """1.0 on sampled phase-encode (ky, axis 1) lines, 0.0 elsewhere."""
    phase: Complex[Array, " n"]
    image_shape: tuple[int, int] = eqx.field(static=True)
    data_shape: tuple[int, int] = eqx.field(static=True)
    complex_valued: bool = eqx.field(static=True)

    def __init__(self, mask: Bool[np.ndarray, " n"]):
        n = len(mask)
        if n % 2:
            raise ValueError(f"CartesianFourier needs an even image size; got n = {n}")
        self.mask = jnp.asarray(mask, dtype=jnp.float32)
        self.phase = jnp.asarray(_phase(n), dtype=jnp.complex64)
        self.image_shape = (n, n)
        self.data_shape = (n, n)
        self.complex_valued = True

    def fourier(self, image: Complex[Array, "n n"]) -> Complex[Array, "n n"]:
        """F x, fully sampled."""
        spectrum = jnp.fft.fftshift(jnp.fft.fft2(image, norm="ortho"))
        return self.phase[:, None] * self.phase[None, :] * spectrum

    def inverse_fourier(self, kspace: Complex[Array, "n n"]) -> Complex[Array, "n n"]:
        """F^H y = F^{-1} y."""
        unphased = jnp.conj(self.phase[:, None] * self.phase[None, :]) * kspace
        return jnp.fft.ifft2(jnp.fft.ifftshift(unphased), norm="ortho")

    def forward(self, image: Complex[Array, "n n"]) -> Complex[Array, "n n"]:
        return self.mask[None, :] * self.fourier(image)

    def adjoint(self, data: Complex[Array, "n n"]) -> Complex[Array, "n n"]:
        return self.inverse_fourier(self.mask[None, :] * data)

    def pseudo_inverse(self, data: Complex[Array, "n n"]) -> Complex[Array, "n n"]:
        return self.adjoint(data)


def kspace_from_phantom(ellipses: Ellipses, n: int) -> Complex[np.ndarray, "n n"]:
    """The exact continuous transform on the operator's k grid, scaled as F scales pixel values.

    F x = (1/n) sum x_ij exp(...) while the transform's quadrature is h^2 sum = (4/n^2) sum, so
    F(raster) ~ (n / 4) * transform: the factor makes simulated data and F(image) comparable.
    """
    k = kspace_frequencies(n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    return (n / 4.0) * ellipses.fourier(kx, ky)
