"""Inverse problems by family of prior: the best method of each family, break-even against TV, and two figures.

A family is the way a method brings prior knowledge into the reconstruction (the solver's
``approach``): classical (FBP, TV, zero-filling), unrolled optimisers, diffusion samplers,
plug-and-play, post-processing, learned regulariser, deep image prior. Per setting, the table names each family's
best method by median PSNR with its break-even against TV (the classical method a learned
prior must beat to matter); the figures show quality against network evaluations per image
(the samplers' cost knob) and against the observations (the best of each family per
number of angles or acceleration): how the algorithm should change as data decrease.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from parity.harness import registry
from parity.report import analysis
from parity.harness.store import Store
from parity.problems.inverse import InverseProblem
from parity.report.plots import PicturedSetting, Plot, _file_name, _panels, _picture, _save, _save_picture
from parity.report.text import pipe_table, seconds_text

OBSERVATION_KNOBS = ("angles", "acceleration")
"""Scale knobs that count observations (more angles, more data; higher acceleration, less)."""
EVALUATIONS = "info.evaluations_per_image"
SHIFT = f"{analysis.PARAM_PREFIX}shift"
"""The problem knob that shifts the test split (``phantoms``, ``noise``, ``observations``) away from the training distribution."""


def approach(solver: str) -> str:
    """The solver's family of prior, or '' for a solver this install does not know."""
    try:
        return registry.solver_class(solver).approach
    except (registry.UnknownNameError, AttributeError):
        return ""


