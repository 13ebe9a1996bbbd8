"""The finished result of a run: every figure a report shows, in the chosen unit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xentcli.accumulate import LOSS_EDGES, Summary
from xentcli.config import LossConfig, Reduction, RunOptions, TaskPlan
from xentcli.kernels import xlogy
from xentcli.numbers import finite_or_none


@dataclass(frozen=True)
class ClassRow:
    name: str
    support: float
    loss_sum: float
    loss_mean: float
    share: float


@dataclass(frozen=True)
class CalibrationBin:
    lo: float
    hi: float
    weight: float
    confidence: float  # mean confidence of the bin
    accuracy: float  # fraction right in the bin


@dataclass(frozen=True)
class WorstRowOut:
    row: int  # 1-based, as a user counts data rows
    id: Any
    loss: float
    y_true: str
    y_pred: str
    p_true: float | None


@dataclass(frozen=True)
class TemperatureScaling:
    """--fit-temperature: T*, the loss at T* (the refinement loss) and the part of the loss
    that T* removes (the calibration loss), in the report's unit; see xentcli.temperature."""

    temperature: float
    loss_mean: float
    calibration_loss: float
    ece: float
    boundary: bool
    renormalization: float  # the report's loss_mean minus the loss at T = 1 (0 for logits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": _num(self.temperature),
            "loss_mean": _num(self.loss_mean),
            "calibration_loss": _num(self.calibration_loss),
            "ece": _num(self.ece),
            "boundary": self.boundary,
            "renormalization": _num(self.renormalization),
        }


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
    calibration: tuple[CalibrationBin, ...] = ()
    loss_histogram: tuple[tuple[float, float, int], ...] = ()  # (lo, hi, rows), in the unit
    worst: tuple[WorstRowOut, ...] | None = None
    id_name: str | None = None
    ci: tuple[float, float, float] | None = None  # (level, low, high) for loss_mean
    baseline: dict[str, Any] | None = None  # set by the CLI from --baseline
    groups: tuple[tuple[dict[str, Any], Result], ...] | None = None  # --group-by slices
    options: RunOptions | None = None  # the run's settings (the top result only)
    # where sample weights came from when no --weight-col named them (an .npz's weights
    # array): {"source": file, "array": name}
    sample_weights: dict[str, str] | None = None
    uses_targets: bool = False  # target columns (one-hot or soft), not one label per row
    temperature_scaling: TemperatureScaling | None = None  # --fit-temperature

    def to_dict(self, *, plot: bool = False) -> dict[str, Any]:
        """The JSON object (stable keys; non-finite numbers become None)."""
        out: dict[str, Any] = {
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
        if self.temperature_scaling is not None:
            out["temperature_scaling"] = self.temperature_scaling.to_dict()
        if self.options is not None:
            out["options"] = self.options.values
        if self.sample_weights is not None:
            out["sample_weights"] = self.sample_weights
        if self.ci is not None:
            level, lo, hi = self.ci
            out["ci"] = {"level": level, "loss_mean": [_num(lo), _num(hi)]}
        if self.baseline is not None:
            out["baseline"] = self.baseline
        if self.groups is not None:
            out["groups"] = [{"group": key, **r.to_dict(plot=plot)} for key, r in self.groups]
        if self.worst is not None:
            out["worst"] = [
                {
                    "row": w.row,
                    "id": w.id,
                    "loss": _num(w.loss),
                    "y_true": w.y_true,
                    "y_pred": w.y_pred,
                    "p_true": None if w.p_true is None else _num(w.p_true),
                }
                for w in self.worst
            ]
        if plot:
            out["calibration"] = [
                {
                    "lo": b.lo,
                    "hi": b.hi,
                    "weight": _num(b.weight),
                    "confidence": _num(b.confidence),
                    "accuracy": _num(b.accuracy),
                }
                for b in self.calibration
            ]
            out["loss_histogram"] = [
                {"lo": _num(lo), "hi": _num(hi), "rows": k} for lo, hi, k in self.loss_histogram
            ]
        return out


PRIOR_FLOOR_NATS = 1e-9  # a prior entropy below this is "the targets are constant"


_num = finite_or_none


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(a) / np.float64(b))


