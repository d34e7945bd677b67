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


class Prefiltered:
    """The numbers of one group when the windows of the wanted order statistics were planned
    before reading (stats.plan_windows on a sample read with pread at spread offsets of a
    regular file): each decoded block keeps only the values >= the first window's lower bound or
    <= the sample's minimum (about a quarter of them for the default 99/95/90/75 set), counted
    and summed as they come; the others are dropped at once, so no array of every value is
    packed nor passed over again. The blocks' text is kept (less memory than the values), so that
    when a window misses (the file changed since the sample, or the sample misled) all_values()
    decodes them again and the caller sorts or selects as without the filter. Correctness never
    depends on the sample: stats.resolve_windows proves every rank by counting."""

    PIECES = 256           # offsets sampled
    PIECE = 4096           # bytes read at each
    MIN_SIZE = 8 << 20     # smaller inputs: keep every value (the filter would gain little)
    MIN_SAMPLE = 2000

    def __init__(self, sample: list, clusters: list):
        self.sample = sample
        self.clusters = clusters
        self.lo = sample[clusters[0][0]]
        self.s0 = sample[0]
        self.n = 0
        # packed, not a list: float objects kept alive among the freed ones of every block slow
        # down the decoding of the next blocks (measured: +0.3 s for 10 M numbers)
        self.keep = array("d")
        self.raw: list = []

    def __len__(self) -> int:
        return self.n

    def add(self, blk: bytes, vals: list) -> None:
        lo, s0 = self.lo, self.s0
        self.keep.fromlist([x for x in vals if x >= lo or x <= s0])
        self.raw.append(blk)
        self.n += len(vals)

    def kept(self) -> array:
        return self.keep

    def all_values(self) -> array:
        out = array("d")
        for blk in self.raw:
            out.fromlist(numparse.decode_block(blk, _ignore))
        self.raw = []
        self.keep = array("d")
        return out

    @classmethod
    def plan(cls, f: BinaryIO, quantiles: list) -> "Prefiltered | None":
        """A Prefiltered for input f when it is a large regular file and a sample of it gives
        narrow windows (stats.plan_windows, the first one with a lower bound); else None."""
        import os
        import random
        import stat

        from .stats import plan_windows

        try:
            fd = f.fileno()
            st = os.fstat(fd)
            pos = f.tell()
        except (OSError, AttributeError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size - pos < cls.MIN_SIZE:
            return None
        rnd = random.Random(st.st_size)
        pieces = []
        try:
            for off in sorted(rnd.randrange(pos, st.st_size - cls.PIECE) for _ in range(cls.PIECES)):
                data = os.pread(fd, cls.PIECE, off)
                s = data.find(b"\n") + 1                    # whole lines only
                e = data.rfind(b"\n")
                if 0 < s <= e:
                    pieces.append(data[s:e])
        except OSError:
            return None
        sample: list = []
        if pieces:
            numparse.parse_block(_crlf(b"\n".join(pieces)), sample, _ignore)
        if len(sample) < cls.MIN_SAMPLE:
            return None
        total = sum(sample)
        if total != total or len(set(sample)) <= cls.MIN_SAMPLE:
            return None               # NaN (Go's order), or few distinct values: not this way
        sample.sort()
        clusters = plan_windows(sample, quantiles)
        if clusters is None or clusters[0][0] < 0:
            return None
        return cls(sample, clusters)


def _ignore(i, raw, why) -> None:
    pass


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
    fmt: str = "auto"                 # -k input: "auto" (per line), "ltsv", "json"
    # quantile positions (0..1) of the wanted statistics: numbers from a large regular file are
    # then filtered as they are decoded (Prefiltered) instead of all kept; None: keep them all
    quantiles: list | None = None
    _json: object = None              # jsonkeys.Extractor, made on the first JSON line

    # -- numbers, one per line --------------------------------------------------------------
    def feed_numbers(self, name: str, f: BinaryIO) -> None:
        g = self.groups.get(b"")
        if g is None:
            g = self.groups[b""] = Group()
            if self.quantiles is not None:      # the first input: plan the windows from it
                pre = Prefiltered.plan(f, self.quantiles)
                if pre is not None:
                    g.vals = pre
        keep = g.vals.add if isinstance(g.vals, Prefiltered) else None
        base = 0
        for blk in blocks(f):
            bad0 = self.bad
            vals = numparse.decode_block(blk, lambda i, raw, why, b=base: self._bad(name, b + i, raw, why))
            base += len(vals) + self.bad - bad0      # every line is a value or a rejected line
            g.total = naive_sum(vals, g.total)
            if keep is not None:
                keep(blk, vals)
            else:
                g.vals.fromlist(vals)
        self.records += base

    # -- records: LTSV or NDJSON ---------------------------------------------------------------
    def feed_ltsv(self, name: str, f: BinaryIO) -> None:
        """-k (and -g): LTSV lines, NDJSON lines (a line starting with '{'), or both, as `fmt`
        says: "auto" (per line), "ltsv" or "json"."""
        base = 0
        fmt = self.fmt
        for blk in blocks(f):
            lines = blk.split(b"\n")
            vs: list = []          # the values (bytes) of this block
            where: list = []       # their line indexes
            gvs: list = []         # their group values
            if fmt == "ltsv" or (fmt == "auto" and not blk.startswith(b"{") and b"\n{" not in blk):
                self._ltsv_lines(lines, range(len(lines)), vs, where, gvs)
            elif fmt == "json" or all(line[:1] == b"{" for line in lines):
                self._json_lines(name, base, lines, range(len(lines)), vs, where, gvs)
            else:
                for i, line in enumerate(lines):
                    if line[:1] == b"{":
                        self._json_lines(name, base, lines, (i,), vs, where, gvs)
                    else:
                        self._ltsv_lines(lines, (i,), vs, where, gvs)
            if vs:
                self._values(name, base, vs, where, gvs)
            base += len(lines)
        self.records += base

    def _ltsv_lines(self, lines, idxs, vs, where, gvs) -> None:
        key = self.key
        tk = b"\t" + key + b":"
        sk = key + b":"
        skl = len(sk)
        gk = self.group
        if gk is not None:
            tg = b"\t" + gk + b":"
            sg = gk + b":"
        for i in idxs:
            line = lines[i]
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

    def _json_lines(self, name, base, lines, idxs, vs, where, gvs) -> None:
        from . import jsonkeys

        if self._json is None:
            self._json = jsonkeys.Extractor(self.key, self.group)
        ex = self._json
        if len(idxs) > 1:
            recs = ex.decode_block(lines)
        else:
            recs = None
        for n, i in enumerate(idxs):
            if recs is not None:
                got = ex.extract(recs[n])
            else:
                got = ex.extract_line(lines[i])
            if got is None:
                if not lines[i].strip():
                    self.missing += 1
                else:
                    self._bad(name, base + i, lines[i], "not a JSON object")
                continue
            v, gv = got
            if v is None:
                self.missing += 1
                continue
            if b"\n" in v:      # a JSON string may hold a newline: no number anyway
                self._bad(name, base + i, v, "invalid syntax")
                continue
            vs.append(v)
            where.append(i)
            if self.group is not None:
                gvs.append(gv)

    def _values(self, name, base, vs, where, gvs) -> None:
        """Parse the values of a block's records (bulk) and add them to their groups."""
        gk = self.group
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
            return
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

    def _bad(self, name: str, index: int, raw: bytes, why: str) -> None:
        self.bad += 1
        if self.first_bad is None:
            self.first_bad = (name, index + 1, raw, why)
        if self.strict:
            raise StrictFailure()
