"""The report of ``xent compute``: a Rich view that draws itself, and JSON, CSV and Markdown.

Nothing here computes a figure: every number comes from the result as it is.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from xentcli.config import OutputFormat
from xentcli.render.common import (
    METRIC_LABELS,
    TASK_TITLES,
    drawn,
    fmt,
    md_code,
    md_escape,
    md_table,
    pct,
    plain_line,
    plain_table,
    raw,
    slice_value,
)
from xentcli.result import Result
from xentcli.textsafe import csv_text


def title(r: Result) -> str:
    return f"{TASK_TITLES.get(r.task, r.task)} ({r.input}, {r.unit})"


def options_line(r: Result) -> str | None:
    """The options the run set away from their defaults, for under the title:
    ``options: label_smoothing = 0.1, class_weights = 1, 2, 0.5`` (None when there are none)."""
    if r.options is None or not r.options.changed:
        return None

    def shown(key: str, value: Any) -> str:
        if value is True:
            return key
        if isinstance(value, list):
            return f"{key} = {', '.join(fmt(v) for v in value)}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{key} = {fmt(value)}"
        return f"{key} = {value}"

    return "options: " + "; ".join(shown(k, r.options.values[k]) for k in r.options.changed)


def _keyed_loss_rows(r: Result) -> list[tuple[str, str, str]]:
    """(label, JSON key, value) of the loss figures."""
    rows = [
        ("rows counted (n)", "n", fmt(r.n)),
        ("weight sum", "weight_sum", fmt(r.weight_sum)),
        (f"loss ({r.reduction})", "loss", fmt(r.loss)),
        ("loss_sum", "loss_sum", fmt(r.loss_sum)),
        ("loss_mean", "loss_mean", fmt(r.loss_mean)),
    ]
    if r.ci is not None:
        level, lo, hi = r.ci
        rows.append((f"loss_mean {100 * level:g}% CI", "ci", f"{fmt(lo)} .. {fmt(hi)}"))
    rows += [
        ("perplexity", "perplexity", fmt(r.perplexity)),
        ("clipped", "clipped", fmt(r.clipped)),
        ("unit", "unit", r.unit),
    ]
    return rows


def _keyed_metric_rows(r: Result) -> list[tuple[str, str, str]]:
    return [(METRIC_LABELS.get(k, k), f"metrics.{k}", fmt(v)) for k, v in r.metrics.items()]


def figure_rows(r: Result) -> tuple[list[str], list[list[str]]]:
    """The figures table: (header, rows), with baseline and delta columns under --baseline."""
    keyed = _keyed_loss_rows(r) + _keyed_metric_rows(r)
    if r.baseline is None:
        return ["figure", "value"], [[label, value] for label, _, value in keyed]
    old, delta = r.baseline.get("figures", {}), r.baseline.get("delta", {})
    rows = []
    for label, key, value in keyed:
        d = delta.get(key)
        rows.append(
            [
                label,
                value,
                fmt(old.get(key)) if key in old else "",
                "" if d is None else (f"{d:+.4g}" if d else "0"),
            ]
        )
    return ["figure", "value", "baseline", "delta"], rows


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
        [c.name, fmt(c.support), fmt(c.loss_sum), fmt(c.loss_mean), pct(c.share)]
        for c in r.per_class
    ]


def worst_header(r: Result) -> list[str]:
    return ["row", *([r.id_name] if r.id_name else []), "loss", "true", "predicted", "p(true)"]


def worst_cells(r: Result) -> list[list[str]]:
    return [
        [
            str(w.row),
            *([str(w.id)] if r.id_name else []),
            fmt(w.loss),
            w.y_true,
            w.y_pred,
            fmt(w.p_true),
        ]
        for w in (r.worst or ())
    ]


def group_header(r: Result) -> list[str]:
    assert r.groups
    return [
        *r.groups[0][0].keys(),
        "n",
        f"loss ({r.reduction})",
        "loss_mean",
        "perplexity",
        "accuracy",
        "ece",
    ]


def group_cells(r: Result) -> list[list[str]]:
    return [
        [
            *(slice_value(v) for v in key.values()),
            fmt(g.n),
            fmt(g.loss),
            fmt(g.loss_mean),
            fmt(g.perplexity),
            fmt(g.metrics.get("accuracy")),
            fmt(g.metrics.get("ece")),
        ]
        for key, g in (r.groups or ())
    ]


def to_json(r: Result, *, plot: bool = False) -> str:
    return json.dumps(r.to_dict(plot=plot), indent=2, allow_nan=False) + "\n"


BASE_CSV_COLUMNS = [
    "scope",
    "class",
    "support",
    "loss_sum",
    "loss_mean",
    "share",
    "n",
    "weight_sum",
    "loss",
    "perplexity",
    "clipped",
    "unit",
    "task",
    "input",
    "reduction",
]


def to_csv(r: Result) -> str:
    """One row per class and a total row; metrics are columns of the total row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    metric_names = list(r.metrics)
    # --ci: the interval of loss_mean, in columns of the total (and group) rows
    ci_columns = ["ci_level", "loss_mean_ci_low", "loss_mean_ci_high"] if r.ci else []
    w.writerow(BASE_CSV_COLUMNS + metric_names + ci_columns)
    blank = [""] * (len(BASE_CSV_COLUMNS) - 6 + len(metric_names) + len(ci_columns))
    for c in r.per_class:
        w.writerow(
            [
                "class",
                csv_text(c.name),
                raw(c.support),
                raw(c.loss_sum),
                raw(c.loss_mean),
                raw(c.share),
                *blank,
            ]
        )

    def total(scope: str, name: str, t: Result) -> list[str]:
        return [
            scope,
            csv_text(name),
            raw(t.support_total),
            raw(t.loss_sum),
            raw(t.loss_mean),
            raw(1.0),
            raw(t.n),
            raw(t.weight_sum),
            raw(t.loss),
            raw(t.perplexity),
            raw(t.clipped),
            *map(csv_text, (t.unit, t.task, t.input, t.reduction)),
            *(raw(t.metrics.get(k, math.nan)) for k in metric_names),
            *(
                (raw(t.ci[0]), raw(t.ci[1]), raw(t.ci[2]))
                if ci_columns and t.ci
                else [""] * len(ci_columns)
            ),
        ]

    w.writerow(total("total", "", r))
    for key, g in r.groups or ():
        where = ",".join(f"{k}={slice_value(v)}" for k, v in key.items())
        w.writerow(total("group", where, g))
    return buf.getvalue()


