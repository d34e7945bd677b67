"""What both private servers of the test suite promise (scripts/mariadb_sandbox.py and
scripts/mysql_sandbox.py share their lifecycle): a private option file, stop leaves nothing, and a
killed test run leaves no server. Flavour-specific checks: test_mariadb.py, test_mysql.py."""
import os
import signal
import subprocess
import sys
import time

import mariadb_sandbox
import pytest


@pytest.fixture(params=["mariadb", "mysql"])
def flavour(request):
    """(module, class name) of one sandbox; MySQL's goes through mysql_factory, which skips (or fails
    under CI=true) when MySQL is not fetched."""
    if request.param == "mysql":
        request.getfixturevalue("mysql_factory")
        import mysql_sandbox
        return mysql_sandbox, "MySQL"
    return mariadb_sandbox, "MariaDB"


@pytest.mark.parametrize("name", ["mariadb", "mysql"])
def test_defaults_file_is_private(name, request, tmp_path):
    db = request.getfixturevalue(name)
    path = db.defaults_file(str(tmp_path / "my.cnf"))
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    r = subprocess.run([*db.client(), f"--defaults-file={path}", "-N", "-e", "SELECT 1"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "1", r.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_leaves_no_process_or_file(flavour, tmp_path):
    module, cls = flavour
    db = getattr(module, cls)(9, base=str(tmp_path)).start()
    pid, d = db.pid, db.dir
    assert _alive(pid)
    db.stop()
    assert not os.path.exists(d)
    assert not _alive(pid)


def test_a_killed_test_run_leaves_no_server(flavour, tmp_path):
    """kill -9 of the process that started the server (a test run killed by a timeout) must not
    leave the server running."""
    module, cls = flavour
    script = (
        f"import sys, time; sys.path.insert(0, sys.argv[1]); import {module.__name__} as m; "
        f"db = m.{cls}(11, base=sys.argv[2]).start(); print(db.pid, flush=True); time.sleep(600)"
    )
    scripts = os.path.dirname(module.__file__)
    p = subprocess.Popen([sys.executable, "-c", script, scripts, str(tmp_path)], stdout=subprocess.PIPE)
    pid = int(p.stdout.readline())
    assert _alive(pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        with open(f"/proc/{pid}/stat") as f:  # reaped by init shortly; a zombie counts as gone
            if f.read().split(") ", 1)[1][0] == "Z":
                break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the server outlived the process that started it")
