"""lltsv command line: argument parsing (Go/urfave-style spellings too), validation and wiring;
the run itself is app.run, under the suite's entry template (_entry.run)."""
from __future__ import annotations

import argparse
import os
import sys

from lltsv import __version__, _entry
from lltsv.show import show

PROG = "lltsv"

DESCRIPTION = """\
List, filter and compute keys of LTSV (Labeled Tab-Separated Values) records.
A drop-in for sonots/lltsv 0.7.0 with its bugs fixed (see the README's COMPATIBILITY section).

Filter operators (-f 'KEY OP VALUE', several -f are all applied):
  >  >=  <  <=      numeric
  ==  !=            numeric when both sides are numbers (1 == 1.0), else string
  ==*  !=*          case-insensitive string
  =~  !~  =~*  !~*  regular expression search (* = case-insensitive)
Expressions (-e 'NAME = EXPR', run in the order given): + - * / %, unary -, parentheses,
abs(x) round(x[, digits]) int(x) min(...) max(...); exact decimal arithmetic, results in
plain notation (70, 1234567500, 0.33333333333333333); division by zero leaves the value empty.
"""

EPILOG = """\
examples:
  lltsv -k time,status,uri access.log
  grep status:499 access.log | lltsv -K -k reqtime | percentile
  lltsv -k status,reqtime,uri -f 'reqtime > 1' -f 'reqtime < 2' access.log
  lltsv -k uri,reqtime,apptime,wait_ms -e 'wait_ms = (reqtime - apptime) * 1000' access.log

exit status: 0 ok, 1 unreadable input / --strict failure / write error, 2 usage error,
130 interrupted, 141 the reader closed the pipe, 143 terminated (SIGTERM).
"""


def build_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, add_help=False,
                               formatter_class=argparse.RawDescriptionHelpFormatter, go_flags=True)
    ap.add_argument("files", nargs="*", metavar="FILE", help="input files, in order; none or - = stdin")
    ap.add_argument("-k", "--key", metavar="KEYS", default="",
                    help="keys to output, comma-separated, in this order (missing keys print empty)")
    ap.add_argument("-K", "--no-key", action="store_true", help="print values only, TAB-separated")
    ap.add_argument("-i", "--ignore-key", metavar="KEYS", default="",
                    help="keys not to output (ignored when -k is given)")
    ap.add_argument("-f", "--filter", action="append", default=[], metavar="'KEY OP VALUE'",
                    help="print only records that satisfy this condition (repeatable: AND)")
    ap.add_argument("-e", "--expr", action="append", default=[], metavar="'NAME = EXPR'",
                    help="set NAME to the value of EXPR (repeatable, evaluated in order)")
    ap.add_argument("--expr-keys", action="store_true",
                    help="also print the keys set by -e: after the -k keys, or after the line's keys")
    ap.add_argument("--json", action="store_true", help="print NDJSON records instead of LTSV")
    ap.add_argument("--json-numbers", action="store_true",
                    help="--json with values that are JSON numbers as numbers (as typed), not strings")
    ap.add_argument("--header", action="store_true", help="with -K and -k: print the key names first")
    ap.add_argument("--color", "--colour", choices=["auto", "always", "never"], default="auto",
                    help="colour labels and values (auto: when stdout is a terminal and NO_COLOR is unset)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 at the first line that is not LTSV or value a numeric filter cannot read")
    ap.add_argument("-h", "--help", action="help", help="show this help and exit")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}",
                    help="print the version and exit")
    return ap


def _split_keys(s: str) -> list[bytes]:
    if s == "":
        return []
    return [os.fsencode(k) for k in s.split(",")]


def main(argv: list[str] | None = None, stdin=None, stdout=None, stderr=None) -> int:
    """The console script (no arguments), or an in-process run on binary streams (tests)."""
    return _entry.run(PROG, lambda: _main(sys.argv[1:] if argv is None else argv, stdin, stdout, stderr),
                      stdout=stdout, stderr=stderr)


def _main(argv, stdin, stdout, stderr) -> int:
    ap = build_parser()
    norm = _entry.go_argv(ap, list(argv))
    rest: list[str] = []
    if "--" in norm:   # parse_intermixed_args mishandles "--": take the file names after it here
        i = norm.index("--")
        norm, rest = norm[:i], norm[i + 1:]
    args = ap.parse_intermixed_args(norm)
    args.files += rest
    stdout = stdout if stdout is not None else sys.stdout.buffer
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stderr = stderr if stderr is not None else sys.stderr.buffer

    from lltsv import app, core, expr, filters

    keys = _split_keys(args.key)
    flist = []
    for s in args.filter:
        try:
            flist.append(filters.Filter(os.fsencode(s)))
        except filters.FilterError as e:
            ap.error(f"invalid filter {show(s)}: {e}")
    elist = []
    for s in args.expr:
        try:
            elist.append(expr.Expression(s))
        except expr.ExprError as e:
            ap.error(f"invalid expression {show(s)}: {e}")
    if args.header and not (args.no_key and keys):
        ap.error("--header needs -K and -k")
    if args.json_numbers:
        args.json = True
    if args.expr_keys and not elist:
        ap.error("--expr-keys needs -e")
    if args.json and args.no_key:
        ap.error("--json and -K exclude each other")
    if args.color == "always":
        color = True
    elif args.color == "never":
        color = False
    else:
        color = not os.environ.get("NO_COLOR") and _isatty(stdout)
    opts = core.Options(keys=keys, no_key=args.no_key, ignore=_split_keys(args.ignore_key),
                        filters=flist, exprs=elist, json=args.json, color=color, strict=args.strict,
                        json_numbers=args.json_numbers, expr_keys=args.expr_keys)
    header = b"\t".join(keys) + b"\n" if args.header else None
    return app.run(core.Engine(opts), args.files, stdin, stdout, stderr, header)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
