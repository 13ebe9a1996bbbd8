"""Numerical extremes, each checked against an independent reference.

References are written here from the textbook formulas in Python ``math`` (``math.fsum`` for
exact sums, ``fractions.Fraction`` for exact shifts) or are torch float64 anchors; nothing is
taken from xentcli's code. xent is driven through the CLI (JSON) or ``evaluate``.

Cases: huge logits (±1e30, ±1e300, float32 max, identical huge rows, huge next to tiny) for
multiclass, binary and multi-label, with smoothing and weights; rows of 100,000 classes;
probabilities of 1e-300 and subnormals, with and without clipping (float64 and float32 eps)
and the ``clipped`` count; exact sums over 10^7 rows and over mixed huge/tiny losses;
chunking invariance (chunk_rows 1, 7, 65536); metrics of one-hot rows and ECE at
confidence 1.0. ``XENT_SLOW=1`` adds a 10^8-row sum.
"""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from xentcli.cli import app
from xentcli.config import LossConfig, ReadConfig
from xentcli.evaluate import evaluate

CHUNKS = [1, 7, 65536]
REL = 1e-12
F32_MAX = float(np.finfo(np.float32).max)  # 3.4028234663852886e+38
F64_EPS = 2.0**-52
F32_EPS = 2.0**-23

slow = pytest.mark.skipif(os.environ.get("XENT_SLOW") != "1", reason="set XENT_SLOW=1")


# -- driving xent -----------------------------------------------------------------------------


def xent(path: Path, *args: Any) -> dict[str, Any]:
    """`xent compute PATH --format json ARGS...` in-process; the parsed JSON."""
    res = CliRunner().invoke(
        app, ["compute", str(path), "--format", "json", *[str(a) for a in args]]
    )
    assert res.exit_code == 0, res.stderr + res.stdout
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def xent_rows(path: Path, tmp_path: Path, *args: Any) -> tuple[dict[str, Any], list[float]]:
    """The JSON and each row's loss (from --per-sample), in input order."""
    per = tmp_path / f"per-{abs(hash((str(path), args)))}.parquet"
    out = xent(path, *args, "--per-sample", per)
    return out, pq.read_table(per).column("loss").to_pylist()


def save_npz(path: Path, scores: np.ndarray, labels: np.ndarray) -> Path:
    np.savez(path, scores=scores, labels=labels)
    return path


def save_wide_parquet(
    path: Path,
    scores: np.ndarray,
    labels: np.ndarray | None = None,
    targets: np.ndarray | None = None,
) -> Path:
    cols: dict[str, Any] = {f"c{j}": scores[:, j] for j in range(scores.shape[1])}
    if targets is not None:
        cols.update({f"t{j}": targets[:, j] for j in range(targets.shape[1])})
    if labels is not None:
        cols["label"] = labels
    pq.write_table(pa.table(cols), path, row_group_size=3)
    return path


# -- comparisons ------------------------------------------------------------------------------


def close(got: float | None, want: float, rel: float = REL) -> bool:
    """got == want, or within ``rel`` relative; None (JSON null) is never close to a number."""
    if got is None:
        return False
    if got == want:
        return True
    return math.isfinite(got) and abs(got - want) <= rel * max(abs(got), abs(want))


def assert_close(got: float | None, want: float, rel: float = REL, what: str = "") -> None:
    assert close(got, want, rel), f"{what}: xent {got!r}, reference {want!r}"


def within_ulps(got: float, want: float, ulps: int = 4) -> bool:
    return abs(got - want) <= ulps * math.ulp(want)


# -- independent references -------------------------------------------------------------------


def ref_nll_row(row: list[float]) -> list[float]:
    """-log softmax(row)_c for every c: (m - z_c) + log sum_c exp(z_c - m), m = max.

    The shifts are exact (Fraction), the sum of exponentials is math.fsum, and each result is
    rounded once from the exact (m - z_c) + lse.
    """
    m = max(row)
    shifts = [Fraction(m) - Fraction(v) for v in row]  # exact, >= 0
    lse = math.log(math.fsum(math.exp(-float(d)) for d in shifts))
    return [float(d + Fraction(lse)) for d in shifts]


def ref_ce(
    rows: list[list[float]],
    labels: list[int],
    weights: list[float] | None = None,
    smoothing: float = 0.0,
) -> tuple[list[float], float]:
    """Per-row loss and the mean's denominator, torch's cross_entropy semantics:
    l_i = (1 - a) w_y nll_y + (a / C) sum_c w_c nll_c, denominator sum_i w_{y_i}."""
    losses, denom = [], []
    for row, y in zip(rows, labels, strict=True):
        nll = ref_nll_row(row)
        c = len(row)
        w = weights or [1.0] * c
        smooth = math.fsum(w[j] * nll[j] for j in range(c))
        losses.append(math.fsum([(1 - smoothing) * w[y] * nll[y], smoothing / c * smooth]))
        denom.append(w[y])
    return losses, math.fsum(denom)


def softplus(x: float) -> float:
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def ref_bce(z: float, y: float, pos_weight: float = 1.0, smoothing: float = 0.0) -> float:
    """pw y' (-log sigmoid z) + (1 - y') (-log(1 - sigmoid z)); y' = y (1 - a) + a / 2."""
    ys = y * (1 - smoothing) + smoothing / 2
    terms = [
        pos_weight * ys * softplus(-z) if ys else 0.0,
        (1 - ys) * softplus(z) if ys != 1 else 0.0,
    ]
    return math.fsum(terms)


