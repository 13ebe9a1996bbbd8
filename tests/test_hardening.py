"""Issue 21's gates that could not fail, bounds and weights at the edges of float64, and outputs
that would replace an input: each a one-line error, exit 2, nothing on stdout, nothing left."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import run, run_json

OK = "a,b,label\n0.5,0.5,0\n0.2,0.8,1\n0.9,0.1,0\n"


def refused(args: list[Any], *needles: str) -> str:
    res = run(args)
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == "" and "Traceback" not in res.stderr
    assert res.stderr.startswith("xent: error: ") and res.stderr.count("\n") == 1, res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)
    return res.stderr


@pytest.fixture
def ok(tmp_path: Path) -> Path:
    path = tmp_path / "p.csv"
    path.write_text(OK)
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--check", "loss<=1e999"], "1e999 is not a finite number"),
        (["--check", "loss<=１"], "expected NAME OP NUMBER"),  # a fullwidth digit
        (["--check", "loss<=٣"], "expected NAME OP NUMBER"),  # an Arabic-Indic digit
        (["--max-loss", "inf"], "--max-loss inf: give a finite number"),
        (["--max-loss", "-inf"], "--max-loss -inf: give a finite number"),
        (["--top-k", "2"], "--top-k 2: there are 2 classes"),
        (["--worst", "10001"], "--worst 10001: must be in 0..10,000"),
        (["--bins", "100001"], "--bins 100001: must be in 1..100,000"),
    ],
)
def test_gates_and_bounds_that_could_not_fail_are_refused(
    ok: Path, args: list[str], needle: str
) -> None:
    refused(["compute", ok, *args], needle)


def test_max_increase_takes_ascii_numbers_only(ok: Path, tmp_path: Path) -> None:
    prev = tmp_path / "prev.json"
    assert run(["compute", ok, "--format", "json", "--output", prev]).exit_code == 0
    refused(["compute", ok, "--baseline", prev, "--max-increase", "２%"], "--max-increase")
    refused(["compute", ok, "--baseline", prev, "--max-increase", "1e999"], "finite number")
    assert run(["compute", ok, "--baseline", prev, "--max-increase", "2%"]).exit_code == 0


def test_top_k_below_the_class_count_is_scored(tmp_path: Path) -> None:
    path = tmp_path / "p3.csv"
    path.write_text("a,b,c,label\n0.5,0.3,0.2,1\n0.2,0.7,0.1,2\n")
    out = run_json(["compute", path, "--top-k", "2"])
    assert out["metrics"]["top_k_accuracy"] == 0.5  # row 1: b is 2nd; row 2: c is 3rd
    refused(["compute", path, "--top-k", "3"], "--top-k 3: there are 3 classes")


@pytest.mark.parametrize(
    ("column", "extra", "needle"),
    [
        ("1e308", [], "the sample weights (--weight-col) add up to more than float64 holds"),
        ("1e-320", [], "sample weight 9.99989e-321 is below 2.22507e-308"),
    ],
)
def test_weights_at_the_edges_of_float64_are_refused(
    tmp_path: Path, column: str, extra: list[str], needle: str
) -> None:
    path = tmp_path / "w.csv"
    path.write_text(f"a,b,label,w\n0.5,0.5,0,{column}\n0.2,0.8,1,{column}\n")
    err = refused(["compute", path, "--weight-col", "w", *extra], needle)
    assert "RuntimeWarning" not in err


def test_class_weights_that_overflow_are_refused(ok: Path) -> None:
    refused(["compute", ok, "--class-weights", "1e308,1e308"], "more than float64 holds")


def test_common_factors_of_weights_do_not_change_the_mean(tmp_path: Path) -> None:
    """The refusals above say 'scale them': the mean is the same at any scale that fits."""
    rows = [(0.5, 0.5, 0, 3.0), (0.2, 0.8, 1, 1.0)]
    want = (3.0 * -math.log(0.5) + 1.0 * -math.log(0.8)) / 4.0
    for scale in (1.0, 1e300, 1e-300):
        path = tmp_path / f"w{scale}.csv"
        body = "".join(f"{a},{b},{y},{w * scale!r}\n" for a, b, y, w in rows)
        path.write_text("a,b,label,w\n" + body)
        assert run_json(["compute", path, "--weight-col", "w"])["loss"] == pytest.approx(
            want, rel=1e-14
        )


def test_scheduler_addresses_dask_cannot_use_are_one_line(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"a": [0.5, 0.2], "b": [0.5, 0.8], "label": [0, 1]}), path)
    base = ["compute", path, "--engine", "dask"]
    refused([*base, "--scheduler", ""], "--scheduler '': give a scheduler's address")
    refused([*base, "--scheduler", "foo://x:1"], "not an address Dask can connect to")
    refused([*base, "--scheduler", "localhost"], "not an address Dask can connect to")
    refused([*base, "--scheduler", "tls://127.0.0.1:1"], "not an address Dask can connect to")


def test_no_output_replaces_a_file_of_a_dataset_or_the_baseline(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    for k in range(2):
        pq.write_table(
            pa.table({"a": [0.5, 0.2], "b": [0.5, 0.8], "label": [0, 1]}), root / f"{k}.parquet"
        )
    member = root / "1.parquet"
    before = member.read_bytes()
    refused(["compute", root, "--output", member], f"--output {member}: is an input of this run")
    refused(["compute", str(root / "*.parquet"), "--per-sample", member], "is an input of this run")
    link = tmp_path / "link.parquet"
    link.symlink_to(member)
    refused(["compute", root, "--output", link], "is an input of this run")
    assert member.read_bytes() == before
    prev = tmp_path / "prev.json"
    assert run(["compute", root, "--format", "json", "--output", prev]).exit_code == 0
    text = prev.read_text()
    refused(
        ["compute", root, "--baseline", prev, "--format", "json", "--output", prev],
        "is an input of this run",
    )
    assert prev.read_text() == text and not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_api_takes_the_same_bounds() -> None:
    from xentcli import XentError, compute

    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(XentError, match="--top-k 2: there are 2 classes"):
        compute(p, labels=[0, 1], top_k=2)
    with pytest.raises(XentError, match="--max-loss inf"):
        compute(p, labels=[0, 1], max_loss=float("inf"))
