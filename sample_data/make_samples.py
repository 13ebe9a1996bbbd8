"""Regenerate the sample prediction files in ``sample_data/``.

Every file holds a simple scikit-learn model's predictions on the held-out half of a
dataset that ships inside scikit-learn (nothing is downloaded). The files are small
examples for trying ``xent`` and for the README; they are not tests.

Files (run each command from the repository root):

``iris_probs.csv``
    Multiclass probabilities of a LogisticRegression on the iris test split. Columns:
    ``flower_id`` (string id "fNNN", NNN = row index in ``load_iris``), ``setosa``,
    ``versicolor``, ``virginica`` (float64 probabilities, rows sum to 1) and ``label``
    (the true class *name*, matched to the column names).
    ``xent compute sample_data/iris_probs.csv --id-col flower_id``

``digits_logits.parquet``
    Ten-class logits (``decision_function``) of a LogisticRegression on the digits test
    split: float32 columns ``0``..``9`` and ``label`` (int64), row groups of 256 rows.
    ``xent compute sample_data/digits_logits.parquet --logits``

``breast_cancer_binary.csv``
    Binary: ``p_malignant`` = P(malignant) from a standardized LogisticRegression on the
    breast-cancer test split, and ``label`` (1 = malignant, 0 = benign; note that
    scikit-learn's own target encodes malignant as 0, so it is flipped here).
    ``xent compute sample_data/breast_cancer_binary.csv``

``multilabel.parquet``
    Multi-label (5 labels) from ``make_multilabel_classification(random_state=0)``:
    float64 probability columns ``sports,politics,tech,science,health`` (one
    LogisticRegression per label) and int64 0/1 targets ``y_sports``..``y_health``.
    ``xent compute sample_data/multilabel.parquet --target-cols 'y_*'``

``wine_soft.csv``
    Soft targets (knowledge distillation): ``t_class_0..t_class_2`` are a teacher's
    probabilities (a RandomForest, 200 trees, blended 90/10 with the uniform
    distribution so no target is exactly 0), ``class_0..class_2`` are the predictions
    of a small student (a strongly regularized LogisticRegression on 3 features).
    Every row of both groups sums to 1.
    ``xent compute sample_data/wine_soft.csv --target-cols 't_*'``

``cancer_logreg.csv`` / ``cancer_boosting.csv``
    A pair for ``xent compare``: two models' predictions on the same rows, the
    breast-cancer test split of ``breast_cancer_binary.csv`` (same split, rows in
    ``load_breast_cancer`` order). A is the standardized LogisticRegression (the same
    probabilities as ``breast_cancer_binary.csv``), B a HistGradientBoostingClassifier
    (``random_state=0``), a candidate that scores worse. Columns, alike in both files:
    ``patient_id`` ("pNNN", NNN = row index in ``load_breast_cancer``), ``size``
    (``small`` / ``medium`` / ``large``: mean radius below 12, below 15, or 15 and above),
    ``p_malignant`` (P(malignant), float64) and ``label`` (1 = malignant).
    ``xent compare sample_data/cancer_logreg.csv sample_data/cancer_boosting.csv
    --id-col patient_id --group-by size``

``digits_probs.npy`` / ``digits_labels.npy``
    The same digits model and test split as ``digits_logits.parquet``, as probabilities
    (``predict_proba``, 2-D float32, rows sum to 1) and labels (1-D int64). Its loss
    matches the Parquet file's up to float32 rounding.
    ``xent compute sample_data/digits_probs.npy --labels sample_data/digits_labels.npy``

Regenerate (byte-identical output for the same numpy / scikit-learn / pyarrow versions)::

    pip install -e '.[data]'          # scikit-learn is only needed here, never by xent
    python sample_data/make_samples.py

Determinism: every split and model has a fixed ``random_state``; CSV floats are written
with ``repr`` (shortest round-trip form), ``\\n`` line endings; Parquet is written from a
plain Arrow table (no pandas metadata) with zstd level 3, dictionary encoding off,
no statistics and fixed 256-row row groups.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_multilabel_classification,
)
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = Path(__file__).resolve().parent
SEED = 0
ROW_GROUP = 256


def write_csv(path: Path, header: list[str], columns: list[list[object]]) -> None:
    """Write columns as CSV with a header; floats via repr (round-trips exactly)."""

    def fmt(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        if isinstance(v, (np.integer,)):
            return str(int(v))
        return str(v)

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in zip(*columns, strict=True):
            w.writerow([fmt(v) for v in row])


def write_parquet(path: Path, table: pa.Table) -> None:
    pq.write_table(
        table,
        path,
        row_group_size=ROW_GROUP,
        compression="zstd",
        compression_level=3,
        use_dictionary=False,
        write_statistics=False,
        version="2.6",
        data_page_version="1.0",
    )


def check_rows_sum_to_one(name: str, p: np.ndarray, tol: float = 1e-6) -> None:
    s = p.astype(np.float64).sum(axis=1)
    worst = float(np.max(np.abs(s - 1.0)))
    assert worst <= tol, f"{name}: a row sums to 1 {worst:+.3g} off"
    assert np.all(p >= 0) and np.all(p <= 1), f"{name}: probability outside [0, 1]"


def iris() -> None:
    ds = load_iris()
    idx = np.arange(len(ds.target))
    i_tr, i_te = train_test_split(idx, test_size=0.5, stratify=ds.target, random_state=SEED)
    i_te = np.sort(i_te)
    model = LogisticRegression(max_iter=1000, random_state=SEED)
    model.fit(ds.data[i_tr], ds.target[i_tr])
    proba = model.predict_proba(ds.data[i_te])  # columns in model.classes_ order = 0, 1, 2
    check_rows_sum_to_one("iris", proba)
    names = [str(n) for n in ds.target_names]  # setosa, versicolor, virginica
    write_csv(
        OUT / "iris_probs.csv",
        ["flower_id", *names, "label"],
        [
            [f"f{i:03d}" for i in i_te],
            *[list(proba[:, c]) for c in range(3)],
            [names[y] for y in ds.target[i_te]],
        ],
    )


def digits() -> None:
    ds = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        ds.data, ds.target, test_size=0.5, stratify=ds.target, random_state=SEED
    )
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=SEED)
    )
    model.fit(x_tr, y_tr)
    logits = model.decision_function(x_te).astype(np.float32)
    labels = y_te.astype(np.int64)
    table = pa.table(
        {
            **{str(c): pa.array(logits[:, c], type=pa.float32()) for c in range(10)},
            "label": pa.array(labels, type=pa.int64()),
        }
    )
    write_parquet(OUT / "digits_logits.parquet", table)

    probs = model.predict_proba(x_te).astype(np.float32)
    check_rows_sum_to_one("digits_probs", probs)
    np.save(OUT / "digits_probs.npy", np.ascontiguousarray(probs), allow_pickle=False)
    np.save(OUT / "digits_labels.npy", np.ascontiguousarray(labels), allow_pickle=False)


def breast_cancer() -> None:
    ds = load_breast_cancer()
    y = (ds.target == 0).astype(np.int64)  # sklearn: 0 = malignant; here 1 = malignant
    x_tr, x_te, y_tr, y_te = train_test_split(
        ds.data, y, test_size=0.5, stratify=y, random_state=SEED
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    model.fit(x_tr, y_tr)
    assert list(model.classes_) == [0, 1]
    p = model.predict_proba(x_te)[:, 1]
    write_csv(
        OUT / "breast_cancer_binary.csv",
        ["p_malignant", "label"],
        [list(p), [int(v) for v in y_te]],
    )


def size_of(mean_radius: float) -> str:
    return "small" if mean_radius < 12 else "medium" if mean_radius < 15 else "large"


def breast_cancer_pair() -> None:
    ds = load_breast_cancer()
    y = (ds.target == 0).astype(np.int64)  # 1 = malignant, as in breast_cancer_binary.csv
    idx = np.arange(len(y))
    i_tr, i_te = train_test_split(idx, test_size=0.5, stratify=y, random_state=SEED)
    i_te = np.sort(i_te)
    models = {
        "cancer_logreg.csv": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED)
        ),
        "cancer_boosting.csv": HistGradientBoostingClassifier(random_state=SEED),
    }
    ids = [f"p{i:03d}" for i in i_te]
    sizes = [size_of(float(r)) for r in ds.data[i_te, 0]]  # feature 0: mean radius
    for name, model in models.items():
        model.fit(ds.data[i_tr], y[i_tr])
        assert list(model.classes_) == [0, 1]
        p = model.predict_proba(ds.data[i_te])[:, 1]
        write_csv(
            OUT / name,
            ["patient_id", "size", "p_malignant", "label"],
            [ids, sizes, list(p), [int(v) for v in y[i_te]]],
        )


def multilabel() -> None:
    names = ["sports", "politics", "tech", "science", "health"]
    x, y = make_multilabel_classification(
        n_samples=1000, n_features=20, n_classes=5, n_labels=2, random_state=SEED
    )
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, random_state=SEED)
    cols: dict[str, pa.Array] = {}
    probs = []
    for c in range(5):
        model = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED)
        )
        model.fit(x_tr, y_tr[:, c])
        probs.append(model.predict_proba(x_te)[:, 1])
    for c, name in enumerate(names):
        cols[name] = pa.array(probs[c], type=pa.float64())
    for c, name in enumerate(names):
        cols[f"y_{name}"] = pa.array(y_te[:, c].astype(np.int64), type=pa.int64())
    write_parquet(OUT / "multilabel.parquet", pa.table(cols))


def wine() -> None:
    ds = load_wine()
    x_tr, x_te, y_tr, _y_te = train_test_split(
        ds.data, ds.target, test_size=0.5, stratify=ds.target, random_state=SEED
    )
    teacher = RandomForestClassifier(n_estimators=200, random_state=SEED, n_jobs=1)
    teacher.fit(x_tr, y_tr)
    t = 0.9 * teacher.predict_proba(x_te) + 0.1 / 3
    t = t / t.sum(axis=1, keepdims=True)
    check_rows_sum_to_one("wine targets", t, tol=1e-12)

    feats = [0, 6, 9]  # alcohol, flavanoids, color_intensity: a deliberately small student
    student = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.05, max_iter=1000, random_state=SEED)
    )
    student.fit(x_tr[:, feats], y_tr)
    p = student.predict_proba(x_te[:, feats])
    check_rows_sum_to_one("wine preds", p, tol=1e-12)
    names = [f"class_{c}" for c in range(3)]
    write_csv(
        OUT / "wine_soft.csv",
        [*names, *[f"t_{n}" for n in names]],
        [*[list(p[:, c]) for c in range(3)], *[list(t[:, c]) for c in range(3)]],
    )


def main() -> None:
    iris()
    digits()
    breast_cancer()
    breast_cancer_pair()
    multilabel()
    wine()
    for f in sorted(OUT.iterdir()):
        if f.suffix in {".csv", ".parquet", ".npy"}:
            print(f"{f.stat().st_size:>8}  {f.relative_to(OUT.parent)}")


if __name__ == "__main__":
    main()
