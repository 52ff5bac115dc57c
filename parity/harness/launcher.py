"""A long-lived launcher that forks one fresh-from-imports process per case.

A sweep used to start every case as ``python -m parity run ...`` in a new interpreter,
which paid the imports (JAX, equinox, optax, SciPy, pandas, every plugin module) and the
record's software facts (two ``git`` calls) again for every case: seconds each, on a
2-core machine a minute or two per default sweep. The launcher pays them once. It is a
separate process (``python -m parity.harness.launcher``, started by the sweep) that
imports what ``parity run`` imports at start-up and then, per case, forks a child that
runs exactly that command line and exits. Isolation is as before: each case has its own
process, so a crash, a hang or a leak touches that case only, the sweep kills a child
past its timeout, and peak memory is per case. (A child's peak RSS counts what the case
touched on top of the imports; a fresh interpreter's also counted the imports' transient
peak and library pages that only loading touches, some 100 MB more. Records say
``forked`` when they come from a child.)

What is and is not shared with the children:

- the imported modules and the record's software facts (git commit and dirty state,
  package versions: those of the code the launcher imported, which is the code every
  child runs);
- never a JAX backend: the launcher imports JAX but starts no backend and no thread (it
  checks, and refuses to serve otherwise), so nothing is compiled, cached or running
  when a child is forked. Each child starts its own backend and compiles its own
  programs; compile time stays in every record, as in a fresh interpreter;
- never a case's data: the launcher runs no case, so in-memory caches (datasets,
  operators) start empty in every child.

The protocol is one JSON request per line on the launcher's stdin (``argv`` of
``parity run``, and files for the child's stdout and stderr) and two lines back on its
stdout: ``started PID`` and ``exited CODE`` (negative: killed by that signal). The
launcher and its children stay in the sweep's process group, so killing the group kills
them all; a child also dies with the launcher, and the launcher with the sweep (Linux
parent-death signal), so even a plain kill of the sweep leaves no orphans. Ctrl-C and
SIGTERM (:mod:`parity.harness.interrupt`) kill a child at once, with nothing written: it
was stopped, it did not fail; the launcher ignores them and ends when the sweep says so.

Cases on several devices do not come here: an MPI case is started under ``mpiexec``, and
a multi-device JAX case must set ``XLA_FLAGS`` before JAX is imported; both still run in
a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

from parity.harness.interrupt import STOP_SIGNALS

_PR_SET_PDEATHSIG = 1
PARITY_MAIN = "parity.cli:main"
"""What a child runs by default: the ``parity`` command line, as ``python -m parity <argv>`` does.

Named, not imported: the harness runs the command-line program the way ``python -m``
would and never imports the CLI module itself (the CLI imports the harness)."""
READY_TIMEOUT_S = 600.0
"""How long the sweep waits for the launcher's imports before it gives up on it."""


class LauncherError(RuntimeError):
    """The launcher itself failed (did not start, or died): not a case's failure."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one case's process ended."""

    returncode: int | None
    """Exit code; negative when killed by a signal; ``None`` when killed at the timeout."""
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


