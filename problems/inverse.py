"""Inverse problems: a differentiable forward operator, seeded data splits and a noise model.

An inverse problem owns three disjoint splits of (ground truth, noisy observation) pairs:
``train`` (learned methods fit on it), ``validation`` (every method picks its settings on
it: a regularisation weight, a filter, the checkpoint of a network) and ``test`` (the
harness scores on it; solvers see only its observations). Sample ``i`` of a split is drawn
from its own seed stream ``(split, i)``, so the splits cannot share a sample, a scale knob
(angles, acceleration, noise) changes the observations of the *same* ground truths, and a
smaller split is a prefix of a larger one.

A problem may draw its *test* split from another distribution than the other two
(:meth:`InverseProblem.simulate_split`, set by a knob such as CT's and MRI's ``shift``):
learned methods still train, and every method still tunes, on the unshifted train and
validation splits, and the score says how a method fares on data it was not made for.
The test split may even be measured by another operator (:meth:`InverseProblem.test_operator`:
fewer angles, a sparser mask): a solver trains and tunes with ``operator()`` and then
reconstructs the test observations with ``test_operator()``, keeping its tuned settings
and trained weights, as a user would who applies a method beyond what it was made for.

Through the harness an inverse problem looks like a forward one: the evaluator's "points"
are the test observations, its reference the test truths, and a solver's ``predict`` maps
observations to reconstructions; PSNR, SSIM, NMSE and hallucination
(:func:`image_quality.hallucination`) are the problem's own metrics.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from jaxtyping import Float, Inexact

from parity import cache, moved
from parity.evaluation import Evaluator
from parity.knobs import knob
from parity.numerics import image_quality
from parity.operators import MeasurementOperator
from parity.problems.base import Problem, Snapshot

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
SHIFTS = ("none", "phantoms", "noise", "observations")
"""Distribution shifts of the test split that :func:`shift_knob` offers."""
__getattr__ = moved.names_getattr(__name__)  # ImagingOperator and operator_norm, now in parity.operators


def shift_knob() -> Any:
    """The ``shift`` knob: which distribution the test split is drawn from (train and validation never shift)."""
    return knob("none", "distribution shift of the test split only: none; phantoms (random Shepp-Logan-like heads with lesions); "
                "noise (twice the noise std); observations (fewer than every method was trained and tuned for, measured by "
                "test_operator(): a third of CT's angles, twice MRI's acceleration)", ", ".join(SHIFTS), lambda s: s in SHIFTS)


class Dataset(NamedTuple):
    truths: Float[np.ndarray, "n h w"]
    """Ground-truth images (float32, pixel averages of the continuous phantom)."""
    observations: Inexact[np.ndarray, "n ..."]
    """Noisy data, one per truth (float32 or complex64)."""


class InverseProblem(Problem):
    """A reconstruction task: operator, seeded splits of (truth, observation) and image metrics."""

    kind = "inverse"
    default_metrics = ("psnr", "ssim", "nmse", "hallucination")
    picture_colormap: ClassVar[str] = "gray"
    picture_from_zero: ClassVar[bool] = True
    """Reports draw reconstructions in this colour map, from 0 (or else from the truth's minimum) to the truth's maximum."""
    linear: ClassVar[bool] = True
    """Whether ``operator()`` is a linear :class:`ImagingOperator` (solvers built on adjoints need one)."""
    _split_streams: ClassVar[dict[Split, int]] = {"train": 0, "validation": 1, "test": 2}
    data_version: ClassVar[int] = 1
    """Bump when ``simulate`` changes, so datasets cached on disk are simulated afresh."""
    test_only_knobs: ClassVar[tuple[str, ...]] = ()
    """Knobs that change the test split alone (a distribution shift). The train and validation
    splits are cached without them, so a shifted problem reuses the unshifted one's, and so
    is the test split while they are at their defaults: adding such a knob keeps every
    dataset cached before it."""
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

    def test_setting(self) -> dict[str, Any]:
        """Knob values under which the unshifted problem measures its splits as this test split is measured (empty unless a
        shift measures fewer observations): the setting a method could have been trained for instead."""
        return {}

    def test_operator(self) -> MeasurementOperator:
        """The operator that measured the test split: the unshifted problem's at :meth:`test_setting`, else ``operator()``."""
        setting = self.test_setting()
        if not setting:
            return self.operator()
        unshifted = {field.name: field.default for field in dataclasses.fields(self) if field.name in self.test_only_knobs}  # type: ignore[arg-type]
        return dataclasses.replace(self, **unshifted, **setting).operator()  # type: ignore[type-var]

    def split_operator(self, split: Split) -> MeasurementOperator:
        """The operator that measured ``split``'s observations."""
        return self.test_operator() if split == "test" else self.operator()

    @abc.abstractmethod
    def simulate(self, rng: np.random.Generator) -> tuple[Float[np.ndarray, "h w"], Inexact[np.ndarray, "..."]]:
        """One (truth, noisy observation) pair drawn from ``rng``, simulated without the inverse crime."""

    def simulate_split(self, split: Split, rng: np.random.Generator) -> tuple[Float[np.ndarray, "h w"], Inexact[np.ndarray, "..."]]:
        """One pair of ``split`` drawn from ``rng``: :meth:`simulate` unless the problem shifts its test split.

        A problem that overrides this changes the test split only, through knobs listed in
        :attr:`test_only_knobs` (the cache leaves them out of the other splits' keys).
        """
        return self.simulate(rng)

    def dataset(self, split: Split) -> Dataset:
        """The ``split``'s samples, deterministic (sample i comes from the seed stream (split, i))."""
        return _dataset(self, split)

    def extra_metrics(self, reconstructions: np.ndarray, truths: np.ndarray) -> dict[str, float]:
        """Mean PSNR (dB), SSIM, NMSE and hallucination (%) over the test images."""
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
        operator = problem.split_operator(split)
        from tqdm import tqdm

        indices = tqdm(range(problem.split_size(split)), desc=f"simulating {problem.name} {split}", unit="sample", leave=False,
                       dynamic_ncols=True, disable=None)  # a bar with ETA on a terminal: seismic splits take minutes
        pairs = [problem.simulate_split(split, np.random.default_rng([problem._split_streams[split], index])) for index in indices]
        dtype = np.complex64 if operator.complex_valued else np.float32
        truths = np.zeros((len(pairs), *operator.image_shape), np.float32)  # shaped even when the split is empty
        observations = np.zeros((len(pairs), *operator.data_shape), dtype)
        for index, (truth, data) in enumerate(pairs):
            truths[index], observations[index] = truth, data
        return {"truths": truths, "observations": observations}

    arrays = cache.cached_arrays(f"{problem.name}-{split}", {**_data_params(problem, split), "data_version": problem.data_version}, simulate_all)
    return Dataset(arrays["truths"], arrays["observations"])


def _data_params(problem: InverseProblem, split: Split) -> dict[str, Any]:
    """The parameters ``split``'s data depend on: all but the test-only knobs, which only a shifted test split adds."""
    defaults = {field.name: field.default for field in dataclasses.fields(problem)}  # type: ignore[arg-type]
    return {name: value for name, value in problem.params().items()
            if name not in problem.test_only_knobs or (split == "test" and getattr(problem, name) != defaults[name])}
