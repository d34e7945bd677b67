"""qlap core functions without a server: Go formats, statistics, SQL splitting, DSNs, statements."""
from __future__ import annotations

import os
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qlap import dsn, gen, gofmt, sqltext, stats


# -- Go formats --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (1, "1ns"), (999, "999ns"), (1_000, "1µs"), (1_500, "1.5µs"), (145_575, "145.575µs"),
    (1_224_525, "1.224525ms"), (999_999_999, "999.999999ms"), (1_000_000_000, "1s"),
    (1_703_783_550, "1.70378355s"), (123_500_000_000, "2m3.5s"), (3_600_000_000_000, "1h0m0s"),
    (3_723_000_000_001, "1h2m3.000000001s"), (-1_500, "-1.5µs"),
])
def test_go_duration_strings(ns, text):
    assert gofmt.duration(ns) == text


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=10 ** 15))
def test_duration_round_trip(ns):
    assert gofmt.parse_duration(gofmt.duration(ns)) == ns


@pytest.mark.parametrize("text,ns", [("0", 0), ("100ms", 100_000_000), ("1m30s", 90_000_000_000),
                                     ("1.5s", 1_500_000_000), ("250us", 250_000), ("2h", 7_200_000_000_000)])
def test_parse_duration(text, ns):
    assert gofmt.parse_duration(text) == ns


