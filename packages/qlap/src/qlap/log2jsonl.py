"""MySQL / MariaDB slow query logs and general query logs -> qrn's input: one JSON object per
statement, `query` first, then what the log has (time, user, host, db, query_time,
rows_examined, thread_id). Bytes in, text lines out. Pure (no I/O besides the given streams).

Slow log (both servers): entries start with `# User@Host:`; `# Time:` lines (MariaDB writes one
only when the second changes), `# Thread_id: N  Schema: db` (MariaDB), `# Query_time: ...
Rows_examined: N`; then `use db;`, `SET timestamp=N;` and the statement, possibly over several
lines. General log: `<time>\\t<id> <Command>\\t<argument>` lines (MariaDB leaves the time out
while the second does not change; MySQL writes RFC 3339 times), lines that do not start such a
record continue the previous statement. Both: the server's own header lines (`... started
with:`, `Tcp port:`, `Time  Id Command  Argument`) and admin commands are skipped.
"""
from __future__ import annotations

import itertools
import json
import operator
import re
import time
from json.encoder import encode_basestring as _json_str  # the C string encoder, no dumps() set-up

ONLY = ("all", "dml", "select")
_SELECT_WORDS = frozenset((b"select", b"with", b"("))
_DML_WORDS = _SELECT_WORDS | frozenset((b"insert", b"update", b"delete", b"replace"))
_FIRST_WORD = re.compile(rb"\s*(?:/\*(?!!).*?\*/\s*)*(\(|[A-Za-z]+)", re.S)
# the same over the fast path's text (white space as bytes.strip's, not Unicode's)
_FIRST_WORD_TEXT = re.compile("[ \t\n\r\x0b\x0c]*(?:/\\*(?!!).*?\\*/[ \t\n\r\x0b\x0c]*)*(\\(|[A-Za-z]+)", re.S)
_SELECT_KINDS = frozenset(w.decode() for w in _SELECT_WORDS)
_DML_KINDS = frozenset(w.decode() for w in _DML_WORDS)
# one slow log entry: [# Time:] # User@Host: ... [Id: N] / [# Thread_id: N  Schema: db ...] / other
# # lines / # Query_time: ... Rows_examined: N / more # lines (Rows_affected, administrator
# command) / [use db;] / [SET timestamp=N;] / the statement: lines up to the next entry
_SLOW_ENTRY = re.compile(
    rb"^(?:# Time: ([^\n]*)\n)?"
    rb"# User@Host: ([^\[\n]*)\[[^\]\n]*\] @ ([^\[\n]*?) ?\[([^\]\n]*)\](?:[ \t]+Id:[ \t]*(\d+))?[^\n]*\n"
    rb"(?:# Thread_id: (\d+)[ \t]+Schema: ([^ \t\n]*)[^\n]*\n)?"
    rb"((?:#(?! (?:Query_time|Time|User@Host): )[^\n]*\n)*)"
    rb"# Query_time: (\d+(?:\.\d+)?)[ \t]+Lock_time: [^\n]*?Rows_examined: (\d+)[^\n]*\n"
    rb"((?:#(?! (?:Time|User@Host): )[^\n]*\n)*)"
    rb"((?:use [^\n]*\n)?)"
    rb"(?:SET timestamp=(\d+)[^\n]*\n)?"
    rb"((?:(?!# (?:Time|User@Host): )[^\n]*(?:\n|\Z))*)", re.M)
