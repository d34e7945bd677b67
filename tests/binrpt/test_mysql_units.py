"""MySQL GTID sets, sql_mode translation between flavours, MySQL JSON values: the core functions."""
from __future__ import annotations

import datetime
import decimal
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binrpt import gtid as G
from binrpt import values
from binrpt.config import check_start_position
from binrpt.ddl import sql_mode_names

U1 = "4fe30e49-e624-11f1-ac85-02fc00000001"
U2 = "5fe30e49-e624-11f1-ac85-02fc00000002"


def test_mysql_gtid_set_parse_and_format():
    s = G.parse(f"{U2}:1-3,\n{U1}:1-5:7:9-10:tag1:1-3")
    assert s == {(U2, ""): ((1, 3),), (U1, ""): ((1, 5), (7, 7), (9, 10)), (U1, "tag1"): ((1, 3),)}
    assert G.format(s) == f"{U1}:1-5:7:9-10:tag1:1-3,{U2}:1-3"
    # MySQL 8.4's two spellings of a tagged set, upper-case uuid, adjacent and overlapping intervals
    assert G.format(G.parse(f"{U1}:tag1:1-3:5,{U1.upper()}:4,{U1}:5-6:6-8")) == f"{U1}:4-8:tag1:1-3:5"
    assert G.has_tags(s) and not G.has_tags(G.parse(f"{U1}:1"))
    assert G.parse(U1.replace("-", "") + ":1") == {(U1, ""): ((1, 1),)}


@pytest.mark.parametrize("bad", [f"{U1}", f"{U1}:0", f"{U1}:5-3", f"{U1}:x-y", "nouuid:1", f"{U1}:Bad-Tag!:1"])
def test_mysql_gtid_set_errors(bad):
    with pytest.raises(G.GtidError):
        G.parse(bad)


_sets = st.dictionaries(st.sampled_from([(U1, ""), (U2, ""), (U1, "t")]),
                        st.sets(st.integers(1, 60), min_size=1, max_size=25), max_size=3)


def _as_state(d: dict) -> dict:
    st_: dict = {}
    for k, ns in d.items():
        for n in sorted(ns, key=lambda x: (x * 7919) % 61):  # any order
            G.advance(st_, k, 0, n)
    return st_


@given(_sets, _sets)
@settings(max_examples=200, deadline=None)
def test_mysql_gtid_set_is_a_set(a, b):
    """Reference: Python sets of (uuid, tag, n)."""
    sa, sb = _as_state(a), _as_state(b)
    ref_a = {(k, n) for k, ns in a.items() for n in ns}
    ref_b = {(k, n) for k, ns in b.items() for n in ns}
    assert G.parse(G.format(sa)) == sa
    for k, n in ref_a:
        assert G.is_applied(sa, k, n)
    for k in ((U1, ""), (U2, ""), (U1, "t")):
        for n in range(1, 62):
            assert G.is_applied(sa, k, n) == ((k, n) in ref_a)
    assert G.covers(sa, sb) == (ref_b <= ref_a)
    assert G.missing(sa, sb) == len(ref_b - ref_a)
    assert {(k, n) for k, iv in G.subtract(sa, sb).items() for a_, b_ in iv for n in range(a_, b_ + 1)} == ref_a - ref_b
    c = dict(sa)  # a copy: advancing one does not change the other
    G.advance(c, (U1, ""), 0, 1000)
    assert not G.is_applied(sa, (U1, ""), 1000)


def test_mariadb_positions_unchanged():
    s = G.parse("0-1-5,1-2-3")
    assert s == {0: (1, 5), 1: (2, 3)}
    assert G.missing(s, G.parse("0-1-9,2-1-1")) == 5
    assert G.covers(s, G.parse("0-1-5")) and not G.covers(s, G.parse("0-1-6"))


def test_start_position_accepts_mysql_sets_and_file_pos():
    assert check_start_position(f"{U1}:1-5,{U2}:3") == f"{U1}:1-5,{U2}:3"
    assert check_start_position("binlog.000002:157") == "binlog.000002:157"
    with pytest.raises(ValueError):
        check_start_position(f"{U1}:0")


def test_sql_mode_between_flavours():
    # MySQL: STRICT_TRANS_TABLES (1<<21) | NO_ZERO_DATE (1<<24) | ONLY_FULL_GROUP_BY (1<<5)
    # | TIME_TRUNCATE_FRACTIONAL (1<<32, unknown to MariaDB, whose bit 32 is EMPTY_STRING_IS_NULL)
    bits = (1 << 21) | (1 << 24) | (1 << 5) | (1 << 32)
    assert sql_mode_names(bits, "mysql", True) == "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_DATE"
    assert sql_mode_names(bits, "mysql", False).endswith(",TIME_TRUNCATE_FRACTIONAL")
    # MariaDB: bit 4 IGNORE_BAD_TABLE_OPTIONS and bit 28 NO_AUTO_CREATE_USER do not exist in MySQL 8+
    assert sql_mode_names((1 << 4) | (1 << 28) | (1 << 30), "mariadb", False) == "NO_ENGINE_SUBSTITUTION"
    # combination modes are left out (their parts are set too)
    assert sql_mode_names((1 << 27) | (1 << 21), "mysql", True) == "STRICT_TRANS_TABLES"


def _dec(c):
    class Col:
        type = values.T_JSON
    return values.column_converters([Col()])[0](c)


def test_mysql_json_values_become_json_text():
    v = {b"a": [1, 2, {b"b": values.JSON_NULL_VALUE}], b"k": b"v \xc3\xbc \xf0\x9f\x8d\xa3", b"t": True, b"f": 1.5,
         b"n": -7, b"big": 18446744073709551615, b"d": decimal.Decimal("1.10"),
         b"dt": datetime.datetime(2024, 1, 2, 3, 4, 5, 6)}
    text = _dec(v)
    assert isinstance(text, values.JsonText)
    assert json.loads(text) == {"a": [1, 2, {"b": None}], "k": "v ü 🍣", "t": True, "f": 1.5, "n": -7,
                                "big": 18446744073709551615, "d": 1.10, "dt": "2024-01-02 03:04:05.000006"}
    assert _dec(values.JSON_NULL_VALUE) == "null" and _dec(b"s") == '"s"' and _dec(False) == "false"
    assert _dec(0) == "0" and _dec([]) == "[]"


def test_json_literal_depends_on_the_target():
    j = values.JsonText('{"a": 1}')
    try:
        values.set_json_target(mysql=True)
        assert values.literal(j) == "CAST('{\\\"a\\\": 1}' AS JSON)"
    finally:
        values.set_json_target(mysql=False)
    assert values.literal(j) == "'{\\\"a\\\": 1}'"


def test_library_json_null_is_not_sql_null():
    """The library decodes the JSON value null as None and reports it as SQL NULL; with libfix it is
    a marker that is written back as JSON null."""
    from pymysqlreplication import json_binary

    from binrpt.libfix import install
    install()
    assert json_binary.parse_json(json_binary.JSONB_TYPE_LITERAL, b"\x00") is values.JSON_NULL_VALUE
    assert json_binary.parse_json(json_binary.JSONB_TYPE_LITERAL, b"\x01") is True
