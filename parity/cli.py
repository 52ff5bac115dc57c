"""The ``parity`` command line: list, run, sweep, report, device-check, reproductions."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parity import devices
from parity.harness import parallel
from parity.knobs import Configurable, ParameterError, split_overrides

# The harness, solvers and problems are imported inside the handlers: ``run --devices N``
# must ask XLA for N CPU devices before anything starts JAX.

_DEFAULT_STEPS = 10_000
"""``Budget().steps``, repeated so that ``--help`` does not start JAX."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.command_line = argv  # what an MPI relaunch repeats
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError) as exc:  # ParameterError, UnknownNameError, ... are ValueErrors
        print(f"parity: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parity", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="problems with their knobs, and the solvers that support each")
    p.set_defaults(handler=_list)

    p = sub.add_parser("run", help="run one case, append its record to the store, print a summary")
    p.add_argument("problem")
    p.add_argument("--solver", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a problem knob or solver setting; prefix with problem. or solver. when both have KEY")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=_DEFAULT_STEPS, help="optimiser steps of iterative solvers")
    p.add_argument("--seconds", type=float, default=math.inf, help="time budget of the solve (SciML: training seconds, compile and evaluation not counted)")
    p.add_argument("--devices", type=int, default=None, metavar="N",
                   help="JAX devices a SciML solver spreads over; MPI ranks of a classical one (relaunched under mpiexec). "
                        "Default: the MPI rank count under mpiexec, all global devices with --distributed, else 1")
    p.add_argument("--scaling", choices=("strong", "weak"), default="", help="mark the case as part of a scaling series")
    p.add_argument("--distributed", action="store_true",
                   help="join a multi-host JAX job (jax.distributed.initialize); without the three options below, "
                        "JAX reads them from Slurm's or Open MPI's environment")
    p.add_argument("--coordinator", help="host:port of process 0 (with --distributed)")
    p.add_argument("--num-processes", type=int, help="processes in the job, one per host (with --distributed)")
    p.add_argument("--process-id", type=int, help="this process's index in the job (with --distributed)")
    p.add_argument("--label", default="", help="name of this configuration in reports")
    p.add_argument("--store", default="results", help="record store directory (default: results)")
    p.add_argument("--json", action="store_true", help="print the record as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--placement", default="", metavar="JSON",
                   help="where a sweep's executor placed this case (executor, concurrency, worker, cores, GPUs); recorded as given")
    p.add_argument("--compilation-cache", action=argparse.BooleanOptionalAction, default=True,
                   help="load JAX programs compiled by earlier runs from $PARITY_CACHE_DIR/jax-programs (the record's compile "
                        "seconds stay those of compiling from scratch; compile_spent_s and compile_cache say what this run spent; "
                        "a --distributed job always compiles: its processes' programs loaded from the cache wait on each other forever)")
    p.set_defaults(handler=_run)

    p = sub.add_parser("sweep", help="run a TOML grid of cases, skipping those already finished")
    p.add_argument("file")
    p.add_argument("--store", default="results")
    p.add_argument("--report", action="store_true", help="write the sweep's report when it is done")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--fresh-processes", action="store_true",
                   help="start every case in a fresh interpreter instead of forking it from a launcher that has done the "
                        "imports once (slower by seconds per case; the same records)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run N cases at once on this machine (a local Dask cluster; each worker pinned to its share of the "
                        "cores and GPUs; records say they ran side by side)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the cases on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); workers must "
                        "share the store's filesystem")
    p.add_argument("--retries", type=int, default=None, metavar="K",
                   help="times a case is started again after its worker died (default 2; on an external cluster the "
                        "scheduler's distributed.scheduler.allowed-failures decides)")
    p.set_defaults(handler=_sweep)

    p = sub.add_parser("report", help="write reports/<name>/index.md and index.html from the store, and the reports' index")
    p.add_argument("--store", default="results")
    p.add_argument("--name", default="latest", help="report directory name under --reports-dir")
    p.add_argument("--sweep", help="only the cases of this sweep file")
    p.add_argument("--problem", help="only records of this problem")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--index-only", action="store_true",
                   help="only rewrite --reports-dir/index.md and index.html from the reports' verdict.json files")
    p.set_defaults(handler=_report)

    p = sub.add_parser("device-check", help="steps/s, FLOP/s against the device's peak and peak memory of every SciML solver "
                                            "(parity.harness.device_check); a rerun resumes")
    p.add_argument("--profile", choices=("auto", "gpu", "tiny"), default="auto", help="auto: gpu on a GPU machine, tiny elsewhere")
    p.add_argument("--store", default="results/gpu_check")
    p.add_argument("--report", default="reports/gpu_check", help="report directory")
    p.add_argument("--devices", type=int, default=None, metavar="N",
                   help="devices of the strong-scaling point (default: all the backend has; 1 skips the point)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=_device_check)

    p = sub.add_parser("reproductions", help="measure Parity against published figures (parity.harness.reproductions) and "
                                             "write reports/reproductions")
    p.add_argument("--root", default=".", help="the checkout whose committed stores (results/) are read")
    p.add_argument("--report", default="reports/reproductions", help="report directory")
    p.set_defaults(handler=_reproductions)
    return parser


def _list(args: argparse.Namespace) -> int:
    from parity.harness import registry

    for name, cls in registry.problems().items():
        print(f"{name}  ({cls.kind})  {cls.description}")
        _print_knobs(cls)
        supported = registry.solvers_for(cls())
        print(f"  solvers: {', '.join(supported) or '(none)'}")
    print()
    for name, solver_cls in registry.solvers().items():
        scale = " [multi-device: JAX]" if solver_cls.multi_device else " [multi-device: MPI ranks]" if solver_cls.mpi_parallel else ""
        print(f"{name}  ({solver_cls.family})  {solver_cls.description}{scale}")
        _print_knobs(solver_cls)
    return 0


def _print_knobs(cls: type[Configurable]) -> None:
    for k in cls.knobs():
        default = ",".join(map(str, k.default)) if isinstance(k.default, tuple) else k.default
        print(f"    {k.name:<20} {k.type:<18} default {default!s:<14} {k.doc} [{k.allowed}]")


def _run(args: argparse.Namespace) -> int:
    if args.distributed:
        process = devices.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
        parallel.joined_jax_job(process["process_index"])
    elif args.coordinator or args.num_processes or args.process_id is not None:
        raise ParameterError("--coordinator, --num-processes and --process-id need --distributed")
    _, ranks = parallel.rank_and_size()
    if args.devices is not None and args.devices < 1:
        raise ParameterError(f"--devices must be an integer >= 1; got {args.devices}")
    devices.request_host_devices(args.devices or 1)
    if args.compilation_cache and not args.distributed:  # a multi-process CPU program loaded from the cache deadlocks (JAX 0.12)
        from parity.cache import cache_dir
        from parity.solvers.timing import use_compilation_cache

        use_compilation_cache(cache_dir() / "jax-programs")

    from parity.harness import registry
    from parity.harness.placement import Placement
    from parity.harness.run import Case, progress_bar, run_case
    from parity.harness.store import Store
    from parity.solvers.base import Budget

    problem_cls = registry.problem_class(args.problem)
    solver_cls = registry.solver_class(args.solver)
    problem_overrides, solver_overrides = split_overrides(args.set, problem_cls, solver_cls)
    count = args.devices or _default_devices(args.distributed, ranks)
    if solver_cls.mpi_parallel and not solver_cls.multi_device and count != ranks:
        if ranks > 1:
            raise ParameterError(f"--devices {count} under mpiexec -n {ranks}: an MPI solver's devices are its ranks; give --devices {ranks}")
        return _relaunch_under_mpiexec(count, args.command_line)
    if ranks > 1 and not solver_cls.mpi_parallel:
        raise ParameterError(f"solver {solver_cls.name!r} does not run under MPI; launch it without mpiexec (use --devices for JAX devices)")
    try:
        budget = Budget(steps=args.steps, seconds=args.seconds, devices=count)
        placement = Placement.from_json(args.placement) if args.placement else Placement()
    except (ValueError, TypeError) as exc:
        raise ParameterError(str(exc)) from exc
    case = Case(problem_cls.from_overrides(problem_overrides), solver_cls.from_overrides(solver_overrides), args.seed, budget, args.label, args.scaling)
    update, close = progress_bar(f"{case.display_label} on {args.problem}", disable=args.quiet or not parallel.is_root())
    try:
        record = run_case(case, Store(args.store), update, placement)
    finally:
        close()
    if parallel.is_root():
        print(json.dumps(record, sort_keys=True) if args.json else _summary(record))
    return 0 if record["status"] in ("ok", "diverged", "timeout") else 1


def _default_devices(distributed: bool, ranks: int) -> int:
    if distributed:
        import jax

        return jax.device_count()
    return ranks


def _relaunch_under_mpiexec(ranks: int, command_line: list[str]) -> int:
    """Run this same command line again as ``mpiexec -n ranks parity ...``; its exit code."""
    import subprocess

    command = [*parallel.mpiexec_command(ranks), sys.executable, "-m", "parity", *command_line]
    return subprocess.run(command, check=False, stdin=subprocess.DEVNULL).returncode  # hydra forwards stdin, parity reads none


def _summary(record: dict[str, Any]) -> str:
    def fmt(key: str, spec: str) -> str:
        value = record.get(key)
        return "-" if value is None else format(value, spec)

    lines = [
        f"{record['label']} on {record['problem']} {record['problem_params']} seed={record['seed']}: {record['status']}",
        f"  rel_l2 {fmt('rel_l2', '.3e')}  norm_l1 {fmt('norm_l1', '.3e')}  max_abs {fmt('max_abs', '.3e')}",
        f"  setup {fmt('setup_s', '.2f')} s  compile {fmt('compile_s', '.2f')} s{_cache_note(record)}  train {fmt('train_s', '.2f')} s"
        f"  solve {fmt('solve_s', '.2e')} s  inference {fmt('inference_s', '.2e')} s  total {fmt('total_s', '.2f')} s",
        f"  steps {record.get('steps') or '-'}  steps/s {fmt('steps_per_s', '.0f')}  peak RSS {fmt('peak_rss_mb', '.0f')} MB"
        f"  device {record.get('device_kind')} x{record.get('device_count')}",
        f"  record {record['record_id']}",
    ]
    metrics = record.get("metrics") or {}
    if metrics:
        lines.insert(2, "  " + "  ".join(f"{name} {value:.4g}" for name, value in metrics.items() if value is not None))
    if record.get("message"):
        lines.append(f"  message: {record['message'].strip().splitlines()[0]}")
    return "\n".join(lines)


def _cache_note(record: dict[str, Any]) -> str:
    """What compiling cost this run when programs came from the persistent cache."""
    if (record.get("info") or {}).get("compile_cache") != "hit" or record.get("compile_spent_s") is None:
        return ""
    return f" (from the cache: {record['compile_spent_s']:.2f} s)"


def _sweep(args: argparse.Namespace) -> int:
    import shlex

    from parity.harness.interrupt import Interrupted
    from parity.harness.store import Store
    from parity.harness.sweep import load_sweep, run_sweep

    sweep = load_sweep(args.file)
    executor = sweep.executor.overridden(workers=args.workers, scheduler=args.scheduler, retries=args.retries)
    try:
        records = run_sweep(sweep, Store(args.store), quiet=args.quiet, launcher=not args.fresh_processes, executor=executor)
    except Interrupted as stop:
        print(f"\nparity: sweep {sweep.name!r} {stop}; nothing recorded for the case it stopped. To resume, run the same command "
              f"(finished cases are skipped): {shlex.join(['parity', *args.command_line])}", file=sys.stderr)
        return stop.exit_code
    failed = [r for r in records if r["status"] not in ("ok", "diverged")]
    print(f"parity: sweep {sweep.name!r}: {len(records)} cases run, {len(failed)} not ok, store {args.store}", file=sys.stderr)
    if args.report:
        from parity.report import write_report

        out = write_report(Store(args.store), Path(args.reports_dir) / sweep.name, case_keys={c.key() for c in sweep.cases}, title=sweep.name, description=sweep.description)
        print(f"parity: report written to {out}", file=sys.stderr)
    return 0


def _device_check(args: argparse.Namespace) -> int:
    from parity.harness import device_check
    from parity.harness.store import Store
    from parity.report.device_check import write_device_report

    backend, available = device_check.accelerator()
    profile = args.profile if args.profile != "auto" else ("gpu" if backend == "gpu" else "tiny")
    devices = args.devices if args.devices is not None else available
    if devices < 1:
        raise ParameterError(f"--devices must be an integer >= 1; got {devices}")
    records = device_check.run(profile, Store(args.store), devices, quiet=args.quiet)
    out = write_device_report(records, Path(args.report), profile)
    print(f"parity: device check ({profile} profile, {backend}): {len(records)} records in {args.store}; report written to {out}",
          file=sys.stderr)
    return 0


def _reproductions(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from parity.harness import reproductions
    from parity.report.reproductions import write_reproductions_report

    rows = tqdm(reproductions.REPRODUCTIONS, desc="reproductions", unit="row", dynamic_ncols=True)
    outcomes = [reproductions.assess(row, Path(args.root)) for row in rows]
    out = write_reproductions_report(outcomes, Path(args.report))
    print(f"parity: reproductions: {sum(o.status == 'reproduced' for o in outcomes)} of {len(outcomes)} reproduced; "
          f"report written to {out}", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace) -> int:
    from parity.harness.store import Store
    from parity.harness.sweep import load_sweep
    from parity.report import write_index, write_report

    if args.index_only:
        print(f"parity: index written to {write_index(Path(args.reports_dir))}", file=sys.stderr)
        return 0
    keys = None
    title, description = args.name, ""
    if args.sweep:
        sweep = load_sweep(args.sweep)
        keys, title, description = {c.key() for c in sweep.cases}, sweep.name, sweep.description
    out = write_report(Store(args.store), Path(args.reports_dir) / args.name, case_keys=keys, problem=args.problem, title=title, description=description)
    print(f"parity: report written to {out}", file=sys.stderr)
    return 0