def torch_ce(
    rows: list[list[float]], labels: list[int], weights: list[float] | None, smoothing: float
) -> tuple[float, float]:
    """(sum, mean) from torch.nn.functional.cross_entropy in float64 (the anchor)."""
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    z = torch.tensor(rows, dtype=torch.float64)
    y = torch.tensor(labels)
    w = None if weights is None else torch.tensor(weights, dtype=torch.float64)
    s = f.cross_entropy(z, y, weight=w, label_smoothing=smoothing, reduction="sum")
    m = f.cross_entropy(z, y, weight=w, label_smoothing=smoothing, reduction="mean")
    return float(s), float(m)


def torch_bce(
    z: list[float], y: list[float], pos_weight: float | None, smoothing: float
) -> tuple[float, float]:
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    zt = torch.tensor(z, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64) * (1 - smoothing) + smoothing / 2
    pw = None if pos_weight is None else torch.tensor([pos_weight], dtype=torch.float64)
    s = f.binary_cross_entropy_with_logits(zt, yt, pos_weight=pw, reduction="sum")
    return float(s), float(s) / len(z)


# -- 1. huge logits ---------------------------------------------------------------------------

SCALES = {"1e30": (1e30, np.float64), "1e300": (1e300, np.float64), "f32max": (F32_MAX, np.float32)}


