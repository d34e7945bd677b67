"""The copy loop: stdin -> token bucket -> stdout, with the group share refreshed periodically.

State: a token bucket (tokens, rate = our allocation, capacity = burst), at most one chunk read
and not yet written (`pending`), and counters for the published record and the stats.
A read never asks for more than the bucket's capacity, so every chunk read can be paid for:
nothing is ever dropped (upstream stops after 32 KiB when a share is below 32 KiB/s).
Signals only set flags and wake the loop through a self-pipe; the loop waits in select(), so
neither an idle stdin nor a token wait delays SIGINT/SIGTERM.
"""
from __future__ import annotations

import errno
import math
import os
import select
import signal
import sys
import threading
import time

from .group import Registration, encode_record, fair_shares
from .units import format_bytes, format_rate

CHUNK = 128 * 1024
CONTROL_FILE = "max-bandwidth"     # DIR/max-bandwidth (DIR/max-bandwidth.NAME for --group NAME)


class _Timeout(Exception):
    pass


class Exit(Exception):
    def __init__(self, code: int):
        self.code = code


class Limiter:
    def __init__(self, reg: Registration | None, bw: int, group: str, default_group: bool,
                 weight: float = 1.0, burst: int | None = None, refresh: float = 0.1,
                 progress: bool = False, infd: int = 0, outfd: int = 1, err=None,
                 clock=time.monotonic):
        self.reg = reg
        self.bw = bw
        self.group = group
        self.default_group = default_group
        self.weight = weight
        self.burst_opt = burst
        self.refresh_every = refresh
        self.progress = progress
        self.infd = infd
        self.outfd = outfd
        self.err = err if err is not None else sys.stderr
        self.clock = clock
        # bucket
        self.alloc = 0.0
        self.tokens = 0.0
        self.t_tokens = clock()
        # accounting
        self.start = clock()
        self.total = 0
        self.win_bytes = 0
        self.win_wait = 0.0
        self.win_start = self.start
        self.used = 0.0
        self.hungry = True
        self.members = 1
        self.warned_bw: set[int] = set()
        self.signals: list[int] = []
        self.in_write = False
        self.deadline_armed = False
        self.stop_signal = signal.SIGTERM
        self.next_refresh = self.start
        self.next_progress = self.start + 1.0
        self.progress_tty = False
        # the group's cap: the smallest --max-bandwidth among the members, or the control file's
        self.cap = bw
        self.control_name = CONTROL_FILE if default_group else f"{CONTROL_FILE}.{group}"
        self.control_text: str | None = None   # the control file's content last seen
        self.control_value: int | None = None  # its valid value, in force while the file exists
        # the group budget per 250 ms window (group.Registration.charge): the bound
        self.limit = bw * 0.25 + CHUNK
        self.ledger_warned = False

    # -- bucket -----------------------------------------------------------------------------
    @property
    def burst(self) -> float:
        if self.burst_opt:
            return float(self.burst_opt)
        return max(1.0, self.alloc * 0.1)

    def _fill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.t_tokens) * self.alloc)
        self.t_tokens = now

    def set_alloc(self, alloc: float, now: float) -> None:
        self._fill(now)
        self.alloc = max(0.0, alloc)
        self.tokens = min(self.tokens, self.burst)

    # -- sharing ----------------------------------------------------------------------------
    def refresh(self, now: float) -> None:
        span = now - self.win_start
        if span > 0:
            inst = self.win_bytes / span
            self.used = inst if self.used == 0 else 0.5 * self.used + 0.5 * inst
            self.hungry = self.win_wait > 0.05 * span or self.alloc <= 0
        self.win_bytes, self.win_wait, self.win_start = 0, 0.0, now
        if self.reg is None:
            self.set_alloc(self.bw, now)
            self.members = 1
            return
        locked = self.reg.lock_dir()
        try:
            peers = []
            for p in self.reg.scan():
                if p.group is None:
                    if not self.default_group:
                        continue
                elif p.group != self.group:
                    continue
                peers.append(p)
            # one rule for the group's cap, the same in every member: the control file's value
            # while it exists, else the smallest --max-bandwidth of the live members
            cap = min([self.bw] + [p.bw for p in peers])
            control = self._control()
            for p in peers:
                if p.bw != self.bw and p.bw not in self.warned_bw and control is None:
                    self.warned_bw.add(p.bw)
                    self._msg(f"warning: a member of group {self.group!r} (pid {p.pid or '?'}) "
                              f"uses --max-bandwidth {p.bw}, we use {self.bw}: the group shares "
                              f"the smallest, {cap}")
            if control is not None:
                cap = control
            self.cap = cap
            self.limit = cap * 0.25 + CHUNK
            B = float(cap)

            def demand(used: float, hungry: bool) -> float:
                return math.inf if hungry else used * 1.5 + B * 0.01

            wall = time.time()
            stale_after = max(1.0, 10 * self.refresh_every)
            stale = [bool(p.ts) and wall - p.ts > stale_after for p in peers]
            members = [(self.weight, demand(self.used, self.hungry))]
            members += [(p.weight, demand(0.0, False) if st else demand(p.used, p.hungry))
                        for p, st in zip(peers, stale, strict=True)]
            shares = fair_shares(B, members)
            # room left by the others: their published allocation, or their computed share when
            # they publish none (upstream members) or have not refreshed for a while
            others = sum(p.alloc if p.alloc is not None and not st else s
                         for p, s, st in zip(peers, shares[1:], stale, strict=True))
            alloc = min(shares[0], max(0.0, B - others))
            self.set_alloc(alloc, now)
            self.members = 1 + len(peers)
            if locked:
                self.reg.ledger_resum()
            self.reg.publish(encode_record(self.group, self.bw, self.weight, self.alloc,
                                           self.used, self.hungry))
        finally:
            if locked:
                self.reg.unlock_dir()

    def _control(self) -> int | None:
        """The group's rate set at run time in the control file of the work dir (a SIZE, as
        --max-bandwidth); None when there is none. A bad value is reported once and ignored."""
        try:
            fd = os.open(self.control_name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK,
                         dir_fd=self.reg.dirfd)
        except OSError:
            if self.control_text is not None:
                self.control_text, self.control_value = None, None
                self._msg(f"{self.control_name} removed: back to --max-bandwidth")
            return None
        try:
            text = os.read(fd, 256).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        finally:
            os.close(fd)
        if text != self.control_text:
            self.control_text = text
            from .units import parse_size
            try:
                value = parse_size(text) if text else 0
            except ValueError as e:
                value, why = 0, str(e)
            else:
                why = "must be at least 1 byte per second"
            if value >= 1:
                self.control_value = value
                self._msg(f"{self.control_name}: group rate {format_rate(value)}")
            else:
                self._msg(f"warning: {self.control_name}: {why}: ignored")
        return self.control_value

    # -- output -----------------------------------------------------------------------------
    def _msg(self, text: str) -> None:
        try:
            if self.progress_tty:
                self.err.write("\n")
                self.progress_tty = False
            self.err.write(f"sabo: {text}\n")
            self.err.flush()
        except (OSError, ValueError):
            pass

    def stats(self, now: float) -> str:
        el = max(now - self.start, 1e-9)
        return (f"{format_bytes(self.total)} in {el:.2f}s, avg {format_rate(self.total / el)}, "
                f"recent {format_rate(self.used)}, share {format_rate(self.alloc)}, "
                f"{self.members} member(s), cap {format_rate(self.cap)}")

    def _progress(self, now: float) -> None:
        try:
            if self.err.isatty():
                self.err.write(f"\rsabo: {self.stats(now)}\x1b[K")
                self.progress_tty = True
            else:
                self.err.write(f"sabo: {self.stats(now)}\n")
            self.err.flush()
        except (OSError, ValueError):
            pass

    def on_signal(self, signum: int) -> None:
        """Signal handler body. A stop signal during a blocked write gives the write 1 s more
        (a reader that stopped reading must not keep us from exiting)."""
        self.signals.append(signum)
        if (self.in_write and signum != signal.SIGUSR1 and not self.deadline_armed
                and threading.current_thread() is threading.main_thread()):
            self.deadline_armed = True

            self.stop_signal = signum

            def expire(s, frame):
                raise _Timeout()
            signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, 1.0)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        self.in_write = True
        try:
            self._write_all(view)
        finally:
            self.in_write = False

    def _write_all(self, view) -> None:
        while view:
            try:
                n = os.write(self.outfd, view)
            except BrokenPipeError:
                raise Exit(141) from None
            except BlockingIOError:  # stdout inherited O_NONBLOCK: wait as a blocking write would
                select.select([], [self.outfd], [])
                continue
            except OSError as e:
                self._msg(f"write error: {e.strerror}")
                raise Exit(1) from None
            view = view[n:]

    def _write_before_exit(self, data: bytes) -> None:
        """The chunk in hand was already taken from stdin: write it, unless the reader has
        stopped reading (then give up after 1 s and say how much was not written)."""
        if threading.current_thread() is not threading.main_thread():
            return
        if self.reg is not None:
            # charged to the group budget like any chunk: wait for room for at most 0.3 s, then
            # write it anyway (recorded, so the others hold back), never drop it
            end = self.clock() + 0.3
            while True:
                now = self.clock()
                gate = self.reg.charge(len(data), now, self.limit, self.group, force=now >= end)
                if gate <= 0:
                    break
                time.sleep(min(gate, max(0.0, end - now)))
        if not self.deadline_armed:
            def expire(signum, frame):
                raise _Timeout()
            signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, 1.0)
            self.deadline_armed = True
        try:
            self._write(data)
            self.total += len(data)
        except _Timeout:
            self._msg(f"output blocked: {len(data)} bytes read from stdin were not written")

    def _pause(self, timeout: float, wakeup: int | None) -> None:
        if wakeup is not None:
            r, _, _ = select.select([wakeup], [], [], timeout)
            if r:
                _drain(wakeup)
        else:
            time.sleep(timeout)

    # -- loop -------------------------------------------------------------------------------
    def run(self, wakeup: int | None = None) -> int:
        pending: bytes | None = None
        for fd in (self.infd, self.outfd):
            _grow_pipe(fd)
        rfds = [self.infd] + ([wakeup] if wakeup is not None else [])
        try:
            while True:
                if self.signals:
                    sig = self.signals.pop(0)
                    if sig == signal.SIGUSR1:
                        self._msg(self.stats(self.clock()))
                        continue
                    if pending:
                        self._write_before_exit(pending)
                    raise Exit(128 + sig)
                now = self.clock()
                if now >= self.next_refresh:
                    self.refresh(now)
                    self.next_refresh = now + self.refresh_every
                if self.progress and now >= self.next_progress:
                    self._progress(now)
                    self.next_progress = now + 1.0
                deadline = self.next_refresh
                if self.progress:
                    deadline = min(deadline, self.next_progress)
                if pending is None:
                    r, _, _ = select.select(rfds, [], [], max(0.0, deadline - now))
                    if wakeup is not None and wakeup in r:
                        _drain(wakeup)
                    if self.infd in r:
                        # at most half the bucket: a late wake-up still finds room to
                        # accumulate, so no tokens are lost at the cap
                        size = int(min(CHUNK, max(1.0, self.burst / 2)))
                        try:
                            data = os.read(self.infd, size)
                        except OSError as e:
                            self._msg(f"read error: {e.strerror}")
                            raise Exit(1) from None
                        if not data:
                            break
                        pending = data
                    continue
                self._fill(now)
                need = len(pending)
                # a chunk read before the rate fell (the group's cap was lowered, a member
                # joined) can be larger than the bucket now: it goes when the bucket is full and
                # leaves a debt (negative tokens) paid at the new rate, instead of never going
                ready = min(need, self.burst)
                if self.tokens >= ready:
                    if self.reg is not None:
                        # the group budget: no 250 ms window above cap/4 + one block, whatever
                        # the buckets hold (a member resumed after a stop spends its savings
                        # only where the group has room)
                        gate = self.reg.charge(need, now, self.limit, self.group)
                        if self.reg.ledger_error is not None and not self.ledger_warned:
                            self.ledger_warned = True
                            e = self.reg.ledger_error
                            self._msg(f"warning: group ledger {self.reg.ledger_name(self.group)}: "
                                      f"{getattr(e, 'strerror', None) or e}; the 250 ms bound is "
                                      "not enforced (shares still are)")
                        if gate > 0:
                            self._pause(max(0.0, min(gate, deadline - now)), wakeup)
                            self.win_wait += self.clock() - now
                            continue
                    self.tokens -= need
                    self._write(pending)
                    self.total += need
                    self.win_bytes += need
                    pending = None
                    continue
                wait = (ready - self.tokens) / self.alloc if self.alloc > 0 else math.inf
                self._pause(max(0.0, min(wait, deadline - now)), wakeup)
                self.win_wait += self.clock() - now
            if self.progress:
                self._progress(self.clock())
            return 0
        except Exit as e:
            return e.code
        except _Timeout:
            self._msg("output blocked: exiting without writing the chunk in hand")
            return 128 + self.stop_signal
        finally:
            if self.deadline_armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
            if self.progress_tty:
                try:
                    self.err.write("\n")
                    self.err.flush()
                except (OSError, ValueError):
                    pass


def _grow_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe buffer (F_SETPIPE_SZ; the default is 64 KiB): whole chunks per read and
    per write, half the system calls and context switches at high rates."""
    import fcntl
    import stat
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, InterruptedError):
        pass
    except OSError as e:
        if e.errno != errno.EAGAIN:
            raise
