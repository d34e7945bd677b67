"""percentile command line: argument parsing (Go-style single-dash spellings derived by the entry
template: -percentile-set, -version, -help), validation and wiring; the run is app.run."""
from __future__ import annotations

import argparse
import os
import sys

from percentile import __version__, _entry

PROG = "percentile"
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


def build_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, add_help=False, allow_abbrev=False, go_flags=True,
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               description="Print count, max, avg, min and percentiles of the numbers "
                                           "in FILEs\n(one per line; none or - means standard input).",
                               epilog=EPILOG)
    ap.add_argument("files", nargs="*", metavar="FILE", help="input files, read in order (- is stdin)")
    ap.add_argument("-h", "--help", action="help", help="show this help and exit")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                    help="show the version and exit")
    ap.add_argument("--percentile-set", "-p", dest="pset", default=DEFAULT_SET,
                    metavar="LIST", help=f"comma-separated percentiles in (0, 100], printed in this "
                                         f"order with the label as typed (default {DEFAULT_SET})")
    ap.add_argument("--method", choices=("rank", "nearest", "linear", "lower", "higher",
                                                    "midpoint"),
                    default="rank", metavar="METHOD",
                    help="rank (default), nearest, linear, lower, higher or midpoint: see below")
    ap.add_argument("-k", "--key", metavar="KEY",
                    help="read LTSV or NDJSON records and take the numbers from KEY ('-', empty, null "
                         "or absent: skipped)")
    ap.add_argument("-g", "--group-by", dest="group", metavar="KEY",
                    help="with -k: one result per value of KEY, by count descending; the value is "
                         "printed as 'group'")
    ap.add_argument("--input-format", dest="input_format", choices=("auto", "ltsv", "json"),
                    default="auto", metavar="FMT",
                    help="with -k: auto (default: a line starting with '{' is NDJSON, others LTSV), "
                         "ltsv or json; in JSON a dotted KEY is a path (upstream.time)")
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


def main(argv=None, stdin=None, stdout=None, stderr=None) -> int:
    """The console script (no arguments), or an in-process run on binary streams (tests)."""
    return _entry.run(PROG, lambda: _main(sys.argv[1:] if argv is None else argv, stdin, stdout, stderr),
                      stdout=stdout, stderr=stderr)


def show(text: str) -> str:
    """The user's text as typed, in quotes: no repr() doubling backslashes; bytes that are not
    UTF-8 (and control characters) as \\xNN."""
    s = os.fsencode(text).decode("utf-8", "backslashreplace")
    s = "".join(f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in s)
    return f"'{s}'"


def _unknown_options(ap, argv) -> None:
    """argparse reads `-perc=50` as `-p` with the value `erc=50` (a short option with its value
    attached); Go has no short options and says "flag provided but not defined: -perc". A
    single-dash word that is no option of ours but starts with a short option taking a value is
    an unknown option when the attached value cannot be one (it holds '=', or -p is followed by a
    letter); `-p50` and `-kreqtime` still work."""
    opts = ap._option_string_actions
    for tok in _entry.go_argv(ap, list(argv)):
        if tok == "--":
            return
        if len(tok) <= 2 or tok[0] != "-" or tok[1] == "-" or tok.split("=", 1)[0] in opts:
            continue
        action = opts.get(tok[:2])
        if action is None or action.nargs == 0:
            continue
        rest = tok[2:]
        if "=" in rest or (tok[:2] == "-p" and rest[:1].isalpha()):
            ap.error(f"unknown option {show(tok.split('=', 1)[0])} (in {show(tok)})")


def _main(argv, stdin, stdout, stderr) -> int:
    ap = build_parser()
    _unknown_options(ap, argv)
    a = ap.parse_args(argv)
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout.buffer
    stderr = stderr if stderr is not None else sys.stderr.buffer
    pcts, bad_item = parse_pset(a.pset)
    if pcts is None:
        ap.error(f"invalid percentile {show(bad_item)} in --percentile-set {show(a.pset)}: "
                 "each must be a number in (0, 100]")
    extra = tuple(s for s in a.stats.split(",") if s) if a.stats else ()
    from .stats import EXTRA_STATS

    for s in extra:
        if s not in EXTRA_STATS:
            ap.error(f"unknown statistic {show(s)} in --stats (known: {', '.join(EXTRA_STATS)})")
    bad_chars = "\t\n\r" if a.input_format == "json" else ":\t\n\r"
    for opt, val in (("-k", a.key), ("-g", a.group)):
        if val is not None and (val == "" or any(c in val for c in bad_chars)):
            ap.error(f"{opt}: {show(val)} is not an LTSV label" +
                     (" (a JSON key with ':' needs --input-format json)" if ":" in val else ""))
    if a.group is not None and a.key is None:
        ap.error("-g needs -k (the label holding the numbers)")
    if a.top is not None:
        if a.group is None:
            ap.error("--top needs -g")
        if a.top < 1:
            ap.error("--top must be at least 1")
    if a.scale is not None and not (a.scale == a.scale and abs(a.scale) != float("inf")):
        ap.error("--scale must be a finite number")

    if not a.files and stdin.isatty():
        stderr.write(ap.format_usage().encode())
        stderr.write(b"percentile: reading numbers from a terminal; pipe them in or name FILEs\n")
        return 1
    from . import app
    return app.run(a, pcts, extra, stdin, stdout, stderr)


if __name__ == "__main__":
    sys.exit(main())
