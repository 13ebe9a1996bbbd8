"""What every report shares: the one number formatter for people and the one for machines,
Markdown escaping, and drawing Rich renderables to plain text."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

from xentcli.config import PLAIN_WIDTH
from xentcli.textsafe import shown

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


# One format for a whole column of a table: fixed decimals that give its largest value
# COLUMN_DIGITS significant digits (and its smallest non-zero value at least MIN_DIGITS),
# else scientific notation for every value of the column.
COLUMN_DIGITS = 6
MIN_DIGITS = 3
MAX_DECIMALS = 10
MAX_FIXED_DIGITS = 13  # wider than this, a fixed number is harder to read than 1.23457e+12


def _exponent(x: float) -> int:
    return math.floor(math.log10(abs(x)))


def fmt_column(values: Sequence[float | int | None]) -> list[str]:
    """The numbers of one table column, all in one format (never 3.58783e+06 beside 178364):
    whole numbers as integers; else fixed decimals enough for six significant digits of the
    largest value (three of the smallest); else, when that would take more than ten decimals
    or thirteen digits, scientific notation for the whole column. 'inf', 'nan' and '-' (none)
    as :func:`fmt` writes them. Large sums read as they are: 7690193, not 7.69019e+06."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite or all(v.is_integer() and abs(v) < 1e15 for v in finite):
        return [fmt(v) for v in values]
    nonzero = [abs(v) for v in finite if v != 0]
    hi, lo = _exponent(max(nonzero)), _exponent(min(nonzero))
    decimals = max(0, COLUMN_DIGITS - 1 - hi, MIN_DIGITS - 1 - lo)
    if decimals > MAX_DECIMALS or hi + 1 + decimals > MAX_FIXED_DIGITS:
        spec = f".{COLUMN_DIGITS - 1}e"
    else:
        spec = f".{decimals}f"
    return [f"{float(v):{spec}}" if v is not None and math.isfinite(v) else fmt(v) for v in values]


def fmt_figure(x: float | int | None) -> str:
    """One figure on its own line (the figures table, where each row is another quantity):
    as :func:`fmt`, but a large number in full (7690193, not 7.69019e+06)."""
    if isinstance(x, float) and math.isfinite(x) and 1e6 <= abs(x) < 1e15:
        return f"{x:.0f}"
    return fmt(x)


def pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.1f}%"


def raw(x: float | int | None) -> str:
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


# Markdown's punctuation ($ opens GitHub's math); an underscore only where it could open or
# close emphasis (at a word's edge: GitHub never reads one inside a word, as in loss_sum).
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&$]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")
# What GitHub links by itself in plain text: a URL's scheme (https://), www., an @mention or
# e-mail address, an issue reference (#12). A zero-width space (as an entity, visible in the
# source) before a scheme's ://, after the www, the @ or the # leaves the text as it reads but
# matches none of them.
_MD_LINKS = re.compile(r"(?<=[0-9A-Za-z])(?=://)|(?<![0-9A-Za-z])[Ww]{3}(?=\.)|[@#](?=[0-9A-Za-z])")
ZERO_WIDTH = "&#8203;"


def md_escape(s: str) -> str:
    """A table cell's text as itself in GitHub's Markdown: control and bidirectional
    characters escaped as on the terminal (a line break would end the row), punctuation
    escaped (a class named __background__ or <b>x</b> is not bold, no raw HTML), and no
    link or mention made of a URL, www., @user or #12 in it."""
    return _MD_LINKS.sub(r"\g<0>" + ZERO_WIDTH, _MD_SPECIAL.sub(r"\\\1", shown(s)))


