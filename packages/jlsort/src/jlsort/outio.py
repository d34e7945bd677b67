"""A write that is never short.

Python's BufferedWriter, given a buffer larger than it holds, may write part of it, meet EPIPE or
ENOSPC, and return the short count without raising. Ignoring that count loses the rest of the
data silently (a full disk gives a truncated file and exit 0). `full_writer(stream)` returns a
write function that keeps writing until everything is out, so the error surfaces on the next call.
"""
from __future__ import annotations


def full_writer(stream):
    raw_write = stream.write

    def write(data) -> None:
        n = raw_write(data)
        if n is not None and n < len(data):
            view = memoryview(data)[n:]
            while view:
                n = raw_write(view)
                view = view[len(view) if n is None else n:]

    return write
