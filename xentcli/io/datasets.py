"""Many files read as one input: a directory or a glob of Parquet, CSV, JSON Lines or Arrow
files, through ``pyarrow.dataset`` (hive-style ``key=value`` directories become columns),
streamed like one file.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from xentcli.errors import InputError, UsageError
from xentcli.io.formats import DATASET_KINDS, kind_of
from xentcli.io.tables import not_a_number

_GLOB_CHARS = "*?["


def is_dataset_path(path: str) -> bool:
    """A directory, or a glob that is not itself the name of a file."""
    if path == "-":
        return False
    if os.path.isdir(path):
        return True
    return any(c in path for c in _GLOB_CHARS) and not os.path.exists(path)


def dataset_files(path: str) -> list[str]:
    """Every file under a directory, or every file a glob matches."""
    return _files(path)[0]


def _files(path: str) -> tuple[list[str], str]:
    """(the files, the directory that hive partitions are relative to)."""
    if os.path.isdir(path):
        found = []
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            found += [os.path.join(root, n) for n in sorted(names) if not n.startswith((".", "_"))]
        return found, path
    base = path
    while any(c in base for c in _GLOB_CHARS):
        base = os.path.dirname(base)
    found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    return found, base or "."


_CSV_CELL = re.compile(
    r"In CSV column #(\d+): Row #(\d+): CSV conversion error to "
    r"\w+: invalid value '(.*)'$",
    re.S,
)


def _bad_cell(message: str, path: str, kind: str) -> tuple[int, str, str] | None:
    """(data row, column, value) of Arrow's error for a CSV cell that is not a number, the
    column named from the file's header; None for any other error."""
    found = _CSV_CELL.search(message.strip())
    if found is None or kind not in ("csv", "tsv"):
        return None
    import csv

    from xentcli.io.formats import compression_of
    from xentcli.io.tables import _lines

    col_no, line_no, value = int(found.group(1)), int(found.group(2)), found.group(3)
    try:
        with _lines(path, compression_of(path)) as lines:
            first = next(lines, b"").decode("utf-8-sig", "replace")
        header = next(csv.reader([first], delimiter="\t" if kind == "tsv" else ","), [])
    except (pa.ArrowException, OSError, EOFError):
        return None
    if col_no >= len(header) or line_no < 2:
        return None
    return line_no - 1, header[col_no], value  # line 1 is the header


def _kind_of_file(path: str) -> str | None:
    """A file's kind by its extension (a CSV or TSV may be gzipped), or None for files a
    dataset does not read (a README.txt, an .npy beside the Parquet files)."""
    kind = kind_of(path, told_only=True)
    return kind if kind in DATASET_KINDS else None


def _kind_of(files: list[str], path: str, forced: str | None) -> str:
    if forced:
        return forced
    kinds = {k for k in map(_kind_of_file, files) if k is not None}
    if not kinds:
        raise UsageError(
            f"{path}: no Parquet, CSV, JSON Lines or Arrow files found; "
            "pass --input-format to say what the files are"
        )
    if len(kinds) > 1:
        raise UsageError(
            f"{path}: holds files of several formats ({', '.join(sorted(kinds))}); "
            "point at one kind, e.g. with a glob like 'dir/**/*.parquet'"
        )
    return kinds.pop()


