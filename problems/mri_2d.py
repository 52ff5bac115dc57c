"""Single-coil Cartesian MRI: reconstruct an image from undersampled k-space.

Ground truths are random-ellipse phantoms (the CT problem's generator), pixel-averaged and
normalised to [0, 1]. k-space comes from the phantom's *exact* continuous
Fourier transform sampled on the Cartesian grid (field of view 2), not from an FFT of the
pixel image, so no method profits from the inverse crime. Phase-encode lines are kept by
a fastMRI-style column mask, random or equispaced, with the centre fully sampled (8% of
the lines at 4x, 4% at 8x unless ``center_fraction`` says otherwise); one mask per
problem, drawn from its own seed. Noise is complex white Gaussian on every sample, with a
standard deviation of ``noise`` times the image's root-mean-square value (the same in
k-space: the transform is unitary). Magnitude images are scored.

Scale knob: ``acceleration`` (4 -> 8: fewer observations).

Robustness knob ``shift`` (the test split alone; learned methods train, and every method
tunes, on the unshifted train and validation splits): ``phantoms`` draws the test truths
from random Shepp-Logan-like heads (:func:`phantoms.random_heads`: nested structures, a
thin skull ring and small lesions inside larger ellipses, that random-ellipse training
sets contain rarely; ellipses, so k-space stays exact); ``noise`` keeps the test truths
and doubles the noise standard deviation; ``observations`` keeps the test truths and
measures them at twice the acceleration (:meth:`test_operator`: the mask of the problem
at ``2 * acceleration``, so the test split is exactly that problem's), while every method
trains and tunes at ``acceleration``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import numpy as np
from jaxtyping import Complex, Float

from parity.knobs import ParameterError, at_least, knob
from parity.numerics import mri, phantoms
from parity.problems.inverse import InverseProblem, Split, shift_knob

MASKS = mri.MASK_KINDS
MAX_ACCELERATION = 32
FASTMRI_CENTER_FRACTIONS = {4: 0.08, 8: 0.04}


@dataclasses.dataclass(frozen=True)
class CartesianMRI2D(InverseProblem):
    name: ClassVar[str] = "mri_2d"
    description: ClassVar[str] = "single-coil Cartesian MRI of random ellipses, exact k-space, fastMRI-style masks"
    _mask_stream: ClassVar[int] = 3
    test_only_knobs: ClassVar[tuple[str, ...]] = ("shift",)

    image_size: int = knob(128, "side of the image grid in pixels", "even integer in [16, 512]", lambda n: 16 <= n <= 512 and n % 2 == 0)
    acceleration: int = knob(4, "undersampling factor of the phase-encode lines (scale knob)", f"integer in [1, {MAX_ACCELERATION}]",
                            lambda a: 1 <= a <= MAX_ACCELERATION)
    mask: str = knob("random", "which lines are kept besides the centre", " or ".join(MASKS), lambda m: m in MASKS)
    center_fraction: float = knob(0.0, "fraction of central lines always kept; 0 = fastMRI's (0.08 at 4x, 0.04 at 8x, else 0.32/acceleration)",
                                  "number in [0, 1)", lambda f: 0 <= f < 1)
    noise: float = knob(0.02, "complex Gaussian noise std as a fraction of the image's RMS", "number in [0, 1]", lambda s: 0 <= s <= 1)
    n_train: int = knob(1000, "training samples (learned methods fit on them)", "integer >= 0", at_least(0))
    n_validation: int = knob(50, "validation samples (weights and checkpoints are chosen on them)", "integer >= 1", at_least(1))
    n_test: int = knob(50, "held-out test samples (scores)", "integer >= 1", at_least(1))
    shift: str = shift_knob()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shift == "observations" and self.test_acceleration > MAX_ACCELERATION:
            raise ParameterError(f"{self.name}: shift = 'observations' scores at twice the acceleration, so it needs acceleration "
                                 f"<= {MAX_ACCELERATION // 2}; got acceleration = {self.acceleration}")

    @property
    def effective_center_fraction(self) -> float:
        return self.center_fraction or FASTMRI_CENTER_FRACTIONS.get(self.acceleration, 0.32 / self.acceleration)

    @property
    def test_acceleration(self) -> int:
        """Acceleration of the test split: ``acceleration``, or twice it under the ``observations`` shift."""
        return 2 * self.acceleration if self.shift == "observations" else self.acceleration

    def split_size(self, split: Split) -> int:
        return {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}[self._check_split(split)]

    def operator(self) -> mri.CartesianFourier:
        return _operator(self.image_size, self.acceleration, self.effective_center_fraction, self.mask)

    def test_setting(self) -> dict[str, int]:
        return {"acceleration": self.test_acceleration} if self.shift == "observations" else {}

    def simulate(self, rng: np.random.Generator) -> tuple[Float[np.ndarray, "n n"], Complex[np.ndarray, "n n"]]:
        return self._pair(phantoms.random_ellipses(rng), rng)

    def simulate_split(self, split: Split, rng: np.random.Generator) -> tuple[Float[np.ndarray, "n n"], Complex[np.ndarray, "n n"]]:
        """The test split under ``shift``: heads instead of ellipses, twice the noise or the acceleration; the other splits as ``simulate``."""
        if split != "test" or self.shift == "none":
            return self.simulate(rng)
        if self.shift == "phantoms":
            return self._pair(phantoms.random_heads(rng), rng)
        if self.shift == "observations":
            return self._pair(phantoms.random_ellipses(rng), rng, operator=self.test_operator())
        return self._pair(phantoms.random_ellipses(rng), rng, noise_factor=2.0)

    def _pair(self, phantom: phantoms.Ellipses, rng: np.random.Generator, noise_factor: float = 1.0,
              operator: mri.CartesianFourier | None = None) -> tuple[Float[np.ndarray, "n n"], Complex[np.ndarray, "n n"]]:
        """The truth of ``phantom`` and its noisy k-space masked by ``operator`` (default: ``operator()``), the noise std
        scaled by ``noise_factor``."""
        phantom = phantom.normalised(self.image_size)
        truth = phantom.raster(self.image_size)
        kspace = mri.kspace_from_phantom(phantom, self.image_size)
        sigma = noise_factor * self.noise * np.sqrt(np.mean(truth**2))
        noise = sigma / np.sqrt(2) * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
        return truth, np.asarray((operator or self.operator()).mask)[None, :] * (kspace + noise)


@functools.lru_cache(maxsize=4)
def _operator(image_size: int, acceleration: int, center_fraction: float, kind: str) -> mri.CartesianFourier:
    rng = np.random.default_rng([CartesianMRI2D._mask_stream, image_size, acceleration])
    lines = mri.undersampling_mask(image_size, acceleration, center_fraction, kind, rng)
    return mri.CartesianFourier(lines)
