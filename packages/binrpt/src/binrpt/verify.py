"""`binrpt verify`: chunked checksums of source vs target, table by table.

Chunk boundaries are every N-th primary key on the source; each chunk is compared by row count and
the sum of CRC32 over the row's columns (NULL-aware), computed by each server. Masked and generated
columns are left out (they differ by design). A table without a primary key is one chunk. Run it
when the replicator has caught up (`binrpt status` shows behind_txns:0) or the source is quiet.
"""
from __future__ import annotations

import json

from .values import literal, quote_name


def _conn(ep):
    import pymysql
    c = pymysql.connect(**ep.pymysql_kwargs(), autocommit=True)
    with c.cursor() as cur:
        cur.execute("SET SESSION time_zone='+00:00'")
    return c


def _q(conn, sql, args=None):
    with conn.cursor() as c:
        c.execute(sql, args)
        return list(c.fetchall())


def _tables(src, cfg, only: list[str]) -> list[tuple[str, str]]:
    if only:
        out = []
        for t in only:
            db, _, tbl = t.partition(".")
            out.append((db, tbl))
        return out
    rows = _q(src, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE='BASE TABLE' "
                   "ORDER BY TABLE_SCHEMA, TABLE_NAME")
    return [(d, t) for d, t in rows if cfg.filter.table_ok(d, t)]


def _checksum_expr(cols: list[str]) -> str:
    if not cols:
        return "COUNT(*), 0"
    q = [quote_name(c) for c in cols]
    nulls = "CONCAT(" + ",".join(f"ISNULL({c})" for c in q) + ")"
    return f"COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('#',{','.join(q)},{nulls}))),0)"


def _cond(pk: list[str], lo, hi) -> str:
    cols = "(" + ",".join(quote_name(c) for c in pk) + ")"
    parts = []
    if lo is not None:
        parts.append(f"{cols} >= (" + ",".join(literal(v) for v in lo) + ")")
    if hi is not None:
        parts.append(f"{cols} < (" + ",".join(literal(v) for v in hi) + ")")
    return " AND ".join(parts) or "1"


def verify(cfg, log, chunk_size: int = 1000, tables=(), show_all: bool = False, out=None) -> int:
    import pymysql
    import pymysql.cursors
    try:
        src = _conn(cfg.source)
        dst = _conn(cfg.replica)
    except pymysql.MySQLError as e:
        log.error("cannot connect", error=e)
        return 1
    differ = 0
    chunks = 0
    try:
        for db, tbl in _tables(src, cfg, list(tables)):
            tdb = cfg.rewrite_db.get(db, db)
            cols = [r[0] for r in _q(src, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
                                          "AND TABLE_NAME=%s AND COALESCE(GENERATION_EXPRESSION, '') = '' "
                                          "ORDER BY ORDINAL_POSITION",
                                     (db, tbl))]
            masked = {c for (d, t, c), _k in cfg.mask.items() if d == db and t == tbl}
            cols = [c for c in cols if c not in masked]
            pk = [r[0] for r in _q(src, "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s "
                                        "AND TABLE_NAME=%s AND INDEX_NAME='PRIMARY' ORDER BY SEQ_IN_INDEX", (db, tbl))]
            bounds: list = []
            if pk:
                cur = src.cursor(pymysql.cursors.SSCursor)
                cur.execute(f"SELECT {','.join(quote_name(c) for c in pk)} FROM {quote_name(db)}.{quote_name(tbl)} "
                            f"ORDER BY {','.join(quote_name(c) for c in pk)}")
                for i, row in enumerate(cur):
                    if i % chunk_size == 0:
                        bounds.append(tuple(row))
                cur.close()
            ranges = [(None, bounds[0] if bounds else None)] if pk else [(None, None)]
            for i, b in enumerate(bounds):
                ranges.append((b, bounds[i + 1] if i + 1 < len(bounds) else None))
            expr = _checksum_expr(cols)
            for n, (lo, hi) in enumerate(ranges):
                cond = _cond(pk, lo, hi) if pk else "1"
                a = _q(src, f"SELECT {expr} FROM {quote_name(db)}.{quote_name(tbl)} WHERE {cond}")[0]
                try:
                    b = _q(dst, f"SELECT {expr} FROM {quote_name(tdb)}.{quote_name(tbl)} WHERE {cond}")[0]
                except pymysql.MySQLError as e:
                    b = (None, str(e.args[-1]))
                chunks += 1
                same = (int(a[0]), int(a[1])) == ((int(b[0]), int(b[1])) if b[0] is not None else (None, None))
                if not same:
                    differ += 1
                if show_all or not same:
                    rec = {"table": f"{db}.{tbl}", "target_table": f"{tdb}.{tbl}", "chunk": n,
                           "lower": "" if lo is None else json.dumps([str(x) for x in lo]),
                           "upper": "" if hi is None else json.dumps([str(x) for x in hi]),
                           "source_rows": a[0], "target_rows": b[0], "source_sum": a[1], "target_sum": b[1],
                           "status": "equal" if same else "differ"}
                    out.write(("\t".join(f"{k}:{v}" for k, v in rec.items()) + "\n").encode())
        out.flush()
    except pymysql.MySQLError as e:
        log.error("verify failed", error=e)
        return 1
    finally:
        src.close()
        dst.close()
    log.info("verify done", chunks=chunks, differing=differ)
    return 1 if differ else 0
