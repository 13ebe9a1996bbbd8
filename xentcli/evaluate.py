"""Drive the chunks of a dataset through the kernels into the accumulator.

``evaluate`` opens the inputs, settles the task and the class names from the first chunk,
then for every chunk: checks the values, computes per-row losses, folds them into the
:class:`~xentcli.accumulate.Summary`, and hands per-row values to an optional row sink
(``--per-sample``). Decoding of the next chunk runs in a background thread while this one is
scored.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from xentcli import kernels
from xentcli.accumulate import RowValues, Summary, take_rows
from xentcli.config import (
    LabelReduction,
    LossConfig,
    MetricConfig,
    ReadConfig,
    Task,
    TaskPlan,
)
from xentcli.errors import InputError, UsageError, where
from xentcli.io import Dataset, Part, open_dataset
from xentcli.result import Result, finish
from xentcli.validate import LabelEncoder, check_scores, check_targets, check_weights


class RowSink(Protocol):
    """Receives every row's values in input order (the ``--per-sample`` writer)."""

    def start(self, plan: TaskPlan, id_name: str | None) -> None: ...

    def write(self, rows: ScoredRows) -> None: ...


@dataclass
class ScoredRows:
    """Per-row output of one chunk, for every input row (ignored rows have NaN loss)."""

    loss: np.ndarray
    y_true: np.ndarray  # class index (-1: ignored); multi-label: (n, C) bool
    y_pred: np.ndarray  # class index; multi-label: (n, C) bool
    ids: Any = None
    counted: np.ndarray | None = None  # which rows count (None: all)


def check_options(loss: LossConfig) -> None:
    """Option values that are wrong whatever the data."""
    if loss.logits and loss.renormalize:
        raise UsageError("--renormalize is for probabilities; it cannot go with --logits")
    if not 0.0 <= loss.label_smoothing <= 1.0:  # torch's range: 1 is the uniform target
        raise UsageError(f"--label-smoothing {loss.label_smoothing}: must be in [0, 1]")
    if loss.clip_eps is not None and not 0.0 <= loss.clip_eps < 0.5:
        raise UsageError(f"--clip-eps {loss.clip_eps}: must be in [0, 0.5)")
    if not loss.sum_tol >= 0:
        raise UsageError(f"--sum-tol {loss.sum_tol}: must be >= 0")
    for name, values in (
        ("--class-weights", loss.class_weights),
        ("--pos-weight", loss.pos_weight),
    ):
        if values is not None and not all(np.isfinite(v) and v >= 0 for v in values):
            raise UsageError(f"{name}: weights must be finite numbers >= 0")


MAX_REPLICATES = 100_000  # each chunk draws (replicates x blocks) Poisson weights


def check_metric_options(metrics: MetricConfig) -> None:
    if metrics.top_k is not None and metrics.top_k < 1:
        raise UsageError(f"--top-k {metrics.top_k}: must be >= 1")
    if metrics.bins < 1:
        raise UsageError(f"--bins {metrics.bins}: must be >= 1")
    if metrics.worst < 0:
        raise UsageError(f"--worst {metrics.worst}: must be >= 0")
    if metrics.ci is not None and not 0.0 < metrics.ci < 1.0:
        raise UsageError(f"--ci {metrics.ci}: a confidence level in (0, 1), e.g. 0.95")
    if not 10 <= metrics.replicates <= MAX_REPLICATES:
        raise UsageError(f"--replicates {metrics.replicates}: must be in 10..{MAX_REPLICATES}")
    if metrics.seed < 0:
        raise UsageError(f"--seed {metrics.seed}: must be >= 0")


def _default_names(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n))


