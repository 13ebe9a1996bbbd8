"""The CLI end to end: every option of `xent compute`, against the slow reference."""

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
from tests.helpers import run, run_json, softmax, wide_table, write_table

RNG = np.random.default_rng(11)
N, C = 41, 3
Z = RNG.normal(size=(N, C)) * 2
P = softmax(Z)
Y = RNG.integers(0, C, N)
W = RNG.uniform(0.1, 3.0, N)
NAMES = ["cat", "dog", "fish"]
EPS64 = float(np.finfo(np.float64).eps)


def ref_mean(rows: list[float], weights: list[float] | None = None) -> float:
    weights = weights or [1.0] * len(rows)
    return math.fsum(r * w for r, w in zip(rows, weights, strict=True)) / math.fsum(weights)


@pytest.fixture
def probs_csv(tmp_path: Path) -> Path:
    return write_table(
        tmp_path / "p.csv",
        wide_table(P, [NAMES[i] for i in Y], names=NAMES, w=W, row_id=[f"id{i}" for i in range(N)]),
    )


@pytest.fixture
def logits_parquet(tmp_path: Path) -> Path:
    return write_table(tmp_path / "z.parquet", wide_table(Z, Y))


def test_help_for_every_command() -> None:
    for args in (["--help"], ["compute", "--help"]):
        res = run(args)
        assert res.exit_code == 0
        assert "Usage" in res.stdout


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["compute", "x.csv", "--format", "yaml"], "Invalid value for '--format'"),
        (["compute", "x.csv", "--base", "3"], "Invalid value for '--base'"),
        (["compute", "x.csv", "--bogus"], "No such option: --bogus"),
        (["compute"], "Missing argument"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["explain", "--probs"], "requires an argument"),
    ],
)
def test_option_parsing_errors_are_one_line(argv: list[str], needle: str) -> None:
    res = run(argv)
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith("xent: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr


def test_version() -> None:
    res = run(["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("xent ")


def test_probs_with_class_names_and_weights(probs_csv: Path) -> None:
    out = run_json(["compute", probs_csv, "--id-col", "row_id", "--weight-col", "w"])
    rows = [ref.ce_row_label(list(P[i]), int(Y[i]), logits=False, eps=EPS64) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows, list(W)), rel=1e-12)
    assert out["weight_sum"] == pytest.approx(math.fsum(W), rel=1e-12)
    assert out["classes"] == NAMES
    assert out["n"] == N
    assert out["task"] == "multiclass" and out["input"] == "probs" and out["unit"] == "nats"
    # per-class rows: support = sum of weights of the class's rows, and they add up
    for k, row in enumerate(out["per_class"]):
        mask = Y == k
        assert row["class"] == NAMES[k]
        assert row["support"] == pytest.approx(W[mask].sum(), rel=1e-12)
        want = math.fsum(rows[i] * W[i] for i in np.flatnonzero(mask))
        assert row["loss_sum"] == pytest.approx(want, rel=1e-12)
        assert row["loss_mean"] == pytest.approx(want / W[mask].sum(), rel=1e-12)
    assert sum(r["loss_sum"] for r in out["per_class"]) == pytest.approx(out["loss_sum"])
    acc = math.fsum(W[i] for i in range(N) if P[i].argmax() == Y[i]) / math.fsum(W)
    assert out["metrics"]["accuracy"] == pytest.approx(acc, rel=1e-12)


@pytest.mark.parametrize("chunk", ["1", "7", "65536"])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_logits_any_chunk_and_threads(logits_parquet: Path, chunk: str, threads: str) -> None:
    out = run_json(
        ["compute", logits_parquet, "--logits", "--chunk-rows", chunk, "--threads", threads]
    )
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)
    assert out["perplexity"] == pytest.approx(math.exp(ref_mean(rows)), rel=1e-12)
    assert out["classes"] == ["c0", "c1", "c2"]


def test_reduction_sum_and_bases(logits_parquet: Path) -> None:
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    total = math.fsum(rows)
    out = run_json(["compute", logits_parquet, "--logits", "--reduction", "sum"])
    assert out["loss"] == pytest.approx(total, rel=1e-12)
    assert out["reduction"] == "sum"
    for base, unit, log in (("2", "bits", math.log(2)), ("10", "hartleys", math.log(10))):
        out = run_json(["compute", logits_parquet, "--logits", "--base", base])
        assert out["unit"] == unit
        assert out["loss"] == pytest.approx(total / N / log, rel=1e-12)
        # perplexity is base ** loss_mean, the same number in every base
        assert out["perplexity"] == pytest.approx(math.exp(total / N), rel=1e-12)


def test_class_weights_smoothing_ignore_index(tmp_path: Path) -> None:
    y = Y.copy()
    y[::5] = -100
    path = write_table(tmp_path / "z.parquet", wide_table(Z, y))
    w = [0.5, 2.0, 1.5]
    out = run_json(
        [
            "compute",
            path,
            "--logits",
            "--class-weights",
            "0.5,2,1.5",
            "--label-smoothing",
            "0.1",
            "--ignore-index",
            "-100",
            "--chunk-rows",
            "4",
        ]
    )
    keep = [i for i in range(N) if y[i] != -100]
    rows = [ref.ce_row_label(list(Z[i]), int(y[i]), logits=True, w=w, a=0.1) for i in keep]
    denom = math.fsum(w[y[i]] for i in keep)
    assert out["n"] == len(keep)
    assert out["weight_sum"] == pytest.approx(denom, rel=1e-12)
    assert out["loss"] == pytest.approx(math.fsum(rows) / denom, rel=1e-12)
    assert sum(r["loss_sum"] for r in out["per_class"]) == pytest.approx(out["loss_sum"])


def test_label_smoothing_one_is_the_uniform_target(tmp_path: Path) -> None:
    """torch's label_smoothing takes [0, 1]; at 1 the target is uniform, so a row's loss is
    the mean of -log p_c over the classes, weighted by class (it was refused)."""
    path = write_table(tmp_path / "z.parquet", wide_table(Z, Y))
    w = [0.5, 2.0, 1.5]
    out = run_json(
        ["compute", path, "--logits", "--class-weights", "0.5,2,1.5", "--label-smoothing", "1"]
    )
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True, w=w, a=1.0) for i in range(N)]
    assert out["loss"] == pytest.approx(math.fsum(rows) / math.fsum(w[y] for y in Y), rel=1e-12)


