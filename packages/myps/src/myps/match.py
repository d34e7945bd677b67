"""Which threads match: the SQL WHERE clause (values bound as parameters), the Python-side
regex filters, the system-thread rule and the --time parser. No I/O here."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# every statement myps sends starts with this, for general/slow-log correlation only: it is no way
# to recognise a myps session (any client can copy it); our own session is excluded by its id
MARK = "/* myps */"

SYSTEM_USERS = {"system user", "event_scheduler", "system_user"}
SYSTEM_COMMANDS = {"daemon", "binlog dump", "binlog dump gtid", "slave_io", "slave_sql", "slave_worker",
                   "register slave"}

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_TIME_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h)?\s*\Z")
_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class CriteriaError(ValueError):
    pass


def parse_time(value: str) -> float:
    """`--time` in seconds: `10`, `1.5`, `90s`, `5m`, `500ms`, `1h`. Anything else is an error
    (upstream passed the text to MySQL, where `abc` became 0 = every thread)."""
    m = _TIME_RE.match(value)
    if not m:
        raise CriteriaError(f"invalid --time value {value!r}: expected seconds, e.g. 10, 1.5, 90s, 5m")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def parse_go_duration(value: str) -> float:
    """A Go duration (`30s`, `1m30s`, `500ms`) or plain seconds, in seconds."""
    v = value.strip()
    if re.fullmatch(r"\d+(\.\d*)?", v):
        return float(v)
    pos, total = 0, 0.0
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    for m in _DUR_RE.finditer(v):
        if m.start() != pos:
            break
        total += float(m.group(1)) * scale[m.group(2)]
        pos = m.end()
    if pos != len(v) or not v:
        raise CriteriaError(f"invalid duration {value!r}: expected e.g. 30s, 1m, 500ms")
    return total


@dataclass
class Criteria:
    time: float | None = None
    user: str | None = None
    db: str | None = None
    command: str | None = None
    state: str | None = None
    info: str | None = None
    host: str | None = None
    exclude_user: list[str] = field(default_factory=list)
    exclude_db: list[str] = field(default_factory=list)
    exclude_host: list[str] = field(default_factory=list)
    trx_time: float | None = None
    regex: bool = False
    include_system: bool = False

    def empty(self) -> bool:
        return all(getattr(self, k) is None for k in
                   ("time", "user", "db", "command", "state", "info", "host", "trx_time"))


COLUMNS = {"user": "USER", "db": "DB", "command": "COMMAND", "state": "STATE", "info": "INFO",
           "host": "HOST"}


def where_clause(c: Criteria, has_time_ms: bool) -> tuple[list[str], list]:
    """SQL conditions (AND-ed) and their parameters. NULL columns compare as ''."""
    conds: list[str] = []
    args: list = []
    if c.time is not None:
        if has_time_ms and c.time != int(c.time):
            conds.append("TIME_MS >= %s")
            args.append(c.time * 1000.0)
        else:
            conds.append("TIME >= %s")
            args.append(int(c.time) if c.time == int(c.time) else c.time)
    if not c.regex:
        for key, col in COLUMNS.items():
            v = getattr(c, key)
            if v is not None:
                conds.append(f"IFNULL({col},'') LIKE %s")
                args.append(v)
    for key, col in (("exclude_user", "USER"), ("exclude_db", "DB"), ("exclude_host", "HOST")):
        for v in getattr(c, key):
            conds.append(f"IFNULL({col},'') NOT LIKE %s")
            args.append(v)
    if c.trx_time is not None:
        conds.append("ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX "
                     "WHERE trx_started <= NOW() - INTERVAL %s SECOND)")
        args.append(c.trx_time)
    return conds, args


def compile_regexes(c: Criteria) -> dict:
    """With --regex, the pattern options are Python regular expressions (searched, case-sensitive
    unless (?i)); a bad one is a usage error."""
    out = {}
    if not c.regex:
        return out
    for key, col in COLUMNS.items():
        v = getattr(c, key)
        if v is not None:
            try:
                out[col] = re.compile(v.encode("utf-8"))
            except re.error as e:
                raise CriteriaError(f"invalid --{key} regex {v!r}: {e}") from None
    return out


def regex_match(row: dict, regexes: dict) -> bool:
    return all(r.search(row[col]) for col, r in regexes.items())


def is_system(row: dict) -> bool:
    """Threads never listed without --include-system: server/replication threads, the event
    scheduler, binlog dump threads. Never decided by the statement's text (a comment any client
    can write)."""
    user = row["USER"].decode("utf-8", "replace").lower()
    cmd = row["COMMAND"].decode("utf-8", "replace").lower()
    return user in SYSTEM_USERS or cmd in SYSTEM_COMMANDS


def choose_victims(rows: list[dict], policy: str) -> list[dict]:
    """pt-kill's --victims: `all`, `oldest` (longest TIME), `all-but-oldest`."""
    if policy == "all" or not rows:
        return list(rows)
    oldest = max(rows, key=lambda r: (r.get("TIME_MS") if r.get("TIME_MS") is not None else r["TIME"] * 1000,
                                      -r["ID"]))
    if policy == "oldest":
        return [oldest]
    return [r for r in rows if r is not oldest]
