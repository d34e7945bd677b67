"""sabo command line: parse and validate the options, then run app.main (the copy loop)."""
from __future__ import annotations

import argparse
import sys

from . import __version__, _entry

PROG = "sabo"
DESCRIPTION = """\
Copy standard input to standard output at no more than SIZE bytes per second in total, shared by
every sabo process of the same group (by default: the same --work-dir). Members publish their
recent rate in their lock file; idle or slow members leave their unused share to the others.

SIZE units (case-insensitive, an optional space before the unit, an optional "/s" after it):
  bytes, SI (powers of 1000):  100, 32K, 100M, 100MB, 1.5G   (100M = 100,000,000 B/s)
  bytes, IEC (powers of 1024): 100Ki, 100MiB                 (100Mi = 104,857,600 B/s)
  bits (divided by 8):         800Mbit, 100Mbps, 1Gibit      (800Mbit = 100,000,000 B/s)
Note "100Mb" means megaBYTES, as in upstream sabo; write "100Mbit" for bits.

Members with different --max-bandwidth in one group share the smallest. To change the rate of a
running group, write a SIZE to DIR/max-bandwidth (DIR/max-bandwidth.NAME for --group NAME); every
member reads it within --refresh seconds; remove the file to go back to --max-bandwidth.
Every long option is also accepted with one dash (-max-bandwidth SIZE)."""


def _size(text: str) -> int:
    from .units import parse_size
    try:
        v = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte per second: {text!r}")
    return v


MIN_BURST = 1024


def _burst(text: str) -> int:
    v = _size(text)
    if v < MIN_BURST:   # reads are at most half the bucket: 1 byte per read at --burst 1
        raise argparse.ArgumentTypeError(f"must be at least 1KiB (1024 bytes; reads are at most "
                                         f"half of it): {text!r}")
    return v


def _group(text: str) -> str:
    # also the suffix of the group's control file, DIR/max-bandwidth.NAME
    if not text or "/" in text or "\0" in text or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"a group name is not empty and has no '/': {text!r}")
    return text


def _positive_float(text: str, limit: float = 1e6) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    if not v <= limit:  # inf, or a timeout select() cannot take
        raise argparse.ArgumentTypeError(f"must be at most {limit:g}: {text!r}")
    return v


def _refresh(text: str) -> float:
    return _positive_float(text, 3600.0)


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, description=DESCRIPTION, allow_abbrev=False, go_flags=True,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-bandwidth", metavar="SIZE", type=_size, required=True,
                    help="total bytes per second for the whole group (see units above)")
    ap.add_argument("--work-dir", metavar="DIR", required=True,
                    help="directory holding the members' lock files")
    ap.add_argument("--mkdir", action="store_true", help="create --work-dir (and parents) if missing")
    ap.add_argument("--group", metavar="NAME", type=_group,
                    help="share with the members of this group (default: everyone in --work-dir)")
    ap.add_argument("--weight", metavar="W", type=_positive_float, default=1.0,
                    help="relative share of this member (default 1)")
    ap.add_argument("--burst", metavar="SIZE", type=_burst,
                    help="token bucket capacity, at least 1KiB; a read is at most half of it "
                         "(default: 100 ms of the share)")
    ap.add_argument("--refresh", metavar="SECONDS", type=_refresh, default=0.1,
                    help="how often the group is re-read and our rate republished (default 0.1)")
    ap.add_argument("--progress", action="store_true",
                    help="print bytes, rate and share to stderr every second")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def main(argv: list[str] | None = None) -> int:
    from . import app
    return _entry.run(PROG, lambda: app.main(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