def test_soft_targets(tmp_path: Path) -> None:
    t = softmax(RNG.normal(size=(N, C)))
    cols = {f"s{j}": P[:, j] for j in range(C)} | {f"t{j}": t[:, j] for j in range(C)}
    path = write_table(tmp_path / "soft.csv", pa.table(cols))
    out = run_json(["compute", path, "--target-cols", "t*"])
    rows = [ref.ce_row_target(list(P[i]), list(t[i]), logits=False, eps=EPS64) for i in range(N)]
    assert out["task"] == "multiclass"
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)
    for k, row in enumerate(out["per_class"]):
        assert row["support"] == pytest.approx(t[:, k].sum(), rel=1e-12)
        want = math.fsum(-t[i, k] * math.log(P[i, k]) for i in range(N))
        assert row["loss_sum"] == pytest.approx(want, rel=1e-12)


def test_binary_probs_with_names_and_pos_weight(tmp_path: Path) -> None:
    p = RNG.uniform(0.01, 0.99, N)
    yb = RNG.integers(0, 2, N)
    path = write_table(
        tmp_path / "b.csv", pa.table({"p": p, "label": np.where(yb == 1, "spam", "ham")})
    )
    out = run_json(["compute", path, "--class-names", "ham,spam", "--pos-weight", "2"])
    rows = [ref.bce(p[i], yb[i], logits=False, eps=EPS64, pw=2.0) for i in range(N)]
    assert out["task"] == "binary"
    assert out["classes"] == ["ham", "spam"]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)
    for k, row in enumerate(out["per_class"]):
        idx = np.flatnonzero(yb == k)
        assert row["support"] == len(idx)
        assert row["loss_mean"] == pytest.approx(
            math.fsum(rows[i] for i in idx) / len(idx), rel=1e-12
        )
    acc = np.mean((p > 0.5) == (yb == 1))
    assert out["metrics"]["accuracy"] == pytest.approx(acc)


def test_binary_logits_smoothing(tmp_path: Path) -> None:
    z = RNG.normal(size=N) * 3
    yb = RNG.integers(0, 2, N)
    path = write_table(tmp_path / "b.parquet", pa.table({"z": z, "label": yb}))
    out = run_json(["compute", path, "--logits", "--label-smoothing", "0.2"])
    rows = [ref.bce(z[i], yb[i], logits=True, a=0.2) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)


