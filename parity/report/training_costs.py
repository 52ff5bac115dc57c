"""Training algorithms on every cost axis: error against wall seconds, fine gradients, synchronisations
and a modelled parallel time; and adapted decompositions drawn over the solution.

The counters come from the records' traces (cumulative per checkpoint, see
``parity.solvers.physics_informed.costs``). The modelled time gives every method of a
setting the same P workers, P = the most finest-level subdomains any of its methods has
(one worker per subdomain), and is labelled as a model wherever it appears.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from parity.harness.store import Store
from parity.report import analysis
from parity.report.plots import Plot, _colours, _file_name, _iterative_band, _median_seed, _problem_of, _thresholds, fit_log_ticks
from parity.report.text import eps_text, error_text, pipe_table
from parity.solvers.physics_informed.decomposition import Level

AXES: dict[str, str] = {
    "wall_s": "training seconds (this machine, compile excluded)",
    "fine_gradients": "gradient evaluations (fine-gradient equivalents)",
    "global_evaluations": "global synchronisations (all-reduces)",
    "modelled_s": "modelled seconds on P workers (a model)",
}
CANDIDATE_TARGETS = (1e-1, 1e-2, 1e-3)
"""The table's targets are the two lowest of these that the best method's median seed ends below (1e-1 when none does)."""
SYNC_LATENCY_S = 1e-4
"""Seconds per global all-reduce in the model: a small all-reduce across GPU nodes (about 10 us within one node)."""


def modelled_parallel_seconds(global_evaluations: np.ndarray, critical_local_gradients: np.ndarray, seconds_per_gradient: float,
                              workers: int, latency_s: float = SYNC_LATENCY_S) -> np.ndarray:
    """Modelled time on ``workers`` workers: global work split evenly, plus the local critical path (in whole-loss
    gradients), plus one latency per synchronisation. A model, labelled so wherever it is shown."""
    if workers < 1:
        raise ValueError(f"workers = {workers} is not allowed; allowed: an integer >= 1")
    compute = np.asarray(global_evaluations, float) / workers + np.asarray(critical_local_gradients, float)
    return compute * seconds_per_gradient + np.asarray(global_evaluations, float) * latency_s


def is_costed(runs: pd.DataFrame) -> bool:
    """Whether the runs' traces count costs beyond seconds (physics-informed training since issue 31)."""
    return "info.costs.fine_gradients" in runs and bool(runs["info.costs.fine_gradients"].notna().any())


def workers(runs: pd.DataFrame) -> int:
    """P of the setting's model: the most finest-level subdomains (or layer groups) of any of its methods."""
    column = runs.get("info.parallel_workers")
    return int(pd.to_numeric(column, errors="coerce").max()) if column is not None and column.notna().any() else 1


ARCHITECTURE = ("solver", "solver_config.levels", "solver_config.width", "solver_config.depth", "solver_config.n_collocation",
                "solver_config.recipe", "solver_config.add", "solver_config.drop", "solver_config.adapt_rounds", "solver_config.window_motion")
"""What fixes the cost of one whole-loss gradient (the optimiser does not)."""


def seconds_per_gradient(runs: pd.DataFrame) -> pd.Series:
    """Per record, the median measured seconds of one whole-loss gradient over every record of its architecture:
    one unit for every optimiser of one network, robust to a single noisy measurement."""
    key = runs[[c for c in ARCHITECTURE if c in runs]].map(str).agg("|".join, axis=1)
    measured = pd.to_numeric(runs.get("info.seconds_per_gradient"), errors="coerce")
    return measured.groupby(key).transform("median").set_axis(runs["record_id"])


def axis_curves(trace: pd.DataFrame, p: int, spg: float) -> dict[str, pd.DataFrame]:
    """A run's best-so-far material per axis: ``cost, rel_l2`` rows sorted by cost; empty when not counted."""
    if trace.empty or "fine_gradients" not in trace:
        return {axis: pd.DataFrame({"cost": [], "rel_l2": []}) for axis in AXES}
    rows = trace.dropna(subset=["rel_l2"])
    global_evaluations = rows["global_evaluations"].to_numpy(float)
    modelled = modelled_parallel_seconds(global_evaluations, rows["critical_local_gradients"].to_numpy(float), spg, p)
    costs = {"wall_s": rows["wall_s"].to_numpy(float), "fine_gradients": rows["fine_gradients"].to_numpy(float),
             "global_evaluations": global_evaluations, "modelled_s": modelled}
    return {axis: pd.DataFrame({"cost": values, "rel_l2": rows["rel_l2"].to_numpy(float)}).sort_values("cost", ignore_index=True)
            for axis, values in costs.items()}


