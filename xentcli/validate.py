"""Checks of one chunk's values, with messages that name file, row and column and say what to do.

Each check finds the first offending entry with vectorised NumPy and raises :class:`InputError`;
nothing here loops over rows in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from xentcli.errors import InputError, where

ColumnName = Callable[[int], str]

MAX_LOGIT = 2.0**1022  # |z| above this: z_c - max_c z can overflow float64


def _first(mask: np.ndarray) -> tuple[int, int]:
    """(row, column) of the first True entry, in row order."""
    if mask.ndim == 1:
        return int(np.flatnonzero(mask)[0]), 0
    rows = np.flatnonzero(mask.any(axis=1))
    r = int(rows[0])
    return r, int(np.flatnonzero(mask[r])[0])


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def check_scores(
    scores: np.ndarray,
    *,
    logits: bool,
    renormalize: bool,
    rows_sum_to_one: bool,
    sum_tol: float,
    source: str,
    column: ColumnName,
    row0: int,
    advice: Callable[[np.ndarray], str | None] | None = None,
) -> np.ndarray:
    """The scores, checked (float64 and divided by their row sums with ``renormalize``).

    Otherwise the input's dtype and memory order are kept: the kernels upcast as they go.
    ``advice``: when probabilities are refused, a better hint than --logits/--renormalize
    for this block if there is one (a column that is not a score among them).
    """
    s = scores
    if logits:
        if s.dtype == np.float64:
            ok = np.abs(s) <= MAX_LOGIT  # also false for nan and inf
        else:  # narrower floats cannot get near the limit
            ok = np.isfinite(s)
        if not ok.all():
            r, c = _first(~ok)
            v = float(s[r, c])
            why = (
                "logits must be finite numbers"
                if not np.isfinite(v)
                else f"logits beyond ±{MAX_LOGIT:.3g} make differences of logits overflow "
                "float64; rescale them"
            )
            raise InputError(f"{where(source, row0 + r, column(c))}: logit is {v:.6g}; {why}")
        return s
    if renormalize:
        s = np.asarray(s, dtype=np.float64)
        bad = ~(np.isfinite(s) & (s >= 0))
        if bad.any():
            r, c = _first(bad)
            raise InputError(
                f"{where(source, row0 + r, column(c))}: score {_fmt(s[r, c])} cannot be "
                "renormalized; --renormalize needs finite scores >= 0"
            )
        sums = s.sum(axis=1)
        zero = ~(sums > 0) | ~np.isfinite(sums)
        if zero.any():
            r = int(np.flatnonzero(zero)[0])
            raise InputError(
                f"{where(source, row0 + r)}: scores sum to {_fmt(sums[r])}; "
                "--renormalize needs a positive, finite row sum"
            )
        return s / sums[:, None]
    bad = ~((s >= 0) & (s <= 1))
    if bad.any():
        r, c = _first(bad)
        v = float(s[r, c])
        hint = (advice(s) if advice is not None and rows_sum_to_one else None) or (
            "scores must be probabilities in [0, 1]; pass --logits if these are raw scores "
            "(or --renormalize for non-negative scores that need dividing by their row sum)"
            if np.isfinite(v)
            else "probabilities must be numbers in [0, 1]"
        )
        raise InputError(f"{where(source, row0 + r, column(c))}: value {_fmt(v)}: {hint}")
    if rows_sum_to_one:
        sums = s.sum(axis=1, dtype=np.float64)
        off = np.abs(sums - 1.0) > sum_tol
        if off.any():
            r = int(np.flatnonzero(off)[0])
            hint = (advice(s) if advice is not None and rows_sum_to_one else None) or (
                # every value here is in [0, 1] (checked above): probabilities that do not
                # quite sum to 1 (rounded when written), not logits; --logits would take
                # their log-softmax and give a wrong loss
                "every score is in [0, 1], so these are probabilities, not logits: pass "
                f"--renormalize to divide by the row sum, or {_sum_tol_advice(sums)} to "
                "loosen the check"
            )
            raise InputError(
                f"{where(source, row0 + r)}: probabilities sum to {_fmt(sums[r])}, not 1 "
                f"(tolerance {_fmt(sum_tol)}); {hint}"
            )
    return s


def _sum_tol_advice(sums: np.ndarray) -> str:
    """``--sum-tol X`` with X the deviation of these rows from 1 rounded up to one digit,
    when it is small enough to be rounding (written with few decimals); else the option."""
    import math

    dev = float(np.max(np.abs(sums - 1.0)))
    if not (0 < dev <= 0.05):
        return "--sum-tol"
    step = 10.0 ** math.floor(math.log10(dev))
    return f"--sum-tol {math.ceil(dev * 1.0001 / step) * step:.1g}"


def check_targets(targets: np.ndarray, *, source: str, column: ColumnName, row0: int) -> np.ndarray:
    t = np.asarray(targets, dtype=np.float64)
    bad = ~((t >= 0) & (t <= 1))
    if bad.any():
        r, c = _first(bad)
        raise InputError(
            f"{where(source, row0 + r, column(c))}: target {_fmt(t[r, c])} is not in [0, 1]; "
            "target columns hold one-hot, soft or multi-hot targets"
        )
    return t


def check_weights(weights: np.ndarray, *, source: str, column: str, row0: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where(source, row0 + r, column)}: sample weight {_fmt(w[r])}; "
            "weights must be finite and >= 0"
        )
    tiny = (w > 0) & (w < SMALLEST_WEIGHT)
    if tiny.any():  # subnormal: too few digits left for the mean to be right
        r = int(np.flatnonzero(tiny)[0])
        raise InputError(
            f"{where(source, row0 + r, column)}: sample weight {_fmt(w[r])} is below "
            f"{SMALLEST_WEIGHT:g}, where float64 loses digits; scale the weights up (the mean "
            "does not depend on a common factor)"
        )
    return w


SMALLEST_WEIGHT = float(np.finfo(np.float64).tiny)  # the smallest normal float64


class LabelEncoder:
    """Raw labels (indices or class names, NumPy or Arrow) -> int64 class indices.

    Text labels are matched against the class names. The first chunk decides whether a text
    column holds names or numbers, and every later chunk is read the same way.
    """

    def __init__(
        self, names: tuple[str, ...], source: str, column: str | None = None, *, binary: bool
    ) -> None:
        self.names = names
        self.source = source  # the file holding the labels
        self.column = column  # their column (None for an array)
        self.binary = binary
        # Names that spell their own index ("0", "1", ...: the default) mean the same either
        # way: text labels are then read as numbers, so "1.0" works in any chunk.
        self.by_name: bool | None = False if all(n == str(i) for i, n in enumerate(names)) else None
        self._index = {n: i for i, n in enumerate(names)}
        # Classes named by whole numbers that are not their positions ("1,2,3" of a rating
        # model, "-1,1", "2,0,1": scikit-learn's classes_): a number label is the class of
        # that name, as the names say, whether it is read from text or from numbers.
        self.numbered: dict[int, int] | None = None
        self._numbers_not_positions = False
        if self.by_name is None and all(_WHOLE.fullmatch(n.strip()) for n in names):
            numbered = {int(n.strip()): i for i, n in enumerate(names)}
            if len(numbered) == len(names):
                self.numbered, self.by_name = numbered, False
            else:  # "1" and "01": one number names two classes
                self._numbers_not_positions = True
        # true/false labels mean 1/0 unless a class is itself named like one (any case)
        self._names_like_booleans = any(n.strip().lower() in ("true", "false") for n in names)

    def _source(self) -> tuple[str, str | None]:
        """(file, label column or None)."""
        return self.source, self.column

    def _numeric(self, arr: Any, row0: int) -> np.ndarray:
        """:func:`numeric` of a label array, its errors naming this label column."""
        from xentcli.io.arrowcols import numeric

        src, col = self._source()
        return numeric(arr, src, col or "label", row0)

    def _at(self, row: int) -> str:
        src, col = self._source()
        return where(src, row, col)

    def _hint(self, label: str | None = None) -> str:
        """What labels may be; ``label``: the one refused, when it is text."""
        if self.numbered is not None:
            shown = ", ".join(self.names[:10]) + (", ..." if len(self.names) > 10 else "")
            return (
                f"the classes are named by numbers ({shown}), and a label is the class of that name"
            )
        if self.binary:
            return (
                f"binary labels are 0/1 or the class names {', '.join(self.names)} "
                "(set them with --class-names NEG,POS)"
            )
        shown = ", ".join(self.names[:10]) + (", ..." if len(self.names) > 10 else "")
        hint = f"labels are class indices 0..{len(self.names) - 1} or class names ({shown})"
        stripped = _affix_stripped(self.names, label)
        if stripped is not None:
            from xentcli.advice import quoted

            hint += (
                f"; the score columns are the class names with a prefix or suffix: pass "
                f"--class-names {quoted(','.join(stripped))}"
            )
        return hint

    def encode(self, raw: Any, row0: int) -> np.ndarray:
        """Class positions of a chunk of raw labels."""
        return self.positions(self.values(raw, row0), None, row0)

    def positions(self, values: np.ndarray, keep: np.ndarray | None, row0: int) -> np.ndarray:
        """Class positions of label values (from :meth:`values`): the values themselves,
        unless the classes are named by numbers, when each value is looked up by name. Rows
        not kept (``--ignore-index``) are not looked up (their position is 0)."""
        if self.numbered is None:
            return values
        keys = np.array(sorted(self.numbered), dtype=np.int64)
        where_ = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
        found = keys[where_] == values
        bad = ~found if keep is None else ~found & keep
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{self._at(row0 + r)}: label {values[r]} is not a class; {self._hint()}"
                + ("; rows to skip need --ignore-index" if keep is None else "")
            )
        lut = np.array([self.numbered[int(k)] for k in keys], dtype=np.int64)
        return np.where(found, lut[where_], 0)

    def values(self, raw: Any, row0: int) -> np.ndarray:
        """Label values of a chunk: class positions, or numbers naming classes (see
        :meth:`positions`), before rows are dropped by ``--ignore-index``."""
        if self._numbers_not_positions and len(raw):
            src, col = self._source()
            shown = ", ".join(self.names[:10]) + (", ..." if len(self.names) > 10 else "")
            raise InputError(
                f"{where(src, None, col)}: the classes are named by numbers ({shown}) that are "
                f"not their positions 0..{len(self.names) - 1}, so a label 0 could mean the "
                "class named '0' or the first class; list the score columns in class order "
                "with --pred-cols, or name the classes with --class-names"
            )
        if isinstance(raw, np.ndarray):
            return self._encode_numpy(raw, row0)
        return self._encode_arrow(raw, row0)

    def _encode_numpy(self, raw: np.ndarray, row0: int) -> np.ndarray:
        if raw.dtype.kind in "US":
            # Text in .npy/.npz: read exactly as a CSV's text labels are (names or numbers,
            # true/false for binary, an empty one missing), by the one path that decides it.
            from xentcli.io.arrowcols import strings

            texts = self._texts(raw, row0)
            return self._encode_arrow(strings(texts, np.array([t == "" for t in texts])), row0)
        return self._from_numbers(raw, row0)

    def _texts(self, raw: np.ndarray, row0: int) -> list[str]:
        """Labels of a text array as Python strings (bytes as UTF-8), each encodable as UTF-8."""
        if raw.dtype.kind == "U" and raw.dtype.itemsize:
            points = np.ascontiguousarray(raw).view(np.uint32).reshape(len(raw), -1)
            bad = ((points > 0x10FFFF) | ((points >= 0xD800) & (points <= 0xDFFF))).any(axis=1)
            if bad.any():  # not text at all: NumPy itself cannot turn it into a str
                r = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"{self._at(row0 + r)}: the label holds a code point that is "
                    f"not text (surrogate or above U+10FFFF); {self._hint()}"
                )
        texts: list[str] = []
        for r, v in enumerate(raw.tolist()):
            try:
                t = v.decode("utf-8") if isinstance(v, bytes) else str(v)
                t.encode("utf-8")
            except UnicodeError:
                raise InputError(
                    f"{self._at(row0 + r)}: label {v!r} is not valid UTF-8 text; {self._hint()}"
                ) from None
            texts.append(t)
        return texts

    def _from_numbers(self, raw: np.ndarray, row0: int) -> np.ndarray:
        if raw.dtype.kind == "b":
            return raw.astype(np.int64)
        if raw.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(raw) | (raw != np.round(raw))
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                col = self._source()[1]
                soft = (
                    "give one column per class with --target-cols"
                    if not self.binary
                    else f"pass --target-cols {col} --task multilabel"
                    if col
                    else "save it as an (n, 1) array and pass --task multilabel"
                )
                raise InputError(
                    f"{self._at(row0 + r)}: label {raw[r]:g} is not a whole number; "
                    f"{self._hint()}. For soft targets (probabilities), {soft}"
                )
            huge = np.abs(raw) > 2.0**62  # would not survive the cast to int64
            if huge.any():
                r = int(np.flatnonzero(huge)[0])
                raise InputError(
                    f"{self._at(row0 + r)}: label {raw[r]:g} is out of range; {self._hint()}"
                )
        elif raw.dtype == np.uint64:  # above 2**63 - 1 the cast would wrap to a negative label
            huge = raw > np.uint64(2**62)
            if huge.any():
                r = int(np.flatnonzero(huge)[0])
                raise InputError(
                    f"{self._at(row0 + r)}: label {raw[r]} is out of range; {self._hint()}"
                )
        return raw.astype(np.int64)

    def _encode_arrow(self, raw: Any, row0: int) -> np.ndarray:
        import pyarrow as pa

        from xentcli.io.arrowcols import as_text, strings

        if pa.types.is_dictionary(raw.type):
            known = self._from_dictionary(raw, row0)
            if known is not None:
                return known
        arr = as_text(raw)
        if not arr.null_count and (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
            return self._from_numbers(self._numeric(arr, row0), row0)
        import pyarrow.compute as pc  # names, booleans, nulls: ~40 ms to import, so only here

        if arr.null_count:
            r = int(pc.index(pc.is_null(arr), True).as_py())
            raise InputError(f"{self._at(row0 + r)}: missing label; every row needs a label")
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return self._from_numbers(self._numeric(arr, row0), row0)
        if self.binary and not self._names_like_booleans:
            lower = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
            true_false = strings(["true", "false"])  # not pa.array: it imports pandas
            if pc.all(pc.is_in(lower, value_set=true_false)).as_py():
                return self._numeric(pc.equal(lower, true_false[0]), row0).astype(np.int64)
        if self.by_name is False:  # decided on an earlier chunk: class indices
            return self._from_number_text(arr, row0)
        codes = pc.index_in(arr, value_set=strings(list(self.names)).cast(arr.type))
        if self.by_name is None:
            none_named = codes.null_count == len(codes)
            self.by_name = codes.null_count == 0 or not (none_named or _all_numeric_text(arr))
            if codes.null_count and codes.null_count < len(codes):
                numeric_text = pc.match_substring_regex(arr, _NUMBER)
                as_index = pc.and_(pc.is_null(codes), numeric_text)
                if pc.any(as_index).as_py():
                    r_idx = int(pc.index(as_index, True).as_py())
                    r_name = int(pc.index(pc.is_valid(codes), True).as_py())
                    raise InputError(
                        f"{self._at(row0 + min(r_idx, r_name))}: labels mix class indices "
                        f"('{arr[r_idx].as_py()}', row {row0 + r_idx + 1}) and class names "
                        f"('{arr[r_name].as_py()}', row {row0 + r_name + 1}); use one or the "
                        "other"
                    )
        if self.by_name:
            if codes.null_count:
                r = int(pc.index(pc.is_null(codes), True).as_py())
                raise InputError(
                    f"{self._at(row0 + r)}: label '{arr[r].as_py()}' is not a class name; "
                    f"{self._hint(arr[r].as_py())}"
                )
            return self._numeric(codes, row0).astype(np.int64)
        return self._from_number_text(arr, row0)

    def _from_dictionary(self, arr: Any, row0: int) -> np.ndarray | None:
        """Codes of a dictionary-encoded chunk (CSV labels) from its few distinct values, in
        Python, once the reading is decided: plain digits as class indices, or known class
        names. Anything else (nulls, signs, spaces, decimals, unknown names, the first chunk
        of a column that might hold either) returns None for the general path, which decides
        and words the errors; this one gives the same codes without importing
        pyarrow.compute (~40 ms)."""
        import pyarrow as pa

        if (
            self.by_name is None
            or isinstance(arr, pa.ChunkedArray)
            or arr.null_count
            or len(arr.dictionary) > _SMALL_DICTIONARY
        ):
            return None
        values = arr.dictionary.to_pylist()
        if self.by_name:
            lut = [self._index.get(v, -1) for v in values]
            if -1 in lut:
                return None
        elif all(isinstance(v, str) and _DIGITS.fullmatch(v) for v in values):
            lut = [int(v) for v in values]
        else:
            return None
        codes = self._numeric(arr.indices, row0)
        return np.asarray(lut, dtype=np.int64)[codes]

    def _from_number_text(self, arr: Any, row0: int) -> np.ndarray:
        """Class indices written as text (CSV reads labels as text): cast as they are, and
        only if that fails with surrounding spaces trimmed (the same numbers, twice as fast
        when there are none)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            as_num = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:
            try:
                as_num = pc.cast(pc.utf8_trim_whitespace(arr), pa.float64())
            except pa.ArrowInvalid:
                r = _first_non_numeric(arr)
                label = arr[r].as_py()
                if label in self._index:  # a name, where earlier rows held indices
                    raise InputError(
                        f"{self._at(row0 + r)}: label '{label}' is a class name, but earlier "
                        "rows give class indices; labels mix indices and names, use one or "
                        "the other"
                    ) from None
                more = None
                if all(n == str(i) for i, n in enumerate(self.names)):  # no names given
                    from xentcli.advice import class_names_advice

                    more = class_names_advice(
                        pc.unique(arr).to_pylist(), len(self.names), binary=self.binary
                    )
                raise InputError(
                    f"{self._at(row0 + r)}: label '{label}' is neither a class index "
                    f"nor a class name; {self._hint(label)}" + (f"; {more}" if more else "")
                ) from None
        return self._from_numbers(self._numeric(as_num, row0), row0)