# The fast path (see Converter._fast_slow): the common MariaDB entry shape, matched over the
# block decoded to text, every field a column of re.split's result. Each part is a strict subset
# of _SLOW_ENTRY (anything else is left to it): no `# Time:` line (a separate gap); the User@Host
# and Thread_id lines whole (checked against _SLOW_ENTRY's parts, per distinct line, by the
# caches that turn them into JSON: no `Id:` after the User@Host line's `]`); no #
# line before # Query_time, whose line has MariaDB's fields in MariaDB's order (numbers without
# leading zeros); the # lines after it named `# Name: ...` without another `#`; `SET
# timestamp=N;` of at most 10 digits; and a statement that starts with neither white space, `;`,
# `#` nor `use `, ends with `;` right after a non-blank character and runs up to the next entry
# or the end.
_FAST_SLOW = re.compile(
    "\n# User@Host: ([^\n]*)\n"
    "# Thread_id: ([^\n]*)\n"
    "# Query_time: ((?:0|[1-9][0-9]*)(?:\\.[0-9]+)?)  Lock_time: [0-9.]+  Rows_sent: [0-9]+  "
    "Rows_examined: (0|[1-9][0-9]*)\n"
    "(?:# Rows_affected: [0-9]+  Bytes_sent: [0-9]+\n)?(?:# (?!Time: |User@Host: )[A-Z][A-Za-z_]*: [^#\n]*\n)*"
    "(use [^\n]*\n)?"
    "SET timestamp=([0-9]{1,10});\n"
    "(?![uU][sS][eE] )([^\\s;#][^\n]*(?:\n(?!# (?:User@Host|Time): )[^\n]*)*?)(?<![ \t\n\r\x0b\x0c]);"
    "(?=\n# (?:User@Host|Time): |\n?\\Z)")
_FAST_GROUPS = 7
_USE = re.compile(rb"use\s+`?([^`;\s]+)`?\s*;?\s*$", re.I)
_GENERAL = re.compile(rb"(?:(\d{6} {1,2}\d{1,2}:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)"
                      rb"[ \t]+|\t\t|[ \t]+)[ \t]*(\d+) ([A-Z][A-Za-z ]*?)\t(.*)", re.S)
_CONNECT = re.compile(rb"(\S+?)@(\S+) on (\S*)")
_HEADER = (b"Tcp port:", b"Time ", b"Time\t")


def statement_kind(q: bytes) -> bytes:
    m = _FIRST_WORD.match(q)
    return m.group(1).lower() if m else b""


def keep(q: bytes, only: str) -> bool:
    if only == "all":
        return True
    return statement_kind(q) in (_SELECT_WORDS if only == "select" else _DML_WORDS)


def mariadb_time(t: bytes) -> str:
    """`261207 15:30:01` (MariaDB's log time, local) -> `2026-12-07T15:30:01`; RFC 3339 kept."""
    s = t.decode("ascii", "replace")
    if "T" in s:
        return s
    d, _, hms = s.partition(" ")
    hms = hms.strip()
    if len(hms) == 7:
        hms = "0" + hms
    return f"20{d[0:2]}-{d[2:4]}-{d[4:6]}T{hms}"



def show(b: bytes, limit: int = 0) -> str:
    """The user's bytes in a message as typed, in single quotes, as the suite's tools show user
    text (lltsv, percentile): no repr() (it doubles backslashes), bytes that are not UTF-8 and
    control characters as \\xNN (never U+FFFD), cut after `limit` characters with `...`."""
    s = (b[:limit * 4] if limit else b).decode("utf-8", "surrogateescape")
    cut = limit and (len(s) > limit or len(b) > limit * 4)
    if cut:
        s = s[:limit]
    s = "".join(f"\\x{ord(c) & 0xFF:02x}" if c < " " or c == "\x7f" or "\udc80" <= c <= "\udcff" else c for c in s)
    return f"'{s}...'" if cut else f"'{s}'"

class Stats:
    def __init__(self):
        self.entries = 0
        self.written = 0
        self.skipped = 0          # admin commands, filtered out by --only / --db
        self.invalid = 0
        self.first_invalid = ""


