"""The console script's entry point: a Ctrl-C that arrives while Python is still importing
xent's modules (typer, numpy: the first ~80 ms) ends as one that arrives later does, with one
line and exit 130, not a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    try:
        from xentcli.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("xent: error: interrupted\n")
        sys.stderr.flush()
        os._exit(130)
    run()
