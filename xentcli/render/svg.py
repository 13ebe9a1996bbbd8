"""Charts as inline SVG, drawn here in Python (no script): a reliability diagram with the
bins' weights, a histogram of per-row loss, per-class loss bars, and the paired difference's
intervals of ``xent compare``. Each mark carries a ``<title>`` (a browser shows it on hover)
and its numbers as ``data-`` attributes; every text from the data is escaped.

Nothing here computes a figure: the bins, counts and losses come from the result as it is.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from xentcli.render.common import fmt
from xentcli.result import Result
from xentcli.textsafe import shown

ACCURACY = "#3b6ea8"
WEIGHT = "#8c8c8c"
DIAGONAL = "#c0392b"
LOSS = "#5b8f4e"
INK = "#333333"
GRID = "#dddddd"


def _esc(text: str) -> str:
    return html.escape(shown(text))


def _n(x: float) -> str:
    """A coordinate: two decimals are finer than a pixel."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, label: str, body: list[str], css_class: str) -> str:
    # inline in HTML5, an <svg> needs no xmlns (and the page names no address at all)
    return (
        f'<svg class="{css_class}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_esc(label)}" font-family="sans-serif" font-size="11">'
        f"<title>{_esc(label)}</title>\n" + "\n".join(body) + "\n</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" fill="{INK}"{extra}>'
        f"{_esc(text)}</text>"
    )


def reliability_svg(r: Result) -> str:
    """Accuracy against confidence per calibration bin: a bar over each non-empty bin's range
    (its height the bin's accuracy, its opacity the bin's share of the weight), the diagonal
    of perfect calibration, a tick at each bin's mean confidence, and below it the bins'
    weights as a small histogram."""
    width, left, right, top = 420, 48, 12, 28
    plot = width - left - right  # the square plot: accuracy 0..1 over confidence 0..1
    weights_top, weights_h = top + plot + 40, 56  # the bins' weights, under the diagram
    height = weights_top + weights_h + 22
    bins = r.calibration
    heaviest = max((b.weight for b in bins), default=0.0)
    body: list[str] = []

    def x(v: float) -> float:
        return left + v * plot

    def y(v: float) -> float:
        return top + (1 - v) * plot

    ece = r.metrics.get("ece")
    caption = "reliability: accuracy (bars) against confidence per bin"
    if ece is not None and math.isfinite(ece):
        caption += f"; ECE {fmt(ece, 4)}"
    body.append(_text(left, 16, caption, anchor="start"))
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(
            f'<line x1="{_n(x(0))}" y1="{_n(y(t))}" x2="{_n(x(1))}" y2="{_n(y(t))}" '
            f'stroke="{GRID}"/>'
        )
        body.append(_text(left - 6, y(t) + 4, f"{t:g}", anchor="end"))
        body.append(_text(x(t), top + plot + 14, f"{t:g}"))
    for b in bins:
        share = b.weight / heaviest if heaviest > 0 else 0.0
        opacity = 0.25 + 0.75 * share
        acc = b.accuracy if math.isfinite(b.accuracy) else 0.0
        tip = (
            f"confidence {b.lo:.2f}-{b.hi:.2f}: weight {fmt(b.weight)}, mean confidence "
            f"{b.confidence:.4f}, accuracy {b.accuracy:.4f}"
        )
        body.append(
            f'<rect class="bar" x="{_n(x(b.lo) + 0.5)}" y="{_n(y(acc))}" '
            f'width="{_n(max(0.5, (b.hi - b.lo) * plot - 1))}" height="{_n(acc * plot)}" '
            f'fill="{ACCURACY}" fill-opacity="{opacity:.3f}" data-lo="{b.lo!r}" '
            f'data-hi="{b.hi!r}" data-weight="{b.weight!r}" data-confidence="{b.confidence!r}" '
            f'data-accuracy="{b.accuracy!r}"><title>{_esc(tip)}</title></rect>'
        )
        # the bin's mean confidence: where a calibrated bar would end
        cx = x(b.confidence)
        body.append(
            f'<line class="confidence" x1="{_n(cx)}" y1="{_n(y(b.confidence) - 5)}" '
            f'x2="{_n(cx)}" y2="{_n(y(b.confidence) + 5)}" stroke="{DIAGONAL}" '
            'stroke-width="2"/>'
        )
    body.append(
        f'<path class="diagonal" d="M{_n(x(0))},{_n(y(0))} L{_n(x(1))},{_n(y(1))}" '
        f'stroke="{DIAGONAL}" stroke-dasharray="4 3" fill="none"/>'
    )
    body.append(
        f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" fill="none" stroke="{INK}"/>'
    )
    body.append(_text(left + plot / 2, top + plot + 27, "confidence"))
    body.append(_text(12, top + plot / 2, "accuracy", transform=f"rotate(-90 12 {top + plot / 2})"))
    # the bins' weights, as a histogram under the diagram
    body.append(_text(left - 6, weights_top + 8, fmt(heaviest, 3), anchor="end"))
    body.append(_text(left - 6, weights_top + weights_h, "0", anchor="end"))
    body.append(_text(left + plot / 2, weights_top + weights_h + 16, "weight of each bin"))
    for b in bins:
        h = weights_h * (b.weight / heaviest if heaviest > 0 else 0.0)
        body.append(
            f'<rect class="weight" x="{_n(x(b.lo) + 0.5)}" y="{_n(weights_top + weights_h - h)}" '
            f'width="{_n(max(0.5, (b.hi - b.lo) * plot - 1))}" height="{_n(h)}" fill="{WEIGHT}" '
            f'data-weight="{b.weight!r}"><title>{_esc(f"weight {fmt(b.weight)}")}</title></rect>'
        )
    body.append(
        f'<line x1="{left}" y1="{weights_top + weights_h}" x2="{left + plot}" '
        f'y2="{weights_top + weights_h}" stroke="{INK}"/>'
    )
    if not bins:
        body.append(_text(left + plot / 2, top + plot / 2, "no rows"))
    return _svg(width, height, caption, body, "chart reliability")


