"""The report's figures (PNG): error against cost, scale knob and steps; solution snapshots.

Each figure shows the median over seeds with a min-max band, so a lucky seed cannot
pass for the typical run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.backend_bases import RendererBase  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from parity.harness import registry  # noqa: E402
from parity.harness.store import Store  # noqa: E402
from parity.problems.base import ForwardProblem, Problem, Snapshot  # noqa: E402
from parity.problems.inverse import InverseProblem  # noqa: E402
from parity.report import analysis  # noqa: E402

PANELS_PER_FIGURE = 3
_GRID_POINTS = 200


@dataclass(frozen=True)
class Plot:
    """A written figure: its file name (relative to the report) and a one-line caption."""

    name: str
    caption: str


def error_vs_time(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame], out_dir: Path, problem: str) -> list[Plot]:
    """Log-log error against cost, one panel per parameter setting."""
    colours = _colours(runs)
    plots = []
    for k, settings in enumerate(_chunks(list(runs["setting"].unique())), start=1):
        fig, axes = _panels(len(settings))
        for ax, setting in zip(axes, settings):
            for label, group in runs[runs["setting"] == setting].groupby("label", sort=False):
                seed_curves = [curves[r] for r in group["record_id"] if len(curves[r])]
                if group["trace_kind"].iloc[0] == "iterative":
                    _iterative_band(ax, seed_curves, label, colours[label])
                else:
                    _refinement_lines(ax, seed_curves, label, colours[label])
            _thresholds(ax)
            ax.set(xscale="log", yscale="log", title=f"{problem}: {setting}" if setting else problem,
                   xlabel="cost: seconds incl. setup + compile", ylabel="relative L2 error (test points)")
        name = _file_name("error_vs_time", problem, k)
        _save(fig, axes, out_dir / name)
        plots.append(Plot(name, f"{problem}: error against cost (setup + compile + training or solve), "
                                f"median over seeds with min-max band ({k})"))
    return plots


def error_vs_scale(runs: pd.DataFrame, out_dir: Path, problem: str) -> Plot | None:
    """Final error against the first varying problem knob, one line per label; None if none varies."""
    column = _scale_column(runs)
    if column is None:
        return None
    varying = analysis.varying_params(runs)
    knob = column.removeprefix(analysis.PARAM_PREFIX)
    x_all = pd.to_numeric(runs[column])
    colours = _colours(runs)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, group in runs.assign(_x=x_all).groupby("label", sort=False):
        stats = group.groupby("_x")["rel_l2"].agg(["median", "min", "max"]).dropna()
        if stats.empty:
            continue
        err = [stats["median"] - stats["min"], stats["max"] - stats["median"]]
        ax.errorbar(stats.index, stats["median"], yerr=err, marker="o", capsize=3, label=label, color=colours[label])
    _thresholds(ax)
    ax.set_yscale("log")
    if x_all.min() > 0 and x_all.max() / x_all.min() >= 10:
        ax.set_xscale("log")
    note = f" (also varying: {', '.join(c.removeprefix(analysis.PARAM_PREFIX) for c in varying[1:])})" if len(varying) > 1 else ""
    ax.set(xlabel=knob, ylabel="final relative L2 error (test points)", title=f"{problem}: error against {knob}{note}")
    name = _file_name("error_vs_scale", problem)
    _save(fig, [ax], out_dir / name)
    return Plot(name, f"{problem}: final error against {knob}, median over seeds with min-max bars{note}")


def quality_vs_scale(runs: pd.DataFrame, out_dir: Path, problem: str) -> list[Plot]:
    """Inverse problems: test PSNR (velocity rel L2 for FWI) and SSIM against each varying numeric knob.

    When several knobs vary (shots and receivers), each plot holds the others at their most
    common value, so a point never mixes settings of another knob.
    """
    varying = [c for c in analysis.varying_params(runs) if not pd.to_numeric(runs[c], errors="coerce").isna().any()]
    shown = (("psnr", "PSNR (dB)"), ("ssim", "SSIM"))
    if analysis.reconstruction_quality(runs) == analysis.FIELD_QUALITY:
        shown = (("rel_l2", "velocity rel L2"), ("ssim", "SSIM"))
    colours = _colours(runs)
    plots = []
    for column in varying:
        held = runs
        for other in varying:
            if other != column:
                held = held[held[other].map(analysis.hashable) == held[other].map(analysis.hashable).mode().iloc[0]]
        x_all = pd.to_numeric(held[column])
        if x_all.nunique() < 2:
            continue
        knob = column.removeprefix(analysis.PARAM_PREFIX)
        fig, axes = _panels(2)
        for ax, (metric, unit) in zip(axes, shown):
            for label, group in held.assign(_x=x_all).groupby("label", sort=False):
                stats = group.groupby("_x")[analysis.quality_column(metric)].agg(["median", "min", "max"]).dropna()
                if stats.empty:
                    continue
                err = [stats["median"] - stats["min"], stats["max"] - stats["median"]]
                ax.errorbar(stats.index, stats["median"], yerr=err, marker="o", capsize=3, label=label, color=colours[label])
            if x_all.min() > 0 and x_all.max() / x_all.min() >= 4:
                ax.set_xscale("log", base=2)
            ax.set(xlabel=knob, ylabel=f"mean test {unit}", title=f"{problem}: {unit} against {knob}")
        name = _file_name("quality_vs_scale", problem, knob) if len(varying) > 1 else _file_name("quality_vs_scale", problem)
        _save(fig, axes, out_dir / name)
        others = [c.removeprefix(analysis.PARAM_PREFIX) for c in varying if c != column]
        held_text = f" ({', '.join(others)} at the most common value)" if others else ""
        plots.append(Plot(name, f"{problem}: reconstruction quality on the test set against {knob}{held_text}, median over seeds with min-max bars"))
    return plots


def time_vs_scale(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame], out_dir: Path, problem: str) -> Plot | None:
    """Median time to 1e-2 and to 1e-3 against the first varying knob; None if none varies.

    A setting where fewer than half of the seeds got there has no point: the line breaks.
    """
    column = _scale_column(runs)
    if column is None:
        return None
    knob = column.removeprefix(analysis.PARAM_PREFIX)
    scale = runs[["setting", column]].drop_duplicates("setting").set_index("setting")[column]
    table = analysis.time_to_accuracy_table(runs, curves, (1e-2, 1e-3))
    table["x"] = table["setting"].map(pd.to_numeric(scale))
    colours = _colours(runs)
    fig, axes = _panels(2)
    for ax, eps in zip(axes, (1e-2, 1e-3)):
        reached = table[(table["eps"] == eps) & np.isfinite(table["median_s"])]
        for label, rows in reached.groupby("label", sort=False):
            rows = rows.sort_values("x")
            ax.plot(rows["x"], rows["median_s"], marker="o", label=label, color=colours[label])
        ax.set(xlabel=knob, ylabel="seconds incl. setup + compile", title=f"{problem}: time to relative L2 <= {eps:g}")
        if reached.empty:
            ax.text(0.5, 0.5, "no method reached it", transform=ax.transAxes, ha="center", va="center")
        else:
            ax.set_yscale("log")
        if table["x"].min() > 0 and table["x"].max() / table["x"].min() >= 4:
            ax.set_xscale("log", base=2)
    name = _file_name("time_vs_scale", problem)
    _save(fig, axes, out_dir / name)
    return Plot(name, f"{problem}: median time to 1e-2 and 1e-3 against {knob} (all seeds; a point is missing where "
                      "fewer than half of the seeds got there)")


def error_vs_steps(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame], out_dir: Path, problem: str) -> list[Plot]:
    """Error at each optimiser-step checkpoint of the iterative methods (equal-steps view)."""
    iterative = runs[runs["trace_kind"] == "iterative"]
    colours = _colours(runs)
    plots = []
    for k, settings in enumerate(_chunks(list(iterative["setting"].unique())), start=1):
        fig, axes = _panels(len(settings))
        for ax, setting in zip(axes, settings):
            for label, group in iterative[iterative["setting"] == setting].groupby("label", sort=False):
                per_seed = {r: curves[r].drop_duplicates("step", keep="last").set_index("step")["rel_l2"] for r in group["record_id"]}
                table = pd.concat(per_seed, axis=1).sort_index()
                if table.empty:
                    continue
                median, low, high = analysis.seed_band(table.to_numpy().T)
                ax.plot(table.index, median, label=label, color=colours[label])
                ax.fill_between(table.index, low, high, color=colours[label], alpha=0.2, linewidth=0)
            _thresholds(ax)
            ax.set(yscale="log", title=f"{problem}: {setting}" if setting else problem, xlabel="optimiser step", ylabel="relative L2 error (test points)")
        name = _file_name("error_vs_steps", problem, k)
        _save(fig, axes, out_dir / name)
        plots.append(Plot(name, f"{problem}: error against optimiser step (iterative methods), median over seeds with min-max band ({k})"))
    return plots


SIMULATED_TITLE = "simulated CPU devices: correctness check, not a speed-up"


def strong_scaling(runs: pd.DataFrame, out_dir: Path, problem: str) -> list[Plot]:
    """Strong-scaling series: time against devices (log-log, ideal T_b N_b / N dashed) and speed-up (ideal N / N_b).

    Series on XLA-simulated CPU devices get a figure of their own showing time only: no
    speed-up curve and no ideal line, for they share the same cores. Nothing without series.
    """
    return _scaling_figures(runs, out_dir, problem, "strong")


def weak_scaling(runs: pd.DataFrame, out_dir: Path, problem: str) -> list[Plot]:
    """Weak-scaling series: time against devices (ideal T_b dashed) and efficiency T_b / T_N (ideal 1 dashed).

    Series on simulated CPU devices are shown apart, time only, as in ``strong_scaling``.
    """
    return _scaling_figures(runs, out_dir, problem, "weak")


def _scaling_figures(runs: pd.DataFrame, out_dir: Path, problem: str, kind: str) -> list[Plot]:
    table = analysis.scaling_table(runs)
    table = table[table["scaling"] == kind]
    if table.empty:
        return []
    colours = _colours(runs.assign(label=runs["series_label"]) if "series_label" in runs else runs)
    plots = []
    real = table[~table["series_simulated"].astype(bool)]
    if len(real):
        fig, axes = _panels(2)
        time_ax, gain_ax = axes
        _scaling_time_lines(time_ax, real, colours, ideal=True)
        for i, (_, series) in enumerate(real.groupby(analysis.SCALING_SERIES, sort=False)):
            row = series.iloc[0]
            y = series["speedup"] if kind == "strong" else series["efficiency"]
            gain_ax.plot(series["device_count"], y, marker="o", color=_series_colour(colours, row["label"], i), label=analysis.series_name(row))
            _open_markers(gain_ax, series, y, _series_colour(colours, row["label"], i))
        counts = np.array(sorted(set(real["device_count"])), dtype=float)
        if kind == "strong":
            for j, base in enumerate(sorted(set(real["baseline_count"]))):
                shown = counts[counts >= base]
                gain_ax.plot(shown, shown / base, linestyle="--", color="grey", label="ideal: N / N_base" if j == 0 else None)
            gain_ax.set_yscale("log", base=2)
            gain_ax.set(ylabel="speed-up T(N_base) / T(N)")
        else:
            gain_ax.axhline(1.0, linestyle="--", color="grey", label="ideal: 1")
            gain_ax.set_ylim(bottom=0.0, top=max(1.1, float(real["efficiency"].max()) * 1.1))
            gain_ax.set(ylabel="weak-scaling efficiency T(N_base) / T(N)")
        gain_ax.set_xscale("log", base=2)
        gain_ax.set(xlabel="devices (GPUs or MPI ranks)", title=f"{problem}: {kind} scaling, {'speed-up' if kind == 'strong' else 'efficiency'}")
        time_ax.set(title=f"{problem}: {kind} scaling, time")
        name = _file_name(f"scaling_{kind}", problem)
        _save(fig, axes, out_dir / name)
        ideal = ("ideal time T_base·N_base/N and ideal speed-up N/N_base dashed" if kind == "strong"
                 else "ideal time T_base and ideal efficiency 1 dashed")
        over = " Open markers: MPI ranks beyond the host's cores (oversubscribed)." if real["oversubscribed"].any() else ""
        plots.append(Plot(name, f"{problem}: {kind} scaling on real devices, median time over seeds against device count "
                                f"and {'speed-up' if kind == 'strong' else 'efficiency'} ({ideal}).{over}"))
    simulated = table[table["series_simulated"].astype(bool)]
    if len(simulated):
        fig, axes = _panels(1)
        _scaling_time_lines(axes[0], simulated, colours, ideal=False)
        wrapped = SIMULATED_TITLE.replace(": ", ":\n", 1)
        axes[0].set_title(f"{problem}: {kind} scaling, {wrapped}", fontsize="medium")
        name = _file_name(f"scaling_{kind}", problem, "simulated")
        _save(fig, axes, out_dir / name)
        plots.append(Plot(name, f"{problem}: {kind}-scaling series on XLA-simulated CPU devices, which share the host's "
                                "cores: median time over seeds only, a correctness check, not a speed-up"))
    return plots


def _scaling_time_lines(ax: plt.Axes, table: pd.DataFrame, colours: dict[str, str], ideal: bool) -> None:
    """Median time against device count per series, log-log; with ``ideal``, each series' ideal time dashed."""
    for i, (_, series) in enumerate(table.groupby(analysis.SCALING_SERIES, sort=False)):
        row = series.iloc[0]
        colour = _series_colour(colours, row["label"], i)
        ax.plot(series["device_count"], series["time_s"], marker="o", color=colour, label=analysis.series_name(row))
        _open_markers(ax, series, series["time_s"], colour)
        if ideal:
            ax.plot(series["device_count"], series["ideal_time_s"], linestyle="--", color=colour, alpha=0.7,
                    label="ideal (dashed)" if i == 0 else None)
    ax.set_xscale("log", base=2)
    ax.set(yscale="log", xlabel="devices", ylabel="seconds: train_s (SciML) or solve_s (classical)")


