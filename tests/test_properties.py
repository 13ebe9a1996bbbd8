"""Properties that must hold for any data (hypothesis), end to end through the readers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xentcli.accumulate import CompensatedSum
from xentcli.config import LossConfig, ReadConfig
from xentcli.evaluate import evaluate
from xentcli.result import Result


@st.composite
def logit_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 60))
    c = draw(st.integers(2, 6))
    z = draw(arrays(np.float64, (n, c), elements=st.floats(-30, 30, width=64)))
    y = draw(arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return z, y


def score(
    z: np.ndarray,
    y: np.ndarray,
    *,
    chunk: int = 10_000,
    logits: bool = True,
    w: np.ndarray | None = None,
) -> Result:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.npz"
        extra = {} if w is None else {"weights": w}
        np.savez(path, scores=z, labels=y, **extra)
        return evaluate(
            ReadConfig(str(path), chunk_rows=chunk, threads=1), LossConfig(logits=logits)
        )


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    return bool(a == pytest.approx(b, rel=rel, abs=1e-12))


@given(logit_sets(), st.integers(1, 61))
def test_any_chunking_gives_the_same_totals(data: tuple, chunk: int) -> None:
    z, y = data
    whole, parts = score(z, y), score(z, y, chunk=chunk)
    assert whole.n == parts.n == len(y)
    assert close(whole.loss_sum, parts.loss_sum)
    for a, b in zip(whole.per_class, parts.per_class, strict=True):
        assert close(a.loss_sum, b.loss_sum) and a.support == b.support
    assert whole.metrics["accuracy"] == parts.metrics["accuracy"]


@given(logit_sets(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(data: tuple, rnd) -> None:
    z, y = data
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    a, b = score(z, y, chunk=7), score(z[perm], y[perm], chunk=7)
    assert close(a.loss_sum, b.loss_sum)


@given(logit_sets(), st.integers(-1000, 1000))
def test_adding_a_constant_to_a_row_of_logits_changes_nothing(data: tuple, shift: int) -> None:
    z, y = data
    shifted = z.copy()
    shifted[0] += shift  # integers keep the shift exact for these magnitudes
    assert close(score(z, y).loss_sum, score(shifted, y).loss_sum, rel=1e-9)


@given(logit_sets())
def test_logits_equal_to_log_p_give_the_loss_of_p(data: tuple) -> None:
    z, y = data
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p = np.maximum(p, 1e-12)  # away from the clipping bound so clipping does not enter
    p /= p.sum(axis=1, keepdims=True)
    assert close(score(np.log(p), y).loss_sum, score(p, y, logits=False).loss_sum, rel=1e-9)


@given(logit_sets())
def test_losses_are_non_negative_and_classes_add_up(data: tuple) -> None:
    z, y = data
    r = score(z, y, chunk=3)
    assert r.loss_sum >= 0 and all(c.loss_sum >= 0 for c in r.per_class)
    assert close(sum(c.loss_sum for c in r.per_class), r.loss_sum, rel=1e-9)


@given(logit_sets(), st.floats(0.1, 10))
def test_uniform_sample_weights_change_nothing(data: tuple, w: float) -> None:
    z, y = data
    plain = score(z, y)
    weighted = score(z, y, w=np.full(len(y), w))
    assert close(plain.loss_mean, weighted.loss_mean, rel=1e-9)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.integers(1, 50))
def test_compensated_sum_is_merge_order_free(values: list[float], cut: int) -> None:
    import math

    a, b, whole = CompensatedSum(), CompensatedSum(), CompensatedSum()
    for v in values[:cut]:
        a.add(v)
    for v in values[cut:]:
        b.add(v)
    for v in values:
        whole.add(v)
    b.merge(a)
    exact = math.fsum(values)
    assert float(b.value) == pytest.approx(exact, rel=1e-12, abs=1e-6)
    assert float(whole.value) == pytest.approx(exact, rel=1e-12, abs=1e-6)


def test_constant_loss_over_many_chunks_does_not_drift() -> None:
    # 10^7 additions of a value with no exact binary form: plain float64 summation drifts.
    s = CompensatedSum()
    x = 0.1
    for _ in range(10_000):
        s.add(np.full(1000, x).sum())
    assert float(s.value) == pytest.approx(1e6, rel=1e-15)
