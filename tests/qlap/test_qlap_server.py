"""qlap end to end against the suite's real MariaDB, as a subprocess (pipes, signals, exit codes)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from support.ttys import read_pty

UPSTREAM_KEYS = ["DSN", "StartedAt", "FinishedAt", "ElapsedTime", "NAgents", "Rate", "AutoGenerateSql",
                 "NumberPrePopulatedData", "NumberQueriesToExecute", "DropExistingDatabase", "UseExistingDatabase",
                 "NoDropDatabase", "Engine", "LoadType", "GuidPrimary", "NumberSecondaryIndexes", "CommitRate",
                 "MixedSelRatio", "MixedInsRatio", "NumberIntCols", "IntColsIndex", "NumberCharCols",
                 "CharColsIndex", "PreQueries", "Token", "GOMAXPROCS", "QueryCount", "AvgQPS", "MaxQPS", "MinQPS",
                 "MedianQPS", "ExpectedQPS", "Response"]
QLAP = [sys.executable, "-c", "from qlap.cli import main; main()"]


@pytest.fixture
def dbname():
    return "q" + uuid.uuid4().hex[:10]


@pytest.fixture
def dsn(mariadb):
    p = mariadb.params
    return lambda db="", pw=True: f"{p['user']}{':' + p['password'] if pw else ''}@tcp(127.0.0.1:{p['port']})/{db}"


def qlap(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("MYSQL_PWD", None)
    e.update(env or {})
    return subprocess.run([*QLAP, *map(str, args)], capture_output=True, env=e, timeout=timeout)


def signal_when(args, ready, sig, settle: float = 0.0, sigint_ignored: bool = False):
    """Start qlap with args, send sig once ready() holds (and `settle` seconds more); its
    (returncode, stdout, stderr). sigint_ignored: start it as `qlap ... &` in a script does, with
    SIGINT ignored."""
    e = dict(os.environ)
    e.pop("MYSQL_PWD", None)
    pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    p = subprocess.Popen([*QLAP, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                         preexec_fn=pre)
    try:
        deadline = time.monotonic() + 60
        while not ready():
            assert time.monotonic() < deadline and p.poll() is None, p.stderr.read() if p.poll() is not None else ""
            time.sleep(0.05)
        time.sleep(settle)
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    return p.returncode, out, err


def schemas(mariadb) -> set[str]:
    return set(mariadb.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA").split())


def test_number_queries_counts_every_sample_and_cleans_up(mariadb, dsn, dbname):
    # upstream lost the last unflushed second of samples: a short run could report 0 queries
    r = qlap("-d", dsn(dbname), "-a", "-l", "key", "-n", "3", "--number-queries", "37", "-t", "0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert list(rep)[:len(UPSTREAM_KEYS)] == UPSTREAM_KEYS
    assert rep["QueryCount"] == 111 and rep["Response"]["Count"] == 111
    assert rep["NAgents"] == 3 and rep["LoadType"] == "key" and rep["UseExistingDatabase"] is False
    assert rep["DSN"] == dsn(dbname).replace(mariadb.params["password"], "****")
    assert mariadb.params["password"].encode() not in r.stdout + r.stderr
    assert rep["StartedAt"] < rep["FinishedAt"] and rep["Token"].count("-") == 4
    assert rep["ErrorQueryCount"] == 0 and rep["Errors"] is None
    assert r.stderr == b""                 # no progress line when stderr is not a terminal
    assert dbname not in schemas(mariadb)  # created by us, dropped by us


def test_mixed_load_statement_types_and_server_deltas(mariadb, dsn, dbname):
    r = qlap("-d", dsn(dbname), "-a", "-n", "2", "--number-queries", "40", "-t", "0", "--mixed-sel-ins-ratio",
             "3:1", "--commit-rate", "4", "-x", "2", "-y", "2", "--int-cols-index")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    by = rep["ResponseByStatement"]
    # per agent 40 statements: cycles of 4 generated + 1 COMMIT -> 8 COMMITs, 24 SELECTs, 8 INSERTs
    assert by["COMMIT"]["Count"] == 16 and by["SELECT"]["Count"] == 48 and by["INSERT"]["Count"] == 16
    assert rep["MixedSelRatio"] == 3 and rep["MixedInsRatio"] == 1 and rep["CommitRate"] == 4
    assert rep["ServerStatusDelta"]["Com_insert"] >= 16
    assert rep["ServerStatusDelta"]["Com_commit"] >= 16


def test_existing_t1_is_refused_without_force(mariadb, dsn, dbname):
    mariadb.sql(f"CREATE DATABASE {dbname}; CREATE TABLE {dbname}.t1 (keep INT); INSERT INTO {dbname}.t1 VALUES (42)")
    try:
        mariadb.sql(f"CREATE DATABASE IF NOT EXISTS qlap_{dbname}")  # taken: the hint names a free one
        r = qlap("-d", dsn(dbname) + "?timeout=5s", "-a", "--number-queries", "5", "-t", "0")
        assert r.returncode == 1
        assert b"t1 already exists" in r.stderr and r.stdout == b""
        # the hint is a safe one: a database of its own, never --drop-db on the user's database
        assert b"--drop-db" not in r.stderr and b"--force" not in r.stderr
        assert f"/qlap_{dbname}_2?timeout=5s'".encode() in r.stderr
        assert f"qlap_{dbname}_2" not in schemas(mariadb)
        assert mariadb.sql(f"SELECT keep FROM {dbname}.t1").strip() == "42"
        r = qlap("-d", dsn(dbname), "-a", "--number-queries", "5", "-t", "0", "--force")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["UseExistingDatabase"] is True
        assert dbname in schemas(mariadb)              # an existing database is never dropped
    finally:
        mariadb.sql(f"DROP DATABASE IF EXISTS {dbname}; DROP DATABASE IF EXISTS qlap_{dbname}")


def test_existing_database_keeps_its_tables(mariadb, dsn, dbname):
    mariadb.sql(f"CREATE DATABASE {dbname}; CREATE TABLE {dbname}.precious (x INT)")
    try:
        r = qlap("-d", dsn(dbname), "-a", "-l", "write", "--number-queries", "5", "-t", "0")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["UseExistingDatabase"] is True
        tables = mariadb.sql(f"SHOW TABLES FROM {dbname}").split()
        assert tables == ["precious"]                  # our t1 is gone, theirs is kept
    finally:
        mariadb.sql(f"DROP DATABASE IF EXISTS {dbname}")


def test_query_file_create_pre_query_and_no_drop(mariadb, dsn, dbname, tmp_path):
    q = tmp_path / "q.sql"
    q.write_text("INSERT INTO kv VALUES (NULL, 'a;b');\n-- a comment; with a delimiter\nSELECT COUNT(*) FROM kv;\n")
    create = tmp_path / "create.sql"
    create.write_text("CREATE TABLE kv (id SERIAL, v VARCHAR(10));")
    try:
        r = qlap("-d", dsn(dbname), "-q", q, "--create", create, "--pre-query", "SET @x = 1;", "--number-queries",
                 "10", "-t", "0", "--no-drop", "-n", "2")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        assert rep["QueryCount"] == 20 and rep["PreQueries"] == ["SET @x = 1"] and rep["NoDropDatabase"] is True
        assert mariadb.sql(f"SELECT COUNT(*), MIN(v) FROM {dbname}.kv").split() == ["10", "a;b"]
    finally:
        mariadb.sql(f"DROP DATABASE IF EXISTS {dbname}")


def test_query_error_aborts_without_force(mariadb, dsn, dbname):
    r = qlap("-d", dsn(dbname), "-q", "SELECT no_such_column", "--number-queries", "5", "-t", "0")
    assert r.returncode == 1 and r.stdout == b""
    assert b"qlap: Failed to run Task: Error 1054" in r.stderr
    assert dbname not in schemas(mariadb)


def test_force_counts_errors_per_code(mariadb, dsn, dbname):
    r = qlap("-d", dsn(dbname), "-q", "SELECT 1; SELECT no_such_column; SELECT 2", "--number-queries", "9",
             "-t", "0", "--force")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["QueryCount"] == 6 and rep["ErrorQueryCount"] == 3 and rep["Errors"] == {"1054": 3}
    assert b"3 queries failed; first: Error 1054" in r.stderr


def test_max_errors_stops_after_n_errors(mariadb, dsn, dbname):
    # the coordinator checked the count every 50 ms: --max-errors 1 stopped after hundreds
    for n in (1, 4):
        r = qlap("-d", dsn(dbname), "-q", "SELECT no_such_column", "-t", "0", "--max-errors", n)
        assert r.returncode == 1, r.stderr
        rep = json.loads(r.stdout)
        assert rep["ErrorQueryCount"] == n and f"stopped after {n} errors (--max-errors {n})".encode() in r.stderr
    # with several agents, at most one more error per other agent (its statement was in flight)
    r = qlap("-d", dsn(dbname), "-q", "SELECT 1; SELECT no_such_column", "-n", "2", "-t", "0", "--max-errors", "10")
    assert r.returncode == 1
    assert 10 <= json.loads(r.stdout)["ErrorQueryCount"] <= 11


def test_rate_is_never_exceeded(mariadb, dsn, dbname):
    r = qlap("-d", dsn(dbname), "-q", "SELECT 1", "-n", "2", "-r", "50", "-t", "2")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    # an absolute schedule: 100 slots per agent before the deadline, never more
    assert 150 <= rep["QueryCount"] <= 200
    assert rep["ExpectedQPS"] == 100 and rep["Rate"] == 50
    assert rep["ResponseFromIntendedStart"]["Count"] == rep["QueryCount"]
    r = qlap("-d", dsn(dbname), "-q", "SELECT 1", "-n", "3", "--total-rate", "60", "-t", "1")
    rep = json.loads(r.stdout)
    assert 45 <= rep["QueryCount"] <= 60 and rep["ExpectedQPS"] == 60 and rep["TotalRate"] == 60


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_still_prints_the_report(mariadb, dsn, dbname, tmp_path, sig, code):
    # SIGTERM: the same partial report and clean-up, exit 143 (the suite's policy; 130 before)
    series = tmp_path / "series.jsonl"
    rc, out, err = signal_when(["-d", dsn(dbname), "-a", "-l", "key", "-n", "2", "-t", "0", "--series", series,
                                "--auto-generate-sql-write-number", "10"],
                               lambda: series.exists() and series.read_text().count("\n") >= 2, sig)
    assert rc == code, err
    rep = json.loads(out)
    assert rep["Interrupted"] is True and rep["QueryCount"] > 0
    assert rep["QueryCount"] == rep["Response"]["Count"]
    lines = [json.loads(x) for x in series.read_text().splitlines()]
    assert lines[0]["queries"] > 0 and {"elapsed", "qps", "errors"} <= set(lines[0])
    assert dbname not in schemas(mariadb)          # cleaned up after the interruption


def test_long_query_is_cancelled_at_the_deadline(mariadb, dsn, dbname):
    t0 = time.monotonic()
    r = qlap("-d", dsn(dbname), "-q", "SELECT SLEEP(30)", "-t", "1", timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 25                 # did not wait for the 30 s statement
    rep = json.loads(r.stdout)
    assert rep["QueryCount"] == 0 and rep["ErrorQueryCount"] == 0 and rep["Response"]["Histogram"] is None


def test_password_from_mysql_pwd(mariadb, dsn, dbname):
    r = qlap("-d", dsn(dbname, pw=False), "-q", "SELECT 1", "--number-queries", "2", "-t", "0",
             env={"MYSQL_PWD": mariadb.params["password"]})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["DSN"] == dsn(dbname, pw=False)


def test_connection_failure(mariadb):
    r = qlap("-d", "u:secret@tcp(127.0.0.1:1)/", "-q", "SELECT 1", "-t", "1")
    assert r.returncode == 1 and b"cannot connect to u:****@tcp(127.0.0.1:1)/" in r.stderr
    assert b"secret" not in r.stderr


def test_only_print_touches_no_database():
    r = qlap("-d", "u@tcp(127.0.0.1:1)/x", "-a", "--only-print", "--number-queries", "3",
             "--auto-generate-sql-write-number", "2", "-l", "update")
    assert r.returncode == 0 and r.stdout == b""
    err = r.stderr.decode()
    assert "CREATE TABLE t1 (id SERIAL, intcol1 INT(32), charcol1 VARCHAR(128));" in err
    assert err.count("INSERT INTO t1 VALUES (NULL,") == 2
    assert err.count("agent(0): UPDATE t1 SET intcol1 = ") == 3
    assert "agent(0): SELECT 'agent(0) start: token=" in err and err.rstrip().endswith("DROP DATABASE `x`;")


@pytest.mark.parametrize("args,msg", [
    (["-a", "-q", "select 1"], b"exactly one of"),
    (["-a", "-n", "0"], b"--nagents must be >= 1"),
    (["-a", "-l", "bogus"], b"invalid load type"),
    (["-a", "--mixed-sel-ins-ratio", "3"], b"invalid --mixed-sel-ins-ratio"),
    (["-a", "--hinterval", "fast"], b"invalid --hinterval"),
    (["-a", "-t", "soon"], b"invalid --time"),
    (["-q", "x", "-F", ""], b"--delimiter must not be empty"),
    (["-a", "--create", "x"], b"--create requires --query"),
])
def test_usage_errors(args, msg):
    r = qlap("-d", "root@/", *args)
    assert r.returncode == 2 and msg in r.stderr and r.stderr.startswith(b"qlap: ")


def test_no_arguments_prints_help_on_stderr():
    r = qlap()
    assert r.returncode == 2 and r.stdout == b"" and b"usage: qlap" in r.stderr


def test_single_dash_long_options(mariadb, dsn, dbname):
    r = qlap("-dsn", dsn(dbname), "-query", "SELECT 1", "-number-queries", "3", "-time", "0",
             "-drop-existing-db", "-hinterval", "1ms")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["QueryCount"] == 3 and rep["DropExistingDatabase"] is True
    import re
    keys = [k for b in rep["Response"]["Histogram"] for k in b]
    assert all(re.fullmatch(r"(0s|\d+ms) - \d+ms", k) for k in keys), keys   # 1 ms bins aligned on 0


def test_coordinator_killed_leaves_no_worker_behind(mariadb, dsn, dbname):
    e = dict(os.environ)
    p = subprocess.Popen([*QLAP, "-d", dsn(dbname), "-q", "SELECT 1", "-n", "2", "-t", "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
    try:
        children: list[int] = []
        deadline = time.monotonic() + 30
        while len(children) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                    children = [int(x) for x in f.read().split()]
            except OSError:
                children = []
        assert children, "workers did not start"
        time.sleep(2)          # enough samples that they no longer fit in a pipe buffer (64 KiB)
        p.kill()
        p.wait()
        deadline = time.monotonic() + 10
        while any(os.path.exists(f"/proc/{c}") and _state(c) != "Z" for c in children):
            assert time.monotonic() < deadline, "orphaned workers kept running"
            time.sleep(0.1)
    finally:
        mariadb.sql(f"DROP DATABASE IF EXISTS {dbname}")


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_fast_path_reads_every_reply_shape(mariadb):
    import pymysql
    from qlap.runner import connect
    from qlap.wire import FastConn
    p = mariadb.params
    c = FastConn(connect({k: p[k] for k in ("host", "port", "user", "password")}))
    try:
        c.query("SELECT 1")
        c.query("SELECT seq, REPEAT('x', 300) FROM mysql.seq_1_to_20000")    # many rows, 2-byte lengths
        c.query("SELECT REPEAT('y', 70000), NULL, ''")                       # a value with a 3-byte length
        c.query("SELECT 1; SELECT 2, 3; DO 1")                               # several results in one reply
        c.query("SET @a = 1")
        with pytest.raises(pymysql.MySQLError) as e:
            c.query("SELECT 1; SELECT no_such_column")
        assert e.value.args[0] == 1054
        c.query("SELECT 3")                                                  # still in step after an error
        c.conn.query("SELECT @a + 1")                                        # and PyMySQL too
        assert c.conn._result.rows == ((2,),)
        victim = c.thread_id()
        mariadb.sql(f"KILL {victim}")
        with pytest.raises(pymysql.MySQLError) as e:
            c.query("SELECT 4")
        assert e.value.args[0] in (2006, 2013, 1927)
    finally:
        c.close()


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_during_set_up_removes_the_database(mariadb, dsn, dbname, sig, code):
    rc, out, err = signal_when(["-d", dsn(dbname), "-a", "-l", "write", "--auto-generate-sql-write-number",
                                "1000000", "-t", "1"], lambda: dbname in schemas(mariadb), sig, settle=0.3)
    assert rc == code, err
    assert b"Traceback" not in err
    rep = json.loads(out)                           # the (empty) partial report
    assert rep["Interrupted"] is True and rep["QueryCount"] == 0 and rep["Response"]["Histogram"] is None
    assert dbname not in schemas(mariadb)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_the_pre_fill_of_an_existing_database(mariadb, dsn, dbname, sig, code):
    # started as `qlap ... &` in a script does (SIGINT ignored): Ctrl-C / kill -INT was lost during
    # the pre-fill (the whole load ran, exit 0); both signals now stop it, drop the half-filled t1
    # (the next run would refuse it), print the partial report and exit 130 / 143
    mariadb.sql(f"CREATE DATABASE {dbname}")

    def filling() -> bool:
        try:
            return int(mariadb.sql(f"SELECT COUNT(*) FROM {dbname}.t1").strip() or 0) > 0
        except RuntimeError:
            return False
    try:
        rc, out, err = signal_when(["-d", dsn(dbname), "-a", "-l", "key", "-n", "4", "-t", "1",
                                    "--auto-generate-sql-write-number", "250000"], filling, sig,
                                   sigint_ignored=True)
        assert rc == code, err
        rep = json.loads(out)
        assert rep["Interrupted"] is True and rep["QueryCount"] == 0 and rep["UseExistingDatabase"] is True
        assert mariadb.sql(f"SHOW TABLES FROM {dbname}").split() == []      # t1 dropped
        assert dbname in schemas(mariadb)                                    # their database kept
    finally:
        mariadb.sql(f"DROP DATABASE IF EXISTS {dbname}")


def test_dsn_timeouts_bound_a_server_that_never_answers(mariadb, dsn, dbname):
    # a loopback listener that accepts and never writes: PyMySQL's connect_timeout covered only the
    # TCP connect, so `timeout=1s` waited for ever for the greeting
    import socket
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    try:
        port = lsn.getsockname()[1]
        t0 = time.monotonic()
        r = qlap("-d", f"u:pw@tcp(127.0.0.1:{port})/?timeout=1s", "-q", "SELECT 1", "-t", "1", timeout=30)
        assert r.returncode == 1 and b"within the connect timeout (1s)" in r.stderr, r.stderr
        assert time.monotonic() - t0 < 15
    finally:
        lsn.close()
    # readTimeout bounds a statement; timeout alone does not (a 1.5 s statement with timeout=1s)
    r = qlap("-d", dsn(dbname) + "?readTimeout=1s", "-q", "SELECT SLEEP(2)", "--number-queries", "1", "-t", "0",
             "--force")
    assert r.returncode == 0 and json.loads(r.stdout)["Errors"] == {"2013": 1}, r.stderr
    r = qlap("-d", dsn(dbname) + "?timeout=1s", "-q", "SELECT SLEEP(1.5)", "--number-queries", "1", "-t", "0")
    assert r.returncode == 0 and json.loads(r.stdout)["QueryCount"] == 1, r.stderr


def _stderr_on_a_terminal(args):
    import pty
    master, slave = pty.openpty()
    e = dict(os.environ)
    e.pop("MYSQL_PWD", None)
    p = subprocess.Popen([*QLAP, *map(str, args)], stdout=subprocess.PIPE, stderr=slave, env=e)
    os.close(slave)
    tty = read_pty(master, 4096)
    out, _ = p.communicate(timeout=60)
    os.close(master)
    return p.returncode, out, tty


def test_progress_line_only_on_a_terminal(mariadb, dsn, dbname):
    rc, out, err = _stderr_on_a_terminal(["-d", dsn(dbname), "-q", "SELECT 1", "-t", "3"])
    assert rc == 0 and json.loads(out)["QueryCount"] > 0
    assert b"\r00:01 | 1 agents / run " in err and b" qps)" in err and b"client CPU " in err
    rc, out, err = _stderr_on_a_terminal(["-d", dsn(dbname), "-q", "SELECT 1", "-t", "2", "--no-progress"])
    assert rc == 0 and err == b""
    r = qlap("-d", dsn(dbname), "-q", "SELECT 1", "-t", "2")          # stderr not a terminal: nothing
    assert r.returncode == 0 and r.stderr == b""


def test_write_error_is_a_message_not_a_traceback(mariadb, dsn, dbname):
    # ENOSPC on the report (stdout) or on --series: "write error", exit 1, the database still dropped
    with open("/dev/full", "wb") as full:
        r = subprocess.run([*QLAP, "--version"], stdout=full, stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == 1 and r.stderr.startswith(b"qlap: write error: "), r.stderr
        assert b"Traceback" not in r.stderr
        args = ["-d", dsn(dbname), "-a", "-l", "key", "--number-queries", "5", "-t", "0",
                "--auto-generate-sql-write-number", "5"]
        r = subprocess.run([*QLAP, *args], stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 1 and r.stderr.startswith(b"qlap: write error: "), r.stderr
    assert b"Traceback" not in r.stderr and dbname not in schemas(mariadb)
    r = qlap(*args[:-2], "-t", "2", "--number-queries", "0", "--series", "/dev/full")
    assert r.returncode == 1 and r.stderr.startswith(b"qlap: write error: /dev/full: "), r.stderr
    assert b"Traceback" not in r.stderr
    assert dbname not in schemas(mariadb)


def test_fast_path_reads_a_row_split_over_several_packets(mariadb):
    """A reply payload of 16 MiB - 1 bytes or more continues in the next packet(s)."""
    from qlap.runner import connect
    from qlap.wire import FastConn
    mariadb.sql("SET GLOBAL max_allowed_packet = 67108864")
    p = mariadb.params
    c = FastConn(connect({k: p[k] for k in ("host", "port", "user", "password")}))
    try:
        c.query("SELECT REPEAT('z', 40000000)")       # 40 MB: three packets
        c.query("SELECT 7")                            # still in step
        c.conn.query("SELECT LENGTH(REPEAT('z', 40000000))")
        assert c.conn._result.rows == ((40000000,),)
    finally:
        c.close()


def test_concurrency_sweep_with_iterations_csv_and_ndjson(mariadb, dsn, dbname, tmp_path):
    # mysqlslap's -c 1,8,32 -i N: one run per (agents, iteration) on one set-up, one record each
    args = ["-d", dsn(dbname), "-a", "-l", "key", "-c", "1,2", "-i", "2", "--number-queries", "7", "-t", "0",
            "--auto-generate-sql-write-number", "5"]
    r = qlap(*args, "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.decode().splitlines()]
    assert rows[0][:4] == ["concurrency", "iteration", "queries", "errors"] and len(rows) == 5
    assert [(x[0], x[1], x[2], x[3]) for x in rows[1:]] == [("1", "1", "7", "0"), ("1", "2", "7", "0"),
                                                          ("2", "1", "14", "0"), ("2", "2", "14", "0")]
    assert all(float(x[5]) > 0 and x[-1] == "false" for x in rows[1:])
    series = tmp_path / "s.jsonl"
    r = qlap(*args, "--series", series)              # a sweep's default: NDJSON
    assert r.returncode == 0, r.stderr
    reps = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [(x["NAgents"], x["Iteration"], x["QueryCount"]) for x in reps] == [(1, 1, 7), (1, 2, 7), (2, 1, 14),
                                                                              (2, 2, 14)]
    assert len({x["Token"] for x in reps}) == 1 and dbname not in schemas(mariadb)


def test_query_template_draws_fresh_parameters(mariadb, dsn, dbname):
    try:
        r = qlap("-d", dsn(dbname), "--template", "-q",
                 "INSERT INTO kv (k, n, s) VALUES ({seq:1:1000}, {int:1:3}, {str:8})",
                 "--create", "CREATE TABLE kv (id SERIAL, k INT, n INT, s VARCHAR(8))", "-n", "2",
                 "--number-queries", "30", "-t", "0", "--no-drop")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["QueryCount"] == 60
        got = mariadb.sql(f"SELECT COUNT(*), COUNT(DISTINCT k), MAX(k), MIN(n), MAX(n), COUNT(DISTINCT s), "
                          f"MIN(LENGTH(s)) FROM {dbname}.kv").split()
        # each agent walks its own 1, 2, ... 30; n in 1..3; a fresh string every time
        assert got == ["60", "30", "30", "1", "3", "60", "8"]
    finally:
        mariadb.sql(f"DROP DATABASE IF EXISTS {dbname}")
