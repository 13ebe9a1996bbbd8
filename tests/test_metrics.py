"""The evaluation metrics (SPEC.md, "Evaluation metrics") against independent references.

Every expected value comes from scikit-learn (``accuracy_score``, ``top_k_accuracy_score``,
``brier_score_loss``, ``log_loss``, ``hamming_loss``), scipy (``scipy.stats.entropy``), torch
(``cross_entropy`` / ``binary_cross_entropy_with_logits`` on a constant prediction) or a slow
pure-Python loop written here from the SPEC's words -- never from xent's own code. Inputs are
seeded random data (prime row counts) plus hand-made edge rows: exact argmax / top-k ties,
probabilities of exactly 0.0 and 1.0 (confidence exactly 1.0 must land in the last calibration
bin), zero sample weights, ignored rows. Every run is repeated with ``--chunk-rows 7``: no metric
may depend on the chunk size.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.helpers import run, run_json, write_table
from xentcli.cli import app

REL = 1e-12
ABS = 1e-14  # only matters for values that are (almost) exactly 0
LN = {"e": 1.0, "2": math.log(2.0), "10": math.log(10.0)}

# --------------------------------------------------------------------------------------------
# helpers: files, running xent, comparing
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skm() -> Any:
    pytest.importorskip("sklearn")
    import sklearn.metrics

    return sklearn.metrics


@pytest.fixture(scope="module")
def sps() -> Any:
    return pytest.importorskip("scipy.stats")


def wide(m: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{j}": np.ascontiguousarray(m[:, j]) for j in range(m.shape[1])}


def write(tmp_path: Path, cols: dict[str, Any], fmt: str = "parquet", name: str = "in") -> Path:
    table = pa.table(cols)
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "csv":
        pcsv.write_csv(table, path)
        back = pcsv.read_csv(path)
        for c in table.column_names:  # the references below use the arrays as written
            np.testing.assert_array_equal(back[c].to_numpy(), table[c].to_numpy(), err_msg=c)
    else:
        pq.write_table(table, path, row_group_size=50)
    return path


def _invoke(path: Path, args: list[str]) -> dict[str, Any]:
    res = CliRunner().invoke(app, ["compute", str(path), "--format", "json", *args])
    assert res.exit_code == 0, f"exit {res.exit_code}: {res.stderr}{res.stdout}"
    return json.loads(res.stdout)


def close(actual: Any, expected: float, what: str) -> None:
    assert actual is not None, f"{what}: xent gave null, reference {expected!r}"
    assert actual == pytest.approx(expected, rel=REL, abs=ABS), (
        f"{what}: xent {actual!r} != reference {expected!r}"
    )


def xent(path: Path, *args: str) -> dict[str, Any]:
    """Run ``xent compute ... --format json``, once by default and once with --chunk-rows 7;
    the two must agree on every metric (and on the calibration bins with --plot)."""
    out = _invoke(path, list(args))
    out7 = _invoke(path, [*args, "--chunk-rows", "7"])
    assert out7["metrics"].keys() == out["metrics"].keys()
    for k, v in out["metrics"].items():
        if v is None:
            assert out7["metrics"][k] is None, k
        else:
            close(out7["metrics"][k], v, f"--chunk-rows 7 vs default: {k}")
    if "calibration" in out:
        assert len(out7["calibration"]) == len(out["calibration"])
        for a, b in zip(out7["calibration"], out["calibration"], strict=True):
            for f in ("lo", "hi", "weight", "confidence", "accuracy"):
                close(a[f], b[f], f"--chunk-rows 7 vs default: calibration {f}")
    return out


def check_metrics(out: dict[str, Any], expected: dict[str, float], ctx: str = "") -> None:
    m = out["metrics"]
    missing = set(expected) - set(m)
    assert not missing, f"{ctx} metrics missing {sorted(missing)}; got {sorted(m)}"
    bad = []
    for k, v in expected.items():
        got = m[k]
        if got is None or got != pytest.approx(v, rel=REL, abs=ABS):
            bad.append(f"{k}: xent {got!r} != reference {v!r}")
    assert not bad, f"{ctx}\n  " + "\n  ".join(bad)


def check_calibration(out: dict[str, Any], bins: list[tuple[float, ...]]) -> None:
    got = out["calibration"]
    got_t = [(b["lo"], b["hi"], b["weight"], b["confidence"], b["accuracy"]) for b in got]
    assert len(got) == len(bins), f"calibration bins: xent {got_t} != reference {bins}"
    for g, e in zip(got_t, bins, strict=True):
        assert g == pytest.approx(e, rel=REL, abs=ABS), f"bin: xent {g} != reference {e}"


def wmean(x: Any, w: np.ndarray) -> float:
    """Weighted mean, summed exactly (math.fsum), from plain Python floats."""
    xs = [float(v) for v in np.asarray(x, dtype=np.float64)]
    ws = [float(v) for v in w]
    return math.fsum(a * b for a, b in zip(xs, ws, strict=True)) / math.fsum(ws)


def calibration_ref(
    conf: Any, correct: Any, w: Any, n_bins: int
) -> tuple[float, float, list[tuple[float, ...]]]:
    """Slow loop, SPEC words: equal-width bins over [0, 1], each [lo, hi) except the last, which
    is closed at 1.0; a bin's size is the sum of its weights; ECE = sum_b (W_b/W)|acc_b - conf_b|,
    MCE = max over non-empty bins. Returns (ece, mce, [(lo, hi, W_b, conf_b, acc_b), ...])."""
    conf = [float(c) for c in np.ravel(conf)]
    correct = [bool(c) for c in np.ravel(correct)]
    w = [float(v) for v in np.ravel(w)]
    assert all(0.0 <= c <= 1.0 for c in conf)
    total = math.fsum(w)
    ece_terms, gaps, bins = [], [], []
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        wb, cb, ab = [], [], []
        for c, ok, wi in zip(conf, correct, w, strict=True):
            if lo <= c < hi or (b == n_bins - 1 and c == 1.0):
                wb.append(wi)
                cb.append(wi * c)
                ab.append(wi * ok)
        W = math.fsum(wb)
        if W > 0:
            c_mean, a_mean = math.fsum(cb) / W, math.fsum(ab) / W
            bins.append((lo, hi, W, c_mean, a_mean))
            gaps.append(abs(a_mean - c_mean))
            ece_terms.append(W / total * abs(a_mean - c_mean))
    return math.fsum(ece_terms), max(gaps), bins


def bern_entropy(p: np.ndarray, q: np.ndarray, sps: Any, base: str) -> np.ndarray:
    """Bernoulli entropy per entry (p and q = 1 - p given separately for precision)."""
    b = None if base == "e" else float(base)
    return sps.entropy(np.stack([np.ravel(p), np.ravel(q)]), base=b, axis=0).reshape(np.shape(p))


def sigmoid_pair(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid(z), sigmoid(-z)) evaluated without cancellation."""
    ez = np.exp(-np.abs(z))
    pos = np.where(z >= 0, 1.0 / (1.0 + ez), ez / (1.0 + ez))
    neg = np.where(z >= 0, ez / (1.0 + ez), 1.0 / (1.0 + ez))
    return pos, neg


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def weights(rng: np.random.Generator, n: int, weighted: bool) -> np.ndarray:
    if not weighted:
        return np.ones(n)
    w = rng.uniform(0.1, 3.0, size=n)
    w[rng.random(n) < 0.12] = 0.0  # zero-weight rows count nowhere
    w[1::17] = 2.0
    return w


