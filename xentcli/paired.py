"""Paired scoring for ``xent compare``: two prediction sets scored row by row in step, and the
bootstrap interval of their paired per-row loss difference."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from xentcli.accumulate import RowValues, Summary, take_rows
from xentcli.bootstrap import PoissonBootstrap
from xentcli.config import COMPARE_LEVEL, LossConfig, MetricConfig, ReadConfig, TaskPlan
from xentcli.errors import InputError
from xentcli.fold import Grouper, ordered_slices
from xentcli.io import Chunk
from xentcli.io.parts import aligned_pairs
from xentcli.result import Result, finish
from xentcli.startup import Started, start
from xentcli.textsafe import shown


@dataclass(frozen=True)
class Comparison:
    """Two prediction sets on the same rows: each result and their paired difference (and,
    under --group-by, one comparison per slice, with its values)."""

    a: Result
    b: Result
    n: int
    diff_mean: float  # mean over rows of loss_B - loss_A (weighted like the loss), in the unit
    level: float
    low: float
    high: float
    max_increase: str | None = None  # the --max-increase gate, as given ("2%")
    regressed: bool | None = None  # B's loss above A's by more than it allows
    groups: tuple[tuple[dict[str, Any], Comparison], ...] | None = None  # --group-by slices

    @property
    def significant(self) -> bool:
        """The interval of the paired difference excludes 0."""
        return bool(self.low > 0 or self.high < 0)


def compare(
    read_a: ReadConfig,
    read_b: ReadConfig,
    loss: LossConfig,
    metrics: MetricConfig | None = None,
    level: float = COMPARE_LEVEL,
    progress: Any = None,
) -> Comparison:
    """Score A and B row by row in step; bootstrap the paired per-row loss difference (in
    total, and per slice of the --group-by columns, which both files must hold alike)."""
    metrics = metrics or MetricConfig()
    dataclasses.replace(metrics, ci=level).validate()  # the level is checked as --ci is
    with start(read_a, loss, metrics) as run_a, start(read_b, loss, metrics) as run_b:
        result = _compare(run_a, run_b, loss, metrics, level, progress)
    if metrics.fit_temperature:  # each model's own T*, over all the rows
        a = _fit_temperature(read_a, loss, metrics, result.a)
        b = _fit_temperature(read_b, loss, metrics, result.b)
        result = dataclasses.replace(result, a=a, b=b)
    return result


def _fit_temperature(
    read: ReadConfig, loss: LossConfig, metrics: MetricConfig, result: Result
) -> Result:
    from xentcli.evaluate import read_again
    from xentcli.result import temperature_scaling
    from xentcli.temperature import fit, fold_temperature

    def run_pass(requests: Any) -> Any:
        only = {k: v for k, v in requests.items() if k is None}
        with start(read_again(read), loss, metrics) as again:
            return fold_temperature(again.chunks, again.scorer, (), only, metrics.bins)

    found = fit(run_pass, {None: result.weight_sum})[None]
    scaling = temperature_scaling(
        found,
        loss_mean_nats=result.loss_mean * loss.base.log,
        logits=loss.logits,
        to_unit=loss.base.log,
    )
    return dataclasses.replace(result, temperature_scaling=scaling)


class _Paired:
    """The sums of one comparison (the whole input, or one slice): each side's summary, the
    paired difference's numerator and denominator, and its bootstrap."""

    def __init__(self, n_classes: int, metrics: MetricConfig, level: float) -> None:
        self.level = level
        self.a = Summary(n_classes, metrics)
        self.b = Summary(n_classes, metrics)
        self.boot = PoissonBootstrap(metrics.replicates, metrics.seed)
        self.num = 0.0
        self.den = 0.0

    def update(
        self, rows_a: RowValues, rows_b: RowValues, d: np.ndarray, den: np.ndarray, key: int
    ) -> None:
        self.a.update(rows_a, key=key)
        self.b.update(rows_b, key=key)
        self.num += float(d.sum())
        self.den += float(den.sum())
        self.boot.update(d, den, key)

    def finish(
        self, plan_a: TaskPlan, plan_b: TaskPlan, loss: LossConfig, sources: tuple[str, str]
    ) -> Comparison:
        unit = loss.base.log
        res_a = finish(self.a, plan=plan_a, cfg=loss, source=sources[0])
        res_b = finish(self.b, plan=plan_b, cfg=loss, source=sources[1])
        lo, hi = self.boot.interval(self.level)
        mean = self.num / self.den / unit if self.den > 0 else math.nan
        return Comparison(res_a, res_b, self.a.n, mean, self.level, lo / unit, hi / unit)


