"""--format html (one self-contained page, SVG charts drawn here) and --format markdown --plot
(the reliability diagram as a Mermaid chart).

Structural tests always run: the page parses with balanced tags, names no address, shows the
JSON's numbers, draws one mark per bin, escapes the data's text. The browser tests (headless
Chromium) and the Mermaid check (Mermaid's own parser, in Chromium) skip where those are not
installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import run, wide_table, write_table

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "sample_data"
GOLDEN = Path(__file__).parent / "golden"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "area", "base", "source"}
# SVG elements written self-closed (<line/>): the parser reports them as start-end tags


class Page(HTMLParser):
    """The page as a tree-less record: every element with its attributes and the text in it,
    the open-tag stack checked at every end tag."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.doctype = ""
        self.rows: list[tuple[str | None, list[str], dict[str, str | None]]] = []
        self._table: list[str | None] = []
        self._row: list[str] | None = None
        self._row_attrs: dict[str, str | None] = {}
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self._table.append(a.get("class"))
        elif tag == "tr":
            self._row, self._row_attrs = [], a
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append((self._table[-1] if self._table else None, self._row, self._row_attrs))
            self._row = None
        elif tag == "table":
            self._table.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def table(self, css_class: str) -> list[tuple[list[str], dict[str, str | None]]]:
        """The body rows (not the header) of the table of that class."""
        rows = [(cells, attrs) for t, cells, attrs in self.rows if t == css_class]
        return rows[1:]

    def marks(self, tag: str, css_class: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and a.get("class") == css_class]


def svg(page: Page, css_class: str) -> list[tuple[str, dict[str, str | None]]]:
    """The elements of the (first) <svg> of that class."""
    out: list[tuple[str, dict[str, str | None]]] = []
    inside = False
    for tag, attrs in page.elements:
        if tag == "svg":
            if inside:
                break
            inside = attrs.get("class") == f"chart {css_class}"
            continue
        if inside:
            out.append((tag, attrs))
    return out


def shows(text: str, x: float | int | None) -> bool:
    """Whether ``text`` is ``x`` rounded to the digits it shows (6.5% is 0.0650 +- 0.0005)."""
    text = text.strip()
    if x is None:
        return text in ("-", "nan", "inf", "-inf", "")
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1], 0.01
    m = re.fullmatch(r"([-+]?\d+)(?:\.(\d+))?(?:e([-+]\d+))?", text)
    assert m, f"not a number: {text!r}"
    decimals = len(m[2] or "")
    exponent = int(m[3] or 0)
    half_ulp = 0.5 * 10.0 ** (exponent - decimals) * scale
    return abs(float(text) * scale - x) <= half_ulp * (1 + 1e-9) + 1e-15


def lookup(report: dict[str, Any], key: str) -> Any:
    node: Any = report
    for part in key.split("."):
        node = node[part]
    return node


def html_of(args: list[Any]) -> tuple[Page, str]:
    res = run(["compute", *args, "--format", "html"])
    assert res.exit_code == 0, res.stderr
    page = Page(res.stdout)
    assert not page.errors, page.errors
    return page, res.stdout