def all_curves(runs: pd.DataFrame, store: Store) -> dict[str, dict[str, pd.DataFrame]]:
    """Per record, its curves on every axis (P per setting)."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    units = seconds_per_gradient(runs)
    for _, group in runs.groupby("setting", sort=False):
        p = workers(group)
        for _, run in group.iterrows():
            out[run["record_id"]] = axis_curves(store.trace(run), p, float(units[run["record_id"]]))
    return out


def cost_plots(runs: pd.DataFrame, store: Store, out_dir: Path, problem: str) -> list[Plot]:
    """Per setting, error (best so far, median over seeds, min-max band) against each cost axis."""
    sciml = runs[runs["family"] == "sciml"]
    if not is_costed(sciml):
        return []
    curves, colours, plots = all_curves(sciml, store), _colours(runs), []
    for k, (setting, group) in enumerate(sciml.groupby("setting", sort=False), start=1):
        fig, axes = plt.subplots(1, len(AXES), figsize=(5.0 * len(AXES), 5.6), squeeze=False)
        for ax, (axis, title) in zip(axes[0], AXES.items()):
            for label, seeds in group.groupby("label", sort=False):
                _iterative_band(ax, [curves[r][axis] for r in seeds["record_id"]], label, colours[label])
            _thresholds(ax)
            ax.set(xscale="log", yscale="log", xlabel=title, ylabel="relative L2 error (test points)")
            ax.grid(True, which="major", alpha=0.3)
        axes[0][0].set_title(f"{problem}: {setting}" if setting else problem, loc="left")
        axes[0][-1].set_title(f"P = {workers(group)}, {SYNC_LATENCY_S * 1e6:.0f} us per synchronisation", fontsize="small")
        handles, labels = axes[0][0].get_legend_handles_labels()
        name = _file_name("error_vs_costs", problem, k)
        fit_log_ticks(fig)  # lays the panels out tightly; the legend then gets a band of its own below them
        fig.subplots_adjust(bottom=0.34)
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(labels)), fontsize="small", frameon=False)
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        plots.append(Plot(name, f"{f'{problem}: {setting}' if setting else problem}: error against each cost of training, median over seeds with min-max band "
                                f"(the last panel is a model: global work split over P = {workers(group)} workers, the slowest local "
                                f"solve, {SYNC_LATENCY_S * 1e6:.0f} us per synchronisation)"))
    return plots


def markdown(runs: pd.DataFrame, store: Store) -> str:
    """Per setting: each SciML method's final error and its cost to reach each target on each axis."""
    sciml = runs[runs["family"] == "sciml"]
    if not is_costed(sciml):
        return ""
    curves, chosen = all_curves(sciml, store), targets(sciml)
    headers = ["setting", "method", "final rel L2"] + [f"{short} to {eps_text(eps)}" for eps in chosen
                                                       for short in ("wall s", "fine grads", "syncs", "modelled s")]
    rows = []
    for setting, group in sciml.groupby("setting", sort=False):
        for label, seeds in group.groupby("label", sort=False):
            final = seeds["rel_l2"].astype(float)
            cells = [setting or "—", label, f"{error_text(final.median())} [{error_text(final.min())}–{error_text(final.max())}]"]
            for eps in chosen:
                for axis in AXES:
                    cells.append(_median_reached([analysis.time_to_accuracy(curves[r][axis], eps) for r in seeds["record_id"]]))
            rows.append(cells)
    return pipe_table(headers, rows)


def targets(runs: pd.DataFrame) -> tuple[float, ...]:
    """The two lowest candidate targets that some method's median final error reaches: costs to a target nobody
    reaches say nothing, and a problem the networks solve to 1e-1 only is still compared there."""
    best = runs.groupby(["setting", "label"], sort=False)["rel_l2"].median().min()
    reached = [eps for eps in CANDIDATE_TARGETS if best <= eps]
    return tuple(reached[-2:]) or CANDIDATE_TARGETS[:1]


