"""The replication loop: source binlog (python-mysql-replication) -> target transactions.

State, and where it lives:
- `committed`: the GTID position committed on the target in `<schema>.checkpoint` (the truth).
- `state`: `committed` plus the source transactions applied in the open target transaction.
- `cur`: the source transaction being read (from its GTID event to its XID / COMMIT / DDL).
A group of complete source transactions is committed together with the checkpoint row. Every
GTID at or below `state` is skipped (the library replays after its own reconnect). Any lost
connection rolls the open target transaction back and restarts the reader from `committed`.
"""
from __future__ import annotations

import random
import re
import signal
import sys
import time
from dataclasses import dataclass

from . import gtid as G
from .filters import _CREATE_TABLE as _CREATE_TABLE_RE
from .filters import (blank_leading_comments, ddl_refs, is_skipped_statement, is_trigger_statement,
                      rewrite_text)
from .target import (AUTH_ERRORS, DDL_EXISTS_ERRORS, Failure, Fatal, Reconnect, Stmt, Target, error_code,
                     reconnect_error)
from .values import ABSENT, column_converters, convert_fast, literal, mask_value, quote_name

COMPRESSED_EVENTS = frozenset(range(165, 172))
HEARTBEAT_V2 = 41  # MySQL 8.0.26+
MYSQL_UNDECODABLE = {40: "compressed transaction payload (binlog_transaction_compression=ON)",
                     42: "tagged GTID (MySQL 8.4+)"}
_GTID_NEXT = re.compile(r"GTID_NEXT\s*=\s*'([^']+)'", re.I)
FL_STANDALONE = 1
OPTION_NO_FOREIGN_KEY_CHECKS = 1 << 26
OPTION_RELAXED_UNIQUE_CHECKS = 1 << 27
INSERT_CHUNK = 1000


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@dataclass
class Txn:
    gtid: str
    domain: int
    server_id: int
    seq: int
    standalone: bool
    ts: int
    skip: bool = False
    has_rows: bool = False


class TableInfo:
    """How rows of one source table (as one TABLE_MAP describes it) are written on the target."""

    def __init__(self, db, table, tdb, names, convs, pk, drop, masks):
        self.db, self.table, self.tdb = db, table, tdb
        self.names = names
        self.convs = convs
        self.conv_items = [(n, c) for n, c in zip(names, convs) if c is not None]
        self.write_cols = [n for n in names if n not in drop]
        self.qcols = ",".join(quote_name(c) for c in self.write_cols)
        self.pk = pk                  # list of PK column names ([] = none)
        self.drop = drop              # columns not written (generated, or missing with policy ignore)
        self.masks = masks            # {name: kind}
        self.qname = f"{quote_name(tdb)}.{quote_name(table)}"


