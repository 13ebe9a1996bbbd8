"""JSON Lines and compressed streams (gzip, zstd, bz2), read as CSV is: every number against a
row-by-row reference, the same reports as the plain CSV, and one-line errors naming the line."""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import xentcli.io.tables as tables
from tests.helpers import run, run_json, softmax
from tests.reference import bce, ce_row_label, ce_row_target

CLASSES = ["cat", "dog", "eel"]
N = 29


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few lines: the first lines' types, then many blocks read with them."""
    monkeypatch.setattr(tables, "JSONL_BLOCK_BYTES", 256)
    monkeypatch.setattr(tables, "JSONL_HEAD_BYTES", 128)


def data(seed: int = 0, n: int = N) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3)) * 2
    return {
        "logits": logits,
        "probs": softmax(logits),
        "y": rng.integers(0, 3, size=n),
        "w": rng.uniform(0.1, 3.0, size=n),
        "day": rng.choice(["mon", "tue"], size=n),
        "ids": [f"r{i:03d}" for i in range(n)],
    }


def records(
    d: dict[str, Any], *, scores: str = "probs", names: bool = True
) -> list[dict[str, Any]]:
    """One dict per row: a field per class, the label by name (or index), weight, id, day."""
    out = []
    for i in range(len(d["y"])):
        row: dict[str, Any] = {"id": d["ids"][i]}
        row |= {c: float(d[scores][i, j]) for j, c in enumerate(CLASSES)}
        row["label"] = CLASSES[d["y"][i]] if names else int(d["y"][i])
        row["w"] = float(d["w"][i])
        row["day"] = str(d["day"][i])
        out.append(row)
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows({k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    return path


def mean_ce(d: dict[str, Any], *, scores: str = "probs", weights: bool = False) -> float:
    """The weighted mean CE, row by row with math.log (probabilities clipped to float64 eps)."""
    eps = float(np.finfo(np.float64).eps)
    losses = [
        ce_row_label(list(d[scores][i]), int(d["y"][i]), logits=scores == "logits", eps=eps)
        for i in range(len(d["y"]))
    ]
    w = list(d["w"]) if weights else [1.0] * len(losses)
    return math.fsum(a * b for a, b in zip(losses, w, strict=True)) / math.fsum(w)


def read_back(path: Path, d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with the probabilities as a writer stored them (pandas keeps 10 digits), read
    with the json module: the reference is computed from the file's numbers."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return d | {
        "probs": np.array([[r[c] for c in CLASSES] for r in rows], dtype=np.float64),
        "w": np.array([r["w"] for r in rows], dtype=np.float64),
    }


def compute(*args: Any, stdin: bytes | None = None) -> dict[str, Any]:
    return run_json(["compute", *args], stdin)


# -- numbers against the reference ---------------------------------------------------------
def test_wide_pandas_labels_by_name_against_sklearn(tmp_path: Path, small_blocks: None) -> None:
    pd = pytest.importorskip("pandas")
    from sklearn.metrics import log_loss

    d = data()
    path = tmp_path / "p.jsonl"
    pd.DataFrame(records(d)).to_json(path, orient="records", lines=True)
    d = read_back(path, d)
    out = compute(path, "--id-col", "id", "--pred-cols", ",".join(CLASSES), "--chunk-rows", "3")
    assert out["classes"] == CLASSES
    assert out["n"] == N
    assert out["loss"] == pytest.approx(mean_ce(d), rel=1e-12)
    assert out["loss"] == pytest.approx(log_loss(d["y"], d["probs"], labels=[0, 1, 2]), rel=1e-9)


def test_wide_logits_labels_by_index_json_dumps(
    tmp_path: Path, small_blocks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first lines hold a decimal beside the whole numbers of line 1 (first lines of only
    # whole numbers other than 0/1 are not scores by default, as in a CSV)
    monkeypatch.setattr(tables, "JSONL_HEAD_BYTES", 512)
    d = data(1)
    rows = [
        {c: r[c] for c in CLASSES} | {"label": r["label"]}
        for r in records(d, scores="logits", names=False)
    ]
    rows[0] = {"cat": 2, "dog": -1, "eel": 0, "label": 0}  # whole numbers in the first line
    d["logits"][0] = [2, -1, 0]
    d["y"][0] = 0
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    out = compute(path, "--logits", "--chunk-rows", "3")
    assert out["loss"] == pytest.approx(mean_ce(d, scores="logits"), rel=1e-12)
    per_class = {p["class"]: p["support"] for p in out["per_class"]}
    assert per_class == {c: float((d["y"] == j).sum()) for j, c in enumerate(CLASSES)}


def test_list_layout_polars_ndjson(tmp_path: Path, small_blocks: None) -> None:
    pl = pytest.importorskip("polars")
    d = data(2)
    path = tmp_path / "p.ndjson"
    pl.DataFrame({"scores": d["logits"].tolist(), "label": d["y"].tolist()}).write_ndjson(path)
    out = compute(path, "--logits", "--class-names", ",".join(CLASSES), "--chunk-rows", "3")
    assert out["classes"] == CLASSES
    assert out["loss"] == pytest.approx(mean_ce(d, scores="logits"), rel=1e-12)


def test_binary(tmp_path: Path, small_blocks: None) -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, size=N)
    y = rng.integers(0, 2, size=N)
    path = write_jsonl(
        tmp_path / "b.jsonl", [{"p": float(a), "label": int(b)} for a, b in zip(p, y, strict=True)]
    )
    out = compute(path, "--chunk-rows", "3")
    assert out["task"] == "binary"
    ref = math.fsum(bce(float(a), float(b), logits=False) for a, b in zip(p, y, strict=True)) / N
    assert out["loss"] == pytest.approx(ref, rel=1e-12)


def test_multilabel_target_fields(tmp_path: Path, small_blocks: None) -> None:
    rng = np.random.default_rng(4)
    s = rng.normal(size=(N, 3))
    t = rng.integers(0, 2, size=(N, 3))
    rows = [
        {f"s{j}": float(s[i, j]) for j in range(3)} | {f"y_s{j}": int(t[i, j]) for j in range(3)}
        for i in range(N)
    ]
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    out = compute(
        path, "--target-cols", "y_*", "--task", "multilabel", "--logits", "--chunk-rows", "3"
    )
    ref = math.fsum(
        bce(float(s[i, j]), float(t[i, j]), logits=True) for i in range(N) for j in range(3)
    )
    assert out["task"] == "multilabel"
    assert out["loss"] == pytest.approx(ref / N, rel=1e-12)


def test_soft_targets(tmp_path: Path, small_blocks: None) -> None:
    d = data(5)
    t = softmax(np.random.default_rng(6).normal(size=(N, 3)))
    rows = [
        {c: float(d["probs"][i, j]) for j, c in enumerate(CLASSES)}
        | {f"t_{c}": float(t[i, j]) for j, c in enumerate(CLASSES)}
        for i in range(N)
    ]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    out = compute(path, "--target-cols", "t_*", "--chunk-rows", "3")
    eps = float(np.finfo(np.float64).eps)
    ref = [ce_row_target(list(d["probs"][i]), list(t[i]), logits=False, eps=eps) for i in range(N)]
    assert out["loss"] == pytest.approx(math.fsum(ref) / N, rel=1e-12)


def test_weights_against_sklearn(tmp_path: Path, small_blocks: None) -> None:
    from sklearn.metrics import log_loss

    d = data(7)
    path = write_jsonl(tmp_path / "p.jsonl", records(d))
    out = compute(
        path, "--id-col", "id", "--weight-col", "w", "--group-by", "day", "--chunk-rows", "3"
    )
    assert out["loss"] == pytest.approx(mean_ce(d, weights=True), rel=1e-12)
    assert out["loss"] == pytest.approx(
        log_loss(d["y"], d["probs"], sample_weight=d["w"], labels=[0, 1, 2]), rel=1e-9
    )


def test_group_by_and_per_sample_ids(tmp_path: Path, small_blocks: None) -> None:
    d = data(8)
    path = write_jsonl(tmp_path / "p.jsonl", records(d))
    per_sample = tmp_path / "rows.csv"
    out = compute(
        path, "--id-col", "id", "--weight-col", "w", "--group-by", "day",
        "--per-sample", per_sample, "--chunk-rows", "3",
    )  # fmt: skip
    groups = {g["group"]["day"]: g for g in out["groups"]}
    for day in ("mon", "tue"):
        keep = d["day"] == day
        sub = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in d.items()}
        assert groups[day]["loss"] == pytest.approx(mean_ce(sub, weights=True), rel=1e-12)
    with open(per_sample, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == d["ids"]
    eps = float(np.finfo(np.float64).eps)
    for i, r in enumerate(rows):
        ref = ce_row_label(list(d["probs"][i]), int(d["y"][i]), logits=False, eps=eps)
        assert float(r["loss"]) == pytest.approx(ref, rel=1e-12)


# -- the same report as CSV, compressed as plain ----------------------------------------------
OPTIONS = ["--id-col", "id", "--weight-col", "w", "--group-by", "day", "--chunk-rows", "3"]


def test_jsonl_and_csv_give_the_same_report(tmp_path: Path, small_blocks: None) -> None:
    d = data(9)
    rows = records(d)
    a = compute(write_jsonl(tmp_path / "p.jsonl", rows), *OPTIONS)
    b = compute(write_csv(tmp_path / "p.csv", rows), *OPTIONS)
    assert a == b
    assert a["loss"] == pytest.approx(mean_ce(d, weights=True), rel=1e-12)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "bz2"])
@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
def test_compressed_gives_the_plain_report(
    tmp_path: Path, small_blocks: None, kind: str, compression: str
) -> None:
    pd = pytest.importorskip("pandas")
    d = data(10)
    df = pd.DataFrame(records(d))
    ext = {"gzip": ".gz", "zstd": ".zst", "bz2": ".bz2"}[compression]
    plain, packed = tmp_path / f"p.{kind}", tmp_path / f"p.{kind}{ext}"
    for path, comp in ((plain, None), (packed, compression)):
        # pandas writes zstd through the zstandard package; pyarrow's stream is the other way
        out: Any = pa.output_stream(str(path), compression=comp) if comp == "zstd" else path
        if kind == "jsonl":
            df.to_json(out, orient="records", lines=True, compression=comp and "infer")
        else:
            sep = "\t" if kind == "tsv" else ","
            df.to_csv(out, sep=sep, index=False, compression=comp and "infer")
        if comp == "zstd":
            out.close()
    if kind == "jsonl":
        d = read_back(plain, d)
    magic = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "bz2": b"BZh"}[compression]
    assert packed.read_bytes().startswith(magic)
    assert compute(packed, *OPTIONS) == compute(plain, *OPTIONS)
    assert compute(packed, *OPTIONS)["loss"] == pytest.approx(mean_ce(d, weights=True), rel=1e-12)


