"""`binrpt snapshot`: copy the replicated tables consistently from the source to the target and record
the snapshot's GTID position in the channel's checkpoint, so that `binrpt` continues from there.

How the position is made consistent with the rows read:
- MariaDB: `START TRANSACTION WITH CONSISTENT SNAPSHOT` makes the session's `Binlog_snapshot_file` /
  `Binlog_snapshot_position` status the binlog position of that very snapshot (MariaDB documents
  them for this use); `BINLOG_GTID_POS()` turns it into the GTID position. No lock is taken.
- MySQL: it has no such status, so `FLUSH TABLES WITH READ LOCK` is held for the time of
  `START TRANSACTION WITH CONSISTENT SNAPSHOT` and reading `@@global.gtid_executed`, then released
  (the RELOAD privilege is needed, as for mysqldump --single-transaction --source-data).
Only InnoDB tables are covered by a consistent snapshot: other engines are refused.

Rows are read in primary-key order, `chunk_size` rows at a time (a table without a primary key is one
chunk), and each chunk is written to the target in one transaction together with its progress row
in `<checkpoint_schema>.snapshot_table`, so a `kill -9` loses at most the chunk in flight. The
checkpoint row is written last, in the transaction that marks the snapshot finished.

Resuming after an interruption: the snapshot transaction is gone with its connection and no server
can re-open it. binrpt opens a new snapshot (position P2) and reads the source binlog between the
recorded position P and P2: when no transaction there touched a table not yet completely copied
(rows or DDL), those tables are the same at P2 as at P, and the copy goes on from the next chunk,
consistent with P. Otherwise it refuses (exit 1) naming the tables; `--restart` empties the tables
this snapshot filled and starts a new one.
"""
from __future__ import annotations

import json
import re

from . import gtid as G
from .preflight import Source, preflight, take_lock
from .reader import make_reader, source_conn
from .target import AUTH_ERRORS, MISSING_TABLE_ERRORS, Fatal, Reconnect, Target, error_code, utcnow
from .values import literal, mask_value, quote_name

INSERT_BYTES = 1 << 20
_NUMERIC = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
                      "float", "double", "real", "year"})
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def state_ddl(schema: str) -> list[str]:
    s = quote_name(schema)
    return [
        f"""CREATE TABLE IF NOT EXISTS {s}.`snapshot` (
  `channel` VARCHAR(64) NOT NULL PRIMARY KEY,
  `gtid_state` VARCHAR(4096) NOT NULL,
  `binlog_file` VARCHAR(255) NOT NULL DEFAULT '',
  `binlog_pos` BIGINT UNSIGNED NOT NULL DEFAULT 0,
  `source_server_id` INT UNSIGNED NULL,
  `source_uuid` VARCHAR(255) NULL,
  `started_at` DATETIME(6) NOT NULL,
  `finished_at` DATETIME(6) NULL
) ENGINE=InnoDB""",
        f"""CREATE TABLE IF NOT EXISTS {s}.`snapshot_table` (
  `channel` VARCHAR(64) NOT NULL,
  `db` VARCHAR(64) NOT NULL,
  `tbl` VARCHAR(64) NOT NULL,
  `target_db` VARCHAR(64) NOT NULL,
  `ord` INT NOT NULL,
  `done` TINYINT NOT NULL DEFAULT 0,
  `chunks` BIGINT UNSIGNED NOT NULL DEFAULT 0,
  `rows_copied` BIGINT UNSIGNED NOT NULL DEFAULT 0,
  `last_key` LONGTEXT NULL,
  PRIMARY KEY (`channel`, `db`, `tbl`)
) ENGINE=InnoDB""",
    ]