def _open_markers(ax: plt.Axes, series: pd.DataFrame, y: pd.Series, colour: str) -> None:
    over = series["oversubscribed"].astype(bool)
    if over.any():
        ax.plot(series.loc[over, "device_count"], y[over], marker="o", markersize=9, markerfacecolor="white",
                linestyle="none", color=colour)


def _series_colour(colours: dict[str, str], label: str, i: int) -> str:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return colours.get(label, cycle[i % len(cycle)])


def _iterative_band(ax: plt.Axes, seed_curves: list[pd.DataFrame], label: str, colour: str) -> None:
    """Median of the seeds' best-error-so far on a shared log time grid, with a min-max band."""
    positive = [c[c["cost"] > 0] for c in seed_curves]
    positive = [c for c in positive if len(c)]
    if not positive:
        return
    start = min(c["cost"].iloc[0] for c in positive)
    stop = max(c["cost"].iloc[-1] for c in positive)
    grid = np.geomspace(start, stop, _GRID_POINTS) if stop > start else np.array([start])
    values = np.vstack([analysis.best_so_far(c, grid) for c in positive])
    median, low, high = analysis.seed_band(values)
    ax.plot(grid, median, label=f"{label} (n={len(positive)})", color=colour)
    ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0)


def _refinement_lines(ax: plt.Axes, seed_curves: list[pd.DataFrame], label: str, colour: str) -> None:
    """One marker line per run through its resolutions, cheapest first."""
    for i, curve in enumerate(seed_curves):
        curve = curve[curve["cost"] > 0]
        ax.plot(curve["cost"], curve["rel_l2"], marker="s", markersize=4, linestyle="--", color=colour,
                label=label if i == 0 else None)