# --------------------------------------------------------------------------------------------
# data: multiclass with edge rows
# --------------------------------------------------------------------------------------------

N_MC, C_MC = 211, 5


def mc_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, C = N_MC, C_MC
    p = rng.dirichlet(np.full(C, 0.6), size=n)
    # multiples of 1/8 (exact, summing exactly to 1): many ties, zeros and some ones
    p[10:80] = rng.multinomial(8, np.full(C, 1.0 / C), size=70) / 8.0
    y = rng.integers(0, C, size=n)
    edge = [
        ([1.0, 0.0, 0.0, 0.0, 0.0], 0),  # confidence exactly 1.0, right
        ([0.0, 1.0, 0.0, 0.0, 0.0], 3),  # confidence exactly 1.0, wrong (p_true = 0: clipped)
        ([0.4, 0.4, 0.2, 0.0, 0.0], 1),  # argmax tie: numpy/torch argmax -> class 0
        ([0.2, 0.2, 0.2, 0.2, 0.2], 4),  # all tied
        ([0.5, 0.2, 0.2, 0.1, 0.0], 2),  # tie at the top-2 boundary
        ([0.5, 0.2, 0.2, 0.1, 0.0], 1),
        ([0.0, 0.25, 0.25, 0.25, 0.25], 0),
    ]
    for i, (row, lab) in enumerate(edge):
        p[i], y[i] = row, lab
    y[7 : 7 + C] = np.arange(C)  # every class present
    return p, y.astype(np.int64)


def mc_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, C = N_MC, C_MC
    z = rng.normal(size=(n, C)) * 2.0 + rng.normal(size=(1, C))
    z[10:80] = rng.integers(-2, 3, size=(70, C)).astype(np.float64)  # integer logits: ties
    y = rng.integers(0, C, size=n)
    edge = [
        ([0.0, -800.0, -800.0, -800.0, -800.0], 0),  # softmax is exactly (1, 0, 0, 0, 0)
        ([3.0, 3.0, 1.0, 0.0, 0.0], 1),  # argmax tie
        ([0.0, 0.0, 0.0, 0.0, 0.0], 4),  # all tied
        ([2.0, 1.0, 1.0, 1.0, -1.0], 2),  # tie at the top-2 boundary
        ([2.0, 1.0, 1.0, 1.0, -1.0], 3),
    ]
    for i, (row, lab) in enumerate(edge):
        z[i], y[i] = row, lab
    y[7 : 7 + C] = np.arange(C)
    return z, y.astype(np.int64)


def mc_expected(
    skm: Any,
    sps: Any,
    p: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    base: str,
    top_k: int | None,
    logp_true: np.ndarray | None = None,
) -> dict[str, float]:
    """References for index labels. ``logp_true``: log p of the true class (logits); else the
    loss is scikit-learn's log_loss on the probabilities."""
    C = p.shape[1]
    labels = list(range(C))
    b = None if base == "e" else float(base)
    pred = np.argmax(p, axis=1)  # first maximum on ties (numpy / torch convention)
    exp: dict[str, float] = {
        "accuracy": skm.accuracy_score(y, pred, sample_weight=w),
        # scikit-learn's multiclass Brier is the unhalved sum over classes (scale_by_half="auto"
        # keeps [0, 2] for >= 3 columns); say it explicitly so two columns are unhalved too
        "brier": skm.brier_score_loss(y, p, labels=labels, sample_weight=w, scale_by_half=False),
        "entropy": wmean(sps.entropy(p, axis=1, base=b), w),
    }
    if top_k is not None:
        exp["top_k_accuracy"] = skm.top_k_accuracy_score(
            y, p, k=top_k, labels=labels, sample_weight=w
        )
    freq = np.array([math.fsum(w[y == c]) for c in range(C)]) / math.fsum(w)
    exp["prior_entropy"] = float(sps.entropy(freq, base=b))
    if logp_true is None:
        loss = skm.log_loss(y, p, labels=labels, sample_weight=w) / LN[base]
    else:
        loss = wmean(-logp_true, w) / LN[base]
    exp["loss_mean"] = loss
    exp["normalized_entropy"] = loss / exp["prior_entropy"]
    exp["information_gain"] = 1.0 - loss / exp["prior_entropy"]
    return exp


