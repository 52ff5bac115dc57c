"""Assimilation problems in a report: analysis error against cost per setting, the verdict, and the pictures.

Every method of a setting assimilated the same observations of the same truths. Its score is
the analysis RMSE after the problem's burn-in (median [min-max] over seeds where the method is
random: an ensemble's draw, a network's initialisation); its costs are the one-off tuning on
the validation experiments (or training shared by all experiments) and the seconds per
experiment (and per observed cycle), from the harness's second, compiled run over the test
experiments, or for a method fitted to each experiment (a PINN) its training per experiment.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from parity.harness.store import Store  # noqa: E402
from parity.problems.assimilation import CYCLE_RMSE, AssimilationProblem, WindowAssimilation  # noqa: E402
from parity.report import analysis  # noqa: E402
from parity.report.alone import measured_alone  # noqa: E402
from parity.report.plots import Plot, problem_of  # noqa: E402
from parity.report.text import error_text, pipe_table, seconds_text  # noqa: E402

SCORE = "metrics.rmse"
EXTRA = {"metrics.forecast_rmse": "forecast RMSE", "metrics.initial_rel_l2": "initial state rel. L2",
         "metrics.final_correlation": "correlation at the last forecast cycle"}
"""A window problem's further scores, shown where its runs have them."""
TUNED = {"info.tuned.inflation": "inflation", "info.tuned.background_scale": "B scale"}
HOVMOLLER_CYCLES = 120
"""The last cycles of the first test experiment that the picture shows."""


