"""A sweep's cases fanned out over Dask workers: several at once on this machine, or over a cluster.

The guarantees of the one-at-a-time sweep hold:

- **isolation**: each case still runs in its own process, started by the worker (forked
  from a per-worker launcher, or a fresh interpreter for multi-device cases), so a
  crash, a hang or a leak touches that case only and its timeout is enforced;
- **nothing finished is lost, nothing recorded twice**: the case's process writes its
  record to the shared store itself, one file per record; a worker first checks the
  store, then claims the case (:meth:`Store.claim`), so a retry after the record was
  written, or a second client running the same sweep, does not run it again. A worker
  that dies mid-case takes its case's process with it; Dask starts the case again
  elsewhere, up to the executor's ``retries``, then the case is recorded as ``error``
  with the reason. A killed client or scheduler is finished by rerunning the sweep;
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
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from typing import Any

from parity.harness.launcher import Launcher, LauncherError
from parity.harness.placement import Placement
from parity.harness.run import Case, build_record
from parity.harness.store import Store
from parity.harness.sweep import Executor, forkable, run_case_process
from parity.knobs import ParameterError

_launchers = threading.local()
"""One launcher per worker thread: a launcher serves one case at a time."""


def run_on_cluster(cases: Sequence[Case], store: Store, executor: Executor, timeout_s: float, *, sweep_name: str = "sweep",
                   quiet: bool = False, launcher: bool = True) -> list[dict[str, Any]]:
    """Run ``cases`` on ``executor``'s workers; return their records in the order they finished."""
    from distributed import as_completed
    from tqdm import tqdm

    with _client(executor) as (client, shares, kind):
        if not quiet:
            print(f"parity: {kind} Dask cluster, dashboard {client.dashboard_link}", file=sys.stderr)
        workers = _wait_for_workers(client, executor)
        concurrency = _slots_per_host(workers)
        _check_resources(cases, workers)
        session = uuid.uuid4().hex[:8]
        waiting, futures, finished = deque(cases), {}, as_completed()

        def submit_while_threads_are_free() -> None:
            """At most one case per worker thread is with the workers, so a worker that dies takes only the cases it was running."""
            threads = sum(info.get("nthreads", 1) for info in client.scheduler_info()["workers"].values())
            while waiting and len(futures) < max(1, threads):
                case = waiting.popleft()
                future = client.submit(
                    run_on_worker, case, str(store.root), timeout_s, f"{session}-{case.key()}", kind, concurrency, shares, launcher,
                    key=f"parity-{case.key()}-{session}", resources=_restrictions(case, workers), pure=False,
                )
                futures[future] = case
                finished.add(future)

        records = []
        with tqdm(total=len(cases), desc=f"sweep {sweep_name}", unit="case", disable=quiet, dynamic_ncols=True) as bar:
            submit_while_threads_are_free()
            for future in finished:
                case = futures.pop(future)
                record = _outcome(future, case, store, executor, kind)
                if record is not None:
                    records.append(record)
                bar.set_postfix_str(f"{case.display_label} seed={case.seed}: {record['status'] if record else 'running elsewhere'}")
                bar.update()
                submit_while_threads_are_free()
    return records


def run_on_worker(case: Case, store_root: str, timeout_s: float, owner: str, kind: str, concurrency: dict[str, int],
                  shares: dict[str, tuple[tuple[int, ...], str]], use_launcher: bool) -> dict[str, Any] | None:
    """On a worker: run one case in its own process, unless the store has it or another owner runs it (then None)."""
    from distributed import get_worker

    store = Store(store_root)
    done = store.finished_record(case.key())
    if done is not None:  # a retry after the case's process had written its record
        return done
    if not store.claim(case.key(), owner, stale_after_s=timeout_s + 120.0):
        return None
    try:
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
            return run_case_process(case, store, timeout_s, forker, placement)
        except LauncherError:
            _launchers.launcher = None
            return run_case_process(case, store, timeout_s, None, placement)
    finally:
        store.release(case.key(), owner)


def _worker_launcher() -> Launcher:
    if getattr(_launchers, "launcher", None) is None:
        _launchers.launcher = Launcher()
    return _launchers.launcher


def _outcome(future: Any, case: Case, store: Store, executor: Executor, kind: str) -> dict[str, Any] | None:
    """The case's record; a case whose workers kept dying, or whose task failed, is recorded as ``error``."""
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
            with Client(executor.scheduler) as client:
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
        resources = {"cores": len(next(iter(shares.values()))[0]) or 1}
        if any(gpus for _, gpus in shares.values()):
            resources["gpus"] = len(next(iter(shares.values()))[1].split(","))
        logging.getLogger("distributed").setLevel(logging.ERROR)
        with LocalCluster(n_workers=executor.workers, threads_per_worker=1, processes=True, resources=resources,
                          dashboard_address=":0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield client, shares, "local"


def local_shares(workers: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """This machine's cores and GPUs split into ``workers`` disjoint shares, by worker name ("0", "1", ...).

    A machine with fewer cores than workers is refused: two timed cases would share a core.
    """
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        raise ParameterError(f"--workers {workers} on {len(cores)} cores: two cases would share a core; allowed: 1..{len(cores)}")
    gpus = _visible_gpus()
    per_core, per_gpu = len(cores) // workers, len(gpus) // workers if len(gpus) >= workers else 0
    return {str(i): (tuple(cores[i * per_core:(i + 1) * per_core]), ",".join(gpus[i * per_gpu:(i + 1) * per_gpu]))
            for i in range(workers)}


def _visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, by index (``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in listing.splitlines() if line.startswith("GPU "))]


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
    for case in cases:
        for name, amount in case.resources.as_dask().items():
            if name == "cores" and amount <= 1 and not _declared(workers, name):
                continue  # one core is what a worker without declared resources gives each of its tasks
            best = max((info.get("resources", {}).get(name, 0.0) for info in workers.values()), default=0.0)
            if best < amount:
                raise ParameterError(
                    f"case {case.display_label} seed={case.seed} needs {name}={amount:g}, but the workers offer at most "
                    f"{name}={best:g}; start workers with --resources \"{name}=...\" or lower the case's resources"
                )


def _scale(cluster: Any, jobs: int) -> None:
    """Ask a job-queue cluster for ``jobs`` jobs (dask-jobqueue counts jobs, other clusters workers)."""
    import inspect

    if "jobs" in inspect.signature(cluster.scale).parameters:
        cluster.scale(jobs=jobs)
    else:
        cluster.scale(jobs)
