"""percentile: count, max, avg, min and percentiles of numbers (drop-in for kazeburo/percentile)."""
from __future__ import annotations

import argparse
import errno
import io
import os
import sys

from percentile import __version__

DEFAULT_SET = "99,95,90,75"
EPILOG = """\
methods (N values sorted ascending, P = percentile/100, x[1..N]):
  rank      x[round_half_up(N*P)], rank clamped to [1, N]  (kazeburo/percentile; default)
  nearest   x[ceil(N*P)], clamped to [1, N]                 (textbook nearest rank)
  linear    interpolate at h = (N-1)*P between x[floor h+1] and x[floor h+2]  (datamash, numpy)
  lower / higher / midpoint   the lower, the higher, or the mean of those two neighbours

examples:
  seq 1 10 | percentile
  percentile -percentile-set 50,99.9 latency.txt
  percentile -k reqtime access.log
  percentile -k reqtime -g status --top 5 --ltsv access.log
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage error: exit 2, "prog: ..." on stderr
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _print_message(self, message, file=None):
        # argparse swallows OSError here: a --help into a full disk would exit 0 having written
        # nothing. Let main() report it as a write error instead.
        if not message:
            return
        file = file or sys.stderr
        try:
            file.write(message)
        except BrokenPipeError:
            raise
        except OSError as e:
            if file is sys.stderr:   # nowhere left to report it
                return
            raise _WriteError(e.strerror or str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="percentile", add_help=False, allow_abbrev=False,
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 description="Print count, max, avg, min and percentiles of the numbers in FILEs\n"
                             "(one per line; none or - means standard input).",
                 epilog=EPILOG)
    ap.add_argument("files", nargs="*", metavar="FILE", help="input files, read in order (- is stdin)")
    ap.add_argument("-h", "-help", "--help", action="help", help="show this help and exit")
    ap.add_argument("-version", "--version", action="version", version=f"percentile {__version__}",
                    help="show the version and exit")
    ap.add_argument("-percentile-set", "--percentile-set", "-p", dest="pset", default=DEFAULT_SET,
                    metavar="LIST", help=f"comma-separated percentiles in (0, 100], printed in this "
                                         f"order with the label as typed (default {DEFAULT_SET})")
    ap.add_argument("-method", "--method", choices=("rank", "nearest", "linear", "lower", "higher",
                                                    "midpoint"),
                    default="rank", metavar="METHOD",
                    help="rank (default), nearest, linear, lower, higher or midpoint: see below")
    ap.add_argument("-k", "--key", metavar="KEY",
                    help="read LTSV and take the numbers from label KEY ('-', empty or absent: skipped)")
    ap.add_argument("-g", "--group-by", dest="group", metavar="KEY",
                    help="with -k: one result per value of LTSV label KEY, by count descending")
    ap.add_argument("--top", type=int, metavar="N", help="with -g: only the N largest groups")
    ap.add_argument("--stats", metavar="LIST", default="",
                    help="extra statistics after min: sum, stddev, var, median (comma-separated)")
    ap.add_argument("--scale", type=float, metavar="F", help="multiply every value by F (1000: s -> ms)")
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="fmt", action="store_const", const="json",
                     help="one JSON object per result (NaN/Inf as null, full precision)")
    fmt.add_argument("--ltsv", dest="fmt", action="store_const", const="ltsv",
                     help="one LTSV record per result")
    ap.add_argument("--strict", action="store_true", help="fail (exit 1) at the first line that is not a number")
    ap.add_argument("-q", "--quiet", action="store_true", help="no summary of skipped lines on stderr")
    return ap


def parse_pset(text: str):
    """Parse -percentile-set like kazeburo (split on ',', Go floats, labels verbatim); None if bad."""
    from fractions import Fraction

    from .goparse import GoFloatError, parse_go_float
    from .stats import Pct

    out = []
    for item in text.split(","):
        try:
            v = parse_go_float(item.encode("utf-8", "surrogateescape"))
        except GoFloatError:
            return None, item
        if not (0.0 < v <= 100.0):
            return None, item
        try:
            exact = Fraction(item.replace("_", "")) / 100
        except (ValueError, ZeroDivisionError):
            exact = Fraction(v) / 100
        out.append(Pct(item, v, exact))
    return out, None


def _quote(raw: bytes) -> str:
    import json

    s = raw.decode("utf-8", "backslashreplace")
    if len(s) > 200:
        s = s[:200] + "..."
    return json.dumps(s, ensure_ascii=False)


def run(argv, stdin, stdout, stderr) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    pcts, bad_item = parse_pset(a.pset)
    if pcts is None:
        ap.error(f"invalid percentile {bad_item!r} in --percentile-set {a.pset!r}: "
                 "each must be a number in (0, 100]")
    extra = tuple(s for s in a.stats.split(",") if s) if a.stats else ()
    from .stats import EXTRA_STATS

    for s in extra:
        if s not in EXTRA_STATS:
            ap.error(f"unknown statistic {s!r} in --stats (known: {', '.join(EXTRA_STATS)})")
    for opt, val in (("-k", a.key), ("-g", a.group)):
        if val is not None and (val == "" or any(c in val for c in ":\t\n\r")):
            ap.error(f"{opt}: {val!r} is not an LTSV label")
    if a.group is not None and a.key is None:
        ap.error("-g needs -k (the label holding the numbers)")
    if a.top is not None:
        if a.group is None:
            ap.error("--top needs -g")
        if a.top < 1:
            ap.error("--top must be at least 1")
    if a.scale is not None and not (a.scale == a.scale and abs(a.scale) != float("inf")):
        ap.error("--scale must be a finite number")

    files = a.files or ["-"]
    if not a.files and stdin.isatty():
        ap.print_usage(stderr_text := _TextErr(stderr))
        stderr_text.write("percentile: reading numbers from a terminal; pipe them in or name FILEs\n")
        return 1

    from . import output
    from .reader import Collector, StrictFailure, naive_sum
    from .stats import summarize

    col = Collector(strict=a.strict,
                    key=os.fsencode(a.key) if a.key is not None else None,
                    group=os.fsencode(a.group) if a.group is not None else None)
    rc = 0
    for name in files:
        shown = "<stdin>" if name == "-" else name
        try:
            if name == "-":
                f = stdin
                close = False
            else:
                f = open(name, "rb")
                close = True
        except OSError as e:
            stderr.write(f"percentile: {name}: {e.strerror}\n".encode("utf-8", "surrogateescape"))
            rc = 1
            continue
        try:
            if col.key is not None:
                col.feed_ltsv(shown, f)
            else:
                col.feed_numbers(shown, f)
        except StrictFailure:
            fn, line, raw, why = col.first_bad
            stderr.write(f"percentile: {fn}:{line}: not a number: {_quote(raw)} ({why})\n"
                         .encode("utf-8", "surrogateescape"))
            return 1
        except OSError as e:
            stderr.write(f"percentile: {name}: {e.strerror}\n".encode("utf-8", "surrogateescape"))
            rc = 1
        finally:
            if close:
                f.close()

    groups = col.groups
    if a.scale is not None:
        sc = a.scale
        from array import array

        for g in groups.values():
            g.vals = array("d", [x * sc for x in g.vals])
            g.total = naive_sum(g.vals, 0.0)
    order = sorted(groups.items(), key=lambda kv: (-len(kv[1].vals), kv[0]))
    if a.top is not None:
        order = order[:a.top]
    render = {"json": output.as_json, "ltsv": output.ltsv}.get(a.fmt, output.text)
    parts = []
    for gv, g in order:
        s = summarize(g.vals, g.total, pcts, a.method, extra)
        g.vals = None
        if s is None:
            continue
        label = (a.group, os.fsdecode(gv)) if a.group is not None else None
        if label and a.fmt is None and parts:
            parts.append("\n")
        parts.append(render(s, label))
    if parts:
        _write_all(stdout, "".join(parts).encode("utf-8", "surrogateescape"))
    if not a.quiet:
        _summary(col, a.key, stderr)
    return rc


class _WriteError(Exception):
    """stdout failed with something other than a closed pipe (ENOSPC, EIO, EDQUOT...)."""


def _write_all(out, data: bytes) -> None:
    """BufferedWriter.write may return a short count (the reader went away mid-way) without raising;
    keep writing so that a closed pipe surfaces as BrokenPipeError, and any other failure as
    _WriteError."""
    mv = memoryview(data)
    try:
        while mv:
            n = out.write(mv)
            if n is None or n <= 0:
                out.flush()
                n = 0
            mv = mv[n:]
    except BrokenPipeError:
        raise
    except OSError as e:
        raise _WriteError(e.strerror or str(e)) from None


def _flush(out) -> None:
    try:
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise _WriteError(e.strerror or str(e)) from None


def _stdout_to_devnull() -> None:
    """Nothing more can reach stdout: point it at /dev/null so the interpreter's final flush of
    what is left in the buffer neither fails nor prints a second error."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _TextErr:
    def __init__(self, b):
        self.b = b

    def write(self, s):
        self.b.write(s.encode("utf-8", "surrogateescape"))


