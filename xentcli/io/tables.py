"""Tabular inputs read by pyarrow's streaming readers: CSV/TSV (plain or gzip), Parquet, Arrow IPC.

Each opens cheaply (schema only), then streams ``RecordBatch`` objects holding only the columns
asked for (a plain CSV file in pieces of whole rows, each parsed on every Arrow thread). Arrow's own
errors are translated into one-line messages naming file, row and column.
"""

from __future__ import annotations

import io
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyarrow as pa

from xentcli.errors import InputError, NotNumbers
from xentcli.readahead import read_ahead

STDIN = "-"
CSV_BLOCK_BYTES = 4 << 20
# Parquet column chunks are read through a buffer of this size instead of whole (a 1M-row row
# group of 10 float32 columns holds ~40 MB compressed): peak memory 216 -> 196 MB on 5M x 10
# rows, 216 -> 166 MB on 20M, at the same speed.
PARQUET_BUFFER_BYTES = 256 << 10
# A plain CSV file is parsed in pieces of about this many bytes, each cut after a row's newline
CSV_PIECE_BYTES = 16 << 20
CSV_PIECE_BLOCK_BYTES = 1 << 20  # read_csv's blocks within a piece, parsed in parallel
CSV_LINE_MAX_BYTES = 1 << 20  # a row longer than this (or one without '\n') is streamed
MAX_COLUMNS = 100_000  # columns of a table (CSV, Parquet, Arrow): each is a name and a role
CSV_HEADER_MAX_BYTES = 1 << 24  # a header row longer than this (16 MB) is refused, not read on
# Arrow cannot parse a row longer than its block: a file streamed again with blocks 8x larger,
# up to this size (and Arrow's memory a few times it), before a row is called too long
CSV_BLOCK_MAX_BYTES = 1 << 26
BOM = b"\xef\xbb\xbf"
# The rows after the header that a CSV's column types are guessed from (an integer, text or
# date column is not a score by default); every value is still typed when it is read.
CSV_SNIFF_BYTES = 1 << 16


def display_name(path: str) -> str:
    return "<stdin>" if path == STDIN else path


