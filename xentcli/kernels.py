"""Per-chunk math: pure NumPy functions of one chunk, no I/O, no state.

Every function returns per-row values (in nats); reductions happen in the accumulator, which is
what makes any chunking and any merge order give the same totals.

Notation: row i, class c, score s_ic, target y_ic, probability p_ic, logit z_ic, class weight w_c,
label smoothing a, C classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

FloatArray = np.ndarray
IntArray = np.ndarray


@dataclass
class RowLosses:
    """Per-row results of one chunk.

    ``loss``: each row's loss in nats, as ``reduction='none'`` gives it (class weights, smoothing
    and pos_weight included; sample weights not). ``denom``: what the row adds to the mean's
    denominator before sample weights (w_{y_i} for weighted index labels, else 1).
    ``class_terms``: each row's loss split over classes (summing to ``loss`` across a row), or
    None where the split is "all of the row's loss goes to its label's class".
    ``clipped``: whether a probability that enters the row's loss was moved by clipping.
    """

    loss: FloatArray
    denom: FloatArray | None
    class_terms: FloatArray | None
    clipped: np.ndarray


def take_along_rows(mat: FloatArray, idx: IntArray) -> FloatArray:
    """mat[i, idx[i]] for every row, via a flat ``np.take`` (much faster than fancy indexing)."""
    n, c = mat.shape
    rows = np.arange(n, dtype=np.int64)
    if mat.flags.c_contiguous:
        return np.take(mat.reshape(-1), rows * c + idx)
    if mat.flags.f_contiguous:
        return np.take(mat.reshape(-1, order="F"), idx * n + rows)
    return mat[rows, idx]


COLUMNWISE_MAX_CLASSES = 64


def _columnwise(a: np.ndarray) -> bool:
    """Few classes stored column by column: loop over the contiguous columns."""
    return bool(a.flags.f_contiguous and 1 < a.shape[1] <= COLUMNWISE_MAX_CLASSES)


def logsumexp_rows(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(m, log sum_c exp(z_ic - m_i)) per row, m_i = max_c z_ic, in float64.

    Column-major chunks are reduced one contiguous column at a time into reused buffers
    (about 5x faster than the same math across rows); others row-major in float64.
    The sum is 1 + a, a the terms other than one max's (each exactly 1), and its log is
    log1p(a): a confident row's tiny a is kept, which log(1 + a) would round away.
    """
    if not _columnwise(z):
        z64 = np.asarray(z, dtype=np.float64)
        m = z64.max(axis=1)
        e = np.exp(z64 - m[:, None])
        return m, np.log1p(_others(e).sum(axis=1))
    n, c = z.shape
    m = z[:, 0].astype(np.float64)
    for j in range(1, c):
        np.maximum(m, z[:, j], out=m)
    acc, ones = np.zeros(n), np.full(n, -1.0)  # terms below 1; terms of 1 but one max's
    tmp = np.empty(n)
    big = np.empty(n, dtype=bool)
    for j in range(c):
        np.subtract(z[:, j], m, out=tmp)
        np.exp(tmp, out=tmp)
        np.equal(tmp, 1.0, out=big)
        ones += big
        np.copyto(tmp, 0.0, where=big)
        acc += tmp
    acc += ones
    return m, np.log1p(acc, out=acc)


def _others(e: FloatArray) -> FloatArray:
    """e with the first 1 of each row (a max's own term) set to 0, in place."""
    e[np.arange(len(e)), np.argmax(e, axis=1)] = 0.0
    return e


def log_softmax(z: FloatArray) -> FloatArray:
    """log p_ic = z_ic - max_c z_ic - log1p(the other terms' sum)  (never exp of raw z)."""
    z64 = np.asarray(z, dtype=np.float64)
    shifted = z64 - z64.max(axis=1, keepdims=True)
    return shifted - np.log1p(_others(np.exp(shifted)).sum(axis=1, keepdims=True))


def neg_log_probs(scores: FloatArray, *, logits: bool, eps: float) -> tuple[FloatArray, np.ndarray]:
    """(-log p, clip mask): -log p_ic for every class, and where clipping moved p_ic."""
    if logits:
        return -log_softmax(scores), np.zeros(scores.shape, dtype=bool)
    clipped, moved = clip(scores, eps)
    with np.errstate(divide="ignore"):
        return -np.log(clipped), moved


def clip(p: FloatArray, eps: float) -> tuple[FloatArray, np.ndarray]:
    """p clipped to [eps, 1 - eps] (scikit-learn's log_loss), and where that moved a value."""
    if eps <= 0:
        return p, np.zeros(p.shape, dtype=bool)
    lo, hi = eps, 1.0 - eps
    moved = (p < lo) | (p > hi)
    return np.clip(p, lo, hi), moved


