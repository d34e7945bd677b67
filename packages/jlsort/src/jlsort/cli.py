"""Command lines of jlsort, jljoin and jluniq: argument parsing, validation and wiring only.

Each main() hands one function of another module (app.run_sort, join.run_join, uniq.run_uniq)
to the suite's entry template (_entry.run: exit codes, closed pipes, signals, write errors).
The options are GNU-style (combined short flags: -nr), so no Go-style spellings."""
from __future__ import annotations

import argparse
import os
import re
import sys

from jlsort import __version__, _entry

SIZE_RE = re.compile(r"([1-9][0-9]*)([kKmMgGtT]?)(i?[bB])?")
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    m = SIZE_RE.fullmatch(text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid capacity size: '{text}'")
    return int(m.group(1)) * UNITS[m.group(2).lower()]


def _version(prog):
    return f"{prog} {__version__}"


# -- jlsort ------------------------------------------------------------------------------------
def sort_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog="jlsort", description=(
        "Sort NDJSON lines by the values of one or more keys. Stable; external (bounded memory) "
        "when the input exceeds the capacity; output lines are the input bytes unchanged."),
        epilog=("KEY is PATH[:FLAG...]: PATH is a member name (to_date), a path (a.b, a[0].c, "
                "\"a.b\".c, \"a:b\") or a JSON Pointer (/a/b); FLAGs: n numeric (numbers and "
                "numeric strings first, by value), s general order, r descending, a ascending, "
                "f ignore case. Order: missing (and lines that are not JSON) < null < false < "
                "true < numbers < strings < arrays < objects. SIZE: N[kKmMgGtT], 1024-based."),
        add_help=False)
    ap.add_argument("-k", "--key", action="append", metavar="KEY", help="sort key (repeatable)")
    ap.add_argument("-c", "--capacity", "-S", "--buffer-size", dest="capacity", type=parse_size,
                    default=parse_size("10M"), metavar="SIZE",
                    help="memory for one in-memory chunk (default 10M)")
    ap.add_argument("-n", "--numeric-sort", action="store_true",
                    help="numeric keys, numeric strings included (default flag of every key)")
    ap.add_argument("-f", "--ignore-case", action="store_true",
                    help="compare strings case-insensitively (default flag of every key)")
    ap.add_argument("-r", "--reverse", action="store_true", help="descending (default flag of every key)")
    ap.add_argument("-s", "--stable", action="store_true", help="accepted: the sort is always stable")
    ap.add_argument("-u", "--unique", action="store_true", help="only the first line of equal keys")
    ap.add_argument("--check", action="store_const", const="diagnose-first",
                    help="only check that the input is sorted; report the first disorder, exit 1 "
                         "(--check=quiet: like -C)")
    ap.add_argument("-C", dest="check", action="store_const", const="quiet",
                    help="like --check=quiet: exit 1 on disorder, no message")
    ap.add_argument("-m", "--merge", action="store_true", help="merge already sorted files")
    ap.add_argument("-o", "--output", metavar="FILE", help="write to FILE (may be an input)")
    ap.add_argument("-T", "--temporary-directory", metavar="DIR",
                    help="directory for temporary runs (default $TMPDIR or /tmp)")
    ap.add_argument("--parallel", type=int, default=None, metavar="N",
                    help="build the sorted runs with N processes (regular files; stdin and .gz "
                         "input: one process). Default: the number of CPUs (at most 8) when the "
                         "files are larger than SIZE, else 1")
    ap.add_argument("--missing", choices=["first", "last", "error", "skip"], default="natural",
                    help="lines without a key: sorted first/last, an error, or skipped "
                         "(default: the lowest value; after numbers in numeric mode)")
    ap.add_argument("--invalid", choices=["keep", "warn", "error", "skip"], default="keep",
                    help="lines that are not JSON: kept and sorted as lines without the key, with "
                         "a warning (keep, warn: the default), an error before anything is "
                         "written (exit 1), or dropped with a warning (skip)")
    ap.add_argument("--strict", action="store_true", help="same as --invalid error")
    ap.add_argument("-v", "--version", action="version", version=_version("jlsort"))
    ap.add_argument("-h", "--help", action="help", help="show this help and exit")
    ap.add_argument("files", nargs="*", metavar="FILE", help="input files (- or none: stdin; .gz read)")
    return ap