class Applier:
    def __init__(self, cfg, log, dryrun=False, debug=False, stop_at_end=False, progress=None):
        self.cfg = cfg
        self.log = log
        self.dryrun = dryrun
        self.debug = debug
        self.stop_at_end = stop_at_end
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.target = Target(cfg.replica, cfg.checkpoint_schema, cfg.channel, log, dryrun=dryrun)
        self.committed: dict = {}
        self.state: dict = {}
        self.ddl_pending: str | None = None
        self.source_server_id = None
        self.source_uuid = None
        self.flavor = None  # the source's: "mariadb" or "mysql" (set by preflight)
        self.stream_connects = 0
        self.reader = None
        self.counts = {"events": 0, "rows": 0, "txns": 0, "skipped_dup_gtids": 0, "commits": 0}
        self.error_counts: dict = {}
        self.last_event_ts = None
        self.last_gtid = ""
        self._tables: dict = {}
        self._table_ok: dict = {}
        self._partial = False
        self.pipelined = (not dryrun) and all(v == "stop" for v in cfg.errors.values())
        self._pool = None
        self._inflight = None
        self._connected_once = False

    # -- entry point ---------------------------------------------------------------------------
    def run(self) -> int:
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def on_signal(signum, _frame):
            raise Interrupted(signum)

        for s in old:
            signal.signal(s, on_signal)
        attempts = 0
        try:
            while True:
                commits_before = self.counts["commits"]
                try:
                    self.session()
                    self.log.info("caught up, stopping", gtid=G.format(self.committed), **self.counts)
                    return 0
                except Reconnect as e:
                    self.cleanup()
                    if e.code in AUTH_ERRORS and not self._connected_once:
                        self.log.error(f"login refused, check the configuration: {e}")
                        return 1
                    if self.counts["commits"] != commits_before:
                        attempts = 0
                    attempts += 1
                    limit = self.cfg.reconnect_max_attempts
                    if limit and attempts > limit:
                        self.log.error("giving up after reconnect attempts", attempts=attempts - 1, error=e)
                        return 1
                    delay = min(self.cfg.reconnect_backoff_max, 0.25 * (2 ** min(attempts - 1, 10)))
                    delay *= random.uniform(0.5, 1.0)
                    self.log.warn("connection lost, resuming from the checkpoint", error=e, attempt=attempts,
                                  retry_in=f"{delay:.2f}s", gtid=G.format(self.committed))
                    time.sleep(delay)
        except Fatal as e:
            self.cleanup()
            self.log.error(str(e))
            return 1
        except Interrupted as e:
            self.cleanup(interrupted=True)
            self.log.info("interrupted, open transaction rolled back", gtid=G.format(self.committed))
            return 130 if e.signum == signal.SIGINT else 143
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def cleanup(self, interrupted: bool = False) -> None:
        # Masks SIGINT/SIGTERM while tearing down, so a second signal does not interrupt it.
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self._inflight is not None:
                fut, state_after = self._inflight
                self._inflight = None
                if interrupted:
                    # a batch blocked on the target (a lock, a lagging server) must not hold the shutdown
                    # until it goes away: kill its connection, the server rolls it back
                    from concurrent.futures import TimeoutError as FutTimeout
                    try:
                        fut.result(timeout=2.0)
                    except FutTimeout:
                        self.log.warn("target still busy with the last batch; killing its connection")
                        self.target.kill_running()
                    except Exception:
                        pass
                try:
                    if not fut.result() and state_after is not None:
                        self.committed = state_after
                except Exception:
                    pass
            if self.reader is not None:
                try:
                    self.reader.close()
                except Exception:
                    pass
                self.reader = None
            self.target.close()
            self.state = dict(self.committed)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    # -- one connected session -----------------------------------------------------------------
    def _source_conn(self):
        import pymysql
        try:
            return pymysql.connect(**self.cfg.source.pymysql_kwargs(), autocommit=True)
        except pymysql.err.OperationalError as e:
            raise reconnect_error(f"source {self.cfg.source.dsn()}: {e.args[-1]}", e) from None

    def preflight(self, src) -> None:
        import pymysql
        with src.cursor() as c:
            c.execute("SELECT @@version, @@server_id, @@hostname, @@port")
            version, sid, host, port = c.fetchone()
            self.flavor = "mariadb" if "mariadb" in str(version).lower() else "mysql"
            self.source_server_id = int(sid)
            self.source_uuid = f"{host}:{port}"
            if self.flavor == "mysql":
                c.execute("SELECT @@global.gtid_mode, @@server_uuid")
                gtid_mode, self.source_uuid = c.fetchone()
                if str(gtid_mode).upper() != "ON":
                    raise Fatal(f"source is MySQL {version} with gtid_mode={gtid_mode}: binrpt positions by GTID "
                                "and needs gtid_mode=ON (and enforce_gtid_consistency=ON) on a MySQL source")
                for var, bad, why in (
                        ("binlog_transaction_compression", ("1", "ON"),
                         "compressed transaction payloads cannot be decoded (they would be lost)"),
                        ("binlog_row_value_options", ("PARTIAL_JSON",),
                         "partial JSON updates log only the changed paths, not the values")):
                    try:
                        c.execute(f"SELECT @@global.{var}")
                        val = str(c.fetchone()[0]).upper()
                    except pymysql.err.MySQLError:
                        continue
                    if val in bad:
                        raise Fatal(f"source: {var}={val}; {why}, so binrpt refuses to start")
            c.execute("SELECT @@global.binlog_format, @@global.binlog_row_image, @@global.binlog_row_metadata, "
                      "@@global.log_bin")
            fmt, image, meta, log_bin = c.fetchone()
            if str(log_bin) not in ("1", "ON"):
                raise Fatal("source: the binary log is off (log_bin)")
            if str(meta).upper() != "FULL":
                raise Fatal(f"source: binlog_row_metadata={meta}; binrpt needs FULL to map columns by name "
                            "(SET GLOBAL binlog_row_metadata=FULL) and refuses to guess by position")
            if str(fmt).upper() != "ROW":
                self.log.warn("source binlog_format is not ROW: statement-logged DML is not replicated",
                              binlog_format=fmt)
            if str(image).upper() != "FULL":
                self.log.warn("source binlog_row_image is not FULL: no-primary-key tables cannot be matched",
                              binlog_row_image=image)
            try:
                c.execute("SELECT @@global.log_bin_compress")
                if str(c.fetchone()[0]) in ("1", "ON"):
                    raise Fatal("source: log_bin_compress=ON; compressed events cannot be decoded "
                                "(they would be lost), so binrpt refuses to start")
            except pymysql.err.MySQLError:
                pass
            for show in (("SHOW REPLICAS", "SHOW SLAVE HOSTS") if self.flavor == "mysql" else ("SHOW SLAVE HOSTS",)):
                try:
                    c.execute(show)
                except pymysql.err.MySQLError:
                    continue
                for row in c.fetchall():
                    if int(row[0]) == self.cfg.server_id:
                        raise Fatal(f"source: server_id {self.cfg.server_id} is already used by a replica "
                                    f"({row[1]}:{row[2]}); choose a unique replicate_server_id")
                break
        if self.flavor == "mysql" and not self.target.is_mariadb:
            r = self.target.query("SELECT @@server_uuid")
            if r and str(r[0][0]) == self.source_uuid:
                raise Fatal(f"the target is the source server itself (server_uuid {self.source_uuid}); "
                            "refusing to replicate into it")
        # Is the target the source itself? A lock taken on one is visible on the other.
        probe = f"binrpt-probe-{random.getrandbits(64):016x}"
        self.target.query("SELECT GET_LOCK(%s, 0)", (probe,))
        try:
            with src.cursor() as c:
                c.execute("SELECT IS_USED_LOCK(%s)", (probe,))
                if c.fetchone()[0] is not None:
                    raise Fatal("the target is the source server itself; refusing to replicate into it")
        finally:
            self.target.query("SELECT RELEASE_LOCK(%s)", (probe,))

    def initial_state(self, src) -> str:
        sp = self.cfg.start_position
        with src.cursor() as c:
            if sp == "now" and self.cfg.binlog_buffer_num > 0:
                c.execute("SHOW BINARY LOGS")
                logs = c.fetchall()
                n = self.cfg.binlog_buffer_num
                if n >= len(logs):
                    self.log.warn("binlog_buffer_num is not less than the number of binlogs: starting at "
                                  "the oldest", binlog_buffer_num=n, binlogs=len(logs))
                    file, pos = logs[0][0], 4
                else:
                    file, pos = logs[-(n + 1)][0], int(logs[-(n + 1)][1])
                sp = f"{file}:{pos}"
            if sp == "now":
                c.execute(self._source_pos_sql())
                return c.fetchone()[0] or ""
            if sp == "beginning":
                if self.flavor == "mysql":
                    # everything the source still has: its purged set counts as done
                    c.execute("SELECT @@global.gtid_purged")
                    return (c.fetchone()[0] or "").replace("\n", "")
                return ""
            if self.flavor == "mysql" and G.is_mysql_text(sp) and G.looks_like_uuid(sp.split(":", 1)[0]):
                try:
                    G.parse_mysql(sp)
                except G.GtidError as e:
                    raise Fatal(f"start position {sp!r}: {e}") from None
                return sp
            if ":" in sp and self.flavor == "mysql":
                file, pos = sp.rsplit(":", 1)
                return self._mysql_gtid_at(c, file, int(pos))
            if ":" in sp:
                file, pos = sp.rsplit(":", 1)
                c.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, int(pos)))
                r = c.fetchone()[0]
                if r is None:
                    raise Fatal(f"start position {sp}: not a valid binlog file and position on the source")
                return r
            return sp

    def _source_pos_sql(self) -> str:
        return ("SELECT @@global.gtid_executed" if self.flavor == "mysql" else "SELECT @@global.gtid_binlog_pos")

    def _mysql_gtid_at(self, c, file: str, pos: int) -> str:
        """MySQL has no BINLOG_GTID_POS(): the GTID set executed at FILE:POS is the file's
        Previous_gtids plus every transaction that ended at or before POS in that file."""
        import pymysql
        try:
            c.execute(f"SHOW BINLOG EVENTS IN {literal(file)}")
            events = c.fetchall()
        except pymysql.err.MySQLError as e:
            raise Fatal(f"start position {file}:{pos}: {e.args[-1]}") from None
        state: dict = {}
        open_gtid = None
        for _log, start, etype, _sid, end, info in events:
            if etype == "Previous_gtids":
                state = G.parse(info.replace("\n", "") or "")
            elif etype == "Gtid":
                m = _GTID_NEXT.search(info or "")
                open_gtid = m.group(1) if m else None
            elif open_gtid and int(end) <= pos and (etype == "Xid" or (etype == "Query" and info.strip().upper()
                                                                       not in ("BEGIN",))):
                uuid, n = open_gtid.rsplit(":", 1)
                one = G.parse(f"{uuid}:{n}")
                key = next(iter(one))
                G.advance(state, key, 0, int(n))
                open_gtid = None
            if int(start) >= pos:
                break
        return G.format(state)

    def session(self) -> None:
        src = self._source_conn()
        try:
            self.target.connect()
            self.preflight(src)
            self._connected_once = True
            if not self.dryrun:
                self.target.ensure_schema()
            cp = self.target.read_checkpoint()
            if cp is not None:
                try:
                    self.committed = G.parse(cp["gtid_state"])
                except G.GtidError as e:
                    raise Fatal(f"checkpoint of channel {self.cfg.channel!r} is corrupt: {e}") from None
                self.ddl_pending = cp["ddl_pending"]
                if cp["source_server_id"] not in (None, self.source_server_id):
                    self.log.warn("the source's server_id changed since the checkpoint (failover?): resuming by GTID",
                                  checkpoint_server_id=cp["source_server_id"], server_id=self.source_server_id)
                start = cp["gtid_state"]
            else:
                start = self.initial_state(src)
                self.committed = G.parse(start)
                self.ddl_pending = None
            with src.cursor() as c:
                c.execute(self._source_pos_sql())
                source_pos = G.parse(c.fetchone()[0] or "")
                purged = {}
                if self.flavor == "mysql":
                    c.execute("SELECT @@global.gtid_purged")
                    purged = G.parse(c.fetchone()[0] or "")
            if self.flavor == "mysql":
                if cp is not None and cp["source_uuid"] not in (None, self.source_uuid):
                    self.log.warn("the source's server_uuid changed since the checkpoint (failover?): resuming by "
                                  "GTID", checkpoint_uuid=cp["source_uuid"], server_uuid=self.source_uuid)
                ahead = G.format(G.subtract(self.committed, source_pos))
                lost = G.format(G.subtract(purged, self.committed))
                if lost:
                    raise Fatal(f"source cannot send the binlog from {G.format(self.committed) or 'the start'}: it "
                                f"has purged binlogs holding transactions not applied here ({lost}; gtid_purged "
                                f"{G.format(purged)})")
                if G.has_tags(self.committed) or G.has_tags(source_pos):
                    raise Fatal("source uses tagged GTIDs (uuid:tag:n, MySQL 8.4+), which python-mysql-replication "
                                "can neither request nor decode; binrpt refuses rather than lose them")
            else:
                ahead = ",".join(f"{d}-{s}-{n}" for d, (s, n) in self.committed.items()
                                 if d in source_pos and n > source_pos[d][1])
            if ahead:
                raise Fatal(f"source cannot send the binlog from {G.format(self.committed)}: position {ahead} "
                            f"is ahead of the source's {G.format(source_pos)} (a restored or reset source, or the "
                            "wrong server?)")
            if cp is None:
                # recorded only once the position is known to be servable (a refused start records nothing)
                if not self.dryrun:
                    self.target.commit_with_checkpoint(self.target.checkpoint_sql(
                        start, "", 0, self.source_server_id, self.source_uuid, None, None))
                self.log.info("first start: position recorded", gtid=start, channel=self.cfg.channel)
            self.end_pos = source_pos if self.stop_at_end else None
        finally:
            src.close()
        self.state = dict(self.committed)
        if self.end_pos is not None and G.covers(self.state, self.end_pos):
            return
        self.log.info("replicating", source=self.cfg.source.dsn(), target=self.cfg.replica.dsn(),
                      gtid=G.format(self.committed), dryrun=self.dryrun)
        self.stream(G.format(self.committed))

    def _make_reader(self, start: str):
        import pymysql
        from pymysqlreplication import BinLogStreamReader

        from .libfix import install
        install()
        # the library's own multi-line warnings (its reconnects) would break our one-record-per-line
        # logs; binrpt logs each reconnect itself
        import logging
        lib_log = logging.getLogger("pymysqlreplication")
        if not lib_log.handlers:
            lib_log.addHandler(logging.NullHandler())
        lib_log.propagate = False

        settings = dict(self.cfg.source.pymysql_kwargs())
        settings["read_timeout"] = self.cfg.read_timeout
        settings["write_timeout"] = self.cfg.read_timeout
        if "password" in settings:
            settings["passwd"] = settings.pop("password")

        def wrapper(**kw):
            self.stream_connects += 1
            return pymysql.connect(**kw)

        if self.flavor == "mysql":
            pos = {"auto_position": start}
            if not start:
                # the library takes an empty GTID set for "no auto_position" (and would start at the
                # current end): from the oldest binlog by file/position instead. The first commit sets
                # auto_position for the library's own reconnects.
                import pymysql as _p
                c = _p.connect(**self.cfg.source.pymysql_kwargs())
                try:
                    with c.cursor() as cur:
                        cur.execute("SHOW BINARY LOGS")
                        first = cur.fetchone()
                finally:
                    c.close()
                if first is None:
                    raise Fatal("source: SHOW BINARY LOGS is empty (binary log off?)")
                pos = {"auto_position": None, "log_file": first[0], "log_pos": 4}
            return BinLogStreamReader(
                connection_settings=settings, server_id=self.cfg.server_id, is_mariadb=False,
                blocking=True, resume_stream=True, slave_heartbeat=self.cfg.heartbeat,
                filter_non_implemented_events=False, pymysql_wrapper=wrapper, enable_logging=False, **pos)
        return BinLogStreamReader(
            connection_settings=settings, server_id=self.cfg.server_id, is_mariadb=True,
            auto_position=start, blocking=True, resume_stream=True,
            slave_heartbeat=self.cfg.heartbeat, filter_non_implemented_events=False,
            pymysql_wrapper=wrapper, enable_logging=False)

    # -- the event loop ------------------------------------------------------------------------
    def stream(self, start: str) -> None:
        import pymysql
        from pymysqlreplication.event import (GtidEvent, HeartbeatLogEvent, MariadbGtidEvent, NotImplementedEvent,
                                              QueryEvent,
                                              RotateEvent, XidEvent)
        from pymysqlreplication.row_event import DeleteRowsEvent, TableMapEvent, UpdateRowsEvent, WriteRowsEvent

        self.reader = reader = self._make_reader(start)
        self.pending: list[Stmt] = []
        self.pending_size = 0
        self.group_txns = 0
        self.group_rows = 0
        self.group_start = None
        self.group_dirty = False
        self.file = ""
        self.pos = 0
        cur: Txn | None = None
        connects_seen = None
        next_summary = time.monotonic() + self.cfg.summary_interval
        next_progress = time.monotonic() + 1.0
        skip_gtid = self.cfg.gtid_skip
        while True:
            try:
                ev = reader.fetchone()
            except pymysql.err.OperationalError as e:
                code = error_code(e)
                if code == 4052 or "server_id" in str(e.args[-1]).lower() and code in (1236, 4052):
                    raise Fatal(f"source: another replica connected with server_id {self.cfg.server_id}: "
                                f"{e.args[-1]}") from None
                if code == 1236:
                    raise Fatal(f"source cannot send the binlog from {G.format(self.committed) or 'the start'}: "
                                f"{e.args[-1]} (purged binlog, or a GTID the source does not have)") from None
                raise Reconnect(f"source: {e.args[-1]}") from None
            except (OSError, pymysql.err.InterfaceError, pymysql.err.InternalError) as e:
                raise Reconnect(f"source: {e}") from None
            if ev is None:
                raise Reconnect("source stream ended")
            if connects_seen is None:
                connects_seen = self.stream_connects
            elif self.stream_connects != connects_seen:
                # python-mysql-replication reconnected by itself and re-sends from its start position
                connects_seen = self.stream_connects
                self.log.warn("source stream reconnected by the library; replayed GTIDs will be skipped",
                              gtid=G.format(self.state))
                if skip_gtid and cur is not None:
                    raise Reconnect("source stream reconnected inside a transaction")
            self.counts["events"] += 1
            self.file = reader.log_file or self.file
            self.pos = reader.log_pos or self.pos
            t = type(ev)
            if t is MariadbGtidEvent:
                if cur is not None and not cur.skip:
                    if skip_gtid:
                        raise Reconnect(f"transaction {cur.gtid} ended without a commit")
                d, s, n = ev.domain_id, ev.server_id, ev.gtid_seq_no
                cur = Txn(ev.gtid, d, s, n, bool(ev.flags & FL_STANDALONE), ev.timestamp)
                if skip_gtid and G.is_applied(self.state, d, n):
                    cur.skip = True
                    self.counts["skipped_dup_gtids"] += 1
                    if self.debug:
                        self.log.debug("already applied, skipped", gtid=ev.gtid)
            elif t is GtidEvent:
                if cur is not None and not cur.skip:
                    if skip_gtid:
                        raise Reconnect(f"transaction {cur.gtid} ended without a commit")
                g = ev.gtid
                uuid, n = g.rsplit(":", 1)
                key, n = (uuid, ""), int(n)
                # standalone (a DDL) until a BEGIN says otherwise: MySQL marks DML transactions with BEGIN
                cur = Txn(g, key, 0, n, True, ev.timestamp)
                if skip_gtid and G.is_applied(self.state, key, n):
                    cur.skip = True
                    self.counts["skipped_dup_gtids"] += 1
                    if self.debug:
                        self.log.debug("already applied, skipped", gtid=g)
            elif t is WriteRowsEvent or t is UpdateRowsEvent or t is DeleteRowsEvent:
                if cur is not None and not cur.skip:
                    self.rows_event(ev, cur, t is WriteRowsEvent, t is UpdateRowsEvent)
            elif t is XidEvent:
                if cur is not None:
                    self.end_txn(cur)
                    cur = None
            elif t is QueryEvent:
                if cur is not None:
                    cur = self.query(ev, cur)
            elif t is TableMapEvent:
                om = getattr(ev, "optional_metadata", None)
                if om is not None and not om.column_name_list and self.table_ok(ev.schema, ev.table):
                    raise Fatal(f"{ev.schema}.{ev.table}: this binlog event carries no column names (it was written "
                                "with binlog_row_metadata other than FULL); refusing to map columns by position")
            elif t is HeartbeatLogEvent:
                if cur is None:
                    self.commit_group()
            elif t is NotImplementedEvent:
                et = getattr(ev, "event_type", 0)
                if et == HEARTBEAT_V2:
                    if cur is None:
                        self.commit_group()
                elif et in COMPRESSED_EVENTS:
                    raise Fatal(f"source sent a compressed binlog event (type {ev.event_type}); "
                                "binrpt cannot decode it and will not skip it: set log_bin_compress=OFF")
                elif et in MYSQL_UNDECODABLE:
                    raise Fatal(f"source sent a {MYSQL_UNDECODABLE[et]} (event type {et}), which "
                                "python-mysql-replication cannot decode; binrpt will not skip it")
            if cur is None and self.end_pos is not None and G.covers(self.state, self.end_pos):
                self.commit_group()  # --stop-at-end: everything the source had at start is applied
                self._wait()
                return
            now = time.monotonic()
            if self.group_start is not None and cur is None and now - self.group_start >= self.cfg.group_max_seconds:
                self.commit_group()
            if now >= next_summary:
                self.summary()
                next_summary = now + self.cfg.summary_interval
            if self.progress and now >= next_progress:
                next_progress = now + 1.0
                lag = int(time.time() - self.last_event_ts) if self.last_event_ts else 0
                sys.stderr.write(f"\rbinrpt: {self.counts['txns']} txns {self.counts['rows']} rows "
                                 f"lag {lag}s {self.last_gtid}   ")
                sys.stderr.flush()

    def query(self, ev, cur: Txn) -> Txn | None:
        """A QueryEvent inside a source transaction; returns the transaction still open, or None."""
        q = ev.query.strip()
        qu = q.upper()
        if qu == "BEGIN":
            cur.standalone = False
            return cur
        if qu in ("COMMIT", "ROLLBACK") or qu.startswith("XA "):
            if qu.startswith("XA ") and not qu.startswith("XA COMMIT") and not cur.standalone:
                return cur
            self.end_txn(cur)
            return None
        if cur.skip:
            return None if cur.standalone else cur
        if cur.standalone:
            self.query_event(ev, q, cur)
            return None
        self.statement_in_txn(ev, q, cur)
        return cur

    def summary(self) -> None:
        lag = round(time.time() - self.last_event_ts, 1) if self.last_event_ts else 0
        self.log.info("summary", lag_s=lag, last_gtid=self.last_gtid, committed=G.format(self.committed),
                      **self.counts, **{f"errors_{k}": v for k, v in self.error_counts.items()})

    # -- transactions and groups ---------------------------------------------------------------
    def end_txn(self, cur: Txn) -> None:
        if cur.skip:
            return
        G.advance(self.state, cur.domain, cur.server_id, cur.seq)
        self.last_event_ts = cur.ts
        self.last_gtid = cur.gtid
        self.counts["txns"] += 1
        self.group_txns += 1
        self.group_dirty = True
        if self.group_start is None:
            self.group_start = time.monotonic()
        if self.group_txns >= self.cfg.group_max_txns or self.group_rows >= self.cfg.group_max_rows:
            self.commit_group()

    def flush(self) -> None:
        if not self.pending:
            return
        stmts, self.pending, self.pending_size = self.pending, [], 0
        if self.dryrun:
            for s in stmts:
                self.log.info(f"dry-run: {s.sql}")
            return
        if self.debug:
            for s in stmts:
                self.log.debug("exec", sql=s.sql)
        if self.pipelined:
            self._submit(stmts, None, None)
            return
        failures = self.target.run(stmts)
        if failures:
            self.handle_failures(failures)

    # Pipelining: with every error policy at `stop`, the statements of a group (and its commit with
    # the checkpoint) run on the target in a worker thread while the next events are decoded. One
    # batch at most is in flight; `committed` moves only when its commit has returned.
    def _submit(self, stmts, checkpoint_sql, state_after) -> None:
        self._wait()
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="binrpt-apply")
        target = self.target

        def work():
            failures = target.run(stmts) if stmts else []
            if not failures and checkpoint_sql is not None:
                target.commit_with_checkpoint(checkpoint_sql)
            return failures

        self._inflight = (self._pool.submit(work), state_after)

    def _wait(self) -> None:
        if self._inflight is None:
            return
        fut, state_after = self._inflight
        self._inflight = None
        failures = fut.result()
        if failures:
            self.handle_failures(failures)  # stop policies: raises
        if state_after is not None:
            self._committed_to(state_after)

    def _committed_to(self, state_after) -> None:
        self.committed = state_after
        self.counts["commits"] += 1
        if self.cfg.gtid_skip and self.reader is not None:
            # so that a reconnect of the library resumes here instead of at the session's start
            self.reader.auto_position = G.format(self.committed)

    def commit_group(self) -> None:
        if not self.group_dirty:
            return
        cp = None if self.dryrun else self.target.checkpoint_sql(
            G.format(self.state), self.file, self.pos, self.source_server_id, self.source_uuid,
            self.last_event_ts, None)
        if self.pipelined:
            stmts, self.pending, self.pending_size = self.pending, [], 0
            if self.debug:
                for s in stmts:
                    self.log.debug("exec", sql=s.sql)
            self._submit(stmts, cp, dict(self.state))
        else:
            self.flush()
            if cp is not None:
                self.target.commit_with_checkpoint(cp)
            self._committed_to(dict(self.state))
        self.group_txns = self.group_rows = 0
        self.group_start = None
        self.group_dirty = False

    # -- errors --------------------------------------------------------------------------------
    def handle_failures(self, failures: list[Failure]) -> None:
        extra: list[Stmt] = []
        for f in failures:
            if f.stmt.kind == "dead_letter":
                raise Fatal(f"cannot write the dead-letter row: {f.message}")
            if f.stmt.singles is not None and f.cls != "row_not_found" and self.cfg.errors[f.cls] != "stop":
                # a multi-row statement failed as a whole (and was rolled back): retry row by row
                sub = self.target.run(f.stmt.singles())
                if sub:
                    extra.extend(self._policy(s) for s in sub)
                continue
            extra.append(self._policy(f))
        extra = [s for s in extra if s is not None]
        if extra:
            more = self.target.run(extra)
            if more:
                raise Fatal(f"cannot write the dead-letter rows: {more[0].message}")

    def _policy(self, f: Failure) -> Stmt | None:
        cls = f.cls if f.cls in self.cfg.errors else "other"
        policy = self.cfg.errors[cls]
        n = self.error_counts.get(cls, 0) + 1
        self.error_counts[cls] = n
        gtids = sorted({g for g, _ in f.stmt.rows}) or ["?"]
        where = f"{f.stmt.db}.{f.stmt.table}" if f.stmt.table else (f.stmt.db or "(no default database)")
        if policy == "stop":
            raise Fatal(f"{cls} ({f.code}) in {where} at GTID {','.join(gtids)}: {f.message}: {f.stmt.sql[:2000]}")
        if policy == "skip" or policy == "ignore":
            if n == 1 or self.debug:
                self.log.warn(f"{cls}: skipped (policy {policy})", table=where, gtid=",".join(gtids), code=f.code,
                              error=f.message, sql=f.stmt.sql[:2000], count=n)
            return None
        # dead_letter
        if n == 1 or self.debug:
            self.log.warn(f"{cls}: written to the dead-letter table", table=where, gtid=",".join(gtids),
                          code=f.code, error=f.message, count=n)
        return self.target.dead_letter_stmt(",".join(gtids)[:64], f, [im for _, im in f.stmt.rows])

    # -- rows ----------------------------------------------------------------------------------
    def table_ok(self, db: str, table: str) -> bool:
        key = (db, table)
        r = self._table_ok.get(key)
        if r is None:
            r = self._table_ok[key] = self.cfg.filter.table_ok(db, table)
        return r

    def table_info(self, ev, cur: Txn) -> TableInfo | None:
        cols = ev.columns
        names = tuple(c.name for c in cols)
        key = (ev.schema, ev.table, names)
        ti = self._tables.get(key)
        if ti is not None:
            return ti
        if any(n is None for n in names):
            raise Fatal(f"{ev.schema}.{ev.table}: the binlog has no column names (binlog_row_metadata must be FULL "
                        "when the event was written); refusing to map columns by position")
        tdb = self.cfg.rewrite_db.get(ev.schema, ev.schema)
        if (tdb, ev.table) not in self.target._columns:
            self._wait()  # the target connection is the worker's while a batch is in flight
        tcols = self.target.columns(tdb, ev.table)
        if tcols is None and self.dryrun:
            tcols = {n: False for n in names}  # may have been created earlier in this dry run
        if tcols is None:
            raise _Unmappable("missing_table", 1146, f"table {tdb}.{ev.table} does not exist on the target",
                              tdb, ev.table)
        missing = [n for n in names if n not in tcols]
        drop = {n for n in names if tcols.get(n)}
        if missing:
            policy = self.cfg.errors["missing_column"]
            if policy == "ignore":
                self.log.warn("columns missing on the target are not written", table=f"{tdb}.{ev.table}",
                              columns=",".join(missing))
                drop |= set(missing)
            else:
                raise _Unmappable("missing_column", 1054,
                                  f"columns missing on the target {tdb}.{ev.table}: {', '.join(missing)}",
                                  tdb, ev.table)
        pk = [c.name for c in cols if getattr(c, "is_primary", False)]
        masks = {n: k for (d, t, n), k in self.cfg.mask.items() if d == ev.schema and t == ev.table}
        ti = TableInfo(ev.schema, ev.table, tdb, list(names), column_converters(cols), pk, drop, masks)
        self._tables[key] = ti
        return ti

    def _image(self, ti: TableInfo, values, none_sources) -> dict:
        if none_sources and not self._partial and "cols bitmap" in none_sources.values():
            self._partial = True  # images without every column (binlog_row_image=MINIMAL/NOBLOB) from now on
        im = convert_fast(values, none_sources, ti.conv_items)
        if ti.masks:
            for n, kind in ti.masks.items():
                if n in im:
                    im[n] = mask_value(kind, im[n])
        return im

    def _add(self, st: Stmt) -> None:
        self.pending.append(st)
        self.pending_size += len(st.sql)
        if self.pending_size >= 2 * 1024 * 1024:
            self.flush()

    def rows_event(self, ev, cur: Txn, is_insert: bool, is_update: bool) -> None:
        cur.has_rows = True
        if not self.table_ok(ev.schema, ev.table):
            return
        try:
            ti = self.table_info(ev, cur)
        except _Unmappable as u:
            raw = [(cur.gtid, r.get("values") or {"before": r.get("before_values"), "after": r.get("after_values")})
                   for r in ev.rows]
            st = self._policy(Failure(Stmt(f"-- {len(raw)} rows for {u.tdb}.{u.table}", 0, "rows", u.tdb, u.table,
                                           raw), u.cls, u.code, u.message))
            if st is not None:
                self._add(st)
            return
        rows = ev.rows
        n = len(rows)
        self.counts["rows"] += n
        self.group_rows += n
        g = cur.gtid
        if is_insert:
            images = [self._image(ti, r["values"], r.get("none_sources")) for r in rows]
            self._insert(ti, g, images)
        elif is_update:
            for r in rows:
                before = self._image(ti, r["before_values"], r.get("before_none_sources"))
                after = self._image(ti, r["after_values"], r.get("after_none_sources"))
                self._add(self._update_stmt(ti, g, before, after))
        else:
            images = [self._image(ti, r["values"], r.get("none_sources")) for r in rows]
            self._delete(ti, g, images)

    def _cols(self, ti: TableInfo, im: dict) -> list[str]:
        if not self._partial:
            return ti.write_cols
        drop = ti.drop
        return [n for n, v in im.items() if v is not ABSENT and n not in drop]

    def _insert(self, ti: TableInfo, g: str, images: list[dict]) -> None:
        last = self.pending[-1] if self.pending else None
        for im in images:
            cols = self._cols(ti, im)
            vals = "(" + ",".join([literal(im[c]) for c in cols]) + ")"
            if (last is not None and last.kind == "insert" and last.table == ti.table and last.db == ti.tdb
                    and (last._cols is cols or last._cols == cols) and last.expected < INSERT_CHUNK):
                last.sql += "," + vals
                last.expected += 1
                last.rows.append((g, im))
                self.pending_size += len(vals) + 1
                continue
            qcols = ti.qcols if cols is ti.write_cols else ",".join(quote_name(c) for c in cols)
            sql = f"INSERT INTO {ti.qname} ({qcols}) VALUES {vals}"
            st = Stmt(sql, 1, "insert", ti.tdb, ti.table, [(g, im)])
            st._cols = cols
            st.singles = self._insert_singles(ti, st)
            self._add(st)
            last = st

    def _insert_singles(self, ti: TableInfo, st: Stmt):
        def singles():
            out = []
            for g, im in st.rows:
                cols = self._cols(ti, im)
                sql = (f"INSERT INTO {ti.qname} (" + ",".join(quote_name(c) for c in cols) + ") VALUES (" +
                       ",".join(literal(im[c]) for c in cols) + ")")
                out.append(Stmt(sql, 1, "insert", ti.tdb, ti.table, [(g, im)]))
            return out
        return singles

    def _where(self, ti: TableInfo, im: dict) -> str:
        keys = ti.pk if ti.pk and all(im.get(k, ABSENT) is not ABSENT for k in ti.pk) else None
        if keys:
            return " AND ".join(f"{quote_name(k)}<=>{literal(im[k])}" for k in keys)
        return " AND ".join(f"{quote_name(k)}<=>{literal(v)}" for k, v in im.items()
                            if v is not ABSENT and k not in ti.drop)

    def _limit(self, ti: TableInfo) -> str:
        return "" if ti.pk else " LIMIT 1"

    def _update_stmt(self, ti: TableInfo, g: str, before: dict, after: dict) -> Stmt:
        sets = ",".join(f"{quote_name(c)}={literal(after[c])}" for c in self._cols(ti, after))
        sql = f"UPDATE {ti.qname} SET {sets} WHERE {self._where(ti, before)}{self._limit(ti)}"
        return Stmt(sql, 1, "update", ti.tdb, ti.table, [(g, {"before": before, "after": after})])

    def _delete(self, ti: TableInfo, g: str, images: list[dict]) -> None:
        if len(ti.pk) == 1:
            k = ti.pk[0]
            last = self.pending[-1] if self.pending else None
            for im in images:
                v = im.get(k, ABSENT)
                if v is ABSENT or v is None:
                    self._add(Stmt(f"DELETE FROM {ti.qname} WHERE {self._where(ti, im)} LIMIT 1", 1, "delete",
                                   ti.tdb, ti.table, [(g, im)]))
                    last = None
                    continue
                lit = literal(v)
                if (last is not None and last.kind == "delete_in" and last.table == ti.table and last.db == ti.tdb
                        and last.expected < INSERT_CHUNK):
                    last._vals.append(lit)
                    last.expected += 1
                    last.rows.append((g, im))
                    last.sql = f"DELETE FROM {ti.qname} WHERE {quote_name(k)} IN ({','.join(last._vals)})"
                    self.pending_size += len(lit) + 1
                    continue
                st = Stmt(f"DELETE FROM {ti.qname} WHERE {quote_name(k)} IN ({lit})", 1, "delete_in", ti.tdb,
                          ti.table, [(g, im)])
                st._vals = [lit]
                st.singles = self._delete_singles(ti, st)
                self._add(st)
                last = st
            return
        for im in images:
            self._add(Stmt(f"DELETE FROM {ti.qname} WHERE {self._where(ti, im)}{self._limit(ti)}", 1, "delete",
                           ti.tdb, ti.table, [(g, im)]))

    def _delete_singles(self, ti: TableInfo, st: Stmt):
        def singles():
            return [Stmt(f"DELETE FROM {ti.qname} WHERE {self._where(ti, im)}", 1, "delete", ti.tdb, ti.table,
                         [(g, im)]) for g, im in st.rows]
        return singles

    # -- statements: DDL -----------------------------------------------------------------------
    def _decide(self, db: str, text: str) -> tuple[bool | None, list]:
        """True: replicate; False: filtered out; None: mixed (some tables in, some out)."""
        refs = ddl_refs(text)
        if refs is None:
            return (bool(db) and self.cfg.filter.db_ok(db)), []
        oks = []
        for r in refs:
            rdb = r.db or db
            if not rdb:
                oks.append(False)
            elif r.table is None:
                oks.append(self.cfg.filter.db_ok(rdb))
            else:
                oks.append(self.cfg.filter.table_ok(rdb, r.table))
        if all(oks):
            return True, refs
        if not any(oks):
            return False, refs
        return None, refs

    def _session_settings(self, ev) -> list[str]:
        out = []
        cross = (self.flavor == "mysql") == bool(self.target.is_mariadb)  # MySQL -> MariaDB or back
        sm = getattr(ev, "sql_mode", None)
        if sm is not None:
            if cross:
                out.append(f"SET SESSION sql_mode={literal(sql_mode_names(int(sm), self.flavor, self.target.is_mariadb))}")
            else:
                out.append(f"SET SESSION sql_mode={int(sm)}")
        tz = getattr(ev, "time_zone", None)
        if tz:
            out.append(f"SET SESSION time_zone={literal(tz.decode('utf-8', 'replace'))}")
        cs = getattr(ev, "character_set_client", None)
        if cs:
            known = self.target.collation_ids() if cross else None
            for var, cid in (("character_set_client", cs), ("collation_connection", ev.collation_connection),
                             ("collation_server", ev.collation_server)):
                # a collation the target does not have (MySQL's utf8mb4_0900_ai_ci on MariaDB): the
                # apply session's utf8mb4 stays
                if known is None or int(cid) in known:
                    out.append(f"SET SESSION {var}={int(cid)}")
        f2 = getattr(ev, "flags2", None)
        if f2 is not None:
            out.append(f"SET SESSION foreign_key_checks={0 if f2 & OPTION_NO_FOREIGN_KEY_CHECKS else 1}")
            out.append(f"SET SESSION unique_checks={0 if f2 & OPTION_RELAXED_UNIQUE_CHECKS else 1}")
        return out

    def query_event(self, ev, q: str, cur: Txn) -> None:
        """A standalone statement (DDL): pending marker, run, checkpoint."""
        self.commit_group()
        self._wait()
        db = ev.schema.decode("utf-8", "replace") if isinstance(ev.schema, (bytes, bytearray)) else (ev.schema or "")
        if is_skipped_statement(q):
            # never the text: account statements carry passwords
            self.log.info("statement not replicated (account/maintenance)", gtid=cur.gtid,
                          statement=" ".join(q.split()[:2]).upper())
            self.end_txn(cur)
            return
        if is_trigger_statement(q):
            self.log.warn("trigger statement not replicated (the row events already carry its effects; on the "
                          "target it would fire again)", gtid=cur.gtid, db=db, sql=q[:200])
            self.end_txn(cur)
            return
        ok, refs = self._decide(db, q)
        if ok is False:
            if self.debug:
                self.log.debug("statement filtered out", gtid=cur.gtid, sql=q[:200])
            self.end_txn(cur)
            return
        tdb = self.cfg.rewrite_db.get(db, db)
        text = rewrite_text(q, refs, self.cfg.rewrite_db) if (refs and self.cfg.rewrite_db) else q
        if ok is None:
            f = Failure(Stmt(text, 0, "ddl", tdb, "", [(cur.gtid, {})]), "ddl", 0,
                        "statement touches both replicated and filtered-out tables")
            st = self._policy(f)
            if st is not None and not self.dryrun:
                self.target.run([st])
            self.end_txn(cur)
            self.commit_group()
            return
        if self.dryrun:
            self.log.info(f"dry-run: {text}", db=tdb, gtid=cur.gtid)
            self.end_txn(cur)
            return
        if self.debug:
            self.log.debug("exec ddl", db=tdb, sql=text, gtid=cur.gtid)
        self._ddl_under_marker(cur, ev, tdb, text, run_db=tdb)
        self.end_txn(cur)
        self.target.commit_with_checkpoint(self.target.checkpoint_sql(
            G.format(self.state), self.file, self.pos, self.source_server_id, self.source_uuid, self.last_event_ts,
            None))
        self.ddl_pending = None
        self.committed = dict(self.state)
        self.group_txns = self.group_rows = 0
        self.group_start = None
        self.group_dirty = False

    def statement_in_txn(self, ev, q: str, cur: Txn) -> None:
        """A statement logged inside a transaction (statement format): run it in the open transaction."""
        db = ev.schema.decode("utf-8", "replace") if isinstance(ev.schema, (bytes, bytearray)) else (ev.schema or "")
        if not cur.has_rows and _CREATE_TABLE_RE.match(blank_leading_comments(q)):
            self.ddl_in_txn(ev, q, cur, db)
            return
        if not (db and self.cfg.filter.db_ok(db)) or q.upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):
            return
        tdb = self.cfg.rewrite_db.get(db, db)
        self.log.warn("statement-format change inside a transaction, applied as is", gtid=cur.gtid, sql=q[:200])
        self._add(Stmt(f"USE {quote_name(tdb)}", None, "use", tdb, ""))
        self._add(Stmt(q, None, "statement", tdb, "", [(cur.gtid, {})]))


    def ddl_in_txn(self, ev, q: str, cur: Txn, db: str) -> None:
        """CREATE TABLE ... SELECT in row format: the CREATE is logged inside the transaction that carries
        the rows. It would commit the open target transaction implicitly, so: commit the group before it,
        run it under the pending marker (as a standalone DDL), and let the transaction's rows follow; the
        commit of this transaction (checkpoint included) clears the marker."""
        self.commit_group()
        self._wait()
        ok, refs = self._decide(db, q)
        if ok is False:
            return
        tdb = self.cfg.rewrite_db.get(db, db)
        text = rewrite_text(q, refs, self.cfg.rewrite_db) if (refs and self.cfg.rewrite_db) else q
        if ok is None:
            self._policy(Failure(Stmt(text, 0, "ddl", tdb, "", [(cur.gtid, {})]), "ddl", 0,
                                 "statement touches both replicated and filtered-out tables"))
            return
        if self.dryrun:
            self.log.info(f"dry-run: {text}", db=tdb, gtid=cur.gtid)
            return
        self._ddl_under_marker(cur, ev, tdb, text, run_db=tdb or None)

    def _ddl_under_marker(self, cur, ev, tdb, text, run_db) -> None:
        """Run a DDL between two checkpoint commits: the first records the GTID as pending, so a
        crash in between is recognised on restart and an "already exists"-type error tolerated for
        that GTID only; a DDL the server refused clears the marker (it did not take effect)."""
        recovering = self.ddl_pending == cur.gtid
        self.target.commit_with_checkpoint(self.target.checkpoint_sql(
            G.format(self.state), self.file, self.pos, self.source_server_id, self.source_uuid, self.last_event_ts,
            cur.gtid))
        self.ddl_pending = cur.gtid
        import pymysql
        try:
            self.target.run_ddl(run_db, text, self._session_settings(ev))
        except pymysql.MySQLError as e:
            code = error_code(e)
            if recovering and code in DDL_EXISTS_ERRORS:
                self.log.info("DDL had already taken effect before the restart", gtid=cur.gtid, code=code)
            else:
                if self.cfg.errors.get("ddl") == "stop":
                    # the server refused the DDL: it did not take effect. Clear the pending marker, or the
                    # next start would take this error for a crash in flight and tolerate it (a silent skip)
                    self.target.commit_with_checkpoint(self.target.checkpoint_sql(
                        G.format(self.state), self.file, self.pos, self.source_server_id, self.source_uuid,
                        self.last_event_ts, None))
                    self.ddl_pending = None
                st = self._policy(Failure(Stmt(text, 0, "ddl", tdb, "", [(cur.gtid, {})]), "ddl", code,
                                          str(e.args[-1])))
                if st is not None:
                    self.target.run([st])
        self.target.forget_columns()
        self._tables.clear()


