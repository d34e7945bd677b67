"""A write that is never short.

Python's BufferedWriter, given a buffer larger than it holds, may write part of it, meet EPIPE or
ENOSPC, and return the short count without raising. Ignoring that count loses the rest of the
data silently (a full disk gives a truncated file and exit 0). On a non-blocking descriptor
(stdout inherited with O_NONBLOCK) it returns a short count or None (nothing written) when the
pipe is full. `full_writer(stream)` returns a write function that keeps writing until everything
is out, waiting for the descriptor when it would block, so an error surfaces on the next call.
"""
from __future__ import annotations

import select


def full_writer(stream):
    raw_write = stream.write

    def wait():
        select.select([], [stream], [])

    def write(data) -> None:
        try:
            n = raw_write(data)
        except BlockingIOError as e:  # part taken (characters_written), the rest would block
            n = e.characters_written
            wait()
        if n is not None and n >= len(data):
            return
        view = memoryview(data)[n or 0:]
        while view:
            if n is None:  # would block: wait until the reader takes some
                wait()
            try:
                n = raw_write(view)
            except BlockingIOError as e:
                n = e.characters_written
                wait()
            view = view[n or 0:]

    return write


def full_flush(stream) -> None:
    """flush() that waits when a non-blocking descriptor would block (BlockingIOError)."""
    while True:
        try:
            stream.flush()
            return
        except BlockingIOError:
            select.select([], [stream], [])
