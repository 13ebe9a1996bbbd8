"""Process plumbing of the console script: one-line usage errors, expected errors turned into
``xent: error: ...`` and an exit code, stdout and stderr that survive closed pipes and full
disks, signals, and the end of the process. The commands themselves are in
:mod:`xentcli.cli.commands`.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from xentcli.config import PLAIN_WIDTH
from xentcli.errors import ExitCode, Terminated, XentError, interruption
from xentcli.signals import install as install_signal_handlers
from xentcli.textsafe import shown

# Click's own usage errors (a bad option value, an unknown option, a missing argument) print
# four lines (usage, hint, blank, "Error: ..."); xent's errors are one line. Click's classes
# are found through typer (which vendors click in recent versions).
_ClickUsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _OneLineUsageError(_ClickUsageError):  # type: ignore[misc]
    def show(self, file: Any = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        say("error", f"{self.format_message()}{where}")


def _one_line(parse: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(parse)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return parse(*args, **kwargs)
        except _OneLineUsageError:
            raise
        except _ClickUsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `xent`: the help, as is
                raise
            raise _OneLineUsageError(exc.format_message(), exc.ctx) from None

    return wrapper


class Command(typer.core.TyperCommand):
    make_context = _one_line(typer.core.TyperCommand.make_context)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """The usage line as click writes it (``xent compute [OPTIONS] PREDICTIONS``): Typer
        puts a required argument in braces, which read as a set of choices."""
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class Group(typer.core.TyperGroup):
    make_context = _one_line(typer.core.TyperGroup.make_context)
    resolve_command = _one_line(typer.core.TyperGroup.resolve_command)


def say(kind: str, message: str) -> None:
    """``xent: <kind>: <message>`` on stderr, one line whatever a library put in the message,
    and the text from the data in it (names, ids, values, a baseline's strings: messages are
    built deep in the readers) shown by the one rule: control and bidirectional characters
    escaped (:func:`xentcli.textsafe.shown`)."""
    to_stderr(f"xent: {kind}: {shown(' '.join(message.split()))}\n")


def say_error(message: str) -> None:
    say("error", message)


def to_stderr(line: str) -> None:
    """Write a line to stderr; a reader of stderr that went away (`2>&1 | head`) must not
    change what the run exits with."""
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except BrokenPipeError:
        _to_devnull(sys.stderr)


F = TypeVar("F", bound=Callable[..., Any])


_command_ran = False  # a command, not --help or --version, was run


def handles_errors(command: F) -> F:
    """Turn expected errors into one line on stderr and an exit code (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _command_ran
        _command_ran = True
        try:
            try:
                return command(*args, **kwargs)
            finally:
                sys.stdout.flush()  # a closed pipe shows here, inside the handler
        except XentError as exc:
            say_error(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except RuntimeError as exc:  # a signal during a lazy import, wrapped by Python 3.11
            stop = interruption(exc)
            if stop is None:
                raise
            sys.stdout.flush()
            os._exit(_say_stopped(stop))
        except KeyboardInterrupt:  # (click would turn it into "Aborted!" and exit 1)
            say_error("interrupted")
            # Partial outputs were removed on the way up. Exit now: a reader thread may be
            # blocked inside Arrow on stdin, and interpreter teardown would abort on it.
            sys.stdout.flush()
            os._exit(int(ExitCode.INTERRUPTED))
        except BrokenPipeError:
            # The reader went away (`xent ... | head`): stop quietly, as Unix tools do.
            _quiet_broken_pipe()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def _say_stopped(stop: BaseException) -> int:
    """Say why a signal stopped the run; the exit code for it."""
    if isinstance(stop, Terminated):
        say_error(f"terminated by signal {stop.signum}")
        return 128 + stop.signum
    say_error("interrupted")
    return int(ExitCode.INTERRUPTED)


def _quiet_broken_pipe() -> None:
    # The reader of our stdout went away (e.g. `| head`): exit quietly like other Unix tools.
    _to_devnull(sys.stdout)


def _to_devnull(stream: Any) -> None:
    """Point a stream whose reader went away at /dev/null: what is still written (and the
    flush at exit) goes nowhere instead of failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except OSError:
        pass


def to_stdout(write: Callable[[], object]) -> None:
    """Write the report to stdout. A reader that went away (`| head`, `| true`) ends the
    report quietly but not the run: the gates are still judged, said on stderr and in the
    exit code (under `set -o pipefail`, a closed pipe must not turn a failed gate green)."""
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()


def say_note(message: str) -> None:
    say("note", message)


def say_gate_failed(message: str) -> None:
    say("gate failed", message)


def stdout_console() -> Any:
    from rich.console import Console

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit 1 (our "gate failed"); let handles_errors end quietly instead.
            raise BrokenPipeError

        def _render_buffer(self, buffer: Any) -> str:
            # off a terminal, tables without trailing blanks (as in files and the README)
            text: str = super()._render_buffer(buffer)
            if self.is_terminal:
                return text
            from xentcli.render.common import rstrip_lines

            return rstrip_lines(text)

    # Rich draws for 80 columns when stdout is not a terminal, folding numbers and commands
    # across lines in a file or a CI log; there, lines are only as long as they need.
    width = None if os.environ.get("COLUMNS") or sys.stdout.isatty() else PLAIN_WIDTH
    return StdoutConsole(
        highlight=False,
        markup=False,
        emoji=False,
        width=width,
        no_color=bool(os.environ.get("NO_COLOR")) or None,
    )


class _Stdout:
    """sys.stdout for the console script: a failed write (a full disk under
    `>> "$GITHUB_STEP_SUMMARY"`, a stdout closed with `>&-`) is an error of its own, exit 2
    with one line, not a traceback and exit 1 (which would read as a failed gate). A closed
    pipe stays a BrokenPipeError: `| head` ends quietly."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _failed(self, exc: OSError | None) -> XentError:
        why = "it is closed" if exc is None else exc.strerror or str(exc)
        return XentError(f"stdout: cannot write: {why}")

    def write(self, text: str) -> int:
        if self._stream is None:
            raise self._failed(None)
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def isatty(self) -> bool:
        return self._stream is not None and bool(self._stream.isatty())

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def main() -> None:
    """Console-script entry point.

    Once the command has run (its output written, flushed and closed), the process ends at
    once: Python's finalization (module teardown, Arrow's thread pools and memory) would add
    ~60 ms to every run with nothing left to do.
    """
    install_signal_handlers()  # again, for a caller that did not come through entry.py
    _reuse_freed_memory()
    # The reader thread and the kernels trade the GIL between many short NumPy calls; a
    # shorter switch interval lets decoding of the next chunk overlap more of the math.
    sys.setswitchinterval(0.0005)
    sys.stdout = _Stdout(sys.stdout)
    try:
        from xentcli.cli.commands import app

        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
        if code == 1 and isinstance(exc.__context__, BrokenPipeError) and not _command_ran:
            code = 0  # click's answer to `xent --help | head`: 1, which reads as a failed gate
        if code == int(ExitCode.INTERRUPTED):  # typer's silent exit on a Ctrl-C while parsing
            say_error("interrupted")
    except KeyboardInterrupt:  # before a command's own handling (typer builds the command)
        say_error("interrupted")
        code = int(ExitCode.INTERRUPTED)
    except Terminated as exc:  # partial outputs were removed on the way up
        say_error(f"terminated by signal {exc.signum}")
        code = 128 + exc.signum  # as the shell reports a process the signal killed
    except RuntimeError as exc:  # Python 3.11 wraps a signal raised during a class's creation
        stop = interruption(exc)
        if stop is None:
            raise
        code = _say_stopped(stop)
    except XentError as exc:  # outside a command: --version or --help to a closed stdout
        say_error(str(exc))
        code = int(exc.exit_code)
    if isinstance(code, str):  # SystemExit("message"): Python prints it and exits with 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, XentError):  # a closed pipe, a full disk: already said, or moot
            pass
    os._exit(code if isinstance(code, int) else 0)


def _reuse_freed_memory() -> None:
    """Let glibc's malloc hand freed blocks of up to 32 MB back to the next allocation instead
    of returning them to the kernel. Each chunk's NumPy temporaries (hundreds of KB to a few
    MB) were otherwise mapped afresh every time: on 5M x 10 logits ~120,000 page faults, about
    a third of the run (1.0 -> 0.7 s) with the same peak memory. The settings only change
    where freed memory waits; elsewhere (musl, macOS, Windows) nothing is done."""
    import ctypes  # numpy has imported it already

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # the default ceiling of the adaptive threshold
    mallopt(m_trim_threshold, 1 << 30)
