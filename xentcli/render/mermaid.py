"""The reliability diagram as a Mermaid ``xychart-beta`` block, for ``--format markdown
--plot``: GitHub draws it in job summaries, issues and pull requests.

One category per non-empty calibration bin (an empty bin has no accuracy to draw), labelled
with the bin's range; bars for the bins' accuracy and a line for their mean confidence (a
calibrated model's bars end on the line). Mermaid's grammar reads numbers as plain decimals
only (no exponent, no nan), so every value is written with fixed decimals, and the labels
are quoted strings of digits, a dot and a dash.
"""

from __future__ import annotations

import math

from xentcli.result import Result

DECIMALS = 4


def _number(x: float) -> str:
    """A value as Mermaid's data grammar reads it: ``[+-]?(\\d+(\\.\\d+)?|\\.\\d+)``."""
    out = f"{x:.{DECIMALS}f}"
    return "0.0000" if out == "-0.0000" else out


def reliability_mermaid(r: Result) -> str | None:
    """The fenced ```` ```mermaid ```` block, or None when no bin holds a row (nothing to draw)."""
    bins = [b for b in r.calibration if math.isfinite(b.accuracy) and math.isfinite(b.confidence)]
    if not bins:
        return None
    labels = ", ".join(f'"{b.lo:.2f}-{b.hi:.2f}"' for b in bins)
    ece = r.metrics.get("ece")
    title = "Reliability: accuracy (bars) and mean confidence (line) per bin"
    if ece is not None and math.isfinite(ece):
        title += f", ECE {ece:.4f}"
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{title}"',
            f'    x-axis "confidence" [{labels}]',
            '    y-axis "accuracy" 0 --> 1',
            f"    bar [{', '.join(_number(b.accuracy) for b in bins)}]",
            f"    line [{', '.join(_number(b.confidence) for b in bins)}]",
            "```",
        ]
    )
