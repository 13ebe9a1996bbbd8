"""A whole run as the CLI and the Python API make it: the evaluation, its output files, the
baseline comparison and the gates. Nothing here prints or exits: what to say comes back in
an :class:`Outcome`, for the caller to show (the CLI on stderr, the API on the report).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from xentcli import signals
from xentcli.config import (
    COMPARE_LEVEL,
    Engine,
    LossConfig,
    MetricConfig,
    OutputFormat,
    ReadConfig,
    RunConfig,
)
from xentcli.paired import Comparison
from xentcli.result import Result


@dataclass
class Outcome:
    """A finished ``compute`` run: the result (with its baseline comparison), the gates that
    failed (one line each), notes for the user, and whether the report went to a file."""

    result: Result
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    written: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures


def run_compute(run: RunConfig, *, progress: Any = None) -> Outcome:
    """Evaluate, compare with the baseline, judge the gates, and write the output files.

    Everything that can be refused is refused before any reading; the files appear whole at
    the end (atomic renames), or not at all.
    """
    from xentcli import baseline as baselines
    from xentcli.gates import MaxIncrease, failures, parse_check
    from xentcli.outputs import (
        AtomicPath,
        PerSampleWriter,
        refuse_replacing_inputs,
        write_text,
    )
    from xentcli.render import render_text

    run.validate()
    out, read = run.output, run.read
    checks = [parse_check(c) for c in out.checks]
    bound = MaxIncrease.parse(out.max_increase) if out.max_increase is not None else None
    base = baselines.load(out.baseline) if out.baseline else None
    refuse_replacing_inputs(
        {"--output": out.output, "--per-sample": out.per_sample},
        [read.predictions, read.labels, out.baseline],
    )
    notes: list[str] = []
    report_path: AtomicPath | None = None
    sink: PerSampleWriter | None = None
    try:
        # Both output files are made now: a path that cannot be written is refused before
        # the input is read. Their temporary files are made and known as one step (a signal
        # waits), so whatever stops the run from here on removes them.
        with signals.held():
            report_path = AtomicPath(out.output) if out.output else None
            sink = PerSampleWriter(out.per_sample, run.loss.base.log) if out.per_sample else None
        result = _evaluate(run, sink, progress)
        report = result.to_dict(plot=out.plot)
        regression = None
        if base is not None:
            assert out.baseline is not None
            compared, regression = baselines.compare(report, base, out.baseline, bound)
            result = dataclasses.replace(result, baseline=compared)
            if compared.get("note"):
                notes.append(f"--baseline {out.baseline}: {compared['note']}")
        failed = failures(report, checks)  # unknown names are refused here, before any output
        if out.max_loss is not None and not (result.loss <= out.max_loss):
            failed.insert(
                0, f"loss {result.loss:.6g} {result.unit} is above --max-loss {out.max_loss:g}"
            )
        if regression:
            failed.append(regression)
        if report_path is not None:
            write_text(report_path, render_text(result, out.format, plot=out.plot))
        if sink is not None:
            sink.close()
        # Both files are written whole; they take their places together, with SIGINT, SIGTERM
        # and SIGHUP held back for the two renames (a signal then comes after, both new).
        with signals.held():
            if sink is not None:
                sink.commit()
            if report_path is not None:
                report_path.commit()
    except BaseException:  # an error, or a signal: nothing is left half-written
        if sink is not None:
            sink.abort()
        if report_path is not None:
            report_path.abort()
        raise
    return Outcome(result, failed, notes, written=report_path is not None)


def _evaluate(run: RunConfig, sink: Any, progress: Any) -> Result:
    if run.engine is Engine.dask:
        from xentcli.distributed import evaluate_dask

        return evaluate_dask(
            run.read, run.loss, run.metrics, scheduler=run.scheduler, workers=run.read.threads
        )
    from xentcli.evaluate import evaluate

    return evaluate(run.read, run.loss, sink, run.metrics, progress=progress)


@dataclass
class CompareOutcome:
    """A finished ``compare``: the comparison (with its gate), and whether it went to a file."""

    comparison: Comparison
    written: bool = False

    @property
    def failures(self) -> list[str]:
        c = self.comparison
        if not c.regressed:
            return []
        return [
            f"B's loss {c.b.loss:.6g} is above A's {c.a.loss:.6g} by more than "
            f"--max-increase {c.max_increase}"
        ]


def run_compare(
    read_a: ReadConfig,
    read_b: ReadConfig,
    loss: LossConfig,
    metrics: MetricConfig,
    *,
    level: float = COMPARE_LEVEL,
    max_increase: str | None = None,
    output: str | None = None,
    format: OutputFormat = OutputFormat.table,
) -> CompareOutcome:
    """Compare A and B, judge ``--max-increase``, and write the report file if asked."""
    from xentcli.gates import MaxIncrease
    from xentcli.outputs import AtomicPath, refuse_replacing_inputs, write_text_atomic
    from xentcli.paired import compare
    from xentcli.render.compare import compare_text

    bound = MaxIncrease.parse(max_increase) if max_increase is not None else None
    refuse_replacing_inputs(
        {"--output": output}, [read_a.predictions, read_b.predictions, read_a.labels]
    )
    report_path = AtomicPath(output) if output else None  # refused before any reading
    try:
        result = compare(read_a, read_b, loss, metrics, level=level)
        if bound is not None:
            result = dataclasses.replace(
                result,
                max_increase=bound.describe(),
                regressed=bound.exceeded(result.b.loss, result.a.loss),
            )
        text = compare_text(result, format) if report_path is not None else ""
    except BaseException:
        if report_path is not None:
            report_path.abort()
        raise
    if report_path is not None:
        write_text_atomic(report_path, text)
    return CompareOutcome(result, written=report_path is not None)
