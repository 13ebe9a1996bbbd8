"""Many files as one dataset (directories, globs, hive partitions) and --group-by slices."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tests import reference as ref
from tests.helpers import run, run_json, softmax

RNG = np.random.default_rng(17)
DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]
COUNTRIES = ["de", "fr", "us"]


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Three day partitions, two files each, logits for 4 classes plus a country column."""
    root = tmp_path / "preds"
    parts: dict[str, list] = {"z": [], "y": [], "day": [], "country": []}
    for d in DAYS:
        (root / f"day={d}").mkdir(parents=True)
        for k in range(2):
            n = int(RNG.integers(20, 40))
            z = RNG.normal(size=(n, 4)) * 2
            y = RNG.integers(0, 4, n)
            country = RNG.choice(COUNTRIES, n)
            pq.write_table(
                pa.table({**{f"c{j}": z[:, j] for j in range(4)}, "label": y, "country": country}),
                root / f"day={d}" / f"part-{k}.parquet",
                row_group_size=7,
            )
            parts["z"].append(z)
            parts["y"].append(y)
            parts["day"] += [d] * n
            parts["country"] += list(country)
    data = {
        "z": np.concatenate(parts["z"]),
        "y": np.concatenate(parts["y"]),
        "day": np.array(parts["day"]),
        "country": np.array(parts["country"]),
    }
    return root, data


def losses(data: dict[str, np.ndarray]) -> np.ndarray:
    return np.array(
        [
            ref.ce_row_label(list(data["z"][i]), int(data["y"][i]), logits=True)
            for i in range(len(data["y"]))
        ]
    )


@pytest.mark.parametrize("chunk", ["5", "1000"])
def test_directory_equals_the_concatenated_file(tmp_path: Path, dataset, chunk: str) -> None:
    root, data = dataset
    rows = losses(data)
    out = run_json(["compute", root, "--logits", "--pred-cols", "c[0-9]", "--chunk-rows", chunk])
    assert out["n"] == len(rows)
    assert out["loss"] == pytest.approx(math.fsum(rows) / len(rows), rel=1e-12)
    glob_out = run_json(["compute", f"{root}/**/*.parquet", "--logits", "--id-col", "country"])
    # the hive key 'day' is never a score column; here 'country' is marked as the id
    assert glob_out["loss"] == pytest.approx(out["loss"], rel=1e-12)
    one = tmp_path / "all.parquet"
    pq.write_table(
        pa.table({**{f"c{j}": data["z"][:, j] for j in range(4)}, "label": data["y"]}), one
    )
    single = run_json(["compute", one, "--logits"])
    assert single["loss"] == pytest.approx(out["loss"], rel=1e-12)
    for a, b in zip(single["per_class"], out["per_class"], strict=True):
        assert a["class"] == b["class"] and a["support"] == b["support"]
        assert a["loss_sum"] == pytest.approx(b["loss_sum"], rel=1e-12)


def test_group_by_partition_and_column(dataset) -> None:
    root, data = dataset
    rows = losses(data)
    out = run_json(
        [
            "compute",
            root,
            "--logits",
            "--pred-cols",
            "c[0-9]",
            "--group-by",
            "day",
            "--group-by",
            "country",
            "--chunk-rows",
            "9",
        ]
    )
    groups = out["groups"]
    assert len(groups) == len(DAYS) * len(COUNTRIES)
    assert [g["group"] for g in groups] == sorted(
        (g["group"] for g in groups), key=lambda k: (k["day"], k["country"])
    )
    for g in groups:
        mask = (data["day"] == g["group"]["day"]) & (data["country"] == g["group"]["country"])
        assert g["n"] == int(mask.sum())
        assert g["loss"] == pytest.approx(math.fsum(rows[mask]) / mask.sum(), rel=1e-12)
        acc = np.mean(np.argmax(data["z"][mask], axis=1) == data["y"][mask])
        assert g["metrics"]["accuracy"] == pytest.approx(acc)
    assert sum(g["n"] for g in groups) == out["n"]
    assert math.fsum(g["loss_sum"] for g in groups) == pytest.approx(out["loss_sum"], rel=1e-12)


