"""The Python API: compute() on every input kind gives the CLI's JSON; Evaluator fed uneven
batches, merged and pickled gives compute() on the whole; errors are XentError (ValueError)
with the CLI's message; reports render as the CLI's table and as escaped HTML."""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import reference as ref
from tests.helpers import run, run_json
from xentcli import ComparisonReport, Evaluator, Report, XentError, compare, compute

RNG = np.random.default_rng(19)
N, C = 257, 4
NAMES = ["cat", "dog", "eel", "fox"]
LOGITS = RNG.normal(size=(N, C)) * 2.5
LABELS = RNG.integers(0, C, N)
WEIGHTS = RNG.uniform(0.2, 3.0, N)


def close(got: Any, want: Any, path: str = "") -> None:
    """Equal JSON, numbers to 1e-12 relative (a different chunking may round differently)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), (path, got, want)
        for k in want:
            close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (path, got, want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            close(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-12, abs=0), (path, got, want)
    else:
        assert got == want, (path, got, want)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "preds.parquet"
    cols: dict[str, Any] = {n: LOGITS[:, j] for j, n in enumerate(NAMES)}
    pq.write_table(pa.table({**cols, "label": LABELS, "w": WEIGHTS}), path, row_group_size=50)
    return path


def frame() -> pa.Table:
    return pa.table(
        {**{n: LOGITS[:, j] for j, n in enumerate(NAMES)}, "label": LABELS, "w": WEIGHTS}
    )


class CStream:
    """An object with nothing but the Arrow PyCapsule stream interface."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.table.__arrow_c_stream__(requested_schema)


def _pandas() -> Any:
    return pytest.importorskip("pandas").DataFrame(frame().to_pandas())


def _polars() -> Any:
    return pytest.importorskip("polars").from_arrow(frame())


def _dataset(path: Path) -> Any:
    import pyarrow.dataset as pads

    return pads.dataset(path)


TABLE_KINDS: dict[str, Callable[[Path], Any]] = {
    "path": lambda p: p,
    "str": str,
    "pandas": lambda p: _pandas(),
    "polars": lambda p: _polars(),
    "arrow_table": lambda p: frame(),
    "record_batch": lambda p: frame().combine_chunks().to_batches()[0],
    "batch_reader": lambda p: pa.RecordBatchReader.from_batches(
        frame().schema, frame().to_batches(max_chunksize=40)
    ),
    "arrow_dataset": _dataset,
    "c_stream": lambda p: CStream(frame()),
}


@pytest.mark.parametrize("kind", sorted(TABLE_KINDS))
def test_compute_on_every_table_kind_is_the_cli_json(parquet: Path, kind: str) -> None:
    opts = ["--logits", "--weight-col", "w", "--label-smoothing", "0.1", "--top-k", "2"]
    cli = run_json(["compute", parquet, *opts])
    report = compute(
        TABLE_KINDS[kind](parquet), logits=True, weight_col="w", label_smoothing=0.1, top_k=2
    )
    close(report.to_dict(), cli)
    # and the loss against the slow row-by-row reference (torch's weighted smoothing)
    num = math.fsum(
        w * ref.ce_row_label(list(z), int(y), logits=True, a=0.1)
        for z, y, w in zip(LOGITS, LABELS, WEIGHTS, strict=True)
    )
    assert report.loss == pytest.approx(num / math.fsum(WEIGHTS), rel=1e-12)
    assert report.classes == NAMES and report.options["weight_col"] == "w"


def _torch(x: np.ndarray) -> Any:
    torch = pytest.importorskip("torch")
    return torch.from_numpy(x)


ARRAY_KINDS: dict[str, Callable[[np.ndarray], Any]] = {
    "ndarray": lambda x: x,
    "list": lambda x: x.tolist(),
    "float32": lambda x: x.astype(np.float32) if x.dtype.kind == "f" else x,
    "fortran": lambda x: np.asfortranarray(x),
    "torch": _torch,
    "pandas_series": lambda x: pytest.importorskip("pandas").Series(x) if x.ndim == 1 else x,
    "polars_series": lambda x: pytest.importorskip("polars").Series(x) if x.ndim == 1 else x,
}