def _thresholds(ax: plt.Axes) -> None:
    for eps in analysis.THRESHOLDS:
        ax.axhline(eps, color="grey", linestyle=":", linewidth=1)


def _panels(n: int) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4.5), squeeze=False)
    return fig, list(axes[0])


def _save(fig: plt.Figure, axes: list[plt.Axes], path: Path) -> None:
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fit_log_ticks(fig)
    fig.savefig(path, dpi=110)
    plt.close(fig)


MAX_TICK_LABELS = 8
"""More labels than this on one axis are clutter even where they fit."""


def fit_log_ticks(fig: plt.Figure) -> None:
    """Lays out ``fig`` with every log axis labelled at ticks whose labels do not overlap.

    Left alone, Matplotlib labels the minor ticks of a log axis spanning under about two
    decades (2×10⁰, 3×10⁰, ... 6×10¹), and on a narrow panel those labels run into each other.
    Here minor ticks stay unlabelled and the major ticks are the densest of 1-2-5 steps, whole
    powers, every k-th power, 1…9 steps or a few linear steps that fit (measured, not guessed).
    The x (or y) axes of all panels share one style of label, plain or a × 10^b.
    """
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    for name in ("x", "y"):
        axes = [axis for axis in (getattr(ax, f"{name}axis") for ax in fig.axes) if axis.get_scale() == "log"]
        plain = all(1e-3 <= bound < 1e4 for axis in axes for bound in axis.get_view_interval())
        for axis in axes:
            _label_log_axis(axis, _tick_formatter(plain), renderer)
    fig.tight_layout()  # the new labels may be wider or narrower than the old


