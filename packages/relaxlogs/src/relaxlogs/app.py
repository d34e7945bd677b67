"""Set up one relaxlogs run from the parsed options: the clock, the standard descriptors, the
--lock, the Rotator (or stdout), the stamps, the signal handlers; then the Runner's loop.

Signals: relaxlogs stops gracefully (TERM/INT/QUIT read on to the end of the input, at most
--shutdown-timeout seconds, and exit 0; HUP reopens, ALRM rotates, USR1 reports), so it installs its own handlers for the run; _entry.run() puts back the previous ones.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from . import _entry

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGALRM,
           signal.SIGUSR1)


def main(args, zone) -> int:
    from .lines import Splitter
    from .rotator import Rotator
    from .runner import Runner
    from .timefmt import Stamper

    try:
        clock = _clock()
    except ValueError:
        _say("RELAXLOGS_CLOCK_OFFSET: not a number of seconds")
        return _entry.SUITE.usage
    to_stdout = args.log_dir in ("", "stdout")
    closed = _entry.CLOSED_STD_FDS   # held on the null device by the entry template
    if 0 in closed or (1 in closed and to_stdout):
        _say(f"{'standard input' if 0 in closed else 'standard output'}: Bad file descriptor")
        return _entry.SUITE.failure
    if 1 in closed:
        args.tee = False
    stamper = None
    if args.with_time or args.time_format:
        stamper = Stamper(args.time_format or "clf", zone)
        _keep_heap()
    rot = None
    lockfd = None
    if not to_stdout:
        logdir = os.path.abspath(args.log_dir)
        if args.lock:
            lockfd = _lock(logdir)
            if lockfd is None:
                return _entry.SUITE.failure
        rot = Rotator(logdir, pattern=args.pattern, period=max(0, args.rotation_time) * 60,
                      max_age=max(0, args.max_age) * 60, keep=args.keep, max_size=args.max_size,
                      link=None if args.no_link else args.link, compress=args.compress,
                      post_rotate=args.post_rotate, fsync=args.fsync, zone=zone, clock=clock)
        rot.hook_quiet = 2 in closed
    status = os.path.abspath(args.status_file) if args.status_file else None
    runner = Runner(rot, Splitter(args.max_line), stamper, clock=clock, tee=args.tee,
                    retry=args.retry, retry_interval=args.retry_interval,
                    shutdown_timeout=args.shutdown_timeout, status_file=status)

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a file size limit is an error, not a kill
    caught = runner.signals
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in HANDLED}
    try:
        rc = runner.run(wakeup=rfd)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(rfd)
        os.close(wfd)
        if lockfd is not None:
            os.close(lockfd)
    return rc


def _say(text: str) -> None:
    sys.stderr.write(f"relaxlogs: {text}\n")


def _clock():
    off = os.environ.get("RELAXLOGS_CLOCK_OFFSET")
    if not off:
        return time.time
    delta = float(off)
    if not abs(delta) < 1e10:  # nan, inf, or beyond what time_t and strftime take
        raise ValueError(off)
    return lambda: time.time() + delta


def _lock(logdir: str) -> int | None:
    """--lock: an flock on DIR/.relaxlogs.lock, held for the run; None (reported) if not had."""
    import fcntl
    try:
        os.makedirs(logdir, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(logdir, ".relaxlogs.lock"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        _say(f"{logdir}: {e.strerror}")
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        _say(f"{logdir}: another relaxlogs is writing here (--lock)" if isinstance(e, BlockingIOError)
             else f"{logdir}: {e.strerror}")
        return None
    return fd


def _keep_heap() -> None:
    """With stamps, each read becomes a fresh buffer a third larger; glibc gives the top of the
    heap back after each one and faults it in again (45 000 page faults, a third of the CPU for
    2 M lines, with 256 KiB reads). Keep 4 MiB of slack at the top (M_TOP_PAD), and buffers of a few MiB on the
    heap (M_MMAP_THRESHOLD: setting one option turns glibc's adaptive threshold off)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 8 << 20)      # M_MMAP_THRESHOLD; not glibc: no such symbol, skipped
        libc.mallopt(-2, 4 << 20)      # M_TOP_PAD
    except (OSError, AttributeError, ImportError):
        pass
