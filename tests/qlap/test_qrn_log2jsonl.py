"""mysql-log2jsonl: slow and general logs written by the suite's real MariaDB (and MySQL 9) while a
workload runs, converted, then replayed by qrn through a pipe; the server's counters match qrn's
report. Plus the filter's conventions (FILEs in order, a missing one, `| head -1`, bad lines)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

L2J = [sys.executable, "-c", "from qlap.log2jsonl_cli import main; main()"]
QRN = [sys.executable, "-c", "from qlap.qrn_cli import main; main()"]

WORKLOAD = """
CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
INSERT INTO t VALUES (1, 'a'), (2, 'b
c');
SELECT * FROM t WHERE id = 1;
SELECT
  v FROM t
  WHERE id = 2;
UPDATE t SET v = 'x;y' WHERE id = 1;
SELECT COUNT(*) FROM t;
"""
# what the replay of the workload sends (the CREATE TABLE left out with --only dml)
DML = ["INSERT INTO t VALUES (1, 'a'), (2, 'b\nc')", "SELECT * FROM t WHERE id = 1",
       "SELECT\n  v FROM t\n  WHERE id = 2", "UPDATE t SET v = 'x;y' WHERE id = 1", "SELECT COUNT(*) FROM t"]


def l2j(*args, input=b""):
    return subprocess.run([*L2J, *map(str, args)], input=input, capture_output=True, timeout=60)


def logged(server, tmp_path, db: str, kind: str):
    """Run WORKLOAD in database `db` with the server's `kind` log (slow, every statement; or
    general) going to a file; the file's path."""
    path = tmp_path / f"{kind}-{db}.log"
    if kind == "slow":
        on = (f"SET GLOBAL slow_query_log_file = '{path}'; SET GLOBAL long_query_time = 0; "
              "SET GLOBAL slow_query_log = 1")
        off = "SET GLOBAL slow_query_log = 0; SET GLOBAL long_query_time = 10"
    else:
        on = f"SET GLOBAL general_log_file = '{path}'; SET GLOBAL general_log = 1"
        off = "SET GLOBAL general_log = 0"
    server.sql(f"CREATE DATABASE {db}; SET GLOBAL log_output = 'FILE'; {on}")
    try:
        server.sql(WORKLOAD, database=db)
    finally:
        server.sql(off)
    return path


@pytest.fixture
def db():
    return "l" + uuid.uuid4().hex[:10]


