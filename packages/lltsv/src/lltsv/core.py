"""The record engine: chunks of LTSV lines in, output bytes out.

Input arrives in large chunks that end on a line boundary (CRLF already turned into LF). Each chunk
goes through a *fast path* when the options allow one and the chunk is regular, else through the
per-line path, which defines the behaviour (the fast paths produce exactly the same bytes):

- per line: split on TAB; each column splits at its first ':' into label and value; a column
  without ':' is dropped (a non-empty one makes the line "not LTSV", reported under --strict);
  duplicate labels: the last value wins for every position (upstream behaviour); then -e in the
  order given, then every -f (AND), then the output: -k keys in -k order (missing -> "key:" or an
  empty cell), else the line's labels in input order minus -i.
- fast paths (no colour, no --json, -e only with -k): a "signature" regex built from the labels
  of the chunk's first line recognises lines that have exactly those labels, in that order, each
  once, every column with ':'. When every line of the chunk matches, all fields = the chunk itself,
  and -k values come out of one findall() as columns; a single -k key uses a literal search for
  "\\tkey:" instead, with counts that prove each line holds it exactly once, and a filter's key is
  read from its occurrences (_KeyScan). Filters become one comparison per column (map over floats
  or compiled regexes); -e works on the columns it reads (memoised). A chunk that is not regular is
  split in halves (a few times) so that one odd line costs little, then per-line.
"""
from __future__ import annotations

import json
import re
from itertools import compress, repeat
from operator import is_, itemgetter

from .expr import DivisionByZero, NoValue
from .show import show

GREEN = b"\x1b[0;32m"
MAGENTA = b"\x1b[0;35m"
RESET = b"\x1b[0m"

# a value written as a JSON number by --json-numbers (as typed: 1.50 stays 1.50)
_JSON_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INF = float("inf")
_DIVZERO = object()
_MASK_OPS = ("==*", "!=*", "=~", "!~", "=~*", "!~*")
_NONE_EMPTY = {None: b""}   # .get(r, r): None -> b"", anything else -> itself

_V = b"[^\t]*"        # a value inside a line (a stray LF is caught by the line count)
_VLAST = b"[^\t\n]*"  # the last value of a line


class StrictError(Exception):
    """--strict: a bad record. `partial` holds the output of the lines before it."""

    def __init__(self, message: str, partial: bytes = b""):
        super().__init__(message)
        self.partial = partial


class Options:
    def __init__(self, keys=None, no_key=False, ignore=(), filters=(), exprs=(), json=False,
                 color=False, strict=False, json_numbers=False, expr_keys=False):
        self.keys = list(keys) if keys else None
        # --expr-keys: the names set by -e are printed too, after the -k keys (or the line's keys)
        self.expr_names = [n for n in dict.fromkeys(e.name for e in exprs)] if expr_keys else []
        if self.keys and self.expr_names:
            self.keys += [n for n in self.expr_names if n not in self.keys]
            self.expr_names = []
        self.json_numbers = json_numbers
        self.no_key = no_key
        self.ignore = set(ignore) if not self.keys else set()
        self.filters = list(filters)
        self.exprs = list(exprs)
        self.json = json
        self.color = color and not no_key and not json
        self.strict = strict


class _Sig:
    """The labels of a regular line, and the regexes that recognise lines with exactly them."""

    def __init__(self, labels: tuple[bytes, ...]):
        self.labels = labels
        self.present = set(labels)
        self._rx: dict = {}

    def regex(self, wanted: tuple[bytes, ...]):
        rx = self._rx.get(wanted)
        if rx is None:
            parts = []
            last = len(self.labels) - 1
            for i, label in enumerate(self.labels):
                v = _VLAST if i == last else _V
                if label in wanted:
                    v = b"(" + v + b")"
                parts.append(re.escape(label) + b":" + v)
            rx = re.compile(b"(?m)^" + (b"" if wanted else b"()") + b"\t".join(parts) + b"\n")
            self._rx[wanted] = rx
        return rx


def tab_ended(chunk: bytes) -> bytes:
    """chunk (LF-terminated lines) with a TAB before every LF: each column ends with a TAB."""
    return chunk.replace(b"\n", b"\t\n")


def no_line_has(chunk: bytes, key: bytes) -> bool:
    """True when no line of chunk has a column labelled key: "key:" neither after a TAB, nor at
    a line start (after an LF, or the chunk's start)."""
    return ((b"\t" + key + b":") not in chunk and (b"\n" + key + b":") not in chunk
            and not chunk.startswith(key + b":"))


def line_signature(line: bytes):
    """The label tuple of a regular line (each column has ':', labels distinct), else None."""
    if not line:
        return None
    labels = []
    for col in line.split(b"\t"):
        i = col.find(b":")
        if i < 0:
            return None
        labels.append(col[:i])
    t = tuple(labels)
    if len(set(t)) != len(t):
        return None
    return t