@dataclass
class TableInput:
    """An opened tabular file: its columns and types, and a way to stream some of them."""

    path: str
    kind: str  # "csv" | "parquet" | "arrow"
    schema: pa.Schema
    delimiter: str = ","
    compression: str | None = None
    threads: bool = True
    _stdin_rest: Any = field(default=None, repr=False)
    _ipc_batches_once: Iterator[pa.RecordBatch] | None = field(default=None, repr=False)
    num_rows: int | None = None
    row_groups: tuple[int, ...] | None = None  # Parquet: read only these
    # CSV: the types Arrow infers from the first rows, by column (None: not known)
    head_types: dict[str, pa.DataType] | None = None

    @property
    def name(self) -> str:
        return display_name(self.path)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def batches(
        self,
        columns: list[str],
        batch_rows: int,
        numeric: set[str],
        categorical: frozenset[str] = frozenset(),
    ) -> Iterator[pa.RecordBatch]:
        """Stream ``columns`` (in that order); CSV reads those in ``numeric`` as float64 and
        those in ``categorical`` (the labels) dictionary-encoded: a chunk's few distinct
        values, and an index per row, are then all there is to look up."""
        if self.kind == "csv":
            yield from self._csv_batches(columns, numeric, categorical)
        elif self.kind == "parquet":
            yield from self._parquet_batches(columns, batch_rows)
        else:
            yield from self._ipc_batches(columns)

    # -- CSV ---------------------------------------------------------------------------
    def _csv_source(self, offset: int | None = None) -> Any:
        """The CSV bytes: the whole input, or a plain file's bytes from ``offset`` on."""
        if self.path == STDIN:
            assert self._stdin_rest is not None
            return self._stdin_rest
        if offset is not None:
            source = pa.OSFile(self.path)
            source.seek(offset)
            return source
        return pa.input_stream(self.path, compression=self.compression)

    def _csv_batches(
        self, columns: list[str], numeric: set[str], categorical: frozenset[str] = frozenset()
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow.csv as pcsv

        # No invalid_row_handler: Arrow's call of it fails on rows that are not UTF-8, and the
        # parse error's own text says the same (fields expected, found, the row's text).
        text = pa.string()
        types = {
            c: (
                pa.float64()
                if c in numeric
                else pa.dictionary(pa.int32(), text)
                if c in categorical
                else text
            )
            for c in columns
        }
        # Pieces hold no quoted newline (checked), so read_csv may split them at any newline;
        # the streaming reader must keep a value's newlines inside it (same speed).
        parse = pcsv.ParseOptions(delimiter=self.delimiter)
        stream_parse = pcsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)
        convert = pcsv.ConvertOptions(
            column_types=types,
            include_columns=columns,
            strings_can_be_null=True,
            # only an empty field is missing: "NA" may be a class name, "nan" a value
            null_values=[""],
        )
        rows_before = 0
        try:
            # A plain file is parsed in pieces by read_csv, which parses on every Arrow thread
            # (open_csv on one); from a piece holding a quote on, the rest is streamed. With a
            # single Arrow thread the streaming reader, reading ahead as it parses, is faster.
            start = self._data_offset() if self.threads and pa.cpu_count() > 1 else None
            rest = None
            if start is not None:
                piece_options = pcsv.ReadOptions(
                    column_names=self.columns,
                    block_size=CSV_PIECE_BLOCK_BYTES,
                    use_threads=True,
                )
                for offset, piece in read_ahead(
                    _csv_pieces(self.path, start, self.delimiter), 1, name="csv-pieces", join=True
                ):
                    if piece is None:  # no safe cut: stream from this row on
                        rest = offset
                        break
                    table = _read_piece(piece, piece_options, parse, convert)
                    yield from table.to_batches()
                    rows_before += table.num_rows
                else:
                    return
            streamed_from, block = rows_before, CSV_BLOCK_BYTES
            while True:
                skip = rows_before - streamed_from  # rows yielded before a retry
                try:
                    reader = pcsv.open_csv(  # parses the first block already
                        self._csv_source(rest),
                        read_options=pcsv.ReadOptions(
                            block_size=block,
                            use_threads=self.threads,
                            column_names=None if rest is None else self.columns,
                        ),
                        parse_options=stream_parse,
                        convert_options=convert,
                    )
                    for batch in reader:
                        if skip >= batch.num_rows:
                            skip -= batch.num_rows
                            continue
                        batch, skip = batch.slice(skip), 0
                        yield batch
                        rows_before += batch.num_rows
                    return
                except pa.ArrowInvalid as exc:
                    larger = _larger_block(exc, block)
                    if larger is None or self.path == STDIN:  # stdin cannot be read again
                        raise
                    block = larger
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            if "Empty CSV file" in str(exc) and not rows_before:
                return  # a header row without a line break after it: no data rows
            raise self._csv_error(exc, rows_before) from None

    def _data_offset(self) -> int | None:
        """Where the data rows of a plain CSV file start, if they can be cut into pieces there:
        None for stdin, gzip, a header that is not one line of plainly quoted names, or no data
        (those are streamed whole)."""
        if self.path == STDIN or self.compression or not os.path.isfile(self.path):
            return None
        with open(self.path, "rb") as fh:
            header = fh.readline(CSV_LINE_MAX_BYTES)
            more = fh.read(1)
        line = header[len(BOM) :] if header.startswith(BOM) else header
        field = rb'"(?:[^"\r\n]|"")*"|[^"\r\n%s]*' % re.escape(self.delimiter.encode())
        row = rb"(?:%s)(?:%s(?:%s))*\r?\n" % (field, re.escape(self.delimiter.encode()), field)
        if not more or not re.fullmatch(row, line):
            return None
        return len(header)

    def _csv_error(self, exc: Exception, rows_before: int) -> InputError:
        err = self._csv_problem(exc, rows_before)
        unlocated = self._unlocated(rows_before)
        if self.path == STDIN and f": {unlocated}" in str(err) and "save it" not in str(err):
            return InputError(f"{err}; stdin is read once: save it to a file to get the row number")
        return err

    def _csv_problem(self, exc: Exception, rows_before: int) -> InputError:
        msg = str(exc).strip()
        ragged = re.search(r"Expected (\d+) columns, got (\d+): (.*)$", msg, re.S)
        if ragged:
            expected, actual, text = ragged.groups()
            line = self._find_line(text.rstrip("\r\n"), int(actual), rows_before)
            at = f"row {line}" if line else self._unlocated(rows_before)
            spans = "\n" in text  # a quote that does not close takes the rows after it in
            return InputError(
                f"{self.name}: {at}: has {actual} fields but the header has "
                f"{expected}; check the delimiter and quoting of that line"
                + (
                    " (a quoted field in it spans line breaks: is a quote never closed?)"
                    if spans
                    else ""
                )
            )
        if "conversion error" in msg and "invalid value" in msg:
            col_no = _between(msg, "column #", ":")
            value = msg.rsplit("invalid value ", 1)[1].strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]  # the quotes only: a blank value stays a blank
            column = None
            if col_no is not None and col_no.isdigit() and int(col_no) < len(self.schema.names):
                column = self.schema.names[int(col_no)]
            row_no = self._find_value(column, value, rows_before) if column else None
            at = f"row {row_no}" if row_no else self._unlocated(rows_before)
            col = f", column '{column}'" if column else ""
            if "\ufffd" in value:
                return InputError(
                    f"{self.name}: {at}{col}: text that is not UTF-8; save the "
                    "file as UTF-8 (and check that the column holds numbers)"
                )
            return not_a_number(f"{self.name}: {at}", column, value)
        if "UTF8" in msg and "invalid" in msg:
            col_no = _between(msg, "column #", ":")
            column = None
            if col_no is not None and col_no.isdigit() and int(col_no) < len(self.schema.names):
                column = self.schema.names[int(col_no)]
            col = f", column '{column}'" if column else ""
            row_no = self._find_value(column, "\ufffd", rows_before) if column else None
            at = f"row {row_no}" if row_no else self._unlocated(rows_before)
            return InputError(
                f"{self.name}: {at}{col}: text that is not UTF-8; save the file as UTF-8"
            )
        if _too_long(exc):
            stdin = self.path == STDIN
            limit = (CSV_BLOCK_BYTES if stdin else CSV_BLOCK_MAX_BYTES) >> 20
            return InputError(
                f"{self.name}: {self._unlocated(rows_before)}: a quoted field opens and never "
                f"closes (a stray '\"'?), or a row is longer than {limit} MB"
                + ("; stdin is read once: save it to a file to read longer rows" if stdin else "")
            )
        if _is_compression_error(msg) or isinstance(exc, EOFError):
            return InputError(
                f"{self.name}: cannot decompress after row {rows_before}: {msg} "
                "(is the file truncated, or not really gzip?)"
            )
        if "Empty CSV file" in msg:
            return InputError(f"{self.name}: the file is empty; expected a header row and data")
        return InputError(f"{self.name}: cannot read CSV after row {rows_before}: {msg}")

    @staticmethod
    def _unlocated(rows_before: int) -> str:
        """Where a bad row is when the scan below could not find it (stdin is not re-read)."""
        return f"a row after row {rows_before}" if rows_before else "a data row"

    def _find_line(self, text: str, fields: int, rows_before: int) -> int | None:
        """The 1-based data row whose text is ``text`` (a slow scan, only on the error path)."""
        if self.path == STDIN:
            return None
        try:
            return self._scan_lines(text, fields, rows_before)
        except (pa.ArrowException, OSError, UnicodeError):
            return None  # the message then says "a row after row N"

    def _scan_lines(self, text: str, fields: int, rows_before: int) -> int | None:
        """The first row after ``rows_before`` with ``fields`` fields whose text is ``text``
        (Arrow cuts a long one short with " ..."). Rows are read as Python's csv module reads
        them, which quotes as Arrow does (a quote opens a field only at its start; "" inside
        one; line breaks inside quotes), so a row that spans lines counts once."""
        import csv

        csv.field_size_limit(2**31 - 1)  # the default 128 kB would stop at a long field
        cut = text.endswith(" ...")
        want = next(
            csv.reader(
                io.StringIO(text[:-4] if cut else text, newline=""), delimiter=self.delimiter
            ),
            [""],
        )
        head, last = want[:-1], want[-1]
        if cut:  # the cut may split a character, which Arrow shows as U+FFFD
            last = last.rstrip("\ufffd")
        k = len(head)
        with pa.input_stream(self.path, compression=self.compression) as raw:
            stream = io.TextIOWrapper(
                io.BufferedReader(raw), encoding="utf-8", errors="replace", newline=""
            )
            rows = csv.reader(stream, delimiter=self.delimiter)
            next(rows, None)  # the header
            row = 0
            for got in rows:
                if not got:  # a blank line is no row, for Arrow either
                    continue
                row += 1
                if (
                    row > rows_before
                    and len(got) == fields
                    and got[:k] == head
                    and (got[k].startswith(last) if cut else got[k].rstrip("\r\n") == last)
                ):  # the text's end is stripped
                    return row
        return None

    def _find_value(self, column: str, value: str, rows_before: int) -> int | None:
        """The 1-based data row holding ``value`` in ``column`` (error path only)."""
        if self.path == STDIN:
            return None
        try:
            return self._scan_values(column, value, rows_before)
        except (pa.ArrowException, OSError, UnicodeError):
            return None  # the message then says "a row after row N"

    def _scan_values(self, column: str, value: str, rows_before: int) -> int | None:
        block = CSV_BLOCK_BYTES
        while True:
            try:
                return self._scan_values_in(column, value, rows_before, block)
            except pa.ArrowInvalid as exc:
                larger = _larger_block(exc, block)
                if larger is None:
                    raise
                block = larger

    def _scan_values_in(self, column: str, value: str, rows_before: int, block: int) -> int | None:
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(
            pa.input_stream(self.path, compression=self.compression),
            read_options=pcsv.ReadOptions(block_size=block),
            parse_options=pcsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(  # bytes: no UTF-8 check on this path
                column_types={column: pa.binary()},
                include_columns=[column],
                null_values=[],
                strings_can_be_null=False,
            ),
        )
        seen = 0
        # Arrow reports a number's text without the spaces and tabs around it (and a field of
        # only those as ''; an empty field is missing, not a bad number)
        pattern = rf"^[ \t]*{re.escape(value)}[ \t]*$" if value else r"^[ \t]+$"
        for batch in reader:
            col = batch.column(0)
            if "\ufffd" in value:  # Arrow shows bytes that are not UTF-8 as U+FFFD
                hit = next(
                    (i for i, b in enumerate(col.to_pylist()) if b is not None and not _is_utf8(b)),
                    -1,
                )
            else:
                hit = pc.index(pc.match_substring_regex(col, pattern), True).as_py()
            if hit is not None and hit >= 0 and seen + hit >= rows_before:
                return seen + int(hit) + 1
            seen += batch.num_rows
        return None

    # -- Parquet -----------------------------------------------------------------------
    def _parquet_batches(self, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        rows_before = 0
        try:
            pf = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=PARQUET_BUFFER_BYTES)
            groups = (
                list(self.row_groups)
                if self.row_groups is not None
                else list(range(pf.metadata.num_row_groups))
            )
            expected = sum(pf.metadata.row_group(g).num_rows for g in groups)
            # With one Arrow thread (xent computes on the other core), decoding on this
            # thread saves a hand-off per column to Arrow's pool (~4% of a run).
            threads = self.threads and pa.cpu_count() > 1
            for batch in pf.iter_batches(
                batch_size=batch_rows, columns=columns, use_threads=threads, row_groups=groups
            ):
                yield batch
                rows_before += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{self.name}: cannot read Parquet after row {rows_before}: {exc} "
                "(is the file truncated or corrupt?)"
            ) from None
        if rows_before != expected:  # a buffered read can stop short at a cut-off file
            raise InputError(
                f"{self.name}: the file ended after row {rows_before} of the {expected} its "
                "footer lists (was it truncated or rewritten while being read?)"
            )

    # -- Arrow IPC ---------------------------------------------------------------------
    def _ipc_batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        rows_before = 0
        try:
            if self._ipc_batches_once is not None:
                batches, self._ipc_batches_once = self._ipc_batches_once, None
            else:
                batches = _open_ipc(self.path)[1]
            for batch in batches:
                yield batch.select(columns)
                rows_before += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{self.name}: cannot read Arrow IPC after row {rows_before}: {exc}"
            ) from None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_compression_error(msg: str) -> bool:
    low = msg.lower()
    return "compress" in low or "gzip" in low or "zlib" in low


