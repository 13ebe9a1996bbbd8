"""The commands of ``xent``: each parses its options into configs, calls the library, and
shows the report; what the process does around them (errors, pipes, signals, exit) is in
:mod:`xentcli.cli.process`, the options they share in :mod:`xentcli.cli.params`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer

from xentcli import __version__
from xentcli.cli.params import (
    CHUNK_ROWS_HELP,
    CheckOpt,
    ClassNamesOpt,
    FitTemperatureOpt,
    FormatOpt,
    GroupByOpt,
    IdColOpt,
    InputFormatOpt,
    L,
    LabelColOpt,
    LabelsOpt,
    M,
    OutputsOpt,
    PredColsOpt,
    QuietOpt,
    R,
    RenormalizeOpt,
    ReplicatesOpt,
    SeedOpt,
    SumTolOpt,
    TargetColsOpt,
    TaskOpt,
    WeightColOpt,
    config_of,
)
from xentcli.cli.process import (
    Command,
    Group,
    handles_errors,
    say_gate_failed,
    say_note,
    stdout_console,
    to_stdout,
)
from xentcli.config import (
    COMPARE_LEVEL,
    Base,
    Engine,
    InputFormat,
    LabelReduction,
    LossConfig,
    MetricConfig,
    OutputConfig,
    ReadConfig,
    Reduction,
    RunConfig,
    parse_names,
)
from xentcli.errors import ExitCode

app = typer.Typer(
    cls=Group,
    name="xent",
    help="Cross-entropy and prediction-quality reports for model outputs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain help: Rich-formatted help would import Rich on every `xent --help` (~0.1 s).
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"xent {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Cross-entropy and prediction-quality reports for model outputs."""


