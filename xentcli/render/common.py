"""What every report shares: the one number formatter for people and the one for machines,
Markdown escaping, and drawing Rich renderables to plain text."""

from __future__ import annotations

import io
import math
import re
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


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(md_escape(c) for c in cells) + " |"

    return [line(header), "|---|" + "---:|" * (len(header) - 1), *map(line, rows)]


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