def _between(s: str, start: str, end: str) -> str | None:
    i = s.find(start)
    if i < 0:
        return None
    j = s.find(end, i + len(start))
    return s[i + len(start) : j] if j >= 0 else None


def not_a_number(at: str, column: str | None, value: str) -> InputError:
    """A CSV cell that is not a number, ``at`` its file and row (a single file's or a
    dataset's), with what to do when the column is not meant to be a score."""
    col = f", column '{column}'" if column else ""
    hint = (
        (
            f"; if '{column}' is not a score column, mark it with --id-col "
            f"{_shell_word(column)} or choose the score columns with --pred-cols"
        )
        if column
        else ""
    )
    what = f"'{value}'" if value else "a value of only spaces"
    message = (
        f"{at}{col}: {what} is not a number; score, target and weight "
        f"columns must hold only numbers{hint}"
    )
    if column and value:  # text in the column: inspect tries it as the id column
        return NotNumbers(message, column)
    return InputError(message)


def _shell_word(text: str) -> str:
    import shlex

    from xentcli.textsafe import shown

    return shlex.quote(shown(text))


def _unclosed_quote(row: bytes, delimiter: str) -> bool:
    """Whether a field of the row opens a quote that the line does not close (a quote inside
    a field, as in `size 5"`, opens nothing: Arrow reads it as text too)."""
    import csv

    text = row.decode("utf-8", "replace").rstrip("\r\n")
    try:
        next(csv.reader([text], delimiter=delimiter, strict=True), None)
    except csv.Error:
        return True
    return False


