"""jljoin: merge join (sorted inputs, order checked) or hash join of two NDJSON inputs.

State: in a merge join only the current group of equal keys of each side is in memory; a hash
join holds FILE2 (key -> lines) in memory and streams FILE1. Output lines are `[line1,line2]`
built from the original bytes of both sides (`null` for the missing side of an outer join), or,
with -m, one deep-merged object (compact, members sorted, numbers as written).
"""
from __future__ import annotations

import sys

from .keys import Desc, KeySpec, key_function
from .outio import full_flush, full_writer
from .records import DataError
from .stream import bare, encode, make_extractor, open_or_report, records

PROG = "jljoin"


def deep_merge(a, b):
    """b wins: members of b override a's; objects on both sides are merged recursively."""
    if type(a) is dict and type(b) is dict:
        out = dict(a)
        for k, v in b.items():
            out[k] = deep_merge(out[k], v) if k in out else v
        return out
    return b


class Output:
    """What is printed: pairs (unless -v), and the unpaired lines asked for. As GNU join, `-v N`
    is `-a N` without the pairs, so with any -v the unpaired lines of every side named by -v or
    -a are printed, unchanged; without -v, `-a N` prints them as `[line,null]` / `[null,line]`
    (or, with -m, the object alone)."""

    def __init__(self, args):
        self.buf = []
        self.write = full_writer(sys.stdout.buffer)
        self.merge = args.merge
        only = set(args.only or ())
        unpaired = set(args.unpaired) | ({"1", "2"} if args.full else set())
        self.only = bool(only)
        self.a1 = "1" in only or "1" in unpaired
        self.a2 = "2" in only or "2" in unpaired
        if args.merge:
            from .records import lenient_value
            self.dec = lenient_value

    def _put(self, data: bytes):
        self.buf.append(data)
        if len(self.buf) >= 4096:
            self.flush()

    def flush(self):
        if self.buf:
            self.buf.append(b"")
            self.write(b"\n".join(self.buf))
            self.buf = []

    def pair(self, l1: bytes, l2: bytes):
        if self.only:
            return
        if self.merge:
            o1, o2 = self.dec(l1), self.dec(l2)
            if o1 is None or o2 is None:  # a line that is not JSON (--allow-no-key): the other
                m = o2 if o1 is None else o1
            else:
                m = deep_merge(o2, o1) if self.merge == "1" else deep_merge(o1, o2)
            self._put(encode(m))
        else:
            self._put(b"[" + bare(l1) + b"," + bare(l2) + b"]")

    def left(self, l1: bytes):
        if not self.a1:
            return
        if self.only:
            self._put(l1)
        else:
            self._put(encode(self.dec(l1)) if self.merge else b"[" + bare(l1) + b",null]")

    def right(self, l2: bytes):
        if not self.a2:
            return
        if self.only:
            self._put(l2)
        else:
            self._put(encode(self.dec(l2)) if self.merge else b"[null," + bare(l2) + b"]")


def join_key(s1: KeySpec, s2: KeySpec):
    """One order and equality for both sides, from the key flags (`-k id:n`, `-k id:f`, `-k
    id:r`): the order the inputs were sorted in by jlsort with the same KEY (keys.key_function,
    as jlsort and jluniq). The directions of both keys are the same (checked by the caller)."""
    f = key_function(KeySpec(text="", path=(), mode="num" if "num" in (s1.mode, s2.mode) else "auto",
                             fold=s1.fold or s2.fold))
    if s1.desc:
        return lambda v: Desc(f(v))
    return f


def _checked(recs, name, keytext):
    """Pass records through, failing on the first key lower than the previous one."""
    prev = None
    first = True
    for r in recs:
        k = r[0]
        if not first and k < prev:
            raise DataError(f"{name}:{r[3]}: input is not sorted by '{keytext}' "
                            f"(sort it with jlsort -k {keytext}, or use --hash)")
        prev, first = k, False
        yield r


def _grouped(recs):
    """(key, [lines]) per run of equal keys."""
    it = iter(recs)
    r = next(it, None)
    while r is not None:
        k, lines = r[0], [r[2]]
        r = next(it, None)
        while r is not None and r[0] == k:
            lines.append(r[2])
            r = next(it, None)
        yield k, lines


def run_join(args, s1, s2) -> int:
    """The whole run; -> exit status. Everything written to stdout is out on return (a
    non-blocking stdout is waited on: the entry's final flush would fail on it)."""
    rc = _join(args, s1, s2)
    full_flush(sys.stdout.buffer)
    return rc


def _join(args, s1, s2) -> int:
    rc = [0]
    ex1, st1 = make_extractor(s1, PROG, args.strict, args.invalid, args.allow_no_key, "joined as null")
    ex2, st2 = make_extractor(s2, PROG, args.strict, args.invalid, args.allow_no_key, "joined as null")
    f1 = open_or_report(args.file1, PROG, rc)
    f2 = open_or_report(args.file2, PROG, rc)
    if f1 is None or f2 is None:
        for f in (f1, f2):
            if f is not None and f is not sys.stdin.buffer:
                f.close()
        return 1
    out = Output(args)
    try:
        keyfn = join_key(s1, s2)
        r1 = records(args.file1, f1, ex1, keyfn, args.allow_no_key, PROG, rc)
        r2 = records(args.file2, f2, ex2, keyfn, args.allow_no_key, PROG, rc)
        if args.hash:
            _hash_join(r1, r2, out)
        else:
            _merge_join(_checked(r1, args.file1, s1.text), _checked(r2, args.file2, s2.text), out)
        out.flush()
    except DataError as e:
        out.flush()
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    for st, spec in ((st1, s1), (st2, s2)):
        for line in st.summary(f"'{spec.text}'"):
            print(line, file=sys.stderr)
    return rc[0]


def _merge_join(r1, r2, out):
    g1, g2 = _grouped(r1), _grouped(r2)
    a = next(g1, None)
    b = next(g2, None)
    while a is not None and b is not None:
        if a[0] < b[0]:
            for line in a[1]:
                out.left(line)
            a = next(g1, None)
        elif b[0] < a[0]:
            for line in b[1]:
                out.right(line)
            b = next(g2, None)
        else:
            for l1 in a[1]:
                for l2 in b[1]:
                    out.pair(l1, l2)
            a = next(g1, None)
            b = next(g2, None)
    while a is not None:
        for line in a[1]:
            out.left(line)
        a = next(g1, None)
    while b is not None:
        for line in b[1]:
            out.right(line)
        b = next(g2, None)


def _hash_join(r1, r2, out):
    table: dict = {}
    order = []
    for k, _, line, _ in r2:
        lst = table.get(k)
        if lst is None:
            table[k] = lst = []
        lst.append(line)
        order.append((k, line))
    matched = set()
    for k, _, l1, _ in r1:
        lst = table.get(k)
        if lst is None:
            out.left(l1)
            continue
        matched.add(k)
        for l2 in lst:
            out.pair(l1, l2)
    for k, line in order:
        if k not in matched:
            out.right(line)