@pytest.mark.parametrize("kind", ["slow", "general"])
def test_real_log_converted_and_replayed(mariadb, tmp_path, db, kind):
    log = logged(mariadb, tmp_path, db, kind)
    r = l2j("--db", db, "--only", "dml", log)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["query"] for x in recs] == DML
    first = recs[0]
    assert first["db"] == db and first["user"] == "root" and first["host"] == "localhost"
    assert isinstance(first["thread_id"], int) and first["time"].startswith("20")
    if kind == "slow":
        assert first["query_time"] >= 0 and recs[-1]["rows_examined"] >= 0
    assert r.stderr == b""
    # everything of the workload, the CREATE TABLE too; nothing of other databases
    r = l2j("--db", db, log)
    assert [json.loads(x)["query"] for x in r.stdout.splitlines()][0].startswith("CREATE TABLE t")
    # replay on a fresh copy of the schema, through a pipe: mysql-log2jsonl log | qrn -data -
    mariadb.sql(f"DROP TABLE {db}.t")
    mariadb.sql(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20))")
    p = mariadb.params
    before = dict(line.split("\t") for line in mariadb.sql("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                                           "('Com_select', 'Com_insert', 'Com_update')").splitlines())
    conv = subprocess.Popen([*L2J, "--db", db, "--only", "dml", str(log)], stdout=subprocess.PIPE)
    env = {**os.environ, "MYSQL_PWD": p["password"]}
    rr = subprocess.run([*QRN, "-dsn", f"{p['user']}@tcp(127.0.0.1:{p['port']})/{db}", "-data", "-",
                         "-loop=false", "-time", "0"], stdin=conv.stdout, capture_output=True, env=env, timeout=60)
    conv.stdout.close()
    assert conv.wait(timeout=30) == 0
    assert rr.returncode == 0, rr.stderr
    rep = json.loads(rr.stdout)
    assert rep["Queries"] == len(DML) and rep["ErrorQueryCount"] == 0 and rep["Files"] == ["-"]
    after = dict(line.split("\t") for line in mariadb.sql("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                                          "('Com_select', 'Com_insert', 'Com_update')").splitlines())
    delta = {k: int(after[k]) - int(before[k]) for k in before}
    assert delta == {"Com_select": 3 + 2, "Com_insert": 1, "Com_update": 1}     # + the start/end markers
    assert mariadb.sql(f"SELECT v FROM {db}.t ORDER BY id").split() == ["x;y", "b", "c"]
    mariadb.sql(f"DROP DATABASE {db}")


def test_mysql9_slow_and_general_logs(mysql, tmp_path, db):
    for kind in ("slow", "general"):
        log = logged(mysql, tmp_path, db + kind[0], kind)
        r = l2j("--db", db + kind[0], "--only", "dml", log)
        assert r.returncode == 0, r.stderr
        # the mysql client's own `select @@version_comment` runs in the database too
        recs = [json.loads(x) for x in r.stdout.splitlines() if b"@@version_comment" not in x]
        assert [x["query"] for x in recs] == DML, kind
        assert recs[0]["time"].endswith("Z") and recs[0]["user"] == "root"
        if kind == "slow":      # MySQL's # Time: has microseconds: used rather than SET timestamp
            assert "." in recs[0]["time"] and recs[0]["query_time"] >= 0
        mysql.sql(f"DROP DATABASE {db + kind[0]}")
    # and qrn replays it on MySQL 9
    mysql.sql(f"CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20))")
    data = tmp_path / "replay.jsonl"
    data.write_text("".join(json.dumps({"query": q}) + "\n" for q in DML))
    p = mysql.params
    r = subprocess.run([*QRN, "-dsn", f"{p['user']}@tcp(127.0.0.1:{p['port']})/{db}", "-data", str(data),
                        "-loop=false", "-time", "0"], capture_output=True, timeout=60,
                       env={**os.environ, "MYSQL_PWD": p["password"]})
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["Queries"] == len(DML) and rep["ErrorQueryCount"] == 0
    assert rep["ServerStatusDelta"]["Com_insert"] == 1 and rep["ServerStatusDelta"]["Com_update"] == 1
    assert mysql.sql(f"SELECT v FROM {db}.t ORDER BY id").split() == ["x;y", "b", "c"]
    mysql.sql(f"DROP DATABASE {db}")


SLOW = b"""/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-log (Debian 12). started with:
Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock
Time\t\t    Id Command\tArgument
garbage line without a header
# Time: 261207 15:28:46
# User@Host: app[app] @ web1 [10.0.0.5]
# Thread_id: 10  Schema: shop  QC_hit: No
# Query_time: 0.500000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 1000
# Rows_affected: 0  Bytes_sent: 11
SET timestamp=1796657326;
SELECT * FROM orders;
# User@Host: app[app] @ web1 [10.0.0.5]
# Thread_id: 10  Schema: shop  QC_hit: No
# Query_time: 0.000010  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0
# administrator command: Quit;
# User@Host: cut[cut] @ web1 [10.0.0.5]
SELECT 'an entry that lost its # Query_time line';
# User@Host: app[app] @ web1 [10.0.0.5]  Id:    11
# Query_time: 1.25  Lock_time: 0.000002 Rows_sent: 1  Rows_examined: 3
use other;
SET timestamp=1796657327;
DELETE FROM carts
WHERE id = 3;
"""


def test_log2jsonl_first_invalid_line_shows_the_bytes_as_typed():
    """The message about the first invalid line shows the user's bytes as the suite's messages do:
    a backslash as typed (not doubled by repr), bytes that are not UTF-8 and control characters
    as \\xNN (not U+FFFD), a long line cut with `...`."""
    bad = SLOW.replace(b"garbage line without a header", b"garbage \xff\xfe caf\xc3\xa9 \\N\tend")
    r = l2j(input=bad)
    assert r.returncode == 0, r.stderr
    assert b"'garbage \\xff\\xfe caf\xc3\xa9 \\N\\x09end'" in r.stderr, r.stderr
    assert "\ufffd".encode() not in r.stderr and b"\\\\N" not in r.stderr
    long = SLOW.replace(b"garbage line without a header", b"garbage " + b"x" * 500)
    assert b"'garbage " + b"x" * 112 + b"...'" in l2j(input=long).stderr


def test_synthetic_slow_log_admin_commands_and_bad_lines(tmp_path):
    r = l2j(input=SLOW)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert recs == [
        {"query": "SELECT * FROM orders", "time": "2026-12-07T15:28:46Z", "user": "app", "host": "web1",
         "query_time": 0.5, "rows_examined": 1000, "thread_id": 10, "db": "shop"},
        {"query": "DELETE FROM carts\nWHERE id = 3", "time": "2026-12-07T15:28:47Z", "user": "app", "host": "web1",
         "query_time": 1.25, "rows_examined": 3, "thread_id": 11, "db": "other"}]
    # the stray line and the damaged entry are counted, the first shown, the run still succeeds;
    # --strict makes it a failure
    assert b"2 invalid lines or entries skipped" in r.stderr and b"garbage line" in r.stderr
    assert l2j("--strict", input=SLOW).returncode == 1
    assert [json.loads(x)["query"] for x in l2j("--only", "select", input=SLOW).stdout.splitlines()] == \
        ["SELECT * FROM orders"]
    # any block size gives the same records: feed it a byte at a time
    from qlap.log2jsonl import Converter
    c = Converter()
    out = [x for i in range(len(SLOW)) for x in c.feed(SLOW[i:i + 1])] + c.end()
    assert [json.loads(x) for x in out] == recs


def test_files_in_order_missing_one_and_head(tmp_path):
    a = tmp_path / "a.log"
    a.write_bytes(SLOW)
    big = tmp_path / "big.log"
    big.write_bytes(SLOW.replace(b"garbage line without a header\n", b"") * 20000)
    r = l2j(a, tmp_path / "missing.log", a)
    assert r.returncode == 1
    assert f"mysql-log2jsonl: {tmp_path / 'missing.log'}: No such file or directory".encode() in r.stderr
    assert len(r.stdout.splitlines()) == 4
    p1 = subprocess.Popen([*L2J, str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p2 = subprocess.Popen(["head", "-1"], stdin=p1.stdout, stdout=subprocess.PIPE)
    p1.stdout.close()
    out, _ = p2.communicate(timeout=60)
    err = p1.stderr.read()
    assert p1.wait(timeout=60) in (0, 141) and out.count(b"\n") == 1 and b"Traceback" not in err


@pytest.mark.parametrize("mem_max", [8 << 20, 0])       # the file in memory, or streamed
def test_fingerprint_and_line_source(tmp_path, monkeypatch, mem_max):
    import random

    from qlap import replay
    from qlap.replay import LineSource, fingerprint
    monkeypatch.setattr(replay, "MEM_MAX", mem_max)
    assert fingerprint("SELECT * FROM t1 WHERE id = 42 AND name = 'it''s' AND x IN (1, 2, 3)") == \
        "select * from t1 where id = ? and name = ? and x in (?+)"
    assert fingerprint("select  a\n from t where v=-1.5e3 /* c */;") == "select a from t where v=?"
    f = tmp_path / "q.jsonl"
    f.write_bytes(b'{"query": "SELECT 1"}\r\n// c\n\n[1]\n{"q": "x"}\n{"query": "  "}\n{"query": "SELECT 2"}')
    s = LineSource(str(f), "q.jsonl", "query", False, False, random.Random(1))
    got = []
    while (x := s.next()) is not None:
        got.append(x[0])
    assert got == ["SELECT 1", "SELECT 2"] and s.invalid == 3 and s.loops == 0
    assert (s.lines is not None) == bool(mem_max)
    # looping: the invalid lines are counted once, the loops each time
    s = LineSource(str(f), "q.jsonl", "query", True, False, random.Random(1))
    assert [s.next()[0] for _ in range(6)] == ["SELECT 1", "SELECT 2"] * 3
    assert s.invalid == 3 and s.loops == 2 and s.last_line == '{"query": "SELECT 2"}'
    # a file with nothing to send ends even when looping
    e = tmp_path / "e.jsonl"
    e.write_bytes(b"// nothing\n[]\n")
    s = LineSource(str(e), "e.jsonl", "query", True, False, random.Random(1))
    assert s.next() is None and s.invalid == 1
    # a random start lands anywhere, and the whole file is still read after the rewind
    starts = set()
    for seed in range(30):
        s = LineSource(str(f), "q.jsonl", "query", True, True, random.Random(seed))
        starts.add(s.next()[0])
        assert {s.next()[0] for _ in range(4)} == {"SELECT 1", "SELECT 2"}
    assert starts == {"SELECT 1", "SELECT 2"}


GENERAL = (b"/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-log (Debian 12). started with:\n"
           b"Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\nTime\t\t    Id Command\tArgument\n"
           b"261207 15:28:46\t     9 Connect\tapp@web1 on shop using TCP/IP\n"
           b"\t\t     9 Query\tSELECT 1\n"
           b"\t\t    10 Query\tSELECT 'no connect seen'\n"
           b"261207 15:28:47\t     9 Init DB\tother\n"
           b"\t\t     9 Query\tUPDATE t SET v = 'a\nb'\n  WHERE id = 1\n"
           b"\t\t     9 Query\tuse shop\n"
           b"\t\t     9 Query\tDELETE FROM t\n"
           b"\t\t     9 Quit\t\n")


def test_general_log_threads_and_multiline():
    from qlap.log2jsonl import Converter
    c = Converter()
    recs = [json.loads(x) for x in c.feed(GENERAL) + c.end()]
    assert recs == [
        {"query": "SELECT 1", "time": "2026-12-07T15:28:46", "user": "app", "host": "web1", "thread_id": 9,
         "db": "shop"},
        {"query": "SELECT 'no connect seen'", "time": "2026-12-07T15:28:46", "thread_id": 10},
        {"query": "UPDATE t SET v = 'a\nb'\n  WHERE id = 1", "time": "2026-12-07T15:28:47", "user": "app",
         "host": "web1", "thread_id": 9, "db": "other"},
        {"query": "DELETE FROM t", "time": "2026-12-07T15:28:47", "user": "app", "host": "web1", "thread_id": 9,
         "db": "shop"}]
    assert c.stats.invalid == 0


def _convert(data: bytes, cuts: list[int], fmt: str) -> list[str]:
    from qlap.log2jsonl import Converter
    c = Converter(fmt=fmt)
    out, prev = [], 0
    for k in sorted({min(x, len(data)) for x in cuts}) + [len(data)]:
        if k > prev:
            out += c.feed(data[prev:k])
        prev = k
    return out + c.end()


@pytest.mark.parametrize("kind", ["slow", "general"])
@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_any_split_of_the_input_gives_the_same_records(kind, cuts):
    data, fmt = (SLOW * 3, "slow") if kind == "slow" else (GENERAL * 2, "general")
    whole = _convert(data, [], fmt)
    assert len(whole) == (6 if kind == "slow" else 8)
    assert _convert(data, cuts, fmt) == whole
