"""Files as people write them: what a column is, decided from what the file says about itself,
and advice that leads to the right number. Every expected figure comes from scikit-learn."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run

pd = pytest.importorskip("pandas")
sklearn_metrics = pytest.importorskip("sklearn.metrics")
from sklearn.datasets import load_iris, load_wine  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

log_loss = sklearn_metrics.log_loss
brier_score_loss = sklearn_metrics.brier_score_loss


def _model(shift: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index]:
    """(probabilities, true labels, classes_, test index) of a logistic regression on iris
    after a split (the index is not 0..n-1: what to_parquet then stores); labels shifted by
    ``shift`` (1..3 for a rating-like model)."""
    x, y = load_iris(return_X_y=True)
    y = y + shift
    frame = pd.DataFrame(x)
    xtr, xte, ytr, yte = train_test_split(frame, y, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(xtr, ytr)
    return model.predict_proba(xte), yte, model.classes_, xte.index


def _json(args: list[str]) -> dict:
    res = run(["compute", *args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _advice(stderr: str, flag: str) -> list[str]:
    """The words a message suggests for ``flag`` (``--pred-cols 'a,b'`` -> [flag, 'a,b'])."""
    words = shlex.split(stderr.replace(";", " ").replace(":", " "))
    at = words.index(flag)
    return [flag, words[at + 1].rstrip(",")]


def test_pandas_index_in_parquet_is_the_id_not_a_class(tmp_path: Path) -> None:
    """to_parquet after a split stores the index as __index_level_0__: it was scored as a
    class. It is the default id now: the per-sample file names it 'index'."""
    p, y, classes, index = _model()
    df = pd.DataFrame(p, columns=[str(c) for c in classes], index=index)
    df["label"] = y
    path = tmp_path / "preds.parquet"
    df.to_parquet(path)
    per = tmp_path / "per.csv"
    out = _json([str(path), "--per-sample", str(per)])
    assert out["classes"] == ["0", "1", "2"]
    assert out["loss"] == pytest.approx(log_loss(y, p), rel=1e-12)
    written = pd.read_csv(per)
    assert list(written["index"]) == list(index)
    # the same with the score columns chosen: the index is still the default id
    _json([str(path), "--pred-cols", "0,1,2", "--per-sample", str(per)])
    assert list(pd.read_csv(per)["index"]) == list(index)
    # inspect: the index is not a class, and its command gives the same number
    res = run(["inspect", str(path), "--format", "json"])
    assert res.exit_code == 0, res.stderr
    seen = json.loads(res.stdout)
    assert seen["classes"] == ["0", "1", "2"]
    cmd = shlex.split(seen["command"])
    assert cmd[:2] == ["xent", "compute"]
    assert _json(cmd[2:])["loss"] == pytest.approx(log_loss(y, p), rel=1e-12)


def test_named_pandas_index_is_the_id(tmp_path: Path) -> None:
    p, y, _classes, index = _model()
    df = pd.DataFrame(p, columns=["setosa", "versicolor", "virginica"], index=index)
    df.index.name = "flower"
    df["label"] = y
    path = tmp_path / "preds.parquet"
    df.to_parquet(path)
    out = _json([str(path), "--worst", "2"])
    assert out["loss"] == pytest.approx(log_loss(y, p), rel=1e-12)
    per = tmp_path / "per.parquet"
    _json([str(path), "--per-sample", str(per)])
    assert list(pd.read_parquet(per)["flower"]) == list(index)


def test_to_csv_index_is_the_id_and_labels_written_with_their_index_are_read(
    tmp_path: Path,
) -> None:
    p, y, _classes, index = _model()
    preds = tmp_path / "preds.csv"
    pd.DataFrame(p, columns=["a", "b", "c"], index=index).to_csv(preds)
    for name, series in [
        ("named", pd.Series(y, index=index, name="label")),
        ("unnamed", pd.Series(y, index=index)),  # header ",0"
    ]:
        labels = tmp_path / f"y_{name}.csv"
        series.to_csv(labels)
        out = _json([str(preds), "--labels", str(labels)])
        assert out["loss"] == pytest.approx(log_loss(y, p), rel=1e-12), name


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".feather"])
def test_an_integer_column_is_refused_and_the_advice_gives_sklearns_number(
    tmp_path: Path, suffix: str
) -> None:
    """A 'year' kept beside the predictions was scored as a class; the old advice
    (--renormalize) then gave a loss of thousands with exit 0."""
    p, y, _classes, _ = _model()
    df = pd.DataFrame(p, columns=["p0", "p1", "p2"])
    df["year"] = 2024
    df["label"] = y
    path = tmp_path / f"preds{suffix}"
    {".parquet": df.to_parquet, ".feather": df.to_feather}.get(
        suffix, lambda f: df.to_csv(f, index=False)
    )(path)
    res = run(["compute", str(path)])
    assert res.exit_code == 2 and res.stdout == "" and res.stderr.count("\n") == 1
    assert "'year' (whole numbers, int64)" in res.stderr
    want = log_loss(y, p)
    assert _json([str(path), *_advice(res.stderr, "--pred-cols")])["loss"] == pytest.approx(
        want, rel=1e-12
    )
    assert _json([str(path), *_advice(res.stderr, "--id-col")])["loss"] == pytest.approx(
        want, rel=1e-12
    )
    # and inspect's command, followed, gives the same number
    seen = json.loads(run(["inspect", str(path), "--format", "json"]).stdout)
    assert "year" not in seen["classes"]
    assert _json(shlex.split(seen["command"])[2:])["loss"] == pytest.approx(want, rel=1e-12)


def test_a_float_feature_beside_probabilities_gets_pred_cols_advice(tmp_path: Path) -> None:
    """A float column (a feature) cannot be told from a score by its type; the other columns
    summing to 1 on every row tells it. The advice was --logits or --renormalize (wrong)."""
    p, y, _classes, _ = _model()
    df = pd.DataFrame(p, columns=["p0", "p1", "p2"])
    df.insert(1, "petal_cm", np.linspace(0.2, 2.5, len(df)))  # inside [0, 1] at first
    df["label"] = y
    path = tmp_path / "preds.csv"
    df.to_csv(path, index=False)
    res = run(["compute", str(path)])
    assert res.exit_code == 2 and "'petal_cm'" in res.stderr
    assert "--logits" not in res.stderr and "--renormalize" not in res.stderr
    advice = _advice(res.stderr, "--pred-cols")
    assert _json([str(path), *advice])["loss"] == pytest.approx(log_loss(y, p), rel=1e-12)
    seen = json.loads(run(["inspect", str(path), "--format", "json"]).stdout)
    assert "--renormalize" not in seen["command"]
    assert _json(shlex.split(seen["command"])[2:])["loss"] == pytest.approx(
        log_loss(y, p), rel=1e-12
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_classes_named_by_numbers_match_labels_by_name(tmp_path: Path, suffix: str) -> None:
    """A model whose classes_ are 1..3: the columns are named "1","2","3" and the labels
    are 1..3. They could not be scored with any flags."""
    p, y, classes, _ = _model(shift=1)
    assert list(classes) == [1, 2, 3]
    df = pd.DataFrame(p, columns=[str(c) for c in classes])
    df["label"] = y
    path = tmp_path / f"preds{suffix}"
    df.to_parquet(path) if suffix == ".parquet" else df.to_csv(path, index=False)
    out = _json([str(path), "--top-k", "2"])
    assert out["loss"] == pytest.approx(log_loss(y, p, labels=classes), rel=1e-12)
    assert out["metrics"]["accuracy"] == pytest.approx(
        np.mean(classes[p.argmax(axis=1)] == y), rel=1e-12
    )
    assert out["metrics"]["top_k_accuracy"] == pytest.approx(
        sklearn_metrics.top_k_accuracy_score(y, p, k=2, labels=classes), rel=1e-12
    )
    # a label that names no class is an error naming its row
    df.loc[3, "label"] = 0
    df.to_parquet(path) if suffix == ".parquet" else df.to_csv(path, index=False)
    res = run(["compute", str(path)])
    assert res.exit_code == 2 and "row 4" in res.stderr and "label 0 is not a class" in res.stderr


def test_permuted_number_names_follow_the_names(tmp_path: Path) -> None:
    """Columns "2","0","1": a label 0 is the class named "0" (the second column)."""
    p, y, _classes, _ = _model()
    order = [2, 0, 1]
    df = pd.DataFrame(p[:, order], columns=[str(c) for c in order])
    df["label"] = y
    path = tmp_path / "preds.parquet"
    df.to_parquet(path)
    assert _json([str(path)])["loss"] == pytest.approx(log_loss(y, p), rel=1e-12)


def test_class_names_as_numbers_for_arrays_and_ignore_index(tmp_path: Path) -> None:
    p, y, classes, _ = _model(shift=1)
    np.save(tmp_path / "p.npy", p)
    y_ignored = y.copy()
    y_ignored[:5] = -100
    np.save(tmp_path / "y.npy", y_ignored)
    out = _json(
        [
            *[str(tmp_path / "p.npy"), "--labels", str(tmp_path / "y.npy")],
            *["--class-names", "1,2,3", "--ignore-index", "-100"],
        ]
    )
    assert out["n"] == len(y) - 5
    assert out["loss"] == pytest.approx(log_loss(y[5:], p[5:], labels=classes), rel=1e-12)


def test_binary_two_columns_follow_sklearn_brier_and_labels_1_2(tmp_path: Path) -> None:
    """A binary model's (n, 2) predict_proba, classes_ [1, 2]: log loss and Brier as
    scikit-learn's (brier_score_loss halves two columns: scale_by_half="auto")."""
    x, y01 = load_wine(return_X_y=True)
    keep = y01 < 2
    x, y = x[keep], y01[keep] + 1
    model = LogisticRegression(max_iter=5000).fit(x[::2], y[::2])
    p = model.predict_proba(x[1::2])
    yt = y[1::2]
    df = pd.DataFrame(p, columns=[str(c) for c in model.classes_])
    df["label"] = yt
    path = tmp_path / "preds.parquet"
    df.to_parquet(path)
    out = _json([str(path)])
    assert out["loss"] == pytest.approx(log_loss(yt, p), rel=1e-12)
    assert out["metrics"]["brier"] == pytest.approx(brier_score_loss(yt, p), rel=1e-12)
    # the same model as one column of P(positive): the same two figures
    one = pd.DataFrame({"p": p[:, 1], "label": yt})
    one_path = tmp_path / "one.csv"
    one.to_csv(one_path, index=False)
    out1 = _json([str(one_path), "--class-names", "1,2"])
    assert out1["loss"] == pytest.approx(log_loss(yt, p[:, 1], labels=[1, 2]), rel=1e-12)
    assert out1["metrics"]["brier"] == pytest.approx(
        brier_score_loss(yt, p[:, 1], pos_label=2), rel=1e-12
    )
    assert out1["metrics"]["brier"] == pytest.approx(out["metrics"]["brier"], rel=1e-12)


def test_binary_labels_minus_one_and_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 50)
    y = np.where(rng.uniform(size=50) < p, 1, -1)
    path = tmp_path / "preds.csv"
    pd.DataFrame({"p": p, "label": y}).to_csv(path, index=False)
    for how in (["--class-names", "-1,1"], ["--class-names=-1,1"]):
        out = _json([str(path), *how])
        assert out["loss"] == pytest.approx(log_loss(y, p, labels=[-1, 1]), rel=1e-12)
        assert out["metrics"]["brier"] == pytest.approx(
            brier_score_loss(y, p, pos_label=1), rel=1e-12
        )
