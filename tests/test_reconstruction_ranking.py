"""Rankings on held-out phantoms: the direct baseline, then TV, and a learned method level with TV.

A test-sized learned GD (16 channels instead of 32, 1000 batch-1 steps on 500 phantoms,
about a minute and a half on two CPU cores) against FBP / zero-filling and TV tuned on
the validation split; the sweeps in ``sweeps/ct_2d*.toml`` and ``sweeps/mri_2d.toml``
give full-size numbers. Measured on a 2-core machine (PSNR, dB):

=====  ====================  =====  ===========================================
case   direct baseline       TV     learned GD at 1000 steps (2000 steps)
=====  ====================  =====  ===========================================
CT     29.34 (FBP)           31.13  31.35 (31.6)
MRI    24.39 (zero-filled)   25.95  26.08
=====  ====================  =====  ===========================================

At this budget the learned method's lead over TV (0.1-0.5 dB) is within what one seed's
training outcome moves between processors (XLA compiles different CPU code), so the
tests claim what holds with a margin: TV gains over the baseline, and the learned method
gains at least three quarters of TV's gain (measured: 108-112%), the baseline being a
deterministic classical reconstruction.
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
LEARNING_STEPS = 1000
SPLITS = {"image_size": 64, "n_train": 500, "n_validation": 50, "n_test": 50}


def _psnr(problem: InverseProblem, solver: Solver, steps: int = 1) -> float:
    record = run_case(Case(problem, solver, seed=0, budget=Budget(steps=steps)))
    assert record["status"] == "ok", record["message"]
    return record["metrics"]["psnr"]


def _assert_ranking(baseline: float, tv: float, learned: float) -> None:
    assert baseline + 1.0 < tv, (baseline, tv)
    assert learned - baseline > 0.75 * (tv - baseline), (baseline, tv, learned)


@pytest.mark.slow
def test_ct_ranking_fbp_tv_learned_gd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 x 64 ellipses, 30 angles, 5% noise: FBP well below TV, learned GD level with TV, on the test split."""
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    problem = ParallelBeamCT2D(angles=30, noise=0.05, **SPLITS)
    fbp = _psnr(problem, FilteredBackProjection())
    tv = _psnr(problem, TVReconstruction(tuning_samples=10))
    learned = _psnr(problem, LEARNED, LEARNING_STEPS)
    _assert_ranking(fbp, tv, learned)


@pytest.mark.slow
def test_mri_ranking_zero_filled_cs_tv_learned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 x 64 ellipses, random mask at 4x: zero-filled well below CS-TV, unrolled learned GD level with it."""
    monkeypatch.setenv("PARITY_CACHE_DIR", str(tmp_path))
    problem = CartesianMRI2D(acceleration=4, **SPLITS)
    zero_filled = _psnr(problem, ZeroFilled())
    tv = _psnr(problem, TVReconstruction(tuning_samples=10))
    learned = _psnr(problem, LEARNED, LEARNING_STEPS)
    _assert_ranking(zero_filled, tv, learned)
