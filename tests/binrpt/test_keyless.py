"""Tables without any key: UPDATE/DELETE images run as a set (target.run_keyless) must leave the
target exactly as the reference per-row statements (every column <=>, LIMIT 1, in order) do, on
tables full of duplicate rows, NULLs, case- and space-insensitive strings, DOUBLE, DECIMAL, JSON and
BLOB values; and they must be linear: one scan per batch, not one per row."""
from __future__ import annotations

import decimal
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binrpt import statements as S
from binrpt.config import Endpoint
from binrpt.target import Target

COLS = ["a", "s", "f", "d", "j", "b"]
DDL = ("CREATE TABLE {t} (a INT, s VARCHAR(8) COLLATE utf8mb4_general_ci, f DOUBLE, d DECIMAL(10,3), "
       "j LONGTEXT, b BLOB) ENGINE=InnoDB")
DOMAIN = {
    "a": [None, 0, 1, 2, -7],
    "s": [None, "x", "X", "x ", "", "yy"],
    "f": [None, 0.1, 1.5, -2.25, 1e300],
    "d": [None, decimal.Decimal("0.000"), decimal.Decimal("1.250"), decimal.Decimal("-3.100")],
    "j": [None, '{"k": 1}', "[1, 2]", '"s"'],
    "b": [None, b"", b"\x00", b"\x00\xff\x01"],
}


class _Log:
    def __getattr__(self, _name):
        return lambda *a, **k: None


def _target(server, schema):
    p = server.params
    t = Target(Endpoint(p["host"], p["port"], p["user"], p["password"], "utf8mb4"), schema, "kl", _Log())
    t.connect()
    return t


def _ti(db, table):
    return S.TableInfo(db, table, db, list(COLS), [None] * len(COLS), [], set(), {})


def _rows(server, qname):
    return sorted((repr(r) for r in server.q(f"SELECT a, s, f, d, j, b FROM {qname}")))


