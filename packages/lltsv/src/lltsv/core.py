"""The record engine: chunks of LTSV lines in, output bytes out.

Input arrives in large chunks that end on a line boundary (CRLF already turned into LF). Each chunk
goes through a *fast path* when the options allow one and the chunk is regular, else through the
per-line path, which defines the behaviour (the fast paths produce exactly the same bytes):

- per line: split on TAB; each column splits at its first ':' into label and value; a column
  without ':' is dropped (a non-empty one makes the line "not LTSV", reported under --strict);
  duplicate labels: the last value wins for every position (upstream behaviour); then -e in the
  order given, then every -f (AND), then the output: -k keys in -k order (missing -> "key:" or an
  empty cell), else the line's labels in input order minus -i.
- fast paths (no -e, no colour, no --json, filters only of the numeric / == / != kind): a
  "signature" regex built from the labels of the chunk's first line recognises lines that have
  exactly those labels, in that order, each once, every column with ':'. When every line of the
  chunk matches, all fields = the chunk itself, and -k values come out of one findall() as columns;
  a single -k key uses a literal search for "\\tkey:" instead, with counts that prove each line holds
  it exactly once. Filters become one comparison per column (map over floats). A chunk that is not
  regular is split in halves (a few times) so that one odd line costs little, then per-line.
"""
from __future__ import annotations

import json
import re
from itertools import compress

from .expr import DivisionByZero, NoValue
from .show import show

GREEN = b"\x1b[0;32m"
MAGENTA = b"\x1b[0;35m"
RESET = b"\x1b[0m"

# a value written as a JSON number by --json-numbers (as typed: 1.50 stays 1.50)
_JSON_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INF = float("inf")

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


class Engine:
    MIN_SPLIT = 256   # do not split chunks of fewer lines
    MAX_DEPTH = 5

    def __init__(self, opts: Options):
        self.o = opts
        self.problems: dict = {}   # kind -> [count, first message]
        self._sigs: dict = {}
        o = opts
        plain = not o.exprs and not o.json and not o.color
        vec = all(f.vectorizable for f in o.filters)
        self.fast_all = plain and not o.keys and not o.ignore and not o.filters and not o.no_key
        self.fast_keys = plain and bool(o.keys) and vec and not o.strict
        # -e with -k: only the columns that matter, one small dict per record
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
        """Output for `chunk` (n complete lines, LF-terminated); its first line is number line0+1."""
        out: list[bytes] = []
        if n is None:
            n = chunk.count(b"\n")
        try:
            self._process(chunk, n, where, line0, out, 0)
        except StrictError as e:
            e.partial = b"".join(out) + e.partial
            raise
        return out[0] if len(out) == 1 else b"".join(out)

    def _process(self, chunk, n, where, line0, out, depth):
        if self.fast_all or self.fast_keys or self.fast_filter_all or self.fast_sig_keys or self.fast_expr:
            r = self._fast(chunk, n)
            if r is not None:
                out.append(r)
                return
            if n >= self.MIN_SPLIT and depth < self.MAX_DEPTH:
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

    def _fast(self, chunk, n):
        if self.fast_expr:
            return self._fast_expr(chunk, n)
        if self.fast_all:
            sig = self._sig(chunk)
            if sig is None or len(sig.regex(()).findall(chunk)) != n:
                return None
            return chunk
        keys = self.o.keys
        if self.fast_sig_keys:
            sig = self._sig(chunk)
            if sig is None:
                return None
            keys = [label for label in sig.labels if label not in self.o.ignore]
            needed = tuple(dict.fromkeys(keys + [f.key for f in self.o.filters]))
            cols = self._columns(chunk, n, needed, sig)
        else:
            cols = self._columns(chunk, n, self.needed)
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
        if self.fast_sig_keys:   # every label ignored: empty records
            return b"\n" * m
        # -f without -k: the selected lines, verbatim when regular
        lines = chunk.split(b"\n")
        lines.pop()
        sel = lines if m == n else list(compress(lines, mask))
        joined = b"\n".join(sel) + b"\n"
        sig = self._sig(joined)
        if sig is not None and len(sig.regex(()).findall(joined)) == m:
            return joined
        return self._slow(joined, "", 0)   # values already passed: no warnings possible

    def _fast_expr(self, chunk, n):
        """-e with -k on regular chunks: a dict of the needed keys per record instead of the whole
        line. Anything to report (division by zero, a non-number in a numeric filter) sends the
        chunk to the per-line path, which knows the line numbers."""
        cols = self._columns(chunk, n, self.needed)
        if cols is None:
            return None
        names = [k for k in self.needed if cols[k] is not None]
        if names:
            rows = list(map(dict, map(zip, [names] * n, zip(*[cols[k] for k in names], strict=False))))
        else:
            rows = [{} for _ in range(n)]
        for e in self.o.exprs:
            name, ev = e.name, e.evaluate
            for d in rows:
                try:
                    d[name] = ev(d)
                except NoValue:
                    pass
                except DivisionByZero:
                    return None
        for f in self.o.filters:
            key, test = f.key, f.test
            kept = []
            for d in rows:
                r = test(d.get(key))
                if r:
                    kept.append(d)
                elif r is None:
                    return None
            rows = kept
        if not rows:
            return b""
        fmt = self._formatter()
        keys = self.o.keys
        return b"\n".join([fmt(keys, d) for d in rows]) + b"\n"

    def _columns(self, chunk, n, needed, sig=None):
        """{key: list of values (or None when no line has it)} for `needed`, or None. With `sig`:
        only when every line has exactly that signature."""
        if len(needed) == 1 and sig is None:
            # "\tk:" exactly once per line: the value is the last (only) one after a TAB, so it is
            # the record's value even if the line also starts with "k:" (last value wins)
            k = needed[0]
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

    def _format_columns(self, cols, m, keys):
        o = self.o
        present = []
        pieces = []
        for k in keys:
            c = cols[k]
            if c is None:
                pieces.append(b"" if o.no_key else k.replace(b"%", b"%%") + b":")
            else:
                present.append(c)
                pieces.append(b"%s" if o.no_key else k.replace(b"%", b"%%") + b":%s")
        if not present:
            return ((b"\t".join(pieces) % ()) + b"\n") * m
        if o.no_key and len(present) == 1 and len(keys) == 1:
            return b"\n".join(present[0]) + b"\n"
        fmt = b"\t".join(pieces)
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