def multiclass_labels(
    scores: FloatArray,
    labels: IntArray,
    *,
    logits: bool,
    eps: float,
    class_weight: FloatArray | None = None,
    smoothing: float = 0.0,
) -> RowLosses:
    """Cross-entropy with class-index targets, as ``torch.nn.functional.cross_entropy``.

    l_i = (1 - a) w_{y_i} (-log p_{i,y_i}) + (a / C) sum_c w_c (-log p_ic),  denom_i = w_{y_i}.
    """
    n, c = scores.shape
    if smoothing == 0.0:
        if logits:
            m, lse = logsumexp_rows(scores)
            nll = lse - (take_along_rows(scores, labels) - m)
            moved = np.zeros(n, dtype=bool)
        else:
            p_y = take_along_rows(scores, labels).astype(np.float64)
            p_y, moved = clip(p_y, eps)
            with np.errstate(divide="ignore"):
                nll = -np.log(p_y)
        if class_weight is None:
            return RowLosses(nll, None, None, moved)
        w_y = class_weight[labels]
        return RowLosses(xlogy(w_y, nll), w_y, None, moved)

    nlp, moved_all = neg_log_probs(np.asarray(scores, dtype=np.float64), logits=logits, eps=eps)
    w = np.ones(c) if class_weight is None else class_weight
    nll = take_along_rows(nlp, labels)
    w_y = w[labels]
    terms = xlogy(nlp, (smoothing / c) * w)
    rows = np.arange(n)
    terms[rows, labels] += xlogy((1.0 - smoothing) * w_y, nll)
    loss = terms.sum(axis=1)
    return RowLosses(
        loss, None if class_weight is None else w_y, terms, np.asarray(moved_all.any(axis=1))
    )


def multiclass_targets(
    scores: FloatArray,
    targets: FloatArray,
    *,
    logits: bool,
    eps: float,
    class_weight: FloatArray | None = None,
    smoothing: float = 0.0,
) -> RowLosses:
    """Cross-entropy with probability targets (one-hot or soft), as torch does for them.

    y'_ic = (1 - a) y_ic + a / C;  l_i = -sum_c w_c y'_ic log p_ic;  denom_i = 1 (torch divides
    by N whatever the class weights).
    """
    c = scores.shape[1]
    nlp, moved = neg_log_probs(np.asarray(scores, dtype=np.float64), logits=logits, eps=eps)
    y = targets if smoothing == 0.0 else targets * (1.0 - smoothing) + smoothing / c
    if class_weight is not None:
        y = y * class_weight
    terms = xlogy(y, nlp)
    return RowLosses(terms.sum(axis=1), None, terms, np.asarray((moved & (y > 0)).any(axis=1)))


