"""Core functions of binrpt, directly (no server), and the command line without a server."""
from __future__ import annotations

import datetime
import decimal
import fnmatch
import io
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binrpt import __version__, gtid, values
from binrpt.cli import main
from binrpt.config import ConfigError, from_dict
from binrpt.filters import Filter, ddl_refs, is_skipped_statement, like_to_regex, rewrite_text

# -- GTID positions ------------------------------------------------------------------------------
positions = st.dictionaries(st.integers(0, 2**32 - 1), st.tuples(st.integers(1, 2**32 - 1), st.integers(0, 2**63)),
                            max_size=5)


@given(positions)
def test_gtid_format_parse_round_trip(state):
    assert gtid.parse(gtid.format(state)) == state


@given(positions, st.integers(0, 5), st.integers(1, 9), st.integers(0, 2**63))
def test_gtid_advance_then_applied(state, d, s, n):
    st2 = dict(state)
    gtid.advance(st2, d, s, n)
    assert gtid.is_applied(st2, d, n)
    assert all(gtid.is_applied(st2, dd, nn) for dd, (_ss, nn) in state.items())
    assert not gtid.is_applied(st2, d, max(n, st2[d][1]) + 1)


def test_gtid_parse_errors():
    assert gtid.parse("") == {} and gtid.parse(None) == {}
    assert gtid.parse("0-1-123,1-5-9") == {0: (1, 123), 1: (5, 9)}
    for bad in ("0-1", "a-b-c", "0-1-2,0-1-3", "3e11b8fb-7a1e-11ee:1-5"):
        with pytest.raises(gtid.GtidError):
            gtid.parse(bad)


def test_gtid_covers():
    assert gtid.covers(gtid.parse("0-1-10,1-2-5"), gtid.parse("0-1-10"))
    assert not gtid.covers(gtid.parse("0-1-9"), gtid.parse("0-1-10"))
    assert not gtid.covers(gtid.parse("0-1-10"), gtid.parse("0-1-10,1-2-1"))


# -- values ------------------------------------------------------------------------------------
def _library_bug(td: datetime.timedelta) -> datetime.timedelta:
    """How python-mysql-replication 1.0.x decodes a negative TIME with a fraction (spec §2.5)."""
    if td >= datetime.timedelta(0) or td.microseconds == 0:
        return td
    x = -td
    whole = datetime.timedelta(days=x.days, seconds=x.seconds)
    frac = x - whole
    return -(whole + datetime.timedelta(seconds=1)) + frac


@given(st.integers(-(838 * 3600 + 59 * 60 + 59) * 10**6, 838 * 3600 * 10**6))
def test_negative_time_fix_undoes_the_library_bug(us):
    td = datetime.timedelta(microseconds=us)
    assert values.fix_negative_time(_library_bug(td)) == td


def test_negative_time_known_case():
    lib = datetime.timedelta(days=-1, seconds=41103, microseconds=780000)  # what the library returns
    assert values.fix_negative_time(lib) == -datetime.timedelta(hours=12, minutes=34, seconds=56, microseconds=780000)
    assert values.literal(values.fix_negative_time(lib)) == "'-12:34:56.780000'"


class Col:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_convert_image_fixes_library_values():
    cols = [Col(type=16, name="b"), Col(type=248, name="s"), Col(type=254, name="bn", character_set_name="binary",
                                                               max_length=4),
            Col(type=10, name="dz"), Col(type=18, name="dtz"), Col(type=3, name="n"), Col(type=3, name="absent")]
    names = [c.name for c in cols]
    im = values.convert_image(
        {"b": "1010000001", "s": {"x", "z"}, "bn": b"ab", "dz": None, "dtz": None, "n": None, "absent": None},
        {"dz": "out of date range", "dtz": "out of datetime2 range", "n": "null", "absent": "cols bitmap"},
        names, values.column_converters(cols))
    assert im["b"] == 0b1010000001
    assert im["s"] == "x,z"
    assert im["bn"] == b"ab\x00\x00"
    assert im["dz"] == "0000-00-00" and im["dtz"] == "0000-00-00 00:00:00"
    assert im["n"] is None and im["absent"] is values.ABSENT
    empty_set = values.convert_image({"s": None}, {"s": "empty set"}, ["s"], [None])
    assert empty_set["s"] == ""


