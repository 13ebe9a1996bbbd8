"""The accumulator's merge law, tested directly: folding chunks 1..k into A and k+1..m into B,
then merging B into A, gives the summary C of folding 1..m in one go (every sum, the
calibration bins, the loss histogram, the worst rows, the bootstrap sums and every slice),
whatever the split and the merge order. This is what lets the local engine, Dask tasks and
the Python API's Evaluator fold chunks anywhere."""

from __future__ import annotations

import copy
import functools
from dataclasses import fields
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xentcli.accumulate import CompensatedSum, Summary
from xentcli.config import LossConfig, MetricConfig, ReadConfig
from xentcli.fold import Folded, fold
from xentcli.io.memory import memory_source
from xentcli.startup import start

RNG = np.random.default_rng(31)  # drawn once per (task, chunk size): the cache keeps them
N = 300


@functools.cache
def chunks_and_scorer(task: str, chunk_rows: int) -> tuple[list[Any], Any]:
    """Every chunk of a random input (with a --group-by column), and the scorer of its run."""
    region = RNG.choice(["east", "west", "north"], N)
    if task == "multilabel":
        scores = RNG.normal(size=(N, 3))
        cols = {f"s{j}": scores[:, j] for j in range(3)}
        cols |= {f"t{j}": (RNG.uniform(size=N) < 0.3).astype(float) for j in range(3)}
        read_opts: dict[str, Any] = {"target_cols": "t*"}
    elif task == "binary":
        cols = {"s": RNG.normal(size=N) * 3, "label": RNG.integers(0, 2, N)}
        read_opts = {}
    else:
        scores = RNG.normal(size=(N, 4)) * 2
        cols = {f"s{j}": scores[:, j] for j in range(4)} | {"label": RNG.integers(0, 4, N)}
        read_opts = {}
    cols |= {"w": RNG.uniform(0.1, 2.0, N), "region": region}
    source = memory_source(pa.table(cols), labels=False)
    read = ReadConfig(
        source.name,
        weight_col="w",
        group_by=("region",),
        chunk_rows=chunk_rows,
        threads=1,
        memory={source.name: source},
        **read_opts,
    )
    metrics = MetricConfig(
        top_k=2 if task == "multiclass" else None,
        bins=9,
        worst=5,
        histogram=True,
        ci=0.9,
        replicates=50,
    )
    run = start(read, LossConfig(logits=True), metrics)
    return list(run.chunks), run.scorer


def assert_same_summary(got: Summary, want: Summary) -> None:
    for f in fields(want):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, CompensatedSum):
            np.testing.assert_allclose(a.value, b.value, rtol=1e-12, atol=0, err_msg=f.name)
        elif f.name == "worst":
            assert [(w.row, w.loss, w.y_true, w.y_pred, w.id) for w in a.items] == [
                (w.row, w.loss, w.y_true, w.y_pred, w.id) for w in b.items
            ]
        elif f.name == "boot":
            np.testing.assert_allclose(a.num, b.num, rtol=1e-12, atol=0)
            np.testing.assert_allclose(a.den, b.den, rtol=1e-12, atol=0)
        elif isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        else:
            assert a == b, f.name


def assert_same(got: Folded, want: Folded) -> None:
    assert_same_summary(got.summary, want.summary)
    assert got.slices.keys() == want.slices.keys()
    for key in want.slices:
        assert_same_summary(got.slices[key], want.slices[key])


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
@given(data=st.data())
def test_merge_of_two_folds_is_the_fold_of_all(task: str, data: st.DataObject) -> None:
    chunk_rows = data.draw(st.sampled_from([7, 31, 64]))
    chunks, scorer = chunks_and_scorer(task, chunk_rows)
    k = data.draw(st.integers(0, len(chunks)))
    whole = fold(iter(chunks), scorer, ("region",))
    a = fold(iter(chunks[:k]), scorer, ("region",))
    b = fold(iter(chunks[k:]), scorer, ("region",))
    if data.draw(st.booleans()):  # either order: merge is commutative up to rounding
        a, b = b, a
    assert_same(a.merge(b), whole)


def test_merge_is_associative_over_three_parts() -> None:
    chunks, scorer = chunks_and_scorer("multiclass", 23)
    parts = [chunks[:3], chunks[3:8], chunks[8:]]
    folds = [fold(iter(p), scorer, ("region",)) for p in parts]
    left = copy.deepcopy(folds[0]).merge(copy.deepcopy(folds[1])).merge(copy.deepcopy(folds[2]))
    right = folds[0].merge(folds[1].merge(folds[2]))
    assert_same(left, right)
    assert_same(left, fold(iter(chunks), scorer, ("region",)))


def test_summaries_of_other_shapes_do_not_merge() -> None:
    with pytest.raises(ValueError, match="different shapes"):
        Summary(3).merge(Summary(4))
    with pytest.raises(ValueError, match="different shapes"):
        Summary(3, MetricConfig(bins=10)).merge(Summary(3, MetricConfig(bins=15)))