def binary_elementwise(
    scores: FloatArray,
    targets: FloatArray,
    *,
    logits: bool,
    eps: float,
    pos_weight: FloatArray | float | None = None,
    smoothing: float = 0.0,
) -> tuple[FloatArray, np.ndarray]:
    """Element-wise binary cross-entropy and where clipping moved an entering probability.

    y' = y (1 - a) + a / 2 (Keras smoothing). From probabilities:
    l = -(pw y' log p + (1 - y') log(1 - p)), p and 1 - p clipped to [eps, 1 - eps].
    From logits (torch's ``binary_cross_entropy_with_logits``), with the stable
    softplus(x) = max(x, 0) + log1p(exp(-|x|)):  l = pw y' softplus(-z) + (1 - y') softplus(z).
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = targets if smoothing == 0.0 else targets * (1.0 - smoothing) + smoothing / 2.0
    pw = 1.0 if pos_weight is None else pos_weight
    if logits:
        # pw y' softplus(-z) + (1 - y') softplus(z): the same value as torch's
        # (1 - y') z + (pw y' + 1 - y') softplus(-z), without its cancellation for z << 0.
        sp_pos, sp_neg = softplus_sides(scores)
        loss = (pw * y) * sp_neg + (1.0 - y) * sp_pos
        return loss, np.zeros(scores.shape, dtype=bool)
    p, moved_p = clip(scores, eps)
    q, moved_q = clip(1.0 - scores, eps)
    with np.errstate(divide="ignore"):
        loss = -(xlogy(pw * y, np.log(p)) + xlogy(1.0 - y, np.log(q)))
    moved = (moved_p & (y > 0)) | (moved_q & (y < 1))
    return loss, moved


def binary(
    scores: FloatArray,
    labels: FloatArray,
    *,
    logits: bool,
    eps: float,
    pos_weight: float | None = None,
    smoothing: float = 0.0,
) -> RowLosses:
    """Binary cross-entropy of one score column against 0/1 labels (see binary_elementwise)."""
    loss, moved = binary_elementwise(
        scores, labels, logits=logits, eps=eps, pos_weight=pos_weight, smoothing=smoothing
    )
    return RowLosses(loss, None, None, moved)


def multilabel(
    scores: FloatArray,
    targets: FloatArray,
    *,
    logits: bool,
    eps: float,
    pos_weight: FloatArray | None = None,
    smoothing: float = 0.0,
    label_mean: bool = False,
) -> RowLosses:
    """Multi-label BCE: l_i = sum_c bce_ic (or the mean over the C labels with ``label_mean``).

    ``class_terms`` holds the raw per-label BCE, so the per-label sums add up to the total under
    the sum reduction over labels.
    """
    bce, moved = binary_elementwise(
        scores, targets, logits=logits, eps=eps, pos_weight=pos_weight, smoothing=smoothing
    )
    loss = bce.sum(axis=1)
    if label_mean:
        loss = loss / scores.shape[1]
    return RowLosses(loss, None, bce, np.asarray(moved.any(axis=1)))


def binary_fused(
    scores: FloatArray,
    labels: IntArray,
    *,
    logits: bool,
    eps: float,
    pos_weight: float | None = None,
) -> tuple[RowLosses, RowStats, np.ndarray]:
    """Loss, metric terms and decision (p > 0.5, z > 0) of one binary score column against
    0/1 labels, each computed once: the values of :func:`binary` and :func:`bernoulli_stats`,
    up to the sign of a zero. With hard labels the loss from probabilities is one log of the
    true side's (clipped) probability rather than a log of each side weighted by y and 1 - y.
    Choices by label are arithmetic, y a + (1 - y) b with a and b finite (exact): np.where on a
    mask that follows the labels costs ~4x as much, its branches mispredicted half the time."""
    s = np.asarray(scores, dtype=np.float64)
    y = labels.astype(np.float64)
    off = np.subtract(1.0, y)
    if logits:
        sp_pos, sp_neg = softplus_sides(s)
        nll = np.multiply(y if pos_weight is None else pos_weight * y, sp_neg)
        nll += off * sp_pos
        p, q, entropy = _bernoulli_from_softplus(sp_pos, sp_neg)
        moved = np.zeros(len(s), dtype=bool)
        pred = s > 0.0
        p_true = np.multiply(y, p)
        p_true += np.multiply(off, q)
        brier = np.multiply(y, q)  # |p - y| as q or p: 1 - q would lose a confident row's digits
        brier += np.multiply(off, p, out=off)
    else:
        p = s
        q = np.subtract(1.0, p)
        p_true = np.multiply(y, p)
        p_true += np.multiply(off, q)  # before clipping
        p_clipped, moved = clip(p_true, eps)
        with np.errstate(divide="ignore"):
            nll = np.log(p_clipped)
        np.negative(nll, out=nll)
        if pos_weight is not None:  # 0 x inf = 0: --pos-weight 0 ignores a p = 0 positive
            nll = xlogy(pos_weight * y + off, nll)
        entropy = _bernoulli_entropy(p, q)
        pred = p > 0.5
        brier = np.subtract(p, y, out=y)
    np.multiply(brier, brier, out=brier)
    stats = RowStats(np.maximum(p, q), pred == (labels == 1), brier, entropy, 1, p_true)
    return RowLosses(nll, None, None, moved), stats, pred


def softplus_sides(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(softplus(z), softplus(-z)) = (-log(1 - p), -log p) for p = sigma(z), both from the
    stable max(x, 0) + log1p(exp(-|z|)), never exp of a large logit."""
    tail = np.log1p(np.exp(-np.abs(z)))
    sp_pos = np.maximum(z, 0.0)
    sp_pos += tail
    sp_neg = np.maximum(-z, 0.0)
    sp_neg += tail
    return sp_pos, sp_neg