ARROW_FILE_MAGIC = b"ARROW1"
FEATHER_V1_MAGIC = b"FEA1"


STDIN_REPLAY: list[str] = []  # a file that stands for stdin (xentcli.io.spill), if any


def _stdin() -> BinaryIO:
    """The bytes of stdin; a closed one (``<&-``) is an input error, not a traceback. While
    stdin is spilled to a file (to be read more than once), the bytes come from that file."""
    if STDIN_REPLAY:
        return open(STDIN_REPLAY[-1], "rb")
    if sys.stdin is None:
        raise InputError("<stdin>: stdin is closed; pipe the input in, or pass its path")
    return sys.stdin.buffer


def _binary_format(head: bytes) -> tuple[str, str, str] | None:
    """(what, kind, --input-format value) of data read as CSV or as an Arrow stream that is
    really Parquet or Arrow IPC, by the bytes it starts with (kind: "file" needs a path,
    "stream" can be piped); None for anything else."""
    if head.startswith(b"PAR1"):
        return "Parquet data", "file", "parquet"
    if head.startswith(ARROW_FILE_MAGIC):
        return "an Arrow IPC file (Feather v2)", "file", "arrow"
    if head.startswith(FEATHER_V1_MAGIC):
        return "a Feather v1 file", "file", "arrow"
    if head.startswith(b"\xff\xff\xff\xff"):  # a stream message's continuation marker
        return "an Arrow IPC stream", "stream", "arrow"
    return None