def main(argv=None) -> int:
    if argv is not None:
        return _entry.run("jlsort", lambda: _sort(argv))
    fast = []
    rc = _entry.run("jlsort", lambda: _sort(sys.argv[1:], fast))
    if fast:   # everything promised is flushed (by run()); nothing is left to free
        try:
            sys.stderr.flush()
        finally:
            os._exit(rc)
    return rc


CHECK_SPELLINGS = {"--check=diagnose-first": "--check", "--check=quiet": "-C", "--check=silent": "-C"}


def _sort(argv, fast=None) -> int:
    """fast: a list, given by a console-script run; appended to when the run may end with
    os._exit (in main)."""
    ap = sort_parser()
    if not argv:
        ap.print_help(sys.stdout)
        return 0
    args = ap.parse_args([CHECK_SPELLINGS.get(a, a) for a in argv])
    if not args.key:
        ap.error("the following arguments are required: -k/--key")
    from .keys import KeySpecError, parse_keyspec
    try:
        specs = [parse_keyspec(k, args.numeric_sort, args.reverse, args.missing, args.ignore_case)
                 for k in args.key]
    except KeySpecError as e:
        ap.error(str(e))
    if args.parallel is not None and args.parallel < 1:
        ap.error("--parallel must be at least 1")
    if args.check and (args.merge or args.output):
        ap.error("--check cannot be combined with --merge or --output")
    from . import app
    if fast is not None:
        # a sort in a process of its own: no cyclic GC (nothing we build has cycles) and no
        # freeing of the big lists at exit (os._exit in main)
        import gc

        from . import sort
        gc.disable()
        sort.KEEPALIVE = []
        fast.append(True)
    return app.run_sort(args, specs)


# -- jljoin ------------------------------------------------------------------------------------
def join_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog="jljoin", add_help=False, description=(
        "Join two NDJSON inputs on a key. Merge join of inputs sorted by the key (jlsort order; "
        "the order is checked), or --hash for unsorted inputs when FILE2 fits in memory. Prints "
        "[line1,line2] with the original bytes of each side, or a merged object with -m."))
    ap.add_argument("-k", "--key", metavar="KEY", help="join key of both inputs")
    ap.add_argument("-1", dest="key1", metavar="KEY", help="join key of FILE1")
    ap.add_argument("-2", dest="key2", metavar="KEY", help="join key of FILE2")
    ap.add_argument("-n", "--numeric-sort", action="store_true",
                    help="numeric keys, as jlsort -n (default flag of both keys)")
    ap.add_argument("-r", "--reverse", action="store_true",
                    help="inputs sorted descending, as by jlsort -r (default flag of both keys)")
    ap.add_argument("-f", "-i", "--ignore-case", action="store_true",
                    help="compare strings case-insensitively, as jlsort -f")
    ap.add_argument("-m", "--merge", choices=["1", "2"], help="print one object, deep-merged; "
                    "this side wins conflicts")
    ap.add_argument("-a", dest="unpaired", action="append", choices=["1", "2"], default=[],
                    help="also print unpaired lines of FILE1 or FILE2 (with null as the other side)")
    ap.add_argument("--full", action="store_true", help="full outer join (-a 1 -a 2)")
    ap.add_argument("-v", dest="only", action="append", choices=["1", "2"], default=[],
                    help="print only the unpaired lines of FILE1 or FILE2, unchanged (repeatable; "
                         "-a N then adds those of N, as GNU join)")
    ap.add_argument("--hash", action="store_true", help="hash join: inputs need not be sorted; "
                    "FILE2 is held in memory")
    ap.add_argument("--allow-no-key", action="store_true", help="a missing key counts as null")
    ap.add_argument("--invalid", choices=["keep", "warn", "error", "skip"], default="keep",
                    help="lines that are not JSON: like lines without the key (keep, warn: the "
                         "default; skipped, or null with --allow-no-key), exit 1 (error), or "
                         "skipped (skip)")
    ap.add_argument("--strict", action="store_true", help="bad lines (invalid, no key) fail: exit 1")
    ap.add_argument("--version", action="version", version=_version("jljoin"))
    ap.add_argument("-h", "--help", action="help", help="show this help and exit")
    ap.add_argument("file1", metavar="FILE1")
    ap.add_argument("file2", metavar="FILE2")
    return ap