def _bernoulli_from_softplus(
    sp_pos: FloatArray, sp_neg: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """p, 1 - p and H(p) of a logit's Bernoulli: 1 - p as e^-softplus(z), not by subtraction,
    so a confident row keeps its digits; H = p softplus(-z) + (1 - p) softplus(z)."""
    p, q = np.exp(-sp_neg), np.exp(-sp_pos)
    ent = np.multiply(p, sp_neg)
    ent += q * sp_pos
    return p, q, ent


def _bernoulli_entropy(p: FloatArray, q: FloatArray) -> FloatArray:
    """H(p) = -(p log p + q log1p(-p)) with 0 log 0 = 0, for q = 1 - p: the masks (as in
    :func:`bernoulli_stats`) only for chunks where p is 0 or 1 somewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.multiply(p, np.log(p))
        ent += np.multiply(q, np.log1p(-p))
        if np.isnan(ent).any():
            ent = np.where(p > 0, p * np.log(p), 0.0)
            ent += np.where(p < 1, q * np.log1p(-p), 0.0)
    np.negative(ent, out=ent)
    return ent


def argmax_rows(scores: FloatArray) -> IntArray:
    """Predicted class: the first largest score of each row (the same for probs and logits).

    On column-major chunks with few classes, a pass per column over contiguous memory is
    several times faster than ``np.argmax(axis=1)`` striding across rows.
    """
    if not _columnwise(scores):
        return np.argmax(scores, axis=1)
    best = scores[:, 0].copy()
    for j in range(1, scores.shape[1]):
        np.maximum(best, scores[:, j], out=best)
    return first_index_of(scores, best)


def first_index_of(scores: FloatArray, best: FloatArray) -> IntArray:
    """Per row, the first column equal to ``best`` (the row max): np.argmax's tie rule.
    Column-major chunks with few classes only (see :func:`_first_max`)."""
    k = np.empty(len(best), dtype=np.intp)
    _first_max(scores, best, k)
    return k


def positive(scores: FloatArray, *, logits: bool) -> np.ndarray:
    """Binary decision: p > 0.5, or z > 0 for logits."""
    return scores > (0.0 if logits else 0.5)


def xlogy(a: FloatArray | float, b: FloatArray) -> FloatArray:
    """a * b for b a logarithm, with 0 * inf = 0 (scipy's xlogy convention): a zero target
    ignores an infinite -log p, and 0 log 0 is 0. The one place this rule is written."""
    with np.errstate(invalid="ignore"):
        out = np.multiply(a, b)
    if np.isnan(out).any():
        out = np.where(np.broadcast_to(a, out.shape) == 0, 0.0, out)
    return np.asarray(out)


# -- Per-row statistics for the evaluation metrics ------------------------------------------


@dataclass
class RowStats:
    """Per-row quantities behind the metrics (all in nats where they are information).

    ``confidence``/``hit`` feed the calibration bins: one entry per row (top-label confidence
    and whether the top label is right), or per row and label for binary/multi-label problems
    (``per_row`` entries each; ``hit`` may be bool). ``brier``: the row's squared error
    (multi-label: mean over labels). ``entropy``: entropy of the predicted distribution.
    ``p_true``: probability given to the true class. ``top_k``: 1 where the true class is
    among the k best.
    """

    # Fields with ``per_row`` entries a row (the calibration of each label); every other array
    # field has one a row. Slices (--group-by) select rows of every field by this rule alone.
    PER_ENTRY: ClassVar[tuple[str, ...]] = ("confidence", "hit")

    confidence: FloatArray
    hit: FloatArray
    brier: FloatArray
    entropy: FloatArray
    per_row: int = 1
    p_true: FloatArray | None = None
    top_k: FloatArray | None = None
    target_entropy: FloatArray | None = None


def probabilities(scores: FloatArray, *, logits: bool) -> tuple[FloatArray, FloatArray]:
    """(P, log P) in float64. Softmax of logits as the fused kernel computes it (see
    :class:`SoftmaxSums`): with t = z - m, k the first max and a = sum_{c != k} e^t_c,
    P = e^t / (1 + a) and log P = t - log1p(a), never the log of an underflowed P. So the top
    probability is 1 / (1 + a) on either path: a tie of ten logits is exactly 0.1, one
    calibration bin whichever kernel read the chunk."""
    if logits:
        z = np.asarray(scores, dtype=np.float64)
        k = np.argmax(z, axis=1)
        t = z - take_along_rows(z, k)[:, None]  # t - m, not z - (m + lse): |z| ~ 1e300 safe
        e = np.exp(t)
        rows = np.arange(len(k))
        e[rows, k] = 0.0
        a = e.sum(axis=1)
        e[rows, k] = 1.0
        t -= np.log1p(a)[:, None]
        e /= (1.0 + a)[:, None]
        return e, t
    p = np.asarray(scores, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return p, np.log(p)


def _xlogx_rows(p: FloatArray, log_p: FloatArray) -> FloatArray:
    """sum_c p_c log p_c per row, with 0 log 0 = 0."""
    return xlogy(p, log_p).sum(axis=1)


def top_k_hits(scores: FloatArray, labels: IntArray, k: int) -> FloatArray:
    """1 where the true class ranks among the k largest scores (scikit-learn's
    ``top_k_accuracy_score``: among equal scores the higher class index ranks first)."""
    s_true = take_along_rows(scores, labels)[:, None]
    cols = np.arange(scores.shape[1])[None, :]
    above = (scores > s_true).sum(axis=1) + ((scores == s_true) & (cols > labels[:, None])).sum(
        axis=1
    )
    return (above < k).astype(np.float64)


def multiclass_stats(
    scores: FloatArray,
    *,
    logits: bool,
    pred: IntArray,
    labels: IntArray | None = None,
    targets: FloatArray | None = None,
    top_k: int | None = None,
    smoothing: float = 0.0,
) -> RowStats:
    """Metrics' per-row terms for a multiclass chunk.

    brier_i = sum_c (p_ic - y_ic)^2 (scikit-learn's unhalved multiclass Brier);
    entropy_i = -sum_c p_ic log p_ic; confidence_i = max_c p_ic.
    """
    p, log_p = probabilities(scores, logits=logits)
    entropy = -_xlogx_rows(p, log_p)
    confidence = take_along_rows(p, pred)
    target_entropy = None
    if labels is not None:
        truth = labels
        p_true = take_along_rows(p, labels)
        brier = _brier_of_probs(p, labels, np.einsum("ij,ij->i", p, p), p_true)
        if smoothing > 0.0:  # the smoothed one-hot target's entropy, the same on every row
            c = p.shape[1]
            on, off = 1.0 - smoothing + smoothing / c, smoothing / c
            h = -(on * math.log(on) + (c - 1) * off * math.log(off))
            target_entropy = np.full(len(labels), h)
    else:
        assert targets is not None
        truth = argmax_rows(targets)
        p_true = take_along_rows(p, truth)
        miss = p - targets
        if logits:  # a top probability that rounds to 1: p - 1 is expm1(log p), y and 1 apart
            top = p > 0.5
            miss[top] = np.expm1(log_p[top]) + (1.0 - targets[top])
        brier = np.einsum("ij,ij->i", miss, miss)
        # H(y') of the targets as the loss uses them (smoothed), so kl = loss - H(y')
        used = targets if smoothing == 0.0 else targets * (1 - smoothing) + smoothing / p.shape[1]
        with np.errstate(divide="ignore"):
            target_entropy = -_xlogx_rows(used, np.log(used))
    hit = (pred == truth).astype(np.float64)
    hits_k = None if top_k is None else top_k_hits(scores, truth, top_k)
    return RowStats(confidence, hit, brier, entropy, 1, p_true, hits_k, target_entropy)


def bernoulli_stats(
    scores: FloatArray, targets: FloatArray, *, logits: bool, label_mean: bool = False
) -> RowStats:
    """Per-row terms for binary (one column) and multi-label chunks: each column is a
    Bernoulli prediction. brier_i = mean_c (p_ic - y_ic)^2; entropy_i = sum_c H(p_ic)
    (divided by C with ``label_mean``); calibration over max(p, 1 - p) of every entry."""
    s = np.asarray(scores, dtype=np.float64)
    c = s.shape[1]
    truth = targets >= 0.5
    if logits:
        p, q, ent = _bernoulli_from_softplus(*softplus_sides(s))
        pred = s > 0.0
    else:
        p = s
        q = 1.0 - p
        ent = _bernoulli_entropy(p, q)
        pred = p > 0.5
    entropy = ent.sum(axis=1) / (c if label_mean else 1)
    if logits:  # p - y as (1 - y) - q where y >= 1/2 (1 - y is exact there): -q for y = 1
        diff = np.where(truth, (1.0 - targets) - q, p - targets)
    else:  # p is the input: p - y has one rounding, 1 - p another
        diff = p - targets
    brier = (diff**2).mean(axis=1)
    confidence = np.maximum(p, q).reshape(-1)
    hit = (pred == truth).astype(np.float64).reshape(-1)
    p_true = np.where(truth[:, 0], p[:, 0], q[:, 0]) if c == 1 else None
    return RowStats(confidence, hit, brier, entropy, c, p_true)


# Values per pass over a block: 512 KB of float64, so the block's float64 copies and its
# input stay in a 2 MB L2 (5M x 10 logits: 0.48 -> 0.33 s of kernel time against 2 MB
# blocks); but at least this many rows, or with many classes the calls per block dominate.
KERNEL_BLOCK_VALUES = 1 << 16
KERNEL_BLOCK_MIN_ROWS = 256


@dataclass
class SoftmaxSums:
    """Per row of a logits chunk, with m the row max, k its first index (np.argmax's tie rule)
    and t_c = z_c - m <= 0: a = sum_{c != k} e^t_c, s1 = sum_c e^t_c t_c and
    sq = sum_{c != k} e^2t_c; for the label y, g = t_y and eg = e^t_y. The max's own term
    (exactly 1) is kept out of a and sq so that log1p(a) and the Brier score keep their
    precision when the other terms are tiny."""

    m: FloatArray
    k: IntArray
    a: FloatArray
    s1: FloatArray
    sq: FloatArray
    g: FloatArray
    eg: FloatArray


def softmax_sums(z: FloatArray, labels: IntArray) -> SoftmaxSums:
    """:class:`SoftmaxSums` of a chunk, in float64, block by block on (B, C) slabs of ~256k
    values (a handful of NumPy calls per block, on memory that stays in cache, into reused
    buffers laid out like the chunk). The first max: a pass per column for few classes stored
    by column, np.argmax on row-major blocks, else a min over the columns that hold the max.
    The label's terms are read from the block while it is in cache."""
    n, c = z.shape
    b = max(1, min(n, max(KERNEL_BLOCK_MIN_ROWS, KERNEL_BLOCK_VALUES // c)))
    order: Literal["C", "F"] = "F" if z.flags.f_contiguous and not z.flags.c_contiguous else "C"
    few = order == "F" and c <= COLUMNWISE_MAX_CLASSES
    m_out, k_out = np.empty(n, dtype=z.dtype), np.empty(n, dtype=np.intp)
    a_out, s1_out, sq_out = np.empty(n), np.empty(n), np.empty(n)
    g_out, eg_out = np.empty(n), np.empty(n)
    index, index32 = np.arange(b, dtype=np.intp), np.arange(c, dtype=np.int32)
    t = e = m64 = np.empty(0)
    at_k = at_y = np.empty(0, dtype=np.intp)
    for lo in range(0, n, b):
        hi = min(n, lo + b)
        zb, m, k = z[lo:hi], m_out[lo:hi], k_out[lo:hi]
        rows = hi - lo
        if t.shape[0] != rows:  # the first block, and a shorter last one
            t, e = np.empty((rows, c), order=order), np.empty((rows, c), order=order)
            m64, at_k, at_y = np.empty(rows), np.empty(rows, np.intp), np.empty(rows, np.intp)
            # flat offset of (row, column j) in a block's own memory order: base + j * step
            base, step = (index[:rows], rows) if order == "F" else (index[:rows] * c, 1)
        if few:
            np.copyto(m, zb[:, 0])
            for j in range(1, c):
                np.maximum(m, zb[:, j], out=m)
            _first_max(zb, m, k)
        elif order == "C":
            np.argmax(zb, axis=1, out=k)
            m[:] = np.take(zb.reshape(-1), index[:rows] * c + k)
        else:  # many classes by column: argmax across rows would stride; min over the maxima
            np.max(zb, axis=1, out=m)
            k[:] = np.where(zb == m[:, None], index32, np.int32(c)).min(axis=1)
        np.copyto(m64, m)
        np.copyto(t, zb)  # float32 -> float64, then one float64 subtract: ~2x faster than
        np.subtract(t, m64[:, None], out=t)  # a mixed-type subtract
        np.exp(t, out=e)
        flat_t, flat_e = t.reshape(-1, order=order), e.reshape(-1, order=order)
        np.multiply(labels[lo:hi], step, out=at_y)
        at_y += base
        np.take(flat_t, at_y, out=g_out[lo:hi])
        np.take(flat_e, at_y, out=eg_out[lo:hi])
        np.multiply(k, step, out=at_k)
        at_k += base
        flat_e[at_k] = 0.0  # the max's own term out of a and sq
        np.add.reduce(e, axis=1, out=a_out[lo:hi])
        # sums of products in one pass each, with no (B, C) temporary: ~2x faster than a
        # multiply and a reduce
        np.einsum("ij,ij->i", t, e, out=s1_out[lo:hi])
        np.einsum("ij,ij->i", e, e, out=sq_out[lo:hi])
    return SoftmaxSums(m_out, k_out, a_out, s1_out, sq_out, g_out, eg_out)


def _first_max(z: FloatArray, m: FloatArray, k: np.ndarray) -> None:
    """k = index of the first column equal to the row max m: the number of leading columns
    that differ from it (a running product of not-equal flags, in uint8)."""
    c = z.shape[1]
    flag = np.empty(len(m), dtype=bool)
    bits = flag.view(np.uint8)
    run = np.empty(len(m), dtype=np.uint8)
    count = np.empty(len(m), dtype=np.uint8)
    np.not_equal(z[:, 0], m, out=flag)
    np.copyto(run, bits)
    np.copyto(count, run)
    for j in range(1, c - 1):
        np.not_equal(z[:, j], m, out=flag)
        np.bitwise_and(run, bits, out=run)
        np.add(count, run, out=count)
    np.copyto(k, count)


def multiclass_columnwise(
    scores: FloatArray,
    labels: IntArray,
    *,
    eps: float,
    class_weight: FloatArray | None = None,
    top_k: int | None = None,
) -> tuple[RowLosses, RowStats, IntArray]:
    """Loss, metric terms and predicted class of a column-major chunk of probabilities with
    class-index labels, a pass per contiguous class column (no (n, C) float64 temporaries)."""
    n, c = scores.shape
    m = scores[:, 0].astype(np.float64)
    for j in range(1, c):
        np.maximum(m, scores[:, j], out=m)
    pred = first_index_of(scores, m)
    p_true = take_along_rows(scores, labels).astype(np.float64)
    sq = np.zeros(n)
    tmp = np.empty(n)
    ent = np.zeros(n)
    log_col = np.empty(n)
    col = np.empty(n)  # float64 copy: float32 inputs would pick float32 loops
    for j in range(c):
        np.copyto(col, scores[:, j])
        np.multiply(col, col, out=tmp)
        sq += tmp
        log_col.fill(0.0)
        np.log(col, out=log_col, where=col > 0)  # 0 log 0 = 0
        np.multiply(col, log_col, out=tmp)
        ent -= tmp
    nll, moved = _clipped_nll(p_true, eps)
    return _fused_result(
        scores,
        labels,
        pred,
        nll=nll,
        moved=moved,
        p_true=p_true,
        confidence=m,
        entropy=ent,
        brier=_brier_of_probs(scores, labels, sq, p_true),
        class_weight=class_weight,
        top_k=top_k,
    )


def multiclass_fused(
    scores: FloatArray,
    labels: IntArray,
    *,
    logits: bool,
    eps: float,
    class_weight: FloatArray | None = None,
    top_k: int | None = None,
) -> tuple[RowLosses, RowStats, IntArray]:
    """Loss, metric terms and predicted class of a chunk with class-index labels, each
    computed once: logits through :func:`softmax_sums`; probabilities column by column for
    few classes stored by column, else on one float64 working copy."""
    if logits:
        sums = softmax_sums(scores, labels)
        return _logit_result(scores, labels, sums, class_weight=class_weight, top_k=top_k)
    if _columnwise(scores):
        return multiclass_columnwise(
            scores, labels, eps=eps, class_weight=class_weight, top_k=top_k
        )
    c = scores.shape[1]
    z = np.array(scores, dtype=np.float64, order="K")
    m = z.max(axis=1)
    if z.flags.f_contiguous and not z.flags.c_contiguous:
        # np.argmax across rows of a column-major matrix is ~6x slower than this select.
        index = np.arange(c, dtype=np.int32)
        pred = np.where(z == m[:, None], index, np.int32(c)).min(axis=1).astype(np.int64)
    else:
        pred = np.argmax(z, axis=1)
    p = z
    p_true = take_along_rows(p, labels)
    confidence = take_along_rows(p, pred)
    sq = np.einsum("ij,ij->i", p, p)
    log_p = np.zeros_like(p)
    np.log(p, out=log_p, where=p > 0)
    entropy = -np.einsum("ij,ij->i", p, log_p)
    nll, moved = _clipped_nll(p_true, eps)
    return _fused_result(
        scores,
        labels,
        pred,
        nll=nll,
        moved=moved,
        p_true=p_true,
        confidence=confidence,
        entropy=entropy,
        brier=_brier_of_probs(p, labels, sq, p_true),
        class_weight=class_weight,
        top_k=top_k,
    )


def _logit_result(
    scores: FloatArray,
    labels: IntArray,
    sums: SoftmaxSums,
    *,
    class_weight: FloatArray | None,
    top_k: int | None,
) -> tuple[RowLosses, RowStats, IntArray]:
    """Loss and metric terms from :class:`SoftmaxSums`, with A = 1 + a and g = z_y - m <= 0:
    -log p_y = log1p(a) - g, max p = 1 / A, H(p) = log1p(a) - s1 / A, p_y = e^g / A and
    Brier = sum_c (p_c - y_c)^2 = ((a + D)^2 + D (2 - D) + sq) / A^2 with D = 1 - e^g, every
    term non-negative, so confident rows keep their precision. D needs no expm1: it is 0 when
    y is the first max (g = 0), and otherwise a >= e^g makes the sum >= 1, so D's absolute
    rounding (1 - e^g is exact for e^g >= 1/2) stays relative. In place on the sums' arrays."""
    a, g, eg = sums.a, sums.g, sums.eg
    lse = np.log1p(a)
    inv = np.add(a, 1.0)
    np.reciprocal(inv, out=inv)
    d = np.subtract(1.0, eg)
    brier = np.add(a, d, out=a)
    np.multiply(brier, brier, out=brier)
    brier += sums.sq
    np.subtract(2.0, d, out=sums.sq)
    np.multiply(d, sums.sq, out=d)
    brier += d
    brier *= inv
    brier *= inv
    entropy = np.multiply(sums.s1, inv, out=sums.s1)
    np.subtract(lse, entropy, out=entropy)
    nll = np.subtract(lse, g, out=g)
    p_true = np.multiply(eg, inv, out=eg)
    return _fused_result(
        scores,
        labels,
        sums.k,
        nll=nll,
        moved=np.zeros(len(g), dtype=bool),
        p_true=p_true,
        confidence=inv,
        entropy=entropy,
        brier=brier,
        class_weight=class_weight,
        top_k=top_k,
    )


BRIER_EXACT_BELOW = 1e-4


def _brier_of_probs(
    scores: FloatArray, labels: IntArray, sq: FloatArray, p_true: FloatArray
) -> FloatArray:
    """Brier from each row's sum of squares sq: sq - 2 p_y + 1, whose rounding (~1e-16) is
    below 1e-12 of any value above BRIER_EXACT_BELOW; rows below it (confident ones, where
    it would cancel to nothing) again with the terms kept apart, by :func:`_brier`."""
    brier = sq - 2.0 * p_true + 1.0
    small = np.flatnonzero(brier < BRIER_EXACT_BELOW)
    if small.size:
        sub = np.asarray(scores[small], dtype=np.float64)
        sub[np.arange(len(small)), labels[small]] = 0.0
        brier[small] = _brier(np.einsum("ij,ij->i", sub, sub), p_true[small])
    return brier


def _brier(sq_others: FloatArray, p_true: FloatArray) -> FloatArray:
    """sum_c (p_c - y_c)^2 = the other classes' p_c^2 + (1 - p_y)^2, every term kept apart:
    sum_c p_c^2 - 2 p_y + 1 cancels to nothing on a confident row (1e-18 came out as 0)."""
    miss = np.subtract(1.0, p_true)
    return np.add(sq_others, np.multiply(miss, miss, out=miss), out=miss)


def _clipped_nll(p_true: FloatArray, eps: float) -> tuple[FloatArray, np.ndarray]:
    """-log p of the true class after scikit-learn's clipping, and where clipping moved it."""
    p_clipped, moved = clip(p_true, eps)
    with np.errstate(divide="ignore"):
        return -np.log(p_clipped), moved


def _fused_result(
    scores: FloatArray,
    labels: IntArray,
    pred: IntArray,
    *,
    nll: FloatArray,
    moved: np.ndarray,
    p_true: FloatArray,
    confidence: FloatArray,
    entropy: FloatArray,
    brier: FloatArray,
    class_weight: FloatArray | None,
    top_k: int | None,
) -> tuple[RowLosses, RowStats, IntArray]:
    """The fused kernels' common ending: hits, top-k hits, class weights."""
    hit = pred == labels  # bool: counted by bincount in the calibration bins
    hits_k = None if top_k is None else top_k_hits(scores, labels, top_k)
    stats = RowStats(confidence, hit, brier, entropy, 1, p_true, hits_k)
    if class_weight is None:
        return RowLosses(nll, None, None, moved), stats, pred
    w_y = class_weight[labels]
    return RowLosses(xlogy(w_y, nll), w_y, None, moved), stats, pred


# -- Temperature scaling: the loss of softmax(beta z) (sigmoid(beta z)) and its derivatives ---

TEMPERATURE_FLOOR = -1e150  # stands for log 0 in the sums: exp(beta x) is 0, x^2 stays finite
TEMPERATURE_LIMIT = 1e150  # binary: the logit of a probability of 0 or 1, likewise


@dataclass
class TemperatureRows:
    """Per-row values of the loss in beta = 1/T, for K betas: arrays of shape (K, n), in nats.

    ``loss`` l_i(beta), ``slope`` dl_i/dbeta, ``curvature`` d2l_i/dbeta2 (>= 0: the loss is
    convex in beta), ``confidence`` the top-label probability (binary: max(p, 1 - p)) at beta.
    """

    loss: FloatArray
    slope: FloatArray
    curvature: FloatArray
    confidence: FloatArray


def temperature_multiclass(
    log_p: FloatArray, coef_sum: FloatArray, coef_dot: FloatArray, betas: FloatArray
) -> TemperatureRows:
    """Cross-entropy of q = softmax(beta x) for rows x = ``log_p`` shifted so each row's max is
    0 (x <= 0; log 0 stands as TEMPERATURE_FLOOR), with target coefficients a_ic (target mass
    times class weight, smoothing included) given as A_i = sum_c a_ic (``coef_sum``) and
    sum_c a_ic x_ic (``coef_dot``):

    l_i = A_i log S_i - beta sum_c a_ic x_ic,    S_i = sum_c exp(beta x_ic),
    l_i' = A_i E_q[x_i] - sum_c a_ic x_ic,       l_i'' = A_i Var_q[x_i],
    and the top-label probability is 1 / S_i (the max of x is 0). A beta twice the one before
    it reuses that one's exponentials, squared (the first pass's betas are doublings).
    """
    k, (n, c) = len(betas), log_p.shape
    out = [np.empty((k, n)) for _ in range(4)]
    # blocks of rows that stay in cache (as in softmax_sums), with sums of products by
    # einsum: no (B, C) temporary
    b = max(1, min(n, max(KERNEL_BLOCK_MIN_ROWS, KERNEL_BLOCK_VALUES // c)))
    order: Literal["C", "F"] = "F" if log_p.flags.f_contiguous and c > 1 else "C"
    e = sq = np.empty(0)
    for lo in range(0, n, b):
        hi = min(n, lo + b)
        xb = log_p[lo:hi]
        if e.shape[0] != hi - lo:
            e, sq = np.empty((hi - lo, c), order=order), np.empty((hi - lo, c), order=order)
        np.multiply(xb, xb, out=sq)
        for j, beta in enumerate(betas):
            if j and beta == 2.0 * betas[j - 1]:  # exp(2 b x) = exp(b x)^2: a square, no exp
                np.multiply(e, e, out=e)
            else:
                np.multiply(xb, beta, out=e)
                np.exp(e, out=e)
            # the sums, per beta (turned into the values below)
            np.add.reduce(e, axis=1, out=out[0][j, lo:hi])
            np.einsum("ij,ij->i", xb, e, out=out[1][j, lo:hi])
            np.einsum("ij,ij->i", sq, e, out=out[2][j, lo:hi])
    for j, beta in enumerate(betas):
        s0, s1, s2 = out[0][j], out[1][j], out[2][j]
        mean = s1 / s0
        var = s2 / s0
        var -= mean * mean
        np.maximum(var, 0.0, out=var)
        np.divide(1.0, s0, out=out[3][j])
        np.log(s0, out=s0)
        s0 *= coef_sum
        s0 -= beta * coef_dot
        np.multiply(coef_sum, mean, out=s1)
        s1 -= coef_dot
        np.multiply(coef_sum, var, out=s2)
    return TemperatureRows(*out)


def temperature_binary(
    z: FloatArray, pos: FloatArray, neg: FloatArray, betas: FloatArray
) -> TemperatureRows:
    """BCE of p = sigmoid(beta z) with coefficients u = pw y' (``pos``), v = 1 - y' (``neg``):

    l = u softplus(-beta z) + v softplus(beta z),
    l' = z (v p - u (1 - p)),    l'' = (u + v) z^2 p (1 - p),
    with softplus and p (1 - p) = e / (1 + e)^2, e = exp(-beta |z|), in their stable forms.
    """
    k, n = len(betas), len(z)
    out = [np.empty((k, n)) for _ in range(4)]
    az = np.abs(z)
    for j, beta in enumerate(betas):
        e = np.exp(-beta * az)
        tail = np.log1p(e)
        bz = beta * z
        sp_pos = np.maximum(bz, 0.0) + tail  # softplus(beta z)
        sp_neg = np.maximum(-bz, 0.0) + tail  # softplus(-beta z)
        big = 1.0 / (1.0 + e)  # max(p, 1 - p)
        small = e * big
        p = np.where(z > 0, big, small)
        q = np.where(z > 0, small, big)
        out[0][j] = pos * sp_neg + neg * sp_pos  # finite: z is clamped, see the caller
        out[1][j] = z * (neg * p - pos * q)
        out[2][j] = (pos + neg) * (z * z) * (big * small)
        out[3][j] = big
    return TemperatureRows(*out)
