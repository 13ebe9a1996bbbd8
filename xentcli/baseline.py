"""``--baseline PREV.json``: compare a report with a previous run's JSON (a CI artifact)."""

from __future__ import annotations

import json
import math
from typing import Any

from xentcli.errors import UsageError
from xentcli.gates import MaxIncrease


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise UsageError(f"--baseline {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--baseline {path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--baseline {path}: not JSON ({exc.msg} at line {exc.lineno}); "
                         "give the output of xent compute --format json") from None
    if not isinstance(data, dict) or "loss" not in data:
        raise UsageError(f"--baseline {path}: not an xent report (no 'loss'); "
                         "give the output of xent compute --format json")
    return data


def _figures(report: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        k: report.get(k) for k in ("loss", "loss_sum", "loss_mean", "perplexity")
    }
    out.update({f"metrics.{k}": v for k, v in report.get("metrics", {}).items()})
    for row in report.get("per_class", []):
        out[f"per_class.{row['class']}.loss_mean"] = row.get("loss_mean")
    return out


def compare(report: dict[str, Any], base: dict[str, Any], path: str,
            bound: MaxIncrease | None) -> tuple[dict[str, Any], str | None]:
    """(the report's ``baseline`` object, a regression message or None)."""
    for key in ("task", "unit", "reduction"):
        if key in base and base[key] != report[key]:
            raise UsageError(
                f"--baseline {path}: its {key} is '{base[key]}' but this run's is "
                f"'{report[key]}'; compare runs made with the same options"
            )
    new, old = _figures(report), _figures(base)
    delta = {}
    for k, v in new.items():
        o = old.get(k)
        if isinstance(v, (int, float)) and isinstance(o, (int, float)):
            delta[k] = v - o
    out: dict[str, Any] = {"path": path, "loss": base.get("loss"), "delta": delta,
                           "figures": {k: old[k] for k in delta}}
    message = None
    if bound is not None:
        out["max_increase"] = bound.describe()
        regressed = bound.exceeded(report.get("loss"), base.get("loss"))
        out["regressed"] = regressed
        if regressed:
            new_loss, old_loss = report.get("loss"), base.get("loss")
            shown = "null" if new_loss is None else f"{new_loss:.6g}"
            rel = ""
            if isinstance(new_loss, float) and isinstance(old_loss, (int, float)) and old_loss:
                rel = f" ({100 * (new_loss - old_loss) / abs(old_loss):+.2f}%)"
            message = (f"loss {shown} vs baseline {old_loss:.6g}{rel} rose by more than "
                       f"--max-increase {bound.describe()}")
    return out, message


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