def jljoin_main(argv=None) -> int:
    return _entry.run("jljoin", lambda: _join(sys.argv[1:] if argv is None else argv))


def _join(argv) -> int:
    ap = join_parser()
    if argv == ["-v"]:  # upstream's version flag (-v N is GNU join's "unpaired only")
        print(_version("jljoin"))
        return 0
    args = ap.parse_args(argv)
    k1 = args.key1 or args.key
    k2 = args.key2 or args.key
    if not k1 or not k2:
        ap.error("a key is required: -k KEY, or -1 KEY1 -2 KEY2")
    if args.file1 == "-" and args.file2 == "-":
        ap.error("only one input can be standard input")
    from .keys import KeySpecError, parse_keyspec
    try:
        s1, s2 = (parse_keyspec(k, args.numeric_sort, args.reverse, fold=args.ignore_case)
                  for k in (k1, k2))
    except KeySpecError as e:
        ap.error(str(e))
    if s1.desc != s2.desc:
        ap.error("both keys must have the same direction (r on both or on neither)")
    from . import join
    return join.run_join(args, s1, s2)


# -- jluniq ------------------------------------------------------------------------------------
def uniq_parser() -> argparse.ArgumentParser:
    ap = _entry.ArgumentParser(prog="jluniq", add_help=False, description=(
        "Collapse runs of NDJSON lines with equal key values (sort first, e.g. with jlsort). "
        "Prints the first line of each run, [value,count] with -c, [value,line...] with -g."))
    ap.add_argument("-k", "--key", required=True, metavar="KEY", help="key (path) to compare")
    ap.add_argument("-c", "--count", action="store_true", help="print [value,count]")
    ap.add_argument("-g", "--group", action="store_true", help="print [value,line,line...]")
    ap.add_argument("-n", "--numeric", "--numeric-sort", action="store_true",
                    help="numeric keys as jlsort -n: numeric strings equal their number "
                         "(\"1\" == 1); numbers are always compared by value (1 == 1.0)")
    ap.add_argument("-f", "-i", "--ignore-case", action="store_true",
                    help="compare strings case-insensitively, as jlsort -f")
    ap.add_argument("--allow-no-key", action="store_true", help="a missing key counts as null")
    ap.add_argument("--invalid", choices=["keep", "warn", "error", "skip"], default="keep",
                    help="lines that are not JSON: like lines without the key (keep, warn: the "
                         "default; skipped, or null with --allow-no-key), exit 1 (error), or "
                         "skipped (skip)")
    ap.add_argument("--strict", action="store_true", help="bad lines (invalid, no key) fail: exit 1")
    ap.add_argument("-v", "--version", action="version", version=_version("jluniq"))
    ap.add_argument("-h", "--help", action="help", help="show this help and exit")
    ap.add_argument("files", nargs="*", metavar="FILE", help="input files (- or none: stdin)")
    return ap


def jluniq_main(argv=None) -> int:
    return _entry.run("jluniq", lambda: _uniq(sys.argv[1:] if argv is None else argv))


def _uniq(argv) -> int:
    ap = uniq_parser()
    args = ap.parse_args(argv)
    from .keys import KeySpecError, parse_keyspec
    try:
        spec = parse_keyspec(args.key, args.numeric, fold=args.ignore_case)
    except KeySpecError as e:
        ap.error(str(e))
    from . import uniq
    return uniq.run_uniq(args, spec)


if __name__ == "__main__":
    sys.exit(main())
