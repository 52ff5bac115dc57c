"""The learned weakly convex ridge regulariser: its weak convexity, its denoiser, its reconstruction, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from conftest import silent

from parity.harness.run import Case, UnsupportedError, run_case
from parity.knobs import ParameterError
from parity.numerics import image_quality
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.problems.seismic_2d import SeismicFWI2D
from parity.solvers.base import Budget
from parity.solvers.priors.ridge import RegulariserConfig, denoise_batch, spectral_norm, trained_regulariser
from parity.solvers.priors.wcrr import LAMBDA_GRID, SIGMA_GRID, WeaklyConvexRidge
from parity.solvers.reconstruction.fbp import FilteredBackProjection

TINY = {"regulariser_channels": 8, "regulariser_patch": 16, "regulariser_unroll": 10, "regulariser_steps": 300}
"""A regulariser small enough to train in well under a minute on 16 x 16 patches."""


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PARITY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


def tiny_ct() -> ParallelBeamCT2D:
    return ParallelBeamCT2D(image_size=32, angles=10, n_train=300, n_validation=8, n_test=8)


def psnr(images: np.ndarray, truths: np.ndarray) -> float:
    return float(np.mean([image_quality.psnr(a, b) for a, b in zip(images, truths, strict=True)]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_parameters_give_a_one_weakly_convex_regulariser_with_the_gradient_of_its_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    untrained = RegulariserConfig(regulariser_channels=6, regulariser_knots=8, regulariser_seed=seed).regulariser()
    params, static = eqx.partition(untrained, eqx.is_inexact_array)
    randomised = jax.tree.map(lambda leaf: leaf + jnp.asarray(3 * rng.standard_normal(leaf.shape), jnp.float32), params)
    regulariser = eqx.combine(randomised, static)
    regulariser = eqx.tree_at(lambda r: r.norm, regulariser, spectral_norm(regulariser.kernels, (16, 16), 300, jax.random.key(0)))
    sigma = 0.05
    x, y = (jnp.asarray(rng.standard_normal((16, 16)), jnp.float32) for _ in range(2))
    # 1-weak convexity: <grad R(x) - grad R(y), x - y> >= -|x - y|^2.
    monotone = jnp.sum((regulariser.gradient(x, sigma) - regulariser.gradient(y, sigma)) * (x - y))
    assert monotone >= -1.0001 * jnp.sum((x - y) ** 2)
    assert np.all(np.asarray(regulariser.slopes(sigma)) >= -1.0)
    np.testing.assert_allclose(regulariser.gradient(x, sigma), jax.grad(regulariser)(x, sigma), rtol=1e-3, atol=1e-4)


def test_the_trained_regulariser_denoises_better_than_the_best_gaussian_filter_and_is_cached_with_its_seconds() -> None:
    problem = tiny_ct()
    config = RegulariserConfig(**TINY)
    trained = trained_regulariser(problem.dataset("train").truths, problem.dataset("validation").truths, config, silent)
    truths = problem.dataset("test").truths  # held out
    rng = np.random.default_rng(5)
    for sigma in (0.01, 0.02):  # where 300 steps of this small model win on every seed tried (by 0.9 dB at 0.01, 2 dB at 0.02)
        noisy = (truths + sigma * rng.standard_normal(truths.shape)).astype(np.float32)
        denoised = np.asarray(denoise_batch(trained.model, jnp.asarray(noisy), jnp.float32(sigma)))
        gaussian = max(psnr(scipy.ndimage.gaussian_filter(noisy, (0, width, width)), truths) for width in (0.5, 0.75, 1.0, 1.5, 2.0))
        assert psnr(denoised, truths) > max(psnr(noisy, truths), gaussian) + 0.5, sigma
    again = trained_regulariser(problem.dataset("train").truths, problem.dataset("validation").truths, config, silent)
    assert again.from_cache and again.train_s == trained.train_s > 0


def test_the_reconstruction_converges_and_beats_tuned_fbp_with_the_training_charged() -> None:
    problem = tiny_ct()
    fbp = run_case(Case(problem, FilteredBackProjection(), 0, Budget(steps=1)))["metrics"]["psnr"]
    record = run_case(Case(problem, WeaklyConvexRidge(iterations=200, tuning_samples=2, **TINY), 0, Budget(steps=1)))
    assert record["status"] == "ok", record["message"]
    assert record["metrics"]["psnr"] > fbp + 1.0, (record["metrics"]["psnr"], fbp)
    assert record["info"]["last_relative_change"] < 1e-3
    assert record["train_s"] >= record["info"]["regulariser_train_s"] > 0
    assert len(record["info"]["validation_psnr_by_setting"]) == len(LAMBDA_GRID) * len(SIGMA_GRID)


def test_a_weight_without_its_sigma_and_a_nonlinear_problem_are_refused() -> None:
    with pytest.raises(ParameterError, match="give both weight"):
        WeaklyConvexRidge(weight=0.1)
    with pytest.raises(ParameterError, match="integer >= 1"):
        WeaklyConvexRidge(iterations=0)
    with pytest.raises(UnsupportedError, match="needs a linear inverse problem"):
        Case(SeismicFWI2D(), WeaklyConvexRidge())


def test_a_problem_without_training_truths_is_refused_saying_so() -> None:
    problem = ParallelBeamCT2D(image_size=16, angles=10, n_train=0, n_validation=2, n_test=2)
    record = run_case(Case(problem, WeaklyConvexRidge(**TINY), 0, Budget(steps=1)))
    assert record["status"] == "error" and "train split is empty (set n_train >= 1)" in record["message"]

