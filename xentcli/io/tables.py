"""Tabular inputs read by pyarrow's streaming readers: CSV/TSV and JSON Lines (plain or
compressed: gzip, zstd, bz2), Parquet, Arrow IPC.

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
JSONL_HEAD_BYTES = 1 << 20  # the first lines, whose fields and types the file is read with
# pyarrow's JSON reader reads ~30 blocks ahead of the parse: 1 MB blocks held its memory at
# ~40 MB (4 MB blocks: ~150 MB) on a 258 MB file and on one twice as long, at the same speed
JSONL_BLOCK_BYTES = 1 << 20
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
    kind: str  # "csv" | "jsonl" | "parquet" | "arrow"
    schema: pa.Schema
    delimiter: str = ","
    compression: str | None = None
    threads: bool = True
    _stdin_rest: Any = field(default=None, repr=False)
    _ipc_batches_once: Iterator[pa.RecordBatch] | None = field(default=None, repr=False)
    num_rows: int | None = None
    row_groups: tuple[int, ...] | None = None  # Parquet: read only these
    # CSV: the types Arrow infers from the first rows, by column (None: not known)
    head_types: dict[str, pa.DataType | TextSeen] | None = None
    # JSON Lines: the scores are every field not taken otherwise (no --pred-cols), so a field
    # that only later lines hold would be a score the first lines leave out: it is refused.
    every_column_counts: bool = False
    _jsonl_line_bytes: int = 0  # JSON Lines: the longest of the first lines
    # JSON Lines: fields the first object lacks, and the line that first holds each
    _jsonl_late: dict[str, int] = field(default_factory=dict)
    _jsonl_head: bytes = field(default=b"", repr=False)  # stdin: the first lines, kept

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
        elif self.kind == "jsonl":
            yield from self._jsonl_batches(columns, numeric, categorical)
        elif self.kind == "parquet":
            yield from self._parquet_batches(columns, batch_rows)
        else:
            yield from self._ipc_batches(columns)

    # -- CSV ---------------------------------------------------------------------------
    def _source(self, offset: int | None = None) -> Any:
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
                        self._source(rest),
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
                f"(is the file truncated, or not really {self.compression or 'compressed'}?)"
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

    # -- JSON Lines --------------------------------------------------------------------
    def _jsonl_schema_for(self, columns: list[str], numeric: set[str]) -> pa.Schema:
        """The types the fields are read as: scores, targets and weights as float64 (a list
        of scores as a list of float64), the others as the first lines hold them. Every field
        when a field no earlier line has is refused, else only ``columns``."""
        fields = []
        for f in self.schema:
            if not self.every_column_counts and f.name not in columns:
                continue
            ty = f.type
            if f.name in numeric:
                ty = pa.float64()
            elif pa.types.is_list(ty) and _numbers_or_null(ty.value_type):
                ty = pa.list_(pa.float64())
            fields.append(pa.field(f.name, ty))
        return pa.schema(fields)

    def _jsonl_batches(
        self, columns: list[str], numeric: set[str], labels: frozenset[str] = frozenset()
    ) -> Iterator[pa.RecordBatch]:
        """Blocks of whole lines parsed with the first lines' fields, scores as float64. A
        score, target, weight or label field that a line lacks (or holds null) is named here
        with its line, which only the reader knows."""
        import pyarrow.json as pj

        late = [c for c in columns if c in numeric and c in self._jsonl_late]
        if late and self.every_column_counts:
            first = [c for c in self.columns if c not in self._jsonl_late]
            raise InputError(
                f"{self.name}: line {self._jsonl_late[late[0]]}: field '{late[0]}' is in no "
                f"earlier line (line 1 holds {', '.join(first)}); {SAME_FIELDS}"
            )
        schema = self._jsonl_schema_for(columns, numeric)
        text = [c for c in columns if pa.types.is_string(schema.field(c).type)]
        needed = [
            c
            for c in columns
            if c in numeric or c in labels or pa.types.is_list(schema.field(c).type)
        ]
        parse = pj.ParseOptions(
            explicit_schema=schema,
            unexpected_field_behavior="error" if self.every_column_counts else "ignore",
        )
        rows_before = 0
        block = max(JSONL_BLOCK_BYTES, self._jsonl_line_bytes * 2)
        try:
            while True:
                skip = rows_before  # rows yielded before a retry with larger blocks
                try:
                    reader = pj.open_json(
                        self._source(),
                        read_options=pj.ReadOptions(block_size=block, use_threads=self.threads),
                        parse_options=parse,
                    )
                    for batch in reader:
                        if skip >= batch.num_rows:
                            skip -= batch.num_rows
                            continue
                        batch, skip = batch.slice(skip), 0
                        for c in text:  # Arrow's JSON parser lets bytes that are not UTF-8 by
                            batch.column(c).validate(full=True)
                        for c in needed:
                            if batch.column(c).null_count:
                                raise self._missing(c, rows_before, batch.column(c), labels)
                        yield batch.select(columns)
                        rows_before += batch.num_rows
                    return
                except pa.ArrowInvalid as exc:
                    larger = _larger_block(exc, block)
                    if larger is None or self.path == STDIN:  # stdin cannot be read again
                        raise
                    block = larger
        except (pa.ArrowException, OSError, EOFError) as exc:
            raise self._jsonl_error(exc, rows_before, schema, numeric) from None

    def _missing(
        self, column: str, rows_before: int, values: pa.Array, labels: frozenset[str]
    ) -> InputError:
        """A field a line lacks or holds as null, named with its line."""
        from xentcli.io.arrowcols import _first_null

        number = rows_before + _first_null(values) + 1  # the object's, counted from 1
        at = self._object_line(number)
        what = "label" if column in labels else "value"
        needs = (
            "a label"
            if column in labels
            else "an array of scores"
            if pa.types.is_list(values.type)
            else "a number in this field"
        )
        return InputError(
            f"{self.name}: {at}, column '{column}': missing {what} (the field is absent or "
            f"null); every line needs {needs}"
        )

    def _object_line(self, number: int) -> str:
        """'line L' of the ``number``-th object (blank lines hold none), found by reading the
        lines again; on stdin, among the first lines kept, else 'object N'."""
        try:
            if self.path != STDIN:
                with _lines(self.path, self.compression) as lines:
                    found = _nth_object_line(lines, number)
            else:
                found = _nth_object_line(iter(self._jsonl_head.splitlines()), number)
        except (pa.ArrowException, OSError, EOFError):
            found = None
        if found is not None:
            return f"line {found}"
        return f"object {number} (line {number} if no line before it is blank)"

    def _jsonl_error(
        self, exc: Exception, rows_before: int, schema: pa.Schema, numeric: set[str]
    ) -> InputError:
        """Arrow's error for a JSON Lines input as one line naming the line (counted from 1,
        blank lines too) and the field: a file is scanned again from the block that failed,
        line by line, for the first line Arrow would refuse."""
        msg = str(exc).strip()
        if _is_compression_error(msg) or isinstance(exc, EOFError):
            return InputError(
                f"{self.name}: cannot decompress after object {rows_before}: {msg} "
                f"(is the file truncated, or not really {self.compression or 'compressed'}?)"
            )
        if _too_long(exc):
            stdin = self.path == STDIN
            limit = (
                max(JSONL_BLOCK_BYTES, 2 * self._jsonl_line_bytes) if stdin else CSV_BLOCK_MAX_BYTES
            ) >> 20
            return InputError(
                f"{self.name}: a line after object {rows_before} is longer than {limit} MB "
                "(or an object spans lines: JSON Lines holds one object per line)"
                + ("; stdin is read once: save it to a file to read longer lines" if stdin else "")
            )
        if self.path != STDIN:
            try:
                with _lines(self.path, self.compression) as lines:
                    found = _scan_jsonl(
                        self.name,
                        lines,
                        schema,
                        rows_before,
                        strict=self.every_column_counts,
                        numeric=frozenset(numeric),
                    )
            except (pa.ArrowException, OSError, EOFError):
                found = None
            if found is not None:
                return found
            return InputError(
                f"{self.name}: cannot read JSON Lines after object {rows_before}: {msg}"
            )
        head = self._jsonl_head.splitlines(keepends=True)
        found = _scan_jsonl(
            self.name,
            iter(head),
            schema,
            rows_before,
            strict=self.every_column_counts,
            numeric=frozenset(numeric),
        )
        if found is not None:  # a line among the first ones, kept
            return found
        in_block = re.search(r" in row (\d+)$", msg)
        what = re.sub(r"^JSON parse error: | in row \d+$", "", msg)
        changed = re.fullmatch(r"Column\(/([^/)]*)[^)]*\) changed from (\w+) to (\w+)", what)
        if changed:
            column, before, after = changed.groups()
            what = f"column '{column}': a {after} where earlier lines hold a {before}"
        elif msg.startswith("JSON parse error"):
            what = f"not valid JSON ({what.rstrip('.')})"
        if in_block:
            n = rows_before + int(in_block.group(1)) + 1
            at = f"object {n} (line {n} if no line before it is blank)"
        else:
            at = f"an object after object {rows_before}"
        return InputError(
            f"<stdin>: {at}: {what}; stdin is read once: save it to a file to get the line "
            "and the field"
        )

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
    from xentcli.advice import quoted, selectable

    id_col = f"--id-col {quoted(column)}" if column and selectable(column) else "--id-col"
    hint = (
        (
            f"; if '{column}' is not a score column, mark it with {id_col} or choose the "
            "score columns with --pred-cols"
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
    """The bytes of stdin, decompressed when they start as gzip, zstd or bz2 do; a closed
    stdin (``<&-``) is an input error, not a traceback."""
    return _stdin_and_compression()[0]


def _stdin_and_compression() -> tuple[BinaryIO, str | None]:
    """(the bytes of stdin, the compression they were in). While stdin is spilled to a file
    (to be read more than once: xentcli.io.spill), the bytes come from that file, which holds
    them decompressed."""
    if STDIN_REPLAY:
        return open(STDIN_REPLAY[-1], "rb"), None
    if sys.stdin is None:
        raise InputError("<stdin>: stdin is closed; pipe the input in, or pass its path")
    stdin = sys.stdin.buffer
    compression = stdin_compression(stdin)
    if compression is None:
        return stdin, None
    native = pa.CompressedInputStream(pa.PythonFile(stdin, mode="r"), compression)
    return io.BufferedReader(_NativeRaw(native), 1 << 20), compression


# The magic numbers that start a compressed stream (bz2: "BZh", the block size, then the
# first block's or the end's own magic)
_BZ2_BLOCK = re.compile(rb"BZh[1-9](\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")


def stdin_compression(stdin: Any) -> str | None:
    """gzip, zstd or bz2 when the bytes of ``stdin`` start as that compression's do."""
    if hasattr(stdin, "peek"):
        head = stdin.peek(10)[:10]
    elif hasattr(stdin, "seekable") and stdin.seekable():
        at = stdin.tell()
        head = stdin.read(10)
        stdin.seek(at)
    else:
        return None
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if _BZ2_BLOCK.match(head):
        return "bz2"
    return None


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
        if kind == "jsonl":
            return _open_jsonl(path, compression, threads)
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
        what = {"csv": "CSV", "jsonl": "JSON Lines", "parquet": "Parquet", "arrow": "Arrow IPC"}[
            kind
        ]
        msg = str(exc).strip()
        if "Empty CSV file" in msg:
            raise InputError(f"{name}: the file is empty; expected a header row and data") from None
        if _is_compression_error(msg) or isinstance(exc, EOFError):
            doubt = (
                "is the input truncated or corrupt?"
                if path == STDIN
                else f"is the file truncated, or not really {compression or 'compressed'}?"
            )
            raise InputError(f"{name}: cannot decompress: {msg} ({doubt})") from None
        raise InputError(
            f"{name}: cannot read it as {what}: {msg}; "
            "check the file or pass --input-format to say what it is"
        ) from None


