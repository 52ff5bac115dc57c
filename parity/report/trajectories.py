"""Chaotic-trajectory problems (Kolmogorov flow) in reports: how long each method stays correlated, and at what cost.

For a chaotic flow the error of a whole trajectory saturates once a prediction has
decorrelated, so the headline is Kochkov et al.'s: the time until the vorticity correlation
with the reference (mean over test trajectories) falls below 0.95 (and 0.8), against the
seconds a method needs per simulated time unit. Each classical scheme is a line over its
resolution sweep; a learned method is a point with its spread over seeds. The
reproduction row puts the two classical schemes at equal accuracy: the finite-volume grid
needed to match each pseudo-spectral grid's correlation time (McGreivy & Hakim 2024: about 8x).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from parity.harness.store import Store
from parity.report.analysis import PARAM_PREFIX
from parity.report.text import pipe_table, seconds_text

METRICS = ("corr_time_095", "corr_time_080", "spectrum_error")
METRIC_PREFIX = "metrics."
"""A record's problem-specific metrics are its ``metrics.*`` columns."""
ONE_OFF = ("data_s", "setup_s", "compile_s", "train_s")
"""What a learned method costs before its first prediction (medians over seeds, summed)."""


def is_trajectory(runs: pd.DataFrame) -> bool:
    """Whether ``runs`` (one problem's) score correlation times."""
    return f"{METRIC_PREFIX}corr_time_095" in runs and bool(runs[f"{METRIC_PREFIX}corr_time_095"].notna().any())


def sweep_points(runs: pd.DataFrame, store: Store) -> pd.DataFrame:
    """Every classical run's refinement points: setting, label, resolution, the metrics and seconds per simulated time unit."""
    rows = []
    for _, run in runs[runs["family"] == "classical"].iterrows():
        trace = store.trace(run)
        horizon = float(run[f"{PARAM_PREFIX}horizon"])
        for _, point in trace.iterrows():
            rows.append({"setting": run["setting"], "label": run["label"], "resolution": int(point["step"]), "scheme": _sweep_scheme(run), "horizon": horizon,
                         "unit_s": float(point["wall_s"]) / horizon, **{m: float(point[m]) for m in METRICS if m in point}})
    return pd.DataFrame(rows)


def learned_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Per learned method: the metrics' median, min and max over seeds, seconds per time unit and the one-off cost."""
    rows = []
    for (setting, label), group in runs[runs["family"] == "sciml"].groupby(["setting", "label"], sort=False):
        horizon = float(group[f"{PARAM_PREFIX}horizon"].iloc[0])
        row = {"setting": setting, "label": label, "n": len(group),
               "unit_s": float(pd.to_numeric(group["instance_s"], errors="coerce").median()) / horizon,
               "one_off_s": float(sum(pd.to_numeric(group[c], errors="coerce").fillna(0).median() for c in ONE_OFF if c in group))}
        for metric in METRICS:
            values = pd.to_numeric(group[f"{METRIC_PREFIX}{metric}"], errors="coerce")
            row.update({metric: float(values.median()), f"{metric}_min": float(values.min()), f"{metric}_max": float(values.max())})
        rows.append(row)
    return pd.DataFrame(rows)


def _sweep_scheme(run: pd.Series) -> str:
    """A coarse-grid sweep's scheme (spectral, finite_volume); empty for any other classical run (a calibrated model)."""
    return str(run.get("info.scheme", "")) if run.get("solver") == "coarse_grid" else ""


def classical_markdown(runs: pd.DataFrame, store: Store) -> str:
    """The resolution sweeps' table, the learned methods against each sweep, and the schemes' equal-accuracy ratio."""
    points = sweep_points(runs, store)
    if points.empty:
        return ""
    rows = [[p["setting"], p["label"], f"{p['resolution']}²", time_text(p["corr_time_095"], p["horizon"]), time_text(p["corr_time_080"], p["horizon"]),
             f"{p['spectrum_error']:.3f}", seconds_text(p["unit_s"])] for _, p in points.iterrows()]
    table = pipe_table(["setting", "method", "grid", "corr. time 0.95", "corr. time 0.8", "spectrum error", "per time unit"], rows)
    learned = learned_rows(runs)
    if not learned.empty:
        table += "\n\n" + pipe_table(
            ["setting", "method", "corr. time 0.95 (seeds)", "corr. time 0.8", "spectrum error", "per time unit", "one-off",
             "pseudo-spectral grid of equal corr. time", "finite-volume grid of equal corr. time"],
            [[r["setting"], r["label"], f"{r['corr_time_095']:.2f} [{r['corr_time_095_min']:.2f}–{r['corr_time_095_max']:.2f}] ({r['n']})",
              f"{r['corr_time_080']:.2f}", f"{r['spectrum_error']:.3f}", seconds_text(r["unit_s"]), seconds_text(r["one_off_s"]),
              _match_text(points, r, "spectral"), _match_text(points, r, "finite_volume")] for _, r in learned.iterrows()])
    ratios = equal_accuracy_ratios(points)
    if not ratios.empty:
        table += "\n\n" + pipe_table(
            ["setting", "pseudo-spectral grid", "its corr. time 0.95", "finite-volume grid with that corr. time", "resolution ratio"],
            [[r["setting"], f"{r['spectral']}²", f"{r['time']:.2f}", r["matched"], r["ratio"]] for _, r in ratios.iterrows()])
    return table