def json_of(args: list[Any], command: str = "compute") -> dict[str, Any]:
    res = run([command, *args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    out: dict[str, Any] = json.loads(res.stdout)
    return out


DIGITS = [SAMPLES / "digits_logits.parquet", "--logits", "--worst", "5"]
IRIS = [SAMPLES / "iris_probs.csv", "--id-col", "flower_id", "--worst", "3"]


def assert_self_contained(text: str) -> None:
    assert not re.search(r"(?i)https?:", text)
    assert not re.search(r"(?i)<script", text)
    assert not re.search(r"(?i)\b(src|href|srcset|action|xlink:href)\s*=", text)
    assert not re.search(r"(?i)@import|url\(|<link|<iframe|<object|<embed|<img", text)


@pytest.mark.parametrize("args", [DIGITS, IRIS], ids=["digits", "iris"])
def test_page_is_valid_and_self_contained(args: list[Any]) -> None:
    page, text = html_of(args)
    assert page.doctype.lower() == "doctype html"
    assert text.startswith("<!DOCTYPE html>\n")
    assert ("meta", {"charset": "utf-8"}) in page.elements
    assert [t for t, _ in page.elements].count("title") >= 1
    assert [t for t, _ in page.elements].count("style") == 1  # the CSS, inline
    assert_self_contained(text)
    for section in ("figures", "charts", "per-class", "worst"):
        assert ("section", {"id": section}) in page.elements


@pytest.mark.parametrize("args", [DIGITS, IRIS], ids=["digits", "iris"])
def test_every_number_shown_is_the_jsons(args: list[Any]) -> None:
    page, _ = html_of(args)
    report = json_of([*args, "--plot"])
    figures = page.table("figures")
    assert len(figures) == len(report["metrics"]) + 7  # n .. unit, and every metric
    for cells, attrs in figures:
        key = attrs["data-key"]
        assert key is not None
        value = lookup(report, key)
        if isinstance(value, str):
            assert cells[1] == value
        else:
            assert shows(cells[1], value), (key, cells[1], value)
    classes = page.table("per-class")
    assert [c[0] for c, _ in classes] == [*report["classes"], "total"]
    for (cells, _), row in zip(classes, report["per_class"], strict=False):
        for text, key in zip(cells[1:], ("support", "loss_sum", "loss_mean", "share"), strict=True):
            assert shows(text, row[key]), (row["class"], key, text, row[key])
    total = classes[-1][0]
    assert shows(total[2], report["loss_sum"]) and shows(total[3], report["loss_mean"])
    worst = page.table("worst")
    assert len(worst) == len(report["worst"])
    for (cells, _), w in zip(worst, report["worst"], strict=True):
        row, *rest = cells
        assert int(row) == w["row"]
        loss, y_true, y_pred, p_true = rest[-4:]
        assert shows(loss, w["loss"]) and shows(p_true, w["p_true"])
        assert (y_true, y_pred) == (w["y_true"], w["y_pred"])


def test_charts_have_one_mark_per_bin() -> None:
    page, _ = html_of(DIGITS)
    report = json_of([*DIGITS, "--plot"])
    bins = report["calibration"]
    reliability = svg(page, "reliability")
    bars = [a for t, a in reliability if t == "rect" and a.get("class") == "bar"]
    assert len(bars) == len(bins) > 3
    for bar, b in zip(bars, bins, strict=True):
        for key in ("lo", "hi", "weight", "confidence", "accuracy"):
            assert float(bar[f"data-{key}"] or "nan") == b[key]
        assert 0.25 <= float(bar["fill-opacity"] or 0) <= 1
    weights = [a for t, a in reliability if t == "rect" and a.get("class") == "weight"]
    assert [float(a["data-weight"] or 0) for a in weights] == [b["weight"] for b in bins]
    assert len([a for t, a in reliability if a.get("class") == "confidence"]) == len(bins)
    assert [t for t, a in reliability if a.get("class") == "diagonal"] == ["path"]
    hist = [a for t, a in svg(page, "loss-histogram") if t == "rect"]
    filled = [h for h in report["loss_histogram"] if h["rows"]]
    assert [int(a["data-rows"] or 0) for a in hist] == [h["rows"] for h in filled]
    assert sum(int(a["data-rows"] or 0) for a in hist) == report["n"]
    class_bars = [a for t, a in svg(page, "class-loss") if t == "rect"]
    assert [float(a["data-loss-mean"] or 0) for a in class_bars] == [
        c["loss_mean"] for c in report["per_class"]
    ]


def test_output_by_extension_and_slices(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    args = [SAMPLES / "cancer_logreg.csv", "--id-col", "patient_id", "--group-by", "size"]
    res = run(["compute", *args, "--output", out, "--output", tmp_path / "r.json"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    page = Page(out.read_text(encoding="utf-8"))
    assert not page.errors
    report = json.loads((tmp_path / "r.json").read_text())
    slices = page.table("slices")
    assert len(slices) == len(report["groups"])
    header = next(c for t, c, _ in page.rows if t == "slices")
    for (cells, _), g in zip(slices, report["groups"], strict=True):
        assert cells[0] == g["group"]["size"]
        for h, text in zip(header[1:], cells[1:], strict=True):
            value = g["n"] if h == "n" else g["metrics"].get(h, g.get(h))
            assert shows(text, value), (h, text, value)


def test_gates_are_shown_passed_and_failed(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    base = tmp_path / "base.json"
    assert run(["compute", *IRIS, "--output", base]).exit_code == 0
    res = run(
        [
            "compute",
            *IRIS,
            "--output",
            out,
            "--max-loss",
            "0.01",
            "--check",
            "metrics.accuracy>=0.5",
            "--baseline",
            base,
            "--max-increase",
            "1%",
        ]
    )
    assert res.exit_code == 1  # --max-loss 0.01 fails, and the page is written all the same
    page = Page(out.read_text(encoding="utf-8"))
    gates = [a.get("class") for t, a in page.elements if t == "li"]
    assert gates == ["gate fail", "gate pass", "gate pass"]
    text = out.read_text()
    assert "1 of 3 failed" in text and "--max-loss 0.01: loss is" in text
    header = next(c for t, c, _ in page.rows if t == "figures")
    assert header == ["figure", "value", "baseline", "delta"]
    loss = next(c for c, a in page.table("figures") if a["data-key"] == "loss")
    assert loss[3] == "0"  # the same run: no change


def test_data_text_is_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(2), size=20)
    labels = np.array([evil if i % 2 else "b&c" for i in range(20)])
    path = write_table(tmp_path / "p.csv", wide_table(p, labels, names=[evil, "b&c"]))
    page, text = html_of([path, "--worst", "2"])
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "b&amp;c" in text
    assert [c[0] for c, _ in page.table("per-class")] == [evil, "b&c", "total"]


def test_temperature_block_when_the_result_has_one(tmp_path: Path) -> None:
    """--fit-temperature's block: every figure shown equals the JSON's, for compute and for
    compare (each model's, side by side); none without the option."""
    from xentcli.api import compare, compute
    from xentcli.render.html import comparison_page, report_page

    plain = compute(str(SAMPLES / "iris_probs.csv"), id_col="flower_id")
    fitted = compute(str(SAMPLES / "iris_probs.csv"), id_col="flower_id", fit_temperature=True)
    ts = fitted.to_dict()["temperature_scaling"]
    page = Page(report_page(fitted.result))
    assert not page.errors
    rows = page.table("temperature")
    assert [a["data-key"] for _, a in rows] == [
        "temperature_scaling.temperature",
        "temperature_scaling.loss_mean",
        "temperature_scaling.calibration_loss",
        "temperature_scaling.ece",
    ]
    for cells, a in rows:
        assert shows(cells[1], ts[str(a["data-key"]).split(".")[1]])
    assert ("section", {"id": "temperature"}) not in Page(report_page(plain.result)).elements
    c = compare(
        *map(str, CANCER[:2]), id_col="patient_id", group_by=["size"], fit_temperature=True
    ).comparison
    both = Page(comparison_page(c))
    assert not both.errors
    assert ("section", {"id": "temperature"}) in both.elements
    keyed = [(cells, a) for cells, a in both.table("temperature") if a.get("data-key")]
    assert len(keyed) == 8  # four figures of each model
    shown_t = [cells[1] for cells, a in keyed if a["data-key"].endswith(".temperature")]
    for cells, model in zip(shown_t, (c.a, c.b), strict=True):
        assert shows(cells, model.to_dict()["temperature_scaling"]["temperature"])


CANCER = [SAMPLES / "cancer_logreg.csv", SAMPLES / "cancer_boosting.csv", "--id-col", "patient_id"]


def test_compare_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "c.html"
    args = [*CANCER, "--group-by", "size"]
    res = run(["compare", *args, "--output", out, "--check", "difference.ci.high<0"])
    assert res.exit_code == 1  # B is the worse model here
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert not page.errors
    assert_self_contained(text)
    report = json_of(args, "compare")
    reliability = [a for t, a in page.elements if t == "svg" and "reliability" in str(a["class"])]
    hist = [a for t, a in page.elements if t == "svg" and "loss-histogram" in str(a["class"])]
    assert len(reliability) == len(hist) == 2
    intervals = page.marks("g", "interval")
    assert len(intervals) == 1 + len(report["groups"])
    d = report["difference"]
    assert float(intervals[0]["data-difference"] or 0) == pytest.approx(d["loss_mean"], rel=1e-12)
    assert float(intervals[0]["data-low"] or 0) == pytest.approx(d["ci"]["low"], rel=1e-12)
    per_class = page.table("per-class")
    assert [c[0] for c, _ in per_class] == report["a"]["classes"]
    for (cells, _), ra, rb in zip(
        per_class, report["a"]["per_class"], report["b"]["per_class"], strict=True
    ):
        assert shows(cells[4], ra["loss_mean"]) and shows(cells[5], rb["loss_mean"])
        assert shows(cells[2], ra["loss_sum"]) and shows(cells[3], rb["loss_sum"])
    figures = {c[0]: c for c, _ in page.table("figures")}
    assert shows(figures["loss (mean)"][1], report["a"]["loss"])
    assert shows(figures["loss (mean)"][2], report["b"]["loss"])
    assert len(page.table("slices")) == len(report["groups"])
    assert [a.get("class") for t, a in page.elements if t == "li"] == ["gate fail"]


# --- Mermaid: the reliability diagram in Markdown

NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"  # Mermaid's xychart data grammar


def mermaid_block(markdown: str) -> list[str]:
    blocks = re.findall(r"```mermaid\n(.*?)\n```", markdown, flags=re.S)
    assert len(blocks) == 1
    return str(blocks[0]).split("\n")


def parse_xychart(lines: list[str]) -> dict[str, Any]:
    """The chart's parts, each line checked against the xychart-beta grammar."""
    assert lines[0] == "xychart-beta"
    out: dict[str, Any] = {}
    for line in lines[1:]:
        if m := re.fullmatch(r'    title "([^"\n]*)"', line):
            out["title"] = m[1]
        elif m := re.fullmatch(r'    x-axis "([^"]*)" \[((?:"[^"]*", )*"[^"]*")\]', line):
            out["x"] = re.findall(r'"([^"]*)"', m[2])
        elif m := re.fullmatch(rf'    y-axis "([^"]*)" ({NUMBER}) --> ({NUMBER})', line):
            out["y"] = (float(m[2]), float(m[3]))
        elif m := re.fullmatch(rf"    (bar|line) \[((?:{NUMBER}, )*{NUMBER})\]", line):
            out[m[1]] = [float(v) for v in m[2].split(", ")]
        else:
            raise AssertionError(f"not xychart-beta: {line!r}")
    return out


@pytest.mark.parametrize("args", [DIGITS, IRIS], ids=["digits", "iris"])
def test_markdown_plot_has_a_mermaid_reliability_chart(args: list[Any]) -> None:
    res = run(["compute", *args, "--format", "markdown", "--plot"])
    assert res.exit_code == 0, res.stderr
    chart = parse_xychart(mermaid_block(res.stdout))
    bins = json_of([*args, "--plot"])["calibration"]
    assert len(chart["x"]) == len(chart["bar"]) == len(chart["line"]) == len(bins)
    assert chart["x"] == [f"{b['lo']:.2f}-{b['hi']:.2f}" for b in bins]
    assert chart["bar"] == [round(b["accuracy"], 4) for b in bins]
    assert chart["line"] == [round(b["confidence"], 4) for b in bins]
    assert chart["y"] == (0.0, 1.0)
    without = run(["compute", *args, "--format", "markdown"]).stdout
    assert "```mermaid" not in without and res.stdout.startswith(without)


def test_mermaid_leaves_empty_bins_out(tmp_path: Path) -> None:
    # four rows, four confidences: 4 of the 15 bins hold rows
    p = np.array([[0.7, 0.3], [0.2, 0.8], [0.45, 0.55], [0.99, 0.01]])
    path = write_table(tmp_path / "p.csv", wide_table(p, np.array([0, 1, 0, 0])))
    res = run(["compute", path, "--format", "markdown", "--plot"])
    chart = parse_xychart(mermaid_block(res.stdout))
    assert chart["x"] == ["0.53-0.60", "0.67-0.73", "0.80-0.87", "0.93-1.00"]
    assert chart["bar"] == [0.0, 1.0, 1.0, 1.0]
    assert chart["line"] == [0.55, 0.7, 0.8, 0.99]


# --- in a real browser (skipped where there is none)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    return None


def _headless(page: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HOME": str(page.parent)},
    )


@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed")
def test_browser_renders_the_page(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    res = run(["compute", *DIGITS, "--output", out])
    assert res.exit_code == 0, res.stderr
    shot = tmp_path / "shot.png"
    done = _headless(out, f"--screenshot={shot}", "--window-size=1100,1600")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # no console message (a blocked or failed load, a parse error) about the page
    assert "CONSOLE" not in done.stderr and "net::ERR" not in done.stderr, done.stderr
    dom = _headless(out, "--dump-dom").stdout
    assert dom.count("<svg") == 3 and 'class="total"' in dom
    assert "<parsererror" not in dom


def _mermaid_js() -> Path | None:
    where = os.environ.get("XENT_MERMAID_JS")
    return Path(where) if where and Path(where).is_file() else None


@pytest.mark.skipif(
    _chromium() is None or _mermaid_js() is None,
    reason="needs Chromium and XENT_MERMAID_JS=path/to/mermaid.min.js (npm install mermaid)",
)
def test_mermaid_itself_draws_the_chart(tmp_path: Path) -> None:
    """Mermaid's own parser and renderer, in the browser: an xychart drawn, no syntax error."""
    res = run(["compute", *IRIS, "--format", "markdown", "--plot"])
    chart = "\n".join(mermaid_block(res.stdout))
    js = _mermaid_js()
    assert js is not None
    shutil.copy(js, tmp_path / "mermaid.min.js")
    page = tmp_path / "m.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><script src="mermaid.min.js">'
        '</script></head><body><pre class="mermaid">'
        + chart.replace("&", "&amp;").replace("<", "&lt;")
        + "</pre><script>mermaid.initialize({startOnLoad: true});</script></body></html>",
        encoding="utf-8",
    )
    dom = _headless(page, "--virtual-time-budget=5000", "--dump-dom").stdout
    assert 'aria-roledescription="xychart"' in dom, dom[-2000:]
    assert "Syntax error" not in dom
    assert dom.count('class="bar-plot-0"') == 1


# --- golden


def test_golden_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page of the golden files' four pets, made in their folder (the path shown is the
    one given)."""
    rows = [((0.7, 0.2, 0.1), "cat"), ((0.1, 0.8, 0.1), "dog"), ((0.2, 0.2, 0.6), "fish")]
    rows.append(((0.25, 0.5, 0.25), "cat"))
    lines = ["cat,dog,fish,label"] + [",".join(map(str, p)) + f",{y}" for p, y in rows]
    (tmp_path / "pets.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    res = run(["compute", "pets.csv", "--format", "html", "--worst", "2"])
    assert res.exit_code == 0, res.stderr
    golden = GOLDEN / "pets.html"
    if os.environ.get("XENT_UPDATE_GOLDEN"):
        golden.write_text(res.stdout, encoding="utf-8")
    assert res.stdout == golden.read_text(encoding="utf-8")


def test_infinite_and_undefined_figures(tmp_path: Path) -> None:
    """--clip-eps 0 and a zero probability: an infinite loss, a class with no rows (nan); the
    page still parses, says inf and nan, and draws the rows it has."""
    path = tmp_path / "p.csv"
    path.write_text("a,b,label\n0,1,a\n1,0,a\n")
    res = run(["compute", path, "--clip-eps", "0", "--format", "html"])
    assert res.exit_code == 0, res.stderr
    page = Page(res.stdout)
    assert not page.errors
    figures = {a["data-key"]: c[1] for c, a in page.table("figures")}
    assert figures["loss"] == "inf" and figures["metrics.normalized_entropy"] == "nan"
    hist = [a for t, a in svg(page, "loss-histogram") if t == "rect"]
    assert [int(a["data-rows"] or 0) for a in hist] == [1, 1]
    assert "no rows" not in res.stdout


def test_sample_weights_note_and_interval(tmp_path: Path) -> None:
    """An .npz's weights array is named on the page (as on the terminal); --ci's interval is
    a row of the figures."""
    rng = np.random.default_rng(1)
    path = tmp_path / "w.npz"
    np.savez(
        path,
        scores=rng.dirichlet(np.ones(3), size=30),
        labels=rng.integers(0, 3, 30),
        weights=rng.uniform(0.5, 2, 30),
    )
    page, text = html_of([path, "--ci", "0.9", "--replicates", "50"])
    assert "sample weights: the &#x27;weights&#x27; array of" in text
    report = json_of([path, "--ci", "0.9", "--replicates", "50"])
    ci = next(c[1] for c, a in page.table("figures") if a["data-key"] == "ci")
    low, high = ci.split(" .. ")
    assert shows(low, report["ci"]["loss_mean"][0]) and shows(high, report["ci"]["loss_mean"][1])
    assert "(weighted)" in text  # the legend says the supports are weighted
