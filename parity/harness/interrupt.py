"""Stopping a sweep: Ctrl-C (SIGINT) and SIGTERM (what Slurm sends) end the whole sweep at once.

The one place a sweep handles signals. Within :func:`stop_on_signals` the first SIGINT or
SIGTERM, whether sent to the sweep's process group or to the sweep process alone, is
passed on to every process the sweep started (as Ctrl-C in a terminal would have done) and
raised in the sweep's main thread as :class:`Interrupted`. Those processes are ready for
it: a launcher ignores it, a case's process dies of it without writing anything, and the
code that waits for a case treats a case killed by SIGINT or SIGTERM as not done (no
record; its claim released, anything it half wrote discarded). Whatever is still alive
when the sweep has unwound is killed, so no process is left behind, and a rerun of the
same command finishes the sweep.

The signal is taken even where the sweep inherited it ignored (a background job of a
non-interactive shell ignores SIGINT): asked to stop, a sweep stops.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """SIGINT or SIGTERM stopped the sweep (a ``BaseException``, as ``KeyboardInterrupt``: no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:  # raised on a Dask worker, re-raised in the client
        return Interrupted, (self.signum,)

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def stopped_by(returncode: int | None) -> int | None:
    """The stop signal that killed a process with exit status ``returncode`` (negative: a signal), else ``None``."""
    return -returncode if returncode is not None and -returncode in STOP_SIGNALS else None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: the first SIGINT or SIGTERM reaches every process started here and raises :class:`Interrupted`.

    Further stop signals are ignored until the sweep has cleaned up (the clean-up is
    short and must not be cut in half); on the way out every process still running under
    this one is killed. Outside the main thread (where Python delivers signals) nothing is
    installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    before = {process.pid for process in _descendants(set())}  # the caller's own (a notebook's, say) are left alone

    def stop(signum: int, frame: FrameType | None) -> None:
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        _signal(_descendants(before), signum)
        raise Interrupted(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    try:
        yield
    except Interrupted:
        _signal(_descendants(before), signal.SIGKILL)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _descendants(before: set[int]) -> list[Any]:
    """The processes below this one (``psutil.Process``) but those in ``before`` and below them."""
    import psutil  # here: the launcher and its cases import this module, and never call this

    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if not ({child.pid} | {parent.pid for parent in child.parents()}) & before:
                found.append(child)
    return found


def _signal(processes: list[Any], signum: int) -> None:
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)
