"""Access-log chunks -> counts of distinct (status values..., ptime value) tuples.

Work is done per chunk (megabytes of complete lines), never per line in Python:

- LTSV, one status key: one regex pass (`findall`) that takes the first status of each line
  with the ptime if right after it; when every item has its ptime, that is the answer.
  Otherwise (mixed layouts, other key order, a missing key, several status keys, a route key)
  the general path, itself done in C over the whole chunk: the lines are split once and, per
  key, `map(regex.search, lines)` finds the first label in every line and takes its value
  (`_by_find`). `collections.Counter` (C) counts the tuples, so what is left for Python is the
  set of DISTINCT tuples (a few hundred to a few thousand: statuses x latencies printed with 3
  decimals).
- JSON: each line is decoded alone by msgspec (one call per line, through map, in C) into a
  frozen (hashable) struct holding only the wanted keys, counted by Counter; bad lines are
  counted. A status field is typed `int | str | None`, so that two
  values equal in Python but not in the log (200 and 200.0, 1 and true) never share a Counter
  key: a line whose value does not fit its type is decoded alone, leniently, and its values are
  kept in a form that cannot be equal to a well-typed one (`_canon`). Every line is judged on
  its own bytes.

`Tally.finish()` turns the distinct tuples into status buckets, a weighted latency sample and
error counts.
"""
from __future__ import annotations

import collections
import itertools
import math
import operator
import re

from mackerel_plugin_helper.stats import Sample

BUCKETS = ("1xx", "2xx", "3xx", "4xx", "499", "5xx")
_ABSENT = (b"", b"-", "", "-", None)


def _esc(key: str) -> bytes:
    return re.escape(key.encode())


class LineFilter:
    def __init__(self, text: str | None, invert: bool, skip_until_json: bool):
        self.text = text.encode() if text else None
        self.invert = invert
        self.skip_until_json = skip_until_json

    @property
    def active(self) -> bool:
        return bool(self.text) or self.skip_until_json

    def apply(self, chunk: bytes) -> bytes:
        """chunk of complete lines -> the kept (and cut) lines, still newline-terminated."""
        if not self.active:
            return chunk
        lines = chunk.split(b"\n")
        lines.pop()   # after the final newline
        t = self.text
        if t is not None:
            if self.invert:
                lines = [ln for ln in lines if t not in ln]
            else:
                lines = [ln for ln in lines if t in ln]
        if self.skip_until_json:
            lines = [ln[ln.find(b"{"):] if b"{" in ln else ln for ln in lines]
        if not lines:
            return b""
        lines.append(b"")
        return b"\n".join(lines)