def plan_task(
    ds: Dataset, loss: LossConfig, first: Part, class_names: tuple[str, ...] | None
) -> TaskPlan:
    """Settle the task (``--task auto`` looks at the first chunk) and the class names."""
    width = first.arrays["scores"].shape[1]
    targets = first.arrays.get("targets")
    if (
        targets is not None
        and targets.shape[1] != width
        and not (width == 1 and targets.shape[1] == 1)
    ):
        raise InputError(
            f"{ds.source}: {width} score columns but {targets.shape[1]} target columns; "
            "give one target column per score column"
        )
    task = loss.task
    if task is Task.auto:
        if width == 1:
            task = Task.binary
        elif targets is None:
            task = Task.multiclass
        else:
            t = np.asarray(targets, dtype=np.float64)
            sums_one = bool(np.all(np.abs(t.sum(axis=1) - 1.0) <= loss.sum_tol))
            task = Task.multiclass if sums_one else Task.multilabel
    if task is Task.binary and width != 1:
        raise UsageError(
            f"--task binary needs one score column (P(positive) or a logit); {ds.source} has "
            f"{width}; with one column per class use --task multiclass"
        )
    if task is Task.multiclass and width < 2:
        raise UsageError(
            f"{ds.source}: one score column is a binary problem; multiclass needs a column "
            "per class (or pass --task binary)"
        )
    if loss.renormalize and task is not Task.multiclass:
        raise UsageError(
            f"--renormalize divides a multiclass row by its sum; the {task.value} scores of "
            f"{ds.source} are each a probability of their own (drop --renormalize)"
        )
    if task is Task.multilabel and targets is None:
        raise UsageError(
            "--task multilabel needs one target column per label: pass --target-cols "
            "(or a 2-D labels array)"
        )

    if task is Task.binary:
        classes = class_names or ("0", "1")
        if len(classes) != 2:
            raise UsageError(
                f"--class-names gives {len(classes)} names; a binary problem has two (NEG,POS)"
            )
    else:
        classes = class_names or ds.column_names or _default_names(width)
        if len(classes) != width:
            raise UsageError(
                f"--class-names gives {len(classes)} names but there are {width} score columns"
            )
    if len(set(classes)) != len(classes):
        raise UsageError(f"class names must be unique: {', '.join(classes)}")

    class_weight = None
    if loss.class_weights is not None:
        if task is not Task.multiclass:
            raise UsageError(
                "--class-weights is for multiclass; use --pos-weight for binary and multi-label"
            )
        if len(loss.class_weights) != width:
            raise UsageError(
                f"--class-weights gives {len(loss.class_weights)} weights for {width} classes"
            )
        class_weight = np.asarray(loss.class_weights, dtype=np.float64)
    pos_weight = None
    if loss.pos_weight is not None:
        if task is Task.multiclass:
            raise UsageError(
                "--pos-weight is for binary and multi-label; use --class-weights for multiclass"
            )
        if len(loss.pos_weight) not in (1, width):
            raise UsageError(
                f"--pos-weight gives {len(loss.pos_weight)} weights; give one, or one per "
                f"label column ({width})"
            )
        pos_weight = np.asarray(loss.pos_weight, dtype=np.float64)
    uses_targets = targets is not None
    if loss.ignore_index is not None and uses_targets:
        raise UsageError("--ignore-index applies to class-index labels, not to target columns")

    dtype = ds.score_dtype
    eps = loss.clip_eps
    if eps is None:
        eps = float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)
    return TaskPlan(task, tuple(classes), uses_targets, eps, class_weight, pos_weight)


