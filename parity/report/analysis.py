"""Pure pandas summaries of records and traces: selection, costs, and per-seed statistics.

Every comparison here is made on *cost*, the honest time to a checkpoint: for iterative
(SciML) traces ``setup_s + compile_s + wall_s``; for refinement (classical) traces
``compile_s + wall_s`` (each solve's own time includes its setup). Seeds are summarised by their median, never by their best.
"""

from __future__ import annotations

import math

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

THRESHOLDS = (1e-1, 1e-2, 1e-3)
BUDGETS = (0.01, 0.1, 1.0, 10.0, 60.0, 300.0)
GROUP = ["problem", "setting", "label"]
"""A table row: one configuration (label) at one problem-parameter setting."""

PARAM_PREFIX = "problem_params."
METRIC_PREFIX = "metrics."
"""Columns of a problem's own metrics (``ForwardProblem.extra_metrics``)."""
_NUMERIC = (
    "seed", "rel_l2", "norm_l1", "max_abs", "setup_s", "compile_s", "train_s", "solve_s",
    "eval_s", "inference_s", "total_s", "steps", "steps_per_s", "info.n_params", "reconstruction_s", "instance_s", "data_s",
)
_TEXT = (
    "record_id", "case_key", "problem", "solver", "family", "label", "status", "message", "trace_kind",
    "git_commit", "host", "device_kind", "python", "field_path", "problem_kind",
)


def select_runs(frame: pd.DataFrame, case_keys: set[str] | None = None, problem: str | None = None) -> pd.DataFrame:
    """The latest record per case key among those matching the filters, sorted for display.

    A rerun (after an error or timeout) supersedes its earlier attempt, so only the newest
    record of a case counts. Columns the report reads are guaranteed to exist.
    """
    runs = frame
    if not runs.empty and case_keys is not None:
        runs = runs[runs["case_key"].isin(case_keys)]
    if not runs.empty and problem is not None:
        runs = runs[runs["problem"] == problem]
    if runs.empty:
        filters = [f"problem {problem!r}"] if problem is not None else []
        if case_keys is not None:
            filters.append(f"{len(case_keys)} case keys")
        raise ValueError(f"no records match ({', '.join(filters) or 'no filter'}) among {len(frame)} records in the store")
    runs = runs.sort_values("created_utc").drop_duplicates("case_key", keep="last").copy()
    for col in _NUMERIC:
        runs[col] = pd.to_numeric(runs[col], errors="coerce") if col in runs else np.nan
    for col in metric_columns(runs):
        runs[col] = pd.to_numeric(runs[col], errors="coerce")
    for col in _TEXT:
        runs[col] = runs[col].fillna("").astype(str) if col in runs else ""
    runs["problem_kind"] = runs["problem_kind"].replace("", "forward")  # records from before inverse problems existed
    runs["setting"], runs["_order"] = "", 0
    for _, group in runs.groupby("problem"):
        varying = varying_params(group)
        values = group[varying].map(hashable).apply(tuple, axis=1) if varying else pd.Series([()] * len(group), index=group.index)
        ranks = {v: i for i, v in enumerate(_sorted(set(values)))}
        runs.loc[group.index, "_order"] = values.map(ranks)
        # A knob a record lacks (made before it existed, or a test-only knob left at its default) is not named.
        runs.loc[group.index, "setting"] = values.map(lambda v: ", ".join(f"{_knob(c)}={param_text(x)}" for c, x in zip(varying, v)
                                                                          if not _missing(x)))
    _label_device_counts(runs)
    return runs.sort_values(["problem", "_order", "series_label", "_devices", "seed"], ignore_index=True).drop(columns=["_order", "_devices"])


