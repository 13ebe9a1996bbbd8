"""The local engine: every chunk of the inputs scored and folded here, in input order.

Decoding of the next chunks runs in a background thread (see :mod:`xentcli.readahead`) while
this thread scores the current one. Rows reach an optional row sink (``--per-sample``) in order.
"""

from __future__ import annotations

from typing import Any

from xentcli.config import LossConfig, MetricConfig, ReadConfig
from xentcli.fold import finish_all, fold
from xentcli.result import Result
from xentcli.scoring import RowSink
from xentcli.startup import start


def evaluate(
    read: ReadConfig,
    loss: LossConfig,
    sink: RowSink | None = None,
    metrics: MetricConfig | None = None,
    progress: Any = None,
) -> Result:
    """Read, score and sum the whole input; return the finished result."""
    metrics = metrics or MetricConfig()
    with start(read, loss, metrics) as run:
        if sink is not None:
            sink.start(run.plan, run.ds.id_name)
        folded = fold(
            run.chunks,
            run.scorer,
            run.ds.group_by,
            sink=sink,
            progress=progress,
            total=run.ds.num_rows,
        )
        temperature = None
        if metrics.fit_temperature:
            from xentcli.temperature import fit, fold_temperature, weight_sums

            bins = metrics.bins

            def run_pass(requests: Any) -> Any:
                with start(read_again(read), loss, metrics) as again:
                    return fold_temperature(
                        again.chunks, again.scorer, again.ds.group_by, requests, bins
                    )

            temperature = fit(run_pass, weight_sums(folded.summary, folded.slices))
        return finish_all(
            folded,
            plan=run.plan,
            loss=loss,
            ds=run.ds,
            options=run.options,
            temperature=temperature,
        )


def read_again(read: ReadConfig) -> ReadConfig:
    """The same inputs, to be read once more: objects in memory are handed over anew (a
    one-shot stream cannot be, and is refused)."""
    if not read.memory:
        return read
    import dataclasses

    return dataclasses.replace(read, memory={k: v.again() for k, v in read.memory.items()})
