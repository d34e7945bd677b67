"""relaxlogs: write stdin to log files rotated by time and/or size, with cleanup."""
from __future__ import annotations

import argparse
import os
import signal
import sys

from . import __version__

DESCRIPTION = """\
Read lines on standard input and append them to DIR/log.%Y%m%d%H%M (one file per
--rotation-time minutes), with DIR/current a symlink to the file being written. Old files are
removed after --max-age minutes. Lines are written whole, whatever their length; a CR before the
newline is removed; a last line without newline gets one.

Signals: TERM/INT/QUIT read what is already in the pipe, write it and exit 0; HUP reopens the
file; ALRM rotates now."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _pattern(text: str) -> str:
    last = text.rsplit("/", 1)[-1]
    if last in ("", ".", ".."):  # no file name: retried as a write error, then exit 1
        raise argparse.ArgumentTypeError(f"no file name in pattern: {text!r}")
    return text


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}")


def _nonneg(text: str) -> int:
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not 0 <= v <= 3600:  # nan, inf or a huge pause: a select() traceback on the first retry
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600: {text!r}")
    return v


def _size(text: str) -> int:
    units = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
             "g": 1024 ** 3, "gb": 1024 ** 3, "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3}
    t = text.strip().lower()
    num = t.rstrip("kmgbi")
    try:
        v = int(float(num) * units[t[len(num):]])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"invalid size: {text!r} (e.g. 100M, 1G, 4096)")
    if v < 0:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="relaxlogs", description=DESCRIPTION, allow_abbrev=False,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log-dir", "-log-dir", metavar="DIR", default="",
                    help='directory of the logs; "" or "stdout" writes to stdout, no rotation')
    ap.add_argument("--rotation-time", "-rotation-time", metavar="MIN", type=_int, default=60,
                    help="minutes per file (default 60); 0 or less: a new name whenever the "
                         "pattern's text changes (every minute with the default pattern)")
    ap.add_argument("--max-age", "-max-age", metavar="MIN", type=_int, default=1440,
                    help="remove files whose mtime is older than MIN minutes (default 1440); "
                         "0 keeps them forever")
    ap.add_argument("--with-time", "-with-time", action="store_true",
                    help="prefix each line with its arrival time (see --time-format)")
    ap.add_argument("--time-format", metavar="FMT", choices=["clf", "rfc3339", "epoch", "tai64n"],
                    help="clf: [02/Jan/2006:15:04:05 -0700] (default), rfc3339, epoch, tai64n; "
                         "implies --with-time")
    ap.add_argument("--tz", metavar="ZONE", default="local",
                    help="zone of stamps and file names: local (default), UTC, or a name like Asia/Tokyo")
    ap.add_argument("--pattern", metavar="STRFTIME", type=_pattern, default="log.%Y%m%d%H%M",
                    help="file name pattern, relative to DIR (default log.%%Y%%m%%d%%H%%M)")
    ap.add_argument("--link", metavar="NAME", default="current",
                    help="symlink to the current file, relative to DIR (default current)")
    ap.add_argument("--no-link", action="store_true", help="do not keep a link")
    ap.add_argument("--max-size", metavar="SIZE", type=_size, default=0,
                    help="also rotate before a file would exceed SIZE bytes (K/M/G = 1024-based); "
                         "the next files of the period are named NAME.1, NAME.2, ...")
    ap.add_argument("--keep", metavar="N", type=_nonneg, default=0,
                    help="keep only the N newest files, the current one included (default: no limit)")
    ap.add_argument("--compress", choices=["gzip"],
                    help="compress rotated files in the background (finished before exit)")
    ap.add_argument("--post-rotate", metavar="CMD",
                    help='run CMD OLD NEW after each rotation (through /bin/sh; OLD is the .gz '
                         'when compressing)')
    ap.add_argument("--fsync", choices=["none", "line", "interval", "rotate"], default="none",
                    help="fsync after every write, every second, or at rotation and exit (default none)")
    ap.add_argument("--max-line", metavar="BYTES", type=_nonneg, default=0,
                    help="cut longer lines into pieces of BYTES (default 0: no limit)")
    ap.add_argument("--retry", metavar="N", type=_int, default=5,
                    help="retries of a failed write, input held meanwhile (default 5; -1 forever)")
    ap.add_argument("--retry-interval", metavar="SECONDS", type=_seconds, default=1.0,
                    help="pause between retries (default 1)")
    ap.add_argument("--tee", action="store_true", help="also copy the output to stdout")
    ap.add_argument("--lock", action="store_true",
                    help="refuse to run when another relaxlogs --lock writes to DIR")
    ap.add_argument("-v", "--version", action="version", version=f"relaxlogs {__version__}")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    from .timefmt import Zone
    try:
        zone = Zone(args.tz)
    except ValueError as e:
        ap.error(str(e))
    try:
        rc = _run(args, zone)
    except KeyboardInterrupt:      # before our handlers are in place
        return 130
    except OSError as e:           # e.g. stdin closed (<&-)
        sys.stderr.write(f"relaxlogs: {e.strerror or e}\n")
        return 1
    if rc == 141:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
        except OSError:
            pass
    return rc


def _clock():
    import time
    off = os.environ.get("RELAXLOGS_CLOCK_OFFSET")
    if not off:
        return time.time
    delta = float(off)
    if not abs(delta) < 1e10:  # nan, inf, or beyond what time_t and strftime take
        raise ValueError(off)
    return lambda: time.time() + delta


def _run(args, zone) -> int:
    from .lines import Splitter
    from .rotator import Rotator
    from .runner import Runner
    from .timefmt import Stamper

    try:
        clock = _clock()
    except ValueError:
        sys.stderr.write("relaxlogs: RELAXLOGS_CLOCK_OFFSET: not a number of seconds\n")
        return 2
    to_stdout = args.log_dir in ("", "stdout")
    closed = _std_fds_closed()
    if 0 in closed or (1 in closed and to_stdout):
        name = "standard input" if 0 in closed else "standard output"
        sys.stderr.write(f"relaxlogs: {name}: Bad file descriptor\n")
        return 1
    if 1 in closed:
        args.tee = False
    stamper = None
    if args.with_time or args.time_format:
        stamper = Stamper(args.time_format or "clf", zone)
    rot = None
    lockfd = None
    if not to_stdout:
        logdir = os.path.abspath(args.log_dir)
        if args.lock:
            import fcntl
            try:
                os.makedirs(logdir, mode=0o755, exist_ok=True)
                lockfd = os.open(os.path.join(logdir, ".relaxlogs.lock"),
                                 os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
                fcntl.flock(lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                sys.stderr.write(f"relaxlogs: {logdir}: another relaxlogs is writing here (--lock)\n")
                return 1
            except OSError as e:
                sys.stderr.write(f"relaxlogs: {logdir}: {e.strerror}\n")
                return 1
        rot = Rotator(logdir, pattern=args.pattern,
                      period=max(0, args.rotation_time) * 60,
                      max_age=max(0, args.max_age) * 60, keep=args.keep, max_size=args.max_size,
                      link=None if args.no_link else args.link, compress=args.compress,
                      post_rotate=args.post_rotate, fsync=args.fsync, zone=zone, clock=clock)
    runner = Runner(rot, Splitter(args.max_line), stamper, clock=clock, tee=args.tee,
                    retry=args.retry, retry_interval=args.retry_interval)

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a file size limit is an error, not a kill
    caught = runner.signals
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGALRM)
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in handled}
    try:
        return runner.run(wakeup=rfd)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(rfd)
        os.close(wfd)
        if lockfd is not None:
            os.close(lockfd)


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
