"""What the commands share: options declared once, with their defaults read from the configs
(so each default is stated once, in :mod:`xentcli.config`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, TypeVar

import typer

from xentcli.config import (
    DEFAULT_CHUNK_ROWS,
    InputFormat,
    LossConfig,
    MetricConfig,
    ReadConfig,
    Task,
    parse_names,
    parse_numbers,
)

T = TypeVar("T")

# The configs' defaults, for the commands' signatures.
L = LossConfig()
M = MetricConfig()
R = ReadConfig("")

CHUNK_ROWS_HELP = (
    "Rows per chunk; memory is bounded by it (default: about 4M scores, at most "
    f"{DEFAULT_CHUNK_ROWS:,} rows)."
)


def config_of(config: type[T], params: dict[str, Any], **given: Any) -> T:
    """A config built from a command's parameters: each parameter named like one of the
    config's fields is that field (so a new option is a field and a parameter of the same
    name, nothing more here), the CLI's text forms parsed (``--class-names a,b``,
    ``--class-weights 1,2``, repeatable options as tuples); ``given`` sets the rest."""
    values: dict[str, Any] = {}
    for f in fields(config):  # type: ignore[arg-type]
        if f.name in given or f.name not in params:
            continue
        value = params[f.name]
        if value is None and f.default is not None:  # an option not given: the default
            continue
        if f.name == "class_names":
            value = parse_names(value)
        elif f.name in ("class_weights", "pos_weight"):
            value = parse_numbers(f"--{f.name.replace('_', '-')}", value)
        elif isinstance(value, list):  # a repeatable option (--group-by, --check)
            value = tuple(value)
        values[f.name] = value
    return config(**values, **given)


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
    typer.Option(
        "--input-format",
        help="The format of stdin or of a file whose extension does not tell (.txt); else it "
        "overrides the predictions' extension. jsonl is JSON Lines (one object per line); "
        ".gz, .zst and .bz2 CSV/TSV/JSON Lines, and compressed stdin, are decompressed as "
        "they stream.",
    ),
]
