"""The ``observations`` shift: every method trains and tunes with ``operator()``, then reconstructs a test split measured
with fewer observations by ``test_operator()`` (a third of CT's angles, twice MRI's acceleration)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from parity.harness.run import Case, run_case
from parity.knobs import ParameterError
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.problems.inverse import InverseProblem
from parity.problems.mri_2d import CartesianMRI2D
from parity.solvers.base import Budget, Solver
from parity.solvers.priors.diffpir import DiffPIR
from parity.solvers.priors.dps import DiffusionPosteriorSampling
from parity.solvers.priors.pnp import PlugAndPlayADMM
from parity.solvers.priors.wcrr import WeaklyConvexRidge
from parity.solvers.reconstruction.dip_tv import DeepImagePriorTV
from parity.solvers.reconstruction.fbp import FilteredBackProjection
from parity.solvers.reconstruction.learned_gd import LearnedGradientDescent
from parity.solvers.reconstruction.learned_pd import LearnedPrimalDual
from parity.solvers.reconstruction.post_unet import PostProcessingUNet
from parity.solvers.reconstruction.tv_reconstruction import TVReconstruction
from parity.solvers.reconstruction.zero_filled import ZeroFilled

SMALL = {"image_size": 32, "n_train": 40, "n_validation": 2, "n_test": 3}
PRIOR = {"prior_channels": 8, "prior_steps": 20, "tuning_samples": 1}
REGULARISER = {"regulariser_channels": 4, "regulariser_patch": 16, "regulariser_unroll": 2, "regulariser_steps": 5, "iterations": 20,
               "tuning_samples": 1}


def ct(**knobs: object) -> ParallelBeamCT2D:
    return ParallelBeamCT2D(**SMALL, angles=12, **knobs)  # type: ignore[arg-type]


def mri(**knobs: object) -> CartesianMRI2D:
    return CartesianMRI2D(**SMALL, acceleration=4, **knobs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PARITY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.parametrize(("make", "sparser"), [
    (ct, lambda: ParallelBeamCT2D(**SMALL, angles=4)),
    (lambda **kw: ct(phantom_model="dival", **kw), lambda: ParallelBeamCT2D(**SMALL, angles=4, phantom_model="dival")),
    (mri, lambda: CartesianMRI2D(**SMALL, acceleration=8)),
], ids=["ct", "ct_dival", "mri"])
def test_the_test_split_is_the_sparser_problem_s_and_the_other_splits_are_unchanged(make, sparser) -> None:  # noqa: ANN001
    base, shifted, target = make(), make(shift="observations"), sparser()
    assert shifted.operator() is base.operator() and shifted.test_operator() is target.operator()
    assert base.test_operator() is base.operator() and base.test_setting() == {}
    assert dataclasses.replace(base, **shifted.test_setting()).operator() is target.operator()  # what it could have been trained for
    for split in ("train", "validation"):
        np.testing.assert_array_equal(shifted.dataset(split).observations, base.dataset(split).observations)
    test, expected = shifted.dataset("test"), target.dataset("test")
    np.testing.assert_array_equal(test.truths, base.dataset("test").truths)  # the same truths, measured with fewer observations
    np.testing.assert_array_equal(test.observations, expected.observations)
    np.testing.assert_array_equal(test.truths, expected.truths)


def test_settings_with_too_few_observations_to_remove_are_refused_with_the_range() -> None:
    with pytest.raises(ParameterError, match=r"ct_2d: shift = 'observations' .* needs angles >= 3; got angles = 2"):
        ParallelBeamCT2D(angles=2, shift="observations")
    with pytest.raises(ParameterError, match=r"mri_2d: shift = 'observations' .* needs acceleration <= 16; got acceleration = 20"):
        CartesianMRI2D(acceleration=20, shift="observations")


SOLVERS: list[tuple[str, Solver, object]] = [
    ("fbp", FilteredBackProjection(), ct),
    ("tv_ct", TVReconstruction(iterations=50, tuning_samples=2), ct),
    ("tv_mri", TVReconstruction(iterations=50, tuning_samples=2), mri),
    ("zero_filled", ZeroFilled(), mri),
    ("learned_gd", LearnedGradientDescent(iterations=3, channels=8, batch_size=4, checkpoint_every=20), ct),
    ("learned_pd", LearnedPrimalDual(iterations=3, channels=8, batch_size=4, checkpoint_every=20, start="pseudo_inverse"), mri),
    ("post_unet", PostProcessingUNet(channels=8, batch_size=4, checkpoint_every=20), ct),
    ("dip_tv", DeepImagePriorTV(iterations=400, weight=3e-3, learning_rate=2e-3, sigmoid=False), ct),
    ("pnp_admm", PlugAndPlayADMM(iterations=5, **PRIOR), ct),
    ("diffpir", DiffPIR(evaluations=5, **PRIOR), mri),
    ("dps", DiffusionPosteriorSampling(evaluations=25, **PRIOR), ct),
    ("wcrr", WeaklyConvexRidge(**REGULARISER), ct),
]


@pytest.mark.parametrize(("solver", "make"), [(solver, make) for _, solver, make in SOLVERS], ids=[name for name, _, _ in SOLVERS])
def test_every_reconstruction_method_scores_lower_on_fewer_observations_with_the_same_tuning(solver: Solver, make) -> None:  # noqa: ANN001
    problems: dict[str, InverseProblem] = {"none": make(), "observations": make(shift="observations")}
    records = {shift: run_case(Case(problem, solver, 0, Budget(steps=20)), None) for shift, problem in problems.items()}
    for record in records.values():
        assert record["status"] == "ok", record["message"]
    assert records["observations"]["metrics"]["psnr"] < records["none"]["metrics"]["psnr"] - 1.0
    info = {shift: record["info"] for shift, record in records.items()}
    for key in ("tuned", "weight", "sigma", "best_step"):  # chosen on the same validation split, so chosen alike
        if key in info["none"]:
            assert info["observations"][key] == info["none"][key]