def in_distribution(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose test split is drawn like the training data (no ``shift``, or shift = none)."""
    return runs[runs[SHIFT].fillna("none") == "none"] if SHIFT in runs else runs


def family_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The reconstruction table with each label's family and its break-even against TV at the same setting (unshifted tests)."""
    runs = in_distribution(runs)
    table = analysis.reconstruction_table(runs)
    solver_of = runs.groupby("label")["solver"].first()
    table["approach"] = table["label"].map(lambda label: approach(solver_of[label]))
    table["versus_tv"] = np.nan
    for _, rows in table.groupby(["problem", "setting"], sort=False):
        tv = rows[rows["label"].map(solver_of) == "tv"]
        if tv.empty:
            continue
        reference = tv.iloc[0]
        for index, row in rows[rows["family"] == "sciml"].iterrows():
            saving = reference["per_image_s"] - row["per_image_s"]
            table.loc[index, "versus_tv"] = max(0.0, (row["one_off_s"] - reference["one_off_s"]) / saving) if saving > 0 else np.inf
    return table


def best_of_each_family(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting and family, the row of :func:`family_table` with the highest median PSNR."""
    table = family_table(runs)
    if "psnr" not in table:  # velocity models (FWI) are ranked by their error, and have no families of prior
        return table.iloc[0:0]
    table = table.dropna(subset=["psnr"])
    order = {setting: i for i, setting in enumerate(table["setting"].unique())}  # the runs' order: numeric, not by text
    best = table.sort_values("psnr", ascending=False, kind="stable").groupby(["problem", "setting", "approach"], sort=False).head(1)
    return best.assign(_order=best["setting"].map(order)).sort_values(["problem", "_order", "psnr"], ascending=[True, True, False],
                                                                      kind="stable").drop(columns="_order")


def family_markdown(runs: pd.DataFrame) -> str:
    """The best method of each family per setting, with its one-off and per-image cost and its break-even against TV."""
    best = best_of_each_family(runs)
    if best.empty or best["approach"].nunique() < 2:
        return ""
    rows = []
    for _, r in best.iterrows():
        if r["family"] == "classical":
            against = "—"
        elif math.isnan(r["versus_tv"]):
            against = "no TV run"
        elif math.isinf(r["versus_tv"]):
            against = "never (not faster per image)"
        else:
            against = f"{math.ceil(r['versus_tv'])} images"
        rows.append([r["setting"], r["approach"] or "?", r["label"], f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", seconds_text(r["one_off_s"]),
                     seconds_text(r["per_image_s"]), against])
    return pipe_table(["setting", "family", "best method", "PSNR (dB)", "SSIM", "one-off", "per image", "break-even vs TV"], rows)


def evaluations_plot(runs: pd.DataFrame, out_dir: Path, problem: str) -> Plot | None:
    """PSNR against denoiser evaluations per image, one line per prior-based solver, at the setting where one solver ran the most counts."""
    if EVALUATIONS not in runs:
        return None
    sampled = runs.dropna(subset=[EVALUATIONS, analysis.quality_column("psnr")])
    if sampled.empty:
        return None
    setting = sampled.groupby(["setting", "solver"])[EVALUATIONS].nunique().groupby("setting").max().idxmax()
    chosen = sampled[sampled["setting"] == setting]
    if chosen[EVALUATIONS].nunique() < 2:
        return None
    fig, axes = _panels(1)
    ax = axes[0]
    samples = pd.to_numeric(chosen["solver_config.samples"], errors="coerce").fillna(1) if "solver_config.samples" in chosen else 1
    for (solver, count), group in chosen.assign(_samples=samples).groupby(["solver", "_samples"], sort=True):
        stats = group.groupby(EVALUATIONS)[analysis.quality_column("psnr")].agg(["median", "min", "max"]).sort_index()
        ax.errorbar(stats.index, stats["median"], yerr=[stats["median"] - stats["min"], stats["max"] - stats["median"]], marker="o", capsize=3,
                    label=solver if solver == "pnp_admm" else f"{solver}, {count:g} sample{'s' if count != 1 else ''} per image")
    for label, group in runs[(runs["setting"] == setting) & (runs["solver"] == "tv")].groupby("label"):
        ax.axhline(group[analysis.quality_column("psnr")].median(), color="black", linestyle="--", linewidth=1, label=label)
    ax.set_xscale("log")
    ax.set(xlabel="network evaluations per image", ylabel="mean test PSNR (dB)", title=f"{problem} ({setting}): quality against cost")
    name = _file_name("psnr_vs_evaluations", problem)
    _save(fig, axes, out_dir / name)
    return Plot(name, f"{problem}, {setting}: test PSNR against denoiser evaluations per image (evaluations per sample times samples) "
                      "for each prior-based solver and number of samples averaged (median over sampling seeds, min-max bars), TV dashed")


def observations_plot(runs: pd.DataFrame, out_dir: Path, problem: str) -> Plot | None:
    """The best median PSNR of each family against the observation knob (angles, or acceleration reversed)."""
    knob = next((k for k in OBSERVATION_KNOBS if f"{analysis.PARAM_PREFIX}{k}" in analysis.varying_params(runs)), None)
    if knob is None:
        return None
    column = f"{analysis.PARAM_PREFIX}{knob}"
    table = family_table(runs)
    runs = in_distribution(runs)
    if "psnr" not in table:
        return None
    setting_value = runs.groupby("setting")[column].first()
    table["x"] = pd.to_numeric(table["setting"].map(setting_value))
    fig, axes = _panels(1)
    ax = axes[0]
    for family, rows in table.dropna(subset=["psnr"]).groupby("approach", sort=True):
        best = rows.sort_values("psnr", ascending=False).groupby("x").head(1).sort_values("x")
        ax.plot(best["x"], best["psnr"], marker="o", label=family or "?", linestyle="--" if family == "classical" else "-")
    ax.set_xscale("log", base=2)
    if knob == "acceleration":
        ax.invert_xaxis()
    ax.set(xlabel=f"{knob} ({'fewer observations to the right' if knob == 'acceleration' else 'more observations to the right'})",
           ylabel="best mean test PSNR (dB)", title=f"{problem}: each family's best against {knob}")
    name = _file_name("family_vs_observations", problem)
    _save(fig, axes, out_dir / name)
    return Plot(name, f"{problem}: the best method of each family of prior (median over seeds) against {knob}")


def spread_pictures(pictured: list[PicturedSetting], store: Store, out_dir: Path, problem: str) -> list[Plot]:
    """Per pictured setting, each sampler's per-pixel spread over its samples beside the error of their mean (first test image)."""
    plots = []
    for item in pictured:
        sampled = [row for row in item.chosen if isinstance(row.get("spread_path"), str) and row["spread_path"]]
        spreads = [np.load(Path(store.root) / row["spread_path"]) for row in sampled]
        shown = [(row, spread) for row, spread in zip(sampled, spreads, strict=True) if float(spread.max()) > 0]  # one sample: no spread
        if not shown:
            continue
        fig, axes = plt.subplots(2, len(shown), figsize=(max(3.4 * len(shown), 5.0), 6.4), squeeze=False)
        for column, (row, spread) in enumerate(shown):
            error = np.abs(store.field(row) - item.truth)
            top = float(np.percentile(np.concatenate([spread.ravel(), error.ravel()]), 99.5))
            _picture(fig, axes[0, column], spread, item.snapshot.extent, f"{row['label']}\nper-pixel spread", "magma", 0.0, top)
            _picture(fig, axes[1, column], error, item.snapshot.extent, "|error| of the mean", "magma", 0.0, top)
        fig.suptitle(f"{item.heading}:\nsample spread against error", fontsize="medium")
        name = _file_name("spread", problem, item.index)
        _save_picture(fig, out_dir / name)
        plots.append(Plot(name, f"{item.heading}: each sampler's per-pixel spread over its samples (first test image) above the error of "
                                "their mean, on one colour scale"))
    return plots


def robustness_markdown(runs: pd.DataFrame) -> str:
    """Each method's quality on the unshifted test split and its drop under each shift, where a study ran the shifts.

    Rows pair runs that differ only in ``shift`` (same label and other knobs); the drop is the
    median over seeds unshifted minus the median shifted, so a positive drop is a loss. The
    hallucination score (share of the truth's flat pixels where the reconstruction shows an
    edge) is given per shift: a rise under a phantom shift is structure the method invented.
    """
    if SHIFT not in runs or runs[SHIFT].fillna("none").nunique() < 2:
        return ""
    runs = runs.assign(**{SHIFT: runs[SHIFT].fillna("none")})
    others = [c for c in analysis.varying_params(runs) if c != SHIFT]
    shifts = [s for s in sorted(runs[SHIFT].unique()) if s != "none"]
    metrics = [m for m in ("psnr", "ssim", "hallucination") if analysis.quality_column(m) in runs]
    medians = runs.groupby(["label", *others, SHIFT], dropna=False)[[analysis.quality_column(m) for m in metrics]].median()
    headers = ["method", *[c.removeprefix(analysis.PARAM_PREFIX) for c in others], "PSNR (dB)"]
    headers += [f"{name} drop under {shift}" for shift in shifts for name in ("PSNR", "SSIM")]
    if "hallucination" in metrics:
        headers += ["hallucination (%): none", *shifts]
    rows = []
    for key, group in medians.groupby(level=["label", *others], sort=False, dropna=False):
        by_shift = group.droplevel(list(range(group.index.nlevels - 1)))
        if "none" not in by_shift.index or not any(s in by_shift.index for s in shifts):
            continue
        base = by_shift.loc["none"]
        key = key if isinstance(key, tuple) else (key,)
        row = [str(k) for k in key] + [f"{base[analysis.quality_column('psnr')]:.2f}"]
        for shift in shifts:
            for metric, digits in (("psnr", 2), ("ssim", 3)):
                column = analysis.quality_column(metric)
                row.append(f"{base[column] - by_shift.loc[shift, column]:+.{digits}f}" if shift in by_shift.index else "—")
        if "hallucination" in metrics:
            column = analysis.quality_column("hallucination")
            row += [f"{by_shift.loc[s, column]:.1f}" if s in by_shift.index and pd.notna(by_shift.loc[s, column]) else "—"
                    for s in ("none", *shifts)]
        rows.append(row)
    return pipe_table(headers, rows) if rows else ""


def fewer_observations_markdown(runs: pd.DataFrame) -> str:
    """Each method scored on fewer observations than it was trained and tuned for, beside itself trained for them.

    Runs with ``shift = observations`` reconstruct a test split measured at the problem's
    ``test_setting()`` (a third of the angles, twice the acceleration) with the settings and
    weights of their own; the same label's unshifted run at that setting saw the same test
    split after training and tuning for it. The gap between the two is what not retraining
    costs; PSNR medians over seeds.
    """
    if SHIFT not in runs:
        return ""
    shifted, unshifted = runs[runs[SHIFT] == "observations"], in_distribution(runs)
    psnr = analysis.quality_column("psnr")
    headers = ["method", "trained and tuned for", "scored at", "PSNR (dB) at its own setting", "PSNR at fewer observations",
               "PSNR trained for them", "not retraining costs (dB)"]
    rows = []
    for (problem, label), group in shifted.groupby(["problem", "label"], sort=False):
        first = group.iloc[0]
        fewer = _problem_at(first).test_setting()
        own = _matching(unshifted, first, {})
        retrained = _matching(unshifted, first, fewer)
        trained_for = ", ".join(f"{knob}={first[analysis.PARAM_PREFIX + knob]:g}" for knob in fewer)
        scored_at = ", ".join(f"{knob}={value:g}" for knob, value in fewer.items())
        medians = [frame[psnr].median() if len(frame) else float("nan") for frame in (own, group, retrained)]
        rows.append([label, trained_for, scored_at, *(f"{value:.2f}" if pd.notna(value) else "—" for value in medians),
                     f"{medians[2] - medians[1]:+.2f}" if pd.notna(medians[1]) and pd.notna(medians[2]) else "—"])
    return pipe_table(headers, rows) if rows else ""


def _problem_at(row: pd.Series) -> InverseProblem:
    """The problem a run's row was measured on, its knobs read back from the row's ``problem_params.*`` columns."""
    cls = registry.problem_class(row["problem"])
    casts: dict[str, Callable[[Any], Any]] = {"int": int, "float": float, "str": str, "bool": bool}
    params = {field.name: casts.get(str(field.type), lambda value: value)(row[analysis.PARAM_PREFIX + field.name])
              for field in dataclasses.fields(cls) if pd.notna(row.get(analysis.PARAM_PREFIX + field.name))}
    problem = cls(**params)
    assert isinstance(problem, InverseProblem)
    return problem


def _matching(runs: pd.DataFrame, row: pd.Series, overrides: dict[str, Any]) -> pd.DataFrame:
    """The runs of ``row``'s problem and label whose knobs equal ``row``'s, with ``overrides`` put in, unshifted."""
    mask = (runs["problem"] == row["problem"]) & (runs["label"] == row["label"])
    for column in (c for c in runs.columns if c.startswith(analysis.PARAM_PREFIX) and c != SHIFT):
        value = overrides.get(column.removeprefix(analysis.PARAM_PREFIX), row.get(column))
        mask &= runs[column].isna() if pd.isna(value) else runs[column].map(analysis.hashable) == analysis.hashable(value)
    return runs[mask]