@pytest.mark.parametrize("label_reduction", ["sum", "mean"])
def test_multilabel(tmp_path: Path, label_reduction: str) -> None:
    k = 4
    p = RNG.uniform(0.02, 0.98, (N, k))
    t = RNG.integers(0, 2, (N, k))
    t[0] = [1, 0, 0, 0]  # a first row summing to one must not make it multiclass by itself
    t[1] = [1, 1, 0, 0]
    cols = {f"l{j}": p[:, j] for j in range(k)} | {f"y{j}": t[:, j] for j in range(k)}
    path = write_table(tmp_path / "ml.parquet", pa.table(cols))
    out = run_json(
        [
            "compute",
            path,
            "--target-cols",
            "y*",
            "--label-reduction",
            label_reduction,
            "--pos-weight",
            "1,2,3,4",
        ]
    )
    pw = [1, 2, 3, 4]
    per = [
        [ref.bce(p[i, j], t[i, j], logits=False, eps=EPS64, pw=pw[j]) for j in range(k)]
        for i in range(N)
    ]
    div = k if label_reduction == "mean" else 1
    assert out["task"] == "multilabel"
    assert out["loss"] == pytest.approx(ref_mean([math.fsum(r) / div for r in per]), rel=1e-12)
    cols_total = math.fsum(per[i][j] for i in range(N) for j in range(k))
    for j, row in enumerate(out["per_class"]):
        col = math.fsum(per[i][j] for i in range(N))
        assert row["share"] == pytest.approx(col / cols_total, rel=1e-12)  # not x C under mean
        assert row["class"] == f"l{j}"
        assert row["support"] == t[:, j].sum()
        assert row["loss_sum"] == pytest.approx(col, rel=1e-12)
        assert row["loss_mean"] == pytest.approx(col / N, rel=1e-12)
    right = (p > 0.5) == (t == 1)
    assert out["metrics"]["accuracy"] == pytest.approx(right.mean())
    assert out["metrics"]["subset_accuracy"] == pytest.approx(right.all(axis=1).mean())


def test_task_auto_multilabel_later_chunk_contradiction(tmp_path: Path) -> None:
    p = RNG.uniform(0.1, 0.9, (20, 2))
    t = np.eye(2)[RNG.integers(0, 2, 20)]
    t[15] = [1, 1]
    cols = {"a": p[:, 0], "b": p[:, 1], "ya": t[:, 0], "yb": t[:, 1]}
    path = write_table(tmp_path / "t.parquet", pa.table(cols))
    res = run(["compute", path, "--target-cols", "ya,yb", "--chunk-rows", "10", "--renormalize"])
    assert res.exit_code == 2
    assert "row 16" in res.stderr and "--task multilabel" in res.stderr
    ok = run_json(["compute", path, "--target-cols", "ya,yb", "--task", "multilabel"])
    assert ok["task"] == "multilabel"


def test_clipping_and_clip_eps_zero(tmp_path: Path) -> None:
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    path = write_table(tmp_path / "c.csv", wide_table(p, [0, 0, 1]))
    out = run_json(["compute", path])
    assert out["clipped"] == 2
    want = ref_mean([-math.log(1 - EPS64), -math.log(EPS64), math.log(2)])
    assert out["loss"] == pytest.approx(want, rel=1e-12)
    out = run_json(["compute", path, "--clip-eps", "0"])
    assert out["loss"] is None and out["perplexity"] is None and out["clipped"] == 0
    out = run_json(["compute", path, "--clip-eps", "0.01"])
    assert out["loss"] == pytest.approx(
        ref_mean([-math.log(0.99), -math.log(0.01), math.log(2)]), rel=1e-12
    )


def test_renormalize_and_sum_tol(tmp_path: Path) -> None:
    raw = RNG.uniform(0.1, 5.0, (N, C))
    path = write_table(tmp_path / "r.csv", wide_table(raw, Y))
    res = run(["compute", path])
    assert res.exit_code == 2 and "--renormalize" in res.stderr and "--logits" in res.stderr
    out = run_json(["compute", path, "--renormalize"])
    p = raw / raw.sum(axis=1, keepdims=True)
    rows = [-math.log(p[i, Y[i]]) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)
    near = P * 1.002  # sums 1.002: outside the default tolerance, inside 0.01
    near_path = write_table(tmp_path / "n.csv", wide_table(near.clip(0, 1), Y))
    assert run(["compute", near_path]).exit_code == 2
    assert run(["compute", near_path, "--sum-tol", "0.01"]).exit_code == 0


