"""The mergeable summary: float64 sums per class and in total, folded chunk by chunk.

``Summary.update`` adds one chunk's per-row values; ``Summary.merge`` adds another summary, so
chunks can be folded in any order by one thread, a pool or a distributed engine. Sums are kept
with Neumaier compensation so 10^9 rows do not drift. Calibration is kept as per-bin sums and
the worst rows as a bounded top-K, never by keeping rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

import numpy as np

from xentcli.bootstrap import PoissonBootstrap
from xentcli.config import MetricConfig
from xentcli.kernels import RowLosses, RowStats

# Per-row loss histogram (for --plot): fixed log-spaced edges in nats, so any two summaries
# share them: [0, 1e-4), then four bins a decade up to 100, then [100, inf).
LOSS_EDGES = np.concatenate([[0.0], 10.0 ** (np.arange(-16, 9) / 4.0), [np.inf]])


class CompensatedSum:
    """A float64 sum (scalar or vector) with Neumaier's running compensation.

    Scalars are kept as Python floats: a chunk adds a dozen of them, and float arithmetic
    costs a fraction of NumPy's per-call overhead.
    """

    __slots__ = ("comp", "total")

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.total: Any = 0.0 if shape == () else np.zeros(shape, dtype=np.float64)
        self.comp: Any = 0.0 if shape == () else np.zeros(shape, dtype=np.float64)

    def add(self, x: np.ndarray | float) -> None:
        if isinstance(self.total, float):
            x = float(x)
            t = self.total + x
            err = (self.total - t) + x if abs(self.total) >= abs(x) else (x - t) + self.total
            if math.isfinite(err):
                self.comp += err
            self.total = t
            return
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
    def value(self) -> Any:
        if isinstance(self.total, float):
            return self.total + self.comp if math.isfinite(self.total) else self.total
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
    stats: RowStats | None = None
    rows: np.ndarray | None = None  # input row numbers (0-based), for --worst
    y_true: np.ndarray | None = None  # class index, or (n, C) bool for multi-label
    y_pred: np.ndarray | None = None
    ids: Any = None


@dataclass
class WorstRow:
    row: int  # 0-based input row
    loss: float  # nats
    y_true: Any
    y_pred: Any
    p_true: float | None
    id: Any = None


@dataclass
class WorstRows:
    """The k rows with the largest loss, by a bounded selection per chunk (ties: earlier row)."""

    k: int
    loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    row: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    items: list[WorstRow] = field(default_factory=list)

    def update(self, rows: RowValues) -> None:
        loss = rows.losses.loss
        assert rows.rows is not None
        take = _top_k(loss, rows.rows, self.k)
        p_true = rows.stats.p_true if rows.stats is not None else None
        ids = _pick(rows.ids, take)
        new = [
            WorstRow(
                int(rows.rows[i]),
                float(loss[i]),
                _value(rows.y_true, i),
                _value(rows.y_pred, i),
                None if p_true is None else float(p_true[i]),
                None if ids is None else ids[j],
            )
            for j, i in enumerate(take)
        ]
        self._keep(new)

    def _keep(self, new: list[WorstRow]) -> None:
        items = self.items + new
        items.sort(key=lambda w: (-_order(w.loss), w.row))
        self.items = items[: self.k]

    def merge(self, other: WorstRows) -> None:
        self._keep(other.items)


def _pick(ids: Any, idx: np.ndarray) -> list[Any] | None:
    if ids is None:
        return None
    if isinstance(ids, np.ndarray):
        return list(ids[idx].tolist())
    from xentcli.io.arrowcols import from_numpy

    return list(ids.take(from_numpy(idx.astype(np.int64))).to_pylist())


def _order(loss: float) -> float:
    return math.inf if math.isnan(loss) else loss


def _value(y: np.ndarray | None, i: int) -> Any:
    if y is None:
        return None
    v = y[i]
    return [int(j) for j in np.flatnonzero(v)] if np.ndim(v) else int(v)


def _top_k(loss: np.ndarray, row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest losses (ties: smaller row first), largest first."""
    n = len(loss)
    if n > k:
        cand = np.argpartition(-loss, k - 1)[:k]
        kth = loss[cand].min()
        cand = np.flatnonzero(loss >= kth)  # every tie at the boundary, then order exactly
    else:
        cand = np.arange(n)
    order = np.lexsort((row[cand], -loss[cand]))
    return cand[order][:k]