def split_loss(out: dict[str, Any], exp: dict[str, float], ctx: str) -> None:
    """The loss itself is checked too: normalized_entropy is built on it."""
    close(out["loss_mean"], exp.pop("loss_mean"), f"{ctx} loss_mean")


# --------------------------------------------------------------------------------------------
# multiclass, index labels
# --------------------------------------------------------------------------------------------

MC_CASES = [
    ("probs", "parquet", False),
    ("probs", "parquet", True),
    ("probs", "csv", False),
    ("probs", "csv", True),
    ("logits", "parquet", False),
    ("logits", "parquet", True),
]


@pytest.mark.parametrize(("kind", "fmt", "weighted"), MC_CASES)
def test_multiclass_labels(
    tmp_path: Path, skm: Any, sps: Any, kind: str, fmt: str, weighted: bool
) -> None:
    rng = np.random.default_rng([1, MC_CASES.index((kind, fmt, weighted))])
    if kind == "probs":
        p, y = mc_probs(rng)
        scores, extra, logp_true = p, [], None
    else:
        scores, y = mc_logits(rng)
        p = softmax(scores)
        assert p[0, 0] == 1.0  # the edge row has confidence exactly 1.0
        logp = scores - scores.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        scores, extra, logp_true = scores, ["--logits"], logp[np.arange(len(y)), y]
    w = weights(rng, len(y), weighted)
    cols = {**wide(scores, "c"), "label": y}
    if weighted:
        cols["w"] = w
        extra = [*extra, "--weight-col", "w"]
    path = write(tmp_path, cols, fmt)
    conf, correct = p.max(axis=1), np.argmax(p, axis=1) == y

    for base, k, bins in [("e", 2, 15), ("2", 3, 8), ("10", 1, 15)]:
        ctx = f"{kind} {fmt} weighted={weighted} --base {base} --top-k {k} --bins {bins}"
        out = xent(path, *extra, "--base", base, "--top-k", str(k), "--bins", str(bins), "--plot")
        exp = mc_expected(skm, sps, p, y, w, base=base, top_k=k, logp_true=logp_true)
        split_loss(out, exp, ctx)
        ece, mce, cal = calibration_ref(conf, correct, w, bins)
        exp.update(ece=ece, mce=mce)
        check_metrics(out, exp, ctx)
        check_calibration(out, cal)
        assert cal[-1][1] == 1.0 and cal[-1][2] >= (w[0] if weighted else 1.0)


def test_two_columns_multiclass_brier_is_halved(tmp_path: Path, skm: Any) -> None:
    """Two score columns + a label column is multiclass; its Brier is halved, as
    scikit-learn's brier_score_loss (scale_by_half="auto") halves two columns, so that it
    equals the binary figure (p - y)^2 of one column of P(positive)."""
    rng = np.random.default_rng(2)
    n = 101
    p1 = rng.random(n)
    p = np.stack([1.0 - p1, p1], axis=1)
    y = rng.integers(0, 2, n)
    out = xent(write(tmp_path, {**wide(p, "c"), "label": y}))
    assert out["task"] == "multiclass"
    close(out["metrics"]["brier"], skm.brier_score_loss(y, p, labels=[0, 1]), "brier")
    manual = wmean([(p1[i] - y[i]) ** 2 for i in range(n)], np.ones(n))
    close(out["metrics"]["brier"], manual, "brier (loop)")
    halves = wmean(
        [sum((p[i, c] - (y[i] == c)) ** 2 for c in range(2)) / 2 for i in range(n)], np.ones(n)
    )
    close(out["metrics"]["brier"], halves, "brier (two columns, halved)")


# --------------------------------------------------------------------------------------------
# top-k: scikit-learn semantics, including its tie-breaking
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_top_k_ties_follow_sklearn(tmp_path: Path, skm: Any, kind: str) -> None:
    rng = np.random.default_rng([3, kind == "logits"])
    n, C = 103, 4
    y = rng.integers(0, C, n)
    y[:C] = np.arange(C)
    if kind == "probs":
        scores = rng.multinomial(4, np.full(C, 0.25), size=n) / 4.0  # multiples of 1/4: ties
        scores[:C] = 0.25  # all tied, every label once
        p, extra = scores, []
    else:
        scores = rng.integers(-1, 2, size=(n, C)).astype(np.float64)
        scores[:C] = 0.0
        p, extra = softmax(scores), ["--logits"]
    w = weights(rng, n, True)
    path = write(tmp_path, {**wide(scores, "c"), "label": y, "w": w})
    for k in range(1, C):
        out = xent(path, *extra, "--weight-col", "w", "--top-k", str(k))
        exp = skm.top_k_accuracy_score(y, p, k=k, labels=list(range(C)), sample_weight=w)
        close(out["metrics"]["top_k_accuracy"], exp, f"{kind} top_k_accuracy k={k}")
    # k = C: every row a hit, a figure that says nothing (scikit-learn warns): refused
    res = run(["compute", path, *extra, "--weight-col", "w", "--top-k", str(C)])
    assert res.exit_code == 2 and f"--top-k {C}: there are {C} classes" in res.stderr


