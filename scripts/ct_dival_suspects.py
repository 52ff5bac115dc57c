"""Which difference from dival's ellipses setting moves tuned FBP from ~30 dB (ct_2d's exact model) to dival's 24.2?

One suspect changed at a time, each on 50 validation phantoms (filter window and cutoff
tuned there) and 100 test phantoms: the ellipse distribution, how the truth is sampled
(pixel averages or point values), the normalisation (affine or dival's zero background)
and the data (exact line integrals or the truth upsampled 3x and projected). Prints one
line per variant: tuned filter, test PSNR and SSIM, and the share of exactly-zero pixels.

    .venv/bin/python scripts/ct_dival_suspects.py     # about 1 minute on 2 cores
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from parity.numerics import image_quality, phantoms, radon
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.solvers.reconstruction import fbp

SIZE, ANGLES, NOISE = 128, 30, 0.025
VALIDATION, TEST = 50, 100

Draw = Callable[[np.random.Generator], phantoms.Ellipses]
Sample = Callable[[phantoms.Ellipses, int], np.ndarray]
Normalise = Callable[[np.ndarray], np.ndarray]


def affine(image: np.ndarray) -> np.ndarray:
    return (image - image.min()) / (image.max() - image.min())


def pixel_averages(phantom: phantoms.Ellipses, n: int) -> np.ndarray:
    return phantom.raster(n)


def point_values(phantom: phantoms.Ellipses, n: int) -> np.ndarray:
    return phantom.sampled(n)


def noisy(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return clean + NOISE * np.mean(np.abs(clean), axis=(1, 2), keepdims=True) * rng.standard_normal(clean.shape)


def dataset(draw: Draw, sample: Sample | None, normalise: Normalise | None, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Truths and noisy sinograms; ``sample=None`` is ct_2d's exact model (continuous phantom, exact data)."""
    rng = np.random.default_rng(seed)
    drawn = [draw(rng) for _ in range(n)]
    problem = ParallelBeamCT2D(image_size=SIZE, angles=ANGLES, noise=NOISE)
    if sample is None:
        exact = [phantom.normalised(SIZE) for phantom in drawn]
        truths = np.stack([phantom.raster(SIZE) for phantom in exact])
        return truths, noisy(np.stack([problem.exact_sinogram(phantom) for phantom in exact]), rng)
    assert normalise is not None
    truths = np.stack([normalise(sample(phantom, SIZE)) for phantom in drawn])
    return truths, noisy(np.stack([problem.upsampled_sinogram(truth) for truth in truths]), rng)


def tuned_fbp(validation: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> tuple[str, float, float, float]:
    """The FBP solver's own search (every window, its cutoff grid) on the validation set, scored on the test set."""
    problem = ParallelBeamCT2D(image_size=SIZE, angles=ANGLES)

    def scores(data: tuple[np.ndarray, np.ndarray], window: str, cutoff: float) -> tuple[float, float]:
        truths, observations = data
        images = fbp.reconstructor(problem.operator(), window, cutoff)(observations)
        return (float(np.mean([image_quality.psnr(x, t) for x, t in zip(images, truths, strict=True)])),
                float(np.mean([image_quality.ssim(x, t) for x, t in zip(images, truths, strict=True)])))

    grid = [(window, float(cutoff)) for window in radon.FILTERS for cutoff in fbp.CUTOFFS]
    window, cutoff = max(grid, key=lambda choice: scores(validation, *choice)[0])
    return window, cutoff, *scores(test, window, cutoff)


VARIANTS: dict[str, tuple[Draw, Sample | None, Normalise | None]] = {
    "ct_2d exact model (Parity's ellipses, pixel averages, affine, exact data)": (phantoms.random_ellipses, None, None),
    "Parity's ellipses, pixel averages, affine, upsampled-truth data": (phantoms.random_ellipses, pixel_averages, affine),
    "Parity's ellipses, point values, affine, upsampled-truth data": (phantoms.random_ellipses, point_values, affine),
    "dival's ellipses, pixel averages, zero background, upsampled-truth data": (phantoms.dival_ellipses, pixel_averages, phantoms.foreground_normalised),
    "dival's ellipses, point values, affine, upsampled-truth data": (phantoms.dival_ellipses, point_values, affine),
    "dival's model (dival's ellipses, point values, zero background, upsampled-truth data)":
        (phantoms.dival_ellipses, point_values, phantoms.foreground_normalised),
}


def main() -> None:
    for name, (draw, sample, normalise) in VARIANTS.items():
        validation, test = dataset(draw, sample, normalise, 1, VALIDATION), dataset(draw, sample, normalise, 2, TEST)
        window, cutoff, psnr, ssim = tuned_fbp(validation, test)
        zeros = float(np.mean(test[0] == 0.0))
        print(f"{name}: FBP {window} {cutoff:.2f}: PSNR {psnr:.2f} dB, SSIM {ssim:.3f} (exactly-zero pixels {zeros:.2f})", flush=True)


if __name__ == "__main__":
    main()
