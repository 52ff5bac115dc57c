"""Robustness: shifted test splits (``shift``) beside unchanged train and validation splits, and the hallucination score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage

from parity.harness.run import Case, run_case
from parity.knobs import ParameterError
from parity.numerics import image_quality, phantoms
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.problems.inverse import SPLITS, InverseProblem, _dataset
from parity.problems.mri_2d import CartesianMRI2D
from parity.solvers.base import Budget
from parity.solvers.reconstruction.fbp import FilteredBackProjection

SMALL = {"image_size": 32, "n_train": 3, "n_validation": 2, "n_test": 3}
PROBLEMS = {
    "ct": lambda **kw: ParallelBeamCT2D(**SMALL, angles=10, **kw),
    "ct_poisson": lambda **kw: ParallelBeamCT2D(**SMALL, angles=10, noise_model="poisson", **kw),
    "ct_dival": lambda **kw: ParallelBeamCT2D(**SMALL, angles=10, phantom_model="dival", **kw),
    "mri": lambda **kw: CartesianMRI2D(**SMALL, **kw),
}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    _dataset.cache_clear()  # datasets from the disk cache, not from another test's memory
    return tmp_path / "cache"


def _simulated(problem: InverseProblem, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split as ``simulate`` draws it, sample by sample from the seed streams (split, i)."""
    pairs = [problem.simulate(np.random.default_rng([problem._split_streams[split], i])) for i in range(problem.split_size(split))]
    return np.stack([t for t, _ in pairs]).astype(np.float32), np.stack([d for _, d in pairs])


@pytest.mark.parametrize("name", PROBLEMS)
def test_unshifted_splits_are_simulate_s_draws(name: str) -> None:
    problem = PROBLEMS[name]()
    assert "shift" not in problem.changed_params()  # the default leaves every case key as it was
    for split in SPLITS:
        truths, observations = _simulated(problem, split)
        data = problem.dataset(split)
        np.testing.assert_array_equal(data.truths, truths)
        np.testing.assert_array_equal(data.observations, observations.astype(data.observations.dtype))


def test_unshifted_data_keep_the_cache_entries_written_before_the_shift_knob(_cache: Path) -> None:
    """The entries' names are digests of the parameters as they were before ``shift`` existed: cached data stay valid."""
    PROBLEMS["ct"]().dataset("test")
    PROBLEMS["mri"]().dataset("validation")
    assert sorted(p.name for p in _cache.iterdir()) == ["ct_2d-test-037d1fc2cb8f8756.npz", "mri_2d-validation-80b55165061969ff.npz"]


@pytest.mark.parametrize("name", ["ct", "ct_dival", "mri"])
@pytest.mark.parametrize("shift", ["phantoms", "noise"])
def test_a_shift_changes_the_test_split_alone(name: str, shift: str, _cache: Path) -> None:
    base, shifted = PROBLEMS[name](), PROBLEMS[name](shift=shift)
    for split in ("train", "validation"):
        entries = len(list(_cache.iterdir()))
        expected = base.dataset(split)
        assert len(list(_cache.iterdir())) == entries + 1
        np.testing.assert_array_equal(shifted.dataset(split).truths, expected.truths)
        np.testing.assert_array_equal(shifted.dataset(split).observations, expected.observations)
        assert len(list(_cache.iterdir())) == entries + 1  # the shifted problem read the unshifted entry
    test, shifted_test = base.dataset("test"), shifted.dataset("test")
    assert not np.array_equal(shifted_test.observations, test.observations)
    if shift == "noise":
        np.testing.assert_array_equal(shifted_test.truths, test.truths)
    else:
        assert not np.isclose(shifted_test.truths, test.truths, atol=1e-3).all(axis=(1, 2)).any()
        if name != "ct_dival":  # the exact model's truths are the heads' pixel averages
            head = phantoms.random_heads(np.random.default_rng([base._split_streams["test"], 1])).normalised(32)
            np.testing.assert_allclose(shifted_test.truths[1], head.raster(32), atol=1e-6)


@pytest.mark.parametrize("name", ["ct", "ct_poisson", "mri"])
def test_the_noise_shift_doubles_the_noise_std(name: str) -> None:
    """Against the noise-free data of the same truths (the operator applied to the pixel truth would add its model error)."""
    clean = (CartesianMRI2D(**SMALL, noise=0.0) if name == "mri" else ParallelBeamCT2D(**SMALL, angles=10, noise=0.0)).dataset("test")
    base, shifted = PROBLEMS[name]().dataset("test"), PROBLEMS[name](shift="noise").dataset("test")
    np.testing.assert_array_equal(base.truths, clean.truths)
    ratio = np.std(shifted.observations - clean.observations) / np.std(base.observations - clean.observations)
    assert ratio == pytest.approx(2.0, rel=0.02 if name != "ct_poisson" else 0.1)


