"""What the commands share: options declared once, with their defaults read from the configs
(so each default is stated once, in :mod:`xentcli.config`)."""

from __future__ import annotations

from typing import Annotated

import typer

from xentcli.config import (
    DEFAULT_CHUNK_ROWS,
    InputFormat,
    LossConfig,
    MetricConfig,
    ReadConfig,
    Task,
)

# The configs' defaults, for the commands' signatures.
L = LossConfig()
M = MetricConfig()
R = ReadConfig("")

CHUNK_ROWS_HELP = (
    "Rows per chunk; memory is bounded by it (default: about 4M scores, at most "
    f"{DEFAULT_CHUNK_ROWS:,} rows)."
)


def stdout_or_file(output: str | None) -> str | None:
    """--output's path; "-" is stdout, as for the input."""
    return None if output == "-" else output


# Options shared by compute, compare and inspect: declared once.
LabelsOpt = Annotated[
    str | None, typer.Option("--labels", help="Labels in a separate file, read in step row by row.")
]
LabelColOpt = Annotated[
    str, typer.Option("--label-col", help="Label column (class index or name).")
]
TargetColsOpt = Annotated[
    str | None,
    typer.Option(
        "--target-cols", help="One-hot/soft/multi-hot target columns: comma list or glob."
    ),
]
PredColsOpt = Annotated[
    str | None,
    typer.Option(
        "--pred-cols", help="Score columns: comma list or glob (default: every other column)."
    ),
]
WeightColOpt = Annotated[str | None, typer.Option("--weight-col", help="Sample-weight column.")]
ClassNamesOpt = Annotated[
    str | None,
    typer.Option(
        "--class-names", help="Class names A,B,... (for .npy and list columns; binary: NEG,POS)."
    ),
]
TaskOpt = Annotated[Task, typer.Option("--task", help="Problem type.")]
IdColOpt = Annotated[
    str | None,
    typer.Option("--id-col", help="Row id column (not a score; carried into --per-sample)."),
]
RenormalizeOpt = Annotated[
    bool, typer.Option("--renormalize", help="Divide each row of scores by its sum.")
]
SumTolOpt = Annotated[
    float, typer.Option("--sum-tol", help="Tolerance for probability rows summing to 1.")
]
OutputOpt = Annotated[
    str | None, typer.Option("--output", help="Write the report here instead of stdout.")
]
InputFormatOpt = Annotated[
    InputFormat,
    typer.Option("--input-format", help="Override the format detected from the extension."),
]