@pytest.mark.parametrize("v,lit", [
    (None, "NULL"), (18446744073709551615, "18446744073709551615"), (-1, "-1"),
    (decimal.Decimal("1E+2"), "100"), (decimal.Decimal("-0.000000000000000000000000000001"),
                                       "-0.000000000000000000000000000001"),
    (1.100000023841858, "1.100000023841858"), (b"\x00\xff", "X'00ff'"), (b"", "X''"),
    ("it's \\ \x00 \n", "'it\\'s \\\\ \\0 \\n'"),
    (datetime.datetime(2024, 3, 10, 0, 0, 0, 500000), "'2024-03-10 00:00:00.500000'"),
    (datetime.date(2024, 2, 29), "'2024-02-29'"),
    (datetime.timedelta(hours=-838, minutes=-59, seconds=-59), "'-838:59:59'"),
    ({"b", "a"}, "'a,b'"),
])
def test_literals(v, lit):
    assert values.literal(v) == lit


@given(st.text())
def test_string_literal_is_one_quoted_token(s):
    lit = values.literal(s)
    assert lit.startswith("'") and lit.endswith("'")
    body = lit[1:-1]
    # every quote inside is escaped, and unescaping gives the original back
    unesc = re.sub(r"\\(.)", lambda m: {"0": "\x00", "n": "\n", "r": "\r", "Z": "\x1a"}.get(m.group(1), m.group(1)),
                   body, flags=re.S)
    assert unesc == s
    assert "'" not in re.sub(r"\\.", "", body, flags=re.S)


def test_masks():
    assert values.mask_value("null", "x") is None
    import hashlib
    assert values.mask_value("sha256", "a@example.com") == hashlib.sha256(b"a@example.com").hexdigest()
    assert values.mask_value("sha256", 42) == hashlib.sha256(b"42").hexdigest()
    assert values.mask_value("sha256", None) is None
    assert values.mask_value("empty", b"x") == b""


def test_quote_name():
    assert values.quote_name("a`b") == "`a``b`"


# -- filters ---------------------------------------------------------------------------------------
@given(st.text(alphabet="ab%_", min_size=0, max_size=6), st.text(alphabet="ab_x", max_size=6))
def test_like_matches_fnmatch_reference(pattern, name):
    ref = fnmatch.fnmatchcase(name, pattern.replace("%", "*").replace("_", "?"))
    assert bool(like_to_regex(pattern).match(name)) == ref


def test_filter_native_order():
    f = Filter.from_config({"replicate_do_db": ["app"], "replicate_wild_ignore_table": ["app.secure\\_%"],
                            "replicate_ignore_tables": ["^tmp_"]})
    assert f.table_ok("app", "users")
    assert not f.table_ok("app", "secure_x")
    assert f.table_ok("app", "secureZx")              # \_ is a literal underscore
    assert not f.table_ok("app", "tmp_1")             # upstream's bare-name regexps still work
    assert not f.table_ok("other", "users")
    assert not f.table_ok("binrpt", "checkpoint") and not f.table_ok("mysql", "user")
    g = Filter.from_config({"replicate_wild_ignore_table": ["app.secure%"], "replicate_do_table": ["app.secure_keep",
                                                                                                   "app.users"]})
    assert g.table_ok("app", "secure_keep")           # do_table is checked before wild_ignore
    assert g.table_ok("app", "users")
    assert not g.table_ok("app", "orders")            # a do rule exists and none matched


def test_filter_wild_do_makes_others_ignored():
    f = Filter.from_config({"replicate_wild_do_table": ["shop%.order%"]})
    assert f.table_ok("shop1", "orders") and not f.table_ok("shop1", "users")


@pytest.mark.parametrize("sql,expect", [
    ("CREATE TABLE IF NOT EXISTS `a`.b (x int)", [("a", "b")]),
    ("DROP TABLE IF EXISTS `tt`.`ty`,t2 /* generated by server */", [("tt", "ty"), (None, "t2")]),
    ("RENAME TABLE a.b TO c.d, e TO f", [("a", "b"), ("c", "d"), (None, "e"), (None, "f")]),
    ("ALTER TABLE t ADD COLUMN z int, RENAME TO x.y", [(None, "t"), ("x", "y")]),
    ("create index i on db.t (a)", [("db", "t")]),
    ("TRUNCATE TABLE s", [(None, "s")]),
    ("CREATE DATABASE IF NOT EXISTS foo", [("foo", None)]),
    ("CREATE TABLE t2 LIKE t1", [(None, "t2"), (None, "t1")]),
    ("CREATE VIEW v AS SELECT 1", None),
])
def test_ddl_refs(sql, expect):
    refs = ddl_refs(sql)
    assert (None if refs is None else [(r.db, r.table) for r in refs]) == expect


