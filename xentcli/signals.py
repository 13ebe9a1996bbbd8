"""Signals of the console script: SIGTERM and SIGHUP end a run as Ctrl-C does, and output
files are committed with signals held back, so a signal never leaves one file new and the
other old.

Kept small and free of heavy imports: the entry point installs the handlers before it imports
anything else of xent (typer, numpy), so a signal during start-up is one line and exit
128 + N, like one that arrives later.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from xentcli.errors import Terminated

ENDING = ("SIGINT", "SIGTERM", "SIGHUP")  # the signals that end a run


def install() -> None:
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (as SIGINT raises
    KeyboardInterrupt), so partial outputs are removed on the way up. A signal the shell set
    to be ignored (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, stop)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP while the block runs (the commit of the output
    files: a few renames); one that arrives meanwhile is raised again when the block ends, to
    the handlers that were there before (so the run still ends as interrupted, with both files
    new).

    Deferred by Python-level handlers, not by blocking the signals: a signal sent to the
    process may be taken by any thread (Arrow's, the reader's), and its Python handler then
    runs in the main thread at the next instruction, wherever that is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def defer(signum: int, frame: Any) -> None:
        pending.append(signum)

    previous = {}
    for name in ENDING:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, defer)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])  # its own handler now: raised, or the default
