"""The command line: parse options into configs, evaluate, render, exit with a code.

This is the only module that prints or exits; errors from below arrive as ``XentError``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer

from xentcli import __version__
from xentcli.config import (
    DEFAULT_CHUNK_ROWS,
    PLAIN_WIDTH,
    Base,
    InputFormat,
    LabelReduction,
    LossConfig,
    MetricConfig,
    OutputConfig,
    OutputFormat,
    ReadConfig,
    Reduction,
    Task,
)
from xentcli.errors import ExitCode, Terminated, UsageError, XentError

# Click's own usage errors (a bad option value, an unknown option, a missing argument) print
# four lines (usage, hint, blank, "Error: ..."); xent's errors are one line. Click's classes
# are found through typer (which vendors click in recent versions).
_ClickUsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _OneLineUsageError(_ClickUsageError):  # type: ignore[misc]
    def show(self, file: Any = None) -> None:
        where = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        _to_stderr(f"xent: error: {self.format_message()}{where}\n")


def _one_line(parse: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(parse)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return parse(*args, **kwargs)
        except _OneLineUsageError:
            raise
        except _ClickUsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `xent`: the help, as is
                raise
            raise _OneLineUsageError(exc.format_message(), exc.ctx) from None

    return wrapper


class _Command(typer.core.TyperCommand):
    make_context = _one_line(typer.core.TyperCommand.make_context)


class _Group(typer.core.TyperGroup):
    make_context = _one_line(typer.core.TyperGroup.make_context)
    resolve_command = _one_line(typer.core.TyperGroup.resolve_command)


app = typer.Typer(
    cls=_Group,
    name="xent",
    help="Cross-entropy and prediction-quality reports for model outputs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain help: Rich-formatted help would import Rich on every `xent --help` (~0.1 s).
    rich_markup_mode=None,
)


class Engine(str, Enum):
    local = "local"
    dask = "dask"


def _err(message: str) -> None:
    # One line, whatever a library put in the message.
    _to_stderr(f"xent: error: {' '.join(message.split())}\n")


def _to_stderr(line: str) -> None:
    """Write a line to stderr; a reader of stderr that went away (`2>&1 | head`) must not
    change what the run exits with."""
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except BrokenPipeError:
        _to_devnull(sys.stderr)


def _numbers(option: str, text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{option} '{text}': expected numbers separated by commas") from None
    return values


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(v.strip() for v in text.split(","))
    if any(not n for n in names):
        raise UsageError(f"--class-names '{text}': empty name; give NAME,NAME,...")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes the terminal's encoding could not decode
        raise UsageError("--class-names: a name is not valid UTF-8 text") from None
    return names


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


F = TypeVar("F", bound=Callable[..., Any])


_command_ran = False  # a command, not --help or --version, was run


def handles_errors(command: F) -> F:
    """Turn expected errors into one line on stderr and an exit code (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _command_ran
        _command_ran = True
        try:
            try:
                return command(*args, **kwargs)
            finally:
                sys.stdout.flush()  # a closed pipe shows here, inside the handler
        except XentError as exc:
            _err(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:  # (click would turn it into "Aborted!" and exit 1)
            _err("interrupted")
            # Partial outputs were removed on the way up. Exit now: a reader thread may be
            # blocked inside Arrow on stdin, and interpreter teardown would abort on it.
            sys.stdout.flush()
            os._exit(int(ExitCode.INTERRUPTED))
        except BrokenPipeError:
            # The reader went away (`xent ... | head`): stop quietly, as Unix tools do.
            _quiet_broken_pipe()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def _quiet_broken_pipe() -> None:
    # The reader of our stdout went away (e.g. `| head`): exit quietly like other Unix tools.
    _to_devnull(sys.stdout)


def _to_devnull(stream: Any) -> None:
    """Point a stream whose reader went away at /dev/null: what is still written (and the
    flush at exit) goes nowhere instead of failing again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except OSError:
        pass


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


@app.command(cls=_Command)
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
    label_col: LabelColOpt = "label",
    target_cols: TargetColsOpt = None,
    pred_cols: PredColsOpt = None,
    weight_col: WeightColOpt = None,
    id_col: IdColOpt = None,
    class_names: ClassNamesOpt = None,
    logits: Annotated[
        bool,
        typer.Option("--logits", help="Scores are logits (log-softmax / log-sigmoid is applied)."),
    ] = False,
    task: TaskOpt = Task.auto,
    reduction: Annotated[Reduction, typer.Option(help="What 'loss' reports.")] = Reduction.mean,
    label_reduction: Annotated[
        LabelReduction,
        typer.Option(help="Multi-label: sum or mean of the per-label BCEs of a row."),
    ] = LabelReduction.sum,
    class_weights: Annotated[
        str | None, typer.Option(help="Per-class weights W0,W1,... (torch cross_entropy weight).")
    ] = None,
    label_smoothing: Annotated[
        float,
        typer.Option(help="Label smoothing in [0, 1) (torch for multiclass, Keras for binary)."),
    ] = 0.0,
    ignore_index: Annotated[
        int | None, typer.Option(help="Label value of rows to skip (torch ignore_index).")
    ] = None,
    pos_weight: Annotated[
        str | None, typer.Option(help="Weight of positives: one number, or one per label column.")
    ] = None,
    base: Annotated[
        Base, typer.Option(help="Logarithm base: e (nats), 2 (bits), 10 (hartleys).")
    ] = Base.e,
    clip_eps: Annotated[
        float | None,
        typer.Option(
            help="Clip probabilities to [eps, 1-eps] (default: machine epsilon of the input "
            "type; 0 turns clipping off).",
            show_default=False,
        ),
    ] = None,
    renormalize: RenormalizeOpt = False,
    sum_tol: SumTolOpt = 1e-3,
    input_format: InputFormatOpt = InputFormat.auto,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Report format.")
    ] = OutputFormat.table,
    output: OutputOpt = None,
    per_sample: Annotated[
        str | None, typer.Option(help="Write each row's loss, y_true, y_pred (.parquet or .csv).")
    ] = None,
    max_loss: Annotated[
        float | None, typer.Option(help="Exit 1 when 'loss' is above this (a CI gate).")
    ] = None,
    chunk_rows: Annotated[
        int | None,
        typer.Option(
            help="Rows per chunk; memory is bounded by it (default: about 4M scores, at most "
            f"{DEFAULT_CHUNK_ROWS:,} rows).",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        int, typer.Option(help="Threads for decoding and scoring (0: every core).")
    ] = 0,
    top_k: Annotated[
        int | None, typer.Option(help="Also report top-K accuracy (multiclass).")
    ] = None,
    bins: Annotated[int, typer.Option(help="Calibration bins for ECE/MCE.")] = 15,
    worst: Annotated[int, typer.Option(help="List the K rows with the largest loss.")] = 0,
    plot: Annotated[
        bool, typer.Option("--plot", help="Draw a reliability diagram and a loss histogram.")
    ] = False,
    check: Annotated[
        list[str] | None,
        typer.Option(
            help="A gate NAME OP NUMBER, e.g. 'metrics.ece<0.05' (repeatable); exit 1 if one fails."
        ),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="A previous run's JSON report to compare with.")
    ] = None,
    max_increase: Annotated[
        str | None,
        typer.Option(help="With --baseline: exit 1 if loss rose by more than X (or X%)."),
    ] = None,
    ci: Annotated[
        float | None,
        typer.Option(help="Confidence level of a bootstrap interval for loss_mean, e.g. 0.95."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress bar or notes on stderr (errors still show)."
        ),
    ] = False,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            help="Also report each slice of this column's values (repeatable); the column is "
            "never read as scores."
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            help="Where chunks are folded: here, or by Dask tasks (pip install 'xent[dask]')."
        ),
    ] = Engine.local,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="With --engine dask: a scheduler address (default: a local cluster of "
            "--threads workers)."
        ),
    ] = None,
) -> None:
    """Compute cross-entropy for a file of predictions and labels."""
    read = ReadConfig(
        predictions=predictions,
        labels=labels,
        label_col=label_col,
        target_cols=target_cols,
        pred_cols=pred_cols,
        weight_col=weight_col,
        id_col=id_col,
        class_names=_names(class_names),
        input_format=input_format,
        chunk_rows=chunk_rows,
        threads=threads,
        group_by=tuple(group_by or ()),
    )
    loss = LossConfig(
        task=task,
        logits=logits,
        reduction=reduction,
        label_reduction=label_reduction,
        class_weights=_numbers("--class-weights", class_weights),
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        pos_weight=_numbers("--pos-weight", pos_weight),
        base=base,
        clip_eps=clip_eps,
        renormalize=renormalize,
        sum_tol=sum_tol,
    )
    out = OutputConfig(
        format=format,
        output=_file(output),
        per_sample=per_sample,
        max_loss=max_loss,
        plot=plot,
        checks=tuple(check or ()),
        baseline=baseline,
        max_increase=max_increase,
        quiet=quiet,
    )
    metrics = MetricConfig(
        top_k=top_k, bins=bins, worst=worst, histogram=plot, ci=ci, seed=seed, replicates=replicates
    )
    if engine is Engine.dask and per_sample:
        raise UsageError("--per-sample writes rows in input order; it needs --engine local")
    if scheduler and engine is not Engine.dask:
        raise UsageError("--scheduler goes with --engine dask")
    raise typer.Exit(
        run_compute(
            read,
            loss,
            out,
            metrics,
            scheduler=scheduler if engine is Engine.dask else None,
            distributed=engine is Engine.dask,
        )
    )


def run_compute(
    read: ReadConfig,
    loss: LossConfig,
    out: OutputConfig,
    metrics: MetricConfig | None = None,
    *,
    scheduler: str | None = None,
    distributed: bool = False,
) -> int:
    import dataclasses

    from xentcli import baseline as baselines
    from xentcli.evaluate import evaluate
    from xentcli.gates import MaxIncrease, failures, parse_check
    from xentcli.outputs import (
        AtomicPath,
        PerSampleWriter,
        refuse_replacing_inputs,
        write_text_atomic,
    )
    from xentcli.render import render_text, to_table

    # Everything that can be refused is refused before any reading.
    if out.max_loss is not None and out.max_loss != out.max_loss:
        raise UsageError("--max-loss nan: give a number (a NaN bound would fail every run)")
    checks = [parse_check(c) for c in out.checks]
    bound = MaxIncrease.parse(out.max_increase) if out.max_increase is not None else None
    if bound is not None and out.baseline is None:
        raise UsageError("--max-increase needs --baseline PREV.json to compare with")
    base = baselines.load(out.baseline) if out.baseline else None

    if (
        out.output
        and out.per_sample
        and os.path.realpath(out.output) == os.path.realpath(out.per_sample)
    ):
        raise UsageError(
            f"--output and --per-sample both name {out.output}; give each its own file"
        )
    refuse_replacing_inputs(
        {"--output": out.output, "--per-sample": out.per_sample}, [read.predictions, read.labels]
    )
    # Both output files are made now: a path that cannot be written is refused before the
    # input is read (and neither is left behind when the other cannot be made).
    report_path = AtomicPath(out.output) if out.output else None
    try:
        sink = PerSampleWriter(out.per_sample, loss.base.log) if out.per_sample else None
    except BaseException:
        if report_path is not None:
            report_path.abort()
        raise
    progress = None if out.quiet else _progress()
    # The reader thread and the kernels trade the GIL between many short NumPy calls; a
    # shorter switch interval lets decoding of the next chunk overlap more of the math.
    sys.setswitchinterval(0.0005)
    try:
        if distributed:
            from xentcli.distributed import evaluate_dask

            result = evaluate_dask(read, loss, metrics, scheduler=scheduler, workers=read.threads)
        else:
            result = evaluate(read, loss, sink, metrics, progress=progress)
        report = result.to_dict(plot=out.plot)
        regression = None
        if base is not None:
            assert out.baseline is not None
            compared, regression = baselines.compare(report, base, out.baseline, bound)
            result = dataclasses.replace(result, baseline=compared)
            if compared.get("note") and not out.quiet:
                _to_stderr(f"xent: note: --baseline {out.baseline}: {compared['note']}\n")
        failed = failures(report, checks)  # unknown names are refused here, before any output
        if sink is not None:  # kept only once nothing left can refuse the run
            sink.finish()
    except BaseException:
        if sink is not None:
            sink.abort()
        if report_path is not None:
            report_path.abort()
        raise
    finally:
        if progress is not None:
            progress.close()

    if out.max_loss is not None and not (result.loss <= out.max_loss):
        failed.insert(
            0, f"loss {result.loss:.6g} {result.unit} is above --max-loss {out.max_loss:g}"
        )
    if report_path is not None:
        try:
            text = render_text(result, out.format, plot=out.plot)
        except BaseException:
            report_path.abort()
            raise
        write_text_atomic(report_path, text)
    elif out.format is OutputFormat.table:
        _to_stdout(lambda: to_table(result, _stdout_console(), plot=out.plot))
    else:
        _to_stdout(lambda: sys.stdout.write(render_text(result, out.format, plot=out.plot)))
    if regression:
        failed.append(regression)
    for line in failed:
        _err_gate(line)
    return ExitCode.GATE_FAILED if failed else ExitCode.OK


def _file(output: str | None) -> str | None:
    """--output's path; "-" is stdout, as for the input."""
    return None if output == "-" else output


def _to_stdout(write: Callable[[], object]) -> None:
    """Write the report to stdout. A reader that went away (`| head`, `| true`) ends the
    report quietly but not the run: the gates are still judged, said on stderr and in the
    exit code (under `set -o pipefail`, a closed pipe must not turn a failed gate green)."""
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()


def _progress() -> Any:
    """A progress bar on stderr, only on a terminal (see xentcli.progress)."""
    from xentcli.progress import ProgressBar

    return ProgressBar.for_stderr()


def _err_gate(message: str) -> None:
    _to_stderr(f"xent: gate failed: {message}\n")


def _stdout_console() -> Any:
    from rich.console import Console

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit 1 (our "gate failed"); let handles_errors end quietly instead.
            raise BrokenPipeError

        def _render_buffer(self, buffer: Any) -> str:
            # off a terminal, tables without trailing blanks (as in files and the README)
            text: str = super()._render_buffer(buffer)
            if self.is_terminal:
                return text
            from xentcli.render import rstrip_lines

            return rstrip_lines(text)

    # Rich draws for 80 columns when stdout is not a terminal, folding numbers and commands
    # across lines in a file or a CI log; there, lines are only as long as they need.
    width = None if os.environ.get("COLUMNS") or sys.stdout.isatty() else PLAIN_WIDTH
    return StdoutConsole(
        highlight=False,
        markup=False,
        emoji=False,
        width=width,
        no_color=bool(os.environ.get("NO_COLOR")) or None,
    )


@app.command(name="compare", cls=_Command)
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
    label_col: LabelColOpt = "label",
    target_cols: TargetColsOpt = None,
    pred_cols: PredColsOpt = None,
    weight_col: WeightColOpt = None,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Row id column (not a score).")
    ] = None,
    class_names: ClassNamesOpt = None,
    logits: Annotated[bool, typer.Option("--logits", help="Both files hold logits.")] = False,
    renormalize: RenormalizeOpt = False,
    sum_tol: SumTolOpt = 1e-3,
    task: TaskOpt = Task.auto,
    base: Annotated[Base, typer.Option(help="Logarithm base: e, 2 or 10.")] = Base.e,
    clip_eps: Annotated[
        float | None, typer.Option(help="Probability clipping.", show_default=False)
    ] = None,
    ci: Annotated[float, typer.Option(help="Confidence level of the interval.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
    max_increase: Annotated[
        str | None, typer.Option(help="Exit 1 if B's loss is above A's by more than X (or X%).")
    ] = None,
    input_format: InputFormatOpt = InputFormat.auto,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Report format.")
    ] = OutputFormat.table,
    output: OutputOpt = None,
    chunk_rows: Annotated[
        int | None, typer.Option(help="Rows per chunk (default: auto).", show_default=False)
    ] = None,
) -> None:
    """Compare two prediction sets on the same rows, with a bootstrap interval."""
    from xentcli.compare import compare
    from xentcli.gates import MaxIncrease
    from xentcli.outputs import AtomicPath, refuse_replacing_inputs, write_text_atomic
    from xentcli.render import compare_table, compare_text

    bound = MaxIncrease.parse(max_increase) if max_increase is not None else None

    def read(path: str) -> ReadConfig:
        return ReadConfig(
            predictions=path,
            labels=labels,
            label_col=label_col,
            target_cols=target_cols,
            pred_cols=pred_cols,
            weight_col=weight_col,
            id_col=id_col,
            class_names=_names(class_names),
            input_format=input_format,
            chunk_rows=chunk_rows,
            threads=1,
        )

    loss = LossConfig(
        task=task,
        logits=logits,
        base=base,
        clip_eps=clip_eps,
        renormalize=renormalize,
        sum_tol=sum_tol,
    )
    metrics = MetricConfig(seed=seed, replicates=replicates)
    output = _file(output)
    refuse_replacing_inputs({"--output": output}, [a, b, labels])
    report_path = AtomicPath(output) if output else None  # refused before any reading
    try:
        result = compare(read(a), read(b), loss, metrics, level=ci)
        regressed = bound.exceeded(result.b.loss, result.a.loss) if bound else None
        gate = {"max_increase": bound.describe() if bound else None, "regressed": regressed}
        text = compare_text(result, format, **gate) if report_path is not None else ""
    except BaseException:
        if report_path is not None:
            report_path.abort()
        raise
    if report_path is not None:
        write_text_atomic(report_path, text)
    elif format is OutputFormat.table:
        _to_stdout(lambda: compare_table(result, _stdout_console()))
    else:
        _to_stdout(lambda: sys.stdout.write(compare_text(result, format, **gate)))
    if regressed:
        assert bound is not None
        _err_gate(
            f"B's loss {result.b.loss:.6g} is above A's {result.a.loss:.6g} by more than "
            f"--max-increase {bound.describe()}"
        )
        raise typer.Exit(int(ExitCode.GATE_FAILED))


class ReportFormat(str, Enum):
    table = "table"
    json = "json"


@app.command(cls=_Command)
@handles_errors
def explain(
    probs: Annotated[
        str | None,
        typer.Option(
            help="Predicted probabilities of one row, comma-separated (one value: binary P(pos))."
        ),
    ] = None,
    logits: Annotated[
        str | None,
        typer.Option(help="Logits of one row, comma-separated (one value: a binary logit)."),
    ] = None,
    label: Annotated[str | None, typer.Option(help="The true class (index or name).")] = None,
    target: Annotated[
        str | None, typer.Option(help="A target row (soft labels), comma-separated.")
    ] = None,
    base: Annotated[Base, typer.Option(help="Logarithm base: e, 2 or 10.")] = Base.e,
    class_names: Annotated[
        str | None,
        typer.Option("--class-names", help="Names of the classes A,B,... (binary: NEG,POS)."),
    ] = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", help="Output format.")
    ] = ReportFormat.table,
) -> None:
    """Walk one row through surprisal, entropy, cross-entropy, KL and the gradient."""
    from xentcli.explain import explain as explain_row
    from xentcli.render import explain_json, explain_table

    e = explain_row(
        probs=probs,
        logits=logits,
        label=label,
        target=target,
        base=base,
        class_names=_names(class_names),
    )
    if format is ReportFormat.json:
        sys.stdout.write(explain_json(e))
    else:
        explain_table(e, _stdout_console())


