"""Pure statement builders: converted row images -> the SQL binrpt runs on the target.

Nothing here talks to a server. A row image is a dict {column: value} in the table's column order,
where ABSENT marks a column a MINIMAL/NOBLOB image does not carry. UPDATE/DELETE match on the
primary key when the image holds all of it, else on every column with `<=>` and `LIMIT 1` (one of
two identical rows). Consecutive INSERTs of one table with the same columns become one multi-row
INSERT, consecutive single-key DELETEs one `WHERE pk IN (...)`, up to CHUNK rows each; such a
statement can be split back into one statement per row (split_rows) when it fails as a whole.

Tables without any key: consecutive UPDATE (or DELETE) images of one table become one `keyless`
statement (kind kl_update / kl_delete), which the target runs as a set (target.run_keyless: the
images in a temporary table joined to the table, one scan per batch instead of one per row) where
that provably gives the per-row result, and otherwise as the per-row statements (per_row(), the
reference path: every column `<=>`, LIMIT 1, in order). Consecutive UPDATEs by primary key of one
table likewise become one `pk_update` batch (target._pk_batch: one UPDATE joined to the images).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .values import ABSENT, literal, quote_name

CHUNK = 1000          # rows per multi-row INSERT / DELETE ... IN (...)
KL_CHUNK = 20000      # row images per keyless batch


@dataclass(slots=True, eq=False)
class Stmt:
    """One statement to run; `rows` are (gtid, image) pairs, for errors and dead letters."""
    sql: str
    expected: int | None      # matched rows the server must report; None: not checked
    kind: str                 # insert | update | delete | delete_in | ddl | rows | use | statement | dead_letter
    db: str
    table: str
    rows: list = field(default_factory=list)
    info: TableInfo | None = None   # multi-row statements (insert, delete_in): the table, for split_rows
    cols: list | None = None        # insert: the columns written
    keys: list | None = None        # delete_in: the key literals; kl_*: the columns matched
    lits: list | None = None        # kl_*: per image (literals of the matched columns, of the set columns)


class TableInfo:
    """How rows of one source table (as one TABLE_MAP describes it) are written on the target."""

    __slots__ = ("db", "table", "tdb", "names", "convs", "conv_items", "write_cols", "qcols", "pk", "drop",
                 "masks", "qname")

    def __init__(self, db: str, table: str, tdb: str, names: list, convs: list, pk: list, drop: set,
                 masks: dict):
        self.db, self.table, self.tdb = db, table, tdb
        self.names = names
        self.convs = convs
        self.conv_items = [(n, c) for n, c in zip(names, convs, strict=True) if c is not None]
        self.write_cols = [n for n in names if n not in drop]
        self.qcols = ",".join(quote_name(c) for c in self.write_cols)
        self.pk = pk                  # list of PK column names ([] = none)
        self.drop = drop              # columns not written (generated, or missing with policy ignore)
        self.masks = masks            # {name: kind}
        self.qname = f"{quote_name(tdb)}.{quote_name(table)}"


def columns(ti: TableInfo, im: dict, partial: bool) -> list[str]:
    """The columns an image writes: all written columns, or (partial images) those it carries."""
    if not partial:
        return ti.write_cols
    drop = ti.drop
    return [n for n, v in im.items() if v is not ABSENT and n not in drop]


def where(ti: TableInfo, im: dict) -> str:
    """The condition matching the row of an image: its primary key when the image holds all of it,
    else every column it carries (NULL-safe)."""
    if ti.pk and all(im.get(k, ABSENT) is not ABSENT for k in ti.pk):
        return " AND ".join(f"{quote_name(k)}<=>{literal(im[k])}" for k in ti.pk)
    return " AND ".join(f"{quote_name(k)}<=>{literal(v)}" for k, v in im.items()
                        if v is not ABSENT and k not in ti.drop)


def _limit(ti: TableInfo) -> str:
    return "" if ti.pk else " LIMIT 1"


def _values(im: dict, cols: list[str]) -> str:
    return "(" + ",".join([literal(im[c]) for c in cols]) + ")"


# -- INSERT ------------------------------------------------------------------------------------
def insert(ti: TableInfo, gtid: str, im: dict, cols: list[str]) -> Stmt:
    """A one-row INSERT that extend_insert() can grow into a multi-row one."""
    qcols = ti.qcols if cols is ti.write_cols else ",".join(quote_name(c) for c in cols)
    return Stmt(f"INSERT INTO {ti.qname} ({qcols}) VALUES {_values(im, cols)}", 1, "insert", ti.tdb, ti.table,
                [(gtid, im)], info=ti, cols=cols)


def extend_insert(st: Stmt | None, ti: TableInfo, gtid: str, im: dict, cols: list[str]) -> int:
    """Append the row to st when st is an INSERT of the same table and columns with room left:
    the number of characters added, or 0 when it was not appended."""
    if (st is None or st.kind != "insert" or st.table != ti.table or st.db != ti.tdb
            or not (st.cols is cols or st.cols == cols) or st.expected >= CHUNK):
        return 0
    vals = _values(im, cols)
    st.sql += "," + vals
    st.expected += 1
    st.rows.append((gtid, im))
    return len(vals) + 1


# -- UPDATE ------------------------------------------------------------------------------------
def update(ti: TableInfo, gtid: str, before: dict, after: dict, cols: list[str]) -> Stmt:
    sets = ",".join(f"{quote_name(c)}={literal(after[c])}" for c in cols)
    return Stmt(f"UPDATE {ti.qname} SET {sets} WHERE {where(ti, before)}{_limit(ti)}", 1, "update", ti.tdb,
                ti.table, [(gtid, {"before": before, "after": after})])


# -- DELETE ------------------------------------------------------------------------------------
def delete(ti: TableInfo, gtid: str, im: dict) -> Stmt:
    """DELETE of one row. A table keyed on one column: `WHERE pk IN (v)`, which extend_delete()
    can grow; a NULL or absent key value, or any other table: by where() (LIMIT 1 without a key)."""
    if len(ti.pk) == 1:
        v = im.get(ti.pk[0], ABSENT)
        if v is ABSENT or v is None:
            return Stmt(f"DELETE FROM {ti.qname} WHERE {where(ti, im)} LIMIT 1", 1, "delete", ti.tdb, ti.table,
                        [(gtid, im)])
        lit = literal(v)
        return Stmt(f"DELETE FROM {ti.qname} WHERE {quote_name(ti.pk[0])} IN ({lit})", 1, "delete_in", ti.tdb,
                    ti.table, [(gtid, im)], info=ti, keys=[lit])
    return Stmt(f"DELETE FROM {ti.qname} WHERE {where(ti, im)}{_limit(ti)}", 1, "delete", ti.tdb, ti.table,
                [(gtid, im)])


def extend_delete(st: Stmt | None, ti: TableInfo, gtid: str, im: dict) -> int:
    """Add the row's key to st when st is a `DELETE ... IN` of the same table with room left and
    the key is a value: the number of characters added, or 0 when it was not added."""
    if (st is None or st.kind != "delete_in" or st.table != ti.table or st.db != ti.tdb
            or st.expected >= CHUNK or len(ti.pk) != 1):
        return 0
    v = im.get(ti.pk[0], ABSENT)
    if v is ABSENT or v is None:
        return 0
    lit = literal(v)
    st.keys.append(lit)
    st.expected += 1
    st.rows.append((gtid, im))
    st.sql = f"DELETE FROM {ti.qname} WHERE {quote_name(ti.pk[0])} IN ({','.join(st.keys)})"
    return len(lit) + 1


# -- retries -----------------------------------------------------------------------------------
def split_rows(st: Stmt) -> list[Stmt] | None:
    """A multi-row statement as one statement per row (to retry a batch that failed as a whole),
    or None when st is not one."""
    ti = st.info
    if ti is None:
        return None
    if st.kind == "insert":
        return [insert(ti, g, im, st.cols) for g, im in st.rows]
    if st.kind == "delete_in":
        return [Stmt(f"DELETE FROM {ti.qname} WHERE {where(ti, im)}", 1, "delete", ti.tdb, ti.table, [(g, im)])
                for g, im in st.rows]
    return None


# -- keyless tables: UPDATE/DELETE images of a table without any key, run as a set -------------
def match_columns(ti: TableInfo, im: dict) -> list[str]:
    """The columns an UPDATE/DELETE without a key matches on (those of where())."""
    drop = ti.drop
    return [k for k, v in im.items() if v is not ABSENT and k not in drop]


def keyless(ti: TableInfo, gtid: str, kind: str, before: dict, image, cols: list[str] | None) -> Stmt:
    """A keyless batch of one image. kind: update (image {"before", "after"}, cols: the columns set)
    or delete (image = before)."""
    st = Stmt("", None, "kl_" + kind, ti.tdb, ti.table, [], info=ti, cols=cols, keys=match_columns(ti, before),
              lits=[])
    _kl_append(st, gtid, before, image)
    return st


def _kl_append(st: Stmt, gtid: str, before: dict, image) -> int:
    b = [literal(before[c]) for c in st.keys]
    a = [literal(image["after"][c]) for c in st.cols] if st.cols is not None else []
    st.rows.append((gtid, image))
    st.lits.append((b, a))
    n = sum(map(len, b)) + sum(map(len, a)) + 2 * (len(b) + len(a)) + 12
    st.sql = ""  # built by the target (or per_row()) when needed; the size is counted by the caller
    return n


def extend_keyless(st: Stmt | None, ti: TableInfo, gtid: str, kind: str, before: dict, image,
                   cols: list[str] | None) -> int:
    """Append the image to st when st is a keyless batch of the same table, kind and columns with
    room left: the number of characters added, or 0 when it was not appended."""
    if (st is None or st.kind != "kl_" + kind or st.info is not ti or len(st.rows) >= KL_CHUNK
            or not (st.cols is cols or st.cols == cols)):
        return 0
    if match_columns(ti, before) != st.keys:
        return 0
    return _kl_append(st, gtid, before, image)


def keyless_size(st: Stmt) -> int:
    return sum(sum(map(len, b)) + sum(map(len, a)) + 2 * (len(b) + len(a)) + 12 for b, a in st.lits)


# -- keyed tables: UPDATE images by primary key, run as a set -----------------------------------
def keyed_update(ti: TableInfo, gtid: str, before: dict, after: dict, cols: list[str]) -> Stmt:
    """A batch of UPDATEs by primary key (kind pk_update): the target runs it as one join of a
    temporary table of the images to the table when that gives the per-row result, else per row."""
    st = Stmt("", None, "pk_update", ti.tdb, ti.table, [], info=ti, cols=cols, keys=ti.pk, lits=[])
    _kl_append(st, gtid, before, {"before": before, "after": after})
    return st


def extend_keyed_update(st: Stmt | None, ti: TableInfo, gtid: str, before: dict, after: dict,
                        cols: list[str]) -> int:
    if (st is None or st.kind != "pk_update" or st.info is not ti or len(st.rows) >= KL_CHUNK
            or not (st.cols is cols or st.cols == cols)):
        return 0
    return _kl_append(st, gtid, before, {"before": before, "after": after})


def per_row(st: Stmt) -> list[Stmt]:
    """A keyless (or keyed update) batch as the reference per-row statements, in order."""
    ti = st.info
    if st.kind in ("kl_update", "pk_update"):
        return [update(ti, g, im["before"], im["after"], st.cols) for g, im in st.rows]
    return [delete(ti, g, im) for g, im in st.rows]


def expand(stmts: list[Stmt]) -> list[Stmt]:
    """Statements with keyless batches replaced by their per-row statements (dry run, debug log)."""
    if not any(s.lits is not None for s in stmts):
        return stmts
    out: list[Stmt] = []
    for s in stmts:
        out.extend(per_row(s) if s.lits is not None else [s])
    return out
