"""The target (staging) side: session set-up, the checkpoint table, and batched statement execution.

Every change of a group of source transactions, the checkpoint row and any dead-letter rows are
written in one target transaction (autocommit off), so a crash at any instant leaves either all of
it or none of it. Statements are sent many at a time (multi-statement packets); with
CLIENT_FOUND_ROWS the server reports matched rows, so an UPDATE/DELETE that matched nothing is
seen, never silently dropped.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

import pymysql
from pymysql.constants import CLIENT

from . import statements as S
from .statements import Stmt
from .values import jsonable, literal, quote_name, set_json_target

CONN_ERRORS = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1927, 4031, 1040, 1205, 1213})
DUP_ERRORS = frozenset({1062, 1022, 1586, 1169})
# a missing table (1146), or MySQL's missing database (1049; MariaDB says 1146 for both), which
# PyMySQL raises as an OperationalError, not a ProgrammingError: catch pymysql.MySQLError
MISSING_TABLE_ERRORS = frozenset({1146, 1049})
# "already exists / already gone" errors tolerated when re-running a DDL whose pending marker is set
DDL_EXISTS_ERRORS = frozenset({1007, 1008, 1050, 1051, 1054, 1060, 1061, 1068, 1091, 1146, 1176, 1826, 4092})
APPLY_SQL_MODE = "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"
MAX_PACKET = 4 * 1024 * 1024
KEYLESS = frozenset({"kl_update", "kl_delete", "pk_update"})  # batches run by run_keyless()
# types a keyless batch's temporary table may index (the images are looked up by them)
INDEXABLE = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double", "date",
                       "datetime", "timestamp", "time", "year", "char", "varchar", "binary", "varbinary", "enum",
                       "set", "bit", "inet4", "inet6", "uuid"})


class Reconnect(Exception):
    """A connection (source or target) was lost: roll back and resume from the checkpoint."""

    code = 0


# refused logins: a configuration mistake when no connection has ever succeeded in this process
AUTH_ERRORS = frozenset({1044, 1045, 1698})


def reconnect_error(message: str, e: BaseException) -> Reconnect:
    r = Reconnect(message)
    r.code = error_code(e)
    return r


class Fatal(Exception):
    """Stop with a clear message (exit 1)."""


def error_code(e: BaseException) -> int:
    try:
        return int(e.args[0])
    except (IndexError, TypeError, ValueError):
        return 0


def classify(e: BaseException) -> str:
    code = error_code(e)
    if code in DUP_ERRORS:
        return "duplicate_key"
    if code == 1146:
        return "missing_table"
    if code == 1054:
        return "missing_column"
    return "other"


@dataclass
class Failure:
    stmt: Stmt
    cls: str                  # error class
    code: int
    message: str


def checkpoint_ddl(schema: str) -> list[str]:
    s = quote_name(schema)
    return [
        f"CREATE DATABASE IF NOT EXISTS {s}",
        f"""CREATE TABLE IF NOT EXISTS {s}.`checkpoint` (
  `channel` VARCHAR(64) NOT NULL PRIMARY KEY,
  `gtid_state` VARCHAR(4096) NOT NULL,
  `binlog_file` VARCHAR(255) NOT NULL DEFAULT '',
  `binlog_end_pos` BIGINT UNSIGNED NOT NULL DEFAULT 0,
  `source_server_id` INT UNSIGNED NULL,
  `source_uuid` VARCHAR(255) NULL,
  `event_ts` DATETIME(6) NULL,
  `applied_at` DATETIME(6) NOT NULL,
  `ddl_pending` VARCHAR(64) NULL
) ENGINE=InnoDB""",
        f"""CREATE TABLE IF NOT EXISTS {s}.`dead_letter` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `channel` VARCHAR(64) NOT NULL,
  `gtid` VARCHAR(64) NOT NULL,
  `error_class` VARCHAR(32) NOT NULL,
  `error_code` INT NOT NULL,
  `error_message` TEXT NOT NULL,
  `db` VARCHAR(64) NOT NULL,
  `tbl` VARCHAR(64) NOT NULL,
  `statement` LONGTEXT NOT NULL,
  `images` LONGTEXT NOT NULL,
  `created_at` DATETIME(6) NOT NULL
) ENGINE=InnoDB""",
    ]


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Target:
    def __init__(self, endpoint, schema: str, channel: str, log, dryrun: bool = False):
        self.ep = endpoint
        self.schema = schema
        self.channel = channel
        self.log = log
        self.dryrun = dryrun
        self.conn = None
        self._columns: dict = {}
        self._ukeys: dict = {}
        self._types: dict = {}      # (db, table) -> {column: (column type, collation, data type, octet length)}
        self._kl_tables: dict = {}  # keyless batches: temporary table signature -> name (this connection's)
        self.kl_batched = 0         # keyless images applied as a set / per row (for tests and debug)
        self.kl_per_row = 0
        self.dirty = False  # statements sent in the open transaction
        self.running = False  # a statement sent and its answer not read yet (a signal may arrive then)
        self.is_mariadb: bool | None = None
        self._collations: set | None = None

    # -- connection ----------------------------------------------------------------------------
    def connect(self) -> None:
        self._kl_tables = {}
        try:
            self.conn = pymysql.connect(**self.ep.pymysql_kwargs(), autocommit=False,
                                        client_flag=CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
                                        read_timeout=600, write_timeout=600)
            with self.conn.cursor() as c:
                c.execute("SELECT @@version")
                self.is_mariadb = "mariadb" in str(c.fetchone()[0]).lower()
            # MySQL's JSON columns compare with JSON values, not text: JSON literals are cast there
            set_json_target(mysql=not self.is_mariadb)
            self.session_defaults()
            self.conn.commit()
        except pymysql.err.OperationalError as e:
            raise reconnect_error(f"target {self.ep.dsn()}: {e.args[-1]}", e) from None

    def collation_ids(self) -> set:
        if self._collations is None:
            self._collations = {int(r[0]) for r in self.query("SELECT ID FROM information_schema.COLLATIONS WHERE ID IS NOT NULL")}
        return self._collations

    def session_defaults(self) -> None:
        with self.conn.cursor() as c:
            c.execute(f"SET SESSION time_zone='+00:00', SESSION sql_mode='{APPLY_SQL_MODE}', "
                      "SESSION foreign_key_checks=0, SESSION unique_checks=1, NAMES utf8mb4")

    def kill_running(self) -> None:
        """From a second connection, kill the apply connection (blocked on a lock or a slow target): the
        server rolls its open transaction back. Used when shutting down; errors are ignored."""
        conn = self.conn
        if conn is None:
            return
        try:
            tid = conn.thread_id()
            k = pymysql.connect(**{**self.ep.pymysql_kwargs(), "connect_timeout": 5}, read_timeout=10)
            try:
                with k.cursor() as c:
                    c.execute(f"KILL CONNECTION {int(tid)}")
            finally:
                k.close()
        except Exception as e:
            self.log.warn("cannot kill the blocked target connection", error=e)

    def close(self, rollback: bool = True) -> None:
        """Roll back and close. rollback=False (after a signal, which may have cut a statement's answer
        short): only close, without waiting for an answer; the server rolls the transaction back."""
        if self.conn is not None:
            if rollback:
                try:
                    self.conn.rollback()
                except Exception:
                    pass
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None
        self._kl_tables = {}
        self.dirty = False
        self.running = False

    def query(self, sql: str, args=None) -> list:
        try:
            with self.conn.cursor() as c:
                c.execute(sql, args)
                return list(c.fetchall())
        except pymysql.err.OperationalError as e:
            if error_code(e) in CONN_ERRORS:
                raise Reconnect(f"target: {e.args[-1]}") from None
            raise

    # -- checkpoint ----------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        for sql in checkpoint_ddl(self.schema):
            self.query(sql)
        self.conn.commit()

    def read_checkpoint(self) -> dict | None:
        try:
            rows = self.query(
                f"SELECT gtid_state, binlog_file, binlog_end_pos, source_server_id, source_uuid, event_ts, "
                f"applied_at, ddl_pending FROM {quote_name(self.schema)}.`checkpoint` WHERE channel=%s",
                (self.channel,))
        except pymysql.MySQLError as e:
            if error_code(e) in MISSING_TABLE_ERRORS:
                return None
            raise
        self.conn.commit()
        if not rows:
            return None
        r = rows[0]
        return {"gtid_state": r[0], "binlog_file": r[1], "binlog_end_pos": r[2], "source_server_id": r[3],
                "source_uuid": r[4], "event_ts": r[5], "applied_at": r[6], "ddl_pending": r[7]}

    def checkpoint_sql(self, state: str, file: str, pos: int, server_id, uuid, event_ts, ddl_pending) -> str:
        ets = None if event_ts is None else datetime.datetime.fromtimestamp(event_ts, datetime.timezone.utc
                                                                              ).replace(tzinfo=None)
        vals = ",".join(literal(v) for v in (self.channel, state, file or "", int(pos or 0), server_id, uuid,
                                             ets, utcnow(), ddl_pending))
        return (f"INSERT INTO {quote_name(self.schema)}.`checkpoint` (channel, gtid_state, binlog_file, "
                f"binlog_end_pos, source_server_id, source_uuid, event_ts, applied_at, ddl_pending) VALUES "
                f"({vals}) ON DUPLICATE KEY UPDATE gtid_state=VALUES(gtid_state), binlog_file=VALUES(binlog_file), "
                "binlog_end_pos=VALUES(binlog_end_pos), source_server_id=VALUES(source_server_id), "
                "source_uuid=VALUES(source_uuid), event_ts=VALUES(event_ts), applied_at=VALUES(applied_at), "
                "ddl_pending=VALUES(ddl_pending)")

    def commit_with_checkpoint(self, checkpoint_sql: str) -> None:
        """Write the checkpoint row in the open transaction and commit it."""
        try:
            with self.conn.cursor() as c:
                c.execute(checkpoint_sql)
            self.conn.commit()
        except pymysql.err.OperationalError as e:
            if error_code(e) in CONN_ERRORS:
                raise Reconnect(f"target: {e.args[-1]}") from None
            raise
        self.dirty = False

    def rollback(self) -> None:
        if self.conn is not None:
            try:
                self.conn.rollback()
            except Exception:
                pass
        self.dirty = False

    def dead_letter_stmt(self, gtid: str, f: Failure, images) -> Stmt:
        vals = ",".join(literal(v) for v in (
            self.channel, gtid, f.cls, f.code, f.message[:60000], f.stmt.db, f.stmt.table,
            f.stmt.sql[:1_000_000],
            json.dumps([{k: jsonable(v) for k, v in im.items()} if isinstance(im, dict) else
                        [{k: jsonable(v) for k, v in x.items()} for x in im] for im in images]),
            utcnow()))
        sql = (f"INSERT INTO {quote_name(self.schema)}.`dead_letter` (channel, gtid, error_class, error_code, "
               f"error_message, db, tbl, statement, images, created_at) VALUES ({vals})")
        return Stmt(sql, 1, "dead_letter", self.schema, "dead_letter")

    # -- table metadata ------------------------------------------------------------------------
    def columns(self, db: str, table: str) -> dict | None:
        """{name: is_generated} in column order, or None when the table does not exist."""
        key = (db, table)
        if key in self._columns:
            return self._columns[key]
        rows = self.query(
            # GENERATION_EXPRESSION: NULL (MariaDB) or '' (MySQL, which has no IS_GENERATED) when not generated
            "SELECT COLUMN_NAME, COALESCE(GENERATION_EXPRESSION, '') <> '', COLUMN_TYPE, COLLATION_NAME, "
            "DATA_TYPE, CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
            "TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (db, table))
        out = {r[0]: bool(int(r[1])) for r in rows} if rows else None
        self._types[key] = {r[0]: (str(r[2]), r[3], str(r[4]).lower(), r[5]) for r in rows}
        if out is not None:
            # batches run as a set only on a transactional table: a savepoint must undo a batch that
            # turns out not to give the per-row result before the per-row statements run
            eng = self.query("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
                             (db, table))
            if not eng or str(eng[0][0]).lower() != "innodb":
                self._types[key] = {}
        self._ukeys[key] = self._unique_key(db, table) if out is not None else []
        self._columns[key] = out
        return out

    def _unique_key(self, db: str, table: str) -> list:
        """The columns of the target table's primary key, else of its first unique key whose columns
        are all NOT NULL (one row at most per value), else []."""
        rows = self.query(
            "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE FROM information_schema.STATISTICS s "
            "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA=s.TABLE_SCHEMA AND c.TABLE_NAME=s.TABLE_NAME "
            "AND c.COLUMN_NAME=s.COLUMN_NAME WHERE s.TABLE_SCHEMA=%s AND s.TABLE_NAME=%s AND s.NON_UNIQUE=0 "
            "ORDER BY s.INDEX_NAME<>'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX", (db, table))
        keys: dict = {}
        for name, col, nullable in rows:
            keys.setdefault(name, []).append((col, str(nullable).upper() == "YES"))
        for cols in keys.values():
            if not any(n for _, n in cols):
                return [c for c, _ in cols]
        return []

    def unique_key(self, db: str, table: str) -> list:
        """After columns(db, table): the key found by _unique_key()."""
        return self._ukeys.get((db, table), [])

    def columns_cached(self, db: str, table: str) -> bool:
        """Whether columns(db, table) is answered without a query (a worker may own the connection)."""
        return (db, table) in self._columns

    def forget_columns(self) -> None:
        self._columns.clear()
        self._ukeys.clear()
        self._types.clear()

    # -- execution -----------------------------------------------------------------------------
    def run(self, stmts: list[Stmt]) -> list[Failure]:
        """Run statements in order in the open transaction. Returns the failed ones (an error, or
        a matched-row count different from the expected one); connection errors raise Reconnect."""
        failures: list[Failure] = []
        i = 0
        n = len(stmts)
        while i < n:
            if stmts[i].kind in KEYLESS:
                failures.extend(self.run_keyless(stmts[i]))
                i += 1
                continue
            j = i
            size = 0
            while j < n and stmts[j].kind not in KEYLESS and (j == i or size + len(stmts[j].sql) < MAX_PACKET):
                size += len(stmts[j].sql) + 1
                j += 1
            sql = ";\n".join(s.sql for s in stmts[i:j])
            k = i
            cur = self.conn.cursor()
            self.dirty = True
            self.running = True
            try:
                cur.execute(sql)
                while True:
                    st = stmts[k]
                    if st.expected is not None and cur.rowcount != st.expected:
                        failures.append(Failure(st, "row_not_found", 0,
                                                f"{cur.rowcount} rows matched, {st.expected} expected"))
                    k += 1
                    if k >= j:
                        break
                    cur.nextset()
                i = j
            except pymysql.err.OperationalError as e:
                if error_code(e) in CONN_ERRORS:
                    raise Reconnect(f"target: {e.args[-1]}") from None
                failures.append(Failure(stmts[k], classify(e), error_code(e), str(e.args[-1])))
                i = k + 1
            except pymysql.MySQLError as e:
                failures.append(Failure(stmts[k], classify(e), error_code(e), str(e.args[-1])))
                i = k + 1
            # not closed after a signal (KeyboardInterrupt, Terminated) in the middle of the answers:
            # closing the cursor would read the rest of them, i.e. wait for the server to run them all
            try:
                cur.close()
            except Exception:
                pass
        self.running = False
        return failures

    def run_ddl(self, db: str | None, text: str, session: list[str]) -> None:
        """Run one DDL with the source session's settings, then restore ours. Errors propagate."""
        self.running = True
        try:
            with self.conn.cursor() as c:
                for s in session:
                    try:
                        c.execute(s)
                    except pymysql.err.OperationalError as e:
                        if error_code(e) in CONN_ERRORS:
                            raise
                        self.log.warn("cannot apply the DDL's session setting", setting=s, error=e.args[-1])
                if db:
                    try:
                        c.execute(f"USE {quote_name(db)}")
                    except pymysql.err.OperationalError as e:
                        if error_code(e) != 1049:
                            raise
                        c.execute(f"USE {quote_name(self.schema)}")
                try:
                    c.execute(text)
                except pymysql.MySQLError:
                    self.session_defaults()
                    raise
                # not after a signal (KeyboardInterrupt, Terminated) cut the answer short: the
                # connection is unusable, and an error here would hide the signal (exit 1, not 130/143)
                self.session_defaults()
            self.running = False
        except pymysql.err.OperationalError as e:
            if error_code(e) in CONN_ERRORS:
                raise Reconnect(f"target: {e.args[-1]}") from None
            raise

    # -- tables without a key: UPDATE/DELETE images as a set -----------------------------------
    # The reference is one statement per image (every column <=>, LIMIT 1), a full scan of the table
    # each. A keyless batch instead puts its images in a temporary table of the same column types
    # (indexed) and makes two scans of the table whatever the number of images: one counting the
    # target rows each image matches, one multi-table UPDATE/DELETE joined to the temporary table.
    # That is exactly the per-row result for the images that match one target row and whose
    # before-image no other image of the batch shares (by the columns' own comparison: collations,
    # NULL <=> NULL). The others (duplicate rows) run per row afterwards; their rows are disjoint
    # from the first ones, so the order does not matter. The whole batch runs per row, in order,
    # when an update's result matches a before-image of the batch (a chain: the order would
    # matter), an image matches fewer rows than images share it (a missing row: the per-row path
    # reports it), a value does not fit the temporary table exactly (a warning), or anything fails.
    def _kl_plan(self, st: Stmt, index: bool = True):
        """The temporary table for a batch (created once per connection), or None (per row)."""
        ti = st.info
        types = self._types.get((ti.tdb, ti.table))
        if not types or any(c not in types for c in st.keys) or any(c not in types for c in st.cols or ()):
            return None
        sig = (index, ti.tdb, ti.table, tuple(st.keys), tuple(st.cols or ()), tuple(types[c] for c in st.keys),
               tuple(types[c] for c in st.cols or ()))
        name = self._kl_tables.get(sig)
        if name is not None:
            return name
        idx, size = [], 0
        for i, c in enumerate(st.keys):
            ctype, _coll, dtype, octets = types[c]
            if dtype not in INDEXABLE or len(idx) >= 16:
                continue
            width = int(octets or 0) + 3 if dtype in ("char", "varchar", "binary", "varbinary") else 17
            if size + width > 3000:
                continue
            idx.append(f"`b{i}`")
            size += width

        if index and not idx:
            return None

        def coldef(c):
            ctype, coll, _dtype, _octets = types[c]
            return f"{ctype}{f' COLLATE {coll}' if coll else ''} NULL"

        # in the checkpoint schema (ours): a name there cannot hide a replicated table
        name = f"{quote_name(self.schema)}.`binrpt_kl_{len(self._kl_tables) + 1}`"
        defs = ["`_id` INT NOT NULL", "`_side` TINYINT NOT NULL"]
        defs += [f"`b{i}` {coldef(c)}" for i, c in enumerate(st.keys)]
        defs += [f"`a{i}` {coldef(c)}" for i, c in enumerate(st.cols or ())]
        with self.conn.cursor() as c:
            c.execute(f"DROP TEMPORARY TABLE IF EXISTS {name}")
            key = f", KEY `k` ({','.join(idx)})" if index else ""
            c.execute(f"CREATE TEMPORARY TABLE {name} ({', '.join(defs)}{key}) ENGINE=InnoDB")
        self._kl_tables[sig] = name
        return name

    def run_keyless(self, st: Stmt) -> list[Failure]:
        self.dirty = True
        self.running = True
        try:
            done = self._pk_batch(st) if st.kind == "pk_update" else self._kl_batch(st)
        except pymysql.MySQLError as e:
            if isinstance(e, pymysql.err.OperationalError) and error_code(e) in CONN_ERRORS:
                raise Reconnect(f"target: {e.args[-1]}") from None
            self.log.debug("keyless batch run per row", table=f"{st.db}.{st.table}", error=e.args[-1])
            done = None
        finally:
            self.running = False
        if done is None:
            self.kl_per_row += len(st.rows)
            return self.run(S.per_row(st))
        if not done:
            return []
        self.kl_per_row += len(done)
        rest = S.per_row(st)
        return self.run([rest[i] for i in done])

    # UPDATEs by primary key: the images in a temporary table (the key's and the set columns' types),
    # one UPDATE joining it to the table by the key: one statement for the batch instead of one per
    # row. Only when the keys of the batch are distinct values, unchanged by the updates, and the
    # target's own key is the same: then each row is changed once, by its one image, whatever the
    # order. Otherwise (or when the matched count is not one row per image, or anything fails: the
    # savepoint undoes it) the per-row statements run, in order.
    def _pk_batch(self, st: Stmt):
        if len(st.rows) < 2:
            return None
        ti = st.info
        keys, sets = st.keys, st.cols or []
        if not keys or self._ukeys.get((ti.tdb, ti.table)) != list(keys):
            return None
        setpos = {c: j for j, c in enumerate(sets)}
        if any(k not in setpos for k in keys):
            return None
        seen = set()
        for b, a in st.lits:
            kb = tuple(b)
            if kb in seen or "NULL" in kb or any(a[setpos[k]] != b[i] for i, k in enumerate(keys)):
                return None
            seen.add(kb)
        name = self._kl_plan(st, index=False)
        if name is None:
            return None
        rows = [f"({i},0,{','.join(b)},{','.join(a)})" for i, (b, a) in enumerate(st.lits)]
        q = ti.qname
        on = " AND ".join(f"{q}.{quote_name(col)}=u.`b{i}`" for i, col in enumerate(keys))
        sql = (f"UPDATE {name} u STRAIGHT_JOIN {q} ON {on} SET " +
               ",".join(f"{q}.{quote_name(col)}=u.`a{j}`" for j, col in enumerate(sets) if col not in keys))
        with self.conn.cursor() as c:
            if not self._kl_fill(c, name, rows):
                return None
            if not self._kl_apply(c, [sql], len(rows)):
                return None
        self.kl_batched += len(rows)
        return []

    @staticmethod
    def _kl_apply(c, sqls: list[str], want: int) -> bool:
        """Run the statements under a savepoint; True when the last one matched `want` rows, else
        undone (False). An error is undone too (but for a lost connection) and raised."""
        c.execute("SAVEPOINT binrpt_kl")
        try:
            for sql in sqls:
                c.execute(sql)
            matched = c.rowcount
        except pymysql.MySQLError as e:
            if error_code(e) not in CONN_ERRORS:
                c.execute("ROLLBACK TO SAVEPOINT binrpt_kl")
            raise
        if matched != want:
            c.execute("ROLLBACK TO SAVEPOINT binrpt_kl")
            return False
        return True

    def _kl_fill(self, c, name: str, rows: list[str]) -> bool:
        """Empty the temporary table and insert the rows; False when a value changed on its way in."""
        c.execute(f"DELETE FROM {name}")
        k = 0
        while k < len(rows):
            j, size = k, 0
            while j < len(rows) and (j == k or size + len(rows[j]) < MAX_PACKET // 2):
                size += len(rows[j]) + 1
                j += 1
            c.execute(f"INSERT INTO {name} VALUES {','.join(rows[k:j])}")
            if c.warning_count:
                return False
            k = j
        return True

    def _kl_batch(self, st: Stmt):
        """Apply what can be applied as a set. Returns the indexes of the images still to run per
        row (in order), or None: nothing was changed, run them all per row."""
        if len(st.rows) < 2:
            return None
        name = self._kl_plan(st)
        if name is None:
            return None
        ti = st.info
        upd = st.kind == "kl_update"
        keys, sets = st.keys, st.cols or []
        nb = len(keys)
        setpos = {c: j for j, c in enumerate(sets)}
        tmp = name
        rows = []
        for i, (b, a) in enumerate(st.lits):
            rows.append(f"({i},0,{','.join(b)}{',' if a else ''}{','.join(a)})")
            if upd:
                # the row this update leaves: for the chain check
                res = [a[setpos[c]] if c in setpos else b[k] for k, c in enumerate(keys)]
                rows.append(f"({i},1,{','.join(res)}{',NULL' * len(a)})")
        with self.conn.cursor() as c:
            if not self._kl_fill(c, tmp, rows):
                return None  # a value changed on its way into the temporary table
            bcols = ",".join(f"`b{i}`" for i in range(nb))
            c.execute(f"SELECT _id, n - s, s FROM (SELECT _id, _side, COUNT(*) OVER w AS n, SUM(_side) OVER w AS s "
                      f"FROM {tmp} WINDOW w AS (PARTITION BY {bcols})) z WHERE _side=0")
            shared = {}
            for i, kk, chain in c.fetchall():
                if int(chain):
                    return None
                shared[int(i)] = int(kk)
            # no alias for the table: `DELETE alias FROM` needs a default database (error 1046)
            q = ti.qname
            on = " AND ".join(f"{q}.{quote_name(col)}<=>u.`b{i}`" for i, col in enumerate(keys))
            join = f"{q} STRAIGHT_JOIN {tmp} u FORCE INDEX (`k`) ON {on} AND u._side=0"
            c.execute(f"SELECT u._id, COUNT(*) FROM {join} GROUP BY u._id")
            found = {int(i): int(n) for i, n in c.fetchall()}
            later = []
            for i in range(len(st.rows)):
                f, kk = found.get(i, 0), shared[i]
                if f < kk:
                    return None  # a row missing: the per-row path says which
                if f != 1 or kk != 1:
                    later.append(i)
            ok = len(st.rows) - len(later)
            if ok == 0:
                return later
            if upd:
                sql = f"UPDATE {join} SET " + ",".join(f"{q}.{quote_name(col)}=u.`a{j}`" for j, col in enumerate(sets))
            else:
                sql = f"DELETE {q} FROM {join}"
            sqls = [sql]
            if later:       # those images are left out of the join (and run per row afterwards)
                sqls.insert(0, f"UPDATE {tmp} SET _side=2 WHERE _side=0 AND _id IN ({','.join(map(str, later))})")
            if not self._kl_apply(c, sqls, ok):
                return None
        self.kl_batched += ok
        return later
