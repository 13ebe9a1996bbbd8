"""--fit-temperature: T* against a one-dimensional reference minimiser (scipy's bounded
Brent on an objective written here from the formulas) and against scikit-learn's
CalibratedClassifierCV(method="temperature"); the same fit from every way of reading."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import run, run_json, wide_table
from xentcli import compute

optimize = pytest.importorskip("scipy.optimize")

RNG = np.random.default_rng(7)
F64_EPS = float(np.finfo(np.float64).eps)


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def multiclass_objective(
    z: np.ndarray,
    y: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    *,
    sample_weight: np.ndarray | None = None,
    class_weight: np.ndarray | None = None,
    smoothing: float = 0.0,
    ignore: int | None = None,
) -> Any:
    """The mean loss of softmax(z / T) as torch's cross_entropy defines it, as a function of T."""
    n, c = z.shape
    sw = np.ones(n) if sample_weight is None else sample_weight
    w = np.ones(c) if class_weight is None else class_weight
    if targets is not None:
        a = ((1 - smoothing) * targets + smoothing / c) * w
        denom = sw.sum()
    else:
        assert y is not None
        keep = np.ones(n, bool) if ignore is None else y != ignore
        z, y, sw = z[keep], y[keep], sw[keep]
        a = np.zeros((len(y), c))
        a[np.arange(len(y)), y] = (1 - smoothing) * w[y]
        a += (smoothing / c) * w
        denom = (sw * w[y]).sum()

    def f(t: float) -> float:
        return float((sw * -(a * log_softmax(z / t)).sum(axis=1)).sum() / denom)

    return f


def binary_objective(
    z: np.ndarray,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    pos_weight: float = 1.0,
    smoothing: float = 0.0,
) -> Any:
    sw = np.ones(len(y)) if sample_weight is None else sample_weight
    ys = y * (1 - smoothing) + smoothing / 2

    def f(t: float) -> float:
        row = pos_weight * ys * softplus(-z / t) + (1 - ys) * softplus(z / t)
        return float((sw * row).sum() / sw.sum())

    return f


def reference_t(f: Any) -> float:
    res = optimize.minimize_scalar(
        f, bounds=(0.01, 100.0), method="bounded", options={"xatol": 1e-12, "maxiter": 2000}
    )
    return float(res.x)


def fitted(args: list[Any], stdin: Any = None) -> dict[str, Any]:
    out = run_json(["compute", *args, "--fit-temperature"], stdin)
    return dict(out["temperature_scaling"]) | {"report_loss_mean": out["loss_mean"]}


def check_against(ts: dict[str, Any], f: Any, *, t_ref: float | None = None) -> None:
    t_ref = reference_t(f) if t_ref is None else t_ref
    assert ts["temperature"] == pytest.approx(t_ref, rel=1e-6)
    assert ts["loss_mean"] == pytest.approx(f(ts["temperature"]), rel=1e-9)
    assert ts["loss_mean"] <= f(t_ref) + 1e-12
    assert ts["calibration_loss"] >= 0
    assert ts["boundary"] is False


