"""CT and MRI problems: splits, noise models, exact data, and the harness path for inverse problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parity.harness.run import Case, run_case
from parity.harness.store import Store, load_records
from parity.knobs import ParameterError
from parity.numerics import phantoms
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.problems.mri_2d import CartesianMRI2D
from parity.report.write import write_report
from parity.solvers.reconstruction.fbp import FilteredBackProjection
from parity.solvers.reconstruction.zero_filled import ZeroFilled

SMALL = {"image_size": 32, "n_train": 4, "n_validation": 3, "n_test": 3}


def test_splits_never_share_a_truth_and_knobs_keep_the_truths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    problem = ParallelBeamCT2D(**SMALL, angles=10)
    truths = {split: problem.dataset(split).truths for split in ("train", "validation", "test")}
    flat = np.concatenate([t.reshape(len(t), -1) for t in truths.values()])
    assert len(np.unique(flat.round(6), axis=0)) == len(flat)
    fewer_angles = ParallelBeamCT2D(**SMALL, angles=5)
    np.testing.assert_array_equal(fewer_angles.dataset("test").truths, truths["test"])
    assert fewer_angles.dataset("test").observations.shape[1] == 5
    larger = ParallelBeamCT2D(**{**SMALL, "n_test": 5}, angles=10)
    np.testing.assert_array_equal(larger.dataset("test").truths[:3], truths["test"])
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        problem.dataset("dev")  # type: ignore[arg-type]


def test_ct_noise_levels_and_exact_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    rng = lambda: np.random.default_rng(7)  # noqa: E731 - the same phantom each time
    clean = ParallelBeamCT2D(image_size=64, angles=20, noise=0.0)
    truth, exact = clean.simulate(rng())
    noisy = ParallelBeamCT2D(image_size=64, angles=20, noise=0.05).simulate(rng())[1]
    assert np.std(noisy - exact) / np.mean(np.abs(exact)) == pytest.approx(0.05, rel=0.1)
    # The discrete operator applied to the pixel truth is close to, not equal to, the exact data: no inverse crime.
    discrete = np.asarray(clean.operator().forward(truth.astype(np.float32)))
    mismatch = np.linalg.norm(discrete - exact) / np.linalg.norm(exact)
    assert 1e-4 < mismatch < 0.05
    photons = 1e4
    data = ParallelBeamCT2D(image_size=64, angles=20, noise_model="poisson", photons=photons).simulate(rng())[1]
    _assert_poisson_counts(photons * np.exp(-data), expected=photons * np.exp(-exact))
    with pytest.raises(ParameterError, match="noise_model"):
        ParallelBeamCT2D(noise_model="uniform")


def _assert_poisson_counts(counts: np.ndarray, expected: np.ndarray) -> None:
    """Beer-Lambert's counts are whole numbers with mean and variance both the expected count.

    z = (counts - expected) / sqrt(expected) has mean 0 and variance 1 for Poisson counts; over n
    bins the sample mean of z has standard deviation 1/sqrt(n) and that of z^2 about sqrt(2/n)
    (for Poisson, Var z^2 = 2 + 1/expected), so 5 of those cannot fail by chance, while no noise
    (z^2 = 0), a count that ignores ``photons`` or Gaussian noise of another scale is far outside.
    """
    assert expected.min() > 100  # no zero counts, which the problem reads as 0.1 photons
    np.testing.assert_allclose(counts, np.round(counts), rtol=1e-9)
    z = ((counts - expected) / np.sqrt(expected)).ravel()
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert abs(np.mean(z**2) - 1) < 5 * np.sqrt(2 / z.size)


def test_mri_masks_and_noise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    for acceleration, centre in ((4, 0.08), (8, 0.04)):
        problem = CartesianMRI2D(image_size=64, acceleration=acceleration, noise=0.0)
        assert problem.effective_center_fraction == centre
        lines = np.asarray(problem.operator().mask).reshape(-1, 64).max(axis=0)
        assert lines.mean() == pytest.approx(1 / acceleration, abs=0.06)
        truth, data = problem.simulate(np.random.default_rng(1))
        assert np.all(data[:, lines == 0] == 0)
    with pytest.raises(ParameterError, match="acceleration"):
        CartesianMRI2D(acceleration=0)


@pytest.mark.parametrize("problem, solver", [
    (ParallelBeamCT2D(**SMALL, angles=20), FilteredBackProjection()),
    (CartesianMRI2D(**SMALL), ZeroFilled()),
])
def test_inverse_cases_run_record_and_report(problem, solver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path / "cache"))
    store = Store(tmp_path / "store")
    record = run_case(Case(problem, solver), store)
    assert record["status"] == "ok", record["message"]
    assert record["problem_kind"] == "inverse"
    assert 10 < record["metrics"]["psnr"] < 60 and 0 < record["metrics"]["ssim"] <= 1
    assert record["reconstruction_s"] > 0 and record["field_path"]
    assert store.field(record).shape == (32, 32)
    index = write_report(store, tmp_path / "report", title="inverse")
    text = index.read_text()
    assert "## Reconstruction quality, cost and break-even" in text and "## Time to accuracy" not in text
    assert len(load_records(store.root)) == 1


def test_dival_model_draws_dival_phantoms_and_data_from_the_upsampled_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dival's truths: zero background, range [0, 1], ellipses cut at the edges; data within a few % of the reconstruction operator's."""
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(11)
    counts = [len(phantoms.dival_ellipses(rng).intensity) for _ in range(400)]
    assert np.mean(counts) == pytest.approx(40, abs=1.5) and max(counts) <= 70
    clean = ParallelBeamCT2D(image_size=64, angles=20, noise=0.0, phantom_model="dival")
    truth, data = clean.simulate(np.random.default_rng(3))
    assert truth.min() == 0.0 and truth.max() == 1.0 and 0.1 < np.mean(truth == 0.0) < 0.9
    assert np.mean(truth[[0, -1], :] != 0) > 0.05  # ellipses reach the square's edges
    discrete = np.asarray(clean.operator().forward(truth.astype(np.float32)))
    mismatch = np.linalg.norm(discrete - data) / np.linalg.norm(data)
    assert 1e-3 < mismatch < 0.05  # the same geometry (a shifted bin would cost far more), another discretisation
    noisy = ParallelBeamCT2D(image_size=64, angles=20, noise=0.025, phantom_model="dival").simulate(np.random.default_rng(3))[1]
    assert np.std(noisy - data) / np.mean(np.abs(data)) == pytest.approx(0.025, rel=0.1)


def test_foreground_normalisation_keeps_the_background_at_zero() -> None:
    image = np.array([[0.0, -0.4, 0.6], [0.0, 0.2, 0.0]])
    normalised = phantoms.foreground_normalised(image)
    np.testing.assert_allclose(normalised, [[0.0, 0.0, 1.0], [0.0, 0.6, 0.0]])
    assert not phantoms.foreground_normalised(np.zeros((2, 2))).any()


@pytest.mark.slow
def test_dival_setting_reproduces_the_published_fbp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Baguer et al. 2020 on dival's ellipses, first 100 test images: tuned FBP 24.18 dB / SSIM 0.594 (measured here: 24.4 / 0.61)."""
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    problem = ParallelBeamCT2D(phantom_model="dival", angles=30, noise=0.025, n_train=0, n_validation=50, n_test=100)
    record = run_case(Case(problem, FilteredBackProjection(), seed=0))
    assert record["status"] == "ok", record["message"]
    assert record["metrics"]["psnr"] == pytest.approx(24.18, abs=0.5)
    assert record["metrics"]["ssim"] == pytest.approx(0.594, abs=0.03)
