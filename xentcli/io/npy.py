"""NumPy inputs: ``.npy`` through a read-only memory map, ``.npz`` members streamed from the zip.

Pickling is never enabled: an object array is refused before any of it is read.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from xentcli.errors import InputError

NPZ_SCORES = "scores"
NPZ_LABELS = "labels"
NPZ_WEIGHTS = "weights"


@dataclass
class ArrayInput:
    """One array of a .npy file or .npz member, readable in blocks of rows."""

    name: str  # for messages: "preds.npy" or "preds.npz[scores]"
    path: str
    member: str | None  # .npz member name (without .npy), or None for a .npy file
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    fortran_order: bool

    @property
    def num_rows(self) -> int:
        return self.shape[0] if self.shape else 0

    def blocks(self, rows: int) -> Iterator[np.ndarray]:
        """Blocks of ``rows`` rows, read with plain reads: a file that shrinks while it is read
        is a clean 'truncated' error (a memory map would crash the process with SIGBUS)."""
        if self.member is None and self.fortran_order:
            yield from self._column_major_blocks(rows)
            return
        if self.member is None:
            try:
                with open(self.path, "rb") as fh:
                    _read_header(fh, self.name)
                    yield from self._stream(fh, rows)
            except OSError as exc:
                raise InputError(f"{self.name}: cannot read: {exc.strerror}") from None
            return
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member + ".npy") as fh:
                _read_header(fh, self.name)
                yield from self._stream(fh, rows)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(f"{self.name}: cannot read the .npz member: {exc}") from None

    def _column_major_blocks(self, rows: int) -> Iterator[np.ndarray]:
        """Row blocks of a column-major .npy file, each column's stretch read at its offset
        with plain reads: a memory map of a file that shrinks while it is read ends the
        process with SIGBUS, where a short read is the usual 'truncated' error."""
        item = self.dtype.itemsize
        n = self.num_rows
        width = math.prod(self.shape[1:])
        try:
            with open(self.path, "rb") as fh:
                _read_header(fh, self.name)
                data_start = fh.tell()
                for start in range(0, n, rows):
                    k = min(rows, n - start)
                    block = np.empty((width, k), dtype=self.dtype)  # column by column
                    for j in range(width):
                        fh.seek(data_start + (j * n + start) * item)
                        block[j] = np.frombuffer(_read_exact(fh, k * item, self.name), self.dtype)
                    yield block.T.reshape((k, *self.shape[1:]), order="F")
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read: {exc.strerror}") from None

    def _stream(self, fh: IO[bytes], rows: int) -> Iterator[np.ndarray]:
        if self.fortran_order:
            # Column-major data cannot be cut into rows from a stream: read the member whole
            # (its size was checked against FORTRAN_MEMBER_MAX_BYTES when it was opened).
            flat = np.frombuffer(_read_exact(fh, _nbytes(self), self.name), self.dtype)
            arr = flat.reshape(self.shape, order="F")
            for start in range(0, self.num_rows, rows):
                yield arr[start : start + rows]
            return
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        for start in range(0, self.num_rows, rows):
            k = min(rows, self.num_rows - start)
            data = _read_exact(fh, k * row_bytes, self.name)
            yield np.frombuffer(data, self.dtype).reshape((k, *self.shape[1:]))


def _nbytes(a: ArrayInput) -> int:
    """The array's size in bytes, in Python's integers: np.prod in int64 wrapped a header
    claiming (2**32, 2**32) to 0 bytes, which then passed every size check."""
    return math.prod(a.shape) * a.dtype.itemsize


def _read_exact(fh: IO[bytes], n: int, name: str) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise InputError(f"{name}: the array data ends early; the file is truncated")
    return data


def _read_header(fh: IO[bytes], name: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
    except ValueError as exc:
        raise InputError(f"{name}: not a NumPy array file: {exc}") from None
    if dtype.hasobject:
        raise InputError(
            f"{name}: holds Python objects (dtype {dtype}); xent never unpickles. "
            "Save numbers (or fixed-width strings for labels) instead"
        )
    return tuple(shape), bool(fortran), dtype


def open_npy(path: str) -> ArrayInput:
    try:
        with open(path, "rb") as fh:
            shape, fortran, dtype = _read_header(fh, path)
            data_start = fh.tell()
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    arr = ArrayInput(path, path, None, dtype, shape, fortran)
    if size < data_start + _nbytes(arr):
        raise InputError(
            f"{path}: the header promises {shape} values of {dtype} but the file ends early; "
            "it is truncated"
        )
    return arr


NPZ_MEMBER_MAX_BYTES = 16 << 30  # default limit on one .npz member's uncompressed size
# A column-major member cannot be cut into rows from the zip stream: it is read whole, so
# its bound is one of memory (np.savez of an array that was transposed or sliced by column).
FORTRAN_MEMBER_MAX_BYTES = 1 << 30


def npz_member_limit() -> int:
    """The largest .npz member xent will decompress (XENT_NPZ_MAX_BYTES overrides 16 GiB)."""
    raw = os.environ.get("XENT_NPZ_MAX_BYTES")
    return int(raw) if raw and raw.isdigit() else NPZ_MEMBER_MAX_BYTES


def open_npz(path: str) -> dict[str, ArrayInput]:
    """Every member of an .npz archive, by name, without reading their data.

    A member whose stated size (in the zip directory or its array header) is above
    :func:`npz_member_limit`, or whose two sizes disagree, is refused before it is
    decompressed.
    """
    out: dict[str, ArrayInput] = {}
    limit = npz_member_limit()
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                member = info.filename[: -len(".npy")]
                name = f"{path}[{member}]"
                if info.file_size > limit:
                    raise InputError(
                        f"{name}: {info.file_size:,} bytes uncompressed, above the limit of "
                        f"{limit:,}; set XENT_NPZ_MAX_BYTES to allow it"
                    )
                with zf.open(info) as fh:
                    shape, fortran, dtype = _read_header(fh, name)
                    header_end = fh.tell()
                arr = ArrayInput(name, path, member, dtype, shape, fortran)
                if fortran and _nbytes(arr) > min(limit, FORTRAN_MEMBER_MAX_BYTES):
                    raise InputError(
                        f"{name}: a column-major (Fortran-order) array of {_nbytes(arr):,} "
                        "bytes, which an .npz can only give whole (the limit is "
                        f"{min(limit, FORTRAN_MEMBER_MAX_BYTES):,}); save it row-major "
                        "(np.ascontiguousarray) or as an .npy file"
                    )
                if header_end + _nbytes(arr) != info.file_size:
                    raise InputError(
                        f"{name}: the array header promises {shape} values of {dtype} but the "
                        "member holds a different amount of data; the archive is corrupt"
                    )
                out[member] = arr
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz archive: {exc}") from None
    return out


def pick_scores(members: dict[str, ArrayInput], path: str) -> ArrayInput:
    """The ``scores`` member, or the only 2-D array."""
    if NPZ_SCORES in members:
        return members[NPZ_SCORES]
    two_d = [m for m in members.values() if len(m.shape) == 2]
    if len(two_d) == 1:
        return two_d[0]
    raise InputError(
        f"{path}: cannot tell which array holds the scores (members: "
        f"{', '.join(sorted(members)) or 'none'}); name it 'scores'"
    )
