"""``reports/index.md`` and ``index.html``: the scoreboard, then every report in a reports directory with its verdict lines.

The page a person reads first. It is built from each report's ``verdict.json`` (written beside
its ``index.md`` by ``write_report``), so it is refreshed without reading any store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from parity.report import render, scoreboard

VERDICT_FILE = "verdict.json"
HEADLINE_MARK = "<!-- the scoreboard's headline: scripts/regenerate-reports copies it here from reports/index.md -->"
INDEX_TITLE = "Parity reports"
INDEX_INTRO = (
    "Per problem and setting, the best classical method against the best SciML method of each committed report, at equal "
    "accuracy: forward problems at ε, the tightest error threshold (1e-1, 1e-2, 1e-3) both reach; inverse problems at the "
    "classical method's quality; operator learning at the surrogate's accuracy. Rewritten by `parity report --index-only` "
    "(and `scripts/regenerate-reports`), not by writing a report, so a local report leaves this page alone."
)
SCOREBOARD_RULES = (
    "Winner: forward, the faster to ε (SciML that reaches no ε the classical method reaches loses); inverse, the classical "
    "method unless the learned one reaches its quality, then the learned one after its break-even; operator, the classical "
    "scheme unless it costs more per instance at the surrogate's accuracy. Ratio: SciML seconds / classical seconds at ε; "
    "break-even: reconstructions (or instances) before a learned method's one-off cost is repaid. "
    "A floor is the distance of the exact solution of the problem a method was given from the reference it is scored on."
)


def write_index(reports_dir: Path) -> Path:
    """Writes reports_dir/index.md and index.html from the reports' verdict files; returns the index.md path."""
    reports_dir = Path(reports_dir)
    entries = read_entries(reports_dir)
    figure = scoreboard.figure(scoreboard.rows(entries, "index.md")[0], reports_dir)
    index = reports_dir / "index.md"
    index.write_text(index_markdown(entries, "index.md", figure), encoding="utf-8")
    (reports_dir / "index.html").write_text(render.html_page(index_markdown(entries, "index.html", figure), INDEX_TITLE), encoding="utf-8")
    return index


def read_entries(reports_dir: Path) -> list[dict[str, Any]]:
    """The verdict files of the report folders in ``reports_dir``, by folder name."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(Path(reports_dir).glob(f"*/{VERDICT_FILE}"))]


def index_markdown(entries: list[dict[str, Any]], page: str, figure: str | None = None) -> str:
    """The index as Markdown: the scoreboard (with ``figure`` where one was drawn), then each report's verdict lines,
    each report's name linking to its ``page`` (index.md or index.html)."""
    board, left_out = scoreboard.rows(entries, page)
    parts = [f"# {INDEX_TITLE}", INDEX_INTRO]
    if board:
        caption = ("Every setting at once, numbered as in the table below. Top: SciML seconds to ε against classical seconds to ε "
                   "(above the solid diagonal the classical method is faster; in the top band SciML does not reach ε). Bottom left: "
                   "the learned method's quality over the classical one's against its cost per sample. Bottom right: surrogate "
                   "against classical seconds per instance at the surrogate's accuracy. Hollow markers: seconds measured side by side.")
        parts += ["## Scoreboard", scoreboard.headline(board), *([f"![{caption}]({figure})", f"*{caption}*"] if figure else []),
                  scoreboard.table(board), f"{SCOREBOARD_RULES} {scoreboard.FLAG_NOTE}"]
        if left_out:
            parts.append(f"Not on the scoreboard (one side missing): {'; '.join(left_out)}.")
        parts.append("## Reports")
    for entry in entries:
        title = f" ({entry['title']})" if entry["title"] != entry["name"] else ""
        facts = (f"{entry['records']} records; git commit {entry['commits']}; date {entry['dates']}."
                 f"{' ' + entry['side_by_side'] if entry['side_by_side'] else ''}")
        lines = "\n".join(render.bullets(verdict["line"], verdict.get("floors", [])) for verdict in entry["verdicts"]) or "- No verdict."
        parts += [f"{'###' if board else '##'} [{entry['name']}]({entry['name']}/{page}){title}", facts, lines]
    if not entries:
        parts.append("No reports yet.")
    return "\n\n".join(parts) + "\n"


def headline_of(index_md: str) -> str:
    """The scoreboard's headline table in an index page's Markdown ('' when it has no scoreboard)."""
    _, found, rest = index_md.partition("## Scoreboard\n\n")
    return rest.split("\n\n")[0] if found else ""


def copy_headline(index: Path, readme: Path) -> None:
    """Replaces the table after ``HEADLINE_MARK`` in ``readme`` with the scoreboard's headline in ``index``, so the README's
    answer is the index's."""
    text = Path(readme).read_text(encoding="utf-8")
    head, found, rest = text.partition(HEADLINE_MARK + "\n")
    if not found:
        raise ValueError(f"{readme} has no line {HEADLINE_MARK!r} to copy the scoreboard's headline after")
    table = headline_of(Path(index).read_text(encoding="utf-8"))
    if not table:
        raise ValueError(f"{index} has no scoreboard")
    lines = rest.split("\n")
    old = next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))
    Path(readme).write_text(head + found + table + "\n" + "\n".join(lines[old:]), encoding="utf-8")