def _label_log_axis(axis: Axis, formatter: ticker.Formatter, renderer: RendererBase) -> None:
    """Fixes the ticks of the first candidate layout with two to MAX_TICK_LABELS labels that fit (else the last)."""
    low, high = sorted(axis.get_view_interval())
    for locator in _log_locators(axis.get_transform().base):
        ticks = [t for t in locator.tick_values(low, high) if low <= t <= high]
        if 2 <= len(ticks) <= MAX_TICK_LABELS and _labels_fit(axis, ticks, formatter, renderer):
            break
    axis.set_major_locator(ticker.FixedLocator(ticks))  # exactly the ticks measured: the limits are final by now
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(ticker.NullFormatter())


def _log_locators(base: float) -> list[ticker.Locator]:
    """Tick layouts from most to least preferred: dense steps on short axes, thinned powers on wide ones."""
    steps = [ticker.LogLocator(base, subs=(1.0, 2.0, 5.0))] if base == 10 else []
    powers = [ticker.LogLocator(base, subs=(1.0,), numticks=n) for n in (MAX_TICK_LABELS, 5, 3)]
    return [*steps, *powers, ticker.LogLocator(base, subs=tuple(range(1, int(base)))), ticker.MaxNLocator(nbins=2)]


def _tick_formatter(plain: bool) -> ticker.Formatter:
    """Plain numbers (0.01, 2, 500), or a × 10^b (for axes reaching below 1e-3 or above 1e4)."""
    if plain:
        return ticker.FuncFormatter(lambda value, _: f"{value:g}")
    return ticker.FuncFormatter(lambda value, _: _power_of_ten(value))


