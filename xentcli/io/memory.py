"""Inputs already in memory, for the Python API: NumPy arrays (and anything ``np.from_dlpack``
or ``np.asarray`` takes, such as a CPU torch tensor), pandas and polars DataFrames, pyarrow
Tables, RecordBatches, RecordBatchReaders and Datasets, and any object with
``__arrow_c_stream__`` (the Arrow PyCapsule interface).

Each becomes what a file would: a stream of Arrow record batches (read by the same table
reader as an Arrow IPC file, batch by batch) or NumPy arrays (read by the same array reader as
``.npy``, in row blocks). Nothing is copied where the layout allows it: arrays are sliced
into views, Arrow data is selected by column, DataFrames are handed to Arrow's zero-copy
conversions. A name such as ``<predictions: pandas.DataFrame>`` stands for the object in
messages, where a path would.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xentcli.errors import InputError, UsageError
from xentcli.io.npy import ArrayInput

_READ_ONCE: weakref.WeakSet[Any] = weakref.WeakSet()  # readers handed to a run already


@dataclass
class MemoryArray(ArrayInput):
    """An array in memory, read in row blocks (views, no copies) like a ``.npy`` file."""

    data: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        for start in range(0, self.num_rows, rows):
            yield self.data[start : start + rows]


@dataclass
class MemorySource:
    """One in-memory input: Arrow batches (``schema``, ``batches``) or arrays by role."""

    name: str
    schema: Any = None
    batches: Iterator[Any] | None = None
    num_rows: int | None = None
    arrays: dict[str, MemoryArray] = field(default_factory=dict)
    # (the object, labels, role): how to hand it over again (--fit-temperature reads twice)
    origin: tuple[Any, bool, str | None] | None = field(default=None, repr=False)

    def again(self) -> MemorySource:
        """A fresh source of the same object, for one more read; a stream that can be read
        only once (a RecordBatchReader, a C stream) is refused."""
        if self.origin is None:
            raise UsageError(f"{self.name}: this input can be read once only")
        obj, labels, role = self.origin
        import pyarrow as pa

        if isinstance(obj, pa.RecordBatchReader) or (
            hasattr(obj, "__arrow_c_stream__") and not hasattr(obj, "__len__")
        ):
            raise UsageError(
                f"{self.name}: fit_temperature reads the input once per step of its search, "
                "and a stream is read once; pass a Table (pa.table(reader)) or a file"
            )
        return memory_source(obj, labels=labels, role=role)

    def open(self) -> tuple[str, Any]:
        """What :func:`xentcli.io.open_dataset` reads: ("arrow", a table input) or
        ("memory", arrays by role). A source is read once."""
        if self.batches is None and not self.arrays:
            raise UsageError(f"{self.name}: this input was read already; pass it again")
        if self.arrays:
            arrays, self.arrays = self.arrays, {}
            return "memory", arrays
        from xentcli.io.tables import TableInput

        batches, self.batches = self.batches, None
        table = TableInput(self.name, "arrow", self.schema, num_rows=self.num_rows)
        table._ipc_batches_once = batches
        return "arrow", table


def kind_of(obj: Any) -> str:
    """``pandas.DataFrame``, ``numpy.ndarray``, ``torch.Tensor``: what the object is, for names."""
    module = type(obj).__module__.split(".")[0]
    return type(obj).__name__ if module == "builtins" else f"{module}.{type(obj).__name__}"


def memory_source(obj: Any, *, labels: bool, role: str | None = None) -> MemorySource:
    """The in-memory ``obj`` as an input (the predictions, or with ``labels`` the labels),
    named for messages by its ``role`` ("predictions", "labels", "A") and its kind."""
    source = _memory_source(obj, labels=labels, role=role)
    source.origin = (obj, labels, role)
    return source


def _memory_source(obj: Any, *, labels: bool, role: str | None = None) -> MemorySource:
    name = f"<{role or ('labels' if labels else 'predictions')}: {kind_of(obj)}>"
    stream = _arrow_stream(obj)
    if stream is not None:
        schema, batches, num_rows = stream
        return MemorySource(name, schema, batches, num_rows)
    array = as_array(obj, name)
    if array.dtype.kind == "O" or (array.dtype.kind in "US" and not labels):
        if labels and array.ndim == 1:  # text labels with missing values (pandas' object)
            import pyarrow as pa

            try:
                column = pa.array(array, from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise InputError(f"{name}: cannot read the labels: {exc}") from None
            table = pa.table({"label": column})
            return MemorySource(name, table.schema, iter(table.to_batches()), table.num_rows)
        raise InputError(f"{name}: dtype {array.dtype} is not numeric")
    if labels:
        role = "targets" if array.ndim == 2 else "labels"
    else:
        role = "scores"
    return MemorySource(name, arrays={role: memory_array(array, name)})


def memory_array(array: np.ndarray, name: str) -> MemoryArray:
    return MemoryArray(
        name=name,
        path=name,
        member=None,
        dtype=array.dtype,
        shape=tuple(array.shape),
        fortran_order=bool(array.flags.f_contiguous and not array.flags.c_contiguous),
        data=array,
    )


def as_array(obj: Any, name: str) -> np.ndarray:
    """``obj`` as a NumPy array, without a copy where it allows: ``np.from_dlpack`` for
    tensors (a CPU torch tensor shares its memory), ``np.asarray`` for the rest."""
    if isinstance(obj, np.ndarray):
        return obj
    pd = sys.modules.get("pandas")
    pl = sys.modules.get("polars")
    if (pd is not None and isinstance(obj, pd.Series)) or (
        pl is not None and isinstance(obj, pl.Series)
    ):
        return np.asarray(obj.to_numpy())
    if hasattr(obj, "__dlpack__") and not isinstance(obj, (list, tuple)):
        try:
            return np.from_dlpack(obj)
        except (TypeError, BufferError, RuntimeError, ValueError):
            pass  # a tensor on a GPU, one that needs a gradient, a dtype NumPy lacks: below
    try:
        return np.asarray(obj)
    except (TypeError, RuntimeError, ValueError) as exc:
        hint = (
            "; for a torch tensor pass tensor.detach().cpu()"
            if type(obj).__module__.startswith("torch")
            else ""
        )
        raise InputError(f"{name}: cannot read it as an array: {exc}{hint}") from None


def as_labels(obj: Any, name: str) -> Any:
    """Labels for the Evaluator: a NumPy array of numbers, or (text, a pandas object or
    categorical column, missing values) an Arrow array, which the label encoder reads as it
    reads a file's label column: names or whole numbers, a missing one named by its row."""
    array = as_array(obj, name)
    if array.dtype.kind != "O":
        return array
    import pyarrow as pa

    try:
        return pa.array(array, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{name}: cannot read the labels: {exc}") from None


def _arrow_stream(obj: Any) -> tuple[Any, Iterator[Any], int | None] | None:
    """(schema, record batches, rows or None) of a tabular object, or None for arrays."""
    pd = sys.modules.get("pandas")
    pl = sys.modules.get("polars")
    if isinstance(obj, np.ndarray) or any(
        m is not None and isinstance(obj, m.Series) for m in (pd, pl)
    ):
        return None  # a column: read as an array
    import pyarrow as pa

    if pd is not None and isinstance(obj, pd.DataFrame):
        # the index is not a score (nor a label): left out, as a file's index column is
        try:
            obj = pa.Table.from_pandas(obj, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InputError(f"<{kind_of(obj)}>: cannot hand it to Arrow: {exc}") from None
    if pl is not None and isinstance(obj, pl.LazyFrame):
        raise UsageError("a polars LazyFrame is a query, not data: pass frame.collect()")
    if pl is not None and isinstance(obj, pl.DataFrame):
        obj = obj.to_arrow()
    if isinstance(obj, pa.Table):
        return obj.schema, iter(obj.to_batches()), obj.num_rows
    if isinstance(obj, pa.RecordBatch):
        return obj.schema, iter([obj]), obj.num_rows
    if isinstance(obj, pa.RecordBatchReader):
        if obj in _READ_ONCE:
            raise UsageError(
                f"<{kind_of(obj)}>: this reader was read already (a stream is read once); pass "
                "a new one, or a Table"
            )
        _READ_ONCE.add(obj)
        return obj.schema, iter(obj), None
    pads = sys.modules.get("pyarrow.dataset")
    if pads is not None and isinstance(obj, pads.Dataset):
        reader = obj.scanner().to_reader()
        return reader.schema, iter(reader), None
    if hasattr(obj, "__arrow_c_stream__"):
        try:
            reader = pa.RecordBatchReader.from_stream(obj)
        except pa.ArrowInvalid:  # a stream of one column, not of rows: an array
            return None
        return reader.schema, iter(reader), None
    return None
