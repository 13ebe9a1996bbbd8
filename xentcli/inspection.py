"""``xent inspect``: what a file holds and what ``xent compute`` would make of it."""

from __future__ import annotations

import itertools
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from xentcli.advice import pred_cols_value, stray_columns, two_column_advice
from xentcli.config import LossConfig, ReadConfig, Task
from xentcli.errors import InputError, NotNumbers, XentError
from xentcli.io import open_dataset
from xentcli.scoring import plan_task
from xentcli.textsafe import shown
from xentcli.validate import LabelEncoder

PREVIEW_ROWS = 5
PREVIEW_SCORES = 7


@dataclass
class Inspection:
    path: str
    format: str
    rows: int
    columns: list[tuple[str, str]]  # (name, type)
    task: str
    input: str  # "probs" | "logits" | a note
    classes: tuple[str, ...]
    score_columns: list[str]
    label_counts: dict[str, float] = field(default_factory=dict)
    preview_header: list[str] = field(default_factory=list)
    preview: list[list[str]] = field(default_factory=list)
    command: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows if self.rows >= 0 else None,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
            "task": self.task,
            "input": self.input,
            "classes": list(self.classes),
            "score_columns": self.score_columns,
            "label_counts": self.label_counts,
            "preview": {"columns": self.preview_header, "rows": self.preview},
            "command": self.command,
            "notes": self.notes,
        }


def _judge(scores: np.ndarray, sum_tol: float, *, rows_sum_to_one: bool) -> tuple[bool, str]:
    """(logits?, what the values look like) from the first chunk."""
    s = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(s).all():
        return False, "probs (some values are not finite: compute will refuse them)"
    in_unit = bool(((s >= 0) & (s <= 1)).all())
    if not rows_sum_to_one:
        return (False, "probs") if in_unit else (True, "logits")
    sums = s.sum(axis=1)
    if in_unit and bool((np.abs(sums - 1) <= sum_tol).all()):
        return False, "probs"
    if (s >= 0).all() and (sums > 0).all():
        return False, "non-negative scores whose rows do not sum to 1 (use --renormalize)"
    return True, "logits"


def inspect_file(
    read: ReadConfig, *, task: Task = Task.auto, sum_tol: float = LossConfig.sum_tol
) -> Inspection:
    """Read the whole input once (streaming) to count rows and labels; judge the first chunk.

    A text column that is not a score is taken as the id column (and the suggested command
    says so). When the file cannot be scored as it is, the report still shows its columns,
    with the problem and what to pass.
    """
    try:
        return _inspect(read, task=task, sum_tol=sum_tol)
    except XentError as exc:
        if isinstance(exc, NotNumbers) and read.id_col is None and read.predictions != "-":
            try:
                return _inspect(replace(read, id_col=exc.column), task=task, sum_tol=sum_tol)
            except XentError:
                pass
        if read.predictions == "-":
            raise
        guess = _target_guess(read)
        if guess:
            try:
                return _inspect(replace(read, target_cols=guess), task=task, sum_tol=sum_tol)
            except XentError:
                pass
        return _partial(read, exc)


def _target_guess(read: ReadConfig) -> str | None:
    """Target columns named after the score columns (``y_sports`` for ``sports``), for a
    table with no label column: tried before giving up (the command then says so)."""
    from xentcli.io import describe_columns, guess_target_cols

    if read.target_cols or read.labels or read.pred_cols:
        return None
    try:
        _, columns, _ = describe_columns(read)
    except XentError:
        return None
    others = {read.id_col, read.weight_col}
    return guess_target_cols([name for name, _ in columns if name not in others])


def _partial(read: ReadConfig, exc: XentError) -> Inspection:
    """What can be said of a file that cannot be scored as it is: its columns and why."""
    from xentcli.io import describe_columns

    kind, columns, rows = describe_columns(read)
    return Inspection(
        path=read.predictions,
        format=kind,
        rows=-1 if rows is None else rows,
        columns=columns,
        task="unknown",
        input="unknown",
        classes=(),
        score_columns=[],
        notes=[str(exc)],
        command="",
    )