def _label_device_counts(runs: pd.DataFrame) -> None:
    """Names the device count in the labels of configurations run at several counts (in place).

    Otherwise the runs of a scaling series would pool as if they were seeds of one group in
    every table. The label as given stays in ``series_label`` (what scaling series group by).
    """
    runs["series_label"] = runs["label"]
    runs["_devices"] = _numeric_column(runs, "device_count").fillna(1).astype(int)
    mixed = runs.groupby(["problem", "label"])["_devices"].transform("nunique") > 1
    kinds = runs["device_kind"].astype(str)
    for index in runs.index[mixed]:
        n = int(runs.at[index, "_devices"])
        unit = "rank" if "MPI" in kinds[index] else "device"
        runs.at[index, "label"] = f"{runs.at[index, 'label']} ({n} {unit}{'' if n == 1 else 's'})"


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The problem-specific metric columns that some run has a value for."""
    return [c for c in runs.columns if c.startswith(METRIC_PREFIX) and runs[c].notna().any()]


def varying_params(runs: pd.DataFrame) -> list[str]:
    """The ``problem_params.*`` columns whose value differs among ``runs`` (the scale knobs)."""
    return [c for c in _param_columns(runs) if runs[c].map(hashable).nunique(dropna=False) > 1]


def fixed_params(runs: pd.DataFrame) -> dict[str, Any]:
    """Knob name -> value for the problem parameters shared by every run."""
    varying = set(varying_params(runs))
    return {_knob(c): runs[c].iloc[0] for c in _param_columns(runs) if c not in varying}


def cost_curve(run: Mapping[str, Any], trace: pd.DataFrame) -> pd.DataFrame:
    """The run's trace as ``cost, step, rel_l2`` rows sorted by cost (NaN errors dropped).

    Iterative traces count training seconds only, so setup and JIT compile are added;
    refinement rows are independent solves whose own time (setup included) is the cost,
    plus any one-off compile time (FFCx forms, Devito operators).
    """
    if trace.empty:
        return pd.DataFrame({"cost": [], "step": [], "rel_l2": []}, dtype=float)
    if run.get("problem_kind") == "operator" and run.get("trace_kind") == "refinement":
        offset = 0.0  # a coarse-grid sweep's points are seconds per instance: compiling is not repeated per instance
    else:
        offset = _zero_if_nan(run.get("compile_s"))
    if run.get("trace_kind") == "iterative":
        offset += _zero_if_nan(run.get("setup_s"))
    curve = pd.DataFrame({
        "cost": pd.to_numeric(trace["wall_s"], errors="coerce") + offset,
        "step": pd.to_numeric(trace["step"], errors="coerce"),
        "rel_l2": pd.to_numeric(trace["rel_l2"], errors="coerce"),
    })
    return curve.dropna(subset=["cost", "rel_l2"]).sort_values("cost", kind="stable", ignore_index=True)


def time_to_accuracy(curve: pd.DataFrame, eps: float) -> float:
    """The cheapest cost at which the run's error was at most ``eps``; NaN if never."""
    reached = curve.loc[curve["rel_l2"] <= eps, "cost"]
    return float(reached.min()) if len(reached) else float("nan")


def best_error_within(curve: pd.DataFrame, budget: float) -> float:
    """The lowest error the run had reached at cost ``budget``; NaN if it had no result yet."""
    within = curve.loc[curve["cost"] <= budget, "rel_l2"]
    return float(within.min()) if len(within) else float("nan")


def median_of_available(values: Iterable[float]) -> tuple[float, int, int]:
    """(median over the finite values, how many were finite, how many in all)."""
    arr = np.asarray(list(values), dtype=float)
    finite = arr[np.isfinite(arr)]
    return (float(np.median(finite)) if finite.size else float("nan")), int(finite.size), int(arr.size)


def median_counting_misses(times: Iterable[float]) -> tuple[float, int, int]:
    """(median over all seeds with a miss counted as infinitely slow, seeds that got there, seeds).

    The median is NaN ("not reached") unless at least half of the seeds got there, so a
    lucky seed cannot stand for a method that usually fails.
    """
    arr = np.asarray(list(times), dtype=float)
    reached = np.isfinite(arr)
    median = float(np.median(np.where(reached, arr, np.inf))) if arr.size else float("nan")
    return (median if np.isfinite(median) else float("nan")), int(reached.sum()), int(arr.size)