def logits_data(n: int = 300, c: int = 4, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    z = RNG.normal(size=(n, c)) * scale
    y = RNG.integers(0, c, n)
    z[np.arange(n), y] += 2.0
    return z, y


# -- against the reference minimiser -------------------------------------------------------


def test_multiclass_logits(tmp_path: Path) -> None:
    z, y = logits_data()
    path = tmp_path / "p.parquet"
    pq.write_table(wide_table(z, y), path)
    ts = fitted([path, "--logits"])
    f = multiclass_objective(z, y)
    check_against(ts, f)
    assert ts["calibration_loss"] == pytest.approx(f(1.0) - ts["loss_mean"], abs=1e-12)
    assert ts["renormalization"] == 0.0


def test_multiclass_probabilities(tmp_path: Path) -> None:
    z, y = logits_data(scale=4.0)
    p = np.exp(log_softmax(z))
    p[0] = [1.0, 0.0, 0.0, 0.0]  # clipped to eps: log eps enters the scaled rows
    path = tmp_path / "p.parquet"
    pq.write_table(wide_table(p, y), path)
    ts = fitted([path])
    lp = np.log(np.clip(p, F64_EPS, 1 - F64_EPS))
    check_against(ts, multiclass_objective(lp, y))
    out = run_json(["compute", path, "--fit-temperature"])
    # the report's loss = renormalization + calibration loss + the loss at T*
    parts = ts["renormalization"] + ts["calibration_loss"] + ts["loss_mean"]
    assert parts == pytest.approx(out["loss_mean"], rel=1e-12)


@pytest.mark.parametrize(
    "options",
    [
        {"smoothing": 0.1},
        {"class_weight": [1.0, 2.0, 0.5, 3.0]},
        {"class_weight": [1.0, 2.0, 0.5, 3.0], "smoothing": 0.2},
        {"ignore": 2},
        {"sample_weight": True},
        {"sample_weight": True, "class_weight": [0.5, 1.0, 2.0, 1.0], "smoothing": 0.05},
    ],
)
def test_multiclass_options(tmp_path: Path, options: dict[str, Any]) -> None:
    z, y = logits_data()
    sw = RNG.uniform(0.0, 3.0, len(y)) if options.get("sample_weight") else None
    sw = None if sw is None else np.where(np.arange(len(y)) % 17 == 0, 0.0, sw)
    extra = {} if sw is None else {"w": sw}
    path = tmp_path / "p.parquet"
    pq.write_table(wide_table(z, y, **extra), path)
    args: list[Any] = [path, "--logits"]
    if sw is not None:
        args += ["--weight-col", "w"]
    cw = options.get("class_weight")
    if cw is not None:
        args += ["--class-weights", ",".join(map(str, cw))]
    if options.get("smoothing"):
        args += ["--label-smoothing", options["smoothing"]]
    if options.get("ignore") is not None:
        args += ["--ignore-index", options["ignore"]]
    f = multiclass_objective(
        z,
        y,
        sample_weight=sw,
        class_weight=None if cw is None else np.array(cw),
        smoothing=options.get("smoothing", 0.0),
        ignore=options.get("ignore"),
    )
    check_against(fitted(args), f)


def test_soft_targets(tmp_path: Path) -> None:
    z, _ = logits_data(c=3)
    t = RNG.dirichlet([0.5, 0.5, 0.5], len(z))
    table = wide_table(z, None, **{f"t{j}": t[:, j] for j in range(3)})
    path = tmp_path / "p.parquet"
    pq.write_table(table, path)
    ts = fitted([path, "--logits", "--target-cols", "t0,t1,t2", "--label-smoothing", "0.1"])
    check_against(ts, multiclass_objective(z, targets=t, smoothing=0.1))


@pytest.mark.parametrize("logits", [True, False])
@pytest.mark.parametrize("options", [{}, {"pos_weight": 2.5, "smoothing": 0.1}, {"sw": True}])
def test_binary(tmp_path: Path, logits: bool, options: dict[str, Any]) -> None:
    n = 400
    z = RNG.normal(size=n) * 4
    y = (RNG.uniform(size=n) < 1 / (1 + np.exp(-z / 2.5))).astype(np.int64)
    s = z if logits else 1 / (1 + np.exp(-z))
    sw = RNG.uniform(0.1, 2.0, n) if options.get("sw") else None
    cols: dict[str, Any] = {"s": s, "label": y}
    args: list[Any] = [tmp_path / "b.parquet"]
    if sw is not None:
        cols["w"] = sw
        args += ["--weight-col", "w"]
    pq.write_table(pa.table(cols), args[0])
    if logits:
        args.append("--logits")
    if "pos_weight" in options:
        args += ["--pos-weight", options["pos_weight"], "--label-smoothing", options["smoothing"]]
    if logits:
        zz = z
    else:
        p = np.clip(s, F64_EPS, 1 - F64_EPS)
        zz = np.log(p) - np.log1p(-p)
    f = binary_objective(
        zz,
        y.astype(float),
        sample_weight=sw,
        pos_weight=options.get("pos_weight", 1.0),
        smoothing=options.get("smoothing", 0.0),
    )
    check_against(fitted(args), f)


# -- against scikit-learn ------------------------------------------------------------------


class _Logits:
    """A fitted 'classifier' whose decision function is the logits it is given."""

    _estimator_type = "classifier"

    def __init__(self, classes: np.ndarray) -> None:
        self.classes_ = classes

    def fit(self, x: Any, y: Any) -> _Logits:
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(x, axis=1)]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"classes": self.classes_}

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )


def sklearn_t(z: np.ndarray, y: np.ndarray) -> float:
    calibration = pytest.importorskip("sklearn.calibration")
    from sklearn.frozen import FrozenEstimator

    est = _Logits(np.arange(z.shape[1]) if z.ndim == 2 else np.arange(2))
    cal = calibration.CalibratedClassifierCV(FrozenEstimator(est), method="temperature")
    cal.fit(z, y)
    beta = float(cal.calibrated_classifiers_[0].calibrators[0].beta_)
    return 1.0 / beta


