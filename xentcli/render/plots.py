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


def reliability_diagram(r: Result) -> Any:
    """Per calibration bin: confidence against accuracy, with the bin's weight.

    The bar is the bin's accuracy; the ``┃`` marks its mean confidence: a perfectly calibrated
    model has every bar end at its marker.
    """
    from rich import box
    from rich.text import Text

    table = plain_table(
        title="reliability: accuracy (bar) against confidence (┃) per bin",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("confidence bin")
    table.add_column("rows", justify="right")
    table.add_column("conf", justify="right")
    table.add_column("acc", justify="right")
    table.add_column("0" + " " * (BAR - 2) + "1", no_wrap=True)
    for b in r.calibration:
        cells = list(_bar(b.accuracy).ljust(BAR))
        marker = min(BAR - 1, int(b.confidence * BAR))
        cells[marker] = "┃"
        line = Text("".join(cells))
        line.stylize("bold red", marker, marker + 1)
        weight = f"{b.weight:.0f}" if b.weight == int(b.weight) else f"{b.weight:.4g}"
        table.add_row(
            f"{b.lo:.2f}-{b.hi:.2f}", weight, f"{b.confidence:.3f}", f"{b.accuracy:.3f}", line
        )
    ece = r.metrics.get("ece")
    table.caption = f"ECE {ece:.4g}" if ece is not None else None
    table.caption_justify = "left"
    return table


def loss_histogram(r: Result) -> Any:
    """Rows per range of per-row loss (log-spaced ranges), as bars."""
    from rich import box

    table = plain_table(
        title=f"per-row loss ({r.unit}), rows per range", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("loss from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("", no_wrap=True)
    hist = list(r.loss_histogram)
    used = [i for i, (_, _, k) in enumerate(hist) if k]
    if not used:
        return table
    most = max(k for _, _, k in hist)
    for lo, hi, k in hist[used[0] : used[-1] + 1]:
        table.add_row(
            f"{lo:.3g}", "inf" if hi == float("inf") else f"{hi:.3g}", str(k), _bar(k / most)
        )
    return table
