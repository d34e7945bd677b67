"""Statements (DDL) from the binlog: which ones replicate, and the source session they ran in.

Pure functions: the filter decision on the tables a statement names, and the session settings
(sql_mode, time_zone, character sets, foreign_key_checks/unique_checks) a DDL runs with on the
target, including the translation of a sql_mode bitmask between MySQL and MariaDB.
"""
from __future__ import annotations

from .filters import ddl_refs
from .values import literal

OPTION_NO_FOREIGN_KEY_CHECKS = 1 << 26
OPTION_RELAXED_UNIQUE_CHECKS = 1 << 27


def decide(filt, db: str, text: str) -> tuple[bool | None, list]:
    """Whether a statement run with default database `db` replicates under the filter: True
    (replicate), False (filtered out) or None (mixed: some tables in, some out); and the table
    references parsed from it ([] when it is not a statement whose tables are parsed)."""
    refs = ddl_refs(text)
    if refs is None:
        return (bool(db) and filt.db_ok(db)), []
    oks = []
    for r in refs:
        rdb = r.db or db
        if not rdb:
            oks.append(False)
        elif r.table is None:
            oks.append(filt.db_ok(rdb))
        else:
            oks.append(filt.table_ok(rdb, r.table))
    if all(oks):
        return True, refs
    if not any(oks):
        return False, refs
    return None, refs


def session_settings(ev, source_flavor: str, target_is_mariadb: bool, collation_ids) -> list[str]:
    """The SET statements that give the target session the source session of a query event.
    collation_ids: a callable returning the target's collation ids (asked only between flavours)."""
    out = []
    cross = (source_flavor == "mysql") == bool(target_is_mariadb)  # MySQL -> MariaDB or back
    sm = getattr(ev, "sql_mode", None)
    if sm is not None:
        if cross:
            out.append(f"SET SESSION sql_mode={literal(sql_mode_names(int(sm), source_flavor, target_is_mariadb))}")
        else:
            out.append(f"SET SESSION sql_mode={int(sm)}")
    tz = getattr(ev, "time_zone", None)
    if tz:
        out.append(f"SET SESSION time_zone={literal(tz.decode('utf-8', 'replace'))}")
    cs = getattr(ev, "character_set_client", None)
    if cs:
        known = collation_ids() if cross else None
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
