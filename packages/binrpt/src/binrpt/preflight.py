"""Start-up checks and the first start position, before any event is read.

preflight() refuses a source whose binlog binrpt cannot replicate without losing events (binlog
off, binlog_row_metadata other than FULL, compressed events, MySQL without GTIDs), a replicate
server_id already in use, and a target that is the source itself; it returns what identifies the
source (flavour, server_id, uuid). initial_state() turns the configured start position into a GTID
position for a first start (no checkpoint yet).
"""
from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import dataclass

from . import gtid as G
from .target import Fatal
from .values import literal

_GTID_NEXT = re.compile(r"GTID_NEXT\s*=\s*'([^']+)'", re.I)


@dataclass(slots=True)
class Source:
    """The source server, as preflight() found it."""
    flavor: str        # "mariadb" or "mysql"
    server_id: int
    uuid: str          # MySQL: @@server_uuid; MariaDB: host:port

    def position_sql(self) -> str:
        """The query for the source's current GTID position."""
        return "SELECT @@global.gtid_executed" if self.flavor == "mysql" else "SELECT @@global.gtid_binlog_pos"


def _variable(c, var: str) -> str | None:
    """@@global.var as upper-case text, or None when the server has no such variable."""
    import pymysql
    try:
        c.execute(f"SELECT @@global.{var}")
    except pymysql.err.MySQLError:
        return None
    return str(c.fetchone()[0]).upper()


def _check_mysql(c, version) -> str:
    c.execute("SELECT @@global.gtid_mode, @@server_uuid")
    gtid_mode, uuid = c.fetchone()
    if str(gtid_mode).upper() != "ON":
        raise Fatal(f"source is MySQL {version} with gtid_mode={gtid_mode}: binrpt positions by GTID "
                    "and needs gtid_mode=ON (and enforce_gtid_consistency=ON) on a MySQL source")
    for var, bad, why in (
            ("binlog_transaction_compression", ("1", "ON"),
             "compressed transaction payloads cannot be decoded (they would be lost)"),
            ("binlog_row_value_options", ("PARTIAL_JSON",),
             "partial JSON updates log only the changed paths, not the values")):
        val = _variable(c, var)
        if val in bad:
            raise Fatal(f"source: {var}={val}; {why}, so binrpt refuses to start")
    return uuid


def _check_binlog(c, log) -> None:
    c.execute("SELECT @@global.binlog_format, @@global.binlog_row_image, @@global.binlog_row_metadata, "
              "@@global.log_bin")
    fmt, image, meta, log_bin = c.fetchone()
    if str(log_bin) not in ("1", "ON"):
        raise Fatal("source: the binary log is off (log_bin)")
    if str(meta).upper() != "FULL":
        raise Fatal(f"source: binlog_row_metadata={meta}; binrpt needs FULL to map columns by name "
                    "(SET GLOBAL binlog_row_metadata=FULL) and refuses to guess by position")
    if str(fmt).upper() != "ROW":
        log.warn("source binlog_format is not ROW: statement-logged DML is not replicated", binlog_format=fmt)
    if str(image).upper() != "FULL":
        log.warn("source binlog_row_image is not FULL: no-primary-key tables cannot be matched",
                 binlog_row_image=image)
    if _variable(c, "log_bin_compress") in ("1", "ON"):
        raise Fatal("source: log_bin_compress=ON; compressed events cannot be decoded "
                    "(they would be lost), so binrpt refuses to start")


def _registered(c, flavor: str, server_id: int):
    """The (host, port) the source lists for replicas registered with `server_id`, or None."""
    import pymysql
    for show in (("SHOW REPLICAS", "SHOW SLAVE HOSTS") if flavor == "mysql" else ("SHOW SLAVE HOSTS",)):
        try:
            c.execute(show)
        except pymysql.err.MySQLError:
            continue
        for row in c.fetchall():
            if int(row[0]) == server_id:
                return row[1], row[2]
        return None
    return None


def _check_server_id(c, flavor: str, server_id: int, grace: float) -> None:
    """Fatal when a replica registered with `server_id` is connected to the source. binrpt itself
    registers (COM_REGISTER_SLAVE, host `binrpt:<channel>@<hostname>`), and holds the channel's lock
    here, so a listing that goes away within `grace` seconds is this channel's previous connection
    (a restart, a reconnect) that the source has not noticed closed yet."""
    deadline = time.monotonic() + grace
    while True:
        hit = _registered(c, flavor, server_id)
        if hit is None:
            return
        if time.monotonic() >= deadline:
            raise Fatal(f"source: server_id {server_id} is already used by a replica "
                        f"({hit[0]}:{hit[1]}); choose a unique replicate_server_id")
        time.sleep(0.25)


def report_host(channel: str) -> str:
    """How binrpt shows in the source's SHOW SLAVE HOSTS / SHOW REPLICAS (Host column)."""
    import socket
    return f"binrpt:{channel}@{socket.gethostname()}"[:60]


def lock_name(schema: str, channel: str) -> str:
    """The target-side lock of one checkpoint row (<= 64 characters, as MySQL requires); the channel
    is compared case-insensitively, as the checkpoint key is."""
    h = hashlib.sha1(f"{schema}\0{channel.lower()}".encode()).hexdigest()[:40]
    return f"binrpt:{h}"


