"""A progress bar on stderr: only on a terminal, and only once a run takes more than a moment."""

from __future__ import annotations

import sys
import time
from typing import Any

DELAY_SECONDS = 0.7


class ProgressBar:
    """Rows done, rows/s and (when the row count is known) a bar and an ETA."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.rows = 0
        self._progress: Any = None
        self._task: Any = None

    @staticmethod
    def for_stderr() -> ProgressBar | None:
        return ProgressBar() if sys.stderr.isatty() else None

    def advance(self, rows: int, total: int | None) -> None:
        self.rows += rows
        if self._progress is None:
            if time.monotonic() - self.started < DELAY_SECONDS:
                return
            self._start(total)
        self._progress.update(self._task, completed=self.rows)

    def _start(self, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [
            TextColumn("xent"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        ]
        if total:
            columns.append(TimeRemainingColumn())
        self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task("rows", total=total, rate="")
        self._progress.start()

    def update_rate(self) -> None:
        if self._progress is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self._progress.update(self._task, rate=f"{self.rows / elapsed:,.0f} rows/s")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