def _inspect(read: ReadConfig, *, task: Task, sum_tol: float) -> Inspection:
    ds = open_dataset(read)
    first = next(ds.parts, None)
    if first is None:
        raise InputError(f"{ds.source}: no data rows")
    plan = plan_task(ds, LossConfig(task=task, sum_tol=sum_tol), first, read.class_names)
    logits, looks = _judge(
        first.score_matrix, sum_tol, rows_sum_to_one=plan.task is Task.multiclass
    )
    if plan.task is Task.multiclass and looks != "probs" and ds.column_names is not None:
        # columns that are not scores beside probabilities: leave them out, not --renormalize
        stray = stray_columns(first.score_matrix, sum_tol)
        names = list(ds.score_names)
        if stray and len(names) == 2:
            # P(positive) beside a feature, or a logit beside one: no command can know which
            advice = two_column_advice(names, stray[0], [n for n, _ in ds.columns])
            raise InputError(f"{ds.source}: {advice or 'choose the score with --pred-cols'}")
        keep = [n for j, n in enumerate(names) if j not in (stray or [])]
        value = pred_cols_value(keep, [n for n, _ in ds.columns]) if stray else None
        if stray and value is not None:
            out = _inspect(replace(read, pred_cols=value), task=task, sum_tol=sum_tol)
            what = ", ".join(f"'{shown(names[j])}'" for j in stray)
            out.notes.append(
                f"{what} {'is' if len(stray) == 1 else 'are'} not taken as a score: the other "
                "columns are probabilities that sum to 1 on every row of the first chunk"
            )
            return out
    out = Inspection(
        path=ds.source,
        format=ds.format,
        rows=0,
        columns=ds.columns,
        task=plan.task.value,
        input=looks,
        classes=plan.classes,
        score_columns=[] if ds.scores_are_list else list(ds.score_names),
    )
    counts = np.zeros(plan.n_classes)
    encoder = LabelEncoder(
        plan.classes,
        ds.label_source or ds.source,
        ds.label_column,
        binary=plan.task is Task.binary,
    )
    for part in itertools.chain([first], ds.parts):
        out.rows += part.n
        if part.labels is not None:
            y = encoder.encode(part.labels, part.row0)
            ok = (y >= 0) & (y < plan.n_classes)
            counts += np.bincount(y[ok], minlength=plan.n_classes)[: plan.n_classes]
            if not ok.all():
                out.notes.append(
                    f"{int((~ok).sum())} labels outside 0..{plan.n_classes - 1} "
                    "in a chunk (rows to skip need --ignore-index)"
                )
        elif part.targets is not None:
            t = np.asarray(part.targets, dtype=np.float64)
            counts += t.sum(axis=0) if t.shape[1] == plan.n_classes else 0
    out.label_counts = {name: float(counts[j]) for j, name in enumerate(plan.classes)}
    _preview(out, first, plan.classes, ds.score_names if not ds.scores_are_list else None)
    out.command = _command(read, logits=logits, renormalize="renormalize" in looks, task=task)
    renormalize = "renormalize" in looks
    if (logits or renormalize) and ds.column_names is not None and len(ds.score_names) > 1:
        # the values cannot tell a feature kept beside logits (or beside scores that do not
        # sum to 1) from one more class
        listed = ", ".join(shown(n) for n in ds.score_names)
        if len(ds.score_names) > 12 or len(listed) > 200:
            listed = f"{len(ds.score_names)} columns"
        out.notes.append(
            f"the command takes every score column ({listed}) as a class's "
            f"{'logit' if logits else 'score'}; if some are not scores, choose the score "
            "columns with --pred-cols"
        )
    return out


def _preview(out: Inspection, part: Any, classes: tuple[str, ...], names: list[str] | None) -> None:
    k = min(PREVIEW_ROWS, part.n)
    scores = np.asarray(part.scores[:k], dtype=np.float64)
    header = list(names) if names else [f"s{j}" for j in range(scores.shape[1])]
    rows = [[f"{v:.3g}" for v in row] for row in scores]
    if len(header) > PREVIEW_SCORES:  # keep the preview inside 80 columns
        keep = [*range(PREVIEW_SCORES - 2), len(header) - 1]
        header = [header[j] for j in keep[:-1]] + ["..."] + [header[keep[-1]]]
        rows = [[r[j] for j in keep[:-1]] + ["..."] + [r[keep[-1]]] for r in rows]
    for role in ("labels", "targets", "weights", "ids"):
        arr = part.roles.get(role)
        if arr is None:
            continue
        values = arr[:k].tolist() if isinstance(arr, np.ndarray) else arr.slice(0, k).to_pylist()
        header.append(
            {"labels": "label", "targets": "target", "weights": "weight", "ids": "id"}[role]
        )
        for row, v in zip(rows, values, strict=True):
            row.append(", ".join(f"{x:.3g}" for x in v) if isinstance(v, list) else str(v))
    out.preview_header, out.preview = header, rows


def _command(read: ReadConfig, *, logits: bool, renormalize: bool, task: Task) -> str:
    args = ["xent", "compute", read.predictions]
    pairs = [
        ("--labels", read.labels),
        ("--target-cols", read.target_cols),
        ("--pred-cols", read.pred_cols),
        ("--weight-col", read.weight_col),
        ("--id-col", read.id_col),
    ]
    if read.label_col != ReadConfig.label_col:
        pairs.append(("--label-col", read.label_col))
    if read.class_names:
        pairs.append(("--class-names", ",".join(read.class_names)))
    if read.input_format.value != "auto":
        pairs.append(("--input-format", read.input_format.value))
    if task is not Task.auto:
        pairs.append(("--task", task.value))
    for flag, value in pairs:
        if value:
            args += [flag, value]
    if logits:
        args.append("--logits")
    if renormalize:
        args.append("--renormalize")
    return " ".join(shlex.quote(a) for a in args)