def huge_rows(s: float, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Three-class rows around scale s: ±s, a row of identical s, s next to ±1e-30."""
    t = 1e-30
    z = np.array(
        [
            [s, -s, 0.0],  # label 0: loss 0
            [s, -s, 0.0],  # label 1: loss 2s
            [s, -s, 0.0],  # label 2: loss s
            [s, s, s],  # identical huge logits: log 3
            [s, t, -t],  # huge and tiny, label on the tiny one: s - 1e-30 = s
            [-s, t, -t],  # label 2: log 2 + 2e-30 (+ e^-s terms)
            [t, -t, 0.0],  # tiny only, label 0: log(1 + e^-t' + ...) - ...
            [-s, s, -s],  # label 1: 0
        ],
        dtype=dtype,
    )
    y = np.array([0, 1, 2, 1, 1, 2, 0, 1])
    return z, y


def as_rows(z: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in z]  # float32 values widened exactly


@pytest.mark.parametrize("scale", list(SCALES))
def test_huge_logits_exact_row_losses(tmp_path: Path, scale: str) -> None:
    s, dtype = SCALES[scale]
    z, y = huge_rows(s, dtype)
    path = save_npz(tmp_path / "z.npz", z, y)
    out, per_row = xent_rows(path, tmp_path, "--logits")
    s = float(dtype(s))
    want, _ = ref_ce(as_rows(z), y.tolist())
    # the exact values: 0, 2s, s, log 3, s, then two tiny-logit rows, then 0
    assert want[:5] == [0.0, 2 * s, s, math.log(3), s] and want[7] == 0.0
    for i, (g, w) in enumerate(zip(per_row, want, strict=True)):
        assert_close(g, w, what=f"row {i}")
        if i in (0, 1, 2, 4, 7):
            assert g == w, f"row {i}: xent {g!r}, exact {w!r}"
    assert out["n"] == len(y)
    assert_close(out["loss_sum"], math.fsum(want), what="loss_sum")
    assert_close(out["loss_mean"], math.fsum(want) / len(y), what="loss_mean")
    for c, pc in enumerate(out["per_class"]):
        assert_close(
            pc["loss_sum"],
            math.fsum(w for w, k in zip(want, y, strict=True) if k == c),
            what=f"class {c}",
        )


OPTIONS = {
    "smoothing": (None, 0.1),
    "weights": ([1.0, 2.0, 0.5], 0.0),
    "weights+smoothing": ([0.25, 3.0, 1.0], 0.2),
}


@pytest.mark.parametrize("opt", list(OPTIONS))
@pytest.mark.parametrize("scale", list(SCALES))
def test_huge_logits_with_smoothing_and_class_weights(tmp_path: Path, scale: str, opt: str) -> None:
    s, dtype = SCALES[scale]
    weights, a = OPTIONS[opt]
    z, y = huge_rows(s, dtype)
    path = save_npz(tmp_path / "z.npz", z, y)
    args: list[Any] = ["--logits"]
    if a:
        args += ["--label-smoothing", a]
    if weights:
        args += ["--class-weights", ",".join(map(str, weights))]
    out = xent(path, *args)
    losses, denom = ref_ce(as_rows(z), y.tolist(), weights, a)
    t_sum, t_mean = torch_ce(as_rows(z), y.tolist(), weights, a)
    assert close(t_sum, math.fsum(losses), 1e-14), "references disagree"
    assert_close(out["loss_sum"], math.fsum(losses), what="loss_sum")
    assert_close(out["loss_mean"], math.fsum(losses) / denom, what="loss_mean")
    assert_close(out["loss_mean"], t_mean, what="loss_mean vs torch")
    assert out["weight_sum"] == denom
    assert all(math.isfinite(pc["loss_sum"]) for pc in out["per_class"])


BIN_OPTIONS = {
    "plain": (None, 0.0),
    "smoothing": (None, 0.2),
    "pos_weight": (3.0, 0.0),
    "pos_weight+smoothing": (3.0, 0.1),
}


@pytest.mark.parametrize("opt", list(BIN_OPTIONS))
@pytest.mark.parametrize("scale", list(SCALES))
def test_binary_huge_logits(tmp_path: Path, scale: str, opt: str) -> None:
    s, dtype = SCALES[scale]
    pw, a = BIN_OPTIONS[opt]
    z = np.array([s, -s, s, -s, s, -s], dtype=dtype)
    y = np.array([1, 0, 0, 1, 1, 0])
    path = save_npz(tmp_path / "b.npz", z, y)
    args: list[Any] = ["--logits"]
    if a:
        args += ["--label-smoothing", a]
    if pw:
        args += ["--pos-weight", pw]
    out, per_row = xent_rows(path, tmp_path, *args)
    zs = [float(v) for v in z]
    want = [ref_bce(v, float(k), pw or 1.0, a) for v, k in zip(zs, y, strict=True)]
    if opt == "plain":
        sf = float(dtype(s))
        assert want == [0.0, 0.0, sf, sf, 0.0, 0.0]
        assert per_row == want
    for i, (g, w) in enumerate(zip(per_row, want, strict=True)):
        assert_close(g, w, what=f"row {i}")
    t_sum, _ = torch_bce(zs, [float(k) for k in y], pw, a)
    assert close(t_sum, math.fsum(want), 1e-14), "references disagree"
    assert_close(out["loss_sum"], math.fsum(want), what="loss_sum")
    assert_close(out["loss_mean"], math.fsum(want) / len(y), what="loss_mean")
    # the per-class rows: mean BCE of the rows of each label
    for c, pc in enumerate(out["per_class"]):
        assert_close(
            pc["loss_sum"],
            math.fsum(w for w, k in zip(want, y, strict=True) if k == c),
            what=f"class {c}",
        )


@pytest.mark.parametrize("scale", list(SCALES))
def test_multilabel_huge_logits(tmp_path: Path, scale: str) -> None:
    s, dtype = SCALES[scale]
    z = np.array([[s, -s, s], [-s, s, -s]], dtype=dtype)
    t = np.array([[1, 0, 0], [0, 0, 1]])
    path = tmp_path / "ml.npz"
    np.savez(path, scores=z, labels=t)
    for args, pw, a in [
        ((), 1.0, 0.0),
        (("--pos-weight", "2,3,4"), None, 0.0),
        (("--label-smoothing", "0.1"), 1.0, 0.1),
    ]:
        out = xent(path, "--logits", "--task", "multilabel", *args)
        pws = [2.0, 3.0, 4.0] if pw is None else [pw] * 3
        want = [
            ref_bce(float(z[i, j]), float(t[i, j]), pws[j], a) for i in range(2) for j in range(3)
        ]
        assert_close(out["loss_sum"], math.fsum(want), what=f"{args} loss_sum")
        assert_close(out["loss_mean"], math.fsum(want) / 2, what=f"{args} loss_mean")


@pytest.mark.parametrize("path_kind", ["fused", "smoothing", "targets", "ignore-index"])
@pytest.mark.parametrize("s", [1e300, 1e16, 1e12, 1e6])
def test_metrics_of_identical_huge_logits(tmp_path: Path, s: float, path_kind: str) -> None:
    """A row of C identical logits is the uniform distribution whatever their size:
    entropy log C, Brier 1 - 1/C (scikit-learn's unhalved multiclass Brier), confidence 1/C.
    The loss is log C on every path; the metrics must be too."""
    c = 5
    z = np.full((4, c), s)
    y = np.array([0, 1, 2, 3])
    args: list[Any] = ["--logits"]
    if path_kind == "targets":
        path = save_wide_parquet(tmp_path / "t.parquet", z, targets=np.eye(c)[y])
        args += ["--target-cols", "t*"]
    else:
        path = save_npz(tmp_path / "z.npz", z, y)
    if path_kind == "smoothing":
        args += ["--label-smoothing", "0.1"]
    if path_kind == "ignore-index":
        # one ignored row (label 3) sends the chunk through the general kernels
        args += ["--ignore-index", "3"]
    out = xent(path, *args)
    n = 3 if path_kind == "ignore-index" else 4
    assert out["n"] == n
    # uniform p: log C, with or without smoothing ((1 - a) log C + (a / C) C log C)
    assert_close(out["loss_mean"], math.log(c), what="loss_mean")
    m = out["metrics"]
    # argmax of a tie is the first class: only the label-0 row is right
    want = {
        "entropy": math.log(c),
        "brier": 1 - 1 / c,
        "accuracy": 1 / n,
        "ece": abs(1 / n - 1 / c),
    }
    wrong = {k: (m[k], w) for k, w in want.items() if not close(m[k], w)}
    assert not wrong, f"metric: (xent, reference): {wrong}"


@pytest.mark.parametrize("extra", [[], ["--label-smoothing", "0.1"]])
def test_logits_near_float64_max_are_refused(tmp_path: Path, extra: list[str]) -> None:
    """±1.7e308: z_c - max_c z overflows float64. xent refuses such logits (exit 2, one line)
    rather than report a null or a wrong number; ±2^1022 is still accepted."""
    from typer.testing import CliRunner

    from xentcli.cli import app

    big = 1.7e308
    path = save_npz(tmp_path / "z.npz", np.array([[big, -big], [-big, big]]), np.array([0, 1]))
    res = CliRunner().invoke(app, ["compute", str(path), "--logits", *extra, "--format", "json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "logit is 1.7e+308" in res.stderr and "overflow" in res.stderr
    edge = 2.0**1022
    path = save_npz(tmp_path / "e.npz", np.array([[edge, -edge], [-edge, edge]]), np.array([0, 1]))
    out = xent(path, "--logits")
    assert out["loss_sum"] == 0.0 and out["metrics"]["entropy"] == 0.0


# -- 2. rows of 100,000 classes ---------------------------------------------------------------

WIDE = 100_000


@pytest.fixture(scope="module")
def wide_logits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240531)
    z = np.stack(
        [
            rng.normal(0.0, 1.0, WIDE),
            rng.normal(0.0, 30.0, WIDE),  # one dominant class: the label, a small loss
            rng.uniform(-1e4, 1e4, WIDE),
            np.full(WIDE, 7.25),  # uniform: log(1e5)
        ]
    )
    y = np.array([5, int(np.argmax(z[1])), 17, WIDE - 1])
    assert len(set(y.tolist())) == 4  # one row per label class: per_class gives each row
    d = tmp_path_factory.mktemp("wide")
    np.save(d / "z.npy", z)
    np.save(d / "y.npy", y)
    return d, z, y


def ref_wide_nll(row: np.ndarray, k: int) -> tuple[float, float]:
    """(-log p_k, sum_c -log p_c) for one row, by math.fsum."""
    vals = row.tolist()
    m = max(vals)
    lse = m + math.log(math.fsum(math.exp(v - m) for v in vals))
    return lse - vals[k], math.fsum(lse - v for v in vals)


def ref_wide_entropy(row: np.ndarray) -> float:
    vals = row.tolist()
    m = max(vals)
    s = math.fsum(math.exp(v - m) for v in vals)
    logs = [v - m - math.log(s) for v in vals]
    return -math.fsum(math.exp(lp) * lp for lp in logs)


@pytest.mark.parametrize("chunk", [1, 3, None])
def test_wide_logits_vs_fsum(
    wide_logits: tuple[Path, np.ndarray, np.ndarray], chunk: int | None
) -> None:
    d, z, y = wide_logits
    r = evaluate(
        ReadConfig(predictions=str(d / "z.npy"), labels=str(d / "y.npy"), chunk_rows=chunk),
        LossConfig(logits=True),
    )
    want = [ref_wide_nll(z[i], int(y[i]))[0] for i in range(4)]
    assert_close(want[3], math.log(WIDE), 1e-15, what="reference")
    for i in range(4):
        assert_close(r.per_class[int(y[i])].loss_sum, want[i], what=f"row {i}")
    assert_close(r.loss_sum, math.fsum(want), what="loss_sum")
    assert_close(r.loss_mean, math.fsum(want) / 4, what="loss_mean")
    ent = math.fsum(ref_wide_entropy(z[i]) for i in range(4)) / 4
    assert_close(r.metrics["entropy"], ent, what="entropy")


@pytest.mark.parametrize("chunk", [1, None])
def test_wide_logits_smoothed_vs_fsum(
    wide_logits: tuple[Path, np.ndarray, np.ndarray], chunk: int | None
) -> None:
    d, z, y = wide_logits
    a = 0.1
    r = evaluate(
        ReadConfig(predictions=str(d / "z.npy"), labels=str(d / "y.npy"), chunk_rows=chunk),
        LossConfig(logits=True, label_smoothing=a),
    )
    want = []
    for i in range(4):
        nll_y, total = ref_wide_nll(z[i], int(y[i]))
        want.append(math.fsum([(1 - a) * nll_y, a / WIDE * total]))
    assert_close(r.loss_sum, math.fsum(want), what="loss_sum")
    ent = math.fsum(ref_wide_entropy(z[i]) for i in range(4)) / 4
    assert_close(r.metrics["entropy"], ent, what="entropy")


@pytest.fixture(scope="module")
def wide_probs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    e = np.stack([rng.exponential(1.0, WIDE), np.exp(rng.normal(0, 5, WIDE)), np.full(WIDE, 1.0)])
    p = e / e.sum(axis=1, keepdims=True)
    p[1, 3] = 5e-324  # a subnormal entry the entropy must take as 0 log 0 -> ~0
    y = np.array([11, 3, 99_998])
    d = tmp_path_factory.mktemp("wideprobs")
    np.save(d / "p.npy", p)
    np.save(d / "y.npy", y)
    return d, p, y


@pytest.mark.parametrize("chunk", [1, None])
def test_wide_probabilities_vs_math(
    wide_probs: tuple[Path, np.ndarray, np.ndarray], chunk: int | None
) -> None:
    d, p, y = wide_probs
    r = evaluate(
        ReadConfig(predictions=str(d / "p.npy"), labels=str(d / "y.npy"), chunk_rows=chunk),
        LossConfig(clip_eps=0.0),
    )
    want = [-math.log(float(p[i, y[i]])) for i in range(3)]
    assert want[1] == -math.log(5e-324)
    for i in range(3):
        assert_close(r.per_class[int(y[i])].loss_sum, want[i], what=f"row {i}")
    assert_close(r.loss_sum, math.fsum(want), what="loss_sum")
    ent = [-math.fsum(v * math.log(v) for v in row.tolist() if v > 0) for row in p]
    assert_close(r.metrics["entropy"], math.fsum(ent) / 3, REL, what="entropy")
    brier = [
        math.fsum([math.fsum(v * v for v in p[i].tolist()), -2 * float(p[i, y[i]]), 1.0])
        for i in range(3)
    ]
    assert_close(r.metrics["brier"], math.fsum(brier) / 3, 1e-12, what="brier")


# -- 3. tiny and subnormal probabilities, clipping --------------------------------------------

TINY_ROWS = np.array(
    [[1e-300, 1.0], [5e-324, 1.0], [1.0, 0.0], [0.25, 0.75], [F64_EPS, 1 - F64_EPS]]
)
TINY_LABELS = np.array([0, 0, 0, 1, 0])


def test_tiny_probabilities_without_clipping(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "p.npz", TINY_ROWS, TINY_LABELS)
    out, per_row = xent_rows(path, tmp_path, "--clip-eps", "0")
    want = [-math.log(1e-300), -math.log(5e-324), 0.0, -math.log(0.75), -math.log(F64_EPS)]
    assert per_row == want  # exactly -ln p, as math.log gives it
    assert out["clipped"] == 0
    assert_close(out["loss_sum"], math.fsum(want), what="loss_sum")


def test_tiny_probabilities_default_float64_clipping(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "p.npz", TINY_ROWS, TINY_LABELS)
    out, per_row = xent_rows(path, tmp_path)
    floor = -math.log(F64_EPS)  # 52 ln 2
    want = [floor, floor, -math.log1p(-F64_EPS), -math.log(0.75), floor]
    assert_close(floor, 52 * math.log(2), 1e-15)
    # rows 0-2 moved (1e-300, 5e-324 up to eps; 1.0 down to 1 - eps); p = eps is not moved
    assert_rows(out, per_row, want, clipped=3)


def assert_rows(out: dict, per_row: list[float], want: list[float], *, clipped: int) -> None:
    """Each row's loss within 1e-15 of ``want``, the clip count, and the total."""
    for i, (g, w) in enumerate(zip(per_row, want, strict=True)):
        assert_close(g, w, 1e-15, what=f"row {i}")
    assert out["clipped"] == clipped
    assert_close(out["loss_sum"], math.fsum(want), what="loss_sum")


def test_subnormal_clip_eps(tmp_path: Path) -> None:
    """--clip-eps 1e-310 (itself subnormal): 5e-324 rises to 1e-310; 1 - 1e-310 == 1.0."""
    path = save_npz(tmp_path / "p.npz", TINY_ROWS, TINY_LABELS)
    out, per_row = xent_rows(path, tmp_path, "--clip-eps", "1e-310")
    want = [-math.log(1e-300), -math.log(1e-310), 0.0, -math.log(0.75), -math.log(F64_EPS)]
    assert per_row == want
    assert out["clipped"] == 1


def test_zero_probability_on_the_true_class_is_infinite(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "p.npz", np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([0, 1]))
    out = xent(path, "--clip-eps", "0")
    assert out["loss"] is None and out["loss_sum"] is None  # strict JSON: inf as null
    r = evaluate(ReadConfig(predictions=str(path)), LossConfig(clip_eps=0.0))
    assert r.loss_sum == math.inf


F32_ROWS = np.array(
    [
        [1e-45, 1.0],
        [1e-38, 1.0],
        [1.0, 0.0],
        [0.25, 0.75],
        [F32_EPS, 1 - F32_EPS],
        [2e-7, 1 - 2e-7],
    ],
    dtype=np.float32,
)
F32_LABELS = np.array([0, 0, 0, 1, 0, 0])


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_float32_probabilities_and_float32_eps(tmp_path: Path, fmt: str) -> None:
    if fmt == "npz":
        path = save_npz(tmp_path / "p.npz", F32_ROWS, F32_LABELS)
    else:
        path = save_wide_parquet(tmp_path / "p.parquet", F32_ROWS, F32_LABELS)
    p = [float(v) for v in F32_ROWS[np.arange(len(F32_LABELS)), F32_LABELS]]
    assert p[0] == 2.0**-149  # the float32 subnormal 1e-45 rounds to
    # no clipping: -ln of the float32 value, exactly
    out, per_row = xent_rows(path, tmp_path, "--clip-eps", "0")
    assert per_row == [-math.log(v) for v in p]
    assert out["clipped"] == 0
    # default: float32 eps = 2^-23
    out, per_row = xent_rows(path, tmp_path)
    floor = -math.log(F32_EPS)
    want = [floor, floor, -math.log1p(-F32_EPS), -math.log(0.25 * 3), floor, -math.log(p[5])]
    assert_rows(out, per_row, want, clipped=3)


def test_float32_smoothing_clips_every_column(tmp_path: Path) -> None:
    """With label smoothing every column enters the loss, so a 0 anywhere is clipped."""
    path = save_npz(tmp_path / "p.npz", F32_ROWS, F32_LABELS)
    a = 0.1
    out = xent(path, "--label-smoothing", a)
    want = []
    for row, y in zip(F32_ROWS.tolist(), F32_LABELS.tolist(), strict=True):
        nll = [-math.log(min(max(v, F32_EPS), 1 - F32_EPS)) for v in row]
        want.append(math.fsum([(1 - a) * nll[y], a / 2 * math.fsum(nll)]))
    assert_close(out["loss_sum"], math.fsum(want), what="loss_sum")
    assert out["clipped"] == 3  # rows 0-2 (row 4's eps and 1 - eps are inside the range)


def test_binary_tiny_probabilities(tmp_path: Path) -> None:
    p = np.array([5e-324, 1e-300, 0.0, 1.0, 0.5])
    y = np.array([1, 1, 0, 1, 0])
    path = save_npz(tmp_path / "b.npz", p, y)
    out, per_row = xent_rows(path, tmp_path, "--clip-eps", "0")
    assert per_row == [-math.log(5e-324), -math.log(1e-300), 0.0, 0.0, math.log(2)]
    assert out["clipped"] == 0
    out, per_row = xent_rows(path, tmp_path)
    floor, top = -math.log(F64_EPS), -math.log1p(-F64_EPS)
    for i, (g, w) in enumerate(zip(per_row, [floor, floor, top, top, math.log(2)], strict=True)):
        assert_close(g, w, 1e-15, what=f"row {i}")
    assert out["clipped"] == 4


# -- 4. exact sums ----------------------------------------------------------------------------

CONST_ROW = [0.5, -1.25, 2.0]  # exact in float32; the loss log(e^.5 + e^-1.25 + e^2) - .5


def const_loss() -> float:
    return ref_nll_row(CONST_ROW)[0]


def write_const(d: Path, n: int) -> tuple[Path, Path]:
    """n copies of CONST_ROW (float32) and label 0, written in blocks through memory maps."""
    zp, yp = d / "z.npy", d / "y.npy"
    z = np.lib.format.open_memmap(zp, mode="w+", dtype=np.float32, shape=(n, 3))
    y = np.lib.format.open_memmap(yp, mode="w+", dtype=np.int8, shape=(n,))
    block = 1 << 20
    for start in range(0, n, block):
        stop = min(n, start + block)
        z[start:stop] = np.asarray(CONST_ROW, dtype=np.float32)
        y[start:stop] = 0
    z.flush()
    y.flush()
    del z, y
    return zp, yp


@pytest.fixture(scope="module")
def const_1e7(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    n = 10**7
    return (*write_const(tmp_path_factory.mktemp("const"), n), n)


@pytest.mark.parametrize("chunk", [65536, 999_983])
def test_constant_loss_sum_over_1e7_rows(
    const_1e7: tuple[Path, Path, int], chunk: int | None
) -> None:
    zp, yp, n = const_1e7
    r = evaluate(
        ReadConfig(predictions=str(zp), labels=str(yp), chunk_rows=chunk), LossConfig(logits=True)
    )
    ell = const_loss()
    assert r.n == n
    assert_close(r.loss_sum, float(Fraction(ell) * n), what="loss_sum")
    assert_close(r.loss_mean, ell, what="loss_mean")


@pytest.mark.parametrize("chunk", CHUNKS)
def test_constant_loss_sum_chunking(tmp_path: Path, chunk: int) -> None:
    n = {1: 5_003, 7: 30_011}.get(chunk, 200_003)
    zp, yp = write_const(tmp_path, n)
    r = evaluate(
        ReadConfig(predictions=str(zp), labels=str(yp), chunk_rows=chunk), LossConfig(logits=True)
    )
    ell = const_loss()
    assert_close(r.loss_sum, float(Fraction(ell) * n), what="loss_sum")
    assert_close(r.loss_mean, ell, what="loss_mean")


@slow
def test_constant_loss_sum_over_1e8_rows(tmp_path: Path) -> None:
    n = 10**8
    zp, yp = tmp_path / "z.npy", tmp_path / "y.npy"
    z = np.lib.format.open_memmap(zp, mode="w+", dtype=np.float32, shape=(n,))
    y = np.lib.format.open_memmap(yp, mode="w+", dtype=np.int8, shape=(n,))
    for start in range(0, n, 1 << 22):
        z[start : start + (1 << 22)] = np.float32(0.3)
        y[start : start + (1 << 22)] = 1
    z.flush()
    y.flush()
    del z, y
    r = evaluate(
        ReadConfig(predictions=str(zp), labels=str(yp), chunk_rows=65536), LossConfig(logits=True)
    )
    ell = softplus(-float(np.float32(0.3)))  # binary: -log sigmoid(z)
    assert r.n == n
    assert_close(r.loss_sum, float(Fraction(ell) * n), what="loss_sum")
    assert_close(r.loss_mean, ell, what="loss_mean")


# Binary logits with exact per-row losses: label 0 at z = 1e6 costs exactly 1e6; label 1 at
# Z = -log(expm1(1e-10)) costs log1p(e^-Z) ~ 1e-10.
BIG = 1e6
Z_TINY = -math.log(math.expm1(1e-10))
TINY = softplus(-Z_TINY)


def mixed_file(path: Path, n: int, pattern: str) -> tuple[Path, float]:
    z = np.full(n, Z_TINY)
    y = np.ones(n, dtype=np.int8)
    if pattern == "alternating":
        big = np.arange(0, n, 2)
    else:  # "head": two huge losses first, then only tiny ones
        big = np.array([0, 1])
    z[big] = BIG
    y[big] = 0
    np.savez(path, scores=z, labels=y)
    nb = len(big)
    return path, math.fsum([BIG] * nb + [TINY] * (n - nb))


@pytest.mark.parametrize("pattern", ["alternating", "head"])
def test_huge_and_tiny_losses_sum_like_fsum(tmp_path: Path, pattern: str) -> None:
    assert 0.99e-10 < TINY < 1.01e-10
    path, want = mixed_file(tmp_path / "m.npz", 10**6, pattern)
    for chunk in (65536, 1000):
        r = evaluate(ReadConfig(predictions=str(path), chunk_rows=chunk), LossConfig(logits=True))
        assert_close(r.loss_sum, want, what=f"chunk {chunk} loss_sum")
        assert within_ulps(r.loss_sum, want), f"chunk {chunk}: {r.loss_sum!r} vs fsum {want!r}"
        assert_close(r.loss_mean, want / 10**6, what=f"chunk {chunk} loss_mean")


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("pattern", ["alternating", "head"])
def test_huge_and_tiny_losses_chunking(tmp_path: Path, pattern: str, chunk: int) -> None:
    # "head": a plain running sum of the chunk sums adds ~1e-10 to 2e6 thousands of times and
    # ends ~1,700 ulps below fsum at 1 row a chunk (~20 ulps at 7); a compensated sum stays
    # within a few ulps.
    path, want = mixed_file(tmp_path / "m.npz", 4_001 if chunk == 1 else 20_001, pattern)
    r = evaluate(ReadConfig(predictions=str(path), chunk_rows=chunk), LossConfig(logits=True))
    assert within_ulps(r.loss_sum, want), f"{r.loss_sum!r} vs fsum {want!r}"


# -- 5. chunking invariance at the extremes ---------------------------------------------------


def totals(out: dict[str, Any]) -> list[float]:
    return [
        out["loss_sum"],
        out["loss_mean"],
        *[pc["loss_sum"] for pc in out["per_class"]],
        out["metrics"]["entropy"],
        out["metrics"]["brier"],
    ]


@pytest.mark.parametrize("scale", list(SCALES))
def test_chunking_invariance_huge_logits(tmp_path: Path, scale: str) -> None:
    s, dtype = SCALES[scale]
    z, y = huge_rows(s, dtype)
    z, y = np.tile(z, (5, 1)), np.tile(y, 5)
    path = save_npz(tmp_path / "z.npz", z, y)
    wide = save_wide_parquet(tmp_path / "z.parquet", z, y)  # column-major chunks
    want, _ = ref_ce(as_rows(z), y.tolist())
    for opts in ([], ["--label-smoothing", "0.1", "--class-weights", "1,2,0.5"]):
        seen = []
        for p in (path, wide):
            for chunk in CHUNKS:
                out = xent(p, "--logits", "--chunk-rows", chunk, *opts)
                if not opts:
                    assert_close(out["loss_sum"], math.fsum(want), what=f"{p.name} {chunk}")
                seen.append(totals(out))
        for t in seen[1:]:
            for g, w in zip(t, seen[0], strict=True):
                assert_close(g, w, what=f"{opts}")


@pytest.mark.parametrize("scale", list(SCALES))
def test_chunking_invariance_binary_huge_logits(tmp_path: Path, scale: str) -> None:
    s, dtype = SCALES[scale]
    z = np.tile(np.array([s, -s, s, -s, 1e-30], dtype=dtype), 3)
    y = np.tile(np.array([1, 0, 0, 1, 1]), 3)
    path = save_npz(tmp_path / "b.npz", z, y)
    want = math.fsum(ref_bce(float(v), float(k), 3.0, 0.1) for v, k in zip(z, y, strict=True))
    for chunk in CHUNKS:
        out = xent(
            path, "--logits", "--pos-weight", "3", "--label-smoothing", "0.1", "--chunk-rows", chunk
        )
        assert_close(out["loss_sum"], want, what=f"chunk {chunk}")


@pytest.mark.parametrize("chunk", CHUNKS)
def test_chunking_invariance_tiny_probabilities(tmp_path: Path, chunk: int) -> None:
    z, y = np.tile(TINY_ROWS, (3, 1)), np.tile(TINY_LABELS, 3)
    path = save_npz(tmp_path / "p.npz", z, y)
    out = xent(path, "--clip-eps", "0", "--chunk-rows", chunk)
    want = 3 * math.fsum(
        [-math.log(1e-300), -math.log(5e-324), 0.0, -math.log(0.75), -math.log(F64_EPS)]
    )
    assert_close(out["loss_sum"], want, what="clip 0")
    assert out["clipped"] == 0
    out = xent(path, "--chunk-rows", chunk)
    assert out["clipped"] == 9
    floor = -math.log(F64_EPS)
    want = 3 * math.fsum([floor, floor, -math.log1p(-F64_EPS), -math.log(0.75), floor])
    assert_close(out["loss_sum"], want, what="clipped")


@pytest.mark.parametrize("chunk", [7, 65536])
def test_chunking_invariance_wide_rows(
    wide_logits: tuple[Path, np.ndarray, np.ndarray],
    wide_probs: tuple[Path, np.ndarray, np.ndarray],
    chunk: int,
) -> None:
    d, z, y = wide_logits
    r = evaluate(
        ReadConfig(predictions=str(d / "z.npy"), labels=str(d / "y.npy"), chunk_rows=chunk),
        LossConfig(logits=True),
    )
    assert_close(r.loss_sum, math.fsum(ref_wide_nll(z[i], int(y[i]))[0] for i in range(4)))
    d, p, y = wide_probs
    r = evaluate(
        ReadConfig(predictions=str(d / "p.npy"), labels=str(d / "y.npy"), chunk_rows=chunk),
        LossConfig(clip_eps=0.0),
    )
    assert_close(r.loss_sum, math.fsum(-math.log(float(p[i, y[i]])) for i in range(3)))


# -- 6. metrics at the extremes ---------------------------------------------------------------

ONE_HOT_Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 1])  # the last row is predicted wrong
ONE_HOT_P = np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]]


