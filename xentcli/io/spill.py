"""Stdin spilled to a temporary file, for runs that read their input more than once
(``--fit-temperature``): every later read of ``-`` reads the file, with the same ``<stdin>``
name in messages. The file is removed when the run ends, also on an error or a signal."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from xentcli import signals
from xentcli.io import tables

BLOCK = 1 << 20


@contextlib.contextmanager
def replayable_stdin(needed: bool) -> Iterator[None]:
    """While the block runs, ``-`` reads a copy of stdin taken first (when ``needed``)."""
    if not needed:
        yield
        return
    source = tables._stdin()
    path = None
    try:
        # made and known as one step: a signal in between would leave the file behind
        with signals.held():
            fd, path = tempfile.mkstemp(prefix="xent-stdin-", suffix=".spill")
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, BLOCK)
        tables.STDIN_REPLAY.append(path)
        yield
    finally:
        if path is not None:
            if tables.STDIN_REPLAY and tables.STDIN_REPLAY[-1] == path:
                tables.STDIN_REPLAY.pop()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