def time_to_accuracy_table(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame], thresholds: Iterable[float] = THRESHOLDS) -> pd.DataFrame:
    """Per group and threshold: median time over all seeds (misses count as never), and k of n seeds."""
    rows = []
    for key, group in runs.groupby(GROUP, sort=False):
        for eps in thresholds:
            times = [time_to_accuracy(curves[r], eps) for r in group["record_id"]]
            median, reached, n = median_counting_misses(times)
            rows.append({**dict(zip(GROUP, key)), "eps": eps, "median_s": median, "reached": reached, "n": n})
    return pd.DataFrame(rows, columns=[*GROUP, "eps", "median_s", "reached", "n"])


def budgets_for(curves: Iterable[pd.DataFrame], candidates: Iterable[float] = BUDGETS) -> list[float]:
    """The candidate budgets up to the first one that covers the longest run.

    The last budget lets every run finish, so equal cost is also compared at the SciML
    runs' full training, not only part-way through it.
    """
    candidates = sorted(candidates)
    longest = max((float(c["cost"].max()) for c in curves if len(c)), default=0.0)
    within = [b for b in candidates if b < longest]
    covering = [b for b in candidates if b >= longest][:1]
    return within + covering or candidates[-1:]


def error_at_budget_table(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame], budgets: Iterable[float]) -> pd.DataFrame:
    """Per group and budget: median best-so-far error over the seeds that had a result by then."""
    rows = []
    for key, group in runs.groupby(GROUP, sort=False):
        for budget in budgets:
            errors = [best_error_within(curves[r], budget) for r in group["record_id"]]
            median, available, n = median_of_available(errors)
            rows.append({**dict(zip(GROUP, key)), "budget_s": budget, "median": median, "available": available, "n": n})
    return pd.DataFrame(rows, columns=[*GROUP, "budget_s", "median", "available", "n"])


def final_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per group: final errors (median, min, max over seeds), median costs, and status counts."""
    rows = []
    for key, group in runs.groupby(GROUP, sort=False):
        row: dict[str, Any] = dict(zip(GROUP, key))
        row["family"] = group["family"].iloc[0]
        row["n"] = len(group)
        row["statuses"] = group["status"].value_counts().to_dict()
        for col in ("rel_l2", "norm_l1", *metric_columns(runs)):
            row[col], row[f"{col}_min"], row[f"{col}_max"] = group[col].median(), group[col].min(), group[col].max()
        for col in ("setup_s", "compile_s", "train_s", "solve_s", "inference_s", "steps", "steps_per_s", "info.n_params"):
            row[col] = group[col].median()
        rows.append(row)
    return pd.DataFrame(rows)


def ablation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per problem setting that holds a training recipe and variants of it with ingredients dropped or added
    (an ablation), every SciML group's final error against the full recipe's and its cost per step
    against the plain network's (recipe "plain", nothing added). Empty when no setting has an ablation.

    Columns: ``problem``, ``setting``, ``label``, ``ingredients``, ``rel_l2`` (median, ``_min``, ``_max``),
    ``vs_recipe`` (median error / the full recipe's), ``steps``, ``ms_per_step`` (medians) and
    ``cost_vs_plain``.
    """
    sciml = runs[runs["family"] == "sciml"]
    if sciml.empty or "solver_config.recipe" not in sciml:
        return pd.DataFrame()
    config = pd.DataFrame({
        "recipe": sciml["solver_config.recipe"].where(sciml["solver_config.recipe"].notna(), "plain"),
        "changed": [bool(_listed(a)) or bool(_listed(d)) for a, d in zip(_column(sciml, "solver_config.add"), _column(sciml, "solver_config.drop"))],
        "ingredients": [", ".join(_listed(i)) or "none" for i in _column(sciml, "info.ingredients")],
    }, index=sciml.index)
    finals = final_table(sciml).set_index(GROUP)
    rows = []
    for (problem, setting), chosen in sciml.groupby(["problem", "setting"], sort=False):
        kinds = config.loc[chosen.index]
        full = chosen[(kinds["recipe"] != "plain") & ~kinds["changed"]]
        if full.empty or not (kinds["changed"] & (kinds["recipe"] != "plain")).any():
            continue
        plain = chosen[(kinds["recipe"] == "plain") & ~kinds["changed"]]
        ms = 1000 * chosen["train_s"] / chosen["steps"]
        full_error = finals.loc[(problem, setting, full["label"].iloc[0]), "rel_l2"]
        plain_ms = ms[plain.index].median() if len(plain) else np.nan
        for label, group in chosen.groupby("label", sort=False):
            final = finals.loc[(problem, setting, label)]
            rows.append({
                "problem": problem, "setting": setting, "label": label, "ingredients": config.loc[group.index[0], "ingredients"],
                "rel_l2": final["rel_l2"], "rel_l2_min": final["rel_l2_min"], "rel_l2_max": final["rel_l2_max"],
                "vs_recipe": final["rel_l2"] / full_error, "steps": final["steps"], "ms_per_step": ms[group.index].median(),
                "cost_vs_plain": ms[group.index].median() / plain_ms,
            })
    return pd.DataFrame(rows)


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    return runs[name] if name in runs else pd.Series([None] * len(runs), index=runs.index)


