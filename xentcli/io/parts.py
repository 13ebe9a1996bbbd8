"""Aligned stretches of rows, re-cut to a fixed size and zipped across files.

Every reader yields :class:`Part` objects: named columns of equal length, as NumPy arrays
(or Arrow arrays for labels and ids that are converted later). Whatever size the format hands
over (a CSV block, a Parquet batch, an IPC record batch), :func:`rebatch` re-cuts the stream
into parts of exactly ``rows`` rows, so two files read in step line up part by part.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xentcli.errors import InputError


@dataclass
class Part:
    """Rows ``row0 .. row0 + n - 1`` of an input, column role -> array."""

    n: int
    row0: int = 0
    arrays: dict[str, Any] = field(default_factory=dict)

    def slice(self, start: int, length: int) -> Part:
        return Part(
            length,
            self.row0 + start,
            {k: _slice(v, start, length) for k, v in self.arrays.items()},
        )


def _slice(a: Any, start: int, length: int) -> Any:
    if isinstance(a, np.ndarray):
        return a[start : start + length]
    return a.slice(start, length)  # a pyarrow Array: zero-copy


def _concat(pieces: list[Any]) -> Any:
    if isinstance(pieces[0], np.ndarray):
        order = "F" if pieces[0].ndim == 2 and pieces[0].flags.f_contiguous else "C"
        out = np.concatenate(pieces, axis=0)
        return np.asfortranarray(out) if order == "F" else out
    import pyarrow as pa

    return pa.concat_arrays(pieces)


def concat_parts(parts: list[Part], source: str = "") -> Part:
    if len(parts) == 1:
        return parts[0]
    keys = parts[0].arrays.keys()
    for k in keys:
        first = parts[0].arrays[k]
        if isinstance(first, np.ndarray) and first.ndim == 2:
            for p in parts[1:]:
                if p.arrays[k].shape[1] != first.shape[1]:
                    raise InputError(
                        f"{source}: row {p.row0 + 1}: {p.arrays[k].shape[1]} values per row "
                        f"where earlier rows have {first.shape[1]}; every row needs one score "
                        "(or target) per class"
                    )
    return Part(
        sum(p.n for p in parts),
        parts[0].row0,
        {k: _concat([p.arrays[k] for p in parts]) for k in keys},
    )


def rebatch(parts: Iterator[Part], rows: int, source: str = "") -> Iterator[Part]:
    """Re-cut a stream of parts into parts of exactly ``rows`` rows (the last may be shorter)."""
    pending: list[Part] = []
    have = 0
    row0 = 0
    for part in parts:
        start = 0
        while start < part.n:
            take = min(rows - have, part.n - start)
            pending.append(part.slice(start, take))
            have += take
            start += take
            if have == rows:
                out = concat_parts(pending, source)
                out.row0 = row0
                row0 += out.n
                yield out
                pending, have = [], 0
    if have:
        out = concat_parts(pending, source)
        out.row0 = row0
        yield out


def zip_aligned(
    left: Iterator[Part], right: Iterator[Part], rows: int, left_name: str, right_name: str
) -> Iterator[Part]:
    """Read two inputs in step, row by row; their columns merge into one part.

    Inputs of different lengths are an error that says how long each one is.
    """
    lparts = rebatch(left, rows, left_name)
    rparts = rebatch(right, rows, right_name)
    seen = 0
    for lp in lparts:
        rp = next(rparts, None)
        if rp is None or rp.n != lp.n:
            n_left = seen + lp.n + sum(p.n for p in lparts)
            n_right = seen + (rp.n if rp is not None else 0) + sum(p.n for p in rparts)
            raise _length_mismatch(left_name, n_left, right_name, n_right)
        seen += lp.n
        yield Part(lp.n, lp.row0, {**lp.arrays, **rp.arrays})
    extra = sum(p.n for p in rparts)
    if extra:
        raise _length_mismatch(left_name, seen, right_name, seen + extra)


def _length_mismatch(left: str, n_left: int, right: str, n_right: int) -> InputError:
    return InputError(
        f"{left} has {n_left} rows but {right} has {n_right}; "
        "predictions and labels are read in step, so they must have the same rows in the same order"
    )