def test_top_1_tie_break_is_sklearns_not_argmax(tmp_path: Path, skm: Any) -> None:
    """All four scores tied: scikit-learn's top-1 picks the LAST class (reversed stable sort),
    the argmax accuracy picks the first. Weights 1..4 on labels 0..3 make the two differ."""
    p = np.full((4, 4), 0.25)
    y = np.arange(4)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    out = xent(
        write(tmp_path, {**wide(p, "c"), "label": y, "w": w}), "--weight-col", "w", "--top-k", "1"
    )
    ref = skm.top_k_accuracy_score(y, p, k=1, labels=[0, 1, 2, 3], sample_weight=w)
    assert ref == pytest.approx(0.4)
    close(out["metrics"]["top_k_accuracy"], ref, "top_k_accuracy k=1 on a 4-way tie")
    close(
        out["metrics"]["accuracy"],
        skm.accuracy_score(y, np.argmax(p, 1), sample_weight=w),
        "accuracy on a 4-way tie (argmax: first maximum)",
    )


# --------------------------------------------------------------------------------------------
# binary
# --------------------------------------------------------------------------------------------

BIN_CASES = [
    ("probs", False, "e"),
    ("probs", True, "2"),
    ("logits", False, "2"),
    ("logits", True, "e"),
]


@pytest.mark.parametrize(("kind", "weighted", "base"), BIN_CASES)
def test_binary(tmp_path: Path, skm: Any, sps: Any, kind: str, weighted: bool, base: str) -> None:
    rng = np.random.default_rng([4, BIN_CASES.index((kind, weighted, base))])
    n = 199
    y = rng.integers(0, 2, n)
    if kind == "probs":
        s = rng.beta(0.8, 0.8, n)
        edge = [
            (0.5, 0),
            (0.5, 1),
            (1.0, 1),
            (0.0, 0),
            (1.0, 0),
            (0.0, 1),
            (0.75, 1),
            (0.25, 1),
            (0.75, 0),
        ]
    else:
        s = rng.normal(size=n) * 2.5
        edge = [
            (0.0, 0),
            (0.0, 1),
            (1e-30, 1),
            (-1e-30, 1),
            (800.0, 1),
            (-800.0, 0),
            (800.0, 0),
            (35.0, 1),
            (-35.0, 1),
        ]
    for i, (v, lab) in enumerate(edge):
        s[i], y[i] = v, lab
    w = weights(rng, n, weighted)
    cols: dict[str, Any] = {"score": s, "label": y}
    extra = ["--base", base, "--bins", "10", "--plot"]
    if kind == "logits":
        extra.append("--logits")
        p, q = sigmoid_pair(s)
        pred = s > 0  # SPEC: z > 0 (1e-30 is positive although sigmoid(1e-30) == 0.5)
        loss = wmean(np.logaddexp(0.0, s) - s * y, w) / LN[base]
    else:
        p, q = s, 1.0 - s
        pred = s > 0.5
        loss = skm.log_loss(y, s, labels=[0, 1], sample_weight=w) / LN[base]
    if weighted:
        cols["w"] = w
        extra += ["--weight-col", "w"]
    out = xent(write(tmp_path, cols), *extra)
    assert out["task"] == "binary"
    ctx = f"binary {kind} weighted={weighted} base={base}"
    close(out["loss_mean"], loss, f"{ctx} loss_mean")
    rate = math.fsum(w[y == 1]) / math.fsum(w)
    prior = float(bern_entropy(np.array(rate), np.array(1.0 - rate), sps, base))
    conf = np.maximum(p, q)
    ece, mce, cal = calibration_ref(conf, pred == y, w, 10)
    exp = {
        "accuracy": skm.accuracy_score(y, pred.astype(int), sample_weight=w),
        "brier": skm.brier_score_loss(y, p, sample_weight=w),
        "entropy": wmean(bern_entropy(p, q, sps, base), w),
        "prior_entropy": prior,
        "normalized_entropy": loss / prior,
        "information_gain": 1.0 - loss / prior,
        "ece": ece,
        "mce": mce,
    }
    check_metrics(out, exp, ctx)
    check_calibration(out, cal)


@pytest.mark.parametrize("n_bins", [4, 8])
def test_calibration_bin_edges(tmp_path: Path, n_bins: int) -> None:
    """Confidences exactly on bin edges go to the bin whose lo they equal; exactly 1.0 goes to
    the last bin (closed at 1.0). --clip-eps 0 keeps the 1.0 exact."""
    vals = np.array(
        [
            0.5,
            0.5,
            0.625,
            0.75,
            0.75,
            0.875,
            1.0,
            1.0,
            0.0,
            0.25,
            0.125,
            0.375,
            0.5 + 2**-20,
            0.75 - 2**-20,
            1.0 - 2**-40,
        ]
    )
    y = np.array([0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1])
    w = np.arange(1.0, len(vals) + 1)
    out = xent(
        write(tmp_path, {"score": vals, "label": y, "w": w}),
        "--weight-col",
        "w",
        "--clip-eps",
        "0",
        "--bins",
        str(n_bins),
        "--plot",
    )
    conf = np.maximum(vals, 1.0 - vals)
    ece, mce, cal = calibration_ref(conf, (vals > 0.5) == y, w, n_bins)
    assert cal[-1][1] == 1.0 and cal[-1][2] >= 7 + 8 + 9  # the three confidences of 1.0
    check_calibration(out, cal)
    check_metrics(out, {"ece": ece, "mce": mce})


