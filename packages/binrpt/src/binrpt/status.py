"""`binrpt status`: the checkpoint, the source's position and the lag, as one record on stdout."""
from __future__ import annotations

import datetime
import json

from . import gtid as G
from .target import Reconnect, Target


def checkpoint_record(cfg, cp: dict) -> dict:
    """The checkpoint's fields as `status` and `position` print them."""
    return {"channel": cfg.channel, "gtid_state": cp["gtid_state"], "binlog_file": cp["binlog_file"],
            "binlog_end_pos": cp["binlog_end_pos"], "event_time": cp["event_ts"],
            "applied_at": cp["applied_at"], "ddl_pending": cp["ddl_pending"]}


def ltsv(rec: dict) -> bytes:
    return ("\t".join(f"{k}:{'' if v is None else str(v).replace(chr(9), ' ')}" for k, v in rec.items())
            + "\n").encode()


def status(cfg, log, as_json: bool = False, out=None) -> int:
    import pymysql
    t = Target(cfg.replica, cfg.checkpoint_schema, cfg.channel, log)
    try:
        t.connect()
        cp = t.read_checkpoint()
    except (Reconnect, pymysql.MySQLError) as e:
        log.error("cannot read the checkpoint", target=cfg.replica.dsn(), error=e)
        return 1
    finally:
        t.close()
    if cp is None:
        log.error("no checkpoint yet", channel=cfg.channel, target=cfg.replica.dsn())
        return 1
    rec = checkpoint_record(cfg, cp)
    try:
        src = pymysql.connect(**cfg.source.pymysql_kwargs())
        try:
            with src.cursor() as c:
                c.execute("SELECT @@version")
                mysql = "mariadb" not in str(c.fetchone()[0]).lower()
                c.execute("SELECT @@global.gtid_executed" if mysql else "SELECT @@global.gtid_binlog_pos")
                spos = (c.fetchone()[0] or "").replace("\n", "")
                ms = None
                # MySQL 8.4+ renamed SHOW MASTER STATUS
                for show in (("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS") if mysql else ("SHOW MASTER STATUS",)):
                    try:
                        c.execute(show)
                    except pymysql.MySQLError:
                        continue
                    ms = c.fetchone()
                    break
        finally:
            src.close()
        have, want = G.parse(cp["gtid_state"]), G.parse(spos)
        behind = G.missing(have, want)
        rec["source_gtid"] = spos
        rec["source_file"], rec["source_pos"] = (ms[0], ms[1]) if ms else ("", "")
        rec["behind_txns"] = behind
        lag = 0.0
        if behind and cp["event_ts"] is not None:
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            lag = max(0.0, (now - cp["event_ts"]).total_seconds())
        rec["lag_seconds"] = round(lag, 3)
    except pymysql.MySQLError as e:
        log.error("cannot read the source position", source=cfg.source.dsn(), error=e)
        rec["source_error"] = str(e.args[-1])
    if as_json:
        out.write((json.dumps({k: (v.isoformat() if isinstance(v, datetime.datetime) else v)
                               for k, v in rec.items()}) + "\n").encode())
    else:
        out.write(ltsv(rec))
    out.flush()
    return 0 if "source_error" not in rec else 1