def _summary(col, key, stderr) -> None:
    msgs = []
    if col.bad:
        fn, line, raw, why = col.first_bad
        what = f"{key} value" if key is not None else "line"
        msgs.append(f"percentile: {col.bad} {what}{'s' if col.bad != 1 else ''} skipped (not a number), "
                    f"first at {fn}:{line}: {_quote(raw)} ({why})\n")
    if col.missing:
        msgs.append(f"percentile: {col.missing} record{'s' if col.missing != 1 else ''} without a "
                    f"value for {key} (absent, empty or \"-\")\n")
    if msgs:
        stderr.write("".join(msgs).encode("utf-8", "surrogateescape"))


class _ClosedFd(io.RawIOBase):
    """Stands in for a standard stream whose descriptor was closed (`prog <&-`, `prog >&-`): every
    read or write fails with EBADF, reported like any other I/O error instead of a traceback."""

    def readable(self):
        return True

    def writable(self):
        return True

    def readinto(self, b):
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    failed = False

    def write(self, b):
        if self.failed:   # reported once; let the interpreter's final flush drop the rest
            return len(b)
        self.failed = True
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _reopen_closed_std() -> None:
    if sys.stdin is None:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_ClosedFd()))
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedFd()))
    if sys.stderr is None:   # nowhere to report anything: discard
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(open(os.devnull, "wb", buffering=0)))


def main(argv=None, stdin=None, stdout=None, stderr=None) -> int:
    _reopen_closed_std()
    stdin = stdin if stdin is not None else getattr(sys.stdin, "buffer", sys.stdin)
    out = stdout if stdout is not None else getattr(sys.stdout, "buffer", sys.stdout)
    err = stderr if stderr is not None else getattr(sys.stderr, "buffer", sys.stderr)
    if argv is None:
        argv = sys.argv[1:]
    try:
        try:
            rc = run(argv, stdin, out, err)
        except SystemExit as e:   # argparse: --help, --version, usage errors
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        if stdout is None:
            _flush(sys.stdout)   # argparse's --help/--version text goes through the text layer
        _flush(out)
        return rc
    except BrokenPipeError:
        if stdout is None:
            _stdout_to_devnull()
        return 141
    except _WriteError as e:
        if stdout is None:
            _stdout_to_devnull()
        try:
            err.write(f"percentile: write error: {e}\n".encode("utf-8", "surrogateescape"))
            err.flush()
        except OSError:
            pass
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