class Converter:
    """Feed it blocks of one log (any split), then end(); feed_bytes()/end_bytes() return the
    JSON Lines as UTF-8 bytes, feed()/end() the same as a list of lines. `fast=False` keeps to
    the reference path (one entry at a time), which the fast one must equal byte for byte."""

    def __init__(self, only: str = "all", db: str | None = None, fmt: str = "auto", name: str = "-",
                 stats: Stats | None = None, fast: bool = True):
        self.only = only
        self.db = db.encode() if db is not None else None
        self.fmt = fmt
        self.name = name
        self.stats = stats or Stats()
        self.fast = fast
        self.carry = b""
        self.lineno = 0
        # slow log state
        self.cur_db: bytes | None = None
        self.cur_time: str | None = None
        self._ts_cache: dict[int, str] = {}
        self._at: tuple = (0, 0)
        self._q_cache: dict[bytes, str] = {}
        self._frag = _Fragments(self)
        # general log state
        self.threads: dict[bytes, tuple] = {}   # id -> (user, host, db)
        self.pending: list | None = None        # [time, id, parts]

    # -- shared ----------------------------------------------------------------------------
    def _invalid(self, what: bytes, lineno) -> None:
        """Count a bad line or entry; `lineno` (an int, or a function giving it) is only worked
        out for the first one, which is shown."""
        st = self.stats
        st.invalid += 1
        if not st.first_invalid:
            if callable(lineno):
                lineno = lineno()
            st.first_invalid = f"{self.name}:{lineno}: {show(what, 120)}"

    def _emit(self, out: list, q: bytes, rec: dict, db: bytes | None, lineno: int) -> None:
        st = self.stats
        st.entries += 1
        if (self.db is not None and db != self.db) or not keep(q, self.only):
            st.skipped += 1
            return
        try:
            text = q.decode("utf-8")
        except UnicodeDecodeError:
            self._invalid(b"statement not UTF-8: " + q[:60], lineno)
            return
        obj = {"query": text}
        obj.update(rec)
        if db is not None:
            obj["db"] = db.decode("utf-8", "replace")
        out.append(json.dumps(obj, ensure_ascii=False))
        st.written += 1

    def _text(self, block: bytes) -> str:
        """The output of one block: JSON lines, each ended by a newline."""
        data = self.carry + block
        if self.fmt == "auto":
            if len(data) < 65536 and block:
                self.carry = data
                return ""
            self.fmt = "slow" if re.search(rb"^# (?:User@Host|Query_time|Time): ", data[:65536], re.M) else "general"
        if self.fmt == "slow":
            return self._feed_slow(data, final=not block)
        return _lines(self._feed_general(data, final=not block))

    def feed_bytes(self, block: bytes) -> bytes:
        return self._text(block).encode("utf-8")

    def end_bytes(self) -> bytes:
        text = self._text(b"")
        if self.fmt == "general" and self.pending is not None:
            out: list[str] = []
            self._flush_general(out)
            text += _lines(out)
        return text.encode("utf-8")

    def feed(self, block: bytes) -> list[str]:
        return self.feed_bytes(block).decode("utf-8").split("\n")[:-1]

    def end(self) -> list[str]:
        return self.end_bytes().decode("utf-8").split("\n")[:-1]

    # -- slow log --------------------------------------------------------------------------
    def _feed_slow(self, data: bytes, final: bool) -> str:
        """A block cut after its last whole entry (the rest carried to the next call): the fast
        path when it applies, else the reference one."""
        if not final:
            cut = data.rfind(b"\n# User@Host: ")
            if cut < 0:
                self.carry = data
                return ""
            t = data.rfind(b"\n", 0, cut)
            if data.startswith(b"# Time: ", t + 1):
                cut = t                       # the entry's own # Time: line goes with it
            self.carry = data[cut + 1:]
            data = data[:cut + 1]
        else:
            self.carry = b""
        text = None
        if self.fast and not (self.cur_time and "." in self.cur_time):
            text = self._fast_slow(data)
        if text is None:
            out: list[str] = []
            self._slow_text(data, out, self.lineno)
            text = _lines(out)
        self.lineno += data.count(b"\n")
        return text

    def _slow_text(self, data: bytes, out: list, base) -> None:
        """The reference path: entries matched by one regular expression over the text (in C),
        each then looked at in Python; the gaps between them (the log's header, damaged entries)
        line by line. `base`: the lines before `data` (or a function giving it)."""
        pos = 0
        self._at = (0, base)                  # (offset, lines before it): line numbers counted on
        for m in _SLOW_ENTRY.finditer(data):
            if m.start() != pos:
                self._gap(data, pos, m.start())
            pos = m.end()
            self._slow_entry(m, out, data)
        if pos < len(data):
            self._gap(data, pos, len(data))

    def _fast_slow(self, data: bytes) -> str | None:
        """The fast path, or None (nothing done) when the block does not suit it. The block as
        text, split by _FAST_SLOW: per entry 7 captured fields, and between entries the text
        that is not of that shape (a `# Time:` line, mostly; the log's header; other entries).
        The fields are turned into JSON column by column (map over C functions and caches of the
        few distinct users, hosts, thread/schema lines and timestamps), the columns interleaved
        with the constant parts by slice assignment and joined; Python runs per `# Time:` line
        and per gap only. A gap of anything but one `# Time:` line goes to the reference path,
        with the state (current time and database) it would have had there."""
        try:
            s = data.decode("utf-8")
        except UnicodeDecodeError:
            return None                       # the reference path reports the entries concerned
        parts = _FAST_SLOW.split(s)
        w = _FAST_GROUPS + 1
        n = len(parts) // w
        if not n or s.find("started with:", len(parts[0])) >= 0:
            return None                       # a server restart inside an entry: the reference cuts it
        gaps = list(itertools.compress(range(n + 1), parts[0::w]))     # the gaps that are not empty
        regions = []                          # those that are more than one `# Time:` line
        for r, i in enumerate(gaps):
            g = parts[i * w]
            if g.startswith("\n# Time: ") and g.find("\n", 1) < 0:
                if "." in g:
                    return None               # MySQL's # Time: (the entries' time): reference path
            else:
                if "# Time: " in g and any("." in ln for ln in g.split("\n") if ln.startswith("# Time: ")):
                    return None
                regions.append(r)
        f = self._frag
        k = 9
        res = [""] * (k * n)
        res[0::k] = ['{"query": '] * n
        res[1::k] = map(_json_str, parts[7::w])
        # SET timestamp (at most 10 digits: in gmtime's range) as `time`: the day's part from a
        # cache, the time of day from a table
        secs = list(map(int, parts[6::w]))
        res[2::k] = map(f.day.__getitem__, map(operator.floordiv, secs, itertools.repeat(86400)))
        res[3::k] = map(_hms().__getitem__, map(operator.mod, secs, itertools.repeat(86400)))
        uh = list(map(f.user_host.__getitem__, parts[1::w]))
        tds = parts[2::w]                     # the Thread_id lines (after `# Thread_id: `)
        td = list(map(f.thread_db.__getitem__, tds))
        if None in uh or None in td:
            return None                       # a User@Host or Thread_id line of another shape
        res[4::k] = uh
        res[5::k] = parts[3::w]
        res[6::k] = [', "rows_examined": '] * n
        res[7::k] = parts[4::w]
        res[8::k] = td
        uses = parts[5::w]
        for i in itertools.compress(range(n), uses):       # `use db;` in the entry: its database
            db = f.use_db[uses[i]]
            if db is not None:
                res[i * k + 8] = f.thread_db_use[tds[i], db]
        # the gaps that are not one `# Time:` line, in order, with the state the reference path
        # would have there (the database of the entry before, the last # Time: line)
        keep_mask = self._fast_keep(parts, w, n, tds, uses) if self.db is not None or self.only != "all" else None
        st = self.stats
        st.entries += n
        pre: dict[int, str] = {}              # the output of the gap before entry i
        tail = ""
        last = -1
        for r in regions:
            i = gaps[r]
            if r - 1 > last:                  # gaps last + 1 .. r - 1 are # Time: lines
                self.cur_time = _gap_time(parts[gaps[r - 1] * w])
            last = r
            if i:
                self.cur_db = self._fast_db(tds[i - 1], uses[i - 1])
            g = parts[i * w]
            if i == 0:
                region = g + "\n"
            else:
                region = g[1:] + "\n" if i < n else g[1:]
            out: list[str] = []
            base = _LineBase(self.lineno, s, i)
            self._slow_text(region.encode("utf-8"), out, base)
            pre[i] = _lines(out)
        if len(gaps) - 1 > last:
            self.cur_time = _gap_time(parts[gaps[-1] * w])
        if not regions or gaps[regions[-1]] != n:
            self.cur_db = self._fast_db(tds[n - 1], uses[n - 1])
        if keep_mask is not None:             # --db, --only: the entries left out, counted
            kept = sum(keep_mask)
            st.skipped += n - kept
            res = list(itertools.compress(res, itertools.chain.from_iterable(
                map(itertools.repeat, keep_mask, itertools.repeat(k)))))
            before = list(itertools.accumulate(keep_mask, initial=0))     # kept entries before i
            n = kept
        else:
            before = range(n + 1)
        st.written += n
        for i, text in pre.items():           # in order: each gap's output before the next entry
            j = before[i]
            if j < n:
                res[j * k] = res[j * k][:-len('{"query": ')] + text + '{"query": '
            else:
                tail += text
        return "".join(res) + tail

    def _fast_keep(self, parts: list, w: int, n: int, tds: list, uses: list) -> list[bool]:
        """Which of the fast path's entries --db and --only keep (the reference path's rules)."""
        mask = [True] * n
        if self.db is not None:
            f = self._frag
            dbs = list(map(f.schema_of.__getitem__, tds))
            for i in itertools.compress(range(n), uses):
                db = f.use_db[uses[i]]
                if db is not None:
                    dbs[i] = db
            mask = list(map(operator.eq, dbs, itertools.repeat(self.db)))
        if self.only != "all":
            words = _SELECT_KINDS if self.only == "select" else _DML_KINDS
            kinds = [m.group(1).lower() if m else "" for m in map(_FIRST_WORD_TEXT.match, parts[7::w])]
            mask = list(map(operator.and_, mask, map(words.__contains__, kinds)))
        return mask

    def _fast_db(self, td: str, use: str | None) -> bytes | None:
        """The current database after a fast-path entry (its Schema, or its `use`)."""
        db = self._frag.use_db[use] if use else None
        if db is None:
            db = self._frag.schema_of[td]
        return db

    def _line_at(self, data: bytes, pos: int) -> int:
        """The line number of offset `pos` of the block (counted on from the last one asked)."""
        at, n = self._at
        if callable(n):
            n = n()
        n += data.count(b"\n", at, pos)
        self._at = (pos, n)
        return n + 1

    def _gap(self, data: bytes, start: int, end: int) -> None:
        """Text between entries: the server's header lines (skipped), # Time: lines (kept), and
        anything else: one damaged entry, counted once with its first line."""
        bad = None
        for line in data[start:end].split(b"\n"):
            if line.startswith(b"# Time: "):
                self.cur_time = mariadb_time(line[8:].strip())
            elif line and bad is None and not (b"started with:" in line or line.startswith(_HEADER)):
                bad = line
        if bad is not None:
            self._invalid(bad, lambda: self._line_at(data, start))

    def _slow_entry(self, m, out: list, data: bytes) -> None:
        (t, user, host, ip, cid, tid, schema, _, qtime, rows, post, use, ts, body) = m.groups()
        if t is not None:
            self.cur_time = mariadb_time(t.strip())
        if schema is not None:
            self.cur_db = schema or None
        if use:
            self.cur_db = _use_db(use, self.cur_db)
        if b"started with:" in body:          # a server restart wrote its header after it
            body = self._cut_restart(body)
        stmt = body.strip()
        if stmt[:4].lower() == b"use ":       # use after SET timestamp (not seen, but harmless)
            um = _USE.match(stmt.split(b"\n", 1)[0])
            if um:
                self.cur_db = um.group(1)
                stmt = stmt.split(b"\n", 1)[1].strip() if b"\n" in stmt else b""
        if stmt.endswith(b";"):
            stmt = stmt[:-1].rstrip()
        # an administrator command (Quit, ...): after SET timestamp (MySQL, MariaDB) or among the
        # # lines before it
        if not stmt or b"# administrator command:" in post or stmt.startswith(b"# administrator command:"):
            self.stats.entries += 1
            self.stats.skipped += 1
            return
        st = self.stats
        st.entries += 1
        db = self.cur_db
        if (self.db is not None and db != self.db) or (self.only != "all" and not keep(stmt, self.only)):
            st.skipped += 1
            return
        try:
            text = stmt.decode("utf-8")
        except UnicodeDecodeError:
            start = m.start()
            self._invalid(b"statement not UTF-8: " + stmt[:60], lambda: self._line_at(data, start))
            return
        # MySQL's # Time: has microseconds (and is written for every entry); MariaDB's only whole
        # seconds, once per second: SET timestamp is the exact one there
        ct = self.cur_time
        if not (ct and "." in ct) and ts is not None:
            ct = self._ts(int(ts)) or ct
        q = self._quoted
        parts = ['{"query": ', _json_str(text)]
        if ct is not None:
            parts += [', "time": ', _json_str(ct)]       # a damaged # Time: line may hold anything
        parts += [', "user": ', q(user), ', "host": ', q(host.strip() or ip), ', "query_time": ',
                  _json_number(qtime), ', "rows_examined": ', _json_number(rows)]
        ident = cid or tid
        if ident:
            parts += [', "thread_id": ', str(int(ident))]
        if db is not None:
            parts += [', "db": ', q(db)]
        parts.append("}")
        out.append("".join(parts))
        st.written += 1

    def _quoted(self, b: bytes) -> str:
        """A JSON string of a user, host or database name (few distinct ones: cached)."""
        v = self._q_cache.get(b)
        if v is None:
            if len(self._q_cache) > 4096:
                self._q_cache.clear()
            v = self._q_cache[b] = _json_str(b.decode("utf-8", "replace"))
        return v

    def _cut_restart(self, body: bytes) -> bytes:
        """A server restart writes its header lines into the log: the statement ends before."""
        i = body.find(b"started with:")
        return body[:body.rfind(b"\n", 0, i) + 1]

    def _ts(self, epoch: int) -> str | None:
        """SET timestamp's seconds as UTC time; None when out of the platform's range."""
        t = self._ts_cache.get(epoch)
        if t is None:
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            try:
                t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
            except (OverflowError, OSError, ValueError):
                return None
            self._ts_cache[epoch] = t
        return t

    # -- general log -----------------------------------------------------------------------
    def _feed_general(self, data: bytes, final: bool) -> list[str]:
        out: list[str] = []
        lines = data.split(b"\n")
        if final:
            self.carry = b""
            if lines and lines[-1] == b"":
                lines.pop()
        else:
            self.carry = lines.pop()
        match = _GENERAL.match
        for line in lines:
            self.lineno += 1
            if line.endswith(b"\r"):
                line = line[:-1]
            m = match(line)
            if m is None:
                if self.pending is not None:
                    self.pending[2].append(line)         # a statement over several lines
                elif line and not (b"started with:" in line or line.startswith(_HEADER)):
                    self._invalid(line, self.lineno)
                continue
            if self.pending is not None:
                self._flush_general(out)
            t, tid, cmd, arg = m.groups()
            if t:
                self.cur_time = mariadb_time(t)
            if cmd == b"Query" or cmd == b"Execute":
                self.pending = [self.cur_time, tid, [arg], self.lineno]
            elif cmd == b"Connect":
                cm = _CONNECT.match(arg)
                if cm:
                    self.threads[tid] = (cm.group(1), cm.group(2), cm.group(3) or None)
                else:
                    self.threads[tid] = (None, None, None)
            elif cmd == b"Init DB":
                u, h, _ = self.threads.get(tid, (None, None, None))
                self.threads[tid] = (u, h, arg.strip() or None)
            elif cmd == b"Quit":
                self.threads.pop(tid, None)
        return out

    def _flush_general(self, out: list) -> None:
        t, tid, parts, lineno = self.pending
        self.pending = None
        stmt = b"\n".join(parts).strip()
        if stmt.endswith(b";"):
            stmt = stmt[:-1].rstrip()
        u, h, db = self.threads.get(tid, (None, None, None))
        um = _USE.match(stmt) if stmt[:4].lower() == b"use " else None
        if um:
            self.threads[tid] = (u, h, um.group(1))
            self.stats.skipped += 1
            return
        if not stmt:
            self.stats.skipped += 1
            return
        rec: dict = {}
        if t:
            rec["time"] = t
        if u is not None:
            rec["user"] = u.decode("utf-8", "replace")
            rec["host"] = h.decode("utf-8", "replace")
        rec["thread_id"] = int(tid)
        self._emit(out, stmt, rec, db, lineno)


