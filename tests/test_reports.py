"""Reports people can read: each figure once, every column defined and in one number format,
the weights and the worst rows' numbering said, Markdown as complete as the table, --help
metavars, the --max-increase gate in its own form, and no number split at any width."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import run, run_json, softmax, wide_table, write_table
from xentcli.render.common import fmt_column

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
README = ROOT / "README.md"
RNG = np.random.default_rng(20261208)

# a number as the reports print it, not part of a word (f070, top-2, 1-based)
NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?:e[-+]\d+)?(?![\w.-])")


@pytest.fixture
def weighted_npz(tmp_path: Path) -> Path:
    """Large weights: sums in the millions beside means near 1, and an .npz weights array."""
    n = 500
    path = tmp_path / "w.npz"
    np.savez(
        path,
        scores=RNG.dirichlet([1, 1, 1], size=n),
        labels=RNG.integers(0, 3, n),
        weights=RNG.uniform(100, 9000, n),
    )
    return path


def _table(args: list[Any], width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("NO_COLOR", "1")
    res = run(["compute", *args])
    assert res.exit_code == 0, res.stderr
    return str(res.stdout)


def _same(token: str, value: float) -> bool:
    """Whether a printed number is ``value`` at the precision it is printed with."""
    t = token.rstrip("%")
    shown = float(t)
    if "e" in t:
        digits = len(t.split("e")[0].lstrip("-").replace(".", "").lstrip("0"))
        return math.isclose(shown, value, rel_tol=0.6 * 10 ** (1 - digits))
    decimals = len(t.split(".")[1]) if "." in t else 0
    if "e" not in t and "." not in t and abs(value) >= 1e6:
        return abs(shown - value) <= 0.5 + 1e-9 * abs(value)
    if "." not in t and not float(value).is_integer():  # 6 significant digits, no decimals
        return math.isclose(shown, value, rel_tol=5e-6)
    return abs(shown - value) <= 0.5 * 10**-decimals * (1 + 1e-9)


def _json_figures(out: dict[str, Any]) -> list[float]:
    """Every number of the report a person is shown."""
    figures = [out[k] for k in ("n", "weight_sum", "loss_sum", "loss_mean", "perplexity")]
    figures += [v for v in out["metrics"].values()]
    for row in out["per_class"]:
        figures += [row["support"], row["loss_sum"], row["loss_mean"], 100 * row["share"]]
    for w in out.get("worst", []):
        figures += [w["row"], w["loss"], w["p_true"]]
    return [float(v) for v in figures if v is not None]


RUNS = {
    "iris": [SAMPLES / "iris_probs.csv", "--id-col", "flower_id", "--worst", "3", "--top-k", "2"],
    "digits": [SAMPLES / "digits_logits.parquet", "--logits", "--worst", "3"],
    "binary": [SAMPLES / "breast_cancer_binary.csv", "--worst", "3"],
    "multilabel": [SAMPLES / "multilabel.parquet", "--target-cols", "y_*"],
    "soft": [SAMPLES / "wine_soft.csv", "--target-cols", "t_*", "--reduction", "sum"],
}


@pytest.mark.parametrize("width", [40, 60, 80])
@pytest.mark.parametrize("case", [*RUNS, "weighted_npz"])
def test_no_number_is_split_at_any_width(
    case: str, width: int, weighted_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(weighted_npz.parent)  # the weights note names the file: a short path
    args: list[Any] = RUNS[case] if case in RUNS else [weighted_npz.name, "--worst", "2"]
    narrow = _table(args, width, monkeypatch)
    wide = _table(args, 200, monkeypatch)
    assert all(len(line) <= width for line in narrow.splitlines()), narrow
    # a number folded across two lines would print as two other numbers
    assert sorted(NUMBER.findall(narrow)) == sorted(NUMBER.findall(wide)), narrow
    tokens = NUMBER.findall(narrow)
    out = run_json(["compute", *args])
    for value in _json_figures(out):
        assert any(_same(t, value) for t in tokens), (value, narrow)


def test_each_figure_once_and_json_keys_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    args = RUNS["iris"][:3]
    table = _table(args, 80, monkeypatch)
    assert "loss (mean)" not in table and table.count("loss = loss_mean") == 1
    figures = table.split("rows counted (n)")[1]
    out = run_json(["compute", *args])
    assert figures.count(f"{out['loss_mean']:.6g}") == 1
    assert {"loss", "loss_sum", "loss_mean", "weight_sum", "n"} <= set(out)
    md = run(["compute", *args, "--format", "markdown"]).stdout
    assert "| loss = loss_mean | 0.151272 |" in md and "\n| loss_mean |" not in md
    summed = _table([*args, "--reduction", "sum"], 80, monkeypatch)
    assert summed.count("loss = loss_sum") == 1 and "loss_mean" in summed


def test_a_legend_defines_every_column(weighted_npz: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _table(RUNS["iris"][:3], 200, monkeypatch)
    legend = "support: rows of the class; loss_sum: their summed loss; loss_mean: loss_sum/support"
    paragraph = table[table.index("\nsupport:") + 1 :].split("\n\n")[0]
    assert max(map(len, paragraph.splitlines())) <= 80  # a paragraph, in a pipe too
    line = " ".join(paragraph.splitlines())
    assert line.startswith(legend) and line.endswith("share: its part of the total loss_sum")
    md = run(["compute", *RUNS["iris"][:3], "--format", "markdown"]).stdout
    assert legend in md
    weighted = _table([weighted_npz], 200, monkeypatch)
    assert (
        "support: rows of the class (weighted); loss_sum: their summed loss (weighted)" in weighted
    )
    labels = " ".join(_table(RUNS["multilabel"], 200, monkeypatch).splitlines())
    assert "positives: rows where the label is 1;" in labels
    assert "loss_mean: loss_sum/weight_sum" in labels
    # the README says the same
    readme = README.read_text(encoding="utf-8")
    for words in ("`support`", "`loss_sum`", "`loss_mean`", "`share`", "weighted"):
        assert words in readme.split("## Output", 1)[1].split("\n## ", 1)[0]


def test_one_number_format_per_column() -> None:
    assert fmt_column([3587830.4, 178364.2]) == ["3587830", "178364"]
    assert fmt_column([1.07553, 5.96438, 11.3454]) == ["1.0755", "5.9644", "11.3454"]
    assert fmt_column([25, 25, 75]) == ["25", "25", "75"]
    assert fmt_column([0.5, 1e-12]) == ["5.00000e-01", "1.00000e-12"]
    assert fmt_column([0.000409879, 0.42]) == ["0.000410", "0.420000"]
    assert fmt_column([None, math.inf, 0.5]) == ["-", "inf", "0.500000"]
    assert fmt_column([math.nan]) == ["nan"]


def test_large_weighted_sums_read_in_one_format(
    weighted_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table([weighted_npz], 80, monkeypatch)
    per_class = table.split("share")[1].split("support:")[0]
    assert "e+" not in table
    rows = [line.split() for line in per_class.splitlines() if line.strip()[:1].isalnum()]
    for j in (1, 2, 3):  # support, loss_sum, loss_mean: one count of decimals per column
        assert len({len(r[j].split(".")[1]) if "." in r[j] else 0 for r in rows}) == 1, rows
    md = run(["compute", weighted_npz, "--format", "markdown"]).stdout
    assert "e+" not in md
    # CSV and JSON keep full precision
    csv_total = run(["compute", weighted_npz, "--format", "csv"]).stdout.splitlines()[-1]
    out = run_json(["compute", weighted_npz])
    assert repr(out["loss_sum"]) in csv_total


def test_npz_weights_are_named(weighted_npz: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    note = f"sample weights: the 'weights' array of {weighted_npz}, applied to every figure"
    assert note in _table([weighted_npz], 200, monkeypatch)
    md = run(["compute", weighted_npz, "--format", "markdown"]).stdout
    assert note.replace("_", "\\_") in md or note in md
    out = run_json(["compute", weighted_npz])
    assert out["sample_weights"] == {"source": str(weighted_npz), "array": "weights"}
    # without a weights array: no note, no key
    plain = weighted_npz.with_name("plain.npz")
    with np.load(weighted_npz) as z:
        np.savez(plain, scores=z["scores"], labels=z["labels"])
    assert "sample_weights" not in run_json(["compute", plain])
    assert "sample weights" not in _table([plain], 200, monkeypatch)


def test_weights_in_a_labels_npz_are_named(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", softmax(RNG.normal(size=(6, 3))))
    np.savez(tmp_path / "y.npz", labels=RNG.integers(0, 3, 6), weights=np.arange(1.0, 7.0))
    out = run_json(["compute", tmp_path / "p.npy", "--labels", tmp_path / "y.npz"])
    assert out["sample_weights"] == {"source": str(tmp_path / "y.npz"), "array": "weights"}
    assert out["weight_sum"] == 21


def test_worst_rows_are_1_based_as_in_the_per_sample_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row number counts the input's data rows from 1 (the header not counted), rows
    dropped by --ignore-index included: the row's line in the --per-sample file."""
    p = softmax(RNG.normal(size=(12, 3)) * 3)
    y = RNG.integers(0, 3, 12)
    y[0] = 2  # ignored: still row 1
    path = write_table(tmp_path / "p.csv", wide_table(p, y))
    args = [path, "--ignore-index", "2", "--worst", "3"]
    per_sample = tmp_path / "rows.csv"
    out = run_json(["compute", *args, "--per-sample", per_sample])
    lines = per_sample.read_text().splitlines()[1:]  # the header
    for w in out["worst"]:
        i = w["row"] - 1
        assert math.isclose(float(lines[i].split(",")[0]), w["loss"], rel_tol=1e-12)
        assert math.isclose(w["loss"], -math.log(p[i, y[i]]), rel_tol=1e-9)
    table = _table(args, 80, monkeypatch)
    assert "row (1-based)" in table
    md = run(["compute", *args, "--format", "markdown"]).stdout
    assert "| row (1-based) |" in md


