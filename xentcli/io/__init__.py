"""Readers: open the predictions (and a labels file read in step) and stream aligned parts.

:func:`open_dataset` looks at the inputs' columns once, decides which column plays which role
(scores, labels or target columns, weights, ids), and returns a :class:`Dataset` whose
``parts`` yields :class:`~xentcli.io.parts.Chunk` objects of exactly ``chunk_rows`` rows.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xentcli.advice import pred_cols_value, quoted, selectable
from xentcli.config import InputFormat, ReadConfig, auto_chunk_rows
from xentcli.errors import InputError, NotNumbers, UsageError, XentError
from xentcli.io.formats import STREAM_KINDS, compression_of, kind_of, suffix
from xentcli.io.npy import ArrayInput, open_npy, open_npz, pick_scores
from xentcli.io.parts import Chunk, rebatch, zip_aligned
from xentcli.io.tables import (
    MAX_COLUMNS,
    STDIN,
    TableInput,
    TextSeen,
    display_name,
    open_table,
    path_problem,
)
from xentcli.textsafe import needs_escape, shown

__all__ = ["Chunk", "Dataset", "open_dataset"]


@dataclass
class Dataset:
    """Everything the evaluation needs to know about its inputs, and the stream of parts."""

    source: str  # the predictions, for messages
    score_names: list[str]  # one per score column, for messages
    column_names: tuple[str, ...] | None  # class names taken from wide score columns
    score_dtype: np.dtype[Any]
    label_source: str = ""  # the file holding the labels ("" : the predictions)
    label_column: str | None = None  # their column (None for an array)
    weight_source: str = ""  # the file holding the sample weights
    weight_array: str | None = None  # the .npz array they came from (not named by --weight-col)
    target_source: str = ""  # the file holding the target columns
    target_names: list[str] = field(default_factory=list)  # one per target column, for messages
    scores_are_list: bool = False
    id_name: str | None = None
    num_rows: int | None = None
    format: str = ""  # csv | parquet | arrow | npy | npz, or "dataset of csv files", for people
    text: bool = False  # CSV or TSV (a file or a dataset of them): parsing costs more than math
    chunk_rows: int = 0  # rows per part
    group_by: tuple[str, ...] = ()  # columns whose values slice the report
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, type), for inspect
    parts: Iterator[Chunk] = field(default_factory=lambda: iter(()))


def detect_format(path: str, fmt: InputFormat) -> tuple[str, str | None, str]:
    """(kind, compression, delimiter) for a path: kind is csv|jsonl|parquet|arrow|npy|npz,
    compression gzip|zstd|bz2 (named by a last extension) or None."""
    compression = None if path == STDIN else compression_of(path)
    if fmt is InputFormat.auto:
        if path == STDIN:
            kind = "csv"
        else:
            kind = kind_of(path) or ""
            if not kind:
                json_hint = (
                    " (JSON Lines, one object per line: --input-format jsonl; a single JSON "
                    "document is not read)"
                    if suffix(path) == ".json"
                    else ""
                )
                raise UsageError(
                    f"{path}: cannot tell the format from the extension; pass --input-format "
                    f"csv|tsv|jsonl|parquet|arrow|npy|npz{json_hint}"
                )
    else:
        kind = fmt.value
    delimiter = "\t" if kind == "tsv" else ","
    kind = "csv" if kind == "tsv" else kind
    if path == STDIN and kind not in ("csv", "jsonl", "arrow"):
        raise UsageError(
            f"cannot read {kind} from stdin: it needs a seekable file; pipe CSV, JSON Lines "
            "(--input-format jsonl) or an Arrow IPC stream (--input-format arrow), or pass a path"
        )
    if compression and kind not in STREAM_KINDS:
        raise UsageError(
            f"{path}: {compression} compression is read for CSV, TSV and JSON Lines only; "
            f"decompress it first"
            + (
                " (Parquet and Arrow files compress their own columns)"
                if kind in ("parquet", "arrow")
                else ""
            )
        )
    return kind, compression, delimiter


def guess_target_cols(names: list[str]) -> str | None:
    """A glob for target columns named after the score columns with a prefix or a suffix
    (``y_sports`` for ``sports``, ``t_class_0`` for ``class_0``, ``cat_true`` for ``cat``),
    when the columns split exactly into such pairs and the glob picks the targets alone.

    Linear in the header's length: each name's own prefixes and suffixes are looked up among
    the names (a 5,000-column header took 25 s when every pair of names was tried), and only
    an affix that pairs exactly half the columns is checked in full."""
    have = set(names)
    if len(names) < 2 or len(names) % 2:
        return None
    counts: dict[tuple[str, str], int] = {}
    for m in names:
        for i in range(1, len(m)):
            if m[i:] in have:  # m = before + n
                counts[(m[:i], "")] = counts.get((m[:i], ""), 0) + 1
            if m[:i] in have:  # m = n + after
                counts[("", m[i:])] = counts.get(("", m[i:]), 0) + 1
    half = len(names) // 2
    for (before, after), k in counts.items():
        if k != half:
            continue
        scores = {c for c in names if before + c + after in have}
        targets = {before + c + after for c in scores}
        glob = f"{before}*" if before else f"*{after}"
        if (
            not targets & scores
            and targets | scores == have
            and set(fnmatch.filter(names, glob)) == targets
        ):
            return glob
    return None


def _select(spec: str, names: list[str], source: str, option: str) -> list[str]:
    """Columns named by a comma list of names or globs, in the order the spec gives."""
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if any(ch in item for ch in "*?["):
            matched = [n for n in names if fnmatch.fnmatchcase(n, item)]
            if not matched:
                raise UsageError(
                    f"{source}: {option} '{item}' matches no column (columns: {_list(names)})"
                )
        elif item in names:
            matched = [item]
        else:
            raise UsageError(
                f"{source}: {option} names '{item}', which is not a column "
                f"(columns: {_list(names)})"
            )
        out.extend(m for m in matched if m not in out)
    if not out:
        raise UsageError(f"{option} is empty; give column names or globs, comma-separated")
    return out


def _list(names: list[str], most: int = 12) -> str:
    """Names for a message; one with spaces around it, a comma, a control character (shown
    escaped, by the one rule of :func:`xentcli.textsafe.shown`) or nothing is quoted, so
    that ' label' does not read as 'label'."""

    def shown_name(n: str) -> str:
        if n and n.strip() == n and "," not in n and not needs_escape(n):
            return n
        return f"'{shown(n)}'"

    listed = ", ".join(shown_name(n) for n in names[:most])
    return listed + (f", ... ({len(names)} in all)" if len(names) > most else "")


@dataclass
class _Plan:
    """Which column of a table plays which role."""

    scores: list[str] = field(default_factory=list)
    scores_list: bool = False
    label: str | None = None
    targets: list[str] = field(default_factory=list)
    weight: str | None = None
    ident: str | None = None
    groups: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        cols = [*self.scores, *self.targets]
        cols += [c for c in (self.label, self.weight, self.ident) if c is not None]
        return cols + [g for g in self.groups if g not in cols]

    @property
    def numeric(self) -> set[str]:
        cols = set(self.targets)
        if not self.scores_list:
            cols.update(self.scores)
        if self.weight:
            cols.add(self.weight)
        return cols


def _check_duplicates(names: list[str], source: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(f"{source}: column '{n}' appears twice; column names must be unique")
        seen.add(n)


def _plan_roles(
    names: list[str],
    source: str,
    cfg: ReadConfig,
    *,
    predictions: bool,
    labels_elsewhere: bool,
    metadata: tuple[str, ...] = (),
    types: dict[str, Any] | None = None,
    index: tuple[str, ...] = (),
) -> _Plan:
    """Assign roles to a table's columns. ``predictions``: this table holds the scores.

    ``types``: the Arrow type of each column, where known; by default only a column of
    floating-point numbers is a score. ``index``: the columns that hold the index pandas
    wrote: the default id, never a score or a label."""
    if len(names) > MAX_COLUMNS:
        raise InputError(f"{source}: {len(names):,} columns, above xent's limit of {MAX_COLUMNS:,}")
    _check_duplicates(names, source)
    if len(names) == 1 and "\t" in names[0]:  # a .txt (or stdin) of TSV, read as CSV
        raise UsageError(
            f"{source}: the header row is one column holding tabs: if the file is "
            "tab-separated, pass --input-format tsv (or name it .tsv)"
        )
    plan = _Plan()
    if cfg.weight_col and cfg.weight_col in names:
        plan.weight = cfg.weight_col
    if cfg.id_col and cfg.id_col in names:
        plan.ident = cfg.id_col
    target_here = not (predictions and labels_elsewhere)
    if target_here:
        if cfg.target_cols:
            plan.targets = _select(cfg.target_cols, names, source, "--target-cols")
        elif cfg.label_col in names:
            plan.label = cfg.label_col
        elif not predictions:
            rest = [n for n in names if n not in (plan.weight, plan.ident) and n not in index]
            if len(rest) == 1:
                plan.label = rest[0]
            else:
                raise UsageError(
                    f"{source}: no label column '{cfg.label_col}' among {_list(names)}; "
                    "name it with --label-col, or pass --target-cols for one-hot/soft targets"
                )
    for option, col in (("--id-col", plan.ident), ("--weight-col", plan.weight)):
        if col and col == plan.label:
            raise UsageError(
                f"{source}: column '{col}' is the label column and also {option}; "
                f"{option} needs a column of its own"
            )
    if plan.ident and plan.ident == plan.weight:
        raise UsageError(f"{source}: column '{plan.ident}' is both --id-col and --weight-col")
    if predictions:
        for g in cfg.group_by:
            if g not in names:
                raise UsageError(
                    f"--group-by '{g}': no such column in {source} (columns: {_list(names)})"
                )
        plan.groups = list(cfg.group_by)
        taken = {c for c in (plan.label, plan.weight, plan.ident) if c} | set(plan.targets)
        taken |= set(plan.groups)
        if labels_elsewhere and cfg.label_col in names:
            # labels come from --labels, yet a column of that name is still not a score
            taken.add(cfg.label_col)
        others: list[str] = []  # columns left out of the default scores by their type
        if cfg.pred_cols:
            plan.scores = _select(cfg.pred_cols, names, source, "--pred-cols")
            clash = [c for c in plan.scores if c in taken]
            if clash:
                raise UsageError(
                    f"{source}: column '{clash[0]}' is chosen as a score column and also as the "
                    "label, target, weight or id column"
                )
            # the index pandas wrote is the default id here too, unless chosen as a score
            index_cols = [c for c in index if c not in taken and c not in plan.scores]
            if index_cols and plan.ident is None and cfg.id_col is None:
                plan.ident = index_cols[0]
        else:
            if plan.targets and cfg.label_col in names:
                # targets are the truth here; the (unused) label column is not a score either
                taken.add(cfg.label_col)
            candidates = [n for n in names if n not in taken and n not in metadata]
            # the index pandas stored (or to_csv wrote first, unnamed): an id, never a score
            index_cols = [c for c in index if c in candidates]
            if index_cols and plan.ident is None and cfg.id_col is None:
                plan.ident = index_cols[0]
            candidates = [c for c in candidates if c not in index_cols]
            others = [c for c in candidates if not _score_like(types, c)]
            plan.scores = [c for c in candidates if c not in others]
        if target_here and not plan.label and not plan.targets:
            guess = guess_target_cols(plan.scores)
            label_like = [c for c in others if _LABEL_LIKE.fullmatch(c.strip().lower())]
            hint = (
                f" (here perhaps --target-cols '{guess}': those columns pair with the "
                "others by name)"
                if guess
                else f" (here perhaps --label-col {quoted(label_like[0])})"
                if len(label_like) == 1 and selectable(label_like[0])
                else ""
            )
            raise UsageError(
                f"{source}: no label column '{cfg.label_col}' (columns: {_list(names)}); "
                "name it with --label-col, give the labels with --labels PATH, "
                f"or pass --target-cols for one-hot/soft targets{hint}"
            )
        if others:
            raise _not_scores(source, others, types or {}, plan, names)
        if not plan.scores:
            raise UsageError(f"{source}: no score columns left (columns: {_list(names)})")
    return plan


# names people give the true class's column, for a hint when no --label-col is found
_LABEL_LIKE = re.compile(
    r"(y|y_?true|target|targets|class|classes|labels?|truth|ground_?truth|gt|true_?label|"
    r"true_?class|category|outcome)"
)


def _score_like(types: dict[str, Any] | None, column: str) -> bool:
    """Whether a column may be a score by default: floating-point numbers (or a list of them),
    a decimal with digits after the point, or a type not known (a CSV read from a pipe, a
    column empty in the first rows). Integers, true/false, text and dates are not."""
    import pyarrow as pa

    from xentcli.io.arrowcols import is_list

    if types is None or column not in types:
        return True
    ty = types[column]
    if isinstance(ty, TextSeen):
        return False
    if pa.types.is_dictionary(ty):
        ty = ty.value_type
    if is_list(ty):
        ty = ty.value_type
    return bool(
        pa.types.is_floating(ty)
        or pa.types.is_null(ty)
        or (pa.types.is_decimal(ty) and ty.scale > 0)
    )


def _type_words(ty: Any) -> str:
    import pyarrow as pa

    if isinstance(ty, TextSeen):
        return f"text: '{shown(ty.value)}' in row {ty.row}"

    if pa.types.is_dictionary(ty):
        ty = ty.value_type
    if pa.types.is_integer(ty):
        return f"whole numbers, {ty}"
    if pa.types.is_boolean(ty):
        return "true/false values"
    from xentcli.io.arrowcols import is_string_view

    if (
        pa.types.is_string(ty)
        or pa.types.is_large_string(ty)
        or pa.types.is_binary(ty)
        or is_string_view(ty)
    ):
        return "text"
    if pa.types.is_temporal(ty):
        return f"dates or times, {ty}"
    return f"values of type {ty}"


def _not_scores(
    source: str, others: list[str], types: dict[str, Any], plan: _Plan, names: list[str]
) -> InputError:
    """The error for columns left out of the default scores by their type: which, why, and
    commands that give the right number whichever they are."""
    one = len(others) == 1
    what = ", ".join(f"'{shown(c)}' ({_type_words(types[c])})" for c in others[:5])
    more = f" and {len(others) - 5} more" if len(others) > 5 else ""
    ways = []
    value = pred_cols_value(plan.scores, names)
    if value is not None and len(value) <= 300:
        ways.append(f"choose the score columns with --pred-cols {quoted(value)}")
    elif plan.scores:
        ways.append(f"choose the {len(plan.scores)} score columns with --pred-cols")
    if one and plan.ident is None and selectable(others[0]):
        ways.append(f"mark it as the id with --id-col {quoted(others[0])}")
    every = pred_cols_value([n for n in names if n in plan.scores or n in others], names)
    to_score = f"if {'it is a score' if one else 'they are scores'}, " + (
        f"pass --pred-cols {quoted(every)}"
        if every is not None and len(every) <= 300
        else f"list {'it' if one else 'them'} in --pred-cols"
    )
    text = [c for c in others if _type_words(types[c]).startswith("text")]
    if text and ways:  # text is never a score: no way to score it
        advice = ", or ".join(ways) if len(ways) == 2 else ", ".join(ways)
    else:
        advice = f"{', '.join(ways)}; or, {to_score}" if ways else to_score
    return NotNumbers(
        f"{source}: {'column' if one else 'columns'} {what}{more} {'is' if one else 'are'} "
        f"not floating-point scores, so not taken as {'a class' if one else 'classes'}: "
        f"{advice}",
        others[0],
    )


def _check_types(t: TableInput, plan: _Plan) -> bool:
    """Type checks a schema allows before reading (not for CSV, typed as it is read).

    Returns whether the scores are a single list column.
    """
    import pyarrow as pa

    from xentcli.io.arrowcols import is_list, is_numeric

    types = {f.name: f.type for f in t.schema}
    if len(plan.scores) == 1 and is_list(types[plan.scores[0]]):
        return True
    if t.kind in ("csv", "tsv"):
        return False
    for c in plan.scores:
        if pa.types.is_boolean(types[c]):
            raise InputError(
                f"{t.name}: column '{c}' is true/false, not a probability or a logit; if it "
                "is not a score column, choose the score columns with --pred-cols"
            )
    for c in [*plan.scores, *plan.targets, *([plan.weight] if plan.weight else [])]:
        if not is_numeric(types[c]):
            raise NotNumbers(
                f"{t.name}: column '{c}' has type {types[c]}, not numbers; "
                "if it is not a score column, choose the score columns with --pred-cols "
                "(or mark it with --id-col)",
                c,
            )
    return False


def _table_parts(t: TableInput, plan: _Plan, rows: int) -> Iterator[Chunk]:
    import pyarrow as pa

    from xentcli.io.arrowcols import batch_matrix, list_matrix, numeric, one_float_type

    row0 = 0
    list_width: int | None = None
    # CSV and JSON Lines read every numeric column as float64; Parquet and Arrow batches keep
    # the schema's
    types = {
        c: pa.float64() if t.kind in ("csv", "tsv", "jsonl") else t.schema.field(c).type
        for c in [*plan.scores, *plan.targets]
    }
    scores_fast = one_float_type([types[c] for c in plan.scores])
    targets_fast = one_float_type([types[c] for c in plan.targets])
    labels = frozenset([plan.label] if plan.label else [])
    for batch in t.batches(plan.columns, rows, plan.numeric, labels):
        if not batch.num_rows:  # an empty batch (a shard's) would set the lists' width to 0
            continue
        chunk = Chunk(batch.num_rows, row0)
        if plan.scores:
            if plan.scores_list:
                chunk.scores = list_matrix(
                    batch.column(plan.scores[0]), t.name, plan.scores[0], row0, width=list_width
                )
                list_width = chunk.scores.shape[1]
            else:
                chunk.scores = batch_matrix(
                    batch, plan.scores, t.name, row0, one_float_type=scores_fast
                )
        if plan.label:
            chunk.labels = batch.column(plan.label)
        if plan.targets:
            chunk.targets = batch_matrix(
                batch, plan.targets, t.name, row0, one_float_type=targets_fast
            )
        if plan.weight:
            chunk.weights = numeric(batch.column(plan.weight), t.name, plan.weight, row0)
        if plan.ident is not None:
            chunk.ids = batch.column(plan.ident)
        chunk.groups = {g: batch.column(g) for g in plan.groups}
        yield chunk
        row0 += batch.num_rows


def _array_parts(arrays: dict[str, ArrayInput], rows: int) -> Iterator[Chunk]:
    """Members of one NumPy input, cut into blocks together (their lengths are checked first)."""
    role_blocks = {role: a.blocks(rows) for role, a in arrays.items()}
    row0 = 0
    while True:
        blocks = {role: next(it, None) for role, it in role_blocks.items()}
        if any(b is None for b in blocks.values()):
            return
        out: dict[str, Any] = {}
        for role, b in blocks.items():
            assert b is not None
            if role in ("scores", "targets") and b.ndim == 1:
                b = b.reshape(-1, 1)
            out[role] = b
        n = len(next(iter(out.values())))
        yield Chunk(n, row0, **out)
        row0 += n


def _same_length(arrays: dict[str, ArrayInput]) -> None:
    lengths = {a.name: a.num_rows for a in arrays.values()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {v} rows" for k, v in lengths.items())
        raise InputError(f"{desc}; they must have the same number of rows")


def _open_arrays(
    path: str, kind: str, *, predictions: bool, opened: dict[str, ArrayInput]
) -> dict[str, ArrayInput]:
    """Roles -> arrays of a .npy/.npz input (or of arrays in memory, ``opened`` already),
    checked to be of the shapes and types their roles need."""
    roles: dict[str, ArrayInput] = dict(opened)
    if kind == "npy":
        a = open_npy(path)
        roles["scores" if predictions else "targets" if len(a.shape) == 2 else "labels"] = a
    elif kind == "npz":
        members = open_npz(path)
        if predictions:
            roles["scores"] = pick_scores(members, path)
            if "labels" in members:
                lab = members["labels"]
                roles["targets" if len(lab.shape) == 2 else "labels"] = lab
        else:
            lab_m = members.get("labels") or (
                next(iter(members.values())) if len(members) == 1 else None
            )
            if lab_m is None:
                raise InputError(f"{path}: no 'labels' array among {_list(sorted(members))}")
            roles["targets" if len(lab_m.shape) == 2 else "labels"] = lab_m
        if "weights" in members:
            roles["weights"] = members["weights"]
    for role, a in roles.items():
        if role in ("scores", "targets") and len(a.shape) not in (1, 2):
            raise InputError(f"{a.name}: expected a 1-D or 2-D array, got shape {a.shape}")
        if role in ("labels", "weights") and len(a.shape) != 1:
            raise InputError(f"{a.name}: expected a 1-D array of {role}, got shape {a.shape}")
        if a.dtype.kind not in "biuf" and not (role == "labels" and a.dtype.kind in "US"):
            raise InputError(f"{a.name}: dtype {a.dtype} is not numeric")
    _same_length(roles)
    return roles


def _format_of(path: str, cfg: ReadConfig) -> InputFormat:
    """The format --input-format gives ``path``: it names the inputs whose format nothing else
    tells, files without a telling extension (.txt could be CSV or TSV) first, else stdin
    (an Arrow stream of predictions on stdin with labels in y.csv, or labels on stdin beside
    preds.parquet); when every input tells its own, it overrides the predictions'."""
    if cfg.input_format is InputFormat.auto:
        return InputFormat.auto
    inputs = [cfg.predictions, *([cfg.labels] if cfg.labels else [])]
    untold = [p for p in inputs if p != STDIN and not _extension_tells(p)]
    targets = untold or ([STDIN] if STDIN in inputs else [cfg.predictions])
    return cfg.input_format if path in targets else InputFormat.auto


