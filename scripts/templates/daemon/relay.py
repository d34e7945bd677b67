# The suite's daemon template relay.py: copied byte for byte from scripts/templates/daemon/relay.py into
# each server package that lists "daemon/relay" under [tool.suite] templates (scripts/sync-entry).
# Edit the template and run scripts/sync-entry, never a copy.
"""Moving bytes between two connected non-blocking sockets on an asyncio loop.

pump() copies one direction until EOF and then shuts the other side down for writing (half-close),
so `relay()` ends when both directions have ended, or at the first error. On Linux, without a dump,
a direction that has carried more than SPLICE_AFTER bytes goes on socket -> pipe -> socket with
os.splice (no copy into Python, one pipe of up to 1 MiB per chunk); otherwise through recv/send. Either way at most one pipe or one buffer per direction is in flight:
a peer that does not read stops the reading from the other (back-pressure), and the counts are the
bytes actually written to the destination.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import time

SPLICE = hasattr(os, "splice")
CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
RECV_SIZE = 256 * 1024
SPLICE_AFTER = 256 * 1024


class Stats:
    """What one relay did: bytes per direction, which side ended first and why, last activity."""

    __slots__ = ("sent", "closed_by", "reason", "last")

    def __init__(self):
        self.sent = {1: 0, 2: 0}          # 1: client -> upstream ("read"), 2: upstream -> client ("write")
        self.closed_by = None
        self.reason = None
        self.last = time.monotonic()


async def _wait(loop, fd: int, write: bool) -> None:
    fut = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)
    add(fd, _done, fut)
    try:
        await fut
    finally:
        remove(fd)


def _done(fut):
    if not fut.done():
        fut.set_result(None)


def _pipe():
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.fcntl(w, _F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass                           # the default (64 KiB) size: slower, still correct
    return r, w


async def _pump_splice(loop, src: socket.socket, dst: socket.socket, direction: int, st: Stats) -> None:
    sfd, dfd = src.fileno(), dst.fileno()
    r, w = _pipe()
    try:
        while True:
            try:
                n = os.splice(sfd, w, CHUNK, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                await _wait(loop, sfd, False)
                continue
            if n == 0:
                return
            st.last = time.monotonic()
            while n:
                try:
                    m = os.splice(r, dfd, n, flags=_SPLICE_FLAGS)
                except BlockingIOError:
                    await _wait(loop, dfd, True)
                    continue
                n -= m
                st.sent[direction] += m
            st.last = time.monotonic()
    finally:
        os.close(r)
        os.close(w)


async def _pump_copy(loop, src: socket.socket, dst: socket.socket, direction: int, st: Stats, tap=None,
                     limit: float = float("inf")) -> bool:
    """Copy until EOF (returns False) or until `limit` bytes have gone (returns True)."""
    moved = 0
    while moved < limit:
        data = await loop.sock_recv(src, RECV_SIZE if limit == float("inf") else 65536)
        if not data:
            return False
        moved += len(data)
        st.last = time.monotonic()
        if tap is not None:
            tap(direction, data)
        await loop.sock_sendall(dst, data)
        st.sent[direction] += len(data)
        st.last = time.monotonic()
    return True


async def pump(loop, src, dst, direction: int, st: Stats, tap=None, use_splice: bool = SPLICE) -> None:
    """Copy src to dst until EOF, then shut dst down for writing."""
    if use_splice and tap is None:
        # short exchanges (most connections) are cheaper through recv/send than through a pipe;
        # a direction that carries more than SPLICE_AFTER bytes continues with splice
        if await _pump_copy(loop, src, dst, direction, st, None, SPLICE_AFTER):
            await _pump_splice(loop, src, dst, direction, st)
    else:
        await _pump_copy(loop, src, dst, direction, st, tap)
    if st.closed_by is None:
        st.closed_by = "client" if direction == 1 else "upstream"
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


async def relay(loop, client, upstream, st: Stats, tap=None, use_splice: bool = SPLICE) -> None:
    """Both directions until both ended (half-close kept) or one failed (both stop). The
    upstream -> client direction runs in the caller's task, the other in one more task."""
    other = loop.create_task(pump(loop, client, upstream, 1, st, tap, use_splice))
    try:
        try:
            await pump(loop, upstream, client, 2, st, tap, use_splice)
        except OSError as e:
            if st.closed_by is None:
                st.closed_by = "upstream"
            st.reason = f"error: {e.strerror or e}"
            return
        try:
            await other
        except OSError as e:
            if st.closed_by is None:
                st.closed_by = "client"
            st.reason = f"error: {e.strerror or e}"
            return
        st.reason = st.reason or "eof"
    finally:
        if not other.done():
            other.cancel()
            try:
                await other
            except (asyncio.CancelledError, OSError):
                pass