@pytest.mark.parametrize("make", [ParallelBeamCT2D, CartesianMRI2D])
def test_unknown_shifts_are_refused_with_the_allowed_values(make: type[InverseProblem]) -> None:
    for value in ("angles", "acceleration"):
        with pytest.raises(ParameterError, match=r"parameter 'shift'.*allowed: none, phantoms, noise, observations"):
            make(shift=value)
    assert make.from_overrides({"shift": "noise"}).changed_params() == {"shift": "noise"}


def test_random_heads_stay_in_the_unit_disc_with_a_skull_and_lesions() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        head = phantoms.random_heads(rng)
        assert 11 <= len(head.intensity) <= 15  # Shepp-Logan's 10 ellipses and 1 to 5 lesions
        assert np.max(np.hypot(head.centre_x, head.centre_y) + np.maximum(head.half_x, head.half_y)) <= 0.95 + 1e-12
    image = phantoms.random_heads(np.random.default_rng(1)).normalised(64).raster(64)
    assert image[32, 32] < 0.5 and image.max() == pytest.approx(1.0)  # the brightest structure is the skull ring, not the brain


def _disc_truth(n: int = 64) -> np.ndarray:
    one = lambda v: np.array([v])  # noqa: E731
    disc = phantoms.Ellipses(one(1.0), one(0.5), one(0.4), one(-0.2), one(0.1), one(0.3))
    return disc.raster(n)


def test_hallucination_ignores_the_truth_its_blur_and_real_edges_and_counts_invented_ones() -> None:
    truth = phantoms.random_ellipses(np.random.default_rng(4)).normalised(64).raster(64)
    assert image_quality.hallucination(truth, truth) == 0.0
    assert image_quality.hallucination(scipy.ndimage.gaussian_filter(truth, 0.7), truth) < 0.5
    # Real edges, blurred and one pixel out of place, are not invented structure (PSNR drops, the score does not).
    moved = np.roll(scipy.ndimage.gaussian_filter(truth, 1.0), 1, axis=0)
    assert image_quality.psnr(moved, truth) < 27 and image_quality.hallucination(moved, truth) < 0.5
    # A fake lesion in the flat background: every pixel it touches, and its rim, is counted.
    disc = _disc_truth()
    lesion = phantoms.Ellipses(*(np.array([v]) for v in (0.3, 0.08, 0.06, 0.6, -0.7, 0.0))).raster(64)
    fake = disc + lesion
    flat = int(np.sum(scipy.ndimage.maximum_filter(disc, 5) - scipy.ndimage.minimum_filter(disc, 5) < 0.01))
    counted = image_quality.hallucination(fake, disc) * flat / 100
    assert np.sum(scipy.ndimage.binary_dilation(lesion > 0)) >= counted >= np.sum(lesion > 0) > 10
    noisy = disc + 0.01 * np.random.default_rng(0).standard_normal(disc.shape)  # 1% noise: a 10% step in a 3 x 3 window is 10 sigma
    assert image_quality.hallucination(noisy, disc) < 0.01
    louder = disc + 0.05 * np.random.default_rng(0).standard_normal(disc.shape)  # 5%: most flat pixels read as texture
    assert image_quality.hallucination(louder, disc) > 50
    assert np.isnan(image_quality.hallucination(np.full_like(disc, np.nan), disc))
    metrics = image_quality.mean_metrics(np.stack([disc, fake]), np.stack([disc, disc]))
    assert set(metrics) == {"psnr", "ssim", "nmse", "hallucination"}
    assert metrics["hallucination"] == pytest.approx(image_quality.hallucination(fake, disc) / 2)


def test_fbp_scores_lower_on_noisier_test_data_and_records_hallucination() -> None:
    records = {shift: run_case(Case(ParallelBeamCT2D(**{**SMALL, "n_validation": 4, "n_test": 4}, angles=20, shift=shift),
                                    FilteredBackProjection(), 0, Budget(steps=1)))
               for shift in ("none", "noise")}
    for record in records.values():
        assert record["status"] == "ok", record["message"]
        assert 0.0 <= record["metrics"]["hallucination"] <= 100.0
    assert records["noise"]["metrics"]["psnr"] < records["none"]["metrics"]["psnr"] - 1.0
    assert records["noise"]["info"]["tuned"] == records["none"]["info"]["tuned"]  # tuned on the same, unshifted validation split
