"""Image-quality metrics for reconstructions: PSNR, SSIM, NMSE and hallucination, per image, then averaged.

Conventions (stated in every inverse problem's report): the data range of image k is its
ground truth's max - min (dival's per-image convention; equal to fastMRI's max for
phantoms whose minimum is 0); SSIM is scikit-image's ``structural_similarity`` with its
default 7 x 7 uniform window (as fastMRI and dival use it); NMSE = |x - x*|^2 / |x*|^2;
hallucination is the share of the truth's flat pixels where the reconstruction shows an
edge (:func:`hallucination`).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
from jaxtyping import Float
from skimage.metrics import structural_similarity


def psnr(reconstruction: Float[np.ndarray, "h w"], truth: Float[np.ndarray, "h w"]) -> float:
    """Peak signal-to-noise ratio in dB, with the truth's range as the peak."""
    mse = float(np.mean((reconstruction - truth) ** 2))
    data_range = float(truth.max() - truth.min())
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def ssim(reconstruction: Float[np.ndarray, "h w"], truth: Float[np.ndarray, "h w"]) -> float:
    """Structural similarity with the truth's range as data range."""
    return float(structural_similarity(truth, reconstruction, data_range=float(truth.max() - truth.min())))


def nmse(reconstruction: Float[np.ndarray, "h w"], truth: Float[np.ndarray, "h w"]) -> float:
    return float(np.sum((reconstruction - truth) ** 2) / np.sum(truth**2))


FLAT_WINDOW, FLAT_BELOW = 5, 0.01
"""A truth pixel is flat when its 5 x 5 neighbourhood varies by less than 1% of the truth's range."""
EDGE_WINDOW, EDGE_ABOVE = 3, 0.10
"""A reconstruction shows an edge at a pixel when its 3 x 3 neighbourhood varies by more than 10% of the truth's range."""


def hallucination(reconstruction: Float[np.ndarray, "h w"], truth: Float[np.ndarray, "h w"]) -> float:
    """The share (%) of the truth's flat pixels where the reconstruction shows an edge the truth does not have.

    PSNR and SSIM average structure away: a network that paints a plausible lesion into
    an empty region loses little PSNR, yet a reader would see a finding that is not there.
    This counts such invented structure. A truth pixel is *flat* when its 5 x 5
    neighbourhood's max - min is below 1% of the truth's range (so pixels within two of a
    real edge, even a faint one, are never counted: the score ignores real edges and
    their blur); the reconstruction shows an *edge* there when its own 3 x 3
    neighbourhood's max - min exceeds 10% of that range. 10% is a step a reader sees as
    structure on a display scaled to the truth's range, and the 3 x 3 window sits inside
    the 5 x 5 one, so a reconstruction equal to the truth scores exactly 0.

    Noise and streak artefacts that loud count as well: the score is what a reader could
    mistake for structure, whatever made it. Its response to white noise is steep (the
    3 x 3 range of 9 samples is about 3 standard deviations): a noise std of 1.5% of the
    range scores about 0, 2% about 1, 2.5% about 11, 3% about 30 and 5% about 90. A
    smooth reconstruction with its noise under ~1.5% scores near 0, so read the score
    beside PSNR: between methods of similar noise it ranks invented structure. An image
    with no flat pixel scores 0; a non-finite reconstruction scores NaN.
    """
    truth = np.asarray(truth, np.float64)
    reconstruction = np.asarray(reconstruction, np.float64)
    if not np.all(np.isfinite(reconstruction)):
        return float("nan")
    span = float(truth.max() - truth.min())
    flat = _local_span(truth, FLAT_WINDOW) < FLAT_BELOW * span
    if not flat.any():
        return 0.0
    edges = _local_span(reconstruction, EDGE_WINDOW) > EDGE_ABOVE * span
    return 100.0 * float(np.mean(edges[flat]))


def _local_span(image: Float[np.ndarray, "h w"], size: int) -> Float[np.ndarray, "h w"]:
    """max - min over each pixel's size x size neighbourhood (mirrored at the border)."""
    return scipy.ndimage.maximum_filter(image, size) - scipy.ndimage.minimum_filter(image, size)


def mean_metrics(reconstructions: Float[np.ndarray, "n h w"], truths: Float[np.ndarray, "n h w"]) -> dict[str, float]:
    """Mean PSNR, SSIM, NMSE and hallucination (%) over a stack of images (float64 arithmetic)."""
    pairs = list(zip(np.asarray(reconstructions, np.float64), np.asarray(truths, np.float64), strict=True))
    return {
        "psnr": float(np.mean([psnr(r, t) for r, t in pairs])),
        "ssim": float(np.mean([ssim(r, t) for r, t in pairs])),
        "nmse": float(np.mean([nmse(r, t) for r, t in pairs])),
        "hallucination": float(np.mean([hallucination(r, t) for r, t in pairs])),
    }
