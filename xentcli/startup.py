"""The one start-up of every run: the options checked, the inputs opened, the task settled.

The local engine, the Dask engine, ``compare`` and the Python API's ``compute`` all begin here,
so an option check written once (in :mod:`xentcli.config`) applies to all of them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

from xentcli import kernels
from xentcli.config import LossConfig, MetricConfig, ReadConfig, RunOptions, TaskPlan
from xentcli.errors import InputError
from xentcli.io import Chunk, Dataset, open_dataset
from xentcli.readahead import read_ahead
from xentcli.scoring import ChunkScorer, plan_task

READ_AHEAD_CHUNKS = 3  # decoded chunks waiting (or being decoded) ahead of the kernels


def validate(read: ReadConfig, loss: LossConfig, metrics: MetricConfig) -> None:
    """Every check of the options that needs no data, in one place."""
    read.validate()
    loss.validate()
    metrics.validate()


@dataclass
class Started:
    """An opened run: its inputs, the plan the first chunk settled, a scorer, and every chunk
    (the first one included). Used as a context manager, it puts Arrow's thread pools back as
    they were when the run is over (a notebook's other work keeps its own)."""

    ds: Dataset
    plan: TaskPlan
    scorer: ChunkScorer
    chunks: Iterator[Chunk]
    options: RunOptions
    pools_before: tuple[int, int] | None = None

    def __enter__(self) -> Started:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pools_before is not None:
            restore_pools(self.pools_before)
            self.pools_before = None


def start(read: ReadConfig, loss: LossConfig, metrics: MetricConfig) -> Started:
    """Check the options, open the inputs, read the first chunk and settle the task on it."""
    validate(read, loss, metrics)
    ds = open_dataset(read)
    pools_before = set_decode_threads(read.threads, len(ds.score_names), parse_heavy=ds.text)
    try:
        chunks: Iterator[Chunk] = ds.parts
        if read.threads != 1:
            chunks = read_ahead(chunks, READ_AHEAD_CHUNKS, name="reader")
        first = next(chunks, None)
        if first is None:
            raise InputError(f"{ds.source}: no data rows; there is nothing to score")
        plan = plan_task(ds, loss, first, read.class_names)
        metrics.validate_for(plan)
    except BaseException:
        restore_pools(pools_before)
        raise
    scorer = ChunkScorer(ds, read, loss, plan, metrics)
    options = RunOptions.of(read, loss, metrics, plan)
    return Started(ds, plan, scorer, itertools.chain([first], chunks), options, pools_before)


def set_decode_threads(threads: int, columns: int, *, parse_heavy: bool = False) -> tuple[int, int]:
    """Size Arrow's thread pools for reading ``columns`` score columns with --threads N (0:
    every core); returns the sizes they had.

    With few columns, this thread computes and Arrow decodes ahead on the other N - 1 cores:
    decoding on every core as well made the two fight over the same cores (and raised peak
    memory by ~30 MB). With many columns (over 64) decoding is most of the work (the kernel is
    ~4x faster than the decode of 1000 columns), so Arrow gets every core; so it does for CSV
    (``parse_heavy``), whose parsing costs several times the math."""
    import pyarrow as pa

    before = pa.cpu_count(), pa.io_thread_count()
    cores = threads or os.cpu_count() or 1
    wide = columns > kernels.COLUMNWISE_MAX_CLASSES or parse_heavy
    pa.set_cpu_count(cores if wide else max(1, cores - 1))
    pa.set_io_thread_count(max(1, cores))
    return before


def restore_pools(sizes: tuple[int, int]) -> None:
    import pyarrow as pa

    pa.set_cpu_count(sizes[0])
    pa.set_io_thread_count(sizes[1])