@app.command(cls=_Command)
@handles_errors
def inspect(
    predictions: Annotated[
        str,
        typer.Argument(
            metavar="PREDICTIONS", help="Predictions file, or - for stdin.", show_default=False
        ),
    ],
    labels: LabelsOpt = None,
    label_col: LabelColOpt = "label",
    target_cols: TargetColsOpt = None,
    pred_cols: PredColsOpt = None,
    weight_col: WeightColOpt = None,
    id_col: IdColOpt = None,
    class_names: ClassNamesOpt = None,
    task: TaskOpt = Task.auto,
    input_format: InputFormatOpt = InputFormat.auto,
    format: Annotated[
        ReportFormat, typer.Option("--format", help="Output format.")
    ] = ReportFormat.table,
) -> None:
    """Show what a predictions file holds and the xent compute command to score it."""
    from xentcli.inspection import inspect_file
    from xentcli.render import inspect_json, inspect_table

    read = ReadConfig(
        predictions=predictions,
        labels=labels,
        label_col=label_col,
        target_cols=target_cols,
        pred_cols=pred_cols,
        weight_col=weight_col,
        id_col=id_col,
        class_names=_names(class_names),
        input_format=input_format,
    )
    found = inspect_file(read, task=task)
    if format is ReportFormat.json:
        sys.stdout.write(inspect_json(found))
    else:
        inspect_table(found, _stdout_console())