def _gap_time(g: str) -> str:
    return mariadb_time(g[9:].strip().encode("utf-8"))


def _json_number(b: bytes) -> str:
    """A number as logged (query_time keeps its digits), without the leading zeros JSON forbids."""
    i, dot, frac = b.decode("ascii").partition(".")
    return (i.lstrip("0") or "0") + dot + frac


def _lines(out: list[str]) -> str:
    return "".join(x + "\n" for x in out)


def _use_db(use: bytes | str, cur: bytes | None) -> bytes | None:
    """The database a `use db;` line names (else `cur`)."""
    if isinstance(use, str):
        use = use.encode("utf-8")
    um = _USE.match(use.strip())
    return um.group(1) if um else cur


class _LineBase:
    """The number of lines before gap `index` of the fast path's block `s` (worked out only when
    asked: for the first invalid entry; re.split's fields do not give the matches' extent, so
    the matches are found again up to the one before the gap)."""

    def __init__(self, lineno: int, s: str, index: int):
        self.args = (lineno, s, index)

    def __call__(self) -> int:
        lineno, s, index = self.args
        pos = 0
        if index:
            m = next(itertools.islice(_FAST_SLOW.finditer(s), index - 1, None))
            pos = m.end() + 1                 # after the entry, its newline
        return lineno + s.count("\n", 0, pos)


