"""2D parallel-beam CT of random-ellipse phantoms, in two settings (``phantom_model``).

``exact``: random overlapping ellipses kept inside the unit disc, pixel-averaged on the
reconstruction grid and normalised affinely to [0, 1]. Sinograms are the phantoms' *exact*
line integrals, each detector bin averaged over ``_bin_samples`` offsets across its width,
so the data come from the continuous object and no method profits from the inverse crime.

``dival``: dival's ellipses benchmark as Baguer et al. (2020) ran it: dival's ellipse
distribution (cut at the square's edges), truths point-sampled at the pixel centres with a
zero background (:func:`phantoms.foreground_normalised`), and data projected from the truth
bilinearly upsampled (dival: to 400^2 with one ray per bin; here 3x, three rays per bin,
averaged), so the projector differs from the reconstruction's. Its truths have sharper,
aliased edges and a third of their pixels at exactly 0: FBP scores about 6 dB lower there.

In both, noise is either white Gaussian with a standard deviation of ``noise`` times the mean |data| of each
sinogram (dival), or Poisson photon counting with ``photons`` incident photons per bin
(LoDoPaB's model, through Beer-Lambert with unit attenuation scale).

Scale knobs: ``angles`` (the "decreasing observations" axis: 180 -> 10), ``noise`` and
``image_size``.

Robustness knob ``shift`` (the test split alone; learned methods train, and every method
tunes, on the unshifted train and validation splits):

- ``phantoms``: test truths are random Shepp-Logan-like heads (:func:`phantoms.random_heads`),
  the classic CT phantom family, with nested structures (a thin bright skull ring around
  the brain, small lesions inside larger ellipses) that random-ellipse training sets
  contain rarely. They are ellipses, so the ``exact`` model keeps its exact sinograms (no
  inverse crime); the ``dival`` model point-samples the same heads and projects them
  through its upsampled pipeline.
- ``noise``: the same test truths with twice the noise standard deviation: Gaussian
  noise of 2x ``noise``; Poisson counts from a quarter of ``photons`` (the log data's
  std grows as 1/sqrt(photons), so half the photons would give only sqrt(2)x).

- ``observations``: the same test truths measured at a third of the angles (30 -> 10, a
  subset of them), through :meth:`test_operator`; every method trains and tunes at
  ``angles`` and reconstructs with the sparser operator. The test split is then exactly
  the one of ``angles // 3`` (same truths, same noise draws), so a method trained for the
  sparser setting can be set beside it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import numpy as np
import skimage.transform
from jaxtyping import Float

from parity.knobs import ParameterError, at_least, knob
from parity.numerics import phantoms, radon
from parity.problems.inverse import InverseProblem, Split, shift_knob

NOISE_MODELS = ("gaussian", "poisson")
PHANTOM_MODELS = ("exact", "dival")
UPSAMPLING = 3
"""The dival model's simulation grid, in reconstruction pixels per side: an odd count of rays per detector bin."""
FEWER_ANGLES = 3
"""The ``observations`` shift scores on ``angles // FEWER_ANGLES`` angles, a subset of the trained ones."""


