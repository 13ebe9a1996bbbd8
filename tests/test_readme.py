"""The README's Python API examples, run as doctests: the front door must not lie."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_python_api_examples_run() -> None:
    pytest.importorskip("pandas")
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 4, "the Python API section lost its examples"
    parser = doctest.DocTestParser()
    test = parser.get_doctest("\n".join(blocks), {}, "README: Python API", str(README), 0)
    assert len(test.examples) >= 20
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} README example(s) failed (see above)"


def test_api_module_doctest() -> None:
    import xentcli.api

    result = doctest.testmod(xentcli.api, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_compare_example_runs_as_written() -> None:
    """The README's `xent compare` example on the sample pair, the exact command, run from
    the repository root; its numbers are checked against scikit-learn in
    tests/test_sample_data.py, and here the shown figures against log_loss too."""
    import os
    import shlex
    import shutil
    import subprocess
    import sys

    metrics = pytest.importorskip("sklearn.metrics")
    import pyarrow.csv as pcsv

    text = README.read_text(encoding="utf-8")
    section = text.split("**Two models.**", 1)[1].split("**A GitHub Actions workflow**", 1)[0]
    commands = [
        line
        for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)
        for line in block.splitlines()
        if line.startswith("xent compare sample_data/")
    ]
    assert len(commands) == 1, "the README lost its compare example"
    bindir = Path(sys.executable).parent
    if shutil.which("xent", path=str(bindir)) is None:
        pytest.skip("the xent console script is not installed beside this Python")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    root = README.parent
    done = subprocess.run(
        shlex.split(commands[0]), cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    losses = []
    for name in ("cancer_logreg.csv", "cancer_boosting.csv"):
        t = pcsv.read_csv(root / "sample_data" / name)
        losses.append(
            metrics.log_loss(t.column("label").to_numpy(), t.column("p_malignant").to_numpy())
        )
    first = done.stdout.splitlines()
    row = next(line for line in first if line.strip().startswith("loss (mean)"))
    assert row.split()[2:4] == [f"{losses[0]:.6g}", f"{losses[1]:.6g}"]
    assert f"B - A = {losses[1] - losses[0]:.6g} nats per row" in done.stdout
    for size in ("large", "medium", "small"):
        assert any(line.strip().startswith(size) for line in first)
    # the output the README shows is the command's (the part it shows)
    shown = re.findall(r"```text\n(.*?)```", section, flags=re.S)[0]
    printed = {line.rstrip() for line in first}
    for line in shown.splitlines():
        if line.strip() and line != "...":
            assert line.rstrip() in printed, line
