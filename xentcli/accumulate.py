"""The mergeable summary: float64 sums per class and in total, folded chunk by chunk.

``Summary.update`` adds one chunk's per-row values; ``Summary.merge`` adds another summary, so
chunks can be folded in any order by one thread, a pool or a distributed engine. Sums are kept
with Neumaier compensation so 10^9 rows do not drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xentcli.kernels import RowLosses


class CompensatedSum:
    """A float64 sum (scalar or vector) with Neumaier's running compensation."""

    __slots__ = ("comp", "total")

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.total = np.zeros(shape, dtype=np.float64)
        self.comp = np.zeros(shape, dtype=np.float64)

    def add(self, x: np.ndarray | float) -> None:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            t = self.total + x
            big = np.abs(self.total) >= np.abs(x)
            err = np.where(big, (self.total - t) + x, (x - t) + self.total)
            self.comp = self.comp + np.where(np.isfinite(err), err, 0.0)
        self.total = t

    def merge(self, other: CompensatedSum) -> None:
        self.add(other.total)
        self.comp = self.comp + other.comp

    @property
    def value(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(self.total), self.total + self.comp, self.total)


@dataclass
class RowValues:
    """One chunk's per-row inputs to the summary (only counted rows: ignored rows are gone)."""

    losses: RowLosses
    sample_weight: np.ndarray | None  # None: every row weighs 1
    group: np.ndarray | None  # class index per row, where per-class sums group rows by label
    support: np.ndarray | None  # (n, C) per-class support terms where there is no group
    correct: np.ndarray  # (n,) fraction of the row predicted right (multi-label: of its labels)
    exact: np.ndarray | None = None  # (n,) multi-label: every label right


@dataclass
class Summary:
    """Sums over every chunk seen so far."""

    n_classes: int
    n: int = 0
    clipped: int = 0
    loss_sum: CompensatedSum = field(default_factory=CompensatedSum)
    weight_sum: CompensatedSum = field(default_factory=CompensatedSum)
    sample_weight_sum: CompensatedSum = field(default_factory=CompensatedSum)
    correct: CompensatedSum = field(default_factory=CompensatedSum)
    exact: CompensatedSum = field(default_factory=CompensatedSum)
    class_loss: CompensatedSum = field(init=False)
    class_support: CompensatedSum = field(init=False)

    def __post_init__(self) -> None:
        self.class_loss = CompensatedSum((self.n_classes,))
        self.class_support = CompensatedSum((self.n_classes,))

    def update(self, rows: RowValues) -> None:
        loss = rows.losses.loss
        n = len(loss)
        if n == 0:
            return
        sw = rows.sample_weight
        if sw is not None and not (sw > 0).all():
            # A zero-weight row still counts in n but adds nothing (not even 0 * inf = nan).
            self.n += int((sw <= 0).sum())
            keep = sw > 0
            rows = _take(rows, keep)
            loss, sw = rows.losses.loss, rows.sample_weight
            n = len(loss)
            if n == 0:
                return
        self.n += n
        self.clipped += int(np.count_nonzero(rows.losses.clipped))
        denom = rows.losses.denom
        wloss = loss if sw is None else sw * loss
        self.loss_sum.add(wloss.sum())
        if denom is None:
            self.weight_sum.add(float(n) if sw is None else sw.sum())
        else:
            self.weight_sum.add(denom.sum() if sw is None else (sw * denom).sum())
        self.sample_weight_sum.add(float(n) if sw is None else sw.sum())
        self.correct.add(rows.correct.sum() if sw is None else (sw * rows.correct).sum())
        if rows.exact is not None:
            self.exact.add(rows.exact.sum() if sw is None else (sw * rows.exact).sum())
        c = self.n_classes
        terms = rows.losses.class_terms
        if terms is not None:
            self.class_loss.add(_column_sums(terms, sw))
        else:
            assert rows.group is not None
            self.class_loss.add(np.bincount(rows.group, weights=wloss, minlength=c))
        if rows.support is not None:
            self.class_support.add(_column_sums(rows.support, sw))
        else:
            assert rows.group is not None
            self.class_support.add(
                np.bincount(rows.group, weights=sw, minlength=c).astype(np.float64)
            )

    def merge(self, other: Summary) -> Summary:
        """Fold ``other`` into this summary (associative and commutative up to rounding)."""
        if other.n_classes != self.n_classes:
            raise ValueError("cannot merge summaries of different class counts")
        self.n += other.n
        self.clipped += other.clipped
        for name in ("loss_sum", "weight_sum", "sample_weight_sum", "correct", "exact",
                     "class_loss", "class_support"):
            getattr(self, name).merge(getattr(other, name))
        return self


def _column_sums(mat: np.ndarray, sw: np.ndarray | None) -> np.ndarray:
    if sw is None:
        return np.asarray(mat.sum(axis=0), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(sw @ mat, dtype=np.float64)


def _take(rows: RowValues, keep: np.ndarray) -> RowValues:
    lo = rows.losses

    def sel(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[keep]

    losses = RowLosses(lo.loss[keep], sel(lo.denom), sel(lo.class_terms), lo.clipped[keep])
    return RowValues(
        losses,
        sel(rows.sample_weight),
        sel(rows.group),
        sel(rows.support),
        rows.correct[keep],
        sel(rows.exact),
    )