def take_lock(target, cfg, log, wait: float = 20.0) -> None:
    """Hold the channel's lock (GET_LOCK) in the apply session of the target, or Fatal: the target
    is never written by two binrpt on one checkpoint row, wherever they run. A holder seen idle
    (Sleep) is a live binrpt: refused at once. A holder busy in a statement may be a binrpt killed
    in the middle of a batch, whose connection ends when the statement does: waited for up to
    `wait` seconds."""
    name = lock_name(cfg.checkpoint_schema, cfg.channel)
    deadline = time.monotonic() + wait
    idle_seen = 0
    while True:
        if target.query("SELECT GET_LOCK(%s, 0)", (name,))[0][0] == 1:
            target.conn.commit()
            return
        holder = target.query("SELECT IS_USED_LOCK(%s)", (name,))[0][0]
        info = target.query("SELECT COMMAND, HOST FROM information_schema.PROCESSLIST WHERE ID=%s",
                            (holder,)) if holder is not None else []
        target.conn.commit()
        if info and str(info[0][0]) == "Sleep":
            idle_seen += 1
        else:
            idle_seen = 0
        if idle_seen >= 2 or time.monotonic() >= deadline:
            where = f" (target connection {holder} from {info[0][1]})" if info else ""
            raise Fatal(f"another binrpt is running on channel {cfg.channel!r} of {cfg.checkpoint_schema}.checkpoint"
                        f"{where}; refusing to start a second one. If that process is gone, its connection "
                        f"ends when the server notices (or: KILL {holder})")
        time.sleep(0.2)


def _check_not_the_source(src, target, source: Source) -> None:
    if source.flavor == "mysql" and not target.is_mariadb:
        r = target.query("SELECT @@server_uuid")
        if r and str(r[0][0]) == source.uuid:
            raise Fatal(f"the target is the source server itself (server_uuid {source.uuid}); "
                        "refusing to replicate into it")
    # A lock taken on one is visible on the other.
    probe = f"binrpt-probe-{random.getrandbits(64):016x}"
    target.query("SELECT GET_LOCK(%s, 0)", (probe,))
    try:
        with src.cursor() as c:
            c.execute("SELECT IS_USED_LOCK(%s)", (probe,))
            if c.fetchone()[0] is not None:
                raise Fatal("the target is the source server itself; refusing to replicate into it")
    finally:
        target.query("SELECT RELEASE_LOCK(%s)", (probe,))


def preflight(src, target, cfg, log) -> Source:
    """Check the source (an open pymysql connection) and the connected target; Fatal when binrpt
    must not start."""
    with src.cursor() as c:
        c.execute("SELECT @@version, @@server_id, @@hostname, @@port")
        version, sid, host, port = c.fetchone()
        flavor = "mariadb" if "mariadb" in str(version).lower() else "mysql"
        uuid = _check_mysql(c, version) if flavor == "mysql" else f"{host}:{port}"
        source = Source(flavor, int(sid), uuid)
        _check_binlog(c, log)
        _check_server_id(c, flavor, cfg.server_id, grace=2 * cfg.heartbeat + 3)
    _check_not_the_source(src, target, source)
    return source


# -- the first start position ----------------------------------------------------------------
def initial_state(src, cfg, log, source: Source) -> str:
    """The GTID position a first start begins at, from cfg.start_position (now, beginning, a GTID
    position or set, FILE:POS) and binlog_buffer_num."""
    sp = cfg.start_position
    mysql = source.flavor == "mysql"
    with src.cursor() as c:
        if sp == "now" and cfg.binlog_buffer_num > 0:
            c.execute("SHOW BINARY LOGS")
            logs = c.fetchall()
            n = cfg.binlog_buffer_num
            if n >= len(logs):
                log.warn("binlog_buffer_num is not less than the number of binlogs: starting at the oldest",
                         binlog_buffer_num=n, binlogs=len(logs))
                file, pos = logs[0][0], 4
            else:
                file, pos = logs[-(n + 1)][0], int(logs[-(n + 1)][1])
            sp = f"{file}:{pos}"
        if sp == "now":
            c.execute(source.position_sql())
            return c.fetchone()[0] or ""
        if sp == "beginning":
            if mysql:
                # everything the source still has: its purged set counts as done
                c.execute("SELECT @@global.gtid_purged")
                return (c.fetchone()[0] or "").replace("\n", "")
            return ""
        if mysql and G.is_mysql_text(sp) and G.looks_like_uuid(sp.split(":", 1)[0]):
            try:
                G.parse_mysql(sp)
            except G.GtidError as e:
                raise Fatal(f"start position {sp!r}: {e}") from None
            return sp
        if ":" not in sp:
            return sp
        file, pos = sp.rsplit(":", 1)
        if mysql:
            return mysql_gtid_at(c, file, int(pos))
        c.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, int(pos)))
        r = c.fetchone()[0]
        if r is None:
            raise Fatal(f"start position {sp}: not a valid binlog file and position on the source")
        return r


def mysql_gtid_at(c, file: str, pos: int) -> str:
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