class LtsvParser:
    """Counts (status_1..status_k, ptime[, route]) raw value tuples of LTSV lines: for each key the
    value of its first label in the line (b"" when absent), a trailing CR dropped."""

    def __init__(self, status_keys: list[str], ptime_key: str, route_key: str | None = None):
        self.status_keys = status_keys
        self.ptime_key = ptime_key
        self.keys = [k.encode() for k in [*status_keys, ptime_key, *([route_key] if route_key else [])]]
        self.needles = [b"\t" + k + b":" for k in self.keys]
        # appended to every line by the general path: each key once more with an empty value,
        # so that find() never fails and an absent key reads as b""
        self.sentinel = b"".join(self.needles) + b"\t"
        self.value_rx = [re.compile(re.escape(n) + rb"([^\t]*+)") for n in self.needles]
        self.adj = None
        self.raw: collections.Counter = collections.Counter()
        if len(status_keys) == 1 and not route_key:
            # the common layout: the latency field right after the status field. One match per
            # line with a status, one group ("200\treqtime:0.030": one bytes object to hash,
            # no tuple). The pattern starts with the literal "status:" so that `re` finds it with
            # its literal-prefix search instead of trying a match at every byte; the lookbehind
            # then keeps only a label (at a line start or after a TAB), and the match takes the
            # rest of its line. Greedy repeats and `.*`, not possessive ones: the same matches
            # (nothing after them can fail), but CPython's engine runs possessive repeats
            # without its fast single-character loop: 15-20 % more time in findall.
            s, p = _esc(status_keys[0]), _esc(ptime_key)
            self.adj = re.compile(s + b":(?<![^\t\n]" + s + rb":)([^\t\r\n]*(?:\t" + p +
                                  rb":[^\t\r\n]*)?).*")
            self.adj_sep = b"\t" + ptime_key.encode() + b":"
        self.use_adj = self.adj is not None
        self.adj_misses = 0

    def count(self, chunk: bytes, into: collections.Counter) -> int:
        """Add the chunk's tuples to `into` (or hold them until `drain(into)`); return the
        number of lines."""
        if not chunk:
            return 0
        if self.use_adj:
            nl = self._adjacent(chunk, 0, len(chunk), into)
            if nl is not None:
                return nl
        return self._by_find(chunk, into)

    def count_block(self, buf: bytearray, s: int, e: int, into: collections.Counter) -> int:
        """count() of buf[s:e], complete lines after a newline (Follower.blocks()): no copy
        on the adjacent path (re's pos/endpos, bytes.count's start/end; the lookbehind sees
        the newline before s, as a chunk's start)."""
        if s >= e:
            return 0
        if self.use_adj:
            nl = self._adjacent(buf, s, e, into)
            if nl is not None:
                return nl
        with memoryview(buf) as mv:
            chunk = bytes(mv[s:e])
        return self._by_find(chunk, into)

    def _adjacent(self, buf, s: int, e: int, into: collections.Counter) -> int | None:
        """The lines of buf[s:e] when each line with a status has its latency right after it
        (else None, and nothing counted): then every item holds the separator. The items are
        counted in C across chunks and split once, in drain(); only the distinct items new in
        this chunk are checked (the Counter keeps insertion order: they are its last keys),
        and a chunk that fails the check is taken back out of the count."""
        got = self.adj.findall(buf, s, e)
        raw = self.raw
        before = len(raw)
        raw.update(got)
        new = list(itertools.islice(reversed(raw.keys()), len(raw) - before))
        sep = self.adj_sep
        if all(sep in g for g in new):
            nl = buf.count(b"\n", s, e)
            if nl > len(got):
                into[(b"", b"")] += nl - len(got)
            self.adj_misses = 0
            return nl
        raw.subtract(got)
        for g in new:
            del raw[g]
        self.adj_misses += 1
        if self.adj_misses >= 2:      # this log does not fit: stop trying
            self.use_adj = False
        return None

    def _by_find(self, chunk: bytes, into: collections.Counter) -> int:
        """Any layout, any label order: the chunk is split into lines once (each given a leading
        TAB and the sentinel), then for each key, in C over all the lines (map), the first
        `\tKEY:` is found by a regex with that literal prefix and its value taken up to the next
        TAB; zip() makes the tuples and Counter counts them, so no Python code runs per line."""
        if b"\r" in chunk:           # a CR ends a value (CRLF lines, or a CR before a TAB)
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r\t", b"\t")
        lines = chunk.replace(b"\n", self.sentinel + b"\n\t").split(b"\n")
        lines.pop()                 # the TAB after the last newline
        lines[0] = b"\t" + lines[0]
        into.update(zip(*[map(_GROUP1, map(rx.search, lines)) for rx in self.value_rx], strict=True))
        return len(lines)

    def drain(self, into: collections.Counter) -> None:
        """Move the items held back by count() into `into` as (status, ptime) tuples."""
        sep = self.adj_sep if self.adj is not None else b""
        for g, n in self.raw.items():
            st, _, pt = g.partition(sep)
            into[(st, pt)] += n
        self.raw.clear()


class _CopiedBlocks:
    """count_block() for the parsers that work on bytes: the block copied out of the buffer."""

    def count_block(self, buf: bytearray, s: int, e: int, into: collections.Counter) -> int:
        """count() of buf[s:e] (Follower.blocks()), copied out."""
        with memoryview(buf) as mv:
            chunk = bytes(mv[s:e])
        return self.count(chunk, into)


