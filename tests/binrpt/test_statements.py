"""The pure statement builders (binrpt.statements), the DDL filter decision (binrpt.ddl) and the
Go-style command line, without a server."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binrpt import statements as S
from binrpt.cli import build_parser
from binrpt.config import from_dict
from binrpt.ddl import decide
from binrpt.values import ABSENT


def _ti(pk=("id",), names=("id", "a", "b"), drop=(), tdb="db", table="t"):
    return S.TableInfo("db", table, tdb, list(names), [None] * len(names), list(pk), set(drop), {})


# -- where -------------------------------------------------------------------------------------
def test_where_uses_the_primary_key():
    assert S.where(_ti(), {"id": 7, "a": None, "b": "x"}) == "`id`<=>7"


def test_where_composite_key_in_key_order():
    ti = _ti(pk=("b", "id"))
    assert S.where(ti, {"id": 1, "a": 2, "b": "q"}) == "`b`<=>'q' AND `id`<=>1"


def test_where_without_a_key_matches_every_carried_column_null_safe():
    ti = _ti(pk=(), drop=("b",))
    assert S.where(ti, {"id": 1, "a": None, "b": "gen"}) == "`id`<=>1 AND `a`<=>NULL"


def test_where_falls_back_to_every_column_when_the_image_lacks_the_key():
    # a MINIMAL before-image without the key column: match on what it carries
    ti = _ti(pk=("id",))
    assert S.where(ti, {"id": ABSENT, "a": 5, "b": ABSENT}) == "`a`<=>5"


# -- columns -----------------------------------------------------------------------------------
def test_columns_full_and_partial_images():
    ti = _ti(drop=("b",))
    im = {"id": 1, "a": ABSENT, "b": 3}
    assert S.columns(ti, im, partial=False) is ti.write_cols == ["id", "a"]
    assert S.columns(ti, im, partial=True) == ["id"]


# -- INSERT ------------------------------------------------------------------------------------
def test_insert_grows_into_a_multi_row_insert_and_splits_back():
    ti = _ti()
    cols = ti.write_cols
    st = S.insert(ti, "0-1-1", {"id": 1, "a": 2, "b": "x"}, cols)
    assert st.sql == "INSERT INTO `db`.`t` (`id`,`a`,`b`) VALUES (1,2,'x')"
    added = S.extend_insert(st, ti, "0-1-2", {"id": 2, "a": None, "b": "y"}, cols)
    assert added == len("(2,NULL,'y')") + 1
    assert st.sql.endswith("VALUES (1,2,'x'),(2,NULL,'y')") and st.expected == 2
    assert [g for g, _ in st.rows] == ["0-1-1", "0-1-2"]
    singles = S.split_rows(st)
    assert [s.sql for s in singles] == ["INSERT INTO `db`.`t` (`id`,`a`,`b`) VALUES (1,2,'x')",
                                        "INSERT INTO `db`.`t` (`id`,`a`,`b`) VALUES (2,NULL,'y')"]
    assert all(s.expected == 1 and s.kind == "insert" for s in singles)


def test_insert_is_not_extended_across_tables_columns_or_the_chunk():
    ti, other = _ti(), _ti(table="u")
    st = S.insert(ti, "g", {"id": 1, "a": 2, "b": 3}, ti.write_cols)
    assert S.extend_insert(st, other, "g", {"id": 1, "a": 2, "b": 3}, other.write_cols) == 0
    assert S.extend_insert(st, ti, "g", {"id": 2, "a": 2, "b": ABSENT}, ["id", "a"]) == 0
    assert S.extend_insert(None, ti, "g", {"id": 2, "a": 2, "b": 3}, ti.write_cols) == 0
    st.expected = S.CHUNK
    assert S.extend_insert(st, ti, "g", {"id": 2, "a": 2, "b": 3}, ti.write_cols) == 0
    upd = S.update(ti, "g", {"id": 1, "a": 1, "b": 1}, {"id": 1, "a": 2, "b": 1}, ti.write_cols)
    assert S.extend_insert(upd, ti, "g", {"id": 2, "a": 2, "b": 3}, ti.write_cols) == 0


def test_insert_of_a_partial_image_names_its_columns():
    ti = _ti()
    st = S.insert(ti, "g", {"id": 1, "a": ABSENT, "b": 3}, ["id", "b"])
    assert st.sql == "INSERT INTO `db`.`t` (`id`,`b`) VALUES (1,3)"


# -- UPDATE ------------------------------------------------------------------------------------
def test_update_by_key_and_without_a_key():
    ti = _ti()
    st = S.update(ti, "g", {"id": 1, "a": 1, "b": "x"}, {"id": 1, "a": 2, "b": "x"}, ti.write_cols)
    assert st.sql == "UPDATE `db`.`t` SET `id`=1,`a`=2,`b`='x' WHERE `id`<=>1"
    assert st.rows == [("g", {"before": {"id": 1, "a": 1, "b": "x"}, "after": {"id": 1, "a": 2, "b": "x"}})]
    assert S.split_rows(st) is None
    nk = _ti(pk=())
    st = S.update(nk, "g", {"id": 1, "a": None, "b": "x"}, {"id": 1, "a": 2, "b": "x"}, nk.write_cols)
    assert st.sql.endswith("WHERE `id`<=>1 AND `a`<=>NULL AND `b`<=>'x' LIMIT 1")


# -- DELETE ------------------------------------------------------------------------------------
def test_delete_by_a_single_key_grows_into_in_and_splits_back():
    ti = _ti()
    st = S.delete(ti, "g1", {"id": 1, "a": 0, "b": 0})
    assert st.kind == "delete_in" and st.sql == "DELETE FROM `db`.`t` WHERE `id` IN (1)"
    assert S.extend_delete(st, ti, "g2", {"id": 2, "a": 0, "b": 0}) == 2
    assert st.sql == "DELETE FROM `db`.`t` WHERE `id` IN (1,2)" and st.expected == 2
    assert [s.sql for s in S.split_rows(st)] == ["DELETE FROM `db`.`t` WHERE `id`<=>1",
                                                 "DELETE FROM `db`.`t` WHERE `id`<=>2"]


def test_delete_with_a_null_key_or_no_key_matches_one_row():
    ti = _ti()
    st = S.delete(ti, "g", {"id": None, "a": 5, "b": 0})
    assert st.kind == "delete" and st.sql.endswith("LIMIT 1")
    in_st = S.delete(ti, "g", {"id": 1, "a": 0, "b": 0})
    assert S.extend_delete(in_st, ti, "g", {"id": None, "a": 5, "b": 0}) == 0
    assert S.extend_delete(st, ti, "g", {"id": 3, "a": 5, "b": 0}) == 0
    nk = _ti(pk=())
    assert S.delete(nk, "g", {"id": 1, "a": 2, "b": 3}).sql == \
        "DELETE FROM `db`.`t` WHERE `id`<=>1 AND `a`<=>2 AND `b`<=>3 LIMIT 1"
    ck = _ti(pk=("id", "a"))
    assert S.delete(ck, "g", {"id": 1, "a": 2, "b": 3}).sql == "DELETE FROM `db`.`t` WHERE `id`<=>1 AND `a`<=>2"


@given(st.lists(st.one_of(st.none(), st.integers(-2**63, 2**64)), min_size=1, max_size=50))
def test_deletes_in_order_lose_no_row(keys):
    """Whatever mix of NULL and non-NULL keys, the statements built row by row (as the applier does)
    hold every row once, in order, and each one's expected count is its number of rows."""
    ti = _ti()
    out: list[S.Stmt] = []
    for i, k in enumerate(keys):
        im = {"id": k, "a": i, "b": 0}
        if not S.extend_delete(out[-1] if out else None, ti, f"g{i}", im):
            out.append(S.delete(ti, f"g{i}", im))
    assert [g for s in out for g, _ in s.rows] == [f"g{i}" for i in range(len(keys))]
    assert all(s.expected == len(s.rows) for s in out)
    for s in out:
        if s.kind == "delete_in":
            assert s.sql.count(",") == len(s.rows) - 1