@pytest.mark.parametrize("route", ["npz", "parquet", "smoothing", "targets", "ignore-index"])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_one_hot_probability_rows(tmp_path: Path, route: str, chunk: int) -> None:
    """One-hot rows of exact 0 and 1: entropy 0 and the Brier of a right row 0, exactly;
    every confidence is exactly 1.0, so ECE = MCE = 1 - accuracy (the last, closed bin)."""
    p, y = ONE_HOT_P, ONE_HOT_Y
    args: list[Any] = ["--chunk-rows", chunk]
    if route == "ignore-index":
        # one extra, ignored row sends every chunk through the general kernels
        p, y = np.vstack([p[:4], [[0.0, 0.0, 1.0]], p[4:]]), np.insert(y, 4, -100)
        args += ["--ignore-index", "-100"]
    if route == "parquet":
        path = save_wide_parquet(tmp_path / "p.parquet", p, y)
    elif route == "targets":
        path = save_wide_parquet(tmp_path / "p.parquet", p, targets=np.eye(3)[y])
        args += ["--target-cols", "t*"]
    else:
        path = save_npz(tmp_path / "p.npz", p, y)
    if route == "smoothing":
        args += ["--label-smoothing", "0.1"]
    out = xent(path, *args)
    assert out["n"] == 10
    m = out["metrics"]
    assert m["entropy"] == 0.0
    assert_close(m["brier"], 2 / 10, what="brier")  # one wrong row: (1-0)^2 + (0-1)^2
    assert_close(m["accuracy"], 0.9, what="accuracy")
    assert_close(m["ece"], 0.1, what="ece")
    assert_close(m["mce"], 0.1, what="mce")
    # all right: Brier exactly 0, ECE exactly 0
    good = save_npz(tmp_path / "good.npz", np.eye(3)[[0, 1, 2, 2]], np.array([0, 1, 2, 2]))
    m = xent(good, "--chunk-rows", chunk)["metrics"]
    assert (m["entropy"], m["brier"], m["ece"], m["mce"], m["accuracy"]) == (0, 0, 0, 0, 1)


