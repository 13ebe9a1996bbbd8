"""Issue 21's gates that could not fail, bounds and weights at the edges of float64, and outputs
that would replace an input: each a one-line error, exit 2, nothing on stdout, nothing left."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import run, run_json

OK = "a,b,label\n0.5,0.5,0\n0.2,0.8,1\n0.9,0.1,0\n"


def refused(args: list[Any], *needles: str) -> str:
    res = run(args)
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == "" and "Traceback" not in res.stderr
    assert res.stderr.startswith("xent: error: ") and res.stderr.count("\n") == 1, res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)
    return res.stderr


@pytest.fixture
def ok(tmp_path: Path) -> Path:
    path = tmp_path / "p.csv"
    path.write_text(OK)
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--check", "loss<=1e999"], "1e999 is not a finite number"),
        (["--check", "loss<=１"], "expected NAME OP NUMBER"),  # a fullwidth digit
        (["--check", "loss<=٣"], "expected NAME OP NUMBER"),  # an Arabic-Indic digit
        (["--max-loss", "inf"], "--max-loss inf: give a finite number"),
        (["--max-loss", "-inf"], "--max-loss -inf: give a finite number"),
        (["--top-k", "2"], "--top-k 2: there are 2 classes"),
        (["--worst", "10001"], "--worst 10001: must be in 0..10,000"),
        (["--bins", "100001"], "--bins 100001: must be in 1..100,000"),
    ],
)
def test_gates_and_bounds_that_could_not_fail_are_refused(
    ok: Path, args: list[str], needle: str
) -> None:
    refused(["compute", ok, *args], needle)


def test_max_increase_takes_ascii_numbers_only(ok: Path, tmp_path: Path) -> None:
    prev = tmp_path / "prev.json"
    assert run(["compute", ok, "--format", "json", "--output", prev]).exit_code == 0
    refused(["compute", ok, "--baseline", prev, "--max-increase", "２%"], "--max-increase")
    refused(["compute", ok, "--baseline", prev, "--max-increase", "1e999"], "finite number")
    assert run(["compute", ok, "--baseline", prev, "--max-increase", "2%"]).exit_code == 0


def test_top_k_below_the_class_count_is_scored(tmp_path: Path) -> None:
    path = tmp_path / "p3.csv"
    path.write_text("a,b,c,label\n0.5,0.3,0.2,1\n0.2,0.7,0.1,2\n")
    out = run_json(["compute", path, "--top-k", "2"])
    assert out["metrics"]["top_k_accuracy"] == 0.5  # row 1: b is 2nd; row 2: c is 3rd
    refused(["compute", path, "--top-k", "3"], "--top-k 3: there are 3 classes")


@pytest.mark.parametrize(
    ("column", "extra", "needle"),
    [
        ("1e308", [], "the sample weights (--weight-col) add up to more than float64 holds"),
        ("1e-320", [], "sample weight 9.99989e-321 is below 2.22507e-308"),
    ],
)
def test_weights_at_the_edges_of_float64_are_refused(
    tmp_path: Path, column: str, extra: list[str], needle: str
) -> None:
    path = tmp_path / "w.csv"
    path.write_text(f"a,b,label,w\n0.5,0.5,0,{column}\n0.2,0.8,1,{column}\n")
    err = refused(["compute", path, "--weight-col", "w", *extra], needle)
    assert "RuntimeWarning" not in err


def test_class_weights_that_overflow_are_refused(ok: Path) -> None:
    refused(["compute", ok, "--class-weights", "1e308,1e308"], "more than float64 holds")


def test_common_factors_of_weights_do_not_change_the_mean(tmp_path: Path) -> None:
    """The refusals above say 'scale them': the mean is the same at any scale that fits."""
    rows = [(0.5, 0.5, 0, 3.0), (0.2, 0.8, 1, 1.0)]
    want = (3.0 * -math.log(0.5) + 1.0 * -math.log(0.8)) / 4.0
    for scale in (1.0, 1e300, 1e-300):
        path = tmp_path / f"w{scale}.csv"
        body = "".join(f"{a},{b},{y},{w * scale!r}\n" for a, b, y, w in rows)
        path.write_text("a,b,label,w\n" + body)
        assert run_json(["compute", path, "--weight-col", "w"])["loss"] == pytest.approx(
            want, rel=1e-14
        )


def test_scheduler_addresses_dask_cannot_use_are_one_line(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"a": [0.5, 0.2], "b": [0.5, 0.8], "label": [0, 1]}), path)
    base = ["compute", path, "--engine", "dask"]
    refused([*base, "--scheduler", ""], "--scheduler '': give a scheduler's address")
    refused([*base, "--scheduler", "foo://x:1"], "not an address Dask can connect to")
    refused([*base, "--scheduler", "localhost"], "not an address Dask can connect to")
    refused([*base, "--scheduler", "tls://127.0.0.1:1"], "not an address Dask can connect to")


def test_no_output_replaces_a_file_of_a_dataset_or_the_baseline(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    for k in range(2):
        pq.write_table(
            pa.table({"a": [0.5, 0.2], "b": [0.5, 0.8], "label": [0, 1]}), root / f"{k}.parquet"
        )
    member = root / "1.parquet"
    before = member.read_bytes()
    refused(["compute", root, "--output", member], f"--output {member}: is an input of this run")
    refused(["compute", str(root / "*.parquet"), "--per-sample", member], "is an input of this run")
    link = tmp_path / "link.parquet"
    link.symlink_to(member)
    refused(["compute", root, "--output", link], "is an input of this run")
    assert member.read_bytes() == before
    prev = tmp_path / "prev.json"
    assert run(["compute", root, "--format", "json", "--output", prev]).exit_code == 0
    text = prev.read_text()
    refused(
        ["compute", root, "--baseline", prev, "--format", "json", "--output", prev],
        "is an input of this run",
    )
    assert prev.read_text() == text and not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_api_takes_the_same_bounds() -> None:
    from xentcli import XentError, compute

    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(XentError, match="--top-k 2: there are 2 classes"):
        compute(p, labels=[0, 1], top_k=2)
    with pytest.raises(XentError, match="--max-loss inf"):
        compute(p, labels=[0, 1], max_loss=float("inf"))


# -- inputs that shrink while read, and headers that lie -------------------------------------


def _scores(n: int = 40, c: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    return rng.normal(size=(n, c)), rng.integers(0, c, n)


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_column_major_npy_reads_back_exactly(tmp_path: Path, chunk: int) -> None:
    from xentcli.config import ReadConfig
    from xentcli.io import open_dataset

    z, y = _scores()
    np.save(tmp_path / "z.npy", np.asfortranarray(z))
    np.save(tmp_path / "y.npy", y)
    ds = open_dataset(
        ReadConfig(str(tmp_path / "z.npy"), labels=str(tmp_path / "y.npy"), chunk_rows=chunk)
    )
    got = np.concatenate([c.score_matrix for c in ds.parts])
    np.testing.assert_array_equal(got, z)


def _shrink_while_reading(path: Path, args: list[str], keep: int) -> None:
    from xentcli.config import ReadConfig
    from xentcli.errors import InputError
    from xentcli.io import open_dataset

    options = dict(zip(args[::2], args[1::2], strict=True))
    ds = open_dataset(ReadConfig(str(path), chunk_rows=5, **options))
    next(ds.parts)
    with open(path, "r+b") as fh:
        fh.truncate(keep)
    with pytest.raises(InputError, match=r"truncated|cannot read"):
        for _ in ds.parts:
            pass


def test_a_column_major_npy_that_shrinks_is_an_error_not_sigbus(tmp_path: Path) -> None:
    z, y = _scores(4000)
    path = tmp_path / "z.npy"
    np.save(path, np.asfortranarray(z))
    np.save(tmp_path / "y.npy", y)
    _shrink_while_reading(path, ["labels", str(tmp_path / "y.npy")], keep=2000)


def test_an_arrow_file_that_shrinks_is_an_error_not_sigbus(tmp_path: Path) -> None:
    import pyarrow.feather as feather

    z, y = _scores(4000)
    path = tmp_path / "p.arrow"
    feather.write_feather(
        pa.table({"a": z[:, 0], "b": z[:, 1], "c": z[:, 2], "label": y}), path, chunksize=500
    )
    _shrink_while_reading(path, [], keep=4000)


def test_a_npy_header_whose_size_overflows_int64_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npy"
    header = {"descr": "<f8", "fortran_order": False, "shape": (2**32, 2**32)}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
    np.save(tmp_path / "y.npy", np.zeros(1, dtype=np.int64))
    refused(["compute", path, "--labels", tmp_path / "y.npy"], "the file ends early")


def test_a_column_major_npz_member_above_the_whole_read_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    z, y = _scores(400)
    path = tmp_path / "p.npz"
    np.savez_compressed(path, scores=np.asfortranarray(z), labels=y)
    from xentcli.io import npy

    monkeypatch.setattr(npy, "FORTRAN_MEMBER_MAX_BYTES", 4096)  # the 9,600-byte member
    refused(["compute", path], "column-major (Fortran-order)", "np.ascontiguousarray")
    np.savez_compressed(path, scores=np.ascontiguousarray(z), labels=y)
    assert run(["compute", path, "--logits"]).exit_code == 0


def _over_the_limits(tmp_path: Path) -> tuple[Path, Path]:
    """A CSV of 100,001 columns, and a Parquet file whose --group-by column has 10,001 values."""
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(100_001)) + "\n" + "0," * 100_000 + "0\n")
    n = 10_001
    sliced = tmp_path / "sliced.parquet"
    table = {"a": np.full(n, 0.5), "b": np.full(n, 0.5), "label": np.zeros(n, int)}
    pq.write_table(pa.table({**table, "g": np.arange(n)}), sliced)
    return wide, sliced


def test_limits_on_columns_and_slices(tmp_path: Path) -> None:
    wide, sliced = _over_the_limits(tmp_path)
    refused(["compute", wide], "the header row has 100,001 columns, above xent's limit of 100,000")
    refused(["compute", sliced, "--group-by", "g"], "--group-by g: more than 10,000 slices")


def test_target_columns_are_guessed_on_wide_headers(tmp_path: Path) -> None:
    """Guessing once tried every pair of names (a 5,000-column header took 25 s)."""
    from xentcli.io import guess_target_cols

    names = [f"c{i}" for i in range(3000)]
    assert guess_target_cols(names) is None
    assert guess_target_cols(names + [f"y_{n}" for n in names]) == "y_*"
    wide = tmp_path / "w.csv"
    wide.write_text(",".join(names) + "\n" + ",".join(["0.1"] * 3000) + "\n")
    refused(["compute", wide], "no label column 'label'")


def test_a_baseline_that_never_ends_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(OK)
    refused(["compute", path, "--baseline", "/dev/zero"], "larger than 256 MB")


# -- signals at random moments of real runs --------------------------------------------------


def test_signals_at_random_moments_leave_consistent_outputs(tmp_path: Path) -> None:
    """SIGINT, SIGTERM or SIGHUP at random moments of a real run, start-up and the final commit
    included: the run ends with one line and 130 / 128 + N (or finishes, exit 0), no temporary
    file survives, and the report and the --per-sample file are both the old ones or both new
    (they take their places together). A signal in the first few ms, while Python itself
    starts, ends the process as it ends any program: nothing of xent's is written then."""
    import random
    import signal
    import subprocess
    import sys
    import time

    import pyarrow.csv as pcsv

    rng = np.random.default_rng(8)
    n = 150_000
    cols: dict[str, Any] = {f"c{j}": rng.normal(size=n) for j in range(10)}
    cols["label"] = rng.integers(0, 10, n)
    src = tmp_path / "p.csv"
    pcsv.write_csv(pa.table(cols), src)
    out, rows = tmp_path / "out.json", tmp_path / "rows.csv"
    argv = [
        sys.executable,
        "-m",
        "xentcli",
        "compute",
        str(src),
        "--logits",
        "--format",
        "json",
        "--output",
        str(out),
        "--per-sample",
        str(rows),
        "-q",
    ]
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    full = time.perf_counter() - start
    pick = random.Random(21)
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    for i in range(16):
        for f in (out, rows):
            f.write_text("OLD\n")
        sig = signals[i % 3]
        late = i % 2 == 0  # every other one aimed at the end: the commit
        delay = pick.uniform(0.85 * full, 1.05 * full) if late else pick.uniform(0.03, full)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        code = proc.returncode
        old = tuple(f.read_text() == "OLD\n" for f in (out, rows))
        where = f"{sig.name} after {delay:.3f} s: exit {code}, old {old}, {err[-200:]!r}"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "p.csv", "rows.csv"]
        assert old in ((True, True), (False, False)), where
        if code == 0:
            assert old == (False, False) and err == b"", where
        elif code == -sig:  # before xent's code ran
            assert old == (True, True) and b"xent" not in err, where
        else:
            assert code == (130 if sig == signal.SIGINT else 128 + sig), where
            assert err.startswith(b"xent: error: ") and err.count(b"\n") == 1, where


