"""The report of ``xent compute``: a Rich view that draws itself, and JSON, CSV and Markdown.

Nothing here computes a figure: every number comes from the result as it is.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from xentcli.config import OutputFormat
from xentcli.render.common import (
    METRIC_LABELS,
    TASK_TITLES,
    FigureTable,
    drawn,
    fmt,
    fmt_column,
    fmt_figure,
    md_code,
    md_escape,
    md_table,
    pct,
    plain_line,
    raw,
    slice_value,
)
from xentcli.result import Result
from xentcli.textsafe import csv_text

LEGEND_WIDTH = 80


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


def weights_note(r: Result) -> str | None:
    """A line saying where sample weights came from when no option named them (an .npz's
    ``weights`` array is applied by its name alone), or None."""
    if r.sample_weights is None:
        return None
    return (
        f"sample weights: the '{r.sample_weights['array']}' array of "
        f"{r.sample_weights['source']}, applied to every figure"
    )


def temperature_line(r: Result) -> str | None:
    """--fit-temperature in one sentence: the loss at T* and how much of the loss the
    temperature removes (None without the option)."""
    ts = r.temperature_scaling
    if ts is None:
        return None
    if not math.isfinite(ts.temperature):
        return "temperature scaling: no temperature (the loss is infinite at every T)"
    line = (
        f"temperature scaling: at T = {ts.temperature:.3g} the loss would be "
        f"{ts.loss_mean:.3g} {r.unit}: {ts.calibration_loss:.3g} of {r.loss_mean:.3g} is "
        f"miscalibration (ECE at T: {ts.ece:.3g})"
    )
    if ts.boundary:
        line += f"; T sits at the end of the search range [{T_RANGE}]"
    return line


T_RANGE = "0.01, 100"


def gate_line(r: Result) -> str | None:
    """--max-increase against the baseline: what was tested, in the form it was given, and
    whether it passed (None without the gate)."""
    if r.baseline is None or "verdict" not in r.baseline:
        return None
    return f"gate {'failed' if r.baseline.get('regressed') else 'passed'}: {r.baseline['verdict']}"


def _keyed_loss_rows(r: Result) -> list[tuple[str, str, str]]:
    """(label, JSON key, value) of the loss figures. ``loss`` is ``loss_mean`` or ``loss_sum``
    by --reduction: shown once, on the row of the one it is, named both ways."""
    mean = r.reduction == "mean"
    rows = [
        ("rows counted (n)", "n", fmt_figure(r.n)),
        ("weight sum", "weight_sum", fmt_figure(r.weight_sum)),
        (
            "loss = loss_mean" if mean else "loss_mean",
            "loss" if mean else "loss_mean",
            fmt_figure(r.loss_mean),
        ),
        (
            "loss_sum" if mean else "loss = loss_sum",
            "loss_sum" if mean else "loss",
            fmt_figure(r.loss_sum),
        ),
    ]
    if r.ci is not None:
        level, lo, hi = r.ci
        rows.append(
            (f"loss_mean {100 * level:g}% CI", "ci", f"{fmt_figure(lo)} .. {fmt_figure(hi)}")
        )
    rows += [
        ("perplexity", "perplexity", fmt_figure(r.perplexity)),
        ("clipped", "clipped", fmt_figure(r.clipped)),
        ("unit", "unit", r.unit),
    ]
    return rows


def metric_label(r: Result, key: str) -> str:
    """A metric's name for people; top-k accuracy names its K (top-3 accuracy)."""
    top_k = r.options.values.get("top_k") if r.options is not None else None
    if key == "top_k_accuracy" and top_k is not None:
        return f"top-{top_k} accuracy"
    return METRIC_LABELS.get(key, key)


def _keyed_metric_rows(r: Result) -> list[tuple[str, str, str]]:
    return [(metric_label(r, k), f"metrics.{k}", fmt_figure(v)) for k, v in r.metrics.items()]


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
                fmt_figure(old.get(key)) if key in old else "",
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
    """The per-class rows and the total row last, each number column in one format."""
    rows = [*r.per_class]
    support = fmt_column([c.support for c in rows] + [r.support_total])
    loss_sum = fmt_column([c.loss_sum for c in rows] + [r.loss_sum])
    loss_mean = fmt_column([c.loss_mean for c in rows] + [r.loss_mean])
    share = [pct(c.share) for c in rows] + [pct(1.0 if rows else math.nan)]
    names = [c.name for c in rows] + ["total"]
    return [list(cells) for cells in zip(names, support, loss_sum, loss_mean, share, strict=True)]


