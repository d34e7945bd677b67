"""Which changes are replicated: native replication-filter semantics on `db.table`, for rows and DDL.

Order of evaluation, as MySQL/MariaDB document it for row-based replication:
1. database level: `replicate_do_db` (if set, the db must be in it), `replicate_ignore_db`;
2. table level: do_table (exact) -> yes; ignore_table (exact) -> no; wild_do_table (LIKE) -> yes;
   wild_ignore_table (LIKE) -> no; upstream binrpt's `replicate_ignore_tables` regexps on the bare
   table name -> no; if any do/wild_do rule exists and none matched -> no; else yes.
System schemas (mysql, sys, information_schema, performance_schema) and binrpt's own checkpoint
schema are never replicated. Names are the source's names (before `rewrite_db`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

SYSTEM_SCHEMAS = frozenset({"mysql", "sys", "information_schema", "performance_schema"})


def like_to_regex(pattern: str) -> re.Pattern:
    """SQL LIKE (% and _, backslash escapes) -> an anchored regexp (case-sensitive, as on Linux)."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.S)


def _split_qualified(s: str, what: str) -> tuple[str, str]:
    if "." not in s:
        raise ValueError(f"{what}: {s!r} is not db.table")
    db, tbl = s.split(".", 1)
    return db, tbl


@dataclass
class Filter:
    do_db: frozenset = frozenset()
    ignore_db: frozenset = frozenset()
    do_table: frozenset = frozenset()
    ignore_table: frozenset = frozenset()
    wild_do: list = field(default_factory=list)       # [(db_re, tbl_re)]
    wild_ignore: list = field(default_factory=list)
    ignore_regexps: list = field(default_factory=list)  # upstream replicate_ignore_tables
    internal_schema: str = "binrpt"

    @classmethod
    def from_config(cls, r: dict, internal_schema: str = "binrpt") -> "Filter":
        def lst(key):
            v = r.get(key, [])
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"replica.{key} must be a string or a list of strings")
            return v

        def wild(key):
            out = []
            for p in lst(key):
                d, t = _split_qualified(p, key)
                out.append((like_to_regex(d), like_to_regex(t)))
            return out

        regs = []
        for p in lst("replicate_ignore_tables"):
            try:
                regs.append(re.compile(p))
            except re.error as e:
                raise ValueError(f"replica.replicate_ignore_tables: bad regexp {p!r}: {e}") from None
        return cls(
            do_db=frozenset(lst("replicate_do_db")),
            ignore_db=frozenset(lst("replicate_ignore_db")),
            do_table=frozenset(_split_qualified(x, "replicate_do_table") for x in lst("replicate_do_table")),
            ignore_table=frozenset(_split_qualified(x, "replicate_ignore_table")
                                   for x in lst("replicate_ignore_table")),
            wild_do=wild("replicate_wild_do_table"),
            wild_ignore=wild("replicate_wild_ignore_table"),
            ignore_regexps=regs,
            internal_schema=internal_schema,
        )

    def db_ok(self, db: str) -> bool:
        if db in SYSTEM_SCHEMAS or db == self.internal_schema:
            return False
        if self.do_db and db not in self.do_db:
            return False
        if db in self.ignore_db:
            return False
        return True

    def table_ok(self, db: str, tbl: str) -> bool:
        if not self.db_ok(db):
            return False
        key = (db, tbl)
        if key in self.do_table:
            return True
        if key in self.ignore_table:
            return False
        for d, t in self.wild_do:
            if d.match(db) and t.match(tbl):
                return True
        for d, t in self.wild_ignore:
            if d.match(db) and t.match(tbl):
                return False
        for r in self.ignore_regexps:
            if r.search(tbl):
                return False
        if self.do_table or self.wild_do:
            return False
        return True


# -- DDL: which tables does a statement touch -------------------------------------------------
_NAME = r"(?:`(?:[^`]|``)+`|[A-Za-z0-9_$\u0080-\uffff]+)"
_QN = rf"(?P<q>{_NAME}(?:\s*\.\s*{_NAME})?)"
_QN_RE = re.compile(rf"({_NAME})(?:\s*\.\s*({_NAME}))?")
_WS = r"(?:\s|/\*.*?\*/)+"


