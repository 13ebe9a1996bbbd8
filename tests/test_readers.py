"""Every reader streams back exactly what was written, whatever the chunk size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import TABLE_FORMATS, wide_table, write_table
from xentcli.config import ReadConfig
from xentcli.io import open_dataset
from xentcli.io.parts import Chunk, rebatch

RNG = np.random.default_rng(7)
N, C = 53, 4
SCORES = RNG.normal(size=(N, C))
LABELS = RNG.integers(0, C, N)
WEIGHTS = RNG.uniform(0.1, 2, N)


def collect(cfg: ReadConfig) -> dict[str, np.ndarray]:
    ds = open_dataset(cfg)
    parts = list(ds.parts)
    sizes = [p.n for p in parts]
    assert all(s == cfg.chunk_rows for s in sizes[:-1]), sizes
    assert sum(sizes) == N
    assert [p.row0 for p in parts] == list(np.cumsum([0, *sizes[:-1]]))
    out: dict[str, np.ndarray] = {}
    for key in parts[0].roles:
        pieces = [p.roles[key] for p in parts]
        if isinstance(pieces[0], np.ndarray):
            out[key] = np.concatenate(pieces)
        else:
            out[key] = np.asarray(pa.concat_arrays(pieces).to_pylist())
    return out


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_table_formats_round_trip(tmp_path: Path, fmt: str, chunk: int) -> None:
    path = write_table(tmp_path / f"p.{fmt}", wide_table(SCORES, LABELS, w=WEIGHTS))
    got = collect(ReadConfig(str(path), weight_col="w", chunk_rows=chunk))
    np.testing.assert_array_equal(got["scores"], SCORES)  # CSV round-trips float64 exactly
    np.testing.assert_array_equal(got["labels"].astype(np.int64), LABELS)
    np.testing.assert_array_equal(got["weights"], WEIGHTS)


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_float32_parquet_keeps_dtype(tmp_path: Path, chunk: int) -> None:
    s32 = SCORES.astype(np.float32)
    path = write_table(tmp_path / "p.parquet", wide_table(s32, LABELS))
    ds = open_dataset(ReadConfig(str(path), chunk_rows=chunk))
    assert ds.score_dtype == np.float32
    got = np.concatenate([p.score_matrix for p in ds.parts])
    np.testing.assert_array_equal(got, s32)


@pytest.mark.parametrize("list_type", ["list", "fixed"])
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_list_column(tmp_path: Path, list_type: str, chunk: int) -> None:
    flat = pa.array(SCORES.reshape(-1))
    if list_type == "fixed":
        col = pa.FixedSizeListArray.from_arrays(flat, C)
    else:
        col = pa.ListArray.from_arrays(pa.array(np.arange(0, N * C + 1, C, dtype=np.int32)), flat)
    path = tmp_path / "l.parquet"
    pq.write_table(pa.table({"scores": col, "label": LABELS}), path, row_group_size=10)
    got = collect(ReadConfig(str(path), chunk_rows=chunk))
    np.testing.assert_array_equal(got["scores"], SCORES)
    np.testing.assert_array_equal(got["labels"], LABELS)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("wide", [False, True])
def test_an_empty_first_batch(tmp_path: Path, stream: bool, wide: bool) -> None:
    """An empty record batch first (an empty shard's) is no row: list scores take their width
    from the first row there is (it set a width of 0, and a valid row was refused)."""
    import pyarrow.ipc as ipc

    flat = pa.array(SCORES.reshape(-1))
    col = pa.ListArray.from_arrays(pa.array(np.arange(0, N * C + 1, C, dtype=np.int32)), flat)
    t = wide_table(SCORES, LABELS) if wide else pa.table({"scores": col, "label": LABELS})
    path = tmp_path / ("p.arrows" if stream else "p.arrow")
    write = ipc.new_stream if stream else ipc.new_file
    with write(path, t.schema) as w:
        batches = t.to_batches(max_chunksize=7)
        for batch in [batches[0].slice(0, 0), *batches]:
            w.write_batch(batch)
    got = collect(ReadConfig(str(path), chunk_rows=5))
    np.testing.assert_array_equal(got["scores"], SCORES)
    np.testing.assert_array_equal(got["labels"], LABELS)


def test_dictionary_encoded_scores(tmp_path: Path) -> None:
    """Score columns stored dictionary-encoded in an Arrow file read as their values, as
    Parquet's dictionary pages do (they were refused as 'not numbers'), float32 kept."""
    s32 = SCORES.astype(np.float32)
    cols = {f"c{j}": pa.array(s32[:, j]).dictionary_encode() for j in range(C)}
    path = tmp_path / "d.arrow"
    with pa.ipc.new_file(
        path, pa.schema([(k, v.type) for k, v in cols.items()] + [("label", pa.int64())])
    ) as w:
        w.write_table(pa.table({**cols, "label": LABELS}))
    ds = open_dataset(ReadConfig(str(path), chunk_rows=7))
    assert ds.score_dtype == np.float32
    got = collect(ReadConfig(str(path), chunk_rows=7))
    np.testing.assert_array_equal(got["scores"], s32)
    np.testing.assert_array_equal(got["labels"], LABELS)


def test_feather_v1(tmp_path: Path) -> None:
    """The old Feather format (before Arrow IPC files) reads like its v2 copy; it was refused
    with Arrow's 'Expected to read N metadata bytes'."""
    import warnings

    import pyarrow.feather as feather

    t = wide_table(SCORES, LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # writing v1 is deprecated
        feather.write_feather(t, tmp_path / "v1.feather", version=1)
    got = collect(ReadConfig(str(tmp_path / "v1.feather"), chunk_rows=7))
    np.testing.assert_array_equal(got["scores"], SCORES)
    np.testing.assert_array_equal(got["labels"], LABELS)


@pytest.mark.parametrize("kind", ["npy", "npz", "npz_compressed"])
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_numpy_inputs(tmp_path: Path, kind: str, chunk: int) -> None:
    if kind == "npy":
        np.save(tmp_path / "s.npy", SCORES)
        np.save(tmp_path / "y.npy", LABELS)
        cfg = ReadConfig(str(tmp_path / "s.npy"), labels=str(tmp_path / "y.npy"), chunk_rows=chunk)
    else:
        save = np.savez if kind == "npz" else np.savez_compressed
        save(tmp_path / "s.npz", scores=SCORES, labels=LABELS, weights=WEIGHTS)
        cfg = ReadConfig(str(tmp_path / "s.npz"), chunk_rows=chunk)
    got = collect(cfg)
    np.testing.assert_array_equal(got["scores"], SCORES)
    np.testing.assert_array_equal(got["labels"], LABELS)
    if kind != "npy":
        np.testing.assert_array_equal(got["weights"], WEIGHTS)


def test_fortran_npz_member(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", scores=np.asfortranarray(SCORES), labels=LABELS)
    got = collect(ReadConfig(str(tmp_path / "f.npz"), chunk_rows=7))
    np.testing.assert_array_equal(got["scores"], SCORES)


@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_labels_file_read_in_step(tmp_path: Path, chunk: int) -> None:
    preds = write_table(tmp_path / "p.parquet", wide_table(SCORES))
    labels = write_table(tmp_path / "y.csv", pa.table({"y": LABELS, "w": WEIGHTS}))
    got = collect(
        ReadConfig(str(preds), labels=str(labels), label_col="y", weight_col="w", chunk_rows=chunk)
    )
    np.testing.assert_array_equal(got["scores"], SCORES)
    np.testing.assert_array_equal(got["labels"].astype(int), LABELS)
    np.testing.assert_array_equal(got["weights"], WEIGHTS)


def test_target_columns_and_pred_cols_glob(tmp_path: Path) -> None:
    targets = np.eye(C)[LABELS]
    cols = {f"p{j}": SCORES[:, j] for j in range(C)}
    cols |= {f"t{j}": targets[:, j] for j in range(C)}
    cols["note"] = [f"r{i}" for i in range(N)]
    path = write_table(tmp_path / "t.parquet", pa.table(cols))
    got = collect(
        ReadConfig(str(path), pred_cols="p*", target_cols="t*", id_col="note", chunk_rows=7)
    )
    np.testing.assert_array_equal(got["scores"], SCORES)
    np.testing.assert_array_equal(got["targets"], targets)
    assert list(got["ids"][:2]) == ["r0", "r1"]


def test_rebatch_exact_sizes() -> None:
    parts = [Chunk(n, 0, labels=np.arange(n)) for n in (3, 0, 5, 1, 9)]
    out = list(rebatch(iter(parts), 4))
    assert [p.n for p in out] == [4, 4, 4, 4, 2]
    assert [p.row0 for p in out] == [0, 4, 8, 12, 16]
    np.testing.assert_array_equal(
        np.concatenate([p.labels for p in out]),
        np.concatenate([np.arange(n) for n in (3, 0, 5, 1, 9)]),
    )
