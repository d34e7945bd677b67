"""myps against the suite's real MariaDB: real sleeping queries, idle transactions, lock waits, kills."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pymysql
import pytest
from myps_helpers import run_myps, wait_visible
from support.ttys import read_pty


def lines(out: bytes) -> list[dict]:
    res = []
    for line in out.decode().splitlines():
        res.append(dict(f.split(":", 1) for f in line.split("\t")))
    return res


def test_grep_positional_pattern_exact_line(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) AS {tag}")
    wait_visible(mariadb, f"%{tag}%")
    time.sleep(1.1)
    rc, out, err = run_myps(["grep", *conn_args, f"select sleep(30) as {tag}"])   # LIKE: case-insensitive
    assert rc == 0, err
    assert out == (f"ID:{s.id}\tUSER:suite\tHOST:{lines(out)[0]['HOST']}\tDB:\tCOMMAND:Query\t"
                   f"TIME:{lines(out)[0]['TIME']}\tSTATE:User sleep\tINFO:SELECT SLEEP(30) AS {tag}\n").encode()
    assert lines(out)[0]["HOST"].startswith("127.0.0.1:")
    assert int(lines(out)[0]["TIME"]) >= 1
    # options before the command, single-dash long names, upstream's --duration alias
    rc, out2, _ = run_myps([*conn_args, "-duration", "1", "grep", "-info", f"%{tag}%"])
    assert rc == 0 and lines(out2)[0]["ID"] == str(s.id)


def test_grep_no_match_exit_1(conn_args, tag):
    rc, out, err = run_myps(["grep", *conn_args, "-i", f"%{tag}-nothing%"])
    assert (rc, out) == (1, b"")


def test_like_wildcards_user_db_and_null_columns(mariadb, sessions, conn_args, tag):
    mariadb.sql(f"CREATE DATABASE IF NOT EXISTS app_{tag}")
    try:
        s_db = sessions(db=f"app_{tag}").run_bg(f"SELECT SLEEP(30) /* {tag} a */")
        s_idle = sessions()          # idle, no default database: INFO NULL, DB NULL
        wait_visible(mariadb, f"%{tag} a%")
        rc, out, _ = run_myps(["grep", *conn_args, "-d", f"app\\_{tag}"])
        assert rc == 0 and [r["ID"] for r in lines(out)] == [str(s_db.id)]
        rc, out, _ = run_myps(["grep", *conn_args, "-d", f"APP_{tag.upper()}"])   # case-insensitive
        assert [r["ID"] for r in lines(out)] == [str(s_db.id)]
        # '' matches a NULL DB; '%' matches a NULL INFO (idle sessions), like upstream
        rc, out, _ = run_myps(["grep", *conn_args, "-d", "", "-c", "Sleep", "-i", "%"])
        assert str(s_idle.id) in [r["ID"] for r in lines(out)]
        assert all(r["DB"] == "" and r["COMMAND"] == "Sleep" and r["INFO"] == "" for r in lines(out))
        # --exclude-db and --host filters
        rc, out, _ = run_myps(["grep", *conn_args, "-i", f"%{tag} a%", "--exclude-db", "app%"])
        assert rc == 1
        rc, out, _ = run_myps(["grep", *conn_args, "-i", f"%{tag} a%", "--host", "127.0.0.1:%"])
        assert rc == 0
    finally:
        mariadb.sql(f"DROP DATABASE IF EXISTS app_{tag}")


def test_info_escaping_and_truncation(mariadb, sessions, conn_args, tag):
    long_tail = "x" * 150
    sessions().run_bg(f"SELECT SLEEP(30), '{tag}\tTAB\nLF', '{long_tail}'")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, _ = run_myps(["grep", *conn_args, f"%{tag}%"])
    assert rc == 0 and out.count(b"\n") == 1
    info = out.split(b"\tINFO:", 1)[1].rstrip(b"\n")
    prefix = f"SELECT SLEEP(30), '{tag}\\tTAB\\nLF', '".encode()
    assert info.startswith(prefix)
    raw_len = len(f"SELECT SLEEP(30), '{tag}\tTAB\nLF', '")
    assert info == prefix + b"x" * (110 - raw_len)
    rc, out, _ = run_myps(["grep", *conn_args, "--full", f"%{tag}%"])
    assert out.rstrip(b"\n").endswith(long_tail.encode() + b"'")


def test_json_output(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, _ = run_myps(["grep", *conn_args, "--json", f"%{tag}%"])
    obj = json.loads(out)
    assert obj["action"] == "ID" and obj["id"] == s.id and obj["command"] == "Query"
    assert obj["info"] == f"SELECT SLEEP(30) /* {tag} */" and obj["time_ms"] >= 0 and obj["query_id"] > 0


def test_regex_filter(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag}-42 */")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, _ = run_myps(["grep", *conn_args, "--regex", "-i", rf"{tag}-\d+ \*/$"])
    assert rc == 0 and [r["ID"] for r in lines(out)] == [str(s.id)]
    rc, out, _ = run_myps(["grep", *conn_args, "--regex", "-i", rf"{tag}-[a-z]+"])
    assert rc == 1
    rc, _, err = run_myps(["grep", *conn_args, "--regex", "-i", "("])
    assert rc == 2 and b"invalid --info regex" in err


def test_time_units_and_sub_second(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    time.sleep(0.6)
    rc, out, _ = run_myps(["grep", *conn_args, "-t", "0.5", f"%{tag}%"])     # TIME is still 0: TIME_MS used
    assert rc == 0 and lines(out)[0]["ID"] == str(s.id)
    rc, out, _ = run_myps(["grep", *conn_args, "-t", "5m", f"%{tag}%"])
    assert rc == 1


def test_kill_yes_kills_the_connection(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, err = run_myps(["kill", *conn_args, "-y", f"%{tag}%"])
    assert rc == 0, err
    assert out.startswith(f"KILLED:{s.id}\tUSER:suite\t".encode()) and out.count(b"\n") == 1
    s.wait()
    assert s.error is not None                     # the victim lost its connection
    rc, out, _ = run_myps(["grep", *conn_args, f"%{tag}%"])
    assert rc == 1


def test_kill_nothing_matched_exit_0(conn_args, tag):
    rc, out, err = run_myps(["kill", *conn_args, f"%{tag}-none%"])
    assert (rc, out) == (0, b"")


def test_kill_prompt_comes_after_the_list(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    for answer in (b"n\n", b"yes\n", b"y\r\n", b""):
        rc, out, err = run_myps(["kill", *conn_args, f"%{tag}%"], stdin=answer)
        assert out.startswith(f"ID:{s.id}\t".encode())
        assert out.endswith(b"Are you sure you want to kill threads? [y/N]:\n")   # stdin no terminal
        assert rc == (2 if not answer else 0), (answer, rc, err)
    assert s.thread.is_alive()                     # nothing was killed
    rc, out, _ = run_myps(["kill", *conn_args, f"%{tag}%"], stdin=b"Y\n")
    # stdin is no terminal (nothing echoed the answer): the KILLED: record starts its own line
    assert rc == 0 and f"[y/N]:\nKILLED:{s.id}\t".encode() in out
    s.wait()
    assert s.error is not None


def test_kill_query_keeps_the_connection(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, err = run_myps(["kill", *conn_args, "-y", "--kill-query", f"%{tag}%"])
    assert rc == 0, err
    assert out.startswith(f"KILLED:{s.id}".encode())
    s.wait()
    assert isinstance(s.error, pymysql.err.OperationalError) and s.error.args[0] == 1317
    with s.conn.cursor() as c:                     # the connection itself survived
        c.execute("SELECT 1")
        assert c.fetchall() == ((1,),)


def test_dry_run_kills_nothing(mariadb, sessions, conn_args, tag):
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, _ = run_myps(["kill", *conn_args, "--dry-run", f"%{tag}%"])
    assert rc == 0 and out.startswith(f"ID:{s.id}\t".encode())
    assert s.thread.is_alive()


def test_thread_gone_before_the_kill_is_gone_not_killed(mariadb, sessions, conn_args, tag):
    # upstream printed KILLED for a thread that had already ended (error 1094 swallowed)
    import io

    from myps.app import Out, Runner
    from myps.cli import build_parser
    from myps.match import Criteria
    from myps.session import Session
    s = sessions()
    a = build_parser().parse_intermixed_args(["kill", "-u", "%"])
    p = mariadb.params
    sess = Session({"host": p["host"], "port": p["port"], "user": p["user"], "password": p["password"]})
    try:
        out = io.BytesIO()
        r = Runner(a, "kill", Criteria(user="%"), {}, sess, Out(out, io.BytesIO(), False), io.BytesIO())
        row = sess.processlist(Criteria(info=None, user="%", time=0))
        row = [x for x in row if x["ID"] == s.id][0]
        s.close()
        time.sleep(0.3)
        r.kill_all([row])
        assert out.getvalue().startswith(f"GONE:{s.id}\t".encode())
        assert b"KILLED" not in out.getvalue()
        # and KILL of an id that does not exist is 1094, reported GONE as well
        row2 = dict(row, ID=987654)
        r.crit = Criteria(time=0)
        sess.recheck = lambda row, c: row                       # skip the re-check: hit the server's 1094
        out.seek(0)
        out.truncate()
        r.kill_all([row2])
        assert out.getvalue().startswith(b"GONE:987654\t") and b"Error 1094" in out.getvalue()
    finally:
        sess.close()


def test_refused_kill_is_failed_and_exit_3(mariadb, sessions, tag):
    user = f"weak_{tag}"
    mariadb.sql(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw'; GRANT PROCESS ON *.* TO '{user}'@'127.0.0.1'")
    try:
        s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
        wait_visible(mariadb, f"%{tag}%")
        p = mariadb.params
        rc, out, err = run_myps(["kill", "-y", "--no-defaults", "--mysql-host", p["host"], "--mysql-port",
                                 str(p["port"]), "--mysql-user", user, "--mysql-password", "pw", f"%{tag}%"])
        assert rc == 3, err
        assert out.startswith(f"FAILED:{s.id}\t".encode()) and b"\tERROR:Error 1095" in out
        assert s.thread.is_alive()
    finally:
        mariadb.sql(f"DROP USER '{user}'@'127.0.0.1'")


def test_system_threads_are_not_listed(mariadb, conn_args):
    mariadb.sql("SET GLOBAL event_scheduler = ON")
    try:
        deadline = time.monotonic() + 10
        while "event_scheduler" not in mariadb.sql("SELECT USER FROM information_schema.PROCESSLIST"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        rc, out, _ = run_myps(["grep", *conn_args, "-u", "event%"])
        assert rc == 1 and out == b""
        rc, out, _ = run_myps(["grep", *conn_args, "-u", "event%", "--include-system"])
        assert rc == 0 and lines(out)[0]["USER"] == "event_scheduler"
        rc, out, _ = run_myps(["kill", *conn_args, "-y", "-u", "event%"])   # upstream: KILLED (not true)
        assert (rc, out) == (0, b"")
    finally:
        mariadb.sql("SET GLOBAL event_scheduler = OFF")


def test_a_myps_comment_hides_nothing_and_only_our_own_session_is_skipped(mariadb, sessions, conn_args, tag):
    # any client could start its statement with /* myps */ and so hide it from grep and kill
    s = sessions().run_bg(f"/* myps */ SELECT SLEEP(30), '{tag}'")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, _ = run_myps(["grep", *conn_args, f"%{tag}%"])
    assert rc == 0 and [r["ID"] for r in lines(out)] == [str(s.id)]
    rc, out, err = run_myps(["kill", *conn_args, "-y", f"%{tag}%"])
    assert rc == 0 and out.startswith(f"KILLED:{s.id}\t".encode()), err
    s.wait()
    assert s.error is not None
    # our own session (whose statement holds the pattern) is known by its connection id
    rc, out, _ = run_myps(["grep", *conn_args, f"%{tag}-self%"])
    assert (rc, out) == (1, b"")


def test_refused_kill_of_a_live_system_thread_is_failed_not_gone(mariadb, conn_args):
    # MariaDB answers 1094 "Unknown thread id" for event_scheduler, which is still there: that is a
    # refusal (FAILED, exit 3), not a thread that ended (GONE)
    mariadb.sql("SET GLOBAL event_scheduler = ON")
    try:
        deadline = time.monotonic() + 10
        while "event_scheduler" not in mariadb.sql("SELECT USER FROM information_schema.PROCESSLIST"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        for extra in ([], ["--kill-query"]):
            rc, out, err = run_myps(["kill", *conn_args, "-y", "--include-system", "-u", "event_scheduler", *extra])
            assert rc == 3, (out, err)
            code = b"1957" if extra else b"1094"      # KILL QUERY ID 0: "Unknown query id"
            assert out.startswith(b"FAILED:") and b"\tERROR:Error " + code in out and b"refuses to kill it" in out
        assert "event_scheduler" in mariadb.sql("SELECT USER FROM information_schema.PROCESSLIST")
    finally:
        mariadb.sql("SET GLOBAL event_scheduler = OFF")


def test_mysql_timeout_bounds_a_server_that_never_answers():
    # a loopback listener that accepts and never writes: --mysql-timeout was the TCP connect only
    # (PyMySQL's connect_timeout), so myps waited for the greeting for ever
    import socket
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    exe = [sys.executable, "-c", "from myps.cli import main; main()"]
    try:
        t0 = time.monotonic()
        r = subprocess.run([*exe, "grep", "--no-defaults", "--mysql-host", "127.0.0.1", "--mysql-port",
                            str(lsn.getsockname()[1]), "--mysql-user", "u", "--mysql-timeout", "1s", "-u", "x"],
                           capture_output=True, timeout=30)
        assert r.returncode == 2 and r.stderr.startswith(b"myps: cannot connect to ") and b"timed out" in r.stderr
        assert r.stderr.count(b"\n") == 1 and time.monotonic() - t0 < 15
    finally:
        lsn.close()


def test_ask_password_without_a_terminal_is_one_clear_message():
    # no controlling terminal (a new session) and stdin not a terminal: getpass warned and fell back
    # to stdin, then `myps: EOFError:`
    exe = [sys.executable, "-c", "from myps.cli import main; main()"]
    r = subprocess.run([*exe, "grep", "--no-defaults", "--mysql-host", "127.0.0.1", "--mysql-port", "1",
                        "--ask-password", "-u", "x"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                       start_new_session=True)
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr == (b"myps: --ask-password needs a terminal to read the password from, and there is none: "
                        b"give the password in an option file ([client] password=...) or in MYSQL_PWD\n")


def test_trx_time_finds_idle_transactions(mariadb, sessions, conn_args, tag):
    mariadb.sql(f"CREATE DATABASE IF NOT EXISTS trx_{tag}; CREATE TABLE trx_{tag}.t (id INT PRIMARY KEY) "
                f"ENGINE=InnoDB; INSERT INTO trx_{tag}.t VALUES (1)")
    try:
        idle = sessions(db=f"trx_{tag}")
        busy_free = sessions(db=f"trx_{tag}")
        with idle.conn.cursor() as c:
            c.execute("BEGIN")
            c.execute("UPDATE t SET id = 2 WHERE id = 1")
        time.sleep(1.2)
        rc, out, err = run_myps(["grep", *conn_args, "--trx-time", "1", "-d", f"trx_{tag}"])
        assert rc == 0, err
        ids = [r["ID"] for r in lines(out)]
        assert ids == [str(idle.id)] and lines(out)[0]["COMMAND"] == "Sleep"
        assert str(busy_free.id) not in ids
        rc, out, _ = run_myps(["grep", *conn_args, "--trx-time", "1m", "-d", f"trx_{tag}"])
        assert rc == 1
    finally:
        sessions.kill_all()
        mariadb.sql(f"DROP DATABASE IF EXISTS trx_{tag}")


def test_blockers_finds_the_root_of_a_lock_wait(mariadb, sessions, conn_args, tag):
    mariadb.sql(f"CREATE DATABASE IF NOT EXISTS lk_{tag}; CREATE TABLE lk_{tag}.t (id INT PRIMARY KEY, v INT) "
                f"ENGINE=InnoDB; INSERT INTO lk_{tag}.t VALUES (1, 0)")
    try:
        root = sessions(db=f"lk_{tag}")
        with root.conn.cursor() as c:
            c.execute("SET SESSION innodb_lock_wait_timeout = 50")
            c.execute("BEGIN")
            c.execute("UPDATE t SET v = 1 WHERE id = 1")
        w1 = sessions(db=f"lk_{tag}")
        w1.run_bg(f"UPDATE t SET v = 2 WHERE id = 1 /* {tag} */")
        wait_visible(mariadb, f"UPDATE t SET v = 2%{tag}%")
        time.sleep(0.3)
        rc, out, err = run_myps(["blockers", *conn_args])
        assert rc == 0, err
        found = {r["ID"]: r for r in lines(out)}
        assert str(root.id) in found and found[str(root.id)]["BLOCKED"] == "1"
        assert str(w1.id) not in found
    finally:
        sessions.kill_all()
        mariadb.sql(f"DROP DATABASE IF EXISTS lk_{tag}")


def test_watch_mode_kills_with_audit_lines_and_max_kills(mariadb, sessions, conn_args, tag):
    a = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    b = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%", n=2)
    rc, out, err = run_myps(["kill", *conn_args, "-y", "--interval", "0.2", "--run-time", "3",
                             "--max-kills", "1", "--victims", "oldest", f"%{tag}%"])
    assert rc == 0, err
    rows = lines(out)
    assert len(rows) == 1 and "KILLED" in rows[0] and "TIMESTAMP" in rows[0]
    killed = {int(rows[0]["KILLED"])}
    assert killed <= {a.id, b.id}
    survivor = a if b.id in killed else b
    assert survivor.thread.is_alive()


def test_defaults_extra_file_and_debug_never_print_the_password(mariadb, conn_args):
    rc, out, err = run_myps(["grep", *conn_args, "-D", "-u", "%", "-c", "Nothing"])
    assert rc == 1, err
    assert mariadb.params["password"].encode() not in err + out
    assert b"DSN: suite:xxxx@tcp(127.0.0.1:" in err


def test_password_from_mysql_pwd(mariadb, monkeypatch):
    p = mariadb.params
    args = ["grep", "--no-defaults", "--mysql-host", p["host"], "--mysql-port", str(p["port"]),
            "--mysql-user", p["user"], "-c", "Nothing"]
    monkeypatch.setenv("MYSQL_PWD", "wrong")
    rc, out, err = run_myps(args)
    assert rc == 2 and b"Access denied" in err and b"wrong" not in err
    monkeypatch.setenv("MYSQL_PWD", p["password"])
    assert run_myps(args)[0] == 1


def test_colour_always_and_never(mariadb, sessions, conn_args, tag):
    sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    rc, out, _ = run_myps(["grep", *conn_args, "--color=always", f"%{tag}%"])
    assert out.startswith(b"\x1b[32mID\x1b[0m:\x1b[35m")
    rc, out, _ = run_myps(["grep", *conn_args, "--color=never", f"%{tag}%"])
    assert b"\x1b" not in out
    # upstream's Go spelling of the alias: was read as `-c olour` (no match, exit 1)
    rc, out, _ = run_myps(["grep", *conn_args, "-colour", "always", f"%{tag}%"])
    assert rc == 0 and out.startswith(b"\x1b[32mID\x1b[0m:\x1b[35m")


def test_subprocess_exit_codes_and_closed_pipe(mariadb, sessions, conn_args, tag):
    for _ in range(3):
        sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%", n=3)
    env = dict(os.environ)
    exe = [sys.executable, "-c", "from myps.cli import main; main()"]
    r = subprocess.run([*exe, "grep", *conn_args, f"%{tag}%"], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.count(b"\n") == 3
    r = subprocess.run([*exe, "grep", *conn_args, f"%{tag}-x%"], capture_output=True, env=env, timeout=60)
    assert r.returncode == 1 and r.stdout == b"" and r.stderr == b""
    # a reader that closed the pipe: 141, no message
    rd, wr = os.pipe()
    os.close(rd)
    p = subprocess.run([*exe, "grep", *conn_args, f"%{tag}%"], stdout=wr, stderr=subprocess.PIPE, env=env,
                       timeout=60)
    os.close(wr)
    assert p.returncode == 141 and p.stderr == b""


def test_colour_only_on_a_terminal_and_not_with_no_color(mariadb, sessions, conn_args, tag):
    import pty
    sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")

    def on_tty(extra_env):
        master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        env.update(extra_env)
        p = subprocess.Popen([sys.executable, "-c", "from myps.cli import main; main()", "grep", *conn_args,
                              f"%{tag}%"], stdout=slave, stderr=subprocess.PIPE, env=env)
        os.close(slave)
        out = read_pty(master, 4096)
        p.wait(timeout=60)
        os.close(master)
        return out

    assert on_tty({}).startswith(b"\x1b[32mID\x1b[0m:\x1b[35m")
    assert b"\x1b" not in on_tty({"NO_COLOR": "1"})
    rc, out, _ = run_myps(["grep", *conn_args, f"%{tag}%"])          # not a terminal: plain
    assert rc == 0 and b"\x1b" not in out


def test_watch_mode_leaves_no_idle_session_between_rounds(mariadb, conn_args):
    # an idle myps connection (Sleep, no INFO) could be listed, and killed, by `myps kill -c Sleep`
    import threading
    res = {}
    q = "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep'"
    before = set(mariadb.sql(q).split())
    t = threading.Thread(target=lambda: res.update(rc=run_myps(["grep", *conn_args, "--interval", "1",
                                                                 "--run-time", "2.5", "-u", "nobody%"])[0]))
    t.start()
    try:
        polls: dict[str, int] = {}
        while t.is_alive():             # the whole run, the wait after the last round included
            for sid in set(mariadb.sql(q).split()) - before:
                polls[sid] = polls.get(sid, 0) + 1
            time.sleep(0.05)
    finally:
        t.join(10)
    assert res.get("rc") == 1
    # A fresh connection shows as Sleep for the few milliseconds between the handshake and its
    # first query (every client does), so one poll may catch it. A connection kept open between
    # rounds would sleep ~1 s: about 20 polls.
    lingering = {sid: n for sid, n in polls.items() if n >= 4}
    assert not lingering, polls


def test_no_idle_myps_session_while_the_prompt_waits(mariadb, sessions, conn_args, tag):
    import io

    from myps.cli import main
    s = sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    q = "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep'"
    before = set(mariadb.sql(q).split())
    seen = {}

    class Human(io.BytesIO):
        def readline(self, *args):
            seen["sleep"] = set(mariadb.sql(q).split()) - before
            return b"y\n"

    out = io.BytesIO()
    rc = main(["kill", *conn_args, f"%{tag}%"], stdin=Human(), stdout=out, stderr=io.BytesIO())
    assert seen["sleep"] == set()
    assert rc == 0 and f"KILLED:{s.id}\t".encode() in out.getvalue()
    s.wait()


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_in_watch_mode_keeps_what_was_printed(mariadb, sessions, conn_args, tag, sig, code):
    # SIGTERM exits 143 since the suite's entry template (it was 130, like SIGINT)
    sessions().run_bg(f"SELECT SLEEP(60) /* {tag} */")
    wait_visible(mariadb, f"%{tag}%")
    p = subprocess.Popen([sys.executable, "-c", "from myps.cli import main; main()", "grep", *conn_args,
                          "--interval", "0.3", f"%{tag}%"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stdout.readline()             # the first round was printed and flushed
        p.send_signal(sig)
        rest, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code, err
    assert first.startswith(b"ID:") and b"TIMESTAMP:" in first and err == b""
    assert all(x.startswith(b"ID:") for x in rest.splitlines())