def _open_ipc(path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch], int | None]:
    """An IPC file (Feather v2) or stream, from a path or stdin; or a Feather v1 file, whose
    columns are memory-mapped whole (the format has no record batches to stream)."""
    if path == STDIN:
        stdin = _stdin()
        head = stdin.peek(8)[:8] if hasattr(stdin, "peek") else b""
        if hasattr(stdin, "peek") and not head:
            raise InputError("<stdin>: no input; expected an Arrow IPC stream")
        binary = _binary_format(head)
        if binary is not None and binary[1] == "file":
            raise InputError(
                f"<stdin>: this is {binary[0]}, which is read by seeking; pass its path "
                "instead, or write an Arrow IPC stream to stdin (pyarrow.ipc.new_stream)"
            )
        reader = pa.ipc.open_stream(stdin)
        return reader.schema, iter(reader), None
    with open(path, "rb") as fh:
        if fh.read(4) == FEATHER_V1_MAGIC:  # the old format, before IPC files: no batches
            import warnings

            import pyarrow.feather as feather

            try:
                with warnings.catch_warnings():  # deprecated by Arrow 25, still read
                    warnings.simplefilter("ignore", DeprecationWarning)
                    table = feather.read_table(path, memory_map=False)
            except (pa.ArrowException, OSError) as exc:
                raise InputError(
                    f"{display_name(path)}: cannot read this Feather v1 file "
                    f"({exc}); rewrite it as Feather v2 (an Arrow IPC file)"
                ) from None
            return table.schema, iter(table.to_batches()), None
    # Read, not memory-mapped: a mapped file that shrinks while it is read ends the process
    # with SIGBUS (no message, a temporary output left behind); a short read is an error.
    source = pa.OSFile(path)
    try:
        freader = pa.ipc.open_file(source)
    except pa.ArrowInvalid:
        _check_batch_sizes(path, stream=True)
        sreader = pa.ipc.open_stream(pa.OSFile(path))
        return sreader.schema, iter(sreader), None
    _check_batch_sizes(path)

    def gen() -> Iterator[pa.RecordBatch]:
        for i in range(freader.num_record_batches):
            yield freader.get_batch(i)

    return freader.schema, gen(), None


MAX_BATCH_BYTES = 1 << 30  # one record batch of an Arrow IPC file, once decompressed


def _check_batch_sizes(path: str, *, stream: bool = False) -> None:
    """Refuse a record batch that would take more than MAX_BATCH_BYTES once decompressed,
    before Arrow decompresses it (a 153 kB zstd file once took 3.4 GB). The sizes come from
    the file's metadata; where it cannot be read, Arrow's own reading reports the problem."""
    from xentcli.io.ipcsize import Unreadable, batch_sizes, stream_batch_sizes

    try:
        with open(path, "rb") as fh:
            sizes = stream_batch_sizes(fh) if stream else batch_sizes(fh)
    except Unreadable:
        return
    for i, size in enumerate(sizes):
        if size > MAX_BATCH_BYTES:
            raise InputError(
                f"{display_name(path)}: batch {i + 1} takes {size:,} bytes once "
                f"decompressed, above xent's limit of {MAX_BATCH_BYTES:,} for one batch; "
                "write the file in smaller batches (pyarrow.feather.write_feather(..., "
                "chunksize=65536))"
            )


