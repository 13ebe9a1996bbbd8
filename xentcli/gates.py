"""CI gates: ``--check EXPR``, ``--max-loss`` and baselines, evaluated on a finished report.

A check is ``NAME OP NUMBER``: NAME a key of the JSON report (``loss``, ``metrics.ece``,
``per_class.cat.loss_mean``; of ``xent compare``'s report: ``b.loss``, ``delta.metrics.ece``,
``difference.ci.high``), OP one of ``< <= > >= == !=``. Expressions are parsed by a small
grammar, never evaluated as code.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xentcli.errors import UsageError

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
# ASCII digits only: Python's \d and float() also take other scripts' digits ("１"), and a
# threshold nobody can read is a gate nobody checks.
_NUMBER = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_NUMBER_ONLY = re.compile(rf"^\s*{_NUMBER}\s*$")
_NAME = r"[^<>=!\s](?:[^<>=!]*[^<>=!\s])?"
_CHECK = re.compile(rf"^\s*(?P<name>{_NAME})\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<num>{_NUMBER})\s*$")


@dataclass(frozen=True)
class Check:
    name: str
    op: str
    threshold: float
    text: str

    def passes(self, value: float | None) -> bool:
        """A missing or non-finite value (an infinite loss) never passes."""
        if value is None or not math.isfinite(value):
            return False
        return OPS[self.op](value, self.threshold)


def parse_check(text: str) -> Check:
    m = _CHECK.match(text)
    if not m:
        raise UsageError(
            f"--check '{text}': expected NAME OP NUMBER, e.g. 'loss<=0.35' or "
            "'metrics.accuracy>=0.9' (OP is one of < <= > >= == !=)"
        )
    threshold = float(m["num"])
    if not math.isfinite(threshold):  # 1e999: a bound every figure passes (or none does)
        raise UsageError(
            f"--check '{text}': {m['num']} is not a finite number; a gate against it could "
            "never fail (or never pass)"
        )
    return Check(m["name"], m["op"], threshold, text.strip())


def lookup(report: dict[str, Any], name: str, check: str | None = None) -> float | None:
    """The number ``name`` names in a JSON report; UsageError when there is no such figure
    (naming the whole ``check`` expression it came from).

    ``name`` is a path of keys (``metrics.ece``); ``per_class.<class>.<field>`` picks a class's
    row (the class name may hold dots), at the top or inside a nested report (``b.per_class.
    cat.loss_mean`` of a comparison); a key that itself holds dots (``delta.metrics.ece``) is
    found as it is."""
    shown = check or name
    node: Any = report
    parts = name.split(".")
    i = 0
    while i < len(parts):
        rest = ".".join(parts[i:])
        if isinstance(node, dict) and i > 0 and rest in node:  # a flat key: delta's
            node = node[rest]
            break
        p = parts[i]
        if p == "per_class" and isinstance(node, dict) and len(parts) - i >= 3:
            cls, field = ".".join(parts[i + 1 : -1]), parts[-1]
            rows = {r["class"]: r for r in node.get("per_class", [])}
            if cls not in rows:
                raise UsageError(
                    f"--check '{shown}': no class '{cls}' (classes: {', '.join(rows) or 'none'})"
                )
            row = rows[cls]
            if field not in row:
                raise UsageError(
                    f"--check '{shown}': the report has no figure '{name}'; "
                    f"figures: {', '.join(figure_names(report))}"
                )
            node = row[field]
            break
        if not isinstance(node, dict) or p not in node:
            raise UsageError(
                f"--check '{shown}': the report has no figure '{name}'; "
                f"figures: {', '.join(figure_names(report))}"
            )
        node = node[p]
        i += 1
    if node is not None and (isinstance(node, bool) or not isinstance(node, (int, float))):
        raise UsageError(f"--check '{shown}': '{name}' is not a number")
    return None if node is None else float(node)


def figure_names(report: dict[str, Any]) -> list[str]:
    if is_comparison(report):
        return [
            f"a.NAME or b.NAME (NAME: {', '.join(figure_names(report['b']))})",
            "delta.NAME (B - A of loss, loss_sum, loss_mean, perplexity, metrics.*, "
            "per_class.<class>.loss_mean)",
            "difference.loss_mean (paired, B - A)",
            "difference.ci.low",
            "difference.ci.high",
            "difference.n",
        ]
    names = [
        k
        for k, v in report.items()
        if (isinstance(v, (int, float)) and not isinstance(v, bool)) or v is None
    ]
    names += [f"metrics.{k}" for k in report.get("metrics", {})]
    if report.get("per_class"):
        names.append("per_class.<class>.loss_mean (or support, loss_sum, share)")
    return names


def is_comparison(report: dict[str, Any]) -> bool:
    """A report of ``xent compare`` ({a, b, difference, ...}), not of ``compute``."""
    return isinstance(report.get("difference"), dict) and isinstance(report.get("b"), dict)


def failures(report: dict[str, Any], checks: list[Check]) -> list[str]:
    """The failed checks, each as a line; every name is resolved (or refused) first."""
    values = [(c, lookup(report, c.name, c.text)) for c in checks]
    out = []
    for c, v in values:
        if not c.passes(v):
            shown = "null (infinite or undefined)" if v is None else f"{v:.6g}"
            out.append(f"{c.name} is {shown}, wanted {c.op} {c.threshold:g}")
    return out


@dataclass(frozen=True)
class MaxIncrease:
    """``--max-increase X`` (absolute) or ``X%`` (relative to the baseline)."""

    amount: float
    relative: bool

    @staticmethod
    def parse(text: str) -> MaxIncrease:
        t = text.strip()
        relative = t.endswith("%")
        number = t[:-1] if relative else t
        try:
            if not _NUMBER_ONLY.match(number):
                raise ValueError(number)
            amount = float(number)
        except ValueError:
            raise UsageError(
                f"--max-increase '{text}': expected a number or a percentage such as 0.01 or 2%"
            ) from None
        if not math.isfinite(amount) or amount < 0:
            raise UsageError(f"--max-increase '{text}': must be a finite number >= 0")
        return MaxIncrease(amount / 100 if relative else amount, relative)

    def exceeded(self, new: float | None, old: float | None) -> bool:
        """Whether ``new`` rose above ``old`` by more than allowed. An old loss that is null
        (infinite, as reports write it) cannot be exceeded; an infinite new one exceeds any
        finite old one."""
        if old is None or not math.isfinite(old):
            return False
        if new is None or not math.isfinite(new):
            return True
        allowed = self.amount * abs(old) if self.relative else self.amount
        return new - old > allowed

    def describe(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"

    def verdict(self, new: float | None, old: float | None, unit: str) -> str:
        """What the gate tested, in the form it was given: an absolute gate compares the rise
        in the unit ("loss rose by 0.031 nats, above the allowed 0.02"), a relative one the
        rise as a percentage of the baseline loss ("loss rose by 6.6%, from ..., above the
        allowed 2%").
        None stands for a non-finite loss, as reports write it."""
        given = f"--max-increase {self.describe()}"
        if old is None or not math.isfinite(old):
            return f"the baseline loss is infinite: no loss rises above it ({given})"
        if new is None or not math.isfinite(new):
            return f"loss is infinite (baseline {old:.6g} {unit}): above any allowed rise ({given})"
        change = new - old
        if self.relative:
            if old == 0:
                shown = "0%" if change == 0 else "more than any percentage"
            else:
                shown = f"{100 * abs(change) / abs(old):.4g}%"
            allowed = f"{self.amount * 100:g}%"
        else:
            by = f"{abs(change):.6g}"
            if by == f"{self.amount:.6g}":  # 0.0200000001 above 0.02: say which is larger
                by = repr(abs(change))
            shown, allowed = f"{by} {unit}", f"{self.amount:g} {unit}"
        moved = "rose" if change > 0 else "fell" if change < 0 else "did not change"
        rise = f"loss {moved}" if change == 0 else f"loss {moved} by {shown}"
        where = "above" if self.exceeded(new, old) else "within"
        span = f"from {old:.6g} to {new:.6g} {unit}".rstrip()
        if change <= 0:
            return f"{rise}, {span} ({given})"
        return f"{rise}, {span}, {where} the allowed {allowed} ({given})"