@pytest.mark.parametrize("path", ["fused", "ignored row", "smoothing"])
def test_tied_logits_fall_in_the_edge_bin_on_every_kernel(tmp_path: Path, path: str) -> None:
    """Ten (five, two) equal logits give a top probability of exactly 1/10 (1/5, 1/2): a bin
    edge. The chunk's kernel (fused for index labels; the general one when a chunk holds an
    ignored row or smoothing is on) must not move it across the edge."""
    z = np.zeros((6, 10))
    z[2:4, 5:] = -800.0  # five classes left: 1/5 (e^-800 underflows to 0)
    z[4:6, 2:] = -800.0  # two: 1/2
    y = np.array([0, 3, 1, 4, 0, 1])
    if path == "ignored row":
        z, y = np.vstack([z, z[:1]]), np.append(y, -100)
    cols = {f"c{j}": z[:, j] for j in range(10)} | {"label": y}
    args = ["--logits", "--bins", "10", "--plot"]
    args += {
        "fused": [],
        "ignored row": ["--ignore-index", "-100"],
        "smoothing": ["--label-smoothing", "0.1"],
    }[path]
    out = xent(write(tmp_path, cols), *args)
    conf = np.array([0.1, 0.1, 0.2, 0.2, 0.5, 0.5])
    hit = [True, False, False, False, True, False]  # the first of the tied classes is predicted
    ece, mce, cal = calibration_ref(conf, hit, np.ones(6), 10)
    assert [b[0] for b in cal] == [0.1, 0.2, 0.5]  # each on its bin's lower edge
    check_calibration(out, cal)
    check_metrics(out, {"ece": ece, "mce": mce})


def test_calibration_bin_with_only_zero_weights_is_empty(tmp_path: Path) -> None:
    """A bin holding only zero-weight rows has size 0: it is not a non-empty bin (no
    calibration entry, no part in MCE), and nothing becomes NaN/null."""
    vals = np.array([0.55, 0.6, 0.4, 0.9, 0.95, 0.05, 0.8, 0.2])
    y = np.array([0, 0, 1, 1, 1, 0, 0, 1])
    w = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 1.0, 3.0, 1.0])  # conf in [0.5, 0.75): weight 0
    out = xent(
        write(tmp_path, {"score": vals, "label": y, "w": w}),
        "--weight-col",
        "w",
        "--bins",
        "4",
        "--plot",
    )
    conf = np.maximum(vals, 1.0 - vals)
    ece, mce, cal = calibration_ref(conf, (vals > 0.5) == y, w, 4)
    assert [b[0] for b in cal] == [0.75]
    check_calibration(out, cal)
    check_metrics(out, {"ece": ece, "mce": mce})


# --------------------------------------------------------------------------------------------
# multi-label
# --------------------------------------------------------------------------------------------

ML_CASES = [
    ("probs", False, "sum"),
    ("probs", True, "mean"),
    ("logits", True, "sum"),
    ("logits", False, "mean"),
]


@pytest.mark.parametrize(("kind", "weighted", "red"), ML_CASES)
def test_multilabel(
    tmp_path: Path, skm: Any, sps: Any, kind: str, weighted: bool, red: str
) -> None:
    rng = np.random.default_rng([5, ML_CASES.index((kind, weighted, red))])
    n, C = 197, 4
    Y = (rng.random((n, C)) < 0.35).astype(np.int64)
    Y[0], Y[1] = 0, 1  # all-negative and all-positive rows
    if kind == "probs":
        s = rng.random((n, C))
        s[2:6] = [
            [0.0, 1.0, 0.5, 0.25],
            [1.0, 0.0, 0.5, 0.75],
            [0.5, 0.5, 1.0, 0.0],
            [1.0, 1.0, 0.0, 0.0],
        ]
        p, q, pred = s, 1.0 - s, s > 0.5
    else:
        s = rng.normal(size=(n, C)) * 2.0
        s[2:6] = [
            [0.0, 800.0, -800.0, 1e-30],
            [-1e-30, 0.0, 30.0, -30.0],
            [5.0, -5.0, 0.0, 0.0],
            [800.0, 800.0, -800.0, -800.0],
        ]
        (p, q), pred = sigmoid_pair(s), s > 0
    Y[2:6] = [[0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 1, 0], [1, 1, 0, 0]]  # keep losses finite
    w = weights(rng, n, weighted)
    cols: dict[str, Any] = {**wide(s, "c"), **wide(Y, "t")}
    extra = ["--task", "multilabel", "--target-cols", "t*", "--label-reduction", red, "--plot"]
    if kind == "logits":
        extra.append("--logits")
    if weighted:
        cols["w"] = w
        extra += ["--weight-col", "w"]
    out = xent(write(tmp_path, cols), *extra)
    assert out["task"] == "multilabel"
    div = C if red == "mean" else 1
    if kind == "probs":
        per_label = [
            skm.log_loss(Y[:, j], s[:, j], labels=[0, 1], sample_weight=w) for j in range(C)
        ]
    else:
        per_label = [wmean(np.logaddexp(0.0, s[:, j]) - s[:, j] * Y[:, j], w) for j in range(C)]
    loss = math.fsum(per_label) / div
    ctx = f"multilabel {kind} weighted={weighted} --label-reduction {red}"
    close(out["loss_mean"], loss, f"{ctx} loss_mean")
    rates = np.array([math.fsum(w[Y[:, j] == 1]) for j in range(C)]) / math.fsum(w)
    prior = float(bern_entropy(rates, 1.0 - rates, sps, "e").sum()) / div
    ece, mce, cal = calibration_ref(np.maximum(p, q), pred == Y, np.repeat(w[:, None], C, 1), 15)
    exp = {
        "accuracy": 1.0 - skm.hamming_loss(Y, pred.astype(int), sample_weight=w),
        "subset_accuracy": skm.accuracy_score(Y, pred.astype(int), sample_weight=w),
        "brier": math.fsum(
            skm.brier_score_loss(Y[:, j], p[:, j], sample_weight=w, pos_label=1) for j in range(C)
        )
        / C,
        "entropy": wmean(bern_entropy(p, q, sps, "e").sum(axis=1), w) / div,
        "prior_entropy": prior,
        "normalized_entropy": loss / prior,
        "information_gain": 1.0 - loss / prior,
        "ece": ece,
        "mce": mce,
    }
    check_metrics(out, exp, ctx)
    check_calibration(out, cal)


