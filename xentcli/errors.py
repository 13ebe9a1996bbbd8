"""Exit codes and the small family of expected errors.

Everything below the CLI raises these; ``cli.py`` is the one place that turns them into
``xent: error: ...`` on stderr and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    GATE_FAILED = 1
    BAD_INPUT = 2
    INTERRUPTED = 130


class XentError(ValueError):
    """An expected problem with what the user asked for; its message is shown as is."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class UsageError(XentError):
    """Options that make no sense, alone or together."""


class InputError(XentError):
    """A file that cannot be read, or values that cannot be scored."""


class NotNumbers(InputError):
    """A column read as scores (or targets, or weights) holds text: ``column`` names it, so
    that ``xent inspect`` can try it as the id column without reading the message."""

    def __init__(self, message: str, column: str) -> None:
        super().__init__(message)
        self.column = column


def where(source: str, row: int | None = None, column: str | None = None) -> str:
    """``preds.csv: row 17, column 'cat'`` (rows count from 1, as a user counts data rows)."""
    parts = [source]
    loc = []
    if row is not None:
        loc.append(f"row {row + 1}")
    if column is not None:
        loc.append(f"column '{column}'")
    if loc:
        parts.append(", ".join(loc))
    return ": ".join(parts)


def interruption(exc: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or :class:`Terminated` behind ``exc``, if a signal caused it:
    Python 3.11 wraps one raised while a class is created (``__set_name__``) in a
    RuntimeError, which would end the run with a traceback and exit 1."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, (KeyboardInterrupt, Terminated)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Terminated(BaseException):
    """SIGTERM or SIGHUP (a cancelled CI job, `timeout`, a closed terminal), raised in the main
    thread like KeyboardInterrupt so that partial outputs are removed on the way up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
