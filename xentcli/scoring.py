"""Scoring: one chunk's values checked, turned into per-row losses by the kernels, and handed
on as the per-row values the summary folds.

:func:`plan_task` settles what the first chunk decides for the whole run (the task, the class
names, the clipping); :class:`ChunkScorer` then scores one chunk after another under that plan.
Which kernel scores a chunk is decided in one place, :meth:`ChunkScorer.score`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from xentcli import kernels
from xentcli.accumulate import RowValues
from xentcli.advice import class_names_advice, selectable
from xentcli.config import LabelReduction, LossConfig, MetricConfig, ReadConfig, Task, TaskPlan
from xentcli.errors import InputError, UsageError, where
from xentcli.io import Chunk, Dataset
from xentcli.io.tables import MAX_COLUMNS
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


@dataclass
class CheckedRows:
    """One chunk's values after the checks, for every input row: ``labels`` are class
    positions (binary: 0/1), ``targets`` target rows (multiclass and multi-label), ``keep``
    the rows that count (None: all; --ignore-index drops the others)."""

    scores: np.ndarray
    labels: np.ndarray | None
    targets: np.ndarray | None
    sample_weight: np.ndarray | None
    keep: np.ndarray | None

    def counted(self) -> CheckedRows:
        """The same values at the counted rows only."""
        if self.keep is None:
            return self
        sel = _selector(self.keep)
        return CheckedRows(
            sel(self.scores), sel(self.labels), sel(self.targets), sel(self.sample_weight), None
        )


def _default_names(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n))


def plan_task(
    ds: Dataset, loss: LossConfig, first: Chunk, class_names: tuple[str, ...] | None
) -> TaskPlan:
    """Settle the task (``--task auto`` looks at the first chunk) and the class names."""
    width = first.score_matrix.shape[1]
    if width > MAX_COLUMNS:  # an array's width: each class gets a name and per-class sums
        raise InputError(
            f"{ds.source}: {width:,} scores per row, above xent's limit of {MAX_COLUMNS:,} classes"
        )
    targets = first.targets
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


def _unexplained_advice(s: np.ndarray, names: list[str], columns: list[str]) -> str | None:
    """Probabilities refused, and no column stands out as a feature: the ways out, each under
    the condition that makes it right (the values cannot tell a logit or a feature in [0, 1]
    from a score, and a wrong guess would give a wrong number with exit 0)."""
    from xentcli.advice import pred_cols_value, quoted
    from xentcli.textsafe import shown

    if not all(selectable(n) for n in names):
        return None
    unit = bool(np.all((s >= 0) & (s <= 1)))
    rounding = unit and float(np.max(np.abs(s.sum(axis=1) - 1.0))) <= 0.05
    if len(names) == 2 and unit and not rounding:  # P(positive) beside a feature in [0, 1]
        a, b = names
        keep_a, keep_b = pred_cols_value([a], columns), pred_cols_value([b], columns)
        if keep_a is None or keep_b is None:
            return None
        return (
            f"the two score columns do not sum to 1: if '{shown(b)}' is not a score, choose "
            f"the score with --pred-cols {quoted(keep_a)}; if '{shown(a)}' is not a score, "
            f"--pred-cols {quoted(keep_b)}; if both '{shown(a)}' and '{shown(b)}' are "
            "scores that need dividing by their row sum, --renormalize"
        )
    if unit:
        return None  # probabilities rounded when written: the generic advice fits
    listed = ", ".join(shown(n) for n in names)
    if len(names) > 12 or len(listed) > 200:
        return None
    ways = [f"if every score column ({listed}) holds logits, pass --logits"]
    if bool(np.all(s >= 0)):
        ways.append(
            f"if every score column ({listed}) holds non-negative scores that need dividing "
            "by their row sum, --renormalize"
        )
    ways.append("if some are not scores, choose the score columns with --pred-cols")
    return "scores must be probabilities in [0, 1]; " + "; ".join(ways)


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
            plan.classes,
            ds.label_source or ds.source,
            ds.label_column,
            binary=plan.task is Task.binary,
        )

    def _score_column(self, j: int) -> str:
        names = self.ds.score_names
        if self.ds.scores_are_list:
            return names[j] if len(names) > 1 else f"{names[0]}[{j}]"
        return names[j]

    def _stray_advice(self, scores: np.ndarray) -> str | None:
        """When probabilities are refused: if some columns are not scores (a feature, a
        year) and the others are probabilities, the --pred-cols that leaves them out."""
        from xentcli.advice import pred_cols_value, quoted, stray_columns, two_column_advice
        from xentcli.textsafe import shown

        ds = self.ds
        if ds.column_names is None:  # arrays and list columns: no column to leave out
            return None
        stray = stray_columns(scores, self.loss.sum_tol)
        names = list(ds.score_names)
        columns = [n for n, _ in ds.columns]
        if not stray:
            return _unexplained_advice(np.asarray(scores, dtype=np.float64), names, columns)
        if len(names) == 2:  # P(positive) and a feature, or a logit and a feature
            return two_column_advice(names, stray[0], [n for n, _ in ds.columns])
        keep = [n for j, n in enumerate(names) if j not in stray]
        value = pred_cols_value(keep, [n for n, _ in ds.columns])
        if value is None:
            return None
        what = ", ".join(f"'{shown(names[j])}'" for j in stray)
        one = len(stray) == 1
        return (
            f"the other score columns are probabilities that sum to 1 on every row, and "
            f"{what} {'is' if one else 'are'} not: if {'it is' if one else 'they are'} not "
            f"a score, choose the scores with --pred-cols {quoted(value)}"
        )

    @property
    def _target_source(self) -> str:
        return self.ds.target_source or self.ds.source

    def _target_column(self, j: int) -> str:
        names = self.ds.target_names
        return names[j] if j < len(names) else f"target {self.plan.classes[j]}"

    def checked(self, part: Chunk) -> CheckedRows:
        """One chunk's values checked (every row): scores (renormalised with --renormalize),
        class positions or target rows, sample weights, and which rows count."""
        plan, loss, ds = self.plan, self.loss, self.ds
        task = plan.task
        row0 = part.row0
        width = part.score_matrix.shape[1]
        expected = 1 if task is Task.binary else plan.n_classes
        if width != expected:
            raise InputError(
                f"{ds.source}: row {row0 + 1}: {width} scores per row where the first rows "
                f"have {expected}; every row needs one score per class"
            )
        sw = part.weights
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
                part.target_matrix,
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
            labels = self.encoder.values(part.labels, row0)
            if loss.ignore_index is not None:
                counted = labels != loss.ignore_index
                if not counted.all():
                    keep = counted
            labels = self.encoder.positions(labels, keep, row0)
            self._check_range(labels, keep, row0)

        scores = check_scores(
            part.score_matrix,
            logits=loss.logits,
            renormalize=loss.renormalize,
            rows_sum_to_one=task is Task.multiclass,
            sum_tol=loss.sum_tol,
            source=ds.source,
            column=self._score_column,
            row0=row0,
            advice=self._stray_advice,
        )
        return CheckedRows(scores, labels, targets, sw, keep)

    def score(self, part: Chunk) -> tuple[RowValues, ScoredRows]:
        plan, loss = self.plan, self.loss
        task = plan.task
        row0 = part.row0
        n = part.n
        checked = self.checked(part)
        scores, labels, targets, sw, keep = (
            checked.scores,
            checked.labels,
            checked.targets,
            checked.sample_weight,
            checked.keep,
        )
        sel = _selector(keep)
        s, y, t, w = sel(scores), sel(labels), sel(targets), sel(sw)
        # The kernel choice, stated once: one-pass fused kernels for plain class labels with
        # every row counted and no smoothing; the general kernels (plus separate statistics)
        # for targets, ignored rows, smoothing and multi-label.
        fused = y is not None and keep is None and loss.label_smoothing == 0.0
        pred_cls: np.ndarray | None
        pred_all: np.ndarray | None
        if fused and task is Task.multiclass:
            assert y is not None
            lo, stats, pred_cls = kernels.multiclass_fused(
                s,
                y,
                logits=loss.logits,
                eps=plan.eps,
                class_weight=plan.class_weight,
                top_k=self.metrics.top_k,
            )
            rows = RowValues(lo, w, y, None, stats.hit, stats=stats)
            pred_all = pred_cls  # every row counts here
        elif fused and task is Task.binary:
            assert y is not None
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
        ids = part.ids
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
            seen = labels if keep is None else labels[keep]
            more = class_names_advice(seen, hi, binary=self.plan.task is Task.binary)
            given = self.read.class_names is not None
            raise InputError(
                f"{self.encoder._at(row0 + r)}: label {labels[r]} is out of range; {hint}"
                + (f"; {more}" if more and not given else "")
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