def open_table(
    path: str, kind: str, compression: str | None, delimiter: str, threads: bool
) -> TableInput:
    """Open a tabular input far enough to know its columns."""
    name = display_name(path)
    try:
        if kind == "csv":
            return _open_csv(path, compression, delimiter, threads)
        if kind == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path, pre_buffer=False)
            return TableInput(
                path, "parquet", pf.schema_arrow, threads=threads, num_rows=pf.metadata.num_rows
            )
        schema, batches, _ = _open_ipc(path)
        # A stream (stdin) can be read once: keep the opened reader for the batches.
        return TableInput(path, "arrow", schema, threads=threads, _ipc_batches_once=batches)
    except InputError:
        raise
    except (pa.ArrowException, OSError, EOFError) as exc:
        what = {"csv": "CSV", "parquet": "Parquet", "arrow": "Arrow IPC"}[kind]
        msg = str(exc).strip()
        if "Empty CSV file" in msg:
            raise InputError(f"{name}: the file is empty; expected a header row and data") from None
        if _is_compression_error(msg):
            raise InputError(
                f"{name}: cannot decompress: {msg} (is the file truncated, or not really gzip?)"
            ) from None
        raise InputError(
            f"{name}: cannot read it as {what}: {msg}; "
            "check the file or pass --input-format to say what it is"
        ) from None


def _open_csv(path: str, compression: str | None, delimiter: str, threads: bool) -> TableInput:
    import pyarrow.csv as pcsv

    rest: Any = None
    if path == STDIN:
        stdin = _stdin()
        header = stdin.readline(CSV_HEADER_MAX_BYTES + 1)
        _check_header_length(header, path)
        if not header.strip():
            raise InputError("<stdin>: no input; expected CSV with a header row")
        sample = stdin.read(CSV_SNIFF_BYTES)
        rest = _Chained(header + sample, stdin)
        head_source: Any = io.BytesIO(_header_row(header))
    else:
        # Only the header line: errors in data rows are reported, with their row, while streaming.
        with pa.input_stream(path, compression=compression) as raw:
            header = _first_line(raw)
        _check_header_length(header, path)
        sample = b""
        if header.endswith(b"\n"):
            with pa.input_stream(path, compression=compression) as raw:
                sample = raw.read(len(header) + CSV_SNIFF_BYTES)[len(header) :]
        if not header.strip():
            raise InputError(f"{path}: the file is empty; expected a header row and data")
        head_source = io.BytesIO(_header_row(header))
    try:
        header.split(b"\r", 1)[0].decode("utf-8")  # a bare CR ends the header row too
    except UnicodeDecodeError:
        binary = _binary_format(header)
        if binary is None:
            hint = "save the file as UTF-8"
        elif path == STDIN and binary[1] == "file":  # stdin is not seekable
            hint = (
                f"it looks like {binary[0]}: pass its path instead (stdin takes CSV or an "
                "Arrow IPC stream)"
            )
        else:
            hint = f"it looks like {binary[0]}: pass --input-format {binary[2]}"
        raise InputError(
            f"{display_name(path)}: the header row is not UTF-8 text; {hint}"
        ) from None
    if _unclosed_quote(_header_row(header), delimiter):
        raise InputError(
            f"{display_name(path)}: a column name in the header row holds a line "
            "break (inside quotes); xent reads the header as one line: rename it"
        )
    columns = _header_row(header).count(delimiter.encode()) + 1  # at least the true count
    if columns > MAX_COLUMNS:
        raise InputError(
            f"{display_name(path)}: the header row has {columns:,} columns, above xent's "
            f"limit of {MAX_COLUMNS:,}"
        )
    reader = pcsv.open_csv(
        head_source,
        # a block holds the whole header row (Arrow calls a longer one an "empty CSV file")
        read_options=pcsv.ReadOptions(
            block_size=max(CSV_BLOCK_BYTES, len(header) + 2), use_threads=False
        ),
        parse_options=pcsv.ParseOptions(delimiter=delimiter),
    )
    schema = reader.schema
    return TableInput(
        path,
        "csv",
        schema,
        delimiter=delimiter,
        compression=compression,
        threads=threads,
        _stdin_rest=rest,
        head_types=_sniff_types(header, sample, delimiter, schema.names),
    )


def _int_bounds(col: Any) -> tuple[int, int]:
    """(min, max) of an integer column's valid values, from its buffers (pyarrow.compute,
    which to_numpy imports for nulls, costs ~40 ms to import)."""
    import numpy as np

    low, high = None, None
    for chunk in col.chunks:
        validity, data = chunk.buffers()[:2]
        dtype = np.dtype(chunk.type.to_pandas_dtype())
        values = np.frombuffer(data, dtype=dtype)[chunk.offset : chunk.offset + len(chunk)]
        if validity is not None and chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            values = values[bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)]
        if len(values):
            lo, hi = int(values.min()), int(values.max())
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
    return (0, 0) if low is None or high is None else (low, high)


