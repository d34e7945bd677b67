"""The replication loop: source binlog (python-mysql-replication) -> target transactions.

State, and where it lives:
- `committed`: the GTID position committed on the target in `<schema>.checkpoint` (the truth).
- `state`: `committed` plus the source transactions applied in the open target transaction.
- `cur`: the source transaction being read (from its GTID event to its XID / COMMIT / DDL).
A group of complete source transactions is committed together with the checkpoint row. Every
GTID at or below `state` is skipped (the library replays after its own reconnect). Any lost
connection rolls the open target transaction back and restarts the reader from `committed`.

The other modules: preflight (start-up checks, first position), reader (the binlog reader),
statements (the SQL of rows), ddl (which statements replicate, their session), target (the
target connection, the checkpoint row, batched execution).
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass

from . import gtid as G
from . import statements as S
from ._entry import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated
from .ddl import decide, session_settings
from .errors import ErrorPolicy
from .filters import is_create_table, is_skipped_statement, is_trigger_statement, rewrite_text
from .preflight import Source, initial_state, preflight, take_lock
from .reader import COMPRESSED_EVENTS, HEARTBEAT_V2, MYSQL_UNDECODABLE, make_reader, source_conn
from .statements import Stmt, TableInfo
from .target import AUTH_ERRORS, DDL_EXISTS_ERRORS, Failure, Fatal, Reconnect, Target, error_code
from .values import column_converters, convert_fast, mask_value, quote_name

FL_STANDALONE = 1
FLUSH_SIZE = 2 * 1024 * 1024     # pending SQL sent to the target at this size, inside the group


@dataclass(slots=True)
class Txn:
    gtid: str
    domain: object          # MariaDB: the domain id; MySQL: (uuid, tag)
    server_id: int
    seq: int
    standalone: bool
    ts: int
    skip: bool = False
    has_rows: bool = False


class _Unmappable(Exception):
    def __init__(self, cls: str, code: int, message: str, tdb: str, table: str):
        super().__init__(message)
        self.cls, self.code, self.message, self.tdb, self.table = cls, code, message, tdb, table


def _schema(ev) -> str:
    return ev.schema.decode("utf-8", "replace") if isinstance(ev.schema, (bytes, bytearray)) else (ev.schema or "")


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
        self.source: Source | None = None   # set by preflight
        self.end_pos: dict | None = None
        self.stream_connects = 0
        self.reader = None
        self.counts = {"events": 0, "rows": 0, "txns": 0, "skipped_dup_gtids": 0, "commits": 0}
        self.errors = ErrorPolicy(cfg.errors, self.target, log, debug)
        self.last_event_ts = None
        self.last_gtid = ""
        self._tables: dict = {}
        self._table_ok: dict = {}
        self._partial = False
        self.pipelined = (not dryrun) and all(v == "stop" for v in cfg.errors.values())
        self._inflight = None
        self._connected_once = False
        self._caught_up = False
        # the open group (reset by stream())
        self.pending: list[Stmt] = []
        self.pending_size = 0
        self.group_txns = 0
        self.group_rows = 0
        self.group_start = None
        self.group_dirty = False
        self.file = ""
        self.pos = 0

    # -- entry point ---------------------------------------------------------------------------
    def run(self) -> int:
        """Replicate until --stop-at-end is reached, a fatal error, or a signal (SIGINT:
        KeyboardInterrupt, SIGTERM: the entry template's Terminated): the open target
        transaction is rolled back and the exit code returned."""
        attempts = 0
        summaries = self.start_summaries()
        try:
            while True:
                commits_before = self.counts["commits"]
                try:
                    self.session()
                    self.log.info("caught up, stopping", gtid=G.format(self.committed), **self.counts)
                    return 0
                except Reconnect as e:
                    self.cleanup()
                    if not self._connected_once:
                        # never connected since start: a wrong host, port, DNS name or password is a
                        # configuration error, not a lost connection to retry for ever
                        what = "login refused" if e.code in AUTH_ERRORS else "cannot connect"
                        self.log.error(f"{what} at first start, check the configuration: {e}")
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
        except (KeyboardInterrupt, Terminated) as e:
            self.cleanup(interrupted=True)
            self.log.info("interrupted, open transaction rolled back", gtid=G.format(self.committed))
            return EXIT_INTERRUPTED if isinstance(e, KeyboardInterrupt) else EXIT_TERMINATED
        finally:
            if summaries is not None:
                summaries.set()

    def cleanup(self, interrupted: bool = False) -> None:
        # Masks SIGINT/SIGTERM while tearing down, so a second signal does not interrupt it.
        import signal
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
                    # bounded: a target that does not answer even the kill must not hold the exit
                    if not fut.result(timeout=10.0 if interrupted else None) and state_after is not None:
                        self.committed = state_after
                except Exception:
                    pass
            elif interrupted and self.target.running:
                # a signal in the middle of a statement run by this thread (sequential apply, a DDL):
                # closing our end would leave the server running it (and holding its locks) until it
                # ends; kill it from a second connection so the server stops it and rolls back now
                self.log.warn("target busy with a statement at the signal; killing its connection")
                self.target.kill_running()
            if self.reader is not None:
                try:
                    self.reader.close()
                except Exception:
                    pass
                self.reader = None
            self.target.close(rollback=not interrupted)
            self.state = dict(self.committed)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    # -- one connected session -----------------------------------------------------------------
    def session(self) -> None:
        src = source_conn(self.cfg)
        try:
            self.target.connect()
            if not self.dryrun:
                take_lock(self.target, self.cfg, self.log)
            self.source = preflight(src, self.target, self.cfg, self.log)
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
                if cp["source_server_id"] not in (None, self.source.server_id):
                    self.log.warn("the source's server_id changed since the checkpoint (failover?): resuming by GTID",
                                  checkpoint_server_id=cp["source_server_id"], server_id=self.source.server_id)
                start = cp["gtid_state"]
            else:
                start = initial_state(src, self.cfg, self.log, self.source)
                self.committed = G.parse(start)
                self.ddl_pending = None
            source_pos = self._check_servable(src, cp)
            if cp is None:
                # recorded only once the position is known to be servable (a refused start records nothing)
                if not self.dryrun:
                    self.target.commit_with_checkpoint(self.target.checkpoint_sql(
                        start, "", 0, self.source.server_id, self.source.uuid, None, None))
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

    def _check_servable(self, src, cp) -> dict:
        """Fatal when the source cannot send the binlog from `committed` (purged, ahead of the
        source, tagged GTIDs); returns the source's current position."""
        mysql = self.source.flavor == "mysql"
        with src.cursor() as c:
            c.execute(self.source.position_sql())
            source_pos = G.parse(c.fetchone()[0] or "")
            purged = {}
            if mysql:
                c.execute("SELECT @@global.gtid_purged")
                purged = G.parse(c.fetchone()[0] or "")
        if mysql:
            if cp is not None and cp["source_uuid"] not in (None, self.source.uuid):
                self.log.warn("the source's server_uuid changed since the checkpoint (failover?): resuming by "
                              "GTID", checkpoint_uuid=cp["source_uuid"], server_uuid=self.source.uuid)
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
        return source_pos

    def _on_connect(self) -> None:
        self.stream_connects += 1

    # -- the event loop ------------------------------------------------------------------------
    def _handlers(self) -> dict:
        """Event class -> handler(ev, cur) returning the source transaction still open (or None)."""
        from pymysqlreplication.event import (
            GtidEvent,
            HeartbeatLogEvent,
            MariadbGtidEvent,
            NotImplementedEvent,
            QueryEvent,
            XidEvent,
        )
        from pymysqlreplication.row_event import (
            DeleteRowsEvent,
            TableMapEvent,
            UpdateRowsEvent,
            WriteRowsEvent,
        )
        return {
            MariadbGtidEvent: self._on_mariadb_gtid,
            GtidEvent: self._on_mysql_gtid,
            WriteRowsEvent: lambda ev, cur: self._on_rows(ev, cur, "insert"),
            UpdateRowsEvent: lambda ev, cur: self._on_rows(ev, cur, "update"),
            DeleteRowsEvent: lambda ev, cur: self._on_rows(ev, cur, "delete"),
            XidEvent: self._on_xid,
            QueryEvent: self._on_query,
            TableMapEvent: self._on_table_map,
            HeartbeatLogEvent: self._on_heartbeat,
            NotImplementedEvent: self._on_not_implemented,
        }

    def _reset_group(self) -> None:
        self.group_txns = self.group_rows = 0
        self.group_start = None
        self.group_dirty = False

    def stream(self, start: str) -> None:
        import pymysql
        handlers = self._handlers()
        self.reader = reader = make_reader(self.cfg, self.source.flavor, start, self._on_connect)
        self.pending = []
        self.pending_size = 0
        self._reset_group()
        self.file = ""
        self.pos = 0
        cur: Txn | None = None
        connects_seen = None
        next_progress = time.monotonic() + 1.0
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
                if self.cfg.gtid_skip and cur is not None:
                    raise Reconnect("source stream reconnected inside a transaction")
            self.counts["events"] += 1
            self._caught_up = False
            self.file = reader.log_file or self.file
            self.pos = reader.log_pos or self.pos
            handler = handlers.get(type(ev))
            if handler is not None:
                cur = handler(ev, cur)
            if self._inflight is not None and self._inflight[0].done():
                # a batch finished in the worker: its failures stop binrpt now (not at the next source
                # transaction, which may be minutes away) and `committed` moves now
                self._wait()
            if cur is None and self.end_pos is not None and G.covers(self.state, self.end_pos):
                self.commit_group()  # --stop-at-end: everything the source had at start is applied
                self._wait()
                return
            now = time.monotonic()
            if self.group_start is not None and cur is None and now - self.group_start >= self.cfg.group_max_seconds:
                self.commit_group()
            if self.progress and now >= next_progress:
                next_progress = now + 1.0
                self._show_progress()

    # -- event handlers ------------------------------------------------------------------------
    def _begin(self, cur: Txn | None, nxt: Txn) -> Txn:
        if cur is not None and not cur.skip and self.cfg.gtid_skip:
            raise Reconnect(f"transaction {cur.gtid} ended without a commit")
        if self.cfg.gtid_skip and G.is_applied(self.state, nxt.domain, nxt.seq):
            nxt.skip = True
            self.counts["skipped_dup_gtids"] += 1
            if self.debug:
                self.log.debug("already applied, skipped", gtid=nxt.gtid)
        return nxt

    def _on_mariadb_gtid(self, ev, cur):
        return self._begin(cur, Txn(ev.gtid, ev.domain_id, ev.server_id, ev.gtid_seq_no,
                                    bool(ev.flags & FL_STANDALONE), ev.timestamp))

    def _on_mysql_gtid(self, ev, cur):
        uuid, n = ev.gtid.rsplit(":", 1)
        # standalone (a DDL) until a BEGIN says otherwise: MySQL marks DML transactions with BEGIN
        return self._begin(cur, Txn(ev.gtid, (uuid, ""), 0, int(n), True, ev.timestamp))

    def _on_rows(self, ev, cur, kind: str):
        if cur is not None and not cur.skip:
            self.rows_event(ev, cur, kind)
        return cur

    def _on_xid(self, ev, cur):
        if cur is not None:
            self.end_txn(cur)
        return None

    def _on_query(self, ev, cur):
        return self.query(ev, cur) if cur is not None else None

    def _on_table_map(self, ev, cur):
        om = getattr(ev, "optional_metadata", None)
        if om is not None and not om.column_name_list and self.table_ok(ev.schema, ev.table):
            raise Fatal(f"{ev.schema}.{ev.table}: this binlog event carries no column names (it was written "
                        "with binlog_row_metadata other than FULL); refusing to map columns by position")
        return cur

    def _on_heartbeat(self, ev, cur):
        if cur is None:
            self.commit_group()
            self._caught_up = True
        return cur

    def _on_not_implemented(self, ev, cur):
        et = getattr(ev, "event_type", 0)
        if et == HEARTBEAT_V2:
            return self._on_heartbeat(ev, cur)
        if et in COMPRESSED_EVENTS:
            raise Fatal(f"source sent a compressed binlog event (type {ev.event_type}); "
                        "binrpt cannot decode it and will not skip it: set log_bin_compress=OFF")
        if et in MYSQL_UNDECODABLE:
            raise Fatal(f"source sent a {MYSQL_UNDECODABLE[et]} (event type {et}), which "
                        "python-mysql-replication cannot decode; binrpt will not skip it")
        return cur

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

    def lag(self) -> float:
        """Seconds behind the source: 0 when caught up (the source sent a heartbeat, which it does only
        when it has nothing more to send, and everything read is committed), else now - the time of
        the last source transaction read."""
        if self._caught_up and self._inflight is None and not self.group_dirty:
            return 0.0
        return max(0.0, round(time.time() - self.last_event_ts, 1)) if self.last_event_ts else 0.0

    def _summaries(self, stop) -> None:
        """A summary line every summary_interval seconds, from a thread of its own, so that one
        appears during a long batch or a long DDL too."""
        while not stop.wait(self.cfg.summary_interval):
            try:
                self.summary()
            except Exception:
                pass

    def start_summaries(self):
        import threading
        if not self.cfg.summary_interval > 0:
            return None
        stop = threading.Event()
        threading.Thread(target=self._summaries, args=(stop,), name="binrpt-summary", daemon=True).start()
        return stop

    def summary(self) -> None:
        lag = self.lag()
        self.log.info("summary", lag_s=lag, last_gtid=self.last_gtid, committed=G.format(self.committed),
                      **self.counts, **{f"errors_{k}": v for k, v in self.errors.counts.items()})

    def _show_progress(self) -> None:
        lag = int(self.lag())
        sys.stderr.write(f"\rbinrpt: {self.counts['txns']} txns {self.counts['rows']} rows "
                         f"lag {lag}s {self.last_gtid}   ")
        sys.stderr.flush()

    # -- transactions, groups and the checkpoint -----------------------------------------------
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

    def _checkpoint_sql(self, ddl_pending: str | None = None) -> str:
        """The upsert of the checkpoint row for `state` (the position after the open group)."""
        return self.target.checkpoint_sql(G.format(self.state), self.file, self.pos, self.source.server_id,
                                          self.source.uuid, self.last_event_ts, ddl_pending)

    def _commit_checkpoint(self, ddl_pending: str | None = None) -> None:
        """Commit the open target transaction with the checkpoint row (and the DDL marker)."""
        self.target.commit_with_checkpoint(self._checkpoint_sql(ddl_pending))
        self.ddl_pending = ddl_pending

    def flush(self) -> None:
        if not self.pending:
            return
        stmts, self.pending, self.pending_size = self.pending, [], 0
        if self.dryrun:
            for s in S.expand(stmts):
                self.log.info(f"dry-run: {s.sql}")
            return
        if self.debug:
            for s in S.expand(stmts):
                self.log.debug("exec", sql=s.sql)
        if self.pipelined:
            self._submit(stmts, None, None)
            return
        failures = self.target.run(stmts)
        if failures:
            self.errors.handle(failures)

    # Pipelining: with every error policy at `stop`, the statements of a group (and its commit with
    # the checkpoint) run on the target in a worker thread while the next events are decoded. One
    # batch at most is in flight; `committed` moves only when its commit has returned.
    def _submit(self, stmts, checkpoint_sql, state_after) -> None:
        self._wait()
        import threading
        from concurrent.futures import Future
        target = self.target
        fut = Future()

        def work():
            fut.set_running_or_notify_cancel()
            try:
                failures = target.run(stmts) if stmts else []
                if not failures and checkpoint_sql is not None:
                    target.commit_with_checkpoint(checkpoint_sql)
            except BaseException as e:
                fut.set_exception(e)
            else:
                fut.set_result(failures)

        # known to cleanup() before the thread starts; a daemon thread (not a ThreadPoolExecutor's,
        # which the interpreter joins at exit): a batch stuck on the target cannot hold up the exit
        self._inflight = (fut, state_after)
        threading.Thread(target=work, name="binrpt-apply", daemon=True).start()

    def _wait(self) -> None:
        if self._inflight is None:
            return
        fut, state_after = self._inflight
        try:
            failures = fut.result()
        finally:
            if fut.done():
                # a signal while waiting leaves the batch in flight for cleanup() to stop on the target
                self._inflight = None
        if failures:
            self.errors.handle(failures)  # stop policies: raises
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
        cp = None if self.dryrun else self._checkpoint_sql()
        if self.pipelined:
            stmts, self.pending, self.pending_size = self.pending, [], 0
            if self.debug:
                for s in S.expand(stmts):
                    self.log.debug("exec", sql=s.sql)
            self._submit(stmts, cp, dict(self.state))
        else:
            self.flush()
            if cp is not None:
                self.target.commit_with_checkpoint(cp)
            self._committed_to(dict(self.state))
        self._reset_group()

    # -- rows ----------------------------------------------------------------------------------
    def table_ok(self, db: str, table: str) -> bool:
        key = (db, table)
        r = self._table_ok.get(key)
        if r is None:
            r = self._table_ok[key] = self.cfg.filter.table_ok(db, table)
        return r

    def table_info(self, ev) -> TableInfo:
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
        if not self.target.columns_cached(tdb, ev.table):
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
        if not pk:
            # no primary key in the source's event: a unique NOT NULL key of the target identifies the
            # row as well, and turns each UPDATE/DELETE's full scan into an index lookup
            uk = self.target.unique_key(tdb, ev.table)
            if uk and all(n in names and n not in drop for n in uk):
                pk = uk
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
        if self.pending_size >= FLUSH_SIZE:
            self.flush()

    def _last(self) -> Stmt | None:
        """The statement a row may be appended to: the last one not yet sent."""
        return self.pending[-1] if self.pending else None

    def rows_event(self, ev, cur: Txn, kind: str) -> None:
        cur.has_rows = True
        if not self.table_ok(ev.schema, ev.table):
            return
        try:
            ti = self.table_info(ev)
        except _Unmappable as u:
            raw = [(cur.gtid, r.get("values") or {"before": r.get("before_values"), "after": r.get("after_values")})
                   for r in ev.rows]
            st = self.errors.policy(Failure(Stmt(f"-- {len(raw)} rows for {u.tdb}.{u.table}", 0, "rows", u.tdb, u.table,
                                           raw), u.cls, u.code, u.message))
            if st is not None:
                self._add(st)
            return
        rows = ev.rows
        n = len(rows)
        self.counts["rows"] += n
        self.group_rows += n
        g = cur.gtid
        if not ti.pk and kind != "insert":
            self._keyless_rows(ti, g, kind, rows)
            return
        if kind == "update":
            partial = self._partial
            for r in rows:
                before = self._image(ti, r["before_values"], r.get("before_none_sources"))
                after = self._image(ti, r["after_values"], r.get("after_none_sources"))
                cols = S.columns(ti, after, partial)
                if partial:
                    self._add(S.update(ti, g, before, after, cols))
                    continue
                added = S.extend_keyed_update(self._last(), ti, g, before, after, cols)
                if added:
                    self.pending_size += added
                    if self.pending_size >= FLUSH_SIZE:
                        self.flush()
                else:
                    st = S.keyed_update(ti, g, before, after, cols)
                    self.pending.append(st)
                    self.pending_size += S.keyless_size(st)
                    if self.pending_size >= FLUSH_SIZE:
                        self.flush()
            return
        images = [self._image(ti, r["values"], r.get("none_sources")) for r in rows]
        if kind == "insert":
            for im in images:
                cols = S.columns(ti, im, self._partial)
                added = S.extend_insert(self._last(), ti, g, im, cols)
                if added:
                    self.pending_size += added
                else:
                    self._add(S.insert(ti, g, im, cols))
        else:
            for im in images:
                added = S.extend_delete(self._last(), ti, g, im)
                if added:
                    self.pending_size += added
                else:
                    self._add(S.delete(ti, g, im))

    def _keyless_rows(self, ti: TableInfo, g: str, kind: str, rows) -> None:
        """UPDATE/DELETE images of a table without any key: into keyless batches (statements.keyless)."""
        partial = self._partial
        for r in rows:
            if kind == "update":
                before = self._image(ti, r["before_values"], r.get("before_none_sources"))
                after = self._image(ti, r["after_values"], r.get("after_none_sources"))
                cols = S.columns(ti, after, partial)
                image = {"before": before, "after": after}
            else:
                before = image = self._image(ti, r["values"], r.get("none_sources"))
                cols = None
            added = S.extend_keyless(self._last(), ti, g, kind, before, image, cols)
            if added:
                self.pending_size += added
                if self.pending_size >= FLUSH_SIZE:
                    self.flush()
            else:
                st = S.keyless(ti, g, kind, before, image, cols)
                self.pending.append(st)
                self.pending_size += S.keyless_size(st)
                if self.pending_size >= FLUSH_SIZE:
                    self.flush()

    # -- statements: DDL -----------------------------------------------------------------------
    def _session_settings(self, ev) -> list[str]:
        return session_settings(ev, self.source.flavor, self.target.is_mariadb, self.target.collation_ids)

    def _mixed(self, text: str, tdb: str, cur: Txn) -> Stmt | None:
        """A statement naming replicated and filtered-out tables: an error of class ddl."""
        return self.errors.policy(Failure(Stmt(text, 0, "ddl", tdb, "", [(cur.gtid, {})]), "ddl", 0,
                                    "statement touches both replicated and filtered-out tables"))

    def _rewritten(self, db: str, q: str, refs: list) -> tuple[str, str]:
        """The target database and the statement's text with its database names rewritten."""
        tdb = self.cfg.rewrite_db.get(db, db)
        return tdb, rewrite_text(q, refs, self.cfg.rewrite_db) if (refs and self.cfg.rewrite_db) else q

    def query_event(self, ev, q: str, cur: Txn) -> None:
        """A standalone statement (DDL): pending marker, run, checkpoint."""
        self.commit_group()
        self._wait()
        db = _schema(ev)
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
        ok, refs = decide(self.cfg.filter, db, q)
        if ok is False:
            if self.debug:
                self.log.debug("statement filtered out", gtid=cur.gtid, sql=q[:200])
            self.end_txn(cur)
            return
        tdb, text = self._rewritten(db, q, refs)
        if ok is None:
            st = self._mixed(text, tdb, cur)
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
        self._commit_checkpoint()
        self.committed = dict(self.state)
        self._reset_group()

    def statement_in_txn(self, ev, q: str, cur: Txn) -> None:
        """A statement logged inside a transaction (statement format): run it in the open transaction."""
        db = _schema(ev)
        if not cur.has_rows and is_create_table(q):
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
        ok, refs = decide(self.cfg.filter, db, q)
        if ok is False:
            return
        tdb, text = self._rewritten(db, q, refs)
        if ok is None:
            self._mixed(text, tdb, cur)
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
        self._commit_checkpoint(ddl_pending=cur.gtid)
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
                    self._commit_checkpoint()
                st = self.errors.policy(Failure(Stmt(text, 0, "ddl", tdb, "", [(cur.gtid, {})]), "ddl", code,
                                          str(e.args[-1])))
                if st is not None:
                    self.target.run([st])
        self.target.forget_columns()
        self._tables.clear()