@pytest.mark.parametrize("sql,tables", [
    ("/* app */ DROP TABLE IF EXISTS x, secure_y", ["x", "secure_y"]),
    ("-- migration 42\nALTER TABLE secure_y ADD c INT", ["secure_y"]),
    ("# note\nTRUNCATE secure_y", ["secure_y"]),
    ("/*!50001 DROP TABLE secure_y */", ["secure_y"]),
    ("/*M!100100 CREATE TABLE secure_y (id INT) */", ["secure_y"]),
])
def test_ddl_refs_see_through_leading_comments(sql, tables):
    """A leading comment (ORMs and migration tools add them; the binlog keeps them) hid the tables, so
    the DDL of an ignored table ran on the target."""
    assert [r.table for r in ddl_refs(sql)] == tables


@pytest.mark.parametrize("sql", ["/* x */ CREATE USER a IDENTIFIED BY 'pw'",
                                 "-- c\nGRANT ALL ON *.* TO a IDENTIFIED BY 'pw'",
                                 "# c\nSET PASSWORD FOR a = PASSWORD('x')",
                                 "/*!80000 ALTER USER a IDENTIFIED BY 'pw' */"])
def test_account_statements_with_leading_comments_are_skipped(sql):
    assert is_skipped_statement(sql)


@pytest.mark.parametrize("sql,want", [
    ("CREATE DEFINER=`root`@`localhost` TRIGGER tr AFTER INSERT ON t FOR EACH ROW SET @x=1", True),
    ("CREATE DEFINER='a'@'%' TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW SET @x=1", True),
    ("create or replace definer=current_user trigger tr after insert on t for each row set @x=1", True),
    ("/* c */ DROP TRIGGER IF EXISTS tr", True),
    ("CREATE TABLE triggers (id INT)", False),
    ("DROP TABLE trigger_log", False),
])
def test_trigger_statements(sql, want):
    from binrpt.filters import is_trigger_statement
    assert is_trigger_statement(sql) is want


def test_rewrite_after_leading_comment_keeps_offsets():
    sql = "/* c */ DROP TABLE app.t"
    assert rewrite_text(sql, ddl_refs(sql), {"app": "stg"}) == "/* c */ DROP TABLE `stg`.t"


def test_rewrite_text_only_touches_database_names():
    sql = "RENAME TABLE app.users TO app.users_old, `app`.x TO other.x"
    out = rewrite_text(sql, ddl_refs(sql), {"app": "app_stg"})
    assert out == "RENAME TABLE `app_stg`.users TO `app_stg`.users_old, `app_stg`.x TO other.x"


def test_account_statements_are_skipped():
    assert is_skipped_statement("GRANT ALL ON *.* TO x")
    assert is_skipped_statement("  create user 'a'@'b' identified by 'pw'")
    assert not is_skipped_statement("CREATE TABLE users (id int)")


# -- config ---------------------------------------------------------------------------------------
BASE = {"source": {"host": "h", "username": "u", "charset": "utf8mb4", "replicate_server_id": 5},
        "replica": {"host": "h2", "username": "u", "charset": "utf8mb4", "replicate_do_db": "app"}}


def test_config_upstream_keys():
    c = from_dict(BASE)
    assert c.server_id == 5 and c.source.port == 3306 and c.filter.do_db == frozenset({"app"})
    assert c.errors["duplicate_key"] == "stop"
    assert "pw" not in c.source.dsn()


@pytest.mark.parametrize("patch,msg", [
    ({"source": {"host": "h", "username": "u"}}, "replicate_server_id"),
    ({"replica": {"username": "u"}}, "replica.host"),
    ({"errors": {"duplicate_key": "ignore"}}, "unknown policy"),
    ({"errors": {"nope": "stop"}}, "unknown error class"),
    ({"mask": {"a.b": "sha256"}}, "db.table.column"),
    ({"source": dict(BASE["source"], start_position="garbage")}, "start_position"),
])
def test_config_errors(patch, msg):
    with pytest.raises(ConfigError, match=msg):
        from_dict({**BASE, **patch})


@pytest.mark.parametrize("patch", [
    {"mask": "x"},
    {"errors": 3},
    {"log": 4},
    {"errors": {"ddl": ["skip"]}},
    {"source": dict(BASE["source"], connect_timeout="abc")},
    {"source": dict(BASE["source"], port=[1])},
    {"source": dict(BASE["source"], heartbeat=-1)},
    {"source": dict(BASE["source"], read_timeout=0)},
    {"source": dict(BASE["source"], port=70000)},
    {"source": dict(BASE["source"], replicate_server_id=[5])},
    {"replica": dict(BASE["replica"], group_max_seconds=-1)},
    {"replica": dict(BASE["replica"], channel="")},
    {"replica": dict(BASE["replica"], channel="x" * 65)},
    {"replica": dict(BASE["replica"], channel="prod ")},
    {"replica": "x"},
])
def test_config_wrong_types_are_config_errors(patch):
    """A wrong type or an impossible value is a ConfigError (exit 1 with a message), never a traceback."""
    with pytest.raises(ConfigError):
        from_dict({**BASE, **patch})


