"""--baseline files xent wrote or a person edited, and how --output/--per-sample land on disk:
through symlinks, in place on pipes and /proc links, with the umask's (or the old file's) mode."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tests.helpers import run, run_json

OK = "a,b,label\n0.5,0.5,0\n0.2,0.8,1\n"
# Row 1 puts probability 0 on its true class: with --clip-eps 0 the loss is infinite (null).
ZERO = "a,b,label\n1,0,1\n0.5,0.5,0\n"
# The same predicted classes with no zero on a true class: finite under --clip-eps 0 too.
FINITE = "a,b,label\n0.9,0.1,1\n0.5,0.5,0\n"
HAS_PROC_FD = sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd")


def csv(tmp_path: Path, text: str = OK, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(args: list[Any], *needles: str) -> str:
    """Exit 2, nothing on stdout, one `xent: error:` line holding every needle."""
    res = run(["compute", *args])
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    err = res.stderr
    assert err.startswith("xent: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def leftovers(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


# -- 1a: a baseline xent wrote with an infinite loss (null) ----------------------------------


@pytest.fixture
def null_baseline(tmp_path: Path) -> Path:
    prev = tmp_path / "prev.json"
    res = run(
        [
            "compute",
            csv(tmp_path, ZERO, "zero.csv"),
            "--clip-eps",
            "0",
            "--format",
            "json",
            "--output",
            prev,
        ]
    )
    assert res.exit_code == 0 and res.stdout == ""
    assert json.loads(prev.read_text())["loss"] is None  # strict JSON: inf is written as null
    return prev


NULL_NOTE = (
    "the baseline loss is null (infinite): the change cannot be measured, and no "
    "loss rises above it"
)


@pytest.mark.parametrize("now", [FINITE, ZERO], ids=["finite_now", "infinite_now"])
def test_null_baseline_loss_cannot_be_exceeded(
    tmp_path: Path, null_baseline: Path, now: str
) -> None:
    res = run(
        [
            "compute",
            csv(tmp_path, now, "now.csv"),
            "--clip-eps",
            "0",
            "--baseline",
            null_baseline,
            "--max-increase",
            "2%",
            "--format",
            "json",
        ]
    )
    assert res.exit_code == 0, res.stderr
    # the note, also on stderr for the table and Markdown reader
    assert res.stderr == f"xent: note: --baseline {null_baseline}: {NULL_NOTE}\n"
    base = json.loads(res.stdout)["baseline"]
    assert base["loss"] is None and base["regressed"] is False
    assert "null (infinite)" in base["note"] and "cannot be measured" in base["note"]
    assert "loss" not in base["delta"] and base["figures"]["loss"] is None
    assert base["delta"]["metrics.accuracy"] == 0  # finite figures still compare
    assert base["max_increase"] == "2%"


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_null_baseline_renders_in_every_format(
    tmp_path: Path, null_baseline: Path, fmt: str
) -> None:
    res = run(
        [
            "compute",
            tmp_path / "zero.csv",
            "--clip-eps",
            "0",
            "--baseline",
            null_baseline,
            "--max-increase",
            "0",
            "--format",
            fmt,
        ]
    )
    assert res.exit_code == 0 and res.stderr.startswith("xent: note: "), res.stderr
    assert res.stderr.count("\n") == 1 and res.stdout


def test_quiet_keeps_the_note_off_stderr(tmp_path: Path, null_baseline: Path) -> None:
    res = run(
        [
            "compute",
            tmp_path / "zero.csv",
            "--clip-eps",
            "0",
            "--baseline",
            null_baseline,
            "--quiet",
            "--format",
            "json",
        ]
    )
    assert res.exit_code == 0 and res.stderr == ""
    assert json.loads(res.stdout)["baseline"]["note"]  # still in the report


def test_a_gate_on_an_infinite_loss_says_why_it_is_null(tmp_path: Path) -> None:
    res = run(
        [
            "compute",
            csv(tmp_path, ZERO, "zero.csv"),
            "--clip-eps",
            "0",
            "--check",
            "loss>1",
            "--format",
            "json",
        ]
    )
    assert res.exit_code == 1
    assert res.stderr == ("xent: gate failed: loss is null (infinite or undefined), wanted > 1\n")


def test_output_dash_is_stdout_and_a_table_file_is_the_piped_table(tmp_path: Path) -> None:
    path = csv(tmp_path, OK, "ok.csv")
    piped = run(["compute", path])
    assert run(["compute", path, "--output", "-"]).stdout == piped.stdout
    out = tmp_path / "report.txt"
    assert run(["compute", path, "--output", out]).exit_code == 0
    assert out.read_text() == piped.stdout  # the same width and text as `> report.txt`


def test_null_baseline_without_a_gate(tmp_path: Path, null_baseline: Path) -> None:
    out = run_json(
        ["compute", tmp_path / "zero.csv", "--clip-eps", "0", "--baseline", null_baseline]
    )
    assert "regressed" not in out["baseline"] and out["baseline"]["note"]


def test_infinite_loss_against_a_finite_baseline_fails_the_gate(tmp_path: Path) -> None:
    zero = csv(tmp_path, ZERO, "zero.csv")
    finite = csv(tmp_path, FINITE, "finite.csv")
    prev = tmp_path / "prev.json"
    made = run(["compute", finite, "--clip-eps", "0", "--format", "json", "--output", prev])
    assert made.exit_code == 0
    old = json.loads(prev.read_text())["loss"]
    res = run(
        [
            "compute",
            zero,
            "--clip-eps",
            "0",
            "--baseline",
            prev,
            "--max-increase",
            "2%",
            "--format",
            "json",
        ]
    )
    assert res.exit_code == 1
    assert json.loads(res.stdout)["baseline"]["regressed"] is True  # the report still prints
    assert res.stderr == (
        f"xent: gate failed: loss is infinite (baseline {old:.6g} nats): above any allowed "
        "rise (--max-increase 2%)\n"
    )


# -- 1c: a baseline made with other loss options is refused ---------------------------------


@pytest.mark.parametrize(
    ("then", "now", "key", "old", "new"),
    [
        ([], ["--label-smoothing", "0.3"], "label_smoothing", "0.0", "0.3"),
        (["--class-weights", "1,2"], [], "class_weights", "[1.0, 2.0]", "null"),
        (["--clip-eps", "0.01"], [], "clip_eps", "0.01", "2.220446049250313e-16"),
        ([], ["--bins", "10"], "bins", "15", "10"),
    ],
)
def test_a_baseline_with_other_loss_options_is_refused(
    tmp_path: Path, then: list[str], now: list[str], key: str, old: str, new: str
) -> None:
    data = csv(tmp_path, "a,b,label,w\n0.5,0.5,0,1\n0.2,0.8,1,2\n")
    prev = tmp_path / "prev.json"
    made = run(["compute", data, "--pred-cols", "a,b", *then, "--format", "json", "--output", prev])
    assert made.exit_code == 0, made.stderr
    report = tmp_path / "report.md"
    refused(
        [
            data,
            "--pred-cols",
            "a,b",
            *now,
            "--baseline",
            prev,
            "--format",
            "markdown",
            "--output",
            report,
        ],
        f"--baseline {prev}: it was made with {key} {old} but this run has {key} {new}",
    )
    assert not report.exists() and leftovers(tmp_path) == []


def test_weighted_or_not_is_the_option_not_the_columns_name(tmp_path: Path) -> None:
    data = csv(tmp_path, "a,b,label,w,v\n0.5,0.5,0,1,1\n0.2,0.8,1,2,2\n")
    prev = tmp_path / "prev.json"
    made = run(["compute", data, "--pred-cols", "a,b", "--format", "json", "--output", prev])
    assert made.exit_code == 0, made.stderr
    refused(
        [data, "--pred-cols", "a,b", "--weight-col", "w", "--baseline", prev],
        f"--baseline {prev}: it was made without sample weights but this run is with sample "
        "weights (w)",
    )
    weighted = run(
        [
            "compute",
            data,
            "--pred-cols",
            "a,b",
            "--weight-col",
            "w",
            "--format",
            "json",
            "--output",
            prev,
        ]
    )
    assert weighted.exit_code == 0
    out = run_json(["compute", data, "--pred-cols", "a,b", "--weight-col", "v", "--baseline", prev])
    assert out["baseline"]["delta"]["loss"] == 0  # the same weights in a renamed column


def test_the_same_options_compare_and_a_baseline_without_options_gets_a_note(
    tmp_path: Path,
) -> None:
    data = csv(tmp_path)
    prev = tmp_path / "prev.json"
    opts = ["--label-smoothing", "0.1", "--class-weights", "1,3"]
    assert run(["compute", data, *opts, "--format", "json", "--output", prev]).exit_code == 0
    out = run_json(["compute", data, *opts, "--baseline", prev])
    assert out["baseline"]["delta"]["loss"] == 0 and "note" not in out["baseline"]
    old = json.loads(prev.read_text())
    del old["options"]  # as an older xent wrote it
    prev.write_text(json.dumps(old))
    res = run(["compute", data, "--baseline", prev, "--format", "json"])
    assert res.exit_code == 0
    assert res.stderr == (
        f"xent: note: --baseline {prev}: it has no 'options' (an older xent wrote it), so "
        "whether it was made with the same loss options cannot be checked\n"
    )


# -- 1b: hand-edited baselines are refused by the loader ------------------------------------

BAD_BASELINES = {
    "loss_string": ('{"loss": "0.1"}', "'loss' is the string \"0.1\", not a number or null"),
    "loss_bool": ('{"loss": true}', "'loss' is the boolean true"),
    "loss_array": ('{"loss": [0.1]}', "'loss' is an array"),
    "loss_overflow": ('{"loss": 1e400}', "'loss' is a number out of range"),
    "loss_sum_string": ('{"loss": 0.1, "loss_sum": "x"}', "'loss_sum' is the string"),
    "nan": ('{"loss": NaN}', "'NaN' is not JSON", "null"),
    "infinity": ('{"loss": 0.1, "perplexity": Infinity}', "'Infinity' is not JSON"),
    "unit_number": ('{"loss": 0.1, "unit": 2}', "'unit' is the number 2, not a string"),
    "metrics_list": ('{"loss": 0.1, "metrics": [1]}', "'metrics' is an array, not an object"),
    "metric_string": (
        '{"loss": 0.1, "metrics": {"accuracy": "0.9"}}',
        "'metrics.accuracy' is the string \"0.9\"",
    ),
    "per_class_object": (
        '{"loss": 0.1, "per_class": {"class": "a"}}',
        "'per_class' is an object, not an array",
    ),
    "per_class_row_number": (
        '{"loss": 0.1, "per_class": [1]}',
        "'per_class[0]' is the number 1, not an object",
    ),
    "per_class_no_class": (
        '{"loss": 0.1, "per_class": [{"x": 1}]}',
        "'per_class[0]' has no 'class'",
    ),
    "per_class_class_number": (
        '{"loss": 0.1, "per_class": [{"class": "a"}, {"class": 3}]}',
        "'per_class[1].class' is the number 3, not a string",
    ),
    "per_class_loss_mean": (
        '{"loss": 0.1, "per_class": [{"class": "a", "loss_mean": {}}]}',
        "'per_class[0].loss_mean' is an object",
    ),
    "no_loss": ('{"n": 3}', "no 'loss'"),
    "not_an_object": ("[1, 2]", "no 'loss'"),
    "too_deep": ("[" * 100_000, "nested too deeply"),
    "huge_integer": ('{"loss": 1' + "0" * 5000 + "}", "not usable JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_BASELINES))
def test_malformed_baseline_is_refused_before_reading(tmp_path: Path, case: str) -> None:
    text, *needles = BAD_BASELINES[case]
    prev = tmp_path / "prev.json"
    prev.write_text(text)
    report = tmp_path / "report.json"
    refused(
        [
            csv(tmp_path),
            "--baseline",
            prev,
            "--max-increase",
            "2%",
            "--format",
            "json",
            "--output",
            report,
        ],
        f"--baseline {prev}: ",
        *needles,
    )
    assert not report.exists()


def test_baseline_that_is_not_utf8_or_a_file(tmp_path: Path) -> None:
    prev = tmp_path / "prev.json"
    prev.write_bytes(b'{"loss": "\xff"}')
    refused([csv(tmp_path), "--baseline", prev], "not UTF-8")
    refused([csv(tmp_path), "--baseline", tmp_path], "cannot read: Is a directory")


def test_a_valid_baseline_with_extra_keys_still_compares(tmp_path: Path) -> None:
    prev = tmp_path / "prev.json"
    report = run_json(["compute", csv(tmp_path)])
    report["future_key"] = {"nested": [1, "two"]}  # keys are added freely
    report["loss"] = int(report["loss"])  # an integer is a number too
    prev.write_text(json.dumps(report))
    res = run(
        ["compute", csv(tmp_path), "--baseline", prev, "--max-increase", "1000", "--format", "json"]
    )
    assert res.exit_code == 0 and res.stderr == ""
    assert json.loads(res.stdout)["baseline"]["regressed"] is False


# -- 2: symlinks are written through, /proc links and pipes in place -------------------------


@pytest.mark.parametrize("relative", [True, False], ids=["relative_link", "absolute_link"])
def test_output_through_a_symlink_keeps_the_link(tmp_path: Path, relative: bool) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to("real.json" if relative else real)
    res = run(["compute", csv(tmp_path), "--format", "json", "--output", link])
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""
    assert link.is_symlink() and os.readlink(link) == ("real.json" if relative else str(real))
    assert json.loads(real.read_text())["n"] == 2
    assert leftovers(tmp_path) == []


def test_output_through_a_chain_of_links_into_another_directory(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    real = there / "real.json"
    (here / "hop.json").symlink_to("../there/real.json")
    (here / "link.json").symlink_to("hop.json")
    res = run(["compute", csv(tmp_path), "--format", "json", "--output", here / "link.json"])
    assert res.exit_code == 0 and res.stderr == ""
    assert (here / "link.json").is_symlink() and (here / "hop.json").is_symlink()
    assert json.loads(real.read_text())["n"] == 2  # a dangling chain creates its target
    assert leftovers(here) == [] and leftovers(there) == []


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.json").symlink_to("b.json")
    (tmp_path / "b.json").symlink_to("a.json")
    refused(
        [csv(tmp_path), "--format", "json", "--output", tmp_path / "a.json"],
        "a.json",
        "symbolic links",
    )


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_per_sample_through_a_symlink_keeps_the_link(tmp_path: Path, suffix: str) -> None:
    real = tmp_path / f"real.{suffix}"
    real.write_text("old")
    link = tmp_path / f"rows.{suffix}"
    link.symlink_to(real.name)
    out = run_json(["compute", csv(tmp_path), "--per-sample", link])
    assert out["n"] == 2
    assert link.is_symlink()
    table = pq.read_table(real) if suffix == "parquet" else pcsv.read_csv(real)
    assert table.column_names == ["loss", "y_true", "y_pred"] and table.num_rows == 2
    assert leftovers(tmp_path) == []


def test_output_through_a_link_to_dev_null(tmp_path: Path) -> None:
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    res = run(["compute", csv(tmp_path), "--format", "json", "--output", link])
    assert res.exit_code == 0 and res.stdout == ""
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert leftovers(tmp_path) == []


def _drain(path: Path, got: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize(
    "option,name",
    [("--output", "r.json"), ("--per-sample", "rows.csv"), ("--per-sample", "rows.parquet")],
)
def test_writes_through_a_link_to_a_fifo(tmp_path: Path, option: str, name: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / name
    link.symlink_to("fifo")
    got: list[bytes] = []
    reader = _drain(fifo, got)
    res = run(["compute", csv(tmp_path), "--format", "json", option, link])
    reader.join(timeout=30)
    assert res.exit_code == 0, res.stderr
    assert link.is_symlink() and stat.S_ISFIFO(os.stat(fifo).st_mode)
    data = got[0]
    if name.endswith(".json"):
        assert json.loads(data)["n"] == 2
    elif name.endswith(".csv"):
        assert data.startswith(b'"loss","y_true","y_pred"\n') and data.count(b"\n") == 3
    else:  # Parquet to a pipe: written without seeking
        assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not HAS_PROC_FD, reason="needs /proc/self/fd")
def test_a_link_to_an_open_file_descriptor_is_appended_to(tmp_path: Path) -> None:
    """/dev/stdout is such a link; `>> summary.md` must keep what the summary had."""
    summary = tmp_path / "summary.md"
    summary.write_text("# before\n")
    link = tmp_path / "fd.md"
    with open(summary, "ab") as fh:
        link.symlink_to(f"/proc/self/fd/{fh.fileno()}")
        res = run(["compute", csv(tmp_path), "--format", "markdown", "--output", link])
    assert res.exit_code == 0 and res.stdout == "", res.stderr
    assert link.is_symlink()
    text = summary.read_text()
    assert text.startswith("# before\n") and "| figure | value |" in text
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not HAS_PROC_FD, reason="needs /proc/self/fd")
def test_a_link_to_a_pipe_descriptor_is_written_in_place(tmp_path: Path) -> None:
    r, w = os.pipe()
    link = tmp_path / "pipe.json"
    link.symlink_to(f"/proc/self/fd/{w}")
    try:
        res = run(["compute", csv(tmp_path), "--format", "json", "--output", link])
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    assert res.exit_code == 0, res.stderr
    assert json.loads(data)["n"] == 2 and link.is_symlink()


@pytest.mark.skipif(not HAS_PROC_FD, reason="needs /proc/self/fd")
def test_stdout_link_in_a_child_appends_to_its_redirected_stdout(tmp_path: Path) -> None:
    """What `xent ... --output /dev/stdout >> "$GITHUB_STEP_SUMMARY"` does, through a link
    of our own (never the real /dev/stdout, which a broken build could replace)."""
    summary = tmp_path / "summary.md"
    summary.write_text("# before\n")
    link = tmp_path / "stdout.md"
    link.symlink_to("/proc/self/fd/1")
    with open(summary, "ab") as fh:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "xentcli",
                "compute",
                str(csv(tmp_path)),
                "--format",
                "markdown",
                "--output",
                str(link),
            ],
            stdout=fh,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    text = summary.read_text()
    assert text.startswith("# before\n") and "| figure | value |" in text


@pytest.mark.skipif(not HAS_PROC_FD, reason="needs /proc/self/fd")
def test_stdout_link_shares_the_redirect_position(tmp_path: Path) -> None:
    """`{ xent ... --output /dev/stdout; echo AFTER; } > seq.txt`: the report goes where the
    shell's descriptor stands, and what follows it lands after it (not over it)."""
    seq = tmp_path / "seq.txt"
    link = tmp_path / "stdout.json"
    link.symlink_to("/proc/self/fd/1")
    with open(seq, "wb") as fh:
        fh.write(b"BEFORE\n")
        fh.flush()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "xentcli",
                "compute",
                str(csv(tmp_path)),
                "--format",
                "json",
                "--quiet",
                "--output",
                str(link),
            ],
            stdout=fh,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
        fh.write(b"AFTER\n")
    assert proc.returncode == 0, proc.stderr
    text = seq.read_text()
    assert text.startswith("BEFORE\n{") and text.endswith("}\nAFTER\n")
    assert json.loads(text[len("BEFORE\n") : -len("AFTER\n")])["n"] == 2


