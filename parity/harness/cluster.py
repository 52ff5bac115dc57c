"""A sweep's cases fanned out over Dask workers: several at once on this machine, or over a cluster.

The guarantees of the one-at-a-time sweep hold:

- **isolation**: each case still runs in its own process, started by the worker (forked
  from a per-worker launcher, or a fresh interpreter for multi-device cases), so a
  crash, a hang or a leak touches that case only and its timeout is enforced;
- **nothing finished is lost, nothing recorded twice**: the case's process writes its
  record to the shared store itself, one file per record; a worker first checks the
  store, then claims the case (:func:`parity.harness.sweep.run_claimed`, as the
  one-at-a-time sweep does), so a retry after the record was written, or a second sweep
  running the same cases, does not run it again (the client waits for what another holds,
  as that sweep does). A worker that dies mid-case takes its case's process with it; Dask
  starts the case again elsewhere, up to the executor's ``retries``, then the case is
  recorded as ``error`` with the reason. A case stopped on its worker by SIGINT or SIGTERM
  (a job at its time limit) is not recorded and is submitted again. A killed client or
  scheduler is finished by rerunning the sweep; Ctrl-C or SIGTERM to the client stops the
  local cluster of ``--workers N`` and its cases (:mod:`parity.harness.interrupt`);
- **exclusive resources**: a case holds its ``Resources`` (cores, GPUs) as Dask worker
  resources; the local cluster of ``--workers N`` splits this machine's cores and GPUs
  into N disjoint shares and pins each worker's cases to its share;
- **circumstances recorded**: each record says its executor, worker, how many cases could
  run side by side on its host (``concurrency``), its cores and visible GPUs, and the
  host's hardware.

One progress bar with ETA covers the whole cluster; the Dask dashboard's address is printed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import itertools
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from parity.harness.interrupt import STOP_SIGNALS, Interrupted
from parity.harness.launcher import Launcher, LauncherError
from parity.harness.placement import Placement, check_fits, local_shares, share_resources
from parity.harness.run import Case, build_record
from parity.harness.store import Store
from parity.harness.sweep import Executor, HeldElsewhere, forkable, run_claimed
from parity.knobs import ParameterError

_launchers = threading.local()
"""One launcher per worker thread: a launcher serves one case at a time."""


def run_on_cluster(cases: Sequence[Case], store: Store, executor: Executor, timeout_s: float, *, sweep_name: str = "sweep",
                   quiet: bool = False, launcher: bool = True) -> list[dict[str, Any]]:
    """Run ``cases`` on ``executor``'s workers; return their records in the order they finished."""
    session, futures = uuid.uuid4().hex[:8], {}
    try:
        return _run_all(cases, store, executor, timeout_s, session, futures, sweep_name=sweep_name, quiet=quiet, launcher=launcher)
    except Interrupted:
        if executor.local:  # the local cluster has gone, and the cases its workers ran with it: so go their claims and half-written files
            for case in futures.values():
                store.release(case.key(), f"{session}-{case.key()}")
                store.discard_unrecorded(case.key())
        raise


def _run_all(cases: Sequence[Case], store: Store, executor: Executor, timeout_s: float, session: str, futures: dict[Any, Case], *,
             sweep_name: str, quiet: bool, launcher: bool) -> list[dict[str, Any]]:
    """:func:`run_on_cluster` with the claims' ``session``; ``futures`` holds the cases with the workers, by future."""
    from distributed import as_completed
    from tqdm import tqdm

    with _client(executor) as (client, shares, kind):
        if not quiet:
            print(f"parity: {kind} Dask cluster, dashboard {client.dashboard_link}", file=sys.stderr)
        workers = _wait_for_workers(client, executor)
        concurrency = _slots_per_host(workers)
        _check_resources(cases, workers)
        waiting, finished, attempts = deque(cases), as_completed(), itertools.count()

        def submit_while_threads_are_free() -> None:
            """At most one case per worker thread is with the workers, so a worker that dies takes only the cases it was running."""
            threads = sum(info.get("nthreads", 1) for info in client.scheduler_info()["workers"].values())
            while waiting and len(futures) < max(1, threads):
                case = waiting.popleft()
                future = client.submit(
                    run_on_worker, case, str(store.root), timeout_s, f"{session}-{case.key()}", kind, concurrency, shares, launcher,
                    key=f"parity-{case.key()}-{session}-{next(attempts)}", resources=_restrictions(case, workers), pure=False,
                )
                futures[future] = case
                finished.add(future)

        records, held = [], HeldElsewhere(store, session, timeout_s)
        try:
            with tqdm(total=len(cases), desc=f"sweep {sweep_name}", unit="case", disable=quiet, dynamic_ncols=True) as bar:
                while waiting or futures or held:
                    submit_while_threads_are_free()
                    if not futures:  # what is left, another sweep runs
                        waiting.extend(held.wait(records, bar))
                        continue
                    future = next(finished)
                    case = futures.pop(future)
                    record = _outcome(future, case, store, executor, kind)
                    if isinstance(record, Interrupted):  # stopped on its worker (a job at its time limit): not done, so submitted again
                        waiting.appendleft(case)
                        continue
                    if record is None:
                        held.add(case)
                        continue
                    records.append(record)
                    bar.set_postfix_str(f"{case.display_label} seed={case.seed}: {record['status']}")
                    bar.update()
        except Interrupted:
            if kind == "local":
                _stop_local_workers(client, list(futures))
            raise
    return records