def test_sklearn_multiclass(tmp_path: Path) -> None:
    z, y = logits_data(n=500, c=5)
    path = tmp_path / "p.parquet"
    pq.write_table(wide_table(z, y), path)
    ts = fitted([path, "--logits"])
    assert ts["temperature"] == pytest.approx(sklearn_t(z, y), rel=1e-6)


def test_sklearn_binary(tmp_path: Path) -> None:
    n = 500
    x = RNG.normal(size=n) * 3
    y = (RNG.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(np.int64)
    path = tmp_path / "b.parquet"
    # scikit-learn makes a decision function d the two logits (-d, d): sigmoid(2 d / T)
    pq.write_table(pa.table({"s": 2 * x, "label": y}), path)
    ts = fitted([path, "--logits"])
    assert ts["temperature"] == pytest.approx(sklearn_t(x, y), rel=1e-6)


# -- properties, bounds, refusals -----------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    c=st.integers(2, 5),
    scale=st.floats(0.01, 300.0),
    seed=st.integers(0, 2**32 - 1),
    probs=st.booleans(),
)
def test_calibration_loss_never_negative(
    n: int, c: int, scale: float, seed: int, probs: bool
) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) * scale
    y = rng.integers(0, c, n)
    if probs:
        p = np.exp(log_softmax(z))
        # rows that sum to 1 only within --sum-tol: softmax(log p) renormalises them
        p = np.clip(p * (1 + rng.uniform(-4e-4, 4e-4, (n, 1))), 0.0, 1.0)
        report = compute(p, y, fit_temperature=True)
    else:
        report = compute(z, y, logits=True, fit_temperature=True)
    ts = report.to_dict()["temperature_scaling"]
    assert ts["calibration_loss"] >= 0
    assert 0.01 <= ts["temperature"] <= 100
    assert ts["loss_mean"] <= report.loss_mean - ts["renormalization"] + 1e-12


def test_boundary(tmp_path: Path) -> None:
    n = 200
    y = RNG.integers(0, 3, n)
    noise = RNG.normal(size=(n, 3)) * 1000  # confident and random: T* wants to be huge
    ts = compute(noise, y, logits=True, fit_temperature=True).to_dict()["temperature_scaling"]
    assert ts["temperature"] == pytest.approx(100.0)
    assert ts["boundary"] is True
    sure = np.eye(3)[y] * 1e-3  # always right, barely: T* wants to be tiny
    ts = compute(sure, y, logits=True, fit_temperature=True).to_dict()["temperature_scaling"]
    assert ts["temperature"] == pytest.approx(0.01)
    assert ts["boundary"] is True


def test_infinite_loss_has_no_temperature() -> None:
    p = np.array([[0.7, 0.3, 0.0], [0.2, 0.5, 0.3]])
    report = compute(p, np.array([2, 1]), clip_eps=0, fit_temperature=True)
    ts = report.to_dict()["temperature_scaling"]
    assert report.loss_mean is None
    assert ts["temperature"] is None and ts["ece"] is None and ts["boundary"] is False


def test_multilabel_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    s = RNG.uniform(size=(20, 3))
    t = (RNG.uniform(size=(20, 3)) < 0.5).astype(float)
    pq.write_table(wide_table(s, None, **{f"y{j}": t[:, j] for j in range(3)}), path)
    res = run(["compute", path, "--pred-cols", "c*", "--target-cols", "y*", "--fit-temperature"])
    assert res.exit_code == 2
    assert "--fit-temperature is for multiclass and binary" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_evaluator_refuses() -> None:
    from xentcli import Evaluator

    with pytest.raises(ValueError, match="Evaluator takes no fit_temperature"):
        Evaluator(task="multiclass", logits=True, fit_temperature=True)


def test_one_shot_reader_refused() -> None:
    z, y = logits_data(n=30)
    table = wide_table(z, y)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    with pytest.raises(ValueError, match="read once"):
        compute(reader, logits=True, fit_temperature=True)
    ts = compute(table, logits=True, fit_temperature=True).to_dict()["temperature_scaling"]
    assert ts["temperature"] == pytest.approx(reference_t(multiclass_objective(z, y)), rel=1e-6)


# -- every way of reading gives the same fit -----------------------------------------------