class _Stdout:
    """sys.stdout for the console script: a failed write (a full disk under
    `>> "$GITHUB_STEP_SUMMARY"`, a stdout closed with `>&-`) is an error of its own, exit 2
    with one line, not a traceback and exit 1 (which would read as a failed gate). A closed
    pipe stays a BrokenPipeError: `| head` ends quietly."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _failed(self, exc: OSError | None) -> XentError:
        why = "it is closed" if exc is None else exc.strerror or str(exc)
        return XentError(f"stdout: cannot write: {why}")

    def write(self, text: str) -> int:
        if self._stream is None:
            raise self._failed(None)
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def isatty(self) -> bool:
        return self._stream is not None and bool(self._stream.isatty())

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def main() -> None:
    """Console-script entry point.

    Once the command has run (its output written, flushed and closed), the process ends at
    once: Python's finalization (module teardown, Arrow's thread pools and memory) would add
    ~60 ms to every run with nothing left to do.
    """
    _terminate_cleanly()
    _reuse_freed_memory()
    sys.stdout = _Stdout(sys.stdout)
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
        if code == 1 and isinstance(exc.__context__, BrokenPipeError) and not _command_ran:
            code = 0  # click's answer to `xent --help | head`: 1, which reads as a failed gate
    except KeyboardInterrupt:  # before a command's own handling (typer builds the command)
        _err("interrupted")
        code = int(ExitCode.INTERRUPTED)
    except Terminated as exc:  # partial outputs were removed on the way up
        _err(f"terminated by signal {exc.signum}")
        code = 128 + exc.signum  # as the shell reports a process the signal killed
    except XentError as exc:  # outside a command: --version or --help to a closed stdout
        _err(str(exc))
        code = int(exc.exit_code)
    if isinstance(code, str):  # SystemExit("message"): Python prints it and exits with 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, XentError):  # a closed pipe, a full disk: already said, or moot
            pass
    os._exit(code if isinstance(code, int) else 0)


def _terminate_cleanly() -> None:
    """SIGTERM and SIGHUP end the run as Ctrl-C does: partial output files are removed, one
    line on stderr, exit 128 + the signal's number (they killed the process outright, leaving
    a hidden temporary file behind)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # nohup: ignored
            signal.signal(sig, stop)


def _reuse_freed_memory() -> None:
    """Let glibc's malloc hand freed blocks of up to 32 MB back to the next allocation instead
    of returning them to the kernel. Each chunk's NumPy temporaries (hundreds of KB to a few
    MB) were otherwise mapped afresh every time: on 5M x 10 logits ~120,000 page faults, about
    a third of the run (1.0 -> 0.7 s) with the same peak memory. The settings only change
    where freed memory waits; elsewhere (musl, macOS, Windows) nothing is done."""
    import ctypes  # numpy has imported it already

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # the default ceiling of the adaptive threshold
    mallopt(m_trim_threshold, 1 << 30)
