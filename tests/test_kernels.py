"""Kernels against the slow math-module reference and pinned textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import reference as ref
from xentcli import kernels

RNG = np.random.default_rng(20261123)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_textbook_row() -> None:
    # -ln 0.7 = 0.356675 nats: the classic worked example.
    p = np.array([[0.7, 0.2, 0.1]])
    out = kernels.multiclass_labels(p, np.array([0]), logits=False, eps=0.0)
    assert out.loss[0] == pytest.approx(0.35667494393873245, rel=1e-15)
    assert out.loss[0] == pytest.approx(-math.log(0.7), rel=1e-15)


def test_uniform_logits_give_log_c() -> None:
    z = np.zeros((4, 10))
    out = kernels.multiclass_labels(z, np.arange(4), logits=True, eps=0.0)
    np.testing.assert_allclose(out.loss, math.log(10), rtol=1e-15)


def test_binary_textbook() -> None:
    # p = 0.8 for a positive: -ln 0.8; for a negative: -ln 0.2
    out = kernels.binary(np.array([0.8, 0.8]), np.array([1.0, 0.0]), logits=False, eps=0.0)
    np.testing.assert_allclose(out.loss, [-math.log(0.8), -math.log(0.2)], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
def test_multiclass_labels_vs_reference(dtype, logits, smoothing, weighted, order) -> None:
    n, c = 40, 5
    z = (RNG.normal(size=(n, c)) * 3).astype(dtype)
    scores = z if logits else softmax(z.astype(np.float64)).astype(dtype)
    scores = np.asarray(scores, order=order)
    y = RNG.integers(0, c, n)
    w = RNG.uniform(0.2, 3.0, c) if weighted else None
    eps = float(np.finfo(dtype).eps)
    out = kernels.multiclass_labels(
        scores.astype(np.float64), y, logits=logits, eps=eps, class_weight=w, smoothing=smoothing
    )
    expected = [
        ref.ce_row_label(
            list(map(float, scores[i])),
            int(y[i]),
            logits=logits,
            eps=eps,
            w=None if w is None else list(w),
            a=smoothing,
        )
        for i in range(n)
    ]
    np.testing.assert_allclose(out.loss, expected, rtol=1e-12)
    if weighted:
        np.testing.assert_allclose(out.denom, w[y], rtol=0)
    if out.class_terms is not None:
        np.testing.assert_allclose(out.class_terms.sum(axis=1), out.loss, rtol=1e-12)


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_multiclass_targets_vs_reference(logits, smoothing) -> None:
    n, c = 30, 4
    z = RNG.normal(size=(n, c)) * 2
    scores = z if logits else softmax(z)
    t = softmax(RNG.normal(size=(n, c)))
    t[:5] = np.eye(c)[RNG.integers(0, c, 5)]  # some one-hot rows
    w = RNG.uniform(0.5, 2.0, c)
    out = kernels.multiclass_targets(
        scores, t, logits=logits, eps=1e-15, class_weight=w, smoothing=smoothing
    )
    expected = [
        ref.ce_row_target(
            list(scores[i]), list(t[i]), logits=logits, eps=1e-15, w=list(w), a=smoothing
        )
        for i in range(n)
    ]
    np.testing.assert_allclose(out.loss, expected, rtol=1e-12)
    assert out.denom is None


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("pw", [None, 2.5])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_binary_vs_reference(logits, pw, smoothing) -> None:
    n = 60
    z = RNG.normal(size=n) * 4
    z[:3] = [40.0, -40.0, 0.0]
    scores = z if logits else 1 / (1 + np.exp(-z))
    y = RNG.integers(0, 2, n).astype(np.float64)
    eps = float(np.finfo(np.float64).eps)
    out = kernels.binary(scores, y, logits=logits, eps=eps, pos_weight=pw, smoothing=smoothing)
    expected = [
        ref.bce(
            float(scores[i]),
            float(y[i]),
            logits=logits,
            eps=eps,
            pw=1.0 if pw is None else pw,
            a=smoothing,
        )
        for i in range(n)
    ]
    np.testing.assert_allclose(out.loss, expected, rtol=1e-12, atol=1e-300)


def _binary_scores(logits: bool, dtype) -> np.ndarray:
    z = RNG.normal(size=400) * 6
    z[:6] = [40.0, -40.0, 0.0, 800.0, -800.0, 1e-12]
    z[14:18] = [30.0, -30.0, 25.0, -25.0]  # confident rows
    with np.errstate(over="ignore"):
        scores = z if logits else 1 / (1 + np.exp(-z))
    if not logits:  # the edges: 0, 1, 1/2, tiny, next to 1, around the clipping bounds
        scores[6:14] = [0.0, 1.0, 0.5, 1e-300, 1 - 2**-52, 1e-7, 1e-3, 1 - 1e-3]
        scores[18:20] = [0.0, 1.0]  # sure and wrong (labels 1 and 0 below)
    return scores.astype(dtype)


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pw", [None, 2.5, 0.0])
@pytest.mark.parametrize(
    "eps", [0.0, 1e-3, float(np.finfo(np.float64).eps), float(np.finfo(np.float32).eps)]
)
def test_binary_fused_equals_binary_and_bernoulli_stats(logits, dtype, pw, eps) -> None:
    """The fused binary kernel gives the values of the general ones bit for bit."""
    scores = _binary_scores(logits, dtype)
    y = RNG.integers(0, 2, len(scores))
    y[6:14] = [0, 1, 1, 0, 1, 0, 1, 0]
    y[18:20] = [1, 0]
    lo, st, pred = kernels.binary_fused(scores, y, logits=logits, eps=eps, pos_weight=pw)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_lo = kernels.binary(scores, y.astype(np.float64), logits=logits, eps=eps, pos_weight=pw)
        ref_st = kernels.bernoulli_stats(
            scores[:, None], y.astype(np.float64)[:, None], logits=logits
        )
    np.testing.assert_array_equal(pred, kernels.positive(scores, logits=logits))
    assert not np.isnan(lo.loss).any()  # --pos-weight 0: 0 x inf counts as 0
    np.testing.assert_array_equal(lo.loss, ref_lo.loss)
    np.testing.assert_array_equal(lo.clipped, ref_lo.clipped)
    for name in ("confidence", "hit", "brier", "entropy", "p_true"):
        np.testing.assert_array_equal(getattr(st, name), getattr(ref_st, name), err_msg=name)


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("pw", [None, 2.5])
def test_binary_fused_vs_reference(logits, pw) -> None:
    """Loss, entropy, Brier and confidence row by row in Python floats with math.log."""
    scores = _binary_scores(logits, np.float64)
    y = RNG.integers(0, 2, len(scores))
    eps = float(np.finfo(np.float64).eps)
    lo, st, pred = kernels.binary_fused(scores, y, logits=logits, eps=eps, pos_weight=pw)
    for i, (s, yi) in enumerate(zip(scores.tolist(), y.tolist(), strict=True)):
        want = ref.bce(s, float(yi), logits=logits, eps=eps, pw=1.0 if pw is None else pw)
        assert math.isclose(lo.loss[i], want, rel_tol=1e-12, abs_tol=1e-300), i
        if logits:  # p = sigma(z), 1 - p = sigma(-z) and their logs, without cancellation
            p, q = (1 / (1 + math.exp(-x)) if x > -700 else math.exp(x) for x in (s, -s))
            log_p, log_q = (
                -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))
                for x in (s, -s)
            )
        else:
            p, q = s, 1 - s
            log_p = math.log(p) if p > 0 else 0.0
            log_q = math.log1p(-p) if p < 1 else 0.0
        h = -(p * log_p + q * log_q)
        assert math.isclose(st.entropy[i], h, rel_tol=1e-12, abs_tol=1e-300), i
        assert math.isclose(
            st.brier[i], (q if yi == 1 else p) ** 2, rel_tol=1e-12, abs_tol=1e-300
        ), i
        assert math.isclose(st.confidence[i], max(p, q), rel_tol=1e-12), i
        assert math.isclose(st.p_true[i], p if yi == 1 else q, rel_tol=1e-12), i
        assert bool(pred[i]) == (s > (0.0 if logits else 0.5))
        assert bool(st.hit[i]) == (bool(pred[i]) == (yi == 1))


@pytest.mark.parametrize("logits", [True, False])
def test_bernoulli_stats_soft_targets_vs_exact_fractions(logits) -> None:
    """Multi-label Brier and confidence with soft targets, against exact rational arithmetic
    on the same p (for logits, p = 1 / (1 + e^-z) with e^-z from math.exp)."""
    from fractions import Fraction

    z = np.array([30.0, -30.0, 25.0, 0.3, -4.0, 37.59, 1e-3, 0.0])
    t = np.array([1.0, 0.0, 0.7, 0.2, 0.5, 1.0, 0.5, 0.5])
    s = z if logits else 1 / (1 + np.exp(-z))
    if not logits:
        s[6] = 0.49999999999999994  # p - t tiny: one rounding, not two
    st = kernels.bernoulli_stats(s[None, :], t[None, :], logits=logits)
    want = Fraction(0)
    for x, ti in zip(s.tolist(), t.tolist(), strict=True):
        p = 1 / (1 + Fraction(math.exp(-x))) if logits else Fraction(x)
        want += (p - Fraction(ti)) ** 2
    assert math.isclose(st.brier[0], float(want / len(z)), rel_tol=1e-12)
    for i, x in enumerate(s.tolist()):  # each label's own squared error too
        p = 1 / (1 + Fraction(math.exp(-x))) if logits else Fraction(x)
        one = kernels.bernoulli_stats(s[None, i : i + 1], t[None, i : i + 1], logits=logits)
        exact = float((p - Fraction(float(t[i]))) ** 2)
        assert math.isclose(one.brier[0], exact, rel_tol=1e-9, abs_tol=1e-300), i
        assert math.isclose(one.confidence[0], float(max(p, 1 - p)), rel_tol=1e-12), i


@pytest.mark.parametrize("label_mean", [False, True])
def test_multilabel_vs_reference(label_mean) -> None:
    n, c = 25, 6
    z = RNG.normal(size=(n, c)) * 3
    t = RNG.integers(0, 2, (n, c)).astype(np.float64)
    pw = RNG.uniform(0.5, 3, c)
    out = kernels.multilabel(z, t, logits=True, eps=0.0, pos_weight=pw, label_mean=label_mean)
    for i in range(n):
        row = [
            ref.bce(float(z[i, k]), float(t[i, k]), logits=True, pw=float(pw[k])) for k in range(c)
        ]
        want = math.fsum(row) / (c if label_mean else 1)
        assert out.loss[i] == pytest.approx(want, rel=1e-12)
        np.testing.assert_allclose(out.class_terms[i], row, rtol=1e-12)


def test_extreme_logits_stay_finite() -> None:
    z = np.array([[1e30, 0.0, -1e30], [-1e30, 1e30, 0.0]])
    out = kernels.multiclass_labels(z, np.array([0, 0]), logits=True, eps=0.0)
    assert out.loss[0] == 0.0
    assert out.loss[1] == pytest.approx(2e30)
    b = kernels.binary(
        np.array([1e30, -1e30, 1e30]), np.array([1.0, 0.0, 0.0]), logits=True, eps=0.0
    )
    np.testing.assert_allclose(b.loss, [0.0, 0.0, 1e30])


def test_clipping_default_eps_and_count() -> None:
    eps = float(np.finfo(np.float64).eps)
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    out = kernels.multiclass_labels(p, np.array([0, 0, 0]), logits=False, eps=eps)
    # row 0: p=1 clipped to 1-eps; row 1: p=0 clipped to eps; row 2 untouched
    np.testing.assert_allclose(out.loss, [-math.log(1 - eps), -math.log(eps), math.log(2)])
    assert out.clipped.tolist() == [True, True, False]


def test_clip_off_gives_infinite_loss() -> None:
    p = np.array([[1.0, 0.0]])
    out = kernels.multiclass_labels(p, np.array([1]), logits=False, eps=0.0)
    assert math.isinf(out.loss[0])
    # a zero target ignores an infinite -log p (0 * log 0 = 0)
    t = kernels.multiclass_targets(p, np.array([[1.0, 0.0]]), logits=False, eps=0.0)
    assert t.loss[0] == 0.0


def test_take_along_rows_layouts() -> None:
    m = RNG.normal(size=(9, 4))
    idx = RNG.integers(0, 4, 9)
    want = m[np.arange(9), idx]
    for arr in (np.ascontiguousarray(m), np.asfortranarray(m), m[:, ::1][::1, :][:, [0, 1, 2, 3]]):
        np.testing.assert_array_equal(kernels.take_along_rows(arr, idx), want)
    np.testing.assert_array_equal(
        kernels.take_along_rows(m[::2], idx[:5]), m[::2][np.arange(5), idx[:5]]
    )


@pytest.mark.parametrize("order", ["C", "F"])
def test_argmax_rows_matches_numpy_with_ties(order: str) -> None:
    m = RNG.integers(0, 3, size=(200, 5)).astype(np.float64)  # many ties
    m = np.asarray(m, order=order)
    np.testing.assert_array_equal(kernels.argmax_rows(m), np.argmax(m, axis=1))
    one = np.asarray([[0.0, 0.0]], order=order)
    assert kernels.argmax_rows(one).tolist() == [0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_rows_columnwise_equals_rowwise(dtype) -> None:
    z = (RNG.normal(size=(300, 7)) * 20).astype(dtype)
    m_f, l_f = kernels.logsumexp_rows(np.asfortranarray(z))
    m_c, l_c = kernels.logsumexp_rows(np.ascontiguousarray(z))
    np.testing.assert_array_equal(m_f, m_c)
    np.testing.assert_allclose(l_f, l_c, rtol=1e-14, atol=1e-15)
    want = [math.log(math.fsum(math.exp(float(v) - float(max(row))) for v in row)) for row in z]
    np.testing.assert_allclose(l_f, want, rtol=1e-13, atol=1e-15)  # log(1 + tiny): absolute


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", ["F", "C"])
@pytest.mark.parametrize("c", [6, 100])
def test_fused_kernel_equals_the_general_one(logits, dtype, weighted, layout, c) -> None:
    n = 301
    z = RNG.normal(size=(n, c)) * 4
    z[:5, :2] = 1.0  # ties
    scores = z if logits else softmax(z)
    scores[7, 0] = 0.0 if not logits else scores[7, 0]  # a zero probability
    if not logits:
        scores[7] /= scores[7].sum()
    scores = np.asarray(scores.astype(dtype), order=layout)
    y = RNG.integers(0, c, n)
    w = RNG.uniform(0.5, 2, c) if weighted else None
    eps = float(np.finfo(dtype).eps)
    lo, st, pred = kernels.multiclass_fused(
        scores, y, logits=logits, eps=eps, class_weight=w, top_k=2
    )
    ref_lo = kernels.multiclass_labels(
        np.ascontiguousarray(scores), y, logits=logits, eps=eps, class_weight=w
    )
    ref_pred = np.argmax(scores, axis=1)
    ref_st = kernels.multiclass_stats(
        np.ascontiguousarray(scores), logits=logits, pred=ref_pred, labels=y, top_k=2
    )
    np.testing.assert_array_equal(pred, ref_pred)
    np.testing.assert_allclose(lo.loss, ref_lo.loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(lo.clipped, ref_lo.clipped)
    for name in ("confidence", "hit", "brier", "entropy", "p_true", "top_k"):
        np.testing.assert_allclose(
            getattr(st, name), getattr(ref_st, name), rtol=1e-12, atol=1e-14, err_msg=name
        )


def test_calibration_bins_match_searchsorted_on_the_edges() -> None:
    from xentcli.accumulate import calibration_bin

    for bins in (1, 7, 10, 15, 33):
        edges = np.linspace(0, 1, bins + 1)
        conf = np.concatenate(
            [
                RNG.uniform(0, 1, 5000),
                edges,
                np.nextafter(edges, 2),
                np.nextafter(edges, -1)[1:],
                [1.0, 0.0],
            ]
        )
        conf = conf[(conf >= 0) & (conf <= 1)]
        want = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
        np.testing.assert_array_equal(calibration_bin(conf, bins), want)
        assert calibration_bin(np.array([1.0]), bins)[0] == bins - 1  # closed at 1.0


def test_softmax_sums_textbook_and_ties() -> None:
    z = np.asfortranarray(
        np.vstack([RNG.normal(size=(500, 7)) * 5, RNG.integers(0, 3, size=(200, 7)).astype(float)])
    )
    y = RNG.integers(0, 7, len(z))
    s = kernels.softmax_sums(z, y)
    np.testing.assert_array_equal(s.k, np.argmax(z, axis=1))  # ties: the first max
    for i in range(0, len(z), 13):
        row = [float(v) for v in z[i]]
        mx = max(row)
        k = row.index(mx)
        t = [v - mx for v in row]
        assert s.g[i] == t[y[i]]
        assert s.eg[i] == pytest.approx(math.exp(t[y[i]]), rel=1e-15)
        assert s.a[i] == pytest.approx(
            math.fsum(math.exp(v) for j, v in enumerate(t) if j != k), rel=1e-14
        )
        assert s.s1[i] == pytest.approx(
            math.fsum(math.exp(v) * v for v in t), rel=1e-13, abs=1e-300
        )
        assert s.sq[i] == pytest.approx(
            math.fsum(math.exp(2 * v) for j, v in enumerate(t) if j != k), rel=1e-14
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_keeps_precision_on_confident_rows(dtype) -> None:
    """Rows 30 nats sure of their (right) class: loss ~1e-13 and Brier ~1e-26 come out to full
    relative precision (log1p of the other terms, Brier as a sum of non-negative parts)."""
    n, c = 64, 6
    z = RNG.normal(size=(n, c))
    y = RNG.integers(0, c, n)
    z[np.arange(n), y] += 30.0
    z = np.asfortranarray(z.astype(dtype))
    lo, st, _ = kernels.multiclass_fused(z, y, logits=True, eps=0.0)
    for i in range(n):
        row = [float(v) for v in z[i]]
        t = [v - row[y[i]] for v in row]  # the label is the max
        a = math.fsum(math.exp(v) for j, v in enumerate(t) if j != y[i])
        big_a = 1.0 + a
        assert lo.loss[i] == pytest.approx(math.log1p(a), rel=1e-13, abs=0)
        brier = math.fsum(
            [(a / big_a) ** 2] + [(math.exp(v) / big_a) ** 2 for j, v in enumerate(t) if j != y[i]]
        )
        assert st.brier[i] == pytest.approx(brier, rel=1e-12, abs=0)
        assert st.p_true[i] == pytest.approx(1.0 / big_a, rel=1e-15, abs=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_keeps_precision_on_confident_wrong_rows(dtype) -> None:
    """Rows 25 nats sure of a wrong class: p_y ~1e-11 (shown for the worst rows) and the loss
    and Brier score keep full relative precision (1 + expm1(g) lost ~1e-5 of p_y here)."""
    n, c = 64, 5
    z = RNG.normal(size=(n, c))
    y = RNG.integers(0, c, n)
    wrong = (y + 1 + RNG.integers(0, c - 1, n)) % c
    z[np.arange(n), wrong] += 25.0
    z = np.asfortranarray(z.astype(dtype))
    lo, st, pred = kernels.multiclass_fused(z, y, logits=True, eps=0.0)
    np.testing.assert_array_equal(pred, wrong)
    for i in range(n):
        row = [float(v) for v in z[i]]
        mx = max(row)
        e = [math.exp(v - mx) for v in row]
        big_a = math.fsum(e)
        p = [v / big_a for v in e]
        assert st.p_true[i] == pytest.approx(p[y[i]], rel=1e-14, abs=0)
        assert lo.loss[i] == pytest.approx(math.log(big_a) - (row[y[i]] - mx), rel=1e-14)
        brier = math.fsum((pc - (j == y[i])) ** 2 for j, pc in enumerate(p))
        assert st.brier[i] == pytest.approx(brier, rel=1e-13)


@pytest.mark.parametrize("c", [2, 7, 64, 65, 300])
@pytest.mark.parametrize("layout", ["F", "C"])
def test_blocked_logit_kernel_across_blocks(monkeypatch, c: int, layout: str) -> None:
    """Many small blocks (and a shorter last one) give the row-by-row results, on every
    first-max branch: few classes by column, many by column, row-major; ties included."""
    monkeypatch.setattr(kernels, "KERNEL_BLOCK_VALUES", 997)
    monkeypatch.setattr(kernels, "KERNEL_BLOCK_MIN_ROWS", 1)
    n = 1_001
    z = RNG.normal(size=(n, c)) * 3
    z[::5, : min(3, c)] = z[::5, :1] + 0.0  # ties for the max in every fifth row
    z[::5, 0] += 50.0 * (RNG.random(len(z[::5])) < 0.5)  # half of them not tied after all
    y = RNG.integers(0, c, n)
    scores = np.asarray(z.astype(np.float32), order=layout)
    lo, st, pred = kernels.multiclass_fused(scores, y, logits=True, eps=0.0)
    np.testing.assert_array_equal(pred, np.argmax(scores, axis=1))
    want = []
    for row, label in zip(scores.tolist(), y.tolist(), strict=True):
        mx = max(row)
        k = row.index(mx)  # log-sum-exp as log1p of the non-max terms: exact for tiny losses
        want.append(
            math.log1p(math.fsum(math.exp(v - mx) for j, v in enumerate(row) if j != k))
            + (mx - row[label])
        )
    np.testing.assert_allclose(lo.loss, want, rtol=1e-13, atol=0)
    ref_st = kernels.multiclass_stats(
        np.ascontiguousarray(scores, dtype=np.float64),
        logits=True,
        pred=np.argmax(scores, axis=1),
        labels=y,
    )
    for name in ("confidence", "brier", "entropy", "p_true"):
        np.testing.assert_allclose(
            getattr(st, name), getattr(ref_st, name), rtol=1e-11, atol=1e-15, err_msg=name
        )