def test_renormalize_is_refused_off_multiclass(tmp_path: Path) -> None:
    """A binary or multi-label score divided by its row sum would be p / p = 1: refused."""
    binary = tmp_path / "b.csv"
    binary.write_text("p,label\n0.9,1\n0.2,0\n0.4,1\n")
    multi = tmp_path / "m.csv"
    multi.write_text("a,b,ta,tb\n0.9,0.8,1,1\n0.2,0.1,0,0\n0.4,0.3,1,0\n")
    for args in ([binary], [multi, "--target-cols", "ta,tb"]):
        res = run(["compute", *args, "--renormalize"])
        assert res.exit_code == 2 and res.stdout == "", res.stderr
        assert res.stderr.count("\n") == 1 and "--renormalize" in res.stderr


def test_labels_file_and_label_col(tmp_path: Path) -> None:
    preds = write_table(tmp_path / "p.parquet", wide_table(Z))
    labels = write_table(tmp_path / "y.csv", pa.table({"truth": Y}))
    out = run_json(["compute", preds, "--labels", labels, "--logits"])
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)
    both = write_table(tmp_path / "y2.csv", pa.table({"a": Y, "truth": Y}))
    assert run(["compute", preds, "--labels", both, "--logits"]).exit_code == 2
    out = run_json(["compute", preds, "--labels", both, "--label-col", "truth", "--logits"])
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)


def test_pred_cols_selects_and_orders(tmp_path: Path) -> None:
    path = write_table(tmp_path / "p.csv", wide_table(P, Y, names=NAMES, extra=np.ones(N)))
    out = run_json(["compute", path, "--pred-cols", "cat,dog,fish"])
    rows = [-math.log(P[i, Y[i]]) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)
    bad = run(["compute", path])  # 'extra' is taken as a fourth score column: rows don't sum to 1
    assert bad.exit_code == 2


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_numpy_with_class_names(tmp_path: Path, kind: str) -> None:
    if kind == "npy":
        np.save(tmp_path / "s.npy", P.astype(np.float32))
        np.save(tmp_path / "y.npy", np.array(NAMES)[Y])
        args = [tmp_path / "s.npy", "--labels", tmp_path / "y.npy"]
    else:
        np.savez_compressed(tmp_path / "s.npz", scores=P.astype(np.float32), labels=Y)
        args = [tmp_path / "s.npz"]
    out = run_json(["compute", *args, "--class-names", ",".join(NAMES)])
    eps32 = float(np.finfo(np.float32).eps)
    p32 = P.astype(np.float32).astype(np.float64)
    rows = [-math.log(min(max(p32[i, Y[i]], eps32), 1 - eps32)) for i in range(N)]
    assert out["classes"] == NAMES
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)


@pytest.mark.parametrize("text", ["digits", "digits-named", "names", "bytes"])
def test_numpy_text_labels_read_as_csv_text_is(tmp_path: Path, text: str) -> None:
    """Labels saved as text in .npy mean what the same text means in a CSV column."""
    np.save(tmp_path / "z.npy", Z)
    labels = np.array(NAMES)[Y] if text == "names" else Y.astype(str)
    np.save(tmp_path / "y.npy", labels.astype("S") if text == "bytes" else labels)
    names = ["--class-names", ",".join(NAMES)] if text in ("names", "digits-named") else []
    out = run_json(
        ["compute", tmp_path / "z.npy", "--labels", tmp_path / "y.npy", "--logits", *names]
    )
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)


def test_numpy_true_false_binary_labels(tmp_path: Path) -> None:
    s = Z[:, 0]
    yb = Y % 2
    np.save(tmp_path / "s.npy", s)
    np.save(tmp_path / "y.npy", np.where(yb == 1, "True", "false"))
    out = run_json(
        [
            "compute",
            tmp_path / "s.npy",
            "--labels",
            tmp_path / "y.npy",
            "--task",
            "binary",
            "--logits",
        ]
    )
    rows = [ref.bce(float(s[i]), float(yb[i]), logits=True) for i in range(N)]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)


