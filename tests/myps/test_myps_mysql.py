"""myps against a real MySQL 9 (the suite's private server, scripts/mysql_sandbox.py): list, filter and
kill sleeping queries, as against MariaDB. Skipped where MySQL cannot be fetched (fails under CI=true)."""
from __future__ import annotations

import time
import uuid

import pytest
from myps_helpers import Session, run_myps


@pytest.fixture
def tag():
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def my_sessions(mysql):
    made: list[Session] = []

    def make(db: str | None = None) -> Session:
        s = Session(mysql.params, db)
        made.append(s)
        return s

    yield make
    for s in made:
        try:
            mysql.sql(f"KILL {s.id}")
        except RuntimeError:
            pass
        s.close()


@pytest.fixture(scope="module")
def my_args(mysql, tmp_path_factory):
    cnf = mysql.defaults_file(str(tmp_path_factory.mktemp("myps-mysql") / "client.cnf"))
    return ["--no-defaults", "--defaults-extra-file", cnf]


def _wait_visible(mysql, like: str, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if int(mysql.sql(f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '{like}' "
                         "AND INFO NOT LIKE '%information_schema%'").strip()) >= 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"no thread running {like!r}")


def _records(out: bytes) -> list[dict]:
    return [dict(f.split(":", 1) for f in line.split("\t")) for line in out.decode().splitlines()]


def test_grep_lists_a_sleeping_query_on_mysql(mysql, my_sessions, my_args, tag):
    s = my_sessions().run_bg(f"SELECT SLEEP(30) AS {tag}")
    _wait_visible(mysql, f"%{tag}%")
    time.sleep(1.1)
    rc, out, err = run_myps(["grep", *my_args, f"%{tag}%"])
    assert rc == 0, err
    (rec,) = _records(out)
    assert rec["ID"] == str(s.id) and rec["USER"] == "suite" and rec["COMMAND"] == "Query"
    assert rec["INFO"] == f"SELECT SLEEP(30) AS {tag}" and int(rec["TIME"]) >= 1
    assert rec["HOST"].startswith("127.0.0.1:")
    rc, out, _ = run_myps(["grep", *my_args, "-c", "Query", "--duration", "1", f"%{tag}%"])
    assert rc == 0 and _records(out)[0]["ID"] == str(s.id)


def test_kill_a_sleeping_query_on_mysql(mysql, my_sessions, my_args, tag):
    s = my_sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    _wait_visible(mysql, f"%{tag}%")
    rc, out, err = run_myps(["kill", *my_args, "-y", f"%{tag}%"])
    assert rc == 0, err
    assert out.startswith(f"KILLED:{s.id}\tUSER:suite\t".encode()) and out.count(b"\n") == 1
    s.wait()
    assert s.error is not None
    rc, out, _ = run_myps(["grep", *my_args, f"%{tag}%"])
    assert rc == 1


def test_kill_query_keeps_the_connection_on_mysql(mysql, my_sessions, my_args, tag):
    s = my_sessions().run_bg(f"SELECT SLEEP(30) /* {tag} */")
    _wait_visible(mysql, f"%{tag}%")
    t0 = time.monotonic()
    rc, out, err = run_myps(["kill", *my_args, "-y", "--kill-query", f"%{tag}%"])
    assert rc == 0, err
    assert out.startswith(f"KILLED:{s.id}".encode())
    s.wait()
    # MySQL ends an interrupted SLEEP() with 1, not with error 1317 as MariaDB does
    assert time.monotonic() - t0 < 20
    assert s.error is None and s.result == ((1,),), s.error
    with s.conn.cursor() as c:
        c.execute("SELECT 1")
        assert c.fetchall() == ((1,),)


def test_grep_on_mysql_with_performance_schema_off(mysql_factory, tmp_path, tag):
    # performance_schema.processlist exists but is empty when P_S is off: myps listed nothing
    # there (exit 1) and could kill nothing; it must fall back to information_schema.PROCESSLIST.
    db = mysql_factory(server_id=91, extra_args=["--performance-schema=OFF"])
    assert db.sql("SELECT @@performance_schema").strip() == "0"
    args = ["--no-defaults", "--defaults-extra-file", db.defaults_file(str(tmp_path / "client.cnf"))]
    s = Session(db.params, None).run_bg(f"SELECT SLEEP(30) AS {tag}")
    try:
        _wait_visible(db, f"%{tag}%")
        rc, out, err = run_myps(["grep", *args, f"%{tag}%"])
        assert rc == 0, err
        assert _records(out)[0]["ID"] == str(s.id)
        rc, out, err = run_myps(["kill", *args, "-y", f"%{tag}%"])
        assert rc == 0 and out.startswith(f"KILLED:{s.id}\t".encode()), err
        s.wait()
    finally:
        s.close()


def test_a_myps_comment_hides_nothing_on_mysql(mysql, my_sessions, my_args, tag):
    # performance_schema.processlist path: our own session is excluded by its id, not by the comment
    s = my_sessions().run_bg(f"/* myps */ SELECT SLEEP(30), '{tag}'")
    _wait_visible(mysql, f"%{tag}%")
    rc, out, err = run_myps(["kill", *my_args, "-y", f"%{tag}%"])
    assert rc == 0 and out.startswith(f"KILLED:{s.id}\t".encode()), err
    rc, out, _ = run_myps(["grep", *my_args, f"%{tag}-self%"])
    assert (rc, out) == (1, b"")
