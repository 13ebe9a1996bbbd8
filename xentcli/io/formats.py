"""The one table of file suffixes: which format a path's extension names."""

from __future__ import annotations

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",  # could as well be TSV: a .txt never tells (see ``kind_of``)
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".arrows": "arrow",
    ".npy": "npy",
    ".npz": "npz",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
# A stream compression named by a last extension (``preds.csv.zst``): text formats only
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
STREAM_KINDS = ("csv", "tsv", "jsonl")  # what may be compressed as a whole
DATASET_KINDS = ("parquet", "csv", "tsv", "jsonl", "arrow")  # what a directory or glob may hold
PER_SAMPLE_KINDS = ("parquet", "csv")  # what --per-sample writes


def compression_of(path: str) -> str | None:
    """The stream compression a path's last extension names (gzip, zstd, bz2), or None."""
    lower = path.lower()
    return next((c for ext, c in COMPRESSIONS.items() if lower.endswith(ext)), None)


def suffix(path: str) -> str:
    """The extension that names the format (``.csv`` of ``x.csv.zst``), lower case, or ""."""
    lower = path.lower()
    for ext in COMPRESSIONS:
        lower = lower.removesuffix(ext)
    slash = max(lower.rfind("/"), lower.rfind("\\"))
    dot = lower.rfind(".")
    return lower[dot:] if dot > slash else ""


def kind_of(path: str, *, told_only: bool = False) -> str | None:
    """The format a path's extension names (csv, tsv, jsonl, parquet, arrow, npy, npz), or None.
    ``told_only``: None for ``.txt`` too, whose content may be CSV or TSV."""
    ext = suffix(path)
    if told_only and ext == ".txt":
        return None
    return SUFFIXES.get(ext)
