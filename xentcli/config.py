"""What a run was asked to do, as frozen dataclasses built once by the CLI and passed down."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

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
    parquet = "parquet"
    arrow = "arrow"
    npy = "npy"
    npz = "npz"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


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


@dataclass(frozen=True)
class OutputConfig:
    format: OutputFormat = OutputFormat.table
    output: str | None = None
    per_sample: str | None = None
    max_loss: float | None = None
    plot: bool = False
    checks: tuple[str, ...] = ()
    baseline: str | None = None
    max_increase: str | None = None
    quiet: bool = False


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
