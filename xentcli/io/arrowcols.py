"""Arrow columns -> NumPy arrays, without copies where the layout allows and without pandas.

``Array.to_numpy()`` imports pandas on first use when it is installed; a view of the data
buffer via ``np.frombuffer`` (respecting the array's offset) costs nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from xentcli.errors import InputError, where


def is_numeric(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):  # numbers stored once each, indexed: decoded when read
        return is_numeric(t.value_type)
    return bool(
        pa.types.is_floating(t)
        or pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _first_null(arr: pa.Array) -> int:
    import pyarrow.compute as pc  # only on errors and casts: it costs ~40 ms to import

    return int(pc.index(pc.is_null(arr), True).as_py())


def numeric(arr: pa.Array | pa.ChunkedArray, source: str, column: str, row0: int) -> np.ndarray:
    """A null-free numeric Arrow array as a NumPy array (a zero-copy view when possible)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if arr.null_count:
        if pa.types.is_null(t):
            raise InputError(f"{where(source, row0, column)}: the column is empty (no values)")
        raise InputError(
            f"{where(source, row0 + _first_null(arr), column)}: missing value (empty, NA or "
            "NaN); every row needs a number in this column"
        )
    if pa.types.is_boolean(t) or pa.types.is_decimal(t):
        import pyarrow.compute as pc

        arr = pc.cast(arr, pa.int8() if pa.types.is_boolean(t) else pa.float64())
        t = arr.type
    if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
        raise InputError(f"{where(source, None, column)}: column has type {t}, expected numbers")
    dtype = np.dtype(t.to_pandas_dtype())
    buf = arr.buffers()[1]
    return np.frombuffer(buf, dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def batch_matrix(
    batch: pa.RecordBatch, names: list[str], source: str, row0: int, *, one_float_type: bool = False
) -> np.ndarray:
    """:func:`wide_matrix` of some columns of a batch. Columns known to be all float32 or all
    float64 (``one_float_type``, from the input's schema) are copied by Arrow in one call (for
    1000 columns ~7x faster than a NumPy copy per column); a null among them, or other types,
    go column by column through the checks."""
    part = batch.select(names)
    if one_float_type:
        try:
            out = np.asarray(part.to_tensor(row_major=False))
            if out.dtype.kind == "f":
                return out
        except pa.ArrowTypeError:  # nulls: found and reported by the per-column path
            pass
    return wide_matrix(part.columns, names, source, row0)


def one_float_type(types: list[pa.DataType]) -> bool:
    """Every type float32, or every type float64."""
    kinds = set(types)
    return len(kinds) == 1 and kinds <= {pa.float32(), pa.float64()}


def wide_matrix(columns: list[pa.Array], names: list[str], source: str, row0: int) -> np.ndarray:
    """Score or target columns side by side as one (n, C) Fortran-ordered array.

    Fortran order keeps each class's values contiguous, as Arrow hands them over: filling it
    is one memcpy per column, where a row-major stack would transpose.
    """
    cols = [numeric(a, source, nm, row0) for a, nm in zip(columns, names, strict=True)]
    dtype = np.result_type(*cols)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float64)
    n = len(cols[0]) if cols else 0
    out = np.empty((n, len(cols)), dtype=dtype, order="F")
    for j, c in enumerate(cols):
        out[:, j] = c
    return out


def list_matrix(
    arr: pa.Array | pa.ChunkedArray, source: str, column: str, row0: int, width: int | None = None
) -> np.ndarray:
    """A list or fixed-size-list column of scores as one (n, C) row-major array.

    ``width``: the scores per row that earlier chunks had (for the first chunk, the first
    row's), so the row named is the first one that differs, wherever the chunks are cut.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        raise InputError(
            f"{where(source, row0 + _first_null(arr), column)}: missing list of scores"
        )
    n = len(arr)
    if pa.types.is_fixed_size_list(arr.type):
        width = arr.type.list_size
    else:
        offsets = numeric(arr.offsets, source, column, row0)
        lengths = np.diff(offsets)
        if width is None:
            width = int(lengths[0]) if n else 0  # the first row sets the class count
        if n and width == 0:
            raise InputError(
                f"{where(source, row0, column)}: empty list of scores; every row "
                "needs one score per class"
            )
        bad = np.flatnonzero(lengths != width)
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"{where(source, row0 + i, column)}: list has {int(lengths[i])} scores "
                f"where the other rows have {width}; every row needs one score per class"
            )
    if n and width == 0:
        raise InputError(
            f"{where(source, row0, column)}: empty list of scores; every row "
            "needs one score per class"
        )
    flat = arr.flatten()
    if flat.null_count and width:
        # a missing score inside a list: name the list's row, not the position in the values
        r = _first_null(flat) // width
        raise InputError(
            f"{where(source, row0 + r, column)}: missing value in the list of "
            "scores; every class needs a number"
        )
    values = numeric(flat, source, column, row0)
    if values.size != n * width:  # pragma: no cover - guarded by the length check above
        raise InputError(f"{where(source, row0, column)}: ragged lists of scores")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    return values.reshape(n, width)


def as_text(arr: Any) -> pa.Array:
    """Labels that may be names: any Arrow array cast to strings."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if is_string_view(arr.type):  # polars writes text as string_view in Arrow IPC
        arr = arr.cast(pa.string())
    return arr


def is_string_view(t: pa.DataType) -> bool:
    """Arrow's string_view type (pyarrow >= 16), which polars writes by default."""
    check = getattr(pa.types, "is_string_view", None)
    return bool(check is not None and check(t))


def from_numpy(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """An Arrow array of a 1-D NumPy array (``mask``: True where null), built from its buffers.

    ``pa.array()`` and ``pa.scalar()`` import pandas on their first use when it is installed
    (~0.3 s a run; apache/arrow#34994), so xent's own columns never go through them. Text is
    built by :func:`strings`; other kinds (Python objects) still take ``pa.array``.
    """
    v = np.asarray(values)
    if v.dtype.kind == "U" or (v.dtype.kind == "O" and all(isinstance(x, str) for x in v)):
        return strings([str(x) for x in v.tolist()], mask)
    if v.dtype.kind not in "biuf":
        return pa.array(v, mask=mask)
    if v.dtype.kind == "b":
        data = np.packbits(v, bitorder="little")
    else:
        data = v = np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("="))
    validity, nulls = _validity(mask, len(v))
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(v.dtype), len(v), [validity, pa.py_buffer(data)], null_count=nulls
    )


def strings(texts: list[str], mask: np.ndarray | None = None) -> pa.Array:
    """An Arrow string array of ``texts`` (null where ``mask``), built from its buffers."""
    data = [t.encode("utf-8") for t in texts]
    ends = np.cumsum([len(d) for d in data], dtype=np.int64)
    large = bool(len(ends) and ends[-1] >= 2**31)
    offsets = np.zeros(len(data) + 1, dtype=np.int64 if large else np.int32)
    offsets[1:] = ends
    validity, nulls = _validity(mask, len(data))
    return pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        len(data),
        [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))],
        null_count=nulls,
    )


def _validity(mask: np.ndarray | None, n: int) -> tuple[pa.Buffer | None, int]:
    if mask is None:
        return None, 0
    nulls = int(np.count_nonzero(mask))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(~np.asarray(mask, dtype=bool)[:n], bitorder="little")), nulls
