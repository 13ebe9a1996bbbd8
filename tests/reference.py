"""Slow, obviously-correct reference formulas: one row at a time with the math module.

These are written from the formulas in SPEC.md, not from xentcli's code, and are what the
kernels and the end-to-end results are checked against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def log_softmax_row(z: Sequence[float]) -> list[float]:
    m = max(z)
    lse = m + math.log(math.fsum(math.exp(v - m) for v in z))
    return [v - lse for v in z]


def clip(p: float, eps: float) -> float:
    return min(max(p, eps), 1.0 - eps) if eps > 0 else p


def safe_log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


def ce_row_label(
    scores: Sequence[float],
    y: int,
    *,
    logits: bool,
    eps: float = 0.0,
    w: Sequence[float] | None = None,
    a: float = 0.0,
) -> float:
    """torch cross_entropy, reduction='none', for one row with a class index."""
    c = len(scores)
    logp = log_softmax_row(scores) if logits else [safe_log(clip(p, eps)) for p in scores]
    w = w or [1.0] * c
    nll = -logp[y]
    smooth = math.fsum(-w[k] * logp[k] for k in range(c)) if a else 0.0
    return (1 - a) * w[y] * nll + (a / c) * smooth


def ce_row_target(
    scores: Sequence[float],
    t: Sequence[float],
    *,
    logits: bool,
    eps: float = 0.0,
    w: Sequence[float] | None = None,
    a: float = 0.0,
) -> float:
    c = len(scores)
    logp = log_softmax_row(scores) if logits else [safe_log(clip(p, eps)) for p in scores]
    w = w or [1.0] * c
    total = 0.0
    for k in range(c):
        yk = t[k] * (1 - a) + a / c
        if yk:
            total -= w[k] * yk * logp[k]
    return total


def bce(
    s: float, y: float, *, logits: bool, eps: float = 0.0, pw: float = 1.0, a: float = 0.0
) -> float:
    """-(pw y' log p + (1 - y') log(1 - p)), y' = y (1 - a) + a / 2."""
    yy = y * (1 - a) + a / 2
    if logits:
        # log sigma(z) and log(1 - sigma(z)) computed stably by hand
        log_p = -math.log1p(math.exp(-s)) if s >= 0 else s - math.log1p(math.exp(s))
        log_q = -s - math.log1p(math.exp(-s)) if s >= 0 else -math.log1p(math.exp(s))
    else:
        log_p = safe_log(clip(s, eps))
        log_q = safe_log(clip(1.0 - s, eps))
    out = 0.0
    if yy:
        out -= pw * yy * log_p
    if 1 - yy:
        out -= (1 - yy) * log_q
    return out
