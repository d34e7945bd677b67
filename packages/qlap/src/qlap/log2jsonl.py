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

import datetime
import json
import re

ONLY = ("all", "dml", "select")
_SELECT_WORDS = frozenset((b"select", b"with", b"("))
_DML_WORDS = _SELECT_WORDS | frozenset((b"insert", b"update", b"delete", b"replace"))
_FIRST_WORD = re.compile(rb"\s*(?:/\*(?!!).*?\*/\s*)*(\(|[A-Za-z]+)", re.S)
_USER_HOST = re.compile(rb"([^\[\n]*)\[([^\]\n]*)\] @ ([^\[\n]*?) ?\[([^\]\n]*)\](?:\s+Id:\s*(\d+))?")
_FIELDS = re.compile(rb"(\w+): ?(\S*)")
_USE = re.compile(rb"use\s+`?([^`;\s]+)`?\s*;?\s*$", re.I)
_SET_TS = re.compile(rb"SET timestamp=(\d+)(?:\.\d+)?;\s*", re.I)
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
        pieces = data.split(b"\n# User@Host: ")
        if not final:
            self.carry = pieces.pop()
            if not pieces:
                return []
        else:
            self.carry = b""
        out: list[str] = []
        first = pieces[0]
        if self.lineno == 0:
            # the head of the log: server header lines and # Time of the first entry
            if first.startswith(b"# User@Host: "):
                pieces[0] = first[len(b"# User@Host: "):]
            else:
                self._preamble(pieces.pop(0))
        else:
            pieces[0] = first
        for p in pieces:
            self.lineno += 1
            self._slow_entry(p, out)
        return out

    def _preamble(self, text: bytes) -> None:
        for line in text.split(b"\n"):
            self.lineno += 1
            if line.startswith(b"# Time: "):
                self.cur_time = mariadb_time(line[8:].strip())
            elif line and not (b"started with:" in line or line.startswith(_HEADER)):
                self._invalid(line, self.lineno)

    def _slow_entry(self, p: bytes, out: list) -> None:
        nl = p.find(b"\n")
        if nl < 0:
            nl = len(p)
        m = _USER_HOST.match(p, 0, nl)
        # the header lines (#...) after User@Host, then the statement
        pos = nl + 1
        hdr_end = pos
        while p.startswith(b"#", hdr_end):
            e = p.find(b"\n", hdr_end)
            hdr_end = len(p) if e < 0 else e + 1
        header = p[pos:hdr_end]
        body = p[hdr_end:]
        # what follows the statement: the next entry's # Time line, a server restart's header
        cut = body.find(b"\n# Time: ")
        nxt_time = None
        if cut >= 0:
            e = body.find(b"\n", cut + 1)
            nxt_time = body[cut + 9:e if e >= 0 else len(body)].strip()
            body = body[:cut]
        elif body.startswith(b"# Time: "):
            e = body.find(b"\n")
            nxt_time = body[8:e if e >= 0 else len(body)].strip()
            body = b""
        if b"started with:" in body:
            body = self._cut_restart(body)
        fields = dict(_FIELDS.findall(header))
        if m is None or b"Query_time" not in fields:
            self._invalid(b"# User@Host: " + p[:nl], self.lineno)
            if nxt_time is not None:
                self.cur_time = mariadb_time(nxt_time)
            return
        self.lineno += p.count(b"\n")
        rec: dict = {}
        ts_time = None
        stmt = body.strip()
        # use db; and SET timestamp=N; lines before the statement
        while stmt:
            if stmt[:4].lower() == b"use ":
                e = stmt.find(b"\n")
                line = stmt if e < 0 else stmt[:e]
                um = _USE.match(line)
                if um:
                    self.cur_db = um.group(1)
                    stmt = b"" if e < 0 else stmt[e + 1:].lstrip()
                    continue
            if stmt[:14].upper() == b"SET TIMESTAMP=":
                sm = _SET_TS.match(stmt)
                if sm:
                    ts_time = self._ts(int(sm.group(1)))
                    stmt = stmt[sm.end():]
                    continue
            break
        schema = fields.get(b"Schema")
        if schema is not None:
            self.cur_db = schema or None
        if stmt.endswith(b";"):
            stmt = stmt[:-1].rstrip()
        if not stmt or stmt.startswith(b"# administrator command:") or b"# administrator command:" in header:
            self.stats.skipped += 1
        else:
            # MySQL's # Time: has microseconds (and is written for every entry); MariaDB's only
            # whole seconds, once per second: SET timestamp is the exact one there
            t = self.cur_time if self.cur_time and "." in self.cur_time else (ts_time or self.cur_time)
            if t is not None:
                rec["time"] = t
            rec["user"] = m.group(1).decode("utf-8", "replace")
            host = m.group(3).strip() or m.group(4)
            rec["host"] = host.decode("utf-8", "replace")
            try:
                rec["query_time"] = float(fields[b"Query_time"])
                if b"Rows_examined" in fields:
                    rec["rows_examined"] = int(fields[b"Rows_examined"])
            except ValueError:
                self._invalid(header, self.lineno)
                return
            tid = m.group(5) or fields.get(b"Thread_id")
            if tid:
                rec["thread_id"] = int(tid)
            self._emit(out, stmt, rec, self.cur_db, self.lineno)
        if nxt_time is not None:
            self.cur_time = mariadb_time(nxt_time)

    def _cut_restart(self, body: bytes) -> bytes:
        """A server restart writes its header lines into the log: the statement ends before."""
        i = body.find(b"started with:")
        return body[:body.rfind(b"\n", 0, i) + 1]

    def _ts(self, epoch: int) -> str:
        t = self._ts_cache.get(epoch)
        if t is None:
            if len(self._ts_cache) > 4096:
                self._ts_cache.clear()
            t = self._ts_cache[epoch] = datetime.datetime.fromtimestamp(
                epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
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
