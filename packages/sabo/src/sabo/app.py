"""Set up one sabo run from the parsed options: the standard descriptors, the work dir, the
signal handlers, the group registration; then the Limiter's copy loop.

Signals: SIGINT, SIGTERM and SIGHUP stop at once (the chunk in hand is written, the lock file
removed, exit 128 + signal); SIGUSR1 prints the statistics. sabo installs these handlers for the
run; _entry.run() puts back the previous ones.
"""
from __future__ import annotations

import os
import signal
import sys

from . import _entry

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)


def main(args) -> int:
    from .group import Registration
    from .limiter import Limiter

    for fd, name in ((0, "standard input"), (1, "standard output")):
        if fd in _entry.CLOSED_STD_FDS:   # held on the null device by the entry template
            _say(f"{name}: Bad file descriptor")
            return _entry.SUITE.failure

    workdir = args.work_dir
    if args.mkdir:
        try:
            os.makedirs(workdir, exist_ok=True)
        except OSError as e:
            _say(f"{workdir}: {e.strerror}")
            return _entry.SUITE.failure
    caught: list[int] = []
    lim = None

    def on_signal(signum, frame):
        if lim is not None:
            lim.on_signal(signum)
        else:
            caught.append(signum)

    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    old = {s: signal.signal(s, on_signal) for s in HANDLED}
    reg = None
    try:
        try:
            reg = Registration(workdir, args.max_bandwidth)
        except FileNotFoundError:
            _say(f"Cannot create reader:could not open workdir: open {workdir}: no such file or directory")
            return _entry.SUITE.failure
        except OSError as e:
            _say(f"{workdir}: {e.strerror}")
            return _entry.SUITE.failure
        group = args.group if args.group is not None else os.path.realpath(workdir)
        lim = Limiter(reg, args.max_bandwidth, group, default_group=args.group is None,
                      weight=args.weight, burst=args.burst, refresh=args.refresh,
                      progress=args.progress)
        lim.signals.extend(s for s in caught if s != signal.SIGUSR1)
        rc = lim.run(wakeup=rfd)
    finally:
        if reg is not None:
            reg.close()
        for s, h in old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(rfd)
        os.close(wfd)
    return rc


def _say(text: str) -> None:
    sys.stderr.write(f"sabo: {text}\n")
