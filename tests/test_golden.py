"""Golden files for the four output formats, on a small input whose numbers are checked by hand.

Set XENT_UPDATE_GOLDEN=1 to rewrite the files after an intended change, then review the diff.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from tests.helpers import run

GOLDEN = Path(__file__).parent / "golden"
ROWS = [  # cat, dog, fish probabilities and the true class
    ((0.7, 0.2, 0.1), "cat"),
    ((0.1, 0.8, 0.1), "dog"),
    ((0.2, 0.2, 0.6), "fish"),
    ((0.25, 0.5, 0.25), "cat"),
]


@pytest.fixture
def preds(tmp_path: Path) -> Path:
    lines = ["cat,dog,fish,label"] + [",".join(map(str, p)) + f",{y}" for p, y in ROWS]
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_numbers_by_hand(preds: Path) -> None:
    out = json.loads(run(["compute", preds, "--format", "json"]).stdout)
    # -ln 0.7, -ln 0.8, -ln 0.6, -ln 0.25
    by_hand = [0.35667494393873245, 0.2231435513142097, 0.5108256237659907, 1.3862943611198906]
    assert out["loss_sum"] == pytest.approx(sum(by_hand), rel=1e-15)
    assert out["loss"] == pytest.approx(sum(by_hand) / 4, rel=1e-15)
    assert out["perplexity"] == pytest.approx(math.exp(sum(by_hand) / 4), rel=1e-15)
    assert [c["loss_sum"] for c in out["per_class"]] == pytest.approx(
        [by_hand[0] + by_hand[3], by_hand[1], by_hand[2]], rel=1e-15
    )
    assert [c["support"] for c in out["per_class"]] == [2, 1, 1]
    assert out["metrics"]["accuracy"] == 0.75  # row 4 predicts dog
    m = out["metrics"]
    # Brier: (0.09+0.04+0.01) + (0.01+0.04+0.01) + (0.04+0.04+0.16) + (0.5625+0.25+0.0625)
    assert m["brier"] == pytest.approx(1.315 / 4, rel=1e-14)
    # four confidences in four bins: |1-0.7|, |1-0.8|, |1-0.6|, |0-0.5|
    assert m["ece"] == pytest.approx((0.3 + 0.2 + 0.4 + 0.5) / 4, rel=1e-14)
    assert m["mce"] == pytest.approx(0.5, rel=1e-14)

    def h(*p: float) -> float:
        return -sum(v * math.log(v) for v in p)

    ent = (h(0.7, 0.2, 0.1) + h(0.1, 0.8, 0.1) + h(0.2, 0.2, 0.6) + h(0.25, 0.5, 0.25)) / 4
    assert m["entropy"] == pytest.approx(ent, rel=1e-14)
    assert m["prior_entropy"] == pytest.approx(h(0.5, 0.25, 0.25), rel=1e-14)
    assert m["normalized_entropy"] == pytest.approx(out["loss"] / h(0.5, 0.25, 0.25), rel=1e-14)
    assert m["information_gain"] == pytest.approx(1 - m["normalized_entropy"], rel=1e-14)


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_golden(preds: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    res = run(["compute", preds, "--format", fmt])
    assert res.exit_code == 0, res.stderr
    golden = GOLDEN / f"pets.{fmt if fmt != 'markdown' else 'md'}"
    if fmt == "table":
        golden = GOLDEN / "pets.txt"
    if os.environ.get("XENT_UPDATE_GOLDEN"):
        golden.write_text(res.stdout)
    assert res.stdout == golden.read_text()


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_golden_worst_and_plot(preds: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new table parts: the worst rows, the reliability diagram, the loss histogram."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    res = run(["compute", preds, "--format", fmt, "--worst", "2", "--plot", "--top-k", "2"])
    assert res.exit_code == 0, res.stderr
    golden = GOLDEN / f"pets-extras.{'txt' if fmt == 'table' else 'md'}"
    if os.environ.get("XENT_UPDATE_GOLDEN"):
        golden.write_text(res.stdout)
    assert res.stdout == golden.read_text()
    if fmt == "table":
        # row 4 (-ln 0.25) then row 3 (-ln 0.6) are the worst; top-2 misses none
        worst = res.stdout.split("worst 2 rows")[1]
        assert worst.index("1.38629") < worst.index("0.51083")
