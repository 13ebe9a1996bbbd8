"""The progress bar: only on a terminal, only after a moment, rows and rows/s."""

from __future__ import annotations

import io

import pytest

from xentcli import progress as progress_mod
from xentcli.progress import ProgressBar


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert ProgressBar.for_stderr() is None


def test_bar_starts_only_after_a_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: clock[0])
    bar = ProgressBar()
    bar.advance(1000, total=10_000)
    assert bar._progress is None  # a quick run never shows a bar
    clock[0] += progress_mod.DELAY_SECONDS + 0.1
    bar.advance(1000, total=10_000)
    bar.update_rate()
    assert bar._progress is not None
    task = bar._progress.tasks[0]
    assert task.completed == 2000 and task.total == 10_000
    assert "rows/s" in task.fields["rate"]
    bar.close()