class Launcher:
    """The sweep's side: one launcher process, one case at a time (a context manager)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._buffer = b""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(kill=exc_type is not None)

    def start(self) -> None:
        """Start the launcher and wait until its imports are done."""
        if self._process is not None:
            return
        self._folder = tempfile.TemporaryDirectory(prefix="parity-launcher-")
        log = open(Path(self._folder.name) / "launcher.err", "wb")  # noqa: SIM115 - the child holds it
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "parity.harness.launcher"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            )
        finally:
            log.close()
        line = self._read_line(time.monotonic() + READY_TIMEOUT_S)
        if line is None or not line.startswith("ready"):
            raise self._failed(f"the launcher did not start ({'timed out' if line is None else repr(line)})")

    def run(self, argv: Any, timeout_s: float, target: str = PARITY_MAIN) -> Outcome:
        """Run ``parity <argv>`` in a forked child; kill it after ``timeout_s`` seconds.

        ``target`` (``"module:function"``) is what the child calls with ``argv`` (JSON) and
        exits with: by default the ``parity`` command line.
        """
        self.start()
        assert self._process is not None and self._process.stdin is not None and self._folder is not None
        out, err = (Path(self._folder.name) / name for name in ("case.out", "case.err"))
        request = json.dumps({"target": target, "argv": argv, "stdout": str(out), "stderr": str(err)}) + "\n"
        try:
            self._process.stdin.write(request.encode())
            self._process.stdin.flush()
        except OSError as exc:
            raise self._failed(f"the launcher is gone ({exc})") from exc
        deadline = time.monotonic() + timeout_s
        line = self._read_line(time.monotonic() + 60)
        if line is None or not line.startswith("started "):
            raise self._failed(f"the launcher did not start the case ({line!r})")
        pid = int(line.split()[1])
        try:
            line = self._read_line(deadline)
        except BaseException:  # the sweep was stopped: the case goes with it, reaped before the caller cleans up after it
            self._kill(pid, 2.0)
            raise
        timed_out = line is None
        if timed_out:
            line = self._kill(pid, 60.0)
        if line is None or not line.startswith("exited "):
            raise self._failed(f"the launcher lost the case ({line!r})")
        code = int(line.split()[1])
        return Outcome(None if timed_out else code, _read(out), _read(err))

    def _kill(self, pid: int, wait_s: float) -> str | None:
        """Kill the running case; the launcher's ``exited`` line once it has reaped it (``None`` after ``wait_s``)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # the launcher has not reaped it yet: the pid is still the child's
        return self._read_line(time.monotonic() + wait_s)

    def close(self, *, kill: bool = False) -> None:
        """Stop the launcher (it exits when its stdin closes; ``kill``: at once) and remove its files."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            try:
                if kill:
                    process.kill()
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self._buffer = b""

    def _failed(self, what: str) -> LauncherError:
        """``what`` with the end of the launcher's own stderr, the launcher stopped."""
        said = _read(Path(self._folder.name) / "launcher.err").strip() if self._folder is not None else ""
        self.close()
        return LauncherError(f"{what}{': ' + said[-2000:] if said else ''}")

    def _read_line(self, deadline: float) -> str | None:
        """The launcher's next line, or ``None`` at the deadline or when it has gone."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return "" if not self._buffer else self._buffer.decode(errors="replace")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------------------
# The launcher process


def preload() -> None:
    """Import what ``parity run`` imports before it runs a case, and compute the software facts."""
    from parity.harness import environment, registry, run, store  # noqa: F401

    importlib.import_module(PARITY_MAIN.partition(":")[0])

    registry.problems()
    registry.solvers()
    environment.software()  # git state and versions: of the code imported here, which every child runs


def unsafe_to_fork() -> str:
    """Why forking this process would be unsafe ('' when it is not): a started JAX backend or threads."""
    import threading

    if "jax" in sys.modules:
        from jax._src import xla_bridge

        if getattr(xla_bridge, "_backends", None):
            return "a preloaded module started a JAX backend"
    if threading.active_count() > 1:
        return f"a preloaded module started {threading.active_count() - 1} Python thread(s)"
    return ""


def serve() -> int:
    """The launcher's main loop: preload, then fork one child per request."""
    _die_with_parent()
    for signum in STOP_SIGNALS:  # Ctrl-C reaches the sweep and the child; the launcher ends on EOF (or with the sweep)
        signal.signal(signum, signal.SIG_IGN)
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # a stray print from an import must not garble the protocol
    requests = os.fdopen(os.dup(0), "r")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    preload()
    reason = unsafe_to_fork()
    if reason:
        print(f"parity launcher: not serving: {reason}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    channel.write(f"ready {os.getpid()}\n")
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, (channel.fileno(), requests.fileno()))  # never returns
        channel.write(f"started {pid}\n")
        _, status = os.waitpid(pid, 0)
        channel.write(f"exited {os.waitstatus_to_exitcode(status)}\n")
    return 0


def _child(request: dict[str, Any], launcher_fds: tuple[int, ...]) -> None:
    """Run one ``parity`` command line as a fresh interpreter would, then exit."""
    code = 1
    try:
        parent = os.getppid()
        _die_with_parent()
        if os.getppid() != parent:  # the launcher died between fork and prctl
            os._exit(1)
        for fd in launcher_fds:
            os.close(fd)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        for signum in STOP_SIGNALS:  # stopped, not failed: die of the signal, write nothing (see parity.harness.interrupt)
            signal.signal(signum, signal.SIG_DFL)
        if "numpy" in sys.modules:  # as fresh as a new interpreter: the global legacy RNG from OS entropy
            sys.modules["numpy"].random.seed()
        from parity.harness import run

        run.FORKED = True  # records say so (see run.FORKED)
        module, _, function = request["target"].partition(":")
        if isinstance(request["argv"], list):
            sys.argv = ["parity", *request["argv"]]
        code = _exit_code(getattr(importlib.import_module(module), function), request["argv"])
    except BaseException:  # noqa: BLE001 - anything at all: report it as an interpreter would
        import traceback

        with contextlib.suppress(BaseException):
            traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            import atexit

            atexit._run_exitfuncs()  # what interpreter exit would run (temp files, JAX clean-up)
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _exit_code(function: Any, argv: Any) -> int:
    """The exit code of an interpreter whose main program is ``function(argv)``."""
    try:
        result = function(argv)
    except SystemExit as exc:
        result = exc.code
    if result is None or isinstance(result, int):
        return result or 0
    print(result, file=sys.stderr)
    return 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no orphans after a kill)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


if __name__ == "__main__":
    # serve from the module proper, not from this second copy of it named __main__
    sys.exit(importlib.import_module("parity.harness.launcher").serve())