# -- values as the server printed them (text protocol, no conversion) ------------------------------
def raw_connection(cfg):
    """A source connection that returns every value as the server's text (str) or bytes (binary
    columns): written back as such, nothing is lost in a Python conversion (DECIMAL, DOUBLE,
    BIGINT UNSIGNED, zero dates, negative TIME)."""
    import pymysql
    import pymysql.converters
    conv = {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}
    try:
        c = pymysql.connect(**cfg.source.pymysql_kwargs(), autocommit=True, conv=conv,
                            read_timeout=3600, write_timeout=600)
    except pymysql.err.OperationalError as e:
        r = Reconnect(f"source {cfg.source.dsn()}: {e.args[-1]}")
        r.code = error_code(e)
        raise r from None
    return c


def typed_literal(v, numeric: bool) -> str:
    """The SQL literal of a value read by raw_connection(): numbers unquoted (so that comparisons
    stay exact: a quoted number compared with a BIGINT is compared as a double)."""
    if numeric and isinstance(v, str) and _NUMBER.match(v):
        return v
    return literal(v)


def encode_key(values) -> str:
    return json.dumps([["b", bytes(v).hex()] if isinstance(v, (bytes, bytearray)) else ["s", v] for v in values])


def decode_key(text: str) -> list:
    return [bytes.fromhex(v) if k == "b" else v for k, v in json.loads(text)]


def after_key(pk: list[str], numeric: list[bool], last: list) -> str:
    """WHERE condition for rows strictly after `last` in primary-key order (expanded, so that the
    range optimizer uses the key: a>x OR (a=x AND b>y) ...)."""
    ors = []
    for i in range(len(pk)):
        parts = [f"{quote_name(pk[j])} = {typed_literal(last[j], numeric[j])}" for j in range(i)]
        parts.append(f"{quote_name(pk[i])} > {typed_literal(last[i], numeric[i])}")
        ors.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(ors)


def _q(conn, sql: str) -> list:
    with conn.cursor() as c:
        c.execute(sql)
        return list(c.fetchall())


