"""The source side: an SQL connection, and the binlog reader (python-mysql-replication) started at
a GTID position."""
from __future__ import annotations

from .target import Fatal, reconnect_error

COMPRESSED_EVENTS = frozenset(range(165, 172))   # MariaDB's compressed query/rows events
HEARTBEAT_V2 = 41  # MySQL 8.0.26+
MYSQL_UNDECODABLE = {40: "compressed transaction payload (binlog_transaction_compression=ON)",
                     42: "tagged GTID (MySQL 8.4+)"}


def source_conn(cfg):
    """An autocommit SQL connection to the source; a refused or lost connection is Reconnect."""
    import pymysql
    try:
        return pymysql.connect(**cfg.source.pymysql_kwargs(), autocommit=True)
    except pymysql.err.OperationalError as e:
        raise reconnect_error(f"source {cfg.source.dsn()}: {e.args[-1]}", e) from None


def _oldest_binlog(cfg) -> str:
    c = source_conn(cfg)
    try:
        with c.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            first = cur.fetchone()
    finally:
        c.close()
    if first is None:
        raise Fatal("source: SHOW BINARY LOGS is empty (binary log off?)")
    return first[0]


def make_reader(cfg, flavor: str, start: str, on_connect, blocking: bool = True, *, connect=None,
                read_timeout: float | None = None, heartbeat: float | None = None, only_events=None):
    """A BinLogStreamReader (blocking unless told) from GTID position `start`; on_connect() is called
    at each connection the library opens (its own reconnects included), before connect(**kw)
    (default pymysql.connect) opens it. read_timeout and heartbeat default to the source's
    settings; only_events (default all) is the library's list of the events it yields."""
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

    settings = dict(cfg.source.pymysql_kwargs())
    timeout = cfg.read_timeout if read_timeout is None else read_timeout
    settings["read_timeout"] = settings["write_timeout"] = timeout
    if "password" in settings:
        settings["passwd"] = settings.pop("password")
    connect = connect or pymysql.connect

    def wrapper(**kw):
        on_connect()
        return connect(**kw)

    from .preflight import report_host
    common = dict(connection_settings=settings, server_id=cfg.server_id, blocking=blocking, resume_stream=True,
                  report_slave=(report_host(cfg.channel), "", "", 0),
                  slave_heartbeat=cfg.heartbeat if heartbeat is None else heartbeat, only_events=only_events,
                  filter_non_implemented_events=False, pymysql_wrapper=wrapper, enable_logging=False)
    if flavor != "mysql":
        return BinLogStreamReader(is_mariadb=True, auto_position=start, **common)
    pos = {"auto_position": start}
    if not start:
        # the library takes an empty GTID set for "no auto_position" (and would start at the
        # current end): from the oldest binlog by file/position instead. The first commit sets
        # auto_position for the library's own reconnects.
        pos = {"auto_position": None, "log_file": _oldest_binlog(cfg), "log_pos": 4}
    return BinLogStreamReader(is_mariadb=False, **pos, **common)