@pytest.mark.parametrize("kind", sorted(ARRAY_KINDS))
def test_compute_on_arrays_is_the_cli_json_on_npy(tmp_path: Path, kind: str) -> None:
    probs = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    convert = ARRAY_KINDS[kind]
    stored = probs.astype(np.float32) if kind == "float32" else probs
    np.save(tmp_path / "p.npy", stored)
    np.save(tmp_path / "y.npy", LABELS)
    cli = run_json(["compute", tmp_path / "p.npy", "--labels", tmp_path / "y.npy"])
    report = compute(convert(probs), labels=convert(LABELS))
    close(report.to_dict(), cli)
    eps = float(np.finfo(stored.dtype).eps)
    want = math.fsum(
        ref.ce_row_label(list(map(float, p)), int(y), logits=False, eps=eps)
        for p, y in zip(stored, LABELS, strict=True)
    )
    assert report.loss == pytest.approx(want / N, rel=1e-12)


def test_binary_and_text_labels_and_names_for_arrays() -> None:
    z = RNG.normal(size=40)
    y = (RNG.uniform(size=40) < 1 / (1 + np.exp(-z))).astype(int)
    r = compute(
        z,
        labels=["neg", "pos"] * 0 + [["neg", "pos"][k] for k in y],
        logits=True,
        class_names=["neg", "pos"],
    )
    want = math.fsum(ref.bce(float(s), float(t), logits=True) for s, t in zip(z, y, strict=True))
    assert r.task == "binary" and r.loss == pytest.approx(want / 40, rel=1e-12)
    assert r.classes == ["neg", "pos"]


def test_pandas_text_labels_with_a_missing_one_name_the_row() -> None:
    pd = pytest.importorskip("pandas")
    p = np.full((3, 2), 0.5)
    with pytest.raises(XentError) as info:
        compute(pd.DataFrame(p, columns=["a", "b"]), labels=pd.Series(["a", None, "b"]))
    assert "<labels: pandas.Series>: row 2" in str(info.value)


def test_arrays_are_read_without_copies() -> None:
    from xentcli.io.memory import memory_source

    probs = np.ascontiguousarray(np.full((10, 3), 1 / 3))
    source = memory_source(probs, labels=False)
    blocks = list(source.arrays["scores"].blocks(4))
    assert all(np.shares_memory(b, probs) for b in blocks)
    torch = pytest.importorskip("torch")
    t = torch.full((10, 3), 1 / 3, dtype=torch.float64)
    source = memory_source(t, labels=False)
    assert np.shares_memory(next(source.arrays["scores"].blocks(4)), t.numpy())


def test_errors_are_value_errors_with_the_cli_message(tmp_path: Path) -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.6, 0.1]])
    with pytest.raises(ValueError) as info:
        compute(p, labels=[0, 1])
    assert isinstance(info.value, XentError)
    assert str(info.value).startswith("<predictions: numpy.ndarray>: row 2")
    assert "--renormalize" in str(info.value)  # the same advice as the CLI's
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    cli = run(["compute", tmp_path / "p.npy", "--labels", tmp_path / "y.npy"])
    assert cli.exit_code == 2
    assert cli.stderr.replace(str(tmp_path / "p.npy"), "<predictions: numpy.ndarray>") == (
        f"xent: error: {info.value}\n"
    )
    with pytest.raises(XentError, match=r"--chunk-rows 0: must be >= 1"):
        compute(p, labels=[0, 1], chunk_rows=0)
    with pytest.raises(XentError, match=r"--label-smoothing 2.0: must be in \[0, 1\]"):
        Evaluator(label_smoothing=2.0)
    with pytest.raises(TypeError, match="unknown option 'logit'"):
        compute(p, labels=[0, 1], logit=True)
    with pytest.raises(XentError, match="expected one of"):
        compute(p, labels=[0, 1], task="multi")
    with pytest.raises(XentError, match="2 rows of scores but 3 of labels"):
        Evaluator().update(p, [0, 1, 2])


def test_gates_and_baseline_through_the_api(tmp_path: Path, parquet: Path) -> None:
    prev = tmp_path / "prev.json"
    base = compute(parquet, logits=True, output=prev, format="json")
    assert json.loads(prev.read_text()) == base.to_dict()
    r = compute(parquet, logits=True, baseline=prev, max_increase="0", check=["loss<0.001"])
    assert r.baseline["delta"]["loss"] == 0 and not r.passed
    assert r.failures == [f"loss is {r.loss:.6g}, wanted < 0.001"]  # as the CLI says it
    with pytest.raises(XentError, match=r"it was made with label_smoothing 0\.0 "):
        compute(parquet, logits=True, label_smoothing=0.2, baseline=prev)


# -- Evaluator ------------------------------------------------------------------------------


def _batches(n: int) -> list[slice]:
    cuts = sorted(set(RNG.integers(1, n, 6).tolist()))
    edges = [0, *cuts, n]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


