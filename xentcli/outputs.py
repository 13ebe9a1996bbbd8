"""Files xent writes: always to a temporary file beside the target, renamed at the end.

A run that fails half-way leaves the target as it was (absent, or its old content).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from xentcli.config import OutputFormat
from xentcli.errors import UsageError
from xentcli.io.formats import PER_SAMPLE_KINDS, compression_of, kind_of
from xentcli.textsafe import FORMULA_STARTS, UNSAFE_RE2, csv_text

_MAX_LINKS = 40  # as the kernel's ELOOP limit


# A report file's format follows its extension; other paths (``$GITHUB_STEP_SUMMARY``, a .txt)
# and stdout (``-``) take --format.
REPORT_SUFFIXES = {
    ".json": OutputFormat.json,
    ".csv": OutputFormat.csv,
    ".md": OutputFormat.markdown,
    ".markdown": OutputFormat.markdown,
    ".html": OutputFormat.html,
    ".htm": OutputFormat.html,
}
_FORMAT_NAMES = {
    OutputFormat.markdown: "Markdown",
    OutputFormat.json: "JSON",
    OutputFormat.csv: "CSV",
    OutputFormat.html: "HTML",
}


@dataclass(frozen=True)
class ReportTargets:
    """Where a run's report goes: files (each with its format), and stdout (its format, or
    None when the report goes to files only)."""

    files: tuple[tuple[str, OutputFormat], ...]
    stdout: OutputFormat | None


def report_targets(outputs: tuple[str, ...], format: OutputFormat | None) -> ReportTargets:
    """--output (repeatable) and --format as targets: no --output is stdout in --format (the
    table by default); ``-`` is stdout; a path ending .json, .csv, .md, .markdown or .html is
    written in that format, any other path in --format. A --format given that no output uses
    (``--format json --output report.md``) is refused rather than silently dropped."""
    shown = format or OutputFormat.table
    if not outputs:
        return ReportTargets((), shown)
    stdout: OutputFormat | None = None
    files: list[tuple[str, OutputFormat]] = []
    seen: dict[str, str] = {}
    for path in outputs:
        if path == "-":
            if stdout is not None:
                raise UsageError("--output -: given twice; the report goes to stdout once")
            stdout = shown
            continue
        if not path:
            raise UsageError("--output '': give a file path, or - for stdout")
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError(
                f"--output {path}: the same file as --output {seen[real]}; give each report "
                "its own file"
            )
        seen[real] = path
        files.append((path, REPORT_SUFFIXES.get(os.path.splitext(path)[1].lower(), shown)))
    if format is not None and stdout is None and all(f is not format for _, f in files):
        written = ", ".join(f"{p} is {_FORMAT_NAMES.get(f, f.value)}" for p, f in files)
        raise UsageError(
            f"--format {format.value}: no report is written in it ({written}, by its "
            f"extension); drop --format, or add --output - to print it on stdout"
        )
    return ReportTargets(tuple(files), stdout)


def open_report_files(targets: ReportTargets) -> list[AtomicPath]:
    """The report files' temporary files, made now (a path that cannot be written is refused
    before the input is read); on a refusal, those already made are removed."""
    made: list[AtomicPath] = []
    try:
        for path, _ in targets.files:
            made.append(AtomicPath(path))
    except BaseException:
        for m in made:
            m.abort()
        raise
    return made


def refuse_replacing_inputs(
    outputs: list[tuple[str, str | None]] | dict[str, str | None], inputs: list[str | None]
) -> None:
    """An output file that is one of the run's input files would replace it at the end (a
    typo such as ``--per-sample preds.parquet`` destroyed the predictions): refused first.
    The inputs are the predictions (every file of a directory or glob), the labels and the
    baseline, followed through links."""
    from xentcli.io.datasets import dataset_files, is_dataset_path

    pairs = list(outputs.items()) if isinstance(outputs, dict) else outputs
    targets = [(option, path) for option, path in pairs if path and os.path.exists(path)]
    if not targets:
        return
    files: list[str] = []
    for source in inputs:
        if not source or source == "-":
            continue
        files += dataset_files(source) if is_dataset_path(source) else [source]
    for option, path in targets:
        for source in files:
            if os.path.isfile(source) and os.path.samefile(path, source):
                raise UsageError(
                    f"{option} {path}: is an input of this run ({source}); "
                    "writing it would replace that file: give another path"
                )


def _own_descriptor(link: str) -> int | None:
    """N when ``link`` is this process's ``/proc/self/fd/N`` (what ``/dev/stdout`` and
    ``/dev/fd/N`` lead to), else None."""
    directory = os.path.realpath(os.path.dirname(link) or ".")
    if directory != f"/proc/{os.getpid()}/fd":
        return None
    name = os.path.basename(link)
    return int(name) if name.isdigit() else None


def _check_link(link: str, target: str) -> None:
    """Refuse a link the kernel's ``protected_symlinks`` would not follow either: one in a
    sticky, world-writable directory (``/tmp``) owned by neither us nor the directory's owner.
    Otherwise anyone could plant ``/tmp/report.json`` -> a file of ours for xent to replace."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return
    parent = os.stat(os.path.dirname(link) or ".")
    shared = parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH
    if shared and os.lstat(link).st_uid not in (geteuid(), parent.st_uid):
        raise UsageError(
            f"{target}: a link owned by another user in a shared directory; "
            "xent does not follow it (nor would the kernel)"
        )


