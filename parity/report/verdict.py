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

from parity.report import analysis, operator_learning

Verdict = dict[str, Any]
"""One problem setting: ``problem``, ``setting``, ``kind`` ("forward", "inverse" or "operator"), ``classical`` and ``sciml``
(the best method's numbers, or None when the family has no result there), ``comparable`` (whether their seconds
were measured alike), and the levels compared: forward ``thresholds``, ``time_ratio``, ``budgets_s``,
``headline_eps``, ``headline_budget_s``; inverse ``quality`` (the metric names)."""

FAMILIES = ("classical", "sciml")


def verdicts(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> list[Verdict]:
    """One verdict per problem and setting of ``runs`` (as chosen by ``analysis.select_runs``)."""
    out: list[Verdict] = []
    for _, chosen in runs.groupby("problem", sort=False):
        if operator_learning.is_operator(chosen):
            out += operator_learning.verdicts(chosen, curves)
        else:
            out += inverse_verdicts(chosen) if analysis.is_inverse(chosen) else forward_verdicts(chosen, curves)
    return out


def forward_verdicts(runs: pd.DataFrame, curves: Mapping[str, pd.DataFrame]) -> list[Verdict]:
    """Per setting, the best method of each family (lowest median final rel L2 over seeds, a failed seed
    counting as the worst) with its times to the report's thresholds and errors at its budgets.

    ``time_ratio`` is SciML time / classical time at each threshold: NaN where either never got
    there or where their seconds were not measured alike (see ``comparable``).
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
        comparable = _comparable(sides)
        verdict: Verdict = {"problem": problem, "setting": setting, "kind": "forward", **sides, "comparable": comparable,
                            "thresholds": list(analysis.THRESHOLDS), "budgets_s": list(budgets)}
        verdict["time_ratio"] = _time_ratio(sides) if comparable else [np.nan] * len(analysis.THRESHOLDS)
        verdict["headline_eps"] = _headline_eps(sides)
        verdict["headline_budget_s"] = _headline_budget(sides, budgets) if comparable else np.nan
        out.append(verdict)
    return out


def inverse_verdicts(runs: pd.DataFrame) -> list[Verdict]:
    """Per setting, the best classical and the best learned reconstruction (as the reconstruction table ranks
    them) with their quality, per-sample and one-off cost, and the learned method's break-even against
    that classical method (NaN where their seconds were not measured alike)."""
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
        comparable = _comparable(sides)
        if sides["sciml"] is not None and not comparable:
            sides["sciml"]["break_even"] = np.nan
        out.append({"problem": problem, "setting": setting, "kind": "inverse", **sides, "comparable": comparable,
                    "quality": list(quality)})
    return out


def _with_final_error(finals: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``finals`` with ``final_error``: the median final rel L2 over all seeds, a failed seed counting as infinite.

    ``final_table``'s median skips failed seeds, so one good seed of three would stand for the method.
    """
    medians = {key: analysis.median_counting_misses(group["rel_l2"])[0] for key, group in runs.groupby(analysis.GROUP, sort=False)}
    return finals.assign(final_error=[medians[key] for key in finals[analysis.GROUP].itertuples(index=False, name=None)])


def _method(row: pd.Series, runs: pd.DataFrame) -> dict[str, Any]:
    """What every side states: its label, the SciML budget it used, and how its seconds were measured."""
    group = _of(runs, row)
    column = analysis.PARAM_PREFIX + "n_train"  # an inverse problem's training samples
    n_train = pd.to_numeric(group[column], errors="coerce").median() if column in group else np.nan
    return {"label": row["label"], "steps": row["steps"], "train_s": row["train_s"], "n_train": n_train,
            "concurrency": sorted(set(analysis.concurrency(group).tolist()))}


def _of(table: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    """The rows of ``table`` in ``row``'s group (problem, setting, label)."""
    return table[(table[analysis.GROUP] == row[analysis.GROUP].to_numpy()).all(axis=1)]


def _comparable(sides: Mapping[str, Any]) -> bool:
    """Whether both sides' seconds were measured alike: alone, or with the same number of cases side by side."""
    classical, sciml = sides["classical"], sides["sciml"]
    if classical is None or sciml is None:
        return True
    return classical["concurrency"] == sciml["concurrency"] and len(classical["concurrency"]) == 1


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
