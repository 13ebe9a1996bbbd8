"""Files xent writes: always to a temporary file beside the target, renamed at the end.

A run that fails half-way leaves the target as it was (absent, or its old content).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from xentcli.errors import UsageError


class AtomicPath:
    """A temporary path in the target's directory; ``commit`` renames it over the target.

    A target that exists and is not a regular file (``/dev/stdout``, ``/dev/full``, a FIFO) is
    written in place: renaming over a device node would replace the device.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.direct = False
        directory = os.path.dirname(os.path.abspath(target))
        if os.path.isdir(target):
            raise UsageError(f"{target}: is a directory; give a file path to write")
        if os.path.exists(target) and not os.path.isfile(target):
            self.tmp = target
            self.direct = True
            return
        if not os.path.isdir(directory):
            raise UsageError(f"{target}: the directory {directory} does not exist")
        try:
            fd, self.tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
            )
        except OSError as exc:
            raise UsageError(f"{target}: cannot write there: {exc.strerror}") from None
        os.close(fd)

    def commit(self) -> None:
        if self.direct:
            return
        try:
            os.replace(self.tmp, self.target)
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


def write_text_atomic(target: str, text: str) -> None:
    path = AtomicPath(target)
    try:
        with open(path.tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            if not path.direct:
                os.fsync(fh.fileno())
    except OSError as exc:
        path.abort()
        raise UsageError(f"{target}: cannot write: {exc.strerror}") from None
    path.commit()


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
        self.names: Any = None
        self.id_name: str | None = None
        self.multilabel = False

    def start(self, plan: Any, id_name: str | None) -> None:
        from xentcli.io.arrowcols import strings

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
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetWriter(self.path.tmp, schema)
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(self.path.tmp, schema,
                              write_options=pcsv.WriteOptions(quoting_style="needed"))

    def finish(self) -> None:
        if self.path is None:
            return
        try:
            if self.writer is not None:
                self.writer.close()
        except OSError as exc:
            self.path.abort()
            raise UsageError(f"{self.target}: cannot write: {exc}") from None
        self.path.commit()

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:
                pass
        if self.path is not None:
            self.path.abort()
