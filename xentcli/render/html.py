"""Reports as HTML tables, for notebooks (``Report._repr_html_``): the same rows as the table
and Markdown, every text from the data escaped (HTML's own characters, and control and
bidirectional characters as on the terminal)."""

from __future__ import annotations

import html
from typing import Any

from xentcli.render.compute import (
    class_cells,
    class_header,
    class_legend,
    figure_rows,
    gate_line,
    group_cells,
    group_header,
    options_line,
    title,
    weights_note,
    worst_cells,
    worst_header,
)
from xentcli.result import Result
from xentcli.textsafe import shown


def _esc(text: str) -> str:
    """Text from the data as HTML text."""
    return html.escape(shown(text))


_STYLE = "border-collapse: collapse; margin: 0.4em 0; font-variant-numeric: tabular-nums"


def _table(header: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    def cell(tag: str, text: str, i: int) -> str:
        align = "left" if i == 0 else "right"
        return f'<{tag} style="text-align: {align}; padding: 0 0.8em">{_esc(text)}</{tag}>'

    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", c, i) for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    cap = f"<caption style='text-align: left'>{_esc(caption)}</caption>" if caption else ""
    return (
        f'<table style="{_STYLE}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def report_html(r: Result) -> str:
    parts = [f"<div><strong>xent: {_esc(title(r))}</strong>"]
    if options := options_line(r):
        parts.append(f"<div>{_esc(options)}</div>")
    if note := weights_note(r):
        parts.append(f"<div>{_esc(note)}</div>")
    parts.append(_table(class_header(r), class_cells(r)))
    parts.append(f"<div><small>{_esc(class_legend(r))}</small></div>")
    parts.append(_table(*figure_rows(r)))
    if gate := gate_line(r):
        parts.append(f"<div>{_esc(gate)}</div>")
    if r.worst is not None:
        parts.append(_table(worst_header(r), worst_cells(r), f"worst {len(r.worst)} rows"))
    if r.groups:
        by = ", ".join(r.groups[0][0])
        parts.append(_table(group_header(r), group_cells(r), f"by {by}"))
    return "".join(parts) + "</div>"


def comparison_html(c: Any) -> str:
    from xentcli.render.compare import compare_rows, compare_verdict

    return (
        f"<div><strong>xent compare: A = {_esc(c.a.source)}, "
        f"B = {_esc(c.b.source)} ({_esc(c.a.unit)})</strong>"
        + _table(["figure", "A", "B", "B - A"], compare_rows(c))
        + f"<div>{_esc(compare_verdict(c))}</div></div>"
    )