@dataclass
class Summary:
    """Sums over every chunk seen so far."""

    n_classes: int
    spec: MetricConfig = field(default_factory=MetricConfig)
    n: int = 0
    clipped: int = 0
    loss_sum: CompensatedSum = field(default_factory=CompensatedSum)
    weight_sum: CompensatedSum = field(default_factory=CompensatedSum)
    sample_weight_sum: CompensatedSum = field(default_factory=CompensatedSum)
    correct: CompensatedSum = field(default_factory=CompensatedSum)
    exact: CompensatedSum = field(default_factory=CompensatedSum)
    brier: CompensatedSum = field(default_factory=CompensatedSum)
    entropy: CompensatedSum = field(default_factory=CompensatedSum)
    top_k: CompensatedSum = field(default_factory=CompensatedSum)
    target_entropy: CompensatedSum = field(default_factory=CompensatedSum)
    has_target_entropy: bool = False
    class_loss: CompensatedSum = field(init=False)
    class_support: CompensatedSum = field(init=False)
    bin_weight: CompensatedSum = field(init=False)
    bin_confidence: CompensatedSum = field(init=False)
    bin_hits: CompensatedSum = field(init=False)
    loss_hist: np.ndarray = field(init=False)
    worst: WorstRows | None = field(init=False)
    boot: PoissonBootstrap | None = field(init=False)

    def __post_init__(self) -> None:
        self.class_loss = CompensatedSum((self.n_classes,))
        self.class_support = CompensatedSum((self.n_classes,))
        bins = self.spec.bins
        self.bin_weight = CompensatedSum((bins,))
        self.bin_confidence = CompensatedSum((bins,))
        self.bin_hits = CompensatedSum((bins,))
        self.loss_hist = np.zeros(len(LOSS_EDGES) - 1, dtype=np.int64)
        self.worst = WorstRows(self.spec.worst) if self.spec.worst > 0 else None
        self.boot = (
            PoissonBootstrap(self.spec.replicates, self.spec.seed)
            if self.spec.ci is not None
            else None
        )

    def update(self, rows: RowValues, key: int = 0) -> None:
        """Fold in one chunk; ``key`` (its first row) seeds the chunk's bootstrap draws.

        Sums that overflow float64 become infinite quietly: the finished result refuses them
        (see :func:`xentcli.fold.finish_all`) rather than warn on stderr mid-run."""
        with np.errstate(over="ignore"):
            self._update(rows, key)

    def _update(self, rows: RowValues, key: int) -> None:
        n = len(rows.losses.loss)
        if n == 0:
            return
        sw = rows.sample_weight
        if sw is not None and not (sw > 0).all():
            # A zero-weight row still counts in n but adds nothing (not even 0 * inf = nan).
            keep = sw > 0
            self.n += int(n - keep.sum())
            rows = _take(rows, keep)
            sw = rows.sample_weight
            n = len(rows.losses.loss)
            if n == 0:
                return
        self.n += n
        lo = rows.losses
        self.clipped += int(np.count_nonzero(lo.clipped))
        wloss = lo.loss if sw is None else sw * lo.loss
        self.loss_sum.add(wloss.sum())
        if lo.denom is None:
            self.weight_sum.add(float(n) if sw is None else sw.sum())
        else:
            self.weight_sum.add(_wsum(lo.denom, sw))
        self.sample_weight_sum.add(float(n) if sw is None else sw.sum())
        self.correct.add(_wsum(rows.correct, sw))
        if rows.exact is not None:
            self.exact.add(_wsum(rows.exact, sw))
        c = self.n_classes
        if lo.class_terms is not None:
            self.class_loss.add(_column_sums(lo.class_terms, sw))
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
        if rows.stats is not None:
            self._update_stats(rows.stats, sw)
        if self.spec.histogram:
            idx = np.searchsorted(LOSS_EDGES, lo.loss, side="right") - 1
            self.loss_hist += np.bincount(
                np.clip(idx, 0, len(self.loss_hist) - 1), minlength=len(self.loss_hist)
            )
        if self.worst is not None:
            self.worst.update(rows)
        if self.boot is not None:
            denom = np.ones(n) if lo.denom is None else lo.denom
            self.boot.update(wloss, denom if sw is None else sw * denom, key)

    def _update_stats(self, st: RowStats, sw: np.ndarray | None) -> None:
        self.brier.add(_wsum(st.brier, sw))
        self.entropy.add(_wsum(st.entropy, sw))
        if st.top_k is not None:
            self.top_k.add(_wsum(st.top_k, sw))
        if st.target_entropy is not None:
            self.has_target_entropy = True
            self.target_entropy.add(_wsum(st.target_entropy, sw))
        bins = self.spec.bins
        b = calibration_bin(st.confidence, bins)
        w = None if sw is None else (np.repeat(sw, st.per_row) if st.per_row > 1 else sw)
        if w is None and st.hit.dtype == bool:
            # counts per (bin, right or wrong) in one unweighted bincount
            counts = np.bincount(2 * b + st.hit, minlength=2 * bins).reshape(bins, 2)
            self.bin_weight.add(counts.sum(axis=1).astype(np.float64))
            self.bin_hits.add(counts[:, 1].astype(np.float64))
        else:
            self.bin_weight.add(np.bincount(b, weights=w, minlength=bins).astype(np.float64))
            hw = st.hit if w is None else w * st.hit
            self.bin_hits.add(np.bincount(b, weights=hw, minlength=bins))
        cw = st.confidence if w is None else w * st.confidence
        self.bin_confidence.add(np.bincount(b, weights=cw, minlength=bins))

    def merge(self, other: Summary) -> Summary:
        """Fold ``other`` into this summary (associative and commutative up to rounding)."""
        if other.n_classes != self.n_classes or other.spec != self.spec:
            raise ValueError("cannot merge summaries of different shapes")
        self.n += other.n
        self.clipped += other.clipped
        self.has_target_entropy |= other.has_target_entropy
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, CompensatedSum):
                mine.merge(getattr(other, f.name))
        self.loss_hist += other.loss_hist
        if self.worst is not None and other.worst is not None:
            self.worst.merge(other.worst)
        if self.boot is not None and other.boot is not None:
            self.boot.merge(other.boot)
        return self


