"""Advice in messages that is code: column lists written so that, passed back as they are
shown, they pick exactly the columns meant."""

from __future__ import annotations

import fnmatch
import os
import shlex
from typing import Any

import numpy as np

from xentcli.textsafe import needs_escape


def selectable(name: str) -> bool:
    """Whether --pred-cols (and the other column options) can name this column exactly."""
    return bool(name) and name.strip() == name and "," not in name and not needs_escape(name)


def glob_escaped(name: str) -> str:
    """A --pred-cols item that matches exactly ``name``: glob characters in brackets."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def quoted(value: str) -> str:
    """A value as a POSIX shell word."""
    return shlex.quote(value)


def pred_cols_value(scores: list[str], names: list[str]) -> str | None:
    """A --pred-cols value that picks exactly ``scores`` from ``names``, in their order: a
    prefix glob when one fits, else the names; None when a name cannot be written in it."""
    if not scores or not all(selectable(c) for c in scores):
        return None
    prefix = os.path.commonprefix(scores)  # noqa: RUF071 (a prefix of names, not of paths)
    if prefix and not any(ch in prefix for ch in "*?[") and len(scores) > 2:
        glob = prefix + "*"
        if fnmatch.filter(names, glob) == scores:
            return glob
    return ",".join(glob_escaped(c) for c in scores)


def stray_columns(scores: np.ndarray, sum_tol: float) -> list[int] | None:
    """Columns of a block of multiclass probabilities that look like something else kept
    beside them (a feature, a year, an index): the others lie in [0, 1] and sum to 1 on every
    row, and they do not. Either the columns outside [0, 1], or one column whose removal
    leaves rows that sum to 1 (else one pair of columns, for up to 64 columns); None when no
    such explanation fits (or more than one does).
    Of two columns, the one outside [0, 1] when the other lies inside (a binary P(positive)
    beside a feature)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 2 or not len(s):
        return None

    def sums_to_one(cols: np.ndarray) -> bool:
        return bool(np.all(np.abs(s[:, cols].sum(axis=1) - 1.0) <= sum_tol))

    unit = np.all((s >= 0) & (s <= 1), axis=0)
    if not unit.all():
        keep = np.flatnonzero(unit)
        if (len(keep) >= 2 and sums_to_one(keep)) or (s.shape[1] == 2 and len(keep) == 1):
            # two columns, one a probability and one not (P(positive) beside an age): the
            # probability is the binary score; two-class logits are never all in [0, 1]
            return [int(j) for j in np.flatnonzero(~unit)]
        return None
    if s.shape[1] < 3:
        return None
    total = s.sum(axis=1)
    fits = [j for j in range(s.shape[1]) if np.all(np.abs(total - s[:, j] - 1.0) <= sum_tol)]
    if fits or s.shape[1] < 4 or s.shape[1] > STRAY_PAIR_MAX_COLUMNS:
        return fits if len(fits) == 1 else None
    # two columns inside [0, 1] that are not scores (a 0/1 flag and a scaled feature)
    pairs = [
        [i, j]
        for i in range(s.shape[1])
        for j in range(i + 1, s.shape[1])
        if np.all(np.abs(total - s[:, i] - s[:, j] - 1.0) <= sum_tol)
    ]
    return pairs[0] if len(pairs) == 1 else None


STRAY_PAIR_MAX_COLUMNS = 64  # pairs of columns tried as the strays: 2,016 at most


def two_column_advice(names: list[str], stray: int, columns: list[str]) -> str | None:
    """Two score columns, ``names[stray]`` outside [0, 1] and the other inside: either the
    other is P(positive) and this one a feature (an age), or this one is a logit and the
    other a feature in [0, 1]. The values cannot tell; the advice gives both ways, each
    under its condition, as options that can be passed as they are shown."""
    from xentcli.textsafe import shown

    out, inside = names[stray], names[1 - stray]
    if not (selectable(out) and selectable(inside)):
        return None
    keep_inside = pred_cols_value([inside], columns)
    keep_out = pred_cols_value([out], columns)
    if keep_inside is None or keep_out is None:
        return None
    return (
        f"of the two score columns, '{shown(inside)}' is in [0, 1] on every row and "
        f"'{shown(out)}' is not: if '{shown(out)}' is not a score, choose the score with "
        f"--pred-cols {quoted(keep_inside)} (if '{shown(inside)}' is not a score, "
        f"--pred-cols {quoted(keep_out)} --logits)"
    )


def class_names_advice(values: Any, classes: int, *, binary: bool) -> str | None:
    """Labels that are not class positions (-1/1, 1/2, 1..K, or names beside .npy scores):
    when a chunk holds exactly as many distinct labels as there are classes, the
    --class-names that names the classes by them in sorted order, which is how scikit-learn
    orders ``classes_`` and so the columns of ``predict_proba`` (binary: the column is
    P(the larger label)). Stated under that condition; None when the labels cannot say."""
    distinct = sorted(set(np.asarray(values).tolist()))
    if len(distinct) != classes or not all(selectable(str(v)) for v in distinct):
        return None
    value = ",".join(str(v) for v in distinct)
    if binary:
        return (
            f"if the score is P(label {distinct[1]}) (as scikit-learn's predict_proba[:, 1] of "
            f"classes_ [{distinct[0]}, {distinct[1]}]), pass --class-names {quoted(value)}"
        )
    return (
        "if the score columns are the classes in sorted order (as scikit-learn's classes_ "
        f"and predict_proba), pass --class-names {quoted(value)}"
    )
