"""Run one case (problem, solver, seed, budget) and turn it into a record.

The harness, not the solver, owns the reference solution: it builds the evaluator on
the problem's test points, times inference of the final solution apart from training,
and records a crash or divergence as a status with its message, so no sweep is lost to
one bad case.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
import traceback
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from parity.harness import environment, parallel
from parity.harness.placement import ALONE, Placement, Resources
from parity.harness.store import Store
from parity.problems.base import ForwardProblem, Problem
from parity.solvers.base import Budget, ProgressFn, Solver, SolveResult

if TYPE_CHECKING:  # told apart by their kind: importing them loads scikit-image, which a forward run does not need
    from parity.problems.assimilation import AssimilationProblem
    from parity.problems.inverse import InverseProblem
    from parity.problems.operator_learning import OperatorProblem

FORKED = False
"""True in a process forked from a sweep's launcher (:mod:`parity.harness.launcher`), whose
records say ``forked``: its imports were made before the fork, so its peak RSS counts the
memory the case itself touched, not a fresh interpreter's import-time peak."""


class UnsupportedError(ValueError):
    """A solver was asked to solve a problem it does not support."""


@dataclasses.dataclass(frozen=True)
class Case:
    problem: Problem
    solver: Solver
    seed: int = 0
    budget: Budget = Budget()
    label: str = ""
    scaling: str = ""
    """``"strong"`` or ``"weak"`` when the case belongs to a scaling series over device counts."""
    resources: Resources = Resources()
    """What the case holds while it runs when cases run side by side (not part of its identity)."""

    def __post_init__(self) -> None:
        if not type(self.solver).supports(self.problem):
            needs = f": it needs {self.solver.requires}" if self.solver.requires else ""
            raise UnsupportedError(f"solver {self.solver.name!r} does not support problem {self.problem.name!r}{needs}")
        if self.devices > 1 and not (self.solver.mpi_parallel or self.solver.multi_device):
            raise UnsupportedError(
                f"solver {self.solver.name!r} runs on one device; {self.devices} devices (or MPI ranks) were asked for. "
                "Multi-device solvers: those marked multi_device (JAX) or mpi_parallel (MPI) in `parity list`"
            )
        if self.scaling not in ("", "strong", "weak"):
            raise ValueError(f"scaling must be 'strong', 'weak' or empty; got {self.scaling!r}")

    @property
    def devices(self) -> int:
        """JAX devices, or MPI ranks for an ``mpi_parallel`` solver."""
        return self.budget.devices

    @property
    def uses_mpi(self) -> bool:
        """True when the devices are MPI ranks (a classical solver under ``mpiexec``)."""
        return self.solver.mpi_parallel and not self.solver.multi_device
    @property
    def display_label(self) -> str:
        """The given label, else the solver name plus its non-default settings."""
        if self.label:
            return self.label
        changed = self.solver.changed_params()
        if not changed:
            return self.solver.name
        return f"{self.solver.name}[{', '.join(f'{k}={_short(v)}' for k, v in changed.items())}]"

    def key(self) -> str:
        """Identity of the case: what a rerun must reproduce (labels and the sweep's timeout excluded).

        Parameters enter only where they differ from their defaults, so a knob added
        later (with a default that keeps the old behaviour) does not orphan old records.
        """
        identity = {
            "problem": self.problem.name,
            "problem_params": self.problem.changed_params(),
            "solver": self.solver.name,
            "solver_config": self.solver.changed_params(),
            "seed": 0 if self.solver.deterministic else self.seed,
            "budget_steps": self.budget.steps if self.solver.family == "sciml" else 0,
            "device_count": self.devices,
        }
        if self.solver.family == "sciml" and self.budget.seconds != float("inf"):  # a training-time budget (equal-time studies)
            identity["budget_seconds"] = self.budget.seconds
        if self.scaling:  # a weak-scaling series repeats its one-device case under its own key
            identity["scaling"] = self.scaling
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _short(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def run_case(case: Case, store: Store | None = None, progress: ProgressFn | None = None, placement: Placement = ALONE) -> dict[str, Any]:
    """Solve ``case``, append its record (and trace) to ``store`` and return the record (which says its ``placement``)."""
    created = dt.datetime.now(dt.UTC)
    problem = case.problem
    environment.devices()  # initialises the JAX backend outside every timed region
    started = time.perf_counter()
    result: SolveResult | None = None
    field: np.ndarray | None = None
    final: dict[str, float] = {}
    inference_s = float("nan")
    try:
        if not (isinstance(problem, ForwardProblem) or _inverse(problem) or _operator(problem) or _assimilation(problem)):
            raise UnsupportedError(f"problem kind {problem.kind!r} has no runner")
        evaluator = problem.evaluator()
        x_test = evaluator.x_test
        result = case.solver.solve(problem, case.budget, case.seed, evaluator, progress or _silent)
        if result.predict is not None:
            t = time.perf_counter()
            prediction = result.predict(x_test)
            inference_s = time.perf_counter() - t
            final = evaluator(prediction)
            if _inverse(problem) or _assimilation(problem):
                field = problem.picture(np.asarray(prediction)[0])  # the first test reconstruction, or experiment's estimates
            elif _operator(problem):
                field = np.asarray(prediction)[0, -1]  # the first test instance's last output channel (the final time)
            else:
                field = _snapshot_field(problem, result)
        status, message = result.status, result.message
        if status == "ok" and not all(map(_finite, final.values())):
            status, message = "diverged", "non-finite prediction on the test points"
    except Exception as exc:  # noqa: BLE001 - a crash is recorded, not raised
        status = "error"
        message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-4)}"

    record = build_record(case, created, status, message, result, final, inference_s, time.perf_counter() - started, placement)
    if _inverse(problem) and _finite(inference_s):
        record["reconstruction_s"] = inference_s / problem.split_size("test")  # per image: what amortises training
    if _operator(problem) and _finite(inference_s):
        record["instance_s"] = inference_s / problem.split_size("test")  # per instance: what amortises data and training
    if _assimilation(problem) and _finite(inference_s):  # per experiment: a method's cost per use (a fit per experiment: its training)
        fitted = result.timings.get("reconstruction_s") if result is not None else None
        record["experiment_s"] = fitted if fitted is not None else inference_s / problem.split_size("test")
        record["cycle_s"] = record["experiment_s"] / problem.observed_cycles
    if result is not None and "reconstruction_s" in result.timings:  # a per-model inversion, timed inside solve
        record["reconstruction_s"] = result.timings["reconstruction_s"]
    trace = [c.row() for c in result.trace] if result and result.trace else None
    if store is None or not parallel.is_root():  # under MPI, rank 0 alone writes
        return record
    return store.append(record, trace, field, result.pictures if result else None)


