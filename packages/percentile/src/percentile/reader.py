"""Reading inputs: blocks of whole lines from files, numbers per line or one LTSV key per record.

State kept here: the values (one list, or one per group), the running sum of each list in input
order (Go adds naively as it reads), and the counts of rejected and missing records with the first
rejected one (its file, line number, text and reason) for the summary on stderr.
"""
from __future__ import annotations

import functools
import operator
import sys
from array import array
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from . import numparse

BLOCK = 1 << 20

if sys.version_info >= (3, 12):   # sum() of floats became compensated; Go's sum is naive
    def naive_sum(vals: list, start: float) -> float:
        return functools.reduce(operator.add, vals, start)
else:
    def naive_sum(vals: list, start: float) -> float:
        return sum(vals, start)


class StrictFailure(Exception):
    pass


def blocks(f: BinaryIO, size: int | None = None) -> Iterator[bytes]:
    """Blocks of whole lines, without their final LF, CRLF turned into LF (one CR per line).
    A line longer than a block is gathered in pieces and joined once (no quadratic copying)."""
    size = size or BLOCK
    parts: list = []            # the unfinished line at the end of what was read
    while True:
        chunk = f.read(size)
        if not chunk:
            break
        nl = chunk.rfind(b"\n")
        if nl < 0:
            parts.append(chunk)
            continue
        if parts:
            parts.append(chunk[:nl])
            head = b"".join(parts)
            parts = []
        else:
            head = chunk[:nl]
        if nl + 1 < len(chunk):
            parts.append(chunk[nl + 1:])
        yield _crlf(head)
    if parts:
        yield _crlf(b"".join(parts))


def _crlf(b: bytes) -> bytes:
    if b"\r" in b:
        b = b.replace(b"\r\n", b"\n")
        if b.endswith(b"\r"):
            b = b[:-1]
    return b


@dataclass
class Group:
    vals: array = field(default_factory=lambda: array("d"))   # 8 bytes a value
    total: float = 0.0


@dataclass
class Collector:
    strict: bool = False
    key: bytes | None = None          # -k: the LTSV label holding the number
    group: bytes | None = None        # -g: the LTSV label to group by
    groups: dict = field(default_factory=dict)   # group value (bytes) -> Group; b"" without -g
    bad: int = 0
    first_bad: tuple | None = None    # (name, line number, text, reason)
    missing: int = 0
    records: int = 0

    # -- numbers, one per line --------------------------------------------------------------
    def feed_numbers(self, name: str, f: BinaryIO) -> None:
        g = self.groups.setdefault(b"", Group())
        base = 0
        for blk in blocks(f):
            vals: list = []
            bad0 = self.bad
            numparse.parse_block(blk, vals, lambda i, raw, why, b=base: self._bad(name, b + i, raw, why))
            base += len(vals) + self.bad - bad0      # every line is a value or a rejected line
            g.total = naive_sum(vals, g.total)
            g.vals.fromlist(vals)
        self.records += base

    # -- LTSV ---------------------------------------------------------------------------------
    def feed_ltsv(self, name: str, f: BinaryIO) -> None:
        key = self.key
        tk = b"\t" + key + b":"
        sk = key + b":"
        skl = len(sk)
        gk = self.group
        if gk is not None:
            tg = b"\t" + gk + b":"
            sg = gk + b":"
        base = 0
        for blk in blocks(f):
            lines = blk.split(b"\n")
            vs: list = []          # the values (bytes) of this block
            where: list = []       # their line indexes
            gvs: list = []         # their group values
            for i, line in enumerate(lines):
                j = line.rfind(tk)
                if j >= 0:
                    j += skl + 1
                elif line.startswith(sk):
                    j = skl
                else:
                    self.missing += 1
                    continue
                e = line.find(b"\t", j)
                v = line[j:] if e < 0 else line[j:e]
                if v == b"-" or v == b"":
                    self.missing += 1
                    continue
                vs.append(v)
                where.append(i)
                if gk is not None:
                    j = line.rfind(tg)
                    if j >= 0:
                        j += len(tg)
                    elif line.startswith(sg):
                        j = len(sg)
                    else:
                        gvs.append(b"")
                        continue
                    e = line.find(b"\t", j)
                    gvs.append(line[j:] if e < 0 else line[j:e])
            if vs:
                bad: list = []

                def on_bad(i, raw, why, b=base, w=where, bad=bad):
                    bad.append(i)
                    self._bad(name, b + w[i], raw, why)

                vals: list = []
                numparse.parse_block(b"\n".join(vs), vals, on_bad)
                if gk is None:
                    g = self.groups.get(b"")
                    if g is None:
                        g = self.groups[b""] = Group()
                    g.total = naive_sum(vals, g.total)
                    g.vals.fromlist(vals)
                else:
                    if bad:
                        drop = set(bad)
                        gvs = [gv for i, gv in enumerate(gvs) if i not in drop]
                    per_group: dict = {}
                    for gv, x in zip(gvs, vals, strict=True):
                        lst = per_group.get(gv)
                        if lst is None:
                            per_group[gv] = [x]
                        else:
                            lst.append(x)
                    for gv, lst in per_group.items():
                        g = self.groups.get(gv)
                        if g is None:
                            g = self.groups[gv] = Group()
                        g.total = naive_sum(lst, g.total)
                        g.vals.fromlist(lst)
            base += len(lines)
        self.records += base

    def _bad(self, name: str, index: int, raw: bytes, why: str) -> None:
        self.bad += 1
        if self.first_bad is None:
            self.first_bad = (name, index + 1, raw, why)
        if self.strict:
            raise StrictFailure()
