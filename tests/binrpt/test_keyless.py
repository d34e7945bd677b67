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


def _load(server, db, table, rows):
    from binrpt.values import literal
    server.q(f"DROP TABLE IF EXISTS `{db}`.`{table}`")
    server.q(DDL.format(t=f"`{db}`.`{table}`"))
    if rows:
        server.q(f"INSERT INTO `{db}`.`{table}` VALUES " +
                 ",".join("(" + ",".join(literal(r[c]) for c in COLS) + ")" for r in rows))


@pytest.fixture(scope="module")
def kl_db(pair):
    _src, dst = pair
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
