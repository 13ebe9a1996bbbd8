"""The report of ``xent compare``: A and B side by side and their paired difference, as a Rich
view, JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from xentcli.config import OutputFormat
from xentcli.numbers import finite_or_none
from xentcli.paired import Comparison
from xentcli.render.common import (
    METRIC_LABELS,
    TASK_TITLES,
    drawn,
    fmt,
    md_code,
    md_escape,
    md_table,
    plain_line,
    plain_table,
    raw,
    slice_value,
)
from xentcli.textsafe import csv_text


def compare_dict(c: Comparison) -> dict[str, Any]:
    """The JSON object of a comparison (non-finite numbers become None): ``a`` and ``b``,
    ``delta`` (B - A of each figure, keyed as ``baseline.delta`` is), ``difference`` (the
    paired per-row difference) and, under --group-by, ``groups`` (one such object per slice,
    its values in ``group``)."""
    a, b = c.a.to_dict(), c.b.to_dict()
    out: dict[str, Any] = {
        "a": a,
        "b": b,
        "difference": {
            "n": c.n,
            "loss_mean": finite_or_none(c.diff_mean),
            "ci": {"level": c.level, "low": finite_or_none(c.low), "high": finite_or_none(c.high)},
            "significant": c.significant,
            "unit": c.a.unit,
        },
        "delta": figure_deltas(a, b),
    }
    if c.max_increase is not None:
        out["max_increase"] = c.max_increase
        out["regressed"] = c.regressed
    if c.groups is not None:
        out["groups"] = [{"group": key, **compare_dict(g)} for key, g in c.groups]
    return out


def figure_deltas(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    """B - A of every figure both reports have (null where either is not finite)."""
    from xentcli.baseline import figures

    fa, fb = figures(a), figures(b)
    out: dict[str, float | None] = {}
    for k, y in fb.items():
        if k not in fa:
            continue
        x = fa[k]
        out[k] = None if x is None or y is None else finite_or_none(y - x)
    return out


def compare_rows(c: Comparison, *, full: bool = False) -> list[list[str]]:
    """(figure, A, B, B - A) for the totals, the metrics and each class's loss_mean: shown
    rounded, or (``full``, for CSV) at full precision."""
    a, b = c.a, c.b

    def row(label: str, x: float, y: float) -> list[str]:
        d = y - x if math.isfinite(x) and math.isfinite(y) else math.nan
        if full:
            return [label, raw(x), raw(y), raw(d)]
        return [label, fmt(x), fmt(y), f"{d:+.4g}" if math.isfinite(d) else "-"]

    rows = [row(f"loss ({a.reduction})", a.loss, b.loss)]
    if full or a.reduction != "mean":  # for people, the same figure once (CSV keeps its rows)
        rows.append(row("loss_mean", a.loss_mean, b.loss_mean))
    rows.append(row("perplexity", a.perplexity, b.perplexity))
    rows += [
        row(METRIC_LABELS.get(k, k), v, b.metrics.get(k, math.nan)) for k, v in a.metrics.items()
    ]
    ta, tb = a.temperature_scaling, b.temperature_scaling
    if ta is not None and tb is not None:  # --fit-temperature: each model's own T*
        rows += [
            row("temperature T*", ta.temperature, tb.temperature),
            row("loss_mean at T* (refinement)", ta.loss_mean, tb.loss_mean),
            row("calibration loss", ta.calibration_loss, tb.calibration_loss),
        ]
    rows += [
        row(f"loss_mean of {ca.name}", ca.loss_mean, cb.loss_mean)
        for ca, cb in zip(a.per_class, b.per_class, strict=True)
    ]
    return rows


def compare_verdict(c: Comparison) -> str:
    pct = f"{100 * c.level:g}%"
    if not math.isfinite(c.diff_mean):  # a row with an infinite loss (--clip-eps 0)
        return (
            f"B - A = {fmt(c.diff_mean)} {c.a.unit} per row: a loss is infinite, so "
            "there is no interval to give"
        )
    where = "higher" if c.diff_mean > 0 else "lower"
    if c.significant:
        return (
            f"B's loss is {where} than A's by {fmt(abs(c.diff_mean))} {c.a.unit} per row "
            f"({pct} CI {fmt(c.low)} .. {fmt(c.high)}): significant"
        )
    return (
        f"no significant difference: B - A = {fmt(c.diff_mean)} {c.a.unit} per row "
        f"({pct} CI {fmt(c.low)} .. {fmt(c.high)} includes 0)"
    )


def compare_text(
    c: Comparison, fmt_: OutputFormat, *, gates: Sequence[tuple[str, bool]] = ()
) -> str:
    """The comparison as text in any format; ``gates``, each gate's line and whether it
    passed, for the HTML page."""
    if fmt_ is OutputFormat.html:
        from xentcli.render.html import comparison_page

        return comparison_page(c, gates)
    if fmt_ is OutputFormat.table:
        return drawn(CompareView(c))
    if fmt_ is OutputFormat.json:
        return json.dumps(compare_dict(c), indent=2, allow_nan=False) + "\n"
    header = ["figure", "A", "B", "B - A"]
    if fmt_ is OutputFormat.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for cells in compare_rows(c, full=True):
            w.writerow([csv_text(cells[0]), *cells[1:]])
        _difference_rows(w, c, "")
        for key, g in c.groups or ():
            where = ",".join(f"{k}={slice_value(v)}" for k, v in key.items())
            a, b = g.a.loss_mean, g.b.loss_mean
            d = b - a if math.isfinite(a) and math.isfinite(b) else math.nan
            w.writerow([csv_text(f"{where}: loss_mean"), raw(a), raw(b), raw(d)])
            _difference_rows(w, g, f"{where}: ")
        return buf.getvalue()
    lines = [
        f"### xent compare: A = {md_code(c.a.source)}, B = {md_code(c.b.source)} "
        f"({md_escape(c.a.unit)})",
        "",
    ]
    lines += md_table(header, compare_rows(c))
    lines += ["", f"**{md_escape(compare_verdict(c))}** (n = {c.n} paired rows)"]
    if c.groups:
        lines += ["", f"By {', '.join(map(md_escape, c.groups[0][0]))}:", ""]
        lines += md_table(group_header(c), group_cells(c))
    return "\n".join(lines) + "\n"


def _difference_rows(w: Any, c: Comparison, where: str) -> None:
    w.writerow([csv_text(f"{where}paired difference"), "", "", raw(c.diff_mean)])
    w.writerow([csv_text(f"{where}ci {c.level:g} low"), "", "", raw(c.low)])
    w.writerow([csv_text(f"{where}ci {c.level:g} high"), "", "", raw(c.high)])


def group_header(c: Comparison) -> list[str]:
    assert c.groups
    pct = f"{100 * c.level:g}%"
    return [
        *c.groups[0][0].keys(),
        "n",
        "A loss_mean",
        "B loss_mean",
        "B - A",
        f"{pct} CI",
        "significant",
    ]


def group_cells(c: Comparison) -> list[list[str]]:
    """One row per slice: its values, rows, each side's mean loss, the paired difference, its
    interval and whether it excludes 0."""
    rows = []
    for key, g in c.groups or ():
        finite = math.isfinite(g.diff_mean)
        rows.append(
            [
                *(slice_value(v) for v in key.values()),
                fmt(g.n),
                fmt(g.a.loss_mean),
                fmt(g.b.loss_mean),
                f"{g.diff_mean:+.4g}" if finite else "-",
                f"{fmt(g.low)} .. {fmt(g.high)}" if finite else "-",
                "yes" if g.significant else "no",
            ]
        )
    return rows


class CompareView:
    """``xent compare`` for people: A, B and B - A per figure, then the verdict."""

    def __init__(self, c: Comparison) -> None:
        self.c = c

    def __rich_console__(self, console: Any, options: Any) -> Any:
        c = self.c
        from rich import box

        table = plain_table(
            title=f"xent compare: {TASK_TITLES.get(c.a.task, c.a.task)} ({c.a.unit})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            caption=f"A = {c.a.source}\nB = {c.b.source}",
            caption_justify="left",
        )
        table.add_column("figure")
        for h in ("A", "B", "B - A"):
            table.add_column(h, justify="right")
        for cells in compare_rows(c):
            table.add_row(*cells)
        yield table
        yield plain_line(f"paired per-row difference over {c.n} rows: {compare_verdict(c)}")
        if c.groups:
            from rich.text import Text

            yield Text("")
            slices = plain_table(
                title=f"by {', '.join(c.groups[0][0])}", box=box.SIMPLE_HEAD, title_justify="left"
            )
            keys = len(c.groups[0][0])
            for i, h in enumerate(group_header(c)):
                slices.add_column(h, justify="left" if i < keys else "right", overflow="fold")
            for cells in group_cells(c):
                slices.add_row(*cells)
            yield slices
