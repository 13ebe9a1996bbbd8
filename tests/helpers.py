"""Shared test helpers: write a table in any format, run the CLI, read its JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
from typer.testing import CliRunner

from xentcli.cli import app

TABLE_FORMATS = ["csv", "tsv", "csv.gz", "parquet", "feather", "arrows"]


def write_table(path: Path, table: pa.Table, fmt: str | None = None) -> Path:
    """Write ``table`` as ``fmt`` (by default from the suffix of ``path``)."""
    fmt = fmt or path.name.split(".", 1)[1]
    if fmt == "csv":
        pcsv.write_csv(table, path)
    elif fmt == "tsv":
        pcsv.write_csv(table, path, pcsv.WriteOptions(delimiter="\t"))
    elif fmt == "csv.gz":
        raw = path.with_suffix("")
        pcsv.write_csv(table, raw)
        path.write_bytes(gzip.compress(raw.read_bytes()))
        raw.unlink()
    elif fmt == "parquet":
        pq.write_table(table, path, row_group_size=13)
    elif fmt == "feather":
        feather.write_feather(table, path, chunksize=11)
    elif fmt == "arrows":
        with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
            for b in table.to_batches(max_chunksize=9):
                w.write_batch(b)
    else:
        raise ValueError(fmt)
    return path


def wide_table(
    scores: np.ndarray, labels: Any = None, names: list[str] | None = None, **extra: Any
) -> pa.Table:
    names = names or [f"c{j}" for j in range(scores.shape[1])]
    cols: dict[str, Any] = {n: scores[:, j] for j, n in enumerate(names)}
    if labels is not None:
        cols["label"] = labels
    cols.update(extra)
    return pa.table(cols)


def run(args: list[str], stdin: bytes | str | None = None) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], input=stdin)


def run_json(args: list[str], stdin: bytes | str | None = None) -> dict[str, Any]:
    res = run([*args, "--format", "json"], stdin)
    assert res.exit_code == 0, res.stderr + res.stdout
    return json.loads(res.stdout)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