def _xlog(coef: np.ndarray, q: np.ndarray) -> np.ndarray:
    """coef * (-log q), with 0 * anything = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -xlogy(coef, np.log(q))


def prior_loss_sum(summary: Summary, plan: TaskPlan, cfg: LossConfig) -> float:
    """The loss sum (nats) of the best constant prediction, under the run's own options.

    The constant that minimises the loss is the weighted mean target, weighted as the loss
    weighs it: multiclass q_c proportional to w_c Y'_c, Y'_c = sum_i s_i y'_ic (the smoothed
    target, class weights w); binary/multi-label q = pw Y'_1 / (pw Y'_1 + Y'_0) per label.
    Without options this is the class frequencies, and the prior loss their entropy.
    """
    support = summary.class_support.value
    total = float(summary.sample_weight_sum.value)
    a = cfg.label_smoothing
    eps = 0.0 if cfg.logits else plan.eps

    def clip(q: np.ndarray) -> np.ndarray:
        return np.clip(q, eps, 1 - eps) if eps > 0 else q

    task = plan.task.value
    if task == "multiclass":
        c = plan.n_classes
        w = np.ones(c) if plan.class_weight is None else plan.class_weight
        mass = w * ((1 - a) * support + (a / c) * total)  # what each class's -log q_c costs
        with np.errstate(invalid="ignore", divide="ignore"):  # all weight 0: NaN, as torch
            q = clip(mass / mass.sum())
        return float(_xlog(mass, q).sum())
    if task == "binary":
        pos, neg = support[1:2], support[0:1]
    else:
        pos, neg = support, total - support
    pw = 1.0 if plan.pos_weight is None else plan.pos_weight
    y_pos = pw * ((1 - a) * pos + (a / 2) * total)  # sum over rows of pw y'
    y_neg = (1 - a) * neg + (a / 2) * total  # sum over rows of (1 - y')
    with np.errstate(invalid="ignore", divide="ignore"):
        q = clip(y_pos / (y_pos + y_neg))
    per_label = _xlog(y_pos, q) + _xlog(y_neg, 1 - q)
    out = float(per_label.sum())
    if task == "multilabel" and cfg.label_reduction.value == "mean":
        out /= plan.n_classes
    return out


def finish(
    summary: Summary,
    *,
    plan: TaskPlan,
    cfg: LossConfig,
    source: str = "",
    id_name: str | None = None,
) -> Result:
    """Divide the sums into means and convert nats into the chosen unit."""
    task = plan.task.value
    classes = plan.classes
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
    # each row's part of the per-class sums (under --label-reduction mean the total is divided
    # by C, the per-label sums are not)
    class_total = math.fsum(float(v) for v in class_loss)
    rows = []
    for j, name in enumerate(classes):
        denom = weight_sum if task == "multilabel" else float(class_support[j])
        rows.append(
            ClassRow(
                name,
                float(class_support[j]),
                float(class_loss[j]),
                _ratio(float(class_loss[j]), denom),
                _ratio(float(class_loss[j]), class_total),
            )
        )

    sw = float(summary.sample_weight_sum.value)
    metrics: dict[str, float] = {"accuracy": _ratio(float(summary.correct.value), sw)}
    if task == "multilabel":
        metrics["subset_accuracy"] = _ratio(float(summary.exact.value), sw)
    if summary.spec.top_k is not None:
        metrics["top_k_accuracy"] = _ratio(float(summary.top_k.value), sw)
    # Two classes laid out as two columns are halved, as scikit-learn's brier_score_loss
    # (scale_by_half="auto") halves them: the same figure as one column of P(positive).
    halve = task == "multiclass" and len(plan.classes) == 2
    metrics["brier"] = _ratio(float(summary.brier.value), sw) * (0.5 if halve else 1.0)
    calibration, ece, mce = _calibration(summary)
    metrics["ece"] = ece
    metrics["mce"] = mce
    metrics["entropy"] = _ratio(float(summary.entropy.value), sw) / to_unit
    prior = _ratio(prior_loss_sum(summary, plan, cfg), weight_sum) / to_unit
    metrics["prior_entropy"] = prior
    # Constant targets leave nothing to gain over the prior: the ratio is undefined (null).
    degenerate = not prior * to_unit > PRIOR_FLOOR_NATS
    metrics["normalized_entropy"] = math.nan if degenerate else _ratio(loss_mean, prior)
    metrics["information_gain"] = 1.0 - metrics["normalized_entropy"]
    if summary.has_target_entropy and plan.class_weight is None:
        target_entropy = _ratio(float(summary.target_entropy.value), sw) / to_unit
        metrics["target_entropy"] = target_entropy
        metrics["kl"] = loss_mean - target_entropy

    worst = None
    if summary.worst is not None:
        worst = tuple(_worst_out(w, classes, task, to_unit) for w in summary.worst.items)
    hist = (
        tuple(
            (float(LOSS_EDGES[i]) / to_unit, float(LOSS_EDGES[i + 1]) / to_unit, int(k))
            for i, k in enumerate(summary.loss_hist)
        )
        if summary.spec.histogram
        else ()
    )
    ci = None
    if summary.boot is not None and summary.spec.ci is not None:
        lo, hi = summary.boot.interval(summary.spec.ci)
        ci = (summary.spec.ci, lo / to_unit, hi / to_unit)
    return Result(
        ci=ci,
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
        calibration=calibration,
        loss_histogram=hist,
        worst=worst,
        id_name=id_name,
        uses_targets=plan.uses_targets,
    )


def temperature_scaling(
    fit: Any, *, loss_mean_nats: float, logits: bool, to_unit: float
) -> TemperatureScaling:
    """A :class:`xentcli.temperature.TemperatureFit` (nats) in the report's unit. The
    calibration loss is measured inside the temperature family (the loss at T = 1 minus the
    loss at T*, >= 0; a difference below rounding is 0)."""
    calibration = max(fit.loss_mean_t1 - fit.loss_mean, 0.0)
    ece = fit.ece
    if not math.isfinite(fit.temperature):  # an infinite loss at every T: nothing to fit
        calibration = ece = math.nan
    renormalization = 0.0 if logits else loss_mean_nats - fit.loss_mean_t1
    return TemperatureScaling(
        temperature=fit.temperature,
        loss_mean=fit.loss_mean / to_unit,
        calibration_loss=calibration / to_unit,
        ece=ece,
        boundary=fit.boundary,
        renormalization=renormalization / to_unit,
    )


def _calibration(summary: Summary) -> tuple[tuple[CalibrationBin, ...], float, float]:
    """Per-bin figures, ECE = sum_b (W_b / W) |acc_b - conf_b| and MCE = max_b |acc_b - conf_b|."""
    weight = summary.bin_weight.value
    conf = summary.bin_confidence.value
    hits = summary.bin_hits.value
    bins = len(weight)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = float(weight.sum())
    out = []
    gaps = []
    for b in range(bins):
        if weight[b] <= 0:
            continue
        c, a = float(conf[b] / weight[b]), float(hits[b] / weight[b])
        out.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), float(weight[b]), c, a))
        gaps.append(abs(a - c))
    if total <= 0:
        return tuple(out), math.nan, math.nan
    ece = float(np.abs(hits - conf).sum() / total)
    return tuple(out), ece, max(gaps)


def _name(j: Any, classes: tuple[str, ...]) -> str:
    if isinstance(j, list):
        return "|".join(classes[k] for k in j) or "(none)"
    return classes[j]


def _worst_out(w: Any, classes: tuple[str, ...], task: str, to_unit: float) -> WorstRowOut:
    return WorstRowOut(
        row=w.row + 1,
        id=w.id,
        loss=w.loss / to_unit,
        y_true=_name(w.y_true, classes),
        y_pred=_name(w.y_pred, classes),
        p_true=w.p_true,
    )
