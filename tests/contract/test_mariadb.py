"""The private MariaDB of the test suite starts, answers, writes a binlog, and leaves nothing behind."""
import os
import subprocess

import mariadb_sandbox


def test_mariadb_starts_answers_and_writes_binlog(mariadb):
    row = mariadb.sql("SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@log_bin, @@server_id")
    assert row.split() == ["ROW", "FULL", "FULL", "1", "1"]
    mariadb.sql("CREATE DATABASE fx; CREATE TABLE fx.t (id INT PRIMARY KEY, v VARCHAR(10));"
                "INSERT INTO fx.t VALUES (1, 'a'), (2, 'b');")
    assert mariadb.sql("SELECT COUNT(*) FROM fx.t").strip() == "2"
    events = mariadb.sql("SHOW BINLOG EVENTS")
    assert "Write_rows" in events or "Write_rows_v1" in events
    assert mariadb.sql("SELECT @@gtid_binlog_pos").strip().startswith("0-1-")
    # the unprivileged test user over TCP
    r = subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{mariadb.port}", "-usuite",
                        "-psuite-pw", "-N", "-e", "SELECT CURRENT_USER()"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("suite@")


def test_second_instance_is_independent(mariadb, mariadb_factory):
    other = mariadb_factory(server_id=2)
    assert other.port != mariadb.port
    assert other.sql("SELECT @@server_id").strip() == "2"
    assert "fx" not in other.sql("SHOW DATABASES").split()


def test_stop_leaves_no_process_or_file(tmp_path):
    db = mariadb_sandbox.MariaDB(9, base=str(tmp_path)).start()
    pid, d = db.pid, db.dir
    os.kill(pid, 0)  # alive
    try:
        raise RuntimeError("a failing test")
    except RuntimeError:
        pass
    finally:
        db.stop()
    assert not os.path.exists(d)
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def test_defaults_file_is_private(mariadb, tmp_path):
    path = mariadb.defaults_file(str(tmp_path / "my.cnf"))
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    r = subprocess.run(["mariadb", f"--defaults-file={path}", "-N", "-e", "SELECT 1"], capture_output=True, text=True)
    assert r.stdout.strip() == "1", r.stderr


def test_a_killed_test_run_leaves_no_server(tmp_path):
    """kill -9 of the process that started the server (a test run killed by a timeout) must not
    leave the server running."""
    import signal
    import sys
    import time

    script = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); import mariadb_sandbox as m; "
        "db = m.MariaDB(11, base=sys.argv[2]).start(); print(db.pid, flush=True); time.sleep(600)"
    )
    scripts = os.path.join(os.path.dirname(mariadb_sandbox.__file__))
    p = subprocess.Popen([sys.executable, "-c", script, scripts, str(tmp_path)], stdout=subprocess.PIPE)
    pid = int(p.stdout.readline())
    os.kill(pid, 0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{pid}/stat") as f:  # reaped by init shortly; a zombie counts as gone
            if f.read().split(") ", 1)[1][0] == "Z":
                break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the server outlived the process that started it")
