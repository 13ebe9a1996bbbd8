"""`xent compare`'s --check, --group-by, --quiet and outputs, and the CI options of both
commands: repeatable --output (format by extension), --allow-missing-baseline.

Expected losses are computed row by row with math.log, never read from xent."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tests.helpers import run as run_cli
from tests.helpers import run_json as run_cli_json
from tests.helpers import write_table

RNG = np.random.default_rng(7)
N = 240
CLASSES = ["cat", "dog", "eel"]


def _probs(sharp: float) -> np.ndarray:
    z = RNG.normal(size=(N, 3)) * sharp
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


LABELS = RNG.integers(0, 3, size=N)
P_A = _probs(1.0)
P_B = _probs(1.0)
P_B[np.arange(N), LABELS] += 0.5  # B is better on every row
P_B /= P_B.sum(axis=1, keepdims=True)
DAY = np.array(["mon", "tue", "wed"])[RNG.integers(0, 3, size=N)]


def _table(p: np.ndarray, day: np.ndarray = DAY) -> pa.Table:
    cols = {c: p[:, j] for j, c in enumerate(CLASSES)}
    return pa.table({**cols, "label": LABELS, "day": day})


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_table(tmp_path / "a.parquet", _table(P_A)),
        write_table(tmp_path / "b.csv", _table(P_B)),
    )


def run(args: list[object]) -> Any:
    """The CLI, told the score columns (the files hold a text column, "day")."""
    return run_cli([*map(str, args), "--pred-cols", "cat,dog,eel"])


def run_json(args: list[object]) -> dict[str, Any]:
    return run_cli_json([*map(str, args), "--pred-cols", "cat,dog,eel"])


def _loss(p: np.ndarray, rows: np.ndarray | None = None) -> float:
    idx = range(N) if rows is None else np.flatnonzero(rows)
    terms = [-math.log(p[i, LABELS[i]]) for i in idx]
    return math.fsum(terms) / len(terms)


# -- --check -------------------------------------------------------------------------------


def test_checks_name_figures_of_the_comparison(pair: tuple[Path, Path]) -> None:
    a, b = pair
    la, lb = _loss(P_A), _loss(P_B)
    passing = [
        f"b.loss<={lb + 1e-9}",
        f"a.loss>={la - 1e-9}",
        f"delta.loss<={lb - la + 1e-9}",
        "difference.ci.high<0",
        "b.per_class.cat.loss_mean<100",
        "delta.metrics.accuracy>=0",
        "difference.n==240",
    ]
    args = ["compare", a, b, "--group-by", "day"]
    for c in passing:
        args += ["--check", c]
    res = run(args)
    assert res.exit_code == 0, res.stderr
    assert res.stderr == ""
    assert "by day" in res.stdout


def test_a_failed_check_exits_1_and_still_reports(pair: tuple[Path, Path]) -> None:
    a, b = pair
    lb = _loss(P_B)
    res = run(["compare", a, b, "--check", f"b.loss<{lb - 1e-6}", "--format", "json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["b"]["loss"] == pytest.approx(lb, rel=1e-12)
    (line,) = res.stderr.splitlines()
    assert line.startswith("xent: gate failed: b.loss is ")


def test_check_with_max_increase_both_fail(pair: tuple[Path, Path]) -> None:
    a, b = pair  # B better than A: compare B -> A, so A is the candidate and regressed
    res = run(["compare", b, a, "--max-increase", "0", "--check", "delta.loss<0"])
    assert res.exit_code == 1
    assert len(res.stderr.splitlines()) == 2
    assert "--max-increase" in res.stderr and "delta.loss is" in res.stderr


@pytest.mark.parametrize(
    ("check", "said"),
    [
        ("loss<=1", "the report has no figure 'loss'; figures: a.NAME or b.NAME"),
        ("b.per_class.cow.loss_mean<1", "no class 'cow'"),
        ("difference.significant==1", "'difference.significant' is not a number"),
        ("b.loss <= x", "expected NAME OP NUMBER"),
    ],
)
def test_bad_checks_are_one_line_exit_2(pair: tuple[Path, Path], check: str, said: str) -> None:
    a, b = pair
    res = run(["compare", a, b, "--check", check])
    assert res.exit_code == 2
    assert res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line.startswith("xent: error: --check") and said in line
    assert "Traceback" not in res.stderr


# -- --group-by ----------------------------------------------------------------------------


def test_group_by_gives_each_slice_its_paired_difference(pair: tuple[Path, Path]) -> None:
    a, b = pair
    out = run_json(["compare", a, b, "--group-by", "day", "--seed", "3"])
    assert [g["group"] for g in out["groups"]] == [{"day": d} for d in ("mon", "tue", "wed")]
    for g in out["groups"]:
        rows = DAY == g["group"]["day"]
        la, lb = _loss(P_A, rows), _loss(P_B, rows)
        assert g["difference"]["n"] == int(rows.sum())
        assert g["a"]["loss"] == pytest.approx(la, rel=1e-12)
        assert g["b"]["loss"] == pytest.approx(lb, rel=1e-12)
        assert g["difference"]["loss_mean"] == pytest.approx(lb - la, rel=1e-9)
        assert g["delta"]["loss"] == pytest.approx(lb - la, rel=1e-9)
        ci = g["difference"]["ci"]
        assert ci["low"] <= ci["high"] < 0  # B is better on every row
        assert g["difference"]["significant"] is True
    # the slices' sums are the whole: their row-weighted differences add up
    total = sum(g["difference"]["loss_mean"] * g["difference"]["n"] for g in out["groups"])
    assert total / N == pytest.approx(out["difference"]["loss_mean"], rel=1e-9)
    # slicing does not change the totals
    plain = run_json(["compare", a, b, "--seed", "3"])
    assert plain["difference"] == out["difference"]
    assert "groups" not in plain


@pytest.mark.parametrize("fmt", ["markdown", "csv", "table"])
def test_group_by_in_every_format(pair: tuple[Path, Path], fmt: str) -> None:
    a, b = pair
    res = run(["compare", a, b, "--group-by", "day", "--format", fmt])
    assert res.exit_code == 0, res.stderr
    for day in ("mon", "tue", "wed"):
        assert day in res.stdout
    if fmt == "csv":
        assert "day=tue: paired difference" in res.stdout


def test_group_by_column_must_agree_row_by_row(tmp_path: Path) -> None:
    a = write_table(tmp_path / "a.parquet", _table(P_A))
    shifted = DAY.copy()
    shifted[17] = "sun"
    b = write_table(tmp_path / "b.parquet", _table(P_B, shifted))
    res = run(["compare", a, b, "--group-by", "day"])
    assert res.exit_code == 2 and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert "disagree on the --group-by day of row 18" in line and "sun" in line


def test_group_by_column_missing_from_b(tmp_path: Path) -> None:
    a = write_table(tmp_path / "a.parquet", _table(P_A))
    b = write_table(tmp_path / "b.parquet", _table(P_B).drop_columns(["day"]))
    res = run(["compare", a, b, "--group-by", "day"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "--group-by 'day': no such column in" in res.stderr
    assert len(res.stderr.splitlines()) == 1


# -- --quiet and --output ------------------------------------------------------------------


def test_quiet_keeps_the_report(pair: tuple[Path, Path]) -> None:
    a, b = pair
    loud = run(["compare", a, b, "--format", "json"])
    quiet = run(["compare", a, b, "--format", "json", "--quiet"])
    assert quiet.exit_code == loud.exit_code == 0
    assert quiet.stdout == loud.stdout and quiet.stderr == ""
    assert run(["compare", a, b, "-q", "--check", "b.loss<0"]).exit_code == 1


def test_compare_writes_every_output_even_on_a_failed_gate(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = pair
    j, m, c = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.csv"
    res = run(["compare", a, b, "--output", j, "--output", m, "--output", c, "--check", "b.loss<0"])
    assert res.exit_code == 1
    assert res.stdout == ""
    assert json.loads(j.read_text())["b"]["loss"] == pytest.approx(_loss(P_B), rel=1e-12)
    assert m.read_text().startswith("### xent compare:")
    assert c.read_text().startswith("figure,A,B,B - A\n")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_compare_output_and_stdout(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    j = tmp_path / "r.json"
    res = run(["compare", a, b, "--output", j, "--output", "-", "--format", "markdown"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("### xent compare:")
    assert "difference" in json.loads(j.read_text())


# -- compute: --output, repeatable ---------------------------------------------------------


def test_compute_json_and_markdown_in_one_run(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    j, m = tmp_path / "report.json", tmp_path / "summary.md"
    res = run(["compute", a, "--output", j, "--output", m, "--max-loss", "0.001"])
    assert res.exit_code == 1  # the gate failed; both files are there
    assert res.stdout == ""
    assert json.loads(j.read_text())["loss"] == pytest.approx(_loss(P_A), rel=1e-12)
    assert m.read_text().startswith("### xent:")
    assert "above --max-loss" in res.stderr


def test_compute_output_dash_prints_in_format(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    j = tmp_path / "report.json"
    res = run(["compute", a, "--output", j, "--output", "-", "--format", "csv"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith("scope,")
    assert json.loads(j.read_text())["n"] == N


def test_a_path_without_a_telling_extension_takes_format(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = pair
    summary = tmp_path / "step_summary_1234"
    res = run(["compute", a, "--output", summary, "--format", "markdown"])
    assert res.exit_code == 0, res.stderr
    assert summary.read_text().startswith("### xent:")
    old = tmp_path / "report.txt"  # as before: --format decides, table by default
    assert run(["compute", a, "--output", old]).exit_code == 0
    assert "rows counted (n)" in old.read_text()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--format", "json", "--output", "{d}/r.md"], "--format json: no report is written in it"),
        (["--output", "{d}/r.json", "--output", "{d}/r.json"], "the same file as --output"),
        (["--output", "-", "--output", "-"], "--output -: given twice"),
        (["--output", "{d}/r.json", "--output", "{d}/nowhere/r.md"], "does not exist"),
        (["--allow-missing-baseline"], "--allow-missing-baseline goes with --baseline"),
        (["--baseline", "{d}/prev.json"], "pass --allow-missing-baseline"),
    ],
)
@pytest.mark.parametrize("command", ["compute", "compare"])
def test_output_errors_are_one_line_and_write_nothing(
    pair: tuple[Path, Path], tmp_path: Path, args: list[str], said: str, command: str
) -> None:
    a, b = pair
    if command == "compare" and any("baseline" in x for x in args):
        pytest.skip("compare has no --baseline")
    given = [x.format(d=tmp_path) for x in args]
    inputs = [a] if command == "compute" else [a, b]
    res = run([command, *inputs, *given])
    assert res.exit_code == 2
    assert res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line.startswith("xent: error: ") and said in line
    assert not (tmp_path / "r.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- --allow-missing-baseline --------------------------------------------------------------


def test_a_missing_baseline_allowed_is_a_note(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    prev, report = tmp_path / "kept" / "prev.json", tmp_path / "report.json"
    args = ["compute", a, "--baseline", prev, "--allow-missing-baseline", "--max-increase", "0"]
    res = run([*args, "--output", report])
    assert res.exit_code == 0, res.stderr
    (line,) = res.stderr.splitlines()
    assert line.startswith("xent: note: --baseline ") and "no deltas" in line
    first = json.loads(report.read_text())
    assert "baseline" not in first
    assert first["loss"] == pytest.approx(_loss(P_A), rel=1e-12)
    quiet = run([*args, "--quiet", "--format", "json"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["loss"] == first["loss"]
    # once the file is there, the option changes nothing: deltas and the gate are back
    prev.parent.mkdir()
    prev.write_text(report.read_text())
    again = run([*args, "--format", "json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["baseline"]["delta"]["loss"] == 0
    better = run(["compute", tmp_path / "b.csv", *args[2:], "--format", "json"])
    assert better.exit_code == 0, better.stderr
    delta = json.loads(better.stdout)["baseline"]["delta"]["loss"]
    assert delta == pytest.approx(_loss(P_B) - _loss(P_A), rel=1e-9)


def test_an_unreadable_baseline_is_still_an_error(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    broken = tmp_path / "prev.json"
    broken.write_text("{not json")
    res = run(["compute", a, "--baseline", broken, "--allow-missing-baseline"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "not JSON" in res.stderr
