"""Bad input: exit 2, one line on stderr naming file, row and column; nothing else left."""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.helpers import run, run_json, wide_table, write_table

OK = "a,b,label\n0.5,0.5,0\n0.2,0.8,1\n"


def fail(args: list, *needles: str, stdin: str | bytes | None = None) -> str:
    res = run(["compute", *args], stdin=stdin)
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    err = res.stderr
    assert err.startswith("xent: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def csv(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


CSV_CASES = {
    "empty": ("", ["the file is empty"]),
    "header_only": ("a,b,label\n", ["no data rows"]),
    "ragged": ("a,b,label\n0.5,0.5,0\n0.2,1\n", ["row 2", "2 fields", "header has 3"]),
    "text_in_score": ("a,b,label\n0.5,0.5,0\n0.2,abc,1\n", ["row 2", "column 'b'", "'abc'"]),
    "nan": ("a,b,label\n0.5,0.5,0\nnan,0.5,1\n", ["row 2", "column 'a'", "value nan"]),
    "na_token": ("a,b,label\n0.5,0.5,0\nNA,0.5,1\n", ["row 2", "column 'a'", "'NA'"]),
    "blank_cell": ("a,b,label\n0.5, ,0\n", ["row 1", "column 'b'", "not a number"]),
    "stray_label": ("a,b,label\n0.5,0.5,0\n0.5,0.5,1\n0.5,0.5,zebra\n", ["row 3", "'zebra'"]),
    "empty_cell": ("a,b,label\n0.5,,0\n", ["row 1", "column 'b'", "missing value"]),
    "not_summing": (
        "a,b,label\n0.5,0.5,0\n0.2,0.7,1\n",
        # two columns that do not sum to 1: P(positive) beside a feature in [0, 1], or two
        # scores to divide by their sum; each way under its condition
        ["row 2", "sum to 0.9", "if 'b' is not a score", "--pred-cols a", "--renormalize"],
    ),
    "above_one": ("a,b,label\n1.5,-0.5,0\n", ["row 1", "column 'a'", "value 1.5", "--logits"]),
    "negative": ("a,b,label\n0.5,0.5,0\n1.2,-0.2,1\n", ["row 2", "column 'a'"]),
    "label_out_of_range": (
        "a,b,label\n0.5,0.5,0\n0.2,0.8,5\n",
        ["row 2", "column 'label'", "label 5", "0..1"],
    ),
    "negative_label": ("a,b,label\n0.5,0.5,-1\n", ["row 1", "label -1", "--ignore-index"]),
    "unknown_name": (
        "a,b,label\n0.5,0.5,a\n0.2,0.8,zebra\n",
        ["row 2", "'zebra'", "not a class name"],
    ),
    "missing_label": ("a,b,label\n0.5,0.5,\n", ["row 1", "missing label"]),
    "fractional_label": ("a,b,label\n0.5,0.5,0.5\n", ["row 1", "not a whole number"]),
    "no_label_column": ("a,b\n0.5,0.5\n", ["no label column 'label'", "--labels"]),
    "duplicate_columns": ("a,a,label\n0.5,0.5,0\n", ["column 'a' appears twice"]),
    "wrong_delimiter": ("a;b;label\n0.5;0.5;0\n", ["no label column"]),
    "inf_logit": ("a,b,label\ninf,0.5,0\n", ["row 1", "column 'a'", "value inf"]),
    "header_line_break": (
        '"line\nbreak",b,label\n0.5,0.5,0\n',
        ["header row", "line break", "rename"],
    ),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_csv_catalogue(tmp_path: Path, case: str) -> None:
    text, needles = CSV_CASES[case]
    path = csv(tmp_path, text)
    fail([path], "p.csv", *needles)


def test_text_in_score_column_in_a_later_block(tmp_path: Path) -> None:
    rows = "".join("0.5,0.5,0\n" for _ in range(300_000))
    path = csv(tmp_path, "a,b,label\n" + rows + "0.2,zz,1\n")
    fail([path], "row 300001", "column 'b'", "'zz'")


def test_ragged_row_in_a_later_block(tmp_path: Path) -> None:
    rows = "".join("0.5,0.5,0\n" for _ in range(300_000))
    path = csv(tmp_path, "a,b,label\n" + rows + "0.2\n")
    fail([path], "row 300001", "1 fields")


@pytest.mark.parametrize(
    "text, needles",
    [
        # rows are counted as rows, not lines: a quoted line break or a blank line is no row
        ('id,a,b,label\n"x\ny",0.5,0.5,0\n\nr2,0.5,1\n', ["row 2", "has 3 fields"]),
        # a quote that never closes takes the rest of the file into its row
        (
            'id,a,b,label\nr1,0.5,0.5,1\n"r2,0.5,0.5,1\nr3,0.5,0.5,1\n',
            ["row 2", "has 1 fields", "is a quote never closed?"],
        ),
        # Arrow quotes a bad number without the spaces or tab around it
        ("a,b,label\n0.5,0.5,0\n0.5,abc ,1\n", ["row 2", "column 'b'", "'abc' is not a number"]),
        ("a,b,label\n0.5,0.5,0\n0.5,\tabc,1\n", ["row 2", "column 'b'", "'abc'"]),
        ('a,b,label\n0.5,0.5,0\n0.5,"abc ",1\n', ["row 2", "column 'b'", "'abc'"]),
        # a field of spaces, after an empty (missing) one in the same column
        (
            "a,b,label\n0.5,0.5,0\n0.5,,1\n0.5, ,1\n",
            ["row 3", "column 'b'", "a value of only spaces is not a number"],
        ),
        # a header with no line break after it holds no rows; it is not an empty file
        ("a,b,label", ["no data rows"]),
        # a name with a space in front is shown quoted
        ("a,b, label\n0.2,0.8,1\n", ["no label column 'label' (columns: a, b, ' label')"]),
    ],
)
def test_csv_messages_name_the_row(tmp_path: Path, text: str, needles: list[str]) -> None:
    for _ in range(3):  # the same message every time
        fail(
            [csv(tmp_path, text), "--id-col", "id"]
            if text.startswith("id")
            else [csv(tmp_path, text)],
            *needles,
        )


@pytest.mark.parametrize("option", ["--output", "--per-sample"])
@pytest.mark.parametrize("which", ["predictions", "labels", "link"])
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, option: str, which: str) -> None:
    """An output path naming one of the run's inputs (a typo) would replace that input at the
    end of the run: refused before anything is read, the input left as it was."""
    p, y = tmp_path / "p.parquet", tmp_path / "y.parquet"
    write_table(p, wide_table(np.full((4, 2), 0.5)))
    write_table(y, pa.table({"label": [0, 1, 0, 1]}))
    target = {"predictions": p, "labels": y, "link": tmp_path / "link.parquet"}[which]
    if which == "link":
        target.symlink_to(p)
    before = p.read_bytes(), y.read_bytes()
    fail(
        [p, "--labels", y, option, target], f"{option} {target}", "is an input", "give another path"
    )
    assert (p.read_bytes(), y.read_bytes()) == before
    res = run(["compare", p, p, "--labels", y, "--output", y])
    assert res.exit_code == 2 and "is an input" in res.stderr
    assert y.read_bytes() == before[1]


def test_an_unnamed_column_is_not_a_score(tmp_path: Path) -> None:
    """pandas' to_csv writes its index as a column with no name; as a logit it would change
    the loss silently. It is the id instead (written as 'index' by --per-sample), never a
    score; --pred-cols gives the same number."""
    path = csv(tmp_path, ",a,b,c,label\n7,0.2,0.3,0.5,1\n9,1.0,2.0,0.1,2\n")

    def ce(z: list[float], y: int) -> float:
        top = max(z)
        return top + math.log(math.fsum(math.exp(v - top) for v in z)) - z[y]

    expected = (ce([0.2, 0.3, 0.5], 1) + ce([1.0, 2.0, 0.1], 2)) / 2
    per = tmp_path / "per.csv"
    out = run_json(["compute", path, "--logits", "--per-sample", str(per)])
    assert out["classes"] == ["a", "b", "c"]
    assert out["loss"] == pytest.approx(expected, rel=1e-12)
    assert per.read_text().splitlines()[:2] == [
        '"index","loss","y_true","y_pred"',
        f'"7",{ce([0.2, 0.3, 0.5], 1)!r},"b","c"',
    ]
    out = run_json(["compute", path, "--logits", "--pred-cols", "a,b,c"])
    assert out["loss"] == pytest.approx(expected, rel=1e-12)


def test_no_score_column_at_all(tmp_path: Path) -> None:
    """Only a label (and an id, or an unnamed index) leaves no scores: a one-line error (the
    unnamed-column check raised an IndexError here)."""
    fail([csv(tmp_path, "label\n0\n1\n")], "no score columns left (columns: label)")
    fail([csv(tmp_path, "id,label\na,0\nb,1\n"), "--id-col", "id"], "no score columns left")
    fail([csv(tmp_path, ",label\n0,1\n")], "no score columns left (columns: '', label)")
    res = run(["inspect", csv(tmp_path, "label\n0\n1\n")])
    assert res.exit_code in (0, 2) and "Traceback" not in res.stderr + res.stdout


def test_rows_named_around_a_row_longer_than_the_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scans that find an error's row read with blocks grown as the reader's are (a bad
    value after a long row was 'a row after row 10'); a ragged row whose text Arrow cuts
    inside a character is still found; a row longer than the largest block is refused."""
    from xentcli.io import tables

    monkeypatch.setattr(tables, "CSV_BLOCK_BYTES", 256)
    monkeypatch.setattr(tables, "CSV_BLOCK_MAX_BYTES", 2048)
    ok = "".join(f"r{i},0.5,1\n" for i in range(10))
    fail(
        [csv(tmp_path, "id,p,label\n" + ok + "x" * 1500 + ",0.5,1\nr11,abc,1\n"), "--id-col", "id"],
        "row 12, column 'p'",
        "'abc' is not a number",
    )
    fail(
        [
            csv(tmp_path, "id,p,label\n" + ok + "a" + "\u00e9" * 60 + ",0.4,0.6,1\n"),
            "--id-col",
            "id",
        ],
        "row 11: has 4 fields but the header has 3",
    )
    long = csv(tmp_path, "id,p,label\n" + ok + "x" * 5000 + ",0.5,1\n")  # streamed: --threads 1
    fail(
        [long, "--id-col", "id", "--threads", "1"],
        "a row after row 10",
        "a quoted field opens and never closes",
        "or a row is longer",
    )


def test_tab_separated_text_read_as_csv(tmp_path: Path) -> None:
    """A .txt of TSV is read as CSV (the extension does not tell): one column whose name holds
    tabs. Said so, with the option that reads it; a name with a tab is shown escaped."""
    text = "a\tb\tlabel\n0.3\t0.7\t1\n0.6\t0.4\t0\n"
    path = tmp_path / "p.txt"
    path.write_text(text)
    fail([path], "one column holding tabs", "--input-format tsv")
    out = run_json(["compute", path, "--input-format", "tsv"])
    assert out["loss"] == pytest.approx(-(math.log(0.7) + math.log(0.6)) / 2, rel=1e-12)
    fail([csv(tmp_path, "a\tx,b,lbl\n0.5,0.5,1\n")], "(columns: 'a\\tx', b, lbl)")


def test_soft_binary_target_points_to_multilabel(tmp_path: Path) -> None:
    """A probability as a binary target: refused (the binary table splits rows by their
    label), naming the option that scores it with the same BCE."""
    fail(
        [csv(tmp_path, "p,t\n0.8,1\n0.3,0.2\n"), "--target-cols", "t"],
        "row 2",
        "binary target 0.2",
        "--task multilabel",
    )
    fail(
        [csv(tmp_path, "p,label\n0.8,0.7\n"), "--task", "binary"],
        "row 1",
        "column 'label'",
        "not a whole number",
        "--target-cols label --task multilabel",
    )
    out = run_json(
        ["compute", tmp_path / "p.csv", "--target-cols", "label", "--task", "multilabel"]
    )  # the advice works: -(y log p + (1 - y) log(1 - p))
    assert out["loss"] == pytest.approx(-(0.7 * math.log(0.8) + 0.3 * math.log(0.2)), rel=1e-12)
    np.save(tmp_path / "p.npy", np.array([0.8, 0.3]))
    np.save(tmp_path / "y.npy", np.array([0.7, 0.2]))
    fail(
        [tmp_path / "p.npy", "--labels", tmp_path / "y.npy"],
        "y.npy",
        "row 1",
        "save it as an (n, 1) array and pass --task multilabel",
    )
    np.save(tmp_path / "y.npy", np.array([[0.7], [0.2]]))  # the advice works
    out = run_json(
        ["compute", tmp_path / "p.npy", "--labels", tmp_path / "y.npy", "--task", "multilabel"]
    )
    ref = (
        -(0.7 * math.log(0.8) + 0.3 * math.log(0.2)) - (0.2 * math.log(0.3) + 0.8 * math.log(0.7))
    ) / 2
    assert out["loss"] == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("layout", ["labels_file", "same_file", "npz", "npy_labels"])
@pytest.mark.parametrize(
    "bad, task, needles",
    [
        ([1.5, -0.5, 0.0], "auto", ["row 4", "target 1.5 is not in [0, 1]"]),
        ([0.5, 0.6, 0.0], "multiclass", ["row 4", "target row sums to 1.1"]),
    ],
)
def test_target_errors_name_the_targets_file_and_column(
    tmp_path: Path, layout: str, bad: list, task: str, needles: list[str]
) -> None:
    """A bad target names the file and the column that hold it (they named the predictions
    file and 'target <class>', also when the targets came from --labels). NumPy columns are
    named like score columns: 'FILE[member][:, j]'."""
    p = np.full((5, 3), 1 / 3)
    t = np.eye(3)[[0, 1, 2, 0, 1]]
    t[3] = bad
    preds = {f"s{j}": p[:, j] for j in range(3)}
    targs = {f"t{j}": t[:, j] for j in range(3)}
    if layout == "labels_file":
        write_table(tmp_path / "p.parquet", pa.table(preds))
        write_table(tmp_path / "y.parquet", pa.table(targs))
        args = ["p.parquet", "--labels", "y.parquet", "--target-cols", "t*"]
        file, column = "y.parquet", "t0"
    elif layout == "same_file":
        write_table(tmp_path / "p.parquet", pa.table({**preds, **targs}))
        args = ["p.parquet", "--pred-cols", "s*", "--target-cols", "t*"]
        file, column = "p.parquet", "t0"
    elif layout == "npz":
        np.savez(tmp_path / "p.npz", scores=p, labels=t)
        args = ["p.npz"]
        file, column = "p.npz", f"{tmp_path / 'p.npz'}[labels][:, 0]"
    else:
        np.save(tmp_path / "p.npy", p)
        np.save(tmp_path / "y.npy", t)
        args = ["p.npy", "--labels", "y.npy"]
        file, column = "y.npy", f"{tmp_path / 'y.npy'}[:, 0]"
    args = [str(tmp_path / a) if "." in a else a for a in args]
    err = fail([*args, "--task", task], *needles)
    assert err.startswith(f"xent: error: {tmp_path / file}: row 4"), err
    if "in [0, 1]" in needles[1]:
        assert f"row 4, column '{column}'" in err, err


@pytest.mark.parametrize("kind", ["parquet", "npy"])
def test_uint64_labels_beyond_int64(tmp_path: Path, kind: str) -> None:
    """A uint64 label above 2**63 - 1 wrapped to -1 when cast: reported as label -1, or
    silently skipped under --ignore-index -1. It is out of range as it stands."""
    y = np.array([0, np.iinfo(np.uint64).max, 2], dtype=np.uint64)
    p = np.full((3, 3), 1 / 3)
    if kind == "parquet":
        write_table(tmp_path / "p.parquet", wide_table(p, y))
        args = [tmp_path / "p.parquet"]
    else:
        np.save(tmp_path / "p.npy", p)
        np.save(tmp_path / "y.npy", y)
        args = [tmp_path / "p.npy", "--labels", tmp_path / "y.npy"]
    for extra in ([], ["--ignore-index", "-1"]):
        fail([*args, *extra], "row 2", "label 18446744073709551615 is out of range")


def test_logits_must_be_finite(tmp_path: Path) -> None:
    path = write_table(
        tmp_path / "z.parquet", pa.table({"a": [0.0, 1.0], "b": [np.inf, 0.0], "label": [0, 1]})
    )
    fail([path, "--logits"], "row 1", "column 'b'", "logit is inf")


def test_path_problems(tmp_path: Path) -> None:
    fail([tmp_path / "missing.csv"], "missing.csv: no such file")
    fail([tmp_path], "is a directory with no files")
    odd = tmp_path / "x.foo"
    odd.write_text(OK)
    fail([odd], "cannot tell the format", "--input-format")


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is not parquet at all")
    fail([path], "bad.parquet", "Parquet")


def test_truncated_parquet(tmp_path: Path) -> None:
    good = write_table(tmp_path / "g.parquet", wide_table(np.full((500, 2), 0.5), [0] * 500))
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-40])
    fail([cut], "cut.parquet")


def test_truncated_gzip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    body = "".join(f"{x!r},{1 - x!r},0\n" for x in rng.uniform(0, 1, 50_000).tolist())
    blob = gzip.compress(("a,b,label\n" + body).encode())
    path = tmp_path / "t.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    fail([path], "t.csv.gz", "decompress")
    plain = tmp_path / "plain.csv.gz"
    plain.write_text(OK)
    fail([plain], "plain.csv.gz", "decompress")


def test_object_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object))
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    fail([tmp_path / "obj.npy", "--labels", tmp_path / "y.npy"], "never unpickles")
    np.save(tmp_path / "s.npy", np.full((2, 2), 0.5))
    fail([tmp_path / "s.npy", "--labels", tmp_path / "obj.npy"], "obj.npy", "never unpickles")


@pytest.mark.parametrize(
    "scores, labels, needles",
    [
        (np.full((4, 2, 1), 0.5), np.array([0, 1, 0, 1]), ["s.npy", "1-D or 2-D", "(4, 2, 1)"]),
        (
            np.full((4, 2), 0.5).astype(str),
            np.array([0, 1, 0, 1]),
            ["s.npy", "<U32 is not numeric"],
        ),
        (np.array([0.2, 0.7, 0.3, 0.9]) + 5j, np.array([0, 1, 0, 1]), ["s.npy", "complex128"]),
        (np.array([1, 2, 3, 4], dtype="m8[s]"), np.array([0, 1, 0, 1]), ["s.npy", "timedelta64"]),
        (np.array([0.2, 0.7, 0.3, 0.9]), np.array([0, 1, 0, 1]) + 0.7j, ["y.npy", "complex128"]),
        (
            np.array([0.2, 0.7, 0.3, 0.9]),
            np.zeros((4, 1, 1), dtype=int),
            ["y.npy", "1-D array of labels", "(4, 1, 1)"],
        ),
    ],
)
def test_npy_shapes_and_dtypes_checked_like_npz(
    tmp_path: Path, scores: np.ndarray, labels: np.ndarray, needles: list[str]
) -> None:
    """A bare .npy gets the checks an .npz member gets: shape and numeric dtype (a complex
    array was read as its real part, a 3-D one raised a traceback)."""
    np.save(tmp_path / "s.npy", scores)
    np.save(tmp_path / "y.npy", labels)
    fail([tmp_path / "s.npy", "--labels", tmp_path / "y.npy"], *needles)


def test_truncated_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.full((100, 2), 0.5))
    data = (tmp_path / "s.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-16])
    np.save(tmp_path / "y.npy", np.zeros(100, dtype=int))
    fail([tmp_path / "cut.npy", "--labels", tmp_path / "y.npy"], "cut.npy", "truncated")


@pytest.mark.parametrize(
    ("labels", "needles"),
    [
        (np.array(["\ud800", "b", "a"]), ["row 1", "not text"]),  # a lone surrogate
        (np.array([b"\xff", b"b", b"a"]), ["row 1", "not valid UTF-8"]),
        (np.array(["a", "", "b"]), ["row 2", "missing label"]),  # as an empty CSV cell
        (np.array(["a", "b", "cow"]), ["row 3", "'cow'", "not a class name"]),
    ],
)
def test_npy_text_labels_that_are_not_names(
    tmp_path: Path, labels: np.ndarray, needles: list[str]
) -> None:
    np.save(tmp_path / "s.npy", np.full((3, 3), 1 / 3))
    np.save(tmp_path / "y.npy", labels)
    fail(
        [tmp_path / "s.npy", "--labels", tmp_path / "y.npy", "--class-names", "a,b,c"],
        "y.npy",
        *needles,
    )


def test_npy_code_point_beyond_unicode(tmp_path: Path) -> None:
    points = np.array([[0x61], [0x110000], [0x62]], dtype=np.uint32)  # NumPy cannot str() it
    np.save(tmp_path / "s.npy", np.full((3, 3), 1 / 3))
    np.save(tmp_path / "y.npy", points.view("<U1").reshape(3))
    fail(
        [tmp_path / "s.npy", "--labels", tmp_path / "y.npy", "--class-names", "a,b,c"],
        "y.npy",
        "row 2",
        "not text",
    )


def test_npy_without_labels(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.full((2, 2), 0.5))
    fail([tmp_path / "s.npy"], "holds no labels", "--labels")


def test_files_of_different_lengths(tmp_path: Path) -> None:
    preds = csv(tmp_path, "a,b\n0.5,0.5\n0.2,0.8\n")
    labels = csv(tmp_path, "label\n0\n1\n1\n", "y.csv")
    fail([preds, "--labels", labels], "has 2 rows", "has 3")
    np.save(tmp_path / "s.npy", np.full((3, 2), 0.5))
    np.save(tmp_path / "y.npy", np.zeros(4, dtype=int))
    fail([tmp_path / "s.npy", "--labels", tmp_path / "y.npy"], "has 3 rows", "has 4")


def test_stdin_problems() -> None:
    fail(["-"], "no input", stdin="")
    fail(["-", "--input-format", "parquet"], "cannot read parquet from stdin")
    # a bad row on stdin cannot be looked up again: the message says how to get its number
    fail(
        ["-"],
        "<stdin>: a data row, column 'b'",
        "'x' is not a number",
        "save it to a file to get the row number",
        stdin="a,b,label\n0.5,0.5,0\n0.2,x,1\n",
    )


def test_binary_data_read_as_csv_says_what_it_looks_like(tmp_path: Path) -> None:
    table = wide_table(np.full((3, 2), 0.5), [0, 1, 0])
    parquet = write_table(tmp_path / "p.parquet", table)
    stream = write_table(tmp_path / "p.arrows", table)
    named_csv = tmp_path / "p.csv"
    named_csv.write_bytes(parquet.read_bytes())
    fail([named_csv], "p.csv", "not UTF-8", "looks like Parquet data", "--input-format parquet")
    fail(
        ["-"],
        "<stdin>",
        "looks like an Arrow IPC stream",
        "--input-format arrow",
        stdin=stream.read_bytes(),
    )
    fail(
        ["-"],
        "<stdin>",
        "looks like Parquet data",
        "pass its path instead",
        stdin=parquet.read_bytes(),
    )  # not --input-format parquet: stdin cannot be Parquet


def test_an_arrow_file_on_stdin_asks_for_its_path(tmp_path: Path) -> None:
    """Through a real pipe (the runner's stdin cannot be peeked at)."""
    import subprocess
    import sys

    feather = write_table(tmp_path / "p.feather", wide_table(np.full((3, 2), 0.5), [0, 1, 0]))
    for data, needle in ((feather.read_bytes(), "pass its path instead"), (b"", "no input")):
        proc = subprocess.run(
            [sys.executable, "-m", "xentcli", "compute", "-", "--input-format", "arrow"],
            input=data,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 2 and proc.stdout == b""
        assert (
            proc.stderr.decode().startswith("xent: error: <stdin>: ")
            and needle.encode() in proc.stderr
        )


def test_a_quote_inside_a_column_name_is_text(tmp_path: Path) -> None:
    """Only a quote that opens a field quotes; `size 5"` is a name (Arrow reads it so)."""
    out = run_json(
        ["compute", csv(tmp_path, 'a,b,size 5",label\n0.2,0.8,1,1\n'), "--pred-cols", "a,b"]
    )
    assert out["loss"] == pytest.approx(-math.log(0.8), rel=1e-12)


def test_no_line_break_in_the_first_16_mb_is_not_a_header(tmp_path: Path) -> None:
    """Memory stays bounded: the header is not read on until the end of the input."""
    from xentcli.io.tables import CSV_HEADER_MAX_BYTES

    path = tmp_path / "p.csv"
    path.write_bytes(b"a," * (CSV_HEADER_MAX_BYTES // 2 + 10))
    fail([path], "p.csv", "no line break in the first 16 MB")
    fail(["-"], "<stdin>", "no line break", stdin=path.read_bytes())


def test_a_class_name_after_rows_of_indices_is_a_mixture(tmp_path: Path) -> None:
    path = csv(tmp_path, "a,b,c,label\n0.2,0.3,0.5,0\n0.2,0.3,0.5,1\n0.2,0.3,0.5,a\n")
    fail(
        [path, "--chunk-rows", "2"],
        "row 3",
        "'a' is a class name",
        "earlier rows give class indices",
    )
    fail([path], "labels mix class indices ('0', row 1) and class names ('a', row 3)")


def test_weights_must_be_finite_and_non_negative(tmp_path: Path) -> None:
    path = csv(tmp_path, "a,b,label,w\n0.5,0.5,0,1\n0.5,0.5,1,-2\n")
    fail([path, "--weight-col", "w"], "row 2", "column 'w'", "-2")


OPTION_CASES = {
    "--weight-col": (["--weight-col", "w"], "no such column"),
    "--id-col": (["--id-col", "id"], "no such column"),
    "--class-weights count": (["--class-weights", "1,2,3"], "3 weights for 2 classes"),
    "--class-weights text": (["--class-weights", "a,b"], "expected numbers"),
    "--class-weights negative": (["--class-weights", "1,-1"], "finite numbers >= 0"),
    "--label-smoothing": (["--label-smoothing", "1.5"], "must be in [0, 1]"),
    "--renormalize with --logits": (["--logits", "--renormalize"], "cannot go with --logits"),
    "--task binary": (["--task", "binary"], "needs one score column"),
    "--task multilabel": (["--task", "multilabel"], "--target-cols"),
    "--pos-weight multiclass": (["--pos-weight", "2"], "--class-weights for multiclass"),
    "--class-names count": (["--class-names", "a"], "1 names but there are 2"),
    "--class-names dup": (["--class-names", "a,a"], "unique"),
    "--target-cols": (["--target-cols", "zz"], "'zz', which is not a column"),
    "--pred-cols": (["--pred-cols", "q*"], "matches no column"),
    "--pred-cols clash": (["--pred-cols", "a,label"], "also as the label"),
    "--per-sample ext": (["--per-sample", "out.txt"], "name a .parquet or .csv"),
    "--chunk-rows": (["--chunk-rows", "0"], "must be >= 1"),
    "--clip-eps": (["--clip-eps", "0.7"], "must be in [0, 0.5)"),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_option_conflicts(tmp_path: Path, case: str) -> None:
    args, needle = OPTION_CASES[case]
    fail([csv(tmp_path, OK), *args], needle)


def test_ignore_index_with_targets(tmp_path: Path) -> None:
    fail(
        [
            csv(tmp_path, "a,b,ta,tb\n0.5,0.5,1,0\n"),
            "--target-cols",
            "ta,tb",
            "--ignore-index",
            "0",
        ],
        "target columns",
    )


def test_unknown_option_is_usage_error(tmp_path: Path) -> None:
    res = run(["compute", csv(tmp_path, OK), "--bogus"])
    assert res.exit_code == 2 and res.stdout == ""
    res = run(["compute", csv(tmp_path, OK), "--base", "3"])
    assert res.exit_code == 2


def test_all_rows_ignored(tmp_path: Path) -> None:
    fail(
        [csv(tmp_path, "a,b,label\n0.5,0.5,-100\n"), "--ignore-index", "-100"],
        "no rows left to count",
    )


def test_later_chunk_error_leaves_no_files(tmp_path: Path) -> None:
    rows = ["0.5,0.5,0"] * 40 + ["0.5,0.7,1"] + ["0.5,0.5,1"] * 5
    path = csv(tmp_path, "a,b,label\n" + "\n".join(rows) + "\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    keep = out_dir / "report.json"
    keep.write_text("previous report")
    fail(
        [
            path,
            "--chunk-rows",
            "5",
            "--per-sample",
            out_dir / "rows.parquet",
            "--output",
            keep,
            "--format",
            "json",
        ],
        "row 41",
    )
    assert sorted(os.listdir(out_dir)) == ["report.json"]
    assert keep.read_text() == "previous report"


def test_output_to_missing_directory(tmp_path: Path) -> None:
    fail([csv(tmp_path, OK), "--output", tmp_path / "no" / "such" / "r.json"], "does not exist")
    fail([csv(tmp_path, OK), "--per-sample", tmp_path / "no" / "rows.csv"], "does not exist")


def test_messages_print_markup_literally(tmp_path: Path) -> None:
    path = csv(tmp_path, OK, "[bold]p.csv")
    err = fail([path, "--weight-col", "[red]w"], "[red]w", "[bold]p.csv")
    assert "\x1b[" not in err


def test_output_to_a_full_device_is_exit_2_and_keeps_the_device(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    import stat

    fail(
        [csv(tmp_path, OK), "--format", "json", "--output", "/dev/full"],
        "/dev/full",
        "cannot write",
    )
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # still the device, not a renamed file


def test_output_without_permission(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        fail([csv(tmp_path, OK), "--output", locked / "r.json"], "cannot write")
    finally:
        locked.chmod(0o700)


def test_input_is_left_untouched(tmp_path: Path) -> None:
    path = csv(tmp_path, OK)
    before = path.read_bytes()
    res = run(
        [
            "compute",
            path,
            "--per-sample",
            tmp_path / "rows.csv",
            "--output",
            tmp_path / "r.json",
            "--format",
            "json",
        ]
    )
    assert res.exit_code == 0
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "r.json", "rows.csv"]  # no temp files


def test_npz_member_above_the_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.savez_compressed(
        tmp_path / "s.npz", scores=np.full((1000, 2), 0.5), labels=np.zeros(1000, dtype=int)
    )
    monkeypatch.setenv("XENT_NPZ_MAX_BYTES", "4096")
    fail([tmp_path / "s.npz"], "s.npz[scores]", "above the limit", "XENT_NPZ_MAX_BYTES")
    monkeypatch.delenv("XENT_NPZ_MAX_BYTES")
    assert run(["compute", tmp_path / "s.npz", "--format", "json"]).exit_code == 0


def test_npz_member_whose_header_lies_is_refused(tmp_path: Path) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    np.save(buf, np.full((10, 2), 0.5))
    data = buf.getvalue()
    lying = data.replace(b"(10, 2)", b"(99, 2)")  # the header promises more rows than stored
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        zf.writestr("scores.npy", lying)
        lab = io.BytesIO()
        np.save(lab, np.zeros(99, dtype=int))
        zf.writestr("labels.npy", lab.getvalue())
    fail([tmp_path / "bad.npz"], "bad.npz[scores]", "corrupt")


def test_a_file_that_shrinks_while_it_is_read(tmp_path: Path) -> None:
    """The input is cut short between opening and reading: a clean error, not a crash."""
    from xentcli.config import LossConfig, ReadConfig
    from xentcli.errors import InputError
    from xentcli.evaluate import evaluate
    from xentcli.io import open_dataset

    np.save(tmp_path / "s.npy", np.full((5000, 2), 0.5))
    np.save(tmp_path / "y.npy", np.zeros(5000, dtype=int))
    ds = open_dataset(
        ReadConfig(str(tmp_path / "s.npy"), labels=str(tmp_path / "y.npy"), chunk_rows=100)
    )
    next(ds.parts)
    with open(tmp_path / "s.npy", "r+b") as fh:
        fh.truncate(4000)
    with pytest.raises(InputError, match="truncated"):
        list(ds.parts)

    pq_path = write_table(
        tmp_path / "p.parquet", wide_table(np.full((3000, 2), 0.5), np.zeros(3000, dtype=int))
    )
    ds = open_dataset(ReadConfig(str(pq_path), chunk_rows=10))
    next(ds.parts)
    pq_path.write_bytes(pq_path.read_bytes()[:200])
    # a buffered read stops short here without an error of Arrow's: the footer's count catches it
    with pytest.raises(InputError, match=r"p\.parquet: the file ended after row \d+ of the 3000"):
        list(ds.parts)

    gone = tmp_path / "gone.npy"
    np.save(gone, np.full((10, 2), 0.5))
    cfg = ReadConfig(str(gone), labels=str(tmp_path / "y.npy"))
    gone.unlink()
    with pytest.raises(InputError, match="no such file"):
        evaluate(cfg, LossConfig())


CATALOGUE_EXTRA = {
    "bom": ("\ufeffa,b,label\n0.5,0.5,0\n", None),
    "crlf": ("a,b,label\r\n0.5,0.5,0\r\n0.2,0.8,1\r\n", None),
    "quoted": ('"a","b","label"\n"0.5","0.5","0"\n', None),
    "empty_lines": ("a,b,label\n\n0.5,0.5,0\n\n0.2,0.8,1\n", None),
    "mixed_label_types": ("a,b,label\n0.5,0.5,0\n0.2,0.8,b\n", "row 2"),
    "quoted_newline_in_label": ('a,b,label\n0.5,0.5,"0\n1"\n', "label"),
}


@pytest.mark.parametrize("case", sorted(CATALOGUE_EXTRA))
def test_csv_dialects(tmp_path: Path, case: str) -> None:
    text, needle = CATALOGUE_EXTRA[case]
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode("utf-8"))
    if needle is None:
        out = run(["compute", path, "--format", "json"])
        assert out.exit_code == 0, out.stderr
    else:
        fail([path], "p.csv", needle)


def test_parquet_nulls_and_wrong_compression(tmp_path: Path) -> None:
    t = pa.table({"a": pa.array([0.5, None]), "b": [0.5, 0.5], "label": [0, 1]})
    fail([write_table(tmp_path / "n.parquet", t)], "row 2", "column 'a'", "missing value")
    t = pa.table({"a": [0.5, 0.5], "b": [0.5, 0.5], "label": pa.array([0, None])})
    fail([write_table(tmp_path / "l.parquet", t)], "row 2", "missing label")
    gz = tmp_path / "p.parquet.gz"
    gz.write_bytes(gzip.compress(b"whatever"))
    fail([gz], "gzip compression is read for CSV, TSV and JSON Lines only", "decompress it")


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"a,b,label\n\xff,0.5,0\n")
    fail([path], "p.csv", "row 1", "column 'a'", "not UTF-8")
    path.write_bytes(b"a,b,label\n0.5,0.5,\xff\n")
    fail([path], "p.csv", "column 'label'", "not UTF-8")


def test_a_column_in_two_roles_and_class_names_that_are_not_text(tmp_path: Path) -> None:
    path = csv(tmp_path, "id,p,label,w\nr1,0.9,1,1\n")
    fail([path, "--id-col", "label"], "p.csv", "column 'label'", "label column", "--id-col")
    fail([path, "--weight-col", "label"], "column 'label'", "--weight-col")
    fail([path, "--id-col", "w", "--weight-col", "w"], "column 'w'", "both --id-col")
    fail([path, "--class-names", "a,\udcff"], "--class-names", "not valid UTF-8")


def test_labels_padded_with_blanks_and_classes_named_like_null_tokens(tmp_path: Path) -> None:
    path = csv(tmp_path, "a,b,label\n0.5,0.5, 1\n")
    assert run_json(["compute", path])["loss"] == pytest.approx(math.log(2))
    # plain indices first, padded ones in later chunks (the plain cast fails there), then bad
    path = csv(tmp_path, "a,b,label\n0.2,0.8,1\n0.9,0.1,0 \n0.4,0.6,\t1\n")
    out = run_json(["compute", path, "--chunk-rows", "1"])
    assert out["loss"] == pytest.approx(-(math.log(0.8) + math.log(0.9) + math.log(0.6)) / 3)
    path = csv(tmp_path, "a,b,label\n0.2,0.8,1\n0.9,0.1,x1\n")
    fail(
        [path, "--chunk-rows", "1"],
        "row 2",
        "column 'label'",
        "'x1'",
        "neither a class index nor a class name",
    )
    path = csv(tmp_path, "NA,b,label\n0.5,0.5,NA\n0.2,0.8,b\n")
    out = run_json(["compute", path])
    assert out["classes"] == ["NA", "b"]
    assert out["loss"] == pytest.approx((-math.log(0.5) - math.log(0.8)) / 2)


def test_lists_of_scores_that_change_width_or_hold_nulls(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "w.parquet"
    pq.write_table(pa.table({"scores": [[0.5, 0.5], [0.2, 0.3, 0.5]], "label": [0, 1]}), path)
    fail([path, "--chunk-rows", "1"], "row 2", "3 scores", "other rows have 2")
    fail([path], "row 2", "3 scores", "other rows have 2")
    path = tmp_path / "n.parquet"
    pq.write_table(
        pa.table({"scores": [[0.2, 0.3, 0.5]] * 2 + [[0.2, None, 0.5]], "label": [0, 1, 2]}), path
    )
    fail([path], "row 3", "column 'scores'", "missing value in the list")