def test_input_format_names_the_input_nothing_else_tells(tmp_path: Path) -> None:
    """--input-format goes to the input whose format is not told otherwise: a file without a
    telling extension (.txt could be CSV or TSV), else stdin; with every extension telling, it
    overrides the predictions'. The other input keeps the format its extension names."""
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    expect = pytest.approx(ref_mean(rows), rel=1e-12)
    preds, labels = wide_table(Z), pa.table({"label": Y})
    stream = write_table(tmp_path / "z.arrows", preds).read_bytes()
    parquet = write_table(tmp_path / "z.parquet", preds)
    y_csv = write_table(tmp_path / "y.csv", labels)
    y_arrows = write_table(tmp_path / "y.arrows", labels).read_bytes()
    y_tsv_txt = write_table(tmp_path / "y.txt", labels, "tsv")
    unnamed = write_table(tmp_path / "y.labels", labels, "csv")
    cases = [  # (arguments, stdin)
        (["-", "--input-format", "arrow", "--labels", y_csv], stream),
        ([parquet, "--labels", "-", "--input-format", "arrow"], y_arrows),
        (
            [
                write_table(tmp_path / "z.bin", preds, "parquet"),
                "--input-format",
                "parquet",
                "--labels",
                "-",
            ],
            y_csv.read_bytes(),
        ),  # z.bin takes it; stdin stays CSV
        (
            [
                write_table(tmp_path / "z.tsv", preds),
                "--labels",
                y_tsv_txt,
                "--input-format",
                "tsv",
            ],
            None,
        ),
        (
            [
                write_table(tmp_path / "z.dat", preds, "csv"),
                "--input-format",
                "csv",
                "--labels",
                unnamed,
            ],
            None,
        ),
    ]
    for args, stdin in cases:
        out = run_json(["compute", *args, "--logits"], stdin=stdin)
        assert out["loss"] == expect, args
    res = run(["compute", "-", "--labels", "-", "--input-format", "arrow"], stdin=stream)
    assert res.exit_code == 2 and "cannot both come from stdin" in res.stderr


def test_stdin_csv_and_arrow(tmp_path: Path) -> None:
    table = wide_table(Z, Y)
    path = write_table(tmp_path / "z.csv", table)
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    out = run_json(["compute", "-", "--logits"], stdin=path.read_bytes())
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)
    stream = write_table(tmp_path / "z.arrows", table)
    out = run_json(
        ["compute", "-", "--logits", "--input-format", "arrow"], stdin=stream.read_bytes()
    )
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)


def test_input_format_override(tmp_path: Path) -> None:
    path = write_table(tmp_path / "z.data", wide_table(Z, Y), fmt="parquet")
    assert run(["compute", path, "--logits"]).exit_code == 2
    out = run_json(["compute", path, "--logits", "--input-format", "parquet"])
    assert out["n"] == N
    tsv = write_table(tmp_path / "z.txt", wide_table(Z, Y), fmt="tsv")
    assert run_json(["compute", tsv, "--logits", "--input-format", "tsv"])["n"] == N


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_per_sample(tmp_path: Path, probs_csv: Path, suffix: str) -> None:
    y = Y.copy()
    y[3] = -1
    path = write_table(
        tmp_path / "ps_in.csv", wide_table(P, y, names=NAMES, row_id=[f"id{i}" for i in range(N)])
    )
    target = tmp_path / f"rows.{suffix}"
    out = run_json(
        [
            "compute",
            path,
            "--id-col",
            "row_id",
            "--ignore-index",
            "-1",
            "--per-sample",
            target,
            "--base",
            "2",
            "--chunk-rows",
            "5",
        ]
    )
    table = pq.read_table(target) if suffix == "parquet" else pcsv.read_csv(target)
    assert table.column_names == ["row_id", "loss", "y_true", "y_pred"]
    assert table.num_rows == N
    assert table.column("row_id").to_pylist()[:2] == ["id0", "id1"]
    loss = table.column("loss").to_pylist()
    assert loss[3] is None and table.column("y_true")[3].as_py() in (None, "")
    for i in (0, 1, 2, 10, 40):
        assert loss[i] == pytest.approx(-math.log2(P[i, y[i]]), rel=1e-12)
        assert table.column("y_true")[i].as_py() == NAMES[y[i]]
        assert table.column("y_pred")[i].as_py() == NAMES[int(P[i].argmax())]
    assert math.fsum(v for v in loss if v is not None) == pytest.approx(out["loss_sum"])