def _extension_tells(path: str) -> bool:
    return kind_of(path, told_only=True) is not None


def _opened(path: str, cfg: ReadConfig) -> tuple[str, Any]:
    from xentcli.io.datasets import is_dataset_path, open_dataset_input

    if cfg.memory and path in cfg.memory:  # the Python API's arrays and frames
        kind: str
        kind, opened = cfg.memory[path].open()
        return kind, opened
    if cfg.partition_base is not None and path == cfg.predictions:
        from xentcli.io.datasets import DatasetInput

        return "dataset", DatasetInput(
            path, "parquet", [path], cfg.partition_base, threads=cfg.threads != 1
        )
    fmt = _format_of(path, cfg)
    if is_dataset_path(path):
        forced = None if fmt is InputFormat.auto else fmt.value
        if forced in ("npy", "npz"):
            raise UsageError(
                f"{path}: a directory or glob is read as Parquet, CSV, JSON Lines or Arrow files"
            )
        return "dataset", open_dataset_input(path, forced, threads=cfg.threads != 1)
    problem = path_problem(path, labels=path == cfg.labels and path != cfg.predictions)
    if problem:
        raise InputError(problem)
    kind, compression, delimiter = detect_format(path, fmt)
    if kind in ("npy", "npz"):
        return kind, {}
    table = open_table(path, kind, compression, delimiter, threads=cfg.threads != 1)
    if cfg.row_groups is not None and path == cfg.predictions:
        table.row_groups = cfg.row_groups
    return kind, table


