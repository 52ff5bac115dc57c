"""The reproductions table: status rules, the committed stores it reads, a recomputed classical row, and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parity.harness import reproductions
from parity.harness.reproductions import Check, Measured, Reproduction, assess
from parity.report.reproductions import write_reproductions_report

ROOT = Path(__file__).resolve().parent.parent


def _row(value: float | None, check: Check, budget: str = "") -> Reproduction:
    measured = None if value is None else Measured(value, "")
    return Reproduction("f", "s", "setting", "q", 1.0, "1.0", check, lambda root: measured, budget=budget)


@pytest.mark.parametrize(
    ("value", "check", "budget", "status"),
    [
        (1.4, Check("abs", 0.5), "", "reproduced"),
        (1.6, Check("abs", 0.5), "", "not reproduced"),
        (0.4, Check("abs", 0.5), "", "not reproduced"),  # too good is a miss too: the setting is not the published one
        (1.4, Check("factor", 1.5), "", "reproduced"),
        (0.1, Check("factor", 1.5), "", "reproduced"),  # an error below the published one
        (2.0, Check("factor", 1.5), "", "not reproduced"),
        (2.0, Check("factor", 1.5), "fewer steps", "budget-limited"),
        (12.0, Check("at_least", 10.0), "", "reproduced"),
        (None, Check("abs", 0.5), "", "not measured"),
        (float("nan"), Check("abs", 0.5), "", "not measured"),
    ],
)
def test_status_follows_the_check_and_the_budget(value: float | None, check: Check, budget: str, status: str) -> None:
    assert assess(_row(value, check, budget), ROOT).status == status


def test_every_learned_row_finds_its_records_in_the_committed_stores() -> None:
    """A renamed label or a moved store would silently turn a row into "not measured"."""
    store_rows = [r for r in reproductions.REPRODUCTIONS if r.family.startswith(("FBPINN", "PINN", "CT", "neural", "assimilation"))]
    assert len(store_rows) >= 9
    missing = [r.source + ": " + r.setting for r in store_rows if r.measure(ROOT) is None and not r.not_run]
    assert missing == []
    assert all(r.measure(ROOT) is None for r in store_rows if r.not_run)  # a row said not to run that has records: drop the reason


def test_the_committed_classical_ct_numbers_reproduce_dival_and_the_fno_rows_are_budget_limited() -> None:
    outcomes = {(o.reproduction.family, o.reproduction.published): o for o in reproductions.assess_all(ROOT)
                if o.reproduction.family in ("CT, classical", "neural operator")}
    assert outcomes["CT, classical", 24.18].status == "reproduced"
    assert outcomes["CT, classical", 27.96].status == "reproduced"
    assert all(o.status == "budget-limited" for (family, _), o in outcomes.items() if family == "neural operator")


def test_the_recomputed_burgers_slope_is_basdevants() -> None:
    (row,) = [r for r in reproductions.REPRODUCTIONS if r.source.startswith("Basdevant")]
    outcome = assess(row, ROOT)
    assert outcome.status == "reproduced" and outcome.measured is not None
    assert outcome.measured.value == pytest.approx(152.00516, abs=1e-4)


def test_the_report_has_a_row_and_an_index_line_per_reproduction(tmp_path: Path) -> None:
    rows = (_row(1.2, Check("abs", 0.5)), _row(3.0, Check("factor", 1.5), budget="1 % of the steps"))
    outcomes = reproductions.assess_all(ROOT, rows)
    page = write_reproductions_report(outcomes, tmp_path / "reproductions").read_text()
    assert page.count("| f | s: setting |") == 2 and "**budget-limited**" in page and "**reproduced**" in page
    verdict = json.loads((tmp_path / "reproductions" / "verdict.json").read_text())
    assert [v["line"] for v in verdict["verdicts"]] == ["s (q): published 1.0, Parity 1.2: reproduced",
                                                         "s (q): published 1.0, Parity 3: budget-limited"]