@dataclasses.dataclass(frozen=True)
class ParallelBeamCT2D(InverseProblem):
    name: ClassVar[str] = "ct_2d"
    description: ClassVar[str] = "2D parallel-beam CT of random ellipses, exact sinograms, Gaussian or Poisson noise (dival-like)"
    _bin_samples: ClassVar[int] = 4
    test_only_knobs: ClassVar[tuple[str, ...]] = ("shift",)

    image_size: int = knob(128, "side of the reconstruction grid in pixels", "integer in [16, 512]", lambda n: 16 <= n <= 512)
    angles: int = knob(30, "number of projection angles over [0, pi) (scale knob)", "integer in [1, 1000]", lambda a: 1 <= a <= 1000)
    noise: float = knob(0.05, "Gaussian noise std as a fraction of each sinogram's mean |data|", "number in [0, 1]", lambda s: 0 <= s <= 1)
    noise_model: str = knob("gaussian", "white Gaussian noise or Poisson photon counts", " or ".join(NOISE_MODELS), lambda m: m in NOISE_MODELS)
    phantom_model: str = knob("exact", "exact: ellipses inside the disc, pixel averages, exact line integrals; dival: dival's ellipses, "
                              "point-sampled truths with a zero background, data from the truth upsampled 3x (Baguer et al. 2020's setting)",
                              " or ".join(PHANTOM_MODELS), lambda m: m in PHANTOM_MODELS)
    photons: float = knob(4096.0, "incident photons per detector bin (Poisson noise model only)", "number >= 1", at_least(1))
    n_train: int = knob(1000, "training samples (learned methods fit on them)", "integer >= 0", at_least(0))
    n_validation: int = knob(50, "validation samples (weights, filters and checkpoints are chosen on them)", "integer >= 1", at_least(1))
    n_test: int = knob(50, "held-out test samples (scores)", "integer >= 1", at_least(1))
    shift: str = shift_knob()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shift == "observations" and self.angles < FEWER_ANGLES:
            raise ParameterError(f"{self.name}: shift = 'observations' scores on a third of the angles, so it needs angles >= "
                                 f"{FEWER_ANGLES}; got angles = {self.angles}")

    @property
    def test_angles(self) -> int:
        """Angles of the test split: ``angles``, or a third of them under the ``observations`` shift."""
        return self.angles // FEWER_ANGLES if self.shift == "observations" else self.angles

    def split_size(self, split: Split) -> int:
        return {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}[self._check_split(split)]

    def operator(self) -> radon.ParallelBeamRadon:
        return _operator(self.image_size, self.angles)

    def test_setting(self) -> dict[str, int]:
        return {"angles": self.test_angles} if self.shift == "observations" else {}

    def simulate(self, rng: np.random.Generator) -> tuple[Float[np.ndarray, "n n"], Float[np.ndarray, "a d"]]:
        draw = phantoms.dival_ellipses if self.phantom_model == "dival" else phantoms.random_ellipses
        return self._pair(draw(rng), rng)

    def simulate_split(self, split: Split, rng: np.random.Generator) -> tuple[Float[np.ndarray, "n n"], Float[np.ndarray, "a d"]]:
        """The test split under ``shift``: heads instead of ellipses, twice the noise or a third of the angles; the other splits as ``simulate``."""
        if split != "test" or self.shift == "none":
            return self.simulate(rng)
        if self.shift == "phantoms":
            return self._pair(phantoms.random_heads(rng), rng)
        draw = phantoms.dival_ellipses if self.phantom_model == "dival" else phantoms.random_ellipses
        if self.shift == "observations":
            return self._pair(draw(rng), rng, angles=self.test_angles)
        return self._pair(draw(rng), rng, noise_factor=2.0)

    def _pair(self, phantom: phantoms.Ellipses, rng: np.random.Generator, noise_factor: float = 1.0, angles: int | None = None
              ) -> tuple[Float[np.ndarray, "n n"], Float[np.ndarray, "a d"]]:
        """The truth of ``phantom`` under ``phantom_model`` and its noisy sinogram at ``angles`` (default: the knob's), the noise
        std scaled by ``noise_factor``."""
        if self.phantom_model == "dival":
            truth = phantoms.foreground_normalised(phantom.sampled(self.image_size))
            return truth, self._noisy(self.upsampled_sinogram(truth, angles), rng, noise_factor)
        phantom = phantom.normalised(self.image_size)
        return phantom.raster(self.image_size), self._noisy(self.exact_sinogram(phantom, angles), rng, noise_factor)

    def exact_sinogram(self, phantom: phantoms.Ellipses, angles: int | None = None) -> Float[np.ndarray, "a d"]:
        """Line integrals of the continuous phantom at ``angles`` (default: the knob's), averaged across each detector bin's width."""
        count = angles or self.angles
        offsets = radon.detector_offsets(self.image_size, radon.detector_count(self.image_size))
        width = 2.0 / self.image_size
        within = (np.arange(self._bin_samples) + 0.5) / self._bin_samples - 0.5
        fine = (offsets[:, None] + width * within[None, :]).ravel()
        return phantom.radon(np.pi * np.arange(count) / count, fine).reshape(count, -1, self._bin_samples).mean(axis=-1)

    def upsampled_sinogram(self, truth: Float[np.ndarray, "n n"], angles: int | None = None) -> Float[np.ndarray, "a d"]:
        """Line integrals of the truth upsampled bilinearly (as dival's ``ResizeOperator``) at ``angles`` (default: the knob's),
        ``UPSAMPLING`` rays per bin averaged."""
        count = angles or self.angles
        fine = skimage.transform.resize(truth, (UPSAMPLING * self.image_size,) * 2, order=1)
        data = np.asarray(_fine_operator(self.image_size, count).forward(fine), np.float64)
        return data.reshape(count, -1, UPSAMPLING).mean(axis=-1)

    def _noisy(self, clean: Float[np.ndarray, "a d"], rng: np.random.Generator, factor: float = 1.0) -> Float[np.ndarray, "a d"]:
        """``clean`` plus the noise model's noise, its std scaled by ``factor`` (Poisson: photons divided by factor^2)."""
        if self.noise_model == "poisson":
            photons = self.photons / factor**2
            counts = rng.poisson(photons * np.exp(-clean))
            return -np.log(np.maximum(counts, 0.1) / photons)  # a zero count is read as 0.1 photons
        return clean + factor * self.noise * np.mean(np.abs(clean)) * rng.standard_normal(clean.shape)


@functools.lru_cache(maxsize=4)
def _operator(image_size: int, angles: int) -> radon.ParallelBeamRadon:
    return radon.ParallelBeamRadon.build(image_size, angles)


@functools.lru_cache(maxsize=4)
def _fine_operator(image_size: int, angles: int) -> radon.ParallelBeamRadon:
    """The projector on the UPSAMPLING-times finer grid whose rays, in groups of UPSAMPLING, fill the coarse detector's bins."""
    return radon.ParallelBeamRadon(radon.Geometry(UPSAMPLING * image_size, angles, UPSAMPLING * radon.detector_count(image_size)))
