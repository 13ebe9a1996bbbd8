"""The report of ``xent inspect``: what a file holds, as a Rich view and as JSON."""

from __future__ import annotations

import json
import math
from typing import Any

from xentcli.render.common import fmt, pct, plain_line, plain_table


def inspect_json(i: Any) -> str:
    return json.dumps(i.to_dict(), indent=2, allow_nan=False) + "\n"


class InspectView:
    """``xent inspect`` for people: the file's facts, columns, labels, first rows, command."""

    def __init__(self, i: Any) -> None:
        self.i = i

    def __rich_console__(self, console: Any, options: Any) -> Any:
        i = self.i
        from rich import box

        # the path on a line of its own: as a table title it would wrap at the table's width
        yield plain_line(f"xent inspect: {i.path}", no_wrap=True, overflow="ignore")
        facts = plain_table(box=box.SIMPLE_HEAD, show_header=False)
        facts.add_column("what")
        facts.add_column("value", overflow="fold")
        facts.add_row("format", i.format)
        facts.add_row("rows", fmt(i.rows) if i.rows >= 0 else "-")
        facts.add_row("task (detected)", i.task)
        facts.add_row("scores look like", i.input)
        facts.add_row("classes", ", ".join(i.classes))
        yield facts

        cols = plain_table(title="columns", title_justify="left", box=box.SIMPLE_HEAD)
        cols.add_column("name", overflow="fold")
        cols.add_column("type", overflow="fold")
        for name, typ in i.columns:
            cols.add_row(name, typ)
        yield cols

        if not i.command:  # the file cannot be scored as it is
            for note in i.notes:
                yield plain_line(f"cannot score it as it is: {note}")
            return
        dist = plain_table(title="labels", title_justify="left", box=box.SIMPLE_HEAD)
        dist.add_column("class")
        dist.add_column("rows", justify="right")
        dist.add_column("share", justify="right")
        total = sum(i.label_counts.values())
        for name, count in i.label_counts.items():
            dist.add_row(name, fmt(count), pct(count / total if total else math.nan))
        yield dist

        head = plain_table(
            title=f"first {len(i.preview)} rows", title_justify="left", box=box.SIMPLE_HEAD
        )
        for h in i.preview_header:
            head.add_column(h, justify="right", overflow="fold")
        for row in i.preview:
            head.add_row(*row)
        yield head
        for note in i.notes:
            yield plain_line(f"note: {note}")
        yield plain_line("to compute the loss:")
        yield plain_line(f"  {i.command}")