# sql_mode bits, by flavour (the binlog carries the session's sql_mode as a bitmask). Between
# flavours the bits are turned into names, and names the target does not know are left out.
_SQL_MODE_COMMON = ["REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", None, "ONLY_FULL_GROUP_BY",
                    "NO_UNSIGNED_SUBTRACTION", "NO_DIR_IN_CREATE", "POSTGRESQL", "ORACLE", "MSSQL", "DB2", "MAXDB",
                    "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS", "NO_FIELD_OPTIONS", "MYSQL323", "MYSQL40", "ANSI",
                    "NO_AUTO_VALUE_ON_ZERO", "NO_BACKSLASH_ESCAPES", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES",
                    "NO_ZERO_IN_DATE", "NO_ZERO_DATE", "INVALID_DATES", "ERROR_FOR_DIVISION_BY_ZERO", "TRADITIONAL",
                    "NO_AUTO_CREATE_USER", "HIGH_NOT_PRECEDENCE", "NO_ENGINE_SUBSTITUTION", "PAD_CHAR_TO_FULL_LENGTH"]
SQL_MODE_BITS = {
    "mysql": _SQL_MODE_COMMON[:4] + ["NOT_USED"] + _SQL_MODE_COMMON[5:] + ["TIME_TRUNCATE_FRACTIONAL"],
    "mariadb": _SQL_MODE_COMMON[:4] + ["IGNORE_BAD_TABLE_OPTIONS"] + _SQL_MODE_COMMON[5:] +
               ["EMPTY_STRING_IS_NULL", "SIMULTANEOUS_ASSIGNMENT", "TIME_ROUND_FRACTIONAL"],
}
# combinations (their parts are set too) and modes MySQL 8.0+ removed
_SQL_MODE_DROP = {"POSTGRESQL", "ORACLE", "MSSQL", "DB2", "MAXDB", "MYSQL323", "MYSQL40", "ANSI", "TRADITIONAL",
                  "NOT_USED"}
_SQL_MODE_NOT_IN_MYSQL8 = {"NO_KEY_OPTIONS", "NO_TABLE_OPTIONS", "NO_FIELD_OPTIONS", "NO_AUTO_CREATE_USER"}


def sql_mode_names(bits: int, source_flavor: str, target_is_mariadb: bool) -> str:
    """A source sql_mode bitmask -> the comma list of the modes the target knows."""
    names = SQL_MODE_BITS["mariadb" if source_flavor == "mariadb" else "mysql"]
    target = set(SQL_MODE_BITS["mariadb" if target_is_mariadb else "mysql"]) - _SQL_MODE_DROP
    if not target_is_mariadb:
        target -= _SQL_MODE_NOT_IN_MYSQL8
    out = [n for i, n in enumerate(names) if bits >> i & 1 and n in target]
    return ",".join(out)


class _Unmappable(Exception):
    def __init__(self, cls: str, code: int, message: str, tdb: str, table: str):
        super().__init__(message)
        self.cls, self.code, self.message, self.tdb, self.table = cls, code, message, tdb, table
