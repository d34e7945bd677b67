"""jluniq: collapse runs of adjacent lines whose key values are equal.

State: the current run (its key, first value, count, and its lines with -g). Equality is jlsort's
(keys.key_function: the one notion of equal keys of the three tools): numbers by value (200 ==
200.0), with -n or KEY:n numeric strings too, with -f or KEY:f strings case-insensitively.
"""
from __future__ import annotations

import sys

from .keys import key_function
from .outio import full_flush, full_writer
from .records import DataError
from .stream import bare, encode, make_extractor, open_or_report, records

PROG = "jluniq"


def run_uniq(args, spec) -> int:
    """The whole run; -> exit status. Everything written to stdout is out on return (a
    non-blocking stdout is waited on: the entry's final flush would fail on it)."""
    rc = _uniq(args, spec)
    full_flush(sys.stdout.buffer)
    return rc


def _uniq(args, spec) -> int:
    rc = [0]
    ex, stats = make_extractor(spec, PROG, args.strict, args.invalid, args.allow_no_key,
                               "counted as null")
    keyfn = key_function(spec)
    write = full_writer(sys.stdout.buffer)
    buf: list[bytes] = []
    cur = None  # [key, value, count, lines]

    def emit(g):
        if args.count or args.group:
            parts = [encode(g[1])]
            if args.count:
                parts.append(str(g[2]).encode())
            if args.group:
                parts.extend(map(bare, g[3]))
            buf.append(b"[" + b",".join(parts) + b"]")
        else:
            buf.append(g[3][0])

    try:
        for name in args.files or ["-"]:
            f = open_or_report(name, PROG, rc)
            if f is None:
                continue
            for k, v, line, _ in records(name, f, ex, keyfn, args.allow_no_key, PROG, rc):
                if cur is not None and k == cur[0]:
                    cur[2] += 1
                    if args.group:
                        cur[3].append(line)
                    continue
                if cur is not None:
                    emit(cur)
                    if len(buf) >= 4096:
                        buf.append(b"")
                        write(b"\n".join(buf))
                        buf.clear()
                cur = [k, v, 1, [line]]
        if cur is not None:
            emit(cur)
    except DataError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        rc[0] = 1
    if buf:
        buf.append(b"")
        write(b"\n".join(buf))
    for line in stats.summary(f"'{spec.text}'"):
        print(line, file=sys.stderr)
    return rc[0]
