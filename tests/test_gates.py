"""CI gates and pipelines: --check, --baseline, --ci, xent compare, and Unix manners."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests import reference as ref
from tests.helpers import run, run_json, wide_table, write_table
from xentcli.gates import MaxIncrease, parse_check

RNG = np.random.default_rng(3)
N, C = 223, 3
Z = RNG.normal(size=(N, C)) * 2
Y = RNG.integers(0, C, N)
ROWS = [ref.ce_row_label(list(Z[i]), int(Y[i]), logits=True) for i in range(N)]
LOSS = math.fsum(ROWS) / N


@pytest.fixture
def preds(tmp_path: Path) -> Path:
    return write_table(tmp_path / "z.parquet", wide_table(Z, Y, names=["cat", "dog", "fish"]))


# -- the grammar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,name,op,num",
    [
        ("loss<=0.35", "loss", "<=", 0.35),
        ("metrics.accuracy >= 0.9", "metrics.accuracy", ">=", 0.9),
        (" metrics.ece<0.05 ", "metrics.ece", "<", 0.05),
        ("per_class.cat.loss_mean<=1.2", "per_class.cat.loss_mean", "<=", 1.2),
        ("n==223", "n", "==", 223.0),
        ("clipped!=1", "clipped", "!=", 1.0),
        ("loss>-1e-3", "loss", ">", -1e-3),
        ("per_class.big cat.share<.5", "per_class.big cat.share", "<", 0.5),
    ],
)
def test_check_grammar_accepts(text: str, name: str, op: str, num: float) -> None:
    c = parse_check(text)
    assert (c.name, c.op, c.threshold) == (name, op, num)


@pytest.mark.parametrize(
    "text",
    [
        "loss",
        "loss<=",
        "<=0.3",
        "loss=<0.3",
        "loss<<1",
        "a<b<3",
        "loss <= abc",
        "loss<=0.3; rm -rf /",
        "loss=0.3",
        "",
    ],
)
def test_check_grammar_refuses(text: str) -> None:
    from xentcli.errors import UsageError

    with pytest.raises(UsageError, match="NAME OP NUMBER"):
        parse_check(text)


def test_names_are_looked_up_never_evaluated() -> None:
    from xentcli.errors import UsageError
    from xentcli.gates import lookup

    check = parse_check("__import__('os').system('false')<1")
    with pytest.raises(UsageError, match="no figure"):
        lookup({"loss": 0.3}, check.name)


@pytest.mark.parametrize(
    "op,passes",
    [("<", False), ("<=", True), (">", False), (">=", True), ("==", True), ("!=", False)],
)
def test_every_operator(op: str, passes: bool) -> None:
    assert parse_check(f"x{op}2").passes(2.0) is passes
    assert parse_check(f"x{op}2").passes(None) is False  # null (an infinite loss) never passes
    assert parse_check(f"x{op}2").passes(math.inf) is False


def test_max_increase_parsing() -> None:
    assert MaxIncrease.parse("0.01") == MaxIncrease(0.01, False)
    assert MaxIncrease.parse("2%") == MaxIncrease(0.02, True)
    assert MaxIncrease.parse("2%").exceeded(1.03, 1.0)
    assert not MaxIncrease.parse("2%").exceeded(1.019, 1.0)
    assert MaxIncrease.parse("0.01").exceeded(0.52, 0.5)
    assert not MaxIncrease.parse("0.01").exceeded(0.4, 0.5)  # an improvement


# -- --check on compute -----------------------------------------------------------------------


def test_checks_pass_and_fail(preds: Path) -> None:
    ok = run(
        [
            "compute",
            preds,
            "--logits",
            "--check",
            f"loss<={LOSS + 1e-9}",
            "--check",
            "n==223",
            "--format",
            "json",
        ]
    )
    assert ok.exit_code == 0 and ok.stderr == ""
    acc = float(np.mean(np.argmax(Z, axis=1) == Y))
    cat_mean = math.fsum(ROWS[i] for i in range(N) if Y[i] == 0) / int((Y == 0).sum())
    bad = run(
        [
            "compute",
            preds,
            "--logits",
            "--format",
            "json",
            "--check",
            f"metrics.accuracy>{acc}",
            "--check",
            f"per_class.cat.loss_mean<{cat_mean / 2}",
            "--check",
            "loss<100",
        ]
    )
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["n"] == N  # the report still prints
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 2
    assert f"metrics.accuracy is {acc:.6g}" in lines[0]
    assert "per_class.cat.loss_mean" in lines[1]


def test_unknown_name_is_exit_2_with_nothing_on_stdout(preds: Path) -> None:
    for check in ("metrics.nope<1", "per_class.cow.loss_mean<1", "classes<1"):
        res = run(["compute", preds, "--logits", "--check", check, "--format", "json"])
        assert res.exit_code == 2 and res.stdout == "", check
        assert res.stderr.startswith(f"xent: error: --check '{check}': "), res.stderr
    res = run(["compute", preds, "--logits", "--check", "loss<<1"])
    assert res.exit_code == 2 and "NAME OP NUMBER" in res.stderr


# -- --baseline -------------------------------------------------------------------------------


def test_baseline_regression_and_improvement(tmp_path: Path, preds: Path) -> None:
    worse = tmp_path / "worse.json"
    worse_report = run_json(["compute", preds, "--logits"])
    worse_report["loss"] = LOSS * 0.9  # the previous run was 10% better
    worse.write_text(json.dumps(worse_report))
    res = run(
        [
            "compute",
            preds,
            "--logits",
            "--baseline",
            worse,
            "--max-increase",
            "5%",
            "--format",
            "json",
        ]
    )
    assert res.exit_code == 1 and "--max-increase 5%" in res.stderr
    out = json.loads(res.stdout)
    assert out["baseline"]["regressed"] is True
    assert out["baseline"]["delta"]["loss"] == pytest.approx(LOSS - LOSS * 0.9)
    assert (
        run(["compute", preds, "--logits", "--baseline", worse, "--max-increase", "15%"]).exit_code
        == 0
    )
    assert (
        run(
            [
                "compute",
                preds,
                "--logits",
                "--baseline",
                worse,
                "--max-increase",
                str(LOSS * 0.1 + 1e-6),
            ]
        ).exit_code
        == 0
    )
    better = tmp_path / "better.json"
    worse_report["loss"] = LOSS * 1.5
    better.write_text(json.dumps(worse_report))
    res = run(
        [
            "compute",
            preds,
            "--logits",
            "--baseline",
            better,
            "--max-increase",
            "0",
            "--format",
            "markdown",
        ]
    )
    assert res.exit_code == 0 and "| baseline | delta |" in res.stdout


def test_baseline_errors(tmp_path: Path, preds: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run(["compute", preds, "--logits", "--baseline", bad]).exit_code == 2
    other = tmp_path / "bits.json"
    other.write_text(json.dumps(run_json(["compute", preds, "--logits", "--base", "2"])))
    res = run(["compute", preds, "--logits", "--baseline", other])
    assert res.exit_code == 2 and "unit" in res.stderr and res.stdout == ""
    res = run(["compute", preds, "--logits", "--max-increase", "1%"])
    assert res.exit_code == 2 and "--baseline" in res.stderr
    res = run(["compute", preds, "--logits", "--baseline", tmp_path / "none.json"])
    assert res.exit_code == 2 and "no such file" in res.stderr


# -- the bootstrap ----------------------------------------------------------------------------


def poisson_by_inversion(u: float) -> int:
    """The textbook inversion: the smallest k with P(K <= k) > u, K ~ Poisson(1), the CDF
    summed term by term in exact fractions of e^-1 (a float only at the comparison)."""
    k, term, cdf = 0, Fraction(1), Fraction(1)  # in units of e^-1: 1/k!, sum_{j<=k} 1/j!
    while u >= float(cdf) * math.exp(-1.0) and k < 40:
        k += 1
        term /= k
        cdf += term
    return k


def test_poisson_draws_follow_poisson_1() -> None:
    """A million draws against the Poisson(1) probabilities: each frequency within 5 standard
    errors (a chi-square-style check), mean and variance 1."""
    from xentcli.bootstrap import poisson1

    draws = poisson1(np.random.default_rng(123), (1000, 1000)).reshape(-1)
    n = draws.size
    counts = np.bincount(draws, minlength=12)
    for k in range(8):
        p = math.exp(-1.0) / math.factorial(k)
        assert abs(counts[k] - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1, k
    p_tail = 1 - math.fsum(math.exp(-1.0) / math.factorial(k) for k in range(8))
    assert abs(counts[8:].sum() - n * p_tail) <= 5 * math.sqrt(n * p_tail) + 1
    assert draws.mean() == pytest.approx(1.0, abs=5e-3)
    assert draws.var() == pytest.approx(1.0, abs=1e-2)
    rng = np.random.default_rng(5)  # the same uniforms inverted one at a time
    u = rng.random((50, 400))
    expected = [[poisson_by_inversion(float(x)) for x in row] for row in u]
    assert poisson1(np.random.default_rng(5), (50, 400)).tolist() == expected


def slow_bootstrap(
    values: list[float], denom: list[float], chunk: int, seed: int, replicates: int, level: float
) -> tuple[float, float]:
    """The scheme the README states, written out with loops: chunks of ``chunk`` rows, each cut
    into at most 1024 blocks; per replicate, each block gets a Poisson(1) weight drawn from
    default_rng([seed, first row of the chunk]) by inversion of a uniform draw."""
    num = [0.0] * replicates
    den = [0.0] * replicates
    for start in range(0, len(values), chunk):
        v, d = values[start : start + chunk], denom[start : start + chunk]
        size = math.ceil(len(v) / 1024)
        blocks = math.ceil(len(v) / size)
        uniform = np.random.default_rng([seed, start]).random((replicates, blocks))
        draws = [[poisson_by_inversion(float(u)) for u in row] for row in uniform]
        for r in range(replicates):
            for i in range(len(v)):
                num[r] += draws[r][i // size] * v[i]
                den[r] += draws[r][i // size] * d[i]
    means = sorted(a / b for a, b in zip(num, den, strict=True))
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


@pytest.mark.parametrize("chunk", [7, 100])
def test_ci_matches_a_slow_reference_bootstrap(preds: Path, chunk: int) -> None:
    out = run_json(
        [
            "compute",
            preds,
            "--logits",
            "--ci",
            "0.9",
            "--seed",
            "42",
            "--replicates",
            "200",
            "--chunk-rows",
            str(chunk),
        ]
    )
    lo, hi = slow_bootstrap(ROWS, [1.0] * N, chunk, 42, 200, 0.9)
    assert out["ci"]["level"] == 0.9
    assert out["ci"]["loss_mean"] == pytest.approx([lo, hi], rel=1e-12)
    assert lo < LOSS < hi
    again = run_json(
        [
            "compute",
            preds,
            "--logits",
            "--ci",
            "0.9",
            "--seed",
            "42",
            "--replicates",
            "200",
            "--chunk-rows",
            str(chunk),
        ]
    )
    assert again["ci"] == out["ci"]  # seeded: CI runs are reproducible
    other = run_json(
        [
            "compute",
            preds,
            "--logits",
            "--ci",
            "0.9",
            "--seed",
            "43",
            "--replicates",
            "200",
            "--chunk-rows",
            str(chunk),
        ]
    )
    assert other["ci"] != out["ci"]
    as_csv = run(
        [
            "compute",
            preds,
            "--logits",
            "--ci",
            "0.9",
            "--seed",
            "42",
            "--replicates",
            "200",
            "--chunk-rows",
            str(chunk),
            "--format",
            "csv",
        ]
    ).stdout.splitlines()
    header, total = as_csv[0].split(","), next(r for r in as_csv if r.startswith("total,"))
    row = dict(zip(header, total.split(","), strict=True))  # the interval was left out of CSV
    assert float(row["ci_level"]) == 0.9
    assert [float(row["loss_mean_ci_low"]), float(row["loss_mean_ci_high"])] == pytest.approx(
        [lo, hi], rel=1e-12
    )


def test_ci_with_an_infinite_row_loss(tmp_path: Path) -> None:
    """Under --clip-eps 0 a probability of 0 for the truth is an infinite loss: it counts only
    in the replicates that draw its row (0 x inf made every replicate NaN: 'nan .. nan'). The
    low end is then the reference's with a huge finite loss in its place; the high end is
    infinite (null in JSON)."""
    p = [0.9, 0.2, 0.5, 0.7, 0.4, 0.8, 0.3] * 5  # 35 rows: every replicate draws some row
    y = [1, 0, 1, 1, 0, 1, 0] * 5
    p[2] = 0.0  # and 37% of them not this one
    path = write_table(tmp_path / "inf.parquet", pa.table({"p": p, "label": y}))
    out = run_json(
        ["compute", path, "--clip-eps", "0", "--ci", "0.9", "--seed", "5", "--replicates", "300"]
    )
    rows = [
        -math.log(pi if yi else 1 - pi) if (pi if yi else 1 - pi) > 0 else 1e300
        for pi, yi in zip(p, y, strict=True)
    ]
    lo, _ = slow_bootstrap(rows, [1.0] * len(rows), len(rows), 5, 300, 0.9)
    assert out["loss"] is None
    assert out["ci"]["loss_mean"][0] == pytest.approx(lo, rel=1e-12)
    assert out["ci"]["loss_mean"][1] is None


def test_compare_matches_a_slow_reference(tmp_path: Path, preds: Path) -> None:
    z_b = Z.copy()
    z_b[np.arange(N), Y] += 0.3  # B is more confident in the truth: lower loss
    b = write_table(tmp_path / "b.parquet", wide_table(z_b, Y, names=["cat", "dog", "fish"]))
    rows_b = [ref.ce_row_label(list(z_b[i]), int(Y[i]), logits=True) for i in range(N)]
    res = run(["compute", preds, "--logits"])
    assert res.exit_code == 0
    cmp = run(
        [
            "compare",
            preds,
            b,
            "--logits",
            "--format",
            "json",
            "--seed",
            "7",
            "--replicates",
            "300",
            "--chunk-rows",
            "50",
        ]
    )
    assert cmp.exit_code == 0, cmp.stderr
    out = json.loads(cmp.stdout)
    diff = [rb - ra for ra, rb in zip(ROWS, rows_b, strict=True)]
    assert out["a"]["loss"] == pytest.approx(LOSS, rel=1e-12)
    assert out["b"]["loss"] == pytest.approx(math.fsum(rows_b) / N, rel=1e-12)
    d = out["difference"]
    assert d["loss_mean"] == pytest.approx(math.fsum(diff) / N, rel=1e-9)
    lo, hi = slow_bootstrap(diff, [1.0] * N, 50, 7, 300, 0.95)
    assert [d["ci"]["low"], d["ci"]["high"]] == pytest.approx([lo, hi], rel=1e-9)
    assert d["significant"] is True and d["ci"]["high"] < 0
    gate = run(["compare", b, preds, "--logits", "--max-increase", "1%"])
    assert gate.exit_code == 1 and "--max-increase 1%" in gate.stderr
    same = run(["compare", preds, preds, "--logits", "--format", "json"])
    assert json.loads(same.stdout)["difference"]["significant"] is False
    as_csv = run(["compare", preds, b, "--logits", "--format", "csv"])
    by_figure = {r[0]: r[1:] for r in (line.split(",") for line in as_csv.stdout.splitlines())}
    a_loss, b_loss, delta = (float(v) for v in by_figure["loss_mean"])  # full precision
    assert a_loss == pytest.approx(LOSS, rel=1e-14)
    assert b_loss == pytest.approx(math.fsum(rows_b) / N, rel=1e-14)
    assert delta == pytest.approx(b_loss - a_loss, rel=1e-12)


def test_compare_refuses_different_labels_and_lengths(tmp_path: Path, preds: Path) -> None:
    y2 = Y.copy()
    y2[5] = (y2[5] + 1) % C
    other = write_table(tmp_path / "o.parquet", wide_table(Z, y2, names=["cat", "dog", "fish"]))
    res = run(["compare", preds, other, "--logits"])
    assert res.exit_code == 2 and "row 6" in res.stderr
    short = write_table(
        tmp_path / "s.parquet", wide_table(Z[:-1], Y[:-1], names=["cat", "dog", "fish"])
    )
    res = run(["compare", preds, short, "--logits"])
    assert res.exit_code == 2 and "rows" in res.stderr


def test_compare_refuses_weights_that_differ(tmp_path: Path) -> None:
    """The paired difference weighs each row once, so both files must weigh it alike (B's
    weights were ignored by it while B's own loss used them: two B - A figures in one
    report). Equal weights: the paired mean is the weighted mean of the row differences."""
    p_a, p_b = [0.9, 0.2, 0.6, 0.3], [0.6, 0.4, 0.6, 0.3]
    y, w = [1, 0, 1, 1], [1.0, 2.0, 0.5, 3.0]

    def save(name: str, p: list[float], weights: list[float] | None) -> Path:
        cols = {"p": p, "label": y, **({"w": weights} if weights else {})}
        return write_table(tmp_path / name, pa.table(cols))

    a = save("a.parquet", p_a, w)
    res = run(["compare", a, save("b.parquet", p_b, [0.0, 0.0, 1.0, 5.0]), "--weight-col", "w"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "disagree on the sample weight of row 1 (1 and 0)" in res.stderr
    res = run(["compare", a, save("n.parquet", p_b, None), "--weight-col", "w"])
    assert res.exit_code == 2 and "--weight-col 'w'" in res.stderr
    out = run_json(["compare", a, save("c.parquet", p_b, w), "--weight-col", "w"])

    def nll(p: float, t: int) -> float:
        return -math.log(p if t == 1 else 1 - p)

    d = [wi * (nll(pb, t) - nll(pa_, t)) for pa_, pb, t, wi in zip(p_a, p_b, y, w, strict=True)]
    assert out["difference"]["loss_mean"] == pytest.approx(math.fsum(d) / sum(w), rel=1e-12)
    assert out["b"]["loss"] - out["a"]["loss"] == pytest.approx(math.fsum(d) / sum(w), rel=1e-9)


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_compare_formats(preds: Path, fmt: str) -> None:
    res = run(["compare", preds, preds, "--logits", "--format", fmt])
    assert res.exit_code == 0 and "loss_mean" in res.stdout


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_compare_writes_to_output(tmp_path: Path, preds: Path, fmt: str) -> None:
    """--output: the report in the file (the table as plain text), nothing on stdout."""
    out = tmp_path / f"cmp.{fmt}"
    res = run(["compare", preds, preds, "--logits", "--format", fmt, "--output", out])
    assert res.exit_code == 0 and res.stdout == ""
    text = out.read_text()
    assert text == run(["compare", preds, preds, "--logits", "--format", fmt]).stdout or (
        fmt == "table" and "loss_mean" in text and "paired per-row difference" in text
    )
    if fmt == "json":
        assert json.loads(text)["difference"]["loss_mean"] == 0


# -- Unix manners, through real processes ------------------------------------------------------


def xent(*args: str, **kw: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "xentcli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )  # type: ignore[call-overload]


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_closed_pipe_ends_quietly(tmp_path: Path, fmt: str) -> None:
    z = RNG.normal(size=(50, 400))
    path = write_table(tmp_path / "wide.parquet", wide_table(z, RNG.integers(0, 400, 50)))
    proc = xent("compute", str(path), "--logits", "--format", fmt)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(64)
    proc.stdout.close()  # like `| head -c 64`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_closed_pipe_does_not_hide_a_failed_gate(tmp_path: Path, fmt: str) -> None:
    """`xent ... --max-loss X | true` under `set -o pipefail` (GitHub Actions' bash): the
    reader is gone before the report is written, the gate still fails (exit 1, said on
    stderr)."""
    z = RNG.normal(size=(50, 400))
    path = write_table(tmp_path / "wide.parquet", wide_table(z, RNG.integers(0, 400, 50)))
    proc = xent("compute", str(path), "--logits", "--format", fmt, "--max-loss", "0.01")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| true`: nothing is read
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert err.startswith("xent: gate failed: loss ") and "Traceback" not in err


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["compute", "--help"]])
def test_help_into_a_closed_pipe_exits_0(args: list[str]) -> None:
    proc = xent(*args)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and err == b""


def test_ctrl_c_exits_130_with_one_line_and_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.parquet"
    proc = xent("compute", "-", "--per-sample", str(target), stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"a,b,label\n" + b"0.5,0.5,0\n" * 1000)
    proc.stdin.flush()  # and keep stdin open: xent waits for more rows
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out == b"" and err == b"xent: error: interrupted\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_leave_no_partial_file(tmp_path: Path, sig: int) -> None:
    """A cancelled CI job or `timeout` sends SIGTERM: the partial --per-sample file is
    removed as on Ctrl-C, one line on stderr, exit 128 + the signal."""
    target = tmp_path / "rows.parquet"
    proc = xent("compute", "-", "--per-sample", str(target), stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"a,b,label\n" + b"0.5,0.5,0\n" * 1000)
    proc.stdin.flush()
    time.sleep(1.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig
    assert out == b"" and err == f"xent: error: terminated by signal {int(sig)}\n".encode()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("option", ["--output", "--per-sample"])
def test_an_output_path_that_cannot_be_written_is_refused_before_reading(
    tmp_path: Path, option: str
) -> None:
    """stdin stays open and unread: the run must not wait for it (nor consume it) to find
    that the report has nowhere to go."""
    proc = xent(
        "compute", "-", option, str(tmp_path / "missing" / "out.csv"), stdin=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        code = proc.wait(timeout=30)  # stdin still open: xent must not be waiting on it
    finally:
        proc.kill()
        proc.stdin.close()
    assert code == 2 and proc.stdout.read() == b""
    assert b"does not exist" in proc.stderr.read() and os.listdir(tmp_path) == []


def test_ctrl_c_while_importing_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console script's first ~80 ms import typer and numpy: a Ctrl-C there ends as one
    later does (the entry point catches it), not with a traceback."""
    import builtins

    from xentcli import entry

    real_import = builtins.__import__

    def interrupted(name: str, *args: object, **kw: object) -> object:
        if name == "xentcli.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kw)  # type: ignore[arg-type]

    def exit_(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    monkeypatch.setattr(entry.os, "_exit", exit_)
    with pytest.raises(SystemExit) as stop:
        entry.main()
    assert stop.value.code == 130
    assert capsys.readouterr().err == "xent: error: interrupted\n"


@pytest.mark.parametrize(("user", "expected"), [(None, "1"), ("4", "4")])
def test_entry_keeps_openblas_to_one_thread_unless_told(
    monkeypatch: pytest.MonkeyPatch, user: str | None, expected: str
) -> None:
    """OpenBLAS's extra thread spins on the reader's core after ``import numpy``; the entry
    point asks for one thread before anything imports numpy, and a user's setting wins."""
    import builtins

    from xentcli import entry

    real_import = builtins.__import__
    seen: list[str | None] = []

    def stop_at_cli(name: str, *args: object, **kw: object) -> object:
        if name == "xentcli.cli":
            seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
            raise KeyboardInterrupt
        return real_import(name, *args, **kw)  # type: ignore[arg-type]

    def exit_(code: int) -> None:
        raise SystemExit(code)

    if user is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", user)
    monkeypatch.setattr(builtins, "__import__", stop_at_cli)
    monkeypatch.setattr(entry.os, "_exit", exit_)
    with pytest.raises(SystemExit):
        entry.main()
    assert seen == [expected]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["compute", "missing.csv"], 2),
        (["compute", "{preds}", "--logits", "--check", "bogus<1"], 2),
        (["compute", "{preds}", "--logits", "--max-loss", "0.001"], 1),
    ],
)
def test_closed_stderr_keeps_the_exit_code(preds: Path, args: list[str], code: int) -> None:
    """`xent ... 2>&1 | head`: the reader of stderr is gone before the error or gate line is
    written; the exit code must still say what happened."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "xentcli", *(a.format(preds=preds) for a in args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.wait(timeout=60) == code


def test_nohup_keeps_sighup_ignored(tmp_path: Path) -> None:
    """Started with SIGHUP ignored (nohup), xent keeps ignoring it and finishes the run."""
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "xentcli", "compute", "-", "--format", "json", "--output", str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    assert proc.stdin is not None
    proc.stdin.write(b"a,b,label\n0.5,0.5,0\n")
    proc.stdin.flush()
    time.sleep(1.5)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(input=None, timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out.read_text())["n"] == 1


def test_output_and_per_sample_must_differ(tmp_path: Path, preds: Path) -> None:
    res = run(
        [
            "compute",
            preds,
            "--logits",
            "--output",
            tmp_path / "r.csv",
            "--per-sample",
            tmp_path / "r.csv",
        ]
    )
    assert res.exit_code == 2 and "both name" in res.stderr
    assert os.listdir(tmp_path) == ["z.parquet"]


def test_no_color_and_non_terminal_give_plain_text(preds: Path) -> None:
    proc = xent("compute", str(preds), "--logits", env={**os.environ, "NO_COLOR": "1"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"\x1b[" not in out and err == b""


def test_stdin_pipeline_with_json(preds: Path) -> None:
    csv = write_table(preds.with_suffix(".csv"), wide_table(Z, Y))
    proc = xent("compute", "-", "--logits", "--format", "json", "--quiet", stdin=subprocess.PIPE)
    out, err = proc.communicate(csv.read_bytes(), timeout=60)
    assert proc.returncode == 0 and err == b""
    assert json.loads(out)["loss"] == pytest.approx(LOSS, rel=1e-12)


@pytest.mark.parametrize(
    "args",
    [
        ["compute", "-", "--logits"],
        ["compute", "-", "--input-format", "arrow"],
        ["compute", "{preds}", "--labels", "-"],
    ],
)
def test_a_closed_stdin(preds: Path, args: list[str]) -> None:
    """stdin closed (`<&-`): Python has no sys.stdin at all; one line, exit 2 (it was an
    AttributeError traceback and exit 1, a failed gate's code)."""
    proc = subprocess.run(
        [sys.executable, "-m", "xentcli", *[a.format(preds=preds) for a in args]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(0),
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        proc.stderr == "xent: error: <stdin>: stdin is closed; pipe the input in, or pass "
        "its path\n"
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ["compute", "{preds}", "--logits", "--format", "json"],
        ["compute", "{preds}", "--logits"],
        ["explain", "--probs", "0.5,0.5", "--label", "0"],
    ],
)
def test_stdout_on_a_full_disk_is_an_error(preds: Path, args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "xentcli", *[a.format(preds=preds) for a in args]],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    assert proc.returncode == 2  # not 1: that would read as a failed gate
    assert proc.stderr == b"xent: error: stdout: cannot write: No space left on device\n"


@pytest.mark.parametrize(
    "args",
    [
        ["compute", "{preds}", "--logits", "--format", "json"],
        ["explain", "--probs", "0.5,0.5", "--label", "0"],
        ["--version"],
    ],
)
def test_a_closed_stdout_is_an_error(preds: Path, args: list[str]) -> None:
    """`xent ... >&-`: one line, exit 2 (Python would give a traceback and exit 1)."""
    proc = subprocess.run(
        [sys.executable, "-m", "xentcli", *[a.format(preds=preds) for a in args]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 2
    assert proc.stderr == b"xent: error: stdout: cannot write: it is closed\n"


def test_console_process_output_and_exit_codes(tmp_path: Path) -> None:
    """The entry point ends the process itself once output is flushed: all of stdout arrives,
    and 0 / 1 (gate) / 2 (bad input) come through as the exit status."""
    z = RNG.normal(size=(300, 5))
    y = RNG.integers(0, 5, 300)
    path = write_table(tmp_path / "p.parquet", wide_table(z, y))
    want = math.fsum(ref.ce_row_label(list(z[i]), int(y[i]), logits=True) for i in range(300)) / 300
    out, err = xent("compute", str(path), "--logits", "--format", "json").communicate(timeout=60)
    assert err == b""
    assert json.loads(out)["loss"] == pytest.approx(want, rel=1e-12)
    gate = xent("compute", str(path), "--logits", "--format", "json", "--max-loss", "0.01")
    out, err = gate.communicate(timeout=60)
    assert gate.returncode == 1 and json.loads(out)["loss"] == pytest.approx(want, rel=1e-12)
    assert b"--max-loss" in err
    bad = xent("compute", str(tmp_path / "missing.parquet"))
    out, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and out == b"" and err.count(b"\n") == 1


def test_compare_with_an_infinite_loss(tmp_path: Path) -> None:
    half = tmp_path / "half.csv"
    half.write_text("a,b,label\n0.5,0.5,1\n0.5,0.5,0\n")
    zero = tmp_path / "zero.csv"
    zero.write_text("a,b,label\n1,0,1\n0.5,0.5,0\n")
    res = run(["compare", half, zero, "--clip-eps", "0", "--max-increase", "1"])
    assert res.exit_code == 1  # B's loss is infinite: above any finite A
    assert "RuntimeWarning" not in res.stderr
    assert res.stderr == (
        "xent: gate failed: B's loss inf is above A's 0.693147 by more than --max-increase 1\n"
    )
    assert "a loss is infinite, so there is no interval" in res.stdout
    res = run(["compare", zero, zero, "--clip-eps", "0", "--max-increase", "1"])
    assert res.exit_code == 0 and res.stderr == ""  # an infinite A cannot be exceeded


def test_compare_takes_the_options_its_errors_suggest(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("id,x,y,label\nr1,2,2,0\nr2,1,3,1\n")  # scores that need --renormalize
    b = tmp_path / "b.csv"
    b.write_text("id,x,y,label\nr1,3,1,0\nr2,1,1,1\n")
    # whole numbers are not scores by default; the error names the --pred-cols that are
    res = run(["compare", a, b, "--id-col", "id", "--renormalize"])
    assert res.exit_code == 2 and "--pred-cols x,y" in res.stderr, res.stderr
    out = json.loads(
        run(
            [
                *["compare", a, b, "--id-col", "id", "--renormalize"],
                *["--pred-cols", "x,y", "--format", "json"],
            ]
        ).stdout
    )
    assert out["a"]["loss"] == pytest.approx((math.log(2) + math.log(4 / 3)) / 2, rel=1e-14)
    assert out["b"]["loss"] == pytest.approx((math.log(4 / 3) + math.log(2)) / 2, rel=1e-14)
