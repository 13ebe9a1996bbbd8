"""Numbers as reports write them: strict JSON has no NaN or infinity, so a non-finite figure
(an infinite loss under ``--clip-eps 0``, an undefined ratio) is written as null."""

from __future__ import annotations

import math


def finite_or_none(x: float) -> float | None:
    """``x`` as a float, or None where it is not finite (JSON's null)."""
    return float(x) if math.isfinite(x) else None
