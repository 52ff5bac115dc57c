"""The verdict: per problem and setting, the best classical method set against the best SciML method.

It opens the report, so a reader learns first what the tables below establish. Its numbers
are read off those same tables (``analysis.time_to_accuracy_table``, ``error_at_budget_table``,
``final_table``, ``reconstruction_table``), so the two cannot disagree. Verdicts are plain,
JSON-ready dicts; ``render`` puts them into words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from parity.report import analysis, assimilation, operator_learning
from parity.report.alone import measured_alone

Verdict = dict[str, Any]
"""One problem setting: ``problem``, ``setting``, ``kind`` ("forward", "inverse", "operator" or "assimilation"), ``classical`` and ``sciml``
(the best method's numbers, or None when the family has no result there; with ``floor`` where its records name a
modelling gap), ``alone`` (whether every second of theirs was measured alone) and ``side_by_side`` (why not, or ''),
and the levels compared: forward ``thresholds``, ``time_ratio``, ``budgets_s``, ``headline_eps``,
``headline_budget_s``; inverse ``quality`` (the metric names). Ratios and break-even counts are NaN unless ``alone``."""

GAP = "info.modelling_gap."
"""Record columns of a modelling gap: ``rel_l2`` (the method's problem against the reference it is scored on) and ``what``."""

FAMILIES = ("classical", "sciml")


def verdicts(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> list[Verdict]:
    """One verdict per problem and setting of ``runs`` (as chosen by ``analysis.select_runs``)."""
    out: list[Verdict] = []
    for _, chosen in runs.groupby("problem", sort=False):
        if operator_learning.is_operator(chosen):
            out += operator_learning.verdicts(chosen, curves)
        elif assimilation.is_assimilation(chosen):
            out += assimilation.verdicts(chosen)
        else:
            out += inverse_verdicts(chosen) if analysis.is_inverse(chosen) else forward_verdicts(chosen, curves)
    return out


def forward_verdicts(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> list[Verdict]:
    """Per setting, the best method of each family (lowest median final rel L2 over seeds, a failed seed
    counting as the worst) with its times to the report's thresholds and errors at its budgets.

    ``time_ratio`` is SciML time / classical time at each threshold: NaN where either never got
    there or where any of their seconds were measured side by side (see ``alone``).
    """
    finals = _with_final_error(analysis.final_table(runs), runs)
    times = analysis.time_to_accuracy_table(runs, curves)
    budgets = analysis.budgets_for(curves[r] for r in runs["record_id"])
    errors = analysis.error_at_budget_table(runs, curves, budgets)
    out = []
    for (problem, setting), rows in finals.groupby(["problem", "setting"], sort=False):
        sides = {}
        for family in FAMILIES:
            best = analysis.best_row(rows[rows["family"] == family], "final_error", higher_is_better=False)
            sides[family] = None if best is None else {
                **_method(best, runs), "final_rel_l2": best["final_error"],
                "time_s": list(_of(times, best)["median_s"]), "error": list(_of(errors, best)["median"]),
            }
        measured = measured_alone(_records(runs, sides, problem, setting), runs)
        verdict: Verdict = {"problem": problem, "setting": setting, "kind": "forward", **sides, "alone": measured.alone,
                            "side_by_side": measured.reason, "thresholds": list(analysis.THRESHOLDS), "budgets_s": list(budgets)}
        verdict["time_ratio"] = _time_ratio(sides) if measured.alone else [np.nan] * len(analysis.THRESHOLDS)
        verdict["headline_eps"] = _headline_eps(sides)
        verdict["headline_budget_s"] = _headline_budget(sides, budgets) if measured.alone else np.nan
        out.append(verdict)
    return out


def inverse_verdicts(runs: pd.DataFrame) -> list[Verdict]:
    """Per setting, the best classical and the best learned reconstruction (as the reconstruction table ranks
    them) with their quality, per-sample and one-off cost, and the learned method's break-even against
    that classical method (NaN where any of their seconds were measured side by side)."""
    table = analysis.reconstruction_table(runs)
    quality = analysis.reconstruction_quality(runs)
    finals = analysis.final_table(runs)
    out = []
    for (problem, setting), rows in table.groupby(["problem", "setting"], sort=False):
        sides = {}
        for family in FAMILIES:
            best = analysis.best_reconstruction(rows, family, quality)
            sides[family] = None if best is None else {
                **_method(_of(finals, best).iloc[0], runs), **{metric: best[metric] for metric in quality},
                "per_sample_s": best["per_image_s"], "one_off_s": best["one_off_s"], "break_even": best["break_even"],
            }
        measured = measured_alone(_records(runs, sides, problem, setting), runs)
        if sides["sciml"] is not None and not measured.alone:
            sides["sciml"]["break_even"] = np.nan
        out.append({"problem": problem, "setting": setting, "kind": "inverse", **sides, "alone": measured.alone,
                    "side_by_side": measured.reason, "quality": list(quality)})
    return out


def _with_final_error(finals: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``finals`` with ``final_error``: the median final rel L2 over all seeds, a failed seed counting as infinite.

    ``final_table``'s median skips failed seeds, so one good seed of three would stand for the method.
    """
    medians = {key: analysis.median_counting_misses(group["rel_l2"])[0] for key, group in runs.groupby(analysis.GROUP, sort=False)}
    return finals.assign(final_error=[medians[key] for key in finals[analysis.GROUP].itertuples(index=False, name=None)])


def _method(row: pd.Series, runs: pd.DataFrame) -> dict[str, Any]:
    """What every side states: its label, the SciML budget it used, and its modelling gap (``floor``) if any."""
    group = _of(runs, row)
    column = analysis.PARAM_PREFIX + "n_train"  # an inverse problem's training samples
    n_train = pd.to_numeric(group[column], errors="coerce").median() if column in group else np.nan
    return {"label": row["label"], "steps": row["steps"], "train_s": row["train_s"], "n_train": n_train, "floor": floor(group)}


def floor(group: pd.DataFrame) -> dict[str, Any] | None:
    """A method's modelling gap as its records state it (``info["modelling_gap"]``): ``what`` and the median ``rel_l2``.

    The error of the exact solution of the problem the method was given, against the reference it is
    scored on: no score of that method can go below it. None when its records name no gap.
    """
    if GAP + "rel_l2" not in group:
        return None
    gaps = pd.to_numeric(group[GAP + "rel_l2"], errors="coerce").dropna()
    if gaps.empty:
        return None
    what = group[GAP + "what"].dropna().astype(str) if GAP + "what" in group else pd.Series(dtype=str)
    return {"rel_l2": float(gaps.median()), "what": ", ".join(dict.fromkeys(what)) or "modelling gap"}


def _records(runs: pd.DataFrame, sides: Mapping[str, Any], problem: str, setting: str) -> pd.DataFrame:
    """The records (all seeds) of the verdict's methods: the ones whose seconds it compares."""
    labels = [side["label"] for side in sides.values() if side is not None]
    return runs[(runs["problem"] == problem) & (runs["setting"] == setting) & runs["label"].isin(labels)]


def _of(table: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    """The rows of ``table`` in ``row``'s group (problem, setting, label)."""
    return table[(table[analysis.GROUP] == row[analysis.GROUP].to_numpy()).all(axis=1)]


def _time_ratio(sides: Mapping[str, Any]) -> list[float]:
    if sides["classical"] is None or sides["sciml"] is None:
        return [np.nan] * len(analysis.THRESHOLDS)
    return [s / c for s, c in zip(sides["sciml"]["time_s"], sides["classical"]["time_s"])]


def _headline_eps(sides: Mapping[str, Any]) -> float:
    """The threshold the verdict line names: the tightest the best SciML method reached, else the loosest
    (which it never reached); without SciML, the tightest the classical method reached."""
    thresholds = list(analysis.THRESHOLDS)
    side = sides["sciml"] or sides["classical"]
    reached = [eps for eps, t in zip(thresholds, side["time_s"]) if np.isfinite(t)] if side else []
    return min(reached) if reached else max(thresholds)


def _headline_budget(sides: Mapping[str, Any], budgets: list[float]) -> float:
    """The largest budget at which both methods had a result (NaN if none or a side is missing)."""
    if sides["classical"] is None or sides["sciml"] is None:
        return np.nan
    both = [b for b, c, s in zip(budgets, sides["classical"]["error"], sides["sciml"]["error"]) if np.isfinite(c) and np.isfinite(s)]
    return max(both) if both else np.nan