@dataclass
class DatasetInput:
    """A set of files behind one schema; batches of some columns, in file order."""

    path: str
    kind: str  # parquet | csv | tsv | jsonl | arrow
    files: list[str]
    base: str
    threads: bool = True
    schema: pa.Schema = field(init=False)
    num_rows: int | None = None
    # Scores are every column not taken otherwise (no --pred-cols): a column that only later
    # files hold would be a score the first file's schema leaves out, so it is refused.
    every_column_counts: bool = False

    def __post_init__(self) -> None:
        self.schema = self._dataset().schema
        if self.kind == "parquet":
            try:
                self.num_rows = self._dataset().count_rows()
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{self.path}: cannot read the dataset: {exc}") from None

    @property
    def name(self) -> str:
        return self.path

    @property
    def partition_columns(self) -> list[str]:
        """Hive keys of the files' directories (``day=...``): metadata, never scores."""
        return [k for k in self._hive_keys() if k in self.schema.names]

    def _hive_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for f in self.files:
            rel = os.path.relpath(os.path.dirname(f), self.base)
            for piece in rel.split(os.sep):
                key, eq, _ = piece.partition("=")
                if eq and key:
                    keys[key] = None
        return list(keys)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def _format(self, numeric: set[str] | None = None, text: set[str] | None = None) -> Any:
        import pyarrow.dataset as pds

        if self.kind == "jsonl":
            import pyarrow.json as pj

            if not numeric:
                return pds.JsonFileFormat()  # the fields and types of the first file's lines
            return pds.JsonFileFormat(
                parse_options=pj.ParseOptions(
                    explicit_schema=self._jsonl_schema(numeric),
                    unexpected_field_behavior="error" if self.every_column_counts else "ignore",
                )
            )

        if self.kind in ("csv", "tsv"):
            import pyarrow.csv as pcsv

            # As a single CSV is read: only an empty field is missing ("NA" may be a class
            # name), columns other than scores stay text ("007" is an id), quoted newlines
            types = {c: pa.float64() for c in (numeric or ())}
            types |= {c: pa.string() for c in (text or ())}
            return pds.CsvFileFormat(
                parse_options=pcsv.ParseOptions(
                    delimiter="\t" if self.kind == "tsv" else ",", newlines_in_values=True
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types=types, strings_can_be_null=True, null_values=[""]
                ),
            )
        if self.kind == "arrow":
            return "ipc"
        from xentcli.io.tables import PARQUET_BUFFER_BYTES

        return pds.ParquetFileFormat(
            default_fragment_scan_options=pds.ParquetFragmentScanOptions(
                use_buffered_stream=True, buffer_size=PARQUET_BUFFER_BYTES, pre_buffer=False
            )
        )

    def _jsonl_schema(self, numeric: set[str]) -> pa.Schema:
        """The fields of JSON Lines files as read: scores, targets and weights as float64,
        the others (but the hive keys) as the first file's lines hold them."""
        keys = set(self.partition_columns)
        return pa.schema(
            [
                pa.field(f.name, pa.float64() if f.name in numeric else f.type)
                for f in self.schema
                if f.name not in keys
            ]
        )

    def _dataset(self, numeric: set[str] | None = None, text: set[str] | None = None) -> Any:
        import pyarrow.dataset as pds

        schema = None
        if self.kind == "jsonl" and numeric:
            keys = [self.schema.field(k) for k in self.partition_columns]
            schema = pa.schema([*self._jsonl_schema(numeric), *keys])
        if self.kind in ("csv", "tsv") and (numeric or text):
            # The columns typed as they will be read: no file is parsed to infer them, so a
            # cell that is not a number is found while reading, in its file and row.
            schema = pa.schema(
                [
                    pa.field(
                        f.name,
                        pa.float64()
                        if f.name in (numeric or ())
                        else pa.string()
                        if f.name in (text or ())
                        else f.type,
                    )
                    for f in self.schema
                ]
            )
        try:
            # Partition values are text, as they are written in the paths: "shard=007" is
            # '007' (not 7, nor the same group as "shard=7"), in every file and task alike.
            keys = pa.schema([(k, pa.string()) for k in self._hive_keys()])
            return pds.dataset(
                self.files,
                schema=schema,
                format=self._format(numeric, text),
                partitioning=pds.partitioning(keys, flavor="hive"),
                partition_base_dir=self.base,
            )
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{self.path}: cannot open the dataset: {exc}") from None

    def batches(
        self,
        columns: list[str],
        batch_rows: int,
        numeric: set[str],
        categorical: frozenset[str] = frozenset(),
    ) -> Iterator[pa.RecordBatch]:
        """File by file (so an error names its file), partition values filled in. Text
        columns stay text (``categorical`` is a hint a single file takes)."""
        text = set(columns) - numeric - set(self.partition_columns)
        dataset = self._dataset(numeric, text)
        rows_before = 0
        for fragment in dataset.get_fragments():
            in_file = 0
            if self.every_column_counts:
                self._same_columns(fragment)
            try:
                scanner = fragment.scanner(
                    schema=dataset.schema,
                    columns=columns,
                    batch_size=batch_rows,
                    use_threads=self.threads,
                )
                for batch in scanner.to_batches():
                    yield batch
                    in_file += batch.num_rows
            except (pa.ArrowException, OSError) as exc:
                if self.kind == "jsonl":
                    found = self._jsonl_line(fragment.path, in_file, numeric)
                    if found is not None:
                        raise found from None
                cell = _bad_cell(str(exc), fragment.path, self.kind)
                if cell is not None:
                    row, column, value = cell
                    of = (
                        f" (row {rows_before + row} of {self.path})"
                        if rows_before and fragment.path != self.path
                        else ""
                    )
                    raise not_a_number(f"{fragment.path}: row {row}{of}", column, value) from None
                at = f" after its row {in_file}" if in_file else ""
                if rows_before and fragment.path != self.path:
                    of = f"row {rows_before + in_file} of {self.path}"
                    at += f" ({of})" if in_file else f" after {of}"
                raise InputError(
                    f"{fragment.path}: cannot read it{at}: {str(exc).strip()}"
                ) from None
            rows_before += in_file

    def _jsonl_line(self, path: str, objects_before: int, numeric: set[str]) -> InputError | None:
        """The line of a JSON Lines file that Arrow refused, found by reading it again."""
        from xentcli.io.formats import compression_of
        from xentcli.io.tables import _lines, _scan_jsonl

        try:
            with _lines(path, compression_of(path)) as lines:
                return _scan_jsonl(
                    path,
                    lines,
                    self._jsonl_schema(numeric),
                    objects_before,
                    strict=self.every_column_counts,
                    numeric=frozenset(numeric),
                )
        except (pa.ArrowException, OSError, EOFError):
            return None

    def _same_columns(self, fragment: Any) -> None:
        try:
            names = fragment.physical_schema.names
        except (pa.ArrowException, OSError):
            return  # the file's own read reports it, with its row
        extra = [n for n in names if n not in self.schema.names]
        if extra:
            raise InputError(
                f"{fragment.path}: column '{extra[0]}' is in no earlier file of {self.path} "
                f"(their columns: {', '.join(self.schema.names)}); the files of a dataset "
                "share their columns: choose the scores with --pred-cols to read on without it"
            )

    def fragments(self) -> list[str]:
        return list(self.files)


def open_dataset_input(path: str, forced_kind: str | None, threads: bool) -> DatasetInput:
    files, base = _files(path)
    if not files:
        what = "is a directory with no files in it" if os.path.isdir(path) else "matches no file"
        raise InputError(f"{path}: {what}")
    kind = _kind_of(files, path, forced_kind)
    keep = [f for f in files if forced_kind or _kind_of_file(f) == kind]
    zst = next((f for f in keep if f.lower().endswith(".zst")), None)
    if zst is not None:  # pyarrow.dataset takes .zstd for zstd, and .zst for no compression
        raise UsageError(
            f"{zst}: a directory or glob reads zstd files named .zstd, not .zst (one file is "
            "read either way): rename them .zstd, or decompress them"
        )
    return DatasetInput(path, kind, keep, base, threads=threads)
