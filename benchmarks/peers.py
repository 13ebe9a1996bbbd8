"""What a user would otherwise run, one pipeline per subcommand; each prints its loss.

    python benchmarks/peers.py torch FILE.parquet       # pyarrow -> NumPy -> torch cross_entropy
    python benchmarks/peers.py sklearn FILE.parquet     # pandas -> softmax -> sklearn log_loss
    python benchmarks/peers.py numpy FILE.parquet       # read_table -> np.stack -> log-softmax
    python benchmarks/peers.py read_table FILE.parquet  # pq.read_table -> NumPy, no math
    python benchmarks/peers.py iter_batches FILE.parquet  # streaming decode -> NumPy, no math
    python benchmarks/peers.py floor FILE.parquet       # iter_batches + the loss alone, 2 threads
    python benchmarks/peers.py csv FILE.csv             # pyarrow.csv.read_csv alone
    python benchmarks/peers.py imports                  # python + import numpy, pyarrow
    python benchmarks/peers.py import_numpy             # python + import numpy

Logit files have score columns named 0..C-1 and an int label; binary files a probability
column ``p`` and ``label``.
"""

from __future__ import annotations

import sys


def _columns(path: str) -> tuple[list[str], bool]:
    import pyarrow.parquet as pq

    names = [n for n in pq.ParquetFile(path).schema_arrow.names if n != "label"]
    return names, names == ["p"]


def torch_pipeline(path: str) -> float:
    import numpy as np
    import pyarrow.parquet as pq
    import torch
    import torch.nn.functional as F

    names, binary = _columns(path)
    t = pq.read_table(path)
    y = torch.from_numpy(t.column("label").to_numpy())
    if binary:
        p = torch.from_numpy(t.column("p").to_numpy().astype(np.float64))
        return float(F.binary_cross_entropy(p, y.to(torch.float64)))
    x = torch.from_numpy(np.stack([t.column(n).to_numpy() for n in names], axis=1))
    return float(F.cross_entropy(x, y))


def sklearn_pipeline(path: str) -> float:
    import numpy as np
    import pandas as pd
    from sklearn.metrics import log_loss

    names, binary = _columns(path)
    df = pd.read_parquet(path)
    if binary:
        return float(log_loss(df["label"].to_numpy(), df["p"].to_numpy()))
    z = df[names].to_numpy()
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return float(log_loss(df["label"].to_numpy(), p, labels=np.arange(len(names))))


def numpy_pipeline(path: str) -> float:
    import numpy as np
    import pyarrow.parquet as pq

    names, _ = _columns(path)
    t = pq.read_table(path)
    z = np.stack([t.column(n).to_numpy() for n in names], axis=1).astype(np.float64)
    y = t.column("label").to_numpy()
    m = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def read_table(path: str) -> float:
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    return float(sum(len(c.to_numpy()) for c in t.columns))


def iter_batches(path: str) -> float:
    import numpy as np
    import pyarrow.parquet as pq

    total = 0
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=65_536):
        for col in batch.columns:
            buf = col.buffers()[1]
            total += len(
                np.frombuffer(
                    buf,
                    dtype=col.type.to_pandas_dtype(),
                    count=len(col),
                    offset=col.offset * col.type.byte_width,
                )
            )
    return float(total)


def floor(path: str) -> float:
    """The least a streaming NumPy design can do: iter_batches decoding on Arrow's threads
    in a reader thread, the mean loss alone (column-wise float64 log-softmax, no np.stack) on
    the main thread. No metrics, no checks of the input, no CLI: what xent's ratio to
    ``iter_batches`` cannot go below on this machine. The fastest of the layouts measured
    (decoding on one Arrow thread instead, or in the main thread between kernels, was slower)."""
    import queue
    import threading

    import numpy as np
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, pre_buffer=False)
    ready: queue.Queue = queue.Queue(maxsize=4)

    def view(col):  # type: ignore[no-untyped-def]
        return np.frombuffer(
            col.buffers()[1],
            dtype=col.type.to_pandas_dtype(),
            count=len(col),
            offset=col.offset * col.type.byte_width,
        )

    def read() -> None:
        for batch in pf.iter_batches(batch_size=65_536):  # the score columns, then the label
            ready.put([view(c) for c in batch.columns])
        ready.put(None)

    threading.Thread(target=read, daemon=True).start()
    total, n = 0.0, 0
    while (cols := ready.get()) is not None:
        *zs, y = cols
        m = zs[0].astype(np.float64)
        for z in zs[1:]:
            np.maximum(m, z, out=m)
        s, t = np.zeros(len(y)), np.empty(len(y))
        for z in zs:
            np.subtract(z, m, out=t)
            np.exp(t, out=t)
            s += t
        zy = np.take(np.concatenate(zs), y * len(y) + np.arange(len(y)))  # the label's logit
        total += float(np.sum(np.log(s) + m - zy))
        n += len(y)
    return total / n


def csv_alone(path: str) -> float:
    import pyarrow.csv as pcsv

    return float(pcsv.read_csv(path).num_rows)


def main(argv: list[str]) -> None:
    what = argv[0]
    if what == "imports":
        import numpy
        import pyarrow  # noqa: F401

        return
    if what == "import_numpy":
        import numpy  # noqa: F401

        return
    run = {
        "torch": torch_pipeline,
        "sklearn": sklearn_pipeline,
        "numpy": numpy_pipeline,
        "read_table": read_table,
        "iter_batches": iter_batches,
        "floor": floor,
        "csv": csv_alone,
    }[what]
    print(run(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
