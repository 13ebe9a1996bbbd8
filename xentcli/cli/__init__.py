"""The command line, a client of the library: :mod:`.commands` (the Typer commands),
:mod:`.params` (options they share) and :mod:`.process` (errors, pipes, signals, exit).
Nothing below this package imports typer, prints or exits."""

from __future__ import annotations

from xentcli.cli.commands import app
from xentcli.cli.process import main

__all__ = ["app", "main"]
