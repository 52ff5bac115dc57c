"""``reports/index.md`` and ``index.html``: every report in a reports directory, with its verdict lines.

The page a person reads first. It is built from each report's ``verdict.json`` (written beside
its ``index.md`` by ``write_report``), so it is refreshed without reading any store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from parity.report import render

VERDICT_FILE = "verdict.json"
INDEX_TITLE = "Parity reports"
INDEX_INTRO = (
    "Every report in this folder with its verdict lines: per problem and setting, the best classical method against "
    "the best SciML method (at equal accuracy and at equal cost for forward problems; quality, cost per reconstruction "
    "and break-even for inverse ones). Rewritten by `parity report --index-only` (and `scripts/regenerate-reports`), "
    "not by writing a report, so a local report leaves this page alone."
)


def write_index(reports_dir: Path) -> Path:
    """Writes reports_dir/index.md and index.html from the reports' verdict files; returns the index.md path."""
    reports_dir = Path(reports_dir)
    entries = read_entries(reports_dir)
    index = reports_dir / "index.md"
    index.write_text(index_markdown(entries, "index.md"), encoding="utf-8")
    (reports_dir / "index.html").write_text(render.html_page(index_markdown(entries, "index.html"), INDEX_TITLE), encoding="utf-8")
    return index


def read_entries(reports_dir: Path) -> list[dict[str, Any]]:
    """The verdict files of the report folders in ``reports_dir``, by folder name."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(Path(reports_dir).glob(f"*/{VERDICT_FILE}"))]


def index_markdown(entries: list[dict[str, Any]], page: str) -> str:
    """The index as Markdown, each report's name linking to its ``page`` (index.md or index.html)."""
    parts = [f"# {INDEX_TITLE}", INDEX_INTRO]
    for entry in entries:
        title = f" ({entry['title']})" if entry["title"] != entry["name"] else ""
        facts = (f"{entry['records']} records; git commit {entry['commits']}; date {entry['dates']}."
                 f"{' ' + entry['side_by_side'] if entry['side_by_side'] else ''}")
        lines = "\n".join(f"- {verdict['line']}" for verdict in entry["verdicts"]) or "- No verdict."
        parts += [f"## [{entry['name']}]({entry['name']}/{page}){title}", facts, lines]
    if not entries:
        parts.append("No reports yet.")
    return "\n\n".join(parts) + "\n"
