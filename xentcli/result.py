"""The finished result of a run: every figure a report shows, in the chosen unit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xentcli.accumulate import Summary
from xentcli.config import LossConfig, Reduction


@dataclass(frozen=True)
class ClassRow:
    name: str
    support: float
    loss_sum: float
    loss_mean: float
    share: float


@dataclass(frozen=True)
class Result:
    task: str
    input: str  # "probs" | "logits"
    unit: str
    reduction: str
    n: int
    weight_sum: float
    loss: float
    loss_sum: float
    loss_mean: float
    perplexity: float
    classes: tuple[str, ...]
    per_class: tuple[ClassRow, ...]
    clipped: int
    metrics: dict[str, float] = field(default_factory=dict)
    source: str = ""
    support_total: float = math.nan  # the per-class supports added up

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (stable keys; non-finite numbers become None)."""
        return {
            "task": self.task,
            "input": self.input,
            "unit": self.unit,
            "reduction": self.reduction,
            "n": self.n,
            "weight_sum": _num(self.weight_sum),
            "loss": _num(self.loss),
            "loss_sum": _num(self.loss_sum),
            "loss_mean": _num(self.loss_mean),
            "perplexity": _num(self.perplexity),
            "classes": list(self.classes),
            "per_class": [
                {
                    "class": r.name,
                    "support": _num(r.support),
                    "loss_sum": _num(r.loss_sum),
                    "loss_mean": _num(r.loss_mean),
                    "share": _num(r.share),
                }
                for r in self.per_class
            ],
            "clipped": self.clipped,
            "metrics": {k: _num(v) for k, v in self.metrics.items()},
        }


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(a) / np.float64(b))


def finish(
    summary: Summary, *, task: str, classes: tuple[str, ...], cfg: LossConfig, source: str = ""
) -> Result:
    """Divide the sums into means and convert nats into the chosen unit."""
    to_unit = cfg.base.log
    loss_sum_nats = float(summary.loss_sum.value)
    weight_sum = float(summary.weight_sum.value)
    loss_mean_nats = _ratio(loss_sum_nats, weight_sum)
    loss_sum = loss_sum_nats / to_unit
    loss_mean = loss_mean_nats / to_unit
    with np.errstate(over="ignore"):
        perplexity = float(np.exp(np.float64(loss_mean_nats)))
    class_loss = summary.class_loss.value / to_unit
    class_support = summary.class_support.value
    rows = []
    for j, name in enumerate(classes):
        denom = weight_sum if task == "multilabel" else float(class_support[j])
        rows.append(
            ClassRow(
                name,
                float(class_support[j]),
                float(class_loss[j]),
                _ratio(float(class_loss[j]), denom),
                _ratio(float(class_loss[j]), loss_sum),
            )
        )
    metrics = {"accuracy": _ratio(float(summary.correct.value),
                                  float(summary.sample_weight_sum.value))}
    if task == "multilabel":
        metrics["subset_accuracy"] = _ratio(float(summary.exact.value),
                                            float(summary.sample_weight_sum.value))
    return Result(
        task=task,
        input="logits" if cfg.logits else "probs",
        unit=cfg.base.unit,
        reduction=cfg.reduction.value,
        n=summary.n,
        weight_sum=weight_sum,
        loss=loss_mean if cfg.reduction is Reduction.mean else loss_sum,
        loss_sum=loss_sum,
        loss_mean=loss_mean,
        perplexity=perplexity,
        classes=classes,
        per_class=tuple(rows),
        clipped=summary.clipped,
        metrics=metrics,
        source=source,
        support_total=float(class_support.sum()),
    )
