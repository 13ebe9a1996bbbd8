"""Read ahead: pull items of an iterator in a background thread while the caller works.

Arrow decodes (and CSV pieces are read and checked) in GIL-free code, so the next chunk is
ready when the kernels finish this one. The one helper serves both the chunk stream of a run
and the CSV piece reader.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_POLL = 0.1  # seconds between looks at the stop flag while waiting


@dataclass
class _Raised:
    exc: BaseException


class _End:
    pass


def read_ahead(items: Iterator[T], depth: int, *, name: str, join: bool = False) -> Iterator[T]:
    """``items`` in order, at most ``depth`` of them fetched (or being fetched) ahead of the
    caller by one background thread. An exception from ``items`` is raised again in the
    caller's thread, in its place in the order.

    ``join``: when the caller stops early, wait for the thread to finish the item it is on, so
    that no thread outlives the iteration (for sources the caller closes next). Without it the
    thread is left to end by itself: it may be blocked reading stdin, which nothing can end.
    """
    out: queue.Queue[T | _Raised | _End] = queue.Queue()
    slots = threading.Semaphore(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                while not slots.acquire(timeout=_POLL):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                try:
                    item = next(items)
                except StopIteration:
                    out.put(_End())
                    return
                out.put(item)
        except BaseException as exc:  # handed to the caller, which raises it again
            out.put(_Raised(exc))

    worker = threading.Thread(target=produce, name=f"xent-{name}", daemon=True)
    worker.start()
    try:
        while True:
            got = out.get()
            if isinstance(got, _End):
                return
            if isinstance(got, _Raised):
                raise got.exc
            slots.release()
            yield got
    finally:
        stop.set()
        if join:
            worker.join()
