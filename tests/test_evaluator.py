"""xent explain, xent inspect, --worst and --plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests import reference as ref
from tests.helpers import run, run_json, softmax, wide_table, write_table

RNG = np.random.default_rng(5)


# -- explain ----------------------------------------------------------------------------------


def explain_json(*args: str) -> dict:
    res = run(["explain", *args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def test_explain_textbook_row() -> None:
    out = explain_json("--probs", "0.7,0.2,0.1", "--label", "0")
    assert out["loss"] == pytest.approx(0.356675, abs=5e-7)
    assert out["loss"] == pytest.approx(-math.log(0.7), rel=1e-15)
    assert out["cross_entropy"] == out["loss"]
    assert out["surprisal"] == pytest.approx([-math.log(0.7), -math.log(0.2), -math.log(0.1)])
    h = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    assert out["entropy"] == pytest.approx(h, rel=1e-15)
    assert out["kl"] == pytest.approx(-math.log(0.7), rel=1e-15)  # H(y) = 0 for a label
    assert out["gradient"] == pytest.approx([-0.3, 0.2, 0.1], abs=1e-15)
    assert out["target"] == [1.0, 0.0, 0.0]


def test_explain_logits_soft_target_bits() -> None:
    z = [2.0, 1.0, 0.1]
    y = [0.9, 0.05, 0.05]
    out = explain_json("--logits", "2.0,1.0,0.1", "--target", "0.9,0.05,0.05", "--base", "2")
    logp = ref.log_softmax_row(z)
    p = [math.exp(v) for v in logp]
    assert out["probs"] == pytest.approx(p, rel=1e-15)
    cross = -sum(a * b for a, b in zip(y, logp, strict=True)) / math.log(2)
    hy = -sum(a * math.log(a) for a in y) / math.log(2)
    assert out["cross_entropy"] == pytest.approx(cross, rel=1e-14)
    assert out["target_entropy"] == pytest.approx(hy, rel=1e-14)
    assert out["kl"] == pytest.approx(cross - hy, rel=1e-12)
    assert out["gradient"] == pytest.approx([a - b for a, b in zip(p, y, strict=True)])
    assert out["unit"] == "bits" and out["logits"] == z


def test_explain_binary_single_logit() -> None:
    out = explain_json("--logits", "1.5", "--label", "1")
    p = 1 / (1 + math.exp(-1.5))
    assert out["probs"] == pytest.approx([1 - p, p])
    assert out["loss"] == pytest.approx(ref.bce(1.5, 1.0, logits=True), rel=1e-14)
    assert out["gradient"][1] == pytest.approx(p - 1)


@pytest.mark.parametrize(
    "z, label",
    [
        ([1000.0, 0.0, -1000.0], 2),
        ([0.0, -740.0], 1),
        ([0.0, 745.0], 0),
        ([2.0, -38.0], 1),
        ([40.0], 0),
        ([30.0], 0),
        ([-37.0], 1),
        ([800.0], 0),
    ],
)
def test_explain_far_apart_logits(z: list[float], label: int) -> None:
    """Logits far apart: every figure from log p, as compute gets it (exponentiating first
    gave p = 0 and an infinite loss, or lost digits: 36.04 for a logit of 36)."""
    out = explain_json("--logits", ",".join(map(str, z)), "--label", str(label))
    if len(z) == 1:
        logp = [-ref.bce(z[0], 0.0, logits=True), -ref.bce(z[0], 1.0, logits=True)]
    else:
        logp = ref.log_softmax_row(z)
    assert out["loss"] == pytest.approx(-logp[label], rel=1e-14)
    assert out["surprisal"] == pytest.approx([-v for v in logp], rel=1e-14)
    assert out["cross_entropy"] == out["kl"] == out["loss"]
    assert math.copysign(1.0, min(out["surprisal"])) == 1.0  # 0.0, never -0.0


def test_explain_table_reads_like_a_worked_example() -> None:
    res = run(
        ["explain", "--probs", "0.7,0.2,0.1", "--label", "1", "--class-names", "cat,dog,fish"]
    )
    assert res.exit_code == 0
    assert "-ln 0.2 = 1.60944 nats" in res.stdout
    assert "KL(y || p)" in res.stdout and "p - y" in res.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--probs", "0.7,0.2", "--label", "0"], "sums to 0.9"),
        (["--probs", "1.7,-0.7", "--label", "0"], "[0, 1]"),
        (["--probs", "0.5,0.5", "--label", "2"], "out of range"),
        (["--probs", "0.5,0.5", "--label", "cow"], "not a class index or name"),
        (["--probs", "0.5,0.5"], "--label or --target"),
        (["--probs", "0.5,0.5", "--logits", "1,2", "--label", "0"], "--probs or --logits"),
        (["--probs", "0.5,0.5", "--target", "0.2,0.2,0.6"], "3 values for 2 classes"),
        (["--probs", "a,b", "--label", "0"], "expected numbers"),
    ],
)
def test_explain_errors(args: list[str], needle: str) -> None:
    res = run(["explain", *args])
    assert res.exit_code == 2 and res.stdout == ""
    assert needle in res.stderr


# -- --worst ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", ["1", "7", "1000"])
def test_worst_rows_match_a_full_sort(tmp_path: Path, chunk: str) -> None:
    n, c = 97, 4
    z = RNG.normal(size=(n, c)) * 3
    y = RNG.integers(0, c, n)
    z[10] = z[20]  # an exact tie in loss: the earlier row comes first
    y[10] = y[20]
    ids = [f"r{i}" for i in range(n)]
    path = write_table(tmp_path / "w.parquet", wide_table(z, y, rid=ids))
    out = run_json(
        ["compute", path, "--logits", "--id-col", "rid", "--worst", "12", "--chunk-rows", chunk]
    )
    losses = [ref.ce_row_label(list(z[i]), int(y[i]), logits=True) for i in range(n)]
    want = sorted(range(n), key=lambda i: (-losses[i], i))[:12]
    assert [w["row"] for w in out["worst"]] == [i + 1 for i in want]
    for w, i in zip(out["worst"], want, strict=True):
        assert w["id"] == ids[i]
        assert w["loss"] == pytest.approx(losses[i], rel=1e-12)
        assert w["y_true"] == f"c{y[i]}" and w["y_pred"] == f"c{int(np.argmax(z[i]))}"
        assert w["p_true"] == pytest.approx(math.exp(-losses[i]), rel=1e-12)


def test_worst_skips_ignored_rows_and_handles_multilabel(tmp_path: Path) -> None:
    p = softmax(RNG.normal(size=(30, 3)))
    y = RNG.integers(0, 3, 30)
    y[[0, 5]] = -100
    path = write_table(tmp_path / "i.csv", wide_table(p, y))
    out = run_json(["compute", path, "--ignore-index", "-100", "--worst", "40"])
    assert len(out["worst"]) == 28 and {1, 6}.isdisjoint(w["row"] for w in out["worst"])
    pm = RNG.uniform(0.05, 0.95, (20, 3))
    tm = RNG.integers(0, 2, (20, 3))
    cols = {f"l{j}": pm[:, j] for j in range(3)} | {f"y{j}": tm[:, j] for j in range(3)}
    mpath = write_table(tmp_path / "m.parquet", pa.table(cols))
    out = run_json(
        ["compute", mpath, "--target-cols", "y*", "--task", "multilabel", "--worst", "3"]
    )
    top = out["worst"][0]
    i = top["row"] - 1
    assert top["y_true"] == "|".join(f"l{j}" for j in range(3) if tm[i, j])
    want = max(
        range(20),
        key=lambda r: sum(
            ref.bce(pm[r, j], tm[r, j], logits=False, eps=2.220446049250313e-16) for j in range(3)
        ),
    )
    assert i == want


def test_worst_in_table_and_markdown(tmp_path: Path) -> None:
    path = write_table(
        tmp_path / "t.csv", wide_table(softmax(RNG.normal(size=(9, 3))), RNG.integers(0, 3, 9))
    )
    table = run(["compute", path, "--worst", "2"])
    assert "worst 2 rows" in table.stdout and "p(true)" in table.stdout
    md = run(["compute", path, "--worst", "2", "--format", "markdown"])
    assert "Worst 2 rows" in md.stdout


# -- --plot -----------------------------------------------------------------------------------


def test_plot_draws_within_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    p = softmax(RNG.normal(size=(200, 4)) * 2)
    y = RNG.integers(0, 4, 200)
    path = write_table(tmp_path / "p.parquet", wide_table(p, y))
    res = run(["compute", path, "--plot"])
    assert res.exit_code == 0
    assert "reliability" in res.stdout and "per-row loss" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    out = run_json(["compute", path, "--plot"])
    bins = out["calibration"]
    assert sum(b["weight"] for b in bins) == 200
    hist = out["loss_histogram"]
    assert sum(h["rows"] for h in hist) == 200
    losses = [-math.log(p[i, y[i]]) for i in range(200)]
    for h in hist:
        hi = math.inf if h["hi"] is None else h["hi"]
        assert h["rows"] == sum(1 for v in losses if h["lo"] <= v < hi)


# -- inspect ----------------------------------------------------------------------------------


def test_inspect_parquet_logits(tmp_path: Path) -> None:
    z = RNG.normal(size=(50, 3)) * 4
    y = np.array([0] * 10 + [1] * 15 + [2] * 25)
    path = write_table(tmp_path / "z.parquet", wide_table(z, y, names=["a", "b", "c"]))
    res = run(["inspect", path, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["rows"] == 50 and out["format"] == "parquet"
    assert out["task"] == "multiclass" and out["input"] == "logits"
    assert out["classes"] == ["a", "b", "c"]
    assert out["label_counts"] == {"a": 10, "b": 15, "c": 25}
    assert out["columns"][0] == {"name": "a", "type": "double"}
    assert out["command"].endswith("--logits")
    assert len(out["preview"]["rows"]) == 5
    # the suggested command runs as it is
    import shlex

    cmd = shlex.split(out["command"])
    assert run([*cmd[1:], "--format", "json"]).exit_code == 0


def test_inspect_probs_csv_and_renormalize_hint(tmp_path: Path) -> None:
    p = softmax(RNG.normal(size=(20, 3)))
    path = write_table(tmp_path / "p.csv", wide_table(p, RNG.integers(0, 3, 20)))
    out = json.loads(run(["inspect", path, "--format", "json"]).stdout)
    assert out["input"] == "probs" and "--logits" not in out["command"]
    raw = write_table(tmp_path / "r.csv", wide_table(p * 7, RNG.integers(0, 3, 20)))
    out = json.loads(run(["inspect", raw, "--format", "json"]).stdout)
    assert "--renormalize" in out["command"]
    table = run(["inspect", path])
    assert table.exit_code == 0 and "to compute the loss" in table.stdout


def test_inspect_npy_with_labels(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", softmax(RNG.normal(size=(12, 2))).astype(np.float32))
    np.save(tmp_path / "y.npy", np.array([0, 1] * 6))
    res = run(["inspect", tmp_path / "s.npy", "--labels", tmp_path / "y.npy", "--format", "json"])
    out = json.loads(res.stdout)
    assert out["rows"] == 12 and out["label_counts"] == {"0": 6, "1": 6}
    assert "--labels" in out["command"]


def test_inspect_errors(tmp_path: Path) -> None:
    res = run(["inspect", tmp_path / "nope.parquet"])
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_inspect_helps_before_the_flags_are_known(tmp_path: Path) -> None:
    """inspect is for files whose flags are not known yet: a text column is taken as the id,
    and a file that cannot be scored as it is still shows its columns and what to pass."""
    p = softmax(RNG.normal(size=(12, 3)))
    path = write_table(
        tmp_path / "p.csv", wide_table(p, RNG.integers(0, 3, 12), rid=[f"r{i}" for i in range(12)])
    )
    out = json.loads(run(["inspect", path, "--format", "json"]).stdout)
    assert out["command"].endswith("--id-col rid") and out["rows"] == 12
    bare = write_table(tmp_path / "q.csv", pa.table({"a": p[:, 0], "b": p[:, 1]}))
    res = run(["inspect", bare, "--format", "json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert [c["name"] for c in out["columns"]] == ["a", "b"] and out["command"] == ""
    assert out["rows"] is None  # a CSV's rows are not known without reading it
    assert "no label column" in out["notes"][0]
    table = run(["inspect", bare])
    assert "cannot score it as it is" in table.stdout


@pytest.mark.parametrize(
    ("names", "glob"),
    [
        (["sports", "politics", "y_sports", "y_politics"], "y_*"),
        (["class_0", "class_1", "class_2", "t_class_0", "t_class_1", "t_class_2"], "t_*"),
        (["cat", "dog", "cat_true", "dog_true"], "*_true"),
        (["a", "b", "c", "d"], None),
        (["p0", "p1", "t0", "t1"], None),  # no name is another's with an affix
        (["a", "aa"], None),  # 'a*' would take the score column too
        (["x", "y", "x_t", "y_t", "z"], None),  # z pairs with nothing
    ],
)
def test_target_columns_guessed_from_their_names(names: list[str], glob: str | None) -> None:
    from xentcli.io import guess_target_cols

    assert guess_target_cols(names) == glob


def test_inspect_tries_target_columns_named_after_the_scores(tmp_path: Path) -> None:
    """No label column, but y_a, y_b, y_c beside a, b, c: inspect reads them as the targets,
    the suggested command says so and runs; compute's error names the same guess."""
    p = softmax(RNG.normal(size=(12, 3)))
    t = np.eye(3)[RNG.integers(0, 3, 12)]
    cols = {n: p[:, j] for j, n in enumerate("abc")} | {
        f"y_{n}": t[:, j] for j, n in enumerate("abc")
    }
    path = write_table(tmp_path / "p.csv", pa.table(cols))
    out = json.loads(run(["inspect", path, "--format", "json"]).stdout)
    assert out["task"] == "multiclass" and out["score_columns"] == ["a", "b", "c"]
    assert out["command"].endswith("--target-cols 'y_*'")
    import shlex

    got = run_json(shlex.split(out["command"])[1:])
    y = t.argmax(axis=1)
    assert got["loss"] == pytest.approx(
        -sum(math.log(p[i, y[i]]) for i in range(12)) / 12, rel=1e-12
    )
    res = run(["compute", path])
    assert res.exit_code == 2 and "perhaps --target-cols 'y_*'" in res.stderr


def test_inspect_title_is_one_line(tmp_path: Path) -> None:
    long = tmp_path / ("a_rather_long_directory_name_" * 3) / "predictions_of_the_model.csv"
    long.parent.mkdir()
    write_table(long, wide_table(softmax(RNG.normal(size=(4, 2))), [0, 1, 1, 0]))
    first = run(["inspect", long]).stdout.splitlines()[0]
    assert first == f"xent inspect: {long}"


def test_inspect_counts_rows_it_cannot_score_when_the_file_says(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.full((9, 3), 1 / 3))
    out = json.loads(run(["inspect", tmp_path / "s.npy", "--format", "json"]).stdout)
    assert out["rows"] == 9 and out["command"] == "" and "--labels" in out["notes"][0]
    path = write_table(tmp_path / "p.parquet", pa.table({"a": [0.5] * 7, "b": [0.5] * 7}))
    assert json.loads(run(["inspect", path, "--format", "json"]).stdout)["rows"] == 7