def loss_histogram_svg(r: Result) -> str | None:
    """Rows per range of per-row loss (the log-spaced ranges of the result), from the first
    range that has rows to the last; None when the result holds no histogram."""
    hist = list(r.loss_histogram)
    used = [i for i, (_, _, k) in enumerate(hist) if k]
    if not hist:
        return None
    shown_bins = hist[used[0] : used[-1] + 1] if used else []
    width, height = 420, 240
    left, right, top, bottom = 48, 12, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    most = max((k for _, _, k in shown_bins), default=0)
    caption = f"per-row loss ({r.unit}): rows per range"
    body = [_text(left, 16, caption, anchor="start")]
    step = plot_w / max(1, len(shown_bins))
    for i, (lo, hi, k) in enumerate(shown_bins):
        bx = left + i * step
        if k:
            h = plot_h * k / most
            hi_text = "inf" if math.isinf(hi) else f"{hi:.3g}"
            tip = f"loss {lo:.3g} to {hi_text}: {k} rows"
            body.append(
                f'<rect class="bar" x="{_n(bx + 0.5)}" y="{_n(top + plot_h - h)}" '
                f'width="{_n(max(0.5, step - 1))}" height="{_n(h)}" fill="{LOSS}" '
                f'data-lo="{lo!r}" data-hi="{hi!r}" data-rows="{k}"><title>{_esc(tip)}</title>'
                "</rect>"
            )
        if i % max(1, math.ceil(len(shown_bins) / 6)) == 0:
            body.append(_text(bx, top + plot_h + 14, f"{lo:.2g}"))
    every = max(1, math.ceil(len(shown_bins) / 6))
    labelled = (len(shown_bins) - 1) // every * every
    if shown_bins and (len(shown_bins) - labelled) * step >= 36:  # clear of the last label
        last = shown_bins[-1][1]
        body.append(
            _text(left + plot_w, top + plot_h + 14, "inf" if math.isinf(last) else f"{last:.2g}")
        )
    if not shown_bins:
        body.append(_text(left + plot_w / 2, top + plot_h / 2, "no rows"))
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="{INK}"/>'
    )
    body.append(_text(left - 6, top + 8, str(most), anchor="end"))
    body.append(_text(left - 6, top + plot_h, "0", anchor="end"))
    body.append(_text(left + plot_w / 2, height - 10, f"per-row loss ({r.unit}, log scale)"))
    return _svg(width, height, caption, body, "chart loss-histogram")


MAX_CLASS_BARS = 40  # more classes than this: the ones with the largest loss_sum


