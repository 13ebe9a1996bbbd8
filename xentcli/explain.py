"""One row by hand: the quantities of cross-entropy, step by step (``xent explain``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from xentcli.config import Base, LossConfig
from xentcli.errors import UsageError
from xentcli.kernels import xlogy
from xentcli.numbers import finite_or_none


@dataclass(frozen=True)
class Explanation:
    classes: tuple[str, ...]
    logits: tuple[float, ...] | None
    probs: tuple[float, ...]
    target: tuple[float, ...]
    surprisal: tuple[float, ...]  # -log p_c, in the unit
    entropy: float  # H(p)
    target_entropy: float  # H(y)
    cross_entropy: float  # H(y, p)
    kl: float  # KL(y || p) = H(y, p) - H(y)
    loss: float  # the row's loss = H(y, p)
    gradient: tuple[float, ...]  # d loss / d logits = p - y (in nats)
    unit: str
    label: int | None
    binary: bool

    def to_dict(self) -> dict[str, Any]:
        num = finite_or_none
        out: dict[str, Any] = {
            "classes": list(self.classes),
            "probs": list(self.probs),
            "target": list(self.target),
            "surprisal": [num(v) for v in self.surprisal],
            "entropy": num(self.entropy),
            "target_entropy": num(self.target_entropy),
            "cross_entropy": num(self.cross_entropy),
            "kl": num(self.kl),
            "loss": num(self.loss),
            "gradient": list(self.gradient),
            "unit": self.unit,
        }
        if self.logits is not None:
            out["logits"] = list(self.logits)
        return out


def _numbers(option: str, text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"{option} '{text}': expected numbers separated by commas") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{option} '{text}': values must be finite")
    return values


def _xlogy_neg(y: float, log_p: float) -> float:
    """-y log p from log p, with 0 log 0 = 0."""
    return 0.0 - float(xlogy(y, np.asarray(log_p)))  # never -0.0


def _log_softmax(z: list[float]) -> list[float]:
    """log p of a softmax: t - log1p(a), t = z - max and a the sum of e^t over all but the
    first max, so log p keeps its precision when the other classes are far below."""
    m = max(z)
    k = z.index(m)
    a = math.fsum(math.exp(v - m) for j, v in enumerate(z) if j != k)
    lse = math.log1p(a)
    return [(v - m) - lse for v in z]


def _log_sigmoid_pair(z: float) -> list[float]:
    """[log(1 - sigmoid(z)), log sigmoid(z)] = [-softplus(z), -softplus(-z)]."""

    def softplus(x: float) -> float:
        return max(x, 0.0) + math.log1p(math.exp(-abs(x)))

    return [-softplus(z), -softplus(-z)]


def explain(
    *,
    probs: str | None,
    logits: str | None,
    label: str | None,
    target: str | None,
    base: Base = Base.e,
    class_names: tuple[str, ...] | None = None,
    sum_tol: float = LossConfig.sum_tol,
) -> Explanation:
    """Work one row through: probabilities, surprisal, entropies, KL, loss and gradient."""
    if (probs is None) == (logits is None):
        raise UsageError("give the prediction with exactly one of --probs or --logits")
    if (label is None) == (target is None):
        raise UsageError("give the truth with exactly one of --label or --target")
    z = _numbers("--logits", logits) if logits is not None else None
    if z is not None:
        log_p = _log_softmax(z) if len(z) > 1 else _log_sigmoid_pair(z[0])
        p = [math.exp(v) for v in log_p]
    else:
        assert probs is not None
        p = _numbers("--probs", probs)
        if any(v < 0 or v > 1 for v in p):
            raise UsageError(
                f"--probs '{probs}': probabilities must be in [0, 1] (pass --logits for raw scores)"
            )
        if len(p) == 1:
            p = [1.0 - p[0], p[0]]
        elif abs(math.fsum(p) - 1.0) > sum_tol:
            raise UsageError(
                f"--probs '{probs}': sums to {math.fsum(p):.6g}, not 1 "
                "(pass --logits for raw scores)"
            )
        log_p = [-math.inf if v == 0 else math.log(v) for v in p]
    binary = len(p) == 2 and (
        (z is not None and len(z) == 1) or (probs is not None and len(probs.split(",")) == 1)
    )
    c = len(p)
    names = class_names or tuple(str(i) for i in range(c))
    if len(names) != c:
        raise UsageError(f"--class-names gives {len(names)} names for {c} classes")

    index: int | None = None
    if label is not None:
        if label in names:
            index = names.index(label)
        else:
            try:
                index = int(label)
            except ValueError:
                raise UsageError(
                    f"--label '{label}': not a class index or name ({', '.join(names)})"
                ) from None
        if not 0 <= index < c:
            raise UsageError(f"--label {index}: out of range for {c} classes (0..{c - 1})")
        y = [1.0 if k == index else 0.0 for k in range(c)]
    else:
        assert target is not None
        y = _numbers("--target", target)
        if len(y) == 1 and c == 2:
            y = [1.0 - y[0], y[0]]
        if len(y) != c:
            raise UsageError(f"--target has {len(y)} values for {c} classes")
        if any(v < 0 or v > 1 for v in y) or abs(math.fsum(y) - 1.0) > sum_tol:
            raise UsageError("--target must be a probability row: values in [0, 1] summing to 1")

    unit = base.log
    # from log p, never log(exp(...)): p of a logit 40 below the max is 4e-18, its log exact
    surprisal = tuple((0.0 - lp) / unit for lp in log_p)  # 0.0 - 0.0: no -0.0
    entropy = math.fsum(_xlogy_neg(pv, lp) for pv, lp in zip(p, log_p, strict=True)) / unit
    target_entropy = (
        math.fsum(_xlogy_neg(v, -math.inf if v == 0 else math.log(v)) for v in y) / unit
    )
    cross = math.fsum(_xlogy_neg(yv, lp) for yv, lp in zip(y, log_p, strict=True)) / unit
    return Explanation(
        classes=tuple(names),
        logits=tuple(z) if z is not None else None,
        probs=tuple(p),
        target=tuple(y),
        surprisal=surprisal,
        entropy=entropy,
        target_entropy=target_entropy,
        cross_entropy=cross,
        kl=cross - target_entropy,
        loss=cross,
        gradient=tuple(pv - yv for pv, yv in zip(p, y, strict=True)),
        unit=base.unit,
        label=index,
        binary=binary,
    )
