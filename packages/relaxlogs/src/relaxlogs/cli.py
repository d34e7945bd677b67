"""relaxlogs: write stdin to log files rotated by time and/or size, with cleanup.

Start-up: the usual command lines (known options with plain values) are read by `fast_parse`,
without importing argparse (with the `re`, gettext and shutil modules it pulls in: about 15 ms of
CPU of a 50 ms start, which counts when a supervisor restarts the pipe or a test runs it in a
loop). Anything else (--help, --version, a bad value, an unknown or abbreviated option, a value
that starts with "-") goes to argparse, which parses the whole line again and reports as usual.
Both are built from the one table OPTIONS, and a test checks that they agree.
"""
import os
import sys

from . import __version__

try:                    # the C module: `signal` would import enum, functools, collections (3 ms)
    import _signal as signal
except ImportError:     # pragma: no cover - not CPython
    import signal
DESCRIPTION = """\
Read lines on standard input and append them to DIR/log.%Y%m%d%H%M (one file per
--rotation-time minutes), with DIR/current a symlink to the file being written. Old files are
removed after --max-age minutes. Lines are written whole, whatever their length; a CR before the
newline is removed; a last line without newline gets one.

Signals: TERM/INT/QUIT read what is already in the pipe, write it and exit 0; HUP reopens the
file; ALRM rotates now."""


class BadValue(ValueError):
    """A bad option value (argparse reports it as an ArgumentTypeError: exit 2)."""


def _pattern(text: str) -> str:
    last = text.rsplit("/", 1)[-1]
    if last in ("", ".", ".."):  # no file name: retried as a write error, then exit 1
        raise BadValue(f"no file name in pattern: {text!r}")
    return text


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadValue(f"invalid integer: {text!r}") from None


