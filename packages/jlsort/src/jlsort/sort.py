"""The external sort: sorted runs with their keys, then one bounded k-way merge.

State: lines (input bytes) and their keys, in memory until the estimated size reaches the
capacity; then sorted and written as a run (anonymous temporary file, O_TMPFILE: nothing is left
on disk whatever happens to the process) made of pickled blocks `(keys, lines)`. A merge never
decodes JSON again. Runs are merged in input order, which with a stable in-memory sort makes the
whole sort stable (ties keep input order, descending keys included).

The merge works in batches: with B the smallest last key of the blocks in memory, every line
whose key is below B (and equal to B, for the runs up to the first one whose block ends at B) can
be output now; those pieces are concatenated in run order and stable-sorted (timsort merges the
sorted pieces in C). At most FANIN runs are open at once: beyond that, runs are merged in groups
(tiered: only adjacent runs, so stability holds).
"""
from __future__ import annotations

import itertools
import operator
import pickle
import struct
import tempfile
from bisect import bisect_left, bisect_right
from collections import Counter
from functools import partial

from .outio import full_writer
from .records import converter, make_keys

KEEPALIVE = None      # a list when the process will end with os._exit: big lists are not freed
LINE_OVERHEAD = 112   # estimated memory per line beside its bytes: objects, list slots, key
FANIN = 64           # runs merged at once, at most (fewer under a small descriptor limit)
RESERVED_FDS = 24    # descriptors kept for the standard streams, the input, the output ...