_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_DIGITS = re.compile(r"[0-9]{1,18}")  # a class index as plain text: below 2**62 as int64
_WHOLE = re.compile(r"[-+]?[0-9]{1,18}")  # a class named by a whole number
_SMALL_DICTIONARY = 1 << 16


def _affix_stripped(names: tuple[str, ...] | list[str], label: Any) -> list[str] | None:
    """The class names without the prefix or suffix they all share (``prob_setosa`` ->
    ``setosa``, ``p(setosa)`` -> ``setosa``), when ``label`` is one of them so stripped and
    they stay distinct names that --class-names can give; else None."""
    import os

    from xentcli.advice import selectable

    if not isinstance(label, str) or len(names) < 2:
        return None
    prefix = os.path.commonprefix(list(names))  # noqa: RUF071 (names, not paths)
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]  # noqa: RUF071
    cuts = [[n[len(prefix) :] for n in names], [n[: len(n) - len(suffix)] for n in names]]
    if len(prefix) + len(suffix) < min(len(n) for n in names):  # p(setosa)
        cuts.append([n[len(prefix) : len(n) - len(suffix)] for n in names])
    for cut in cuts:
        if (
            label in cut
            and len(set(cut)) == len(cut)
            and all(c and selectable(c) for c in cut)
            and cut != list(names)
        ):
            return cut
    return None


def _all_numeric_text(arr: Any) -> bool:
    import pyarrow.compute as pc

    return bool(pc.all(pc.match_substring_regex(arr, _NUMBER)).as_py())


def _first_non_numeric(arr: Any) -> int:
    import pyarrow.compute as pc

    ok = pc.match_substring_regex(arr, _NUMBER)
    return max(0, int(pc.index(ok, False).as_py()))
