"""Input in large line-aligned chunks, output in one write per chunk.

Regular files are read 4 MiB at a time. Pipes and terminals are read as data arrives (what is
available right now, up to 4 MiB), so `tail -f log | lltsv ...` prints each line promptly while a
fast producer still yields big chunks. No line-length limit: a partial line waits for its LF.
CRLF becomes LF; a last line without LF is processed too (and loses one trailing CR).
"""
from __future__ import annotations

import io
import os
import select
import stat

from . import _entry

CHUNK = 4 << 20
_heap_kept = False


def keep_heap() -> None:
    """Big inputs: each chunk, its copies and the output are buffers of a few MiB; glibc serves
    them with mmap (or gives the top of the heap back after each one) and faults them in again:
    270 000 page faults and a fifth of the CPU for 1 M lines (scripts/bench/NOTES.md). Keep
    them on the heap: no mmap below 64 MiB, no trimming below 128 MiB, 16 MiB of slack at the
    top. Once per process; not glibc (no mallopt): nothing happens."""
    global _heap_kept
    if _heap_kept:
        return
    _heap_kept = True
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 64 << 20)     # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 << 20)    # M_TRIM_THRESHOLD
        libc.mallopt(-2, 16 << 20)     # M_TOP_PAD
    except (OSError, AttributeError, ImportError):
        pass


class ReadError(Exception):
    def __init__(self, err: OSError):
        super().__init__(err.strerror or str(err))
        self.err = err


def _reads(f):
    try:
        fd = f.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        fd = None
    try:
        if fd is None:
            while True:
                b = f.read(CHUNK)
                if not b:
                    return
                yield b
        elif stat.S_ISREG(mode):
            while True:
                b = os.read(fd, CHUNK)
                if not b:
                    return
                yield b
        else:
            while True:
                b = os.read(fd, CHUNK)
                if not b:
                    return
                if len(b) < CHUNK:
                    parts = [b]
                    size = len(b)
                    eof = False
                    while size < CHUNK and select.select([fd], [], [], 0)[0]:
                        more = os.read(fd, CHUNK - size)
                        if not more:
                            eof = True
                            break
                        parts.append(more)
                        size += len(more)
                    b = b"".join(parts)
                    yield b
                    if eof:
                        return
                else:
                    yield b
    except OSError as e:
        raise ReadError(e) from e


def run(engine, f, where: str, out) -> None:
    """Feed every line of binary stream f through engine, writing results to out."""
    carry = b""
    line0 = 0

    def emit(chunk):
        nonlocal line0
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        try:
            res = engine.chunk(chunk, where, line0)   # counts the lines: engine.lines
        except Exception as e:   # --strict: what came before the bad line is still printed
            partial = getattr(e, "partial", b"")
            if partial:
                write(partial)
            raise
        line0 += engine.lines
        if res:
            write(res)

    def write(data):
        # write_all: a short write (the reader left mid-way, a full disk) is retried, so that the
        # error surfaces instead of losing the rest silently; a failed flush is a write error too
        _entry.write_all(out, data)
        try:
            out.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _entry.WriteError(e.strerror or str(e)) from None

    for data in _reads(f):
        if len(data) >= CHUNK:
            keep_heap()
        if carry:
            data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        if cut == len(data) - 1:
            carry = b""
            emit(data)
        else:
            carry = data[cut + 1:]
            emit(data[:cut + 1])
    if carry:
        if carry.endswith(b"\r"):
            carry = carry[:-1]
        emit(carry + b"\n")
