"""The report's families of prior: the best method of each, break-even against TV, and the two figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from parity.report import learned_priors
from parity.report.analysis import select_runs


def _runs(rows: list[tuple[str, str, float, float, float, int, float]], extra: list[dict] | None = None) -> pd.DataFrame:
    """(label, solver, psnr, one-off seconds, per-image seconds, angles, evaluations per image) as selected runs; ``extra`` adds
    columns per row."""
    frame = pd.DataFrame([{
        "record_id": f"r{i}", "case_key": f"k{i}", "created_utc": "2026-01-01T00:00:00+00:00", "problem": "ct_2d",
        "problem_kind": "inverse", "problem_params.angles": angles, "solver": solver, "label": label,
        "family": "classical" if solver in ("fbp", "tv") else "sciml", "seed": 0, "status": "ok", "setup_s": 0.0, "compile_s": 0.0,
        "train_s": one_off, "reconstruction_s": per_image, "metrics.psnr": psnr, "metrics.ssim": 0.9, "metrics.nmse": 0.01,
        "info.evaluations_per_image": evaluations, **(extra[i] if extra else {}),
    } for i, (label, solver, psnr, one_off, per_image, angles, evaluations) in enumerate(rows)])
    frame["created_utc"] = pd.to_datetime(frame["created_utc"])
    return select_runs(frame)


NAN = float("nan")
RUNS = [
    ("FBP", "fbp", 25.0, 1.0, 0.001, 10, NAN), ("TV", "tv", 27.0, 40.0, 0.2, 10, NAN),
    ("DPS 20", "dps", 24.0, 1000.0, 0.5, 10, 20), ("DPS 100", "dps", 26.0, 1000.0, 2.5, 10, 100),
    ("DiffPIR", "diffpir", 26.5, 1000.0, 0.1, 10, 20), ("PnP", "pnp_admm", 27.5, 1000.0, 0.3, 10, 30),
    ("U-Net", "post_unet", 27.2, 300.0, 0.01, 10, NAN),
    ("FBP", "fbp", 29.0, 1.0, 0.001, 30, NAN), ("TV", "tv", 31.0, 90.0, 0.6, 30, NAN), ("PnP", "pnp_admm", 30.0, 1000.0, 0.3, 30, 30),
]


def test_the_best_method_of_each_family_and_its_break_even_against_tv() -> None:
    best = learned_priors.best_of_each_family(_runs(RUNS)).set_index(["setting", "approach"])
    assert best.loc[("angles=10", "diffusion"), "label"] == "DiffPIR"  # the better of the two samplers
    assert best.loc[("angles=10", "classical"), "label"] == "TV"
    assert best.loc[("angles=10", "post-processing"), "versus_tv"] == pytest.approx((300.0 - 40.0) / (0.2 - 0.01))
    assert math.isinf(best.loc[("angles=10", "plug-and-play"), "versus_tv"])  # slower per image than TV: never repaid
    assert best.loc[("angles=30", "plug-and-play"), "versus_tv"] == pytest.approx((1000.0 - 90.0) / (0.6 - 0.3))
    text = learned_priors.family_markdown(_runs(RUNS))
    assert "never (not faster per image)" in text and len(text.splitlines()) == 2 + 4 + 2  # header, rule, 4 + 2 family rows


def test_the_figures_plot_quality_against_cost_and_against_observations(tmp_path: Path) -> None:
    runs = _runs(RUNS)
    cost = learned_priors.evaluations_plot(runs, tmp_path, "ct_2d")
    observations = learned_priors.observations_plot(runs, tmp_path, "ct_2d")
    assert cost is not None and "angles=10" in cost.caption and (tmp_path / cost.name).stat().st_size > 10_000
    assert observations is not None and (tmp_path / observations.name).stat().st_size > 10_000


def test_no_figure_without_a_cost_knob_or_an_observation_axis(tmp_path: Path) -> None:
    runs = _runs([row for row in RUNS if row[5] == 30])
    assert learned_priors.evaluations_plot(runs, tmp_path, "ct_2d") is None  # one evaluation count only
    assert learned_priors.observations_plot(runs, tmp_path, "ct_2d") is None  # one angle count only


def test_an_unknown_solver_has_no_family() -> None:
    assert learned_priors.approach("not_installed") == "" and learned_priors.approach("dps") == "diffusion"


def _shifted_runs() -> pd.DataFrame:
    """FBP and DPS at 30 angles on the unshifted test split and under both shifts (DPS invents structure on heads)."""
    rows = [("FBP", "fbp", None, 29.0, 0.80, 1.0), ("FBP", "fbp", "phantoms", 28.0, 0.78, 1.5), ("FBP", "fbp", "noise", 26.0, 0.70, 9.0),
            ("DPS", "dps", None, 30.0, 0.85, 0.5), ("DPS", "dps", "phantoms", 25.0, 0.70, 6.0), ("DPS", "dps", "noise", 29.5, 0.84, 0.8)]
    return _runs([(label, solver, psnr, 1.0, 0.1, 30, NAN) for label, solver, _, psnr, _, _ in rows],
                 [{"problem_params.shift": shift, "metrics.ssim": ssim, "metrics.hallucination": score} for _, _, shift, _, ssim, score in rows])


def test_robustness_gives_each_methods_drop_under_each_shift_and_its_hallucination() -> None:
    text = learned_priors.robustness_markdown(_shifted_runs())
    lines = text.splitlines()
    assert "PSNR drop under phantoms" in lines[0] and "hallucination (%): none" in lines[0]
    dps = next(line for line in lines if line.startswith("| DPS"))
    cells = [cell.strip() for cell in dps.strip("|").split("|")]
    # method, PSNR, then (PSNR, SSIM) drops under noise and phantoms (sorted), then hallucination none / noise / phantoms
    assert cells == ["DPS", "30.00", "+0.50", "+0.010", "+5.00", "+0.150", "0.5", "0.8", "6.0"]


def test_shifted_test_splits_stay_out_of_the_family_table() -> None:
    best = learned_priors.best_of_each_family(_shifted_runs())
    assert sorted(best["psnr"]) == [29.0, 30.0]  # the unshifted runs only
    assert learned_priors.robustness_markdown(_runs(RUNS)) == ""  # no shift studied: no section


def test_fewer_observations_sets_each_method_beside_itself_trained_for_them() -> None:
    """A U-Net trained at 30 angles and scored at 10, against the U-Net trained at 10 on the same test split."""
    rows = [("U-Net", "post_unet", 31.0, 30, "none"), ("U-Net", "post_unet", 20.0, 30, "observations"),
            ("U-Net", "post_unet", 27.5, 10, "none"), ("U-Net", "post_unet", 26.0, 90, "none"),
            ("TV", "tv", 31.0, 30, "none"), ("TV", "tv", 27.0, 30, "observations")]  # no TV trained for 10: its gap is unknown
    runs = _runs([(label, solver, psnr, 1.0, 0.1, angles, NAN) for label, solver, psnr, angles, _ in rows],
                 [{"problem_params.shift": shift, "problem_params.image_size": 64} for *_, shift in rows])
    lines = learned_priors.fewer_observations_markdown(runs).splitlines()
    cells = {line.split("|")[1].strip(): [cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]}
    assert cells["U-Net"] == ["U-Net", "angles=30", "angles=10", "31.00", "20.00", "27.50", "+7.50"]
    assert cells["TV"] == ["TV", "angles=30", "angles=10", "31.00", "27.00", "—", "—"]
    assert learned_priors.fewer_observations_markdown(_shifted_runs()) == ""  # other shifts only: no section
