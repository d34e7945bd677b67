"""qrn (the qlap distribution's second script) end to end against the suite's real MariaDB, as a
subprocess (pipes, signals, exit codes), and the report's core function. Upstream qrn's bugs each
have a test that fails on a literal reading of upstream's behaviour."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

QRN = [sys.executable, "-c", "from qlap.qrn_cli import main; main()"]
UPSTREAM_KEYS = ["DSN", "Files", "PreQueries", "Started", "Finished", "Elapsed", "Queries", "NAgents", "Rate",
                 "QPS", "MaxQPS", "MinQPS", "MedianQPS", "ExpectedQPS", "LoopCount", "Response", "Token",
                 "GOMAXPROCS"]


@pytest.fixture
def dsn(mariadb):
    p = mariadb.params
    return lambda db="", pw=True: f"{p['user']}{':' + p['password'] if pw else ''}@tcp(127.0.0.1:{p['port']})/{db}"


@pytest.fixture
def db(mariadb):
    name = "r" + uuid.uuid4().hex[:10]
    mariadb.sql(f"CREATE DATABASE {name}; CREATE TABLE {name}.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    yield name
    mariadb.sql(f"DROP DATABASE IF EXISTS {name}")


def qrn(*args, env=None, stdin=subprocess.DEVNULL, input=None, timeout=120):
    e = dict(os.environ)
    e.pop("MYSQL_PWD", None)
    e.update(env or {})
    if input is not None:
        stdin = None
    return subprocess.run([*QRN, *map(str, args)], capture_output=True, env=e, timeout=timeout, stdin=stdin,
                          input=input)


def jsonl(path, queries, key="query"):
    path.write_text("".join(json.dumps({key: q}) + "\n" for q in queries))
    return path


def status(mariadb, name: str) -> int:
    return int(mariadb.sql(f"SHOW GLOBAL STATUS LIKE '{name}'").split()[1])


def test_report_fields_in_upstream_order_stdin_not_a_terminal(mariadb, dsn, tmp_path):
    # upstream asked stdin for the terminal size at the end and exited 1 with no report when it
    # was not a terminal (here: /dev/null)
    f = jsonl(tmp_path / "q.jsonl", ["SELECT 1", "SELECT 2"])
    before = status(mariadb, "Com_select")
    r = qrn("-dsn", dsn(), "-data", f, "-maxcount", "10", "-time", "0", "-random=false")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert list(rep)[:len(UPSTREAM_KEYS)] == UPSTREAM_KEYS
    assert rep["Queries"] == 10 and rep["NAgents"] == 1 and rep["Files"] == [str(f)]
    assert rep["DSN"] == dsn().replace(mariadb.params["password"], "****")
    assert mariadb.params["password"].encode() not in r.stdout + r.stderr
    assert rep["LoopCount"] == 4            # 10 statements of a 2-line file: rewound 4 times
    assert rep["ErrorQueryCount"] == 0 and rep["Interrupted"] is False
    # the server saw exactly the report's statements plus the agent's start and end markers
    assert status(mariadb, "Com_select") - before == 10 + 2
    assert rep["ServerStatusDelta"]["Com_select"] == 12
    fps = {x["Fingerprint"]: x["Count"] for x in rep["ResponseByFingerprint"]}
    assert fps == {"select ?": 10}


def test_loop_count_is_summed_over_agents(dsn, tmp_path):
    # upstream reported the last agent's LoopCount (here 2), not the sum
    a = jsonl(tmp_path / "a.jsonl", ["SELECT 1", "SELECT 2", "SELECT 3"])
    b = jsonl(tmp_path / "b.jsonl", ["SELECT 4", "SELECT 5", "SELECT 6"])
    r = qrn("-dsn", dsn(), "-data", a, "-data", b, "-nagents", "3", "-maxcount", "7", "-time", "0", "-random=false")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["NAgents"] == 3 and rep["Queries"] == 21
    assert rep["LoopCount"] == 6            # each agent: 7 statements of a 3-line file, 2 rewinds


def test_agent_ids_in_markers_loop_false_and_pre_query(mariadb, dsn, db, tmp_path):
    # upstream never set the agent ids: every marker said agent(0)
    log = tmp_path / "general.log"
    f = jsonl(tmp_path / "q.jsonl", ["INSERT INTO t (v) VALUES (@x)", "SELECT COUNT(*) FROM t"])
    mariadb.sql(f"SET GLOBAL general_log_file = '{log}'; SET GLOBAL general_log = 1")
    try:
        r = qrn("-dsn", dsn(db), "-data", f, "-nagents", "2", "-loop=false", "-time", "0", "-pre-query", "SET @x = 7")
    finally:
        mariadb.sql("SET GLOBAL general_log = 0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["Queries"] == 4 and rep["LoopCount"] == 0 and rep["PreQueries"] == ["SET @x = 7"]
    assert mariadb.sql(f"SELECT COUNT(*), MIN(v), MAX(v) FROM {db}.t").split() == ["2", "7", "7"]
    text = log.read_text()
    token = rep["Token"]
    for i in (0, 1):
        assert f"agent({i}) start: token={token}" in text and f"agent({i}) end: token={token}" in text


def test_force_counts_errors_and_prints_each_line(dsn, db, tmp_path):
    bad = '{"query": "SELECT nope FROM t"}'
    f = tmp_path / "q.jsonl"
    f.write_text('{"query": "SELECT 1"}\n' + bad + "\n")
    r = qrn("-dsn", dsn(db), "-data", f, "-force", "-maxcount", "6", "-time", "0", "-random=false")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    # upstream: no error count, and the line printed with no newline after it
    assert rep["ErrorQueryCount"] == 3 and rep["Errors"] == {"1054": 3} and rep["Queries"] == 3
    lines = [x for x in r.stderr.decode().splitlines(keepends=True) if "1054" in x]
    assert len(lines) == 3 and all(x.endswith(bad + "\n") for x in lines)
    # without -force the first error stops the run: exit 1, no report
    r = qrn("-dsn", dsn(db), "-data", f, "-maxcount", "6", "-time", "0", "-random=false")
    assert r.returncode == 1 and r.stdout == b"" and b"Error 1054" in r.stderr


def test_zero_query_run_is_an_honest_report(mariadb, dsn, tmp_path):
    # upstream printed an all-zero object (DSN "", NAgents 0, no Token) when nothing ran
    f = tmp_path / "q.jsonl"
    f.write_text("// only a comment\n\nnot json\n")
    r = qrn("-dsn", dsn(), "-data", f, "-time", "0", "-random=false")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["Queries"] == 0 and rep["NAgents"] == 1 and rep["Files"] == [str(f)]
    assert rep["DSN"].startswith(mariadb.params["user"] + ":****@") and len(rep["Token"]) == 36
    assert rep["InvalidLines"] == 1 and rep["Response"]["Count"] == 0
    assert b"q.jsonl:3: not JSON" in r.stderr


def test_commit_rate_commits_every_n_statements(mariadb, dsn, db, tmp_path):
    f = jsonl(tmp_path / "q.jsonl", ["INSERT INTO t (v) VALUES (1)"])
    before = status(mariadb, "Com_commit")
    r = qrn("-dsn", dsn(db), "-data", f, "-commit-rate", "3", "-maxcount", "8", "-time", "0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    # I I I C I I I C: six inserts, all committed; the statements after the last COMMIT would not be
    assert rep["Queries"] == 8
    assert status(mariadb, "Com_commit") - before == 2
    assert mariadb.sql(f"SELECT COUNT(*) FROM {db}.t").strip() == "6"
    fps = {x["Fingerprint"]: x["Count"] for x in rep["ResponseByFingerprint"]}
    assert fps == {"insert into t (v) values (?)": 6, "COMMIT": 2}


def test_random_start_positions_and_slow_log(dsn, tmp_path):
    f = jsonl(tmp_path / "q.jsonl", [f"SELECT {i}" for i in range(200)])
    log = tmp_path / "slow.jsonl"
    r = qrn("-dsn", dsn(), "-data", f, "-nagents", "6", "-maxcount", "1", "-time", "0", "-log", log)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(recs) == 6 and all(set(x) == {"query", "time", "timestamp"} and x["time"] > 0 for x in recs)
    assert len({x["query"] for x in recs}) > 1          # 6 agents at random lines of 200
    r = qrn("-dsn", dsn(), "-data", f, "-nagents", "6", "-maxcount", "1", "-time", "0", "-log", log,
            "-random=false")
    assert {json.loads(x)["query"] for x in log.read_text().splitlines()} == {"SELECT 0"}
    # a threshold: only the slow statement is logged
    g = jsonl(tmp_path / "g.jsonl", ["SELECT 1", "SELECT SLEEP(0.05)"])
    r = qrn("-dsn", dsn(), "-data", g, "-maxcount", "4", "-time", "0", "-log", log, "-logtime", "30ms",
            "-random=false")
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["query"] for x in log.read_text().splitlines()] == ["SELECT SLEEP(0.05)"] * 2


def test_rate_over_five_seconds(mariadb, dsn, tmp_path):
    f = jsonl(tmp_path / "q.jsonl", ["SELECT 1", "SELECT 2", "SELECT 3"])
    before = status(mariadb, "Com_select")
    r = qrn("-dsn", dsn(), "-data", f, "-data", f, "-rate", "100", "-time", "5")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["NAgents"] == 2 and rep["ExpectedQPS"] == 200
    assert abs(rep["Queries"] - 1000) <= 20, rep["Queries"]          # +-2 % over 5 s
    assert abs(rep["MedianQPS"] - 200) <= 4, rep["MedianQPS"]
    assert "ResponseFromIntendedStart" in rep
    assert status(mariadb, "Com_select") - before == rep["Queries"] + 4


def test_total_rate_histogram_and_gz(dsn, tmp_path):
    f = tmp_path / "q.jsonl.gz"
    with gzip.open(f, "wt") as g:
        g.write("".join(json.dumps({"sql": f"SELECT {i}"}) + "\n" for i in range(5)))
    r = qrn("-dsn", dsn(), "-data", f, "-key", "sql", "-nagents", "2", "-total-rate", "100", "-time", "1",
            "-histogram", "-hbins", "4")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert abs(rep["Queries"] - 100) <= 3 and rep["TotalRate"] == 100 and rep["ExpectedQPS"] == 100
    assert len(rep["Response"]["Histogram"]) == 4
    bars = [x for x in r.stderr.decode().splitlines() if " | " in x]
    assert len(bars) == 4 and sum(int(x.split()[-1]) for x in bars) == rep["Queries"]


def test_noop_sends_nothing(tmp_path):
    # a port nothing listens on: --noop never connects
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = jsonl(tmp_path / "q.jsonl", ["SELECT 1", "SELECT 2"])
    r = qrn("-dsn", f"u@tcp(127.0.0.1:{port})/", "-data", f, "--noop", "-maxcount", "50", "-time", "0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["Queries"] == 50 and rep["Noop"] is True and rep["ServerStatusDelta"] is None
    r = qrn("-dsn", f"u@tcp(127.0.0.1:{port})/?timeout=2s", "-data", f, "-maxcount", "5", "-time", "0")
    assert r.returncode == 1 and b"cannot connect" in r.stderr


def test_env_in_dsn_query_flag_and_stdin(mariadb, dsn):
    p = mariadb.params
    raw = f"{p['user']}:${{QRN_TEST_PW}}@tcp(127.0.0.1:{p['port']})/"
    r = qrn("-dsn", raw, "-query", "SELECT 42", "-maxcount", "3", "-time", "0", env={"QRN_TEST_PW": p["password"]})
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["Queries"] == 3 and rep["Files"] is None and p["password"].encode() not in r.stdout
    r = qrn("-dsn", raw, "-query", "SELECT 42", "-time", "0")
    assert r.returncode == 2 and b"QRN_TEST_PW is not set" in r.stderr
    data = b'{"query": "SELECT 1"}\n{"query": "SELECT 2"}\n'
    r = qrn("-dsn", dsn(pw=False), "-data", "-", "-loop=false", "-time", "0", input=data,
            env={"MYSQL_PWD": p["password"]})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Queries"] == 2


@pytest.mark.parametrize("args", [[], ["-dsn", "u@/"], ["-dsn", "u@/", "-query", "SELECT 1", "-data", "x"],
                                  ["-dsn", "u@/", "-query", "SELECT 1", "-time", "abc"],
                                  ["-dsn", "u@/", "-query", "SELECT 1", "-loop=maybe"]])
def test_usage_errors(args):
    r = qrn(*args)
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_unreadable_data_file(tmp_path):
    r = qrn("-dsn", "u@/", "-data", tmp_path / "missing.jsonl")
    assert r.returncode == 1 and f"qrn: {tmp_path / 'missing.jsonl'}: No such file or directory".encode() in r.stderr


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_prints_the_partial_report(dsn, tmp_path, sig, code):
    # upstream exited without a report on Ctrl-C
    f = jsonl(tmp_path / "q.jsonl", ["SELECT 1"])
    e = dict(os.environ)
    e.pop("MYSQL_PWD", None)
    p = subprocess.Popen([*QRN, "-dsn", dsn(), "-data", str(f), "-rate", "200", "-time", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code, err
    rep = json.loads(out)
    assert rep["Interrupted"] is True and rep["Queries"] > 50


def test_odd_length_median_in_the_report():
    # upstream's MedianQPS took element n/2+1 of an odd-length list: [1, 3, 5] gave 5, not 3
    import argparse
    import array

    from qlap.dsn import parse
    from qlap.gen import Plan, TableSpec
    from qlap.replay import report
    from qlap.runner import AgentResult, RunResult
    s = 1_000_000_000
    ends = [int(0.5 * s)] + [s + k for k in range(5)] + [2 * s + k for k in range(3)]
    ag = AgentResult(0, durs=array.array("q", [1000] * 9), ends=array.array("q", ends),
                     types=array.array("i", [0] * 9))
    ag.extra = {"loops": 2, "fingerprints": ["select ?"]}
    res = RunResult([ag], 0, 0, 3 * s + 10, False, "")
    a = argparse.Namespace(rate=0, total_rate=0, hbins=10, top=5, noop=False)
    plan = Plan(connect={}, dbname="", spec=TableSpec(), load_type="", auto=False, queries=None, pre_queries=[],
                commit_rate=0, sel_ratio=1, ins_ratio=1, ids=[], token="t", nagents=1, time_ns=0,
                number_queries=0, agent_rate=0, force=False)
    cfg = {"dsn": parse("u:secret@tcp(h:1)/d"), "files": [("f", "f")], "pre": [], "hinterval": 0}
    rep = report(a, cfg, plan, res, 0.0, {}, {}, 1)
    assert (rep["MaxQPS"], rep["MinQPS"], rep["MedianQPS"]) == (5, 1, 3)
    assert rep["DSN"] == "u:****@tcp(h:1)/d" and rep["LoopCount"] == 2 and rep["Queries"] == 9


def test_option_file_supplies_user_and_password(mariadb, tmp_path):
    p = mariadb.params
    cnf = tmp_path / "my.cnf"
    cnf.write_text(f"[mysql]\npassword=wrong\n[client]\nuser = {p['user']}\npassword = \"{p['password']}\"\n")
    dsn = f"tcp(127.0.0.1:{p['port']})/"
    r = qrn("-dsn", dsn, "-defaults-extra-file", cnf, "-query", "SELECT 1", "-maxcount", "2", "-time", "0",
            env={"MYSQL_PWD": "not-this-one"})             # the option file comes before MYSQL_PWD
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Queries"] == 2 and p["password"].encode() not in r.stdout + r.stderr
    r = qrn("-dsn", dsn, "--defaults-file", tmp_path / "none.cnf", "-query", "SELECT 1")
    assert r.returncode == 1 and b"none.cnf: No such file or directory" in r.stderr