class ChunkScorer:
    """Scores one part after another under a fixed plan."""

    def __init__(
        self,
        ds: Dataset,
        read: ReadConfig,
        loss: LossConfig,
        plan: TaskPlan,
        metrics: MetricConfig | None = None,
    ) -> None:
        self.ds = ds
        self.read = read
        self.metrics = metrics or MetricConfig()
        self.loss = loss
        self.plan = plan
        self.encoder = LabelEncoder(
            plan.classes, ds.label_where or ds.source, binary=plan.task is Task.binary
        )

    def _score_column(self, j: int) -> str:
        names = self.ds.score_names
        if self.ds.scores_are_list:
            return names[j] if len(names) > 1 else f"{names[0]}[{j}]"
        return names[j]

    @property
    def _target_source(self) -> str:
        return self.ds.target_source or self.ds.source

    def _target_column(self, j: int) -> str:
        names = self.ds.target_names
        return names[j] if j < len(names) else f"target {self.plan.classes[j]}"

    def score(self, part: Part) -> tuple[RowValues, ScoredRows]:
        plan, loss, ds = self.plan, self.loss, self.ds
        task = plan.task
        row0 = part.row0
        n = part.n
        width = part.arrays["scores"].shape[1]
        expected = 1 if task is Task.binary else plan.n_classes
        if width != expected:
            raise InputError(
                f"{ds.source}: row {row0 + 1}: {width} scores per row where the first rows "
                f"have {expected}; every row needs one score per class"
            )
        sw = part.arrays.get("weights")
        if sw is not None:
            sw = check_weights(
                sw,
                source=ds.weight_source or ds.source,
                column=self.read.weight_col or "weights",
                row0=row0,
            )

        labels: np.ndarray | None = None
        targets: np.ndarray | None = None
        keep: np.ndarray | None = None
        if plan.uses_targets:
            targets = check_targets(
                part.arrays["targets"],
                source=self._target_source,
                column=self._target_column,
                row0=row0,
            )
            if task is Task.binary:
                labels = self._binary_labels(targets[:, 0], row0)
                targets = None
            elif task is Task.multiclass:
                off = np.abs(targets.sum(axis=1) - 1.0) > loss.sum_tol
                if off.any():
                    r = int(np.flatnonzero(off)[0])
                    raise InputError(
                        f"{where(self._target_source, row0 + r)}: target row sums to "
                        f"{targets[r].sum():.6g}, not 1, so it is not a multiclass target; "
                        "pass --task multilabel if each column is its own yes/no label"
                    )
        else:
            labels = self.encoder.encode(part.arrays["labels"], row0)
            if loss.ignore_index is not None:
                counted = labels != loss.ignore_index
                if not counted.all():
                    keep = counted
            self._check_range(labels, keep, row0)

        scores = check_scores(
            part.arrays["scores"],
            logits=loss.logits,
            renormalize=loss.renormalize,
            rows_sum_to_one=task is Task.multiclass,
            sum_tol=loss.sum_tol,
            source=ds.source,
            column=self._score_column,
            row0=row0,
        )

        sel = _selector(keep)
        s, y, t, w = sel(scores), sel(labels), sel(targets), sel(sw)
        if (
            task is Task.multiclass
            and y is not None
            and keep is None
            and loss.label_smoothing == 0.0
        ):
            pred_cls: np.ndarray | None
            lo, stats, pred_cls = kernels.multiclass_fused(
                s,
                y,
                logits=loss.logits,
                eps=plan.eps,
                class_weight=plan.class_weight,
                top_k=self.metrics.top_k,
            )
            rows = RowValues(lo, w, y, None, stats.hit, stats=stats)
            pred_all: np.ndarray | None = pred_cls  # every row counts here
        elif task is Task.binary and y is not None and keep is None and loss.label_smoothing == 0.0:
            pw = None if plan.pos_weight is None else float(plan.pos_weight[0])
            lo, stats, decision = kernels.binary_fused(
                s[:, 0], y, logits=loss.logits, eps=plan.eps, pos_weight=pw
            )
            rows = RowValues(lo, w, y, None, stats.hit, stats=stats)
            pred_all = decision.astype(np.int64)
        else:
            pred_all = kernels.argmax_rows(scores) if task is Task.multiclass else None
            pred_cls = sel(pred_all)
            rows = self._kernel(s, y, t, w, pred_cls)
            rows.stats = self._stats(s, y, t, pred_cls)

        loss_all = rows.losses.loss
        if keep is not None:
            loss_all = np.full(n, np.nan)
            loss_all[keep] = rows.losses.loss
        if task is Task.multilabel:
            assert targets is not None
            y_true: np.ndarray = targets >= 0.5
            y_pred = kernels.positive(scores, logits=loss.logits)
        elif task is Task.binary:
            assert labels is not None
            y_true = labels.copy()
            y_pred = (
                pred_all
                if pred_all is not None
                else kernels.positive(scores[:, 0], logits=loss.logits).astype(np.int64)
            )
        else:
            assert pred_all is not None
            y_true = (
                kernels.argmax_rows(targets) if targets is not None else np.asarray(labels).copy()
            )
            y_pred = pred_all
        ids = part.arrays.get("ids")
        if self.metrics.worst:
            counted = np.arange(row0, row0 + n) if keep is None else row0 + np.flatnonzero(keep)
            rows.rows, rows.y_true, rows.y_pred = counted, sel(y_true), sel(y_pred)
            rows.ids = ids if keep is None or ids is None else _filter(ids, keep)
        if keep is not None:
            y_true[~keep] = -1
        return rows, ScoredRows(loss_all, y_true, y_pred, ids, keep)

    def _stats(
        self, s: np.ndarray, y: np.ndarray | None, t: np.ndarray | None, pred_cls: np.ndarray | None
    ) -> kernels.RowStats:
        plan, loss = self.plan, self.loss
        if plan.task is Task.multiclass:
            assert pred_cls is not None
            return kernels.multiclass_stats(
                s,
                logits=loss.logits,
                pred=pred_cls,
                labels=y,
                targets=t,
                top_k=self.metrics.top_k,
                smoothing=loss.label_smoothing,
            )
        if plan.task is Task.binary:
            assert y is not None
            return kernels.bernoulli_stats(s, y.astype(np.float64)[:, None], logits=loss.logits)
        assert t is not None
        return kernels.bernoulli_stats(
            s, t, logits=loss.logits, label_mean=loss.label_reduction is LabelReduction.mean
        )

    def _binary_labels(self, values: np.ndarray, row0: int) -> np.ndarray:
        hard = (values == 0) | (values == 1)
        if not hard.all():
            r = int(np.flatnonzero(~hard)[0])
            raise InputError(
                f"{where(self._target_source, row0 + r, self._target_column(0))}: binary target "
                f"{values[r]:.6g} is not 0 or 1; for a soft target (a probability) pass --task "
                "multilabel: the same BCE, reported per label column"
            )
        return values.astype(np.int64)

    def _check_range(self, labels: np.ndarray, keep: np.ndarray | None, row0: int) -> None:
        hi = 2 if self.plan.task is Task.binary else self.plan.n_classes
        bad = (labels < 0) | (labels >= hi)
        if keep is not None:
            bad &= keep
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            hint = (
                "binary labels must be 0 or 1 (or the class names given by --class-names)"
                if self.plan.task is Task.binary
                else f"labels must be class indices 0..{hi - 1}"
                + ("; rows to skip need --ignore-index" if labels[r] < 0 else "")
            )
            raise InputError(
                f"{self.encoder._at(row0 + r)}: label {labels[r]} is out of range; {hint}"
            )

    def _kernel(
        self,
        s: np.ndarray,
        y: np.ndarray | None,
        t: np.ndarray | None,
        sw: np.ndarray | None,
        pred_cls: np.ndarray | None,
    ) -> RowValues:
        plan, loss = self.plan, self.loss
        logits, eps, smoothing = loss.logits, plan.eps, loss.label_smoothing
        if plan.task is Task.multilabel:
            assert t is not None
            lo = kernels.multilabel(
                s,
                t,
                logits=logits,
                eps=eps,
                smoothing=smoothing,
                pos_weight=plan.pos_weight,
                label_mean=loss.label_reduction is LabelReduction.mean,
            )
            right = kernels.positive(s, logits=loss.logits) == (t >= 0.5)
            return RowValues(lo, sw, None, t, right.mean(axis=1), right.all(axis=1))
        if plan.task is Task.binary:
            assert y is not None
            pw = None if plan.pos_weight is None else float(plan.pos_weight[0])
            lo = kernels.binary(
                s[:, 0],
                y.astype(np.float64),
                logits=logits,
                eps=eps,
                smoothing=smoothing,
                pos_weight=pw,
            )
            pred = kernels.positive(s[:, 0], logits=loss.logits)
            return RowValues(lo, sw, y, None, (pred == (y == 1)).astype(np.float64))
        assert pred_cls is not None
        if t is not None:
            lo = kernels.multiclass_targets(
                s, t, logits=logits, eps=eps, smoothing=smoothing, class_weight=plan.class_weight
            )
            right = pred_cls == kernels.argmax_rows(t)
            return RowValues(lo, sw, None, t, right.astype(np.float64))
        assert y is not None
        lo = kernels.multiclass_labels(
            s, y, logits=logits, eps=eps, smoothing=smoothing, class_weight=plan.class_weight
        )
        return RowValues(lo, sw, y, None, (pred_cls == y).astype(np.float64))