def _power_of_ten(value: float) -> str:
    """``value`` as mathtext a × 10^b, the a left out when it is 1."""
    mantissa, exponent = f"{value:.2e}".split("e")
    power = f"10^{{{int(exponent)}}}"
    text = power if float(mantissa) == 1 else f"{float(mantissa):g}\\times{power}"
    return f"$\\mathdefault{{{text}}}$"  # the tick labels' font, as Matplotlib's own log labels


def _labels_fit(axis: Axis, ticks: list[float], formatter: ticker.Formatter, renderer: RendererBase) -> bool:
    """Whether the labels of ``ticks``, centred on their positions, keep half a font size apart along the axis."""
    horizontal = axis.axis_name == "x"
    label = axis.get_major_ticks()[0].label1
    sizes = []
    for tick in ticks:
        text = Text(0.0, 0.0, formatter(tick), fontproperties=label.get_fontproperties())
        text.set_figure(label.get_figure())
        extent = text.get_window_extent(renderer)
        sizes.append(extent.width if horizontal else extent.height)
    points = np.column_stack([ticks, ticks])  # a log axis maps only its own coordinate, so the other is a dummy
    centres = axis.axes.transData.transform(points)[:, 0 if horizontal else 1]
    order = np.argsort(centres)
    centres, sizes = centres[order], np.asarray(sizes)[order]
    gap = renderer.points_to_pixels(label.get_fontsize()) / 2
    return bool(np.all(np.diff(centres) >= (sizes[:-1] + sizes[1:]) / 2 + gap))


