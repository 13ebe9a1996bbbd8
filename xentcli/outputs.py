"""Files xent writes: always to a temporary file beside the target, renamed at the end.

A run that fails half-way leaves the target as it was (absent, or its old content).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from typing import IO, Any

import numpy as np

from xentcli.errors import UsageError

_MAX_LINKS = 40  # as the kernel's ELOOP limit


def _is_proc_link(path: str) -> bool:
    """``/dev/stdout`` -> ``/proc/self/fd/1``: a link to an open file, which may be a pipe,
    a deleted file or one the shell opened for appending; it can only be written in place."""
    return os.path.realpath(os.path.dirname(path)).startswith("/proc/")


def _resolve(target: str) -> tuple[str, bool]:
    """(the path a symlink ``target`` finally names, whether it is a /proc link to an open file).

    Only the last component matters: ``os.replace`` follows links in the directories but
    would replace a link named as the file itself, leaving what it pointed to untouched.
    """
    path = os.path.abspath(target)
    for _ in range(_MAX_LINKS):
        if not os.path.islink(path):
            return path, False
        if _is_proc_link(path):
            return path, True
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    raise UsageError(f"{target}: too many levels of symbolic links")


class AtomicPath:
    """A temporary path in the target's directory; ``commit`` renames it over the target.

    A symlink is written through: the temporary file goes beside the file it points to and is
    renamed onto that file, so the link stays. A target that exists and is not a regular file
    (``/dev/null``, ``/dev/full``, a FIFO, ``/dev/stdout``) is written in place (``direct``):
    renaming over a device node would replace the device. ``/proc/self/fd/N`` links (what
    ``/dev/stdout`` points to) are appended to, so ``>> summary.md`` keeps what it had.

    The file keeps the mode of the file it replaces; a new file gets ``0o666 & ~umask``, as
    ``open`` would give it (``mkstemp``'s 0600 would hide a report from the rest of a CI job).
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.direct = False
        self.append = False
        if os.path.isdir(target):
            raise UsageError(f"{target}: is a directory; give a file path to write")
        try:
            real, proc_link = _resolve(target)
        except OSError as exc:
            raise UsageError(f"{target}: cannot follow the link: {exc.strerror}") from None
        self.real = real
        if proc_link or (os.path.exists(real) and not os.path.isfile(real)):
            self.tmp = real
            self.direct = True
            self.append = proc_link
            return
        directory = os.path.dirname(real)
        if not os.path.isdir(directory):
            raise UsageError(f"{target}: the directory {directory} does not exist")
        try:
            mode = stat.S_IMODE(os.stat(real).st_mode) if os.path.exists(real) else None
            self.tmp = _create_beside(real)
        except OSError as exc:
            raise UsageError(f"{target}: cannot write there: {exc.strerror}") from None
        if mode is not None:
            try:
                os.chmod(self.tmp, mode)
            except OSError as exc:
                self.abort()
                raise UsageError(f"{target}: cannot write there: {exc.strerror}") from None

    @property
    def open_mode(self) -> str:
        """How to open ``tmp`` for writing ("w" or "a"; add "b" for bytes)."""
        return "a" if self.append else "w"

    def commit(self) -> None:
        if self.direct:
            return
        try:
            os.replace(self.tmp, self.real)
        except OSError as exc:
            self.abort()
            raise UsageError(f"{self.target}: cannot write: {exc.strerror}") from None

    def abort(self) -> None:
        if self.direct:
            return
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _create_beside(real: str) -> str:
    """A new empty file next to ``real``; the kernel applies the umask to 0o666 (mkstemp's
    0o600 does not)."""
    directory, name = os.path.split(real)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", directory)


def write_text_atomic(target: str, text: str) -> None:
    path = AtomicPath(target)
    try:
        with open(path.tmp, path.open_mode, encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            if not path.direct:
                os.fsync(fh.fileno())
    except OSError as exc:
        path.abort()
        raise UsageError(f"{target}: cannot write: {exc.strerror}") from None
    path.commit()


PER_SAMPLE_COLUMNS = ("loss", "y_true", "y_pred")


class PerSampleWriter:
    """``--per-sample``: each row's loss, true and predicted class (and id) as Parquet or CSV."""

    def __init__(self, target: str, unit_log: float) -> None:
        lower = target.lower()
        if lower.endswith(".parquet") or lower.endswith(".pq"):
            self.kind = "parquet"
        elif lower.endswith(".csv"):
            self.kind = "csv"
        else:
            raise UsageError(f"--per-sample {target}: name a .parquet or .csv file")
        self.target = target
        self.unit_log = unit_log
        self.path: AtomicPath | None = None
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
        self.path = AtomicPath(self.target)
        self.names = strings([str(c) for c in plan.classes])
        self.id_name = id_name
        self.multilabel = plan.task.value == "multilabel"

    def _labels(self, y: np.ndarray) -> Any:
        import pyarrow.compute as pc

        from xentcli.io.arrowcols import from_numpy, strings

        if self.multilabel:
            names = np.asarray(self.names.to_pylist(), dtype=object)
            joined = ["|".join(names[row]) for row in y]  # per-row names; only with --per-sample
            return strings(joined)
        return pc.take(self.names, from_numpy(y.astype(np.int64), mask=y < 0))

    def write(self, rows: Any) -> None:
        import pyarrow as pa

        from xentcli.io.arrowcols import from_numpy

        assert self.path is not None
        loss = rows.loss / self.unit_log
        columns: dict[str, Any] = {}
        if self.id_name is not None and rows.ids is not None:
            ids = rows.ids
            columns[self.id_name] = ids if isinstance(ids, pa.Array) else from_numpy(ids)
        columns["loss"] = from_numpy(loss.astype(np.float64), mask=np.isnan(loss))
        columns["y_true"] = self._labels(rows.y_true)
        columns["y_pred"] = self._labels(rows.y_pred)
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
            self.handle = open(self.path.tmp, self.path.open_mode + "b")
            sink = self.handle
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(sink, schema)
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(sink, schema,
                              write_options=pcsv.WriteOptions(quoting_style="needed"))

    def finish(self) -> None:
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
