"""Whether a verdict's seconds were measured alone: the one test every report applies before it compares times.

Seconds measured while other work shared the machine are inflated (up to about 2x on the
2-core machine of the committed stores; TV on dival's CT setting 2.9x), errors are not. A
record says so itself when an executor ran cases side by side (``concurrency`` > 1, issue 19),
and two records of one report whose runs overlap in time on one host shared it too. Older
records say neither, and some side-by-side work leaves no record at all (tests, editing,
another session's jobs), so ``SHARED`` lists the periods known from the README, the reports'
own descriptions and the records' timestamps, each with its source. A record counts as
measured side by side if its run (``created_utc`` to ``finished_utc``, or ``total_s`` after
the start) overlaps such a period.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pandas as pd

from parity.report import analysis

COMMITTED_STORES = ("reference", "poisson_2d", "helmholtz_2d", "wave_2d", "burgers_1d", "kovasznay_2d", "lid_cavity_2d", "turbulence_2d",
                    "pinn_ablation", "ct_2d", "ct_2d_full", "ct_2d_dival", "mri_2d", "seismic_fwi_2d", "seismic_pinn", "scaling",
                    "burgers_operator_1d", "navier_stokes_operator_2d", "darcy_operator_2d")
"""The folders under ``results/`` that hold the committed reports' records."""


@dataclasses.dataclass(frozen=True)
class SharedPeriod:
    """A time when other work shared the machine with the runs of some stores (folder names under ``results/``)."""

    stores: tuple[str, ...]
    start: str
    """ISO 8601, UTC."""
    end: str
    why: str
    """What ran beside, and where that is written down."""
    family: str = ""
    """'classical' or 'sciml' when only that family's runs are known to have shared the machine; '' for both."""


SHARED: tuple[SharedPeriod, ...] = (
    SharedPeriod(("burgers_1d", "kovasznay_2d", "lid_cavity_2d", "turbulence_2d"), "2026-11-23T17:00", "2026-11-23T20:00",
                 "the four flow sweeps ran while other jobs shared the 2 cores (README, commit ade29cd)", family="sciml"),
    SharedPeriod(("burgers_1d", "turbulence_2d"), "2026-11-23T19:10", "2026-11-23T19:45",
                 "ran beside the turbulence sweep's PINN seeds (record timestamps)", family="classical"),
    SharedPeriod(("ct_2d", "ct_2d_full", "mri_2d"), "2026-11-29T20:00", "2026-11-29T21:20",
                 "the three CT and MRI sweeps ran side by side, one OpenMP thread each (README, commit b3ebc4d)"),
    SharedPeriod(("seismic_fwi_2d", "seismic_pinn"), "2026-11-29T23:10", "2026-11-30T00:15",
                 "the two seismic sweeps ran side by side, one OpenMP thread each (README, commit 4b87429)"),
    SharedPeriod(("burgers_operator_1d", "navier_stokes_operator_2d"), "2026-12-01T07:10", "2026-12-01T07:45",
                 "the Burgers and Navier-Stokes operator sweeps ran side by side (their reports; record timestamps)"),
    SharedPeriod(("navier_stokes_operator_2d",), "2026-12-01T08:17", "2026-12-01T08:45",
                 "FNO seed 1 beside a 2-minute test run, DeepONet seed 0 beside timing scripts (the report)"),
    SharedPeriod(("darcy_operator_2d", "ct_2d_dival"), "2026-12-01T09:15", "2026-12-01T10:30",
                 "the Darcy operator sweep and dival's classical CT cases ran side by side, with short tests (their reports)"),
    SharedPeriod(("ct_2d_dival",), "2026-12-01T11:15", "2026-12-01T12:20",
                 "the learned cases shared the CPU with editing and short tests (the report)"),
    SharedPeriod(COMMITTED_STORES, "2026-12-06T00:00", "2026-12-06T18:35",
                 "six engineers' work (tests, asv, sweeps) shared the 2 cores during issue 27, the cavity and wave reruns among it"),
    SharedPeriod(("ct_2d_priors",), "2026-12-06T23:10", "2026-12-07T00:30",
                 "the learned-prior sweep (its prior's training included) ran beside test runs, benchmarks and helpers' work, most of "
                 "it at lower priority (issue 28's note)"),
    SharedPeriod(("ct_2d_priors",), "2026-12-07T02:32", "2026-12-07T02:56",
                 "the learned regulariser's training and cases ran beside a package reinstall and short test runs (issue 28's note)"),
    SharedPeriod(("mri_2d_priors",), "2026-12-07T02:56", "2026-12-07T03:01",
                 "its PnP reruns ran beside two minutes of report tests at lower priority (issue 28's note)"),
    SharedPeriod(("ct_2d_priors",), "2026-12-07T03:12", "2026-12-07T03:14",
                 "a robustness case ran beside a report regeneration at lower priority (issue 28's note)"),
    SharedPeriod(("ct_2d_priors",), "2026-12-07T05:09", "2026-12-07T05:43",
                 "the DIP+TV case ran beside test runs and a fresh-clone CI run (issue 28's note)"),
    SharedPeriod(("ct_2d_priors",), "2026-12-07T06:05", "2026-12-07T06:17",
                 "the fewer-observations cases ran beside a DIP+TV iteration probe at lower priority (issue 28's note)"),
    SharedPeriod(("kolmogorov_2d",), "2026-12-07T09:20", "2026-12-07T09:37",
                 "the pseudo-spectral sweep's solves ran beside test runs (issue 29's note)", family="classical"),
    SharedPeriod(("kolmogorov_2d_hybrid",), "2026-12-07T09:37", "2026-12-07T11:30",
                 "the whole hybrid sweep ran beside two fresh-clone CI runs (issue 29's note)"),
    SharedPeriod(("lorenz96",), "2026-12-07T13:55", "2026-12-07T14:21",
                 "the whole sweep ran beside the Kolmogorov finite-volume sweep, the Burgers assimilation sweep and test runs (issue 30's note)"),
    SharedPeriod(("burgers_assimilation_1d",), "2026-12-07T14:07", "2026-12-07T15:15",
                 "the whole sweep ran beside the Kolmogorov finite-volume sweeps, the Lorenz-96 sweep and a fresh-clone CI run (issue 30's note)"),
    SharedPeriod(("kolmogorov_assimilation_2d",), "2026-12-07T16:16", "2026-12-07T16:41",
                 "the prior mean and the ensemble smoother with 16 sensors ran beside test runs and probes (issue 30's note)"),
    SharedPeriod(("burgers_assimilation_1d",), "2026-12-07T17:41", "2026-12-07T19:00",
                 "the rerun with the ensemble smoother and per-cycle scores ran beside report builds, tests and a fresh-clone CI run "
                 "(issue 30's note)"),
    SharedPeriod(("training_algorithms",), "2026-12-07T19:54", "2026-12-07T19:58",
                 "its first cases ran beside three minutes of tests at the lowest priority (issue 31's note)"),
    SharedPeriod(("training_algorithms",), "2026-12-07T20:07", "2026-12-07T20:16",
                 "cases ran beside seven minutes of tests at the lowest priority (issue 31's note)"),
)
"""Periods known to have been shared; a rerun alone after a period's end is measured alone."""