def _open_csv(path: str, compression: str | None, delimiter: str, threads: bool) -> TableInput:
    import pyarrow.csv as pcsv

    rest: Any = None
    if path == STDIN:
        stdin, compression = _stdin_and_compression()
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
            try:
                with pa.input_stream(path, compression=compression) as raw:
                    sample = raw.read(len(header) + CSV_SNIFF_BYTES)[len(header) :]
            except (pa.ArrowException, OSError):  # named, with its row, while streaming
                sample = b""
        if not header.strip():
            raise InputError(f"{path}: the file is empty; expected a header row and data")
        head_source = io.BytesIO(_header_row(header))
    if _is_json_object(header):
        raise InputError(
            f"{display_name(path)}: the first line is a JSON object: this looks like JSON "
            "Lines; pass --input-format jsonl"
            + ("" if path == STDIN else " (or name the file .jsonl)")
        )
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
    return _head_types(table, names)


@dataclass(frozen=True)
class TextSeen:
    """The head type of a column of a text format whose first rows hold only text, none of
    it a number (a 'size' of small/large): not a score. ``row`` (from 1) and ``value``: the
    first of them, for the message."""

    row: int
    value: str


def _head_types(table: pa.Table, names: list[str]) -> dict[str, pa.DataType | TextSeen]:
    """The types of a text format's first rows (CSV, JSON Lines) that tell a column is not a
    score: whole numbers other than 0 and 1 (text has no types: "1" is as much a probability
    as "1.0", a year is not), true/false, dates, and text none of which is a number. A text
    column holding some numbers is left out: numbers with a bad cell, which the reader names
    by its row."""
    types: dict[str, pa.DataType | TextSeen] = {}
    for name, col in zip(names, table.columns, strict=True):
        ty = col.type
        if pa.types.is_string(ty) or pa.types.is_large_string(ty):
            try:
                seen = _only_text(col.to_pylist())
            except UnicodeDecodeError:  # bytes that are not UTF-8: the reader names them
                continue
            if seen is not None:
                types[name] = seen
            continue
        if not (pa.types.is_integer(ty) or pa.types.is_boolean(ty) or pa.types.is_temporal(ty)):
            continue
        if pa.types.is_integer(ty) and col.null_count < len(col):
            low, high = _int_bounds(col)
            if 0 <= low and high <= 1:
                ty = pa.float64()
        types[name] = ty
    return types