class _Cache(dict):
    """A dict filling itself from `make` (bounded: cleared when big)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        if len(self) > 65536:
            self.clear()
        v = self[key] = self.make(key)
        return v


class _Fragments:
    """The fast path's pieces of JSON, made by the reference path's own rules, per distinct
    timestamp, User@Host line and Thread_id line."""

    def __init__(self, conv: Converter):
        self.conv = conv
        self.day = _Cache(lambda d: f', "time": "{time.strftime("%Y-%m-%d", time.gmtime(d * 86400))}T')
        self.user_host = _Cache(self._user_host)
        self.thread_db = _Cache(self._thread_db)
        self.thread_db_use = _Cache(lambda key: self.thread_db_with(*key))
        self.schema_of = _Cache(self.schema)                      # Thread_id line -> its Schema
        self.use_db = _Cache(lambda use: _use_db(use, None))      # `use db;` line -> db

    def _user_host(self, line: str) -> str | None:
        m = _USER_HOST.fullmatch(line.encode("utf-8"))
        if m is None:
            return None
        user, host, ip = m.groups()
        q = self.conv._quoted
        return f', "user": {q(user)}, "host": {q(host.strip() or ip)}, "query_time": '

    def _thread_db(self, td: str) -> str | None:
        if _THREAD.match(td.encode("utf-8")) is None:
            return None
        return self.thread_db_with(td, self.schema(td))

    @staticmethod
    def schema(td: str) -> bytes | None:
        return _THREAD.match(td.encode("utf-8")).group(2) or None

    def thread_db_with(self, td: str, db: bytes | None) -> str:
        tid = _THREAD.match(td.encode("utf-8")).group(1)
        if db is None:
            return f', "thread_id": {int(tid)}}}\n'
        return f', "thread_id": {int(tid)}, "db": {self.conv._quoted(db)}}}\n'


_HMS: list[str] = []


def _hms() -> list[str]:
    """`HH:MM:SSZ"` of each second of a day (made once, when first needed)."""
    if not _HMS:
        hm = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
        sz = [f'{s:02d}Z"' for s in range(60)]
        _HMS.extend([a + b for a in hm for b in sz])
    return _HMS


# the parts of _SLOW_ENTRY the fragments are made by
_USER_HOST = re.compile(rb"([^\[\n]*)\[[^\]\n]*\] @ ([^\[\n]*?) ?\[([^\]\n]*)\]")
_THREAD = re.compile(rb"(\d+)[ \t]+Schema: ([^ \t\n]*)")