def _unq(n: str) -> str:
    if n.startswith("`"):
        return n[1:-1].replace("``", "`")
    return n


@dataclass
class Ref:
    db: str | None      # None: unqualified (the default database)
    table: str | None   # None: a database-level statement
    db_span: tuple[int, int] | None  # where the explicit db name is in the text


_CREATE_TABLE = re.compile(
    rf"^\s*CREATE{_WS}(?:OR{_WS}REPLACE{_WS})?(?:TEMPORARY{_WS})?TABLE{_WS}(?:IF{_WS}NOT{_WS}EXISTS{_WS})?", re.I | re.S)
_ALTER_TABLE = re.compile(
    rf"^\s*ALTER{_WS}(?:ONLINE{_WS})?(?:IGNORE{_WS})?TABLE{_WS}(?:IF{_WS}EXISTS{_WS})?", re.I | re.S)
_DROP_TABLE = re.compile(
    rf"^\s*DROP{_WS}(?:TEMPORARY{_WS})?TABLES?{_WS}(?:IF{_WS}EXISTS{_WS})?", re.I | re.S)
_TRUNCATE = re.compile(rf"^\s*TRUNCATE{_WS}(?:TABLE{_WS})?", re.I | re.S)
_RENAME = re.compile(rf"^\s*RENAME{_WS}TABLES?{_WS}", re.I | re.S)
_INDEX = re.compile(
    rf"^\s*(?:CREATE{_WS}(?:OR{_WS}REPLACE{_WS})?(?:UNIQUE{_WS}|FULLTEXT{_WS}|SPATIAL{_WS})?|DROP{_WS})INDEX{_WS}"
    rf"(?:IF{_WS}(?:NOT{_WS})?EXISTS{_WS})?{_NAME}(?:{_WS}(?:USING{_WS}\w+{_WS})?)?ON{_WS}", re.I | re.S)
_DATABASE = re.compile(
    rf"^\s*(?:CREATE|DROP|ALTER){_WS}(?:DATABASE|SCHEMA){_WS}(?:IF{_WS}(?:NOT{_WS})?EXISTS{_WS})?", re.I | re.S)
_ALTER_RENAME = re.compile(rf"\bRENAME{_WS}(?:TO{_WS}|AS{_WS})?(?=[`\w])", re.I | re.S)

SKIP_PREFIXES = ("GRANT", "REVOKE", "CREATE USER", "DROP USER", "ALTER USER", "RENAME USER", "SET PASSWORD",
                 "CREATE ROLE", "DROP ROLE", "FLUSH", "ANALYZE", "OPTIMIZE", "REPAIR", "CHECK",
                 "INSTALL", "UNINSTALL", "SET DEFAULT ROLE")


def _qn_at(text: str, pos: int) -> tuple[Ref, int] | None:
    m = _QN_RE.match(text, pos)
    if not m:
        return None
    a, b = m.group(1), m.group(2)
    if b is None:
        return Ref(None, _unq(a), None), m.end()
    return Ref(_unq(a), _unq(b), (m.start(1), m.end(1))), m.end()


def _skip_ws(text: str, pos: int) -> int:
    m = re.compile(_WS, re.S).match(text, pos)
    return m.end() if m else pos


def _list(text: str, pos: int, sep_re: re.Pattern) -> list[Ref]:
    refs = []
    while True:
        r = _qn_at(text, pos)
        if r is None:
            break
        refs.append(r[0])
        pos = r[1]
        m = sep_re.match(text, pos)
        if not m:
            break
        pos = m.end()
    return refs


_COMMA = re.compile(r"\s*,\s*")
_RENAME_SEP = re.compile(rf"(?:{_WS}TO{_WS}|\s*,\s*)", re.I | re.S)


_EXEC_OPEN = re.compile(r"/\*M?!\d*")


