"""Operator-learning problems in reports: a surrogate's whole cost against the classical scheme at the same accuracy.

A neural operator is trained once and then predicts many instances, so a fair account has
three parts (issue 17): its one-off cost (the classical solves that made its training data,
plus set-up, compile and training), its cost per instance, and the classical scheme at the
*same accuracy*: the cheapest resolution of the classical refinement sweep whose mean test
error is at most the surrogate's (McGreivy & Hakim 2024), not the reference at its converged
resolution. The break-even count is how many instances the surrogate must predict before its
one-off cost is repaid by cheaper predictions: one_off / (per instance classical - per
instance learned), "never" when it is not cheaper per instance. The classical scheme's own
one-off (compiling a resolution, about a second) is left out, which favours the classical side
by that second only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from parity.report import analysis
from parity.report.alone import measured_alone
from parity.report.text import error_text, pipe_table, seconds_text

ONE_OFF = ("data_s", "setup_s", "compile_s", "train_s")
"""What a surrogate costs before its first prediction."""


def is_operator(runs: pd.DataFrame) -> bool:
    """Whether ``runs`` (one problem's) are of an operator-learning problem."""
    return bool((runs["problem_kind"] == "operator").any())


def _median(group: pd.DataFrame, column: str) -> float:
    return float(pd.to_numeric(group[column], errors="coerce").median()) if column in group else float("nan")


def classical_curve(group: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The refinement sweep of a classical group's run: resolution (``step``), seconds per instance (``cost``) and ``rel_l2``."""
    curve = curves[group["record_id"].iloc[0]]
    return curve.sort_values("step", ignore_index=True)


def matched(curve: pd.DataFrame, error: float) -> pd.Series | None:
    """The cheapest point of a classical curve with an error at most ``error``, or None."""
    reached = curve[curve["rel_l2"] <= error]
    return reached.sort_values("cost").iloc[0] if len(reached) else None


def learned_table(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per learned group: errors over seeds, costs, and the classical scheme at its accuracy with the break-even.

    Columns: problem, setting, label, n, rel_l2 (median, _min, _max), instance_s, one_off_s and
    its parts, steps, epochs, n_train, versus (the classical label), classical_resolution,
    classical_rel_l2, classical_instance_s, speedup (classical / learned per instance), break_even.
    """
    rows = []
    for (problem, setting), chosen in runs.groupby(["problem", "setting"], sort=False):
        classical = chosen[chosen["family"] == "classical"]
        curve = classical_curve(classical, curves) if len(classical) else None
        for label, group in chosen[chosen["family"] == "sciml"].groupby("label", sort=False):
            errors = pd.to_numeric(group["rel_l2"], errors="coerce")
            row: dict[str, Any] = {"problem": problem, "setting": setting, "label": label, "n": len(group),
                                   "rel_l2": errors.median(), "rel_l2_min": errors.min(), "rel_l2_max": errors.max(),
                                   "instance_s": _median(group, "instance_s"),
                                   "one_off_s": float(group[list(ONE_OFF)].apply(pd.to_numeric, errors="coerce").fillna(0.0).sum(axis=1).median()),
                                   **{part: _median(group, part) for part in ONE_OFF},
                                   **{key: _median(group, f"info.{key}") for key in ("steps", "epochs", "n_train")},
                                   "versus": "", "classical_resolution": np.nan, "classical_rel_l2": np.nan, "classical_instance_s": np.nan,
                                   "speedup": np.nan, "break_even": np.nan}
            point = matched(curve, row["rel_l2"]) if curve is not None else None
            if curve is not None:
                row["versus"] = classical["label"].iloc[0]
            if point is not None:
                row.update(classical_resolution=point["step"], classical_rel_l2=point["rel_l2"], classical_instance_s=point["cost"],
                           speedup=point["cost"] / row["instance_s"])
                saving = point["cost"] - row["instance_s"]
                row["break_even"] = row["one_off_s"] / saving if saving > 0 else math.inf
            rows.append(row)
    columns = ["problem", "setting", "label", "n", "rel_l2", "rel_l2_min", "rel_l2_max", "instance_s", "one_off_s", *ONE_OFF, "steps", "epochs",
               "n_train", "versus", "classical_resolution", "classical_rel_l2", "classical_instance_s", "speedup", "break_even"]
    return pd.DataFrame(rows, columns=columns)  # the columns even without a learned run: a classical-only report


def verdicts(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Per setting: the most accurate surrogate against the classical scheme at the same accuracy."""
    table = learned_table(runs, curves)
    out = []
    for (problem, setting), chosen in runs.groupby(["problem", "setting"], sort=False):
        rows = table[(table["problem"] == problem) & (table["setting"] == setting)] if len(table) else table
        best = analysis.best_row(rows, "rel_l2", higher_is_better=False) if len(rows) else None
        classical = chosen[chosen["family"] == "classical"]
        curve = classical_curve(classical, curves) if len(classical) else None
        finest = curve.iloc[-1] if curve is not None and len(curve) else None
        sides = {
            "classical": None if finest is None else {
                "label": classical["label"].iloc[0], "finest_resolution": float(finest["step"]), "finest_rel_l2": float(finest["rel_l2"]),
                "finest_instance_s": float(finest["cost"])},
            "sciml": None if best is None else {
                key: (value.item() if hasattr(value, "item") else value) for key, value in best.items() if key not in ("problem", "setting")},
        }
        compared = chosen[chosen["label"].isin([side["label"] for side in sides.values() if side is not None])]
        measured = measured_alone(compared, runs)
        if sides["sciml"] is not None and not measured.alone:
            sides["sciml"]["break_even"] = math.nan
        out.append({"problem": problem, "setting": setting, "kind": "operator", **sides, "alone": measured.alone,
                    "side_by_side": measured.reason})
    return out


def clauses(verdict: Mapping[str, Any]) -> list[str]:
    """The verdict line's clauses: the surrogate's accuracy and costs, the classical scheme at that accuracy, the break-even."""
    classical, sciml = verdict["classical"], verdict["sciml"]
    if sciml is None:
        if classical is None:
            return ["no result"]
        finest = f"{classical['label']} reaches {error_text(classical['finest_rel_l2'])} at {seconds_text(classical['finest_instance_s'])} per instance"
        return [finest, "no surrogate"]
    surrogate = (f"best surrogate ({sciml['label']}) gets {error_text(sciml['rel_l2'])} at {seconds_text(sciml['instance_s'])} per instance "
                 f"after {seconds_text(sciml['one_off_s'])} one-off ({seconds_text(sciml['data_s'])} data, {seconds_text(sciml['train_s'])} "
                 f"training; {_passes(sciml)} over {sciml['n_train']:.0f} instances)")
    out = [surrogate]
    if classical is None:
        return [*out, "no classical result"]
    if not math.isfinite(sciml["classical_rel_l2"]):
        short = (f"{classical['label']} does not reach it (best {error_text(classical['finest_rel_l2'])} at resolution "
                 f"{classical['finest_resolution']:.0f})")
        return [*out, short]
    out.append(f"{classical['label']} reaches it at resolution {sciml['classical_resolution']:.0f} ({error_text(sciml['classical_rel_l2'])}) in "
               f"{seconds_text(sciml['classical_instance_s'])} per instance")
    if verdict["alone"]:
        out.append("the surrogate never repays its one-off cost (not faster per instance)" if math.isinf(sciml["break_even"])
                   else f"the surrogate repays its one-off cost after {math.ceil(sciml['break_even']):,} instances")
    return out


def _passes(row: Mapping[str, Any]) -> str:
    """Epochs where the learner counts them, else optimiser steps (a hybrid trains on windows of trajectories)."""
    return f"{row['epochs']:.0f} epochs" if math.isfinite(row["epochs"]) else f"{row['steps']:.0f} steps"


def classical_table(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> str:
    """Each classical refinement sweep: resolution, mean test error and seconds per instance."""
    rows = []
    for _, group in runs[runs["family"] == "classical"].groupby(["setting", "label"], sort=False):
        for _, point in classical_curve(group, curves).iterrows():
            rows.append([group["setting"].iloc[0], group["label"].iloc[0], f"{point['step']:.0f}", error_text(point["rel_l2"]), seconds_text(point["cost"])])
    return pipe_table(["setting", "method", "resolution", "mean rel L2", "per instance"], rows) if rows else ""


def surrogate_table(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> str:
    """Each surrogate: error over seeds, per-instance and one-off cost in parts, the classical match and the break-even."""
    table = learned_table(runs, curves)
    rows = []
    for _, r in table.iterrows():
        match = (f"{r['versus']} at {r['classical_resolution']:.0f}: {error_text(r['classical_rel_l2'])}, {seconds_text(r['classical_instance_s'])}"
                 if math.isfinite(r["classical_rel_l2"]) else ("not reached" if r["versus"] else "—"))
        after = "—" if not math.isfinite(r["classical_rel_l2"]) else ("never" if math.isinf(r["break_even"]) else f"{math.ceil(r['break_even']):,}")
        rows.append([r["setting"], r["label"], f"{error_text(r['rel_l2'])} [{error_text(r['rel_l2_min'])}–{error_text(r['rel_l2_max'])}] ({r['n']})",
                     seconds_text(r["instance_s"]), seconds_text(r["one_off_s"]), seconds_text(r["data_s"]), seconds_text(r["train_s"]),
                     f"{r['steps']:.0f} / {r['epochs']:.0f} / {r['n_train']:.0f}", match, after])
    return pipe_table(["setting", "method", "mean rel L2 (seeds)", "per instance", "one-off", "data", "training", "steps / epochs / n_train",
                       "classical at that accuracy", "break-even (instances)"], rows)


def extras_table(runs: pd.DataFrame) -> str:
    """Trivial baselines and zero-shot super-resolution, per surrogate (medians over seeds), when recorded."""
    columns = [c for c in runs.columns if c.startswith("info.super_resolution.") and c.endswith(".rel_l2")]
    rows = []
    for (setting, label), group in runs[runs["family"] == "sciml"].groupby(["setting", "label"], sort=False):
        baselines = [f"{name}: {error_text(_median(group, f'info.baselines.{name}'))}" for name in ("mean_field", "persistence")]
        finer = [f"{c.split('.')[2]} points: {error_text(_median(group, c))} at {seconds_text(_median(group, c.replace('.rel_l2', '.instance_s')))}"
                 for c in columns if group[c].notna().any()]
        rows.append([setting, label, error_text(_median(group, "rel_l2")), "; ".join(baselines), "; ".join(finer) or "—"])
    return pipe_table(["setting", "method", "mean rel L2", "trivial baselines (mean rel L2)", "evaluated on a finer grid, untrained there"], rows) if rows else ""


def pareto_plot(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame], out_dir: Path, problem: str) -> tuple[str, str] | None:
    """Error against seconds per instance (classical sweeps as lines, surrogates as points), and total cost against instances."""
    import matplotlib.pyplot as plt

    table = learned_table(runs, curves)
    settings = list(runs["setting"].unique())
    fig, axes = plt.subplots(2, len(settings), figsize=(5.5 * len(settings), 9), squeeze=False)
    for column, setting in enumerate(settings):
        chosen = runs[runs["setting"] == setting]
        top, bottom = axes[0][column], axes[1][column]
        instances = np.logspace(0, 7, 200)
        for _, group in chosen[chosen["family"] == "classical"].groupby("label", sort=False):
            curve = classical_curve(group, curves)
            top.plot(curve["cost"], curve["rel_l2"], marker="s", linestyle="--", label=group["label"].iloc[0])
        for _, r in table[table["setting"] == setting].iterrows():
            top.errorbar([r["instance_s"]], [r["rel_l2"]], yerr=[[r["rel_l2"] - r["rel_l2_min"]], [r["rel_l2_max"] - r["rel_l2"]]], marker="o",
                         label=f"{r['label']} (prediction only)")
            bottom.plot(instances, r["one_off_s"] + instances * r["instance_s"], label=f"{r['label']}: one-off + per instance")
            if math.isfinite(r["classical_instance_s"]):
                bottom.plot(instances, instances * r["classical_instance_s"], linestyle="--",
                            label=f"{r['versus']} at {r['classical_resolution']:.0f} (same accuracy)")
        top.set(xscale="log", yscale="log", xlabel="seconds per instance", ylabel="mean relative L2 error (test instances)",
                title=f"{problem}: {setting}" if setting else problem)
        bottom.set(xscale="log", yscale="log", xlabel="instances solved", ylabel="total seconds (data + training + predictions)")
        for ax in (top, bottom):
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize="small")
    name = f"operator_cost_{problem}.png"
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return name, (f"{problem}: top, error against seconds per instance (classical refinement sweeps; surrogates' median with min-max over "
                  "seeds); bottom, total cost of solving N instances: a surrogate's one-off cost plus its predictions against the "
                  "classical scheme at the surrogate's accuracy")


def n_train_plot(runs: pd.DataFrame, out_dir: Path, problem: str) -> tuple[str, str] | None:
    """Each surrogate's test error against its training-set size (median with min-max over seeds), when that varies."""
    import matplotlib.pyplot as plt

    column = analysis.PARAM_PREFIX + "n_train"
    learned = runs[runs["family"] == "sciml"]
    if column not in learned or learned[column].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, group in learned.groupby("label", sort=False):
        errors = group.groupby(column)["rel_l2"].agg(["median", "min", "max"]).sort_index()
        ax.errorbar(errors.index, errors["median"], yerr=[errors["median"] - errors["min"], errors["max"] - errors["median"]], marker="o",
                    capsize=3, label=label)
    ax.set(xscale="log", yscale="log", xlabel="training instances (n_train)", ylabel="mean relative L2 error (test instances)", title=problem)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    name = f"operator_n_train_{problem}.png"
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return name, f"{problem}: test error against the number of training instances, median with min-max over seeds"
