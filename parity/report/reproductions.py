"""``reports/reproductions``: the published figures against Parity's numbers, with a line per row in the reports' index."""

from __future__ import annotations

import math

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

from parity.harness import environment
from parity.harness.reproductions import Outcome
from parity.report import index, render

TITLE = "Reproductions of published figures"
INTRO = (
    "Each row is a published figure in its published setting, Parity's number in the same setting, the gap and a "
    "status: *reproduced* (within the stated tolerance), *budget-limited* (a learned method trained on less than its "
    "paper's budget, both stated, misses the figure), *not reproduced* (missed on equal terms; the reason is given) or "
    "*not measured* (no record yet). Classical checks are recomputed each time; learned methods are read from the "
    "committed stores, median over seeds. Rewritten by `parity reproductions` (and `scripts/regenerate-reports`)."
)


def write_reproductions_report(outcomes: Sequence[Outcome], out_dir: Path) -> Path:
    """Writes out_dir/index.md, index.html and verdict.json; returns the index.md path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(outcomes)
    (out_dir / "index.md").write_text(text, encoding="utf-8")
    (out_dir / "index.html").write_text(render.html_page(text, TITLE), encoding="utf-8")
    counts = {status: sum(o.status == status for o in outcomes) for status in ("reproduced", "budget-limited", "not reproduced", "not measured")}
    verdict = {
        "name": out_dir.name, "title": TITLE, "records": len(outcomes), "commits": _commit(), "dates": dt.date.today().isoformat(),
        "side_by_side": ", ".join(f"{n} {status}" for status, n in counts.items() if n) + ".",
        "verdicts": [{"line": line(o)} for o in outcomes],
    }
    (out_dir / index.VERDICT_FILE).write_text(json.dumps(verdict, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_dir / "index.md"


def markdown(outcomes: Sequence[Outcome]) -> str:
    header = ("| family | published figure and setting | quantity | published | Parity | gap | reproduced means | status | "
              "budget (learned: ours against published) | where |\n" + "| --- " * 10 + "|")
    rows = []
    for o in outcomes:
        r = o.reproduction
        parity = "—" if o.measured is None else f"{o.measured.value:.4g} ({o.measured.detail})" if math.isfinite(o.measured.value) else f"— ({o.measured.detail})"
        status = f"**{o.status}**" + (f" (not run: {r.not_run})" if r.not_run and o.measured is None else "")
        cells = [r.family, f"{r.source}: {r.setting}", r.quantity, r.published_text, parity, o.gap, r.check.describe(), status, r.budget or "—"]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + f" | {_link(r.where)} |")
    return f"# {TITLE}\n\n{INTRO}\n\n{header}\n" + "\n".join(rows) + "\n"


def _commit() -> str:
    """The checkout that measured the rows (its classical checks ran on this code)."""
    facts = environment.software()
    return (facts["git_commit"][:12] or "unknown") + (" (with uncommitted changes)" if facts["git_dirty"] else "")


def _link(where: str) -> str:
    """A link from reports/reproductions/index.md to a report (its index.md) or a file of the checkout."""
    if not where:
        return ""
    target = f"../{where.removeprefix('reports/')}/index.md" if where.startswith("reports/") else f"../../{where}"
    return f"[{where}]({target})"


def line(outcome: Outcome) -> str:
    """One row as the reports' index shows it."""
    r = outcome.reproduction
    parity = "not on record" if outcome.measured is None else f"{outcome.measured.value:.4g}"
    return f"{r.source} ({r.quantity}): published {r.published_text}, Parity {parity}: {outcome.status}"
