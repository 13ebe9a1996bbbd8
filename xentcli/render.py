"""Render a finished :class:`~xentcli.result.Result` as a Rich table, JSON, CSV or Markdown.

Nothing here computes a figure: every number comes from the result as it is.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from typing import Any

from xentcli.config import PLAIN_WIDTH, Base, OutputFormat
from xentcli.result import Result

TASK_TITLES = {
    "multiclass": "multiclass cross-entropy",
    "binary": "binary cross-entropy",
    "multilabel": "multi-label binary cross-entropy",
}

METRIC_LABELS = {
    "accuracy": "accuracy",
    "subset_accuracy": "subset accuracy",
    "top_k_accuracy": "top-k accuracy",
    "brier": "Brier score",
    "ece": "ECE (calibration error)",
    "mce": "MCE (max calibration error)",
    "entropy": "entropy of predictions",
    "prior_entropy": "prior entropy (constant model)",
    "normalized_entropy": "normalized entropy",
    "information_gain": "information gain",
    "target_entropy": "entropy of targets",
    "kl": "KL(target || prediction)",
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


def loss_rows(r: Result) -> list[tuple[str, str]]:
    return [(label, value) for label, _, value in _keyed_loss_rows(r)]


def metric_rows(r: Result) -> list[tuple[str, str]]:
    return [(label, value) for label, _, value in _keyed_metric_rows(r)]


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
        [c.name, fmt(c.support), fmt(c.loss_sum), fmt(c.loss_mean), _pct(c.share)]
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


def _raw(x: float | int | None) -> str:
    """A number for machines: shortest round-trip repr, empty for none/nan."""
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def slice_value(v: object) -> str:
    """A --group-by value as text: a missing one is null, and the text "null" is quoted so
    that the two slices do not print alike (JSON keeps null and "null" apart)."""
    if v is None:
        return "null"
    return f'"{v}"' if v == "null" else str(v)


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
                c.name,
                _raw(c.support),
                _raw(c.loss_sum),
                _raw(c.loss_mean),
                _raw(c.share),
                *blank,
            ]
        )

    def total(scope: str, name: str, t: Result) -> list[str]:
        return [
            scope,
            name,
            _raw(t.support_total),
            _raw(t.loss_sum),
            _raw(t.loss_mean),
            _raw(1.0),
            _raw(t.n),
            _raw(t.weight_sum),
            _raw(t.loss),
            _raw(t.perplexity),
            _raw(t.clipped),
            t.unit,
            t.task,
            t.input,
            t.reduction,
            *(_raw(t.metrics.get(k, math.nan)) for k in metric_names),
            *(
                (_raw(t.ci[0]), _raw(t.ci[1]), _raw(t.ci[2]))
                if ci_columns and t.ci
                else [""] * len(ci_columns)
            ),
        ]

    w.writerow(total("total", "", r))
    for key, g in r.groups or ():
        where = ",".join(f"{k}={slice_value(v)}" for k, v in key.items())
        w.writerow(total("group", where, g))
    return buf.getvalue()


# Markdown's punctuation ($ opens GitHub's math); an underscore only where it could open or
# close emphasis (at a word's edge: GitHub never reads one inside a word, as in loss_sum).
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&$]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")


def _md_escape(s: str) -> str:
    """A table cell's text as itself in GitHub's Markdown: its punctuation escaped (a class
    named __background__ or <b>x</b> is not bold), a line break a space (it would end the
    row)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(s.splitlines()))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(_md_escape(c) for c in cells) + " |"

    return [line(header), "|---|" + "---:|" * (len(header) - 1), *map(line, rows)]


def to_markdown(r: Result) -> str:
    lines = [f"### xent: {title(r)}", ""]
    if options := options_line(r):
        lines += [_md_escape(options), ""]
    if r.baseline is not None:
        lines += [f"Compared with the baseline `{r.baseline.get('path', '')}`.", ""]
    lines += _md_table(*figure_rows(r))
    lines += ["", *_md_table(class_header(r), class_cells(r))]
    if r.worst is not None:
        lines += ["", f"Worst {len(r.worst)} rows:", ""]
        lines += _md_table(worst_header(r), worst_cells(r))
    if r.groups:
        lines += ["", f"By {', '.join(map(_md_escape, r.groups[0][0]))}:", ""]
        lines += _md_table(group_header(r), group_cells(r))
    return "\n".join(lines) + "\n"