def _scenario(rnd: random.Random, n_rows: int, n_ops: int):
    """Initial rows (many duplicates) and a list of operations as a source replica would log them:
    ("update" | "delete", before image, after image); most before-images are rows the source has at
    that point (the updated rows of earlier operations included: chains), some are not (a row
    missing on the target)."""
    def row():
        return {c: rnd.choice(DOMAIN[c]) for c in COLS}
    base = [row() for _ in range(max(1, n_rows // 3))]
    rows = [dict(rnd.choice(base)) if rnd.random() < 0.6 else row() for _ in range(n_rows)]
    model = [dict(r) for r in rows]
    ops = []
    for _ in range(n_ops):
        kind = rnd.choice(("update", "update", "delete"))
        if model and rnd.random() < 0.93:
            before = dict(model.pop(rnd.randrange(len(model))))
        else:
            before = row()
        after = None
        if kind == "update":
            after = dict(before)
            for c in rnd.sample(COLS, rnd.randint(1, 2)):
                after[c] = rnd.choice(DOMAIN[c])
            model.append(dict(after))
        ops.append((kind, before, after))
    return rows, ops


def _batches(ti, ops):
    """The statements the applier makes: consecutive images of one kind in one keyless batch."""
    out = []
    for i, (kind, before, after) in enumerate(ops):
        g = f"0-1-{i + 1}"
        image = {"before": before, "after": after} if kind == "update" else before
        cols = list(COLS) if kind == "update" else None
        last = out[-1] if out else None
        if not S.extend_keyless(last, ti, g, kind, before, image, cols):
            out.append(S.keyless(ti, g, kind, before, image, cols))
    return out


_made: set = set()


def _empty_table(server, qname: str, ddl: str) -> None:
    """`qname` (of `ddl`) empty: created once per server, then emptied by DELETE for each example (a
    DROP and CREATE per hypothesis example took longer than the example, on MySQL most). Rows read in
    insertion order either way: the reference and the batched table are always made the same way."""
    key = (server.params["port"], qname)
    if key in _made:
        server.q(f"DELETE FROM {qname}")
        return
    server.q(f"DROP TABLE IF EXISTS {qname}")
    server.q(ddl.format(t=qname))
    _made.add(key)


def _load(server, db, table, rows):
    from binrpt.values import literal
    _empty_table(server, f"`{db}`.`{table}`", DDL)
    if rows:
        server.q(f"INSERT INTO `{db}`.`{table}` VALUES " +
                 ",".join("(" + ",".join(literal(r[c]) for c in COLS) + ")" for r in rows))


class _Srv:
    def __init__(self, db):
        self.params = db.params

    def q(self, sql, args=None):
        import pymysql
        p = self.params
        c = pymysql.connect(host=p["host"], port=p["port"], user=p["user"], password=p["password"], autocommit=True,
                            ssl_disabled=True)   # no TLS (see conftest.Server.connect)
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            c.close()


@pytest.fixture(scope="module", params=["mariadb", "mysql"])
def kl_db(request):
    """The target: the suite's MariaDB target, or a MySQL 9 one (skipped where MySQL is missing)."""
    if request.param == "mariadb":
        _src, dst = request.getfixturevalue("pair")
    else:
        dst = _Srv(request.getfixturevalue("mysql_servers")[1])   # the session's MySQL target
    dst.q("CREATE DATABASE IF NOT EXISTS kl_diff")
    dst.q("CREATE DATABASE IF NOT EXISTS kl_cp")
    t = _target(dst, "kl_cp")
    yield dst, t
    t.close()


def _apply(t, stmts):
    fails = t.run(stmts)
    t.conn.commit()
    return [(f.cls, f.stmt.rows[0][0]) for f in fails]


def _differential(dst, t, rows, ops):
    _load(dst, "kl_diff", "ref", rows)
    _load(dst, "kl_diff", "bat", rows)
    t.forget_columns()
    t.columns("kl_diff", "bat")
    ref = [s for b in _batches(_ti("kl_diff", "ref"), ops) for s in S.per_row(b)]
    bat = _batches(_ti("kl_diff", "bat"), ops)
    f_ref = _apply(t, ref)
    f_bat = _apply(t, bat)
    assert f_bat == f_ref
    assert _rows(dst, "kl_diff.bat") == _rows(dst, "kl_diff.ref")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(0, 40), n_ops=st.integers(1, 40))
def test_batched_equals_per_row(kl_db, seed, n_rows, n_ops):
    dst, t = kl_db
    rows, ops = _scenario(random.Random(seed), n_rows, n_ops)
    _differential(dst, t, rows, ops)


def test_distinct_rows_are_applied_as_a_set_and_duplicates_per_row(kl_db):
    dst, t = kl_db
    rnd = random.Random(7)
    rows = [{"a": i, "s": rnd.choice(DOMAIN["s"]), "f": i / 4, "d": None, "j": '{"k": 1}', "b": b"\x00"}
            for i in range(300)]
    rows += [dict(rows[5]), dict(rows[5]), {c: None for c in COLS}, {c: None for c in COLS}]
    ops = [("update", dict(r), {**r, "a": r["a"] + 1000}) for r in rows[10:200]]
    ops += [("update", dict(rows[5]), {**rows[5], "s": "zz"})]          # 3 identical rows: one changes
    ops += [("delete", {c: None for c in COLS}, None)]                   # 2 all-NULL rows: one goes
    ops += [("delete", dict(r), None) for r in rows[200:290]]
    before = t.kl_batched, t.kl_per_row
    _differential(dst, t, rows, ops)
    # the per-row reference ran the same statements; the batched run: the distinct rows as a set
    assert t.kl_batched - before[0] == 190 + 90
    assert t.kl_per_row - before[1] == 2  # the images of duplicate rows
    assert dst.q("SELECT COUNT(*) FROM kl_diff.bat WHERE a IS NULL AND s IS NULL")[0][0] == 1
    assert dst.q("SELECT COUNT(*) FROM kl_diff.bat WHERE s = 'zz'")[0][0] == 1


def test_a_chain_or_a_missing_row_runs_the_batch_per_row(kl_db):
    dst, t = kl_db
    rows = [{"a": i, "s": "x", "f": None, "d": None, "j": None, "b": None} for i in range(5)]
    chain = [("update", dict(rows[0]), {**rows[0], "a": 10}), ("update", {**rows[0], "a": 10}, {**rows[0], "a": 11})]
    before = t.kl_per_row
    _differential(dst, t, rows, chain)
    assert t.kl_per_row - before == 2
    assert dst.q("SELECT COUNT(*) FROM kl_diff.bat WHERE a = 11")[0][0] == 1
    # a chain through a case-insensitive match: per row, the second update takes the row the first
    # one wrote ('x' = 'X' here), not the other; as a set it would change both rows
    nul = {"f": None, "d": None, "j": None, "b": None}
    ci = [{"a": 0, "s": "x", **nul}, {"a": 1, "s": "X", **nul}]
    _differential(dst, t, ci, [("update", dict(ci[0]), {**ci[0], "a": 1}),
                               ("update", {**ci[0], "a": 1}, {**ci[0], "a": 2})])
    assert sorted(dst.q("SELECT a, s FROM kl_diff.bat")) == [(1, "X"), (2, "x")]
    missing = [("delete", dict(rows[1]), None), ("delete", {**rows[2], "a": 99}, None)]
    _differential(dst, t, rows, missing)
    assert _apply(t, []) == []


# -- UPDATEs by primary key as one join ---------------------------------------------------------
PK_DDL = ("CREATE TABLE {t} (k VARCHAR(8) COLLATE utf8mb4_general_ci NOT NULL, n INT NOT NULL, v DOUBLE, "
          "d DECIMAL(10,3), j LONGTEXT, b BLOB, PRIMARY KEY (k, n), UNIQUE KEY (v)) ENGINE=InnoDB")
PK_COLS = ["k", "n", "v", "d", "j", "b"]


def _pk_ti(table):
    return S.TableInfo("kl_diff", table, "kl_diff", list(PK_COLS), [None] * len(PK_COLS), ["k", "n"], set(), {})


def _pk_scenario(rnd: random.Random, n_rows: int, n_ops: int):
    keys = [(rnd.choice(["a", "b", "B", "c "]), rnd.randrange(6)) for _ in range(n_rows)]
    rows, seen = [], set()
    for k, n in keys:
        if (k.lower().strip(), n) not in seen:
            seen.add((k.lower().strip(), n))
            rows.append({"k": k, "n": n, "v": None, "d": decimal.Decimal("1.500"), "j": None, "b": b"\x00"})
    initial = [dict(r) for r in rows]
    ops = []
    for _ in range(n_ops):
        if rows and rnd.random() < 0.9:
            before = dict(rnd.choice(rows))
        else:
            before = {"k": "zz", "n": 99, "v": None, "d": None, "j": None, "b": None}   # missing row
        after = dict(before)
        after["v"] = rnd.choice([None, None, 0.5, 1.5, float(rnd.randrange(1000))])  # UNIQUE: collisions
        after["d"] = rnd.choice([None, decimal.Decimal("2.250"), decimal.Decimal("-1.000")])
        after["j"] = rnd.choice([None, '{"a": 1}'])
        if rnd.random() < 0.03:
            after["n"] = before["n"] + 10                                              # a key change
        if rnd.random() < 0.03:
            after["k"] = before["k"].upper()                                           # same key, ci
        ops.append((before, after))
        for r in rows:
            if r["k"] == before["k"] and r["n"] == before["n"]:
                r.update(after)
    return initial, ops


def _pk_differential(dst, t, rows, ops):
    from binrpt.values import literal
    for table in ("pref", "pbat"):
        _empty_table(dst, f"kl_diff.{table}", PK_DDL)
        if rows:
            dst.q(f"INSERT INTO kl_diff.{table} VALUES " +
                  ",".join("(" + ",".join(literal(r[c]) for c in PK_COLS) + ")" for r in rows))
    t.forget_columns()
    t.columns("kl_diff", "pbat")
    ref_ti, bat_ti = _pk_ti("pref"), _pk_ti("pbat")
    ref = [S.update(ref_ti, f"0-1-{i}", b, a, PK_COLS) for i, (b, a) in enumerate(ops)]
    bat = []
    for i, (b, a) in enumerate(ops):
        if not S.extend_keyed_update(bat[-1] if bat else None, bat_ti, f"0-1-{i}", b, a, PK_COLS):
            bat.append(S.keyed_update(bat_ti, f"0-1-{i}", b, a, PK_COLS))
    f_ref = [(f.cls, f.stmt.rows[0][0]) for f in t.run(ref)]
    t.conn.commit()
    f_bat = [(f.cls, f.stmt.rows[0][0]) for f in t.run(bat)]
    t.conn.commit()
    assert f_bat == f_ref
    assert _rows_pk(dst, "pbat") == _rows_pk(dst, "pref")


def _rows_pk(dst, table):
    return sorted(repr(r) for r in dst.q(f"SELECT k, n, v, d, j, b FROM kl_diff.{table}"))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(0, 30), n_ops=st.integers(1, 30))
def test_keyed_updates_as_one_join_equal_per_row(kl_db, seed, n_rows, n_ops):
    dst, t = kl_db
    rows, ops = _pk_scenario(random.Random(seed), n_rows, n_ops)
    _pk_differential(dst, t, rows, ops)


def test_keyed_updates_of_distinct_rows_are_one_join(kl_db):
    dst, t = kl_db
    rows = [{"k": "a", "n": i, "v": float(i), "d": None, "j": None, "b": None} for i in range(200)]
    ops = [(dict(r), {**r, "d": decimal.Decimal("7.000"), "j": '{"x": [1]}'}) for r in rows[:150]]
    before = t.kl_batched
    _pk_differential(dst, t, rows, ops)
    assert t.kl_batched - before == 150
    assert dst.q("SELECT COUNT(*) FROM kl_diff.pbat WHERE d = 7")[0][0] == 150
    # a missing row: the whole batch runs per row, which reports it
    missing = {"k": "zz", "n": 99, "v": None, "d": None, "j": None, "b": None}
    before = t.kl_batched
    _pk_differential(dst, t, rows, ops[:3] + [(missing, {**missing, "d": decimal.Decimal("1.000")})])
    assert t.kl_batched == before


def test_a_non_transactional_table_runs_per_row(kl_db):
    """A savepoint cannot undo a batch on MyISAM: such tables keep the per-row statements."""
    from binrpt.values import literal
    dst, t = kl_db
    rows = [{"a": i, "s": "x", "f": None, "d": None, "j": None, "b": None} for i in range(10)]
    dst.q("DROP TABLE IF EXISTS kl_diff.my")
    dst.q(DDL.format(t="kl_diff.my").replace("InnoDB", "MyISAM"))
    dst.q("INSERT INTO kl_diff.my VALUES " + ",".join("(" + ",".join(literal(r[c]) for c in COLS) + ")" for r in rows))
    t.forget_columns()
    t.columns("kl_diff", "my")
    before = t.kl_batched
    ops = [("update", dict(r), {**r, "a": r["a"] + 100}) for r in rows[:6]]
    assert _apply(t, _batches(_ti("kl_diff", "my"), ops)) == []
    assert t.kl_batched == before
    assert dst.q("SELECT COUNT(*) FROM kl_diff.my WHERE a >= 100")[0][0] == 6