def test_dev_stdout_resolves_to_writing_in_place() -> None:
    from xentcli.outputs import _resolve

    if not (HAS_PROC_FD and os.path.islink("/dev/stdout")):
        pytest.skip("/dev/stdout is not a link to /proc/self/fd/1 here")
    assert _resolve("/dev/stdout")[1] == 1  # only looks; writes nothing


# -- 3: the umask for new files, the old mode for replaced ones ------------------------------


@pytest.fixture
def umask() -> Iterator[Any]:
    old = os.umask(0o022)

    def set_umask(mask: int) -> None:
        os.umask(mask)

    try:
        yield set_umask
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


OUTPUTS = [("--output", "r.json"), ("--per-sample", "rows.csv"), ("--per-sample", "rows.parquet")]


@pytest.mark.parametrize("option,name", OUTPUTS)
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_a_new_file_gets_the_umask(
    tmp_path: Path, umask: Any, option: str, name: str, mask: int
) -> None:
    inp = csv(tmp_path)
    umask(mask)
    res = run(["compute", inp, "--format", "json", option, tmp_path / name])
    assert res.exit_code == 0, res.stderr
    assert mode(tmp_path / name) == 0o666 & ~mask


@pytest.mark.parametrize("option,name", OUTPUTS)
@pytest.mark.parametrize("old_mode,mask", [(0o644, 0o077), (0o600, 0o022), (0o664, 0o022)])
def test_a_replaced_file_keeps_its_mode(
    tmp_path: Path, umask: Any, option: str, name: str, old_mode: int, mask: int
) -> None:
    inp = csv(tmp_path)
    target = tmp_path / name
    target.write_text("old")
    target.chmod(old_mode)
    umask(mask)
    res = run(["compute", inp, "--format", "json", option, target])
    assert res.exit_code == 0, res.stderr
    assert target.read_bytes() != b"old"
    assert mode(target) == old_mode