def test_group_by_in_every_format(dataset) -> None:
    root, _ = dataset
    args = ["compute", root, "--logits", "--pred-cols", "c[0-9]", "--group-by", "country"]
    table = run(args)
    assert table.exit_code == 0 and "by country" in table.stdout
    md = run([*args, "--format", "markdown"])
    assert "By country:" in md.stdout and "| de |" in md.stdout
    csv = run([*args, "--format", "csv"])
    assert "group,country=fr" in csv.stdout


def test_group_by_on_a_single_csv_with_ignored_rows(tmp_path: Path) -> None:
    p = softmax(RNG.normal(size=(60, 3)))
    y = RNG.integers(0, 3, 60)
    y[::7] = -1
    seg = np.where(np.arange(60) % 2 == 0, "even", "odd")
    path = tmp_path / "p.csv"
    pcsv.write_csv(
        pa.table({"a": p[:, 0], "b": p[:, 1], "c": p[:, 2], "label": y, "seg": seg}), path
    )
    out = run_json(
        ["compute", path, "--group-by", "seg", "--ignore-index", "-1", "--chunk-rows", "8"]
    )
    for g in out["groups"]:
        mask = (seg == g["group"]["seg"]) & (y != -1)
        want = math.fsum(-math.log(p[i, y[i]]) for i in np.flatnonzero(mask)) / mask.sum()
        assert g["n"] == int(mask.sum()) and g["loss"] == pytest.approx(want, rel=1e-12)