@pytest.mark.parametrize("logits", [False, True])
def test_one_hot_binary_and_multilabel(tmp_path: Path, logits: bool) -> None:
    hi, lo = (1e30, -1e30) if logits else (1.0, 0.0)
    flag = ["--logits"] if logits else []
    p = np.array([hi, lo, hi, lo, hi])
    y = np.array([1, 0, 1, 0, 0])  # the last row wrong, at confidence 1
    m = xent(save_npz(tmp_path / "b.npz", p, y), *flag)["metrics"]
    assert m["entropy"] == 0.0
    assert_close(m["brier"], 1 / 5, what="binary brier")
    assert_close(m["ece"], 1 / 5, what="binary ece")
    assert_close(m["mce"], 1 / 5, what="binary mce")
    pm = np.array([[hi, lo], [lo, lo], [hi, hi]])
    t = np.array([[1, 0], [0, 0], [1, 1]])
    path = tmp_path / "ml.npz"
    np.savez(path, scores=pm, labels=t)
    m = xent(path, "--task", "multilabel", *flag)["metrics"]
    assert (m["entropy"], m["brier"], m["ece"], m["accuracy"]) == (0, 0, 0, 1)


@pytest.mark.parametrize("scale", [1e30, 1e300])
def test_confident_huge_logits_metrics(tmp_path: Path, scale: float) -> None:
    """Huge logit gaps give probabilities of exactly 1 and 0: entropy 0, confidences 1.0."""
    z = np.array([[scale, -scale, 0.0], [0.0, scale, -scale], [scale, 0.0, -scale]])
    y = np.array([0, 1, 2])  # the last row wrong
    for args in ([], ["--label-smoothing", "0.1"]):
        m = xent(save_npz(tmp_path / "z.npz", z, y), "--logits", *args)["metrics"]
        assert m["entropy"] == 0.0, f"{args}: entropy {m['entropy']!r}"
        assert_close(m["brier"], 2 / 3, what=f"{args} brier")
        assert_close(m["ece"], 1 / 3, what=f"{args} ece")
        assert_close(m["mce"], 1 / 3, what=f"{args} mce")


