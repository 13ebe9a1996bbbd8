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
    OutputConfig,
    OutputFormat,
    ReadConfig,
    RunConfig,
)
from xentcli.io.spill import replayable_stdin
from xentcli.paired import Comparison
from xentcli.result import Result


@dataclass
class Outcome:
    """A finished ``compute`` run: the result (with its baseline comparison), the gates that
    failed (one line each), notes for the user, and where the report still goes: ``stdout``,
    its format there (None when the report went to files only)."""

    result: Result
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stdout: OutputFormat | None = OutputFormat.table
    gates: list[tuple[str, bool]] = field(default_factory=list)  # each gate and its verdict

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def written(self) -> bool:
        """The report went to files only (nothing for stdout)."""
        return self.stdout is None


def run_compute(run: RunConfig, *, progress: Any = None) -> Outcome:
    """Evaluate, compare with the baseline, judge the gates, and write the output files.

    Everything that can be refused is refused before any reading; the files appear whole at
    the end (atomic renames, together), or not at all. A failed gate still writes them: the
    report of a failed gate is the one a CI job needs most.
    """
    from xentcli import baseline as baselines
    from xentcli.gates import MaxIncrease, failures, parse_check
    from xentcli.outputs import (
        AtomicPath,
        PerSampleWriter,
        open_report_files,
        refuse_replacing_inputs,
        report_targets,
        write_text,
    )
    from xentcli.render import render_text

    run.validate()
    out, read = run.output, run.read
    targets = report_targets(out.outputs, out.format)
    if _wants_html(targets) and not run.metrics.histogram:  # the page draws the loss histogram
        run = dataclasses.replace(run, metrics=dataclasses.replace(run.metrics, histogram=True))
    checks = [parse_check(c) for c in out.checks]
    bound = MaxIncrease.parse(out.max_increase) if out.max_increase is not None else None
    notes: list[str] = []
    base = None
    if out.baseline:
        try:
            base = baselines.load(out.baseline)
        except baselines.BaselineMissing:
            if not out.allow_missing_baseline:
                raise
            notes.append(
                f"--baseline {out.baseline}: no such file, so no deltas"
                + (" and no --max-increase gate" if bound is not None else "")
                + " (--allow-missing-baseline: a first run)"
            )
    refuse_replacing_inputs(
        [*(("--output", p) for p, _ in targets.files), ("--per-sample", out.per_sample)],
        [read.predictions, read.labels, out.baseline],
    )
    report_paths: list[AtomicPath] = []
    sink: PerSampleWriter | None = None
    try:
        # The output files are made now: a path that cannot be written is refused before
        # the input is read. Their temporary files are made and known as one step (a signal
        # waits), so whatever stops the run from here on removes them.
        with signals.held():
            report_paths = open_report_files(targets)
            sink = PerSampleWriter(out.per_sample, run.loss.base.log) if out.per_sample else None
        with replayable_stdin(
            run.metrics.fit_temperature and "-" in (read.predictions, read.labels)
        ):
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
        gates = _judged(report, checks, out.max_loss, result)
        for path, (_, fmt) in zip(report_paths, targets.files, strict=True):
            write_text(path, render_text(result, fmt, plot=out.plot, gates=gates))
        if sink is not None:
            sink.close()
        # Every file is written whole; they take their places together, with SIGINT, SIGTERM
        # and SIGHUP held back for the renames (a signal then comes after, all of them new).
        with signals.held():
            if sink is not None:
                sink.commit()
            for path in report_paths:
                path.commit()
    except BaseException:  # an error, or a signal: nothing is left half-written
        if sink is not None:
            sink.abort()
        for path in report_paths:
            path.abort()
        raise
    return Outcome(result, failed, notes, stdout=targets.stdout, gates=gates)


def _wants_html(targets: Any) -> bool:
    return OutputFormat.html in (targets.stdout, *(f for _, f in targets.files))


