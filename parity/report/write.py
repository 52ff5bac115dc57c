"""``write_report``: from a record store to ``index.md``, ``index.html``, ``verdict.json`` and the PNGs beside them."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from parity.harness.store import Store, load_records
from parity.report import analysis, assimilation, index, learned_priors, operator_learning, plots, render, training_costs, trajectories, verdict


def write_report(store: Store, out_dir: Path, *, case_keys: set[str] | None = None, problem: str | None = None,
                 title: str = "report", description: str = "") -> Path:
    """Writes out_dir/index.md, index.html, verdict.json and PNGs in out_dir; returns the index.md path.

    Only the latest record of each case counts; ``case_keys`` and ``problem`` narrow the
    selection, and a selection that matches nothing raises ``ValueError``. The index of the
    committed reports is left alone (``parity report --index-only`` rewrites it), so a local
    report, such as the README's default one, does not change a committed file.
    """
    try:
        runs = analysis.select_runs(load_records(store.root).assign(store=Path(store.root).name), case_keys, problem)
    except ValueError as exc:
        raise ValueError(f"cannot write report from store {store.root}: {exc}") from exc
    curves = {r["record_id"]: analysis.cost_curve(r, store.trace(r)) for _, r in runs.iterrows()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, list[plots.Plot]] = {}
    sections: dict[str, str] = {}
    cost_tables: dict[str, str] = {}
    for name, chosen in runs.groupby("problem", sort=False):
        if operator_learning.is_operator(chosen):
            made = [operator_learning.pareto_plot(chosen, curves, out_dir, name), operator_learning.n_train_plot(chosen, out_dir, name)]
            if trajectories.is_trajectory(chosen):
                made.append(trajectories.correlation_plot(chosen, store, out_dir, name))
                sections[name] = trajectories.classical_markdown(chosen, store)
            figures[name] = [plots.Plot(*figure) for figure in made if figure]
            continue
        if assimilation.is_assimilation(chosen):
            made = [assimilation.rmse_plot(chosen, out_dir, name), assimilation.lead_time_plot(chosen, store, out_dir, name),
                    assimilation.hovmoller_plot(chosen, store, out_dir, name)]
            figures[name] = [plot for plot in made if plot]
            continue
        if analysis.is_inverse(chosen):
            scale = [*plots.quality_vs_scale(chosen, out_dir, name), plots.error_vs_scale(chosen, out_dir, name),
                     learned_priors.observations_plot(chosen, out_dir, name), learned_priors.evaluations_plot(chosen, out_dir, name)]
        else:
            scale = [plots.error_vs_scale(chosen, out_dir, name), plots.time_vs_scale(chosen, curves, out_dir, name)]
        scale = [plot for plot in scale if plot]
        if training_costs.is_costed(chosen[chosen["family"] == "sciml"]):
            cost_tables[name] = "\n\n".join(t for t in (training_costs.best_markdown(chosen), training_costs.markdown(chosen, store)) if t)
        pictured = plots.pictured_settings(chosen, store, name)
        figures[name] = [*plots.error_vs_time(chosen, curves, out_dir, name), *scale,
                         *plots.error_vs_steps(chosen, curves, out_dir, name), *plots.snapshots(pictured, store, out_dir, name),
                         *plots.spectra(pictured, chosen, store, out_dir, name),
                         *learned_priors.spread_pictures(pictured, store, out_dir, name),
                         *plots.strong_scaling(chosen, out_dir, name), *plots.weak_scaling(chosen, out_dir, name),
                         *training_costs.cost_plots(chosen, store, out_dir, name), *training_costs.decomposition_plots(chosen, store, out_dir, name)]
    verdicts = verdict.verdicts(runs, curves)
    text = render.markdown_report(runs, curves, figures, title, verdicts=verdicts, description=description, trajectory_tables=sections,
                                  cost_tables=cost_tables)
    report = out_dir / "index.md"
    report.write_text(text, encoding="utf-8")
    (out_dir / "index.html").write_text(render.html_page(text, title), encoding="utf-8")
    _write_verdict_file(out_dir, runs, verdicts, title)
    return report


def _write_verdict_file(out_dir: Path, runs: pd.DataFrame, verdicts: Sequence[verdict.Verdict], title: str) -> None:
    """verdict.json: the verdict lines and their numbers, and the records' provenance, for the index."""
    content = {
        "name": out_dir.name, "title": title, "records": len(runs), "commits": render.commits_text(runs),
        "dates": render.dates_text(runs), "side_by_side": render.side_by_side_text(runs),
        "verdicts": [{"line": render.verdict_line(v), "floors": render.floor_rows(v), **v} for v in verdicts],
    }
    text = json.dumps(_json_ready(content), indent=1, allow_nan=False, ensure_ascii=False)
    (out_dir / index.VERDICT_FILE).write_text(text + "\n", encoding="utf-8")


def _json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers, NaN as null and infinities as "inf" / "-inf" (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
