"""binrpt integration helpers: two real MariaDB servers (source, target) for the session, configs,
running the console script, and the oracle (checkpoint caught up + CHECKSUM TABLE equal)."""
from __future__ import annotations

import itertools
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

BIN = str(pathlib.Path(sys.executable).parent / "binrpt")
_ids = itertools.count(1)


class Server:
    def __init__(self, db):
        self.db = db
        self.params = db.params

    def connect(self, **kw):
        import pymysql
        from pymysql.constants import CLIENT
        p = self.params
        # no TLS for the tests' own connections (one per query): PyMySQL >= 1.2 tries TLS by default,
        # and building its SSL context (the system CA store) costs 50-80 ms per connection
        kw.setdefault("ssl_disabled", True)
        return pymysql.connect(host=p["host"], port=p["port"], user=p["user"], password=p["password"],
                               autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS, **kw)

    def q(self, sql, args=None):
        c = self.connect()
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                rows = list(cur.fetchall())
                while cur.nextset():
                    pass
                return rows
        finally:
            c.close()

    def run_many(self, statements: list[str], per_packet: int = 200):
        """Run statements, many per round trip (multi-statement packets)."""
        c = self.connect()
        try:
            with c.cursor() as cur:
                for i in range(0, len(statements), per_packet):
                    cur.execute(";".join(statements[i:i + per_packet]))
                    while cur.nextset():
                        pass
        finally:
            c.close()

    def gtid_pos(self) -> str:
        return self.q("SELECT @@global.gtid_binlog_pos")[0][0]

    def checksums(self, db: str) -> dict:
        tables = [r[0] for r in self.q("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                                       "ORDER BY TABLE_NAME", (db,))]
        if not tables:
            return {}
        rows = self.q("CHECKSUM TABLE " + ",".join(f"`{db}`.`{t}`" for t in tables) + " EXTENDED")
        return {r[0]: r[1] for r in rows}

    def counts(self, db: str) -> dict:
        tables = [r[0] for r in self.q("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s",
                                       (db,))]
        return {t: self.q(f"SELECT COUNT(*) FROM `{db}`.`{t}`")[0][0] for t in tables}


@pytest.fixture(scope="session")
def pair(mariadb_factory):
    src = Server(mariadb_factory(server_id=21))
    dst = Server(mariadb_factory(server_id=22))
    return src, dst


@pytest.fixture(scope="session")
def mysql_servers(mysql_factory):
    """Two MySQL 9 servers (source, target) for the whole session, shared by every MySQL test of
    binrpt (each test has its own databases and channel); skipped where MySQL is missing."""
    return mysql_factory(server_id=31), mysql_factory(server_id=32)


@pytest.fixture(scope="session")
def mysql_server(mysql):
    """The suite's own MySQL 9 server (tests/conftest.py's `mysql`, not one of mysql_servers) as a Server."""
    return Server(mysql)


class Rig:
    """One test's replication channel: its own databases, channel name and server_id."""

    def __init__(self, src, dst, tmp_path, name):
        self.src, self.dst = src, dst
        self.n = next(_ids)
        self.db = f"{name}_{self.n}"
        self.channel = f"ch_{self.db}"
        self.server_id = 1000 + self.n
        self.tmp = tmp_path
        self.procs = []

    def config(self, replica_extra: str = "", source_extra: str = "", extra: str = "", dbs=None,
               start: str | None = None, filters: str | None = None) -> str:
        s, d = self.src.params, self.dst.params
        dbs = dbs or [self.db]
        start = start if start is not None else self.start_gtid
        flt = filters if filters is not None else "replicate_do_db = [" + ",".join(f'"{x}"' for x in dbs) + "]"
        text = f"""[source]
host = "127.0.0.1"
port = {s['port']}
username = "{s['user']}"
password = "{s['password']}"
charset = "utf8mb4"
replicate_server_id = {self.server_id}
start_position = "{start}"
heartbeat = 0.5
read_timeout = 10
{source_extra}

[replica]
host = "127.0.0.1"
port = {d['port']}
username = "{d['user']}"
password = "{d['password']}"
charset = "utf8mb4"
channel = "{self.channel}"
reconnect_backoff_max = 0.5
{flt}
{replica_extra}

{extra}
"""
        path = self.tmp / f"binrpt-{self.n}-{next(_ids)}.toml"
        path.write_text(text)
        return str(path)

    def run(self, cfg: str, *args, timeout: float = 180, env=None) -> subprocess.CompletedProcess:
        return subprocess.run([BIN, "-config", cfg, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, env={**os.environ, **(env or {})})

    def start(self, cfg: str, *args, env=None) -> subprocess.Popen:
        # SIGINT at its default in the child: a test run started in the background (`cmd &` in a
        # script, a CI runner) has SIGINT ignored, which binrpt would inherit (Python then installs no
        # KeyboardInterrupt handler), and the SIGINT tests would wait for an exit that never comes
        p = subprocess.Popen([BIN, "-config", cfg, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, **(env or {})},
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.procs.append(p)
        return p

    def checkpoint(self):
        try:
            rows = self.dst.q("SELECT gtid_state, ddl_pending FROM binrpt.checkpoint WHERE channel=%s",
                              (self.channel,))
        except Exception:
            return None
        return rows[0] if rows else None

    def wait_caught_up(self, timeout: float = 120, proc=None):
        from binrpt import gtid
        want = gtid.parse(self.src.gtid_pos())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cp = self.checkpoint()
            if cp and gtid.covers(gtid.parse(cp[0]), want):
                return
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"binrpt exited {proc.returncode}: {proc.stderr.read().decode()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"not caught up: checkpoint {self.checkpoint()} source {want}")

    def assert_same(self, db: str | None = None):
        db = db or self.db
        a, b = self.src.checksums(db), self.dst.checksums(db)
        assert a, f"no tables in {db}"
        assert a == b, (self.src.counts(db), self.dst.counts(db))

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()


@pytest.fixture
def rig(pair, tmp_path, request):
    src, dst = pair
    r = Rig(src, dst, tmp_path, request.node.name.split("[")[0].replace("test_", "")[:20])
    r.start_gtid = src.gtid_pos()
    src.q(f"CREATE DATABASE `{r.db}`")
    yield r
    r.stop_all()