def _sniff_types(
    header: bytes, sample: bytes, delimiter: str, names: list[str]
) -> dict[str, pa.DataType] | None:
    """The type Arrow infers for each column from the whole rows in ``sample`` (the bytes after
    the header), or None when they cannot tell (no whole row, a row Arrow cannot parse).
    Only the default choice of score columns looks at them (the values are typed when read),
    so a text column is left out: it may be numbers with a bad cell, which the reader names;
    whole numbers other than 0 and 1, true/false and dates are what is known not to be
    scores."""
    import pyarrow.csv as pcsv

    cut = sample.rfind(b"\n")
    if cut < 0:
        return None
    body = _header_row(header) + sample[: cut + 1]
    try:
        table = pcsv.read_csv(
            io.BytesIO(body),
            read_options=pcsv.ReadOptions(use_threads=False, block_size=len(body) + 1),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(null_values=[""], strings_can_be_null=True),
        )
    except (pa.ArrowException, ValueError):
        return None
    if not table.num_rows or table.num_columns != len(names):
        return None
    types = {}
    for name, col in zip(names, table.columns, strict=True):
        ty = col.type
        if not (pa.types.is_integer(ty) or pa.types.is_boolean(ty) or pa.types.is_temporal(ty)):
            continue  # text may be numbers with a bad cell, which the reader names
        # text has no types: "1" is as much a probability as "1.0", a year is not
        if pa.types.is_integer(ty) and col.null_count < len(col):
            low, high = _int_bounds(col)
            if 0 <= low and high <= 1:
                ty = pa.float64()
        types[name] = ty
    return types


def _csv_pieces(
    path: str, offset: int, delimiter: str = ","
) -> Iterator[tuple[int, pa.Buffer | None]]:
    """(offset, bytes) for the runs of whole rows of a plain CSV file from the row starting at
    ``offset``: ~CSV_PIECE_BYTES each, the first ones smaller (1/8, 1/4, 1/2 of that) so that
    Arrow starts parsing sooner, while the rest are read and checked. A newline splits rows
    only outside quoted fields, so a run whose quotes are not all plainly paired within its
    rows (:func:`_quotes_within_rows`) ends it with (offset, None): the rest must be streamed.
    So does a row that has no newline within CSV_LINE_MAX_BYTES after the piece (rows ended by
    CR alone)."""
    size = max(1, CSV_PIECE_BYTES >> 3)
    with open(path, "rb") as fh:
        while True:
            fh.seek(offset)
            data = fh.read(size)
            if not data:
                return
            end = len(data)
            if end == size:  # not the last piece: cut after its last newline
                end = data.rfind(b"\n") + 1
                if end == 0:  # a row longer than the piece: read on to its end
                    longer = fh.read(CSV_LINE_MAX_BYTES)
                    cut = longer.find(b"\n")
                    if cut < 0 and len(longer) == CSV_LINE_MAX_BYTES:
                        yield offset, None
                        return
                    data += longer[: cut + 1] if cut >= 0 else longer
                    end = len(data)
            if data.find(b'"', 0, end) >= 0 and not _quotes_within_rows(data, end, delimiter):
                yield offset, None
                return
            yield offset, pa.py_buffer(data).slice(0, end)
            offset += end
            size = min(CSV_PIECE_BYTES, 2 * size)