def time_text(value: float, horizon: float) -> str:
    """A correlation time, as a lower bound when the method never decorrelated within the horizon."""
    return f"≥ {horizon:.2f}" if value >= horizon else f"{value:.2f}"




def equal_accuracy_ratios(points: pd.DataFrame) -> pd.DataFrame:
    """Per pseudo-spectral grid, the finite-volume grid of equal 0.95-correlation time (log-linear between grids).

    Outside the finite-volume sweep the cell says so (more than its finest grid, or at most its coarsest).
    """
    rows = []
    for setting, chosen in points.groupby("setting", sort=False):
        spectral = chosen[chosen["scheme"] == "spectral"].sort_values("resolution")
        volume = chosen[chosen["scheme"] == "finite_volume"].sort_values("resolution")
        if spectral.empty or volume.empty:
            continue
        for _, p in spectral[spectral["corr_time_095"] < spectral["horizon"]].iterrows():  # a lower bound has no match
            text, grid = _grid_at(volume, p["corr_time_095"])
            rows.append({"setting": setting, "spectral": p["resolution"], "time": p["corr_time_095"], "matched": text,
                         "ratio": f"{grid / p['resolution']:.1f}×" if grid else "—"})
    return pd.DataFrame(rows)


def _match_text(points: pd.DataFrame, row: pd.Series, scheme: str) -> str:
    """The ``scheme`` sweep's grid of the learned method's correlation time, and its cost per time unit there against the method's."""
    sweep = points[(points["setting"] == row["setting"]) & (points["scheme"] == scheme)].sort_values("resolution")
    if sweep.empty:
        return "—"
    text, grid = _grid_at(sweep, row["corr_time_095"])
    if grid is None:
        return text
    cost = math.exp(np.interp(math.log(grid), np.log(sweep["resolution"].to_numpy(float)), np.log(sweep["unit_s"].to_numpy(float))))
    ratio = row["unit_s"] / cost
    return f"{text}: {seconds_text(cost)} per unit, " + (f"{ratio:.2g}× cheaper than the method" if ratio > 1 else f"{1 / ratio:.2g}× dearer")


def _grid_at(volume: pd.DataFrame, time: float) -> tuple[str, float | None]:
    """The finite-volume grid whose correlation time is ``time`` and its ratio text, interpolated in log(grid)."""
    grids, times = volume["resolution"].to_numpy(float), volume["corr_time_095"].to_numpy(float)
    if time > times.max():
        return f"> {grids[-1]:.0f}² (finest measured)", None
    if time <= times[0]:
        return f"≤ {grids[0]:.0f}² (coarsest measured)", None
    j = int(np.flatnonzero(times >= time)[0])
    share = (time - times[j - 1]) / (times[j] - times[j - 1])
    grid = math.exp(math.log(grids[j - 1]) + share * (math.log(grids[j]) - math.log(grids[j - 1])))
    return f"≈ {grid:.0f}²", grid


def correlation_plot(runs: pd.DataFrame, store: Store, out_dir: Path, problem: str) -> tuple[str, str] | None:
    """Correlation time (0.95 and 0.8) against seconds per simulated time unit, each scheme a line over its grids."""
    import matplotlib.pyplot as plt

    points = sweep_points(runs, store)
    if points.empty:
        return None
    settings = list(points["setting"].unique())
    learned = learned_rows(runs)
    fig, axes = plt.subplots(1, len(settings), figsize=(8 * len(settings), 8), squeeze=False)
    for ax, setting in zip(axes[0], settings, strict=True):
        for (label, line), colour in zip(points[points["setting"] == setting].groupby("label", sort=False), ("C0", "C1", "C2", "C3"), strict=False):
            line = line.sort_values("resolution")
            ax.plot(line["unit_s"], line["corr_time_095"], marker="s", color=colour, label=f"{label}: correlation 0.95")
            ax.plot(line["unit_s"], line["corr_time_080"], marker="o", linestyle="--", color=colour, label=f"{label}: correlation 0.8")
            for _, p in line.iterrows():
                ax.annotate(f"{p['resolution']}²", (p["unit_s"], p["corr_time_095"]), textcoords="offset points", xytext=(4, -10), fontsize="x-small")
        mine = learned[learned["setting"] == setting] if len(learned) else learned
        for (_, r), marker in zip(mine.iterrows(), "^vD<>p*h", strict=False):
            ax.errorbar([r["unit_s"]], [r["corr_time_095"]], yerr=[[r["corr_time_095"] - r["corr_time_095_min"]], [r["corr_time_095_max"] - r["corr_time_095"]]],
                        marker=marker, linestyle="none", label=f"{r['label']}: correlation 0.95 (median, min-max over seeds)")
        ax.set(xscale="log", xlabel="seconds per simulated time unit and trajectory (the test set solved together)",
               ylabel="time until the mean correlation falls below", title=f"{problem}: {setting}" if setting else problem)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12))  # below the axes: the lines fill the plot
    name = f"correlation_time_{problem}.png"
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return name, (f"{problem}: how long each method's vorticity stays correlated with the reference (mean over test trajectories) "
                  "against its cost per simulated time unit; a point at the top edge never decorrelated within the horizon")
