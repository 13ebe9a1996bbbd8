"""How large each record batch of an Arrow IPC file is once decompressed, read from the file's
metadata before any batch is: a 153 kB zstd-compressed file once expanded to 3.4 GB of memory
when its one batch was read.

Arrow keeps the sizes where a reader can find them without decompressing: the footer lists
every record batch (offset, metadata length, body length); each batch's metadata lists its
buffers; a compressed buffer begins with its length uncompressed (an int64, or -1 when the
buffer was left uncompressed). pyarrow does not expose these, so this module reads the few
flatbuffer fields it needs (the Arrow format's ``File.fbs`` and ``Message.fbs``) by hand.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import IO

MAGIC = b"ARROW1"
_DICTIONARY, _RECORD_BATCH = 2, 3  # MessageHeader union: Schema = 1, then these two


class Unreadable(Exception):
    """The metadata is not what the format says: leave the file to Arrow's own errors."""


def _u8(buf: bytes, pos: int) -> int:
    return buf[pos]


def _u16(buf: bytes, pos: int) -> int:
    return int(struct.unpack_from("<H", buf, pos)[0])


def _i32(buf: bytes, pos: int) -> int:
    return int(struct.unpack_from("<i", buf, pos)[0])


def _i64(buf: bytes, pos: int) -> int:
    return int(struct.unpack_from("<q", buf, pos)[0])


def _field(buf: bytes, table: int, index: int) -> int | None:
    """The position of a flatbuffer table's field ``index``, or None when it is absent."""
    vtable = table - _i32(buf, table)
    size = _u16(buf, vtable)
    slot = 4 + 2 * index
    if slot + 2 > size:
        return None
    offset = _u16(buf, vtable + slot)
    return table + offset if offset else None


def _deref(buf: bytes, pos: int) -> int:
    """Follow a flatbuffer offset (to a table or a vector) stored at ``pos``."""
    return pos + _i32(buf, pos)


def _vector(buf: bytes, table: int, index: int) -> tuple[int, int]:
    """(position of the first element, count) of a vector field, (0, 0) when absent."""
    pos = _field(buf, table, index)
    if pos is None:
        return 0, 0
    start = _deref(buf, pos)
    return start + 4, _i32(buf, start)


def batch_sizes(fh: IO[bytes]) -> list[int]:
    """Each record batch's (and dictionary batch's) size in bytes once decompressed (its
    body's size when it is not compressed), of an IPC file, in the footer's order. Raises
    :class:`Unreadable` for anything unexpected."""
    try:
        fh.seek(0, 2)
        end = fh.tell()
        fh.seek(end - 10)
        tail = fh.read(10)
        if tail[4:] != MAGIC:
            raise Unreadable("no IPC file footer")
        footer_len = _i32(tail, 0)
        if not 0 < footer_len < end:
            raise Unreadable("bad footer length")
        fh.seek(end - 10 - footer_len)
        footer = fh.read(footer_len)
        root = _deref(footer, 0)
        sizes = []
        for field in (2, 3):  # Footer.dictionaries, Footer.recordBatches: [Block]
            first, count = _vector(footer, root, field)
            for i in range(count):
                block = first + 24 * i  # struct Block { offset: long; metaDataLength: int;
                offset = _i64(footer, block)  #        pad; bodyLength: long }
                meta_len = _i32(footer, block + 8)
                fh.seek(offset)
                meta = fh.read(meta_len)
                start = 8 if meta[:4] == b"\xff\xff\xff\xff" else 4  # marker, then length

                def prefix(buf_offset: int, body: int = offset + meta_len) -> int:
                    fh.seek(body + buf_offset)
                    return int(struct.unpack("<q", fh.read(8))[0])

                size = message_size(meta[start:], prefix)
                if size is not None:
                    sizes.append(size)
        return sizes
    except (struct.error, IndexError, OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from None


def stream_batch_sizes(source: IO[bytes]) -> list[int]:
    """The same for an IPC stream on disk, message by message (the bodies are read, still
    compressed, and the first 8 bytes of each compressed buffer looked at)."""
    import pyarrow as pa

    sizes = []
    try:
        reader = pa.ipc.MessageReader.open_stream(source)
        while True:
            try:
                message = reader.read_next_message()
            except StopIteration:
                break
            if message.type not in ("record batch", "dictionary"):
                continue
            body = message.body.to_pybytes() if message.body is not None else b""

            def prefix(buf_offset: int, body: bytes = body) -> int:
                return int(struct.unpack_from("<q", body, buf_offset)[0])

            size = message_size(message.metadata.to_pybytes(), prefix)
            if size is not None:
                sizes.append(size)
    except (pa.ArrowException, struct.error, IndexError, OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from None
    return sizes


def message_size(buf: bytes, prefix: Callable[[int], int]) -> int | None:
    """The decompressed size of a record batch or dictionary batch message, from its
    flatbuffer metadata ``buf`` and ``prefix`` (the int64 at an offset of its body); None
    for other messages."""
    message = _deref(buf, 0)
    kind = _field(buf, message, 1)  # Message.header_type
    header = _field(buf, message, 2)
    if kind is None or header is None or _u8(buf, kind) not in (_DICTIONARY, _RECORD_BATCH):
        return None
    batch = _deref(buf, header)
    if _u8(buf, kind) == _DICTIONARY:  # DictionaryBatch { id, data: RecordBatch, isDelta }
        data = _field(buf, batch, 1)
        if data is None:
            return None
        batch = _deref(buf, data)
    first, count = _vector(buf, batch, 2)  # RecordBatch.buffers: [Buffer {offset, length}]
    buffers = [(_i64(buf, first + 16 * i), _i64(buf, first + 16 * i + 8)) for i in range(count)]
    if _field(buf, batch, 3) is None:  # RecordBatch.compression: none
        return sum(length for _, length in buffers)
    total = 0
    for buf_offset, length in buffers:
        if length < 8:
            continue
        raw = prefix(buf_offset)
        total += length - 8 if raw == -1 else raw
    return total