def test_resource_bombs_under_a_memory_limit(tmp_path: Path) -> None:
    """Each bomb of the hardening issue, run as a real process under a 1 GiB address-space
    limit: a one-line error and exit 2 (never a MemoryError traceback, never the kernel's kill)."""
    import resource
    import subprocess
    import sys

    ok = tmp_path / "p.csv"
    ok.write_text(OK)
    bomb = tmp_path / "bomb.npy"
    with open(bomb, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (2**32, 2**32)}
        )
    np.save(tmp_path / "y.npy", np.zeros(1, dtype=np.int64))
    wide, sliced = _over_the_limits(tmp_path)
    bombs = [
        ["compute", ok, "--bins", "100000000"],
        ["compute", ok, "--worst", "1000000000"],
        ["compute", bomb, "--labels", tmp_path / "y.npy"],
        ["compute", wide],
        ["compute", sliced, "--group-by", "g"],
        ["compute", ok, "--baseline", "/dev/zero"],
        ["compute", "/dev/zero", "--input-format", "npz"],
    ]
    limit = 1 << 30

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    for args in bombs:
        res = subprocess.run(
            [sys.executable, "-m", "xentcli", *map(str, args)],
            preexec_fn=cap,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 2, (args, res.returncode, res.stderr[-300:])
        assert res.stderr.startswith("xent: error: ") and res.stderr.count("\n") == 1, res.stderr
        assert res.stdout == ""


def test_an_arrow_file_whose_batch_decompresses_too_large_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sizes come from the file's metadata (ipcsize.py), checked against what the batch
    really takes once read; a batch above the limit is refused before it is decompressed."""
    import pyarrow.ipc as ipc

    from xentcli.io import ipcsize, tables

    n = 200_000
    table = pa.table({"a": np.zeros(n), "b": np.zeros(n), "label": np.zeros(n, dtype=np.int64)})
    for compression, chunk in (("zstd", n), ("lz4", 70_000), (None, 50_000)):
        path = tmp_path / f"{compression}.arrow"
        options = ipc.IpcWriteOptions(compression=compression)
        with pa.OSFile(str(path), "wb") as f, ipc.new_file(f, table.schema, options=options) as w:
            w.write_table(table, max_chunksize=chunk)
        with open(path, "rb") as fh:
            sizes = ipcsize.batch_sizes(fh)
        with ipc.open_file(str(path)) as reader:
            real = [reader.get_batch(i).nbytes for i in range(reader.num_record_batches)]
        assert sizes == real, compression
    bomb = tmp_path / "zstd.arrow"
    assert bomb.stat().st_size < 20_000  # 4.8 MB of zeros
    monkeypatch.setattr(tables, "MAX_BATCH_BYTES", 1 << 20)
    refused(["compute", bomb], "batch 1 takes 4,800,000 bytes once decompressed")
    stream = tmp_path / "bomb.arrows"  # the stream format on disk: read message by message
    with (
        pa.OSFile(str(stream), "wb") as f,
        ipc.new_stream(f, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w,
    ):
        w.write_table(table, max_chunksize=n)
    with open(stream, "rb") as fh:
        assert ipcsize.stream_batch_sizes(fh) == [4_800_000]
    refused(["compute", stream], "batch 1 takes 4,800,000 bytes once decompressed")
    monkeypatch.setattr(tables, "MAX_BATCH_BYTES", 1 << 30)
    assert run(["compute", bomb, "--logits"]).exit_code == 0


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (SystemExit(130), 130, "xent: error: interrupted\n"),  # typer's silent Ctrl-C exit
        (RuntimeError("Error calling __set_name__"), 130, "xent: error: interrupted\n"),
    ],
)
def test_a_signal_wherever_it_lands_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raised: BaseException,
    code: int,
    said: str,
) -> None:
    """Ctrl-C while typer parses the options ended as exit 130 with nothing said; one during
    a lazy import that creates a class came wrapped in a RuntimeError (Python 3.11), a
    traceback and exit 1. Both found by the random-signal test above."""
    from xentcli.cli import commands, process

    if isinstance(raised, RuntimeError):
        raised.__cause__ = KeyboardInterrupt()

    def app() -> None:
        raise raised

    def exit_(c: int) -> None:
        raise SystemExit(c)

    monkeypatch.setattr(commands, "app", app)
    monkeypatch.setattr(process.os, "_exit", exit_)
    monkeypatch.setattr(process, "install_signal_handlers", lambda: None)
    with pytest.raises(SystemExit) as stop:
        process.main()
    assert stop.value.code == code
    assert capsys.readouterr().err == said


def test_signed_numbers_in_csv_cells_stay_numbers(tmp_path: Path) -> None:
    """The formula guard prefixes text a spreadsheet would run, not an id -10 read from a CSV
    or a class named +1 (found in review: they came out as '-10 and '+1)."""
    import csv as csvmod
    import io

    path = tmp_path / "p.csv"
    path.write_text("-1,+1,label,id\n0.6,0.4,-1,-10\n0.3,0.7,+1,-cmd\n")
    rows = tmp_path / "rows.csv"
    res = run(["compute", path, "--id-col", "id", "--per-sample", rows, "--format", "csv"])
    assert res.exit_code == 0, res.stderr
    classes = [r[1] for r in csvmod.reader(io.StringIO(res.stdout)) if r[0] == "class"]
    assert classes == ["-1", "+1"]
    ids = [r["id"] for r in csvmod.DictReader(rows.open())]
    assert ids == ["-10", "'-cmd"]


def test_a_labels_pipe_is_named_as_the_labels(tmp_path: Path) -> None:
    import os

    path = tmp_path / "p.csv"
    path.write_text(OK.replace(",label", ",x"))
    fifo = tmp_path / "y.fifo"
    os.mkfifo(fifo)
    refused(["compute", path, "--labels", fifo], "reads a --labels file by seeking")
