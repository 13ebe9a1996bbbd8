"""Reports as HTML tables, for notebooks (``Report._repr_html_``): the same rows as the table
and Markdown, every text from the data escaped (HTML's own characters, and control and
bidirectional characters as on the terminal)."""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Sequence
from typing import Any

from xentcli.render.common import fmt_figure
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


def _table(
    header: list[str],
    rows: list[list[str]],
    caption: str | None = None,
    *,
    keys: list[str] | None = None,
    total: bool = False,
    css_class: str | None = None,
) -> str:
    """An HTML table, every cell escaped, the first column left-aligned and the others right;
    ``keys``, a ``data-key`` per row (the JSON key of the figure it shows); ``total``, the last
    row bold (the total)."""

    def cell(tag: str, text: str, i: int) -> str:
        align = "left" if i == 0 else "right"
        return f'<{tag} style="text-align: {align}; padding: 0 0.8em">{_esc(text)}</{tag}>'

    def tr(j: int, row: list[str]) -> str:
        attrs = f' data-key="{_esc(keys[j])}"' if keys is not None else ""
        if total and j == len(rows) - 1:
            attrs += ' class="total" style="font-weight: bold; border-top: 1px solid #999"'
        return f"<tr{attrs}>" + "".join(cell("td", c, i) for i, c in enumerate(row)) + "</tr>"

    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    body = "\n".join(tr(j, row) for j, row in enumerate(rows))  # a row a line: readable diffs
    cap = f"<caption style='text-align: left'>{_esc(caption)}</caption>" if caption else ""
    cls = f' class="{css_class}"' if css_class else ""
    return (
        f'<table{cls} style="{_STYLE}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
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


# --- the page of --format html: one self-contained file (inline CSS and SVG, no script, no
# address of anything elsewhere), for a browser and as a CI job's artifact

Gate = tuple[
    str, bool
]  # a gate's line (what was tested, and the value found) and whether it passed

_PAGE_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
  background: #fff; margin: 1.5em auto; max-width: 1340px; padding: 0 1.2em; line-height: 1.4; }
h1 { font-size: 1.35em; margin: 0 0 0.3em; }
h2 { font-size: 1.1em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { font-size: 1em; margin: 0.8em 0 0.3em; }
.note, .legend { color: #555; font-size: 0.92em; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; }
table tbody tr:nth-child(even) { background: #f6f8fa; }
th { border-bottom: 1px solid #999; }
figure { margin: 0.5em 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.side { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 2em; }
ul.gates { list-style: none; padding-left: 0; }
.gate.pass::before { content: "\\2714\\00a0"; color: #1a7f37; }
.gate.fail::before { content: "\\2718\\00a0"; color: #cf222e; }
.gate.fail { font-weight: bold; }
.verdict { font-weight: bold; }
.badge { display: inline-block; padding: 0.1em 0.6em; border-radius: 1em; color: #fff; }
.badge.pass { background: #1a7f37; } .badge.fail { background: #cf222e; }
"""


def _page(title_text: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title_text)}</title>\n<style>{_PAGE_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _p(text: str, css_class: str = "note") -> str:
    return f'<p class="{css_class}">{_esc(text)}</p>'


def _gates_section(gates: Sequence[Gate]) -> list[str]:
    """The gates and their verdicts, the failed ones first in the reader's eye (bold)."""
    if not gates:
        return []
    failed = sum(1 for _, ok in gates if not ok)
    badge = (
        f'<span class="badge fail">{failed} of {len(gates)} failed</span>'
        if failed
        else f'<span class="badge pass">{"all " if len(gates) > 1 else ""}passed</span>'
    )
    items = "".join(
        f'<li class="gate {"pass" if ok else "fail"}">{_esc(line)}</li>' for line, ok in gates
    )
    return [f'<section id="gates"><h2>Gates {badge}</h2><ul class="gates">{items}</ul></section>']


def temperature_of(r: Any) -> dict[str, Any] | None:
    """The ``temperature_scaling`` object of a result (--fit-temperature), or None: from its
    attribute, else from its JSON."""
    ts = getattr(r, "temperature_scaling", None)
    if ts is None and hasattr(r, "to_dict"):
        ts = r.to_dict().get("temperature_scaling")
    if ts is not None and dataclasses.is_dataclass(ts) and not isinstance(ts, type):
        ts = dataclasses.asdict(ts)
    return ts if isinstance(ts, dict) else None


TEMPERATURE_ROWS = [
    ("temperature", "temperature T*"),
    ("loss_mean", "loss_mean at T* (refinement loss)"),
    ("calibration_loss", "calibration loss (loss_mean - loss at T*)"),
    ("ece", "ECE at T*"),
]


def temperature_table(ts: dict[str, Any], unit: str) -> str:
    rows = [[label, fmt_figure(ts.get(key))] for key, label in TEMPERATURE_ROWS if key in ts]
    keys = [f"temperature_scaling.{key}" for key, _ in TEMPERATURE_ROWS if key in ts]
    out = _table(["figure", "value"], rows, keys=keys, css_class="temperature")
    if ts.get("boundary"):
        out += _p(
            "T* sits at an end of the search range [0.01, 100]: the loss may fall further beyond it"
        )
    return out + _p(f"losses in {unit}; fitted by --fit-temperature", "legend")


def _temperature_section(r: Result) -> list[str]:
    ts = temperature_of(r)
    if ts is None:
        return []
    return [
        '<section id="temperature"><h2>Temperature scaling</h2>'
        + temperature_table(ts, r.unit)
        + "</section>"
    ]


def _charts(r: Result) -> str:
    from xentcli.render.svg import class_loss_svg, loss_histogram_svg, reliability_svg

    charts = [reliability_svg(r)]
    if (hist := loss_histogram_svg(r)) is not None:
        charts.append(hist)
    if r.per_class:
        charts.append(class_loss_svg(r))
    return '<div class="charts">' + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"


def report_page(r: Result, gates: Sequence[Gate] = ()) -> str:
    """``xent compute --format html``: the whole report as one page: the title and options,
    the gates, the figures (with the baseline's and the deltas), the temperature, the charts,
    the per-class table, the worst rows and the slices."""
    from xentcli.render.compute import _keyed_loss_rows, _keyed_metric_rows

    body = [f"<header><h1>xent: {_esc(title(r))}</h1>"]
    if r.source:
        body.append(f'<p class="note">predictions: <code>{_esc(r.source)}</code></p>')
    if options := options_line(r):
        body.append(_p(options))
    if note := weights_note(r):
        body.append(_p(note))
    if r.baseline is not None:
        body.append(
            f'<p class="note">compared with the baseline '
            f"<code>{_esc(str(r.baseline.get('path', '')))}</code></p>"
        )
        if r.baseline.get("note"):
            body.append(_p(str(r.baseline["note"])))
    body.append("</header>")
    all_gates = list(gates)
    if r.baseline is not None and "verdict" in r.baseline:
        verdict = r.baseline["verdict"]
        all_gates.append((f"--max-increase: {verdict}", not r.baseline.get("regressed")))
    body += _gates_section(all_gates)
    header, rows = figure_rows(r)
    keys = [key for _, key, _ in _keyed_loss_rows(r) + _keyed_metric_rows(r)]
    body.append(
        '<section id="figures"><h2>Figures</h2>'
        + _table(header, rows, keys=keys, css_class="figures")
        + "</section>"
    )
    body += _temperature_section(r)
    body.append(f'<section id="charts"><h2>Charts</h2>{_charts(r)}</section>')
    body.append(
        '<section id="per-class"><h2>Per class</h2>'
        + _table(class_header(r), class_cells(r), total=True, css_class="per-class")
        + f'<p class="legend">{_esc(class_legend(r))}</p></section>'
    )
    if r.worst is not None:
        body.append(
            f'<section id="worst"><h2>Worst {len(r.worst)} rows</h2>'
            + _table(worst_header(r), worst_cells(r), css_class="worst")
            + "</section>"
        )
    if r.groups:
        by = ", ".join(r.groups[0][0])
        body.append(
            f'<section id="slices"><h2>By {_esc(by)}</h2>'
            + _table(group_header(r), group_cells(r), css_class="slices")
            + "</section>"
        )
    return _page(f"xent: {title(r)}", body)


def _side_by_side(a: str, b: str) -> str:
    return f'<div class="side"><div><h3>A</h3>{a}</div><div><h3>B</h3>{b}</div></div>'


def _class_pairs(c: Any) -> tuple[list[str], list[list[str]]]:
    """Per class: A's and B's support, loss_sum and loss_mean, and B - A of loss_mean."""
    from xentcli.render.common import fmt_column

    a, b = c.a.per_class, c.b.per_class
    header = ["class", "support", "A loss_sum", "B loss_sum", "A loss_mean", "B loss_mean"]
    columns = [
        fmt_column([x.support for x in a]),
        fmt_column([x.loss_sum for x in a]),
        fmt_column([y.loss_sum for y in b]),
        fmt_column([x.loss_mean for x in a]),
        fmt_column([y.loss_mean for y in b]),
    ]
    deltas = [
        f"{y.loss_mean - x.loss_mean:+.4g}"
        if math.isfinite(x.loss_mean) and math.isfinite(y.loss_mean)
        else "-"
        for x, y in zip(a, b, strict=True)
    ]
    rows = [[x.name, *(col[i] for col in columns), deltas[i]] for i, x in enumerate(a)]
    return [*header, "B - A"], rows


def comparison_page(c: Any, gates: Sequence[Gate] = ()) -> str:
    """``xent compare --format html``: A and B side by side: the gates, the paired difference
    and its interval (overall and per slice), the figures with B - A, the temperature, both
    models' charts, the per-class table and the slices."""
    from xentcli.render.common import TASK_TITLES
    from xentcli.render.compare import compare_rows, compare_verdict, group_cells, group_header
    from xentcli.render.svg import intervals_svg, loss_histogram_svg, reliability_svg

    a, b = c.a, c.b
    heading = f"xent compare: {TASK_TITLES.get(a.task, a.task)} ({a.unit})"
    body = [
        f"<header><h1>{_esc(heading)}</h1>",
        f'<p class="note">A = <code>{_esc(a.source)}</code><br>B = <code>{_esc(b.source)}</code>'
        "</p>",
    ]
    if options := options_line(a):
        body.append(_p(options))
    body.append("</header>")
    body += _gates_section(gates)
    pct = f"{100 * c.level:g}%"
    intervals = [("all rows", c.diff_mean, c.low, c.high)]
    for key, g in c.groups or ():
        where = ", ".join(f"{k}={v}" for k, v in key.items())
        intervals.append((where, g.diff_mean, g.low, g.high))
    body.append(
        '<section id="difference"><h2>Paired difference</h2>'
        + _p(compare_verdict(c), "verdict")
        + _p(f"B - A of each row's loss over {c.n} paired rows, with its {pct} interval")
        + f"<figure>{intervals_svg(intervals, a.unit)}</figure></section>"
    )
    body.append(
        '<section id="figures"><h2>Figures</h2>'
        + _table(["figure", "A", "B", "B - A"], compare_rows(c), css_class="figures")
        + "</section>"
    )
    ta, tb = temperature_of(a), temperature_of(b)
    if ta is not None or tb is not None:
        body.append(
            '<section id="temperature"><h2>Temperature scaling</h2>'
            + _side_by_side(
                temperature_table(ta, a.unit) if ta else _p("not fitted"),
                temperature_table(tb, b.unit) if tb else _p("not fitted"),
            )
            + "</section>"
        )

    def charts(r: Result) -> str:
        parts = [reliability_svg(r)]
        if (hist := loss_histogram_svg(r)) is not None:
            parts.append(hist)
        return "".join(f"<figure>{p}</figure>" for p in parts)

    body.append(
        f'<section id="charts"><h2>Charts</h2>{_side_by_side(charts(a), charts(b))}</section>'
    )
    if a.per_class:
        body.append(
            '<section id="per-class"><h2>Per class</h2>'
            + _table(*_class_pairs(c), css_class="per-class")
            + f'<p class="legend">{_esc(class_legend(a))}</p></section>'
        )
    if c.groups:
        by = ", ".join(c.groups[0][0])
        body.append(
            f'<section id="slices"><h2>By {_esc(by)}</h2>'
            + _table(group_header(c), group_cells(c), css_class="slices")
            + "</section>"
        )
    return _page(heading, body)