def _compare(
    run_a: Started,
    run_b: Started,
    loss: LossConfig,
    metrics: MetricConfig,
    level: float,
    progress: Any = None,
) -> Comparison:
    ds_a, ds_b = run_a.ds, run_b.ds
    plan_a, plan_b = run_a.plan, run_b.plan
    if (plan_a.task, plan_a.classes) != (plan_b.task, plan_b.classes):
        raise InputError(
            f"{ds_a.source} is {plan_a.task.value} over {', '.join(plan_a.classes)} but "
            f"{ds_b.source} is {plan_b.task.value} over {', '.join(plan_b.classes)}; "
            "compare needs the same classes"
        )
    scorer_a, scorer_b = run_a.scorer, run_b.scorer
    total = _Paired(plan_a.n_classes, metrics, level)
    slices: dict[tuple[Any, ...], _Paired] = {}
    grouper = Grouper(ds_a.group_by) if ds_a.group_by else None
    pairs = aligned_pairs(run_a.chunks, run_b.chunks, ds_a.chunk_rows, ds_a.source, ds_b.source)
    for pa_, pb_ in pairs:
        rows_a, scored_a = scorer_a.score(pa_)
        rows_b, scored_b = scorer_b.score(pb_)
        differs = scored_a.y_true != scored_b.y_true
        if differs.ndim > 1:
            differs = differs.any(axis=1)
        if differs.any():
            bad = np.flatnonzero(differs)
            raise InputError(
                f"{ds_a.source} and {ds_b.source} disagree on the label of row "
                f"{pa_.row0 + int(bad[0]) + 1}; compare needs both scored against the same labels"
            )
        _same_weights(pa_, pb_, ds_a.source, ds_b.source)
        sw = rows_a.sample_weight  # the same as B's (checked)
        with np.errstate(invalid="ignore"):  # inf - inf: the difference is not defined
            d = rows_b.losses.loss - rows_a.losses.loss
        den = np.ones(len(d)) if rows_a.losses.denom is None else rows_a.losses.denom
        if sw is not None:
            d, den = sw * d, sw * den
        total.update(rows_a, rows_b, d, den, pa_.row0)
        if grouper is not None:
            codes = _same_groups(grouper, pa_, pb_, ds_a.source, ds_b.source)
            for key, idx in grouper.slices(pa_, scored_a.counted, codes):
                if key not in slices:
                    slices[key] = _Paired(plan_a.n_classes, metrics, level)
                slices[key].update(
                    take_rows(rows_a, idx), take_rows(rows_b, idx), d[idx], den[idx], pa_.row0
                )
        if progress is not None:
            progress.advance(pa_.n, ds_a.num_rows)
            progress.update_rate()
    if total.a.n == 0:
        raise InputError(f"{ds_a.source}: no rows left to count")
    sources = (ds_a.source, ds_b.source)
    result = total.finish(plan_a, plan_b, loss, sources)
    if grouper is None:
        return result
    groups = tuple(
        (group, slices[key].finish(plan_a, plan_b, loss, sources))
        for group, key in ordered_slices(ds_a.group_by, slices)
    )
    return dataclasses.replace(result, groups=groups)


def _same_groups(
    grouper: Grouper, part_a: Chunk, part_b: Chunk, source_a: str, source_b: str
) -> np.ndarray:
    """The --group-by columns are read from both files: each row must fall in the same slice
    in both (a row of A's slice "x" that B puts in "y" is not the same row). Returns the rows'
    slice codes."""
    codes_a, codes_b = grouper.codes(part_a), grouper.codes(part_b)
    differs = np.flatnonzero(codes_a != codes_b)
    if differs.size:
        r = int(differs[0])
        a, b = grouper.keys[int(codes_a[r])], grouper.keys[int(codes_b[r])]
        shown = ", ".join(grouper.columns)
        raise InputError(
            f"{source_a} and {source_b} disagree on the --group-by {shown} of row "
            f"{part_a.row0 + r + 1} ({_key_text(a)} and {_key_text(b)}); compare needs the "
            "same rows in both files"
        )
    return codes_a


def _key_text(key: tuple[Any, ...]) -> str:
    return ", ".join(shown(str(v)) for v in key)


def _same_weights(part_a: Chunk, part_b: Chunk, source_a: str, source_b: str) -> None:
    """The paired difference weighs each row once: both files must weigh it alike (B's
    weights were ignored there while B's own loss used them)."""
    wa, wb = part_a.weights, part_b.weights
    if wa is None and wb is None:
        return
    if wa is None or wb is None:
        has, lacks = (source_a, source_b) if wb is None else (source_b, source_a)
        raise InputError(
            f"{has} has sample weights but {lacks} has none; compare needs both "
            "weighted alike (--weight-col names a column of both)"
        )
    wa, wb = np.asarray(wa, dtype=np.float64), np.asarray(wb, dtype=np.float64)
    differs = np.flatnonzero(wa != wb)
    if differs.size:
        r = int(differs[0])
        raise InputError(
            f"{source_a} and {source_b} disagree on the sample weight of row "
            f"{part_a.row0 + r + 1} ({wa[r]:g} and {wb[r]:g}); compare needs both weighted alike"
        )
