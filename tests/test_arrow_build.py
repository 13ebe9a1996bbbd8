"""NumPy -> Arrow without ``pa.array`` (which imports pandas on first use, ~0.3 s a run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from xentcli.io.arrowcols import from_numpy, strings


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, -1, 7], dtype=np.int64),
        np.array([1, 2], dtype=np.int32),
        np.array([1, 2], dtype=">i4"),  # big-endian: converted, not reinterpreted
        np.array([0.5, np.nan, -2.0]),
        np.array([1.5, 2.5], dtype=np.float32),
        np.array([True, False, True, True, False, False, True, False, True]),  # 9: two bit bytes
        np.array(["a", "bé", ""]),
        np.array(["x", "y"], dtype=object),
        np.array([], dtype=np.int64),
    ],
)
def test_from_numpy_matches_pa_array(values: np.ndarray) -> None:
    got = from_numpy(values)
    want = pa.array(
        values.astype(values.dtype.newbyteorder("="))
        if values.dtype.kind in "iuf"
        else values.tolist()
    )
    assert got.type == want.type

    def same(x: object) -> object:  # NaN == NaN for this comparison
        return "nan" if isinstance(x, float) and x != x else x

    assert [same(x) for x in got.to_pylist()] == [same(x) for x in want.to_pylist()]
    got.validate(full=True)


def test_from_numpy_and_strings_with_nulls() -> None:
    mask = np.array([False, True, False, True, False, False, False, False, True])
    values = np.arange(9, dtype=np.int64)
    got = from_numpy(values, mask=mask)
    got.validate(full=True)
    assert got.null_count == 3
    assert got.to_pylist() == [None if m else int(v) for v, m in zip(values, mask, strict=True)]
    s = strings(["a", "b", "c"], mask=np.array([False, False, True]))
    s.validate(full=True)
    assert s.to_pylist() == ["a", "b", None]
    assert from_numpy(values, mask=np.zeros(9, dtype=bool)).null_count == 0


@pytest.mark.parametrize("extra", [[], ["--group-by", "g"]])
def test_a_csv_run_does_not_import_pandas(tmp_path: Path, extra: list[str]) -> None:
    """A stand-in ``pandas`` package first on the path records any import of it (--group-by
    imported it through Arrow's to_numpy: ~0.2 s, and a Ctrl-C in that import was lost)."""
    fake = tmp_path / "fake" / "pandas"
    fake.mkdir(parents=True)
    marker = tmp_path / "imported"
    (fake / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise ImportError('not here')\n"
    )
    data = tmp_path / "p.csv"
    data.write_text("id,a,b,label,g\nr1,0.2,0.8,b,x\nr2,0.9,0.1,a,\nr3,0.6,0.4,b,x\n")
    out = tmp_path / "rows.parquet"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(tmp_path / "fake"), str(Path(__file__).resolve().parents[1])]
        ),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xentcli",
            "compute",
            str(data),
            "--id-col",
            "id",
            "--pred-cols",
            "a,b",
            "--format",
            "json",
            "--per-sample",
            str(out),
            "--worst",
            "2",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"loss"' in proc.stdout
    assert not marker.exists(), "pandas was imported"