def _filter(ids: Any, keep: np.ndarray) -> Any:
    return ids[keep] if isinstance(ids, np.ndarray) else ids.filter(keep)


def _selector(keep: np.ndarray | None) -> Any:
    def sel(a: np.ndarray | None) -> np.ndarray | None:
        if a is None or keep is None:
            return a
        return a[keep]

    return sel


def prefetch(parts: Iterator[Part], depth: int = 2) -> Iterator[Part]:
    """Pull parts from ``parts`` in a background thread, ``depth`` ahead of the consumer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for part in parts:
                while not stop.is_set():
                    try:
                        q.put(part, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(_Raised(exc))

    thread = threading.Thread(target=produce, name="xent-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()


def set_decode_threads(threads: int, columns: int, *, parse_heavy: bool = False) -> None:
    """--threads N (0: every core) for reading ``columns`` score columns. With few columns,
    this thread computes and Arrow decodes ahead on the other N - 1 cores: decoding on every
    core as well made the two fight over the same cores (and raised peak memory by ~30 MB).
    With many columns (over 64) decoding is most of the work (the kernel is ~4x faster than
    the decode of 1000 columns), so Arrow gets every core; so it does for CSV
    (``parse_heavy``), whose parsing costs several times the math."""
    import os

    import pyarrow as pa

    cores = threads or os.cpu_count() or 1
    wide = columns > kernels.COLUMNWISE_MAX_CLASSES or parse_heavy
    pa.set_cpu_count(cores if wide else max(1, cores - 1))
    pa.set_io_thread_count(max(1, cores))


@dataclass
class _Raised:
    exc: BaseException


def evaluate(
    read: ReadConfig,
    loss: LossConfig,
    sink: RowSink | None = None,
    metrics: MetricConfig | None = None,
    progress: Any = None,
) -> Result:
    """Read, score and sum the whole input; return the finished result."""
    metrics = metrics or MetricConfig()
    check_options(loss)
    check_metric_options(metrics)
    if read.chunk_rows is not None and read.chunk_rows < 1:
        raise UsageError(f"--chunk-rows {read.chunk_rows}: must be >= 1")
    ds = open_dataset(read)
    text = any(kind in ds.format for kind in ("csv", "tsv"))  # a file or a dataset of them
    set_decode_threads(read.threads, len(ds.score_names), parse_heavy=text)
    parts: Iterator[Part] = ds.parts if read.threads == 1 else prefetch(ds.parts)
    first = next(parts, None)
    if first is None:
        raise InputError(f"{ds.source}: no data rows; there is nothing to score")
    plan = plan_task(ds, loss, first, read.class_names)
    if metrics.top_k is not None and plan.task is not Task.multiclass:
        raise UsageError("--top-k is for multiclass problems")
    scorer = ChunkScorer(ds, read, loss, plan, metrics)
    if sink is not None:
        sink.start(plan, ds.id_name)
    folded = fold(
        itertools.chain([first], parts),
        scorer,
        ds.group_by,
        sink=sink,
        progress=progress,
        total=ds.num_rows,
    )
    return finish_all(folded, plan=plan, loss=loss, ds=ds)


@dataclass
class Folded:
    """The summary of some chunks, and one per --group-by slice (keyed by the slice's values)."""

    summary: Summary
    slices: dict[tuple[Any, ...], Summary]

    def merge(self, other: Folded) -> Folded:
        self.summary.merge(other.summary)
        for key, s in other.slices.items():
            if key in self.slices:
                self.slices[key].merge(s)
            else:
                self.slices[key] = s
        return self


def fold(
    parts: Iterator[Part],
    scorer: ChunkScorer,
    group_by: tuple[str, ...] = (),
    *,
    sink: RowSink | None = None,
    progress: Any = None,
    total: int | None = None,
) -> Folded:
    """Score every part and fold it into a summary (and the slices' summaries)."""
    plan, metrics = scorer.plan, scorer.metrics
    folded = Folded(Summary(plan.n_classes, metrics), {})
    grouper = Grouper(group_by) if group_by else None
    for part in parts:
        rows, scored = scorer.score(part)
        folded.summary.update(rows, key=part.row0)
        if grouper is not None:
            codes = grouper.codes(part)
            if scored.counted is not None:
                codes = codes[scored.counted]
            for code, idx in _split(codes):
                key = grouper.keys[code]
                if key not in folded.slices:
                    folded.slices[key] = Summary(plan.n_classes, metrics)
                folded.slices[key].update(take_rows(rows, idx), key=part.row0)
        if sink is not None:
            sink.write(scored)
        if progress is not None:
            progress.advance(part.n, total)
            progress.update_rate()
    return folded


def finish_all(folded: Folded, *, plan: TaskPlan, loss: LossConfig, ds: Dataset) -> Result:
    """The result, with one per slice under --group-by (slices in sorted order)."""
    if folded.summary.n == 0:
        raise InputError(
            f"{ds.source}: no rows left to count (every row has the --ignore-index label)"
        )
    if not folded.summary.sample_weight_sum.value > 0:
        raise InputError(
            f"{ds.source}: every row has sample weight 0, so there is nothing to average "
            "(check the --weight-col column)"
        )
    if not folded.summary.weight_sum.value > 0:
        raise InputError(
            f"{ds.source}: every row counted has weight 0 under --class-weights, so there is "
            "nothing to average (a class weight of 0 drops that class's rows)"
        )
    result = finish(folded.summary, plan=plan, cfg=loss, source=ds.source, id_name=ds.id_name)
    if not ds.group_by:
        return result
    groups = tuple(
        (
            {c: _jsonable(v) for c, v in zip(ds.group_by, key, strict=True)},
            finish(folded.slices[key], plan=plan, cfg=loss, source=ds.source, id_name=ds.id_name),
        )
        for key in sorted(folded.slices, key=_slice_order)
    )
    return dataclasses.replace(result, groups=groups)


class Grouper:
    """Numbers the distinct combinations of the --group-by columns' values, across chunks."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.keys: list[tuple[Any, ...]] = []
        self.index: dict[tuple[Any, ...], int] = {}

    def codes(self, part: Part) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        from xentcli.io.arrowcols import numeric

        local, values = [], []
        for c in self.columns:
            arr = part.arrays[f"group:{c}"]
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            value_type = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
            if pa.types.is_nested(value_type):
                raise UsageError(
                    f"--group-by {c}: the column holds {arr.type} values; group "
                    "by a column of single values (text, numbers, dates)"
                )
            enc = pc.dictionary_encode(arr, null_encoding="encode")
            # a view of the indices' buffer: to_numpy(zero_copy_only=False) imported pandas
            # (~0.2 s, and a Ctrl-C during that import was lost)
            local.append(numeric(enc.indices, "", c, 0).astype(np.int64))
            values.append([_group_value(v) for v in enc.dictionary.to_pylist()])
        stacked = np.stack(local, axis=1)
        combos, inverse = np.unique(stacked, axis=0, return_inverse=True)
        lut = np.empty(len(combos), dtype=np.int64)
        for i, combo in enumerate(combos):
            key = tuple(values[j][k] for j, k in enumerate(combo))
            if key not in self.index:
                self.index[key] = len(self.keys)
                self.keys.append(key)
            lut[i] = self.index[key]
        return lut[inverse.reshape(-1)]


def _slice_order(key: tuple[Any, ...]) -> tuple[tuple[int, float, str], ...]:
    """Slices in order of their values: numbers by value (2 before 10), then text, then
    missing values last."""

    def one(v: Any) -> tuple[int, float, str]:
        if v is None:
            return (2, 0.0, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, float(v), "")
        return (1, 0.0, str(v))

    return tuple(one(v) for v in key)


def _group_value(v: Any) -> Any:
    """A slice's value as a key: NaN is missing, like null (NaN != NaN would open a new slice
    in every chunk); bytes are read as UTF-8 text."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else "-inf"  # strict JSON has no infinity
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _split(codes: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(code, row indices in order) for each code present."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    cuts = np.flatnonzero(np.diff(ordered)) + 1
    for chunk in np.split(order, cuts):
        if len(chunk):
            yield int(codes[chunk[0]]), chunk


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

    @property
    def significant(self) -> bool:
        """The interval of the paired difference excludes 0."""
        return bool(self.low > 0 or self.high < 0)


def compare(
    read_a: ReadConfig,
    read_b: ReadConfig,
    loss: LossConfig,
    metrics: MetricConfig | None = None,
    level: float = 0.95,
) -> Comparison:
    """Score A and B row by row in step; bootstrap the paired per-row loss difference."""
    from xentcli.bootstrap import PoissonBootstrap
    from xentcli.io.parts import zip_aligned

    metrics = metrics or MetricConfig()
    check_options(loss)
    check_metric_options(metrics)
    if not 0.0 < level < 1.0:
        raise UsageError(f"--ci {level}: a confidence level in (0, 1), e.g. 0.95")
    if read_a.chunk_rows is not None and read_a.chunk_rows < 1:
        raise UsageError(f"--chunk-rows {read_a.chunk_rows}: must be >= 1")
    ds_a, ds_b = open_dataset(read_a), open_dataset(read_b)
    tagged_a = _tag(ds_a.parts, "a")
    tagged_b = _tag(ds_b.parts, "b")
    pairs = zip_aligned(tagged_a, tagged_b, ds_a.chunk_rows, ds_a.source, ds_b.source)
    first = next(pairs, None)
    if first is None:
        raise InputError(f"{ds_a.source}: no data rows; there is nothing to score")
    part_a, part_b = _untag(first, "a"), _untag(first, "b")
    plan_a = plan_task(ds_a, loss, part_a, read_a.class_names)
    plan_b = plan_task(ds_b, loss, part_b, read_b.class_names)
    if (plan_a.task, plan_a.classes) != (plan_b.task, plan_b.classes):
        raise InputError(
            f"{ds_a.source} is {plan_a.task.value} over {', '.join(plan_a.classes)} but "
            f"{ds_b.source} is {plan_b.task.value} over {', '.join(plan_b.classes)}; "
            "compare needs the same classes"
        )
    scorer_a = ChunkScorer(ds_a, read_a, loss, plan_a, metrics)
    scorer_b = ChunkScorer(ds_b, read_b, loss, plan_b, metrics)
    sum_a, sum_b = Summary(plan_a.n_classes, metrics), Summary(plan_b.n_classes, metrics)
    boot = PoissonBootstrap(metrics.replicates, metrics.seed)
    diff_num = diff_den = 0.0
    for pair in itertools.chain([first], pairs):
        pa_, pb_ = _untag(pair, "a"), _untag(pair, "b")
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


def _same_weights(part_a: Part, part_b: Part, source_a: str, source_b: str) -> None:
    """The paired difference weighs each row once: both files must weigh it alike (B's
    weights were ignored there while B's own loss used them)."""
    wa, wb = part_a.arrays.get("weights"), part_b.arrays.get("weights")
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


def _tag(parts: Iterator[Part], tag: str) -> Iterator[Part]:
    for p in parts:
        yield Part(p.n, p.row0, {f"{tag}:{k}": v for k, v in p.arrays.items()})


def _untag(part: Part, tag: str) -> Part:
    prefix = f"{tag}:"
    return Part(
        part.n,
        part.row0,
        {k[len(prefix) :]: v for k, v in part.arrays.items() if k.startswith(prefix)},
    )
