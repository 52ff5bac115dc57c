"""The issue's rankings on held-out phantoms: classical baselines, then TV, then a learned method.

A test-sized learned GD (16 channels instead of 32, 2000 batch-1 steps on 500 phantoms,
about three minutes on two CPU cores) against FBP and TV tuned on the validation split;
the sweeps in ``sweeps/ct_2d*.toml`` and ``sweeps/mri_2d.toml`` give full-size numbers.
On this 2-core machine: CT FBP 29.3, TV 31.1, learned GD 31.6 dB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.harness.run import Case, run_case
from parity.problems.ct_2d import ParallelBeamCT2D
from parity.problems.inverse import InverseProblem
from parity.problems.mri_2d import CartesianMRI2D
from parity.solvers.base import Budget, Solver
from parity.solvers.reconstruction.fbp import FilteredBackProjection
from parity.solvers.reconstruction.learned_gd import LearnedGradientDescent
from parity.solvers.reconstruction.tv_reconstruction import TVReconstruction
from parity.solvers.reconstruction.zero_filled import ZeroFilled

LEARNED = LearnedGradientDescent(channels=16, batch_size=1, learning_rate=3e-3, checkpoint_every=500)
LEARNING_STEPS = 2000
SPLITS = {"image_size": 64, "n_train": 500, "n_validation": 50, "n_test": 50}


def _psnr(problem: InverseProblem, solver: Solver, steps: int = 1) -> float:
    record = run_case(Case(problem, solver, seed=0, budget=Budget(steps=steps)))
    assert record["status"] == "ok", record["message"]
    return record["metrics"]["psnr"]


@pytest.mark.slow
def test_ct_ranking_fbp_tv_learned_gd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 x 64 ellipses, 30 angles, 5% noise: FBP < TV < learned GD on the test split."""
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    problem = ParallelBeamCT2D(angles=30, noise=0.05, **SPLITS)
    fbp = _psnr(problem, FilteredBackProjection())
    tv = _psnr(problem, TVReconstruction(tuning_samples=10))
    learned = _psnr(problem, LEARNED, LEARNING_STEPS)
    assert fbp + 1.0 < tv < learned, (fbp, tv, learned)


@pytest.mark.slow
def test_mri_ranking_zero_filled_cs_tv_learned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 x 64 ellipses, random mask at 4x: zero-filled < CS-TV < unrolled learned GD on the test split."""
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    problem = CartesianMRI2D(acceleration=4, **SPLITS)
    zero_filled = _psnr(problem, ZeroFilled())
    tv = _psnr(problem, TVReconstruction(tuning_samples=10))
    learned = _psnr(problem, LEARNED, LEARNING_STEPS)
    assert zero_filled + 1.0 < tv < learned, (zero_filled, tv, learned)