class Measured(NamedTuple):
    alone: bool
    reason: str
    """Why not, per method ('' when alone)."""


def measured_alone(records: pd.DataFrame, neighbours: pd.DataFrame | None = None, shared: tuple[SharedPeriod, ...] = SHARED) -> Measured:
    """Whether every record of ``records`` (a verdict's methods, all seeds) had the machine to itself while it ran.

    ``neighbours``: the other records of the report, whose runs must not overlap (default ``records``).
    Records carry ``store`` (the store's folder name) for ``shared``'s periods; without it only
    their placement and overlaps count.
    """
    if records.empty:
        return Measured(True, "")
    neighbours = records if neighbours is None else neighbours
    reasons: dict[str, list[str]] = {}
    for label, group in records.groupby("label", sort=False):
        found = _reasons(group, neighbours, shared)
        if found:
            reasons[str(label)] = found
    text = "; ".join(f"{label}: {', '.join(found)}" for label, found in reasons.items())
    return Measured(not reasons, text)


def _reasons(group: pd.DataFrame, neighbours: pd.DataFrame, shared: tuple[SharedPeriod, ...]) -> list[str]:
    """Why ``group``'s records (one method's) were not measured alone: one phrase per cause."""
    out = []
    cases = analysis.concurrency(group)
    if (cases > 1).any():
        out.append(f"{(cases > 1).sum()} of {len(group)} runs with up to {cases.max()} cases at once")
    start, end = run_intervals(group)
    overlapping = _overlapping(group, neighbours)
    if overlapping:
        out.append(f"{overlapping} of {len(group)} runs overlap another run of this report in time")
    stores = _column(group, "store")
    for period in shared:
        begin, finish = pd.Timestamp(period.start, tz="UTC"), pd.Timestamp(period.end, tz="UTC")
        hit = [stores[i] in period.stores and (not period.family or group.at[i, "family"] == period.family)
               and start[i] < finish and begin < end[i] for i in group.index]
        if any(hit):
            out.append(f"{sum(hit)} of {len(group)} runs: {period.why}")
    return out


def _overlapping(group: pd.DataFrame, neighbours: pd.DataFrame) -> int:
    """How many of ``group``'s runs overlap in time a run of ``neighbours`` (another record) on the same host."""
    start, end = run_intervals(group)
    their_start, their_end = run_intervals(neighbours)
    hosts, their_hosts = _column(group, "host"), _column(neighbours, "host")
    ids, their_ids = _column(group, "record_id"), _column(neighbours, "record_id")
    return sum(bool(((their_ids != ids[i]) & (their_hosts == hosts[i]) & (their_start < end[i]) & (start[i] < their_end)).any())
               for i in group.index)


def run_intervals(records: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each record's run from start to finish (UTC): ``finished_utc`` where recorded, else ``total_s`` after the start."""
    start = pd.to_datetime(records["created_utc"], utc=True)
    total = pd.to_timedelta(pd.to_numeric(_column(records, "total_s"), errors="coerce").fillna(0.0), unit="s")
    finished = pd.to_datetime(_column(records, "finished_utc"), utc=True, errors="coerce", format="ISO8601")
    return start, finished.fillna(start + total)


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    return records[name] if name in records else pd.Series(None, index=records.index, dtype=object)