CASES: dict[str, dict[str, Any]] = {
    "multiclass_logits_weighted": dict(logits=True, top_k=2, worst=3, bins=7),
    "multiclass_probs_smoothing": dict(label_smoothing=0.2, class_weights=[1, 2, 0.5, 1]),
    "multiclass_ignore_index": dict(logits=True, ignore_index=2),
    "binary_logits": dict(task="binary", logits=True, pos_weight=2.0),
    "multilabel": dict(task="multilabel", logits=True, label_reduction="mean"),
    "soft_targets": dict(logits=True),
}


def _case_data(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if case.startswith("binary"):
        return LOGITS[:, 0], (LABELS % 2), WEIGHTS
    if case == "multilabel":
        return LOGITS, (RNG.uniform(size=(N, C)) < 0.4).astype(float), WEIGHTS
    if case == "soft_targets":
        t = RNG.dirichlet(np.ones(C), N)
        return LOGITS, t, WEIGHTS
    scores = (
        LOGITS
        if "logits" in case or "ignore" in case
        else np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    )
    return scores, LABELS, WEIGHTS


@pytest.mark.parametrize("case", sorted(CASES))
def test_evaluator_batches_merged_and_pickled_equal_compute(case: str) -> None:
    s, y, w = _case_data(case)
    opts = CASES[case]
    whole = compute(
        pa.table(
            {
                **{f"s{j}": s.reshape(N, -1)[:, j] for j in range(s.reshape(N, -1).shape[1])},
                **({f"t{j}": y[:, j] for j in range(y.shape[1])} if y.ndim == 2 else {"label": y}),
                "w": w,
            }
        ),
        weight_col="w",
        target_cols="t*" if y.ndim == 2 else None,
        **opts,
    ).to_dict()
    parts = _batches(N)
    first, second = Evaluator(**opts), Evaluator(**opts)
    half = len(parts) // 2
    for sl in parts[:half]:
        first.update(s[sl], y[sl], w[sl])
    for sl in parts[half:]:
        second.update(s[sl], y[sl], w[sl])
    second = pickle.loads(pickle.dumps(second))  # as from another process
    merged = first.merge(second).report().to_dict()
    # class names: the table's columns vs the evaluator's defaults
    whole["classes"] = merged["classes"]
    for row, name in zip(whole["per_class"], merged["classes"], strict=True):
        row["class"] = name
    if "worst" in whole:
        assert [r["row"] for r in merged["worst"]] == [r["row"] for r in whole["worst"]]
        whole["worst"], merged["worst"] = None, None
    whole["options"]["weight_col"] = merged["options"]["weight_col"]
    close(merged, whole)


def test_evaluator_refuses_mixed_batches_and_empty_reports() -> None:
    e = Evaluator(logits=True)
    with pytest.raises(XentError, match="no rows yet"):
        e.report()
    e.update(LOGITS[:5], LABELS[:5])
    with pytest.raises(XentError, match="row 6: 3 scores per row where the first rows have 4"):
        e.update(LOGITS[5:9, :3], LABELS[5:9])
    other = Evaluator(logits=True)
    other.update(LOGITS[:5, :3], LABELS[:5] % 3)
    with pytest.raises(XentError, match="cannot merge"):
        e.merge(other)
    with pytest.raises(XentError, match="other options: logits True here, False there"):
        e.merge(Evaluator(logits=False))  # an empty one merges; with rows it must match
    assert repr(e) == "<xent Evaluator: multiclass, 5 rows>"


def test_evaluator_takes_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    e = Evaluator(logits=True, classes=NAMES)
    z = torch.from_numpy(LOGITS)
    e.update(z, torch.from_numpy(LABELS))
    got = e.report()
    want = torch.nn.functional.cross_entropy(z, torch.from_numpy(LABELS)).item()
    assert got.loss == pytest.approx(want, rel=1e-12) and got.classes == NAMES
    needs_grad = torch.zeros((2, 4), requires_grad=True)
    e2 = Evaluator(logits=True)
    with pytest.raises(XentError, match=r"tensor.detach\(\).cpu\(\)"):
        e2.update(needs_grad, [0, 1])


# -- compare, rendering ---------------------------------------------------------------------


def test_compare_is_the_cli_json(tmp_path: Path) -> None:
    a = RNG.normal(size=(60, 3))
    b = a + RNG.normal(scale=0.5, size=(60, 3))
    y = RNG.integers(0, 3, 60)
    for name, z in (("a", a), ("b", b)):
        pq.write_table(
            pa.table({"p0": z[:, 0], "p1": z[:, 1], "p2": z[:, 2], "label": y}),
            tmp_path / f"{name}.parquet",
        )
    args = ["compare", tmp_path / "a.parquet", tmp_path / "b.parquet", "--logits"]
    res = run([*args, "--max-increase", "1%", "--format", "json"])
    cli = json.loads(res.stdout)
    assert res.exit_code == (1 if cli["regressed"] else 0)
    got = compare(a, b, labels=y, logits=True, max_increase="1%", class_names="p0,p1,p2")
    assert isinstance(got, ComparisonReport)
    close(got.to_dict(), cli)
    assert got.passed is not cli["regressed"]


def test_reports_render_as_the_cli_table_and_escaped_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    monkeypatch.setenv("COLUMNS", "100")  # the legend under the per-class table wraps at it

    names = ["<b>bold</b>", "a&b"]
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    report = compute(p, labels=[0, 1, 0], class_names=names, top_k=1)
    assert isinstance(report, Report)
    html = report._repr_html_()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "a&amp;b" in html and "<b>bold" not in html
    assert "options: top_k = 1" in html
    console = Console(width=100, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(report)
    drawn = "\n".join(line.rstrip() for line in console.export_text().splitlines())
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", np.array([0, 1, 0]))
    cli = run(
        [
            "compute",
            tmp_path / "p.npy",
            "--labels",
            tmp_path / "y.npy",
            "--class-names",
            ",".join(names),
            "--top-k",
            "1",
        ]
    )
    assert drawn.strip() == cli.stdout.strip()


def test_no_module_shadows_a_public_name() -> None:
    """`from xentcli import compare` once gave the module xentcli/compare.py (imported by the
    run), not the function: every module imported, each public name is still the API's."""
    import importlib
    import pkgutil
    import types

    import xentcli

    for info in pkgutil.walk_packages(xentcli.__path__, "xentcli."):
        if not info.name.endswith(("distributed", "__main__")):  # __main__ runs the CLI
            importlib.import_module(info.name)
    for name in xentcli.__all__:
        assert not isinstance(getattr(xentcli, name), types.ModuleType), name
    assert xentcli.compare is compare and xentcli.compute is compute


# -- found in review: each of these once crashed or gave a wrong number -------------------

P3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])