_MISSING_WORDS = frozenset({"NA", "N/A", "NAN", "NULL", "NONE", "-", "?", "#N/A"})


def _only_text(values: list[str | None]) -> TextSeen | None:
    """The first value of a column none of whose values is a number, or None."""
    first: TextSeen | None = None
    for row, v in enumerate(values, 1):
        if v is None or not v.strip() or v.strip().upper() in _MISSING_WORDS:
            continue  # a missing value, which the reader names by its row
        try:
            float(v)
            return None
        except ValueError:
            if first is None:
                first = TextSeen(row, v)
    return first


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


# -- JSON Lines ------------------------------------------------------------------------


def _is_json_object(line: bytes) -> bool:
    """Whether a first line read as CSV is a JSON object (JSON Lines read as CSV)."""
    import json

    if not line.lstrip().startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _numbers_or_null(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t))


def _open_jsonl(path: str, compression: str | None, threads: bool) -> TableInput:
    """A JSON Lines input, opened by reading its first lines (~1 MB, whole lines): the first
    object's fields in their order (then any new ones those lines add) and their types."""
    import pyarrow.json as pj

    rest: Any = None
    if path == STDIN:
        stdin, compression = _stdin_and_compression()
        head = _read_head(stdin.read, path)
        rest = _Chained(head, stdin)
    else:
        with pa.input_stream(path, compression=compression) as raw:
            head = _read_head(raw.read, path)
    name = display_name(path)
    lines = head[: head.rfind(b"\n") + 1] or head  # whole lines (or the only one)
    if not lines.strip():
        empty = "no input" if path == STDIN else "the file is empty"
        raise InputError(f"{name}: {empty}; expected JSON Lines, one object per line")
    longest = max(len(line) for line in lines.split(b"\n"))
    if lines.lstrip().startswith(b"["):
        raise InputError(
            f"{name}: line 1 starts a JSON array: this is one JSON document, not JSON Lines; "
            "write one object per line (pandas: df.to_json(path, orient='records', lines=True))"
        )
    each = lines.splitlines(keepends=True)
    up_to_first = each[: next(i for i, line in enumerate(each) if line.strip()) + 1]
    bad_first = _scan_jsonl(name, iter(up_to_first), None, 0, strict=False)
    if bad_first is not None:
        raise bad_first
    try:
        table = pj.read_json(
            pa.py_buffer(lines),
            read_options=pj.ReadOptions(block_size=len(lines) + 1, use_threads=False),
        )
    except pa.ArrowException as exc:
        found = _scan_jsonl(name, iter(each), None, 0, strict=False)
        first = up_to_first[-1]
        try:  # a field of two types: the fields of the first line, the rest found when read
            table = pj.read_json(
                pa.py_buffer(first),
                read_options=pj.ReadOptions(block_size=len(first) + 1, use_threads=False),
            )
        except pa.ArrowException:
            raise found or InputError(
                f"{name}: cannot read it as JSON Lines: {str(exc).strip()}"
            ) from None
    if not table.schema.names:
        raise InputError(
            f"{name}: the objects of the first lines have no fields; expected a field per class "
            "(or one array of scores) and a label field"
        )
    return TableInput(
        path,
        "jsonl",
        table.schema,
        compression=compression,
        threads=threads,
        _stdin_rest=rest,
        _jsonl_line_bytes=longest,
        _jsonl_late=_late_fields(each, table.schema.names),
        _jsonl_head=lines if path == STDIN else b"",
        head_types=_head_types(table, table.schema.names),
    )


