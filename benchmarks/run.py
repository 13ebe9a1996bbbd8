"""Time xent against the pipelines a user would otherwise run, side by side, in one run.

    pip install -e '.[bench]'           # torch (CPU), scikit-learn, pandas: never runtime deps
    python benchmarks/generate.py       # deterministic data in benchmarks/data/
    python benchmarks/run.py            # every case, 5 runs each
    python benchmarks/run.py --repeat 3 --only logits10

Every command is a fresh process (what a user pays), run once to warm the page cache, then
``--repeat`` times, taking turns with the other commands of its group. Reported: median wall
time with min-max, and peak RSS (max over runs, from ``wait4``). The Markdown table goes to
stdout and to benchmarks/results/latest.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE / "data"
PY = sys.executable
# The console script installed next to this interpreter: a shim on PATH (pyenv's costs ~80 ms
# a run) would be timed as if it were xent.
_SCRIPT = Path(PY).parent / "xent"
XENT = [str(_SCRIPT) if _SCRIPT.exists() else shutil.which("xent") or "xent"]
PEERS = [PY, str(HERE / "peers.py")]


@dataclass
class Case:
    group: str
    name: str
    argv: list[str]
    needs: str = ""  # a module the command needs (skipped when it cannot be imported)


def cases() -> list[Case]:
    l10 = str(DATA / "logits10.parquet")
    l10_20m = str(DATA / "logits10_20m.parquet")
    l1000 = str(DATA / "logits1000.parquet")
    b20 = str(DATA / "binary20m.parquet")
    c10 = str(DATA / "csv10.csv")
    c10q = str(DATA / "csv10q.csv")
    d20 = str(DATA / "dataset20")
    d200 = str(DATA / "dataset200")
    xj = ["--format", "json"]
    return [
        Case("startup", "xent --version", [*XENT, "--version"]),
        Case("startup", "xent --help", [*XENT, "--help"]),
        Case("startup", "python -c 'import numpy'", [PY, "-c", "import numpy"]),
        Case("startup", "python + import numpy, pyarrow", [*PEERS, "imports"]),
        Case("logits10", "xent compute --logits", [*XENT, "compute", l10, "--logits", *xj]),
        Case("logits10", "pyarrow -> torch cross_entropy", [*PEERS, "torch", l10], "torch"),
        Case("logits10", "pandas -> sklearn log_loss", [*PEERS, "sklearn", l10], "sklearn"),
        Case("logits10", "read_table -> naive NumPy", [*PEERS, "numpy", l10]),
        Case("logits10", "pq.read_table -> NumPy only", [*PEERS, "read_table", l10]),
        Case("logits10", "iter_batches -> NumPy only", [*PEERS, "iter_batches", l10]),
        Case("logits10", "floor: iter_batches + the loss alone, 2 threads", [*PEERS, "floor", l10]),
        Case("logits10_20m", "xent compute --logits", [*XENT, "compute", l10_20m, "--logits", *xj]),
        Case("logits10_20m", "pyarrow -> torch cross_entropy", [*PEERS, "torch", l10_20m], "torch"),
        Case("logits10_20m", "iter_batches -> NumPy only", [*PEERS, "iter_batches", l10_20m]),
        Case(
            "logits10_20m",
            "floor: iter_batches + the loss alone, 2 threads",
            [*PEERS, "floor", l10_20m],
        ),
        Case("logits1000", "xent compute --logits", [*XENT, "compute", l1000, "--logits", *xj]),
        Case("logits1000", "pyarrow -> torch cross_entropy", [*PEERS, "torch", l1000], "torch"),
        Case("binary20m", "xent compute", [*XENT, "compute", b20, *xj]),
        Case("binary20m", "pyarrow -> torch binary_cross_entropy", [*PEERS, "torch", b20], "torch"),
        Case(
            "dataset20",
            "xent compute --logits (local threads)",
            [*XENT, "compute", d20, "--logits", *xj],
        ),
        Case(
            "dataset20",
            "xent compute --logits --engine dask (LocalCluster, 2 workers)",
            [*XENT, "compute", d20, "--logits", "--engine", "dask", "--threads", "2", *xj],
            "distributed",
        ),
        Case(
            "dataset200",
            "xent compute --logits (local threads)",
            [*XENT, "compute", d200, "--logits", *xj],
        ),
        Case(
            "dataset200",
            "xent compute --logits --engine dask (LocalCluster, 2 workers)",
            [*XENT, "compute", d200, "--logits", "--engine", "dask", "--threads", "2", *xj],
            "distributed",
        ),
        Case("csv10", "xent compute --logits", [*XENT, "compute", c10, "--logits", *xj]),
        Case("csv10", "pyarrow.csv.read_csv alone", [*PEERS, "csv", c10]),
        Case(
            "csv10q",
            "xent compute --logits --id-col id",
            [*XENT, "compute", c10q, "--logits", "--id-col", "id", *xj],
        ),
        Case("csv10q", "pyarrow.csv.read_csv alone", [*PEERS, "csv", c10q]),
    ]


def run_once(argv: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes, exit code) of one fresh process."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss * 1024, proc.returncode


def _available(module: str) -> bool:
    if not module:
        return True
    return subprocess.run([PY, "-c", f"import {module}"], capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", action="append", help="groups to run (default: all)")
    args = ap.parse_args()
    # pip compiles a package's bytecode when it installs it; an editable checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile xent's modules (~90 ms) every run.
    subprocess.run(
        [PY, "-m", "compileall", "-q", str(Path(__file__).parent.parent / "xentcli")], check=True
    )
    runnable: dict[str, list[Case]] = {}
    for case in cases():
        if args.only and case.group not in args.only:
            continue
        data = [a for a in case.argv if a.startswith(str(DATA))]
        if any(not Path(d).exists() for d in data):
            print(
                f"skip {case.group}/{case.name}: run benchmarks/generate.py first", file=sys.stderr
            )
            continue
        if not _available(case.needs):
            print(f"skip {case.group}/{case.name}: {case.needs} not installed", file=sys.stderr)
            continue
        runnable.setdefault(case.group, []).append(case)
    rows = []
    for group in runnable.values():
        # The commands of a group take turns, so a ratio compares runs made at the same time
        # (this machine's speed drifts by tens of percent over minutes).
        for case in group:
            run_once(case.argv)  # warm the page cache
        walls: dict[str, list[float]] = {case.name: [] for case in group}
        peaks = dict.fromkeys(walls, 0)
        for _ in range(args.repeat):
            for case in group:
                wall, rss, code = run_once(case.argv)
                if code != 0:
                    raise SystemExit(f"{case.name} failed with exit code {code}")
                walls[case.name].append(wall)
                peaks[case.name] = max(peaks[case.name], rss)
        for case in group:
            w = walls[case.name]
            rows.append((case, statistics.median(w), min(w), max(w), peaks[case.name]))
            print(
                f"{case.group:14s} {case.name:40s} {statistics.median(w):7.3f} s "
                f"{peaks[case.name] / 2**20:7.0f} MiB",
                file=sys.stderr,
            )
    table = render(rows, args.repeat)
    print(table)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(table)


def render(rows: list, repeat: int) -> str:
    lines = [
        f"Median of {repeat} runs (min-max), fresh processes, on {os.cpu_count()} cores; "
        "ratio = median / the group's xent median.",
        "",
        "| data | command | wall (s) | min-max (s) | peak RSS (MiB) | xent / this |",
        "|---|---|---:|---:|---:|---:|",
    ]
    xent: dict[str, float] = {}
    for c, med, *_ in rows:
        if c.name.startswith("xent compute"):
            xent.setdefault(c.group, med)
    xent["startup"] = next((m for c, m, *_ in rows if c.name == "xent --version"), 0.0)
    for case, med, lo, hi, peak in rows:
        ratio = xent.get(case.group, 0.0) / med if med else 0.0
        lines.append(
            f"| {case.group} | {case.name} | {med:.3f} | {lo:.3f}-{hi:.3f} | "
            f"{peak / 2**20:.0f} | {ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
