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
    OutputFormat,
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


# Options shared by compute, compare and inspect: declared once.
LabelsOpt = Annotated[
    str | None,
    typer.Option(
        "--labels", metavar="PATH", help="Labels in a separate file, read in step row by row."
    ),
]
LabelColOpt = Annotated[
    str, typer.Option("--label-col", metavar="NAME", help="Label column (class index or name).")
]
TargetColsOpt = Annotated[
    str | None,
    typer.Option(
        "--target-cols",
        metavar="SPEC",
        help="One-hot/soft/multi-hot target columns: comma list or glob.",
    ),
]
PredColsOpt = Annotated[
    str | None,
    typer.Option(
        "--pred-cols",
        metavar="SPEC",
        help="Score columns: comma list or glob (default: every other floating-point "
        "column; a pandas index is the id).",
    ),
]
WeightColOpt = Annotated[
    str | None, typer.Option("--weight-col", metavar="NAME", help="Sample-weight column.")
]
ClassNamesOpt = Annotated[
    str | None,
    typer.Option(
        "--class-names",
        metavar="A,B,...",
        help="Class names A,B,... (for .npy and list columns; binary: NEG,POS).",
    ),
]
TaskOpt = Annotated[
    Task,
    typer.Option("--task", metavar="auto|multiclass|binary|multilabel", help="Problem type."),
]
IdColOpt = Annotated[
    str | None,
    typer.Option(
        "--id-col", metavar="NAME", help="Row id column (not a score; carried into --per-sample)."
    ),
]
RenormalizeOpt = Annotated[
    bool, typer.Option("--renormalize", help="Divide each row of scores by its sum.")
]
SumTolOpt = Annotated[
    float,
    typer.Option("--sum-tol", metavar="FLOAT", help="Tolerance for probability rows summing to 1."),
]
# --output, repeatable: each file's format follows its extension (stated once for both commands).
OutputsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--output",
        metavar="PATH",
        help="Write the report to this file instead of stdout (repeatable: one report per "
        "file, in the format its extension names: .json, .csv, .md, .html; other paths, and - for "
        "stdout, in --format). Every file is written, also when a gate fails.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        metavar="table|json|csv|markdown|html",
        help="Report format on stdout (and of an --output path without one of those "
        "extensions); html is one self-contained page with SVG charts  [default: table]",
        show_default=False,
    ),
]
CheckOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="EXPR",
        help="A gate NAME OP NUMBER, e.g. 'metrics.ece<0.05' (repeatable); exit 1 if one fails.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress bar or notes on stderr (errors still show)."),
]
FitTemperatureOpt = Annotated[
    bool,
    typer.Option(
        "--fit-temperature",
        help="Also fit the temperature T that minimises the loss (softmax(z / T)) and report "
        "how much of the loss is miscalibration (multiclass and binary; reads the input once "
        "per search step: typically three more passes).",
    ),
]

GroupByOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="COLUMN",
        help="Also report each slice of this column's values (repeatable); the column is "
        "never read as scores.",
    ),
]

SeedOpt = Annotated[int, typer.Option(metavar="N", help="Seed of the bootstrap.")]
ReplicatesOpt = Annotated[int, typer.Option(metavar="N", help="Bootstrap replicates.")]
InputFormatOpt = Annotated[
    InputFormat,
    typer.Option(
        "--input-format",
        metavar="FORMAT",
        help="The format of stdin or of a file whose extension does not tell (.txt); else it "
        "overrides the predictions' extension. jsonl is JSON Lines (one object per line); "
        ".gz, .zst and .bz2 CSV/TSV/JSON Lines, and compressed stdin, are decompressed as "
        "they stream.",
    ),
]