def class_legend(r: Result) -> str:
    """One line under the per-class table: what each column means for this task."""
    weighted = " (weighted)" if _weighted(r) else ""
    if r.task == "multilabel":
        return (
            f"positives: rows where the label is 1{weighted}; loss_sum: the label's BCE over "
            f"all rows{weighted}; loss_mean: loss_sum/weight_sum; "
            "share: its part of the total loss_sum"
        )
    rows = "rows with that label" if r.task == "binary" else "rows of the class"
    if r.task == "multiclass" and r.uses_targets:
        rows = "the class's target mass (its rows, for one-hot targets)"
    return (
        f"support: {rows}{weighted}; loss_sum: their summed loss{weighted}; "
        "loss_mean: loss_sum/support; share: its part of the total loss_sum"
    )


def _weighted(r: Result) -> bool:
    """Whether sample weights weigh the rows (--weight-col, or an .npz's weights array)."""
    col = r.options.values.get("weight_col") if r.options is not None else None
    return col is not None or r.sample_weights is not None


def worst_header(r: Result) -> list[str]:
    return [
        "row (1-based)",
        *([r.id_name] if r.id_name else []),
        "loss",
        "true",
        "predicted",
        "p(true)",
    ]


def _numeric_ids(r: Result) -> bool:
    return all(isinstance(w.id, (int, float)) and not isinstance(w.id, bool) for w in r.worst or ())


def worst_cells(r: Result) -> list[list[str]]:
    worst = r.worst or ()
    loss = fmt_column([w.loss for w in worst])
    p_true = fmt_column([w.p_true for w in worst])
    return [
        [
            str(w.row),
            *([str(w.id)] if r.id_name else []),
            loss[i],
            w.y_true,
            w.y_pred,
            p_true[i],
        ]
        for i, w in enumerate(worst)
    ]


def group_header(r: Result) -> list[str]:
    """The slices' columns; ``loss`` is loss_mean or loss_sum by --reduction, shown once."""
    assert r.groups
    return [
        *r.groups[0][0].keys(),
        "n",
        *(["loss_sum"] if r.reduction == "sum" else []),
        "loss_mean",
        "perplexity",
        "accuracy",
        "ece",
        *(["T*", "calibration_loss"] if r.temperature_scaling is not None else []),
    ]