def test_markdown_names_k_and_has_the_total_row() -> None:
    md = run(["compute", *RUNS["iris"], "--format", "markdown"]).stdout
    assert "| top-2 accuracy | 1 |" in md and "top-k" not in md
    out = run_json(["compute", *RUNS["iris"]])
    total = next(line for line in md.splitlines() if line.startswith("| **total** |"))
    cells = [c.strip() for c in total.strip("|").split("|")]
    assert cells[1] == "75" and _same(cells[2], out["loss_sum"])
    assert _same(cells[3], out["loss_mean"]) and cells[4] == "100.0%"
    table = run(["compute", *RUNS["iris"]]).stdout
    assert "top-2 accuracy" in table


@pytest.mark.parametrize("command", ["compute", "compare", "inspect", "explain"])
def test_help_metavars(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = run([command, "--help"]).stdout
    for noise in ("<str>", "<int>", "<float>", "TEXT", "INTEGER", "{"):
        assert noise not in text, (noise, text)
    usage = text.splitlines()[0]
    if command == "compute":
        assert usage == "Usage: xent compute [OPTIONS] PREDICTIONS"
        for option in ("--labels PATH", "--weight-col NAME", "--max-loss FLOAT", "--chunk-rows N"):
            assert option in text
        assert "--max-increase X|X%" in text and "--reduction mean|sum" in text
    if command == "compare":
        assert usage == "Usage: xent compare [OPTIONS] A B"


@pytest.fixture
def baseline(tmp_path: Path) -> tuple[Path, float]:
    """A baseline whose loss is 0.03 below this run's."""
    args = RUNS["iris"][:3]
    report = run_json(["compute", *args])
    report["loss"] -= 0.03
    report["loss_mean"] -= 0.03
    path = tmp_path / "prev.json"
    path.write_text(json.dumps(report))
    return path, report["loss"]


def test_absolute_max_increase_is_reported_as_an_absolute_rise(
    baseline: tuple[Path, float],
) -> None:
    path, _ = baseline
    args = [*RUNS["iris"][:3], "--baseline", path]
    res = run(["compute", *args, "--max-increase", "0.02"])
    assert res.exit_code == 1
    assert "loss rose by 0.03 nats" in res.stderr
    assert "above the allowed 0.02 nats (--max-increase 0.02)" in res.stderr
    assert "%" not in res.stderr
    assert "gate failed: loss rose by 0.03 nats" in res.stdout
    md = run(["compute", *args, "--max-increase", "0.02", "--format", "markdown"]).stdout
    assert "gate failed: loss rose by 0.03 nats" in md
    passed = run(["compute", *args, "--max-increase", "0.05"])
    assert passed.exit_code == 0
    assert "gate passed: loss rose by 0.03 nats" in passed.stdout
    assert "within the allowed 0.05 nats" in passed.stdout
    out = json.loads(run(["compute", *args, "--max-increase", "0.02", "--format", "json"]).stdout)
    assert out["baseline"]["verdict"].startswith("loss rose by 0.03 nats")


def test_relative_max_increase_is_reported_as_a_percentage(
    baseline: tuple[Path, float],
) -> None:
    path, old = baseline
    res = run(["compute", *RUNS["iris"][:3], "--baseline", path, "--max-increase", "2%"])
    assert res.exit_code == 1
    rise = 100 * 0.03 / old
    assert f"loss rose by {rise:.4g}%" in res.stderr
    assert "above the allowed 2% (--max-increase 2%)" in res.stderr


@pytest.mark.parametrize("width", [40, 60, 80])
def test_pictures_keep_their_numbers_on_narrow_terminals(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [SAMPLES / "breast_cancer_binary.csv", "--plot"]
    table = _table(args, width, monkeypatch)
    assert all(len(line) <= width for line in table.splitlines()), table
    lines = table.splitlines()
    out = run_json(["compute", *args])
    for b in out["calibration"]:
        want = [f"{b['lo']:.2f}-{b['hi']:.2f}", f"{b['confidence']:.3f}", f"{b['accuracy']:.3f}"]
        assert any(all(w in line.split() for w in want) for line in lines), (want, table)
    for h in out["loss_histogram"]:
        if h["rows"]:
            want = [f"{h['lo']:.3g}", str(h["rows"])]
            assert any(line.split()[:1] == want[:1] and want[1] in line.split() for line in lines)


def test_the_legend_of_soft_targets_says_target_mass(monkeypatch: pytest.MonkeyPatch) -> None:
    table = " ".join(
        _table([SAMPLES / "wine_soft.csv", "--target-cols", "t_*"], 80, monkeypatch).splitlines()
    )
    assert "support: the class's target mass (its rows, for one-hot targets);" in table


def test_html_has_the_legend_and_the_total_row() -> None:
    from xentcli import compute

    report = compute(SAMPLES / "iris_probs.csv", id_col="flower_id")
    html = report._repr_html_()
    assert "support: rows of the class;" in html and ">total</td>" in html
