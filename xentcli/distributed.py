"""Distributed evaluation through Dask: each task folds one file (or one Parquet row group)
into a summary; the summaries merge into the same result as a local run.

Dask is an optional extra (``pip install 'xent[dask]'``), imported only when asked for.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from xentcli.config import LossConfig, MetricConfig, ReadConfig, TaskPlan
from xentcli.errors import InputError, UsageError, XentError
from xentcli.fold import Folded, finish_all, fold
from xentcli.io import open_dataset
from xentcli.io.formats import kind_of
from xentcli.result import Result
from xentcli.scoring import ChunkScorer
from xentcli.startup import start, validate


@dataclass(frozen=True)
class Fragment:
    """One task's share of the input: a file (or one of its row groups) and its first row."""

    path: str
    row0: int
    base: str | None = None  # hive partitions are relative to this directory
    row_group: int | None = None


def fragments(read: ReadConfig) -> list[Fragment]:
    """A task per file of a Parquet dataset, or per row group of one Parquet file."""
    from xentcli.io.datasets import is_dataset_path, open_dataset_input

    out: list[Fragment] = []
    row0 = 0
    if is_dataset_path(read.predictions):
        found = open_dataset_input(read.predictions, None, threads=False)
        if found.kind != "parquet":
            raise UsageError(
                "--engine dask reads Parquet files (a dataset or one file); "
                f"{read.predictions} holds {found.kind} files"
            )
        for path in found.files:
            out.append(Fragment(path, row0, base=found.base))
            row0 += _num_rows(path)
        return out
    if kind_of(read.predictions) != "parquet":
        raise UsageError("--engine dask reads Parquet files (a directory, a glob or one file)")
    meta = _metadata(read.predictions)
    for i in range(meta.num_row_groups):
        out.append(Fragment(read.predictions, row0, row_group=i))
        row0 += meta.row_group(i).num_rows
    return out


def _metadata(path: str) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read Parquet: {exc}") from None


def _num_rows(path: str) -> int:
    return int(_metadata(path).num_rows)


def fold_fragment(
    frag: Fragment,
    *,
    read: ReadConfig,
    loss: LossConfig,
    metrics: MetricConfig,
    plan: TaskPlan,
    labels_by_name: bool | None,
) -> Folded | XentError:
    """Runs on a worker: read one fragment and fold it (rows numbered from ``frag.row0``, as
    rows of the whole input), its text labels read as the client's first chunk decided (names
    or indices). A problem with the input comes back as a value, for the client to report:
    raised, it would also be logged with a traceback by the worker."""
    cfg = _fragment_read(frag, read)
    try:
        ds = open_dataset(cfg)
        scorer = ChunkScorer(ds, cfg, loss, plan, metrics)
        scorer.encoder.by_name = labels_by_name
        return fold((c.shifted(frag.row0) for c in ds.parts), scorer, ds.group_by)
    except XentError as exc:
        return exc


def temperature_fragment(
    frag: Fragment,
    *,
    read: ReadConfig,
    loss: LossConfig,
    metrics: MetricConfig,
    plan: TaskPlan,
    labels_by_name: bool | None,
    requests: Any,
) -> Any:
    """Runs on a worker: one pass of --fit-temperature over one fragment (the sums at the
    requested betas, per scope), or the input's problem as a value."""
    from xentcli.temperature import fold_temperature

    cfg = _fragment_read(frag, read)
    try:
        ds = open_dataset(cfg)
        scorer = ChunkScorer(ds, cfg, loss, plan, metrics)
        scorer.encoder.by_name = labels_by_name
        parts = (c.shifted(frag.row0) for c in ds.parts)
        return fold_temperature(parts, scorer, ds.group_by, requests, metrics.bins)
    except XentError as exc:
        return exc


def _fragment_read(frag: Fragment, read: ReadConfig) -> ReadConfig:
    return replace(
        read,
        predictions=frag.path,
        partition_base=frag.base,
        row_groups=None if frag.row_group is None else (frag.row_group,),
        threads=1,
        part_of=read.predictions,
    )


def _client(scheduler: str | None, workers: int) -> Any:
    import logging
    import warnings

    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--engine dask needs Dask: pip install 'xent[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
        except (ValueError, TypeError) as exc:  # an address Dask cannot use (scheme, port)
            raise UsageError(
                f"--scheduler {scheduler}: not an address Dask can connect to ({exc}); give "
                "one such as tcp://10.0.0.5:8786"
            ) from None
    # Its HTTP server (no dashboard) wants port 8787 and warns when another cluster has it;
    # the workers' own logs (a failed task's traceback) stay off the user's terminal.
    warnings.filterwarnings("ignore", message="Port .* is already in use")
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    return Client(cluster)


def evaluate_dask(
    read: ReadConfig,
    loss: LossConfig,
    metrics: MetricConfig | None = None,
    scheduler: str | None = None,
    workers: int = 0,
) -> Result:
    """The same result as :func:`xentcli.evaluate.evaluate`, folded by Dask tasks."""
    import os

    metrics = metrics or MetricConfig()
    validate(read, loss, metrics)  # as given: the start-up below reads with one thread
    if read.labels is not None:
        raise UsageError("--engine dask reads labels from a column of the files, not --labels")
    # The same start-up as the local engine (every option checked alike), on the same first
    # chunk: --task auto decides on it. The tasks read everything.
    with start(replace(read, threads=1), loss, metrics) as run:
        # The first chunk is scored here too: its problems are found before a cluster
        # starts, and it decides for every task whether text labels are names or indices.
        run.scorer.score(next(run.chunks))
    plan, ds = run.plan, run.ds
    frags = fragments(read)
    task = functools.partial(
        fold_fragment,
        read=read,
        loss=loss,
        metrics=metrics,
        plan=plan,
        labels_by_name=run.scorer.encoder.by_name,
    )
    client = _client(scheduler, workers or os.cpu_count() or 1)
    temperature = None
    try:
        futures = client.map(task, frags, pure=False)
        folded_parts = client.gather(futures)
        for part in folded_parts:
            if isinstance(part, XentError):
                raise part
        folded = folded_parts[0]
        for other in folded_parts[1:]:
            folded.merge(other)
        if metrics.fit_temperature:
            from xentcli.temperature import fit, merge_sums, weight_sums

            def run_pass(requests: Any) -> Any:
                one = functools.partial(
                    temperature_fragment,
                    read=read,
                    loss=loss,
                    metrics=metrics,
                    plan=plan,
                    labels_by_name=run.scorer.encoder.by_name,
                    requests=requests,
                )
                found = client.gather(client.map(one, frags, pure=False))
                merged: dict[Any, Any] = {}
                for sums in found:  # in fragment order, as the folds above
                    if isinstance(sums, XentError):
                        raise sums
                    merge_sums(merged, sums)
                return merged

            temperature = fit(run_pass, weight_sums(folded.summary, folded.slices))
    finally:
        cluster = client.cluster if not scheduler else None
        client.close()
        if cluster is not None:
            cluster.close()
    return finish_all(
        folded, plan=plan, loss=loss, ds=ds, options=run.options, temperature=temperature
    )
