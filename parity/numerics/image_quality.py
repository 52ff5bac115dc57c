"""Image-quality metrics for reconstructions: PSNR, SSIM and NMSE, per image, then averaged.

Conventions (stated in every inverse problem's report): the data range of image k is its
ground truth's max - min (dival's per-image convention; equal to fastMRI's max for
phantoms whose minimum is 0); SSIM is scikit-image's ``structural_similarity`` with its
default 7 x 7 uniform window (as fastMRI and dival use it); NMSE = |x - x*|^2 / |x*|^2.
"""

from __future__ import annotations

import numpy as np
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


def mean_metrics(reconstructions: Float[np.ndarray, "n h w"], truths: Float[np.ndarray, "n h w"]) -> dict[str, float]:
    """Mean PSNR, SSIM and NMSE over a stack of images (float64 arithmetic)."""
    pairs = list(zip(np.asarray(reconstructions, np.float64), np.asarray(truths, np.float64), strict=True))
    return {
        "psnr": float(np.mean([psnr(r, t) for r, t in pairs])),
        "ssim": float(np.mean([ssim(r, t) for r, t in pairs])),
        "nmse": float(np.mean([nmse(r, t) for r, t in pairs])),
    }
