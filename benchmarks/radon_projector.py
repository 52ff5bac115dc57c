"""asv benchmarks for the parallel-beam Radon transform against scikit-image.

``RadonProjector`` times our jitted Joseph forward projection, its adjoint and the FBP
(Hann) on one Shepp-Logan image, next to ``skimage.transform.radon`` and ``iradon`` (the
same angles, ``circle=False``, Hann filter) at the same size; ``track_peak_mb`` records the
process's peak resident memory after the setup, which has compiled and run everything.
"""

from __future__ import annotations

import resource

import jax
import jax.numpy as jnp
import numpy as np
from skimage.transform import iradon, radon

from parity.numerics.phantoms import shepp_logan
from parity.numerics.radon import ParallelBeamRadon


class RadonProjector:
    """One image, 2D parallel beam, angles over [0, pi)."""

    params = ([128, 256], [60, 180])
    param_names = ["image_size", "angles"]
    timeout = 300

    def setup(self, image_size: int, angles: int) -> None:
        self.operator = ParallelBeamRadon.build(image_size, angles)
        self.image = shepp_logan().raster(image_size)
        self.degrees = np.linspace(0.0, 180.0, angles, endpoint=False)
        self.forward = jax.jit(self.operator.forward)
        self.adjoint = jax.jit(self.operator.adjoint)
        self.fbp = jax.jit(self.operator.pseudo_inverse)
        self.image_jax = jnp.asarray(self.image, jnp.float32)
        self.sinogram = jax.block_until_ready(self.forward(self.image_jax))
        jax.block_until_ready((self.adjoint(self.sinogram), self.fbp(self.sinogram)))
        self.skimage_sinogram = radon(self.image, theta=self.degrees, circle=False)

    def time_forward(self, image_size: int, angles: int) -> None:
        jax.block_until_ready(self.forward(self.image_jax))

    def time_adjoint(self, image_size: int, angles: int) -> None:
        jax.block_until_ready(self.adjoint(self.sinogram))

    def time_fbp(self, image_size: int, angles: int) -> None:
        jax.block_until_ready(self.fbp(self.sinogram))

    def time_skimage_radon(self, image_size: int, angles: int) -> None:
        radon(self.image, theta=self.degrees, circle=False)

    def time_skimage_iradon(self, image_size: int, angles: int) -> None:
        iradon(self.skimage_sinogram, theta=self.degrees, circle=False, filter_name="hann")

    def track_peak_mb(self, image_size: int, angles: int) -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    track_peak_mb.unit = "MB"  # type: ignore[attr-defined]