_NUL = b"\x00"


class _KeyScan:
    """One key's value on every line of a chunk, from the key's occurrences rather than a regex
    match per line: on average the cheaper way when the key is not near the end of the lines.

    Every line gets a *sentinel* column in front, "\tKEY:\x00\t" (its TAB also makes a first
    column labelled KEY follow a TAB), and a TAB before its LF (a value is then `[^\t]*`, a tight
    loop in sre). One findall of "\tKEY:" lists, in order, NUL for every sentinel and the value of
    every column labelled KEY; the regex starts at the label's rarest byte (in a sample of the
    first chunk), the rest of "\tKEY:" checked behind it, so that sre's prefix search stops less
    often. Joined and split on NUL, the list gives one piece per line: its value, or b"" when it
    has none. That is the last value only when no line holds the key twice; when the count of
    values is not the count of non-empty pieces (an empty value, or a line with the key twice), a
    line with two values is looked for (two values in a row in the list) and declines the chunk
    (scripts/bench/NOTES.md, 2026-12-08).

    Declined, to the regex per line: a chunk holding a NUL (no sentinel would be unambiguous),
    and a chunk whose sampled lines have the key near their end on average (there the greedy
    regex backs up a few columns only and costs less). After a line with the key twice, the next
    8 chunks are declined without trying."""

    SAMPLE = 8192    # bytes of a chunk's head whose lines tell where the key sits

    def __init__(self, key: bytes):
        self.label = b"\t" + key + b":"
        self.sentinel = self.label + _NUL + b"\t"
        self.line_end = b"\t\n" + self.sentinel
        self.rx = None
        self.failing = 0

    def _compile(self, chunk):
        lab = self.label
        sample = chunk[:1 << 16]
        i = min(range(len(lab)), key=lambda j: sample.count(lab[j:j + 1]))
        behind = b"(?<=" + re.escape(lab) + b")" if i else b""
        # [^\t]* rather than [^\t]*+: the possessive repeat costs some 15 % more here (3.11)
        return re.compile(re.escape(lab[i:]) + behind + b"([^\t]*)")

    def near_end(self, chunk) -> bool:
        """True when the key's last column starts in the last fifth of the first lines (the
        sample), counting a line without it as all tail (the greedy regex backs up all of it)."""
        head = chunk[:self.SAMPLE]
        lines = head.split(b"\n")
        lines.pop()              # the part after the sample's last LF
        if not lines:
            lines = [chunk[:chunk.find(b"\n")]]
        tail = total = 0
        lab = self.label
        for ln in lines:
            p = ln.rfind(lab)
            if p < 0:
                p = 0 if ln.startswith(lab[1:]) else -1
            tail += len(ln) - p if p >= 0 else len(ln)
            total += len(ln)
        return tail * 5 < total

    def values(self, chunk):
        """The values (a list, one per line), or None when this way declines the chunk."""
        if self.failing:
            self.failing -= 1
            return None
        if self.near_end(chunk) or _NUL in chunk:   # the sample first: it is the cheaper test
            return None
        if self.rx is None:
            self.rx = self._compile(chunk)
        vals = self.rx.findall(self.sentinel + chunk.replace(b"\n", self.line_end))
        pieces = b"".join(vals).split(_NUL)
        # pieces: b"" before the first sentinel, then one per sentinel (one more after the last LF)
        if len(vals) - (len(pieces) - 1) != len(pieces) - pieces.count(b""):
            if b"\x00\x00" in bytes(map(_NUL.__eq__, vals)):   # two values in a row: one line
                self.failing = 8
                return None
        pieces.pop()
        del pieces[0]
        return pieces