def _nonneg(text: str) -> int:
    v = _int(text)
    if v < 0:
        raise BadValue(f"must be >= 0: {text!r}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise BadValue(f"not a number: {text!r}") from None
    if not 0 <= v <= 3600:  # nan, inf or a huge pause: a select() traceback on the first retry
        raise BadValue(f"must be between 0 and 3600: {text!r}")
    return v


def _size(text: str) -> int:
    units = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
             "g": 1024 ** 3, "gb": 1024 ** 3, "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3}
    t = text.strip().lower()
    num = t.rstrip("kmgbi")
    try:
        v = int(float(num) * units[t[len(num):]])
    except (ValueError, KeyError, OverflowError):
        raise BadValue(f"invalid size: {text!r} (e.g. 100M, 1G, 4096)") from None
    if v < 0:
        raise BadValue(f"invalid size: {text!r}")
    return v


# (option strings, dest, type (None: a flag; str: any text), choices, default, metavar, help)
OPTIONS = [
    (("--log-dir", "-log-dir"), "log_dir", str, None, "", "DIR",
     'directory of the logs; "" or "stdout" writes to stdout, no rotation'),
    (("--rotation-time", "-rotation-time"), "rotation_time", _int, None, 60, "MIN",
     "minutes per file (default 60); 0 or less: a new name whenever the "
     "pattern's text changes (every minute with the default pattern)"),
    (("--max-age", "-max-age"), "max_age", _int, None, 1440, "MIN",
     "remove files whose mtime is older than MIN minutes (default 1440); 0 keeps them forever"),
    (("--with-time", "-with-time"), "with_time", None, None, False, None,
     "prefix each line with its arrival time (see --time-format)"),
    (("--time-format",), "time_format", str, ("clf", "rfc3339", "epoch", "tai64n"), None, "FMT",
     "clf: [02/Jan/2006:15:04:05 -0700] (default), rfc3339, epoch, tai64n; implies --with-time"),
    (("--tz",), "tz", str, None, "local", "ZONE",
     "zone of stamps and file names: local (default), UTC, or a name like Asia/Tokyo"),
    (("--pattern",), "pattern", _pattern, None, "log.%Y%m%d%H%M", "STRFTIME",
     "file name pattern, relative to DIR (default log.%%Y%%m%%d%%H%%M)"),
    (("--link",), "link", str, None, "current", "NAME",
     "symlink to the current file, relative to DIR (default current)"),
    (("--no-link",), "no_link", None, None, False, None, "do not keep a link"),
    (("--max-size",), "max_size", _size, None, 0, "SIZE",
     "also rotate before a file would exceed SIZE bytes (K/M/G = 1024-based); "
     "the next files of the period are named NAME.1, NAME.2, ..."),
    (("--keep",), "keep", _nonneg, None, 0, "N",
     "keep only the N newest files, the current one included (default: no limit)"),
    (("--compress",), "compress", str, ("gzip",), None, None,
     "compress rotated files in the background (finished before exit)"),
    (("--post-rotate",), "post_rotate", str, None, None, "CMD",
     "run CMD OLD NEW after each rotation (through /bin/sh; OLD is the .gz when compressing)"),
    (("--fsync",), "fsync", str, ("none", "line", "interval", "rotate"), "none", None,
     "fsync after every write, every second, or at rotation and exit (default none)"),
    (("--max-line",), "max_line", _nonneg, None, 0, "BYTES",
     "cut longer lines into pieces of BYTES (default 0: no limit)"),
    (("--retry",), "retry", _int, None, 5, "N",
     "retries of a failed write, input held meanwhile (default 5; -1 forever)"),
    (("--retry-interval",), "retry_interval", _seconds, None, 1.0, "SECONDS",
     "pause between retries (default 1)"),
    (("--tee",), "tee", None, None, False, None, "also copy the output to stdout"),
    (("--lock",), "lock", None, None, False, None,
     "refuse to run when another relaxlogs --lock writes to DIR"),
]
_BY_NAME = {name: opt for opt in OPTIONS for name in opt[0]}


class Args:
    """The parsed options (what argparse.Namespace holds), from fast_parse."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def fast_parse(argv: list[str]) -> "Args | None":
    """The options of a plain command line (`--opt VALUE`, `--opt=VALUE`, `-opt VALUE`, flags),
    as argparse would return them; None for anything else (argparse then decides)."""
    values = {dest: default for _, dest, _, _, default, _, _ in OPTIONS}
    i, n = 0, len(argv)
    while i < n:
        name, eq, val = argv[i].partition("=")
        opt = _BY_NAME.get(name)
        if opt is None:
            return None
        _, dest, conv, choices, _, _, _ = opt
        if conv is None:
            if eq:
                return None
            values[dest] = True
            i += 1
            continue
        if eq:
            i += 1
        else:
            if i + 1 >= n or argv[i + 1].startswith("-"):
                return None
            val = argv[i + 1]
            i += 2
        if conv is not str:
            try:
                val = conv(val)
            except ValueError:
                return None
        if choices is not None and val not in choices:
            return None
        values[dest] = val
    return Args(**values)


def build_parser():
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message):
            self.print_usage(sys.stderr)
            sys.stderr.write(f"{self.prog}: error: {message}\n")
            sys.exit(2)

    def argtype(fn):
        def conv(text):
            try:
                return fn(text)
            except BadValue as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        conv.__name__ = fn.__name__
        return conv

    ap = _Parser(prog="relaxlogs", description=DESCRIPTION, allow_abbrev=False,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    for names, dest, conv, choices, default, metavar, text in OPTIONS:
        if conv is None:
            ap.add_argument(*names, dest=dest, action="store_true", help=text)
            continue
        kw = {"dest": dest, "default": default, "help": text}
        if metavar:
            kw["metavar"] = metavar
        if conv is not str:
            kw["type"] = argtype(conv)
        if choices is not None:
            kw["choices"] = list(choices)
        ap.add_argument(*names, **kw)
    ap.add_argument("-v", "--version", action="version", version=f"relaxlogs {__version__}")
    return ap


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = fast_parse(argv)
    if args is None:
        args = build_parser().parse_args(argv)
    from .timefmt import Zone
    try:
        zone = Zone(args.tz)
    except ValueError as e:
        build_parser().error(str(e))
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
        _keep_heap()
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


def _keep_heap() -> None:
    """With stamps, each 256 KiB read becomes a fresh ~330 KB buffer; glibc gives the top of the
    heap back after each one and faults it in again (45 000 page faults, a third of the CPU for
    2 M lines). Keep 4 MiB of slack at the top (M_TOP_PAD), and buffers of a few MiB on the
    heap (M_MMAP_THRESHOLD: setting one option turns glibc's adaptive threshold off)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 8 << 20)      # M_MMAP_THRESHOLD; not glibc: no such symbol, skipped
        libc.mallopt(-2, 4 << 20)      # M_TOP_PAD
    except (OSError, AttributeError, ImportError):
        pass


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