def group_cells(r: Result) -> list[list[str]]:
    groups = r.groups or ()
    results = [g for _, g in groups]
    columns = [
        [fmt(g.n) for g in results],
        *([fmt_column([g.loss_sum for g in results])] if r.reduction == "sum" else []),
        fmt_column([g.loss_mean for g in results]),
        fmt_column([g.perplexity for g in results]),
        fmt_column([g.metrics.get("accuracy") for g in results]),
        fmt_column([g.metrics.get("ece") for g in results]),
    ]
    if r.temperature_scaling is not None:
        scaled = [g.temperature_scaling for g in results]
        columns.append(fmt_column([t.temperature if t else None for t in scaled]))
        columns.append(fmt_column([t.calibration_loss if t else None for t in scaled]))
    return [
        [*(slice_value(v) for v in key.values()), *(col[i] for col in columns)]
        for i, (key, _) in enumerate(groups)
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
    if note := weights_note(r):
        lines += [md_escape(note), ""]
    if r.baseline is not None:
        lines += [f"Compared with the baseline {md_code(r.baseline.get('path', ''))}.", ""]
    lines += md_table(*figure_rows(r))
    if temperature := temperature_line(r):
        lines += ["", md_escape(temperature)]
    if gate := gate_line(r):
        lines += ["", md_escape(gate)]
    *classes, total = class_cells(r)
    lines += ["", *md_table(class_header(r), classes, total=total)]
    lines += ["", md_escape(class_legend(r))]
    if r.worst is not None:
        lines += ["", f"Worst {len(r.worst)} rows:", ""]
        lines += md_table(worst_header(r), worst_cells(r))
    if r.groups:
        lines += ["", f"By {', '.join(map(md_escape, r.groups[0][0]))}:", ""]
        lines += md_table(group_header(r), group_cells(r))
    return "\n".join(lines) + "\n"


def _markdown_plot(r: Result) -> str:
    """--plot in Markdown: the reliability diagram as a Mermaid chart (GitHub draws it)."""
    from xentcli.render.mermaid import reliability_mermaid

    block = reliability_mermaid(r)
    if block is None:
        return ""
    return (
        f"\nReliability diagram: the {len(r.calibration)} confidence bins that hold rows "
        "(empty bins left out).\n\n" + block + "\n"
    )


class ComputeView:
    """The report for people, as a Rich renderable: the title (and the options set), the
    per-class table with its total and legend, the figures, and the optional parts (worst
    rows, slices, pictures). ``console.print(ComputeView(result))`` draws it; so does a
    notebook's Rich. No number is split across lines at any width (:class:`FigureTable`)."""

    def __init__(self, r: Result, *, plot: bool = False) -> None:
        self.r = r
        self.plot = plot

    def __rich_console__(self, console: Any, options: Any) -> Any:
        r = self.r
        # the title and the options as lines of their own: as the table's title they would
        # wrap at the table's width (here they wrap at the console's, between words)
        yield plain_line(f"xent: {title(r)}", style="italic")
        if line := options_line(r):
            yield plain_line(line)
        if note := weights_note(r):
            yield plain_line(note)
        cells = class_cells(r)
        yield FigureTable(
            class_header(r),
            cells,
            [False, True, True, True, True],
            sections=frozenset({len(cells) - 1}),
            bold=frozenset({len(cells) - 1}),
        )
        from rich.constrain import Constrain

        # a paragraph: at most 80 columns wide, in a file or a pipe too
        yield Constrain(plain_line(class_legend(r), style="italic"), width=LEGEND_WIDTH)
        header, rows = figure_rows(r)
        n_loss = len(_keyed_loss_rows(r))
        yield FigureTable(
            [h if i else "" for i, h in enumerate(header)],
            rows,
            [False] + [True] * (len(header) - 1),
            sections=frozenset({n_loss}),
            show_header=r.baseline is not None,
        )
        if temperature := temperature_line(r):
            yield Constrain(plain_line(temperature), width=LEGEND_WIDTH)
            yield plain_line("")
        if gate := gate_line(r):
            yield plain_line(gate)
            yield plain_line("")
        if r.worst is not None:
            header = worst_header(r)
            text = {"true", "predicted"} | ({r.id_name} if not _numeric_ids(r) else set())
            yield FigureTable(
                header,
                worst_cells(r),
                [h not in text for h in header],
                title=f"worst {len(r.worst)} rows",
            )
        if r.groups:
            keys = len(r.groups[0][0])
            header = group_header(r)
            yield FigureTable(
                header,
                group_cells(r),
                [i >= keys for i in range(len(header))],
                keys=keys,
                title=f"by {', '.join(r.groups[0][0])}",
            )
        if self.plot:
            from xentcli.render.plots import loss_histogram, reliability_diagram

            yield reliability_diagram(r, options.max_width)
            yield loss_histogram(r, options.max_width)


def render_text(
    r: Result, fmt_: OutputFormat, *, plot: bool = False, gates: Sequence[tuple[str, bool]] = ()
) -> str:
    """The report as text in any format (the table drawn without colour, for files); ``gates``,
    each gate's line and whether it passed, for the HTML page."""
    if fmt_ is OutputFormat.html:
        from xentcli.render.html import report_page

        return report_page(r, gates)
    if fmt_ is OutputFormat.json:
        return to_json(r, plot=plot)
    if fmt_ is OutputFormat.csv:
        return to_csv(r)
    if fmt_ is OutputFormat.markdown:
        return to_markdown(r) + (_markdown_plot(r) if plot else "")
    return drawn(ComputeView(r, plot=plot))