def md_code(s: str) -> str:
    """``s`` as a Markdown code span (a path): shown as on the terminal, fenced with more
    backticks than it holds in a row; GitHub links and mentions nothing in code."""
    s = shown(s)
    fence = "`" * (max(map(len, re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def md_table(
    header: list[str], rows: list[list[str]], *, total: list[str] | None = None
) -> list[str]:
    """A GitHub Markdown table, every cell escaped; ``total``, a last row whose first cell
    (its name) is bold."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(md_escape(c) for c in cells) + " |"

    out = [line(header), "|---|" + "---:|" * (len(header) - 1), *map(line, rows)]
    if total is not None:
        out.append(f"| **{md_escape(total[0])}** |" + line(total[1:])[1:])
    return out


def drawn(view: Any, width: int = PLAIN_WIDTH) -> str:
    """A Rich renderable drawn as plain text (no colour): tables for files."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(
        file=buf, width=width, color_system=None, highlight=False, markup=False, emoji=False
    )
    console.print(view)
    return rstrip_lines(buf.getvalue())


def rstrip_lines(text: str) -> str:
    """Rich pads every line of a table to its width; in a file or a pipe the trailing blanks
    only get in the way of diffs."""
    return "\n".join(line.rstrip(" ") for line in text.split("\n"))


def plain_table(**kwargs: Any) -> Any:
    """A Rich table whose text (title, caption, headers, cells) is shown as it is: names, ids
    and values come from the data, and Rich would read ``[red]`` or ``[/b]`` in them as markup
    on a console that has markup on (a notebook's, ``rich.print``), or fail on it; their
    control and bidirectional characters are escaped (:func:`xentcli.textsafe.shown`). A
    title or caption keeps its own line breaks."""
    from rich.table import Table
    from rich.text import Text

    def plain(x: Any) -> Any:
        return Text(shown(x)) if isinstance(x, str) else x

    def plain_lines(x: Any) -> Any:
        return Text("\n".join(map(shown, x.split("\n")))) if isinstance(x, str) else x

    class PlainTable(Table):
        def add_column(self, header: Any = "", *args: Any, **kw: Any) -> None:
            super().add_column(plain(header), *args, **kw)

        def add_row(self, *cells: Any, **kw: Any) -> None:
            super().add_row(*map(plain, cells), **kw)

    for key in ("title", "caption"):
        if key in kwargs:
            kwargs[key] = plain_lines(kwargs[key])
    return PlainTable(**kwargs)


def plain_line(text: str, **kwargs: Any) -> Any:
    """A line of a view as Rich text: shown as it is (no markup), its control and
    bidirectional characters escaped."""
    from rich.text import Text

    return Text(shown(text), **kwargs)


STACK_TEXT_MIN = 6  # a text column (names, ids) is not folded narrower than this


class FigureTable:
    """A table of figures that never splits a number across lines, at any width: number
    columns are never wrapped (text columns, names and ids, fold instead), and when even
    that does not fit the console, each row is drawn as a block of ``header  value`` lines.

    ``numeric[j]`` says whether column j holds numbers; the row's first ``keys`` cells name
    it in the stacked layout; a section line goes before each row in ``sections`` and the
    rows in ``bold`` are bold (the total)."""

    def __init__(
        self,
        header: list[str],
        rows: list[list[str]],
        numeric: list[bool],
        *,
        keys: int = 1,
        title: str | None = None,
        sections: frozenset[int] = frozenset(),
        bold: frozenset[int] = frozenset(),
        show_header: bool = True,
    ) -> None:
        self.header, self.rows, self.numeric = header, rows, numeric
        self.keys, self.title = keys, title
        self.sections, self.bold, self.show_header = sections, bold, show_header

    def min_width(self) -> int:
        """The narrowest the table can be drawn with every number whole (SIMPLE_HEAD box)."""
        from rich.cells import cell_len

        total = 2 + (len(self.header) - 1)  # the box's edges and column dividers
        for j, h in enumerate(self.header):
            cells = [row[j] for row in self.rows] + ([h] if self.show_header else [])
            widest = max((cell_len(shown(c)) for c in cells), default=1)
            total += 2 + (widest if self.numeric[j] else min(widest, STACK_TEXT_MIN))
        return total

    def table(self) -> Any:
        from rich import box

        t = plain_table(
            title=self.title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_header=self.show_header,
        )
        for j, h in enumerate(self.header):
            if self.numeric[j]:
                t.add_column(h, justify="right", no_wrap=True)
            else:
                t.add_column(h, justify="left", overflow="fold")
        for i, cells in enumerate(self.rows):
            if i in self.sections:
                t.add_section()
            t.add_row(*cells, style="bold" if i in self.bold else None)
        return t

    def stacked(self) -> Any:
        """Each row as a block: its name, then one ``header  value`` line per figure."""
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        grid.add_column(overflow="fold")
        grid.add_column(justify="right", no_wrap=True)
        for i, cells in enumerate(self.rows):
            if i:
                grid.add_row("", "")
            keys = [
                c if self.keys == 1 and not self.numeric[0] else f"{h} {c}"
                for h, c in zip(self.header[: self.keys], cells, strict=False)
            ]
            grid.add_row(plain_line(", ".join(keys), style="bold"), "")
            for h, c, num in zip(
                self.header[self.keys :], cells[self.keys :], self.numeric[self.keys :], strict=True
            ):
                if not c:  # a figure with no baseline: nothing to show
                    continue
                value = plain_line(c, no_wrap=True) if num else plain_line(c, overflow="fold")
                grid.add_row(plain_line("  " + h), value)
        return grid

    def __rich_console__(self, console: Any, options: Any) -> Any:
        if self.min_width() <= options.max_width:
            yield self.table()
            return
        yield plain_line("")
        if self.title:
            yield plain_line(self.title)
            yield plain_line("")
        yield self.stacked()
        yield plain_line("")
