"""``--baseline PREV.json``: compare a report with a previous run's JSON (a CI artifact).

A figure written as null is non-finite (the JSON is strict; an infinite loss under
``--clip-eps 0`` is null). Against a null baseline loss there is no delta, and
``--max-increase`` cannot fail: no loss rises above an infinite one.
"""

from __future__ import annotations

import json
import math
from typing import Any

from xentcli.config import loss_option_names
from xentcli.errors import UsageError
from xentcli.gates import MaxIncrease

_FIGURES = ("loss", "loss_sum", "loss_mean", "perplexity")
_SETTINGS = ("task", "unit", "reduction")
_REMEDY = "give the output of xent compute --format json"
MAX_BASELINE_BYTES = 256 << 20  # reports are far smaller (10^4 slices: ~30 MB)


class BaselineMissing(UsageError):
    """The --baseline file does not exist (a first run, or a path mistyped)."""


class _NonStrictJSON(ValueError):
    """NaN or Infinity in the file: Python's json writes them, RFC 8259 (and xent) do not."""


def _refuse_constant(name: str) -> Any:
    raise _NonStrictJSON(name)


def load(path: str) -> dict[str, Any]:
    """The baseline report, checked to have the shape ``compare`` reads (UsageError if not)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BASELINE_BYTES + 1)  # an endless stream (/dev/zero) stops here
    except FileNotFoundError:
        raise BaselineMissing(
            f"--baseline {path}: no such file; on a first run, before there is a previous "
            "report, pass --allow-missing-baseline"
        ) from None
    except OSError as exc:
        raise UsageError(f"--baseline {path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BASELINE_BYTES:
        raise UsageError(
            f"--baseline {path}: larger than {MAX_BASELINE_BYTES >> 20} MB, which no report "
            f"of xent's is; {_REMEDY}"
        )
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except _NonStrictJSON as exc:
        raise UsageError(
            f"--baseline {path}: '{exc}' is not JSON; write a non-finite "
            "figure as null, as xent does"
        ) from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--baseline {path}: not JSON ({exc.msg} at line {exc.lineno}); {_REMEDY}"
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"--baseline {path}: cannot read: not UTF-8 text; {_REMEDY}") from None
    except RecursionError:
        raise UsageError(f"--baseline {path}: JSON nested too deeply; {_REMEDY}") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        reason = str(exc).split(":")[0]
        raise UsageError(f"--baseline {path}: not usable JSON ({reason}); {_REMEDY}") from None
    if not isinstance(data, dict) or "loss" not in data:
        raise UsageError(f"--baseline {path}: not an xent report (no 'loss'); {_REMEDY}")
    problem = _shape_problem(data)
    if problem:
        raise UsageError(f"--baseline {path}: {problem}; {_REMEDY}")
    return data


def _is_figure(x: Any) -> bool:
    """A number (not a boolean) that fits a float, or null (a non-finite figure)."""
    if x is None:
        return True
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _kind(x: Any) -> str:
    """What a JSON value is, for a message: 'the string "0.1"', 'an array'."""
    if isinstance(x, bool):
        return f"the boolean {json.dumps(x)}"
    if isinstance(x, str):
        return f"the string {json.dumps(x[:40])}"
    if isinstance(x, (int, float)):
        return f"the number {x}" if _is_figure(x) else "a number out of range"
    if isinstance(x, list):
        return "an array"
    return "an object"


def _shape_problem(data: dict[str, Any]) -> str | None:
    """What in a parsed report ``compare`` could not use, or None."""
    for key in _FIGURES:
        if key in data and not _is_figure(data[key]):
            return f"'{key}' is {_kind(data[key])}, not a number or null"
    for key in _SETTINGS:
        if key in data and not isinstance(data[key], str):
            return f"'{key}' is {_kind(data[key])}, not a string"
    options = data.get("options", {})
    if not isinstance(options, dict):
        return f"'options' is {_kind(options)}, not an object"
    metrics = data.get("metrics", {})
    if not isinstance(metrics, dict):
        return f"'metrics' is {_kind(metrics)}, not an object"
    for name, value in metrics.items():
        if not _is_figure(value):
            return f"'metrics.{name}' is {_kind(value)}, not a number or null"
    per_class = data.get("per_class", [])
    if not isinstance(per_class, list):
        return f"'per_class' is {_kind(per_class)}, not an array"
    for i, row in enumerate(per_class):
        if not isinstance(row, dict):
            return f"'per_class[{i}]' is {_kind(row)}, not an object"
        if "class" not in row:
            return f"'per_class[{i}]' has no 'class'"
        if not isinstance(row["class"], str):
            return f"'per_class[{i}].class' is {_kind(row['class'])}, not a string"
        if "loss_mean" in row and not _is_figure(row["loss_mean"]):
            return f"'per_class[{i}].loss_mean' is {_kind(row['loss_mean'])}, not a number or null"
    return None


def figures(report: dict[str, Any]) -> dict[str, float | None]:
    """A report's figures by the names ``delta`` uses: ``loss``, ``metrics.ece``,
    ``per_class.<class>.loss_mean``."""
    out: dict[str, float | None] = {k: report[k] for k in _FIGURES if k in report}
    out.update({f"metrics.{k}": v for k, v in report.get("metrics", {}).items()})
    for row in report.get("per_class", []):
        if "loss_mean" in row:
            out[f"per_class.{row['class']}.loss_mean"] = row["loss_mean"]
    return out


def compare(
    report: dict[str, Any], base: dict[str, Any], path: str, bound: MaxIncrease | None
) -> tuple[dict[str, Any], str | None]:
    """(the report's ``baseline`` object, a regression message or None).

    ``base`` is what ``load`` returned. The ``baseline`` object holds the baseline's figures
    (null where non-finite), each ``delta`` = new - old where both are finite, and, when the
    baseline loss is null, a ``note`` saying why there is no loss delta and no regression (and
    when the baseline has no ``options``, that they could not be checked). A baseline made with
    other loss options is refused.
    """
    for key in _SETTINGS:
        if key in base and base[key] != report[key]:
            raise UsageError(
                f"--baseline {path}: its {key} is '{base[key]}' but this run's is "
                f"'{report[key]}'; compare runs made with the same options"
            )
    notes = []
    if "options" in base:
        _same_options(report.get("options", {}), base["options"], path)
    else:
        notes.append(
            "it has no 'options' (an older xent wrote it), so whether it was made with the "
            "same loss options cannot be checked"
        )
    new, old = figures(report), figures(base)
    delta = {}
    for k, v in new.items():
        o = old.get(k)
        if v is not None and o is not None:
            delta[k] = v - o
    new_loss, old_loss = report.get("loss"), base["loss"]
    out: dict[str, Any] = {
        "path": path,
        "loss": old_loss,
        "delta": delta,
        "figures": {k: old[k] for k in new if k in old},
    }
    message = None
    if old_loss is None:
        notes.append(
            "the baseline loss is null (infinite): the change cannot be measured, "
            "and no loss rises above it"
        )
    if notes:
        out["note"] = "; ".join(notes)
    if bound is not None:
        out["max_increase"] = bound.describe()
        # An infinite baseline loss cannot be exceeded, even by an infinite loss.
        regressed = old_loss is not None and bound.exceeded(new_loss, old_loss)
        out["regressed"] = regressed
        out["verdict"] = bound.verdict(new_loss, old_loss, str(report.get("unit", "")))
        if regressed:
            message = out["verdict"]
    return out, message


def _same_options(new: dict[str, Any], old: dict[str, Any], path: str) -> None:
    """Refuse a baseline made with other loss options: its loss is another quantity, and a
    delta between the two would read as a change of the model."""
    for key in loss_option_names():
        if key == "weight_col":  # weighted or not is the option; the column may be renamed
            if key in old and (old[key] is None) != (new.get(key) is None):
                raise UsageError(
                    f"--baseline {path}: it was made {_weighting(old[key])} but this run is "
                    f"{_weighting(new.get(key))}; compare runs made with the same loss options"
                )
        elif key in old and old[key] != new.get(key):
            raise UsageError(
                f"--baseline {path}: it was made with {key} {_option(old[key])} but this run has "
                f"{key} {_option(new.get(key))}; compare runs made with the same loss options"
            )


def _weighting(column: Any) -> str:
    return "without sample weights" if column is None else f"with sample weights ({column})"


def _option(value: Any) -> str:
    return json.dumps(value)[:80]


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
