"""xent's numbers against the anchor libraries named in SPEC.md ("The math", "Per-class table").

Every expected value here comes from scikit-learn, torch, or a slow ``math.log`` loop written in
this file -- never from xent's own kernels. Inputs are random (seeded), written to a temporary
Parquet or CSV file, and scored through ``xentcli.evaluate.evaluate`` (plus a few runs through the
CLI's JSON output). Chunk sizes 1, 7 and the default show that chunking does not change a number.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from xentcli.config import Base, LabelReduction, LossConfig, ReadConfig, Reduction, Task
from xentcli.evaluate import evaluate

REL64 = 1e-12
REL32 = 1e-6
CHUNKS = [1, 7, None]  # None: ReadConfig's default chunk size
N = 157  # prime: no chunk size divides it
K = 5
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


# --------------------------------------------------------------------------------------------
# helpers: data, files, running xent
# --------------------------------------------------------------------------------------------


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from the test's parameters (stable across runs and processes)."""
    seed = sum((i + 1) * ord(ch) for i, ch in enumerate(repr(key)))
    return np.random.default_rng(seed)


def probs(rng: np.random.Generator, n: int = N, k: int = K, alpha: float = 1.5) -> np.ndarray:
    return rng.dirichlet(np.full(k, alpha), size=n)


def logits(rng: np.random.Generator, n: int = N, k: int = K, scale: float = 2.0) -> np.ndarray:
    return rng.normal(size=(n, k)) * scale + rng.normal(size=(1, k))


def labels(rng: np.random.Generator, n: int = N, k: int = K) -> np.ndarray:
    y = rng.integers(0, k, size=n)
    y[:k] = np.arange(k)  # every class present
    return y.astype(np.int64)


