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

import json
import re
import time
from json.encoder import encode_basestring as _json_str  # the C string encoder, no dumps() set-up

ONLY = ("all", "dml", "select")
_SELECT_WORDS = frozenset((b"select", b"with", b"("))
_DML_WORDS = _SELECT_WORDS | frozenset((b"insert", b"update", b"delete", b"replace"))
_FIRST_WORD = re.compile(rb"\s*(?:/\*(?!!).*?\*/\s*)*(\(|[A-Za-z]+)", re.S)
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


class Stats:
    def __init__(self):
        self.entries = 0
        self.written = 0
        self.skipped = 0          # admin commands, filtered out by --only / --db
        self.invalid = 0
        self.first_invalid = ""


class Converter:
    """Feed it blocks of one log (any split), then end(); each call returns output lines."""

    def __init__(self, only: str = "all", db: str | None = None, fmt: str = "auto", name: str = "-",
                 stats: Stats | None = None):
        self.only = only
        self.db = db.encode() if db is not None else None
        self.fmt = fmt
        self.name = name
        self.stats = stats or Stats()
        self.carry = b""
        self.lineno = 0
        # slow log state
        self.cur_db: bytes | None = None
        self.cur_time: str | None = None
        self._ts_cache: dict[int, str] = {}
        self._at = (0, 0)
        self._q_cache: dict[bytes, str] = {}
        # general log state
        self.threads: dict[bytes, tuple] = {}   # id -> (user, host, db)
        self.pending: list | None = None        # [time, id, parts]

    # -- shared ----------------------------------------------------------------------------
    def _invalid(self, what: bytes, lineno: int) -> None:
        st = self.stats
        st.invalid += 1
        if not st.first_invalid:
            st.first_invalid = f"{self.name}:{lineno}: {what[:120].decode('utf-8', 'replace')!r}"

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

    def feed(self, block: bytes) -> list[str]:
        data = self.carry + block
        if self.fmt == "auto":
            if len(data) < 65536 and block:
                self.carry = data
                return []
            self.fmt = "slow" if re.search(rb"^# (?:User@Host|Query_time|Time): ", data[:65536], re.M) else "general"
        if self.fmt == "slow":
            return self._feed_slow(data, final=not block)
        return self._feed_general(data, final=not block)

    def end(self) -> list[str]:
        out = self.feed(b"")
        if self.fmt == "general" and self.pending is not None:
            self._flush_general(out)
        return out

    # -- slow log --------------------------------------------------------------------------
    def _feed_slow(self, data: bytes, final: bool) -> list[str]:
        """Entries matched by one regular expression over the whole block (in C), the gaps
        between them (the log's header, damaged entries) looked at line by line."""
        if not final:
            cut = data.rfind(b"\n# User@Host: ")
            if cut < 0:
                self.carry = data
                return []
            t = data.rfind(b"\n", 0, cut)
            if data.startswith(b"# Time: ", t + 1):
                cut = t                       # the entry's own # Time: line goes with it
            self.carry = data[cut + 1:]
            data = data[:cut + 1]
        else:
            self.carry = b""
        out: list[str] = []
        pos = 0
        self._at = (0, self.lineno)           # (offset, lines before it): line numbers counted on
        for m in _SLOW_ENTRY.finditer(data):
            if m.start() != pos:
                self._gap(data, pos, m.start())
            pos = m.end()
            self._slow_entry(m, out, data)
        if pos < len(data):
            self._gap(data, pos, len(data))
        self.lineno += data.count(b"\n")
        return out

    def _line_at(self, data: bytes, pos: int) -> int:
        """The line number of offset `pos` of the block (counted on from the last one asked)."""
        at, n = self._at
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
            self._invalid(bad, self._line_at(data, start))

    def _slow_entry(self, m, out: list, data: bytes) -> None:
        (t, user, host, ip, cid, tid, schema, _, qtime, rows, post, use, ts, body) = m.groups()
        if t is not None:
            self.cur_time = mariadb_time(t.strip())
        if schema is not None:
            self.cur_db = schema or None
        if use:
            um = _USE.match(use.strip())
            if um:
                self.cur_db = um.group(1)
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
        if not stmt or b"# administrator command:" in post:
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
            self._invalid(b"statement not UTF-8: " + stmt[:60], self._line_at(data, m.start()))
            return
        # MySQL's # Time: has microseconds (and is written for every entry); MariaDB's only whole
        # seconds, once per second: SET timestamp is the exact one there
        ct = self.cur_time
        if not (ct and "." in ct) and ts is not None:
            ct = self._ts(int(ts))
        q = self._quoted
        parts = ['{"query": ', _json_str(text)]
        if ct is not None:
            parts.append(f', "time": "{ct}"')
        parts += [', "user": ', q(user), ', "host": ', q(host.strip() or ip), ', "query_time": ',
                  qtime.decode(), ', "rows_examined": ', rows.decode()]
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

    def _ts(self, epoch: int) -> str:
        t = self._ts_cache.get(epoch)
        if t is None:
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            t = self._ts_cache[epoch] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
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