def to_table(r: Result, console: Any, *, plot: bool = False) -> None:
    """Print the per-class table, the totals and metrics, and the optional parts, with Rich."""
    from rich import box
    from rich.table import Table

    # the title and the options as lines of their own: as the table's title they would wrap
    # at the table's width
    console.print(
        f"xent: {title(r)}", style="italic", markup=False, highlight=False, soft_wrap=True
    )
    if options := options_line(r):
        console.print(options, markup=False, highlight=False, soft_wrap=True)
    per_class = Table(box=box.SIMPLE_HEAD)
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
        _pct(1.0 if r.per_class else math.nan),
        style="bold",
    )
    header, rows = figure_rows(r)
    figures = Table(box=box.SIMPLE_HEAD, show_header=r.baseline is not None)
    for i, h in enumerate(header):
        figures.add_column(h if i else "", justify="left" if i == 0 else "right")
    n_loss = len(_keyed_loss_rows(r))
    for i, cells in enumerate(rows):
        if i == n_loss:
            figures.add_section()
        figures.add_row(*cells)
    console.print(per_class)
    console.print(figures)
    if r.worst is not None:
        worst = Table(title=f"worst {len(r.worst)} rows", box=box.SIMPLE_HEAD, title_justify="left")
        for h in worst_header(r):
            worst.add_column(
                h, justify="right" if h in ("row", "loss", "p(true)") else "left", overflow="fold"
            )
        for cells in worst_cells(r):
            worst.add_row(*cells)
        console.print(worst)
    if r.groups:
        slices = Table(
            title=f"by {', '.join(r.groups[0][0])}", box=box.SIMPLE_HEAD, title_justify="left"
        )
        keys = len(r.groups[0][0])
        for i, h in enumerate(group_header(r)):
            slices.add_column(h, justify="left" if i < keys else "right", overflow="fold")
        for cells in group_cells(r):
            slices.add_row(*cells)
        console.print(slices)
    if plot:
        from xentcli.plots import loss_histogram, reliability_diagram

        console.print(reliability_diagram(r))
        console.print(loss_histogram(r))


def render_text(
    r: Result, fmt_: OutputFormat, *, width: int = PLAIN_WIDTH, plot: bool = False
) -> str:
    """The report as text in any format (the table drawn without colour, for files)."""
    if fmt_ is OutputFormat.json:
        return to_json(r, plot=plot)
    if fmt_ is OutputFormat.csv:
        return to_csv(r)
    if fmt_ is OutputFormat.markdown:
        return to_markdown(r)
    return drawn(lambda console: to_table(r, console, plot=plot), width)


