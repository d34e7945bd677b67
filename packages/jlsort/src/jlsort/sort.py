"""The external sort: sorted runs with their keys, then one bounded k-way merge.

State: lines (input bytes) and their keys, in memory until the estimated size reaches the
capacity; then sorted and written as a run (anonymous temporary file, O_TMPFILE: nothing is left
on disk whatever happens to the process) made of blocks `(keys, lines)`, or from the grouped
buffer (see Sorter) `(keys, entries)` with one key per group of equal keys. A merge never
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
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict, deque
from functools import partial
from itertools import accumulate, chain, compress, repeat

from .outio import full_writer
from .records import converter, make_keys

KEEPALIVE = None      # a list when the process will end with os._exit: big lists are not freed
LINE_OVERHEAD = 112   # estimated memory per line beside its bytes: objects, list slots, key
GROUP_OVERHEAD = 64   # the same in the grouped buffer (no key per line: a bytes object, a slot)
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
_HEAD = struct.Struct("<BQQ")   # block: tag, size of the keys part, size of the lines part
# tags: 0 keys pickled, one per line; 1 keys a JSON list of str, one per line; 2 and 3 (the same
# encodings + 2): one key per *entry*, an entry being consecutive lines with that key (the lines
# of one group of equal keys, or a piece of it); the keys part is then _RLE (size of the encoded
# keys, number of entries), the keys, the line count of each entry and its byte length (uint64)
_RLE = struct.Struct("<QQ")
GROUP_PIECE = 4096    # lines per entry at most when a group is cut into pieces (memory bound)
_json = None


def _encode_keys_pickle(keys):
    import pickle  # here, not at start-up: only keys that are not all strings need it
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
        import pickle
        return pickle.loads(data)
    if _json is None:
        _init_json()
    return _json[1](data)


def _gettempdir():
    import tempfile
    return tempfile.gettempdir()


class TempError(Exception):
    """Temporary storage failed (cannot create, disk full): exit 1."""


def _expand(keys, counts):
    """Per-entry keys -> per-line keys."""
    return list(chain.from_iterable(map(repeat, keys, counts)))


def _cut(data, lens):
    """data = b"\\n".join(chunks), lens = their lengths -> the chunks."""
    if len(lens) == 1:
        return [data]
    starts = list(accumulate(map(operator.add, lens, repeat(1)), initial=0))
    return list(map(data.__getitem__, map(slice, starts, map(operator.add, starts, lens))))


def _split_entries(keys, chunks, counts):
    """The lines of entries (chunks of `count` lines) -> (per-line keys, lines)."""
    return _expand(keys, counts), b"\n".join(chunks).split(b"\n")


class Run:
    """A sorted run in an anonymous file. count: its lines; entries: its entries (a line of a
    per-line block counts as one entry): when the runs of a merge have few entries for their
    lines, the merge moves whole entries (groups of equal keys) instead of lines."""
    __slots__ = ("f", "count", "kinds", "level", "entries")

    def __init__(self, f, count, kinds, level=0, entries=None):
        self.f, self.count, self.kinds, self.level = f, count, kinds, level
        self.entries = count if entries is None else entries

    def blocks(self, per_read: int = 1, grouped: bool = False):
        """Yield (keys, items) blocks; `per_read` stored blocks are joined into one. Items are
        lines (one key each), or with grouped=True entries (chunks of lines joined by \\n, one
        key each; a per-line block gives entries of one line)."""
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
                if tag < 2:
                    k = _decode_keys(tag, read(klen))
                    l_ = read(llen).split(b"\n")
                else:
                    meta = read(klen)
                    kb, n = _RLE.unpack_from(meta)
                    o = _RLE.size + kb
                    k = _decode_keys(tag - 2, meta[_RLE.size:o])
                    data = read(llen)
                    if grouped:
                        lens = array("Q")
                        lens.frombytes(meta[o + 8 * n:o + 16 * n])
                        l_ = _cut(data, lens)
                    else:
                        counts = array("Q")
                        counts.frombytes(meta[o:o + 8 * n])
                        k = _expand(k, counts)
                        l_ = data.split(b"\n")
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


class MemRun:
    """A sorted chunk kept in memory (the parent's own range of a --parallel sort): a run that
    was never written. counts None: items are lines; else items are entries of counts lines."""

    def __init__(self, keys, items, counts, kinds):
        self.keys, self.items, self.counts, self.kinds, self.level = keys, items, counts, kinds, 0
        self.entries = len(items)
        self.count = self.entries if counts is None else sum(counts)

    def blocks(self, per_read: int = 1, grouped: bool = False):
        if self.items:
            if grouped or self.counts is None:
                yield self.keys, self.items
            else:
                yield _split_entries(self.keys, self.items, self.counts)

    def close(self):
        self.keys = self.items = None


def _bisect_desc(keys, b, lo, hi, right):
    """First index in keys[lo:hi] (sorted descending) whose key comes after b in that order
    (right=True) or does not come before it (right=False); ascending keys use the C bisect."""
    lt = operator.lt
    while lo < hi:
        mid = (lo + hi) // 2
        k = keys[mid]
        if lt(b, k) if not right else not lt(k, b):
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
            else:
                if not ((ks[p] < b) if not rev else (b < ks[p])) and (i > r0 or ks[p] != b):
                    continue
                right = i <= r0
                if rev:
                    cut = _bisect_desc(ks, b, p, len(ks), right)
                else:  # the C bisect, no Python call per run and batch
                    cut = (bisect_right if right else bisect_left)(ks, b, p)
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
    """The buffer of lines and their keys, the runs, the merge.

    Two forms of the buffer. Grouped (one key, every value a string, mode auto, no fold, and
    the first block has at most one distinct key for two lines): a dict from the key to the
    list of its lines in input order, filled by one C-level pass per block; sorting it is
    sorting the distinct keys, and the output is each group in turn (the order of a stable
    sort: ties keep input order, with -r too). A block that is not all strings, or too many
    distinct keys, turns it into the list form, as a sorted prefix (still stable). The list
    form: the lines and their key values, stable-sorted with timsort."""

    def __init__(self, specs, capacity: int, tmpdir: str | None, progress=None):
        self.specs = specs
        self.capacity = capacity
        self.tmpdir = tmpdir
        self.lines: list[bytes] = []
        self.strs: tuple = ()
        self.comps: list[list] = [[] for _ in specs]
        self.groups = None        # the grouped buffer: key -> lines
        self.glines = 0           # lines in it
        self.prefilled = 0        # keys it started with (empty lists; see take_entries)
        self.groupable = (len(specs) == 1 and specs[0].mode == "auto" and not specs[0].fold)
        self.rev = bool(specs) and specs[0].desc
        self.mem = 0
        self.runs: list[Run] = []
        self.block_records = 0
        self.progress = progress
        self.fanin = fanin()
        self.final_limit = None   # runs left by finish_runs (a --parallel worker: fewer)
        self.shared: dict = {}
        self.ex = None            # an Extractor that groups lines itself (feed_from)

    def pending(self) -> bool:
        """Lines held in memory?"""
        return bool(self.lines) or self.glines > 0

    # -- input ------------------------------------------------------------------------------
    def add(self, lines, comps, nbytes=None, strs=()):
        """nbytes: the bytes of the lines when known (saves adding up their lengths); strs: per
        key, True when every value of this block is a string. comps None: the extractor has put
        the lines into the grouped buffer itself (Extractor.sink, see feed_from)."""
        if not lines:
            return
        n = len(lines)
        if comps is None:
            self.glines += n
            self._check_distinct()
        else:
            grp = self.groupable and strs and strs[0]
            if self.groups is None and not self.lines and grp:
                if len(set(comps[0])) * 2 <= n:
                    self.groups = defaultdict(list)
            elif self.groups is not None and not grp:
                self._to_list()
            if self.groups is not None:
                dd = self.groups
                deque(map(list.append, map(dd.__getitem__, comps[0]), lines), 0)
                self.glines += n
                self._check_distinct()
            else:
                self._add_list(lines, comps, strs)
        if nbytes is None:
            nbytes = sum(map(len, lines))
        self.mem += nbytes + (LINE_OVERHEAD if self.groups is None else GROUP_OVERHEAD) * n
        if self.mem >= self.capacity:
            self.spill()
        if self.ex is not None:
            self._sync_sink()

    def _check_distinct(self):
        """Many distinct keys in the grouped buffer after all (more than one for two lines, past
        4096 lines): the list form, where timsort does better."""
        if (len(self.groups) - self.prefilled) * 2 > self.glines and self.glines > 4096:
            self._to_list()

    def _add_list(self, lines, comps, strs):
        if self.lines:
            self.strs = tuple(a and b for a, b in zip(self.strs, strs, strict=False))
        else:
            self.strs = tuple(strs)
        self.lines += lines
        for acc, vals, s in zip(self.comps, comps, strs, strict=False):
            if s and len(vals) > 64:
                # equal strings become one object, across blocks: less memory, and the sort
                # compares keys that stay in the cache (reset when there are too many)
                d = self.shared
                if len(d) > 1 << 16:
                    d.clear()
                acc += map(d.setdefault, vals, vals)
            else:
                acc += vals

    def feed_from(self, ex):
        """Let the extractor put the lines of a block straight into the grouped buffer (one
        C-level pass: decode, key, append), while the buffer is grouped."""
        self.ex = ex
        self._sync_sink()

    def _sync_sink(self):
        ex = self.ex
        if self.groups is not None and self.groupable and ex.str_get is not None:
            ex.sink, ex.sink_lines = self.groups, self.glines
        else:
            ex.sink = None

    def _sorted_groups(self):
        """-> (distinct keys in order, their lists of lines), without the empty lists of the
        keys a grouped buffer starts with after a spill."""
        dd = self.groups
        order = sorted(dd, reverse=self.rev)
        groups = list(map(dd.__getitem__, order))
        if self.prefilled:
            have = list(map(bool, groups))
            if not all(have):
                order = list(compress(order, have))
                groups = list(compress(groups, have))
        return order, groups

    def _to_list(self):
        """The grouped buffer -> the list form (its lines in sorted order: a sorted prefix)."""
        order, groups = self._sorted_groups()
        self.mem += (LINE_OVERHEAD - GROUP_OVERHEAD) * self.glines
        self.lines = list(chain.from_iterable(groups))
        self.comps = [_expand(order, map(len, groups))]
        self.strs = (True,)
        self.groups = None
        self.glines = self.prefilled = 0

    # -- runs -------------------------------------------------------------------------------
    def _tempfile(self):
        import tempfile  # here, not at start-up: an input that fits in memory needs none
        d = self.tmpdir or _gettempdir()
        try:
            return tempfile.TemporaryFile(dir=d, prefix="jlsort.", buffering=1 << 16)
        except OSError as e:
            raise TempError(f"cannot create a temporary file in '{d}': {e.strerror}") from None

    def _write_run(self, batches, count, kinds, level=0, grouped=False) -> Run:
        """batches: (keys, lines) or, grouped, (keys, entries[, counts]) (counts None: counted)."""
        f = self._tempfile()
        nrec = self._block_records()
        pack, write, join = _HEAD.pack, full_writer(f), b"\n".join
        tag = 1 if kinds == ("str",) else 0
        enc = _encode_keys_json if tag else _encode_keys_pickle
        entries = 0
        try:
            for batch in batches:
                ks, ls = batch[0], batch[1]
                if not grouped:
                    for i in range(0, len(ks), nrec):
                        kd = enc(ks[i:i + nrec])
                        ld = join(ls[i:i + nrec])
                        write(pack(tag, len(kd), len(ld)))
                        write(kd)
                        write(ld)
                    continue
                counts = batch[2] if len(batch) > 2 else None
                if counts is None:
                    counts = list(map(operator.add, map(bytes.count, ls, repeat(b"\n")), repeat(1)))
                entries += len(ks)
                # blocks of about nrec lines (whole entries: at least one)
                ends = list(accumulate(counts))
                i, n = 0, len(ks)
                while i < n:
                    j = bisect_left(ends, (ends[i - 1] if i else 0) + nrec, i)
                    j = min(n, max(i + 1, j))
                    kd = enc(ks[i:j])
                    meta = (_RLE.pack(len(kd), j - i) + kd + array("Q", counts[i:j]).tobytes()
                            + array("Q", map(len, ls[i:j])).tobytes())
                    ld = join(ls[i:j])
                    write(pack(tag + 2, len(meta), len(ld)))
                    write(meta)
                    write(ld)
                    i = j
            f.flush()
        except OSError as e:
            try:
                f.close()  # flushes the rest of the buffer: fails again on a full disk
            except OSError:
                pass
            d = self.tmpdir or _gettempdir()
            raise TempError(f"write error on a temporary file in {d}: {e.strerror}") from None
        return Run(f, count, kinds, level, entries if grouped else None)

    def _block_records(self):
        if not self.block_records:
            # about capacity/64 bytes of input per block: the FANIN open runs of a merge hold
            # about the capacity (capacity/256 made 4 x the blocks: 8 % more CPU at -c 10M)
            n = len(self.lines) or self.glines
            avg = max(16, self.mem // max(1, n))
            self.block_records = max(64, (max(32 << 10, self.capacity // 64)) // avg)
        return self.block_records

    # -- what the one-process sort and the --parallel workers (parallel.py) share ------------
    def take_sorted(self):
        """Sort the lines held in memory and hand them over, emptying the buffer: -> (keys,
        lines, kinds, rev), keys sorted like lines. For an input that fitted in memory: no run
        is written and read back."""
        keys, items, counts, kinds, rev = self.take_entries()
        if counts is not None:
            keys, items = _split_entries(keys, items, counts)
        return keys, items, kinds, rev

    def take_entries(self, piece=None, regroup=False):
        """take_sorted, in entries: -> (keys, items, counts, kinds, rev); counts None: items are
        lines, else items are chunks of counts[i] lines (joined by \\n) of key keys[i], a group
        of equal keys cut into pieces of at most `piece` lines."""
        if self.groups is None:
            keys, kinds, rev = make_keys(self.comps, self.specs, strs=self.strs)
            lines = self.lines
            self.lines, self.comps, self.mem = [], [[] for _ in self.specs], 0
            _sort_pair(keys, lines, rev, True)
            return keys, lines, None, kinds, rev
        order, groups = self._sorted_groups()
        # a spill of a grouped buffer starts the next one grouped (no first-block test: the
        # turn to the list form still comes with too many distinct keys), holding this one's
        # keys already in sorted order (with empty lists): the next sort of the keys is then
        # one pass of timsort over them plus the few new ones, not a full sort
        if regroup:
            self.groups = defaultdict(list, zip(order, map(list, repeat((), len(order)))))
            self.prefilled = len(order)
        else:
            self.groups, self.prefilled = None, 0
        self.glines = self.mem = 0
        if self.ex is not None:
            self._sync_sink()
        keys, chunks, counts = _group_chunks(order, groups, piece or GROUP_PIECE, free=True)
        return keys, chunks, counts, ("str",), self.rev

    def spill(self):
        """Sort the lines held in memory and write them as one more run (then merge the trailing
        runs of one level into one when there are FANIN of them)."""
        nrec = self._block_records()
        keys, items, counts, kinds, rev = self.take_entries(nrec, regroup=True)
        n = len(items) if counts is None else sum(counts)
        self.runs.append(self._write_run([(keys, items, counts)], n, kinds,
                                         grouped=counts is not None))
        del keys, items
        self._cascade()

    def finish_runs(self):
        """Spill what is still in memory and merge until at most FANIN runs are left: self.runs
        is then ready for the final merge (here, or in the parent of a --parallel worker)."""
        if self.pending():
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
            kinds, batches, grouped = self._merge(group)
            new = self._write_run(batches, sum(r.count for r in group), kinds, level, grouped)
            for r in group:
                r.close()
            self.runs = runs[:len(runs) - len(group)] + [new]

    def _merge(self, runs, need_keys=True):
        """-> (kinds, batches, grouped): grouped when the runs hold at most one entry for two
        lines: the merge then moves entries (chunks of lines), never splitting them."""
        specs = self.specs
        kinds0 = runs[0].kinds
        want = tuple(k if all(r.kinds[i] == k for r in runs) else "norm" for i, k in enumerate(kinds0))
        convs = [converter(specs, r.kinds, want) for r in runs]
        rev = all(s.desc for s in specs)
        grouped = sum(r.entries for r in runs) * 2 <= sum(r.count for r in runs)
        # memory for the merge: about the capacity, shared by the open runs
        per_run = max(1, self.capacity // (LINE_OVERHEAD + 100) // len(runs) // self._block_records())
        return want, merge_blocks([r.blocks(per_run, grouped) for r in runs], rev, convs,
                                  need_keys), grouped

    # -- output -----------------------------------------------------------------------------
    def batches(self, need_keys: bool):
        """-> iterator of (keys or None, items, grouped) in sorted order (grouped: items are
        chunks of lines joined by \\n); frees memory as it goes."""
        try:
            if not self.runs:
                if self.groups is not None:
                    order, groups = self._sorted_groups()
                    if KEEPALIVE is not None:
                        KEEPALIVE.append(self.groups)
                    self.groups = None
                    step = 512
                    for i in range(0, len(order), step):
                        keys, chunks, _ = _group_chunks(order[i:i + step], groups[i:i + step],
                                                        GROUP_PIECE)
                        yield keys, chunks, True
                    return
                if not self.lines:
                    return
                if need_keys:
                    keys, lines, _, _ = self.take_sorted()
                    yield keys, lines, False
                    return
                keys, kinds, rev = make_keys(self.comps, self.specs, strs=self.strs)
                lines = self.lines
                self.lines, self.comps = [], []
                _sort_pair(keys, lines, rev, False)
                if KEEPALIVE is not None:
                    KEEPALIVE.append(lines)
                del keys
                yield None, lines, False
                return
            self.finish_runs()
            _, merged, grouped = self._merge(self.runs, need_keys)
            for keys, items in merged:
                yield keys, items, grouped
        finally:
            self.close()

    def close(self):
        for r in self.runs:
            r.close()
        self.runs = []


def _group_chunks(order, groups, piece, free=False):
    """Sorted groups -> (keys, chunks, counts): each group joined into one chunk, a group of
    more than `piece` lines cut into chunks of `piece` lines (bounded memory). free: the
    groups are emptied as they are joined, a few at a time, so that their lines are freed
    while they are still in the cache (not touched again later, when the lists go)."""
    counts = list(map(len, groups))
    join = b"\n".join
    if not free and (not counts or max(counts) <= piece):
        return order, list(map(join, groups)), counts
    keys, chunks, cnts = [], [], []
    a = 0
    for b in [i for i, c in enumerate(counts) if c > piece] + [len(groups)]:
        # groups[a:b] whole, then groups[b] in pieces
        for i in range(a, b, 64):
            part = groups[i:min(b, i + 64)]
            chunks += map(join, part)
            if free:
                deque(map(list.clear, part), 0)
        keys += order[a:b]
        cnts += counts[a:b]
        if b == len(groups):
            break
        g, c = groups[b], counts[b]
        for i in range(0, c, piece):
            part = g[i:i + piece]
            keys.append(order[b])
            chunks.append(join(part))
            cnts.append(len(part))
        if free:
            g.clear()
        a = b + 1
    return keys, chunks, cnts


def write_batches(out, batches, unique: bool):
    """Write the lines of (keys, items[, grouped]) batches, each line + b'\\n'; items are lines,
    or with grouped chunks of lines joined by b'\\n'. With unique, only the first line of each
    run of equal keys."""
    prev = _nothing = object()
    write = full_writer(out)
    for batch in batches:
        keys, lines = batch[0], batch[1]
        step = 64 if len(batch) > 2 and batch[2] and not unique else 4096
        if unique:
            keep = []
            for k, line in zip(keys, lines, strict=False):
                if prev is _nothing or k != prev:
                    i = line.find(b"\n")
                    keep.append(line if i < 0 else line[:i])
                    prev = k
            lines = keep
        for i in range(0, len(lines), step):
            part = lines[i:i + step]
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