def _nth_object_line(lines: Iterator[bytes], number: int) -> int | None:
    """The line (from 1) of the ``number``-th non-blank line, or None if there are fewer."""
    seen = 0
    for line_no, raw in enumerate(lines, 1):
        if raw.strip():
            seen += 1
            if seen == number:
                return line_no
    return None


def _late_fields(lines: list[bytes], names: list[str]) -> dict[str, int]:
    """{field: the line that first holds it} for the fields the first object lacks (Arrow
    adds them, null in the lines before), found among the first lines (whose first object
    is known to be valid JSON)."""
    import json

    rows = iter(enumerate(lines, 1))
    first: dict[str, Any] = {}
    for _, row in rows:
        if row.strip():
            first = json.loads(row)
            break
    late = {n: 0 for n in names if n not in first}
    for line_no, row in rows:
        if not any(v == 0 for v in late.values()):
            break
        try:
            keys = json.loads(row) if row.strip() else {}
        except (ValueError, RecursionError):
            break  # reported with its line when read
        for key in keys if isinstance(keys, dict) else ():
            if late.get(key) == 0:
                late[key] = line_no
    return late


def _read_head(read: Any, path: str) -> bytes:
    """The first JSONL_HEAD_BYTES of a stream, and on to the end of a line (at most
    CSV_BLOCK_MAX_BYTES: a longer line is refused)."""
    head = _read_exactly(read, JSONL_HEAD_BYTES)
    if len(head) < JSONL_HEAD_BYTES or b"\n" in head:
        return head
    while len(head) < CSV_BLOCK_MAX_BYTES:
        more = _read_exactly(read, JSONL_HEAD_BYTES)
        head += more
        if len(more) < JSONL_HEAD_BYTES or b"\n" in more:
            return head
    raise InputError(
        f"{display_name(path)}: no line break in the first {CSV_BLOCK_MAX_BYTES >> 20} MB: "
        "that is not JSON Lines"
    )


