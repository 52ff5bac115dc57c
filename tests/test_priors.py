"""The learned denoising prior and the solvers built on it: denoiser quality, samplers against FBP, spread, PnP, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from conftest import silent

from parity.evaluation import Evaluator
from parity.harness.run import Case, UnsupportedError, run_case
from parity.harness.store import Store
from parity.knobs import ParameterError
from parity.numerics import image_quality
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.problems.mri_2d import CartesianMRI2D
from parity.problems.seismic_2d import SeismicFWI2D
from parity.solvers.base import Budget
from parity.solvers.priors.denoiser import PriorConfig, denoise_batch, trained_prior
from parity.solvers.priors.diffpir import DiffPIR
from parity.solvers.priors.dps import DiffusionPosteriorSampling
from parity.solvers.priors.pnp import PlugAndPlayADMM
from parity.solvers.priors.sampling import noise_levels, sample_posterior
from parity.solvers.reconstruction.fbp import FilteredBackProjection

TINY_PRIOR = {"prior_channels": 16, "prior_steps": 1000, "prior_batch": 16, "prior_learning_rate": 2e-3}
"""A prior small enough to train in a minute on 32 x 32 phantoms (0.13 M parameters); at 400 steps and 8 channels
it beat the Gaussian filter but not the samplers' FBP margin."""
SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5)


def tiny_ct(angles: int = 10, n_test: int = 8) -> ParallelBeamCT2D:
    return ParallelBeamCT2D(image_size=32, angles=angles, n_train=300, n_validation=8, n_test=n_test)


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PARITY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


def psnr(images: np.ndarray, truths: np.ndarray) -> float:
    return float(np.mean([image_quality.psnr(a, b) for a, b in zip(images, truths, strict=True)]))


def run(solver: object, problem: ParallelBeamCT2D | CartesianMRI2D, seed: int = 0, store: Store | None = None) -> dict:
    return run_case(Case(problem, solver, seed, Budget(steps=1)), store)  # type: ignore[arg-type]


def test_denoiser_beats_the_identity_and_the_best_gaussian_filter_at_every_noise_level() -> None:
    problem = tiny_ct()
    prior = trained_prior(problem.dataset("train").truths, problem.dataset("validation").truths, PriorConfig(**TINY_PRIOR), silent)
    truths = problem.dataset("test").truths  # held out: neither trained nor chosen on
    rng = np.random.default_rng(5)
    for sigma in SIGMAS:
        noisy = (truths + sigma * rng.standard_normal(truths.shape)).astype(np.float32)
        denoised = np.asarray(denoise_batch(prior.model, jnp.asarray(noisy), jnp.float32(sigma)))
        gaussian = max(psnr(scipy.ndimage.gaussian_filter(noisy, (0, width, width)), truths) for width in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0))
        assert psnr(denoised, truths) > max(psnr(noisy, truths), gaussian) + 0.3, sigma
    again = trained_prior(problem.dataset("train").truths, problem.dataset("validation").truths, PriorConfig(**TINY_PRIOR), silent)
    assert again.from_cache and again.train_s == prior.train_s > 0  # the cached prior carries its training seconds


@pytest.mark.slow
@pytest.mark.parametrize("solver", [DiffusionPosteriorSampling(evaluations=50, samples=4, tuning_samples=2, **TINY_PRIOR),
                                    DiffPIR(evaluations=20, tuning_samples=2, **TINY_PRIOR)], ids=["dps", "diffpir"])
def test_samplers_with_the_trained_prior_beat_tuned_fbp(solver: object) -> None:
    problem = tiny_ct()
    fbp = run(FilteredBackProjection(), problem)["metrics"]["psnr"]
    scores = [run(solver, problem, seed) for seed in (0, 1)]
    for record in scores:
        assert record["status"] == "ok", record["message"]
        assert record["metrics"]["psnr"] > fbp + 1.0, (record["metrics"]["psnr"], fbp)
        assert record["train_s"] >= record["info"]["prior_train_s"] > 0  # the prior's training is charged
        assert record["info"]["evaluations_per_image"] == (200 if solver.name == "dps" else 20)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_samples_differ_across_seeds_and_spread_more_where_the_data_say_less(tmp_path) -> None:  # noqa: ANN001
    store = Store(tmp_path / "store")
    sampler = DiffPIR(evaluations=15, samples=4, weight=1e-4, **TINY_PRIOR)
    few, many = tiny_ct(angles=3, n_test=4), tiny_ct(angles=40, n_test=4)
    records = {seed: run(sampler, few, seed, store) for seed in (0, 1)}
    pictures = [np.load(tmp_path / "store" / r["field_path"]) for r in records.values()]
    assert np.max(np.abs(pictures[0] - pictures[1])) > 1e-3  # another seed, another draw
    spread = np.load(tmp_path / "store" / records[0]["spread_path"])
    assert spread.shape == (32, 32) and np.all(spread >= 0) and spread.max() > 0
    assert records[0]["info"]["mean_spread"] > 1.5 * run(sampler, many, 0)["info"]["mean_spread"]


