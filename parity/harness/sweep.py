"""Sweeps: a grid of cases described in TOML, run resumably.

Example::

    name = "default"             # report name
    problem = "multiscale_1d"
    seeds = [0, 1, 2]
    steps = 10000                # budget of iterative solvers
    timeout_s = 900              # per case; a case past it is recorded as 'timeout'

    [grid]                       # problem knobs; the Cartesian product is swept
    omega2 = [15, 30]

    [[solvers]]
    name = "fbpinn"
    label = "FBPINN 30x[16,16]"  # optional
    config = { levels = [30] }   # optional solver knobs
    # seeds, steps, seconds: optional, this row's own (a recipe that needs more, cheaper steps)

A sweep over several problems lists them as ``[[studies]]``, each a table with the keys
above but ``name``, ``description`` and ``timeout_s`` (which stay at the top, where
``seeds`` and ``steps`` give the studies' defaults)::

    name = "default"
    seeds = [0, 1, 2]

    [[studies]]
    problem = "multiscale_1d"
    grid = { omega2 = [15, 30] }
    solvers = [{ name = "chebyshev" }]

Device count is a sweep axis: ``devices = [1, 2, 4]`` (top level or per study) runs
each multi-device solver at every count (JAX devices for SciML solvers, ``mpiexec``
ranks for MPI-parallel classical ones) and every other solver once, on one device.
The series is a *strong*-scaling one (the same problem on more devices) unless
``scaling = "weak"``, where the knobs in ``per_device`` grow with the device count so
that the work per device stays fixed (numbers and list entries are multiplied by it)::

    devices = [1, 2, 4, 8]
    scaling = "weak"
    per_device = { n_collocation = 2000, levels = [8] }   # 1D FBPINN: 8 subdomains per device

On a CPU several JAX devices are XLA's simulated ones (the records say so, and reports
never show them as speed-ups).

Each case runs in its own process (isolation: a crash, a leak or a hang touches one
case only, the timeout can be enforced and peak memory is per case). A one-device case
is forked from a launcher process that has done ``parity run``'s imports once (see
:mod:`parity.harness.launcher`); a case on several devices (MPI ranks, or JAX devices,
which must be asked for before JAX is imported) starts a fresh interpreter. By default
cases run one at a time, so every record's timings were measured alone on the host;
``cluster = { workers = 4 }`` (or ``parity sweep --workers 4``), a Dask scheduler's
address or a cluster factory spreads them over workers (:mod:`parity.harness.cluster`),
and ``resources = { cores = 2, gpus = 1 }`` (top level, per study or per solver row)
says what each case holds while it runs::

    cluster = { factory = "dask_jobqueue.SLURMCluster", jobs = 4, options = { cores = 8, memory = "32GB", processes = 1, job_extra_directives = ["--gres=gpu:1"], worker_extra_args = ["--resources", "cores=8,gpus=1"] } }

Cases whose record is already in the store with status ok or diverged are skipped, so a
sweep that was interrupted is finished by running it again. Ctrl-C or SIGTERM stops the
whole sweep at once and records nothing for the case it stopped
(:mod:`parity.harness.interrupt`). Every executor claims a case in the store before it
runs it (:meth:`Store.claim`), so the same sweep started twice on one store runs each case
once: a sweep waits for the cases another holds and takes their records as its own. Two
one-at-a-time sweeps on one store also take turns on the host, case by case, so each
record's seconds are still measured alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from parity.harness import parallel, registry
from parity.harness.interrupt import Interrupted, stop_on_signals, stopped_by
from parity.harness.launcher import Launcher, LauncherError, Outcome
from parity.harness.placement import ALONE, Placement, Resources, check_fits, local_shares, share_resources
from parity.harness.run import Case, build_record
from parity.harness.store import Store
from parity.knobs import ParameterError, split_overrides
from parity.solvers.base import Budget

_TOP_KEYS = {"name", "problem", "seeds", "steps", "seconds", "timeout_s", "grid", "solvers", "description", "studies", "devices", "scaling",
             "per_device", "resources", "cluster"}
_STUDY_KEYS = {"problem", "seeds", "steps", "seconds", "grid", "solvers", "devices", "scaling", "per_device", "resources"}
_SOLVER_KEYS = {"name", "label", "config", "seeds", "steps", "seconds", "resources"}
_CLUSTER_KEYS = {"workers", "scheduler", "factory", "jobs", "options", "retries", "connect_timeout_s"}
WAIT_POLL_S = 1.0
"""How often a sweep looks whether the cases another sweep holds are done."""


@dataclasses.dataclass(frozen=True)
class Executor:
    """Where a sweep's cases run: one after another here (the default), ``workers`` at once here, or on a Dask
    cluster (a running one's ``scheduler`` address, or one a ``factory`` such as ``dask_jobqueue.SLURMCluster``
    makes from ``options`` and scales to ``jobs`` jobs). A case whose worker dies is started again up to ``retries`` times;
    a scheduler that does not answer within ``connect_timeout_s`` seconds is an error."""

    workers: int | None = None
    scheduler: str | None = None
    factory: str | None = None
    jobs: int = 1
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    retries: int = 2
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        chosen = [name for name in ("workers", "scheduler", "factory") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ParameterError(f"give one of workers, scheduler and factory; got {' and '.join(chosen)}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ParameterError(f"workers must be an integer >= 1; got {self.workers!r}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ParameterError(f"retries must be an integer >= 0; got {self.retries!r}")
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ParameterError(f"jobs must be an integer >= 1; got {self.jobs!r}")
        if not isinstance(self.connect_timeout_s, (int, float)) or not self.connect_timeout_s > 0:
            raise ParameterError(f"connect_timeout_s must be a number of seconds > 0; got {self.connect_timeout_s!r}")

    @property
    def sequential(self) -> bool:
        return self.scheduler is None and self.factory is None and self.workers in (None, 1)

    @property
    def local(self) -> bool:
        """Whether the cases run on this machine (one at a time, or ``workers`` at once)."""
        return self.scheduler is None and self.factory is None

    def overridden(self, *, workers: int | None = None, scheduler: str | None = None, retries: int | None = None) -> Executor:
        """The command line's choice over the sweep file's."""
        changed = self if workers is None and scheduler is None else Executor(
            workers=workers, scheduler=scheduler, retries=self.retries, connect_timeout_s=self.connect_timeout_s)
        return changed if retries is None else dataclasses.replace(changed, retries=retries)


@dataclasses.dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    cases: tuple[Case, ...]
    timeout_s: float
    executor: Executor = Executor()


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Parse and validate a sweep file into its list of cases."""
    with open(path, "rb") as handle:
        spec = tomllib.load(handle)
    where = f"sweep {os.fspath(path)!r}"
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise ParameterError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    if "studies" in spec:
        if "problem" in spec or "solvers" in spec:
            raise ParameterError(f"{where}: give either 'studies' or a top-level 'problem' and 'solvers', not both")
        cases = []
        for index, study in enumerate(spec["studies"]):
            unknown = set(study) - _STUDY_KEYS
            if unknown:
                raise ParameterError(f"{where}: studies[{index}] has unknown key(s) {sorted(unknown)}; allowed: {sorted(_STUDY_KEYS)}")
            defaults = {key: spec[key] for key in ("seeds", "steps", "seconds", "devices", "scaling", "per_device", "resources") if key in spec}
            cases += _study_cases({**defaults, **study}, f"{where}, studies[{index}]")
    else:
        cases = _study_cases(spec, where)
    cluster = spec.get("cluster", {})
    if not isinstance(cluster, dict) or set(cluster) - _CLUSTER_KEYS:
        raise ParameterError(f"{where}: cluster must be a table with keys among {sorted(_CLUSTER_KEYS)}; got {cluster!r}")
    executor = Executor(**cluster)
    return Sweep(spec.get("name", Path(path).stem), spec.get("description", ""), tuple(cases), float(spec.get("timeout_s", 3600)), executor)


