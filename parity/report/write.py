"""``write_report``: from a record store to ``index.md``, ``index.html`` and the PNGs beside them."""

from __future__ import annotations

from pathlib import Path

from parity.harness.store import Store, load_records
from parity.report import analysis, plots, render


def write_report(store: Store, out_dir: Path, *, case_keys: set[str] | None = None, problem: str | None = None,
                 title: str = "report", description: str = "") -> Path:
    """Writes out_dir/index.md, out_dir/index.html and PNGs in out_dir; returns the index.md path.

    Only the latest record of each case counts; ``case_keys`` and ``problem`` narrow the
    selection, and a selection that matches nothing raises ``ValueError``.
    """
    try:
        runs = analysis.select_runs(load_records(store.root), case_keys, problem)
    except ValueError as exc:
        raise ValueError(f"cannot write report from store {store.root}: {exc}") from exc
    curves = {r["record_id"]: analysis.cost_curve(r, store.trace(r)) for _, r in runs.iterrows()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, list[plots.Plot]] = {}
    for name, chosen in runs.groupby("problem", sort=False):
        if analysis.is_inverse(chosen):
            scale = [*plots.quality_vs_scale(chosen, out_dir, name), plots.error_vs_scale(chosen, out_dir, name)]
        else:
            scale = [plots.error_vs_scale(chosen, out_dir, name), plots.time_vs_scale(chosen, curves, out_dir, name)]
        scale = [plot for plot in scale if plot]
        pictured = plots.pictured_settings(chosen, store, name)
        figures[name] = [*plots.error_vs_time(chosen, curves, out_dir, name), *scale,
                         *plots.error_vs_steps(chosen, curves, out_dir, name), *plots.snapshots(pictured, store, out_dir, name),
                         *plots.spectra(pictured, chosen, store, out_dir, name),
                         *plots.strong_scaling(chosen, out_dir, name), *plots.weak_scaling(chosen, out_dir, name)]
    text = render.markdown_report(runs, curves, figures, title, description)
    index = out_dir / "index.md"
    index.write_text(text, encoding="utf-8")
    (out_dir / "index.html").write_text(render.html_page(text, title), encoding="utf-8")
    return index