def slow_loss(p: np.ndarray, y: list[int]) -> float:
    return math.fsum(-math.log(p[i, k]) for i, k in enumerate(y)) / len(y)


def test_evaluator_reads_text_labels_as_compute_does() -> None:
    pd = pytest.importorskip("pandas")
    want = slow_loss(P3, [0, 1, 2])
    for labels in (
        pd.Series(["a", "b", "c"]),
        pd.Series(["a", "b", "c"], dtype="category"),
        pd.Series(["a", "b", "c"], dtype="string"),
        np.array(["a", "b", "c"], dtype=object),
        ["a", "b", "c"],
    ):
        e = Evaluator(classes=list("abc"))
        e.update(P3, labels)
        assert e.report().loss == pytest.approx(want, rel=1e-15)
        assert compute(P3, labels=labels, classes=list("abc")).loss == pytest.approx(want)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0, 1.7, 2], dtype=object), "label 1.7 is not a whole number"),
        ([0, None, 2], "row 2"),
        (np.array([0, 2**70, 2], dtype=object), "labels"),
    ],
)
def test_bad_object_labels_are_refused_not_truncated(labels: Any, message: str) -> None:
    with pytest.raises(XentError, match=re.escape(message)):
        Evaluator().update(P3, labels)
    with pytest.raises(XentError, match=re.escape(message)):
        compute(P3, labels=labels)


@pytest.mark.parametrize(
    ("option", "value", "wanted"),
    [
        ("ignore_index", "x", "a whole number"),
        ("ignore_index", 1.5, "a whole number"),
        ("logits", "false", "True or False"),
        ("label_smoothing", "much", "a number"),
        ("top_k", 2.5, "a whole number"),
        ("output", 3, "a path"),
    ],
)
def test_option_values_are_checked_not_misread(option: str, value: Any, wanted: str) -> None:
    with pytest.raises(XentError, match=re.escape(f"{option}={value!r}: expected {wanted}")):
        compute(P3, labels=[0, 1, 2], **{option: value})