# --------------------------------------------------------------------------------------------
# soft / one-hot target columns
# --------------------------------------------------------------------------------------------

SOFT_CASES = [
    ("probs", False, "e"),
    ("probs", True, "2"),
    ("logits", True, "e"),
    ("logits", False, "2"),
]


@pytest.mark.parametrize(("kind", "weighted", "base"), SOFT_CASES)
def test_soft_targets(tmp_path: Path, sps: Any, kind: str, weighted: bool, base: str) -> None:
    rng = np.random.default_rng([6, SOFT_CASES.index((kind, weighted, base))])
    n, C = 173, 4
    T = rng.dirichlet(np.full(C, 0.7), size=n)
    T[0:3] = [[0.0, 0.7, 0.3, 0.0], [1.0, 0.0, 0.0, 0.0], [0.1, 0.0, 0.0, 0.9]]  # 0 log 0 = 0
    if kind == "probs":
        s = rng.dirichlet(np.full(C, 1.5), size=n)
        s[0] = [0.0, 0.5, 0.5, 0.0]  # p = 0 only where y = 0: finite KL
        s[1] = [1.0, 0.0, 0.0, 0.0]
        p = s
    else:
        s = rng.normal(size=(n, C)) * 2.0
        s[1] = [0.0, -800.0, -800.0, -800.0]
        p = softmax(s)
    w = weights(rng, n, weighted)
    cols: dict[str, Any] = {**wide(s, "c"), **wide(T, "t")}
    extra = ["--task", "multiclass", "--target-cols", "t*", "--base", base, "--plot"]
    if kind == "logits":
        extra.append("--logits")
    if weighted:
        cols["w"] = w
        extra += ["--weight-col", "w"]
    out = xent(write(tmp_path, cols), *extra)
    b = None if base == "e" else float(base)
    ln = LN[base]
    # slow loops from the definitions (0 log 0 = 0)
    ce = [
        -math.fsum(T[i, c] * math.log(p[i, c]) for c in range(C) if T[i, c] > 0) / ln
        for i in range(n)
    ]
    loss = wmean(ce, w)
    ctx = f"soft targets {kind} weighted={weighted} base={base}"
    close(out["loss_mean"], loss, f"{ctx} loss_mean")
    qbar = np.array([wmean(T[:, c], w) for c in range(C)])
    prior = wmean(
        [
            -math.fsum(T[i, c] * math.log(qbar[c]) for c in range(C) if T[i, c] > 0) / ln
            for i in range(n)
        ],
        w,
    )
    target_entropy = wmean(sps.entropy(T, axis=1, base=b), w)
    kl = wmean([sps.entropy(T[i], p[i], base=b) for i in range(n)], w)
    assert kl == pytest.approx(loss - target_entropy, rel=1e-10)
    pred, truth = np.argmax(p, axis=1), np.argmax(T, axis=1)
    brier = wmean([math.fsum((p[i, c] - T[i, c]) ** 2 for c in range(C)) for i in range(n)], w)
    ece, mce, cal = calibration_ref(p.max(axis=1), pred == truth, w, 15)
    exp = {
        "accuracy": wmean(pred == truth, w),
        "brier": brier,
        "entropy": wmean(sps.entropy(p, axis=1, base=b), w),
        "prior_entropy": prior,
        "normalized_entropy": loss / prior,
        "information_gain": 1.0 - loss / prior,
        "target_entropy": target_entropy,
        "kl": kl,
        "ece": ece,
        "mce": mce,
    }
    check_metrics(out, exp, ctx)
    check_calibration(out, cal)


def test_one_hot_targets_match_index_labels(tmp_path: Path, skm: Any, sps: Any) -> None:
    """One-hot target columns are the same problem as index labels: every shared metric
    agrees with the label-column references; target_entropy = 0 and kl = the loss."""
    rng = np.random.default_rng(7)
    p, y = mc_probs(rng)
    w = weights(rng, len(y), True)
    onehot = np.eye(C_MC, dtype=np.int64)[y]
    args = ["--weight-col", "w", "--top-k", "2", "--task", "multiclass"]
    out = xent(
        write(tmp_path, {**wide(p, "c"), **wide(onehot, "t"), "w": w}), "--target-cols", "t*", *args
    )
    exp = mc_expected(skm, sps, p, y, w, base="e", top_k=2)
    loss = exp.pop("loss_mean")
    close(out["loss_mean"], loss, "one-hot loss_mean")
    ece, mce, _ = calibration_ref(p.max(1), np.argmax(p, 1) == y, w, 15)
    exp.update(ece=ece, mce=mce, kl=loss)
    if "top_k_accuracy" not in out["metrics"]:
        exp.pop("top_k_accuracy")  # top-k with target columns: not required by the SPEC
    check_metrics(out, exp, "one-hot targets")
    assert out["metrics"]["target_entropy"] == pytest.approx(0.0, abs=1e-15)


