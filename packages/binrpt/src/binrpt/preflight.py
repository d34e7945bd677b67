"""Start-up checks and the first start position, before any event is read.

preflight() refuses a source whose binlog binrpt cannot replicate without losing events (binlog
off, binlog_row_metadata other than FULL, compressed events, MySQL without GTIDs), a replicate
server_id already in use, and a target that is the source itself; it returns what identifies the
source (flavour, server_id, uuid). initial_state() turns the configured start position into a GTID
position for a first start (no checkpoint yet).
"""
from __future__ import annotations

import random
import re
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


def _check_server_id(c, flavor: str, server_id: int) -> None:
    import pymysql
    for show in (("SHOW REPLICAS", "SHOW SLAVE HOSTS") if flavor == "mysql" else ("SHOW SLAVE HOSTS",)):
        try:
            c.execute(show)
        except pymysql.err.MySQLError:
            continue
        for row in c.fetchall():
            if int(row[0]) == server_id:
                raise Fatal(f"source: server_id {server_id} is already used by a replica "
                            f"({row[1]}:{row[2]}); choose a unique replicate_server_id")
        return


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
        _check_server_id(c, flavor, cfg.server_id)
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
