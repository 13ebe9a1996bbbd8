"""What a run was asked to do, as frozen dataclasses built once (by the CLI or the Python API)
and passed down.

This is the one home of options: each config states its defaults, checks its own values
(``validate``: what is wrong whatever the data), and writes the ones that change a number
into the report (``to_dict``: the JSON ``options``). A new option is a field here, its check
and its entry in ``to_dict``; the CLI declares it, the kernels use it.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING, Any

from xentcli.errors import UsageError

if TYPE_CHECKING:
    import numpy as np
PLAIN_WIDTH = 200  # a table's width in a file or a pipe: lines only as long as they need


class Task(str, Enum):
    auto = "auto"
    multiclass = "multiclass"
    binary = "binary"
    multilabel = "multilabel"


class Reduction(str, Enum):
    mean = "mean"
    sum = "sum"


class LabelReduction(str, Enum):
    sum = "sum"
    mean = "mean"


class Base(str, Enum):
    e = "e"
    two = "2"
    ten = "10"

    @property
    def unit(self) -> str:
        return {"e": "nats", "2": "bits", "10": "hartleys"}[self.value]

    @property
    def log(self) -> float:
        """ln(base): a loss in nats divided by this is a loss in the base's unit."""
        return {"e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}[self.value]

    @property
    def number(self) -> float:
        return {"e": math.e, "2": 2.0, "10": 10.0}[self.value]


class InputFormat(str, Enum):
    auto = "auto"
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    parquet = "parquet"
    arrow = "arrow"
    npy = "npy"
    npz = "npz"


class Engine(str, Enum):
    """Where the chunks are folded: here, or by Dask tasks."""

    local = "local"
    dask = "dask"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


COMPARE_LEVEL = 0.95  # xent compare's confidence level when --ci is not given
MAX_REPLICATES = 100_000  # each chunk draws (replicates x blocks) Poisson weights
MAX_BINS = 100_000  # calibration bins: more than any use, and bounded memory per summary
MAX_WORST = 10_000  # --worst keeps its rows (and their ids) in memory, per slice
MAX_SLICES = 10_000  # --group-by: each slice keeps a summary (~10-50 kB; more with --ci)

DEFAULT_CHUNK_ROWS = 65_536  # the most rows in a chunk when --chunk-rows is not given
CHUNK_VALUES = 1 << 22  # ... and about this many scores per chunk, for many classes


def auto_chunk_rows(classes: int | None) -> int:
    """Rows per chunk: ~4M scores, between 1,024 and 65,536 rows (a row-major kernel on small
    chunks wins for 1000 classes; column-wise kernels want long columns for 10)."""
    if classes is None:
        return 4_096
    return max(1_024, min(DEFAULT_CHUNK_ROWS, CHUNK_VALUES // max(1, classes)))


@dataclass(frozen=True)
class ReadConfig:
    """Where the predictions and targets are and which columns hold what."""

    predictions: str
    labels: str | None = None
    label_col: str = "label"
    target_cols: str | None = None
    pred_cols: str | None = None
    weight_col: str | None = None
    id_col: str | None = None
    class_names: tuple[str, ...] | None = None
    input_format: InputFormat = InputFormat.auto
    chunk_rows: int | None = None  # None: auto_chunk_rows(number of score columns)
    group_by: tuple[str, ...] = ()
    # One file of a hive-partitioned dataset (a distributed task), and Parquet row groups;
    # errors then name the input the user gave, with its row numbers:
    partition_base: str | None = None
    row_groups: tuple[int, ...] | None = None
    part_of: str | None = None
    threads: int = 0  # 0: every core
    # Inputs in memory (the Python API's arrays and frames), by the names that stand for
    # them in ``predictions`` and ``labels`` (``<predictions: pandas.DataFrame>``).
    memory: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def validate(self) -> None:
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise UsageError(f"--chunk-rows {self.chunk_rows}: must be >= 1")
        if self.threads < 0:
            raise UsageError(f"--threads {self.threads}: must be >= 0 (0: every core)")
        if len(set(self.group_by)) != len(self.group_by):
            raise UsageError("--group-by: a column is given twice")
        if self.class_names is not None:
            if any(not n for n in self.class_names):
                raise UsageError("--class-names: empty name; give NAME,NAME,...")
            if len(set(self.class_names)) != len(self.class_names):
                raise UsageError(f"class names must be unique: {', '.join(self.class_names)}")

    def to_dict(self) -> dict[str, Any]:
        """The reading options that change a number."""
        return {"weight_col": self.weight_col}


@dataclass(frozen=True)
class LossConfig:
    """How the scores become a loss: the task and every option of the math."""

    task: Task = Task.auto
    logits: bool = False
    reduction: Reduction = Reduction.mean
    label_reduction: LabelReduction = LabelReduction.sum
    class_weights: tuple[float, ...] | None = None
    label_smoothing: float = 0.0
    ignore_index: int | None = None
    pos_weight: tuple[float, ...] | None = None
    base: Base = Base.e
    clip_eps: float | None = None  # None: machine epsilon of the input's float type
    renormalize: bool = False
    sum_tol: float = 1e-3

    def validate(self) -> None:
        """Values that are wrong whatever the data."""
        if self.logits and self.renormalize:
            raise UsageError("--renormalize is for probabilities; it cannot go with --logits")
        if not 0.0 <= self.label_smoothing <= 1.0:  # torch's range: 1 is the uniform target
            raise UsageError(f"--label-smoothing {self.label_smoothing}: must be in [0, 1]")
        if self.clip_eps is not None and not 0.0 <= self.clip_eps < 0.5:
            raise UsageError(f"--clip-eps {self.clip_eps}: must be in [0, 0.5)")
        if not self.sum_tol >= 0:
            raise UsageError(f"--sum-tol {self.sum_tol}: must be >= 0")
        for name, values in (
            ("--class-weights", self.class_weights),
            ("--pos-weight", self.pos_weight),
        ):
            if values is not None and not all(math.isfinite(v) and v >= 0 for v in values):
                raise UsageError(f"{name}: weights must be finite numbers >= 0")

    def to_dict(self, plan: TaskPlan | None = None) -> dict[str, Any]:
        """Every option of the math with its effective value: the task and the clipping as the
        first chunk settled them (``clip_eps`` is null for logits, which are never clipped)."""
        return {
            "task": (plan.task if plan is not None else self.task).value,
            "logits": self.logits,
            "renormalize": self.renormalize,
            "sum_tol": self.sum_tol,
            "clip_eps": None if self.logits else (plan.eps if plan is not None else self.clip_eps),
            "label_smoothing": self.label_smoothing,
            "class_weights": _listed(self.class_weights),
            "pos_weight": _listed(self.pos_weight),
            "ignore_index": self.ignore_index,
            "label_reduction": self.label_reduction.value,
            "base": self.base.value,
            "reduction": self.reduction.value,
        }


@dataclass(frozen=True)
class MetricConfig:
    """Which optional figures to gather while streaming."""

    top_k: int | None = None
    bins: int = 15
    worst: int = 0
    histogram: bool = False  # per-row loss histogram (for --plot)
    ci: float | None = None  # confidence level of a bootstrap interval for the loss
    seed: int = 0
    replicates: int = 1000
    fit_temperature: bool = False  # reads the input again, once per Newton step

    def validate(self) -> None:
        if self.top_k is not None and self.top_k < 1:
            raise UsageError(f"--top-k {self.top_k}: must be >= 1")
        if not 1 <= self.bins <= MAX_BINS:
            raise UsageError(f"--bins {self.bins}: must be in 1..{MAX_BINS:,}")
        if not 0 <= self.worst <= MAX_WORST:
            raise UsageError(
                f"--worst {self.worst}: must be in 0..{MAX_WORST:,} (the rows are kept in memory)"
            )
        if self.ci is not None and not 0.0 < self.ci < 1.0:
            raise UsageError(f"--ci {self.ci}: a confidence level in (0, 1), e.g. 0.95")
        if not 10 <= self.replicates <= MAX_REPLICATES:
            raise UsageError(f"--replicates {self.replicates}: must be in 10..{MAX_REPLICATES}")
        if self.seed < 0:
            raise UsageError(f"--seed {self.seed}: must be >= 0")

    def validate_for(self, plan: TaskPlan) -> None:
        """What is wrong only once the first chunk settled the task and the classes."""
        if self.fit_temperature and plan.task is Task.multilabel:
            raise UsageError(
                "--fit-temperature is for multiclass and binary problems; a multi-label row "
                "is C problems of its own (drop --fit-temperature, or pass --task multiclass)"
            )
        if self.top_k is not None and plan.task is not Task.multiclass:
            raise UsageError("--top-k is for multiclass problems")
        if self.top_k is not None and self.top_k >= plan.n_classes:
            raise UsageError(
                f"--top-k {self.top_k}: there are {plan.n_classes} classes, so every row would "
                f"count as right; give K below {plan.n_classes}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The metric options that change a number."""
        return {"bins": self.bins, "top_k": self.top_k}


@dataclass(frozen=True)
class OutputConfig:
    # --format: stdout's format and that of an --output path without a telling extension
    # (None: not given, the table)
    format: OutputFormat | None = None
    output: str | tuple[str, ...] | None = None  # --output, repeatable; "-" is stdout
    per_sample: str | None = None
    max_loss: float | None = None
    plot: bool = False
    checks: tuple[str, ...] = ()
    baseline: str | None = None
    max_increase: str | None = None
    quiet: bool = False
    allow_missing_baseline: bool = False  # a --baseline file that is absent: a first run

    @property
    def outputs(self) -> tuple[str, ...]:
        if self.output is None:
            return ()
        return (self.output,) if isinstance(self.output, str) else tuple(self.output)

    def validate(self) -> None:
        import os

        if self.max_loss is not None and math.isnan(self.max_loss):
            raise UsageError("--max-loss nan: give a number (a NaN bound would fail every run)")
        if self.max_loss is not None and math.isinf(self.max_loss):
            raise UsageError(
                f"--max-loss {self.max_loss}: give a finite number (a gate against it could "
                "never fail, or never pass)"
            )
        if self.max_increase is not None and self.baseline is None:
            raise UsageError("--max-increase needs --baseline PREV.json to compare with")
        if self.allow_missing_baseline and self.baseline is None:
            raise UsageError("--allow-missing-baseline goes with --baseline PREV.json")
        for output in self.outputs:
            if (
                output != "-"
                and self.per_sample
                and os.path.realpath(output) == os.path.realpath(self.per_sample)
            ):
                raise UsageError(
                    f"--output and --per-sample both name {output}; give each its own file"
                )


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``compute`` run was asked: the inputs, the math, the metrics, the outputs
    and gates, and the engine."""

    read: ReadConfig
    loss: LossConfig = field(default_factory=LossConfig)
    metrics: MetricConfig = field(default_factory=MetricConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    engine: Engine = Engine.local
    scheduler: str | None = None  # a Dask scheduler's address (default: a local cluster)

    def validate(self) -> None:
        self.read.validate()
        self.loss.validate()
        self.metrics.validate()
        self.output.validate()
        if self.engine is Engine.dask and self.output.per_sample:
            raise UsageError("--per-sample writes rows in input order; it needs --engine local")
        if self.scheduler is not None and self.engine is not Engine.dask:
            raise UsageError("--scheduler goes with --engine dask")
        if self.scheduler is not None and not self.scheduler.strip():
            raise UsageError(
                "--scheduler '': give a scheduler's address such as tcp://10.0.0.5:8786 (or "
                "leave the option out for a local cluster)"
            )


@dataclass(frozen=True)
class TaskPlan:
    """What the first chunk settled: the task, the classes and the constants of the math."""

    task: Task
    classes: tuple[str, ...]
    uses_targets: bool  # wide target columns, else one label per row
    eps: float
    class_weight: np.ndarray | None
    pos_weight: np.ndarray | None

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class RunOptions:
    """The report's ``options``: every setting that changes a number, with its effective value
    (``values``), and which of them the run set away from their defaults (``changed``: the table
    and Markdown name those under the title)."""

    values: dict[str, Any]
    changed: tuple[str, ...] = ()

    @staticmethod
    def of(read: ReadConfig, loss: LossConfig, metrics: MetricConfig, plan: TaskPlan) -> RunOptions:
        values = {**loss.to_dict(plan), **metrics.to_dict(), **read.to_dict()}
        changed = [
            f.name
            for cfg in (loss, metrics, read)
            for f in fields(cfg)
            if f.name in values and f.name != "task" and getattr(cfg, f.name) != f.default
        ]
        return RunOptions(values, tuple(k for k in values if k in changed))


def parse_numbers(option: str, text: str | None) -> tuple[float, ...] | None:
    """``1,2,0.5`` as numbers (``--class-weights``, ``--pos-weight``)."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{option} '{text}': expected numbers separated by commas") from None


def parse_names(text: str | None) -> tuple[str, ...] | None:
    """``a,b,c`` as class names (``--class-names``)."""
    if text is None:
        return None
    names = tuple(v.strip() for v in text.split(","))
    if any(not n for n in names):
        raise UsageError(f"--class-names '{text}': empty name; give NAME,NAME,...")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes the terminal's encoding could not decode
        raise UsageError("--class-names: a name is not valid UTF-8 text") from None
    return names


def _listed(values: tuple[float, ...] | None) -> list[float] | None:
    return None if values is None else list(values)


def default(config: type, name: str) -> Any:
    """The default of a config's field: the CLI's option defaults are read from here, so
    each is stated once."""
    for f in fields(config):
        if f.name == name:
            if f.default is MISSING:
                raise KeyError(f"{config.__name__}.{name} has no default")
            return f.default
    raise KeyError(f"{config.__name__} has no field {name}")


def loss_option_names() -> tuple[str, ...]:
    """The ``options`` keys that a baseline report must share with this run: every one that
    changes the loss or a metric (``sum_tol`` only checks the input, ``logits`` says how the
    same probabilities arrive)."""
    keys = [*LossConfig().to_dict(), *MetricConfig().to_dict(), *ReadConfig("").to_dict()]
    return tuple(k for k in keys if k not in ("sum_tol", "logits"))