def drawn(draw: Callable[[Any], None], width: int = PLAIN_WIDTH) -> str:
    """What ``draw`` prints on a Rich console, as plain text (no colour): tables for files."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(
        file=buf, width=width, color_system=None, highlight=False, markup=False, emoji=False
    )
    draw(console)
    return rstrip_lines(buf.getvalue())


def rstrip_lines(text: str) -> str:
    """Rich pads every line of a table to its width; in a file or a pipe the trailing blanks
    only get in the way of diffs."""
    return "\n".join(line.rstrip(" ") for line in text.split("\n"))


# -- xent explain ---------------------------------------------------------------------------


def explain_json(e: Any) -> str:
    return json.dumps(e.to_dict(), indent=2, allow_nan=False) + "\n"


def explain_steps(e: Any) -> list[str]:
    """The worked example, one line a step, like a textbook."""
    u = e.unit
    log = {"nats": "ln", "bits": "log2", "hartleys": "log10"}[u]
    steps = []
    if e.logits is not None:
        if len(e.logits) == 1:
            steps.append(
                f"p = sigmoid(z) = 1 / (1 + exp(-{fmt(e.logits[0])})) = "
                f"{fmt(e.probs[1])}; the two classes get 1 - p and p"
            )
        else:
            steps.append(
                "p = softmax(z): exp(z_c - max z) / sum_k exp(z_k - max z) "
                "(shifting by the max changes nothing and never overflows)"
            )
    if e.label is not None:
        k = e.label
        if e.logits is not None and len(e.logits) > 1:
            # from the logits: p itself may print as 0 (a logit 800 below the max)
            base = next(b for b in Base if b.unit == u)
            in_unit = "" if base is Base.e else f" / ln {base.value}"
            nats = e.surprisal[k] * base.log
            steps.append(
                f"surprisal of the true class '{e.classes[k]}': -{log} p = "
                f"(logsumexp(z) - z_y){in_unit} = ({fmt(nats + e.logits[k])} - "
                f"{fmt(e.logits[k])}){in_unit} = {fmt(e.surprisal[k])} {u}"
            )
        else:
            steps.append(
                f"surprisal of the true class '{e.classes[k]}': -{log} p = "
                f"-{log} {fmt(e.probs[k])} = {fmt(e.surprisal[k])} {u}"
            )
    steps.append(
        f"entropy of the prediction: H(p) = sum_c p_c * (-{log} p_c) = "
        f"{fmt(e.entropy)} {u}  (the model's own uncertainty)"
    )
    if e.label is None:
        steps.append(f"entropy of the target: H(y) = {fmt(e.target_entropy)} {u}")
    steps.append(f"cross-entropy: H(y, p) = sum_c y_c * (-{log} p_c) = {fmt(e.cross_entropy)} {u}")
    steps.append(
        f"KL divergence: KL(y || p) = H(y, p) - H(y) = {fmt(e.cross_entropy)} - "
        f"{fmt(e.target_entropy)} = {fmt(e.kl)} {u}"
    )
    steps.append(f"loss of this row = H(y, p) = {fmt(e.loss)} {u}")
    grad = ", ".join(fmt(g) for g in e.gradient)
    steps.append(f"gradient of the loss (in nats) with respect to the logits: p - y = [{grad}]")
    if e.binary:
        steps.append(f"for a single logit z: d loss / d z = sigmoid(z) - y = {fmt(e.gradient[1])}")
    return steps


def explain_table(e: Any, console: Any) -> None:
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"xent explain: one row, in {e.unit}", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("class")
    if e.logits is not None and len(e.logits) == len(e.probs):
        table.add_column("logit z", justify="right")
    table.add_column("p", justify="right")
    table.add_column("y", justify="right")
    table.add_column("-log p", justify="right")
    table.add_column("y * -log p", justify="right")
    table.add_column("p - y", justify="right")
    for k, name in enumerate(e.classes):
        y = e.target[k]
        term = 0.0 if y == 0 else y * e.surprisal[k]
        cells = [name]
        if e.logits is not None and len(e.logits) == len(e.probs):
            cells.append(fmt(e.logits[k]))
        cells += [fmt(e.probs[k]), fmt(y), fmt(e.surprisal[k]), fmt(term), fmt(e.gradient[k])]
        table.add_row(*cells)
    console.print(table)
    for i, step in enumerate(explain_steps(e), start=1):
        console.print(f"{i}. {step}")


# -- xent inspect ---------------------------------------------------------------------------


def inspect_json(i: Any) -> str:
    return json.dumps(i.to_dict(), indent=2, allow_nan=False) + "\n"


def inspect_table(i: Any, console: Any) -> None:
    from rich import box
    from rich.table import Table

    # the path on a line of its own: as a table title it would wrap at the table's width
    console.print(f"xent inspect: {i.path}", markup=False, highlight=False, soft_wrap=True)
    facts = Table(box=box.SIMPLE_HEAD, show_header=False)
    facts.add_column("what")
    facts.add_column("value", overflow="fold")
    facts.add_row("format", i.format)
    facts.add_row("rows", fmt(i.rows) if i.rows >= 0 else "-")
    facts.add_row("task (detected)", i.task)
    facts.add_row("scores look like", i.input)
    facts.add_row("classes", ", ".join(i.classes))
    console.print(facts)

    cols = Table(title="columns", title_justify="left", box=box.SIMPLE_HEAD)
    cols.add_column("name", overflow="fold")
    cols.add_column("type", overflow="fold")
    for name, typ in i.columns:
        cols.add_row(name, typ)
    console.print(cols)

    if not i.command:  # the file cannot be scored as it is
        for note in i.notes:
            console.print(f"cannot score it as it is: {note}")
        return
    dist = Table(title="labels", title_justify="left", box=box.SIMPLE_HEAD)
    dist.add_column("class")
    dist.add_column("rows", justify="right")
    dist.add_column("share", justify="right")
    total = sum(i.label_counts.values())
    for name, count in i.label_counts.items():
        dist.add_row(name, fmt(count), _pct(count / total if total else math.nan))
    console.print(dist)

    head = Table(title=f"first {len(i.preview)} rows", title_justify="left", box=box.SIMPLE_HEAD)
    for h in i.preview_header:
        head.add_column(h, justify="right", overflow="fold")
    for row in i.preview:
        head.add_row(*row)
    console.print(head)
    for note in i.notes:
        console.print(f"note: {note}")
    console.print("to compute the loss:")
    console.print(f"  {i.command}")


# -- xent compare ---------------------------------------------------------------------------


def compare_dict(
    c: Any, *, max_increase: str | None = None, regressed: bool | None = None
) -> dict[str, Any]:
    def num(x: float) -> float | None:
        return x if math.isfinite(x) else None

    out = {
        "a": c.a.to_dict(),
        "b": c.b.to_dict(),
        "difference": {
            "n": c.n,
            "loss_mean": num(c.diff_mean),
            "ci": {"level": c.level, "low": num(c.low), "high": num(c.high)},
            "significant": c.significant,
            "unit": c.a.unit,
        },
    }
    if max_increase is not None:
        out["max_increase"] = max_increase
        out["regressed"] = regressed
    return out


def compare_rows(c: Any, *, raw: bool = False) -> list[list[str]]:
    """(figure, A, B, B - A) for the totals, the metrics and each class's loss_mean: shown
    rounded, or (``raw``, for CSV) at full precision."""
    a, b = c.a, c.b

    def row(label: str, x: float, y: float) -> list[str]:
        d = y - x if math.isfinite(x) and math.isfinite(y) else math.nan
        if raw:
            return [label, _raw(x), _raw(y), _raw(d)]
        return [label, fmt(x), fmt(y), f"{d:+.4g}" if math.isfinite(d) else "-"]

    rows = [
        row(f"loss ({a.reduction})", a.loss, b.loss),
        row("loss_mean", a.loss_mean, b.loss_mean),
        row("perplexity", a.perplexity, b.perplexity),
    ]
    rows += [
        row(METRIC_LABELS.get(k, k), v, b.metrics.get(k, math.nan)) for k, v in a.metrics.items()
    ]
    rows += [
        row(f"loss_mean of {ca.name}", ca.loss_mean, cb.loss_mean)
        for ca, cb in zip(a.per_class, b.per_class, strict=True)
    ]
    return rows


def compare_verdict(c: Any) -> str:
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


def compare_text(c: Any, fmt_: OutputFormat, **gate: Any) -> str:
    if fmt_ is OutputFormat.table:
        return drawn(lambda console: compare_table(c, console))
    if fmt_ is OutputFormat.json:
        return json.dumps(compare_dict(c, **gate), indent=2, allow_nan=False) + "\n"
    header = ["figure", "A", "B", "B - A"]
    if fmt_ is OutputFormat.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for cells in compare_rows(c, raw=True):
            w.writerow(cells)
        w.writerow(["paired difference", "", "", _raw(c.diff_mean)])
        w.writerow([f"ci {c.level:g} low", "", "", _raw(c.low)])
        w.writerow([f"ci {c.level:g} high", "", "", _raw(c.high)])
        return buf.getvalue()
    lines = [f"### xent compare: A = `{c.a.source}`, B = `{c.b.source}` ({c.a.unit})", ""]
    lines += _md_table(header, compare_rows(c))
    lines += ["", f"**{compare_verdict(c)}** (n = {c.n} paired rows)"]
    return "\n".join(lines) + "\n"


def compare_table(c: Any, console: Any) -> None:
    from rich import box
    from rich.table import Table

    table = Table(
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
    console.print(table)
    console.print(f"paired per-row difference over {c.n} rows: {compare_verdict(c)}")