def _colours(runs: pd.DataFrame) -> dict[str, str]:
    """A fixed colour per label, so a configuration looks the same in every figure; more labels than the
    default cycle's colours get the twenty of ``tab20``, so no two share one."""
    labels = sorted(runs["label"].unique())
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if len(labels) > len(cycle):
        cycle = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20").colors]
    return {label: cycle[i % len(cycle)] for i, label in enumerate(labels)}


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i:i + PANELS_PER_FIGURE] for i in range(0, len(items), PANELS_PER_FIGURE)]


def _file_name(kind: str, problem: str, k: int | str | None = None) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", problem)
    return f"{kind}_{safe}{'' if k is None else f'_{k}'}.png"


@dataclass(frozen=True)
class PicturedSetting:
    """One problem setting with stored solution fields, and its reference picture (computed once)."""

    index: int
    heading: str
    chosen: list[pd.Series]
    """Each label's median-seed run."""
    problem: ForwardProblem | InverseProblem
    snapshot: Snapshot
    truth: np.ndarray

    @property
    def is_image(self) -> bool:
        """A reconstruction (grey levels from 0) rather than a signed field."""
        return isinstance(self.problem, InverseProblem)


def pictured_settings(runs: pd.DataFrame, store: Store, problem: str) -> list[PicturedSetting]:
    """The settings of ``problem``'s runs that stored solution fields, with the reference pictured."""
    pictured = []
    for k, (setting, group) in enumerate(runs.groupby("setting", sort=False), start=1):
        chosen = [_median_seed(seeds) for _, seeds in group[group["field_path"].astype(bool)].groupby("label", sort=False)]
        if not chosen:
            continue
        problem_object = _problem_of(store, chosen[0])
        snapshot = problem_object.snapshot()
        if isinstance(problem_object, InverseProblem):
            truth = problem_object.picture(problem_object.dataset("test").truths[0])
        elif snapshot is not None:
            truth = problem_object.picture(problem_object.reference(snapshot.points), snapshot)
        if snapshot is not None:
            pictured.append(PicturedSetting(k, f"{problem}: {setting}" if setting else problem, chosen, problem_object, snapshot, truth))
    return pictured


