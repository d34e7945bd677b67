"""The main loop: read stdin, cut lines, buffer, flush to the Rotator (or stdout), on a timer too.

Reading waits in select() on stdin and a self-pipe woken by signals, with a timeout that serves
the 100 ms flush, the once-a-second rotation/cleanup/presence check and interval fsync. So a quiet
input still rotates, and signals are handled at once:
  TERM, INT, QUIT: keep reading until end of input (the writer, often signalled with us, still
                   has its shutdown lines to say) for at most --shutdown-timeout seconds; at the
                   deadline (or at a second such signal) read what is in the pipe then, say how
                   many bytes were left unread; finish the current line, flush, finish
                   background jobs, exit 0;
  HUP: reopen the file;  ALRM: rotate now;  USR1: the status line on stderr (and --status-file).
A failed write keeps the unwritten bytes and stops reading (the input waits in the pipe), retries
--retry times every --retry-interval seconds, then reports and exits 1.
"""
import os
import select
import signal
import sys
import time

from .lines import Splitter
from .rotator import Rotator, WriteFailed

# 1 MiB reads (the pipe holds 1 MiB, see _grow_pipe): one read empties a full pipe, so a
# gigabyte is about 1 000 turns of the loop; against 256 KiB reads this took 10-17 % less CPU on
# 1 GB (scripts/bench/NOTES.md, relaxlogs), the buffer still fitting the 1 MiB L2 for the CR scan.
READ_SIZE = 1 << 20
FLUSH_BYTES = 64 * 1024
FLUSH_DELAY = 0.1


class Stop(Exception):
    def __init__(self, code: int):
        self.code = code