def _listed(value: Any) -> list[str]:
    """A record's list field (absent, NaN or a list) as a list of strings."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    return []


def is_inverse(runs: pd.DataFrame) -> bool:
    """Whether ``runs`` (one problem's) are reconstructions of an inverse problem."""
    return bool((runs["problem_kind"] == "inverse").any())


IMAGE_QUALITY = ("psnr", "ssim", "nmse", "hallucination")
"""What an image reconstruction (CT, MRI) is scored by; the best has the highest PSNR (hallucination: share of the truth's flat
pixels where the reconstruction shows an edge, ``image_quality.hallucination``; absent from records made before it existed)."""
FIELD_QUALITY = ("rel_l2", "mae", "ssim", "data_misfit")
"""What a recovered parameter field (a seismic velocity model) is scored by; the best has the lowest rel L2."""


def reconstruction_quality(runs: pd.DataFrame) -> tuple[str, ...]:
    """The quality measures of an inverse problem's runs: a field's when they record a data misfit, else an image's
    (without the hallucination score when no run records it)."""
    def recorded(metric: str) -> bool:
        return METRIC_PREFIX + metric in runs and bool(runs[METRIC_PREFIX + metric].notna().any())

    if recorded("data_misfit"):
        return FIELD_QUALITY
    return IMAGE_QUALITY if recorded("hallucination") else tuple(m for m in IMAGE_QUALITY if m != "hallucination")


def quality_column(metric: str) -> str:
    """The record column of a quality measure (the evaluator's rel_l2 is a top-level column)."""
    return metric if metric == "rel_l2" else METRIC_PREFIX + metric


def reconstruction_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Inverse problems, per group: quality over seeds, one-off and per-sample cost, wave solves, and the break-even.

    One-off cost is set-up + compile + training (learned) or tuning on validation
    (classical). Per setting, each learned method is set against the best classical method
    (highest median PSNR for images, lowest median rel L2 for fields): it amortises its extra
    one-off cost after ``(one_off - one_off_classical) / (per_image_classical - per_image)``
    reconstructions, or never if it is not faster per image.
    """
    quality = reconstruction_quality(runs)
    rows = []
    for key, group in runs.groupby(GROUP, sort=False):
        one_off = group[["setup_s", "compile_s", "train_s"]].fillna(0.0).sum(axis=1)
        solves = group["info.wave_solves_per_model"] if "info.wave_solves_per_model" in group else pd.Series(dtype=float)
        row: dict[str, Any] = {**dict(zip(GROUP, key)), "family": group["family"].iloc[0], "n": len(group),
                               "one_off_s": float(one_off.median()), "per_image_s": float(group["reconstruction_s"].median()),
                               "wave_solves": float(pd.to_numeric(solves).median())}
        for metric in quality:
            column = quality_column(metric)
            values = group[column] if column in group else pd.Series(dtype=float)
            row[metric], row[f"{metric}_min"], row[f"{metric}_max"] = values.median(), values.min(), values.max()
        rows.append(row)
    table = pd.DataFrame(rows)
    table["versus"], table["break_even"] = "", np.nan
    for _, rows_of_setting in table.groupby(["problem", "setting"], sort=False):
        best = best_reconstruction(rows_of_setting, "classical", quality)
        if best is None:
            continue
        for index, row in rows_of_setting[rows_of_setting["family"] == "sciml"].iterrows():
            saving = best["per_image_s"] - row["per_image_s"]
            table.loc[index, "versus"] = best["label"]
            table.loc[index, "break_even"] = max(0.0, (row["one_off_s"] - best["one_off_s"]) / saving) if saving > 0 else np.inf
    return table


def best_reconstruction(table: pd.DataFrame, family: str, quality: tuple[str, ...]) -> pd.Series | None:
    """The row of ``reconstruction_table`` of ``family`` with the best quality, or None.

    Best is the highest median PSNR for images and the lowest median rel L2 for fields; rows
    without that value do not compete, and the first of equals wins.
    """
    rank_by, higher_is_better = ("psnr", True) if "psnr" in quality else ("rel_l2", False)
    return best_row(table[table["family"] == family], rank_by, higher_is_better)


def best_row(rows: pd.DataFrame, column: str, higher_is_better: bool) -> pd.Series | None:
    """The row with the best ``column`` value (rows without one do not compete; the first of equals wins), or None."""
    ranked = rows.dropna(subset=[column]).sort_values(column, ascending=not higher_is_better, kind="stable")
    return ranked.iloc[0] if len(ranked) else None


def concurrency(runs: pd.DataFrame) -> pd.Series:
    """Per run, how many cases ran side by side on the host while it was measured (1 where the record does not say).

    Seconds measured side by side are inflated by the neighbours and are not comparable with
    seconds measured alone; errors are unaffected.
    """
    return _numeric_column(runs, "concurrency").fillna(1).clip(lower=1).astype(int)


def side_by_side(runs: pd.DataFrame) -> dict[int, int]:
    """k -> how many runs were measured with k > 1 cases running side by side on the host."""
    counts = concurrency(runs).value_counts()
    return {int(k): int(n) for k, n in sorted(counts.items()) if k > 1}


def failures(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs whose status is not ``ok``, with the first line of their message."""
    failed = runs[runs["status"] != "ok"].copy()
    failed["first_line"] = failed["message"].map(lambda m: next(iter(m.strip().splitlines()), ""))
    return failed


def best_so_far(curve: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """The run's best error reached by each grid cost; NaN before its first and after its last checkpoint."""
    out = np.full(len(grid), np.nan)
    if curve.empty:
        return out
    costs = curve["cost"].to_numpy()
    best = np.minimum.accumulate(curve["rel_l2"].to_numpy())
    idx = np.searchsorted(costs, grid, side="right") - 1
    inside = (idx >= 0) & (grid <= costs[-1])
    out[inside] = best[idx[inside]]
    return out


def seed_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max across seeds (rows) at each grid point (columns), ignoring NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are expected: no seed there
        return np.nanmedian(values, axis=0), np.nanmin(values, axis=0), np.nanmax(values, axis=0)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def param_text(value: Any) -> str:
    """A compact display of one problem-parameter value."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(param_text, value))
    return str(value)


def _param_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c.startswith(PARAM_PREFIX) and runs[c].notna().any()]


def _knob(column: str) -> str:
    return column.removeprefix(PARAM_PREFIX)


def hashable(value: Any) -> Any:
    """A record's parameter value as a dict key (lists become tuples)."""
    return tuple(map(hashable, value)) if isinstance(value, (list, tuple)) else value


def _sorted(values: set[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=repr)


def _zero_if_nan(value: Any) -> float:
    value = pd.to_numeric(value, errors="coerce")
    return 0.0 if pd.isna(value) else float(value)


SCALING_KINDS = ("strong", "weak")
SCALING_SERIES = ["problem", "scaling", "label", "setting", "device_kind"]
"""A scaling series: one configuration on one kind of device at several device counts.

For a strong series ``setting`` is the problem setting (the same at every count); for a weak
series, whose problem or solver knobs grow with the count, it holds only the grid knobs that
do not (empty when none), and each row's own setting is in ``row_setting``.
"""
SCALING_COLUMNS = [
    *SCALING_SERIES, "device_count", "row_setting", "n", "time_s", "time_from", "baseline_count", "baseline_s",
    "speedup", "efficiency", "ideal_time_s", "ideal_speedup", "comm_bytes_per_step", "simulated", "series_simulated",
    "oversubscribed", "cpu_count", "baseline_note",
]


def scaling_time(runs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(seconds, which column) per run: ``train_s`` when finite and positive, else ``solve_s``.

    ``train_s`` is SciML training time for the run's steps, set-up and JIT compile excluded;
    ``solve_s`` is a classical solve's time. FWI-like records keep ``train_s = 0``.
    """
    train = pd.to_numeric(runs["train_s"], errors="coerce") if "train_s" in runs else pd.Series(np.nan, index=runs.index)
    solve = pd.to_numeric(runs["solve_s"], errors="coerce") if "solve_s" in runs else pd.Series(np.nan, index=runs.index)
    use_train = np.isfinite(train) & (train > 0)
    return train.where(use_train, solve), pd.Series(np.where(use_train, "train_s", "solve_s"), index=runs.index)


def scaling_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per scaling series and device count: median time over seeds, speed-up or efficiency, and flags.

    Only runs with status ok and ``scaling`` "strong" or "weak" count. Time is ``scaling_time``
    (training seconds for SciML, solve seconds for classical), the median over seeds. The
    baseline is the series' smallest device count N_b (1 when it has a one-device run; else
    ``baseline_note`` says so), with time T_b:

    - strong (the same problem on N devices): ``speedup = T_b / T_N``, ideal ``N / N_b``;
      ``efficiency = speedup / (N / N_b)`` (parallel efficiency, ideal 1); ideal time ``T_b N_b / N``.
    - weak (work per device fixed): ``efficiency = T_b / T_N``, ideal 1; ideal time ``T_b``.

    ``simulated``: the run's devices were XLA-simulated CPU devices sharing the host's cores
    (``devices_simulated``; when a record lacks it, several devices of kind "cpu"). A series
    with any simulated count is ``series_simulated`` and gets no speed-up, efficiency or ideal
    figures (NaN): its timings are a correctness check, not a speed-up. ``oversubscribed``: MPI
    ranks beyond the host's cores. A series needs at least two device counts with a time.
    """
    empty = pd.DataFrame(columns=SCALING_COLUMNS)
    if runs.empty or "scaling" not in runs:
        return empty
    chosen = runs[(runs["status"] == "ok") & runs["scaling"].fillna("").astype(str).isin(SCALING_KINDS)].copy()
    if chosen.empty:
        return empty
    chosen["_time"], chosen["_from"] = scaling_time(chosen)
    chosen["_count"] = _numeric_column(chosen, "device_count").fillna(1).astype(int)
    chosen["_cpus"] = _numeric_column(chosen, "cpu_count")
    chosen["_comm"] = _numeric_column(chosen, "info.comm_bytes_per_step")
    chosen["device_kind"] = chosen["device_kind"].fillna("").astype(str) if "device_kind" in chosen else ""
    recorded = chosen["devices_simulated"] if "devices_simulated" in chosen else pd.Series(None, index=chosen.index, dtype=object)
    guessed = (chosen["device_kind"] == "cpu") & (chosen["_count"] > 1)
    chosen["_sim"] = [bool(r) if r is not None and r == r else bool(g) for r, g in zip(recorded, guessed)]
    rows: list[dict[str, Any]] = []
    chosen["_label"] = chosen["series_label"] if "series_label" in chosen else chosen["label"]
    for (problem, kind, label, device_kind), group in chosen.groupby(["problem", "scaling", "_label", "device_kind"], sort=False):
        for setting, series in _scaling_series(group, kind):
            rows += _series_rows(series, problem=problem, scaling=kind, label=label, setting=setting, device_kind=device_kind)
    return pd.DataFrame(rows, columns=SCALING_COLUMNS) if rows else empty


def series_name(row: Mapping[str, Any], with_device: bool = True) -> str:
    """A scaling series as text: its kind, label, fixed setting and (``with_device``) device kind."""
    setting = f" @ {row['setting']}" if row["setting"] else ""
    device = f" on {row['device_kind'] or 'unknown device'}" if with_device else ""
    return f"{row['scaling']}: {row['label']}{setting}{device}"


def _scaling_series(group: pd.DataFrame, kind: str) -> list[tuple[str, pd.DataFrame]]:
    """(fixed setting, runs) of each series within one (problem, kind, label, device kind) group.

    Strong series split by problem setting. Weak series split only by the varying problem
    knobs that are not set by the device count (a grid swept alongside the device axis).
    """
    if kind == "strong":
        return [(str(setting), series) for setting, series in group.groupby("setting", sort=False)]
    per_count = group.groupby("_count")
    grid = [c for c in varying_params(group) if per_count[c].agg(lambda v: v.map(hashable).nunique(dropna=False)).max() > 1]
    if not grid:
        return [("", group)]
    keys = group[grid].map(hashable).apply(tuple, axis=1)
    return [(", ".join(f"{_knob(c)}={param_text(x)}" for c, x in zip(grid, key)), group[keys == key])
            for key in _sorted(set(keys))]


def _series_rows(series: pd.DataFrame, **key: Any) -> list[dict[str, Any]]:
    per_count = []
    for count, runs_at in series.groupby("_count", sort=True):
        times = runs_at["_time"].to_numpy(dtype=float)
        finite = times[np.isfinite(times)]
        cpus = runs_at["_cpus"].max()
        per_count.append({
            **key, "device_count": int(count), "row_setting": ", ".join(sorted({s for s in runs_at["setting"] if s})),
            "n": int(finite.size), "time_s": float(np.median(finite)) if finite.size else np.nan,
            "time_from": "/".join(sorted(set(runs_at["_from"]))), "comm_bytes_per_step": float(runs_at["_comm"].median()),
            "simulated": bool(runs_at["_sim"].any()),
            "oversubscribed": bool("MPI" in key["device_kind"] and np.isfinite(cpus) and cpus > 0 and count > cpus),
            "cpu_count": float(cpus),
        })
    timed = [r for r in per_count if np.isfinite(r["time_s"])]
    if len(timed) < 2:
        return []
    base = timed[0]
    simulated = any(r["simulated"] for r in per_count)
    note = "" if base["device_count"] == 1 else f"baseline: smallest count {base['device_count']} (no 1-device run)"
    for row in per_count:
        ratio, scale = base["time_s"] / row["time_s"], row["device_count"] / base["device_count"]
        strong = key["scaling"] == "strong"
        row.update(baseline_count=base["device_count"], baseline_s=base["time_s"], series_simulated=simulated,
                   baseline_note=note if row is base else "",
                   speedup=np.nan if simulated or not strong else ratio,
                   efficiency=np.nan if simulated else (ratio / scale if strong else ratio),
                   ideal_time_s=np.nan if simulated else (base["time_s"] / scale if strong else base["time_s"]),
                   ideal_speedup=np.nan if simulated or not strong else scale)
    return per_count


def _numeric_column(runs: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(runs[column], errors="coerce") if column in runs else pd.Series(np.nan, index=runs.index)
