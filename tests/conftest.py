"""Fixtures shared by every test directory.

- `mariadb`: one private MariaDB server for the whole session, started only when a test asks for it
  (see scripts/mariadb_sandbox.py: fresh datadir, own socket and port, binlog ROW/FULL/FULL, GTID).
- `mariadb_factory`: start more independent instances (a replication source and target, say);
  `mariadb_factory(server_id=2)` returns a started `MariaDB`; all are stopped at session end.
- `mysql` / `mysql_factory`: the same for MySQL 9 (scripts/mysql_sandbox.py; GTID mode ON); skipped
  when scripts/lib/fetch-mysql.sh could not fetch it, except under CI=true (a failure then).
- `require_tool(name)`: the path of an external program; skips when it is missing, except under CI
  (CI=true), where scripts/test has installed it and a missing tool is a failure.
- `procs`: a list of started support.peers.Proc, each stopped by pid (SIGKILL) at the end of the test.
- `run_cmd(args, input=b"")`: run a console script as a subprocess, return CompletedProcess (bytes).
- `consul`: a fresh fake Consul agent on 127.0.0.1 (tests/consul_fake.py), stopped after the test.
- `moto_server`: moto in server mode on 127.0.0.1 for the session (`.url`), moto imported only when a
  test asks for it (the envs that use it install moto through their package's `test` extra).
- `aws_env`: os.environ with support.aws.fake_env() and AWS_ENDPOINT_URL at moto_server (also set in
  this process); a package conftest adds its own autouse support.aws.use_fake_env(...).

tests/ is put on sys.path here, once: the shared helper modules are imported as `support.peers`,
`support.aws` and `consul_fake` (plain modules: standard library and pytest only).
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

import mariadb_sandbox  # noqa: E402
from support.peers import require  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "mysql: needs the private MySQL server started by the test suite")


def pytest_collection_modifyitems(items):
    for item in items:
        if {"mariadb", "mariadb_factory"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.mariadb)
        if {"mysql", "mysql_factory"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.mysql)


def _servers(cls, base: str, first_id: int):
    """The factory of one flavour: `make(server_id=None, extra_args=None)` starts a server (ids from
    first_id when none is given); every server made is stopped when the generator closes."""
    started: list = []

    def make(server_id: int | None = None, extra_args: list[str] | None = None):
        sid = server_id if server_id is not None else first_id + len(started)
        db = cls(sid, base=base, extra_args=extra_args)
        started.append(db)
        return db.start()

    try:
        yield make
    finally:
        for db in started:
            db.stop()


@pytest.fixture(scope="session")
def mariadb_factory(tmp_path_factory):
    yield from _servers(mariadb_sandbox.MariaDB, str(tmp_path_factory.mktemp("mariadb")), 100)


@pytest.fixture(scope="session")
def mariadb(mariadb_factory):
    return mariadb_factory(server_id=1)


@pytest.fixture(scope="session")
def mysql_factory(tmp_path_factory):
    """Like mariadb_factory, for MySQL (Debian sid's mysql-server-core fetched into .cache/mysql-sid by
    scripts/lib/fetch-mysql.sh, see scripts/mysql_sandbox.py). Skips when it is not there, except
    under CI=true, where scripts/test has fetched it and its absence is a failure."""
    import mysql_sandbox

    ok, why = mysql_sandbox.available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"MySQL is not available: {why}")
        pytest.skip(f"MySQL is not available: {why}")
    yield from _servers(mysql_sandbox.MySQL, str(tmp_path_factory.mktemp("mysql")), 200)


@pytest.fixture(scope="session")
def mysql(mysql_factory):
    return mysql_factory(server_id=1)


@pytest.fixture
def require_tool():
    return require


@pytest.fixture
def procs():
    """A list to append started support.peers.Proc objects to; each is killed (SIGKILL) at the end."""
    started: list = []
    yield started
    for p in started:
        p.stop(signal.SIGKILL)


def _run_cmd(args, input: bytes = b"", env=None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    if env:
        full_env.update(env)
    return subprocess.run([str(a) for a in args], input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=full_env, timeout=timeout, **kw)


@pytest.fixture
def run_cmd():
    return _run_cmd


@pytest.fixture(scope="session")
def moto_server():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    server.url = f"http://{host}:{port}"
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    from support.aws import fake_env

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    return {**os.environ, **fake_env(), "AWS_ENDPOINT_URL": moto_server.url}


@pytest.fixture
def consul():
    from consul_fake import FakeConsul

    c = FakeConsul()
    yield c
    c.stop()
