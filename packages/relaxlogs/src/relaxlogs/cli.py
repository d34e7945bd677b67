"""relaxlogs command line: parse and validate the options, then run app.main (the writer)."""
from __future__ import annotations

import argparse
import sys

from . import __version__, _entry

PROG = "relaxlogs"
DESCRIPTION = """\
Read lines on standard input and append them to DIR/log.%Y%m%d%H%M (one file per
--rotation-time minutes), with DIR/current a symlink to the file being written. Old files are
removed after --max-age minutes. Lines are written whole, whatever their length; a CR before the
newline is removed; a last line without newline gets one.

Signals: TERM/INT/QUIT keep reading until the end of the input (at most --shutdown-timeout
seconds), write it and exit 0; HUP reopens the file; ALRM rotates now; USR1 prints the status. Every long option is also accepted with one dash (-log-dir DIR)."""


def _pattern(text: str) -> str:
    if text.rsplit("/", 1)[-1] in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"no file name in pattern: {text!r}")
    return text


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None


def _nonneg(text: str) -> int:
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v <= 3600:  # nan, inf or a huge pause: a select() traceback on the first retry
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600: {text!r}")
    return v


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
          "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3}


def _size(text: str) -> int:
    t = text.strip().lower()
    num = t.rstrip("kmgbi")
    try:
        v = int(float(num) * _UNITS[t[len(num):]])
    except (ValueError, KeyError, OverflowError):
        raise argparse.ArgumentTypeError(f"invalid size: {text!r} (e.g. 100M, 1G, 4096)") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r}")
    return v


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, description=DESCRIPTION, allow_abbrev=False, go_flags=True,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("--log-dir", default="", metavar="DIR",
        help='directory of the logs; "" or "stdout" writes to stdout, no rotation')
    add("--rotation-time", type=_int, default=60, metavar="MIN",
        help="minutes per file (default 60); 0 or less: a new name whenever the pattern's text "
             "changes (every minute with the default pattern)")
    add("--max-age", type=_int, default=1440, metavar="MIN",
        help="remove files whose mtime is older than MIN minutes (default 1440); 0 keeps them forever")
    add("--with-time", action="store_true",
        help="prefix each line with its arrival time (see --time-format)")
    add("--time-format", choices=["clf", "rfc3339", "epoch", "tai64n"], metavar="FMT",
        help="clf: [02/Jan/2006:15:04:05 -0700] (default), rfc3339, epoch, tai64n; implies --with-time")
    add("--tz", default="local", metavar="ZONE",
        help="zone of stamps and file names: local (default), UTC, or a name like Asia/Tokyo")
    add("--pattern", type=_pattern, default="log.%Y%m%d%H%M", metavar="STRFTIME",
        help="file name pattern, relative to DIR (default log.%%Y%%m%%d%%H%%M)")
    add("--link", default="current", metavar="NAME",
        help="symlink to the current file, relative to DIR (default current)")
    add("--no-link", action="store_true", help="do not keep a link")
    add("--max-size", type=_size, default=0, metavar="SIZE",
        help="also rotate before a file would exceed SIZE bytes (K/M/G = 1024-based); "
             "the next files of the period are named NAME.1, NAME.2, ...")
    add("--keep", type=_nonneg, default=0, metavar="N",
        help="keep only the N newest files, the current one included (default: no limit)")
    add("--compress", choices=["gzip"], help="compress rotated files in the background (finished before exit)")
    add("--post-rotate", metavar="CMD",
        help="run CMD OLD NEW after each rotation (through /bin/sh; OLD is the .gz when compressing)")
    add("--fsync", choices=["none", "line", "interval", "rotate"], default="none",
        help="fsync after every write, every second, or at rotation and exit (default none)")
    add("--max-line", type=_nonneg, default=0, metavar="BYTES",
        help="cut longer lines into pieces of BYTES (default 0: no limit)")
    add("--retry", type=_int, default=5, metavar="N",
        help="retries of a failed write, input held meanwhile (default 5; -1 forever)")
    add("--retry-interval", type=_seconds, default=1.0, metavar="SECONDS",
        help="pause between retries (default 1)")
    add("--tee", action="store_true", help="also copy the output to stdout")
    add("--shutdown-timeout", type=_seconds, default=10.0, metavar="SECONDS",
        help="after TERM/INT/QUIT, read on until the end of the input for at most SECONDS "
             "(default 10), then write what was read and exit")
    add("--status-file", metavar="FILE",
        help="keep FILE (LTSV, one line) updated every second and at exit: bytes read and "
             "written, files, retries, lines split, bytes dropped")
    add("--lock", action="store_true", help="refuse to run when another relaxlogs --lock writes to DIR")
    add("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def parse(argv: list[str] | None):
    """The options and the zone; a bad value is a usage error (exit 2)."""
    from .timefmt import Zone
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        zone = Zone(args.tz)
    except ValueError as e:
        ap.error(str(e))
    return args, zone


def main(argv: list[str] | None = None) -> int:
    from . import app
    return _entry.run(PROG, lambda: app.main(*parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