def fanin() -> int:
    """Runs merged at once: FANIN, or fewer when the descriptor limit (ulimit -n) is small, so
    that any number of inputs and runs works under it (as sort --batch-size)."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        soft = -1
    if soft < 0:
        return FANIN
    return max(2, min(FANIN, (soft - RESERVED_FDS) // 4))
_HEAD = struct.Struct("<BQQ")   # block: keys encoding (0 pickle, 1 JSON list of str), sizes
_json = None


def _encode_keys_pickle(keys):
    return pickle.dumps(keys, 5)


def _encode_keys_json(keys):
    global _json
    if _json is None:
        _init_json()
    return _json[0](keys)


def _init_json():
    global _json
    import msgspec
    _json = (msgspec.json.Encoder().encode, msgspec.json.Decoder(list[str]).decode)


def _decode_keys(tag, data):
    if tag == 0:
        return pickle.loads(data)
    if _json is None:
        _init_json()
    return _json[1](data)


class TempError(Exception):
    """Temporary storage failed (cannot create, disk full): exit 1."""


class Run:
    __slots__ = ("f", "count", "kinds", "level")

    def __init__(self, f, count, kinds, level=0):
        self.f, self.count, self.kinds, self.level = f, count, kinds, level

    def blocks(self, per_read: int = 1):
        """Yield (keys, lines) blocks; `per_read` stored blocks are joined into one."""
        f = self.f
        f.seek(0)
        read, unpack = f.read, _HEAD.unpack
        while True:
            ks, ls = None, None
            for _ in range(per_read):
                head = read(_HEAD.size)
                if len(head) < _HEAD.size:
                    break
                tag, klen, llen = unpack(head)
                k = _decode_keys(tag, read(klen))
                l_ = read(llen).split(b"\n")
                if ks is None:
                    ks, ls = k, l_
                else:
                    ks += k
                    ls += l_
            if ks is None:
                return
            yield ks, ls

    def close(self):
        try:
            self.f.close()
        except OSError:
            pass


def _bisect(keys, b, lo, hi, rev, right):
    """First index in keys[lo:hi] (sorted asc, or desc when rev) whose key comes after b
    (right=True) or does not come before b (right=False)."""
    if not rev:
        return (bisect_right if right else bisect_left)(keys, b, lo, hi)
    lt = operator.lt
    while lo < hi:
        mid = (lo + hi) // 2
        k = keys[mid]
        if rev:
            before = lt(b, k) if not right else not lt(k, b)
        else:
            before = lt(k, b) if not right else not lt(b, k)
        if before:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _sort_pair(keys, lines, rev, need_keys):
    """Stable-sort lines by their keys in place (timsort with the precomputed keys), and the
    keys themselves when needed."""
    it = iter(keys)
    lines.sort(key=partial(next, it), reverse=rev)
    if next(it, it) is not it:
        raise AssertionError("key iterator not exhausted")
    if need_keys:
        _sort_keys(keys, rev)


def _sort_keys(keys, rev):
    """Sort keys in place; with few distinct keys by counting them (no n.log n sort)."""
    n = len(keys)
    if n > 256:
        try:
            cnt = Counter(keys)
        except TypeError:  # unhashable: cannot happen with our keys, but stay safe
            cnt = None
        if cnt is not None and len(cnt) * 4 <= n:
            uniq = sorted(cnt, reverse=rev)
            keys[:] = itertools.chain.from_iterable(
                map(itertools.repeat, uniq, map(cnt.__getitem__, uniq)))
            return
    keys.sort(reverse=rev)


def merge_blocks(sources, rev: bool, convs=None, need_keys=True):
    """Merge sorted sources (iterators of (keys, lines) blocks) -> (keys, lines) batches."""
    states = []
    for i, it in enumerate(sources):
        states.append([[], [], 0, iter(it), False, convs[i] if convs else None])
    # state: [keys, lines, pos, iterator, eof, conv]
    while True:
        alive = []
        for st in states:
            while st[2] >= len(st[0]) and not st[4]:
                blk = next(st[3], None)
                if blk is None:
                    st[4] = True
                else:
                    ks, ls = blk
                    st[0] = st[5](ks) if st[5] else ks
                    st[1], st[2] = ls, 0
            if st[2] < len(st[0]):
                alive.append(st)
        states = alive
        if not states:
            return
        if len(states) == 1:
            st = states[0]
            p = st[2]
            yield (st[0][p:] if p else st[0]), (st[1][p:] if p else st[1])
            for ks, ls in st[3]:
                yield (st[5](ks) if st[5] else ks), ls
            return
        live = [st for st in states if not st[4]]
        if live:
            lasts = [st[0][-1] for st in live]
            b = max(lasts) if rev else min(lasts)
            r0 = next(i for i, st in enumerate(states) if not st[4] and st[0][-1] == b)
        else:
            b = None
            r0 = len(states)
        pk, pl = [], []
        pieces = 0
        for i, st in enumerate(states):
            ks, p = st[0], st[2]
            if b is None:
                cut = len(ks)
            elif (ks[p] < b) if not rev else (b < ks[p]):
                cut = _bisect(ks, b, p, len(ks), rev, right=i <= r0)
            elif i > r0 or ks[p] != b:
                continue
            else:
                cut = _bisect(ks, b, p, len(ks), rev, right=i <= r0)
            if cut > p:
                pieces += 1
                pk += ks[p:cut]
                pl += st[1][p:cut]
                st[2] = cut
        if pieces > 1:
            _sort_pair(pk, pl, rev, need_keys)
        if pk:
            yield pk, pl


class Sorter:
    def __init__(self, specs, capacity: int, tmpdir: str | None, progress=None):
        self.specs = specs
        self.capacity = capacity
        self.tmpdir = tmpdir
        self.lines: list[bytes] = []
        self.strs: tuple = ()
        self.comps: list[list] = [[] for _ in specs]
        self.mem = 0
        self.runs: list[Run] = []
        self.block_records = 0
        self.progress = progress
        self.fanin = fanin()
        self.final_limit = None   # runs left by finish_runs (a --parallel worker: fewer)

    # -- input ------------------------------------------------------------------------------
    def add(self, lines, comps, nbytes=None, strs=()):
        """nbytes: the bytes of the lines when known (saves adding up their lengths); strs: per
        key, True when every value of this block is a string."""
        if not lines:
            return
        if self.lines:
            self.strs = tuple(a and b for a, b in zip(self.strs, strs, strict=False))
        else:
            self.strs = tuple(strs)
        self.lines += lines
        for acc, vals in zip(self.comps, comps, strict=False):
            acc += vals
        if nbytes is None:
            nbytes = sum(map(len, lines))
        self.mem += nbytes + LINE_OVERHEAD * len(lines)
        if self.mem >= self.capacity:
            self.spill()

    # -- runs -------------------------------------------------------------------------------
    def _tempfile(self):
        d = self.tmpdir or tempfile.gettempdir()
        try:
            return tempfile.TemporaryFile(dir=d, prefix="jlsort.", buffering=1 << 16)
        except OSError as e:
            raise TempError(f"cannot create a temporary file in '{d}': {e.strerror}") from None

    def _write_run(self, batches, count, kinds, level=0) -> Run:
        f = self._tempfile()
        nrec = self._block_records()
        pack, write, join = _HEAD.pack, full_writer(f), b"\n".join
        tag = 1 if kinds == ("str",) else 0
        enc = _encode_keys_json if tag else _encode_keys_pickle
        try:
            for ks, ls in batches:
                for i in range(0, len(ks), nrec):
                    kd = enc(ks[i:i + nrec])
                    ld = join(ls[i:i + nrec])
                    write(pack(tag, len(kd), len(ld)))
                    write(kd)
                    write(ld)
            f.flush()
        except OSError as e:
            try:
                f.close()  # flushes the rest of the buffer: fails again on a full disk
            except OSError:
                pass
            d = self.tmpdir or tempfile.gettempdir()
            raise TempError(f"write error on a temporary file in {d}: {e.strerror}") from None
        return Run(f, count, kinds, level)

    def _block_records(self):
        if not self.block_records:
            # about capacity/256 bytes of input per block: FANIN open runs stay well under capacity
            avg = max(16, self.mem // max(1, len(self.lines)))
            self.block_records = max(64, (max(32 << 10, self.capacity // 256)) // avg)
        return self.block_records

    # -- what the one-process sort and the --parallel workers (parallel.py) share ------------
    def take_sorted(self):
        """Sort the lines held in memory and hand them over, emptying the buffer: -> (keys,
        lines, kinds, rev), keys sorted like lines. For an input that fitted in memory: no run
        is written and read back."""
        keys, kinds, rev = make_keys(self.comps, self.specs, strs=self.strs)
        lines = self.lines
        self.lines, self.comps, self.mem = [], [[] for _ in self.specs], 0
        _sort_pair(keys, lines, rev, True)
        return keys, lines, kinds, rev

    def spill(self):
        """Sort the lines held in memory and write them as one more run (then merge the trailing
        runs of one level into one when there are FANIN of them)."""
        self._block_records()
        keys, lines, kinds, rev = self.take_sorted()
        self.runs.append(self._write_run([(keys, lines)], len(lines), kinds))
        del keys, lines
        self._cascade()

    def finish_runs(self):
        """Spill what is still in memory and merge until at most FANIN runs are left: self.runs
        is then ready for the final merge (here, or in the parent of a --parallel worker)."""
        if self.lines:
            self.spill()
        self._cascade(final=True)

    def fan(self) -> int:
        """Runs (or -m inputs) merged at once."""
        return min(self.fanin, FANIN)

    def _cascade(self, final=False):
        # merge the trailing group of runs of one level when it reaches FANIN runs
        fan = self.fan()
        while True:
            runs = self.runs
            if final:
                limit = min(fan, self.final_limit or fan)
                if len(runs) <= limit:
                    return
                group = runs[-fan:] if len(runs) - fan >= 1 else runs
                level = max(r.level for r in group) + 1
            else:
                lvl = runs[-1].level
                n = 0
                for r in reversed(runs):
                    if r.level != lvl:
                        break
                    n += 1
                if n < fan:
                    return
                group = runs[-n:]
                level = lvl + 1
            kinds, batches = self._merge(group)
            new = self._write_run(batches, sum(r.count for r in group), kinds, level)
            for r in group:
                r.close()
            self.runs = runs[:len(runs) - len(group)] + [new]

    def _merge(self, runs, need_keys=True):
        specs = self.specs
        kinds0 = runs[0].kinds
        want = tuple(k if all(r.kinds[i] == k for r in runs) else "norm" for i, k in enumerate(kinds0))
        convs = [converter(specs, r.kinds, want) for r in runs]
        rev = all(s.desc for s in specs)
        # memory for the merge: about the capacity, shared by the open runs
        per_run = max(1, self.capacity // (LINE_OVERHEAD + 100) // len(runs) // self._block_records())
        return want, merge_blocks([r.blocks(per_run) for r in runs], rev, convs, need_keys)

    # -- output -----------------------------------------------------------------------------
    def batches(self, need_keys: bool):
        """-> iterator of (keys or None, lines) in sorted order; frees memory as it goes."""
        try:
            if not self.runs:
                if not self.lines:
                    return
                if need_keys:
                    keys, lines, _, _ = self.take_sorted()
                    yield keys, lines
                    return
                keys, kinds, rev = make_keys(self.comps, self.specs, strs=self.strs)
                lines = self.lines
                self.lines, self.comps = [], []
                _sort_pair(keys, lines, rev, False)
                if KEEPALIVE is not None:
                    KEEPALIVE.append(lines)
                del keys
                yield None, lines
                return
            self.finish_runs()
            _, merged = self._merge(self.runs, need_keys)
            yield from merged
        finally:
            self.close()

    def close(self):
        for r in self.runs:
            r.close()
        self.runs = []


def write_batches(out, batches, unique: bool):
    """Write lines (each + b'\\n'); with unique, only the first line of each run of equal keys."""
    prev = _nothing = object()
    write = full_writer(out)
    for keys, lines in batches:
        if unique:
            keep = []
            for k, line in zip(keys, lines, strict=False):
                if prev is _nothing or k != prev:
                    keep.append(line)
                    prev = k
            lines = keep
        for i in range(0, len(lines), 4096):
            part = lines[i:i + 4096]
            if part:
                write(b"\n".join(part))
                write(b"\n")


def first_disorder(keys, rev: bool, strict: bool):
    """Index i (>=1) of the first key out of order with keys[i-1], or None."""
    if len(keys) < 2:
        return None
    if rev:
        bad = operator.le if strict else operator.lt
    else:
        bad = operator.ge if strict else operator.gt
    hits = itertools.compress(itertools.count(1), map(bad, keys[:-1], keys[1:]))
    return next(hits, None)