def _read_exactly(read: Any, size: int) -> bytes:
    """``size`` bytes of a stream, fewer only at its end (a pipe's read may return less)."""
    parts, got = [], 0
    while got < size:
        data = read(size - got)
        if not data:
            break
        parts.append(bytes(data))
        got += len(data)
    return b"".join(parts)


class _NativeRaw(io.RawIOBase):
    """A pyarrow input stream (a decompressing one) as a Python binary stream."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        data = self._native.read(len(view))
        view[: len(data)] = data
        return len(data)


class _lines:
    """The lines of a (decompressed) file, as bytes: ``with _lines(path, compression) as it``."""

    def __init__(self, path: str, compression: str | None) -> None:
        self._native = pa.input_stream(path, compression=compression)

    def __enter__(self) -> Iterator[bytes]:
        return iter(io.BufferedReader(_NativeRaw(self._native), 1 << 20))

    def __exit__(self, *exc: object) -> None:
        self._native.close()


def _scan_jsonl(
    name: str,
    lines: Iterator[bytes],
    schema: pa.Schema | None,
    objects_before: int,
    *,
    strict: bool,
    numeric: frozenset[str] = frozenset(),
) -> InputError | None:
    """The first line after ``objects_before`` objects (blank lines hold none) that Arrow
    would refuse when reading with ``schema`` (None: each field's type is its first non-null
    value's, as Arrow infers it), as one line naming the line and field; None when every line
    reads. ``strict``: a field the schema lacks is refused. A slow scan in Python, only on the
    error path."""
    import json

    types = {f.name: f.type for f in schema} if schema is not None else {}
    objects = 0
    for line_no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        objects += 1
        if objects <= objects_before:
            continue
        at = f"{name}: line {line_no}"
        if raw.startswith(BOM):
            return InputError(
                f"{at}: starts with a UTF-8 byte order mark, which JSON Lines does not allow; "
                "save the file as UTF-8 without it"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return InputError(f"{at}: text that is not UTF-8; save the file as UTF-8")
        try:
            value = json.loads(
                text.rstrip("\r\n"), object_pairs_hook=_pairs, parse_float=_finite_float
            )
        except _Twice as twice:
            return InputError(f"{at}: field '{twice.args[0]}' appears twice in the object")
        except _TooBig as big:
            return InputError(f"{at}: the number {big.args[0]} is too large for a double")
        except RecursionError:
            return InputError(f"{at}: arrays or objects nested too deeply to be scores")
        except ValueError as exc:
            return InputError(
                f"{at}: not valid JSON ({getattr(exc, 'msg', exc)}, at character "
                f"{getattr(exc, 'colno', '?')}); JSON Lines holds one object per line"
            )
        if not isinstance(value, dict):
            return InputError(
                f"{at}: {_json_kind(value)}, not an object; JSON Lines holds one object per line"
            )
        for key, v in value.items():
            if key not in types or (schema is None and pa.types.is_null(types[key])):
                if strict:
                    return InputError(
                        f"{at}: field '{key}' is in no earlier line (the first lines hold "
                        f"{', '.join(types)}); {SAME_FIELDS}"
                    )
                if schema is None:
                    types[key] = _json_type(v)
                continue
            problem = _type_problem(types[key], v)
            if problem is not None:
                bad, expected = problem
                within = " in the array" if isinstance(v, list) and bad is not v else ""
                if key in numeric:
                    if isinstance(bad, str) and not within:
                        return not_a_number(at, key, bad)
                    return InputError(
                        f"{at}, column '{key}': {_json_kind(bad)}{within} is not a number; "
                        "score, target and weight columns must hold only numbers"
                    )
                return InputError(
                    f"{at}, column '{key}': {_json_kind(bad)}{within}, where earlier lines "
                    f"hold {expected}; a field holds one JSON type on every line"
                )
    return None


SAME_FIELDS = (
    "every line must hold the same fields (the first object's order is the class order), "
    "or choose the scores with --pred-cols to read on without it"
)


def _json_type(v: Any) -> pa.DataType:
    """The Arrow type Arrow infers for a JSON value (a number: float64, ints being promoted)."""
    if v is None:
        return pa.null()
    if isinstance(v, bool):
        return pa.bool_()
    if isinstance(v, (int, float)):
        return pa.float64()
    if isinstance(v, str):
        return pa.string()
    if isinstance(v, list):
        first = next((x for x in v if x is not None), None)
        return pa.list_(_json_type(first))
    return pa.struct([])


class _Twice(ValueError):
    pass


class _TooBig(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Twice(k)
        out[k] = v
    return out


def _finite_float(text: str) -> float:
    import math

    value = float(text)
    if math.isinf(value):
        raise _TooBig(text)
    return value


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"the number {v}"
    if isinstance(v, str):
        return f"the text '{v[:40]}'" + ("..." if len(v) > 40 else "")
    if isinstance(v, list):
        return "an array"
    return "an object"


def _type_problem(ty: pa.DataType, v: Any) -> tuple[Any, str] | None:
    """(the value that is wrong, what a field of type ``ty`` holds) when ``v`` (or a value
    in it) is not of that type, else None."""
    if v is None:
        return None
    number = isinstance(v, (int, float)) and not isinstance(v, bool)
    if pa.types.is_floating(ty):
        return None if number else (v, "numbers")
    if pa.types.is_integer(ty):
        return None if isinstance(v, int) and not isinstance(v, bool) else (v, "whole numbers")
    if pa.types.is_string(ty) or pa.types.is_large_string(ty):
        return None if isinstance(v, str) else (v, "text")
    if pa.types.is_boolean(ty):
        return None if isinstance(v, bool) else (v, "true or false")
    if pa.types.is_null(ty):
        return v, "null"
    if pa.types.is_list(ty):
        if not isinstance(v, list):
            return v, "arrays"
        if pa.types.is_null(ty.value_type):
            return None
        return next(
            (p for p in (_type_problem(ty.value_type, x) for x in v) if p is not None), None
        )
    return None