def _judged(
    report: dict[str, Any], checks: list[Any], max_loss: float | None, result: Result
) -> list[tuple[str, bool]]:
    """Each gate of the run (--max-loss, then every --check) as a line that says what was
    tested and the value found, and whether it passed (for the HTML page)."""
    from xentcli.gates import lookup

    out = []
    if max_loss is not None:
        ok = result.loss <= max_loss
        out.append(
            (
                f"--max-loss {max_loss:g}: loss is {result.loss:.6g} {result.unit}"
                + ("" if ok else f", above {max_loss:g}"),
                ok,
            )
        )
    for c in checks:
        v = lookup(report, c.name, c.text)
        value = "null (infinite or undefined)" if v is None else f"{v:.6g}"
        out.append((f"--check '{c.text}': {c.name} is {value}", c.passes(v)))
    return out


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
    """A finished ``compare``: the comparison (with its gate), the --check gates that failed,
    and where the report still goes (``stdout``: its format there, None for files only)."""

    comparison: Comparison
    checks_failed: list[str] = field(default_factory=list)
    stdout: OutputFormat | None = OutputFormat.table
    gates: list[tuple[str, bool]] = field(default_factory=list)  # each gate and its verdict

    @property
    def written(self) -> bool:
        return self.stdout is None

    @property
    def failures(self) -> list[str]:
        c = self.comparison
        out = list(self.checks_failed)
        if c.regressed:
            out.append(
                f"B's loss {c.b.loss:.6g} is above A's {c.a.loss:.6g} by more than "
                f"--max-increase {c.max_increase}"
            )
        return out


def run_compare(
    read_a: ReadConfig,
    read_b: ReadConfig,
    loss: LossConfig,
    metrics: MetricConfig,
    *,
    level: float = COMPARE_LEVEL,
    max_increase: str | None = None,
    output: str | tuple[str, ...] | None = None,
    format: OutputFormat | None = None,
    checks: tuple[str, ...] = (),
    progress: Any = None,
) -> CompareOutcome:
    """Compare A and B, judge ``--max-increase`` and the ``--check`` gates (names of the
    comparison's JSON: ``b.loss``, ``delta.metrics.ece``, ``difference.ci.high``), and write
    the report files if asked (all of them, together, also when a gate failed)."""
    from xentcli.gates import MaxIncrease, failures, parse_check
    from xentcli.outputs import (
        AtomicPath,
        open_report_files,
        refuse_replacing_inputs,
        report_targets,
        write_text,
    )
    from xentcli.paired import compare
    from xentcli.render.compare import compare_dict, compare_text

    outputs = OutputConfig(output=output).outputs
    targets = report_targets(outputs, format)
    if _wants_html(targets):  # the page draws both models' loss histograms
        metrics = dataclasses.replace(metrics, histogram=True)
    parsed = [parse_check(c) for c in checks]
    bound = MaxIncrease.parse(max_increase) if max_increase is not None else None
    refuse_replacing_inputs(
        [("--output", p) for p, _ in targets.files],
        [read_a.predictions, read_b.predictions, read_a.labels],
    )
    report_paths: list[AtomicPath] = []
    try:
        with signals.held():
            report_paths = open_report_files(targets)  # refused before any reading
        reads_stdin = "-" in (read_a.predictions, read_b.predictions, read_a.labels)
        with replayable_stdin(metrics.fit_temperature and reads_stdin):
            result = compare(read_a, read_b, loss, metrics, level=level, progress=progress)
        if bound is not None:
            result = dataclasses.replace(
                result,
                max_increase=bound.describe(),
                regressed=bound.exceeded(result.b.loss, result.a.loss),
            )
        report = compare_dict(result)
        failed = failures(report, parsed) if parsed else []
        gates = _compare_judged(report, parsed, result)
        for path, (_, fmt) in zip(report_paths, targets.files, strict=True):
            write_text(path, compare_text(result, fmt, gates=gates))
        with signals.held():
            for path in report_paths:
                path.commit()
    except BaseException:
        for path in report_paths:
            path.abort()
        raise
    return CompareOutcome(result, failed, stdout=targets.stdout, gates=gates)


def _compare_judged(
    report: dict[str, Any], checks: list[Any], c: Comparison
) -> list[tuple[str, bool]]:
    """The gates of a comparison (--max-increase, then every --check), as :func:`_judged`."""
    out = []
    if c.max_increase is not None:
        out.append(
            (
                f"--max-increase {c.max_increase}: B's loss {c.b.loss:.6g} against A's "
                f"{c.a.loss:.6g}",
                not c.regressed,
            )
        )
    return out + _judged(report, checks, None, c.a)