def _stop_local_workers(client: Any, futures: list[Any]) -> None:
    """After a stop signal: let the cases end (they got the signal too: at once, unrecorded), then kill the workers.

    A local worker that has imported the harness takes seconds to close gracefully, and holds
    nothing: its cases' records are in the store, its launcher dies with it.
    """
    from distributed import wait

    with contextlib.suppress(TimeoutError):
        wait(futures, timeout=2.0)
    client.run(_no_restart, nanny=True)
    for pid in client.run(os.getpid).values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _no_restart(dask_worker: Any) -> None:
    """On a nanny: let its worker go without starting another (a restart would hold up the cluster's close for seconds)."""
    dask_worker.close_gracefully(reason="parity sweep stopped")


def run_on_worker(case: Case, store_root: str, timeout_s: float, owner: str, kind: str, concurrency: dict[str, int],
                  shares: dict[str, tuple[tuple[int, ...], str]], use_launcher: bool) -> dict[str, Any] | Interrupted | None:
    """On a worker: run one case in its own process, unless the store has it or another owner runs it (then None).

    A case stopped by SIGINT or SIGTERM returns the :class:`Interrupted` (nothing is recorded; raised, Dask would log it as a failure).
    """
    from distributed import get_worker

    store = Store(store_root)
    worker = get_worker()
    cpus, gpus = shares.get(str(worker.name), ((), os.environ.get("CUDA_VISIBLE_DEVICES", "")))
    if cpus:
        os.sched_setaffinity(0, cpus)  # this thread's; the case's process inherits it
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    placement = Placement(kind, concurrency.get(worker.address.rsplit(":", 1)[0], 1), str(worker.name),
                          tuple(sorted(os.sched_getaffinity(0))), os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    forker = _worker_launcher() if use_launcher and forkable(case) else None
    try:
        try:
            return run_claimed(case, store, owner, timeout_s, forker, placement)  # a retry after its record was written returns that
        except LauncherError:
            _launchers.launcher = None
            return run_claimed(case, store, owner, timeout_s, None, placement)
    except Interrupted as stop:
        return stop


def _worker_launcher() -> Launcher:
    if getattr(_launchers, "launcher", None) is None:
        _launchers.launcher = Launcher()
    return _launchers.launcher


def _outcome(future: Any, case: Case, store: Store, executor: Executor, kind: str) -> dict[str, Any] | Interrupted | None:
    """The case's record (or what :func:`run_on_worker` returned instead); a case whose workers kept dying, or whose task failed,
    is recorded as ``error``."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        message = f"its worker died {executor.retries + 1} times running it (retries = {executor.retries}): {exc}"
    except Exception as exc:  # noqa: BLE001 - the sweep goes on; the case is recorded with the reason
        message = f"the executor failed: {type(exc).__name__}: {exc}"
    done = store.finished_record(case.key())
    if done is not None:
        return done
    record = build_record(case, dt.datetime.now(dt.UTC), "error", message, None, {}, float("nan"), float("nan"),
                          Placement(kind))
    return store.append(record, None)


@contextlib.contextmanager
def _client(executor: Executor) -> Iterator[tuple[Any, dict[str, tuple[tuple[int, ...], str]], str]]:
    """A Dask client on the executor's cluster, with each local worker's share (cores, GPUs) by name, and the executor's kind."""
    import dask
    from distributed import Client, LocalCluster

    settings = {"distributed.scheduler.allowed-failures": executor.retries, "distributed.worker.daemon": False}
    with dask.config.set(settings):
        if executor.scheduler is not None:
            with _connected(executor) as client:
                yield client, {}, "dask"
            return
        if executor.factory is not None:
            module, _, name = executor.factory.rpartition(".")
            try:
                factory = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError, ValueError) as exc:
                raise ParameterError(f"cluster factory {executor.factory!r} cannot be imported ({exc}); e.g. dask_jobqueue.SLURMCluster") from exc
            with factory(**executor.options) as cluster, Client(cluster) as client:
                _scale(cluster, executor.jobs)
                yield client, {}, "dask"
            return
        assert executor.workers is not None
        shares = local_shares(executor.workers)
        resources = {name: amount for name, amount in share_resources(shares).items() if amount}
        logging.getLogger("distributed").setLevel(logging.ERROR)
        with LocalCluster(n_workers=executor.workers, threads_per_worker=1, processes=True, resources=resources,
                          dashboard_address=":0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            client.register_plugin(_LeaveStopSignalsToTheSweep())
            yield client, shares, "local"


class _LeaveStopSignalsToTheSweep(WorkerPlugin):
    """A local worker ignores Ctrl-C and SIGTERM, which reach it with the sweep's process group: the sweep stops its cases, then it.

    (Left to itself it would race the sweep's shutdown, with tracebacks, and its nanny start
    a new one.)
    """

    def setup(self, worker: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)


def _connected(executor: Executor) -> Any:
    """A client of the running scheduler at ``executor.scheduler``; one that does not answer is a clear error, soon."""
    from distributed import Client

    try:
        return Client(executor.scheduler, timeout=executor.connect_timeout_s)
    except OSError as exc:  # TimeoutError, ConnectionRefusedError, ...
        raise ParameterError(f"no Dask scheduler answered at {executor.scheduler} within {executor.connect_timeout_s:g} s "
                             f"({type(exc).__name__}: {exc}); start one (dask scheduler) or give its address (tcp://host:8786)") from None


def _wait_for_workers(client: Any, executor: Executor, timeout_s: float = 600.0) -> dict[str, Any]:
    """The scheduler's workers, once there is one (a job queue takes time to start them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        workers = client.scheduler_info()["workers"]
        if workers:
            return workers
        if time.monotonic() > deadline:
            raise RuntimeError(f"no Dask worker joined the cluster within {timeout_s:g} s ({executor})")
        time.sleep(1.0)


def _slots_per_host(workers: dict[str, Any]) -> dict[str, int]:
    """Per host (the address without its port), how many cases its workers run at once."""
    slots: Counter[str] = Counter()
    for address, info in workers.items():
        slots[address.rsplit(":", 1)[0]] += int(info.get("nthreads", 1))
    return dict(slots)


def _restrictions(case: Case, workers: dict[str, Any]) -> dict[str, float] | None:
    """The case's resources as Dask restrictions, where they restrict anything.

    One core is what every worker thread gives its task, so it is left out.
    """
    needed = {name: amount for name, amount in case.resources.as_dask().items()
              if _declared(workers, name) and not (name == "cores" and amount <= 1)}
    return needed or None


def _declared(workers: dict[str, Any], resource: str) -> bool:
    return any(resource in info.get("resources", {}) for info in workers.values())


def _check_resources(cases: Sequence[Case], workers: dict[str, Any]) -> None:
    """Refuse, before submitting anything, a case no worker could ever run (it would wait forever)."""
    offered = {name: max((info.get("resources", {}).get(name, 0.0) for info in workers.values()), default=0.0) for name in ("cores", "gpus")}
    if not _declared(workers, "cores"):
        offered["cores"] = 1.0  # what a worker without declared resources gives each of its tasks
    check_fits(cases, offered, "the best of the Dask workers (start them with --resources \"cores=...,gpus=...\")")


def _scale(cluster: Any, jobs: int) -> None:
    """Ask a job-queue cluster for ``jobs`` jobs (dask-jobqueue counts jobs, other clusters workers)."""
    import inspect

    if "jobs" in inspect.signature(cluster.scale).parameters:
        cluster.scale(jobs=jobs)
    else:
        cluster.scale(jobs)