def test_a_file_replaced_through_a_link_keeps_its_mode(tmp_path: Path, umask: Any) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    umask(0o077)
    assert run(["compute", csv(tmp_path), "--format", "json", "--output", link]).exit_code == 0
    assert mode(real) == 0o640 and link.is_symlink()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to give a link to another user",
)
def test_a_link_planted_by_another_user_in_a_shared_dir_is_not_followed(tmp_path: Path) -> None:
    """As the kernel's protected_symlinks: /tmp/report.json -> a file of ours, planted by
    someone else, must not make xent replace that file."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    mine = tmp_path / "config"
    mine.write_text("important\n")
    planted = shared / "report.json"
    planted.symlink_to(mine)
    os.lchown(planted, 65534, 65534)  # nobody
    res = run(["compute", csv(tmp_path), "--format", "json", "--output", planted])
    assert res.exit_code == 2 and res.stdout == "" and "owned by another user" in res.stderr
    assert mine.read_text() == "important\n" and planted.is_symlink()
    os.lchown(planted, os.geteuid(), os.getegid())  # our own link is followed
    assert run(["compute", csv(tmp_path), "--format", "json", "--output", planted]).exit_code == 0
    assert json.loads(mine.read_text())["n"] == 2


def test_dot_dot_after_a_linked_directory_is_the_kernel_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "lnk").symlink_to(tmp_path / "a" / "b")
    monkeypatch.chdir(tmp_path)
    res = run(["compute", csv(tmp_path), "--format", "json", "--output", "lnk/../out.json"])
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "a" / "out.json").exists() and not (tmp_path / "out.json").exists()
