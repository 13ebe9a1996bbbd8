"""One row by hand: the quantities of cross-entropy, step by step (``xent explain``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xentcli.config import Base
from xentcli.errors import UsageError


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
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

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


def _xlogy_neg(y: float, p: float) -> float:
    """-y log p with 0 log 0 = 0."""
    if y == 0:
        return 0.0
    return math.inf if p == 0 else -y * math.log(p)


def explain(
    *,
    probs: str | None,
    logits: str | None,
    label: str | None,
    target: str | None,
    base: Base = Base.e,
    class_names: tuple[str, ...] | None = None,
    sum_tol: float = 1e-3,
) -> Explanation:
    """Work one row through: probabilities, surprisal, entropies, KL, loss and gradient."""
    if (probs is None) == (logits is None):
        raise UsageError("give the prediction with exactly one of --probs or --logits")
    if (label is None) == (target is None):
        raise UsageError("give the truth with exactly one of --label or --target")
    z = _numbers("--logits", logits) if logits is not None else None
    if z is not None:
        if len(z) == 1:  # one logit: a binary prediction, p = sigmoid(z)
            pos = 1.0 / (1.0 + math.exp(-z[0])) if z[0] >= 0 else math.exp(z[0]) / (
                1.0 + math.exp(z[0]))
            p = [1.0 - pos, pos]
        else:
            m = max(z)
            e = [math.exp(v - m) for v in z]
            total = math.fsum(e)
            p = [v / total for v in e]
    else:
        assert probs is not None
        p = _numbers("--probs", probs)
        if any(v < 0 or v > 1 for v in p):
            raise UsageError(f"--probs '{probs}': probabilities must be in [0, 1] "
                             "(pass --logits for raw scores)")
        if len(p) == 1:
            p = [1.0 - p[0], p[0]]
        elif abs(math.fsum(p) - 1.0) > sum_tol:
            raise UsageError(f"--probs '{probs}': sums to {math.fsum(p):.6g}, not 1 "
                             "(pass --logits for raw scores)")
    binary = len(p) == 2 and ((z is not None and len(z) == 1) or (probs is not None
                                                                   and len(probs.split(",")) == 1))
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
                raise UsageError(f"--label '{label}': not a class index or name "
                                 f"({', '.join(names)})") from None
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
    surprisal = tuple(math.inf if v == 0 else -math.log(v) / unit for v in p)
    entropy = math.fsum(_xlogy_neg(v, v) for v in p) / unit
    target_entropy = math.fsum(_xlogy_neg(v, v) for v in y) / unit
    cross = math.fsum(_xlogy_neg(yv, pv) for yv, pv in zip(y, p, strict=True)) / unit
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