def test_option_values_in_the_clis_text_forms_and_as_numbers_alike() -> None:
    base = compute(P3, labels=[0, 1, 2], ignore_index=1, label_smoothing=0.1, top_k=2)
    assert base.n == 2
    for kwargs in (
        {"ignore_index": "1", "label_smoothing": "0.1", "top_k": "2"},
        {"ignore_index": np.int64(1), "label_smoothing": np.float64(0.1), "top_k": 2.0},
    ):
        assert compute(P3, labels=[0, 1, 2], **kwargs).to_dict() == base.to_dict()
    torch = pytest.importorskip("torch")
    assert compute(P3, labels=[0, 1, 2], ignore_index=torch.tensor(1)).n == 2
    df = pytest.importorskip("pandas").DataFrame({"a": P3[:, 0], "b": P3[:, 1], "c": P3[:, 2]})
    df["y"] = [0, 1, 2]
    assert compute(df, label_col="y", pred_cols=["a", "b", "c"]).loss == pytest.approx(
        slow_loss(P3, [0, 1, 2])
    )


def test_report_views_show_markup_in_names_as_text() -> None:
    from rich.console import Console

    names = ["[/red]", "[bold red]x[/]"]
    r = compute(np.array([[0.3, 0.7], [0.6, 0.4]]), labels=names, class_names=names)
    console = Console(width=100, record=True, file=open(os.devnull, "w"))  # markup on
    console.print(r)
    text = console.export_text()
    assert "[/red]" in text and "[bold red]x[/]" in text
    c = compare(
        np.array([[0.3, 0.7], [0.6, 0.4]]),
        np.array([[0.5, 0.5], [0.5, 0.5]]),
        labels=names,
        class_names=names,
    )
    console.print(c)
    assert console.export_text().count("[bold red]x[/]") >= 1


def test_pandas_labels_with_another_index_are_refused() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [0.9, 0.2, 0.6], "b": [0.1, 0.8, 0.4]}, index=[10, 11, 12])
    y = pd.Series([0, 1, 1], index=[10, 11, 12])
    assert compute(df, labels=y).loss == pytest.approx(
        slow_loss(df.to_numpy(), [0, 1, 1]), rel=1e-15
    )
    with pytest.raises(XentError, match="indexes that differ"):
        compute(df, labels=y.reindex([12, 11, 10]))
    assert compute(df, labels=y.reindex([12, 11, 10]).to_numpy()).n == 3  # by position


def test_a_refused_first_batch_leaves_the_evaluator_unset() -> None:
    e = Evaluator()
    with pytest.raises(XentError):
        e.update(P3[:, 0], [0, 1, 2])  # one column of scores: binary, labels up to 2
    e.update(P3, [0, 1, 2])
    assert e.report().loss == pytest.approx(slow_loss(P3, [0, 1, 2]), rel=1e-15)


def test_evaluators_clipping_at_other_eps_do_not_merge() -> None:
    p = np.array([[1 - 1e-9, 1e-9], [0.5, 0.5]])
    e32, e64 = Evaluator(), Evaluator()
    e32.update(p.astype(np.float32), [1, 0])
    e64.update(p, [1, 0])
    with pytest.raises(XentError, match="clip probabilities at"):
        e64.merge(e32)
    with pytest.raises(TypeError, match="takes an Evaluator"):
        e64.merge(e64.report())  # type: ignore[arg-type]


def test_evaluator_refuses_ci_and_reports_its_weights() -> None:
    with pytest.raises(XentError, match="Evaluator takes no ci"):
        Evaluator(ci=0.95)
    e = Evaluator()
    e.update(P3, [0, 1, 2], weights=[1.0, 2.0, 3.0])
    assert e.report().options["weight_col"] == "weights"
    want = math.fsum(w * -math.log(P3[i, i]) for i, w in enumerate([1.0, 2.0, 3.0])) / 6
    assert e.report().loss == pytest.approx(want, rel=1e-15)


def test_options_a_call_does_not_take_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown option 'per_sample'"):
        compare(P3, P3, labels=[0, 1, 2], per_sample="rows.csv")
    with pytest.raises(TypeError, match="unknown option 'read'"):
        compute(P3, labels=[0, 1, 2], read=None)
    with pytest.raises(XentError, match="pass output= too"):
        compute(P3, labels=[0, 1, 2], format="json")


def test_a_reader_read_already_is_named_as_such() -> None:
    table = pa.table({"a": [0.2, 0.6], "b": [0.8, 0.4], "label": [1, 0]})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    assert compute(reader).n == 2
    with pytest.raises(XentError, match="this reader was read already"):
        compute(reader)