class JsonParser(_CopiedBlocks):
    """Counts (status_1..status_k, ptime[, route]) value tuples of JSON lines (msgspec)."""

    def __init__(self, status_keys: list[str], ptime_key: str, route_key: str | None = None):
        import msgspec
        self.msgspec = msgspec
        self.keys = [*status_keys, ptime_key, *([route_key] if route_key else [])]
        names: list[str] = []
        for k in self.keys:
            if k not in names:
                names.append(k)
            if "." in k and k.split(".", 1)[0] not in names:
                names.append(k.split(".", 1)[0])
        self.names = names
        self.dotted = any("." in k for k in self.keys)
        # a status is an integer or a string (quoted numbers are accepted): a float or a boolean
        # there fails validation, and that line alone is decoded leniently (_loose)
        statuses = set(status_keys)

        def typ(n):
            if self.dotted:
                return object
            return (int | str | None) if n in statuses else (int | float | str | None)
        fields = [(f"f{i}", typ(n), None) for i, n in enumerate(names)]
        rename = {f"f{i}": n for i, n in enumerate(names)}
        # gc=False: a million records per run are never tracked by the cycle collector (they
        # hold only scalars, or decoded JSON that cannot point back at them)
        self.Rec = msgspec.defstruct("Rec", fields, rename=rename, frozen=True, gc=False)
        self.one = msgspec.json.Decoder(self.Rec)
        loose = [(f"f{i}", object, None) for i in range(len(names))]
        self.LooseRec = msgspec.defstruct("LooseRec", loose, rename=rename, gc=False)
        self.loose_one = msgspec.json.Decoder(self.LooseRec)
        self.idx = [names.index(k) for k in self.keys]
        self.raw: collections.Counter = collections.Counter()
        self.loose: collections.Counter = collections.Counter()   # canonical value tuples
        self.bad = 0
        self.first_bad = ""

    def drain(self, into: collections.Counter) -> None:
        """Move the records held back by count() into `into` as value tuples."""
        import operator
        get = operator.attrgetter(*(f"f{i}" for i in self.idx))      # >= 2 keys: a tuple
        for rec, n in self.raw.items():
            into[get(rec)] += n
        self.raw.clear()
        into.update(self.loose)
        self.loose.clear()

    def _canon_tuple(self, rec) -> tuple:
        return tuple(_canon(self._value(rec, k, self.names.index(k))) for k in self.keys)

    def _value(self, rec, key: str, i: int):
        v = getattr(rec, f"f{i}")
        if v is None and "." in key:
            cur = getattr(rec, f"f{self.names.index(key.split('.', 1)[0])}")
            for part in key.split(".")[1:]:
                if isinstance(cur, dict):
                    cur = cur.get(part)
                else:
                    cur = None
                    break
            v = cur
        if isinstance(v, (dict, list)):
            return "\x00bad"
        return v

    def _decode_lines(self, part: bytes, recs: list) -> int:
        """Append the records of `part` (complete lines) to recs, each line decoded alone (in C,
        through map, up to the next bad line); bad lines are counted, and a line whose value
        has another type (200.0, true, an object) is decoded leniently and kept apart
        (_canon). Returns the number of lines.

        Not the lines joined into one JSON array: that would let a value spread over two lines
        (a raw newline inside a string, a line cut inside an array that the next one closes)
        pass as one record, and a line holding two objects separated by "," as two; one
        msgspec call per line through map is also the faster (1.2 M lines in process: 0.46 s
        against 0.60 s on the demo log, 0.58 s against 0.65 s on the randomised one)."""
        msgspec = self.msgspec
        lines = part.split(b"\n")
        lines.pop()
        it = iter(lines)
        base = len(recs)
        failed = 0
        while True:
            try:
                recs.extend(map(self.one.decode, it))     # stops at a bad line
                break
            except msgspec.DecodeError as e:
                ln = lines[len(recs) - base + failed]
                failed += 1
                if isinstance(e, msgspec.ValidationError):
                    # valid JSON, a value of another type (200.0, true, an object): kept apart
                    try:
                        self.loose[self._canon_tuple(self.loose_one.decode(ln))] += 1
                        continue
                    except msgspec.DecodeError:     # not an object at all
                        pass
                self.bad += 1
                if not self.first_bad:
                    self.first_bad = f"invalid JSON ({e}): {ln[:200]!r}"
        return len(lines)

    def count(self, chunk: bytes, into: collections.Counter) -> int:
        if not chunk:
            return 0
        if chunk[-1:] != b"\n":
            chunk += b"\n"
        recs: list = []
        nl = self._decode_lines(chunk, recs)
        if not self.dotted:
            self.raw.update(recs)       # counted in C across chunks; split in drain()
        else:
            for rec in recs:
                into[self._canon_tuple(rec)] += 1
        return nl


