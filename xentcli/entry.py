"""The console script's entry point: a Ctrl-C that arrives while Python is still importing
xent's modules (typer, numpy: the first ~80 ms) ends as one that arrives later does, with one
line and exit 130, not a traceback.

It also keeps OpenBLAS to one thread (unless the user set OPENBLAS_NUM_THREADS): xent's only
matrix products are a 1000 x 1024 bootstrap product and weighted column sums, far too small
to share, while OpenBLAS's extra thread spins for ~0.1 s of CPU after ``import numpy``, on
the core where xent's reader decodes (5M x 10 Parquet: 0.13 s less CPU, ~3% less wall time)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when numpy is first imported
    try:
        from xentcli.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("xent: error: interrupted\n")
        sys.stderr.flush()
        os._exit(130)
    run()
