"""Every file in sample_data/ end to end, against scikit-learn or the slow reference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tests import reference as ref
from tests.helpers import run, run_json

DATA = Path(__file__).parent.parent / "sample_data"
EPS64 = float(np.finfo(np.float64).eps)


def test_iris_probs_by_name() -> None:
    t = pcsv.read_csv(DATA / "iris_probs.csv")
    names = ["setosa", "versicolor", "virginica"]
    p = np.column_stack([t.column(n).to_numpy() for n in names])
    y = [names.index(v) for v in t.column("label").to_pylist()]
    out = run_json(["compute", DATA / "iris_probs.csv", "--id-col", "flower_id"])
    rows = [ref.ce_row_label(list(p[i]), y[i], logits=False, eps=EPS64) for i in range(len(y))]
    assert out["loss"] == pytest.approx(math.fsum(rows) / len(rows), rel=1e-12)
    assert out["classes"] == names


def test_digits_logits_parquet() -> None:
    t = pq.read_table(DATA / "digits_logits.parquet")
    z = np.column_stack([t.column(str(k)).to_numpy().astype(np.float64) for k in range(10)])
    y = t.column("label").to_numpy()
    out = run_json(["compute", DATA / "digits_logits.parquet", "--logits"])
    rows = [ref.ce_row_label(list(z[i]), int(y[i]), logits=True) for i in range(len(y))]
    assert out["loss"] == pytest.approx(math.fsum(rows) / len(rows), rel=1e-12)


def test_digits_npy_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    p = np.load(DATA / "digits_probs.npy")
    y = np.load(DATA / "digits_labels.npy")
    out = run_json(["compute", DATA / "digits_probs.npy", "--labels", DATA / "digits_labels.npy"])
    assert out["loss"] == pytest.approx(metrics.log_loss(y, p, labels=range(10)), rel=1e-6)
    assert out["metrics"]["accuracy"] == pytest.approx(metrics.accuracy_score(y, p.argmax(1)))


def test_breast_cancer_binary_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    t = pcsv.read_csv(DATA / "breast_cancer_binary.csv")
    p, y = t.column("p_malignant").to_numpy(), t.column("label").to_numpy()
    out = run_json(["compute", DATA / "breast_cancer_binary.csv"])
    assert out["task"] == "binary"
    assert out["loss"] == pytest.approx(metrics.log_loss(y, p), rel=1e-12)
    assert out["clipped"] == int(((p < EPS64) | (p > 1 - EPS64)).sum())


def test_multilabel_parquet() -> None:
    t = pq.read_table(DATA / "multilabel.parquet")
    labels = [c for c in t.column_names if not c.startswith("y_")]
    out = run_json(["compute", DATA / "multilabel.parquet", "--target-cols", "y_*"])
    assert out["task"] == "multilabel" and out["classes"] == labels
    total = 0.0
    for name in labels:
        p, y = t.column(name).to_numpy(), t.column(f"y_{name}").to_numpy()
        total += math.fsum(ref.bce(p[i], y[i], logits=False, eps=EPS64) for i in range(len(p)))
    assert out["loss"] == pytest.approx(total / t.num_rows, rel=1e-12)


def test_wine_soft_targets() -> None:
    t = pcsv.read_csv(DATA / "wine_soft.csv")
    cls = [f"class_{k}" for k in range(3)]
    p = np.column_stack([t.column(c).to_numpy() for c in cls])
    q = np.column_stack([t.column(f"t_{c}").to_numpy() for c in cls])
    out = run_json(["compute", DATA / "wine_soft.csv", "--target-cols", "t_*"])
    rows = [
        ref.ce_row_target(list(p[i]), list(q[i]), logits=False, eps=EPS64) for i in range(len(p))
    ]
    assert out["loss"] == pytest.approx(math.fsum(rows) / len(rows), rel=1e-12)


def _cancer(name: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    t = pcsv.read_csv(DATA / name)
    return (
        t.column("p_malignant").to_numpy(),
        t.column("label").to_numpy(),
        t.column("size").to_pylist(),
        t.column("patient_id").to_pylist(),
    )


def test_compare_pair_matches_sklearn() -> None:
    """xent compare on the sample pair: each model's loss is scikit-learn's log_loss, the
    paired difference and delta are B - A of those, and so per --group-by slice."""
    metrics = pytest.importorskip("sklearn.metrics")
    p_a, y, size, ids = _cancer("cancer_logreg.csv")
    p_b, y_b, size_b, ids_b = _cancer("cancer_boosting.csv")
    assert (y == y_b).all() and size == size_b and ids == ids_b  # the same rows
    out = run_json(
        [
            "compare",
            DATA / "cancer_logreg.csv",
            DATA / "cancer_boosting.csv",
            "--id-col",
            "patient_id",
            "--group-by",
            "size",
        ]
    )
    loss_a, loss_b = metrics.log_loss(y, p_a), metrics.log_loss(y, p_b)
    assert out["a"]["loss"] == pytest.approx(loss_a, rel=1e-12)
    assert out["b"]["loss"] == pytest.approx(loss_b, rel=1e-12)
    assert out["difference"]["loss_mean"] == pytest.approx(loss_b - loss_a, rel=1e-9)
    assert out["delta"]["loss"] == pytest.approx(loss_b - loss_a, rel=1e-9)
    assert out["difference"]["n"] == len(y) == 285
    acc_b = metrics.accuracy_score(y, p_b > 0.5)
    assert out["delta"]["metrics.accuracy"] == pytest.approx(
        acc_b - metrics.accuracy_score(y, p_a > 0.5), abs=1e-12
    )
    ci = out["difference"]["ci"]
    assert ci["low"] < loss_b - loss_a < ci["high"]
    sizes = np.array(size)
    assert [g["group"] for g in out["groups"]] == [{"size": s} for s in sorted(set(size))]
    for g in out["groups"]:
        m = sizes == g["group"]["size"]
        la = metrics.log_loss(y[m], p_a[m], labels=[0, 1])
        lb = metrics.log_loss(y[m], p_b[m], labels=[0, 1])
        assert g["difference"]["n"] == int(m.sum())
        assert g["a"]["loss"] == pytest.approx(la, rel=1e-12)
        assert g["b"]["loss"] == pytest.approx(lb, rel=1e-12)
        assert g["difference"]["loss_mean"] == pytest.approx(lb - la, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_every_sample_renders(fmt: str) -> None:
    for args in (
        [DATA / "iris_probs.csv", "--id-col", "flower_id"],
        [DATA / "digits_logits.parquet", "--logits"],
        [DATA / "multilabel.parquet", "--target-cols", "y_*"],
    ):
        res = run(["compute", *args, "--format", fmt])
        assert res.exit_code == 0, res.stderr
        assert res.stdout.strip()