# --------------------------------------------------------------------------------------------
# ignored rows count nowhere
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_ignore_index_rows_count_nowhere(
    tmp_path: Path, skm: Any, sps: Any, weighted: bool
) -> None:
    rng = np.random.default_rng([8, weighted])
    p, y = mc_probs(rng)
    w = weights(rng, len(y), weighted)
    ignored = rng.random(len(y)) < 0.2
    ignored[:2] = True  # the confident rows, incl. the confidently wrong one
    ignored[2:4] = False
    y_in = np.where(ignored, -100, y)
    cols = {**wide(p, "c"), "label": y_in, "w": w}
    args = ["--weight-col", "w", "--ignore-index", "-100", "--top-k", "3", "--plot"]
    out = xent(write(tmp_path, cols), *args)
    keep = ~ignored
    assert out["n"] == int(keep.sum())
    exp = mc_expected(skm, sps, p[keep], y[keep], w[keep], base="e", top_k=3)
    split_loss(out, exp, "--ignore-index")
    ece, mce, cal = calibration_ref(p[keep].max(1), np.argmax(p[keep], 1) == y[keep], w[keep], 15)
    exp.update(ece=ece, mce=mce)
    check_metrics(out, exp, f"--ignore-index weighted={weighted}")
    check_calibration(out, cal)


# --------------------------------------------------------------------------------------------
# prior entropy under --class-weights / --label-smoothing / --pos-weight (torch anchors)
# --------------------------------------------------------------------------------------------

PRIOR_MC_CASES = [
    ("cw", None, False),
    ("ls", 0.15, False),
    ("cw", 0.1, False),  # both combined
    ("cw", 0.2, True),  # ... with ignored rows
]


@pytest.mark.parametrize(("cw", "ls", "ignore"), PRIOR_MC_CASES)
def test_prior_entropy_multiclass_options(
    tmp_path: Path, cw: str, ls: float | None, ignore: bool
) -> None:
    """prior_entropy = the loss, under the same options, of the best constant prediction.
    Computed with torch.nn.functional.cross_entropy on a constant row log(q) repeated for every
    row; q is the minimiser, checked by a zero gradient of that torch loss."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng([9, PRIOR_MC_CASES.index((cw, ls, ignore))])
    n, C = 167, 4
    z = rng.normal(size=(n, C)) * 1.5
    y = rng.integers(0, C, n)
    y[:C] = np.arange(C)
    y[rng.random(n) < 0.3] = 1  # an unbalanced class
    if ignore:
        y[C:][rng.random(n - C) < 0.2] = -100
    cwv = np.array([0.5, 2.0, 1.0, 3.0]) if cw == "cw" else None
    a = ls or 0.0
    args = ["--logits", "--base", "2"]
    if cwv is not None:
        args += ["--class-weights", ",".join(str(v) for v in cwv)]
    if ls is not None:
        args += ["--label-smoothing", str(ls)]
    if ignore:
        args += ["--ignore-index", "-100"]
    out = xent(write(tmp_path, {**wide(z, "c"), "label": y}), *args)

    kw: dict[str, Any] = {"label_smoothing": a, "ignore_index": -100}
    if cwv is not None:
        kw["weight"] = torch.tensor(cwv, dtype=torch.float64)
    yt = torch.tensor(y)
    loss = F.cross_entropy(torch.tensor(z), yt, **kw).item() / LN["2"]
    # best constant prediction: the loss is sum_c A_c (-log q_c) / D, minimised by q ∝ A
    kept = y[y != -100]
    cwa = cwv if cwv is not None else np.ones(C)
    A = np.array(
        [(1 - a) * cwa[c] * np.sum(kept == c) + a / C * cwa[c] * len(kept) for c in range(C)]
    )
    q = A / A.sum()
    logq = torch.tensor(np.log(q), dtype=torch.float64, requires_grad=True)
    prior_t = F.cross_entropy(logq.expand(n, C), yt, **kw)
    (grad,) = torch.autograd.grad(prior_t, logq)
    assert float(grad.abs().max()) < 1e-12  # q is the best constant prediction
    prior = prior_t.item() / LN["2"]
    ctx = f"--class-weights {cwv} --label-smoothing {ls} ignore={ignore} --base 2"
    close(out["loss_mean"], loss, f"{ctx} loss_mean")
    freq = np.bincount(kept, minlength=C) / len(kept)
    naive = F.cross_entropy(torch.tensor(np.log(freq)).expand(n, C), yt, **kw).item() / LN["2"]
    check_metrics(
        out,
        {
            "prior_entropy": prior,
            "normalized_entropy": loss / prior,
            "information_gain": 1.0 - loss / prior,
        },
        f"{ctx} (best q={q.tolist()}; the loss of the plain class frequencies "
        f"{freq.tolist()} would be {naive!r})",
    )


PRIOR_BIN_CASES = [(None, 0.2, False), (3.0, None, True), (0.5, 0.1, True)]


@pytest.mark.parametrize(("pw", "ls", "weighted"), PRIOR_BIN_CASES)
def test_prior_entropy_binary_options(
    tmp_path: Path, pw: float | None, ls: float | None, weighted: bool
) -> None:
    """Binary: Keras smoothing y' = y(1-a) + a/2, torch pos_weight, scikit-learn sample weights;
    the best constant logit is found in closed form and checked by a zero torch gradient."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng([10, PRIOR_BIN_CASES.index((pw, ls, weighted))])
    n = 181
    z = rng.normal(size=n) * 2.0
    y = (rng.random(n) < 0.3).astype(np.int64)
    w = weights(rng, n, weighted)
    a = ls or 0.0
    args = ["--logits"]
    cols: dict[str, Any] = {"score": z, "label": y}
    if pw is not None:
        args += ["--pos-weight", str(pw)]
    if ls is not None:
        args += ["--label-smoothing", str(ls)]
    if weighted:
        cols["w"] = w
        args += ["--weight-col", "w"]
    out = xent(write(tmp_path, cols), *args)

    ys = torch.tensor(y * (1 - a) + a / 2)
    wt = torch.tensor(w)
    kw: dict[str, Any] = {"reduction": "none"}
    if pw is not None:
        kw["pos_weight"] = torch.tensor(pw, dtype=torch.float64)

    def wloss(logit: Any) -> Any:
        return (F.binary_cross_entropy_with_logits(logit, ys, **kw) * wt).sum() / wt.sum()

    loss = wloss(torch.tensor(z)).item()
    P = math.fsum(w * (y * (1 - a) + a / 2)) * (pw or 1.0)
    Nn = math.fsum(w * (1 - (y * (1 - a) + a / 2)))
    c = torch.tensor(math.log(P / Nn), dtype=torch.float64, requires_grad=True)
    prior_t = wloss(c.expand(n))
    (grad,) = torch.autograd.grad(prior_t, c)
    assert abs(float(grad)) < 1e-12  # the best constant prediction
    prior = prior_t.item()
    rate = math.fsum(w * y) / math.fsum(w)
    naive = wloss(torch.tensor(math.log(rate / (1 - rate)), dtype=torch.float64).expand(n)).item()
    ctx = (
        f"binary --pos-weight {pw} --label-smoothing {ls} weighted={weighted} (best constant "
        f"p={P / (P + Nn)!r}; the loss of the raw base rate {rate!r} would be {naive!r})"
    )
    close(out["loss_mean"], loss, f"{ctx} loss_mean")
    check_metrics(
        out,
        {
            "prior_entropy": prior,
            "normalized_entropy": loss / prior,
            "information_gain": 1.0 - loss / prior,
        },
        ctx,
    )


