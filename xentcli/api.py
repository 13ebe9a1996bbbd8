"""The Python API: ``compute``, ``compare`` and ``Evaluator``, and the reports they return.

The CLI is one client of the same library: a keyword option here is the CLI's long option
(``label_smoothing=0.1`` is ``--label-smoothing 0.1``), checked by the same configs, and
``Report.to_dict()`` is the CLI's JSON for the same input and options.

>>> import numpy as np
>>> from xentcli import compute
>>> report = compute(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]), labels=[0, 1])
>>> round(report.loss, 6)  # (-ln 0.7 - ln 0.8) / 2
0.289909
"""

from __future__ import annotations

import dataclasses
import functools
import json
import operator
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np

from xentcli.config import (
    COMPARE_LEVEL,
    Engine,
    LossConfig,
    MetricConfig,
    OutputConfig,
    OutputFormat,
    ReadConfig,
    RunConfig,
    Task,
    TaskPlan,
    parse_names,
    parse_numbers,
)
from xentcli.errors import UsageError, XentError
from xentcli.result import Result

__all__ = ["ComparisonReport", "Evaluator", "Report", "XentError", "compare", "compute"]


# -- options: keyword arguments onto the configs ---------------------------------------------

# Config fields that are not keyword options: the inputs, the engine's own, what another
# keyword sets (plot sets the histogram), what has no meaning in a library (quiet), the parts.
_NOT_OPTIONS = {
    "predictions",
    "labels",
    "memory",
    "partition_base",
    "row_groups",
    "part_of",
    "histogram",
    "plot",
    "quiet",
}


@dataclasses.dataclass(frozen=True)
class _EngineOptions:
    """RunConfig's own keyword options (its other fields are the configs themselves)."""

    engine: Engine = Engine.local
    scheduler: str | None = None


_ALIASES = {"check": "checks", "classes": "class_names"}  # the CLI's --check, Evaluator's classes


def _fields(config: type) -> set[str]:
    return {f.name for f in dataclasses.fields(config)} - _NOT_OPTIONS


_PATHS = {"output", "per_sample", "baseline", "scheduler"}
_COLUMN_LISTS = {"pred_cols", "target_cols"}  # the CLI's comma list, or a list of names


@functools.cache
def _types() -> dict[str, Any]:
    """Each keyword option's type, read from the configs' annotations (None left out of an
    optional one): what a value is checked and converted against, so a new option needs
    nothing here."""
    out: dict[str, Any] = {}
    for config in (ReadConfig, LossConfig, MetricConfig, OutputConfig, _EngineOptions):
        for name, hint in typing.get_type_hints(config).items():
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            out[name] = args[0] if typing.get_origin(hint) is types.UnionType else hint
    return out


