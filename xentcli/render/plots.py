"""Pictures in the terminal, drawn with Rich: a reliability diagram and a loss histogram.

Both fit in 80 columns and read without colour (bars are block characters, the confidence
marker a distinct glyph).
"""

from __future__ import annotations

from typing import Any

from xentcli.render.common import plain_table
from xentcli.result import Result

BAR = 34


def _bar(fraction: float, width: int = BAR) -> str:
    """A horizontal bar with eighth-block resolution."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[rest - 1] if rest else "")


MIN_BAR = 10  # narrower than this, a bar says nothing: the numbers are shown alone


def _bar_width(width: int, fixed: int) -> int:
    """The bars' width in a console ``width`` wide beside columns that take ``fixed``: at most
    BAR, and 0 (no bars) when fewer than MIN_BAR columns are left."""
    bar = min(BAR, width - fixed)
    return bar if bar >= MIN_BAR else 0


def reliability_diagram(r: Result, width: int = 80) -> Any:
    """Per calibration bin: confidence against accuracy, with the bin's weight.

    The bar is the bin's accuracy; the ``┃`` marks its mean confidence: a perfectly calibrated
    model has every bar end at its marker. The numbers are never wrapped; on a narrow console
    the bars get shorter, or go.
    """
    from rich import box
    from rich.text import Text

    weights = [
        f"{b.weight:.0f}" if b.weight == int(b.weight) else f"{b.weight:.4g}" for b in r.calibration
    ]
    rows_w = max([4, *map(len, weights)])
    bar = _bar_width(width, 2 + 4 + 2 * 5 + len("confidence bin") + rows_w + 5 + 5)
    table = plain_table(
        title="reliability: accuracy (bar) against confidence (┃) per bin",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("confidence bin" if bar else "bin", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("conf", justify="right", no_wrap=True)
    table.add_column("acc", justify="right", no_wrap=True)
    if bar:
        table.add_column("0" + " " * (bar - 2) + "1", no_wrap=True)
    for b, weight in zip(r.calibration, weights, strict=True):
        cells: list[Any] = [
            f"{b.lo:.2f}-{b.hi:.2f}",
            weight,
            f"{b.confidence:.3f}",
            f"{b.accuracy:.3f}",
        ]
        if bar:
            marks = list(_bar(b.accuracy, bar).ljust(bar))
            marker = min(bar - 1, int(b.confidence * bar))
            marks[marker] = "┃"
            line = Text("".join(marks))
            line.stylize("bold red", marker, marker + 1)
            cells.append(line)
        table.add_row(*cells)
    ece = r.metrics.get("ece")
    table.caption = f"ECE {ece:.4g}" if ece is not None else None
    table.caption_justify = "left"
    return table


def loss_histogram(r: Result, width: int = 80) -> Any:
    """Rows per range of per-row loss (log-spaced ranges), as bars (numbers never wrapped)."""
    from rich import box

    table = plain_table(
        title=f"per-row loss ({r.unit}), rows per range", title_justify="left", box=box.SIMPLE_HEAD
    )
    hist = list(r.loss_histogram)
    used = [i for i, (_, _, k) in enumerate(hist) if k]
    shown = hist[used[0] : used[-1] + 1] if used else []
    cells = [
        [f"{lo:.3g}", "inf" if hi == float("inf") else f"{hi:.3g}", str(k)] for lo, hi, k in shown
    ]
    widths = [
        max([len(h), *(len(c[j]) for c in cells)])
        for j, h in enumerate(("loss from", "to", "rows"))
    ]
    bar = _bar_width(width, 2 + 3 + 2 * 4 + sum(widths))
    table.add_column("loss from", justify="right", no_wrap=True)
    table.add_column("to", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    if bar:
        table.add_column("", no_wrap=True)
    if not used:
        return table
    most = max(k for _, _, k in hist)
    for row, (_, _, k) in zip(cells, shown, strict=True):
        table.add_row(*row, *([_bar(k / most, bar)] if bar else []))
    return table