def test_chunks_datasets_stdin_slices(tmp_path: Path) -> None:
    z, y = logits_data(n=240, c=3)
    day = np.array(["mon", "tue", "wed"])[RNG.integers(0, 3, len(y))]
    z[day == "tue"] *= 3.0  # each slice its own temperature
    table = wide_table(z, y, day=day)
    single = tmp_path / "all.parquet"
    pq.write_table(table, single)
    whole = fitted([single, "--logits", "--pred-cols", "c*"])
    chunked = fitted([single, "--logits", "--pred-cols", "c*", "--chunk-rows", "7"])
    assert chunked["temperature"] == pytest.approx(whole["temperature"], rel=1e-9)
    assert chunked["loss_mean"] == pytest.approx(whole["loss_mean"], rel=1e-12)
    assert chunked["ece"] == pytest.approx(whole["ece"], abs=1e-12)

    root = tmp_path / "ds"
    root.mkdir()
    for k, lo in enumerate(range(0, len(y), 50)):
        pq.write_table(table.slice(lo, 50), root / f"part{k}.parquet")
    ds = fitted([root, "--logits", "--pred-cols", "c*"])
    assert ds["temperature"] == pytest.approx(whole["temperature"], rel=1e-9)

    csv = tmp_path / "all.csv"
    import pyarrow.csv as pcsv

    pcsv.write_csv(table, csv)
    from_file = fitted([csv, "--logits", "--pred-cols", "c*"])
    from_stdin = fitted(["-", "--logits", "--pred-cols", "c*"], csv.read_bytes())
    assert from_stdin == from_file
    assert from_file["temperature"] == pytest.approx(whole["temperature"], rel=1e-9)

    out = run_json(
        [
            "compute",
            single,
            "--logits",
            "--pred-cols",
            "c*",
            "--group-by",
            "day",
            "--fit-temperature",
        ]
    )
    temps = {}
    for g in out["groups"]:
        name = g["group"]["day"]
        own = tmp_path / f"{name}.parquet"
        pq.write_table(table.filter(pa.compute.equal(table["day"], name)), own)
        alone = fitted([own, "--logits", "--pred-cols", "c*"])
        got = g["temperature_scaling"]
        assert got["temperature"] == pytest.approx(alone["temperature"], rel=1e-9)
        assert got["loss_mean"] == pytest.approx(alone["loss_mean"], rel=1e-12)
        assert got["ece"] == pytest.approx(alone["ece"], abs=1e-12)
        temps[name] = got["temperature"]
    assert temps["tue"] > 1.5 * temps["mon"]
    assert out["temperature_scaling"]["temperature"] == pytest.approx(whole["temperature"])


def test_compare_fits_each_model(tmp_path: Path) -> None:
    z, y = logits_data(n=150, c=3)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(wide_table(z, y), a)
    pq.write_table(wide_table(z * 0.4, y), b)
    res = run(["compare", a, b, "--logits", "--fit-temperature", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    import json

    out = json.loads(res.stdout)
    for side, path in (("a", a), ("b", b)):
        alone = fitted([path, "--logits"])
        got = out[side]["temperature_scaling"]
        assert got["temperature"] == pytest.approx(alone["temperature"], rel=1e-12)
        assert got["loss_mean"] == pytest.approx(alone["loss_mean"], rel=1e-12)
    # the same model at another scale: the same refinement loss, T* scaled alike
    ta, tb = out["a"]["temperature_scaling"], out["b"]["temperature_scaling"]
    assert ta["loss_mean"] == pytest.approx(tb["loss_mean"], rel=1e-9)
    assert tb["temperature"] == pytest.approx(0.4 * ta["temperature"], rel=1e-8)


def test_dask_equals_local(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    z, y = logits_data(n=200, c=3)
    day = np.array(["mon", "tue"])[RNG.integers(0, 2, len(y))]
    path = tmp_path / "p.parquet"
    pq.write_table(wide_table(z, y, day=day), path, row_group_size=37)
    args = ["compute", path, "--logits", "--pred-cols", "c*", "--group-by", "day"]
    args.append("--fit-temperature")
    local = run_json(args)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        remote = run_json([*args, "--engine", "dask", "--scheduler", cluster.scheduler_address])
    finally:
        cluster.close()
    pairs = [(local, remote), *list(zip(local["groups"], remote["groups"], strict=True))]
    for mine, theirs in pairs:
        for key, value in mine["temperature_scaling"].items():
            other = theirs["temperature_scaling"][key]
            if isinstance(value, float):
                assert other == pytest.approx(value, rel=1e-12, abs=1e-15), key
            else:
                assert other == value
    assert math.isfinite(local["temperature_scaling"]["temperature"])
