"""The console script's entry point: a Ctrl-C, SIGTERM or SIGHUP that arrives while Python is
still importing xent's modules (typer, numpy: the first ~80 ms) ends as one that arrives later
does, with one line and exit 130 (128 + N), not a traceback.

It also keeps OpenBLAS to one thread (unless the user set OPENBLAS_NUM_THREADS): xent's only
matrix products are a 1000 x 1024 bootstrap product and weighted column sums, far too small
to share, while OpenBLAS's extra thread spins for ~0.1 s of CPU after ``import numpy``, on
the core where xent's reader decodes (5M x 10 Parquet: 0.13 s less CPU, ~3% less wall time)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when numpy is first imported
    from xentcli.errors import Terminated, interruption
    from xentcli.signals import install

    install()  # first: a SIGTERM while typer and numpy import is one line too
    try:
        from xentcli.cli import main as run
    except KeyboardInterrupt:
        _end("interrupted", 130)
    except Terminated as exc:
        _end(f"terminated by signal {exc.signum}", 128 + exc.signum)
    except RuntimeError as exc:  # Python 3.11 wraps a signal raised while a class is made
        stop = interruption(exc)
        if stop is None:
            raise
        if isinstance(stop, Terminated):
            _end(f"terminated by signal {stop.signum}", 128 + stop.signum)
        _end("interrupted", 130)
    run()


def _end(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"xent: error: {message}\n")
    sys.stderr.flush()
    os._exit(code)