@app.command(cls=Command)
@handles_errors
def compute(
    predictions: Annotated[
        str,
        typer.Argument(
            metavar="PREDICTIONS",
            help="Predictions file (CSV/TSV[.gz], Parquet, Arrow/Feather, "
            ".npy, .npz), a directory or glob of such files, or - for stdin.",
            show_default=False,
        ),
    ],
    labels: LabelsOpt = None,
    label_col: LabelColOpt = R.label_col,
    target_cols: TargetColsOpt = None,
    pred_cols: PredColsOpt = None,
    weight_col: WeightColOpt = None,
    id_col: IdColOpt = None,
    class_names: ClassNamesOpt = None,
    logits: Annotated[
        bool,
        typer.Option("--logits", help="Scores are logits (log-softmax / log-sigmoid is applied)."),
    ] = L.logits,
    task: TaskOpt = L.task,
    reduction: Annotated[
        Reduction, typer.Option(metavar="mean|sum", help="What 'loss' reports.")
    ] = L.reduction,
    label_reduction: Annotated[
        LabelReduction,
        typer.Option(
            metavar="sum|mean", help="Multi-label: sum or mean of the per-label BCEs of a row."
        ),
    ] = L.label_reduction,
    class_weights: Annotated[
        str | None,
        typer.Option(
            metavar="W0,W1,...", help="Per-class weights W0,W1,... (torch cross_entropy weight)."
        ),
    ] = None,
    label_smoothing: Annotated[
        float,
        typer.Option(
            metavar="FLOAT",
            help="Label smoothing in [0, 1) (torch for multiclass, Keras for binary).",
        ),
    ] = L.label_smoothing,
    ignore_index: Annotated[
        int | None,
        typer.Option(metavar="K", help="Label value of rows to skip (torch ignore_index)."),
    ] = L.ignore_index,
    pos_weight: Annotated[
        str | None,
        typer.Option(
            metavar="W[,W...]", help="Weight of positives: one number, or one per label column."
        ),
    ] = None,
    base: Annotated[
        Base,
        typer.Option(metavar="e|2|10", help="Logarithm base: e (nats), 2 (bits), 10 (hartleys)."),
    ] = L.base,
    clip_eps: Annotated[
        float | None,
        typer.Option(
            metavar="FLOAT",
            help="Clip probabilities to [eps, 1-eps] (default: machine epsilon of the input "
            "type; 0 turns clipping off).",
            show_default=False,
        ),
    ] = L.clip_eps,
    renormalize: RenormalizeOpt = L.renormalize,
    sum_tol: SumTolOpt = L.sum_tol,
    input_format: InputFormatOpt = InputFormat.auto,
    format: FormatOpt = None,
    output: OutputsOpt = None,
    per_sample: Annotated[
        str | None,
        typer.Option(
            metavar="PATH", help="Write each row's loss, y_true, y_pred (.parquet or .csv)."
        ),
    ] = None,
    max_loss: Annotated[
        float | None,
        typer.Option(metavar="FLOAT", help="Exit 1 when 'loss' is above this (a CI gate)."),
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help=CHUNK_ROWS_HELP,
            show_default=False,
        ),
    ] = R.chunk_rows,
    threads: Annotated[
        int, typer.Option(metavar="N", help="Threads for decoding and scoring (0: every core).")
    ] = R.threads,
    top_k: Annotated[
        int | None, typer.Option(metavar="K", help="Also report top-K accuracy (multiclass).")
    ] = M.top_k,
    bins: Annotated[int, typer.Option(metavar="N", help="Calibration bins for ECE/MCE.")] = M.bins,
    fit_temperature: FitTemperatureOpt = M.fit_temperature,
    worst: Annotated[
        int,
        typer.Option(
            metavar="K",
            help="List the K rows with the largest loss (row numbers 1-based, as in --per-sample).",
        ),
    ] = M.worst,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw a reliability diagram and a loss histogram.")
    ] = False,
    check: CheckOpt = None,
    baseline: Annotated[
        str | None,
        typer.Option(metavar="PATH", help="A previous run's JSON report to compare with."),
    ] = None,
    allow_missing_baseline: Annotated[
        bool,
        typer.Option(
            "--allow-missing-baseline",
            help="With --baseline: a file that does not exist yet (a first run) is a note, "
            "not an error; the run has no deltas and no --max-increase gate.",
        ),
    ] = False,
    max_increase: Annotated[
        str | None,
        typer.Option(
            metavar="X|X%",
            help="With --baseline: exit 1 if loss rose by more than X (absolute, in the unit) "
            "or X% (of the baseline loss).",
        ),
    ] = None,
    ci: Annotated[
        float | None,
        typer.Option(
            metavar="LEVEL",
            help="Confidence level of a bootstrap interval for loss_mean, e.g. 0.95.",
        ),
    ] = None,
    seed: SeedOpt = M.seed,
    replicates: ReplicatesOpt = M.replicates,
    quiet: QuietOpt = False,
    group_by: GroupByOpt = None,
    engine: Annotated[
        Engine,
        typer.Option(
            metavar="local|dask",
            help="Where chunks are folded: here, or by Dask tasks (pip install 'xent[dask]').",
        ),
    ] = Engine.local,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="With --engine dask: a scheduler address (default: a local cluster of "
            "--threads workers).",
        ),
    ] = None,
) -> None:
    """Compute cross-entropy for a file of predictions and labels."""
    params = dict(locals())
    run = RunConfig(
        read=config_of(ReadConfig, params),
        loss=config_of(LossConfig, params),
        metrics=config_of(MetricConfig, params, histogram=plot),
        output=config_of(
            OutputConfig, params, output=tuple(output or ()), checks=tuple(check or ())
        ),
        engine=engine,
        scheduler=scheduler,
    )
    from xentcli.progress import ProgressBar
    from xentcli.render.compute import ComputeView, render_text
    from xentcli.run import run_compute

    progress = None if quiet else ProgressBar.for_stderr()
    try:
        outcome = run_compute(run, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if not quiet:
        for note in outcome.notes:
            say_note(note)
    shown = outcome.stdout
    if shown is not None:
        show(
            ComputeView(outcome.result, plot=plot),
            shown,
            lambda: render_text(outcome.result, shown, plot=plot, gates=outcome.gates),
        )
    for line in outcome.failures:
        say_gate_failed(line)
    raise typer.Exit(int(ExitCode.GATE_FAILED if outcome.failures else ExitCode.OK))


def show(view: Any, format: Any, text: Callable[[], str]) -> None:
    """The report on stdout: the Rich view for the table, else the text."""
    if format.value == "table":
        to_stdout(lambda: stdout_console().print(view))
    else:
        to_stdout(lambda: sys.stdout.write(text()))


@app.command(name="compare", cls=Command)
@handles_errors
def compare_cmd(
    a: Annotated[
        str,
        typer.Argument(metavar="A", help="Predictions A (the baseline model).", show_default=False),
    ],
    b: Annotated[
        str,
        typer.Argument(
            metavar="B", help="Predictions B (the candidate), same rows.", show_default=False
        ),
    ],
    labels: LabelsOpt = None,
    label_col: LabelColOpt = R.label_col,
    target_cols: TargetColsOpt = None,
    pred_cols: PredColsOpt = None,
    weight_col: WeightColOpt = None,
    id_col: Annotated[
        str | None, typer.Option("--id-col", metavar="NAME", help="Row id column (not a score).")
    ] = None,
    class_names: ClassNamesOpt = None,
    logits: Annotated[bool, typer.Option("--logits", help="Both files hold logits.")] = L.logits,
    renormalize: RenormalizeOpt = L.renormalize,
    sum_tol: SumTolOpt = L.sum_tol,
    task: TaskOpt = L.task,
    base: Annotated[
        Base, typer.Option(metavar="e|2|10", help="Logarithm base: e, 2 or 10.")
    ] = L.base,
    clip_eps: Annotated[
        float | None,
        typer.Option(
            metavar="FLOAT",
            help="Clip probabilities to [eps, 1-eps] (default: machine epsilon of the input "
            "type; 0 turns clipping off).",
            show_default=False,
        ),
    ] = L.clip_eps,
    ci: Annotated[
        float, typer.Option(metavar="LEVEL", help="Confidence level of the interval.")
    ] = COMPARE_LEVEL,
    seed: SeedOpt = M.seed,
    replicates: ReplicatesOpt = M.replicates,
    fit_temperature: FitTemperatureOpt = M.fit_temperature,
    max_increase: Annotated[
        str | None,
        typer.Option(
            metavar="X|X%",
            help="Exit 1 if B's loss is above A's by more than X (absolute, in the unit) or X% "
            "(of A's loss).",
        ),
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option(
            metavar="EXPR",
            help="A gate NAME OP NUMBER on the comparison's JSON (repeatable): 'b.loss<=0.4', "
            "'delta.metrics.ece<=0.01' (B - A), 'difference.ci.high<0' (the paired "
            "difference's interval); exit 1 if one fails.",
        ),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COLUMN",
            help="Also compare each slice of this column's values (repeatable; a column of "
            "both files, holding the same values): each slice's paired difference and "
            "interval.",
        ),
    ] = None,
    input_format: InputFormatOpt = InputFormat.auto,
    format: FormatOpt = None,
    output: OutputsOpt = None,
    quiet: QuietOpt = False,
    chunk_rows: Annotated[
        int | None,
        typer.Option(metavar="N", help="Rows per chunk (default: auto).", show_default=False),
    ] = R.chunk_rows,
) -> None:
    """Compare two prediction sets on the same rows, with a bootstrap interval."""
    from xentcli.progress import ProgressBar
    from xentcli.render.compare import CompareView, compare_text
    from xentcli.run import run_compare

    params = dict(locals())
    loss = config_of(LossConfig, params)
    progress = None if quiet else ProgressBar.for_stderr()
    try:
        outcome = run_compare(
            config_of(ReadConfig, params, predictions=a, threads=1),
            config_of(ReadConfig, params, predictions=b, threads=1),
            loss,
            config_of(MetricConfig, params, ci=None),  # --ci here is the paired interval's level
            level=ci,
            max_increase=max_increase,
            output=tuple(output or ()),
            format=format,
            checks=tuple(check or ()),
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    c, shown = outcome.comparison, outcome.stdout
    if shown is not None:
        show(CompareView(c), shown, lambda: compare_text(c, shown, gates=outcome.gates))
    for line in outcome.failures:
        say_gate_failed(line)
    raise typer.Exit(int(ExitCode.GATE_FAILED if outcome.failures else ExitCode.OK))


class ReportFormat(str, Enum):
    table = "table"
    json = "json"


@app.command(cls=Command)
@handles_errors
def explain(
    probs: Annotated[
        str | None,
        typer.Option(
            metavar="P0,P1,...",
            help="Predicted probabilities of one row, comma-separated (one value: binary P(pos)).",
        ),
    ] = None,
    logits: Annotated[
        str | None,
        typer.Option(
            metavar="Z0,Z1,...",
            help="Logits of one row, comma-separated (one value: a binary logit).",
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option(metavar="CLASS", help="The true class (index or name).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(metavar="Y0,Y1,...", help="A target row (soft labels), comma-separated."),
    ] = None,
    base: Annotated[
        Base, typer.Option(metavar="e|2|10", help="Logarithm base: e, 2 or 10.")
    ] = L.base,
    class_names: Annotated[
        str | None,
        typer.Option(
            "--class-names",
            metavar="A,B,...",
            help="Names of the classes A,B,... (binary: NEG,POS).",
        ),
    ] = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", metavar="table|json", help="Output format.")
    ] = ReportFormat.table,
) -> None:
    """Walk one row through surprisal, entropy, cross-entropy, KL and the gradient."""
    from xentcli.explain import explain as explain_row
    from xentcli.render.explain import ExplainView, explain_json

    e = explain_row(
        probs=probs,
        logits=logits,
        label=label,
        target=target,
        base=base,
        class_names=parse_names(class_names),
    )
    show(ExplainView(e), format, lambda: explain_json(e))


@app.command(cls=Command)
@handles_errors
def inspect(
    predictions: Annotated[
        str,
        typer.Argument(
            metavar="PREDICTIONS", help="Predictions file, or - for stdin.", show_default=False
        ),
    ],
    labels: LabelsOpt = None,
    label_col: LabelColOpt = R.label_col,
    target_cols: TargetColsOpt = None,
    pred_cols: PredColsOpt = None,
    weight_col: WeightColOpt = None,
    id_col: IdColOpt = None,
    class_names: ClassNamesOpt = None,
    task: TaskOpt = L.task,
    input_format: InputFormatOpt = InputFormat.auto,
    format: Annotated[
        ReportFormat, typer.Option("--format", metavar="table|json", help="Output format.")
    ] = ReportFormat.table,
) -> None:
    """Show what a predictions file holds and the xent compute command to score it."""
    from xentcli.inspection import inspect_file
    from xentcli.render.inspect import InspectView, inspect_json

    read = config_of(ReadConfig, dict(locals()))
    found = inspect_file(read, task=task)
    show(InspectView(found), format, lambda: inspect_json(found))
