"""--engine dask against a real distributed.LocalCluster (2 workers): the same numbers as the
local run, slices included, and a clean exit-2 error when a worker's file is corrupt."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import reference as ref
from tests.helpers import run, run_json

distributed = pytest.importorskip("distributed")

RNG = np.random.default_rng(23)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    root = tmp_path / "ds"
    zs, ys, regions = [], [], []
    for region in ("east", "west"):
        (root / f"region={region}").mkdir(parents=True)
        for k in range(3):
            n = int(RNG.integers(30, 60))
            z = RNG.normal(size=(n, 3)) * 2
            y = RNG.integers(0, 3, n)
            pq.write_table(
                pa.table(
                    {
                        "p0": z[:, 0],
                        "p1": z[:, 1],
                        "p2": z[:, 2],
                        "label": y,
                        "rid": [f"{region}{k}-{i}" for i in range(n)],
                    }
                ),
                root / f"region={region}" / f"f{k}.parquet",
                row_group_size=17,
            )
            zs.append(z)
            ys.append(y)
            regions += [region] * n
    return root, np.concatenate(zs), np.concatenate(ys), np.array(regions)


def compute(*args: object) -> dict:
    return run_json(["compute", *args, "--logits", "--pred-cols", "p*"])


def test_dask_equals_local_on_a_dataset(scheduler: str, dataset) -> None:
    root, z, y, regions = dataset
    local = compute(root, "--group-by", "region", "--worst", "5", "--id-col", "rid")
    remote = compute(
        root,
        "--group-by",
        "region",
        "--worst",
        "5",
        "--id-col",
        "rid",
        "--engine",
        "dask",
        "--scheduler",
        scheduler,
    )
    rows = [ref.ce_row_label(list(z[i]), int(y[i]), logits=True) for i in range(len(y))]
    assert remote["n"] == local["n"] == len(y)
    assert remote["loss"] == pytest.approx(math.fsum(rows) / len(rows), rel=1e-12)
    assert remote["loss_sum"] == pytest.approx(local["loss_sum"], rel=1e-12)
    for a, b in zip(remote["per_class"], local["per_class"], strict=True):
        assert a["loss_sum"] == pytest.approx(b["loss_sum"], rel=1e-12)
        assert a["support"] == b["support"]
    for key in ("accuracy", "brier", "ece", "entropy", "prior_entropy"):
        assert remote["metrics"][key] == pytest.approx(local["metrics"][key], rel=1e-12)
    for a, b in zip(remote["groups"], local["groups"], strict=True):
        assert a["group"] == b["group"] and a["n"] == b["n"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-12)
        mask = regions == a["group"]["region"]
        assert a["loss"] == pytest.approx(math.fsum(np.array(rows)[mask]) / mask.sum(), rel=1e-12)
    assert remote["worst"] == local["worst"]  # global row numbers, ids and values agree


def test_dask_on_row_groups_of_one_file(scheduler: str, tmp_path: Path) -> None:
    z = RNG.normal(size=(200, 4))
    y = RNG.integers(0, 4, 200)
    path = tmp_path / "one.parquet"
    pq.write_table(
        pa.table({f"p{j}": z[:, j] for j in range(4)} | {"label": y}), path, row_group_size=23
    )
    local = compute(path)
    remote = compute(path, "--engine", "dask", "--scheduler", scheduler)
    assert remote["loss"] == pytest.approx(local["loss"], rel=1e-12)
    assert remote["n"] == 200


def _corrupt(victim: Path) -> None:
    data = bytearray(victim.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(4, len(data) - footer, 7):  # scramble the pages, keep the footer
        data[i] ^= 0x5A
    victim.write_bytes(bytes(data))


def test_a_corrupt_file_on_a_worker_is_a_clean_error(scheduler: str, dataset) -> None:
    root, *_ = dataset
    _corrupt(root / "region=west" / "f1.parquet")
    # --chunk-rows 10: the client plans on the first 10 rows (region=east), so only a worker
    # reads the corrupt file
    res = run(
        [
            "compute",
            root,
            "--logits",
            "--pred-cols",
            "p*",
            "--engine",
            "dask",
            "--scheduler",
            scheduler,
            "--chunk-rows",
            "10",
        ]
    )
    assert res.exit_code == 2 and res.stdout == ""
    assert "f1.parquet" in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.startswith("xent: error: ")


def test_a_workers_error_is_one_line_on_stderr(dataset) -> None:
    """A process of its own, with the local cluster xent starts: the workers' logs (a failed
    task's traceback) must not reach the user's terminal."""
    import subprocess
    import sys

    root, *_ = dataset
    _corrupt(root / "region=west" / "f1.parquet")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xentcli",
            "compute",
            str(root),
            "--logits",
            "--pred-cols",
            "p*",
            "--engine",
            "dask",
            "--threads",
            "2",
            "--chunk-rows",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xent: error: "), proc.stderr
    assert "f1.parquet" in lines[0]


def test_dask_decides_the_task_on_the_local_engines_first_chunk(
    scheduler: str, tmp_path: Path
) -> None:
    """--task auto with target columns looks at the first chunk: rows that are all one-hot
    until row 2000, then one with two labels on, is multi-label for both engines."""
    n = 3000
    t = np.eye(3)[RNG.integers(0, 3, n)]
    t[2000] = [1.0, 1.0, 0.0]
    z = RNG.normal(size=(n, 3))
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({f"p{j}": z[:, j] for j in range(3)} | {f"t{j}": t[:, j] for j in range(3)}),
        path,
        row_group_size=700,
    )
    args = [path, "--logits", "--pred-cols", "p*", "--target-cols", "t*"]
    local = run_json(["compute", *args])
    remote = run_json(["compute", *args, "--engine", "dask", "--scheduler", scheduler])
    assert local["task"] == remote["task"] == "multilabel"
    rows = [
        sum(ref.bce(float(z[i, j]), float(t[i, j]), logits=True) for j in range(3))
        for i in range(n)
    ]
    assert remote["loss"] == pytest.approx(math.fsum(rows) / n, rel=1e-12)
    assert remote["loss"] == pytest.approx(local["loss"], rel=1e-12)


def test_dask_refusals(dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, *_ = dataset
    res = run(["compute", root, "--logits", "--pred-cols", "p*", "--scheduler", "tcp://x:1"])
    assert res.exit_code == 2 and "--engine dask" in res.stderr
    res = run(
        [
            "compute",
            root,
            "--logits",
            "--pred-cols",
            "p*",
            "--engine",
            "dask",
            "--per-sample",
            tmp_path / "rows.csv",
        ]
    )
    assert res.exit_code == 2 and "--engine local" in res.stderr
    csv = tmp_path / "x.csv"
    csv.write_text("a,b,label\n0.5,0.5,0\n")
    res = run(["compute", csv, "--engine", "dask"])
    assert res.exit_code == 2 and "Parquet" in res.stderr
    import sys

    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    res = run(["compute", root, "--logits", "--pred-cols", "p*", "--engine", "dask"])
    assert res.exit_code == 2 and "pip install 'xent[dask]'" in res.stderr


def test_dask_reads_labels_and_names_rows_as_the_local_engine(
    scheduler: str, tmp_path: Path
) -> None:
    """Every task reads text labels as the first chunk decided (names here, so a later file of
    indices is refused as locally), and an error names the input and its row as locally."""
    root = tmp_path / "ds"
    root.mkdir()
    z = RNG.normal(size=(100, 3))
    files = [["a", "b", "c", "a", "b"] * 10, ["0", "1", "2", "0", "1"] * 10]
    for k, labels in enumerate(files):
        pq.write_table(
            pa.table(
                {
                    "a": z[50 * k : 50 * k + 50, 0],
                    "b": z[50 * k : 50 * k + 50, 1],
                    "c": z[50 * k : 50 * k + 50, 2],
                    "label": labels,
                }
            ),
            root / f"f{k}.parquet",
        )
    args = [root, "--logits", "--chunk-rows", "10"]
    local = run(["compute", *args])
    remote = run(["compute", *args, "--engine", "dask", "--scheduler", scheduler])
    assert local.exit_code == remote.exit_code == 2
    assert "'0'" in local.stderr and "'0'" in remote.stderr

    bad = z.copy()
    bad[57, 2] = np.nan  # row 8 of the second file, row 58 of the dataset
    for k in range(2):
        pq.write_table(
            pa.table(
                {
                    "a": bad[50 * k : 50 * k + 50, 0],
                    "b": bad[50 * k : 50 * k + 50, 1],
                    "c": bad[50 * k : 50 * k + 50, 2],
                    "label": files[0],
                }
            ),
            root / f"f{k}.parquet",
        )
    local = run(["compute", *args])
    remote = run(["compute", *args, "--engine", "dask", "--scheduler", scheduler])
    assert local.exit_code == remote.exit_code == 2
    assert remote.stderr == local.stderr
    assert f"{root}: row 58, column 'c'" in remote.stderr


def test_partition_values_are_the_text_of_the_paths(scheduler: str, tmp_path: Path) -> None:
    """shard=01, shard=1 and shard=eu are three groups named as written, locally and in every
    Dask task (each task opens one file: a type guessed per file made 01 and 1 the same)."""
    root = tmp_path / "ds"
    z = RNG.normal(size=(30, 3))
    y = RNG.integers(0, 3, 30)
    shards = ["01", "1", "eu"]
    for k, shard in enumerate(shards):
        (root / f"shard={shard}").mkdir(parents=True)
        sl = slice(10 * k, 10 * k + 10)
        pq.write_table(
            pa.table({"p0": z[sl, 0], "p1": z[sl, 1], "p2": z[sl, 2], "label": y[sl]}),
            root / f"shard={shard}" / "f.parquet",
        )
    local = compute(root, "--group-by", "shard")
    remote = compute(root, "--group-by", "shard", "--engine", "dask", "--scheduler", scheduler)
    for out in (local, remote):
        assert sorted(g["group"]["shard"] for g in out["groups"]) == shards
        for g in out["groups"]:
            k = shards.index(g["group"]["shard"])
            rows = [
                ref.ce_row_label(list(z[i]), int(y[i]), logits=True)
                for i in range(10 * k, 10 * k + 10)
            ]
            assert g["n"] == 10
            assert g["loss"] == pytest.approx(math.fsum(rows) / 10, rel=1e-12)


@pytest.mark.parametrize("value", ["0", "-1"])
@pytest.mark.parametrize("how", ["local", "dask", "compare"])
def test_one_start_up_checks_chunk_rows_on_every_engine(
    dataset, scheduler: str, how: str, value: str
) -> None:
    """--chunk-rows is checked once, in the start-up all three share: exit 2 and one line
    (Dask once ended in a traceback with exit 1 on -1, and ignored 0)."""
    root, *_ = dataset
    one = next(root.glob("*/*.parquet"))
    common = ["--logits", "--pred-cols", "p*", "--chunk-rows", value]
    if how == "compare":
        args = ["compare", one, one, *common]
    else:
        args = ["compute", root, *common, "--engine", how]
        args += ["--scheduler", scheduler] if how == "dask" else []
    res = run(args)
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    assert res.stdout == ""
    assert res.stderr == f"xent: error: --chunk-rows {value}: must be >= 1\n"


def test_dask_report_carries_the_same_options(dataset, scheduler: str) -> None:
    root, *_ = dataset
    args = ["compute", root, "--logits", "--pred-cols", "p*", "--label-smoothing", "0.2"]
    local = run_json(args)
    dask = run_json([*args, "--engine", "dask", "--scheduler", scheduler])
    assert dask["options"] == local["options"]
    assert local["options"]["label_smoothing"] == 0.2 and local["options"]["clip_eps"] is None
