"""CSV labels arrive dictionary-encoded; once the first chunk has decided how a column reads,
later chunks map their few distinct values in Python. The codes and every error must be what
the general path (Arrow compute over each row's text) gives."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.helpers import run, run_json
from xentcli.errors import InputError
from xentcli.validate import LabelEncoder


def dict_array(texts: list[str | None]) -> pa.DictionaryArray:
    return pa.array(texts, type=pa.string()).dictionary_encode()


def both(names: tuple[str, ...], chunks: list[list[str | None]]) -> tuple[list, list]:
    """Codes (or the error text) of each chunk, dictionary-encoded and as plain text."""
    out = []
    for make in (dict_array, lambda t: pa.array(t, type=pa.string())):
        enc, got = LabelEncoder(names, "p.csv", "label", binary=False), []
        for i, chunk in enumerate(chunks):
            try:
                got.append(enc.encode(make(chunk), row0=10 * i).tolist())
            except InputError as exc:
                got.append(str(exc))
                break
        out.append(got)
    return out[0], out[1]


@pytest.mark.parametrize(
    ("names", "chunks"),
    [
        (("0", "1", "2"), [["2", "0"], ["1", "007", "2"]]),  # leading zeros: 7 (out of range later)
        (("0", "1", "2"), [["1"], [" 2", "0"]]),  # spaces: the general path trims them
        (("0", "1", "2"), [["1"], ["2.0", "+1"]]),  # decimals and signs are numbers too
        (("0", "1", "2"), [["1"], ["2", "x"]]),  # neither an index nor a name: that row
        (("0", "1", "2"), [["1"], ["2", None]]),  # missing label: that row
        (("0", "1", "2"), [["1"], ["99999999999999999999"]]),  # too large for int64
        (("cat", "dog"), [["dog", "cat"], ["cat", "cat", "dog"]]),  # names, decided by chunk 1
        (("cat", "dog"), [["dog", "cat"], ["cat", "cow"]]),  # an unknown name: that row
        (("cat", "dog"), [["1", "0"], ["0", "1", "1"]]),  # indices for named classes
        (("cat", "dog"), [["1", "0"], ["dog"]]),  # indices first, then a name
    ],
)
def test_dictionary_labels_read_like_text(names: tuple[str, ...], chunks: list) -> None:
    got, want = both(names, chunks)
    assert got == want


def test_large_and_unreferenced_dictionaries() -> None:
    enc = LabelEncoder(("0", "1"), "p.csv", "label", binary=False)
    arr = dict_array(["1", "0", "x"]).slice(0, 2)  # "x" is in the dictionary, in no row
    np.testing.assert_array_equal(enc.encode(arr, 0), [1, 0])
    texts = [str(i) for i in range(70_000)]
    enc = LabelEncoder(tuple(texts), "p.csv", "label", binary=False)
    np.testing.assert_array_equal(enc.encode(dict_array(texts[::-1]), 0), np.arange(70_000)[::-1])


def test_csv_labels_across_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=50)
    y = rng.integers(0, 3, 50)
    names = ["ant", "bee", "cow"]
    lines = ["ant,bee,cow,label"] + [
        ",".join(f"{v:.17g}" for v in row) + f",{names[k]}" for row, k in zip(p, y, strict=True)
    ]
    path = tmp_path / "p.csv"
    path.write_text("\n".join(lines) + "\n")
    want = math.fsum(-math.log(float(f"{p[i, y[i]]:.17g}")) for i in range(50)) / 50
    out = run_json(["compute", str(path), "--chunk-rows", "7"])
    assert out["loss"] == pytest.approx(want, rel=1e-12)
    path.write_text("\n".join([*lines[:30], lines[30].rsplit(",", 1)[0] + ",emu", *lines[31:]]))
    res = run(["compute", str(path), "--chunk-rows", "7"])
    assert res.exit_code == 2
    assert "row 30" in res.output and "'emu'" in res.output


def test_index_labels_in_csv_need_no_pyarrow_compute(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    rows = [f"{0.1 * (i % 9) + 0.05},{0.95 - 0.1 * (i % 9)},{i % 2}" for i in range(40)]
    path.write_text("\n".join(["0,1,label", *rows]) + "\n")
    code = (
        "import sys; from typer.testing import CliRunner; from xentcli.cli import app; "
        f"r = CliRunner().invoke(app, ['compute', {str(path)!r}, '--chunk-rows', '8']); "
        "assert r.exit_code == 0, r.output; print('pyarrow.compute' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [2, 3, 0, 1], [1, 2, 3, 0]])
def test_binary_class_named_false_means_that_class_in_every_chunk(
    tmp_path: Path, order: list[int]
) -> None:
    """--class-names yes,false: "false" names class 1 (the positive one), whichever chunk it
    falls in; true/false mean 1/0 only when no class is named like them."""
    rows = [("0.9", "yes"), ("0.8", "false"), ("0.3", "false"), ("0.2", "false")]
    path = tmp_path / "p.csv"
    path.write_text("p,label\n" + "".join(f"{rows[i][0]},{rows[i][1]}\n" for i in order))
    want = (-math.log(1 - 0.9) - math.log(0.8) - math.log(0.3) - math.log(0.2)) / 4
    out = run_json(["compute", str(path), "--class-names", "yes,false", "--chunk-rows", "2"])
    assert out["loss"] == pytest.approx(want, rel=1e-12)
    path.write_text("p,label\n0.9,true\n0.2,false\n0.6,TRUE\n")
    want = (-math.log(0.9) - math.log(0.8) - math.log(0.6)) / 3
    assert run_json(["compute", str(path), "--chunk-rows", "2"])["loss"] == pytest.approx(want)