_GROUP1 = operator.methodcaller("group", 1)


def _canon(v):
    """A decoded JSON value as a Counter key that is equal only to values of the same JSON
    text class: a float status never shares a key with an int (200.0 != 200 here), nor a boolean
    with 1/0. Integers, strings and None stay as they are (as the typed decoder gives them);
    floats and booleans become their JSON text as bytes (parsed like an LTSV value later: b"200.0"
    is not a status, b"0.25" is a latency, b"true" neither); objects and arrays are never a
    value."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return repr(v).encode()
    return "\x00bad"
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.I)


class CombinedParser(_CopiedBlocks):
    """Apache/nginx "combined" lines, optionally followed by a response time field:
    host ident user [time] "request" status size "referer" "agent" [reqtime ...]
    Tuples (status, ptime[, path]); a line that is not of this shape has no status."""

    def __init__(self, route: bool = False):
        q = rb'"(?:[^"\\\n]|\\.)*+"'
        req = rb'"(?:[A-Z]+ ([^ "\n]*)[^"\n]*|(?:[^"\\\n]|\\.)*+)"' if route else q
        self.route = route
        self.rx = re.compile(rb"\n[^ \n]+ [^ \n]+ [^ \n]+ \[[^\]\n]*+\] " + req +
                             rb" ([0-9]{3}|-) [^ \n]+(?: " + q + rb" " + q + rb")?(?: ([^ \n]+))?[^\n]*+")

    def count(self, chunk: bytes, into: collections.Counter) -> int:
        if not chunk:
            return 0
        nl = chunk.count(b"\n")
        e1 = chunk.find(b"\n")
        got = collections.Counter(self.rx.findall(b"\n" + chunk[:e1]))
        got.update(self.rx.findall(chunk, e1, len(chunk) - 1))
        if self.route:
            for (path, st, pt), n in got.items():
                into[(st, pt, path.split(b"?", 1)[0])] += n
        else:
            into.update(got)
        missing = nl - sum(got.values())
        if missing:
            into[(b"", b"", b"") if self.route else (b"", b"")] += missing
        return nl


def to_status(v, upstream: str) -> int | None:
    """A status value as axslog v0.4.10 accepts it (Go strconv.Atoi), or None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if _INT_RE.fullmatch(v):
        return int(v)
    if "," in v or " : " in v:
        parts = [p.strip() for p in re.split(r",| : ", v)]
        vals = [int(p) for p in parts if _INT_RE.fullmatch(p)]
        if len(vals) != len(parts):
            return None
        return vals[0] if upstream == "first" else vals[-1]
    return None