@pytest.mark.parametrize("bad", ["", "10", "1x", "ms", "1s2", "--1s"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        gofmt.parse_duration(bad)


@pytest.mark.parametrize("x,text", [(305.0, "305"), (292.4863396144265, "292.4863396144265"), (0.0, "0"),
                                    (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-07"),
                                    (0.000001, "0.000001"), (1994.5, "1994.5"), (-2.0, "-2")])
def test_go_json_floats(x, text):
    assert gofmt.json_float(x) == text


def test_go_json_encoding():
    v = {"DSN": "u:****@tcp(h:1)/d?a=1&b=<2>", "N": 3, "F": 1.0, "B": False, "Nil": None, "L": [],
         "H": [{"1µs - 2µs": 4}], "E": {}}
    assert gofmt.encode(v) == (
        '{\n  "DSN": "u:****@tcp(h:1)/d?a=1\\u0026b=\\u003c2\\u003e",\n  "N": 3,\n  "F": 1,\n  "B": false,\n'
        '  "Nil": null,\n  "L": [],\n  "H": [\n    {\n      "1µs - 2µs": 4\n    }\n  ],\n  "E": {}\n}')


def test_rfc3339nano_local_offset(monkeypatch):
    ns = 1_617_623_268_122_543_000        # 2021-04-05T11:47:48.122543Z
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert gofmt.rfc3339nano(ns) == "2021-04-05T20:47:48.122543+09:00"
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        assert gofmt.rfc3339nano(ns) == "2021-04-05T11:47:48.122543Z"
        assert gofmt.rfc3339nano(ns - 122_543_000) == "2021-04-05T11:47:48Z"
        assert gofmt.rfc3339nano(ns + 1) == "2021-04-05T11:47:48.122543001Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# -- statistics ---------------------------------------------------------------------------------------------
def test_response_matches_upstream_formulas():
    d = [i * 1_000_000 for i in range(1, 21)]       # 1ms .. 20ms, n = 20
    r = stats.response(d)
    t = r["Time"]
    assert t["Cumulative"] == "210ms" and t["Avg"] == "10.5ms"
    assert t["P50"] == "11ms"                       # d[n div 2]
    assert t["P75"] == "15ms" and t["P95"] == "19ms" and t["P99"] == "20ms" and t["P999"] == "20ms"
    assert t["Long5p"] == "20ms" and t["Short5p"] == "1ms"     # one element: Max / Min
    assert t["Max"] == "20ms" and t["Min"] == "1ms" and t["Range"] == "19ms"
    assert t["StdDev"] == "5.766281ms"
    assert list(t) == ["Cumulative", "HMean", "Avg", "P50", "P75", "P95", "P99", "P999", "Long5p", "Short5p",
                       "Max", "Min", "Range", "StdDev"]
    assert r["Samples"] == r["Count"] == 20
    assert r["Rate"]["Second"] == pytest.approx(20 / 0.21)
    assert list(r) == ["Time", "Rate", "Samples", "Count", "Histogram"]


def test_empty_response():
    r = stats.response([])
    assert set(r["Time"].values()) == {"0s"} and r["Rate"] == {"Second": 0}
    assert r["Samples"] == 0 and r["Histogram"] is None


def test_histogram_puts_every_value_in_its_bin():
    # upstream put an outlier in the bin after the last non-empty one and padded to 9 entries
    d = sorted([100_000] * 50 + [150_000] * 10 + [1_100_000])
    bins = stats.histogram_bins(d)
    assert len(bins) == 10
    assert [c for _, _, c in bins] == [60, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    h = stats.histogram(d)
    assert h[0] == {"100µs - 200µs": 60} and h[-1] == {"1ms - 1.1ms": 1}


@settings(deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10 ** 9), min_size=1, max_size=300),
       st.sampled_from([0, 1, 1_000, 100_000, 7_777_777]))
def test_histogram_property(values, width):
    d = sorted(values)
    bins = stats.histogram_bins(d, width)
    assert sum(c for _, _, c in bins) == len(d)
    import bisect
    los = [lo for lo, _, _ in bins]
    for x in d:
        i = max(bisect.bisect_right(los, x) - 1, 0)
        lo, hi, c = bins[i]
        assert c and (lo <= x < hi or (i == len(bins) - 1 and x == hi)), (x, bins[i])
    if width:
        assert all(hi - lo == width for lo, hi, _ in bins)
        assert len(bins) <= stats.MAX_FIXED_BINS or all(c for _, _, c in bins)


def test_median_is_correct_for_odd_and_even():
    # upstream: odd n took element n/2+1, even n averaged [n/2] and [n/2+1]
    assert stats.median([1, 2, 3]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    assert stats.median([7]) == 7 and stats.median([]) == 0


def test_per_second_counts_empty_seconds_and_skips_the_partial_tail():
    s = 1_000_000_000
    ends = [s // 2] * 10 + [2 * s + 1] * 5 + [3 * s + 5] * 7
    assert stats.per_second(ends, 0, 3 * s + 500_000_000) == [10.0, 0.0, 5.0]
    assert stats.qps_summary(ends, 0, 3 * s + 500_000_000) == (10.0, 0.0, 5.0)
    assert stats.per_second([1, 2, 3], 0, s // 2) == [6.0]          # shorter than a second


# -- SQL splitting ------------------------------------------------------------------------------------------
def test_split_respects_quotes_and_comments():
    text = ("SELECT 'a;b', \"c;d\", `e;f`; -- comment; here\nSELECT 'it''s; ok', 'x\\';y';\n"
            "/* block; */ SELECT 1 # tail; comment\n;;  ; INSERT INTO t VALUES (1)")
    assert sqltext.split(text) == [
        "SELECT 'a;b', \"c;d\", `e;f`",
        "-- comment; here\nSELECT 'it''s; ok', 'x\\';y'",
        "/* block; */ SELECT 1 # tail; comment",
        "INSERT INTO t VALUES (1)",
    ]
    assert sqltext.split("select 1 // select 2 //", "//") == ["select 1", "select 2"]
    assert sqltext.split("-- only a comment;\n") == []


@settings(deadline=None)
@given(st.lists(st.text(alphabet="ab;' \n", max_size=8), min_size=1, max_size=6))
def test_split_never_cuts_inside_a_literal(parts):
    lits = ["'" + p.replace("'", "''") + "'" for p in parts]
    stmts = [f"SELECT {lit}" for lit in lits]
    assert sqltext.split(";".join(stmts) + ";") == stmts


def test_statement_types():
    assert sqltext.statement_type("  select 1") == "SELECT"
    assert sqltext.statement_type("/* x */ INSERT INTO t") == "INSERT"
    assert sqltext.statement_type("commit") == "COMMIT"
    assert sqltext.statement_type("EXPLAIN x") == "OTHER"


def test_text_or_file(tmp_path):
    f = tmp_path / "q.sql"
    f.write_text("select 1;")
    assert sqltext.text_or_file(str(f)) == "select 1;"
    assert sqltext.text_or_file("select 2") == "select 2"


# -- DSN -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,user,pw,net,addr,db", [
    ("root@/", "root", None, "tcp", "127.0.0.1:3306", ""),
    ("/", "", None, "tcp", "127.0.0.1:3306", ""),
    ("u:p@tcp(db1:3307)/bench?timeout=5s", "u", "p", "tcp", "db1:3307", "bench"),
    ("u:p:w@x@tcp(db1)/", "u", "p:w@x", "tcp", "db1:3306", ""),
    ("u@unix(/run/mysqld/mysqld.sock)/d", "u", None, "unix", "/run/mysqld/mysqld.sock", "d"),
    ("u:@tcp([::1]:3306)/", "u", "", "tcp", "[::1]:3306", ""),
])
def test_dsn_parse(text, user, pw, net, addr, db):
    d = dsn.parse(text)
    assert (d.user, d.password, d.net, d.addr, d.dbname) == (user, pw, net, addr, db)


def test_dsn_mask_and_errors():
    assert dsn.parse("root:secret@tcp(h:1)/db?x=1").masked() == "root:****@tcp(h:1)/db?x=1"
    assert dsn.parse("root@tcp(h:1)/db").masked() == "root@tcp(h:1)/db"
    kw = dsn.parse("u:p@tcp([::1]:3307)/d?timeout=2s").connect_kwargs()
    assert kw["host"] == "::1" and kw["port"] == 3307 and kw["connect_timeout"] == 2
    for bad in ("root@tcp(h:1)", "u@tcp(h/db", "u@udp(h)/"):
        with pytest.raises(dsn.DSNError):
            dsn.parse(bad)


# -- statements -----------------------------------------------------------------------------------------------
def test_create_table_and_statements():
    spec = gen.TableSpec(int_cols=2, char_cols=1, int_index=True, guid_primary=True, secondary_indexes=1)
    assert spec.create_table() == ("CREATE TABLE t1 (id VARCHAR(36) PRIMARY KEY, id1 VARCHAR(36) UNIQUE KEY, "
                                   "intcol1 INT(32), INDEX(intcol1), intcol2 INT(32), INDEX(intcol2), "
                                   "charcol1 VARCHAR(128))")
    g = gen.Generator(spec, "update", ["a", "b"], rng=random.Random(1))
    sql, t = g.next()
    assert t == gen.T_UPDATE and sql.startswith("UPDATE t1 SET intcol1 = ") and sql.endswith("'")
    ins = g.insert()
    assert ins.startswith("INSERT INTO t1 VALUES (UUID(),UUID(),")
    s = ins.split("'")[1]
    assert len(s) == 128 and s.isalnum()


def test_mixed_ratio_commit_rate_and_ids_round_robin():
    g = gen.Generator(gen.TableSpec(), "mixed", [str(i) for i in range(1, 6)], commit_rate=3, sel_ratio=2,
                      ins_ratio=1, rng=random.Random(2))
    types = [g.next()[1] for _ in range(12)]
    S, INS, C = gen.T_SELECT, gen.T_INSERT, gen.T_COMMIT
    assert types == [S, S, INS, C, S, S, INS, C, S, S, INS, C]
    k = gen.Generator(gen.TableSpec(), "key", [str(i) for i in range(1, 6)], rng=random.Random(3))
    ids = [k.next()[0].rsplit("'", 2)[1] for _ in range(10)]
    assert sorted(ids[:5]) == ["1", "2", "3", "4", "5"] and ids[:5] == ids[5:]


def test_random_strings_are_fresh():
    assert len({gen.random_string() for _ in range(100)}) == 100
    assert all(c.isalnum() for c in gen.random_string(1000))


def test_query_list_cycles():
    g = gen.Generator(gen.TableSpec(), "mixed", [], queries=["select 1", "insert into x values (1)"])
    assert [g.next() for _ in range(3)] == [("select 1", gen.T_SELECT), ("insert into x values (1)", gen.T_INSERT),
                                            ("select 1", gen.T_SELECT)]


@pytest.mark.parametrize("load,ids,queries,commit", [
    ("key", [str(i) for i in range(1, 8)], None, 0), ("read", [], None, 0), ("key", [], None, 0),
    ("mixed", [], ["select 1", "insert into x values (1)", "update x set a = 1"], 0),
    ("key", ["1", "2"], None, 2), ("update", ["1", "2"], None, 0),
    ("key", [str(i) for i in range(gen.Generator.CYCLE_MAX + 5)], None, 0)])
def test_the_fixed_cycle_of_next_is_the_sequence_of_the_general_next(load, ids, queries, commit):
    # loads whose statements repeat in a fixed order are made once and cycled (gen.Generator._cycle);
    # the sequence must be the one the general next() makes, from the same random seed
    fast = gen.Generator(gen.TableSpec(), load, ids, queries=queries, commit_rate=commit, rng=random.Random(5))
    ref = gen.Generator(gen.TableSpec(), load, ids, queries=queries, commit_rate=commit, rng=random.Random(5))
    got = [fast.next() for _ in range(2 * max(len(ids), 3) + 1)]
    want = [gen.Generator.next(ref) for _ in range(len(got))]
    if load == "update":                      # random values: the same statement shape and ids
        got, want = [(s.rsplit("'", 2)[1], t) for s, t in got], [(s.rsplit("'", 2)[1], t) for s, t in want]
    assert got == want
    assert (fast.next != fast.__class__.next.__get__(fast)) == (commit == 0 and load != "update" and
                                                              (load != "key" or bool(ids)))
    # a list made once only up to CYCLE_MAX statements (every agent has one): beyond, made per call
    assert fast.repeats == (fast.next != fast.__class__.next.__get__(fast) and len(ids) <= gen.Generator.CYCLE_MAX)


def test_processes_default():
    from qlap.runner import default_processes
    assert default_processes(1) == 1
    assert 1 <= default_processes(64) <= (os.cpu_count() or 1)


def test_dsn_tls_parameter():
    assert dsn.parse("u@tcp(127.0.0.1:3306)/").connect_kwargs()["ssl_disabled"] is True     # loopback
    assert dsn.parse("u@unix(/s.sock)/").connect_kwargs()["ssl_disabled"] is True
    assert "ssl_disabled" not in dsn.parse("u@tcp(db1:3306)/").connect_kwargs()            # TLS if offered
    assert dsn.parse("u@tcp(db1)/?tls=false").connect_kwargs()["ssl_disabled"] is True
    kw = dsn.parse("u@tcp(db1)/?tls=true").connect_kwargs()
    assert kw["ssl_verify_cert"] and kw["ssl_verify_identity"]
    assert dsn.parse("u@tcp(db1)/?tls=skip-verify").connect_kwargs()["ssl"]["verify_mode"] is False
    with pytest.raises(dsn.DSNError):
        dsn.parse("u@tcp(db1)/?tls=maybe").connect_kwargs()


def test_sql_not_utf8_is_a_usage_error(tmp_path, capsys):
    # binary junk in a -q file used to fail every statement at run time, dumping the junk to stderr
    from qlap.cli import main
    f = tmp_path / "junk.sql"
    f.write_bytes(b"select 1;\nselect '\xff\xfe';\n")
    with pytest.raises(sqltext.NotUTF8, match=r"junk.sql: not valid UTF-8 \(byte 18\)"):
        sqltext.text_or_file(str(f))
    bad = b"select '\xff'".decode("utf-8", "surrogateescape")
    for args in (["-q", str(f)], ["-q", bad], ["-a", "--pre-query", str(f)]):
        assert main(["-d", "u@tcp(127.0.0.1:1)/", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("qlap: ") and "not valid UTF-8" in err and "\\udc" not in err, err


def test_every_long_option_has_its_go_spelling():
    # the single-dash aliases are derived from the parser (a hand-kept list drifted in myps)
    from qlap.cli import build_parser
    p = build_parser()
    for action in p._actions:
        for opt in action.option_strings:
            if not opt.startswith("--") or action.nargs == 0 and action.dest in ("help", "version"):
                continue
            go = opt[1:]
            val = list(action.choices)[0] if action.choices else "7"
            argv = [go] if action.nargs == 0 else [go, val]
            want = [opt] if action.nargs == 0 else [opt, val]
            assert vars(p.parse_args(argv)) == vars(p.parse_args(want)), opt
    a = p.parse_args(["-nagents=3", "-drop-existing-db", "-q", "-x", "-only-print=false"])
    assert (a.nagents, a.drop_db, a.query, a.only_print) == (3, True, "-x", False)


# -- query templates (--template) -------------------------------------------------------------------
def test_template_placeholders():
    import random

    from qlap.template import TemplateError, compile_template
    r = compile_template("SELECT * FROM t WHERE id = {int:3:5} AND s = {str:4} AND k = {choice:'a'|'b'} "
                         "AND n = {seq:1:2} AND u = {uuid} AND j = '{{}}'", random.Random(7))
    seen = [r() for _ in range(200)]
    import re
    pat = re.compile(r"SELECT \* FROM t WHERE id = ([345]) AND s = '([A-Za-z0-9]{4})' AND k = '([ab])' "
                     r"AND n = ([12]) AND u = '([0-9a-f-]{36})' AND j = '\{\}'")
    ms = [pat.fullmatch(x) for x in seen]
    assert all(ms), seen[0]
    assert {m.group(1) for m in ms} == {"3", "4", "5"} and {m.group(3) for m in ms} == {"a", "b"}
    assert [m.group(4) for m in ms[:4]] == ["1", "2", "1", "2"]
    assert len({m.group(2) for m in ms}) > 150 and len({m.group(5) for m in ms}) == 200
    assert compile_template("SELECT 1")() == "SELECT 1"
    for bad in ("{int:5:1}", "{int:1}", "{str:x}", "{nope}", "{uuid:1}", "{choice:}"):
        with pytest.raises(TemplateError):
            compile_template(f"SELECT {bad}")


def test_template_and_sweep_usage_errors():
    from qlap.cli import UsageError, build_parser, validate
    for args, msg in ((["-a", "--template"], "--template requires --query"),
                      (["-q", "SELECT {int:1}", "--template"], "--template:"),
                      (["-q", "SELECT 1", "-c", "1,x"], "invalid --concurrency"),
                      (["-q", "SELECT 1", "-c", "2", "-n", "2"], "exclusive"),
                      (["-q", "SELECT 1", "-c", "0"], ">= 1"),
                      (["-q", "SELECT 1", "-i", "0"], "--iterations")):
        with pytest.raises(UsageError, match=msg):
            validate(build_parser().parse_args(["-d", "root@/", *args]))
    a = build_parser().parse_args(["-d", "root@/", "-q", "SELECT 1", "-c", "1,8,32", "-i", "2"])
    validate(a)
    from qlap.app import steps
    assert a.nagents == 32 and steps(a) == [(1, 1), (1, 2), (8, 1), (8, 2), (32, 1), (32, 2)]


def test_histogram_bins_of_a_span_narrower_than_the_bin_count_hold_their_values():
    # found by test_histogram_property: [1, 3] in 10 bins gave bins (1, 1) that could hold nothing
    bins = stats.histogram_bins([1, 3], 0)
    assert bins == [(1, 2, 1), (2, 3, 1)]
    assert stats.histogram_bins([5, 5, 5], 0) == [(5, 5, 3)]
    assert [c for _, _, c in stats.histogram_bins(list(range(100)), 0)] == [10] * 10