def test_constant_targets_have_no_normalized_entropy(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    pcsv.write_csv(pa.table({"a": [0.9, 0.8], "b": [0.1, 0.2], "label": [0, 0]}), path)
    out = run_json(["compute", path])
    assert out["metrics"]["normalized_entropy"] is None
    assert out["metrics"]["information_gain"] is None


def test_dataset_errors(tmp_path: Path, dataset) -> None:
    root, _ = dataset
    res = run(["compute", root, "--logits", "--pred-cols", "c[0-9]", "--labels", "y.csv"])
    assert res.exit_code == 2 and "single predictions file" in res.stderr
    res = run(["compute", tmp_path / "nothing*.parquet"])
    assert res.exit_code == 2 and "matches no file" in res.stderr
    res = run(["compute", root, "--logits", "--pred-cols", "c[0-9]", "--group-by", "nope"])
    assert res.exit_code == 2 and "--group-by 'nope'" in res.stderr
    bad = root / "day=2026-01-03" / "part-9.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    res = run(["compute", root, "--logits", "--pred-cols", "c[0-9]"])
    assert res.exit_code == 2 and res.stdout == "" and "part-9.parquet" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_column_only_later_files_hold(tmp_path: Path, kind: str) -> None:
    """The first file's columns are the dataset's: a score column that only a later file
    holds was never read (a wrong loss, exit 0). Refused when the scores are every column
    (no --pred-cols), naming the file and the column; --pred-cols reads on without it."""
    root = tmp_path / "ds"
    root.mkdir()
    # not whole numbers: pyarrow's write_csv writes 2.0 as "2", which a CSV's first rows
    # then call whole numbers (not scores by default)
    first = pa.table({"a": [2.5, 0.5], "b": [0.5, 1.5], "label": [0, 1]})
    later = pa.table({"a": [2.5, 0.5], "b": [0.5, 1.5], "c": [5.5, 5.5], "label": [0, 1]})
    for name, t in (("part-0", first), ("part-1", later)):
        if kind == "parquet":
            pq.write_table(t, root / f"{name}.parquet")
        else:
            pcsv.write_csv(t, root / f"{name}.csv")
    res = run(["compute", root, "--logits"])
    assert res.exit_code == 2 and res.stdout == "", res.stdout
    assert f"part-1.{kind}: column 'c' is in no earlier file" in res.stderr
    assert "--pred-cols" in res.stderr and res.stderr.count("\n") == 1
    out = run_json(["compute", root, "--logits", "--pred-cols", "a,b"])
    z = np.array([[2.5, 0.5], [0.5, 1.5]] * 2)
    y = np.array([0, 1] * 2)
    expected = float(np.mean(-np.log(softmax(z)[np.arange(4), y])))
    assert out["n"] == 4 and out["loss"] == pytest.approx(expected, rel=1e-12)


def test_dataset_of_csv_files(tmp_path: Path) -> None:
    root = tmp_path / "csvs"
    root.mkdir()
    zs, ys = [], []
    for k in range(3):
        z = RNG.normal(size=(15, 3))
        y = RNG.integers(0, 3, 15)
        pcsv.write_csv(
            pa.table({"x": z[:, 0], "y": z[:, 1], "w": z[:, 2], "label": y}), root / f"f{k}.csv"
        )
        zs.append(z)
        ys.append(y)
    z, y = np.concatenate(zs), np.concatenate(ys)
    out = run_json(["compute", root, "--logits"])
    rows = [ref.ce_row_label(list(z[i]), int(y[i]), logits=True) for i in range(len(y))]
    assert out["loss"] == pytest.approx(math.fsum(rows) / len(rows), rel=1e-12)
    res = run(["inspect", root, "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["rows"] == 45


def test_csv_directory_reads_cells_as_a_single_csv_does(tmp_path: Path) -> None:
    """Only an empty field is missing ("NA" is a class name here), ids stay text ("007"), and
    a quoted id may hold a line break: the directory gives what the one file gives."""
    root = tmp_path / "csvs"
    root.mkdir()
    head = "id,yes,NA,label\n"
    first = '007,0.2,0.8,NA\n"x\ny",0.6,0.4,yes\n'
    second = "010,0.3,0.7,NA\n011,0.9,0.1,yes\n"
    (root / "f0.csv").write_text(head + first)
    (root / "f1.csv").write_text(head + second)
    (tmp_path / "all.csv").write_text(head + first + second)
    args = ["--id-col", "id", "--worst", "4"]
    out = run_json(["compute", root, *args])
    one = run_json(["compute", tmp_path / "all.csv", *args])
    p_true = [0.8, 0.6, 0.7, 0.9]
    assert out["loss"] == pytest.approx(-math.fsum(map(math.log, p_true)) / 4, rel=1e-12)
    assert out["worst"] == one["worst"]
    assert sorted(w["id"] for w in out["worst"]) == ["007", "010", "011", "x\ny"]


def test_directory_of_gzipped_csv(tmp_path: Path) -> None:
    import gzip

    root = tmp_path / "gz"
    root.mkdir()
    (root / "p0.csv.gz").write_bytes(gzip.compress(b"a,b,label\n0.2,0.8,1\n0.6,0.4,0\n"))
    (root / "p1.csv.gz").write_bytes(gzip.compress(b"a,b,label\n0.3,0.7,0\n"))
    out = run_json(["compute", root])
    assert out["n"] == 3
    assert out["loss"] == pytest.approx(
        -(math.log(0.8) + math.log(0.6) + math.log(0.3)) / 3, rel=1e-12
    )


def test_csv_directory_cell_that_is_not_a_number(tmp_path: Path) -> None:
    """Named by file, row (and the dataset's row) and column, as for a single CSV."""
    root = tmp_path / "csvs"
    root.mkdir()
    (root / "f0.csv").write_text("a,b,label\n0.2,0.8,1\n")
    (root / "f1.csv").write_text("a,b,label\n0.2,0.8,1\n0.6,zz,0\n")
    res = run(["compute", root])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr == (
        f"xent: error: {root / 'f1.csv'}: row 2 (row 3 of {root}), column 'b': 'zz' is not a "
        "number; score, target and weight columns must hold only numbers; if 'b' is not a "
        "score column, mark it with --id-col b or choose the score columns with --pred-cols\n"
    )
    (root / "f1.csv").write_text("a,b,label,grp\n0.2,0.8,1,x\n")
    (root / "f0.csv").write_text("a,b,label,grp\n0.2,0.8,1,y\n")
    res = run(["compute", root])
    # a text column (no number in its first rows) is named before reading, with its row
    assert res.exit_code == 2 and "'grp' (text: 'y' in row 1)" in res.stderr, res.stderr
    assert "--id-col grp" in res.stderr and "--pred-cols a,b" in res.stderr


def test_group_by_unusual_values(tmp_path: Path) -> None:
    """NaN is a missing value (one null slice across chunks, with the nulls), infinity is
    written "inf" in strict JSON, bytes are read as text, a list column is refused."""
    p = softmax(RNG.normal(size=(12, 2)))
    y = RNG.integers(0, 2, 12)
    g = [math.nan, 1.0, None, math.inf] * 3
    path = tmp_path / "g.parquet"
    pq.write_table(
        pa.table(
            {
                "a": p[:, 0],
                "b": p[:, 1],
                "label": y,
                "g": g,
                "raw": [b"x", b"\xff", b"y"] * 4,
                "lst": [[1], [2], [1], [2]] * 3,
            }
        ),
        path,
    )
    out = run_json(["compute", path, "--pred-cols", "a,b", "--group-by", "g", "--chunk-rows", "5"])
    rows = {json.dumps(s["group"]["g"]): s for s in out["groups"]}
    assert sorted(rows) == ['"inf"', "1.0", "null"]
    missing = [i for i in range(12) if g[i] is None or math.isnan(g[i])]
    assert rows["null"]["n"] == len(missing) == 6
    ref_loss = -sum(math.log(p[i, y[i]]) for i in missing) / len(missing)
    assert rows["null"]["loss"] == pytest.approx(ref_loss, rel=1e-12)
    out = run_json(["compute", path, "--pred-cols", "a,b", "--group-by", "raw"])
    assert sorted(s["group"]["raw"] for s in out["groups"]) == ["\\xff", "x", "y"]
    res = run(["compute", path, "--pred-cols", "a,b", "--group-by", "lst"])
    assert res.exit_code == 2 and "--group-by lst: the column holds list" in res.stderr


def test_a_null_slice_and_the_text_null_print_apart(tmp_path: Path) -> None:
    """A missing --group-by value prints as null and the text "null" quoted, in CSV, Markdown
    and the table (they printed alike; JSON keeps null and "null" apart)."""
    t = pa.table(
        {
            "a": [0.3, 0.6] * 3,
            "b": [0.7, 0.4] * 3,
            "label": [0, 1, 1, 0, 0, 1],
            "s": pa.array(["null", None, "x"] * 2, pa.string()),
        }
    )
    path = tmp_path / "p.parquet"
    pq.write_table(t, path)
    args = ["compute", path, "--pred-cols", "a,b", "--group-by", "s"]
    rows = [
        r for r in run([*args, "--format", "csv"]).stdout.splitlines() if r.startswith("group,")
    ]
    assert sorted(r.split(",")[1] for r in rows) == ['"s=""null"""', "s=null", "s=x"]
    md = run([*args, "--format", "markdown"]).stdout
    assert '| "null" | 2 |' in md and "| null | 2 |" in md
    groups = run_json(args)["groups"]
    assert sorted(str(g["group"]["s"]) for g in groups) == ["None", "null", "x"]


def test_slices_in_order_of_their_values(tmp_path: Path) -> None:
    """Numbers by value (2 before 10, -1 first), missing values last."""
    path = tmp_path / "g.parquet"
    pq.write_table(
        pa.table(
            {"a": [0.5] * 6, "b": [0.5] * 6, "label": [0, 1] * 3, "g": [10, 2, -1, 10, 2, None]}
        ),
        path,
    )
    out = run_json(["compute", path, "--pred-cols", "a,b", "--group-by", "g"])
    assert [s["group"]["g"] for s in out["groups"]] == [-1, 2, 10, None]
