"""mysql-log2jsonl: a MySQL / MariaDB slow query log or general query log -> qrn's input (one JSON
object per statement). A filter: FILEs or standard input, in order; the work is log2jsonl.py."""
from __future__ import annotations

import sys

from . import __version__, _entry
from .cli import console_main

PROG = "mysql-log2jsonl"
BLOCK = 1 << 21


def build_parser() -> _entry.ArgumentParser:
    p = _entry.ArgumentParser(prog=PROG, allow_abbrev=False, go_flags=True,
                              description="Turn a MySQL/MariaDB slow query log or general query log into "
                                          "JSON Lines for qrn: {\"query\", \"time\", \"user\", \"host\", "
                                          "\"db\", \"query_time\", \"rows_examined\", \"thread_id\"}.")
    a = p.add_argument
    a("files", nargs="*", metavar="FILE", help="log files (.gz too); none or - = standard input")
    a("--only", choices=("all", "dml", "select"), default="all",
      help="all statements (default), dml (SELECT, INSERT, UPDATE, DELETE, REPLACE) or select (reads only)")
    a("--db", metavar="NAME", help="only statements run in database NAME")
    a("--format", choices=("auto", "slow", "general"), default="auto", help="log format (default: detected)")
    a("--strict", action="store_true", help="exit 1 when a line or entry could not be read")
    a("--version", action="version", version=f"{PROG} {__version__}")
    return p


def _main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    from .log2jsonl import Converter, Stats
    out = sys.stdout.buffer
    stats = Stats()
    rc = 0
    for name in a.files or ["-"]:
        try:
            f = _open(name)
        except OSError as e:
            sys.stderr.write(f"{PROG}: {name}: {e.strerror or e}\n")
            rc = 1
            continue
        conv = Converter(a.only, a.db, a.format, name, stats)
        try:
            while True:
                try:
                    block = f.read(BLOCK)
                except OSError as e:
                    sys.stderr.write(f"{PROG}: {name}: {e.strerror or e}\n")
                    rc = 1
                    break
                text = conv.feed_bytes(block) if block else conv.end_bytes()
                if text:
                    _entry.write_all(out, text)
                if not block:
                    break
        finally:
            if f is not sys.stdin.buffer:
                f.close()
    _entry.flush(out)
    if stats.invalid:
        sys.stderr.write(f"{PROG}: {stats.invalid} invalid lines or entries skipped; first: {stats.first_invalid}\n")
        if a.strict:
            rc = 1
    return rc


main = console_main(PROG, _main)


def _open(name: str):
    if name == "-":
        return sys.stdin.buffer
    if name.endswith(".gz"):
        import gzip
        f = gzip.open(name, "rb")
        f.peek(1)                    # not gzip: the error now, under the file's name
        return f
    return open(name, "rb")


if __name__ == "__main__":
    main()