def _read_piece(piece: pa.Buffer, options: Any, parse: Any, convert: Any) -> pa.Table:
    """A CSV piece parsed on every Arrow thread. Those parse its blocks at once, and a bad value
    found in several blocks is reported from whichever fails first in time: an error is raised
    again from a parse on one thread, which meets the blocks, and a block's columns, in order:
    the same input always names the same row (the first bad value of the first bad block)."""
    import pyarrow.csv as pcsv

    try:
        return pcsv.read_csv(
            piece, read_options=options, parse_options=parse, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        if _too_long(exc):  # a row longer than the blocks: the piece as one block
            whole = pcsv.ReadOptions(
                column_names=options.column_names, block_size=piece.size + 1, use_threads=True
            )
            return pcsv.read_csv(
                piece, read_options=whole, parse_options=parse, convert_options=convert
            )
        raised = exc
    serial = pcsv.ReadOptions(
        column_names=options.column_names, block_size=options.block_size, use_threads=False
    )
    pcsv.read_csv(piece, read_options=serial, parse_options=parse, convert_options=convert)
    raise raised  # pragma: no cover - the one-thread parse raises too


def _too_long(exc: Exception) -> bool:
    """Arrow's error for a row (or a quoted field never closed) longer than its blocks."""
    return "straddl" in str(exc)


def _larger_block(exc: Exception, block: int) -> int | None:
    """The block size to read a file again with after ``exc``: 8x larger for a row longer
    than the blocks, up to CSV_BLOCK_MAX_BYTES; None when that does not help."""
    if not _too_long(exc) or block >= CSV_BLOCK_MAX_BYTES:
        return None
    return min(8 * block, CSV_BLOCK_MAX_BYTES)


def _quotes_within_rows(data: bytes, end: int, delimiter: str) -> bool:
    """Whether no line break (LF or CR) of ``data[:end]`` (whole rows) can be inside a quoted
    field: in each row the quotes pair up as an opening quote at the start of a field (after
    a delimiter or a line break) and the next quote, on the same line, as its closing one
    (not followed by another quote). Arrow's lexer (quoting on, "" as an escaped quote, no
    escape character) then reads each pair as one quoted field and is outside quotes at every
    line break: the quote after a closing one has nothing but unquoted text, delimiters
    included, before it, so it opens a field again. Anything else ("" inside a field, a quote
    in mid-field, a quoted line break, a lone quote) is False, and the caller streams."""
    import numpy as np

    b = np.frombuffer(data, dtype=np.uint8, count=end)
    at = _quotes_and_breaks(b, cr=data.find(b"\r", 0, end) >= 0)
    nth = np.flatnonzero(b[at] == ord('"'))  # the quotes' places among the marks
    # no line break within a pair: its two quotes are next to each other among the marks
    if len(nth) % 2 or (nth[1::2] - nth[0::2] != 1).any():
        return False
    quotes = at[nth]
    opens, closes = quotes[0::2], quotes[1::2]
    before = b[np.maximum(opens - 1, 0)]
    at_start = (
        (before == ord(delimiter)) | (before == ord("\n")) | (before == ord("\r")) | (opens == 0)
    )
    after = closes + 1
    if len(after) and after[-1] == end:  # the last byte closes a quote
        after = after[:-1]
    return bool(at_start.all() and not (b[after] == ord('"')).any())


QUOTE_SCAN_BYTES = 1 << 18


def _quotes_and_breaks(b: Any, *, cr: bool) -> Any:
    """Where the quotes and line breaks (CR too if ``cr``) of the bytes ``b`` are, in order.
    Found in stretches of QUOTE_SCAN_BYTES into flags reused from one to the next, which stay
    in cache (a 16 MB piece: ~5.8 ms, against ~7.5 ms with flags for the whole piece)."""
    import numpy as np

    size = max(1, min(len(b), QUOTE_SCAN_BYTES))
    marks, other = np.empty(size, dtype=bool), np.empty(size, dtype=bool)
    found = []
    for lo in range(0, len(b), size):
        part = b[lo : lo + size]
        m, o = marks[: len(part)], other[: len(part)]
        np.equal(part, ord('"'), out=m)
        np.equal(part, ord("\n"), out=o)
        m |= o
        if cr:
            np.equal(part, ord("\r"), out=o)
            m |= o
        at = np.flatnonzero(m)
        at += lo
        found.append(at)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.intp)


def _header_row(line: bytes) -> bytes:
    """The header row of a first line: a bare CR ends a row for Arrow too."""
    return line.split(b"\r", 1)[0].rstrip(b"\n") + b"\n"


def _first_line(raw: Any, block: int = 1 << 16) -> bytes:
    """The first line of a stream, newline included (pyarrow streams have no readline); at
    most CSV_HEADER_MAX_BYTES + 1 bytes of it."""
    buf = b""
    while len(buf) <= CSV_HEADER_MAX_BYTES:
        data = raw.read(block)
        buf += data
        cut = buf.find(b"\n")
        if cut >= 0:
            return buf[: cut + 1]
        if not data:
            return buf
    return buf[: CSV_HEADER_MAX_BYTES + 1]


def _check_header_length(header: bytes, path: str) -> None:
    """Memory stays bounded on input with no line break (a binary file, /dev/zero)."""
    if len(header) > CSV_HEADER_MAX_BYTES and not header.endswith(b"\n"):
        raise InputError(
            f"{display_name(path)}: no line break in the first "
            f"{CSV_HEADER_MAX_BYTES >> 20} MB: that is not a CSV header row"
        )


class _Chained(io.RawIOBase):
    """The header line already read from stdin, followed by the rest of stdin."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        if self._head:
            k = min(len(view), len(self._head))
            view[:k] = self._head[:k]
            self._head = self._head[k:]
            return k
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def path_problem(path: str, *, labels: bool = False) -> str | None:
    """Why ``path`` cannot be read, or None (``labels``: it is the --labels file)."""
    if path == STDIN:
        return None
    if not os.path.exists(path):
        return f"{path}: no such file"
    if os.path.isdir(path):
        return f"{path}: is a directory, expected a predictions file"
    if not os.access(path, os.R_OK):
        return f"{path}: permission denied"
    mode = os.stat(path).st_mode  # does not block, where opening a pipe with no writer does
    if not stat.S_ISREG(mode):
        what = "a pipe" if stat.S_ISFIFO(mode) else "not a regular file"
        if labels:
            return f"{path}: {what}; xent reads a --labels file by seeking: save it to a file"
        return (
            f"{path}: {what}; xent reads files by seeking (or stdin once): send it to stdin "
            "(xent compute - < FILE, or ... | xent compute -)"
        )
    return None