def wide(m: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{j}": np.ascontiguousarray(m[:, j]) for j in range(m.shape[1])}


def write(tmp_path, cols: dict[str, np.ndarray], fmt: str = "parquet"):
    table = pa.table({name: pa.array(v) for name, v in cols.items()})
    path = tmp_path / f"data.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "csv":
        pacsv.write_csv(table, path)
    else:  # pragma: no cover
        raise ValueError(fmt)
    return path


def run(
    path,
    *,
    chunk_rows: int | None = None,
    label_col: str = "label",
    target_cols: str | None = None,
    weight_col: str | None = None,
    **loss,
):
    read_kw = {} if chunk_rows is None else {"chunk_rows": chunk_rows}
    read = ReadConfig(
        predictions=str(path),
        label_col=label_col,
        target_cols=target_cols,
        weight_col=weight_col,
        **read_kw,
    )
    return evaluate(read, LossConfig(**loss))


def approx(x: float, rel: float = REL64):
    return pytest.approx(x, rel=rel, abs=0.0)


def per_class(res) -> dict[str, object]:
    return {row.name: row for row in res.per_class}


def check_totals(
    res, *, loss_sum: float, weight_sum: float, n: int, rel: float = REL64, reduction: str = "mean"
) -> None:
    """loss_sum and weight_sum from the anchor; loss_mean and loss follow by the SPEC's rule."""
    assert res.n == n
    assert res.weight_sum == approx(weight_sum, rel)
    assert res.loss_sum == approx(loss_sum, rel)
    assert res.loss_mean == approx(loss_sum / weight_sum, rel)
    assert res.loss == approx(loss_sum if reduction == "sum" else loss_sum / weight_sum, rel)


# --------------------------------------------------------------------------------------------
# scikit-learn log_loss (probability inputs, sample weights, clipping)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_multiclass_mean_and_sum(tmp_path, chunk_rows, fmt):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("mc", chunk_rows, fmt)
    p, y = probs(rng), labels(rng)
    path = write(tmp_path, {**wide(p, "c"), "label": y}, fmt)
    mean = metrics.log_loss(y, p, labels=list(range(K)))
    total = metrics.log_loss(y, p, labels=list(range(K)), normalize=False)

    res = run(path, chunk_rows=chunk_rows)
    assert res.task == "multiclass"
    assert res.input == "probs"
    assert res.loss == approx(mean)
    check_totals(res, loss_sum=total, weight_sum=N, n=N)

    res = run(path, chunk_rows=chunk_rows, reduction=Reduction.sum)
    assert res.loss == approx(total)
    check_totals(res, loss_sum=total, weight_sum=N, n=N, reduction="sum")


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_sample_weight(tmp_path, chunk_rows):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("sw", chunk_rows)
    p, y = probs(rng), labels(rng)
    w = rng.uniform(0.0, 3.0, size=N)
    w[3] = 0.0
    path = write(tmp_path, {**wide(p, "c"), "label": y, "w": w})
    mean = metrics.log_loss(y, p, labels=list(range(K)), sample_weight=w)
    total = metrics.log_loss(y, p, labels=list(range(K)), sample_weight=w, normalize=False)

    res = run(path, chunk_rows=chunk_rows, weight_col="w")
    assert res.loss == approx(mean)
    check_totals(res, loss_sum=total, weight_sum=float(w.sum()), n=N)

    res = run(path, chunk_rows=chunk_rows, weight_col="w", reduction=Reduction.sum)
    assert res.loss == approx(total)


def test_sklearn_string_labels(tmp_path):
    """Class-name labels matched to the score column names (sklearn orders labels by name)."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("names")
    names = ["ant", "bee", "cat", "dog"]
    p, yi = probs(rng, k=4), labels(rng, k=4)
    y = np.array(names, dtype=object)[yi]
    path = write(tmp_path, {**{nm: p[:, j] for j, nm in enumerate(names)}, "label": y})
    res = run(path, chunk_rows=7)
    assert res.classes == tuple(names)
    assert res.loss == approx(metrics.log_loss(list(y), p, labels=names))


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_one_hot_target_columns(tmp_path, chunk_rows):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("onehot", chunk_rows)
    p, y = probs(rng), labels(rng)
    t = np.eye(K)[y]
    path = write(tmp_path, {**wide(p, "c"), **wide(t, "t")})
    res = run(path, chunk_rows=chunk_rows, target_cols="t*")
    assert res.task == "multiclass"
    total = metrics.log_loss(t, p, normalize=False)
    check_totals(res, loss_sum=total, weight_sum=N, n=N)
    assert res.loss == approx(metrics.log_loss(t, p))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_binary_one_column(tmp_path, chunk_rows, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("bin", chunk_rows, weighted)
    p = rng.uniform(0.01, 0.99, size=N)
    y = (rng.uniform(size=N) < p).astype(np.int64)
    w = rng.uniform(0.1, 2.0, size=N) if weighted else np.ones(N)
    cols = {"p": p, "label": y}
    if weighted:
        cols["w"] = w
    path = write(tmp_path, cols)
    total = metrics.log_loss(y, p, labels=[0, 1], sample_weight=w, normalize=False)

    res = run(path, chunk_rows=chunk_rows, weight_col="w" if weighted else None)
    assert res.task == "binary"
    check_totals(res, loss_sum=total, weight_sum=float(w.sum()), n=N)
    assert res.loss == approx(metrics.log_loss(y, p, labels=[0, 1], sample_weight=w))


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_float32_multiclass(tmp_path, chunk_rows):
    """float32 scores: sklearn clips at float32 eps and sums in float32 -> agree to ~1e-6."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("f32", chunk_rows)
    p = probs(rng).astype(np.float32)
    y = labels(rng)
    path = write(tmp_path, {**wide(p, "c"), "label": y})
    assert pq.read_schema(path).field("c0").type == pa.float32()
    mean = metrics.log_loss(y, p, labels=list(range(K)))
    total = metrics.log_loss(y, p, labels=list(range(K)), normalize=False)
    res = run(path, chunk_rows=chunk_rows)
    check_totals(res, loss_sum=total, weight_sum=N, n=N, rel=REL32)
    assert res.loss == approx(mean, REL32)


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_float32_binary_weighted(tmp_path, chunk_rows):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("f32bin", chunk_rows)
    p = rng.uniform(0.01, 0.99, size=N).astype(np.float32)
    y = (rng.uniform(size=N) < p).astype(np.int64)
    w = rng.uniform(0.1, 2.0, size=N).astype(np.float32)
    path = write(tmp_path, {"p": p, "label": y, "w": w})
    res = run(path, chunk_rows=chunk_rows, weight_col="w")
    mean = metrics.log_loss(y, p, labels=[0, 1], sample_weight=w)
    assert res.loss == approx(mean, REL32)
    assert res.weight_sum == approx(float(w.astype(np.float64).sum()), REL32)


def _probs_with_extremes(rng: np.random.Generator, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose true-class probability is exactly 0 or 1, plus zeros on wrong classes."""
    p = probs(rng)
    y = labels(rng)
    # true class exactly 1 (one-hot row)
    for i in range(10, 16):
        p[i] = 0.0
        p[i, y[i]] = 1.0
    # true class exactly 0
    for i in range(20, 27):
        p[i, y[i]] = 0.0
        p[i] /= p[i].sum()
    # a zero on a wrong class only (does not enter the loss: not clipped)
    for i in range(30, 35):
        j = (y[i] + 1) % K
        p[i, j] = 0.0
        p[i] /= p[i].sum()
    p = p.astype(dtype)
    return p, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_clipping_multiclass(tmp_path, chunk_rows, dtype):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("clipmc", chunk_rows, np.dtype(dtype).name)
    p, y = _probs_with_extremes(rng, dtype)
    path = write(tmp_path, {**wide(p, "c"), "label": y})
    eps = float(np.finfo(dtype).eps)
    rel = REL64 if dtype == np.float64 else REL32
    total = metrics.log_loss(y, p, labels=list(range(K)), normalize=False)
    ptrue = p[np.arange(N), y].astype(np.float64)
    expected_clipped = int(np.sum((ptrue < eps) | (ptrue > 1.0 - eps)))
    assert expected_clipped == 13

    res = run(path, chunk_rows=chunk_rows)
    assert math.isfinite(res.loss)
    check_totals(res, loss_sum=total, weight_sum=N, n=N, rel=rel)
    assert res.clipped == expected_clipped


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_sklearn_clipping_binary(tmp_path, chunk_rows):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("clipbin", chunk_rows)
    p = rng.uniform(0.01, 0.99, size=N)
    y = (rng.uniform(size=N) < p).astype(np.int64)
    p[[3, 9, 40]] = 0.0
    p[[5, 11, 60, 61]] = 1.0
    y[[3, 5]] = 0
    y[[9, 11, 40]] = 1  # p=0 on a positive: the big loss
    y[[60, 61]] = 0  # p=1 on a negative: the big loss
    path = write(tmp_path, {"p": p, "label": y})
    total = metrics.log_loss(y, p, labels=[0, 1], normalize=False)
    res = run(path, chunk_rows=chunk_rows)
    check_totals(res, loss_sum=total, weight_sum=N, n=N)
    # the single score column enters every row's BCE: every 0 or 1 is a clipped row
    assert res.clipped == 7


def test_clip_eps_custom_and_off(tmp_path):
    """--clip-eps X clips to [X, 1-X] (slow loop); --clip-eps 0 gives an infinite loss."""
    rng = rng_for("clipeps")
    p, y = _probs_with_extremes(rng, np.float64)
    path = write(tmp_path, {**wide(p, "c"), "label": y})
    eps = 1e-6
    total = 0.0
    clipped = 0
    for i in range(N):
        q = float(p[i, y[i]])
        clipped += not (eps <= q <= 1.0 - eps)
        total += -math.log(min(max(q, eps), 1.0 - eps))
    res = run(path, chunk_rows=7, clip_eps=eps)
    check_totals(res, loss_sum=total, weight_sum=N, n=N)
    assert res.clipped == clipped

    res = run(path, chunk_rows=7, clip_eps=0.0)
    assert res.loss == math.inf
    assert res.loss_sum == math.inf
    assert res.clipped == 0


def test_sklearn_accuracy(tmp_path):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("acc")
    p, y = probs(rng), labels(rng)
    w = rng.uniform(0.1, 2.0, size=N)
    path = write(tmp_path, {**wide(p, "c"), "label": y, "w": w})
    res = run(path, chunk_rows=7, weight_col="w")
    expected = metrics.accuracy_score(y, p.argmax(axis=1), sample_weight=w)
    assert res.metrics["accuracy"] == approx(expected)


# --------------------------------------------------------------------------------------------
# torch F.cross_entropy (logits, class weights, label smoothing, ignore_index, soft targets)
# --------------------------------------------------------------------------------------------


def torch_ce(z, target, **kw) -> float:
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    if "weight" in kw and kw["weight"] is not None:
        kw["weight"] = torch.tensor(kw["weight"], dtype=torch.float64)
    tt = torch.from_numpy(np.asarray(target))
    return float(f.cross_entropy(torch.from_numpy(np.asarray(z, dtype=np.float64)), tt, **kw))


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_plain(tmp_path, chunk_rows):
    pytest.importorskip("torch")
    rng = rng_for("ce", chunk_rows)
    z, y = logits(rng), labels(rng)
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    total = torch_ce(z, y, reduction="sum")
    res = run(path, chunk_rows=chunk_rows, logits=True)
    assert res.input == "logits"
    assert res.loss == approx(torch_ce(z, y))
    check_totals(res, loss_sum=total, weight_sum=N, n=N)
    res = run(path, chunk_rows=chunk_rows, logits=True, reduction=Reduction.sum)
    assert res.loss == approx(total)


def test_torch_ce_extreme_logits(tmp_path):
    """Huge logits: log_softmax must use the max-shift trick (torch float64 does)."""
    pytest.importorskip("torch")
    rng = rng_for("extreme")
    z = logits(rng) * 400.0 + 5e4
    z[0, :] = [1000.0, -1000.0, 800.0, 0.0, 999.0]
    z[1, :] = -1e5
    y = labels(rng)
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    res = run(path, chunk_rows=7, logits=True)
    check_totals(res, loss_sum=torch_ce(z, y, reduction="sum"), weight_sum=N, n=N)
    assert res.clipped == 0


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_class_weights(tmp_path, chunk_rows):
    pytest.importorskip("torch")
    rng = rng_for("cw", chunk_rows)
    z, y = logits(rng), labels(rng)
    cw = [1.0, 2.0, 0.5, 0.0, 3.25]
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    total = torch_ce(z, y, weight=cw, reduction="sum")
    res = run(path, chunk_rows=chunk_rows, logits=True, class_weights=tuple(cw))
    # the mean divides by sum_i w[y_i] (torch)
    assert res.loss == approx(torch_ce(z, y, weight=cw))
    check_totals(res, loss_sum=total, weight_sum=float(np.asarray(cw)[y].sum()), n=N)


@pytest.mark.parametrize("alpha", [0.1, 0.35, 1.0])  # torch takes [0, 1]: 1 is uniform
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_label_smoothing(tmp_path, chunk_rows, alpha):
    pytest.importorskip("torch")
    rng = rng_for("ls", chunk_rows, alpha)
    z, y = logits(rng), labels(rng)
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    res = run(path, chunk_rows=chunk_rows, logits=True, label_smoothing=alpha)
    assert res.loss == approx(torch_ce(z, y, label_smoothing=alpha))
    check_totals(
        res, loss_sum=torch_ce(z, y, label_smoothing=alpha, reduction="sum"), weight_sum=N, n=N
    )


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_ignore_index(tmp_path, chunk_rows):
    pytest.importorskip("torch")
    rng = rng_for("ii", chunk_rows)
    z, y = logits(rng), labels(rng)
    y[rng.uniform(size=N) < 0.3] = -100
    y[7:14] = -100  # a whole chunk of size 7 ignored
    kept = int(np.sum(y != -100))
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    res = run(path, chunk_rows=chunk_rows, logits=True, ignore_index=-100)
    assert res.loss == approx(torch_ce(z, y, ignore_index=-100))
    check_totals(
        res, loss_sum=torch_ce(z, y, ignore_index=-100, reduction="sum"), weight_sum=kept, n=kept
    )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_weight_smoothing_ignore_combined(tmp_path, chunk_rows, reduction):
    pytest.importorskip("torch")
    rng = rng_for("combo", chunk_rows, reduction)
    z, y = logits(rng), labels(rng)
    y[rng.uniform(size=N) < 0.25] = -100
    cw = [1.0, 2.0, 0.5, 1.5, 0.25]
    kw = {"weight": cw, "label_smoothing": 0.2, "ignore_index": -100}
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    res = run(
        path,
        chunk_rows=chunk_rows,
        logits=True,
        class_weights=tuple(cw),
        label_smoothing=0.2,
        ignore_index=-100,
        reduction=Reduction(reduction),
    )
    kept = y != -100
    assert res.loss == approx(torch_ce(z, y, reduction=reduction, **dict(kw)))
    check_totals(
        res,
        loss_sum=torch_ce(z, y, reduction="sum", **dict(kw)),
        weight_sum=float(np.asarray(cw)[y[kept]].sum()),
        n=int(kept.sum()),
        reduction=reduction,
    )
    # SPEC: the class rows add up to the total
    assert sum(r.loss_sum for r in res.per_class) == approx(res.loss_sum)


@pytest.mark.parametrize(
    ("cw", "alpha"),
    [
        (None, 0.0),
        ([1.0, 2.0, 0.5, 1.5, 0.25], 0.0),
        (None, 0.15),
        ([1.0, 2.0, 0.5, 1.5, 0.25], 0.15),
    ],
)
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_soft_targets(tmp_path, chunk_rows, cw, alpha):
    """Probability targets: torch divides by N with or without weight / smoothing."""
    pytest.importorskip("torch")
    rng = rng_for("soft", chunk_rows, cw, alpha)
    z = logits(rng)
    t = probs(rng, alpha=0.7)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t")})
    kw = {"weight": cw, "label_smoothing": alpha}
    res = run(
        path,
        chunk_rows=chunk_rows,
        target_cols="t*",
        logits=True,
        class_weights=None if cw is None else tuple(cw),
        label_smoothing=alpha,
    )
    assert res.task == "multiclass"
    assert res.loss == approx(torch_ce(z, t, **dict(kw)))
    check_totals(res, loss_sum=torch_ce(z, t, reduction="sum", **dict(kw)), weight_sum=N, n=N)
    res = run(
        path,
        chunk_rows=chunk_rows,
        target_cols="t*",
        logits=True,
        class_weights=None if cw is None else tuple(cw),
        label_smoothing=alpha,
        reduction=Reduction.sum,
    )
    assert res.loss == approx(torch_ce(z, t, reduction="sum", **dict(kw)))


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_float32_logits(tmp_path, chunk_rows):
    torch = pytest.importorskip("torch")
    rng = rng_for("ce32", chunk_rows)
    z = logits(rng).astype(np.float32)
    y = labels(rng)
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    res = run(path, chunk_rows=chunk_rows, logits=True, label_smoothing=0.1)
    f = torch.nn.functional
    expected32 = float(
        f.cross_entropy(torch.from_numpy(z), torch.from_numpy(y), label_smoothing=0.1)
    )
    assert res.loss == approx(expected32, REL32)
    assert res.loss == approx(torch_ce(z.astype(np.float64), y, label_smoothing=0.1), REL32)


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_probability_inputs_with_smoothing(tmp_path, chunk_rows):
    """Probabilities in + label smoothing: torch's formula on log p (no clipping in play)."""
    pytest.importorskip("torch")
    rng = rng_for("probls", chunk_rows)
    p, y = probs(rng, alpha=3.0), labels(rng)
    assert p.min() > 1e-6
    path = write(tmp_path, {**wide(p, "c"), "label": y})
    cw = [1.0, 2.0, 0.5, 1.5, 0.25]
    res = run(path, chunk_rows=chunk_rows, label_smoothing=0.1, class_weights=tuple(cw))
    lp = np.log(p)  # log_softmax(log p) == log p for rows that sum to 1
    assert res.loss == approx(torch_ce(lp, y, label_smoothing=0.1, weight=cw))
    assert res.clipped == 0


# --------------------------------------------------------------------------------------------
# torch F.binary_cross_entropy_with_logits (binary and multi-label, pos_weight) and Keras
# label smoothing
# --------------------------------------------------------------------------------------------


def torch_bce_logits(z, t, pos_weight=None, reduction="none") -> np.ndarray:
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
    out = f.binary_cross_entropy_with_logits(
        torch.from_numpy(np.asarray(z, dtype=np.float64)),
        torch.from_numpy(np.asarray(t, dtype=np.float64)),
        pos_weight=pw,
        reduction=reduction,
    )
    return out.numpy()


def multihot(rng: np.random.Generator, n: int = N, c: int = 4) -> np.ndarray:
    t = (rng.uniform(size=(n, c)) < np.array([0.2, 0.5, 0.7, 0.35])[:c]).astype(np.float64)
    t[0] = 0.0  # a row with no positives, and one with all: not one-hot
    t[1] = 1.0
    return t


@pytest.mark.parametrize("pw", [None, 2.5, 0.4])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_bce_binary_logit_pos_weight(tmp_path, chunk_rows, pw):
    pytest.importorskip("torch")
    rng = rng_for("bce", chunk_rows, pw)
    z = rng.normal(size=N) * 3.0
    z[:4] = [40.0, -40.0, 800.0, -800.0]  # stable form needed
    y = (rng.uniform(size=N) < 0.4).astype(np.int64)
    path = write(tmp_path, {"z": z, "label": y})
    pwv = None if pw is None else [pw]
    total = float(torch_bce_logits(z, y, pwv, "sum"))
    res = run(path, chunk_rows=chunk_rows, logits=True, pos_weight=None if pw is None else (pw,))
    assert res.task == "binary"
    assert res.loss == approx(float(torch_bce_logits(z, y, pwv, "mean")))
    check_totals(res, loss_sum=total, weight_sum=N, n=N)
    res = run(
        path,
        chunk_rows=chunk_rows,
        logits=True,
        reduction=Reduction.sum,
        pos_weight=None if pw is None else (pw,),
    )
    assert res.loss == approx(total)


@pytest.mark.parametrize("pw", [None, (3.0,), (0.5, 2.0, 1.0, 4.0)])
@pytest.mark.parametrize("label_reduction", ["sum", "mean"])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_bce_multilabel_logits(tmp_path, chunk_rows, label_reduction, pw):
    pytest.importorskip("torch")
    rng = rng_for("ml", chunk_rows, label_reduction, pw)
    c = 4
    z = rng.normal(size=(N, c)) * 2.5
    t = multihot(rng)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t")})
    per_el = torch_bce_logits(z, t, None if pw is None else list(pw))  # (N, C)
    if label_reduction == "mean":
        # torch's default: mean over all N*C elements
        mean = float(torch_bce_logits(z, t, None if pw is None else list(pw), "mean"))
        row = per_el.mean(axis=1)
    else:
        # textbook: sum over the labels, then mean over the rows
        row = per_el.sum(axis=1)
        mean = float(row.mean())
    res = run(
        path,
        chunk_rows=chunk_rows,
        target_cols="t*",
        logits=True,
        task=Task.multilabel,
        label_reduction=LabelReduction(label_reduction),
        pos_weight=pw,
    )
    assert res.task == "multilabel"
    assert res.loss == approx(mean)
    check_totals(res, loss_sum=float(row.sum()), weight_sum=N, n=N)


def test_multilabel_auto_detected(tmp_path):
    pytest.importorskip("torch")
    rng = rng_for("mlauto")
    z = rng.normal(size=(N, 4))
    t = multihot(rng)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t")})
    res = run(path, chunk_rows=7, target_cols="t*", logits=True)
    assert res.task == "multilabel"
    assert res.loss == approx(float(torch_bce_logits(z, t).sum(axis=1).mean()))


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_multilabel_probabilities_and_sample_weights(tmp_path, chunk_rows):
    """Multi-label probabilities vs torch F.binary_cross_entropy, sklearn-style sample weights."""
    torch = pytest.importorskip("torch")
    rng = rng_for("mlp", chunk_rows)
    p = rng.uniform(0.02, 0.98, size=(N, 4))
    t = multihot(rng)
    w = rng.uniform(0.0, 2.0, size=N)
    path = write(tmp_path, {**wide(p, "c"), **wide(t, "t"), "w": w})
    per_el = torch.nn.functional.binary_cross_entropy(
        torch.from_numpy(p), torch.from_numpy(t), reduction="none"
    ).numpy()
    row = per_el.sum(axis=1)
    res = run(path, chunk_rows=chunk_rows, target_cols="t*", weight_col="w", task=Task.multilabel)
    check_totals(res, loss_sum=float((w * row).sum()), weight_sum=float(w.sum()), n=N)
    res = run(
        path,
        chunk_rows=chunk_rows,
        target_cols="t*",
        weight_col="w",
        task=Task.multilabel,
        label_reduction=LabelReduction.mean,
    )
    assert res.loss == approx(float((w * row).sum() / w.sum() / 4))


def test_multilabel_clipping(tmp_path):
    """Every label column enters a multi-label row's loss: any 0 or 1 clips the row."""
    rng = rng_for("mlclip")
    c = 3
    p = rng.uniform(0.02, 0.98, size=(N, c))
    t = multihot(rng, c=c)
    p[5, 0] = 0.0
    p[6, 1] = 1.0
    p[7, :] = [0.0, 1.0, 0.0]
    p[8, 2] = 1.0
    total = 0.0
    for i in range(N):
        for j in range(c):
            q = min(max(float(p[i, j]), EPS64), 1.0 - EPS64)
            total += -(t[i, j] * math.log(q) + (1.0 - t[i, j]) * math.log(1.0 - q))
    path = write(tmp_path, {**wide(p, "c"), **wide(t, "t")})
    res = run(path, chunk_rows=7, target_cols="t*", task=Task.multilabel)
    check_totals(res, loss_sum=total, weight_sum=N, n=N)
    assert res.clipped == 4


def keras_smooth(y: np.ndarray, a: float) -> np.ndarray:
    return y * (1.0 - a) + a / 2.0


@pytest.mark.parametrize("pw", [None, 2.0])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_keras_smoothing_binary_logits(tmp_path, chunk_rows, pw):
    pytest.importorskip("torch")
    rng = rng_for("kbin", chunk_rows, pw)
    a = 0.2
    z = rng.normal(size=N) * 3.0
    y = (rng.uniform(size=N) < 0.5).astype(np.int64)
    path = write(tmp_path, {"z": z, "label": y})
    pwv = None if pw is None else [pw]
    per_row = torch_bce_logits(z, keras_smooth(y.astype(np.float64), a), pwv)
    res = run(
        path,
        chunk_rows=chunk_rows,
        logits=True,
        label_smoothing=a,
        pos_weight=None if pw is None else (pw,),
    )
    check_totals(res, loss_sum=float(per_row.sum()), weight_sum=N, n=N)


def test_keras_smoothing_binary_probabilities(tmp_path):
    """Slow loop: -(y' log p + (1-y') log(1-p)) with y' = y(1-a) + a/2."""
    rng = rng_for("kbinp")
    a = 0.1
    p = rng.uniform(0.01, 0.99, size=N)
    y = (rng.uniform(size=N) < p).astype(np.int64)
    path = write(tmp_path, {"p": p, "label": y})
    total = 0.0
    for pi, yi in zip(p.tolist(), y.tolist(), strict=True):
        ys = yi * (1.0 - a) + a / 2.0
        total += -(ys * math.log(pi) + (1.0 - ys) * math.log(1.0 - pi))
    res = run(path, chunk_rows=7, label_smoothing=a)
    check_totals(res, loss_sum=total, weight_sum=N, n=N)


@pytest.mark.parametrize("label_reduction", ["sum", "mean"])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_keras_smoothing_multilabel(tmp_path, chunk_rows, label_reduction):
    pytest.importorskip("torch")
    rng = rng_for("kml", chunk_rows, label_reduction)
    a = 0.3
    z = rng.normal(size=(N, 4)) * 2.0
    t = multihot(rng)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t")})
    pw = (0.5, 2.0, 1.0, 4.0)
    per_el = torch_bce_logits(z, keras_smooth(t, a), list(pw))
    res = run(
        path,
        chunk_rows=chunk_rows,
        target_cols="t*",
        logits=True,
        task=Task.multilabel,
        label_smoothing=a,
        pos_weight=pw,
        label_reduction=LabelReduction(label_reduction),
    )
    if label_reduction == "mean":
        expected = float(torch_bce_logits(z, keras_smooth(t, a), list(pw), "mean"))
    else:
        expected = float(per_el.sum(axis=1).mean())
    assert res.loss == approx(expected)


# --------------------------------------------------------------------------------------------
# bases and perplexity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    ("base", "ln_base", "unit"),
    [
        (Base.e, 1.0, "nats"),
        (Base.two, math.log(2.0), "bits"),
        (Base.ten, math.log(10.0), "hartleys"),
    ],
)
def test_bases_and_perplexity(tmp_path, base, ln_base, unit, reduction):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("base", base.value, reduction)
    p, y = probs(rng), labels(rng)
    w = rng.uniform(0.1, 2.0, size=N)
    path = write(tmp_path, {**wide(p, "c"), "label": y, "w": w})
    mean_nats = metrics.log_loss(y, p, labels=list(range(K)), sample_weight=w)
    sum_nats = metrics.log_loss(y, p, labels=list(range(K)), sample_weight=w, normalize=False)
    res = run(path, chunk_rows=7, weight_col="w", base=base, reduction=Reduction(reduction))
    assert res.unit == unit
    assert res.loss_mean == approx(mean_nats / ln_base)
    assert res.loss_sum == approx(sum_nats / ln_base)
    assert res.loss == approx((sum_nats if reduction == "sum" else mean_nats) / ln_base)
    # corpus-level perplexity: exp(weighted mean loss in nats) == base ** loss_mean
    assert res.perplexity == approx(math.exp(mean_nats))
    assert res.weight_sum == approx(float(w.sum()))
    # the per-class rows are in the same unit and still add up
    assert sum(r.loss_sum for r in res.per_class) == approx(res.loss_sum)


def test_bases_torch_logits(tmp_path):
    pytest.importorskip("torch")
    rng = rng_for("basetorch")
    z, y = logits(rng), labels(rng)
    path = write(tmp_path, {**wide(z, "c"), "label": y})
    nats = torch_ce(z, y, label_smoothing=0.1)
    for base, ln in ((Base.two, math.log(2.0)), (Base.ten, math.log(10.0))):
        res = run(path, chunk_rows=7, logits=True, label_smoothing=0.1, base=base)
        assert res.loss == approx(nats / ln)
        assert res.perplexity == approx(math.exp(nats))


# --------------------------------------------------------------------------------------------
# per-class table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_per_class_multiclass_sklearn(tmp_path, chunk_rows):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("pcmc", chunk_rows)
    p, y = probs(rng), labels(rng)
    w = rng.uniform(0.1, 2.0, size=N)
    path = write(tmp_path, {**wide(p, "c"), "label": y, "w": w})
    res = run(path, chunk_rows=chunk_rows, weight_col="w")
    rows = per_class(res)
    assert list(rows) == [f"c{j}" for j in range(K)]
    for j in range(K):
        m = y == j
        s = metrics.log_loss(y[m], p[m], labels=list(range(K)), sample_weight=w[m], normalize=False)
        r = rows[f"c{j}"]
        assert r.support == approx(float(w[m].sum()))
        assert r.loss_sum == approx(s)
        assert r.loss_mean == approx(
            metrics.log_loss(y[m], p[m], labels=list(range(K)), sample_weight=w[m])
        )
    assert sum(r.loss_sum for r in res.per_class) == approx(res.loss_sum)
    assert sum(r.loss_sum for r in res.per_class) == approx(
        metrics.log_loss(y, p, labels=list(range(K)), sample_weight=w, normalize=False)
    )


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_per_class_soft_targets_torch(tmp_path, chunk_rows):
    torch = pytest.importorskip("torch")
    rng = rng_for("pcsoft", chunk_rows)
    z = logits(rng)
    t = probs(rng, alpha=0.7)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t")})
    res = run(path, chunk_rows=chunk_rows, target_cols="t*", logits=True)
    lp = torch.log_softmax(torch.from_numpy(z), dim=1).numpy()
    contrib = -(t * lp)  # (N, K): the class's contribution to each row's CE
    rows = per_class(res)
    for j in range(K):
        r = rows[f"c{j}"]
        assert r.support == approx(float(t[:, j].sum()))
        assert r.loss_sum == approx(float(contrib[:, j].sum()))
        assert r.loss_mean == approx(float(contrib[:, j].sum() / t[:, j].sum()))
    assert sum(r.loss_sum for r in res.per_class) == approx(torch_ce(z, t, reduction="sum"))


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_per_class_binary(tmp_path, chunk_rows):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("pcbin", chunk_rows)
    p = rng.uniform(0.01, 0.99, size=N)
    y = (rng.uniform(size=N) < p).astype(np.int64)
    path = write(tmp_path, {"p": p, "label": y})
    res = run(path, chunk_rows=chunk_rows)
    rows = per_class(res)
    assert list(rows) == ["0", "1"]
    for c in (0, 1):
        m = y == c
        r = rows[str(c)]
        assert r.support == approx(float(m.sum()))
        assert r.loss_mean == approx(metrics.log_loss(y[m], p[m], labels=[0, 1]))
        assert r.loss_sum == approx(metrics.log_loss(y[m], p[m], labels=[0, 1], normalize=False))
    assert sum(r.loss_sum for r in res.per_class) == approx(res.loss_sum)


def test_per_class_binary_weighted_sklearn(tmp_path):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("pcbinw")
    p = rng.uniform(0.01, 0.99, size=N)
    y = (rng.uniform(size=N) < p).astype(np.int64)
    w = rng.uniform(0.1, 2.0, size=N)
    path = write(tmp_path, {"p": p, "label": y, "w": w})
    res = run(path, chunk_rows=7, weight_col="w")
    rows = per_class(res)
    for c in (0, 1):
        m = y == c
        assert rows[str(c)].support == approx(float(w[m].sum()))
        assert rows[str(c)].loss_mean == approx(
            metrics.log_loss(y[m], p[m], labels=[0, 1], sample_weight=w[m])
        )


def test_per_class_binary_logits_pos_weight_torch(tmp_path):
    pytest.importorskip("torch")
    rng = rng_for("pcbinpw")
    z = rng.normal(size=N) * 2.0
    y = (rng.uniform(size=N) < 0.4).astype(np.int64)
    path = write(tmp_path, {"z": z, "label": y})
    per_row = torch_bce_logits(z, y, [3.0])
    res = run(path, chunk_rows=7, logits=True, pos_weight=(3.0,))
    rows = per_class(res)
    for c in (0, 1):
        m = y == c
        assert rows[str(c)].loss_mean == approx(float(per_row[m].mean()))
        assert rows[str(c)].loss_sum == approx(float(per_row[m].sum()))


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_per_class_multilabel_torch(tmp_path, chunk_rows):
    pytest.importorskip("torch")
    rng = rng_for("pcml", chunk_rows)
    c = 4
    z = rng.normal(size=(N, c)) * 2.0
    t = multihot(rng)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t")})
    pw = (0.5, 2.0, 1.0, 4.0)
    per_el = torch_bce_logits(z, t, list(pw))
    res = run(
        path,
        chunk_rows=chunk_rows,
        target_cols="t*",
        logits=True,
        task=Task.multilabel,
        pos_weight=pw,
    )
    rows = per_class(res)
    assert list(rows) == [f"c{j}" for j in range(c)]
    for j in range(c):
        r = rows[f"c{j}"]
        assert r.support == approx(float(t[:, j].sum()))
        assert r.loss_sum == approx(float(per_el[:, j].sum()))
        assert r.loss_mean == approx(float(per_el[:, j].sum() / N))
    # the rows add up to the total under --label-reduction sum
    assert sum(r.loss_sum for r in res.per_class) == approx(res.loss_sum)
    assert res.loss_sum == approx(float(per_el.sum()))


def test_per_class_multilabel_sample_weights(tmp_path):
    pytest.importorskip("torch")
    rng = rng_for("pcmlw")
    z = rng.normal(size=(N, 4)) * 2.0
    t = multihot(rng)
    w = rng.uniform(0.1, 2.0, size=N)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t"), "w": w})
    per_el = torch_bce_logits(z, t)
    res = run(
        path, chunk_rows=7, target_cols="t*", weight_col="w", logits=True, task=Task.multilabel
    )
    rows = per_class(res)
    for j in range(4):
        s = float((w * per_el[:, j]).sum())
        assert rows[f"c{j}"].loss_sum == approx(s)
        assert rows[f"c{j}"].loss_mean == approx(s / float(w.sum()))
    assert res.loss_mean == approx(float((w * per_el.sum(axis=1)).sum() / w.sum()))


# --------------------------------------------------------------------------------------------
# the same numbers through the CLI's JSON output
# --------------------------------------------------------------------------------------------


def cli_json(args: list[str]) -> dict:
    from typer.testing import CliRunner

    from xentcli.cli import app

    result = CliRunner().invoke(app, ["compute", *args, "--format", "json"])
    assert result.exit_code == 0, (result.stdout, getattr(result, "stderr", ""))
    return json.loads(result.stdout)


@pytest.mark.parametrize("chunk_rows", ["1", "7"])
def test_cli_json_torch_combined(tmp_path, chunk_rows):
    pytest.importorskip("torch")
    rng = rng_for("cli", chunk_rows)
    z, y = logits(rng), labels(rng)
    y[rng.uniform(size=N) < 0.2] = -100
    cw = [1.0, 2.0, 0.5, 1.5, 0.25]
    path = write(tmp_path, {**wide(z, "c"), "label": y}, "csv")
    out = cli_json(
        [
            str(path),
            "--logits",
            "--class-weights",
            ",".join(map(str, cw)),
            "--label-smoothing",
            "0.1",
            "--ignore-index",
            "-100",
            "--base",
            "2",
            "--reduction",
            "sum",
            "--chunk-rows",
            chunk_rows,
        ]
    )
    kw = {"weight": cw, "label_smoothing": 0.1, "ignore_index": -100}
    ln2 = math.log(2.0)
    kept = y != -100
    assert out["unit"] == "bits"
    assert out["n"] == int(kept.sum())
    assert out["weight_sum"] == approx(float(np.asarray(cw)[y[kept]].sum()))
    assert out["loss"] == approx(torch_ce(z, y, reduction="sum", **dict(kw)) / ln2)
    assert out["loss_mean"] == approx(torch_ce(z, y, **dict(kw)) / ln2)
    assert out["perplexity"] == approx(math.exp(torch_ce(z, y, **dict(kw))))


def test_cli_json_multilabel_pos_weight(tmp_path):
    pytest.importorskip("torch")
    rng = rng_for("climl")
    z = rng.normal(size=(N, 4)) * 2.0
    t = multihot(rng)
    path = write(tmp_path, {**wide(z, "c"), **wide(t, "t")}, "csv")
    pw = [0.5, 2.0, 1.0, 4.0]
    out = cli_json(
        [
            str(path),
            "--logits",
            "--target-cols",
            "t*",
            "--task",
            "multilabel",
            "--pos-weight",
            ",".join(map(str, pw)),
            "--label-reduction",
            "mean",
            "--chunk-rows",
            "7",
        ]
    )
    assert out["loss"] == approx(float(torch_bce_logits(z, t, pw, "mean")))
    assert out["n"] == N


def test_cli_json_sklearn_clipping(tmp_path):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("cliclip")
    p, y = _probs_with_extremes(rng, np.float64)
    path = write(tmp_path, {**wide(p, "c"), "label": y}, "csv")
    out = cli_json([str(path), "--chunk-rows", "7"])
    assert out["loss"] == approx(metrics.log_loss(y, p, labels=list(range(K))))
    assert out["clipped"] == 13


# --------------------------------------------------------------------------------------------
# more edges: ignore_index variants, renormalize, sum tolerance, target-column clipping, accuracy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.25])
@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_torch_ce_ignore_index_smoothing_probs(tmp_path, chunk_rows, alpha):
    """Probability inputs, ignore_index with and without smoothing: torch on log p."""
    pytest.importorskip("torch")
    rng = rng_for("iiprobs", chunk_rows, alpha)
    p, y = probs(rng, alpha=3.0), labels(rng)
    y[rng.uniform(size=N) < 0.3] = -100
    path = write(tmp_path, {**wide(p, "c"), "label": y})
    res = run(path, chunk_rows=chunk_rows, ignore_index=-100, label_smoothing=alpha)
    kept = int(np.sum(y != -100))
    lp = np.log(p)
    check_totals(
        res,
        loss_sum=torch_ce(lp, y, ignore_index=-100, label_smoothing=alpha, reduction="sum"),
        weight_sum=kept,
        n=kept,
    )
    assert res.loss == approx(torch_ce(lp, y, ignore_index=-100, label_smoothing=alpha))
    # ignored rows count nowhere, not in the per-class table either
    rows = per_class(res)
    for j in range(K):
        assert rows[f"c{j}"].support == approx(float(np.sum(y == j)))


def test_ignore_index_with_sample_weights_sklearn(tmp_path):
    """Rows dropped by --ignore-index count nowhere: sklearn on the kept rows."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("iisw")
    p, y = probs(rng), labels(rng)
    y[rng.uniform(size=N) < 0.3] = 7  # any integer can be the ignore label
    w = rng.uniform(0.1, 2.0, size=N)
    path = write(tmp_path, {**wide(p, "c"), "label": y, "w": w})
    k = y != 7
    res = run(path, chunk_rows=7, weight_col="w", ignore_index=7)
    check_totals(
        res,
        loss_sum=metrics.log_loss(
            y[k], p[k], labels=list(range(K)), sample_weight=w[k], normalize=False
        ),
        weight_sum=float(w[k].sum()),
        n=int(k.sum()),
    )


@pytest.mark.parametrize("chunk_rows", CHUNKS)
def test_renormalize_sklearn(tmp_path, chunk_rows):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("renorm", chunk_rows)
    s = rng.uniform(0.0, 5.0, size=(N, K))
    s[:, 0] += 0.01
    y = labels(rng)
    path = write(tmp_path, {**wide(s, "c"), "label": y})
    p = s / s.sum(axis=1, keepdims=True)
    res = run(path, chunk_rows=chunk_rows, renormalize=True)
    check_totals(
        res,
        loss_sum=metrics.log_loss(y, p, labels=list(range(K)), normalize=False),
        weight_sum=N,
        n=N,
    )


def test_rows_within_sum_tol_are_not_renormalized(tmp_path):
    """p = s: a row summing to 1 +- 4e-4 is accepted and used as is (sklearn does the same)."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("sumtol")
    p, y = probs(rng), labels(rng)
    p *= rng.choice([1.0 - 4e-4, 1.0 + 4e-4], size=(N, 1))
    assert p.max() <= 1.0
    path = write(tmp_path, {**wide(p, "c"), "label": y})
    res = run(path, chunk_rows=7)
    with pytest.warns(UserWarning, match="do not sum to one"):
        expected = metrics.log_loss(y, p, labels=list(range(K)), normalize=False)
    check_totals(res, loss_sum=expected, weight_sum=N, n=N)


def test_one_hot_targets_clipping_matches_index_labels(tmp_path):
    """One-hot target columns clip exactly like the equivalent index labels (sklearn)."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("ohclip")
    p, y = _probs_with_extremes(rng, np.float64)
    t = np.eye(K)[y]
    path = write(tmp_path, {**wide(p, "c"), **wide(t, "t")})
    res = run(path, chunk_rows=7, target_cols="t*", task=Task.multiclass)
    check_totals(res, loss_sum=metrics.log_loss(t, p, normalize=False), weight_sum=N, n=N)
    # zeros on classes whose target is 0 do not enter the loss
    assert res.clipped == 13


def test_soft_targets_probability_clipping(tmp_path):
    """Soft targets with probabilities: slow loop with p clipped to [eps, 1-eps]."""
    rng = rng_for("softclip")
    p = probs(rng, alpha=2.0)
    t = probs(rng, alpha=2.0)
    for i in (4, 9, 17):
        p[i, 1] = 0.0  # the target puts mass on class 1: enters the loss
        p[i] /= p[i].sum()
    total = 0.0
    for i in range(N):
        for j in range(K):
            q = min(max(float(p[i, j]), EPS64), 1.0 - EPS64)
            total += -t[i, j] * math.log(q)
    path = write(tmp_path, {**wide(p, "c"), **wide(t, "t")})
    res = run(path, chunk_rows=7, target_cols="t*")
    check_totals(res, loss_sum=total, weight_sum=N, n=N)
    assert res.clipped == 3


def test_binary_accuracy_sklearn(tmp_path):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("binacc")
    z = rng.normal(size=N)
    y = (rng.uniform(size=N) < 0.5).astype(np.int64)
    w = rng.uniform(0.1, 2.0, size=N)
    path = write(tmp_path, {"z": z, "label": y, "w": w})
    res = run(path, chunk_rows=7, logits=True, weight_col="w")
    assert res.metrics["accuracy"] == approx(
        metrics.accuracy_score(y, (z > 0).astype(np.int64), sample_weight=w)
    )


def test_multilabel_accuracy_sklearn(tmp_path):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = rng_for("mlacc")
    p = rng.uniform(0.02, 0.98, size=(N, 4))
    t = multihot(rng)
    path = write(tmp_path, {**wide(p, "c"), **wide(t, "t")})
    res = run(path, chunk_rows=7, target_cols="t*", task=Task.multilabel)
    pred = (p > 0.5).astype(np.int64)
    assert res.metrics["accuracy"] == approx(1.0 - metrics.hamming_loss(t.astype(np.int64), pred))
    assert res.metrics["subset_accuracy"] == approx(
        metrics.accuracy_score(t.astype(np.int64), pred)
    )
