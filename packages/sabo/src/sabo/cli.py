"""sabo: copy stdin to stdout at a bandwidth shared by the sabo processes of one group."""
from __future__ import annotations

import argparse
import os
import signal
import sys

from . import __version__

DESCRIPTION = """\
Copy standard input to standard output at no more than SIZE bytes per second in total, shared by
every sabo process of the same group (by default: the same --work-dir). Members publish their
recent rate in their lock file; idle or slow members leave their unused share to the others.

SIZE units (case-insensitive, an optional space before the unit, an optional "/s" after it):
  bytes, SI (powers of 1000):  100, 32K, 100M, 100MB, 1.5G   (100M = 100,000,000 B/s)
  bytes, IEC (powers of 1024): 100Ki, 100MiB                 (100Mi = 104,857,600 B/s)
  bits (divided by 8):         800Mbit, 100Mbps, 1Gibit      (800Mbit = 100,000,000 B/s)
Note "100Mb" means megaBYTES, as in upstream sabo; write "100Mbit" for bits."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _size(text: str) -> int:
    from .units import parse_size
    try:
        v = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte per second: {text!r}")
    return v


def _positive_float(text: str, limit: float = 1e6) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    if not v <= limit:  # inf, or a timeout select() cannot take
        raise argparse.ArgumentTypeError(f"must be at most {limit:g}: {text!r}")
    return v


def _refresh(text: str) -> float:
    return _positive_float(text, 3600.0)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="sabo", description=DESCRIPTION, allow_abbrev=False,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-bandwidth", "-max-bandwidth", metavar="SIZE", type=_size, required=True,
                    help="total bytes per second for the whole group (see units above)")
    ap.add_argument("--work-dir", "-work-dir", metavar="DIR", required=True,
                    help="directory holding the members' lock files")
    ap.add_argument("--mkdir", action="store_true", help="create --work-dir (and parents) if missing")
    ap.add_argument("--group", metavar="NAME",
                    help="share with the members of this group (default: everyone in --work-dir)")
    ap.add_argument("--weight", metavar="W", type=_positive_float, default=1.0,
                    help="relative share of this member (default 1)")
    ap.add_argument("--burst", metavar="SIZE", type=_size,
                    help="token bucket capacity, also the largest read (default: 100 ms of the share)")
    ap.add_argument("--refresh", metavar="SECONDS", type=_refresh, default=0.1,
                    help="how often the group is re-read and our rate republished (default 0.1)")
    ap.add_argument("--progress", action="store_true",
                    help="print bytes, rate and share to stderr every second")
    ap.add_argument("-v", "--version", action="version", version=f"sabo {__version__}")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = _run(args)
    except KeyboardInterrupt:      # before our handlers are in place
        return 130
    except OSError as e:           # e.g. stdin closed (<&-): select/read on a bad descriptor
        sys.stderr.write(f"sabo: {e.strerror or e}\n")
        return 1
    if rc == 141:
        _quiet_stdout()
    return rc


def _quiet_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def _run(args) -> int:
    from .group import Registration
    from .limiter import Limiter

    closed = _std_fds_closed()
    for fd, name in ((0, "standard input"), (1, "standard output")):
        if fd in closed:
            sys.stderr.write(f"sabo: {name}: Bad file descriptor\n")
            return 1

    workdir = args.work_dir
    if args.mkdir:
        try:
            os.makedirs(workdir, exist_ok=True)
        except OSError as e:
            sys.stderr.write(f"sabo: {workdir}: {e.strerror}\n")
            return 1
    caught: list[int] = []
    lim = None

    def on_signal(signum, frame):
        if lim is not None:
            lim.on_signal(signum)
        else:
            caught.append(signum)

    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)
    old = {s: signal.signal(s, on_signal) for s in handled}
    reg = None
    try:
        try:
            reg = Registration(workdir, args.max_bandwidth)
        except FileNotFoundError:
            sys.stderr.write(f"sabo: Cannot create reader:could not open workdir: open {workdir}: "
                             "no such file or directory\n")
            return 1
        except OSError as e:
            sys.stderr.write(f"sabo: {workdir}: {e.strerror}\n")
            return 1
        group = args.group if args.group is not None else os.path.realpath(workdir)
        lim = Limiter(reg, args.max_bandwidth, group, default_group=args.group is None,
                      weight=args.weight, burst=args.burst, refresh=args.refresh,
                      progress=args.progress)
        lim.signals.extend(s for s in caught if s != signal.SIGUSR1)
        return lim.run(wakeup=rfd)
    finally:
        if reg is not None:
            reg.close()
        for s, h in old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(rfd)
        os.close(wfd)


def _std_fds_closed() -> list[int]:
    """Standard descriptors that are closed (`<&-`, `>&-`). Each is pointed at /dev/null so that
    no file we open later takes its number (data must never go to a lock or log file by mistake)."""
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
    for fd in closed:
        try:
            nfd = os.open(os.devnull, os.O_RDWR)
            if nfd != fd:
                os.dup2(nfd, fd)
                os.close(nfd)
        except OSError:
            pass
    return closed


if __name__ == "__main__":
    sys.exit(main())
