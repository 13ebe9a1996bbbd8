"""Deterministic benchmark data (written to benchmarks/data/, not committed).

    python benchmarks/generate.py            # every data set
    python benchmarks/generate.py logits10   # one of them

Data sets:
- logits10:  5,000,000 x 10 float32 logits + int64 label, zstd Parquet, 1M-row row groups
- logits10_20m: the same at 20,000,000 rows (for the memory bound)
- logits1000: 200,000 x 1000 float32 logits + label, zstd Parquet
- binary20m: 20,000,000 float32 probabilities + label, zstd Parquet
- csv10:     1,000,000 x 10 float32 logits + label, CSV
- csv10q:    the same with a quoted id column first, as R's write.csv or QUOTE_NONNUMERIC write
- dataset20:  20 Parquet files x 250,000 rows (5M x 10 logits), hive-partitioned by day
- dataset200: 200 small files x 5,000 rows (1M rows): the overhead per Dask task
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

DATA = Path(__file__).parent / "data"
BLOCK = 1_000_000


def _logit_blocks(rows: int, classes: int, seed: int) -> list[pa.Table]:
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, rows, BLOCK):
        n = min(BLOCK, rows - start)
        z = rng.standard_normal((n, classes), dtype=np.float32) * 2
        y = rng.integers(0, classes, n)
        z[np.arange(n), y] += 1.5  # a model that is right more often than chance
        cols = {str(c): z[:, c] for c in range(classes)}
        cols["label"] = y
        out.append(pa.table(cols))
    return out


def write_parquet(name: str, rows: int, classes: int, row_group: int = BLOCK) -> Path:
    path = DATA / f"{name}.parquet"
    blocks = _logit_blocks(rows, classes, seed=rows + classes)
    with pq.ParquetWriter(path, blocks[0].schema, compression="zstd") as w:
        for t in blocks:
            w.write_table(t, row_group_size=row_group)
    return path


def binary(rows: int) -> Path:
    path = DATA / "binary20m.parquet"
    rng = np.random.default_rng(3)
    schema = pa.schema([("p", pa.float32()), ("label", pa.int64())])
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        for start in range(0, rows, BLOCK):
            n = min(BLOCK, rows - start)
            y = rng.integers(0, 2, n)
            p = np.clip(rng.beta(2, 5, n) + 0.4 * y, 0.001, 0.999).astype(np.float32)
            w.write_table(pa.table({"p": p, "label": y}, schema=schema))
    return path


def csv10() -> Path:
    path = DATA / "csv10.csv"
    blocks = _logit_blocks(1_000_000, 10, seed=99)
    with pcsv.CSVWriter(path, blocks[0].schema) as w:
        for t in blocks:
            w.write_table(t)
    return path


def csv10q() -> Path:
    """csv10's rows behind an id column of quoted text ("r0", "r1", ...)."""
    path = DATA / "csv10q.csv"
    blocks = _logit_blocks(1_000_000, 10, seed=99)
    start = 0
    schema = pa.schema([pa.field("id", pa.string()), *blocks[0].schema])
    with pcsv.CSVWriter(path, schema) as w:  # Arrow quotes every string and the header
        for t in blocks:
            ids = pa.array([f"r{i}" for i in range(start, start + t.num_rows)])
            w.write_table(pa.Table.from_arrays([ids, *t.columns], schema=schema))
            start += t.num_rows
    return path


def dataset(name: str, files: int, rows: int) -> Path:
    """``files`` Parquet files of ``rows`` rows each, hive-partitioned by day."""
    root = DATA / name
    blocks = _logit_blocks(files * rows, 10, seed=files)
    table = pa.concat_tables(blocks)
    for k in range(files):
        part = root / f"day=2026-01-{k % 7 + 1:02d}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table.slice(k * rows, rows), part / f"part-{k:03d}.parquet", compression="zstd"
        )
    return root


SETS = {
    "dataset20": lambda: dataset("dataset20", 20, 250_000),
    "dataset200": lambda: dataset("dataset200", 200, 5_000),
    "logits10": lambda: write_parquet("logits10", 5_000_000, 10),
    "logits10_20m": lambda: write_parquet("logits10_20m", 20_000_000, 10),
    "logits1000": lambda: write_parquet("logits1000", 200_000, 1000, row_group=20_000),
    "binary20m": lambda: binary(20_000_000),
    "csv10": csv10,
    "csv10q": csv10q,
}


def main(names: list[str]) -> None:
    DATA.mkdir(exist_ok=True)
    for name in names or list(SETS):
        path = SETS[name]()
        size = (
            sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            if path.is_dir()
            else path.stat().st_size
        )
        print(f"{path}  {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