def calibration_bin(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins over [0, 1], each closed on the left, the last also closed at 1.0
    (torchmetrics' bucketize(right=True) - 1, clamped).

    floor(conf * B) is that bin except within rounding of an edge, where the edges as
    ``np.linspace`` computes them decide (searchsorted on those few values only).
    """
    x = confidence * bins
    idx = x.astype(np.intp)  # floor: confidence >= 0
    frac = x - idx
    near = (frac < 1e-9) | (frac > 1.0 - 1e-9)
    if near.any():
        edges = np.linspace(0.0, 1.0, bins + 1)
        idx[near] = np.searchsorted(edges, confidence[near], side="right") - 1
    np.clip(idx, 0, bins - 1, out=idx)
    return idx


def _wsum(values: np.ndarray, sw: np.ndarray | None) -> float:
    return float(values.sum() if sw is None else (sw * values).sum())


def _column_sums(mat: np.ndarray, sw: np.ndarray | None) -> np.ndarray:
    if sw is None:
        return np.asarray(mat.sum(axis=0), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(sw @ mat, dtype=np.float64)


def take_rows(rows: RowValues, keep: np.ndarray) -> RowValues:
    """The same chunk restricted to some rows: ``keep`` is a boolean mask or row indices."""
    return _take(rows, keep)


def _take(rows: RowValues, keep: np.ndarray) -> RowValues:
    """Every per-row field of the chunk's values (and of its losses and statistics), at the
    kept rows: taken field by field, so a new metric's field is sliced with no list to edit."""
    is_mask = keep.dtype == bool

    def sel(a: Any, keep: np.ndarray = keep) -> Any:
        if isinstance(a, np.ndarray):
            return a[keep]
        if is_mask:  # a pyarrow Array of ids
            return a.filter(keep)
        from xentcli.io.arrowcols import from_numpy

        return a.take(from_numpy(np.asarray(keep, dtype=np.int64)))

    def taken(obj: Any, per_entry: np.ndarray | None = None) -> Any:
        changes: dict[str, Any] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if value is None or isinstance(value, (bool, int, float)):
                continue
            if is_dataclass(value):
                changes[f.name] = taken(value, _entries(value, keep, is_mask))
            elif f.name in getattr(obj, "PER_ENTRY", ()):
                assert per_entry is not None
                changes[f.name] = sel(value, per_entry)
            else:
                changes[f.name] = sel(value)
        return replace(obj, **changes)

    return taken(rows)


def _entries(stats: Any, keep: np.ndarray, is_mask: bool) -> np.ndarray | None:
    """The entries of kept rows, for fields with ``per_row`` entries a row."""
    per_row = getattr(stats, "per_row", 1)
    if per_row == 1:
        return keep
    if is_mask:
        return np.repeat(keep, per_row)
    return (keep[:, None] * per_row + np.arange(per_row)).reshape(-1)
