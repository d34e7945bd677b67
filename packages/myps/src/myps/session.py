"""The MySQL side: one connection, the processlist query, kills and lock blockers.
PyMySQL is imported here, only when a command really talks to a server."""
from __future__ import annotations

import sys
import time

from .match import MARK, Criteria, where_clause

ER_NO_SUCH_THREAD = 1094
ER_NO_SUCH_QUERY = 1957        # MariaDB: KILL QUERY ID for a query that is no longer running


class DBError(Exception):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def _err(e) -> DBError:
    args = getattr(e, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return DBError(f"Error {args[0]}: {args[1]}", args[0])
    return DBError(str(e) or e.__class__.__name__)


class Session:
    def __init__(self, connect_kw: dict, debug=None):
        import pymysql
        self.pymysql = pymysql
        self.debug = debug or (lambda msg: None)
        from .options import tls_kwargs
        self._kw = dict(connect_kw, charset="utf8mb4", use_unicode=False, autocommit=True, program_name="myps")
        self._tls = tls_kwargs(connect_kw)
        self.conn = None
        self.reopen()
        version, conn_id = self.execute("SELECT VERSION(), CONNECTION_ID()")[0]
        self.version = version.decode("utf-8", "replace")
        self.conn_id = int(conn_id)
        self.mariadb = "mariadb" in self.version.lower()
        self.table = self._pick_table()
        cols = {c.upper() for c in self._columns(self.table)}
        self.has_time_ms = "TIME_MS" in cols
        self.has_query_id = "QUERY_ID" in cols and self.mariadb

    # -- helpers -------------------------------------------------------------------------------
    def execute(self, sql: str, args=None) -> list[tuple]:
        sql = f"{MARK} {sql}"
        self.debug(f"Query: {sql}")
        if args:
            self.debug(f"Args: {args!r}")
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except self.pymysql.MySQLError as e:
            raise _err(e) from None

    def _scalar(self, sql: str):
        rows = self.execute(sql)
        return rows[0][0] if rows else None

    def _columns(self, table: str) -> list[str]:
        """Column names of `table` (an empty SELECT: cheaper than information_schema.COLUMNS)."""
        sql = f"{MARK} SELECT * FROM {table} WHERE 1 = 0"
        self.debug(f"Query: {sql}")
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                return [d[0] for d in cur.description or ()]
        except self.pymysql.MySQLError as e:
            raise _err(e) from None

    def _pick_table(self) -> str:
        """performance_schema.processlist on MySQL >= 8.0.22 (no global mutex), else I_S. The
        P_S table exists but stays empty when the server runs with performance_schema=OFF."""
        if not self.mariadb:
            try:
                parts = [int(x) for x in self.version.split("-")[0].split(".")[:3]]
                if tuple(parts) >= (8, 0, 22):
                    ok = self.execute("SELECT COUNT(*), @@performance_schema FROM information_schema.TABLES "
                                      "WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'processlist'")
                    if ok and ok[0][0] and int(ok[0][1] or 0):
                        return "performance_schema.processlist"
            except (ValueError, DBError):
                pass
        return "information_schema.PROCESSLIST"

    # -- listing -------------------------------------------------------------------------------
    def _select(self) -> str:
        extra = ""
        if self.has_time_ms:
            extra += ", TIME_MS + 0E0"
        if self.has_query_id:
            extra += ", QUERY_ID"
        return ("SELECT ID, IFNULL(USER,''), IFNULL(HOST,''), IFNULL(DB,''), IFNULL(COMMAND,''), TIME, "
                f"IFNULL(STATE,''), IFNULL(INFO,''){extra} FROM {self.table} WHERE ID != CONNECTION_ID()")

    def _rows(self, raw) -> list[dict]:
        out = []
        for r in raw:
            d = {"ID": int(r[0]), "USER": r[1], "HOST": r[2], "DB": r[3], "COMMAND": r[4],
                 "TIME": int(r[5] or 0), "STATE": r[6], "INFO": r[7], "TIME_MS": None, "QUERY_ID": None}
            i = 8
            if self.has_time_ms:
                d["TIME_MS"] = r[i]
                i += 1
            if self.has_query_id:
                d["QUERY_ID"] = r[i]
            out.append(d)
        return out

    def processlist(self, c: Criteria) -> list[dict]:
        conds, args = where_clause(c, self.has_time_ms)
        sql = self._select() + "".join(f" AND {x}" for x in conds)
        return self._rows(self.execute(sql, args or None))

    def recheck(self, row: dict, c: Criteria) -> dict | None:
        """The row again, if that thread still matches (and still runs the same statement)."""
        conds, args = where_clause(c, self.has_time_ms)
        conds.insert(0, "ID = %s")
        args.insert(0, row["ID"])
        if self.has_query_id and row.get("QUERY_ID") is not None and row["COMMAND"].lower() != b"sleep":
            conds.insert(1, "QUERY_ID = %s")
            args.insert(1, row["QUERY_ID"])
        rows = self._rows(self.execute(self._select() + "".join(f" AND {x}" for x in conds), args))
        return rows[0] if rows else None

    def alive(self, row: dict, same_query: bool = False) -> bool:
        """Whether thread row["ID"] still exists (with same_query: still busy with row's QUERY_ID;
        a sleeping session has no statement left to kill)."""
        sql = self._select() + " AND ID = %s"
        args = [row["ID"]]
        if same_query and self.has_query_id and row.get("QUERY_ID") is not None:
            sql += " AND QUERY_ID = %s AND IFNULL(COMMAND,'') != 'Sleep'"
            args.append(row["QUERY_ID"])
        return bool(self.execute(sql, args))

    # -- killing -------------------------------------------------------------------------------
    def kill(self, row: dict, query_only: bool) -> None:
        if query_only and self.has_query_id and row.get("QUERY_ID") is not None:
            self.execute("KILL QUERY ID %s", (int(row["QUERY_ID"]),))
        elif query_only:
            self.execute("KILL QUERY %s", (int(row["ID"]),))
        else:
            self.execute("KILL CONNECTION %s", (int(row["ID"]),))

    # -- lock blockers ---------------------------------------------------------------------------
    def blockers(self) -> list[tuple[dict, int]]:
        """Sessions whose transaction blocks others while not waiting itself (the roots of lock
        wait chains), with the number of transactions waiting on them (directly or not)."""
        waits = self._lock_waits()
        if not waits:
            return []
        waiting = {w for w, _ in waits}
        edges: dict = {}
        for w, b in waits:
            edges.setdefault(b, set()).add(w)
        roots = [b for b in edges if b not in waiting]
        if not roots:   # a cycle (deadlock being resolved): report every blocker
            roots = list(edges)
        result = []
        for root in roots:
            seen, stack = set(), [root]
            while stack:
                for w in edges.get(stack.pop(), ()):
                    if w not in seen:
                        seen.add(w)
                        stack.append(w)
            seen.discard(root)
            rows = self._rows(self.execute(self._select() + " AND ID = %s", (root,)))
            if rows:
                result.append((rows[0], len(seen)))
        return result

    def _lock_waits(self) -> list[tuple[int, int]]:
        """(waiting thread id, blocking thread id) pairs."""
        try:
            raw = self.execute(
                "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id FROM information_schema.INNODB_LOCK_WAITS w "
                "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id "
                "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id")
        except DBError as e:
            if e.code not in (1109, 1146):    # unknown table: MySQL 8 moved it to performance_schema
                raise
            raw = self.execute(
                "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id FROM performance_schema.data_lock_waits w "
                "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID "
                "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID")
        return [(int(a), int(b)) for a, b in raw if a is not None and b is not None]

    def reopen(self) -> None:
        """Connect (again: watch mode holds no connection while it sleeps, so that an idle myps
        session, `Sleep` with no INFO, is never there for another myps to list or kill)."""
        if self.conn is not None and self.conn.open:
            return
        pymysql = self.pymysql
        try:
            try:
                self.conn = pymysql.connect(**self._kw, **self._tls)
            except TypeError:           # an older PyMySQL without ssl_disabled
                self.conn = pymysql.connect(**self._kw)
        except pymysql.MySQLError as e:
            raise _err(e) from None

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass


def debug_logger(enabled: bool, stream=None):
    """Go `log`-style lines (date, time, message) on stderr (a byte stream)."""
    if not enabled:
        return None
    stream = stream if stream is not None else sys.stderr.buffer

    def log(msg: str) -> None:
        stream.write((time.strftime("%Y/%m/%d %H:%M:%S ") + msg + "\n").encode("utf-8", "replace"))
        stream.flush()
    return log
