"""The README's GitHub Actions workflow, run as written: its steps' shell commands are taken
from the README's text (so the two cannot drift apart) and run three times in a temporary
directory on real sample predictions, as three CI runs on `main` would run them.

Expected figures come from scikit-learn's ``log_loss`` and a row-by-row ``math.log`` loop,
never from xent's own output.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DATA = ROOT / "sample_data"
yaml = pytest.importorskip("yaml")


def workflow() -> dict[str, Any]:
    """The README's workflow, parsed (it must be valid YAML)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("**A GitHub Actions workflow**", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert block, "the README lost its GitHub Actions workflow"
    parsed = yaml.safe_load(block.group(1))
    assert isinstance(parsed, dict)
    return parsed


def steps() -> list[dict[str, Any]]:
    jobs = workflow()["jobs"]
    assert len(jobs) == 1
    (job,) = jobs.values()
    return list(job["steps"])


def step(name: str) -> dict[str, Any]:
    found = [s for s in steps() if s.get("name") == name]
    assert len(found) == 1, f"no step named {name!r} in the README's workflow"
    return found[0]


def test_the_workflow_is_plausible() -> None:
    """What makes the recipe work: the baseline restored before the gate, the artifact
    uploaded whatever happened, and the baseline replaced only after a passing run on main,
    at the path the gate reads it from."""
    wf = workflow()
    triggers = wf.get(True, wf.get("on"))  # YAML 1.1 reads the key `on` as True
    assert "push" in triggers and "pull_request" in triggers
    names = [s.get("name") for s in steps()]
    restore, gate = step("Restore the last accepted report"), step("Model quality gate")
    upload, keep = step("Upload the report"), step("Keep the report as the next baseline")
    save = step("Save the baseline")
    assert names.index(restore["name"]) < names.index(gate["name"]) < names.index(upload["name"])
    assert names.index(keep["name"]) < names.index(save["name"])
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] == "baseline"
    assert restore["with"]["key"] == save["with"]["key"]
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "report.json"
    for s in (keep, save):  # no status function: success() && ... (a failed gate keeps the old)
        assert "always" not in s["if"] and "failure" not in s["if"]
    assert "--baseline baseline/report.json" in gate["run"]
    assert "baseline/report.json" in keep["run"]


def _predictions(tmp: Path, source: str) -> None:
    """The predictions step's output: the sample model's P(malignant) and the labels."""
    t = pcsv.read_csv(DATA / source)
    pq.write_table(
        pa.table({"p_malignant": t.column("p_malignant"), "label": t.column("label")}),
        tmp / "val-predictions.parquet",
    )


def _reference(source: str) -> tuple[float, float]:
    """(scikit-learn log_loss, accuracy at 0.5) of a sample file, and the same loss by a
    row-by-row loop, which must agree."""
    metrics = pytest.importorskip("sklearn.metrics")
    t = pcsv.read_csv(DATA / source)
    p = t.column("p_malignant").to_numpy()
    y = t.column("label").to_numpy()
    eps = float(np.finfo(np.float64).eps)
    rows = [
        -math.log(min(max(pi, eps), 1 - eps))
        if yi == 1
        else -math.log(1 - min(max(pi, eps), 1 - eps))
        for pi, yi in zip(p.tolist(), y.tolist(), strict=True)
    ]
    loss = float(metrics.log_loss(y, p))
    assert loss == pytest.approx(math.fsum(rows) / len(rows), rel=1e-12)
    return loss, float(np.mean((p > 0.5) == (y == 1)))


def _run_step(name: str, tmp: Path, summary: Path) -> subprocess.CompletedProcess[str]:
    """A step's `run:` as GitHub runs it on Linux: bash -eo pipefail, in the workspace."""
    script = tmp / "step.sh"
    script.write_text(step(name)["run"], encoding="utf-8")
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # where this environment's `xent` is
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    env.pop("NO_COLOR", None)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="the recipe's shell is bash")
def test_three_runs_of_the_recipe(tmp_path: Path) -> None:
    if shutil.which("xent", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the xent console script is not installed beside this Python")
    good_loss, good_acc = _reference("cancer_logreg.csv")
    worse_loss, worse_acc = _reference("cancer_boosting.csv")
    assert good_acc >= 0.9 and worse_acc >= 0.9  # only the regression gate may fail run 3
    assert (worse_loss - good_loss) / good_loss > 0.02  # ... and it must
    report, baseline = tmp_path / "report.json", tmp_path / "baseline" / "report.json"

    # Run 1, the first: no baseline yet (the cache restored nothing). Allowed: exit 0.
    summary = tmp_path / "summary1.md"
    _predictions(tmp_path, "cancer_logreg.csv")
    first = _run_step("Model quality gate", tmp_path, summary)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""  # the report went to the summary
    assert "--allow-missing-baseline" in first.stderr and "no such file" in first.stderr
    assert first.stderr.count("\n") == 1  # one line
    r1 = json.loads(report.read_text(encoding="utf-8"))
    assert r1["loss"] == pytest.approx(good_loss, rel=1e-12)
    assert r1["metrics"]["accuracy"] == pytest.approx(good_acc, rel=1e-12)
    assert "baseline" not in r1  # no deltas
    md1 = summary.read_text(encoding="utf-8")
    assert md1.startswith("### xent: binary cross-entropy")
    assert f"| loss = loss_mean | {good_loss:.6g} |" in md1
    keep = _run_step("Keep the report as the next baseline", tmp_path, summary)
    assert keep.returncode == 0, keep.stderr
    assert json.loads(baseline.read_text(encoding="utf-8")) == r1

    # Run 2: the same predictions against the kept report: no change, exit 0.
    summary = tmp_path / "summary2.md"
    summary.write_text("earlier steps' summary\n", encoding="utf-8")
    second = _run_step("Model quality gate", tmp_path, summary)
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""
    r2 = json.loads(report.read_text(encoding="utf-8"))
    assert r2["loss"] == pytest.approx(good_loss, rel=1e-12)
    assert r2["baseline"]["loss"] == pytest.approx(good_loss, rel=1e-12)
    assert r2["baseline"]["delta"]["loss"] == 0
    assert r2["baseline"]["regressed"] is False
    md2 = summary.read_text(encoding="utf-8")
    assert md2.startswith("earlier steps' summary\n### xent:")  # appended, not replaced
    assert "baseline/report.json" in md2
    assert _run_step("Keep the report as the next baseline", tmp_path, summary).returncode == 0

    # Run 3: a worse model. The regression gate fails (exit 1); both files are still written.
    summary = tmp_path / "summary3.md"
    report.unlink()
    _predictions(tmp_path, "cancer_boosting.csv")
    third = _run_step("Model quality gate", tmp_path, summary)
    assert third.returncode == 1, third.stderr
    assert "--max-increase 2%" in third.stderr and "gate failed" in third.stderr
    r3 = json.loads(report.read_text(encoding="utf-8"))
    assert r3["loss"] == pytest.approx(worse_loss, rel=1e-12)
    assert r3["baseline"]["loss"] == pytest.approx(good_loss, rel=1e-12)
    assert r3["baseline"]["delta"]["loss"] == pytest.approx(worse_loss - good_loss, rel=1e-9)
    assert r3["baseline"]["regressed"] is True
    md3 = summary.read_text(encoding="utf-8")
    assert f"| loss = loss_mean | {worse_loss:.6g} |" in md3
    # The keeping steps do not run after a failed step: the accepted baseline stays.
    assert json.loads(baseline.read_text(encoding="utf-8"))["loss"] == pytest.approx(
        good_loss, rel=1e-12
    )
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