def test_output_file_and_formats(tmp_path: Path, logits_parquet: Path) -> None:
    target = tmp_path / "report.json"
    res = run(["compute", logits_parquet, "--logits", "--format", "json", "--output", target])
    assert res.exit_code == 0 and res.stdout == ""
    assert json.loads(target.read_text())["n"] == N
    for fmt, marker in (
        ("csv", "scope,class"),
        ("markdown", "| figure | value |"),
        ("table", "loss_mean"),
    ):
        res = run(["compute", logits_parquet, "--logits", "--format", fmt])
        assert res.exit_code == 0 and marker in res.stdout


def test_max_loss_gate(logits_parquet: Path) -> None:
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    loss = ref_mean(rows)
    ok = run(
        ["compute", logits_parquet, "--logits", "--max-loss", str(loss + 0.01), "--format", "json"]
    )
    assert ok.exit_code == 0
    bad = run(
        ["compute", logits_parquet, "--logits", "--max-loss", str(loss - 0.01), "--format", "json"]
    )
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["loss"] == pytest.approx(loss)  # the report still prints
    assert "--max-loss" in bad.stderr
    # sum reduction: the gate reads `loss`, which is then the sum
    assert (
        run(
            [
                "compute",
                logits_parquet,
                "--logits",
                "--reduction",
                "sum",
                "--max-loss",
                str(loss + 0.01),
            ]
        ).exit_code
        == 1
    )


def test_table_respects_no_color(logits_parquet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    res = run(["compute", logits_parquet, "--logits"])
    assert res.exit_code == 0 and "\x1b[" not in res.stdout


def test_a_label_column_is_never_a_score_even_with_labels_elsewhere(tmp_path: Path) -> None:
    """--labels gives the truth; a 'label' column left in the predictions must not be read as
    one more class of logits (that would be a silently wrong number)."""
    preds = write_table(tmp_path / "p.parquet", wide_table(Z, Y))  # has a 'label' column
    labels = write_table(tmp_path / "y.csv", pa.table({"label": Y}))
    out = run_json(["compute", preds, "--labels", labels, "--logits"])
    rows = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
    assert out["classes"] == ["c0", "c1", "c2"]
    assert out["loss"] == pytest.approx(ref_mean(rows), rel=1e-12)


def test_classes_named_by_other_numbers_match_by_name(tmp_path: Path) -> None:
    """Columns "2,0,1": a label 0 is the class named "0" (the second column), read from a
    CSV's text and from Parquet's integers alike (once one read it by name, the other by
    position; then both were refused). Two names for one number stay refused."""
    csv = tmp_path / "perm.csv"
    csv.write_text("2,0,1,label\n0.7,0.2,0.1,0\n0.1,0.6,0.3,2\n")
    parquet = write_table(
        tmp_path / "perm.parquet",
        pa.table({"2": [0.7, 0.1], "0": [0.2, 0.6], "1": [0.1, 0.3], "label": [0, 2]}),
    )
    for path in (csv, parquet):
        out = run_json(["compute", path])
        assert out["loss"] == pytest.approx((-math.log(0.2) - math.log(0.1)) / 2, rel=1e-14)
    twice = tmp_path / "twice.csv"
    twice.write_text("1,01,label\n0.7,0.3,1\n")
    res = run(["compute", twice])
    assert res.exit_code == 2 and res.stdout == "" and "named by numbers" in res.stderr


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--threads", "-1"], "--threads -1"),
        (["--ci", "0.9", "--seed", "-1"], "--seed -1"),
        (["--ci", "0.9", "--replicates", "99999999999"], "--replicates"),
        (["--group-by", "g", "--group-by", "g"], "given twice"),
    ],
)
def test_bad_option_values_are_one_line_errors(
    tmp_path: Path, extra: list[str], needle: str
) -> None:
    path = tmp_path / "g.csv"
    path.write_text("a,b,g,label\n0.7,0.3,x,0\n0.4,0.6,y,1\n")
    res = run(["compute", path, *extra])
    assert res.exit_code == 2 and res.stdout == "", res.stderr
    assert res.stderr.startswith("xent: error: ") and res.stderr.count("\n") == 1
    assert needle in res.stderr


def test_no_per_sample_file_when_a_check_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n0.7,0.3,0\n0.4,0.6,1\n")
    rows = tmp_path / "rows.csv"
    res = run(["compute", path, "--check", "bogus<1", "--per-sample", rows])
    assert res.exit_code == 2 and "no figure 'bogus'" in res.stderr
    assert not rows.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_all_sample_weights_zero_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "zw.csv"
    path.write_text("a,b,label,w\n0.7,0.3,0,0\n0.4,0.6,0,0\n")
    res = run(["compute", path, "--weight-col", "w"])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "sample weight 0" in res.stderr