def test_config_not_utf8_is_a_config_error(tmp_path, capsys):
    f = tmp_path / "junk.toml"
    f.write_bytes(b"\xc5\xff\x00garbage = 1\n")
    assert main(["-config", str(f)]) == 1
    assert "junk.toml" in capsys.readouterr().err


def test_reconnect_env_var(monkeypatch):
    monkeypatch.setenv("REPLICATE_MAX_RECONNECT_ATTEMPTS", "3")
    assert from_dict(BASE).reconnect_max_attempts == 3
    monkeypatch.setenv("REPLICATE_MAX_RECONNECT_ATTEMPTS", "x")
    with pytest.raises(ConfigError, match="REPLICATE_MAX_RECONNECT_ATTEMPTS"):
        from_dict(BASE)


def test_password_from_defaults_file(tmp_path):
    f = tmp_path / "my.cnf"
    f.write_text("[client]\nuser=repl\npassword=s3cret\nport=3307\n")
    c = from_dict({**BASE, "source": {"host": "h", "defaults_file": str(f), "replicate_server_id": 9}})
    assert c.source.user == "repl" and c.source.password == "s3cret" and c.source.port == 3307
    assert "s3cret" not in c.source.dsn()


# -- command line --------------------------------------------------------------------------------
def test_version_and_help(capsys):
    for flag in ("--version", "-version"):
        assert main([flag]) == 0
        assert capsys.readouterr().out == f"binrpt {__version__}\n"
    assert main(["status", "--help"]) == 0
    assert "binrpt status" in capsys.readouterr().out


def test_version_works_without_config():
    """Upstream bug: `binrpt -version` alone exits 1 because the config check runs first."""
    from conftest import BIN
    r = subprocess.run([BIN, "-version"], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout.decode().startswith("binrpt ")


def test_missing_config_is_reported_like_upstream(capsys):
    assert main([]) == 1
    assert "'-config' is required" in capsys.readouterr().err


def test_unknown_option_is_usage_error(capsys):
    assert main(["-config", "x.toml", "--bogus"]) == 2
    assert "binrpt: error: unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--chunk-size", "0"], ["--chunk-size", "-5"], ["--chunk-size", "x"],
                                  ["--table", "nodot"], ["--table", ".t"], ["--table", "db."]])
def test_verify_bad_values_are_usage_errors(args, capsys):
    """--chunk-size 0 was a ZeroDivisionError traceback; a negative size checked nothing and exited 0."""
    assert main(["verify", "-config", "x.toml", *args]) == 2
    assert "binrpt verify: error: argument " + args[0] in capsys.readouterr().err


@pytest.mark.parametrize("pos", ["garbage", "0-1-x", "binlog.000001:abc", "binlog.000001:", ":4", "f:1"])
def test_bad_start_position_is_a_usage_error(pos, capsys):
    """--start-position was not checked at all (a GtidError or ValueError traceback after connecting)."""
    assert main(["-config", "x.toml", "--start-position", pos]) == 2
    assert "--start-position" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="start_position"):
        from_dict({**BASE, "source": dict(BASE["source"], start_position=pos)})


def test_unreadable_config(tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    assert main(["-config", str(missing)]) == 1
    # the path once (it was printed twice: `binrpt: PATH: PATH: No such file or directory`)
    assert capsys.readouterr().err == f"binrpt: {missing}: No such file or directory\n"


def test_logs_ltsv_and_json():
    from binrpt.logs import Logger
    buf = io.StringIO()
    Logger("ltsv", stream=buf).info("hello\tworld", gtid="0-1-2")
    line = buf.getvalue()
    assert line.count("\n") == 1 and "\tmsg:hello world\tgtid:0-1-2" in line
    buf = io.StringIO()
    Logger("json", stream=buf).warn("x", n=1)
    import json
    rec = json.loads(buf.getvalue())
    assert rec["level"] == "warn" and rec["n"] == 1


def test_closed_stdout_and_stderr_are_not_a_crash(tmp_path):
    """With stdout or stderr closed, Python sets sys.stdout/sys.stderr to None: was an AttributeError."""
    from conftest import BIN
    cfg = tmp_path / "c.toml"
    cfg.write_text("[source]\nhost='127.0.0.1'\nport=1\nusername='u'\nreplicate_server_id=7\n"
                   "[replica]\nhost='127.0.0.1'\nport=1\nusername='u'\n")
    for redir in (">&-", "2>&-"):
        r = subprocess.run(f"'{BIN}' status -config '{cfg}' {redir}", shell=True, capture_output=True, timeout=60)
        assert r.returncode == 1
        assert b"Traceback" not in r.stderr + r.stdout