def open_dataset(cfg: ReadConfig) -> Dataset:
    """Open the predictions (and the labels file), decide each column's role, and stream."""
    labels_elsewhere = cfg.labels is not None
    if cfg.labels == STDIN and cfg.predictions == STDIN:
        raise UsageError("predictions and labels cannot both come from stdin")
    pred_kind, pred = _opened(cfg.predictions, cfg)
    source = display_name(cfg.part_of or cfg.predictions)
    if pred_kind == "dataset" and labels_elsewhere:
        raise UsageError(
            f"{source}: --labels works with a single predictions file; with a directory or "
            "glob, keep the labels in a column of the files (--label-col)"
        )

    ds: Dataset
    pred_parts: Iterator[Chunk]
    pred_roles: set[str]
    if not isinstance(pred, dict):
        plan = _plan_roles(
            pred.columns,
            source,
            cfg,
            predictions=True,
            labels_elsewhere=labels_elsewhere,
            metadata=tuple(getattr(pred, "partition_columns", ())),
            types=_known_types(pred),
            index=_index_columns(pred),
        )
        plan.scores_list = _check_types(pred, plan)
        if pred_kind in ("dataset", "jsonl") and not cfg.pred_cols:
            pred.every_column_counts = True  # later files (lines) may hold more columns
        dtype = _table_dtype(pred, plan)
        width: int | None = len(plan.scores)
        if plan.scores_list:
            ty = pred.schema.field(plan.scores[0]).type
            width = ty.list_size if hasattr(ty, "list_size") else None
        rows = cfg.chunk_rows or auto_chunk_rows(width)
        ds = Dataset(
            source,
            score_names=list(plan.scores),
            column_names=None if plan.scores_list else tuple(plan.scores),
            score_dtype=dtype,
            scores_are_list=plan.scores_list,
            num_rows=pred.num_rows,
        )
        ds.columns = [
            (f.name, "text (typed when read)" if pred.kind == "csv" else str(f.type))
            for f in pred.schema
        ]
        if plan.label:
            ds.label_source, ds.label_column = source, plan.label
        if plan.weight:
            ds.weight_source = source
        if plan.targets:
            ds.target_source, ds.target_names = source, list(plan.targets)
        pred_parts = _table_parts(pred, plan, rows)
        pred_roles = {
            r
            for r, on in [
                ("labels", plan.label),
                ("targets", plan.targets),
                ("weights", plan.weight),
                ("ids", plan.ident is not None),
            ]
            if on
        }
    else:
        if cfg.group_by:
            raise UsageError(
                "--group-by needs a table (CSV, Parquet, Arrow) holding the "
                "group columns; NumPy inputs have none"
            )
        arrays = _open_arrays(cfg.predictions, pred_kind, predictions=True, opened=pred)
        if labels_elsewhere:
            arrays.pop("labels", None)
            arrays.pop("targets", None)
        scores = arrays["scores"]
        width = scores.shape[1] if len(scores.shape) == 2 else 1
        rows = cfg.chunk_rows or auto_chunk_rows(width)
        ds = Dataset(
            source,
            score_names=[f"{scores.name}[:, {j}]" for j in range(width)]
            if len(scores.shape) == 2
            else [scores.name],
            column_names=None,
            score_dtype=scores.dtype,
            scores_are_list=True,
            num_rows=scores.num_rows,
        )
        ds.columns = [(a.name, f"{a.dtype} {a.shape}") for a in arrays.values()]
        if "labels" in arrays:
            ds.label_source = arrays["labels"].name
        if "targets" in arrays:
            ds.target_source, ds.target_names = _array_targets(arrays["targets"])
        if "weights" in arrays:
            ds.weight_source, ds.weight_array = _array_weights(arrays["weights"])
        pred_parts = _array_parts(arrays, rows)
        pred_roles = set(arrays) - {"scores"}
        if not labels_elsewhere and not ({"labels", "targets"} & pred_roles):
            raise UsageError(
                f"{source}: holds no labels; pass --labels PATH "
                "(or store a 'labels' array in an .npz)"
            )

    if labels_elsewhere:
        assert cfg.labels is not None
        lab_kind, lab = _opened(cfg.labels, cfg)
        lab_source = display_name(cfg.labels)
        if isinstance(lab, TableInput):
            lplan = _plan_roles(
                lab.columns,
                lab_source,
                cfg,
                predictions=False,
                labels_elsewhere=True,
                index=_index_columns(lab),
            )
            if lplan.weight and "weights" in pred_roles:
                lplan.weight = None
            if lplan.ident and "ids" in pred_roles:
                lplan.ident = None
            _check_types(lab, lplan)
            if lplan.label:
                ds.label_source, ds.label_column = lab_source, lplan.label
            if lplan.weight:
                ds.weight_source = lab_source
            if lplan.targets:
                ds.target_source, ds.target_names = lab_source, list(lplan.targets)
            lab_rows = lab.num_rows
            lab_parts = _table_parts(lab, lplan, rows)
            lab_roles = {
                r
                for r, on in [
                    ("labels", lplan.label),
                    ("targets", lplan.targets),
                    ("weights", lplan.weight),
                    ("ids", lplan.ident),
                ]
                if on
            }
        else:
            larrays = _open_arrays(cfg.labels, lab_kind, predictions=False, opened=lab)
            if "weights" in pred_roles:
                larrays.pop("weights", None)
            if "labels" in larrays:
                ds.label_source = larrays["labels"].name
            if "weights" in larrays:
                ds.weight_source, ds.weight_array = _array_weights(larrays["weights"])
            if "targets" in larrays:
                ds.target_source, ds.target_names = _array_targets(larrays["targets"])
            lab_rows = next(iter(larrays.values())).num_rows
            lab_parts = _array_parts(larrays, rows)
            lab_roles = set(larrays)
        if ds.num_rows is not None and lab_rows is not None and ds.num_rows != lab_rows:
            raise InputError(
                f"{source} has {ds.num_rows} rows but {lab_source} has {lab_rows}; "
                "predictions and labels are read in step, so they must have the same rows "
                "in the same order"
            )
        ds.parts = zip_aligned(pred_parts, lab_parts, rows, source, lab_source)
        roles = pred_roles | lab_roles
    else:
        ds.parts = rebatch(pred_parts, rows, source)
        roles = pred_roles

    for option, value, role in [
        ("--weight-col", cfg.weight_col, "weights"),
        ("--id-col", cfg.id_col, "ids"),
    ]:
        if value and role not in roles:
            where = source + (f" or {display_name(cfg.labels)}" if cfg.labels else "")
            raise UsageError(f"{option} '{value}': no such column in {where}")
    if cfg.id_col and "ids" in roles:
        ds.id_name = cfg.id_col
    elif not isinstance(pred, dict) and plan.ident is not None:  # pandas' index
        ds.id_name = "index" if _PANDAS_INDEX.fullmatch(plan.ident) else plan.ident
    ds.format = pred_kind if pred_kind != "dataset" else f"dataset of {pred.kind} files"
    ds.text = (pred.kind if pred_kind == "dataset" else pred_kind) in ("csv", "tsv", "jsonl")
    ds.group_by = tuple(cfg.group_by)
    ds.chunk_rows = rows
    return ds