def best_by_setting(runs: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the SciML method with the lowest median final error, and the classical methods' best."""
    rows = []
    for setting, group in runs.groupby("setting", sort=False):
        medians = group.groupby(["family", "label"], sort=False)["rel_l2"].median()
        sciml = medians.get("sciml", pd.Series(dtype=float)).sort_values()
        classical = medians.get("classical", pd.Series(dtype=float)).sort_values()
        rows.append({"setting": setting, "best": sciml.index[0] if len(sciml) else "", "best_error": sciml.iloc[0] if len(sciml) else np.nan,
                     "classical": classical.index[0] if len(classical) else "", "classical_error": classical.iloc[0] if len(classical) else np.nan})
    return pd.DataFrame(rows)


def _median_reached(values: list[float]) -> str:
    """The median over seeds, a seed that never reached the target counting as infinitely costly, and (k/n) when not all did."""
    finite = np.array([v if np.isfinite(v) else np.inf for v in values])
    reached, total = int(np.isfinite(finite).sum()), len(finite)
    value = float(np.median(finite)) if reached * 2 > total else np.inf
    text = ("not reached" if not np.isfinite(value) else f"{value:,.0f}" if value >= 100 else f"{value:.3g}")
    return text if reached == total else f"{text} ({reached}/{total})"


def decomposition_plots(runs: pd.DataFrame, store: Store, out_dir: Path, problem: str) -> list[Plot]:
    """Adapted or trained decompositions (the median seed's final subdomains) drawn over the reference solution."""
    if "info.decomposition.centres" not in runs:
        return []
    changing = np.zeros(len(runs), dtype=bool)
    for column in ("solver_config.adapt_rounds", "solver_config.window_motion"):
        if column in runs:
            changing |= (pd.to_numeric(runs[column], errors="coerce").fillna(0) > 0).to_numpy()
    plots = []
    for k, ((setting, label), group) in enumerate(runs[changing].groupby(["setting", "label"], sort=False), start=1):
        run = _median_seed(group)
        centres, half_widths = np.array(run["info.decomposition.centres"]), np.array(run["info.decomposition.half_widths"])
        problem_object = _problem_of(store, run)
        moving = float(run.get("solver_config.window_motion") or 0) > 0
        fig, ax = plt.subplots(figsize=(9, 4.2))
        if moving:
            regular = Level.regular(*problem_object.bounds, max(run["solver_config.levels"]), float(run["solver_config.overlap"]))
            marked = np.full(len(centres), centres.shape[1] == 1)  # 1D: every trained window in red; 2D: arrows show the moves
            summary = f"edges moved up to {np.abs(half_widths - regular.half_widths).max() / regular.half_widths.max():.0%} of a half-width"
            legend = "windows below (grey: regular; red: trained)"
        else:
            marked = half_widths.min(axis=1) < half_widths.min(axis=1).max() - 1e-12
            summary = f"{len(centres)} subdomains, {int(marked.sum())} from splits"
            legend = "windows below (red: split)"
        if centres.shape[1] == 1:
            x = np.sort(problem_object.test_points(), axis=0)
            ax.plot(x[:, 0], problem_object.reference(x)[:, 0], color="black", linewidth=0.8, label="reference u")
            bottom = ax.get_ylim()[0]
            for j, (c, h) in enumerate(zip(centres[:, 0], half_widths[:, 0])):
                level = bottom - 0.12 * (1 + j % 3)
                if moving:
                    rc, rh = regular.centres[j, 0], regular.half_widths[j, 0]
                    ax.plot([rc - rh, rc + rh], [level + 0.04, level + 0.04], color="grey", linewidth=1)
                ax.plot([c - h, c + h], [level, level], color="tab:red" if marked[j] else "tab:blue", linewidth=2)
            ax.set(xlabel="x", ylabel=f"u; {legend}")
        else:
            lower, upper = problem_object.bounds
            grid = np.stack(np.meshgrid(*(np.linspace(lower[i], upper[i], 120) for i in range(2)), indexing="ij"), axis=-1).reshape(-1, 2)
            values = problem_object.reference(grid)[:, 0].reshape(120, 120)
            ax.imshow(values.T, origin="lower", extent=(lower[0], upper[0], lower[1], upper[1]), cmap="RdBu_r", aspect="auto")
            for c, h, s in zip(centres, half_widths, marked):
                ax.add_patch(plt.Rectangle(tuple(c - h), *(2 * h), fill=False, edgecolor="black" if s else "grey", linewidth=1.2 if s else 0.4))
            if moving:  # each window's centre shift, from its regular place
                ax.quiver(*regular.centres.T, *(centres - regular.centres).T, angles="xy", scale_units="xy", scale=1, color="black", width=0.003)
            ax.set(xlabel="x", ylabel="y")
        heading = f"{problem}: {setting}" if setting else problem
        ax.set_title(f"{heading}: {label}, seed {run['seed']}: {summary}", fontsize="small")
        name = _file_name("decomposition", problem, k)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        what = "the trained windows" if moving else "the adapted decomposition"
        plots.append(Plot(name, f"{heading}: {what} (median seed) over the reference solution"))
    return plots


def best_markdown(runs: pd.DataFrame) -> str:
    """The best training algorithm per setting at the equal time budget, beside the best classical solver."""
    best = best_by_setting(runs)
    rows = [[row["setting"] or "—", f"{row['best']} ({error_text(row['best_error'])})", f"{row['classical']} ({error_text(row['classical_error'])})"]
            for _, row in best.iterrows()]
    return pipe_table(["setting", "best training algorithm (final rel L2, median over seeds)", "best classical (final rel L2)"], rows) if rows else ""