# -- the source snapshot -----------------------------------------------------------------------
def open_snapshot(src, flavor: str) -> tuple[str, str, int]:
    """Start the consistent-snapshot transaction on `src` (a raw_connection) and return its position:
    (GTID state, binlog file, binlog position)."""
    import pymysql
    _q(src, "SET SESSION time_zone='+00:00'")
    _q(src, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    if flavor == "mysql":
        try:
            _q(src, "FLUSH TABLES WITH READ LOCK")
        except pymysql.err.MySQLError as e:
            raise Fatal(f"source: FLUSH TABLES WITH READ LOCK refused ({e.args[-1]}): on MySQL the snapshot's GTID "
                        "set is read under that brief lock, which needs the RELOAD privilege") from None
        try:
            _q(src, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            gtid = (_q(src, "SELECT @@global.gtid_executed")[0][0] or "").replace("\n", "")
        finally:
            _q(src, "UNLOCK TABLES")
        return gtid, "", 0
    _q(src, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    st = {str(k).lower(): v for k, v in _q(src, "SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")}
    file, pos = st.get("binlog_snapshot_file"), st.get("binlog_snapshot_position")
    if not file or pos in (None, ""):
        raise Fatal("source: no Binlog_snapshot_file/Binlog_snapshot_position after START TRANSACTION WITH "
                    "CONSISTENT SNAPSHOT (binary log off?)")
    gtid = _q(src, f"SELECT BINLOG_GTID_POS({literal(file)}, {int(pos)})")[0][0]
    if gtid is None:
        raise Fatal(f"source: BINLOG_GTID_POS({file}, {pos}) gave no position")
    return str(gtid), str(file), int(pos)


def list_tables(src, cfg) -> list[tuple[str, str, str]]:
    """The replicated base tables of the source: [(db, table, engine)], in name order."""
    rows = _q(src, "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(ENGINE, '') FROM information_schema.TABLES "
                   "WHERE TABLE_TYPE='BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME")
    return [(d, t, e) for d, t, e in rows if cfg.filter.table_ok(d, t)]


def table_columns(src, db: str, tbl: str):
    """(copied columns, numeric flags, primary-key columns, their numeric flags). Generated columns
    are not copied (the target computes them)."""
    rows = _q(src, "SELECT COLUMN_NAME, LOWER(DATA_TYPE), COALESCE(GENERATION_EXPRESSION, '') <> '' "
                   "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=" + literal(db) + " AND TABLE_NAME="
                   + literal(tbl) + " ORDER BY ORDINAL_POSITION")
    types = {r[0]: r[1] for r in rows}
    cols = [r[0] for r in rows if str(r[2]) in ("0", "")]
    pk = [r[0] for r in _q(src, "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA="
                                + literal(db) + " AND TABLE_NAME=" + literal(tbl)
                                + " AND INDEX_NAME='PRIMARY' ORDER BY SEQ_IN_INDEX")]
    return cols, [types[c] in _NUMERIC for c in cols], pk, [types[c] in _NUMERIC for c in pk]


# -- what changed in the source binlog between two positions -------------------------------------
def _binlog_end(cfg, flavor: str) -> tuple[str, int]:
    """The source's current binlog end: (file, position), from SHOW MASTER STATUS (MySQL 8.2+: SHOW
    BINARY LOG STATUS)."""
    import pymysql
    c = source_conn(cfg)
    try:
        with c.cursor() as cur:
            for show in (("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS") if flavor == "mysql"
                         else ("SHOW MASTER STATUS",)):
                try:
                    cur.execute(show)
                except pymysql.MySQLError:
                    continue
                row = cur.fetchone()
                if row and row[0]:
                    return str(row[0]), int(row[1])
    finally:
        c.close()
    raise Fatal("source: SHOW MASTER STATUS is empty (binary log off?)")


class _BinlogEnd:
    """Whether a binlog dump has read up to `file`, `pos` (SHOW MASTER STATUS's binlog end), given the
    library's position after each event: the dump sends the files in their order and cannot skip
    `file`, so any other file after `file` is later. No order of file names is assumed: the base
    name of log-bin can change between files (a hostname-based name, 5.7's default to 8.0's
    `binlog`), and binlog.000003 then follows host-bin.000010.

    An event's log_pos is 32 bits (MariaDB sends 0 past 4 GiB) and never reaches a `pos` past
    4 GiB: in such a file, the read is at the end when a heartbeat follows a heartbeat at the same
    position with no event between (the source sends heartbeats when it has nothing more to send;
    MySQL also sends some while it skips transactions of `start`, and those move the position)."""

    def __init__(self, file: str, pos: int):
        self.file, self.pos = file, pos
        self.reached = False
        self.beat = None            # the position of the last heartbeat in `file`, None after an event

    def passed(self, file: str | None, log_pos: int | None, heartbeat: bool = False) -> bool:
        if file != self.file:
            return self.reached
        self.reached = True
        if self.pos <= 0xFFFFFFFF:
            return (log_pos or 0) >= self.pos
        if not heartbeat:
            self.beat = None
            return False
        if self.beat is not None and self.beat == log_pos:
            return True
        self.beat = log_pos
        return False


def touched_tables(cfg, flavor: str, start: str, upto: str, tables: set, ddl_only: bool = False) -> set:
    """The tables of `tables` ({(db, table)}) that a transaction after `start` and within `upto`
    wrote rows into (unless ddl_only) or named in a statement (DDL), read from the source binlog.
    Conservative: a statement naming a table's bare name counts.

    The read is a blocking binlog dump that binrpt ends itself: at the first GTID after `upto`, or
    once it has read up to the binlog end that SHOW MASTER STATUS reports after `upto` was taken (a
    GTID of `upto` not seen by then is not in the binlog). Not a non-blocking dump: MariaDB ends
    one with a connection reset, which can drop the events still in flight (the client cannot tell
    that end from a lost connection), and the library then starts again from `start`, so a range
    larger than the socket buffers was never read to its end ("lost repeatedly")."""
    import pymysql
    from pymysqlreplication.event import (
        FormatDescriptionEvent,
        GtidEvent,
        HeartbeatLogEvent,
        MariadbBinLogCheckPointEvent,
        MariadbGtidEvent,
        MariadbGtidListEvent,
        NotImplementedEvent,
        PreviousGtidsEvent,
        QueryEvent,
        RotateEvent,
        XidEvent,
    )
    from pymysqlreplication.row_event import TableMapEvent

    have, until = G.parse(start), G.parse(upto)
    if G.covers(have, until):
        return set()
    end = _BinlogEnd(*_binlog_end(cfg, flavor))
    connects = [0]
    last_error: list = [None]

    def on_connect():
        # the library reconnects by itself after a lost connection, for ever: a few times only here
        connects[0] += 1
        if connects[0] > 6:
            raise Fatal(f"source {cfg.source.dsn()}: the binlog connection was lost repeatedly while reading "
                        f"the binlog from {start or 'the beginning'} to {upto} ({last_error[0]})")

    def connect(**kw):
        conn = pymysql.connect(**kw)
        read = conn._read_packet

        def read_packet(*a, **k):
            try:
                return read(*a, **k)
            except pymysql.MySQLError as e:
                last_error[0] = e
                raise
        conn._read_packet = read_packet
        return conn

    # besides the events read, the small ones that move the library's position: the end of a
    # transaction, a new binlog file's first events, events the library does not decode, and
    # heartbeats (v1, which carry the position: the library's dump flags do not ask for v2), which
    # keep the blocking read finite at the binlog end
    reader = make_reader(
        cfg, flavor, start, on_connect, blocking=True, connect=connect,
        # the source sends nothing while it looks for `start` in a large binlog (seconds under
        # load): a longer read timeout than replication's, and heartbeats
        read_timeout=max(cfg.read_timeout, 300.0), heartbeat=cfg.heartbeat or 1.0,
        only_events=[GtidEvent, MariadbGtidEvent, QueryEvent, TableMapEvent, XidEvent, RotateEvent,
                     FormatDescriptionEvent, PreviousGtidsEvent, MariadbGtidListEvent,
                     MariadbBinLogCheckPointEvent, HeartbeatLogEvent, NotImplementedEvent])
    names = {t.lower() for _d, t in tables}
    out: set = set()
    seen = dict(have)          # the transactions read so far (whole ones once the next GTID arrives)
    inside = False
    try:
        for ev in reader:
            if isinstance(ev, MariadbGtidEvent):
                if G.covers(seen, until):
                    break
                domain, seq = ev.domain_id, ev.gtid_seq_no
                inside = G.is_applied(until, domain, seq) and not G.is_applied(have, domain, seq)
                G.advance(seen, domain, ev.server_id, seq)
            elif isinstance(ev, GtidEvent):
                if G.covers(seen, until):
                    break
                uuid, n = ev.gtid.rsplit(":", 1)
                key = next(iter(G.parse(f"{uuid}:{n}")))
                inside = G.is_applied(until, key, int(n)) and not G.is_applied(have, key, int(n))
                G.advance(seen, key, 0, int(n))
            elif not inside:
                pass
            elif isinstance(ev, TableMapEvent):
                if not ddl_only and (ev.schema, ev.table) in tables:
                    out.add((ev.schema, ev.table))
            elif isinstance(ev, QueryEvent):
                q = ev.query if isinstance(ev.query, str) else bytes(ev.query).decode("utf-8", "replace")
                if q.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
                    low = q.lower()
                    for d, t in tables:
                        if t.lower() in names and t.lower() in low:
                            out.add((d, t))
            # the library's position: the end of the last event it received (whatever it yields)
            if end.passed(reader.log_file, reader.log_pos, isinstance(ev, HeartbeatLogEvent)):
                break      # read up to the binlog end as it was after `upto`
    finally:
        reader.close()
    return out


# -- the target side ---------------------------------------------------------------------------
def _target_has_rows(t: Target, tdb: str, tbl: str) -> bool | None:
    """None when the table does not exist (MISSING_TABLE_ERRORS), else whether it has a row."""
    import pymysql
    try:
        return bool(t.query(f"SELECT 1 FROM {quote_name(tdb)}.{quote_name(tbl)} LIMIT 1"))
    except pymysql.MySQLError as e:
        if error_code(e) in MISSING_TABLE_ERRORS:
            return None
        raise


def _without_unknown_collations(t: Target, sql: str) -> str:
    """`sql` without the COLLATE clauses naming a collation the target does not have (MySQL's
    utf8mb4_0900_ai_ci on MariaDB): the character set's default collation applies instead."""
    known = {str(r[0]).lower() for r in t.query("SELECT COLLATION_NAME FROM information_schema.COLLATIONS")}
    return re.sub(r"\s+COLLATE\s*=?\s*`?(\w+)`?",
                  lambda m: m.group(0) if m.group(1).lower() in known else "", sql, flags=re.I)


def _create_table(src, t: Target, db: str, tdb: str, tbl: str, log) -> None:
    import pymysql
    cs = _q(src, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                 "WHERE SCHEMA_NAME=" + literal(db))
    create_db = f"CREATE DATABASE IF NOT EXISTS {quote_name(tdb)}"
    if cs:
        create_db += f" CHARACTER SET {cs[0][0]} COLLATE {cs[0][1]}"
    create = _q(src, f"SHOW CREATE TABLE {quote_name(db)}.{quote_name(tbl)}")[0][1]
    with t.conn.cursor() as c:
        for sql in (create_db, f"USE {quote_name(tdb)}", create):
            try:
                c.execute(sql)
            except pymysql.err.MySQLError as e:
                if error_code(e) != 1273:          # unknown collation
                    raise
                c.execute(_without_unknown_collations(t, sql))
    t.conn.commit()
    log.info("target table created", table=f"{tdb}.{tbl}")


def unfinished(t: Target) -> dict | None:
    """The channel's unfinished snapshot (its row), or None."""
    import pymysql
    try:
        rows = t.query(f"SELECT gtid_state, binlog_file, binlog_pos, started_at FROM {quote_name(t.schema)}.`snapshot` "
                       "WHERE channel=%s AND finished_at IS NULL", (t.channel,))
    except pymysql.MySQLError as e:
        if error_code(e) in MISSING_TABLE_ERRORS:
            return None
        raise
    t.conn.commit()
    if not rows:
        return None
    r = rows[0]
    return {"gtid_state": r[0], "binlog_file": r[1], "binlog_pos": r[2], "started_at": r[3]}


def refuse_run_message(cfg) -> str | None:
    """For `binrpt` (run): a message when the channel has an unfinished snapshot (replicating now
    would write into half-copied tables), else None. Connection problems give None: the run itself
    reports them."""
    import pymysql
    t = Target(cfg.replica, cfg.checkpoint_schema, cfg.channel, None)
    try:
        t.connect()
        snap = unfinished(t)
    except (Reconnect, pymysql.MySQLError):
        return None
    finally:
        t.close()
    if snap is None:
        return None
    return (f"the snapshot of channel {cfg.channel!r} (position {snap['gtid_state']}, started "
            f"{snap['started_at']}) is unfinished: run `binrpt snapshot` again to finish it (or with --restart), "
            "then replicate")


class Snapshot:
    def __init__(self, cfg, log, chunk_size: int = 10000, restart: bool = False):
        self.cfg, self.log = cfg, log
        self.chunk_size = chunk_size
        self.restart = restart
        self.t = Target(cfg.replica, cfg.checkpoint_schema, cfg.channel, log)
        self.src = None
        self.source: Source | None = None

    def run(self) -> int:
        import pymysql
        connected = False
        try:
            self.t.connect()
            take_lock(self.t, self.cfg, self.log)
            ctl = source_conn(self.cfg)
            try:
                self.source = preflight(ctl, self.t, self.cfg, self.log)
            finally:
                ctl.close()
            self.src = raw_connection(self.cfg)
            connected = True
            self._run()
            return 0
        except Fatal as e:
            self.log.error(str(e))
            return 1
        except Reconnect as e:
            if not connected and e.code in AUTH_ERRORS:
                self.log.error(f"login refused, check the configuration: {e}")
            elif not connected:
                self.log.error(f"cannot connect, check the configuration: {e}")
            else:
                self.log.error(f"connection lost; run `binrpt snapshot` again to resume: {e}")
            return 1
        except pymysql.MySQLError as e:
            self.log.error("snapshot failed; run `binrpt snapshot` again to resume", error=e)
            return 1
        finally:
            self.close()

    def close(self) -> None:
        if self.src is not None:
            try:
                self.src.close()
            except Exception:
                pass
            self.src = None
        self.t.close()

    # -- plan ----------------------------------------------------------------------------------
    def _state_rows(self) -> list:
        return self.t.query(f"SELECT db, tbl, target_db, done, chunks, rows_copied, last_key FROM "
                            f"{quote_name(self.cfg.checkpoint_schema)}.`snapshot_table` WHERE channel=%s ORDER BY ord",
                            (self.cfg.channel,))

    def _forget(self) -> None:
        """--restart: empty the tables the unfinished snapshot filled, and forget it."""
        s = quote_name(self.cfg.checkpoint_schema)
        for db, tbl, tdb, *_ in self._state_rows():
            if _target_has_rows(self.t, tdb, tbl) is not None:
                self.t.query(f"TRUNCATE TABLE {quote_name(tdb)}.{quote_name(tbl)}")
                self.log.info("restart: target table emptied", table=f"{tdb}.{tbl}")
        self.t.query(f"DELETE FROM {s}.`snapshot_table` WHERE channel=%s", (self.cfg.channel,))
        self.t.query(f"DELETE FROM {s}.`snapshot` WHERE channel=%s", (self.cfg.channel,))
        self.t.conn.commit()

    def _run(self) -> None:
        cfg, t = self.cfg, self.t
        t.ensure_schema()
        for sql in state_ddl(cfg.checkpoint_schema):
            t.query(sql)
        t.conn.commit()
        snap = unfinished(t)
        if snap is not None and self.restart:
            self._forget()
            snap = None
        if snap is None:
            cp = t.read_checkpoint()
            if cp is not None:
                raise Fatal(f"channel {cfg.channel!r} already has a checkpoint ({cp['gtid_state']}): a snapshot "
                            "seeds a new channel. Use another channel, or drop the copied tables on the target and "
                            f"delete the channel's row from {cfg.checkpoint_schema}.checkpoint first")
            self._fresh()
        else:
            self._resume(snap)
        self._copy_all()

    def _fresh(self) -> None:
        cfg, t, src = self.cfg, self.t, self.src
        gtid, file, pos = open_snapshot(src, self.source.flavor)
        self.position = (gtid, file, pos)
        tables = list_tables(src, cfg)
        other = [f"{d}.{n} ({e or 'no engine'})" for d, n, e in tables if e.lower() != "innodb"]
        if other:
            raise Fatal("a consistent snapshot covers InnoDB tables only; not InnoDB: " + ", ".join(other)
                        + " (filter them out, or convert them)")
        for d, n, _e in tables:            # hold their metadata locks: no DDL on them until the copy ends
            _q(src, f"SELECT 1 FROM {quote_name(d)}.{quote_name(n)} LIMIT 0")
        ddl = touched_tables(cfg, self.source.flavor, gtid, self._source_now(), {(d, n) for d, n, _ in tables},
                             ddl_only=True)
        if ddl:
            raise Fatal("a statement changed " + ", ".join(f"{d}.{n}" for d, n in sorted(ddl))
                        + " while the snapshot began; run `binrpt snapshot` again")
        busy = []
        for d, n, _e in tables:
            tdb = cfg.rewrite_db.get(d, d)
            if _target_has_rows(t, tdb, n):
                busy.append(f"{tdb}.{n}")
        if busy:
            raise Fatal("target tables are not empty: " + ", ".join(busy)
                        + "; the snapshot copies into missing or empty tables only (empty or drop them first)")
        s = quote_name(cfg.checkpoint_schema)
        t.query(f"DELETE FROM {s}.`snapshot_table` WHERE channel=%s", (cfg.channel,))
        t.query(f"REPLACE INTO {s}.`snapshot` (channel, gtid_state, binlog_file, binlog_pos, source_server_id, "
                "source_uuid, started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, NULL)",
                (cfg.channel, gtid, file, pos, self.source.server_id, self.source.uuid, utcnow()))
        for i, (d, n, _e) in enumerate(tables):
            t.query(f"INSERT INTO {s}.`snapshot_table` (channel, db, tbl, target_db, ord) VALUES (%s, %s, %s, %s, %s)",
                    (cfg.channel, d, n, cfg.rewrite_db.get(d, d), i))
        t.conn.commit()
        self.log.info("snapshot started", gtid=gtid, binlog_file=file, binlog_pos=pos, tables=len(tables),
                      channel=cfg.channel)

    def _source_now(self) -> str:
        c = source_conn(self.cfg)
        try:
            with c.cursor() as cur:
                cur.execute(self.source.position_sql())
                return (cur.fetchone()[0] or "").replace("\n", "")
        finally:
            c.close()

    def _resume(self, snap: dict) -> None:
        import pymysql
        cfg, src = self.cfg, self.src
        gtid2, _file2, _pos2 = open_snapshot(src, self.source.flavor)
        rows = self._state_rows()
        todo = {(d, n) for d, n, _tdb, done, *_ in rows if not int(done)}
        for d, n in sorted(todo):
            try:
                _q(src, f"SELECT 1 FROM {quote_name(d)}.{quote_name(n)} LIMIT 0")
            except pymysql.MySQLError as e:
                if error_code(e) not in MISSING_TABLE_ERRORS:
                    raise
                raise Fatal(f"cannot resume the snapshot: table {d}.{n} is gone from the source; "
                            "run `binrpt snapshot --restart`") from None
        # up to the source's position after those tables are locked (a DDL between the new snapshot
        # and the locks counts too); conservative: a change after the new snapshot refuses as well
        changed = touched_tables(cfg, self.source.flavor, snap["gtid_state"], self._source_now(), todo)
        if changed:
            raise Fatal(f"cannot resume the snapshot at position {snap['gtid_state']}: its consistent view ended "
                        "with the interrupted run, and the source changed "
                        + ", ".join(f"{d}.{n}" for d, n in sorted(changed))
                        + " since, before they were completely copied (now at " + gtid2 + "). "
                        "Run `binrpt snapshot --restart` to empty the copied tables and take a new snapshot")
        self.position = (snap["gtid_state"], snap["binlog_file"], int(snap["binlog_pos"]))
        self.log.info("snapshot resumed", gtid=snap["gtid_state"], source_now=gtid2,
                      tables_left=len(todo), channel=cfg.channel)

    # -- copy ----------------------------------------------------------------------------------
    def _copy_all(self) -> None:
        cfg, t = self.cfg, self.t
        for db, tbl, tdb, done, chunks, rows_copied, last_key in self._state_rows():
            if int(done):
                continue
            if _target_has_rows(t, tdb, tbl) is None:
                _create_table(self.src, t, db, tdb, tbl, self.log)
            self._copy_table(db, tbl, tdb, int(chunks), int(rows_copied), last_key)
        gtid, file, pos = self.position
        s = quote_name(cfg.checkpoint_schema)
        t.query(f"UPDATE {s}.`snapshot` SET finished_at=%s WHERE channel=%s", (utcnow(), cfg.channel))
        t.commit_with_checkpoint(t.checkpoint_sql(gtid, file, pos, self.source.server_id, self.source.uuid,
                                                  None, None))
        _q(self.src, "COMMIT")
        self.log.info("snapshot done: position recorded in the checkpoint", gtid=gtid, channel=cfg.channel)

    def _copy_table(self, db, tbl, tdb, chunks: int, total: int, last_key) -> None:
        cfg, t, src = self.cfg, self.t, self.src
        cols, numeric, pk, pk_numeric = table_columns(src, db, tbl)
        masks = [cfg.mask.get((db, tbl, c)) for c in cols]
        extra = [c for c in pk if c not in cols]          # a primary key on a generated column
        sel = ",".join(quote_name(c) for c in cols + extra)
        name = f"{quote_name(db)}.{quote_name(tbl)}"
        ins = f"INSERT INTO {quote_name(tdb)}.{quote_name(tbl)} ({','.join(quote_name(c) for c in cols)}) VALUES "
        keyidx = [(cols + extra).index(c) for c in pk]
        s = quote_name(cfg.checkpoint_schema)
        progress = (f"UPDATE {s}.`snapshot_table` SET chunks=chunks+1, rows_copied=rows_copied+%s, last_key=%s, "
                    "done=%s WHERE channel=%s AND db=%s AND tbl=%s")
        last = decode_key(last_key) if last_key else None
        if total:
            self.log.info("table resumed", table=f"{db}.{tbl}", chunks_done=chunks, rows_done=total)
        if not pk:
            # one chunk: streamed from the source, written in one target transaction
            import pymysql.cursors
            n = 0
            with src.cursor(pymysql.cursors.SSCursor) as c:
                c.execute(f"SELECT {sel} FROM {name}")
                while True:
                    rows = c.fetchmany(1000)
                    if not rows:
                        break
                    n += self._insert(ins, rows, len(cols), numeric, masks)
            t.query(progress, (n, None, 1, cfg.channel, db, tbl))
            t.conn.commit()
            self.log.info("table copied", table=f"{db}.{tbl}", target=f"{tdb}.{tbl}", rows=n, chunks=1)
            return
        while True:
            where = f" WHERE {after_key(pk, pk_numeric, last)}" if last is not None else ""
            order = ",".join(quote_name(c) for c in pk)
            rows = _q(src, f"SELECT {sel} FROM {name}{where} ORDER BY {order} LIMIT {int(self.chunk_size)}")
            n = self._insert(ins, rows, len(cols), numeric, masks)
            total += n
            chunks += 1
            final = len(rows) < self.chunk_size
            if rows:
                last = [rows[-1][i] for i in keyidx]
            t.query(progress, (n, encode_key(last) if last is not None else None, int(final),
                               cfg.channel, db, tbl))
            t.conn.commit()
            if final:
                break
        self.log.info("table copied", table=f"{db}.{tbl}", target=f"{tdb}.{tbl}", rows=total, chunks=chunks)

    def _insert(self, ins: str, rows: list, ncols: int, numeric: list, masks: list) -> int:
        """INSERT rows (in the open target transaction), about 1 MB per statement."""
        batch: list[str] = []
        size = 0
        n = 0
        for row in rows:
            vals = []
            for i in range(ncols):
                v = row[i]
                if masks[i] is not None:
                    vals.append(literal(mask_value(masks[i], v)))
                else:
                    vals.append(typed_literal(v, numeric[i]))
            text = "(" + ",".join(vals) + ")"
            batch.append(text)
            size += len(text) + 1
            if size >= INSERT_BYTES:
                n += self._send(ins, batch)
                batch, size = [], 0
        if batch:
            n += self._send(ins, batch)
        return n

    def _send(self, ins: str, batch: list[str]) -> int:
        with self.t.conn.cursor() as c:
            c.execute(ins + ",".join(batch))
            if c.rowcount != len(batch):
                raise Fatal(f"target: {c.rowcount} rows inserted, {len(batch)} sent")
        return len(batch)


def snapshot(cfg, log, chunk_size: int = 10000, restart: bool = False) -> int:
    return Snapshot(cfg, log, chunk_size=chunk_size, restart=restart).run()