def blank_leading_comments(text: str) -> str:
    """The statement with its leading comments (`/* */`, `-- `, `#`) replaced by spaces, and the markers of
    leading executable comments (`/*!50001 ... */`, `/*M!100100 ... */`, whose text the server runs)
    blanked too. Same length, so offsets into the result are offsets into the original."""
    out = list(text)
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        m = _EXEC_OPEN.match(text, pos)
        if m:
            end = text.find("*/", m.end())
            if end < 0:
                return "".join(out)
            out[pos:m.end()] = " " * (m.end() - pos)
            out[end:end + 2] = "  "
            pos = m.end()
            continue
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            end = n if end < 0 else end + 2
        elif text.startswith("#", pos) or (text.startswith("--", pos) and (pos + 2 == n or text[pos + 2].isspace())):
            end = text.find("\n", pos)
            end = n if end < 0 else end + 1
        else:
            return "".join(out)
        out[pos:end] = " " * (end - pos)
        pos = end


def ddl_refs(text: str) -> list[Ref] | None:
    """The tables (or databases) a DDL statement names, or None when it is not a statement we parse."""
    text = blank_leading_comments(text)
    m = _CREATE_TABLE.match(text)
    if m:
        r = _qn_at(text, m.end())
        if not r:
            return None
        refs = [r[0]]
        lm = re.compile(rf"{_WS}?\(?\s*LIKE{_WS}", re.I | re.S).match(text, r[1])
        if lm:
            r2 = _qn_at(text, lm.end())
            if r2:
                refs.append(r2[0])
        return refs
    m = _ALTER_TABLE.match(text)
    if m:
        r = _qn_at(text, m.end())
        if not r:
            return None
        refs = [r[0]]
        for rm in _ALTER_RENAME.finditer(text, r[1]):
            r2 = _qn_at(text, rm.end())
            if r2 and r2[0].table and r2[0].table.upper() not in ("COLUMN", "INDEX", "KEY"):
                refs.append(r2[0])
        return refs
    m = _DROP_TABLE.match(text)
    if m:
        return _list(text, m.end(), _COMMA) or None
    m = _RENAME.match(text)
    if m:
        return _list(text, m.end(), _RENAME_SEP) or None
    m = _INDEX.match(text)
    if m:
        r = _qn_at(text, m.end())
        return [r[0]] if r else None
    m = _TRUNCATE.match(text)
    if m:
        r = _qn_at(text, m.end())
        return [r[0]] if r else None
    m = _DATABASE.match(text)
    if m:
        mm = _QN_RE.match(text, m.end())
        if not mm:
            return None
        return [Ref(_unq(mm.group(1)), None, (mm.start(1), mm.end(1)))]
    return None


_TRIGGER = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*(?:CURRENT_USER(?:\s*\(\s*\))?|\S+)\s+)?"
    r"TRIGGER|DROP\s+TRIGGER)\b", re.I | re.S)


def is_trigger_statement(text: str) -> bool:
    """CREATE/DROP TRIGGER: never replicated, the source's row events already carry what its triggers did
    (a trigger on the target would fire again when binrpt writes those rows: duplicates or double effects)."""
    return _TRIGGER.match(blank_leading_comments(text)) is not None


def is_create_table(text: str) -> bool:
    """CREATE [OR REPLACE] [TEMPORARY] TABLE, leading comments looked through."""
    return _CREATE_TABLE.match(blank_leading_comments(text)) is not None


def is_skipped_statement(text: str) -> bool:
    head = " ".join(blank_leading_comments(text).split()[:3]).upper()
    return any(head.startswith(p) for p in SKIP_PREFIXES)


def rewrite_text(text: str, refs: list[Ref], rewrite: dict[str, str]) -> str:
    """Replace explicit database names in a DDL by their rewritten names."""
    spans = sorted({(r.db_span, r.db) for r in refs if r.db_span and r.db in rewrite}, reverse=True)
    for (a, b), db in spans:
        text = text[:a] + "`" + rewrite[db].replace("`", "``") + "`" + text[b:]
    return text