def test_plug_and_play_fixed_point_residual_falls() -> None:
    record = run(PlugAndPlayADMM(iterations=30, tuning_samples=2, **TINY_PRIOR), tiny_ct())
    assert record["status"] == "ok", record["message"]
    trace = record["info"]
    residuals = trace["fixed_point_residuals"]
    assert residuals[-1] < 0.1 * residuals[0]
    assert record["info"]["evaluations_per_image"] == 30


def test_mri_is_served_by_the_same_kind_of_prior() -> None:
    problem = CartesianMRI2D(image_size=32, acceleration=4, n_train=300, n_validation=8, n_test=4)
    record = run(PlugAndPlayADMM(iterations=20, tuning_samples=2, **TINY_PRIOR), problem)
    assert record["status"] == "ok", record["message"]
    zero_filled = psnr(np.abs(np.stack([problem.operator().pseudo_inverse(y) for y in problem.dataset("test").observations])),
                       problem.dataset("test").truths)
    assert record["metrics"]["psnr"] > zero_filled + 1.0


def test_a_nonlinear_operator_is_refused_with_what_is_needed() -> None:
    with pytest.raises(UnsupportedError, match="needs a linear inverse problem"):
        Case(SeismicFWI2D(), DiffusionPosteriorSampling())


@pytest.mark.parametrize(("solver", "knobs", "allowed"), [
    (DiffusionPosteriorSampling, {"evaluations": 0}, "integer >= 1"),
    (DiffPIR, {"evaluations": 0}, "integer >= 1"),
    (DiffusionPosteriorSampling, {"weight": -1.0}, "number >= 0"),
    (PlugAndPlayADMM, {"weight": -0.1}, "number >= 0"),
    (DiffPIR, {"zeta": 1.5}, "number in \\[0, 1\\]"),
    (DiffusionPosteriorSampling, {"samples": 0}, "integer >= 1"),
])
def test_bad_knobs_are_refused_with_the_allowed_range(solver: type, knobs: dict, allowed: str) -> None:
    with pytest.raises(ParameterError, match=allowed):
        solver(**knobs)


def test_an_image_the_unet_cannot_halve_is_refused() -> None:
    record = run(PlugAndPlayADMM(prior_levels=4, **TINY_PRIOR), ParallelBeamCT2D(image_size=36, n_train=4, n_validation=2, n_test=2))
    assert record["status"] == "error" and "divisible by 8" in record["message"]


def test_a_non_finite_sample_is_diverged_and_finished_images_are_kept() -> None:
    def step(x, y, sigma, sigma_next, key, weight):  # noqa: ANN001, ANN202 - a sampler whose draws follow the data
        return jnp.zeros_like(x) + y.reshape(len(y), -1)[:, :1, None]

    observations = np.ones((5, 4, 4), np.float32)
    observations[3] = np.nan
    result = sample_posterior(step, observations, (4, 4), evaluations=3, samples=2, weight=1.0, seed=0, chunk=2)
    assert result.finished == 2 and "test image 3" in result.message
    assert np.all(np.isfinite(result.mean[:2])) and np.all(np.isnan(result.mean[2:]))


def test_a_sampler_whose_test_data_turn_non_finite_is_recorded_diverged() -> None:
    problem = tiny_ct(n_test=4)
    test = problem.dataset("test")
    observations = test.observations.copy()
    observations[2:] = np.nan
    solver = DiffusionPosteriorSampling(evaluations=3, weight=1.0, batch=2, **TINY_PRIOR)  # the misfit's gradient carries the NaN
    result = solver.solve(problem, Budget(steps=1), 0, Evaluator(observations, test.truths, None, problem.extra_metrics), silent)
    assert result.status == "diverged" and result.info["finished_images"] == 2
    assert result.predict is not None and np.all(np.isfinite(result.predict(observations)[:2]))


def test_the_noise_schedule_falls_to_zero_with_one_level_per_evaluation() -> None:
    levels = noise_levels(10)
    assert len(levels) == 11 and levels[-1] == 0 and np.all(np.diff(levels) < 0)
