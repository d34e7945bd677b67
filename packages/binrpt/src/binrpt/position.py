"""`binrpt position`: show the checkpoint, skip the next source transaction, or set the position.

The operator's controls after a stop-policy error, instead of editing the checkpoint row by hand.
Skip and set take the channel's lock first (preflight.take_lock), so they refuse while a binrpt
replicates on the channel; they write the checkpoint row in one target transaction.
"""
from __future__ import annotations

import dataclasses

from . import gtid as G
from .preflight import Source, initial_state, take_lock
from .reader import make_reader, source_conn
from .status import checkpoint_record, ltsv
from .target import Fatal, Reconnect, Target


def _source(src) -> Source:
    with src.cursor() as c:
        c.execute("SELECT @@version, @@server_id, @@hostname, @@port")
        version, sid, host, port = c.fetchone()
        if "mariadb" in str(version).lower():
            return Source("mariadb", int(sid), f"{host}:{port}")
        c.execute("SELECT @@server_uuid")
        return Source("mysql", int(sid), str(c.fetchone()[0]))


def _next_transaction(cfg, source: Source, state: dict):
    """The first source transaction after `state`: (gtid text, domain, server_id, seq), or None."""
    reader = make_reader(cfg, source.flavor, G.format(state), lambda: None, blocking=False)
    try:
        from pymysqlreplication.event import GtidEvent, MariadbGtidEvent
        for ev in reader:
            if isinstance(ev, MariadbGtidEvent):
                key = (ev.gtid, ev.domain_id, ev.server_id, ev.gtid_seq_no)
            elif isinstance(ev, GtidEvent):
                uuid, n = ev.gtid.rsplit(":", 1)
                key = (ev.gtid, (uuid, ""), 0, int(n))
            else:
                continue
            if not G.is_applied(state, key[1], key[3]):
                return key
        return None
    finally:
        reader.close()


def _write(t: Target, state: str, source: Source) -> None:
    t.ensure_schema()
    t.commit_with_checkpoint(t.checkpoint_sql(state, "", 0, source.server_id, source.uuid, None, None))


def position(cfg, log, skip: bool = False, set_to: str | None = None, out=None) -> int:
    """Print the checkpoint (and change it first with skip / set_to); 0 on success, 1 on failure."""
    import pymysql
    t = Target(cfg.replica, cfg.checkpoint_schema, cfg.channel, log)
    try:
        t.connect()
        if skip or set_to is not None:
            take_lock(t, cfg, log, wait=0)
        cp = t.read_checkpoint()
        if skip or set_to is not None:
            src = source_conn(cfg)
            try:
                source = _source(src)
                if set_to is not None:
                    new = initial_state(src, dataclasses.replace(cfg, start_position=set_to, binlog_buffer_num=0),
                                        log, source)
                    G.parse(new)
                    before = cp["gtid_state"] if cp else ""
                    _write(t, new, source)
                    log.info("position set", channel=cfg.channel, before=before, after=new)
                else:
                    if cp is None:
                        raise Fatal(f"no checkpoint for channel {cfg.channel!r}: nothing to skip from")
                    state = G.parse(cp["gtid_state"])
                    nxt = _next_transaction(cfg, source, state)
                    if nxt is None:
                        raise Fatal("the source has no transaction after the checkpoint: nothing to skip")
                    G.advance(state, nxt[1], nxt[2], nxt[3])
                    _write(t, G.format(state), source)
                    log.info("transaction skipped", channel=cfg.channel, gtid=nxt[0], before=cp["gtid_state"],
                             after=G.format(state))
            finally:
                src.close()
            cp = t.read_checkpoint()
    except (Fatal, G.GtidError) as e:
        log.error(str(e))
        return 1
    except (Reconnect, pymysql.MySQLError) as e:
        log.error("cannot read or write the position", target=cfg.replica.dsn(), error=e)
        return 1
    finally:
        t.close()
    if cp is None:
        log.error("no checkpoint yet", channel=cfg.channel, target=cfg.replica.dsn())
        return 1
    out.write(ltsv(checkpoint_record(cfg, cp)))
    out.flush()
    return 0
