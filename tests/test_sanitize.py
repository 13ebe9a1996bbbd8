"""Text from the data is shown by one rule (issue 21): names, ids, --group-by values, values
quoted in messages and a baseline's strings cannot drive the terminal (escape sequences,
hyperlinks, bidirectional overrides), make links or mentions in Markdown, or start a formula
in a spreadsheet; JSON and Parquet keep them exactly."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import run, run_json, softmax, write_table
from xentcli.textsafe import csv_text, shown

RNG = np.random.default_rng(21)

# class names (score columns and labels): a hyperlink, a formula, a mention, a URL, HTML
CLASSES = [
    "\x1b]8;;http://x\x07click\x1b]8;;\x07",
    '=HYPERLINK("x")\u202e',
    "@user\x00",
    "https://evil.example<script>",
]
IDS = [
    "\x1b[31m",
    "\u202eabc",
    "\x00z",
    '=HYPERLINK("x")',
    "+1",
    "-cmd",
    "@user",
    "https://evil.example",
    "a|b",
    "<script>",
    "\x9b2J",
    "\tlead",
]
GROUP = "=g\x1b[31m"  # a --group-by column whose name starts a formula
GROUP_VALUES = ["\x1b[2J", "-x", "\u2066y"]

# a raw control (C0 but the line feed, DEL, C1) or bidirectional character
RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def assert_no_raw(text: str) -> None:
    found = RAW.findall(text)
    assert not found, (found, text)


def hostile_table(n: int = len(IDS) * 2, *, shift: float = 0.0) -> pa.Table:
    p = softmax(RNG.normal(size=(n, len(CLASSES))) + shift)
    cols: dict[str, Any] = {c: p[:, j] for j, c in enumerate(CLASSES)}
    cols["label"] = [CLASSES[i % len(CLASSES)] for i in range(n)]
    cols["id"] = [IDS[i % len(IDS)] + ("" if i < len(IDS) else "#2") for i in range(n)]
    cols[GROUP] = [GROUP_VALUES[i % len(GROUP_VALUES)] for i in range(n)]
    return pa.table(cols)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return write_table(tmp_path / "h.parquet", hostile_table())


ARGS = ["--id-col", "id", "--group-by", GROUP, "--worst", str(len(IDS) * 2)]


def test_the_rule() -> None:
    assert shown("a\x1b[31mb\x00\x7f\x9b\u202e\u2066\u200f\u061c\t\n\r") == (
        "a\\x1b[31mb\\x00\\x7f\\x9b\\u202e\\u2066\\u200f\\u061c\\t\\n\\r"
    )
    assert shown("plain é 名前 ∞") == "plain é 名前 ∞"
    assert [csv_text(s) for s in ("=1", "+1", "-cmd", "@u", "\tx", "\rx", "a=b", "")] == [
        "'=1",
        "+1",  # a signed number is a number to a spreadsheet, not a formula
        "'-cmd",
        "'@u",
        "'\\tx",
        "'\\rx",
        "a=b",
        "",
    ]


def test_table_shows_names_ids_and_slices_escaped(hostile: Path) -> None:
    res = run(["compute", hostile, *ARGS])
    assert res.exit_code == 0, res.stderr
    assert_no_raw(res.stdout)
    for text in [*CLASSES, *IDS, GROUP, *GROUP_VALUES]:
        assert shown(text) in res.stdout, text
    assert "\\x1b]8;;http://x\\x07click" in res.stdout and "\\u202e" in res.stdout


def test_json_keeps_every_string_exactly(hostile: Path) -> None:
    out = run_json(["compute", hostile, *ARGS])
    assert [c["class"] for c in out["per_class"]] == CLASSES
    assert sorted(w["id"] for w in out["worst"]) == sorted(hostile_table()["id"].to_pylist())
    assert {w["y_true"] for w in out["worst"]} <= set(CLASSES)
    assert sorted(g["group"][GROUP] for g in out["groups"]) == sorted(GROUP_VALUES)


def test_markdown_links_mentions_html_and_controls_are_neutral(hostile: Path) -> None:
    res = run(["compute", hostile, *ARGS, "--format", "markdown"])
    assert res.exit_code == 0, res.stderr
    md = res.stdout
    assert_no_raw(md)
    assert "https://" not in md and "http://" not in md and "https&#8203;://" in md
    assert not re.search(r"@[0-9A-Za-z]", md) and "@&#8203;user" in md
    assert "<script>" not in md and r"\<script\>" in md
    assert r"a\|b" in md and "\\\\x1b" in md  # the escape's backslash, escaped for Markdown
    # every row of a table has as many cells as its header
    for block in md.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({len(re.findall(r"(?<!\\)\|", row)) for row in rows}) <= 1, block


def text_cells(rows: list[list[str]], header: list[str], name: str) -> list[str]:
    return [row[header.index(name)] for row in rows]


def assert_numbers(cells: list[str]) -> None:
    for cell in cells:
        if cell:
            float(cell)  # a number we wrote stays a number (no quote before -0.5 or -inf)


def test_csv_prefixes_text_that_starts_a_formula_and_never_a_number(hostile: Path) -> None:
    res = run(["compute", hostile, *ARGS, "--format", "csv"])
    assert res.exit_code == 0, res.stderr
    assert_no_raw(res.stdout.replace("\r\n", "\n"))
    header, *rows = list(csv.reader(io.StringIO(res.stdout)))
    classes = [row[1] for row in rows if row[0] == "class"]
    assert classes == [csv_text(c) for c in CLASSES]
    assert classes[1].startswith("'=") and classes[2].startswith("'@")
    assert classes[0].startswith("\\x1b") and classes[3].startswith("https")
    groups = [row[1] for row in rows if row[0] == "group"]
    assert groups and all(g.startswith("'=g\\x1b[31m=") for g in groups)
    for name in header[2:]:
        if name not in ("unit", "task", "input", "reduction"):
            assert_numbers(text_cells(rows, header, name))
    assert any(c.startswith("-") for c in text_cells(rows, header, "information_gain"))


def per_sample(tmp_path: Path, hostile: Path, suffix: str) -> Path:
    target = tmp_path / f"rows.{suffix}"
    args = ["--pred-cols", ",".join(CLASSES), "--id-col", "id", "--per-sample", target]
    res = run(["compute", hostile, *args, "--quiet"])
    assert res.exit_code == 0, res.stderr
    return target


def test_per_sample_csv_is_escaped_and_parquet_exact(tmp_path: Path, hostile: Path) -> None:
    table = hostile_table()
    text = per_sample(tmp_path, hostile, "csv").read_text(encoding="utf-8")
    assert_no_raw(text)
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["id", "loss", "y_true", "y_pred"]
    assert [row[0] for row in rows] == [csv_text(i) for i in table["id"].to_pylist()]
    assert {"'-cmd", "+1", "'@user", '\'=HYPERLINK("x")', "'\\tlead", "a|b"} <= {
        row[0] for row in rows
    }
    assert [row[2] for row in rows] == [csv_text(c) for c in table["label"].to_pylist()]
    assert {row[3] for row in rows} <= {csv_text(c) for c in CLASSES}
    assert_numbers([row[1] for row in rows])

    exact = pq.read_table(per_sample(tmp_path, hostile, "parquet"))
    assert exact["id"].to_pylist() == table["id"].to_pylist()
    assert exact["y_true"].to_pylist() == table["label"].to_pylist()
    assert set(exact["y_pred"].to_pylist()) <= set(CLASSES)


def test_per_sample_csv_keeps_numeric_ids_numbers(tmp_path: Path) -> None:
    p = softmax(RNG.normal(size=(4, 2)))
    src = write_table(
        tmp_path / "n.parquet",
        pa.table({"a": p[:, 0], "b": p[:, 1], "label": [0, 1, 0, 1], "id": [-5, -1, 0, 3]}),
    )
    target = tmp_path / "rows.csv"
    res = run(["compute", src, "--id-col", "id", "--per-sample", target, "--quiet"])
    assert res.exit_code == 0, res.stderr
    rows = list(csv.reader(io.StringIO(target.read_text())))[1:]
    assert [row[0] for row in rows] == ["-5", "-1", "0", "3"]


def test_multilabel_per_sample_cells_are_prefixed_whole(tmp_path: Path) -> None:
    names = ["-a\x1b[1m", "b"]
    src = write_table(
        tmp_path / "m.parquet",
        pa.table({names[0]: [0.9, 0.2], "b": [0.1, 0.8], "t0": [1, 0], "t1": [1, 1]}),
    )
    target = tmp_path / "rows.csv"
    args = ["compute", src, "--pred-cols", ",".join(names), "--target-cols", "t0,t1"]
    res = run([*args, "--task", "multilabel", "--per-sample", target, "--quiet"])
    assert res.exit_code == 0, res.stderr
    text = target.read_text()
    assert_no_raw(text)
    assert "'-a\\x1b[1m|b" in text


def test_inspect_table_and_json(hostile: Path) -> None:
    res = run(["inspect", hostile])
    assert res.exit_code == 0, res.stderr
    assert_no_raw(res.stdout)
    assert shown(CLASSES[0]) in res.stdout and shown(IDS[0]) in res.stdout
    out = json.loads(run(["inspect", hostile, "--format", "json"]).stdout)
    assert [c["name"] for c in out["columns"]] == [*CLASSES, "label", "id", GROUP]


def test_compare_in_every_format(tmp_path: Path) -> None:
    a = write_table(tmp_path / "a.parquet", hostile_table(40))
    b_table = hostile_table(40)
    labels = b_table["label"].to_pylist()
    sure = np.array([[0.97 if c == y else 0.01 for c in CLASSES] for y in labels])
    b_table = pa.table({**{c: sure[:, j] for j, c in enumerate(CLASSES)}, "label": labels})
    b = write_table(tmp_path / "b.parquet", b_table)
    args = ["compare", a, b, "--pred-cols", ",".join(CLASSES)]
    table = run(args)
    assert table.exit_code == 0, table.stderr
    assert_no_raw(table.stdout)
    assert shown(CLASSES[0]) in table.stdout
    md = run([*args, "--format", "markdown"]).stdout
    assert_no_raw(md)
    assert "https://" not in md and not re.search(r"@[0-9A-Za-z]", md)
    text = run([*args, "--format", "csv"]).stdout
    assert_no_raw(text)
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert "loss_mean of " + shown(CLASSES[1]) in [row[0] for row in rows]
    for column in ("A", "B", "B - A"):
        assert_numbers(text_cells(rows, header, column))
    assert any(c.startswith("-") for c in text_cells(rows, header, "B - A"))  # B is better
    out = json.loads(run([*args, "--format", "json"]).stdout)
    assert [c["class"] for c in out["a"]["per_class"]] == CLASSES


def test_explain_table(tmp_path: Path) -> None:
    names = ",".join(["\x1b[31mred", "\u202eb"])
    res = run(["explain", "--probs", "0.3,0.7", "--label", "1", "--class-names", names])
    assert res.exit_code == 0, res.stderr
    assert_no_raw(res.stdout)
    assert "\\x1b[31mred" in res.stdout and "\\u202eb" in res.stdout


def one_error(res: Any) -> str:
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    assert res.stderr.startswith("xent: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert_no_raw(res.stderr)
    return str(res.stderr)


def test_error_messages_show_data_escaped(tmp_path: Path, hostile: Path) -> None:
    # column names listed in a message
    err = one_error(run(["compute", hostile, "--label-col", "nope"]))
    assert shown(CLASSES[0]) in err and "'\\x1b]8;;http://x\\x07click" in err
    # a label value quoted from a cell
    bad = write_table(
        tmp_path / "bad.parquet",
        pa.table({"a": [0.5, 0.4], "b": [0.5, 0.6], "label": ["a", "zz\x1b]8;;http://x\x07"]}),
    )
    err = one_error(run(["compute", bad]))
    assert "zz\\x1b]8;;http://x\\x07" in err
    # an option value given on the command line (a usage error from the parser)
    err = one_error(run(["compute", hostile, "--format", "x\x1b[2J"]))
    assert "x\\x1b[2J" in err
    # a --group-by value that names no column
    err = one_error(run(["compute", hostile, "--id-col", "id", "--group-by", "\u202eg"]))
    assert "\\u202eg" in err


def test_baseline_strings_in_messages_are_escaped(tmp_path: Path, hostile: Path) -> None:
    report = run_json(["compute", hostile, *ARGS])
    report["unit"] = "bits\x1b[2J\u202e"
    base = tmp_path / "base.json"
    base.write_text(json.dumps(report))
    err = one_error(run(["compute", hostile, *ARGS, "--baseline", base]))
    assert "bits\\x1b[2J\\u202e" in err
    report["unit"] = "nats"
    report["task"] = ["\x1b[31m"]  # not a string: its kind is named, with its text escaped
    base.write_text(json.dumps(report))
    one_error(run(["compute", hostile, *ARGS, "--baseline", base]))


def test_notes_and_gate_failures_are_one_escaped_line(tmp_path: Path, hostile: Path) -> None:
    report = run_json(["compute", hostile, *ARGS])
    del report["options"]  # an older xent's report: a note says the options cannot be checked
    report["loss"] = report["loss"] / 2
    base = tmp_path / "base.json"
    base.write_text(json.dumps(report))
    res = run(["compute", hostile, *ARGS, "--baseline", base, "--max-increase", "1%"])
    assert res.exit_code == 1, res.stderr
    assert_no_raw(res.stderr) and assert_no_raw(res.stdout)
    lines = res.stderr.splitlines()
    assert any(line.startswith("xent: note: ") for line in lines)
    assert any(line.startswith("xent: gate failed: ") for line in lines)
    md = run(["compute", hostile, *ARGS, "--baseline", base, "--format", "markdown"]).stdout
    assert_no_raw(md)


def test_notebook_html_is_escaped() -> None:
    from xentcli import compute

    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    report = compute(p, labels=[0, 1], class_names=["\x1b[31m<b>x</b>", "\u202eb"])
    html = report._repr_html_()
    assert_no_raw(html)
    assert "\\x1b[31m&lt;b&gt;x&lt;/b&gt;" in html and "\\u202eb" in html


# -- fuzz: any name from a hostile alphabet, through every text format ---------------------

_TOKENS = [
    *"\x00\x07\x08\x1b\x7f\x85\x9b\u061c\u200e\u202a\u202e\u2066\u2028",
    *"=+-@|<>&[]*_`$#:/ \t\nabz0",
    "https://",
    "www.",
    "@x",
]
_HOSTILE = (
    st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=6)
    .map("".join)
    .filter(lambda s: any(c.isalnum() for c in s) and "," not in s)
)
_RAW = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


@settings(max_examples=12, deadline=None)
@given(names=st.lists(_HOSTILE, min_size=2, max_size=3, unique_by=str.strip))
def test_fuzz_hostile_class_names_never_reach_a_text_format_raw(names: list[str]) -> None:
    import tempfile

    names = [n.strip() for n in names]
    if len(set(names)) != len(names):
        return
    with tempfile.TemporaryDirectory() as d:
        p = softmax(RNG.normal(size=(6, len(names))))
        y = [names[i % len(names)] for i in range(6)]  # (NumPy's str arrays cut at a NUL)
        path = Path(d) / "p.parquet"
        pq.write_table(pa.table({**{n: p[:, j] for j, n in enumerate(names)}, "label": y}), path)
        out = run_json(["compute", path])
        assert out["classes"] == names  # JSON keeps them exactly
        for fmt in ("table", "markdown", "csv"):
            res = run(["compute", path, "--format", fmt])
            assert res.exit_code == 0, res.stderr
            assert not _RAW.search(res.stdout.replace("\n", "")), (fmt, res.stdout)
            if fmt == "csv":
                for row in csv.reader(io.StringIO(res.stdout)):
                    assert not row[1].startswith(("=", "+", "-", "@")), row
        bad = Path(d) / "bad.parquet"
        pq.write_table(pa.table({**{n: p[:, j] * 2 for j, n in enumerate(names)}, "label": y}), bad)
        res = run(["compute", bad, "--pred-cols", ",".join(names)])
        assert res.exit_code == 2 and not _RAW.search(res.stderr.rstrip("\n")), res.stderr