def _resolve(target: str) -> tuple[str, int | None]:
    """(the file ``target`` names once symlinks in its last component are followed, this
    process's descriptor when that is one of its open files).

    Only the last component is followed by hand: ``os.replace`` follows links in the
    directories itself but would replace a link named as the file, leaving what it points to
    untouched. Paths are not normalised as text: ``link/..`` is the link's parent, as for the
    kernel.
    """
    path = target
    for _ in range(_MAX_LINKS):
        if not os.path.islink(path):
            return path, None
        _check_link(path, target)
        fd = _own_descriptor(path)
        if fd is not None:
            return path, fd
        if os.path.realpath(os.path.dirname(path) or ".").startswith("/proc/"):
            return path, None  # another process's open file: written in place, by name
        link = os.readlink(path)
        path = link if os.path.isabs(link) else os.path.join(os.path.dirname(path), link)
    raise UsageError(f"{target}: too many levels of symbolic links")


class AtomicPath:
    """A temporary path in the target's directory; ``commit`` renames it over the target.

    A symlink is written through: the temporary file goes beside the file it points to and is
    renamed onto that file, so the link stays. A target that exists and is not a regular file
    (``/dev/null``, ``/dev/full``, a FIFO) is written in place (``direct``): renaming over a
    device node would replace the device. ``/dev/stdout`` and ``/dev/fd/N`` are written
    through the descriptor itself (``fd``), so what the shell redirected (``>`` or ``>>``)
    keeps its place in the file.

    The file keeps the mode of the file it replaces; a new file gets ``0o666 & ~umask``, as
    ``open`` would give it (``mkstemp``'s 0600 would hide a report from the rest of a CI job).
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.direct = False
        self.committed = False
        self.fd: int | None = None
        if os.path.isdir(target):
            raise UsageError(f"{target}: is a directory; give a file path to write")
        try:
            real, fd = _resolve(target)
        except OSError as exc:
            raise UsageError(f"{target}: cannot follow the link: {exc.strerror}") from None
        self.real = real
        if fd is not None or (os.path.exists(real) and not os.path.isfile(real)):
            self.tmp = real
            self.direct = True
            self.fd = fd
            return
        directory = os.path.dirname(real) or "."
        if not os.path.isdir(directory):
            raise UsageError(f"{target}: the directory {directory} does not exist")
        try:
            mode = stat.S_IMODE(os.stat(real).st_mode) if os.path.exists(real) else None
            self.tmp = _create_beside(real, mode)
        except OSError as exc:
            raise UsageError(f"{target}: cannot write there: {exc.strerror}") from None

    def open(self, binary: bool = False) -> IO[Any]:
        """The file to write: the temporary one, the device, or a duplicate of ``fd``."""
        if self.fd is not None:
            if binary:
                return os.fdopen(os.dup(self.fd), "wb")
            return os.fdopen(os.dup(self.fd), "w", encoding="utf-8", newline="")
        if binary:
            return open(self.tmp, "wb")
        return open(self.tmp, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        if self.direct:
            return
        try:
            os.replace(self.tmp, self.real)
            self.committed = True
        except OSError as exc:
            self.abort()
            raise UsageError(f"{self.target}: cannot write: {exc.strerror}") from None

    def abort(self) -> None:
        """Remove the temporary file (nothing once committed: the target is then the file)."""
        if self.direct or self.committed:
            return
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _create_beside(real: str, mode: int | None) -> str:
    """A new empty file next to ``real``, created 0600 (no one else can open it meanwhile),
    then given ``mode``, or what ``open`` would give a new file: 0o666 less the umask."""
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    directory, name = os.path.split(real)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600
            )
        except FileExistsError:
            continue
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
        except OSError:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", directory)


def write_text_atomic(target: str | AtomicPath, text: str) -> None:
    """Write ``text`` to ``target`` (an AtomicPath made before the work, so that a path that
    cannot be written is refused before any reading) and commit it."""
    path = target if isinstance(target, AtomicPath) else AtomicPath(target)
    write_text(path, text)
    path.commit()


def write_text(path: AtomicPath, text: str) -> None:
    """Write ``text`` to the temporary file of ``path`` (synced to disk), not yet committed."""
    target = path.target
    try:
        with path.open() as fh:
            fh.write(text)
            fh.flush()
            if not path.direct:
                os.fsync(fh.fileno())
    except OSError as exc:
        path.abort()
        raise UsageError(f"{target}: cannot write: {exc.strerror}") from None
    except BaseException:
        path.abort()
        raise


PER_SAMPLE_COLUMNS = ("loss", "y_true", "y_pred")


def csv_texts(values: Any) -> Any:
    """An Arrow column of text (ids) as CSV cells: each by :func:`xentcli.textsafe.csv_text`.
    Only the rows that need it go through Python; other kinds (numbers) are as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from xentcli.io.arrowcols import strings

    if pa.types.is_dictionary(values.type):
        return pa.DictionaryArray.from_arrays(values.indices, csv_texts(values.dictionary))
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    starts = "^[" + "".join("\\" + c if c == "-" else c for c in FORMULA_STARTS) + "]"
    risky = pc.fill_null(
        pc.or_(
            pc.match_substring_regex(values, UNSAFE_RE2),
            pc.match_substring_regex(values, starts),
        ),
        False,
    )
    if not pc.any(risky).as_py():
        return values
    fixed = [csv_text(v) for v in values.filter(risky).to_pylist()]
    return pc.replace_with_mask(values, risky, strings(fixed).cast(values.type))