CONST_CASES = [
    ("multiclass", []),
    ("multiclass", ["--class-weights", "0.5,2,1,3"]),
    ("multiclass", ["--label-smoothing", "0.3"]),
    ("binary", ["--pos-weight", "3"]),
    ("binary", ["--label-smoothing", "0.3"]),
]


@pytest.mark.parametrize(("task", "opts"), CONST_CASES)
def test_best_constant_model_has_zero_information_gain(
    tmp_path: Path, task: str, opts: list[str]
) -> None:
    """The model that predicts the best constant for every row IS the prior: its loss equals
    prior_entropy, so normalized_entropy = 1 and information_gain = 0 (no constant prediction
    can have positive information gain). The constant is the closed-form minimiser of the
    loss under the options (torch/Keras semantics, as above)."""
    rng = np.random.default_rng([11, CONST_CASES.index((task, opts))])
    n = 139
    if task == "multiclass":
        C = 4
        y = rng.integers(0, C, n)
        y[rng.random(n) < 0.3] = 1
        cw = np.array([0.5, 2.0, 1.0, 3.0]) if "--class-weights" in opts else np.ones(C)
        a = 0.3 if "--label-smoothing" in opts else 0.0
        A = np.array([(1 - a) * cw[c] * np.sum(y == c) + a / C * cw[c] * n for c in range(C)])
        z = np.tile(np.log(A / A.sum()), (n, 1))
        cols = {**wide(z, "c"), "label": y}
    else:
        y = (rng.random(n) < 0.3).astype(np.int64)
        pw = 3.0 if "--pos-weight" in opts else 1.0
        a = 0.3 if "--label-smoothing" in opts else 0.0
        ys = y * (1 - a) + a / 2
        cols = {"score": np.full(n, math.log(pw * ys.sum() / (1 - ys).sum())), "label": y}
    out = xent(write(tmp_path, cols), "--logits", *opts)
    m = out["metrics"]
    assert m["normalized_entropy"] == pytest.approx(1.0, rel=1e-12) and m[
        "information_gain"
    ] == pytest.approx(0.0, abs=1e-12), (
        f"{task} {opts}: the best constant prediction has loss_mean {out['loss_mean']!r} but "
        f"xent's prior_entropy is {m['prior_entropy']!r} (information_gain "
        f"{m['information_gain']!r})"
    )


def test_target_entropy_and_kl_under_label_smoothing(tmp_path: Path) -> None:
    """Index labels with --label-smoothing report H(y') and KL like the same one-hot targets."""
    rng = np.random.default_rng(8)
    z = rng.normal(size=(40, 3))
    y = rng.integers(0, 3, 40)
    onehot = np.eye(3)[y]
    labels = write_table(
        tmp_path / "l.parquet", pa.table({"a": z[:, 0], "b": z[:, 1], "c": z[:, 2], "label": y})
    )
    targets = write_table(
        tmp_path / "t.parquet",
        pa.table(
            {
                "a": z[:, 0],
                "b": z[:, 1],
                "c": z[:, 2],
                "ta": onehot[:, 0],
                "tb": onehot[:, 1],
                "tc": onehot[:, 2],
            }
        ),
    )
    by_label = run_json(["compute", labels, "--logits", "--label-smoothing", "0.1"])
    by_target = run_json(
        ["compute", targets, "--logits", "--label-smoothing", "0.1", "--target-cols", "ta,tb,tc"]
    )
    on, off = 1 - 0.1 + 0.1 / 3, 0.1 / 3
    h = -(on * math.log(on) + 2 * off * math.log(off))  # by hand
    for out in (by_label, by_target):
        assert out["metrics"]["target_entropy"] == pytest.approx(h, rel=1e-12)
        assert out["metrics"]["kl"] == pytest.approx(out["loss_mean"] - h, rel=1e-12)