def class_loss_svg(r: Result) -> str:
    """Each class's mean loss as a horizontal bar, labelled with its share of the total loss
    (the MAX_CLASS_BARS classes with the largest loss_sum when there are more)."""
    rows = list(r.per_class)
    caption = f"loss_mean per class ({r.unit}), share of the total loss"
    if len(rows) > MAX_CLASS_BARS:
        rows = sorted(rows, key=lambda c: -c.loss_sum if math.isfinite(c.loss_sum) else -math.inf)
        rows = rows[:MAX_CLASS_BARS]
        caption += f" (the {MAX_CLASS_BARS} classes of largest loss_sum)"
    bar_h, gap, top, label_w, value_w = 16, 4, 28, 120, 110
    width = 420
    plot_w = width - label_w - value_w
    height = top + len(rows) * (bar_h + gap) + 8
    finite = [c.loss_mean for c in rows if math.isfinite(c.loss_mean)]
    most = max(finite, default=0.0)
    body = [_text(4, 16, caption, anchor="start")]
    for i, c in enumerate(rows):
        yb = top + i * (bar_h + gap)
        name = c.name if len(c.name) <= 18 else c.name[:17] + "…"
        body.append(_text(label_w - 6, yb + bar_h - 4, name, anchor="end"))
        value = c.loss_mean if math.isfinite(c.loss_mean) else (most if c.loss_mean > 0 else 0.0)
        w = plot_w * value / most if most > 0 else 0.0
        share = "-" if not math.isfinite(c.share) else f"{100 * c.share:.1f}%"
        tip = f"{c.name}: loss_mean {fmt(c.loss_mean)}, loss_sum {fmt(c.loss_sum)}, {share}"
        body.append(
            f'<rect class="bar" x="{label_w}" y="{yb}" width="{_n(w)}" height="{bar_h}" '
            f'fill="{ACCURACY}" data-loss-mean="{c.loss_mean!r}"><title>{_esc(tip)}</title>'
            "</rect>"
        )
        body.append(
            _text(label_w + w + 4, yb + bar_h - 4, f"{fmt(c.loss_mean, 4)}  {share}", "start")
        )
    return _svg(width, height, caption, body, "chart class-loss")


def intervals_svg(rows: Sequence[tuple[str, float, float, float]], unit: str) -> str:
    """Paired differences B - A with their intervals, one line each ((label, difference, low,
    high)), around a line at 0: an interval clear of it is a significant difference."""
    label_w, width, row_h, top = 140, 420, 22, 28
    plot_w = width - label_w - 16
    height = top + len(rows) * row_h + 24
    values = [v for _, d, lo, hi in rows for v in (d, lo, hi) if math.isfinite(v)]
    reach = max([abs(v) for v in values] + [1e-12])

    def x(v: float) -> float:
        return label_w + plot_w / 2 + (v / reach) * (plot_w / 2 - 4)

    caption = f"paired difference B - A ({unit} per row), with its interval"
    body = [_text(4, 16, caption, anchor="start")]
    body.append(
        f'<line class="zero" x1="{_n(x(0))}" y1="{top - 4}" x2="{_n(x(0))}" '
        f'y2="{top + len(rows) * row_h}" stroke="{INK}" stroke-dasharray="3 3"/>'
    )
    for i, (label, d, lo, hi) in enumerate(rows):
        yc = top + i * row_h + row_h / 2
        body.append(_text(label_w - 6, yc + 4, label, anchor="end"))
        if not (math.isfinite(d) and math.isfinite(lo) and math.isfinite(hi)):
            body.append(_text(x(0) + 6, yc + 4, "no interval (an infinite loss)", "start"))
            continue
        tip = f"{label}: B - A = {fmt(d)} ({fmt(lo)} .. {fmt(hi)})"
        body.append(
            f'<g class="interval" data-difference="{d!r}" data-low="{lo!r}" data-high="{hi!r}">'
            f"<title>{_esc(tip)}</title>"
            f'<line x1="{_n(x(lo))}" y1="{_n(yc)}" x2="{_n(x(hi))}" y2="{_n(yc)}" '
            f'stroke="{ACCURACY}" stroke-width="3"/>'
            f'<circle cx="{_n(x(d))}" cy="{_n(yc)}" r="4" fill="{DIAGONAL}"/></g>'
        )
    body.append(_text(x(-reach), height - 6, fmt(-reach, 3)))
    body.append(_text(x(0), height - 6, "0"))
    body.append(_text(x(reach), height - 6, fmt(reach, 3)))
    return _svg(width, height, caption, body, "chart intervals")
