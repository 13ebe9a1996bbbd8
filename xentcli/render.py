"""Render a finished :class:`~xentcli.result.Result` as a Rich table, JSON, CSV or Markdown.

Nothing here computes a figure: every number comes from the result as it is.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from xentcli.config import OutputFormat
from xentcli.result import Result

TASK_TITLES = {
    "multiclass": "multiclass cross-entropy",
    "binary": "binary cross-entropy",
    "multilabel": "multi-label binary cross-entropy",
}


def fmt(x: float | int | None, digits: int = 6) -> str:
    """A number for people: 6 significant digits, 'inf' and 'nan' spelled out, '-' for none."""
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.1f}%"


def title(r: Result) -> str:
    return f"{TASK_TITLES.get(r.task, r.task)} ({r.input}, {r.unit})"


def summary_rows(r: Result) -> list[tuple[str, str]]:
    rows = [
        ("rows counted (n)", fmt(r.n)),
        ("weight sum", fmt(r.weight_sum)),
        (f"loss ({r.reduction})", fmt(r.loss)),
        ("loss_sum", fmt(r.loss_sum)),
        ("loss_mean", fmt(r.loss_mean)),
        ("perplexity", fmt(r.perplexity)),
    ]
    for key, value in r.metrics.items():
        rows.append((key, fmt(value)))
    rows.append(("clipped", fmt(r.clipped)))
    rows.append(("unit", r.unit))
    return rows


def class_header(r: Result) -> list[str]:
    return [
        "label" if r.task == "multilabel" else "class",
        "positives" if r.task == "multilabel" else "support",
        "loss_sum",
        "loss_mean",
        "share",
    ]


def class_cells(r: Result) -> list[list[str]]:
    return [
        [c.name, fmt(c.support), fmt(c.loss_sum), fmt(c.loss_mean), _pct(c.share)]
        for c in r.per_class
    ]


def to_json(r: Result) -> str:
    return json.dumps(r.to_dict(), indent=2, allow_nan=False) + "\n"


CSV_COLUMNS = [
    "scope", "class", "support", "loss_sum", "loss_mean", "share",
    "n", "weight_sum", "loss", "perplexity", "accuracy", "clipped",
    "unit", "task", "input", "reduction",
]


def _raw(x: float | int | None) -> str:
    """A number for machines: shortest round-trip repr, empty for none/non-finite."""
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def to_csv(r: Result) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    blank = [""] * (len(CSV_COLUMNS) - 6)
    for c in r.per_class:
        w.writerow(["class", c.name, _raw(c.support), _raw(c.loss_sum), _raw(c.loss_mean),
                    _raw(c.share), *blank])
    w.writerow([
        "total", "", _raw(r.weight_sum), _raw(r.loss_sum), _raw(r.loss_mean), _raw(1.0),
        _raw(r.n), _raw(r.weight_sum), _raw(r.loss), _raw(r.perplexity),
        _raw(r.metrics.get("accuracy")), _raw(r.clipped), r.unit, r.task, r.input, r.reduction,
    ])
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def to_markdown(r: Result) -> str:
    lines = [f"### xent: {title(r)}", "", "| figure | value |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in summary_rows(r)]
    header = class_header(r)
    lines += ["", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(_md_escape(c) for c in cells) + " |" for cells in class_cells(r)]
    return "\n".join(lines) + "\n"


def to_table(r: Result, console: Any) -> None:
    """Print the per-class table and the totals with Rich."""
    from rich import box
    from rich.table import Table

    per_class = Table(title=f"xent: {title(r)}", box=box.SIMPLE_HEAD, title_justify="left")
    for i, h in enumerate(class_header(r)):
        per_class.add_column(h, justify="left" if i == 0 else "right",
                             overflow="fold")
    for cells in class_cells(r):
        per_class.add_row(*cells)
    per_class.add_section()
    per_class.add_row("total", fmt(r.support_total),
                      fmt(r.loss_sum), fmt(r.loss_mean), _pct(1.0 if r.per_class else math.nan),
                      style="bold")
    totals = Table(box=box.SIMPLE_HEAD, show_header=False)
    totals.add_column("figure")
    totals.add_column("value", justify="right")
    for k, v in summary_rows(r):
        totals.add_row(k, v)
    console.print(per_class)
    console.print(totals)


def render_text(r: Result, fmt_: OutputFormat, *, width: int = 100, color: bool = False) -> str:
    """The report as text in any format (the table drawn without colour for files)."""
    if fmt_ is OutputFormat.json:
        return to_json(r)
    if fmt_ is OutputFormat.csv:
        return to_csv(r)
    if fmt_ is OutputFormat.markdown:
        return to_markdown(r)
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, highlight=False,
                      markup=False, emoji=False)
    to_table(r, console)
    return buf.getvalue()