# -- stdin --------------------------------------------------------------------------------------
def test_stdin_jsonl_and_the_advice_for_it(tmp_path: Path, small_blocks: None) -> None:
    d = data(11)
    path = write_jsonl(tmp_path / "p.jsonl", records(d))
    text = path.read_bytes()
    res = run(["compute", "-", *OPTIONS], stdin=text)  # read as CSV: the advice
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "--input-format jsonl" in res.stderr
    assert "JSON Lines" in res.stderr and "<stdin>" in res.stderr
    out = compute("-", "--input-format", "jsonl", *OPTIONS, stdin=text)  # the advice taken
    assert out == compute(path, *OPTIONS)
    assert out["loss"] == pytest.approx(mean_ce(d, weights=True), rel=1e-12)


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, "zstd"])
def test_compressed_stdin_is_decompressed(tmp_path: Path, pack: Any) -> None:
    d = data(12)
    rows = records(d)
    if pack == "zstd":
        pack = lambda b: pa.compress(b, "zstd", asbytes=True)  # noqa: E731 - a frame is a file
    csv_bytes = write_csv(tmp_path / "p.csv", rows).read_bytes()
    jsonl_bytes = write_jsonl(tmp_path / "p.jsonl", rows).read_bytes()
    want = compute(tmp_path / "p.csv", *OPTIONS)
    assert compute("-", *OPTIONS, stdin=pack(csv_bytes)) == want
    assert compute("-", "--input-format", "jsonl", *OPTIONS, stdin=pack(jsonl_bytes)) == want