class Runner:
    def __init__(self, rotator: Rotator | None, splitter: Splitter, stamper=None, clock=time.time,
                 tee: bool = False, retry: int = 5, retry_interval: float = 1.0,
                 infd: int = 0, outfd: int = 1, err=None, shutdown_timeout: float = 10.0,
                 status_file: str | None = None):
        self.rot = rotator
        self.split = splitter
        self.stamper = stamper
        self.clock = clock
        self.tee = tee
        self.retry = retry
        self.retry_interval = retry_interval
        self.infd = infd
        self.outfd = outfd
        self.err = err if err is not None else sys.stderr
        self.buf: list[bytes] = []
        self.buflen = 0
        self.flush_at = 0.0
        self.signals: list[int] = []
        self.shutdown_timeout = shutdown_timeout
        self.draining = False                # a stop signal came: reading on to end of input
        self.drain_deadline = 0.0
        self.drain_left: int | None = None   # past the deadline: bytes in the pipe at the deadline
        self.cut = False                     # the deadline came before end of input
        self.second_signal = False           # ... brought forward by a second stop signal
        self.wakeup: int | None = None
        # health (the --status-file and SIGUSR1)
        self.status_file = status_file
        self.started = time.time()
        self.bytes_read = 0
        self.bytes_written = 0
        self.retries = 0
        self.bytes_dropped = 0
        self.unread: int | None = 0
        self.status_warned = False

    def _msg(self, text: str) -> None:
        try:
            self.err.write(f"relaxlogs: {text}\n")
            self.err.flush()
        except (OSError, ValueError):
            pass

    # -- output -----------------------------------------------------------------------------
    def _stdout(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.outfd, view)
            except BlockingIOError:  # stdout inherited O_NONBLOCK: wait as a blocking write would
                select.select([], [self.outfd], [])
                continue
            except BrokenPipeError:
                if self.rot is None:
                    raise Stop(141) from None
                self.tee = False     # a tee reader going away does not stop the logging
                return
            except OSError as e:
                self._msg(f"write error: standard output: {e.strerror}")
                if self.rot is None:
                    raise Stop(1) from None
                self.tee = False
                return
            view = view[n:]

    def flush(self) -> None:
        if not self.buf:
            return
        pieces = self.buf
        size = self.buflen
        self.buf, self.buflen = [], 0
        if self.rot is None or self.tee or len(pieces) > 64:
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            pieces = [data]
            if self.rot is None or self.tee:
                self._stdout(data)
            if self.rot is None:
                self.bytes_written += size
                return
        data = pieces
        attempt = 0
        while True:
            try:
                self.rot.write(data)
                self.bytes_written += size
                return
            except WriteFailed as e:
                data = e.remaining
                if self.retry >= 0 and attempt >= self.retry:
                    self.bytes_written += size - len(data)
                    self.bytes_dropped += len(data)
                    self._msg(f"{e.path}: {e.err.strerror}; giving up, {len(data)} bytes not written")
                    raise Stop(1) from None
                attempt += 1
                self.retries += 1
                self.write_status("retrying")
                self._msg(f"{e.path}: {e.err.strerror}; retrying in {self.retry_interval:g}s "
                          f"({attempt}{'' if self.retry < 0 else f'/{self.retry}'})")
                self._sleep(self.retry_interval)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.wakeup is None:
                time.sleep(left)
                continue
            r, _, _ = select.select([self.wakeup], [], [], left)
            if r:
                _drain(self.wakeup)
                self._signals()

    def _add(self, pieces) -> None:
        if isinstance(pieces, (bytes, bytearray)):
            pieces = [pieces] if pieces else []
        for p in pieces:
            if not self.buf:
                self.flush_at = time.monotonic() + FLUSH_DELAY
            self.buf.append(p)
            self.buflen += len(p)

    # -- signals ----------------------------------------------------------------------------
    def _signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                now = time.monotonic()
                if not self.draining:
                    self.draining = True
                    self.drain_deadline = now + self.shutdown_timeout
                elif now < self.drain_deadline:    # a second stop signal: the deadline is now
                    self.drain_deadline = now
                    self.second_signal = True
            elif sig == signal.SIGUSR1:
                state = "stopping" if self.draining else "running"
                self._msg(self.status_line(state))
                self.write_status(state)
            elif sig == signal.SIGHUP and self.rot is not None:
                self.flush()
                self._safely(self.rot.reopen, "reopen")
            elif sig == signal.SIGALRM and self.rot is not None:
                self.flush()
                self._safely(self.rot.rotate_now, "rotate")

    def _safely(self, fn, what: str) -> None:
        try:
            fn()
        except OSError as e:
            self._msg(f"{what}: {e.filename or ''}: {e.strerror}")

    # -- loop -------------------------------------------------------------------------------
    def run(self, wakeup: int | None = None) -> int:
        self.wakeup = wakeup
        _grow_pipe(self.infd)
        rfds = [self.infd] + ([wakeup] if wakeup is not None else [])
        next_tick = time.monotonic() + 1.0
        self.write_status("running")
        try:
            while True:
                self._signals()
                now = time.monotonic()
                timeout = next_tick - now
                if self.buf:
                    timeout = min(timeout, self.flush_at - now)
                if self.draining:
                    if self.drain_left is None and now >= self.drain_deadline:
                        # the deadline: read what the pipe holds now, then stop
                        self.cut = True
                        self.drain_left = _unread(self.infd, pipe_only=True) or 0
                    if self.drain_left is not None:
                        if self.drain_left <= 0:
                            break
                        timeout = 0.0
                    else:
                        timeout = min(timeout, self.drain_deadline - now)
                r, _, _ = select.select(rfds, [], [], max(0.0, timeout))
                if wakeup is not None and wakeup in r:
                    _drain(wakeup)
                    self._signals()
                if self.infd in r:
                    size = READ_SIZE
                    if self.drain_left is not None:
                        size = min(size, self.drain_left)
                    try:
                        data = os.read(self.infd, size)
                    except OSError as e:
                        self._msg(f"read error: {e.strerror}")
                        self.flush()
                        raise Stop(1) from None
                    if not data:
                        self.cut = False
                        break
                    self.bytes_read += len(data)
                    if self.drain_left is not None:
                        self.drain_left -= len(data)
                    prefix = self.stamper.stamp(self.clock()) if self.stamper else b""
                    self._add(self.split.feed(data, prefix))
                    if self.buflen >= FLUSH_BYTES:
                        self.flush()
                elif self.drain_left is not None and not (wakeup is not None and wakeup in r):
                    break
                now = time.monotonic()
                if self.buf and now >= self.flush_at:
                    self.flush()
                if now >= next_tick:
                    next_tick = now + 1.0
                    if self.rot is not None:
                        # a file found removed: what is buffered goes to the new one
                        self._safely(self.rot.tick, "rotate")
                    if self.status_file:
                        self.write_status("stopping" if self.draining else "running")
            if self.cut:
                self.unread = _unread(self.infd)
                left = "an unknown number of" if self.unread is None else str(self.unread)
                why = ("stopped by a second signal" if self.second_signal
                       else f"shutdown timeout ({self.shutdown_timeout:g}s)")
                self._msg(f"{why} before the end of the input: {left} bytes left unread")
            return self.finish(0)
        except Stop as e:
            return self.finish(e.code, failed=True)

    # -- health -----------------------------------------------------------------------------
    def status_line(self, state: str) -> str:
        """One LTSV record: the counters an operator wants when stderr goes nowhere."""
        rot = self.rot
        fields = [("time", time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime())),
                  ("pid", os.getpid()), ("state", state),
                  ("uptime", f"{time.time() - self.started:.0f}"),
                  ("bytes_read", self.bytes_read), ("bytes_written", self.bytes_written),
                  ("bytes_buffered", self.buflen + self.split.partial_len),
                  ("files", rot.files if rot else 0),
                  ("current", (rot.path or "") if rot else "-"),
                  ("retries", self.retries), ("lines_split", self.split.split_lines),
                  ("bytes_dropped", self.bytes_dropped),
                  ("bytes_unread", "?" if self.unread is None else self.unread),
                  ("recreated", rot.vanished if rot else 0),
                  ("failures", rot.failures if rot else 0)]
        return "\t".join(f"{k}:{v}" for k, v in fields)

    def write_status(self, state: str) -> None:
        """Replace --status-file atomically (a temporary file renamed over it)."""
        if not self.status_file:
            return
        tmp = f"{self.status_file}.tmp"
        try:
            with open(tmp, "w") as f:
                f.write(self.status_line(state) + "\n")
            os.replace(tmp, self.status_file)
        except OSError as e:
            if not self.status_warned:
                self.status_warned = True
                self._msg(f"{self.status_file}: {e.strerror}")

    def finish(self, code: int, failed: bool = False) -> int:
        try:
            if not failed:
                prefix = self.stamper.stamp(self.clock()) if self.stamper else b""
                self._add(self.split.finish(prefix))
                self.flush()
        except Stop as e:
            code = e.code
        if self.rot is not None:
            self.rot.close()
            if self.rot.failures and code == 0:
                code = 1
        if self.split.split_lines:
            self._msg(f"{self.split.split_lines} line(s) longer than --max-line were split")
        self.write_status(f"exited {code}")
        return code


def _grow_pipe(fd: int) -> None:
    """A 1 MiB pipe buffer (F_SETPIPE_SZ; the unprivileged maximum by default) instead of 64 KiB:
    reads of READ_SIZE are full, and the writer is not stopped by a short stall of the disk."""
    import fcntl
    import stat
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        for size in (1 << 20, 1 << 18):
            try:
                fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
                return
            except OSError:
                continue
    except OSError:
        pass


def _unread(fd: int, pipe_only: bool = False) -> int | None:
    """Bytes not read yet: waiting in a pipe or socket (FIONREAD), or left in a regular file
    (0 with pipe_only); None when unknown (a terminal, a device)."""
    import fcntl
    import stat
    import struct
    import termios
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return 0 if pipe_only else max(0, st.st_size - os.lseek(fd, 0, os.SEEK_CUR))
        if not stat.S_ISFIFO(st.st_mode) and not stat.S_ISSOCK(st.st_mode):
            return None
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return None


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except (BlockingIOError, InterruptedError):
        pass