def to_ptime(v, upstream: str) -> float | None:
    """A latency value as Go strconv.ParseFloat accepts it; multi-upstream values combined."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if _FLOAT_RE.fullmatch(v):
        return float(v)
    if "," in v or " : " in v:
        parts = [p.strip() for p in re.split(r",| : ", v)]
        if not all(_FLOAT_RE.fullmatch(p) for p in parts):
            return None
        vals = [float(p) for p in parts]
        return vals[0] if upstream == "first" else vals[-1] if upstream == "last" else math.fsum(vals)
    return None


class Tally:
    """Result of one log file's run."""

    def __init__(self):
        self.tuples: collections.Counter = collections.Counter()
        self.lines = 0
        self.total = 0
        self.buckets = dict.fromkeys(BUCKETS, 0)
        self.latency = Sample()
        self.errors: collections.Counter = collections.Counter()
        self.first_error: dict[str, str] = {}
        self.no_ptime = 0
        self.routes: collections.Counter = collections.Counter()     # route -> lines
        self.route_latency: dict[str, Sample] = {}

    # reasons of a line counted for the status metrics but without a latency (not skipped)
    NOT_SKIPPED = frozenset({"bad ptime"})

    def error(self, kind: str, n: int, example: str) -> None:
        """Count n bad lines for `kind` (a reason to skip the line, or "bad ptime": counted for
        its status, without a latency); the first example of each kind is kept."""
        self.errors[kind] += n
        self.first_error.setdefault(kind, example)

    @property
    def skipped(self) -> int:
        """Lines in no metric at all (no status, bad status, invalid JSON, over-long): the
        parse_error metric."""
        return sum(n for k, n in self.errors.items() if k not in self.NOT_SKIPPED)

    @property
    def without_latency(self) -> int:
        """Lines counted for their status whose latency could not be used (NaN, Inf, garbage)."""
        return sum(n for k, n in self.errors.items() if k in self.NOT_SKIPPED)

    def finish(self, n_status: int, upstream: str, router=None) -> None:
        for tup, n in self.tuples.items():
            raw_status = None
            for v in tup[:n_status]:
                if v not in _ABSENT:
                    raw_status = v
                    break
            if raw_status is None:
                self.error("no status", n, "")
                continue
            st = to_status(raw_status, upstream)
            if st is None:
                self.error("bad status", n, repr(raw_status))
                continue
            self.total += n
            route = None
            if router is not None:
                route = router(tup[n_status + 1])
                self.routes[route] += n
            if st == 499:
                self.buckets["499"] += n
            elif 1 <= st // 100 <= 5:
                self.buckets[f"{st // 100}xx"] += n
            raw_p = tup[n_status]
            if raw_p in _ABSENT:
                self.no_ptime += n
                continue
            p = to_ptime(raw_p, upstream)
            if p is None or math.isnan(p) or math.isinf(p):
                self.error("bad ptime", n, repr(raw_p))
                continue
            self.latency.add(p, n)
            if route is not None:
                self.route_latency.setdefault(route, Sample()).add(p, n)
        self.tuples.clear()


class Router:
    """Route value (URI) -> metric-safe route name: the first --route-regex that matches names
    it (NAME=REGEX, or the regex itself made safe), else the path without its query string."""

    def __init__(self, specs: list[str]):
        self.rules = []
        for spec in specs:
            name, sep, rx = spec.partition("=")
            if not sep or not re.fullmatch(r"[-A-Za-z0-9_]+", name):
                name, rx = spec, spec
            self.rules.append((safe_name(name), re.compile(rx)))
        self.cache: dict = {}

    def __call__(self, value) -> str:
        r = self.cache.get(value)
        if r is None:
            if isinstance(value, bytes):
                text = value.decode("utf-8", "replace")
            else:
                text = "" if value is None else str(value)
            text = text.split("?", 1)[0]
            for name, rx in self.rules:
                if rx.search(text):
                    r = name
                    break
            else:
                r = safe_name(text) if text and text != "-" else "none"
            if len(self.cache) < 100000:
                self.cache[value] = r
        return r


def safe_name(text: str) -> str:
    """A metric name component: [-A-Za-z0-9_] only, no dots."""
    out = re.sub(r"[^-A-Za-z0-9_]+", "_", text).strip("_")
    return out[:100] or "root"