def _study_cases(spec: dict[str, Any], where: str) -> list[Case]:
    """The cases of one problem's grid times its solvers, seeds and device counts."""
    for required in ("problem", "solvers"):
        if required not in spec:
            raise ParameterError(f"{where}: missing required key {required!r}")
    problem_cls = registry.problem_class(spec["problem"])
    seeds = [int(s) for s in spec.get("seeds", [0])]
    steps = int(spec.get("steps", Budget().steps))
    seconds = float(spec.get("seconds", Budget().seconds))
    device_counts, scaling, per_device = _device_axis(spec, where)
    grid = spec.get("grid", {})
    for knob, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ParameterError(f"{where}: grid.{knob} must be a non-empty list; got {values!r}")

    cases: list[Case] = []
    for values in itertools.product(*grid.values()):
        problem_knobs = dict(zip(grid, values))
        for entry in spec["solvers"]:
            unknown = set(entry) - _SOLVER_KEYS
            if unknown:
                raise ParameterError(f"{where}: solver entry has unknown key(s) {sorted(unknown)}; allowed: {sorted(_SOLVER_KEYS)}")
            solver_cls = registry.solver_class(entry["name"])
            parallel = solver_cls.multi_device or solver_cls.mpi_parallel
            solver_seeds = [int(s) for s in entry.get("seeds", seeds)]
            solver_steps, solver_seconds = int(entry.get("steps", steps)), float(entry.get("seconds", seconds))  # a row's own budget
            for count in device_counts if parallel else [1]:
                problem_scaled, solver_scaled = _scaled(per_device, count, problem_cls, solver_cls, where)
                problem = problem_cls.from_overrides({**problem_knobs, **problem_scaled})
                solver = solver_cls.from_overrides({**entry.get("config", {}), **solver_scaled})
                series = scaling if parallel and len(device_counts) > 1 else ""
                label = entry.get("label", "") or (_weak_label(solver_cls.name, per_device) if series == "weak" else "")
                ranks = count if solver_cls.mpi_parallel and not solver_cls.multi_device else 1
                resources = Resources.from_spec(entry.get("resources", spec.get("resources")), where, mpi_ranks=ranks)
                for seed in solver_seeds[:1] if solver_cls.deterministic else solver_seeds:
                    budget = Budget(steps=solver_steps, seconds=solver_seconds, devices=count)
                    cases.append(Case(problem, solver, seed, budget, label, series, resources))
    return cases