def test_a_txt_file_of_json_lines(tmp_path: Path) -> None:
    d = data(13)
    path = write_jsonl(tmp_path / "p.txt", records(d))
    res = run(["compute", path, *OPTIONS])
    assert res.exit_code == 2 and "--input-format jsonl" in res.stderr
    out = compute(path, "--input-format", "jsonl", *OPTIONS)
    assert out["loss"] == pytest.approx(mean_ce(d, weights=True), rel=1e-12)


def test_inspect_describes_json_lines(tmp_path: Path) -> None:
    d = data(14)
    path = write_jsonl(
        tmp_path / "p.jsonl", [{k: r[k] for k in ["id", *CLASSES, "label"]} for r in records(d)]
    )
    out = run_json(["inspect", path])
    assert out["format"] == "jsonl"
    assert out["rows"] == N
    assert out["classes"] == CLASSES
    assert [c["name"] for c in out["columns"]] == ["id", *CLASSES, "label"]
    assert "--id-col id" in out["command"]
    assert out["label_counts"] == {c: float((d["y"] == j).sum()) for j, c in enumerate(CLASSES)}


# -- errors: one line, the file and the line named, exit 2, nothing on stdout ----------------
def fail(args: list[Any], *needles: str, stdin: bytes | None = None) -> str:
    res = run(["compute", *args], stdin=stdin)
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    err: str = res.stderr
    assert err.startswith("xent: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


GOOD = '{"cat": 0.7, "dog": 0.2, "eel": 0.1, "label": "cat"}\n'
MANY = GOOD * 40  # several blocks of small_blocks before the bad line (line 41)


BAD_LINES = [
    ('"cat": 0.7, "dog": 0.2, "eel": 0.1, "label": "cat"', ["not valid JSON"]),
    (
        '"cat": "x", "dog": 0.2, "eel": 0.1, "label": "cat"}',
        ["column 'cat'", "'x' is not a number"],
    ),
    ('"cat": true, "dog": 0.2, "eel": 0.1, "label": "cat"}', ["column 'cat'", "not a number"]),
    (
        '"cat": 0.7, "dog": 0.2, "eel": 0.1, "fox": 0, "label": "cat"}',
        ["field 'fox'", "--pred-cols"],
    ),
    ('"cat": 0.7, "dog": 0.2, "eel": 0.1, "label": 2}', ["column 'label'", "the number 2"]),
    ('"cat": 0.7, "cat": 0.2, "eel": 0.1, "label": "cat"}', ["'cat' appears twice"]),
    ('"cat": 1e999, "dog": 0.2, "eel": 0.1, "label": "cat"}', ["too large"]),
]


@pytest.mark.parametrize(
    ("bad", "needles"),
    [
        *[("{" + line + "\n", ["line 41", *needles]) for line, needles in BAD_LINES],
        ("[0.7, 0.2, 0.1]\n", ["line 41", "not an object"]),
        (
            '{"cat": 0.7, "dog": 0.2, "label": "cat"}\n',
            ["line 41", "column 'eel'", "missing value"],
        ),
    ],
)
def test_a_bad_line_is_named(
    tmp_path: Path, small_blocks: None, bad: str, needles: list[str]
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(MANY + bad + GOOD)
    fail([path], "p.jsonl", *needles)
    gz = tmp_path / "p.jsonl.gz"  # the same line, found in the decompressed stream
    gz.write_bytes(gzip.compress(path.read_bytes()))
    fail([gz], "p.jsonl.gz", *needles)


def test_a_bad_line_among_the_first_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(GOOD + "\n\n" + GOOD + '{"cat": "x", "dog": 0.2, "eel": 0.1, "label": "cat"}\n')
    fail([path], "p.jsonl: line 5, column 'cat'", "'x' is not a number")
    path.write_text(GOOD + "\n" + '{"cat": 0.7, "dog": 0.2, "eel": 0.1, "label": "cat"\n')
    fail([path], "p.jsonl: line 3", "not valid JSON")
    path.write_bytes(
        (GOOD + '{"cat": 0.7, "dog": 0.2, "eel": 0.1, "label": "\xff"}\n').encode("latin-1")
    )
    fail([path], "p.jsonl: line 2", "not UTF-8")


def test_a_field_only_later_lines_hold(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(GOOD + '{"cat": 0.7, "dog": 0.2, "eel": 0.1, "fox": 0.0, "label": "cat"}\n')
    fail([path], "p.jsonl: line 2", "field 'fox'", "no earlier line")
    out = compute(path, "--pred-cols", "cat,dog,eel")  # not a score: read on without it
    assert out["loss"] == pytest.approx(-math.log(0.7), rel=1e-12)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("", ["the file is empty"]),
        ("\n\n  \n", ["the file is empty"]),
        ("{}\n{}\n", ["no fields"]),
        ('[{"cat": 0.7, "label": "cat"}]\n', ["JSON array", "lines=True"]),
        ('{\n  "cat": 0.7\n}\n', ["line 1", "not valid JSON", "one object per line"]),
        ('{"id": "a", "cat": 0.7, "dog": 0.3, "label": "cat"}\n', ["column 'id'", "--id-col"]),
        ("\ufeff" + GOOD, ["line 1", "byte order mark"]),
    ],
)
def test_files_that_are_not_json_lines_of_scores(
    tmp_path: Path, text: str, needles: list[str]
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    fail([path], "p.jsonl", *needles)


def test_stdin_errors(small_blocks: None) -> None:
    bad = '{"cat": "x", "dog": 0.2, "eel": 0.1, "label": "cat"}\n'
    fail(
        ["-", "--input-format", "jsonl"],
        "<stdin>",
        "object 41",
        "column 'cat'",
        stdin=(MANY + bad).encode(),
    )
    fail(["-", "--input-format", "jsonl"], "<stdin>", "no input", stdin=b"")
    fail(
        ["-", "--input-format", "jsonl"],
        "<stdin>",
        "line 2",
        "not valid JSON",
        stdin=(GOOD + "{\n").encode(),
    )


@pytest.mark.parametrize("ext", [".gz", ".zst", ".bz2"])
def test_truncated_or_corrupt_compressed_files(tmp_path: Path, ext: str) -> None:
    raw = (GOOD * 2000).encode()
    packed = {
        ".gz": gzip.compress(raw),
        ".bz2": bz2.compress(raw),
        ".zst": pa.compress(raw, "zstd", asbytes=True),
    }[ext]
    for kind, body in (("jsonl", packed), ("csv", None)):
        if body is None:  # the same for CSV
            text = "cat,dog,eel,label\n" + "0.7,0.2,0.1,cat\n" * 2000
            body = {
                ".gz": gzip.compress,
                ".bz2": bz2.compress,
                ".zst": lambda b: pa.compress(b, "zstd", asbytes=True),
            }[ext](text.encode())
        path = tmp_path / f"p.{kind}{ext}"
        path.write_bytes(body[: len(body) // 2])
        fail([path], f"p.{kind}{ext}")
        path.write_bytes(b"\x00not compressed at all" * 10)
        fail([path], f"p.{kind}{ext}")


def test_compressed_binary_formats_are_refused(tmp_path: Path) -> None:
    for name in ("p.parquet.gz", "p.arrow.zst", "p.npy.bz2"):
        path = tmp_path / name
        path.write_bytes(b"whatever")
        fail([path], name, "CSV, TSV and JSON Lines only", "decompress it")


def test_per_sample_refuses_compressed_names(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", records(data(15)))
    fail([path, "--id-col", "id", "--per-sample", tmp_path / "rows.csv.zst"], "--per-sample")


# -- the reader itself: any chunk size reads back the same arrays --------------------------
@pytest.mark.parametrize("chunk_rows", [1, 7, 10_000])
def test_reader_reads_back_identical_arrays(
    tmp_path: Path, small_blocks: None, chunk_rows: int
) -> None:
    from xentcli.config import ReadConfig
    from xentcli.io import open_dataset

    d = data(16, n=57)
    path = write_jsonl(tmp_path / "p.jsonl", records(d))
    ds = open_dataset(
        ReadConfig(
            predictions=str(path),
            id_col="id",
            weight_col="w",
            pred_cols=",".join(CLASSES),
            chunk_rows=chunk_rows,
        )
    )
    parts = list(ds.parts)
    assert all(p.n <= chunk_rows for p in parts)
    scores = np.concatenate([np.asarray(p.scores) for p in parts])
    weights = np.concatenate([np.asarray(p.weights) for p in parts])
    labels = [v for p in parts for v in p.labels.to_pylist()]
    ids = [v for p in parts for v in p.ids.to_pylist()]
    np.testing.assert_array_equal(scores, d["probs"])
    np.testing.assert_array_equal(weights, d["w"])
    assert labels == [CLASSES[y] for y in d["y"]]
    assert ids == d["ids"]


# -- directories and globs of JSON Lines files ---------------------------------------------
def test_a_directory_of_json_lines_as_of_csv(tmp_path: Path) -> None:
    d = data(17)
    rows = records(d)
    for kind, write in (("jsonl", write_jsonl), ("csv", write_csv)):
        for day in ("mon", "tue"):
            part = tmp_path / kind / f"day={day}"
            part.mkdir(parents=True)
            mine = [{k: v for k, v in r.items() if k != "day"} for r in rows if r["day"] == day]
            half = len(mine) // 2
            write(part / f"a.{kind}", mine[:half])
            write(part / f"b.{kind}", mine[half:])
    args = ["--id-col", "id", "--weight-col", "w", "--group-by", "day", "--chunk-rows", "3"]
    out = compute(tmp_path / "jsonl", *args)
    assert out == compute(tmp_path / "csv", *args)
    assert out["loss"] == pytest.approx(mean_ce(d, weights=True), rel=1e-12)
    # a glob of compressed files
    for f in (tmp_path / "jsonl").rglob("*.jsonl"):
        f.with_name(f.name + ".gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    assert compute(str(tmp_path / "jsonl" / "**" / "*.jsonl.gz"), *args)["loss"] == out["loss"]


def test_a_bad_line_in_a_directory_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(GOOD * 3)
    (tmp_path / "b.jsonl").write_text(
        GOOD + '{"cat": "x", "dog": 0.2, "eel": 0.1, "label": "cat"}\n'
    )
    fail([tmp_path], "b.jsonl: line 2, column 'cat'", "'x' is not a number")
    (tmp_path / "b.jsonl").write_text(GOOD + '{"cat": 0.7, "dog": 0.2, "eel": 0.1, "fox": 1}\n')
    fail([tmp_path], "b.jsonl: column 'fox'", "no earlier file")


def test_compressed_stdin_that_is_cut_short() -> None:
    packed = gzip.compress((GOOD * 2000).encode())
    for cut in (12, len(packed) // 2):
        fail(["-", "--input-format", "jsonl"], "<stdin>", "decompress", stdin=packed[:cut])
    packed = gzip.compress(("cat,dog,eel,label\n" + "0.7,0.2,0.1,cat\n" * 2000).encode())
    for cut in (12, len(packed) // 2):
        fail(["-"], "<stdin>", "decompress", stdin=packed[:cut])


def test_a_directory_of_zstd_files(tmp_path: Path) -> None:
    rows = records(data(18))
    raw = write_csv(tmp_path / "p.csv", rows).read_bytes()
    want = compute(tmp_path / "p.csv", *OPTIONS)
    (tmp_path / "d").mkdir()
    for name in ("a.csv.zst", "b.csv.zst"):
        (tmp_path / "d" / name).write_bytes(pa.compress(raw, "zstd", asbytes=True))
    fail([tmp_path / "d", *OPTIONS], "a.csv.zst", "rename them .zstd")
    (tmp_path / "d" / "b.csv.zst").unlink()
    (tmp_path / "d" / "a.csv.zst").rename(tmp_path / "d" / "a.csv.zstd")
    assert compute(tmp_path / "d", *OPTIONS) == want


def test_a_json_file_is_told_apart(tmp_path: Path) -> None:
    d = data(19)
    path = write_jsonl(tmp_path / "p.json", records(d))
    res = run(["compute", path, *OPTIONS])
    assert res.exit_code == 2 and "--input-format jsonl" in res.stderr
    out = compute(path, "--input-format", "jsonl", *OPTIONS)
    assert out["loss"] == pytest.approx(mean_ce(d, weights=True), rel=1e-12)


def test_deeply_nested_values_are_one_line_errors(tmp_path: Path) -> None:
    deep = '{"cat": 0.7, "dog": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "cat"}\n'
    path = tmp_path / "p.jsonl"
    for text, line in ((deep, 1), (GOOD + deep, 2)):
        path.write_text(text)
        fail([path], f"p.jsonl: line {line}", "nested too deeply")


def test_a_missing_field_is_named_by_its_line(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(MANY + "\n\n" + '{"cat": 0.7, "dog": 0.2, "eel": 0.1}\n')
    fail([path], "p.jsonl: line 43, column 'label'", "missing label")
    path.write_text(MANY + "\n" + '{"cat": 0.7, "dog": null, "eel": 0.1, "label": "cat"}\n')
    fail([path], "p.jsonl: line 42, column 'dog'", "missing value")
    path.write_text('{"s": [0.5, 0.5], "label": 0}\n\n{"s": null, "label": 1}\n')
    fail([path], "p.jsonl: line 3, column 's'", "an array of scores")
    text = (GOOD + "\n" + '{"cat": 0.7, "dog": 0.2, "label": "cat"}\n').encode()
    fail(["-", "--input-format", "jsonl"], "<stdin>: line 3, column 'eel'", stdin=text)


def test_the_first_objects_field_order_is_the_class_order(
    tmp_path: Path, small_blocks: None
) -> None:
    d = data(20)
    rng = np.random.default_rng(21)
    rows = []
    for r in records(d, names=False):
        keys = [*CLASSES, "label"]
        if rows:  # every later line in its own order
            keys = list(rng.permutation(keys))
        rows.append({k: r[k] for k in keys})
    rows[0] = {k: rows[0][k] for k in ["eel", "cat", "dog", "label"]}
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    out = compute(path, "--chunk-rows", "3")
    assert out["classes"] == ["eel", "cat", "dog"]
    # index labels name positions in that order: class k is the k-th field of line 1
    order = [CLASSES.index(c) for c in ["eel", "cat", "dog"]]
    d["probs"] = d["probs"][:, order]
    assert out["loss"] == pytest.approx(mean_ce(d), rel=1e-12)