class Engine:
    MIN_SPLIT = 256   # do not split chunks of fewer lines
    MAX_DEPTH = 5

    def __init__(self, opts: Options):
        self.o = opts
        self.problems: dict = {}   # kind -> [count, first message]
        self.lines = 0             # the line count of the last chunk
        self._sigs: dict = {}
        self._key_rx: dict = {}
        self._scans: dict = {}             # key -> _KeyScan
        self._fmemo: dict = {}
        self._ememo: dict = {}
        self._sig_failing = 0
        self._layouts: list = []           # all fields: frequent layouts, as one alternation
        self._layout_seen: dict = {}
        self._layout_rx = None
        self._layout_failing = 0
        self._layouts_new = False
        self._labels: dict = {}             # all fields: labels seen on good lines (in order)
        self._labels_new = False
        self._uniq_rx = None
        self._expr_names = {e.name for e in opts.exprs}
        o = opts
        plain = not o.exprs and not o.json and not o.color
        vec = all(f.vectorizable for f in o.filters)
        self.fast_all = plain and not o.keys and not o.ignore and not o.filters and not o.no_key
        self.fast_keys = (not o.json and not o.color) and bool(o.keys) and vec and not o.strict
        # -e with -k: only the columns that matter (_fast_columns, then _bulk_exprs over them)
        self.fast_expr = (bool(o.exprs) and bool(o.keys) and not o.json and not o.color
                          and not o.strict)
        self.fast_filter_all = (plain and not o.keys and not o.ignore and bool(o.filters) and vec
                                and not o.no_key and not o.strict)
        # all fields but -K or -i: the signature's labels (minus -i) act as the -k list
        self.fast_sig_keys = (plain and not o.keys and (bool(o.ignore) or o.no_key) and vec
                              and not o.strict)
        if o.keys:
            seen = dict.fromkeys(o.keys)
            for f in o.filters:
                seen.setdefault(f.key)
            for e in o.exprs:
                seen.setdefault(e.name)
                for k in e.keys:
                    seen.setdefault(k)
            self.needed = tuple(seen)
        else:
            self.needed = tuple(dict.fromkeys(f.key for f in o.filters))

    # -- problems -------------------------------------------------------------------------------
    def _problem(self, kind, message, reason=""):
        """Count a bad record (kind: what and which filter/expression; message: FILE:LINE: the
        record's text). --strict: the first one is an error naming the reason as well."""
        if self.o.strict:
            raise StrictError(f"{message.partition(': ')[0]}: {reason}" if reason else message)
        p = self.problems.get(kind)
        if p is None:
            self.problems[kind] = [1, message]
        else:
            p[0] += 1

    def summary(self) -> list[str]:
        out = []
        for kind, (count, first) in self.problems.items():
            what = {"filter": "records failed a numeric filter because the value is not a number",
                    "divzero": "results of a division by zero were left empty"}[kind[0]]
            out.append(f"{count} {what} ({kind[1]}); first: {first}")
        return out

    # -- chunks ---------------------------------------------------------------------------------
    def chunk(self, chunk: bytes, where: str, line0: int, n: int | None = None) -> bytes:
        """Output for `chunk` (n complete lines, LF-terminated); its first line is number line0+1.
        Without n, the lines are counted by the path that reads the chunk (see _fast);
        self.lines is the count either way."""
        out: list[bytes] = []
        self.lines = n
        try:
            self._process(chunk, n, where, line0, out, 0)
        except StrictError as e:
            e.partial = b"".join(out) + e.partial
            raise
        return out[0] if len(out) == 1 else b"".join(out)

    def _process(self, chunk, n, where, line0, out, depth):
        """The one place that decides a chunk's path: the fast path when the options allow one
        (tried once), else, when it declines, each half on its own (so that one odd line costs
        little), else the per-line path. n is None (not counted yet) only for a whole chunk."""
        fast = (self.fast_all or self.fast_keys or self.fast_filter_all or self.fast_sig_keys
                or self.fast_expr)
        if fast:
            r = self._fast(chunk, n, where, line0)
            if r is not None:
                out.append(r)
                return
        if n is None:
            n = self.lines = chunk.count(b"\n")
        if fast and n >= self.MIN_SPLIT and depth < self.MAX_DEPTH:
            mid = chunk.find(b"\n", len(chunk) // 2)
            if 0 <= mid < len(chunk) - 1:
                first = chunk[:mid + 1]
                n1 = first.count(b"\n")
                self._process(first, n1, where, line0, out, depth + 1)
                self._process(chunk[mid + 1:], n - n1, where, line0 + n1, out, depth + 1)
                return
        out.append(self._slow(chunk, where, line0))

    def _sig(self, chunk):
        line = chunk[:chunk.find(b"\n")]
        labels = line_signature(line)
        if labels is None:
            return None
        s = self._sigs.get(labels)
        if s is None:
            if len(self._sigs) > 64:
                self._sigs.clear()
            s = self._sigs[labels] = _Sig(labels)
        return s

    def _fast(self, chunk, n, where, line0):
        """The output of the fast path the options allow, or None when it declines the chunk.
        n None (not counted yet): the paths that read a column take the count from it (one value
        per line), sparing a pass over the chunk (bytes.count tests every byte); the others
        count first. Whoever counts sets self.lines."""
        if self.fast_expr or self.fast_keys:
            return self._fast_columns(chunk, n, where, line0)
        if self.fast_filter_all:
            return self._fast_filter_all(chunk, n, where, line0)
        if n is None:
            n = self.lines = chunk.count(b"\n")
        if self.fast_all:
            return self._all_fields(chunk, n)
        return self._fast_sig_keys(chunk, n)

    def _fast_sig_keys(self, chunk, n):
        """All fields but -K or -i (-f of the vectorizable kind): the chunk's first-line labels
        (minus -i) act as the -k list, when every line has exactly that signature."""
        sig = self._sig(chunk)
        if sig is None:
            return None
        keys = [label for label in sig.labels if label not in self.o.ignore]
        needed = tuple(dict.fromkeys(keys + [f.key for f in self.o.filters]))
        cols = self._columns(chunk, n, needed, sig)
        if cols is None:
            return None
        m = n
        if self.o.filters:
            mask = None
            for f in self.o.filters:
                col = cols.get(f.key)
                fm = f.mask(col if col is not None else [b""] * n)
                if fm is None:
                    return None
                mask = fm if mask is None else list(map(bool.__and__, mask, fm))
            m = mask.count(True)
            if not m:
                return b""
            if m != n:
                cols = {k: (list(compress(c, mask)) if c is not None else None) for k, c in cols.items()}
        if keys:
            return self._format_columns(cols, m, keys)
        return b"\n" * m    # every label ignored: empty records

    # -- bulk columns: any layout, any label order ------------------------------------------
    def _key_column(self, chunk, key):
        """The value of `key` on every line of chunk (b"" when missing), last value wins. Mostly
        from its occurrences (_KeyScan); else one C-level regex pass per line: the greedy prefix
        makes it the *last* column labelled key, at line start or after a TAB, so label order,
        other layouts, odd columns do not matter."""
        scan = self._scans.get(key)
        if scan is None:
            scan = self._scans[key] = _KeyScan(key)
        vals = scan.values(chunk)
        if vals is not None:
            return vals
        rx = self._key_rx.get(key)
        if rx is None:
            rx = self._key_rx[key] = re.compile(
                b"(?m)^(?:(?:[^\n]*\t)?" + re.escape(key) + b":([^\t\n]*))?[^\n]*\n")
        return rx.findall(chunk)

    def _walk_rx(self, keys):
        """One regex that reads the values of several keys from a line of any layout and label
        order in one pass: column by column (possessive, so nothing is tried twice), a column
        labelled with a wanted key fills that key's group; a later column with the same label
        overwrites it (last value wins, as upstream); any other column is skipped.
        It runs on the chunk with every LF turned into TAB LF (tab_ended), so that each column,
        the last one too, ends with a TAB: a value is then `[^\t]*+`, which sre skips with a tight
        loop, where `[^\t\n]` costs a set test per byte (about 40 % of the walk; NOTES.md). A
        column cannot run into the next line: the last TAB of a line comes before its LF."""
        rx = self._key_rx.get(keys)
        if rx is None:
            col = (b"(?:" + b"|".join(re.escape(k) + b":([^\t]*+)" for k in keys)
                   + b"|[^\t\n][^\t]*+|)\t")
            rx = self._key_rx[keys] = re.compile(b"(?:" + col + b")*+\n")
        return rx

    def _bulk_columns(self, chunk, n, needed, direct=False):
        """{key: list of n values} for `needed` (b"" = missing or empty: they print alike), or None
        when a key cannot be searched for (it holds ':', TAB or LF). Tried in turn: the chunk's
        first-line layout on every line (one regex for all keys); else, right for any line: one
        regex per key for a single key, one column walk (_walk_rx) for several (one pass instead
        of one per key; see scripts/bench/NOTES.md). `direct` (-k alone): when the walk read
        exactly the -k keys, its rows (tuples in -k order) are returned instead of columns."""
        if not self._sig_failing:
            if n is None:
                n = self.lines = chunk.count(b"\n")
            cols = self._columns(chunk, n, needed)
            if cols is not None:
                return {k: (c if c is not None else [b""] * n) for k, c in cols.items()}
            self._sig_failing = 8          # skip the single-layout try for the next chunks
        else:
            self._sig_failing -= 1
        cols = {}
        todo = []
        for k in needed:
            if b":" in k or b"\t" in k or b"\n" in k:
                return None
            if len(needed) == 1 and no_line_has(chunk, k):
                if n is None:
                    n = self.lines = chunk.count(b"\n")
                cols[k] = [b""] * n     # on no line (a key -e computes, a typo)
                continue
            todo.append(k)          # several keys: all in the walk (cheaper than a search each)
        if len(todo) == 1:
            c = self._key_column(chunk, todo[0])
            if n is None:
                n = self.lines = len(c)    # one match per line
            elif len(c) != n:
                return None
            cols[todo[0]] = c
        elif todo:
            found = self._walk_rx(tuple(todo)).findall(tab_ended(chunk))
            if n is None:
                n = self.lines = len(found)    # one match per line, never across lines
            elif len(found) != n:
                return None
            if direct and todo == self.o.keys:
                return found      # rows of the -k values, in -k order: printed as they are
            for j, k in enumerate(todo):
                cols[k] = list(map(itemgetter(j), found))
        return cols

    def _problem_text(self, chunk, i, key, value) -> str:
        """What a filter's first problem shows for line i of chunk: the column as it reads, or
        "missing key" (a key holding ':' is never a label: a label ends at the first ':')."""
        line = self._nth_line(chunk, i)
        present = b":" not in key and (line.startswith(key + b":") or (b"\t" + key + b":") in line)
        return show(key + b":" + value, 80) if present else "missing key " + show(key)

    def _nth_line(self, chunk, idx):
        start = 0
        for _ in range(idx):
            start = chunk.index(b"\n", start) + 1
        return chunk[start:chunk.index(b"\n", start)]

    def _memo_results(self, f, values):
        """f.test on a column, as True/False/None, memoised per distinct value (log values repeat)."""
        memo = self._fmemo.get(id(f))
        if memo is None or len(memo) > 300_000:
            memo = self._fmemo[id(f)] = {}
        new = set(values).difference(memo)
        if new:
            test = f.test
            for v in new:
                memo[v] = test(v)
        return list(map(memo.__getitem__, values))

    def _commit(self, pending):
        """Count the problems of a chunk whose bulk output is used (not when it falls back)."""
        for kind, count, first in pending:
            p = self.problems.get(kind)
            if p is None:
                self.problems[kind] = [count, first]
            else:
                p[0] += count

    def _bulk_filters(self, cols, n, chunk, where, line0, computed, pending):
        """The mask of the records that pass every filter (None: all pass), reporting the values a
        numeric filter cannot read as the per-record path does (the first failing filter of a
        record stops it). None, False when the per-record path must decide."""
        alive = None
        for f in self.o.filters:
            col = cols[f.key]
            if f.op in _MASK_OPS:
                res = f.mask(col)
            else:
                res = self._memo_results(f, col)
            if None in res:
                if f.key in computed:
                    return None, False
                # the records this filter cannot read, among those still alive (C-level maps)
                bad = list(map(is_, res, repeat(None)))
                if alive is not None:
                    bad = list(map(bool.__and__, alive, bad))
                nbad = bad.count(True)
                if nbad:
                    kind = ("filter", str(f))
                    first = None
                    if kind not in self.problems and kind not in [p[0] for p in pending]:
                        i = bad.index(True)
                        first = f"{where}:{line0 + i + 1}: {self._problem_text(chunk, i, f.key, col[i])}"
                    pending.append((kind, nbad, first))
                res = list(map(is_, res, repeat(True)))
            alive = res if alive is None else list(map(bool.__and__, alive, res))
        return alive, True

    def _bulk_exprs(self, cols, n, where, line0, pending):
        """Run every -e over the columns, memoised per distinct tuple of inputs. Division by zero
        stores an empty value and is reported as the per-record path does."""
        for e in self.o.exprs:
            memo = self._ememo.get(id(e))
            if memo is None or len(memo) > 300_000:
                memo = self._ememo[id(e)] = {}
            keys = e.keys
            if keys:
                ins = list(zip(*[cols[k] for k in keys], strict=True))
            else:
                ins = [()] * n
            new = set(ins).difference(memo)
            ev = e.evaluate
            for t in new:
                try:
                    memo[t] = ev(dict(zip(keys, t, strict=True)))
                except NoValue:
                    memo[t] = None
                except DivisionByZero:
                    memo[t] = _DIVZERO
            res = list(map(memo.__getitem__, ins))
            old = cols.get(e.name)
            if _DIVZERO in res:
                first = res.index(_DIVZERO)
                pending.append((("divzero", e.source), res.count(_DIVZERO), f"{where}:{line0 + first + 1}"))
                res = [b"" if r is _DIVZERO else r for r in res]
            if None in res:
                if old is None or not any(old):   # no value: the key stays missing or empty
                    res = list(map(_NONE_EMPTY.get, res, res))
                else:
                    res = [o if r is None else r for r, o in zip(res, old, strict=True)]
            cols[e.name] = res

    def _fast_columns(self, chunk, n, where, line0):
        """-k (with -f, -e): the needed columns of the whole chunk, then the output."""
        direct = not self.o.exprs and not self.o.filters
        cols = self._bulk_columns(chunk, n, self.needed, direct)
        if cols is None:
            return None
        if n is None:
            n = self.lines
        if type(cols) is list:    # -k only, every key read by the column walk: rows
            return b"\n".join(map(self._row_format(self.o.keys).__mod__, cols)) + b"\n"
        pending: list = []
        if self.o.exprs:
            self._bulk_exprs(cols, n, where, line0, pending)
        m = n
        if self.o.filters:
            mask, ok = self._bulk_filters(cols, n, chunk, where, line0, self._expr_names, pending)
            if not ok:
                return None
            self._commit(pending)
            pending = []
            m = mask.count(True)
            if not m:
                return b""
            if m != n:
                cols = {k: list(compress(c, mask)) for k, c in cols.items()}
        self._commit(pending)
        keys = self.o.keys
        for k in keys:
            c = cols[k]
            if c is not None and not any(c):
                cols[k] = None   # no value on any line: a constant piece
        return self._format_columns(cols, m, keys)

    def _fast_filter_all(self, chunk, n, where, line0):
        """-f without -k: filter by filter, each on the lines the ones before it kept (a column
        of a smaller chunk), then every field of the lines kept."""
        sub, m = chunk, n          # n None: not counted yet (self.lines is set once it is)
        masks = []                 # the masks applied so far: lines of sub -> lines of chunk
        sub_lines = None           # the lines of sub, once split
        pending: list = []
        for f in self.o.filters:
            k = f.key
            if b":" in k or b"\t" in k or b"\n" in k:
                return None
            if no_line_has(sub, k):
                if m is None:
                    m = self.lines = sub.count(b"\n")
                col = [b""] * m
            else:
                col = self._key_column(sub, k)
                if m is None:
                    m = self.lines = len(col)    # one match per line, whatever it holds
                elif len(col) != m:
                    return None
            res = f.mask(col) if f.op in _MASK_OPS else self._memo_results(f, col)
            if None in res:
                kind = ("filter", str(f))
                first = None
                if kind not in self.problems and kind not in [p[0] for p in pending]:
                    i = res.index(None)
                    what = self._problem_text(sub, i, k, col[i])
                    for mk in reversed(masks):       # its line number in chunk (only here)
                        i = list(compress(range(len(mk)), mk))[i]
                    first = f"{where}:{line0 + i + 1}: {what}"
                pending.append((kind, res.count(None), first))
            kept = res.count(True)     # None (not a number) is false for compress too
            if kept == m:
                continue
            if not kept:
                self._commit(pending)
                return b""
            if sub_lines is None:
                sub_lines = sub.split(b"\n")
                sub_lines.pop()
            sub_lines = list(compress(sub_lines, res))   # kept for the next filter: no new split
            sub = b"\n".join(sub_lines) + b"\n"
            masks.append(res)
            m = kept
        self._commit(pending)
        return self._all_fields(sub, m)

    def _all_fields(self, chunk, n):
        """Every field of every line: a line whose columns all have ':' and whose labels are
        distinct prints as it is. When the chunk's first-line layout fits every line, one regex
        proves it. Else the layouts seen so far (at most 64) form one regex, a trie of their
        labels (common prefixes read once, values possessive), that recognises in one pass the
        lines having one of them; findall gives b"" for those (and for empty lines) and the text
        of every other line, which is checked on its own (split on TAB, a set of labels): right
        for any layout and order. Only the lines whose output differs are replaced, in place.
        When the trie recognises few lines (shuffled labels), it is left out for a while."""
        if not self._sig_failing:
            sig = self._sig(chunk)
            if sig is not None and len(sig.regex(()).findall(chunk)) == n:
                return chunk
            self._sig_failing = 8
        else:
            self._sig_failing -= 1
        found = None
        tt = None       # the chunk with TAB before LF: the two regexes below read it (tab_ended)
        if self._layout_rx is not None and not self._layout_failing:
            tt = tab_ended(chunk)
            found = self._layout_rx.findall(tt)
            if len(found) != n:
                found = None
            else:
                known = found.count(b"")
                if known == n:
                    return chunk      # every line has a known layout (or is empty)
                if known * 10 < n * 9 and self._uniq_rx is not None:
                    found = None      # under 90 %: the label regex instead, for a while
                    self._layout_failing = 8
        elif self._layout_failing:
            self._layout_failing -= 1
        tried = found is not None
        if found is None and self._uniq_rx is not None:
            # any order: the lines made of known labels, each once, removed; what is left are
            # the lines to check one by one
            rest = self._uniq_rx.sub(b"", tt if tt is not None else tab_ended(chunk))
            if not rest:
                return chunk
            found = rest.split(b"\n")
            found.pop()
            n_odd = len(found)
            ended = True
        else:
            ended = found is not None    # the trie's odd lines end with the added TAB
            if found is None:
                found = chunk.split(b"\n")
                found.pop()
            n_odd = None
        fixes = []
        check = self._check_line
        learn = self._layout_failing == 0 and len(self._layouts) < 64
        odd = 0
        for i, line in enumerate(found):
            if ended and line:
                line = line[:-1]
            if not line:
                continue
            odd += 1
            r = check(line, learn and odd <= 64)
            if r is None:
                continue
            if r is False:
                return None       # --strict: the per-record path reports it
            fixes.append((i if n_odd is None else -1, line, r))
        if n_odd is None and odd * 10 > n:   # known layouts: under 90 % of the lines
            self._layout_failing = 8 if tried else 0
        if self._layouts_new:
            self._build_layout_rx()
        if self._labels_new:
            self._build_uniq_rx()
        if not fixes:
            return chunk
        return self._splice(chunk, fixes)

    def _check_line(self, line, learn):
        """None when a non-empty line prints as it is (every column has ':', labels distinct),
        else its output (False under --strict for a column without ':')."""
        cols = line.split(b"\t")
        try:
            labels = {c[:c.index(b":")] for c in cols}
        except ValueError:
            if self.o.strict and any(c and b":" not in c for c in cols):
                return False
            return self._slow_one(line)
        if len(labels) == len(cols):
            if learn:
                self._learn_layout(tuple(c[:c.index(b":")] for c in cols))
            if not labels <= self._labels.keys() and len(self._labels) < 96:
                for lb in labels:
                    self._labels[lb] = None
                self._labels_new = True
            return None
        return self._slow_one(line)

    @staticmethod
    def _splice(chunk, fixes):
        """chunk with line i (text `line`) replaced by `out`, for each (i, line, out) in order.
        (i = -1: the index is not known.) A line is found by its text between two LFs, from where the previous one ended: every
        line with that text is in `fixes` (same text, same verdict), so the first one found
        from there is line i."""
        parts = []
        pos = 0
        for i, line, out in fixes:
            if i == 0 or (i < 0 and not pos and chunk.startswith(line + b"\n")):
                start = 0
            else:
                start = chunk.index(b"\n" + line + b"\n", pos) + 1
            parts.append(chunk[pos:start])
            parts.append(out)
            pos = start + len(line)
        parts.append(chunk[pos:])
        return b"".join(parts)

    def _learn_layout(self, labels):
        """Count a layout; one seen 3 times joins the trie (rebuilt after the chunk)."""
        c = self._layout_seen.get(labels, 0) + 1
        if len(self._layout_seen) > 4096:
            self._layout_seen.clear()
        self._layout_seen[labels] = c
        if c == 3 and labels not in self._layouts and len(self._layouts) < 64:
            self._layouts.append(labels)
            self._layouts_new = True

    def _build_uniq_rx(self):
        """A regex whose matches are the lines made only of columns with known labels, each
        label once (a label's empty group is set at its first column; a second column with it
        fails the line: the conditional (?(g)(?!)) ), no empty column, not starting with TAB."""
        self._labels_new = False
        alts = [re.escape(lb) + b":(?(%d)(?!)|())[^\t]*+" % g for g, lb in enumerate(self._labels, 1)]
        # on the tab_ended chunk (every column ends with TAB): an empty line, or columns
        self._uniq_rx = re.compile(b"(?m)^(?:\t|(?:(?:" + b"|".join(alts) + b")\t)++)\n")

    def _build_layout_rx(self):
        self._layouts_new = False
        trie: dict = {}
        for lay in self._layouts:
            node = trie
            for lb in lay:
                node = node.setdefault(lb, {})
            node[None] = None

        def pat(node):
            alts = []
            for lb, child in node.items():
                if lb is None:
                    alts.append(b"(?=\n)")
                else:
                    alts.append(re.escape(lb) + b":[^\t]*+\t" + pat(child))
            return alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"

        # on the tab_ended chunk: a known layout, an empty line (both give b""), else the line
        self._layout_rx = re.compile(b"(?m)^(?:" + pat(trie) + b"|\t(?=\n)|([^\n]*+))\n")

    def _slow_one(self, line):
        """One line through the per-record path (all fields, nothing to report)."""
        labels = []
        d = {}
        for col in line.split(b"\t"):
            k, sep, v = col.partition(b":")
            if sep:
                labels.append(k)
                d[k] = v
        return b"\t".join([k + b":" + d[k] for k in labels])

    def _columns(self, chunk, n, needed, sig=None):
        """{key: list of values (or None when no line has it)} for `needed`, or None. With `sig`:
        only when every line has exactly that signature."""
        if len(needed) == 1 and sig is None:
            k = needed[0]
            if b":" in k or b"\t" in k or b"\n" in k:
                return {k: None}        # a label ends at its line's first ':': no label is k
            # "\tk:" exactly once per line: the value is the last (only) one after a TAB, so it is
            # the record's value even if the line also starts with "k:" (last value wins)
            tk = b"\t" + k + b":"
            cnt = chunk.count(tk)
            if cnt == n:
                vals = re.compile(re.escape(tk) + b"([^\t\n]*)[^\n]*\n").findall(chunk)
                if len(vals) == n:
                    return {k: vals}
            elif cnt == 0 and not chunk.startswith(k + b":") and b"\n" + k + b":" not in chunk:
                return {k: None}
        if sig is None:
            sig = self._sig(chunk)
            if sig is None:
                return None
        wanted = tuple(label for label in sig.labels if label in needed)
        found = sig.regex(wanted).findall(chunk)
        if len(found) != n:
            return None
        cols = dict.fromkeys(needed)
        if len(wanted) == 1:
            cols[wanted[0]] = found
        elif wanted:
            for label, col in zip(wanted, zip(*found, strict=False), strict=False):
                cols[label] = col
        return cols

    def _row_format(self, keys, absent=()):
        """The %-format of an output row of `keys` (-k order): per key "key:%s" ("%s" under -K),
        without the %s for a key in `absent` (no value on any line: a constant piece)."""
        no_key = self.o.no_key
        return b"\t".join([(b"" if no_key else k.replace(b"%", b"%%") + b":")
                           + (b"" if k in absent else b"%s") for k in keys])

    def _format_columns(self, cols, m, keys):
        present = [cols[k] for k in keys if cols[k] is not None]
        fmt = self._row_format(keys, [k for k in keys if cols[k] is None])
        if not present:
            return ((fmt % ()) + b"\n") * m
        if self.o.no_key and len(present) == 1 and len(keys) == 1:
            return b"\n".join(present[0]) + b"\n"
        if len(present) == 1:
            lines = map(fmt.__mod__, present[0])
        else:
            lines = map(fmt.__mod__, zip(*present, strict=False))
        return b"\n".join(lines) + b"\n"

    # -- the per-line path (the reference behaviour) --------------------------------------------
    def _slow(self, chunk: bytes, where: str, line0: int) -> bytes:
        fmt = self._formatter()
        out = []
        lines = chunk.split(b"\n")
        lines.pop()
        try:
            self._slow_lines(lines, where, line0, out, fmt)
        except StrictError as e:
            e.partial = b"".join(x + b"\n" for x in out)
            raise
        if not out:
            return b""
        out.append(b"")
        return b"\n".join(out)

    def _slow_lines(self, lines, where, line0, out, fmt):
        o = self.o
        keys, ignore, filters, exprs, expr_names = o.keys, o.ignore, o.filters, o.exprs, o.expr_names
        strict = o.strict
        for idx, line in enumerate(lines):
            labels = []
            d = {}
            if line:
                for col in line.split(b"\t"):
                    k, sep, v = col.partition(b":")
                    if sep:
                        labels.append(k)
                        d[k] = v
                    elif col and strict:
                        raise StrictError(f"{where}:{line0 + idx + 1}: not LTSV (a field without ':'): "
                                          f"{show(col, 80)}")
            for e in exprs:
                try:
                    d[e.name] = e.evaluate(d)
                except NoValue:
                    pass
                except DivisionByZero:
                    d[e.name] = b""
                    self._problem(("divzero", e.source), f"{where}:{line0 + idx + 1}",
                                  f"division by zero in -e {show(e.source)}")
            ok = True
            for f in filters:
                r = f.test(d.get(f.key))
                if not r:
                    if r is None:
                        v = d.get(f.key)
                        what = ("missing key " + show(f.key) if v is None
                                else show(f.key + b":" + v, 80))
                        self._problem(("filter", str(f)), f"{where}:{line0 + idx + 1}: {what}",
                                      f"numeric filter {show(f.source)}: " +
                                      (f"key {show(f.key)} is missing" if v is None
                                       else f"{show(v, 80)} is not a number"))
                    ok = False
                    break
            if not ok:
                continue
            if keys is not None:
                out.append(fmt(keys, d))
            else:
                if expr_names:
                    labels = labels + [k for k in expr_names if k not in labels]
                if ignore:
                    labels = [k for k in labels if k not in ignore]
                out.append(fmt(labels, d))

    def _formatter(self):
        o = self.o
        if o.json and o.json_numbers:
            dumps = json.dumps

            def fmt(labels, d):
                obj = {}
                for k in labels:
                    v = d.get(k)
                    if v is None:
                        js = "null"
                    elif _JSON_NUMBER.fullmatch(v) and abs(float(v)) != _INF:
                        js = v.decode("ascii")
                    else:
                        js = dumps(v.decode("utf-8", "replace"), ensure_ascii=False)
                    obj[k.decode("utf-8", "replace")] = js
                return ("{" + ",".join([dumps(k, ensure_ascii=False) + ":" + v for k, v in obj.items()])
                        + "}").encode("utf-8")
        elif o.json:
            def fmt(labels, d):
                obj = {}
                for k in labels:
                    v = d.get(k)
                    obj[k.decode("utf-8", "replace")] = None if v is None else v.decode("utf-8", "replace")
                return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        elif o.no_key:
            def fmt(labels, d):
                return b"\t".join([d.get(k, b"") for k in labels])
        elif o.color:
            def fmt(labels, d):
                return b"\t".join([GREEN + k + RESET + b":" + MAGENTA + d.get(k, b"") + RESET
                                   for k in labels])
        else:
            def fmt(labels, d):
                return b"\t".join([k + b":" + d.get(k, b"") for k in labels])
        return fmt
