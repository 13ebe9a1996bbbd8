"""Aligned stretches of rows, re-cut to a fixed size and zipped across files.

Every reader yields :class:`Chunk` objects: a field per role (scores, labels, targets, weights,
ids, the --group-by columns), as NumPy arrays (or Arrow arrays for labels and ids that are
converted later). Whatever size the format hands
over (a CSV block, a Parquet batch, an IPC record batch), :func:`rebatch` re-cuts the stream
into parts of exactly ``rows`` rows, so two files read in step line up part by part.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from xentcli.errors import InputError

ROLES = ("scores", "labels", "targets", "weights", "ids")


@dataclass
class Chunk:
    """Rows ``row0 .. row0 + n - 1`` of an input, one field per role.

    ``scores``, ``targets`` and ``weights`` are NumPy arrays; ``labels`` and ``ids`` may still
    be Arrow arrays (text labels are encoded later); ``groups`` holds the ``--group-by``
    columns by name. A role the input does not have is None.
    """

    n: int
    row0: int = 0
    scores: np.ndarray | None = None  # (n, C)
    labels: Any = None  # (n,) class indices or names
    targets: np.ndarray | None = None  # (n, C) one-hot, soft or multi-hot
    weights: np.ndarray | None = None  # (n,) sample weights
    ids: Any = None  # (n,) row ids
    groups: dict[str, Any] = field(default_factory=dict)

    @property
    def score_matrix(self) -> np.ndarray:
        """The scores, which every chunk of a predictions input holds."""
        if self.scores is None:
            raise AssertionError("a chunk of predictions without scores")
        return self.scores

    @property
    def target_matrix(self) -> np.ndarray:
        """The target columns, where the plan says there are some."""
        if self.targets is None:
            raise AssertionError("a chunk without the target columns its plan expects")
        return self.targets

    @property
    def roles(self) -> dict[str, Any]:
        """The roles this chunk holds, by name (for code that treats them all alike)."""
        return {r: v for r in ROLES if (v := getattr(self, r)) is not None}

    def slice(self, start: int, length: int) -> Chunk:
        return Chunk(
            length,
            self.row0 + start,
            **{k: _slice(v, start, length) for k, v in self.roles.items()},
            groups={k: _slice(v, start, length) for k, v in self.groups.items()},
        )

    def shifted(self, offset: int) -> Chunk:
        """The same rows numbered from ``row0 + offset`` (a fragment of a larger input)."""
        return replace(self, row0=self.row0 + offset)

    def joined(self, other: Chunk) -> Chunk:
        """This chunk's roles and ``other``'s (the same rows, read from another file)."""
        return Chunk(
            self.n,
            self.row0,
            **{**self.roles, **other.roles},
            groups={**self.groups, **other.groups},
        )


def _slice(a: Any, start: int, length: int) -> Any:
    if isinstance(a, np.ndarray):
        return a[start : start + length]
    return a.slice(start, length)  # a pyarrow Array: zero-copy


def _concat(pieces: list[Any]) -> Any:
    if isinstance(pieces[0], np.ndarray):
        order = "F" if pieces[0].ndim == 2 and pieces[0].flags.f_contiguous else "C"
        out = np.concatenate(pieces, axis=0)
        return np.asfortranarray(out) if order == "F" else out
    import pyarrow as pa

    return pa.concat_arrays(pieces)


def concat_chunks(chunks: list[Chunk], source: str = "") -> Chunk:
    if len(chunks) == 1:
        return chunks[0]
    roles = chunks[0].roles
    for k, first in roles.items():
        if isinstance(first, np.ndarray) and first.ndim == 2:
            for p in chunks[1:]:
                width = p.roles[k].shape[1]
                if width != first.shape[1]:
                    raise InputError(
                        f"{source}: row {p.row0 + 1}: {width} values per row "
                        f"where earlier rows have {first.shape[1]}; every row needs one score "
                        "(or target) per class"
                    )
    return Chunk(
        sum(p.n for p in chunks),
        chunks[0].row0,
        **{k: _concat([p.roles[k] for p in chunks]) for k in roles},
        groups={g: _concat([p.groups[g] for p in chunks]) for g in chunks[0].groups},
    )


def rebatch(parts: Iterator[Chunk], rows: int, source: str = "") -> Iterator[Chunk]:
    """Re-cut a stream of parts into parts of exactly ``rows`` rows (the last may be shorter)."""
    pending: list[Chunk] = []
    have = 0
    row0 = 0
    for part in parts:
        start = 0
        while start < part.n:
            take = min(rows - have, part.n - start)
            pending.append(part.slice(start, take))
            have += take
            start += take
            if have == rows:
                out = concat_chunks(pending, source)
                out.row0 = row0
                row0 += out.n
                yield out
                pending, have = [], 0
    if have:
        out = concat_chunks(pending, source)
        out.row0 = row0
        yield out


def zip_aligned(
    left: Iterator[Chunk], right: Iterator[Chunk], rows: int, left_name: str, right_name: str
) -> Iterator[Chunk]:
    """Read two inputs in step, row by row; their roles join into one chunk (predictions and
    the labels file read beside them)."""
    for lp, rp in aligned_pairs(left, right, rows, left_name, right_name):
        yield lp.joined(rp)


def aligned_pairs(
    left: Iterator[Chunk], right: Iterator[Chunk], rows: int, left_name: str, right_name: str
) -> Iterator[tuple[Chunk, Chunk]]:
    """Two inputs in step, as pairs of chunks of the same rows (``compare``'s A and B).

    Inputs of different lengths are an error that says how long each one is.
    """
    lparts = rebatch(left, rows, left_name)
    rparts = rebatch(right, rows, right_name)
    seen = 0
    for lp in lparts:
        rp = next(rparts, None)
        if rp is None or rp.n != lp.n:
            n_left = seen + lp.n + sum(p.n for p in lparts)
            n_right = seen + (rp.n if rp is not None else 0) + sum(p.n for p in rparts)
            raise _length_mismatch(left_name, n_left, right_name, n_right)
        seen += lp.n
        yield lp, rp
    extra = sum(p.n for p in rparts)
    if extra:
        raise _length_mismatch(left_name, seen, right_name, seen + extra)


def _length_mismatch(left: str, n_left: int, right: str, n_right: int) -> InputError:
    return InputError(
        f"{left} has {n_left} rows but {right} has {n_right}; "
        "predictions and labels are read in step, so they must have the same rows in the same order"
    )