def test_stmt_fields_are_declared():
    st = S.Stmt("SELECT 1", None, "use", "db", "")
    with pytest.raises(AttributeError):
        st.singles = None


def test_names_are_quoted():
    ti = S.TableInfo("d`b", "t`x", "d`b", ["c`1"], [None], ["c`1"], set(), {})
    assert S.insert(ti, "g", {"c`1": 1}, ti.write_cols).sql == "INSERT INTO `d``b`.`t``x` (`c``1`) VALUES (1)"


# -- DDL filter decision -----------------------------------------------------------------------
def _filter(**replica):
    cfg = from_dict({"source": {"host": "h", "username": "u", "replicate_server_id": 9},
                     "replica": {"host": "h", "username": "u", **replica}})
    return cfg.filter


def test_decide_on_the_tables_a_ddl_names():
    f = _filter(replicate_do_db=["app"], replicate_wild_ignore_table=["app.secret%"])
    assert decide(f, "app", "CREATE TABLE t (id INT)")[0] is True
    assert decide(f, "app", "CREATE TABLE secret_x (id INT)")[0] is False
    assert decide(f, "other", "CREATE TABLE app.t (id INT)")[0] is True
    assert decide(f, "app", "RENAME TABLE t TO secret_t")[0] is None
    ok, refs = decide(f, "app", "DROP TABLE t")
    assert ok is True and [r.table for r in refs] == ["t"]


def test_decide_other_statements_by_their_default_database():
    f = _filter(replicate_do_db=["app"])
    assert decide(f, "app", "CREATE VIEW v AS SELECT 1") == (True, [])
    assert decide(f, "other", "CREATE VIEW v AS SELECT 1") == (False, [])
    assert decide(f, "", "CREATE VIEW v AS SELECT 1") == (False, [])


# -- Go-style flags ----------------------------------------------------------------------------
@pytest.mark.parametrize("argv,want", [
    (["-config", "c.toml", "-dryrun", "-stop-at-end"], {"config": "c.toml", "dryrun": True, "stop_at_end": True}),
    (["-config=c.toml", "-dryrun=false"], {"config": "c.toml", "dryrun": False}),
    (["--config", "c.toml", "--dry-run", "-debug"], {"config": "c.toml", "dryrun": True, "debug": True}),
    (["-config", "-odd.toml"], {"config": "-odd.toml"}),
    (["-config", "c.toml", "-start-position", "0-1-42", "-log-format", "json"],
     {"start_position": "0-1-42", "log_format": "json"}),
])
def test_go_style_flags_of_run(argv, want):
    ns = vars(build_parser("run").parse_args(argv))
    for k, v in want.items():
        assert ns[k] == v, (argv, ns)


def test_go_style_flags_of_verify_and_status():
    ns = build_parser("verify").parse_args(["-config", "c", "-chunk-size", "5", "-table", "a.b", "-all"])
    assert (ns.chunk_size, ns.table, ns.all) == (5, ["a.b"], True)
    assert build_parser("status").parse_args(["-config", "c", "-json"]).json is True