class PerSampleWriter:
    """``--per-sample``: each row's loss, true and predicted class (and id) as Parquet or CSV."""

    def __init__(self, target: str, unit_log: float) -> None:
        kind = kind_of(target, told_only=True)
        if kind not in PER_SAMPLE_KINDS or compression_of(target):
            raise UsageError(f"--per-sample {target}: name a .parquet or .csv file")
        self.kind = kind
        self.target = target
        self.unit_log = unit_log
        self.path: AtomicPath | None = AtomicPath(target)  # now: refused before any reading
        self.writer: Any = None
        self.handle: IO[bytes] | None = None  # a target written in place (a FIFO, /dev/stdout)
        self.names: Any = None
        self.id_name: str | None = None
        self.multilabel = False

    def start(self, plan: Any, id_name: str | None) -> None:
        from xentcli.io.arrowcols import strings

        if id_name in PER_SAMPLE_COLUMNS:
            raise UsageError(
                f"--per-sample writes the id column under its own name, and '{id_name}' is "
                f"one of its columns ({', '.join(PER_SAMPLE_COLUMNS)}); rename the id column"
            )
        self.id_name = id_name
        self.multilabel = plan.task.value == "multilabel"
        names = [str(c) for c in plan.classes]
        if self.kind == "csv" and not self.multilabel:  # (multi-label cells: when joined)
            names = [csv_text(n) for n in names]
        self.names = strings(names)

    def _labels(self, y: np.ndarray) -> Any:
        import pyarrow.compute as pc

        from xentcli.io.arrowcols import from_numpy, strings

        if self.multilabel:
            names = np.asarray(self.names.to_pylist(), dtype=object)
            joined = ["|".join(names[row]) for row in y]  # per-row names; only with --per-sample
            return strings([csv_text(j) for j in joined] if self.kind == "csv" else joined)
        return pc.take(self.names, from_numpy(y.astype(np.int64), mask=y < 0))

    def write(self, rows: Any) -> None:
        import pyarrow as pa

        from xentcli.io.arrowcols import from_numpy

        assert self.path is not None
        loss = rows.loss / self.unit_log
        columns: dict[str, Any] = {}
        if self.id_name is not None and rows.ids is not None:
            ids = rows.ids
            ids = ids if isinstance(ids, pa.Array) else from_numpy(ids)
            columns[self.id_name] = csv_texts(ids) if self.kind == "csv" else ids
        loss_col, true_col, pred_col = PER_SAMPLE_COLUMNS
        columns[loss_col] = from_numpy(loss.astype(np.float64), mask=np.isnan(loss))
        columns[true_col] = self._labels(rows.y_true)
        columns[pred_col] = self._labels(rows.y_pred)
        table = pa.table(columns)
        try:
            if self.writer is None:
                self.writer = self._open(table.schema)
            self.writer.write_table(table)
        except (OSError, pa.ArrowException) as exc:
            raise UsageError(f"{self.target}: cannot write: {exc}") from None

    def _open(self, schema: Any) -> Any:
        assert self.path is not None
        sink: Any = self.path.tmp
        if self.path.direct:
            # Arrow's own file stream seeks, which a pipe refuses; a Python file does not.
            self.handle = self.path.open(binary=True)
            sink = self.handle
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(sink, schema)
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(sink, schema, write_options=pcsv.WriteOptions(quoting_style="needed"))

    def finish(self) -> None:
        self.close()
        self.commit()

    def close(self) -> None:
        """The file written whole (Parquet's footer too), not yet in its place."""
        import pyarrow as pa

        if self.path is None:
            return
        try:
            if self.writer is not None:
                self.writer.close()
            if self.handle is not None:
                self.handle.close()
        except (OSError, pa.ArrowException) as exc:
            self.abort()
            raise UsageError(f"{self.target}: cannot write: {exc}") from None
        self.writer = self.handle = None

    def commit(self) -> None:
        if self.path is not None:
            self.path.commit()

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:
                pass
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
        if self.path is not None:
            self.path.abort()