# the names pandas gives the index columns it writes: "" (to_csv), __index_level_0__ (Arrow)
_PANDAS_INDEX = re.compile(r"|__index_level_\d+__")


def _known_types(t: Any) -> dict[str, Any] | None:
    """Each column's Arrow type, where the input says it before being read: a CSV's are
    guessed from its first rows (None when they cannot be)."""
    if t.kind in ("csv", "tsv", "jsonl"):  # text: typed by its first rows
        if isinstance(t, TableInput):
            return t.head_types
        return _first_file_types(t)
    return {f.name: f.type for f in t.schema}


def _first_file_types(t: Any) -> dict[str, Any] | None:
    """The head types of a CSV dataset's first file (as for one CSV file)."""
    try:
        first = t.files[0]
        kind, compression, delimiter = detect_format(first, InputFormat.auto)
        if kind not in ("csv", "jsonl"):
            return None
        return open_table(first, kind, compression, delimiter, threads=False).head_types
    except (XentError, OSError, IndexError, AttributeError):
        return None


def _index_columns(t: Any) -> tuple[str, ...]:
    """The columns holding the index pandas wrote: named in the pandas metadata of a Parquet
    or Arrow file (``__index_level_0__`` after a filter or a split), or the unnamed first
    column of a CSV written by ``to_csv``."""
    names = list(t.schema.names)
    if t.kind in ("csv", "tsv"):
        return ("",) if names[:1] == [""] else ()
    try:
        meta = t.schema.pandas_metadata or {}
    except ValueError:  # metadata that is not JSON: not pandas'
        return ()
    index = meta.get("index_columns", []) if isinstance(meta, dict) else []
    return tuple(c for c in index if isinstance(c, str) and c in names)