def _weak_label(solver: str, per_device: dict[str, Any]) -> str:
    """One label for a weak series, whose knobs (and so default labels) change with the device count."""
    knobs = ", ".join(f"{key}={_short(value)}" for key, value in per_device.items())
    return f"{solver} [per device: {knobs}]"


def _short(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _device_axis(spec: dict[str, Any], where: str) -> tuple[list[int], str, dict[str, Any]]:
    """(device counts, scaling kind, knobs per device) of a study, validated."""
    counts = spec.get("devices", [1])
    if not isinstance(counts, list) or not counts or not all(isinstance(c, int) and c >= 1 for c in counts):
        raise ParameterError(f"{where}: devices must be a non-empty list of integers >= 1; got {counts!r}")
    scaling = spec.get("scaling", "strong")
    if scaling not in ("strong", "weak"):
        raise ParameterError(f"{where}: scaling must be 'strong' or 'weak'; got {scaling!r}")
    per_device = spec.get("per_device", {})
    if (scaling == "weak") != bool(per_device):
        raise ParameterError(f"{where}: a weak-scaling study names the knobs that grow with the device count in per_device, and only it does")
    return sorted(set(counts)), scaling, per_device


def _scaled(per_device: dict[str, Any], count: int, problem_cls: type, solver_cls: type, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``per_device`` knobs times ``count``, routed to the problem or the solver by name."""

    def times(value: Any) -> Any:
        if isinstance(value, list):
            return [times(v) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value * count
        raise ParameterError(f"{where}: per_device values must be numbers or lists of numbers; got {value!r}")

    pairs = [f"{key}={0}" for key in per_device]
    try:
        problem_keys, solver_keys = split_overrides(pairs, problem_cls, solver_cls)
    except ParameterError as exc:
        raise ParameterError(f"{where}: per_device: {exc}") from exc
    by_bare = {key.partition(".")[2] if key.partition(".")[0] in ("problem", "solver") else key: times(v) for key, v in per_device.items()}
    return {k: by_bare[k] for k in problem_keys}, {k: by_bare[k] for k in solver_keys}


def run_sweep(sweep: Sweep, store: Store, *, quiet: bool = False, launcher: bool = True, executor: Executor | None = None) -> list[dict[str, Any]]:
    """Run every unfinished case of ``sweep``, one process each, with a progress bar and ETA.

    ``executor`` (default: the sweep file's) runs them one after another here or spreads
    them over workers (:mod:`parity.harness.cluster`). ``launcher=False`` starts every
    case in a fresh interpreter instead of forking it from a launcher (slower; the records
    are the same). SIGINT or SIGTERM raises :class:`Interrupted` once nothing of the sweep
    runs any more; the case it stopped has no record.
    """
    finished = store.finished_keys()
    todo = [c for c in sweep.cases if c.key() not in finished]
    skipped = len(sweep.cases) - len(todo)
    if skipped and not quiet:
        print(f"parity: {skipped} of {len(sweep.cases)} cases already finished in {store.root}; skipping them", file=sys.stderr)
    executor = executor or sweep.executor
    if executor.local:  # refused before a worker starts, as a cluster refuses what none of its workers offers
        workers = executor.workers or 1
        check_fits(todo, share_resources(local_shares(workers)), "this machine" if workers == 1 else f"each of the {workers} local workers")
    with stop_on_signals():
        if not executor.sequential:
            from parity.harness.cluster import run_on_cluster  # Dask is imported only when a sweep spreads out

            return run_on_cluster(todo, store, executor, sweep.timeout_s, sweep_name=sweep.name, quiet=quiet, launcher=launcher)
        return _run_one_at_a_time(todo, store, sweep, quiet=quiet, launcher=launcher)


def _run_one_at_a_time(todo: list[Case], store: Store, sweep: Sweep, *, quiet: bool, launcher: bool) -> list[dict[str, Any]]:
    """The default executor: each case alone on this host; a case another sweep holds is waited for, not run twice."""
    from tqdm import tqdm

    owner = claim_owner()
    queue, held = deque(todo), HeldElsewhere(store, owner, sweep.timeout_s)
    records = []
    with Launcher() as forker, tqdm(total=len(todo), desc=f"sweep {sweep.name}", unit="case", disable=quiet, dynamic_ncols=True) as bar:
        while queue or held:
            if not queue:
                queue.extend(held.wait(records, bar))
                continue
            case = queue.popleft()
            on = f" devices={case.devices}" if case.devices > 1 else ""
            bar.set_postfix_str(f"{case.display_label} {_problem_tag(case)} seed={case.seed}{on}")
            use = forker if launcher and forkable(case) else None
            try:
                with store.alone_on_this_host():
                    record = run_claimed(case, store, owner, sweep.timeout_s, use)
            except LauncherError as exc:  # the launcher failed, not the case: this and later cases start afresh
                print(f"parity: {exc}\nparity: running the remaining cases in fresh interpreters", file=sys.stderr)
                launcher = False
                with store.alone_on_this_host():
                    record = run_claimed(case, store, owner, sweep.timeout_s, None)
            if record is None:
                if not held and not quiet:
                    print(f"parity: another sweep is running cases of this one in {store.root}; this one waits for them", file=sys.stderr)
                held.add(case)
            else:
                records.append(record)
                bar.update()
    return records


def claim_owner() -> str:
    """A name for this sweep's claims, unique across hosts and runs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def run_claimed(case: Case, store: Store, owner: str, timeout_s: float, launcher: Launcher | None,
                placement: Placement = ALONE) -> dict[str, Any] | None:
    """Run ``case`` in its own process under ``owner``'s claim: its record; the store's when it is finished; None when another holds it.

    Every executor runs its cases through here, so two sweeps on one store never run a
    case at once. What a stopped or killed earlier run half wrote is discarded first, and
    what this one half wrote when it is stopped (:class:`Interrupted`).
    """
    key = case.key()
    done = store.finished_record(key)
    if done is not None:
        return done
    if not store.claim(key, owner, stale_after_s=claim_lifetime(timeout_s)):
        return None
    try:
        store.discard_unrecorded(key)
        return run_case_process(case, store, timeout_s, launcher, placement)
    except Interrupted:
        store.discard_unrecorded(key)
        raise
    finally:
        store.release(key, owner)


def claim_lifetime(timeout_s: float) -> float:
    """After how long a claim is stale: the case's timeout and some slack (a live case never holds one longer)."""
    return timeout_s + 120.0


class HeldElsewhere:
    """Cases another sweep held when this one came to them: waited for, then taken from the store or run here.

    A case counts as done by the other sweep when a record of it appeared while it held
    the claim (whatever its status: that sweep's attempt is this one's too); a claim let
    go without a record (that sweep was stopped) hands the case back.
    """

    def __init__(self, store: Store, owner: str, timeout_s: float) -> None:
        self.store, self.owner, self.stale_after_s = store, owner, claim_lifetime(timeout_s)
        self._cases: dict[str, tuple[Case, set[str]]] = {}

    def __len__(self) -> int:
        return len(self._cases)

    def add(self, case: Case) -> None:
        self._cases[case.key()] = (case, self.store.record_ids(case.key()))

    def wait(self, records: list[dict[str, Any]], bar: Any) -> list[Case]:
        """After a pause, the records of cases the other sweep finished go to ``records`` (and the progress ``bar``); returns
        the cases it let go without one, to run here."""
        bar.set_postfix_str(f"waiting for {len(self)} case(s) another sweep is running")
        time.sleep(WAIT_POLL_S)
        free = []
        for key, (case, before) in list(self._cases.items()):
            if self.store.claimed_by_other(key, self.owner, self.stale_after_s):
                continue
            del self._cases[key]
            new = sorted(self.store.record_ids(key) - before)
            record = self.store.read_record(new[-1]) if new else self.store.finished_record(key)  # (recorded before add() looked)
            if record is None:
                free.append(case)
            else:
                records.append(record)
                bar.update()
        return free


def forkable(case: Case) -> bool:
    """Whether a case may be forked from the launcher: on one device (no mpiexec, no XLA_FLAGS to set first), on Linux.

    (Elsewhere forking after numerical libraries are loaded is less well trodden, and a
    killed sweep's launcher would not follow it through a parent-death signal.)
    """
    return case.devices == 1 and sys.platform.startswith("linux")


def _problem_tag(case: Case) -> str:
    defaults = type(case.problem)().params()
    return " ".join(f"{k}={v}" for k, v in case.problem.params().items() if defaults[k] != v)


def _command(case: Case, store: Store, placement: Placement = ALONE) -> list[str]:
    """The fresh interpreter's command line: ``[mpiexec -n N] python -m parity run ...``."""
    launcher = parallel.mpiexec_command(case.devices) if case.uses_mpi and case.devices > 1 else []
    return [*launcher, sys.executable, "-m", "parity", *_parity_args(case, store, placement)]


def _parity_args(case: Case, store: Store, placement: Placement = ALONE) -> list[str]:
    """``parity run ...``'s arguments for ``case``."""
    args = ["run", case.problem.name, "--solver", case.solver.name]
    for prefix, params in (("problem", case.problem.params()), ("solver", case.solver.params())):
        for key, value in params.items():
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            args += ["--set", f"{prefix}.{key}={text}"]
    args += ["--seed", str(case.seed), "--steps", str(case.budget.steps), "--devices", str(case.devices)]
    if case.budget.seconds != float("inf"):
        args += ["--seconds", repr(case.budget.seconds)]
    args += ["--store", str(store.root), "--json", "--quiet"]
    if case.scaling:
        args += ["--scaling", case.scaling]
    if case.label:
        args += ["--label", case.label]
    if placement != ALONE:
        args += ["--placement", placement.to_json()]
    return args


def run_case_process(case: Case, store: Store, timeout_s: float, launcher: Launcher | None, placement: Placement = ALONE) -> dict[str, Any]:
    """Run one case in its own process; a kill, crash or timeout is itself recorded, a stop (SIGINT, SIGTERM) raises :class:`Interrupted`.

    The process is forked from ``launcher`` when one is given, else a fresh interpreter.
    """
    import datetime as dt

    created = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    if launcher is not None:
        done = launcher.run(_parity_args(case, store, placement), timeout_s)
    else:
        try:
            finished = subprocess.run(_command(case, store, placement), check=False, capture_output=True, text=True, timeout=timeout_s,
                                      stdin=subprocess.DEVNULL)  # mpiexec would forward (and wait on) stdin
        except subprocess.TimeoutExpired:
            done = Outcome(None, "", "")
        else:
            done = Outcome(finished.returncode, finished.stdout, finished.stderr)
    signum = stopped_by(done.returncode)
    if signum is not None:  # stopped, not failed (see parity.harness.interrupt): nothing is recorded
        raise Interrupted(signum)
    if done.timed_out:
        status, message = "timeout", f"case exceeded the sweep's timeout_s = {timeout_s:g} s"
    else:
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            return json.loads(lines[-1])
        status, message = "error", f"worker exited with code {done.returncode}: {done.stderr.strip()[-2000:]}"
    record = build_record(case, created, status, message, None, {}, float("nan"), time.perf_counter() - started, placement)
    return store.append(record, None)
