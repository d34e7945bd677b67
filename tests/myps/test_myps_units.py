"""Core functions of myps, no server: escaping, truncation, --time, option files, victims."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from myps import match, options, output
from myps.cli import build_parser
from myps_helpers import run_myps


# -- LTSV escaping (upstream: Go %q without quotes, `"` kept) --------------------------------------------
@pytest.mark.parametrize("raw,want", [
    (b"select sleep(3600)", b"select sleep(3600)"),
    (b"a\tb\nc\rd", b"a\\tb\\nc\\rd"),
    (b"back\\slash", b"back\\\\slash"),
    (b'say "hi"', b'say "hi"'),
    (b"\x00\x07\x1b\x7f", b"\\x00\\a\\x1b\\x7f"),
    ("日本語のクエリ".encode(), "日本語のクエリ".encode()),
    (b"bad\xff\xfebytes", b"bad\\xff\\xfebytes"),
    ("nb\u00a0sp soft\u00adhyphen".encode(), b"nb\\u00a0sp soft\\u00adhyphen"),
    ("emoji \U0001F600".encode(), "emoji \U0001F600".encode()),
    ("\U000e0001".encode(), b"\\U000e0001"),
])
def test_escape_like_upstream(raw, want):
    assert output.escape(raw) == want


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_escaped_value_never_breaks_the_ltsv_line(raw):
    e = output.escape(raw)
    assert b"\t" not in e and b"\n" not in e and b"\r" not in e
    e.decode("utf-8")     # always valid UTF-8


@settings(deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=100))
def test_printable_ascii_is_kept_except_backslash(s):
    assert output.escape(s.encode()) == s.replace("\\", "\\\\").encode()


def test_info_truncated_to_110_code_points_before_escaping():
    info = ("é" * 200).encode()
    assert output.truncate_info(info, full=False) == ("é" * 110).encode()
    assert output.truncate_info(info, full=True) == info
    assert output.truncate_info(b"x" * 110, full=False) == b"x" * 110
    tabs = b"\t" * 200       # escaping happens after the cut: 110 tabs -> 220 bytes
    line = output.ltsv_line("ID", {"ID": 1, "USER": b"u", "HOST": b"h", "DB": b"", "COMMAND": b"Query",
                                   "TIME": 3, "STATE": b"", "INFO": tabs})
    assert line.endswith(b"INFO:" + b"\\t" * 110 + b"\n")


def test_ltsv_line_layout_and_colours():
    row = {"ID": 142, "USER": b"root", "HOST": b"localhost:59393", "DB": b"", "COMMAND": b"Query", "TIME": 57,
           "STATE": b"User sleep", "INFO": b"select sleep(3600)"}
    assert output.ltsv_line("ID", row) == (b"ID:142\tUSER:root\tHOST:localhost:59393\tDB:\tCOMMAND:Query\t"
                                           b"TIME:57\tSTATE:User sleep\tINFO:select sleep(3600)\n")
    col = output.ltsv_line("KILLED", row, colour=True)
    assert col.startswith(b"\x1b[31mKILLED\x1b[0m:\x1b[35m142\x1b[0m\t\x1b[32mUSER\x1b[0m:\x1b[35mroot\x1b[0m")


# -- --time -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,secs", [("10", 10), ("1.5", 1.5), ("90s", 90), ("5m", 300), ("500ms", 0.5),
                                       ("1h", 3600), (" 7 ", 7)])
def test_parse_time(text, secs):
    assert match.parse_time(text) == secs


@pytest.mark.parametrize("text", ["abc", "", "-5", "10x", "1e3", "5 m s"])
def test_parse_time_rejects_garbage(text):
    with pytest.raises(match.CriteriaError):
        match.parse_time(text)


def test_time_abc_is_a_usage_error_not_every_thread():
    # upstream sent 'abc' to MySQL where it became TIME >= 0: every thread, also for kill
    rc, out, err = run_myps(["kill", "-y", "--time", "abc", "--mysql-port", "1"])
    assert rc == 2 and out == b""
    assert err.startswith(b"myps: invalid --time value 'abc'")


def test_where_clause_binds_values_as_parameters():
    c = match.Criteria(time=10, user="app_rw", info="x' OR 1=1 -- ", exclude_db=["mysql"])
    conds, args = match.where_clause(c, has_time_ms=True)
    assert conds == ["TIME >= %s", "IFNULL(USER,'') LIKE %s", "IFNULL(INFO,'') LIKE %s",
                     "IFNULL(DB,'') NOT LIKE %s"]
    assert args == [10, "app_rw", "x' OR 1=1 -- ", "mysql"]
    conds, args = match.where_clause(match.Criteria(time=1.5), has_time_ms=True)
    assert conds == ["TIME_MS >= %s"] and args == [1500.0]
    conds, args = match.where_clause(match.Criteria(time=1.5), has_time_ms=False)
    assert conds == ["TIME >= %s"] and args == [1.5]


# -- system threads and victims ------------------------------------------------------------------------
def _row(i, user=b"app", cmd=b"Query", t=1, info=b"select 1"):
    return {"ID": i, "USER": user, "HOST": b"h", "DB": b"", "COMMAND": cmd, "TIME": t, "STATE": b"",
            "INFO": info, "TIME_MS": None, "QUERY_ID": None}


def test_system_threads():
    assert match.is_system(_row(1, user=b"system user", cmd=b"Connect"))
    assert match.is_system(_row(1, user=b"event_scheduler", cmd=b"Daemon"))
    assert match.is_system(_row(1, user=b"repl", cmd=b"Binlog Dump GTID"))
    # a comment any client can write hides nothing (myps knows its own session by its id)
    assert not match.is_system(_row(1, info=b"/* myps */ SELECT ID FROM information_schema.PROCESSLIST"))
    assert not match.is_system(_row(1))


def test_victims_policies():
    rows = [_row(1, t=5), _row(2, t=50), _row(3, t=7)]
    assert [r["ID"] for r in match.choose_victims(rows, "all")] == [1, 2, 3]
    assert [r["ID"] for r in match.choose_victims(rows, "oldest")] == [2]
    assert [r["ID"] for r in match.choose_victims(rows, "all-but-oldest")] == [1, 3]
    assert match.choose_victims([], "oldest") == []


# -- option files ----------------------------------------------------------------------------------------
def test_option_files_layers(tmp_path):
    base = tmp_path / "my.cnf"
    inc = tmp_path / "conf.d"
    inc.mkdir()
    (inc / "a.cnf").write_text("[client]\nuser = fromdir\n")
    (inc / "ignored.txt").write_text("[client]\nuser = nope\n")
    base.write_text(f"[mysqld]\nport=1\n[client-server]\nsocket=/run/x.sock\n[client]\npassword=\"p w#1\"\n"
                    f"!includedir {inc}\n")
    extra = tmp_path / "extra.cnf"
    extra.write_text("[client]\nhost=db2 # comment\nport=3307\n")
    p = options.resolve({}, defaults_file=str(base), env={})
    assert p == {"socket": "/run/x.sock", "password": "p w#1", "user": "fromdir"}
    p = options.resolve({}, defaults_file=str(base), extra_file=str(extra), env={})
    # a host from a later layer cancels the socket (upstream kept connecting to the socket)
    assert p == {"password": "p w#1", "user": "fromdir", "host": "db2", "port": "3307"}
    p = options.resolve({"host": "db3", "user": None}, defaults_file=str(base), env={})
    assert "socket" not in p and p["host"] == "db3"
    kw = options.connect_kwargs(p, 5)
    assert kw["host"] == "db3" and kw["port"] == 3306 and "unix_socket" not in kw


def test_mysql_pwd_and_user_fallback(tmp_path):
    p = options.resolve({}, no_defaults=True, env={"MYSQL_PWD": "secret", "USER": "alice"})
    assert p["password"] == "secret" and p["user"] == "alice"
    assert options.describe(p) == "alice:xxxx@tcp(localhost:3306)/"
    with pytest.raises(options.OptionFileError):
        options.resolve({}, defaults_file=str(tmp_path / "missing.cnf"), env={})


def test_missing_option_file_is_an_error(tmp_path):
    rc, out, err = run_myps(["grep", "-u", "x", "--defaults-extra-file", str(tmp_path / "nope.cnf")])
    assert rc == 2 and b"nope.cnf: No such file or directory" in err


# -- command line -----------------------------------------------------------------------------------------
def test_single_dash_long_options_are_accepted():
    a = build_parser().parse_intermixed_args(["grep", "-mysql-host", "h", "-time=3", "-t5", "-f", "-colour",
                                              "never", "--", "-info"])
    assert (a.mysql_host, a.time, a.full, a.color, a.command) == ("h", "5", True, "never", None)
    assert a.args == ["grep", "-info"]


def test_every_long_option_has_its_go_spelling():
    # derived from the parser: the hand-kept list lacked -colour, read as `-c olour` (COMMAND LIKE 'olour')
    p = build_parser()
    for action in p._actions:
        for opt in action.option_strings:
            if not opt.startswith("--"):
                continue
            value = [] if action.nargs == 0 else [action.choices[0] if action.choices else "7"]
            got = vars(p.parse_intermixed_args(["grep", opt[1:], *value]))
            assert got == vars(p.parse_intermixed_args(["grep", opt, *value])), opt


def test_no_criteria_is_a_usage_error():
    rc, out, err = run_myps(["grep"])
    assert rc == 2
    assert err == b"myps: no matching criteria specified.\n try `myps grep --help' for more information\n"


def test_unknown_command_and_option(capsys):
    rc, _, err = run_myps(["frob", "-u", "x"])
    assert rc == 2 and err.startswith(b"myps: unknown command 'frob'")
    rc, _, err = run_myps(["grep", "--bogus"])     # argparse's message: the suite's form, on sys.stderr
    assert rc == 2 and "\nmyps: error: unrecognized arguments: --bogus\n" in capsys.readouterr().err


def test_pattern_not_utf8_is_a_usage_error():
    # argv bytes that are not UTF-8 arrive as surrogate escapes: a usage error, not a crash message
    bad = b"\xff\xfe".decode("utf-8", "surrogateescape")
    for args in (["grep", bad], ["grep", "-u", bad], ["kill", "-y", "-t", "1", "--exclude-db", bad]):
        rc, out, err = run_myps(args)
        assert rc == 2 and out == b"", args
        assert err.startswith(b"myps: --") and b"not valid UTF-8" in err and b"Error" not in err, err


def test_watch_kill_needs_yes():
    rc, _, err = run_myps(["kill", "-u", "x", "--interval", "1"])
    assert rc == 2 and b"--yes" in err


def test_connection_failure_exit_2():
    rc, out, err = run_myps(["grep", "-u", "x", "--no-defaults", "--mysql-host", "127.0.0.1",
                             "--mysql-port", "1", "--mysql-user", "u", "--mysql-password", "sekrit",
                             "--mysql-timeout", "2s"])
    assert rc == 2 and out == b""
    assert err.startswith(b"myps: cannot connect to u:xxxx@tcp(127.0.0.1:1)/")
    assert b"sekrit" not in err


def test_no_tls_over_a_socket_or_to_loopback():
    assert options.tls_kwargs({"unix_socket": "/s"}) == {"ssl_disabled": True}
    assert options.tls_kwargs({"host": "127.0.0.1", "port": 3306}) == {"ssl_disabled": True}
    assert options.tls_kwargs({"host": "db1.example", "port": 3306}) == {}


def test_full_disk_is_a_write_error_exit_2():
    # was "myps: OSError: [Errno 28] ...": the entry template's message, with myps's error code
    import subprocess
    import sys
    with open("/dev/full", "wb") as full:
        r = subprocess.run([sys.executable, "-c", "from myps.cli import main; main()", "--help"], stdout=full,
                           stderr=subprocess.PIPE, timeout=60)
    assert (r.returncode, r.stderr) == (2, b"myps: write error: No space left on device\n")
