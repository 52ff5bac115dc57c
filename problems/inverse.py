"""Inverse problems: a differentiable forward operator, seeded data splits and a noise model.

An inverse problem owns three disjoint splits of (ground truth, noisy observation) pairs:
``train`` (learned methods fit on it), ``validation`` (every method picks its settings on
it: a regularisation weight, a filter, the checkpoint of a network) and ``test`` (the
harness scores on it; solvers see only its observations). Sample ``i`` of a split is drawn
from its own seed stream ``(split, i)``, so the splits cannot share a sample, a scale knob
(angles, acceleration, noise) changes the observations of the *same* ground truths, and a
smaller split is a prefix of a larger one.

Through the harness an inverse problem looks like a forward one: the evaluator's "points"
are the test observations, its reference the test truths, and a solver's ``predict`` maps
observations to reconstructions; PSNR, SSIM and NMSE are the problem's own metrics.
"""

from __future__ import annotations

import abc
import functools
from typing import ClassVar, Literal, NamedTuple

import numpy as np
from jaxtyping import Float, Inexact

from parity import cache, moved
from parity.evaluation import Evaluator
from parity.numerics import image_quality
from parity.operators import MeasurementOperator
from parity.problems.base import Problem, Snapshot

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
__getattr__ = moved.names_getattr(__name__)  # ImagingOperator and operator_norm, now in parity.operators


class Dataset(NamedTuple):
    truths: Float[np.ndarray, "n h w"]
    """Ground-truth images (float32, pixel averages of the continuous phantom)."""
    observations: Inexact[np.ndarray, "n ..."]
    """Noisy data, one per truth (float32 or complex64)."""


class InverseProblem(Problem):
    """A reconstruction task: operator, seeded splits of (truth, observation) and image metrics."""

    kind = "inverse"
    default_metrics = ("psnr", "ssim", "nmse")
    picture_colormap: ClassVar[str] = "gray"
    picture_from_zero: ClassVar[bool] = True
    """Reports draw reconstructions in this colour map, from 0 (or else from the truth's minimum) to the truth's maximum."""
    linear: ClassVar[bool] = True
    """Whether ``operator()`` is a linear :class:`ImagingOperator` (solvers built on adjoints need one)."""
    _split_streams: ClassVar[dict[Split, int]] = {"train": 0, "validation": 1, "test": 2}
    data_version: ClassVar[int] = 1
    """Bump when ``simulate`` changes, so datasets cached on disk are simulated afresh."""
    data_range_convention: ClassVar[str] = (
        "PSNR and SSIM use each ground-truth image's own range, max - min (dival's convention); "
        "the phantoms' minimum is 0, so this equals fastMRI's max-of-the-volume for a single slice"
    )

    @property
    @abc.abstractmethod
    def image_size(self) -> int:
        """Side of the square reconstruction grid."""

    @abc.abstractmethod
    def split_size(self, split: Split) -> int:
        """How many samples ``split`` holds."""

    @abc.abstractmethod
    def operator(self) -> MeasurementOperator:
        """The forward operator on the reconstruction grid."""

    @abc.abstractmethod
    def simulate(self, rng: np.random.Generator) -> tuple[Float[np.ndarray, "h w"], Inexact[np.ndarray, "..."]]:
        """One (truth, noisy observation) pair drawn from ``rng``, simulated without the inverse crime."""

    def dataset(self, split: Split) -> Dataset:
        """The ``split``'s samples, deterministic (sample i comes from the seed stream (split, i))."""
        return _dataset(self, split)

    def extra_metrics(self, reconstructions: np.ndarray, truths: np.ndarray) -> dict[str, float]:
        """Mean PSNR (dB), SSIM and NMSE over the test images."""
        return image_quality.mean_metrics(reconstructions, truths)

    def evaluator(self) -> Evaluator:
        """Test observations in, reconstructions scored against the test truths."""
        test = self.dataset("test")
        return Evaluator(test.observations, test.truths, None, self.extra_metrics)

    def picture(self, reconstruction: Inexact[np.ndarray, "h w"]) -> Float[np.ndarray, "h w"]:
        """The real image a report shows (the magnitude of a complex reconstruction)."""
        return np.abs(reconstruction) if np.iscomplexobj(reconstruction) else np.asarray(reconstruction)

    def snapshot(self) -> Snapshot:
        """Reports picture the first test image over the square [-1, 1]^2 (reconstructions need no points)."""
        n = self.image_size
        return Snapshot(np.empty((0, 2)), (n, n), (-1.0, 1.0, -1.0, 1.0), "first test image")

    def _check_split(self, split: str) -> Split:
        if split not in SPLITS:
            raise ValueError(f"{self.name}: unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        return split  # type: ignore[return-value]


@functools.lru_cache(maxsize=8)
def _dataset(problem: InverseProblem, split: str) -> Dataset:
    """Simulated once per (problem parameters, split) and cached on disk: every case of a sweep reuses it."""
    split = problem._check_split(split)

    def simulate_all() -> dict[str, np.ndarray]:
        operator = problem.operator()
        from tqdm import tqdm

        indices = tqdm(range(problem.split_size(split)), desc=f"simulating {problem.name} {split}", unit="sample", leave=False,
                       dynamic_ncols=True, disable=None)  # a bar with ETA on a terminal: seismic splits take minutes
        pairs = [problem.simulate(np.random.default_rng([problem._split_streams[split], index])) for index in indices]
        dtype = np.complex64 if operator.complex_valued else np.float32
        truths = np.zeros((len(pairs), *operator.image_shape), np.float32)  # shaped even when the split is empty
        observations = np.zeros((len(pairs), *operator.data_shape), dtype)
        for index, (truth, data) in enumerate(pairs):
            truths[index], observations[index] = truth, data
        return {"truths": truths, "observations": observations}

    arrays = cache.cached_arrays(f"{problem.name}-{split}", {**problem.params(), "data_version": problem.data_version}, simulate_all)
    return Dataset(arrays["truths"], arrays["observations"])