# -- Confident rows keep their tiny figures (a review's findings) -----------------------------


@pytest.mark.parametrize("layout", ["parquet", "npy", "weighted", "smoothed"])
def test_brier_of_confident_probabilities(tmp_path: Path, layout: str) -> None:
    """sum_c (p_c - y_c)^2 for p = (1 - d, d/2, d/2), label 0: d^2 + d^2/2 ~ 1.5e-18. Computed
    as sum p^2 - 2 p_y + 1 it cancelled to 0; exact from the inputs' own float values, on each
    kernel path (columns of Parquet; rows of a .npy; class weights; the unfused one that label
    smoothing takes)."""
    d = 1e-9
    a, b = 1 - d, d / 2
    exact = float((Fraction(a) - 1) ** 2 + 2 * Fraction(b) ** 2)
    p = np.array([[a, b, b]] * 8)
    y = np.zeros(8, dtype=np.int64)
    if layout == "npy":
        np.save(tmp_path / "p.npy", p)
        np.save(tmp_path / "y.npy", y)
        args = [str(tmp_path / "p.npy"), "--labels", str(tmp_path / "y.npy")]
    else:
        pq.write_table(
            pa.table({"a": p[:, 0], "b": p[:, 1], "c": p[:, 2], "label": y}), tmp_path / "p.parquet"
        )
        args = [str(tmp_path / "p.parquet")]
        if layout == "weighted":
            args += ["--class-weights", "1,2,3"]
        if layout == "smoothed":
            args += ["--label-smoothing", "0.1"]
    res = CliRunner().invoke(app, ["compute", *args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["metrics"]["brier"] == pytest.approx(exact, rel=1e-12, abs=0)


def test_one_hot_targets_of_a_confident_logit_row(tmp_path: Path) -> None:
    """Logits (40, 0, 0) and the one-hot target of class 0: the loss log1p(2 e^-40) ~ 8.5e-18
    and Brier ~ 1.1e-34 as index labels give them (no absolute tolerance: approx's 1e-12
    would pass anything this small) (the soft-target path took log(1 + 2e^-40)
    = 0 and p_0 - 1 = 0)."""
    e = math.exp(-40)
    loss = math.log1p(2 * e)
    brier = (2 * e / (1 + 2 * e)) ** 2 + 2 * (e / (1 + 2 * e)) ** 2
    pq.write_table(
        pa.table({"a": [40.0], "b": [0.0], "c": [0.0], "ta": [1.0], "tb": [0.0], "tc": [0.0]}),
        tmp_path / "o.parquet",
    )
    for extra in (["--target-cols", "ta,tb,tc"], ["--label-smoothing", "0"]):
        res = CliRunner().invoke(
            app,
            [
                "compute",
                str(tmp_path / "o.parquet"),
                "--logits",
                "--pred-cols",
                "a,b,c",
                *extra,
                "--format",
                "json",
            ]
            + ([] if "--target-cols" in extra else ["--labels", "-"]),
            input=None if "--target-cols" in extra else "label\n0\n",
        )
        assert res.exit_code == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["loss"] == pytest.approx(loss, rel=1e-14, abs=0)
        assert out["metrics"]["brier"] == pytest.approx(brier, rel=1e-12, abs=0)


@pytest.mark.parametrize("order", ["C", "F"])
def test_logsumexp_rows_keeps_a_tiny_sum(order: str) -> None:
    from xentcli.kernels import log_softmax, logsumexp_rows

    z = np.array([[0.0, 40.0, 0.0], [1.0, 2.0, 3.0], [5.0, 5.0, -1.0]], order=order)
    m, lse = logsumexp_rows(z)
    ref = [
        math.log1p(2 * math.exp(-40)),
        math.log1p(math.exp(-1) + math.exp(-2)),
        math.log1p(1 + math.exp(-6)),
    ]
    assert list(m) == [40.0, 3.0, 5.0]
    assert lse == pytest.approx(ref, rel=1e-15, abs=0)
    assert log_softmax(z)[0, 1] == pytest.approx(-ref[0], rel=1e-15, abs=0)