def snapshots(pictured: list[PicturedSetting], store: Store, out_dir: Path, problem: str) -> list[Plot]:
    """Per setting: the reference, then each label's median-seed solution and its error, as pictures."""
    plots = []
    for item in pictured:
        limit = float(np.percentile(np.abs(item.truth), 99.5))  # singular corners (a cavity's lid) must not wash out the rest
        cmap, low = "RdBu_r", -limit
        if item.is_image:  # the problem's colours over the truth's whole range (grey from 0 for CT and MRI)
            assert isinstance(item.problem, InverseProblem)
            limit, cmap = float(item.truth.max()), item.problem.picture_colormap
            low = 0.0 if item.problem.picture_from_zero else float(item.truth.min())
        fig, axes = plt.subplots(2, len(item.chosen) + 1, figsize=(3.2 * (len(item.chosen) + 1), 6.0), squeeze=False)
        _picture(fig, axes[0, 0], item.truth, item.snapshot.extent, "ground truth" if item.is_image else "reference", cmap, low, limit)
        axes[1, 0].axis("off")
        for column, row in enumerate(item.chosen, start=1):
            field = store.field(row)
            score = f"rel L2 {row['rel_l2']:.2g}"
            if item.is_image and "psnr" in item.problem.default_metrics:
                score = f"PSNR {row[analysis.METRIC_PREFIX + 'psnr']:.1f} dB (test mean)"
            elif item.is_image:
                score = f"rel L2 {row['rel_l2']:.3f}, SSIM {row[analysis.METRIC_PREFIX + 'ssim']:.2f} (test mean)"
            _picture(fig, axes[0, column], field, item.snapshot.extent, f"{row['label']}\n{score}", cmap, low, limit)
            error = np.abs(field - item.truth)
            _picture(fig, axes[1, column], error, item.snapshot.extent, "|error|", "magma", 0.0, float(np.percentile(error, 99.5)))
        fig.suptitle(_captioned(item))
        name = _file_name("snapshot", problem, item.index)
        _save_picture(fig, out_dir / name)
        plots.append(Plot(name, f"{item.heading}: reference, each method's solution (the seed with the median error) and its error"))
    return plots


def spectra(pictured: list[PicturedSetting], runs: pd.DataFrame, store: Store, out_dir: Path, problem: str) -> list[Plot]:
    """Per setting, for problems that define a spectrum: the reference's and each label's (median seed), log-log."""
    plots = []
    colours = _colours(runs)
    for item in pictured:
        truth = None if item.is_image else item.problem.spectrum(item.truth)
        if truth is None:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        ax.loglog(*truth, color="black", linewidth=2.0, label="reference")
        for row in item.chosen:
            ax.loglog(*item.problem.spectrum(store.field(row)), color=colours[row["label"]], label=row["label"])
        ax.set(xlabel="wavenumber |k|", ylabel="energy spectrum E(k)", title=_captioned(item))
        ax.legend(fontsize="small")
        ax.grid(True, which="both", alpha=0.3)
        name = _file_name("spectrum", problem, item.index)
        _save_picture(fig, out_dir / name)
        plots.append(Plot(name, f"{item.heading}: energy spectrum of the pictured field, reference and each method (median seed)"))
    return plots


def _captioned(item: PicturedSetting) -> str:
    return f"{item.heading} ({item.snapshot.caption})" if item.snapshot.caption else item.heading


def _save_picture(fig: plt.Figure, path: Path) -> None:
    fit_log_ticks(fig)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _scale_column(runs: pd.DataFrame) -> str | None:
    """The first varying problem-parameter column, if it is numeric (the x axis of scale plots)."""
    varying = analysis.varying_params(runs)
    if not varying or pd.to_numeric(runs[varying[0]], errors="coerce").isna().any():
        return None
    return varying[0]


def _median_seed(seeds: pd.DataFrame) -> pd.Series:
    ordered = seeds.sort_values("rel_l2", na_position="last")
    return ordered.iloc[(len(ordered) - 1) // 2]


def problem_of(store: Store, row: pd.Series) -> Problem:
    """The problem a record ran, rebuilt from its stored parameters."""
    params = json.loads((store.records_dir / f"{row['record_id']}.json").read_text())["problem_params"]
    return registry.problem_class(row["problem"])(**params)


def _problem_of(store: Store, row: pd.Series) -> ForwardProblem | InverseProblem:
    problem = problem_of(store, row)
    assert isinstance(problem, (ForwardProblem, InverseProblem))
    return problem


def _picture(fig: plt.Figure, ax: plt.Axes, values: np.ndarray, extent: tuple[float, ...], title: str, cmap: str, vmin: float, vmax: float | None) -> None:
    image = ax.imshow(values.T, origin="lower", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax, aspect="equal")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize="small")
    ax.set_xticks([]), ax.set_yticks([])