def _value(name: str, value: Any) -> Any:
    """A keyword option's value as the configs hold it, or a UsageError saying what it takes.
    The CLI's text forms are taken too (``class_weights="1,2"``, ``base=2``, ``top_k="2"``);
    nothing is taken that would be read as something else (``logits="false"`` is refused, not
    true)."""
    if value is None:
        return None

    def refuse(wanted: str) -> UsageError:
        return UsageError(f"{name}={value!r}: expected {wanted}")

    kind = _types().get(name)
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return value if isinstance(value, kind) else kind(str(value))
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in kind)
            raise refuse(f"one of {allowed}") from None
    if kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise refuse("True or False")
    if kind is int:
        if isinstance(value, (bool, np.bool_)):
            raise refuse("a whole number")
        try:
            number = float(value) if isinstance(value, str) else value
            whole = int(operator.index(number)) if not isinstance(number, float) else None
            if whole is None and float(number).is_integer():
                whole = int(number)
        except (TypeError, ValueError, OverflowError):
            whole = None
        if whole is None:
            raise refuse("a whole number")
        return whole
    if kind is float:
        if isinstance(value, (bool, np.bool_)):
            raise refuse("a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise refuse("a number") from None
    if name in ("class_weights", "pos_weight"):
        if isinstance(value, str):
            return parse_numbers(f"--{name.replace('_', '-')}", value)
        try:
            return tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
        except (TypeError, ValueError):
            raise refuse("numbers") from None
    if name == "class_names":
        return parse_names(value) if isinstance(value, str) else tuple(str(v) for v in value)
    if name in ("group_by", "checks"):
        return (str(value),) if isinstance(value, (str, int)) else tuple(map(str, value))
    if name in _COLUMN_LISTS:  # a list of names or globs, or the CLI's comma list
        return value if isinstance(value, str) else ",".join(map(str, value))
    if name in _PATHS:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        raise refuse("a path")
    if kind is str:
        return str(value)  # a pandas column named 3 is the column "3" to Arrow
    return value


def _split_options(
    options: Mapping[str, Any], allowed: dict[str, type], *, leave_out: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """{config name: {field: value}} of keyword options; an unknown one (or one this call
    does not take, ``leave_out``) is a TypeError, as for any Python function."""
    out: dict[str, dict[str, Any]] = {name: {} for name in allowed}
    for key, value in options.items():
        name = _ALIASES.get(key, key)
        for config, cls in allowed.items():
            if name in _fields(cls) and name not in leave_out:
                out[config][name] = _value(name, value)
                break
        else:
            known = sorted(set().union(*(_fields(c) for c in allowed.values())) - set(leave_out))
            raise TypeError(f"unknown option {key!r}; the options are: {', '.join(known)}")
    return out


# -- inputs: paths and objects -------------------------------------------------------------


def _input(obj: Any, memory: dict[str, Any], *, labels: bool, role: str | None = None) -> str:
    """The name a run reads ``obj`` by: a path as it is, an object in memory by a name that
    stands for it in messages (registered in ``memory``)."""
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    from xentcli.io.memory import memory_source

    source = memory_source(obj, labels=labels, role=role)
    memory[source.name] = source
    return source.name


def _same_index(first: Any, second: Any, what: str) -> None:
    """Rows are paired by position, as in two files read in step; two pandas objects whose
    indexes differ would be paired wrongly without a word (a user expects them aligned)."""
    pd = sys.modules.get("pandas")
    pandas_types = () if pd is None else (pd.DataFrame, pd.Series)
    if not (isinstance(first, pandas_types) and isinstance(second, pandas_types)):
        return
    if first.index.equals(second.index):
        return
    raise UsageError(
        f"{what} have pandas indexes that differ, and xent pairs rows by position: "
        "align them first (labels.reindex(predictions.index)), or pass .to_numpy() to pair "
        "them by position"
    )


def _read(
    predictions: Any, labels: Any, fields: dict[str, Any], role: str | None = None
) -> ReadConfig:
    _same_index(predictions, labels, "the predictions and the labels")
    memory: dict[str, Any] = {}
    pred = _input(predictions, memory, labels=False, role=role)
    lab = None if labels is None else _input(labels, memory, labels=True)
    return ReadConfig(predictions=pred, labels=lab, memory=memory or None, **fields)


# -- compute -------------------------------------------------------------------------------


def compute(predictions: Any, labels: Any = None, **options: Any) -> Report:
    """Cross-entropy and every metric of ``xent compute`` for predictions and labels.

    ``predictions`` and ``labels`` may be paths (every format, directory and glob the CLI
    reads), NumPy arrays (or anything ``np.from_dlpack``/``np.asarray`` takes, such as a CPU
    torch tensor), pandas or polars DataFrames, pyarrow Tables, RecordBatches,
    RecordBatchReaders or Datasets, or objects with ``__arrow_c_stream__``; ``labels`` may
    also be a list. Keyword options are the CLI's long options: ``logits=True``,
    ``label_smoothing=0.1``, ``group_by=["day"]``, ``baseline="prev.json"``, ``check=[...]``.

    Raises :class:`XentError` (a ``ValueError``) with the CLI's one-line message.
    """
    from xentcli.run import run_compute

    plot = _value("plot", options.pop("plot", False))
    parts = _split_options(
        options,
        {
            "read": ReadConfig,
            "loss": LossConfig,
            "metrics": MetricConfig,
            "output": OutputConfig,
            "run": _EngineOptions,
        },
    )
    metrics = MetricConfig(**{**parts["metrics"], "histogram": plot})
    run = RunConfig(
        read=_read(predictions, labels, parts["read"]),
        loss=LossConfig(**parts["loss"]),
        metrics=metrics,
        output=OutputConfig(**{**parts["output"], "plot": plot}),
        **parts["run"],
    )
    if run.engine is Engine.dask and run.read.memory:
        raise UsageError("engine='dask' reads files (each task opens its own); pass paths")
    given = run.output.format
    if given is not None and given is not OutputFormat.table and not run.output.outputs:
        raise UsageError(
            f"format={given.value!r} is the format of output=; pass "
            "output= too (the report itself is the returned Report)"
        )
    outcome = run_compute(run)
    return Report(outcome.result, plot=plot, failures=outcome.failures, notes=outcome.notes)


class Report:
    """A finished report: an attribute for every key of the CLI's JSON (``report.loss``,
    ``report.metrics["ece"]``, ``report.per_class``; non-finite numbers are None, as JSON's
    null), ``to_dict()`` (the CLI's JSON), ``failures`` (the gates that failed, as the CLI
    says them; empty when every gate passed). Shown as the CLI's table by Rich, and as an
    HTML table in notebooks."""

    def __init__(
        self,
        result: Result,
        *,
        plot: bool = False,
        failures: Sequence[str] = (),
        notes: Sequence[str] = (),
    ) -> None:
        self.result = result
        self.plot = plot
        self.failures = list(failures)
        self.notes = list(notes)
        self._dict = result.to_dict(plot=plot)

    # The stable keys, typed.
    @property
    def task(self) -> str:
        return str(self._dict["task"])

    @property
    def input(self) -> str:
        return str(self._dict["input"])

    @property
    def unit(self) -> str:
        return str(self._dict["unit"])

    @property
    def reduction(self) -> str:
        return str(self._dict["reduction"])

    @property
    def n(self) -> int:
        return int(self._dict["n"])

    @property
    def weight_sum(self) -> float | None:
        return self._dict["weight_sum"]

    @property
    def loss(self) -> float | None:
        return self._dict["loss"]

    @property
    def loss_sum(self) -> float | None:
        return self._dict["loss_sum"]

    @property
    def loss_mean(self) -> float | None:
        return self._dict["loss_mean"]

    @property
    def perplexity(self) -> float | None:
        return self._dict["perplexity"]

    @property
    def classes(self) -> list[str]:
        return list(self._dict["classes"])

    @property
    def per_class(self) -> list[dict[str, Any]]:
        return list(self._dict["per_class"])

    @property
    def clipped(self) -> int:
        return int(self._dict["clipped"])

    @property
    def metrics(self) -> dict[str, float | None]:
        return dict(self._dict["metrics"])

    @property
    def options(self) -> dict[str, Any]:
        return dict(self._dict.get("options", {}))

    @property
    def passed(self) -> bool:
        """Every gate (``max_loss``, ``check``, ``max_increase``) passed."""
        return not self.failures

    def __getattr__(self, name: str) -> Any:
        # the keys that are there only with their options: ci, baseline, groups, worst, ...
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.__dict__["_dict"][name]
        except KeyError:
            raise AttributeError(f"this report has no {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._dict))

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON report, as Python objects."""
        return json.loads(json.dumps(self._dict))

    def to_json(self) -> str:
        from xentcli.render.compute import to_json

        return to_json(self.result, plot=self.plot)

    def __rich__(self) -> Any:
        from xentcli.render.compute import ComputeView

        return ComputeView(self.result, plot=self.plot)

    def _repr_html_(self) -> str:
        from xentcli.render.html import report_html

        return report_html(self.result)

    def __repr__(self) -> str:
        loss = "inf" if self.loss is None else f"{self.loss:.6g}"
        return f"<xent Report: {self.task}, n={self.n}, loss={loss} {self.unit} ({self.reduction})>"


# -- compare -------------------------------------------------------------------------------


def compare(a: Any, b: Any, labels: Any = None, **options: Any) -> ComparisonReport:
    """``xent compare``: two prediction sets on the same rows (A the baseline model, B the
    candidate), each scored, and the bootstrap interval of their paired per-row difference.
    Options: the CLI's (``ci=0.95``, ``max_increase="1%"``, ``logits=True``,
    ``group_by=["day"]``, ``check=["b.loss<=0.4"]``, ...)."""
    from xentcli.run import run_compare

    level = _value("ci", options.pop("ci", COMPARE_LEVEL))
    max_increase = _value("max_increase", options.pop("max_increase", None))
    checks = _value("checks", options.pop("check", None)) or ()
    parts = _split_options(
        options,
        {"read": ReadConfig, "loss": LossConfig, "metrics": MetricConfig},
        leave_out=("ci",),  # ci is the interval's level
    )
    read = {**parts["read"], "threads": 1}
    _same_index(a, b, "A and B")
    if labels is not None and not isinstance(labels, (str, os.PathLike)):
        labels = _readable_twice(labels)  # read beside A, and again beside B
    outcome = run_compare(
        _read(a, labels, read, role="A"),
        _read(b, labels, read, role="B"),
        LossConfig(**parts["loss"]),
        MetricConfig(**parts["metrics"]),
        level=level,
        max_increase=max_increase,
        checks=checks,
    )
    return ComparisonReport(outcome.comparison, failures=outcome.failures)


def _readable_twice(labels: Any) -> Any:
    """A one-shot stream of labels (a RecordBatchReader, a C stream) as a table."""
    import pyarrow as pa

    if isinstance(labels, pa.RecordBatchReader) or (
        hasattr(labels, "__arrow_c_stream__") and not hasattr(labels, "__len__")
    ):
        return pa.table(labels)
    return labels


class ComparisonReport:
    """A finished comparison: ``a`` and ``b`` (each a :class:`Report`), ``difference`` (the
    paired B - A: ``loss_mean``, ``ci``, ``significant``), ``to_dict()`` (the CLI's JSON)."""

    def __init__(self, comparison: Any, *, failures: Sequence[str] = ()) -> None:
        from xentcli.render.compare import compare_dict

        self.comparison = comparison
        self.failures = list(failures)
        self.a = Report(comparison.a)
        self.b = Report(comparison.b)
        self._dict = compare_dict(comparison)

    @property
    def difference(self) -> dict[str, Any]:
        return dict(self._dict["difference"])

    @property
    def significant(self) -> bool:
        return bool(self.comparison.significant)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._dict))

    def __rich__(self) -> Any:
        from xentcli.render.compare import CompareView

        return CompareView(self.comparison)

    def _repr_html_(self) -> str:
        from xentcli.render.html import comparison_html

        return comparison_html(self.comparison)

    def __repr__(self) -> str:
        d = self.difference
        return f"<xent ComparisonReport: B - A = {d['loss_mean']} {d['unit']} per row>"


# -- Evaluator -----------------------------------------------------------------------------


class Evaluator:
    """Cross-entropy over batches, for training and evaluation loops.

    ``update(scores, labels, weights=None)`` folds one batch (NumPy, or anything
    ``np.from_dlpack``/``np.asarray`` takes, such as a CPU torch tensor); ``merge(other)``
    adds another evaluator's batches (from another process: evaluators pickle); ``report()``
    gives the :class:`Report` that :func:`compute` gives on all the batches concatenated.
    Options are :func:`compute`'s loss and metric options; ``classes`` names the classes.
    The clipping of probabilities is the first batch's dtype's machine epsilon (unless
    ``clip_eps`` is given).
    """

    def __init__(self, task: str | Task = "auto", logits: bool = False, **options: Any) -> None:
        parts = _split_options(
            {"task": task, "logits": logits, **options},
            {"read": ReadConfig, "loss": LossConfig, "metrics": MetricConfig},
        )
        allowed = {"class_names"}
        extra = set(parts["read"]) - allowed
        if extra:
            raise TypeError(
                f"Evaluator takes no {', '.join(sorted(extra))}: batches bring their own "
                "scores, labels and weights"
            )
        if parts["metrics"].get("ci") is not None:
            raise UsageError(
                "Evaluator takes no ci: the bootstrap draws by the rows' positions in the "
                "whole input, which batches from several evaluators do not have; use "
                "compute(..., ci=0.95) on the whole"
            )
        if parts["metrics"].get("fit_temperature"):
            raise UsageError(
                "Evaluator takes no fit_temperature: the search reads every row once per "
                "step, and an Evaluator sees each batch once; use compute(..., "
                "fit_temperature=True) on the whole"
            )
        self.read = ReadConfig(self.SOURCE, **parts["read"])
        self.loss = LossConfig(**parts["loss"])
        self.metrics = MetricConfig(**parts["metrics"])
        self.read.validate()
        self.loss.validate()
        self.metrics.validate()
        self.rows = 0  # rows seen, over every batch
        self.weighted = False  # a batch came with sample weights
        self._plan: TaskPlan | None = None
        self._by_name: bool | None = None  # text labels: class names or indices
        self._folded: Any = None
        self._scorer: Any = None
        self._dataset: Any = None

    SOURCE = "<Evaluator>"

    def update(self, scores: Any, labels: Any, weights: Any = None) -> None:
        """Fold in one batch: ``scores`` (n, C) (binary: (n,)), ``labels`` (n,) class indices
        or names, or (n, C) targets; ``weights`` (n,) sample weights. A batch that is refused
        changes nothing."""
        from xentcli.fold import fold

        chunk = self._chunk(scores, labels, weights)
        if chunk.n == 0:
            return
        plan, dataset, scorer = self._plan, self._dataset, self._scorer
        try:
            if self._plan is None:
                self._start(chunk)
            else:
                self._same_shape(chunk)
            scoring = self._scoring()
            folded = fold(iter([chunk]), scoring)
        except BaseException:  # nothing of the batch stays: not the plan, not the encoder's
            self._plan, self._dataset, self._scorer = plan, dataset, scorer
            if scorer is not None:
                scorer.encoder.by_name = self._by_name
            raise
        self._by_name = scoring.encoder.by_name
        if self._folded is None:
            self._folded = folded
        else:
            self._folded.merge(folded)
        self.rows += chunk.n
        self.weighted |= chunk.weights is not None

    def _chunk(self, scores: Any, labels: Any, weights: Any) -> Any:
        from xentcli.io import Chunk
        from xentcli.io.memory import as_array, as_labels

        name = self.SOURCE
        s = as_array(scores, f"{name} scores")
        if s.ndim == 1:
            s = s.reshape(-1, 1)
        if s.ndim != 2 or s.dtype.kind not in "biuf":
            raise XentError(
                f"{name}: scores must be a 1-D or 2-D array of numbers, got {s.dtype} {s.shape}"
            )
        y = as_labels(labels, f"{name} labels")
        w = None if weights is None else as_array(weights, f"{name} weights")
        n = len(s)
        for what, arr in (("labels", y), ("weights", w)):
            if arr is not None and len(arr) != n:
                raise XentError(f"{name}: {n} rows of scores but {len(arr)} of {what}")
        chunk = Chunk(n, self.rows, scores=s)
        if isinstance(y, np.ndarray) and y.ndim == 2:
            chunk.targets = y
        else:
            chunk.labels = y
        if w is not None:
            if w.ndim != 1 or w.dtype.kind not in "biuf":
                raise XentError(f"{name}: weights must be a 1-D array of numbers")
            chunk.weights = w
        return chunk

    def _same_shape(self, chunk: Any) -> None:
        assert self._plan is not None
        if (chunk.targets is not None) != self._plan.uses_targets:
            had = "target rows" if self._plan.uses_targets else "labels"
            has = "target rows" if chunk.targets is not None else "labels"
            raise XentError(
                f"{self.SOURCE}: row {self.rows + 1}: this batch has {has}, the first had {had}"
            )

    def _start(self, first: Any) -> None:
        from xentcli.io import Dataset
        from xentcli.scoring import plan_task

        width = first.scores.shape[1]
        dataset = Dataset(
            self.SOURCE,
            score_names=[f"scores[:, {j}]" for j in range(width)],
            column_names=None,
            score_dtype=first.scores.dtype,
            label_source=f"{self.SOURCE} labels",
            weight_source=f"{self.SOURCE} weights",
            target_source=f"{self.SOURCE} labels",
            target_names=[f"labels[:, {j}]" for j in range(width)],
            scores_are_list=True,
            format="memory",
        )
        plan = plan_task(dataset, self.loss, first, self.read.class_names)
        self.metrics.validate_for(plan)
        self._plan, self._dataset, self._scorer = plan, dataset, None

    def _scoring(self) -> Any:
        from xentcli.scoring import ChunkScorer

        if self._scorer is None:
            assert self._plan is not None
            self._scorer = ChunkScorer(
                self._dataset, self.read, self.loss, self._plan, self.metrics
            )
            self._scorer.encoder.by_name = self._by_name
        return self._scorer

    def merge(self, other: Evaluator) -> Evaluator:
        """Add ``other``'s batches to this evaluator (its rows numbered after these)."""
        if not isinstance(other, Evaluator):
            raise TypeError(f"merge() takes an Evaluator, not {type(other).__name__}")
        for mine, theirs in ((self.loss, other.loss), (self.metrics, other.metrics)):
            a, b = mine.to_dict(), theirs.to_dict()
            for key in a:
                if a[key] != b[key]:
                    raise XentError(
                        f"cannot merge evaluators made with other options: {key} "
                        f"{a[key]!r} here, {b[key]!r} there"
                    )
        if other._plan is None:
            return self
        if self._plan is None:
            self.__setstate__(_copy(other.__getstate__()))
            return self
        self._same_plan(other._plan)
        folded = _copy(other._folded)
        if folded.summary.worst is not None:  # their rows come after ours
            for item in folded.summary.worst.items:
                item.row += self.rows
        self._folded.merge(folded)
        self.rows += other.rows
        self.weighted |= other.weighted
        return self

    def _same_plan(self, theirs: TaskPlan) -> None:
        """Refuse to add sums made under another plan: they would be another quantity."""
        mine = self._plan
        assert mine is not None
        if (mine.task, mine.classes, mine.uses_targets) != (
            theirs.task,
            theirs.classes,
            theirs.uses_targets,
        ):
            raise XentError(
                f"cannot merge a {theirs.task.value} evaluator over {', '.join(theirs.classes)} "
                f"into a {mine.task.value} one over {', '.join(mine.classes)}"
            )
        if mine.eps != theirs.eps:
            raise XentError(
                f"cannot merge evaluators that clip probabilities at {theirs.eps:g} and "
                f"{mine.eps:g} (their first batches' float types differ); pass the same "
                "clip_eps to both"
            )

    def report(self) -> Report:
        """The report on every row seen so far (the same as :func:`compute` on them all)."""
        from xentcli.config import RunOptions
        from xentcli.fold import finish_all

        if self._plan is None:
            raise XentError(f"{self.SOURCE}: no rows yet; call update() with a batch first")
        read = dataclasses.replace(self.read, weight_col="weights" if self.weighted else None)
        options = RunOptions.of(read, self.loss, self.metrics, self._plan)
        result = finish_all(
            _copy(self._folded),
            plan=self._plan,
            loss=self.loss,
            ds=self._dataset,
            options=options,
        )
        return Report(result)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_scorer"] = None  # rebuilt from the plan when needed
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        task = self._plan.task.value if self._plan is not None else self.loss.task.value
        return f"<xent Evaluator: {task}, {self.rows} rows>"


def _copy(obj: Any) -> Any:
    import copy

    return copy.deepcopy(obj)