def test_with_targets_a_label_column_is_not_a_score(tmp_path: Path) -> None:
    path = tmp_path / "tl.csv"
    path.write_text("a,b,ta,tb,label\n0.7,0.3,1,0,0\n0.4,0.6,0,1,1\n")
    out = run_json(["compute", path, "--target-cols", "ta,tb"])
    assert out["classes"] == ["a", "b"]
    assert out["loss"] == pytest.approx((-math.log(0.7) - math.log(0.6)) / 2, rel=1e-14)


def test_a_true_false_column_is_not_taken_as_scores(tmp_path: Path) -> None:
    path = write_table(
        tmp_path / "f.parquet",
        pa.table({"a": [0.7, 0.4], "b": [0.3, 0.6], "flag": [False, False], "label": [0, 1]}),
    )
    res = run(["compute", path])
    assert res.exit_code == 2 and res.stdout == "" and "column 'flag'" in res.stderr
    out = run_json(["compute", path, "--pred-cols", "a,b"])
    assert out["loss"] == pytest.approx((-math.log(0.7) - math.log(0.6)) / 2, rel=1e-14)


def test_per_sample_id_column_named_like_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "idloss.csv"
    path.write_text("loss,a,b,label\nr1,0.7,0.3,0\nr2,0.4,0.6,0\n")
    res = run(["compute", path, "--id-col", "loss", "--per-sample", tmp_path / "rows.csv"])
    assert res.exit_code == 2 and "rename the id column" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idloss.csv"]


def test_max_loss_nan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n0.7,0.3,0\n")
    res = run(["compute", path, "--max-loss", "nan"])
    assert res.exit_code == 2 and "--max-loss nan" in res.stderr and res.stdout == ""


def test_a_missing_group_value_is_null_in_every_format(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("a,b,day,label\n0.7,0.3,mon,0\n0.4,0.6,,1\n")
    out = run_json(["compute", path, "--group-by", "day"])
    assert [g["group"]["day"] for g in out["groups"]] == ["mon", None]
    rows = run(["compute", path, "--group-by", "day", "--format", "csv"]).stdout
    assert "day=null" in rows and "None" not in rows


def test_class_weights_that_drop_every_row_are_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "cw.csv"
    path.write_text("a,b,label\n0.7,0.3,0\n0.4,0.6,0\n")
    res = run(["compute", path, "--class-weights", "0,1"])
    assert res.exit_code == 2 and res.stdout == "" and "--class-weights" in res.stderr
    out = run_json(["compute", path, "--class-weights", "1,0"])
    assert out["loss"] == pytest.approx((-math.log(0.7) - math.log(0.4)) / 2, rel=1e-14)


def test_markdown_cells_are_escaped(tmp_path: Path) -> None:
    """Names with Markdown's punctuation render as themselves in $GITHUB_STEP_SUMMARY: every
    row of a table has as many cells as its header (a raw | would add one, a line break end
    the row), and nothing turns bold or into HTML."""
    import re

    names = ["a|b", "__bg__", "<b>x</b>$"]
    p = softmax(RNG.normal(size=(6, 3)))
    path = write_table(
        tmp_path / "p.csv",
        wide_table(
            p,
            [names[i % 3] for i in range(6)],
            names=names,
            **{"seg|ment": ["x\ny", "z"] * 3, "row_id": [f"r{i}" for i in range(6)]},
        ),
    )
    res = run(
        [
            "compute",
            path,
            "--format",
            "markdown",
            "--group-by",
            "seg|ment",
            "--id-col",
            "row_id",
            "--worst",
            "2",
        ]
    )
    assert res.exit_code == 0, res.stderr
    cells = [len(re.findall(r"(?<!\\)\|", line)) for line in res.stdout.splitlines()]
    tables: list[list[int]] = [[]]
    for count in cells:
        if count:
            tables[-1].append(count)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) == 4 and all(len(set(t)) == 1 for t in tables), res.stdout
    assert r"a\|b" in res.stdout and r"\_\_bg\_\_" in res.stdout
    # a line break reads \n, as on the terminal (its backslash escaped for Markdown)
    assert r"\<b\>x\</b\>\$" in res.stdout and r"x\\ny" in res.stdout