def is_assimilation(runs: pd.DataFrame) -> bool:
    return bool((runs["problem_kind"] == "assimilation").any())


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per setting and label: the analysis RMSE over seeds (a failed seed counts as infinite), what was tuned, the costs."""
    rows = []
    for (setting, label), group in runs.groupby(["setting", "label"], sort=False):
        scores = np.where(group["status"] == "ok", pd.to_numeric(group[SCORE], errors="coerce").fillna(math.inf), math.inf)
        tuned = [f"{name} {value:g}" for column, name in TUNED.items() if column in group and pd.notna(value := group[column].median())]
        rows.append({
            "setting": setting, "label": label, "family": group["family"].iloc[0], "seeds": len(group), "failed": int(np.sum(np.isinf(scores))),
            "rmse": float(np.median(scores)), "rmse_min": float(np.min(scores)), "rmse_max": float(np.max(scores)),
            "tuned": ", ".join(tuned) or "—",
            "one_off_s": float(np.nanmedian(group[_one_off_columns(group)].apply(pd.to_numeric, errors="coerce").fillna(0).sum(axis=1))),
            "cycle_s": float(pd.to_numeric(group.get("cycle_s", pd.Series(dtype=float)), errors="coerce").median()),
            "experiment_s": float(pd.to_numeric(group.get("experiment_s", pd.Series(dtype=float)), errors="coerce").median()),
            **{column: float(pd.to_numeric(group[column], errors="coerce").where(group["status"] == "ok").median())
               for column in EXTRA if column in group},
        })
    return pd.DataFrame(rows)


def markdown(runs: pd.DataFrame) -> str:
    """Per setting, every method by its median analysis RMSE (and a window problem's forecast and initial-state errors)."""
    table = summary(runs)
    extra = [column for column in EXTRA if column in table and table[column].notna().any()]
    out = []
    for setting, rows in table.groupby("setting", sort=False):
        cells = [[row["label"], row["family"], _rmse_text(row), *(_extra_text(column, row[column]) for column in extra), row["tuned"],
                  seconds_text(row["one_off_s"]), seconds_text(row["experiment_s"]), seconds_text(row["cycle_s"])]
                 for _, row in rows.sort_values("rmse", kind="stable").iterrows()]
        heading = [f"Setting: {setting}"] if setting else []
        headers = ["method", "family", "analysis RMSE", *(EXTRA[column] for column in extra), "tuned on validation", "one-off", "per experiment",
                   "per observed cycle"]
        out += [*heading, pipe_table(headers, cells)]
    return "\n\n".join(out)


def verdicts(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per setting: the classical and the SciML method with the lowest median analysis RMSE."""
    table = summary(runs)
    out = []
    for (problem, setting), chosen in runs.groupby(["problem", "setting"], sort=False):
        rows = table[table["setting"] == setting]
        sides = {family: _side(rows[rows["family"] == family]) for family in ("classical", "sciml")}
        compared = chosen[chosen["label"].isin([side["label"] for side in sides.values() if side is not None])]
        measured = measured_alone(compared, runs)
        out.append({"problem": problem, "setting": setting, "kind": "assimilation", **sides, "alone": measured.alone,
                    "side_by_side": measured.reason})
    return out


def clauses(verdict: Mapping[str, Any]) -> list[str]:
    """The verdict line's clauses: each side's analysis RMSE and its cost per experiment."""
    out = []
    for family, name in (("classical", "best classical"), ("sciml", "best SciML")):
        side = verdict[family]
        out.append(f"no {'classical' if family == 'classical' else 'SciML'} result" if side is None else
                   f"{name} ({side['label']}) analysis RMSE {error_text(side['rmse'])} at {seconds_text(side['experiment_s'])} per experiment "
                   f"after {seconds_text(side['one_off_s'])} one-off")
    return out


def rmse_plot(runs: pd.DataFrame, out_dir: Path, problem: str) -> Plot | None:
    """Analysis RMSE against the first varying knob, one line per method; None when no numeric knob varies."""
    varying = [c for c in analysis.varying_params(runs) if pd.to_numeric(runs[c], errors="coerce").notna().all()]
    if not varying:
        return None
    column = varying[0]
    knob = column.removeprefix(analysis.PARAM_PREFIX)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, group in runs.groupby("label", sort=False):
        scores = pd.to_numeric(group[SCORE], errors="coerce").where(group["status"] == "ok")
        stats = scores.groupby(pd.to_numeric(group[column])).agg(["median", "min", "max"]).dropna()
        if len(stats):
            ax.errorbar(stats.index, stats["median"], yerr=[stats["median"] - stats["min"], stats["max"] - stats["median"]], marker="o",
                        capsize=3, label=label)
    ax.set_yscale("log")
    ax.set(xlabel=knob, ylabel="analysis RMSE (a filter's after its burn-in)", title=f"{problem}: analysis error against {knob}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    name = f"rmse_vs_{knob}_{problem}.png"
    fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Plot(name, f"{problem}: analysis RMSE against {knob}, median over seeds with min-max bars (diverged runs left out)")


def lead_time_plot(runs: pd.DataFrame, store: Store, out_dir: Path, problem: str) -> Plot | None:
    """A window problem's RMSE at every cycle, one panel per setting and one line per method (median over seeds): the
    analysis over the window, then the forecast against lead time. Settings and methods without per-cycle scores are
    left out; None when no run has them."""
    columns = sorted((c for c in runs if c.startswith(f"metrics.{CYCLE_RMSE}")), key=lambda c: int(c.rsplit("_", 1)[1]))
    scored = runs[(runs["status"] == "ok") & runs[columns].notna().all(axis=1)] if columns else runs.iloc[:0]
    if scored.empty:
        return None
    settings = list(scored.groupby("setting", sort=False))
    colours = {label: f"C{index % 10}" for index, label in enumerate(scored["label"].unique())}
    fig, axes = plt.subplots(1, len(settings), figsize=(5.5 * len(settings), 4.2), squeeze=False, sharey=True)
    for ax, (setting, group) in zip(axes[0], settings, strict=True):
        instance = problem_of(store, group.iloc[0])
        assert isinstance(instance, WindowAssimilation)
        times = instance.interval * np.arange(len(columns))
        for label, seeds in group.groupby("label", sort=False):
            ax.plot(times, seeds[columns].apply(pd.to_numeric).median().to_numpy(), marker=".", label=label, color=colours[label])
        ax.axvline(instance.interval * (instance.window - 0.5), color="grey", linestyle="--", linewidth=1)
        ax.set(yscale="log", xlabel="time (the dashed line ends the observed window)", title=setting or problem)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("RMSE of the estimate")
    handles = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2)
    name = f"rmse_vs_lead_time_{problem}.png"
    fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Plot(name, f"{problem}: the estimate's RMSE at every cycle, over the window (analysis) and after it (forecast against lead "
                      "time), median over seeds; runs recorded before per-cycle scores existed are left out")


def hovmoller_plot(runs: pd.DataFrame, store: Store, out_dir: Path, problem: str) -> Plot | None:
    """The first setting's first test experiment: the truth, then each method's (median seed's) error.

    A 1D state is drawn as a Hovmoller diagram over the last cycles (panels side by side); a 2D state as the
    problem's picture of chosen cycles' fields (panels one above the other).
    """
    setting, group = next(iter(runs.groupby("setting", sort=False)))
    chosen = [seeds.sort_values(SCORE, na_position="last").iloc[(len(seeds) - 1) // 2]
              for _, seeds in group[group["field_path"].astype(bool) & (group["status"] == "ok")].groupby("label", sort=False)]
    if not chosen:
        return None
    instance = problem_of(store, chosen[0])
    assert isinstance(instance, AssimilationProblem)
    truths = instance.experiments("test").truths[0]
    hovmoller = instance.hovmoller
    truth = truths[-HOVMOLLER_CYCLES:] if hovmoller else instance.picture(truths)
    panels = len(chosen) + 1
    fig, axes = plt.subplots(1, panels, figsize=(2.6 * panels, 3.6), sharey=True) if hovmoller else \
        plt.subplots(panels, 1, figsize=(7.5, 2.7 * panels))
    style = {"aspect": "auto", "cmap": "RdBu_r"} if hovmoller else {"aspect": "equal", "cmap": "RdBu_r", "origin": "lower"}
    limit = float(np.nanmax(np.abs(truth)))
    image = axes[0].imshow(truth, vmin=-limit, vmax=limit, **style)
    if hovmoller:
        axes[0].set(title="truth", xlabel="variable", ylabel="cycle" if len(truth) < HOVMOLLER_CYCLES else f"cycle (last {HOVMOLLER_CYCLES})")
    else:
        axes[0].set_title("truth: t = 0 | end of the window | end of the forecast", fontsize="small")
    fig.colorbar(image, ax=axes[0], shrink=0.8)
    for ax, row in zip(axes[1:], chosen, strict=True):
        estimate = np.asarray(store.field(row))
        estimate = estimate[-HOVMOLLER_CYCLES:] if hovmoller else estimate
        error = ax.imshow(estimate - truth, vmin=-limit / 4, vmax=limit / 4, **style)
        rmse = float(np.sqrt(np.nanmean((estimate - truth) ** 2)))
        ax.set_title(f"{textwrap.fill(str(row['label']), 26 if hovmoller else 80)}\nerror, RMSE {rmse:.2f}", fontsize="small")
        fig.colorbar(error, ax=ax, shrink=0.8)
    for ax in axes[1:] if hovmoller else []:
        ax.set(xlabel="variable")
    for ax in [] if hovmoller else axes:
        ax.set_axis_off()
    name = f"hovmoller_{problem}.png"
    fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    where = f" at {setting}" if setting else ""
    shown = f"over its last {HOVMOLLER_CYCLES} cycles" if hovmoller else "at t = 0, at the end of the window and at the end of the forecast"
    return Plot(name, f"{problem}{where}: the first test experiment's truth {shown}, then each method's error "
                      "(estimate minus truth, the median seed; colour range a quarter of the truth's)")


def _one_off_columns(group: pd.DataFrame) -> list[str]:
    """Set-up and compile, and the tuning or training unless the method is fitted per experiment (then that is its cost per use)."""
    fitted = "reconstruction_s" in group and pd.to_numeric(group["reconstruction_s"], errors="coerce").notna().any()
    return ["setup_s", "compile_s"] if fitted else ["setup_s", "compile_s", "train_s"]


def _side(rows: pd.DataFrame) -> dict[str, Any] | None:
    best = analysis.best_row(rows[np.isfinite(rows["rmse"])], "rmse", higher_is_better=False)
    if best is None:
        return None
    return {key: (value.item() if hasattr(value, "item") else value) for key, value in best.items() if key != "setting"}


def _extra_text(column: str, value: float) -> str:
    """A correlation to three decimals (it approaches 1), an error in the report's scientific notation."""
    return f"{value:.3f}" if "correlation" in column and math.isfinite(value) else error_text(value)


def _rmse_text(row: pd.Series) -> str:
    if math.isinf(row["rmse"]):
        return f"diverged ({row['failed']}/{row['seeds']})"
    spread = f" [{error_text(row['rmse_min'])}–{error_text(row['rmse_max'])}]" if row["seeds"] > 1 else ""
    failed = f", {row['failed']}/{row['seeds']} diverged" if row["failed"] else ""
    return f"{error_text(row['rmse'])}{spread}{failed}"