def to_markdown(r: Result) -> str:
    lines = [f"### xent: {md_escape(title(r))}", ""]
    if options := options_line(r):
        lines += [md_escape(options), ""]
    if r.baseline is not None:
        lines += [f"Compared with the baseline {md_code(r.baseline.get('path', ''))}.", ""]
    lines += md_table(*figure_rows(r))
    lines += ["", *md_table(class_header(r), class_cells(r))]
    if r.worst is not None:
        lines += ["", f"Worst {len(r.worst)} rows:", ""]
        lines += md_table(worst_header(r), worst_cells(r))
    if r.groups:
        lines += ["", f"By {', '.join(map(md_escape, r.groups[0][0]))}:", ""]
        lines += md_table(group_header(r), group_cells(r))
    return "\n".join(lines) + "\n"


class ComputeView:
    """The report for people, as a Rich renderable: the title (and the options set), the
    per-class table with its total, the figures, and the optional parts (worst rows, slices,
    pictures). ``console.print(ComputeView(result))`` draws it; so does a notebook's Rich."""

    def __init__(self, r: Result, *, plot: bool = False) -> None:
        self.r = r
        self.plot = plot

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich import box

        r = self.r
        # the title and the options as lines of their own: as the table's title they would
        # wrap at the table's width
        yield plain_line(f"xent: {title(r)}", style="italic", no_wrap=True, overflow="ignore")
        if line := options_line(r):
            yield plain_line(line, no_wrap=True, overflow="ignore")
        per_class = plain_table(box=box.SIMPLE_HEAD)
        for i, h in enumerate(class_header(r)):
            per_class.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
        for cells in class_cells(r):
            per_class.add_row(*cells)
        per_class.add_section()
        per_class.add_row(
            "total",
            fmt(r.support_total),
            fmt(r.loss_sum),
            fmt(r.loss_mean),
            pct(1.0 if r.per_class else math.nan),
            style="bold",
        )
        yield per_class
        header, rows = figure_rows(r)
        figures = plain_table(box=box.SIMPLE_HEAD, show_header=r.baseline is not None)
        for i, h in enumerate(header):
            figures.add_column(h if i else "", justify="left" if i == 0 else "right")
        n_loss = len(_keyed_loss_rows(r))
        for i, cells in enumerate(rows):
            if i == n_loss:
                figures.add_section()
            figures.add_row(*cells)
        yield figures
        if r.worst is not None:
            worst = plain_table(
                title=f"worst {len(r.worst)} rows", box=box.SIMPLE_HEAD, title_justify="left"
            )
            for h in worst_header(r):
                right = h in ("row", "loss", "p(true)")
                worst.add_column(h, justify="right" if right else "left", overflow="fold")
            for cells in worst_cells(r):
                worst.add_row(*cells)
            yield worst
        if r.groups:
            slices = plain_table(
                title=f"by {', '.join(r.groups[0][0])}", box=box.SIMPLE_HEAD, title_justify="left"
            )
            keys = len(r.groups[0][0])
            for i, h in enumerate(group_header(r)):
                slices.add_column(h, justify="left" if i < keys else "right", overflow="fold")
            for cells in group_cells(r):
                slices.add_row(*cells)
            yield slices
        if self.plot:
            from xentcli.render.plots import loss_histogram, reliability_diagram

            yield reliability_diagram(r)
            yield loss_histogram(r)


def render_text(r: Result, fmt_: OutputFormat, *, plot: bool = False) -> str:
    """The report as text in any format (the table drawn without colour, for files)."""
    if fmt_ is OutputFormat.json:
        return to_json(r, plot=plot)
    if fmt_ is OutputFormat.csv:
        return to_csv(r)
    if fmt_ is OutputFormat.markdown:
        return to_markdown(r)
    return drawn(ComputeView(r, plot=plot))
