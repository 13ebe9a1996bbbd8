"""Folding: scored chunks summed into a mergeable summary, one per ``--group-by`` slice too,
and the finished result made from the sums.

The same fold runs in every engine: the local one over a file's chunks, a Dask task over a
fragment; :meth:`Folded.merge` joins what separate folds gathered.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from xentcli.accumulate import Summary, take_rows
from xentcli.config import MAX_SLICES, LossConfig, RunOptions, TaskPlan
from xentcli.errors import InputError, UsageError
from xentcli.io import Chunk, Dataset
from xentcli.result import Result, finish, temperature_scaling
from xentcli.scoring import ChunkScorer, RowSink


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
    parts: Iterator[Chunk],
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
            for key, idx in grouper.slices(part, scored.counted):
                if key not in folded.slices:
                    folded.slices[key] = Summary(plan.n_classes, metrics)
                folded.slices[key].update(take_rows(rows, idx), key=part.row0)
        if sink is not None:
            sink.write(scored)
        if progress is not None:
            progress.advance(part.n, total)
            progress.update_rate()
    return folded


def finish_all(
    folded: Folded,
    *,
    plan: TaskPlan,
    loss: LossConfig,
    ds: Dataset,
    options: RunOptions | None = None,
    temperature: dict[Any, Any] | None = None,
) -> Result:
    """The result, with one per slice under --group-by (slices in sorted order); ``options``
    (the run's settings, as the report shows them) go on the top result; ``temperature``:
    the --fit-temperature fits by scope (None: every row; else a slice's key)."""
    if folded.summary.n == 0:
        raise InputError(
            f"{ds.source}: no rows left to count (every row has the --ignore-index label)"
        )
    if not folded.summary.sample_weight_sum.value > 0:
        raise InputError(
            f"{ds.source}: every row has sample weight 0, so there is nothing to average "
            "(check the --weight-col column)"
        )
    for total, what in (
        (folded.summary.sample_weight_sum.value, "sample weights (--weight-col)"),
        (folded.summary.weight_sum.value, "weights of the rows (sample and class weights)"),
    ):
        if math.isinf(total):  # float64 overflowed: the mean would read 0
            raise InputError(
                f"{ds.source}: the {what} add up to more than float64 holds; scale them down "
                "(the mean does not depend on a common factor)"
            )
    if not folded.summary.weight_sum.value > 0:
        raise InputError(
            f"{ds.source}: every row counted has weight 0 under --class-weights, so there is "
            "nothing to average (a class weight of 0 drops that class's rows)"
        )
    result = finish(folded.summary, plan=plan, cfg=loss, source=ds.source, id_name=ds.id_name)
    result = _with_temperature(result, temperature, None, loss)
    if options is not None:
        result = dataclasses.replace(result, options=options)
    if ds.weight_array is not None:  # weights the user may not know were applied
        sample_weights = {"source": ds.weight_source, "array": ds.weight_array}
        result = dataclasses.replace(result, sample_weights=sample_weights)
    if not ds.group_by:
        return result
    groups = tuple(
        (
            group,
            _with_temperature(
                finish(
                    folded.slices[key], plan=plan, cfg=loss, source=ds.source, id_name=ds.id_name
                ),
                temperature,
                key,
                loss,
            ),
        )
        for group, key in ordered_slices(ds.group_by, folded.slices)
    )
    return dataclasses.replace(result, groups=groups)


def _with_temperature(
    result: Result, temperature: dict[Any, Any] | None, key: Any, loss: LossConfig
) -> Result:
    if temperature is None or key not in temperature:
        return result
    scaling = temperature_scaling(
        temperature[key],
        loss_mean_nats=result.loss_mean * loss.base.log,
        logits=loss.logits,
        to_unit=loss.base.log,
    )
    return dataclasses.replace(result, temperature_scaling=scaling)


class Grouper:
    """Numbers the distinct combinations of the --group-by columns' values, across chunks."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.keys: list[tuple[Any, ...]] = []
        self.index: dict[tuple[Any, ...], int] = {}

    def codes(self, part: Chunk) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        from xentcli.io.arrowcols import numeric

        local, values = [], []
        for c in self.columns:
            arr = part.groups[c]
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
                if len(self.keys) >= MAX_SLICES:
                    raise UsageError(
                        f"--group-by {', '.join(self.columns)}: more than {MAX_SLICES:,} "
                        "slices (each keeps its own sums in memory); group by a coarser column"
                    )
                self.index[key] = len(self.keys)
                self.keys.append(key)
            lut[i] = self.index[key]
        return lut[inverse.reshape(-1)]

    def slices(
        self, part: Chunk, counted: np.ndarray | None = None, codes: np.ndarray | None = None
    ) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
        """(slice key, row indices) for each slice present in ``part`` (whose ``codes`` may be
        known already); with ``counted`` (the rows the scorer kept), the indices are into the
        counted rows, as the scorer's values are."""
        codes = self.codes(part) if codes is None else codes
        if counted is not None:
            codes = codes[counted]
        for code, idx in _split(codes):
            yield self.keys[code], idx


def ordered_slices(
    columns: tuple[str, ...], keys: Any
) -> list[tuple[dict[str, Any], tuple[Any, ...]]]:
    """The slices' keys in the report's order, each with its values as the JSON's ``group``."""
    return [
        ({c: _jsonable(v) for c, v in zip(columns, key, strict=True)}, key)
        for key in sorted(keys, key=_slice_order)
    ]


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