def _array_targets(a: ArrayInput) -> tuple[str, list[str]]:
    """(file, a name per column) of a 2-D NumPy array of targets, for messages."""
    return display_name(a.path), [f"{a.name}[:, {j}]" for j in range(a.shape[1])]


def _array_weights(a: ArrayInput) -> tuple[str, str]:
    """(file, array name) of the sample weights an .npz holds, for messages and the report."""
    return display_name(a.path), a.member or a.name


def _table_dtype(t: TableInput, plan: _Plan) -> np.dtype[Any]:
    """The float type of the scores, whose machine epsilon sets the default clipping."""
    if t.kind in ("csv", "tsv", "jsonl"):
        return np.dtype(np.float64)
    import pyarrow as pa

    types = [t.schema.field(c).type for c in plan.scores]
    if plan.scores_list:
        types = [types[0].value_type]
    types = [ty.value_type if pa.types.is_dictionary(ty) else ty for ty in types]
    floats = [np.dtype(ty.to_pandas_dtype()) for ty in types if pa.types.is_floating(ty)]
    if len(floats) == len(types) and floats:
        return np.result_type(*floats)
    return np.dtype(np.float64)


def describe_columns(cfg: ReadConfig) -> tuple[str, list[tuple[str, str]], int | None]:
    """(format, [(column, type)], rows when the file says without being read) of the
    predictions, without deciding any roles."""
    kind, opened = _opened(cfg.predictions, cfg)
    if kind in ("npy", "npz"):
        arrays = (
            {"(array)": open_npy(cfg.predictions)} if kind == "npy" else open_npz(cfg.predictions)
        )
        rows = {a.shape[0] for a in arrays.values() if a.shape}
        return (
            kind,
            [(name, f"{a.dtype} {a.shape}") for name, a in arrays.items()],
            rows.pop() if len(rows) == 1 else None,
        )
    text = getattr(opened, "kind", "") in ("csv", "tsv")
    return (
        kind,
        [(f.name, "text (typed when read)" if text else str(f.type)) for f in opened.schema],
        getattr(opened, "num_rows", None),
    )
