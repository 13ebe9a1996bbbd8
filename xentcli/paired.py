"""Paired scoring for ``xent compare``: two prediction sets scored row by row in step, and the
bootstrap interval of their paired per-row loss difference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from xentcli.accumulate import Summary
from xentcli.bootstrap import PoissonBootstrap
from xentcli.config import COMPARE_LEVEL, LossConfig, MetricConfig, ReadConfig
from xentcli.errors import InputError
from xentcli.io import Chunk
from xentcli.io.parts import aligned_pairs
from xentcli.result import Result, finish
from xentcli.startup import Started, start


@dataclass(frozen=True)
class Comparison:
    """Two prediction sets on the same rows: each result and their paired difference."""

    a: Result
    b: Result
    n: int
    diff_mean: float  # mean over rows of loss_B - loss_A (weighted like the loss), in the unit
    level: float
    low: float
    high: float
    max_increase: str | None = None  # the --max-increase gate, as given ("2%")
    regressed: bool | None = None  # B's loss above A's by more than it allows

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
) -> Comparison:
    """Score A and B row by row in step; bootstrap the paired per-row loss difference."""
    metrics = metrics or MetricConfig()
    dataclasses.replace(metrics, ci=level).validate()  # the level is checked as --ci is
    with start(read_a, loss, metrics) as run_a, start(read_b, loss, metrics) as run_b:
        return _compare(run_a, run_b, loss, metrics, level)


def _compare(
    run_a: Started, run_b: Started, loss: LossConfig, metrics: MetricConfig, level: float
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
    sum_a, sum_b = Summary(plan_a.n_classes, metrics), Summary(plan_b.n_classes, metrics)
    boot = PoissonBootstrap(metrics.replicates, metrics.seed)
    diff_num = diff_den = 0.0
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
        sum_a.update(rows_a, key=pa_.row0)
        sum_b.update(rows_b, key=pb_.row0)
        sw = rows_a.sample_weight  # the same as B's (checked)
        with np.errstate(invalid="ignore"):  # inf - inf: the difference is not defined
            d = rows_b.losses.loss - rows_a.losses.loss
        den = np.ones(len(d)) if rows_a.losses.denom is None else rows_a.losses.denom
        if sw is not None:
            d, den = sw * d, sw * den
        diff_num += float(d.sum())
        diff_den += float(den.sum())
        boot.update(d, den, pa_.row0)
    if sum_a.n == 0:
        raise InputError(f"{ds_a.source}: no rows left to count")
    res_a = finish(sum_a, plan=plan_a, cfg=loss, source=ds_a.source)
    res_b = finish(sum_b, plan=plan_b, cfg=loss, source=ds_b.source)
    unit = loss.base.log
    lo, hi = boot.interval(level)
    return Comparison(
        res_a, res_b, sum_a.n, diff_num / diff_den / unit, level, lo / unit, hi / unit
    )


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