def _inverse(problem: Problem) -> TypeGuard[InverseProblem]:
    return problem.kind == "inverse"


def _operator(problem: Problem) -> TypeGuard[OperatorProblem]:
    return problem.kind == "operator"


def _assimilation(problem: Problem) -> TypeGuard[AssimilationProblem]:
    return problem.kind == "assimilation"


def _snapshot_field(problem: ForwardProblem, result: SolveResult) -> np.ndarray | None:
    """The final solution on the problem's picture grid, for the report's snapshots."""
    snapshot = problem.snapshot()
    if snapshot is None or result.predict is None:
        return None
    values = np.asarray(result.predict(snapshot.points), dtype=np.float64)
    if problem.compared_outputs is not None:
        values = values[:, list(problem.compared_outputs)]
    return problem.picture(values, snapshot)


def build_record(
    case: Case,
    created: dt.datetime,
    status: str,
    message: str,
    result: SolveResult | None,
    final: dict[str, float],
    inference_s: float,
    total_s: float,
    placement: Placement = ALONE,
) -> dict[str, Any]:
    key = case.key()
    timings = dict(result.timings) if result else {}
    info = dict(result.info) if result else {}
    steps = info.get("steps")
    train_s = timings.get("train_s")
    record: dict[str, Any] = {
        "record_id": f"{created:%Y%m%dT%H%M%S}-{key}-{uuid.uuid4().hex[:6]}",
        "case_key": key,
        "created_utc": created.isoformat(),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(),
        "problem": case.problem.name,
        "problem_kind": case.problem.kind,
        "problem_params": case.problem.params(),
        "solver": case.solver.name,
        "family": case.solver.family,
        "label": case.display_label,
        "solver_config": case.solver.params(),
        "seed": case.seed,
        "budget_steps": case.budget.steps,
        "budget_seconds": case.budget.seconds if case.budget.seconds != float("inf") else None,
        "status": status,
        "message": message,
        "trace_kind": result.trace_kind if result else "",
        **{name: final.get(name, float("nan")) for name in ("rel_l2", "norm_l1", "max_abs")},
        "metrics": {name: value for name, value in final.items() if name not in ("rel_l2", "norm_l1", "max_abs")},
        **{name: timings.get(name, float("nan")) for name in ("setup_s", "compile_s", "train_s", "solve_s", "eval_s")},
        **timings,  # solver-specific splits too (assemble_s, linear_solve_s, ...)
        "inference_s": inference_s,
        "total_s": total_s,
        "steps": steps,
        "steps_per_s": steps / train_s if steps and train_s else None,
        "info": info,
    }
    record["scaling"] = case.scaling
    record["forked"] = FORKED
    record.update(placement.record_fields())
    try:
        record.update(environment.devices(case.devices, mpi_ranks=case.uses_mpi))
        record.update(environment.peak_memory())
    except Exception as exc:  # noqa: BLE001 - environment facts must never lose a result
        record["message"] += f" (device facts unavailable: {exc})"
    record.update(environment.software())
    record.update(environment.hardware())
    return {k: (None if isinstance(v, float) and not _finite(v) else v) for k, v in record.items()}


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def _silent(done: int, total: int, postfix: dict[str, float]) -> None:
    return None


def progress_bar(description: str, disable: bool = False) -> tuple[ProgressFn, Callable[[], None]]:
    """A tqdm bar with ETA driven by a solver's checkpoints; returns (update, close)."""
    from tqdm import tqdm

    bar = tqdm(desc=description, total=None, disable=disable, unit="step", dynamic_ncols=True, leave=False)

    def update(done: int, total: int, postfix: dict[str, float]) -> None:
        bar.total = total
        bar.n = done
        bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
        bar.refresh()

    return update, bar.close
