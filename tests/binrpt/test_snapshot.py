"""`binrpt snapshot` (issue 15, item 8): a consistent initial copy of the replicated tables whose GTID
position goes into the channel's checkpoint, so that replication started afterwards continues from
there with nothing lost or applied twice; resumable per chunk after kill -9; refused while a binrpt
holds the channel's lock; filtered tables are not copied."""
from __future__ import annotations

import functools
import pathlib
import signal
import subprocess
import sys
import threading
import time

import binrpt_proofs as P
import binrpt_workload as W
import pytest

from binrpt import gtid as G
from binrpt.cli import main
from binrpt.snapshot import after_key, decode_key, encode_key, typed_literal

BIN = str(pathlib.Path(sys.executable).parent / "binrpt")

_stderr = P.stderr

TYPES = ("CREATE TABLE `{db}`.ty (id BIGINT UNSIGNED PRIMARY KEY, d DECIMAL(65,30), f DOUBLE, fl FLOAT, "
         "z DATETIME, dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), b BINARY(4), bi BIT(10), "
         "e ENUM('a','b'), s SET('x','y'), j JSON, y YEAR, txt TEXT CHARACTER SET latin1, "
         "g INT AS (id % 7) VIRTUAL) ENGINE=InnoDB")
TYPE_ROWS = [
    "SET SESSION sql_mode=''",
    "INSERT INTO `{db}`.ty (id, d, f, fl, z, dt, ts, tm, b, bi, e, s, j, y, txt) VALUES "
    "(18446744073709551615, 12345678901234567890123456789012345.123456789012345678901234567891, 0.1+0.2, 1.1, "
    "'0000-00-00 00:00:00', '2024-02-29 23:59:59.999999', '2024-03-31 01:30:00.123', '-12:34:56.78', 'ab', "
    "b'1010000001', '', '', '{{\"k\": [1, null]}}', 2024, 'café'),"
    "(18446744073709551614, -0.000000000000000000000000000001, 1e308, -3.4e38, '2024-00-15 00:00:00', NULL, NULL, "
    "'838:59:59', X'61620000', 0, 'b', 'x,y', 'null', 1901, NULL),"
    "(9007199254740993, 1, 1/3, 0.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '')",
]


def _bin(*args, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def _snapshot(cfg: str, *args, timeout: float = 240) -> subprocess.CompletedProcess:
    return _bin("snapshot", "-config", cfg, *args, timeout=timeout)


def _load(rig, big: int = 0) -> None:
    """The workload's three tables (PK, composite PK, no key) with random history, plus a table of
    values that lose precision in a careless copy; `big` more rows in the PK table."""
    W.create(rig.src, rig.db)
    rig.src.run_many([s.format(db=rig.db) for s in [TYPES, *TYPE_ROWS]])
    rig.src.run_many(W.transactions(rig.db, 300, seed=rig.n))
    rows = [f"({10_000 + i},{i},'row{i}',{i}.25,'2024-01-01 00:00:0{i % 10}')" for i in range(big)]
    rig.src.run_many([f"INSERT INTO `{rig.db}`.pk VALUES " + ",".join(rows[i:i + 1000])
                      for i in range(0, len(rows), 1000)])


def _snapshot_state(rig):
    rows = rig.dst.q("SELECT gtid_state, finished_at FROM binrpt.snapshot WHERE channel=%s", (rig.channel,))
    return rows[0] if rows else None


def _replicate_and_verify(rig, cfg: str) -> None:
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    rig.wait_caught_up()
    v = _bin("verify", "-config", cfg, "--chunk-size", "500")
    assert v.returncode == 0, (v.stdout.decode(), _stderr(v))
    rig.assert_same()


class Writer:
    """Random transactions on the source from a thread, until stopped."""

    def __init__(self, rig, extra=None):
        import random
        self.rig, self.rnd = rig, random.Random(rig.n * 7)
        self.extra = extra        # extra(rnd) -> more statements for each transaction
        self.count = 0
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            c = self.rig.src.connect()
            with c.cursor() as cur:
                while not self.stop.is_set():
                    stmts = [W.statement(self.rnd, self.rig.db) for _ in range(3)]
                    stmts += self.extra(self.rnd) if self.extra else []
                    cur.execute(";".join(["BEGIN", *stmts, "COMMIT"]))
                    while cur.nextset():
                        pass
                    self.count += 1
            c.close()
        except Exception as e:      # reported by the test
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        assert self.error is None, self.error


def test_snapshot_under_concurrent_writes_then_replication_is_exact(rig):
    """While a writer keeps committing on the source, the snapshot copies every table in chunks and
    records its position; replication started afterwards applies exactly what came after it:
    `binrpt verify` and CHECKSUM TABLE show source and target equal."""
    _load(rig, big=3000)
    cfg = rig.config()
    with Writer(rig) as w:
        while w.count < 20:
            time.sleep(0.05)
        before = w.count
        r = _snapshot(cfg, "--chunk-size", "150")
        during = w.count - before
        time.sleep(0.5)
    assert r.returncode == 0, _stderr(r)
    assert during > 0, "the writer made no transaction during the snapshot"
    assert "snapshot done" in _stderr(r)
    cp = rig.checkpoint()
    snap = _snapshot_state(rig)
    assert cp is not None and snap is not None and snap[1] is not None
    assert cp[0] == snap[0]
    # the recorded position is behind the source: the writer went on after the snapshot began
    have, now = G.parse(cp[0]), G.parse(rig.src.gtid_pos())
    assert G.covers(now, have) and not G.covers(have, now)
    assert rig.dst.q(f"SELECT COUNT(*) FROM `{rig.db}`.ty")[0][0] == 3
    _replicate_and_verify(rig, cfg)


def _kill_mid_copy(rig, cfg: str, sig=signal.SIGKILL) -> int:
    p = subprocess.Popen([BIN, "snapshot", "-config", cfg, "--chunk-size", "100"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                r = rig.dst.q("SELECT rows_copied, done FROM binrpt.snapshot_table WHERE channel=%s AND tbl='pk'",
                              (rig.channel,))
            except Exception:
                r = []
            if r and 0 < r[0][0] and not r[0][1]:
                break
            assert p.poll() is None, _stderr(p)
            time.sleep(0.01)
        else:
            raise AssertionError("the copy of pk never started")
        p.send_signal(sig)
        code = p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    copied, done = rig.dst.q("SELECT rows_copied, done FROM binrpt.snapshot_table WHERE channel=%s AND tbl='pk'",
                             (rig.channel,))[0]
    total = rig.src.q(f"SELECT COUNT(*) FROM `{rig.db}`.pk")[0][0]
    assert 0 < copied < total and not done, (copied, total)
    assert rig.dst.q(f"SELECT COUNT(*) FROM `{rig.db}`.pk")[0][0] == copied
    assert _snapshot_state(rig)[1] is None
    assert rig.checkpoint() is None
    return code


def test_kill_9_mid_copy_resumes_at_the_next_chunk(rig):
    """kill -9 in the middle of the chunked copy of a table: replication refuses to start on the
    half-copied tables; a second `binrpt snapshot` reuses the recorded position and goes on from the
    next chunk (a table already copied that the source changed since is left to replication from
    that position); then replication and verify show source and target equal."""
    _load(rig, big=20000)
    rig.src.q(f"CREATE TABLE `{rig.db}`.aa_first (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    rig.src.q(f"INSERT INTO `{rig.db}`.aa_first VALUES (1, 1), (2, 2)")
    cfg = rig.config()
    _kill_mid_copy(rig, cfg)
    assert rig.dst.q(f"SELECT COUNT(*) FROM `{rig.db}`.aa_first")[0][0] == 2     # copied before pk
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 1 and "unfinished" in _stderr(r), _stderr(r)
    # changes after the snapshot position to a table already copied: replication applies them once
    rig.src.q(f"INSERT INTO `{rig.db}`.aa_first VALUES (3, 3)")
    rig.src.q(f"UPDATE `{rig.db}`.aa_first SET v = v + 10")
    r = _snapshot(cfg, "--chunk-size", "100")
    assert r.returncode == 0, _stderr(r)
    assert "snapshot resumed" in _stderr(r) and "table resumed" in _stderr(r), _stderr(r)
    _replicate_and_verify(rig, cfg)
    assert rig.dst.q(f"SELECT SUM(v) FROM `{rig.db}`.aa_first")[0][0] == 36


def test_sigterm_mid_copy_exits_143_and_resumes(rig):
    """SIGTERM during the copy: the chunk in flight is rolled back, exit 143; the rerun goes on."""
    _load(rig, big=20000)
    cfg = rig.config()
    assert _kill_mid_copy(rig, cfg, signal.SIGTERM) == 143
    r = _snapshot(cfg, "--chunk-size", "1000")
    assert r.returncode == 0, _stderr(r)
    assert "table resumed" in _stderr(r), _stderr(r)
    _replicate_and_verify(rig, cfg)


def test_resume_refused_when_an_unfinished_table_changed_then_restart(rig):
    """When the source changed a table the interrupted snapshot had not finished, that table's copy
    can no longer match the recorded position: the rerun refuses, naming it, and changes nothing;
    `--restart` empties the copied tables and takes a new snapshot."""
    _load(rig, big=20000)
    cfg = rig.config()
    _kill_mid_copy(rig, cfg)
    copied = rig.dst.q(f"SELECT COUNT(*) FROM `{rig.db}`.pk")[0][0]
    rig.src.q(f"UPDATE `{rig.db}`.pk SET a = -a WHERE id = 29999")
    r = _snapshot(cfg)
    assert r.returncode == 1, _stderr(r)
    assert "cannot resume the snapshot" in _stderr(r) and f"{rig.db}.pk" in _stderr(r), _stderr(r)
    assert "--restart" in _stderr(r)
    assert rig.dst.q(f"SELECT COUNT(*) FROM `{rig.db}`.pk")[0][0] == copied
    r = _snapshot(cfg, "--restart", "--chunk-size", "5000")
    assert r.returncode == 0, _stderr(r)
    _replicate_and_verify(rig, cfg)


def test_snapshot_refused_while_binrpt_holds_the_lock(rig):
    """A running binrpt on the channel holds its lock: the snapshot exits 1 at once, writing nothing."""
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY) ENGINE=InnoDB")
    cfg = rig.config()
    p = rig.start(cfg)
    rig.wait_caught_up(proc=p)
    t0 = time.monotonic()
    r = _snapshot(cfg)
    assert r.returncode == 1, _stderr(r)
    assert "another binrpt is running" in _stderr(r), _stderr(r)
    assert time.monotonic() - t0 < 15
    assert p.poll() is None
    try:
        assert _snapshot_state(rig) is None
    except Exception as e:           # the state table was never created
        assert "1146" in str(e), e


def test_filtered_tables_are_not_copied_and_refusals(rig):
    """Tables outside the filters are not copied (nor created), masked columns are masked as replication
    masks them; non-InnoDB tables and non-empty target tables are refused with a message; a snapshot on
    a channel that already has a checkpoint is refused."""
    import hashlib
    db = rig.db
    rig.src.run_many([f"CREATE TABLE `{db}`.keep (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB",
                      f"CREATE TABLE `{db}`.secret (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB",
                      f"CREATE TABLE `{db}`.tmp_x (id INT) ENGINE=InnoDB",
                      f"INSERT INTO `{db}`.keep VALUES (1, 'a'), (2, 'b')",
                      f"INSERT INTO `{db}`.secret VALUES (1, 'pw')",
                      f"INSERT INTO `{db}`.tmp_x VALUES (1)"])
    flt = (f'replicate_do_db = ["{db}"]\nreplicate_ignore_table = ["{db}.secret"]\n'
           'replicate_ignore_tables = ["^tmp_"]')
    cfg = rig.config(filters=flt, replica_extra=f'mask = {{ "{db}.keep.v" = "sha256" }}')
    # a MyISAM table in the filter: refused, nothing written
    rig.src.q(f"CREATE TABLE `{db}`.my (id INT) ENGINE=MyISAM")
    r = _snapshot(cfg)
    assert r.returncode == 1 and f"{db}.my (MyISAM)" in _stderr(r), _stderr(r)
    rig.src.q(f"DROP TABLE `{db}`.my")
    # a target table with rows: refused
    rig.dst.q(f"CREATE DATABASE `{db}`")
    rig.dst.q(f"CREATE TABLE `{db}`.keep (id INT PRIMARY KEY, v VARCHAR(64))")
    rig.dst.q(f"INSERT INTO `{db}`.keep VALUES (9, 'z')")
    r = _snapshot(cfg)
    assert r.returncode == 1 and f"not empty: {db}.keep" in _stderr(r), _stderr(r)
    rig.dst.q(f"DELETE FROM `{db}`.keep")
    r = _snapshot(cfg)
    assert r.returncode == 0, _stderr(r)
    tables = {t for (t,) in rig.dst.q("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s",
                                      (db,))}
    assert tables == {"keep"}, tables
    sha = [hashlib.sha256(x.encode()).hexdigest() for x in "abc"]
    assert rig.dst.q(f"SELECT id, v FROM `{db}`.keep ORDER BY id") == [(1, sha[0]), (2, sha[1])]
    rig.src.run_many([f"INSERT INTO `{db}`.keep VALUES (3, 'c')", f"INSERT INTO `{db}`.secret VALUES (2, 'pw2')"])
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    v = _bin("verify", "-config", cfg)
    assert v.returncode == 0, (v.stdout.decode(), _stderr(v))
    assert rig.dst.q(f"SELECT v FROM `{db}`.keep ORDER BY id") == [(x,) for x in sha]
    r = _snapshot(cfg)
    assert r.returncode == 1 and "already has a checkpoint" in _stderr(r), _stderr(r)


@pytest.mark.parametrize("flavor", ["mariadb", "mysql"])
def test_touched_tables_reads_a_long_range_to_its_end(flavor, pair, tmp_path, request):
    """The binlog read behind a resumed snapshot's check (and the DDL check of a new one) covers the
    whole range: 3000 transactions, then the one that touches `last`. A non-blocking MariaDB dump
    ends with a connection reset that drops the events still in flight, and the library then starts
    again from the beginning: binrpt read such a range (1000 small transactions were enough on an
    idle machine) never to its end and gave up with 'lost repeatedly'. The same after
    FLUSH BINARY LOGS, when the binlog end is a new file's first events; a later transaction is not
    counted. MySQL (whose non-blocking dump ends with an EOF) is read the same way now."""
    from binrpt import config as C
    from binrpt.snapshot import touched_tables
    if flavor == "mysql":
        my = _mysql_module()
        rig = my.Rig(request.getfixturevalue("mysql_source"), my.MyServer(pair[1].db), tmp_path, "touched")
        rig.server_id = 4300 + rig.n
        rig.start_gtid = rig.src.gtid_pos()
        rig.src.q(f"CREATE DATABASE `{rig.db}`")
        gtid_pos = rig.src.gtid_pos
    else:
        rig = request.getfixturevalue("rig")
        gtid_pos = rig.src.gtid_pos
    db = rig.db
    rig.src.run_many([f"CREATE TABLE `{db}`.big (id INT PRIMARY KEY, b VARCHAR(10)) ENGINE=InnoDB",
                      f"CREATE TABLE `{db}`.`last` (id INT PRIMARY KEY) ENGINE=InnoDB",
                      f"CREATE TABLE `{db}`.other (id INT PRIMARY KEY) ENGINE=InnoDB"])
    start = gtid_pos()
    rig.src.run_many([f"INSERT INTO `{db}`.big VALUES ({i}, 'x')" for i in range(3000)])
    rig.src.q(f"INSERT INTO `{db}`.`last` VALUES (1)")
    upto = gtid_pos()
    cfg = C.load(rig.config())
    tables = {(db, "big"), (db, "last"), (db, "other")}
    assert touched_tables(cfg, flavor, start, upto, tables) == {(db, "big"), (db, "last")}
    assert touched_tables(cfg, flavor, start, upto, tables, ddl_only=True) == set()
    rig.src.q("FLUSH BINARY LOGS")
    t0 = time.monotonic()
    assert touched_tables(cfg, flavor, start, upto, tables) == {(db, "big"), (db, "last")}
    assert time.monotonic() - t0 < 30
    # a transaction after `upto` is not counted
    rig.src.q(f"INSERT INTO `{db}`.other VALUES (1)")
    assert touched_tables(cfg, flavor, start, upto, tables) == {(db, "big"), (db, "last")}


def test_binlog_end_without_file_name_order():
    """touched_tables' end of read: file names are not ordered (log-bin's base name can change
    between files, and 'host-bin' > 'binlog' as text), only the dump's order of files is used:
    the end is passed at the end position in the end file, or at any file after it."""
    from binrpt.snapshot import _BinlogEnd
    # host-bin.000010, then binlog.000001 .. binlog.000003 (the end: 500)
    end = _BinlogEnd("binlog.000003", 500)
    for file, pos in [(None, None), ("host-bin.000010", 4), ("host-bin.000010", 10**6),
                      ("binlog.000001", 4), ("binlog.000002", 900), ("binlog.000003", 4), ("binlog.000003", 499)]:
        assert not end.passed(file, pos), (file, pos)
    assert end.passed("binlog.000003", 500)
    # the end file ended by a rotation to the next one (whose name may sort before it)
    end = _BinlogEnd("host-bin.000010", 500)
    assert not end.passed("host-bin.000010", 400)
    assert end.passed("binlog.000001", 4)
    # a later file's positions are not compared before the end file was read
    end = _BinlogEnd("binlog.000003", 500)
    assert not end.passed("binlog.000002", 10**6)
    # a heartbeat is only a position below 4 GiB: never the end before the end position
    end = _BinlogEnd("binlog.000003", 500)
    for _ in range(3):
        assert not end.passed("binlog.000002", 200, heartbeat=True)
    for _ in range(3):
        assert not end.passed("binlog.000003", 200, heartbeat=True)


def test_binlog_end_past_4_gib():
    """An end position past 4 GiB is never met by a 32-bit log_pos (MariaDB sends 0 there, MySQL
    the low bits): in the end file, a heartbeat at the same position as the heartbeat before with
    no event between ends the read; heartbeats at moving positions (MySQL skipping the
    transactions of `start`) or with events between do not."""
    from binrpt.snapshot import _BinlogEnd
    big = 5 << 30
    end = _BinlogEnd("binlog.000007", big)
    assert not end.passed("binlog.000006", 100, heartbeat=True)
    assert not end.passed("binlog.000006", 100, heartbeat=True)      # not the end file
    assert not end.passed("binlog.000007", 0xFFFFFFF0)
    assert not end.passed("binlog.000007", 0xFFFFFFF0, heartbeat=True)
    assert not end.passed("binlog.000007", 0xFFFFFFF0)               # an event between
    assert not end.passed("binlog.000007", 0xFFFFFFF0, heartbeat=True)
    assert not end.passed("binlog.000007", 0xFFFFFFFF, heartbeat=True)  # moved: skipping
    assert end.passed("binlog.000007", 0xFFFFFFFF, heartbeat=True)
    # or a rotation to the next file
    end = _BinlogEnd("binlog.000007", big)
    assert not end.passed("binlog.000007", 1000)
    assert end.passed("binlog.000008", 4)


def test_make_reader_arguments(monkeypatch):
    """make_reader: the applier's defaults (the source's read timeout and heartbeat, every event),
    and touched_tables' overrides (a longer read timeout, its own connect, a list of events)."""
    import pymysqlreplication

    from binrpt.config import from_dict
    from binrpt.reader import make_reader
    got = []
    monkeypatch.setattr(pymysqlreplication, "BinLogStreamReader", lambda **kw: got.append(kw) or kw)
    cfg = from_dict({"source": {"host": "h", "username": "u", "password": "pw", "charset": "utf8mb4",
                                "replicate_server_id": 5, "heartbeat": 2.5, "read_timeout": 40},
                     "replica": {"host": "h2", "username": "u", "charset": "utf8mb4"}})
    calls = []
    kw = make_reader(cfg, "mariadb", "0-1-5", lambda: calls.append("on_connect"))
    assert kw["is_mariadb"] and kw["auto_position"] == "0-1-5" and kw["blocking"]
    assert kw["slave_heartbeat"] == 2.5 and kw["only_events"] is None and not kw["filter_non_implemented_events"]
    st = kw["connection_settings"]
    assert st["read_timeout"] == st["write_timeout"] == 40 and st["passwd"] == "pw" and "password" not in st
    kw = make_reader(cfg, "mysql", "u:1-5", lambda: calls.append("on_connect"), blocking=False,
                     connect=lambda **k: calls.append(("connect", k["host"])) or "conn",
                     read_timeout=300.0, heartbeat=1.0, only_events=["x"])
    assert not kw["is_mariadb"] and kw["auto_position"] == "u:1-5" and not kw["blocking"]
    assert kw["connection_settings"]["read_timeout"] == 300.0 and kw["slave_heartbeat"] == 1.0
    assert kw["only_events"] == ["x"]
    assert kw["pymysql_wrapper"](host="h") == "conn" and calls == ["on_connect", ("connect", "h")]


def test_chunk_conditions_and_keys():
    """Chunk boundaries compare numbers as numbers (a quoted BIGINT is compared as a double, so
    2^53+1 would equal 2^53) and composite keys in key order; the recorded key keeps bytes."""
    assert typed_literal("9007199254740993", True) == "9007199254740993"
    assert typed_literal("9007199254740993", False) == "'9007199254740993'"
    assert typed_literal("1 OR 1=1", True) == "'1 OR 1=1'"
    assert (after_key(["b", "a"], [False, True], ["q", "7"])
            == "(`b` > 'q') OR (`b` = 'q' AND `a` > 7)")
    key = ["x'y", b"\x00ab\x00"]
    assert decode_key(encode_key(key)) == key


def test_snapshot_usage_errors(capsys):
    assert main(["snapshot", "-config", "x.toml", "--chunk-size", "0"]) == 2
    assert "binrpt snapshot: error: argument --chunk-size" in capsys.readouterr().err
    assert main(["snapshot", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--restart" in out and "--chunk-size" in out


# -- MySQL source --------------------------------------------------------------------------------
@functools.cache
def _mysql_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("_binrpt_snapshot_mysql",
                                                  pathlib.Path(__file__).with_name("test_mysql_source.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mysql_source(mysql_servers):
    return _mysql_module().MyServer(mysql_servers[0])    # the session's MySQL source


@pytest.fixture(scope="module")
def mysql_target(mysql_servers):
    return _mysql_module().MyServer(mysql_servers[1])    # the session's MySQL target


def test_mysql_source_snapshot_under_concurrent_writes(mysql_source, pair, tmp_path):
    """MySQL 9 source (the GTID set read under a brief FLUSH TABLES WITH READ LOCK) into MariaDB (tables
    created without MySQL's utf8mb4_0900 collations): snapshot while a writer runs, then replication;
    the sorted row dumps are equal."""
    my = _mysql_module()
    rig = my.Rig(mysql_source, my.MyServer(pair[1].db), tmp_path, "snap_mysql")
    rig.server_id = 4100 + rig.n          # not one of test_mysql_source's ids on the same source
    rig.start_gtid = mysql_source.gtid_pos()
    mysql_source.q(f"CREATE DATABASE `{rig.db}`")
    try:
        W.create(rig.src, rig.db)
        rig.src.run_many(W.transactions(rig.db, 300, seed=5))
        rows = [f"({10_000 + i},{i},'row{i}',{i}.25,'2024-01-01 00:00:0{i % 10}')" for i in range(3000)]
        rig.src.run_many([f"INSERT INTO `{rig.db}`.pk VALUES " + ",".join(rows[i:i + 1000])
                          for i in range(0, len(rows), 1000)])
        cfg = rig.config()
        with Writer(rig) as w:
            while w.count < 20:
                time.sleep(0.05)
            before = w.count
            r = _snapshot(cfg, "--chunk-size", "200")
            during = w.count - before
            time.sleep(0.3)
        assert r.returncode == 0, _stderr(r)
        assert during > 0
        cp = rig.checkpoint()
        assert cp is not None and ":" in cp[0], cp          # a MySQL GTID set
        r = rig.run(cfg, "--stop-at-end")
        assert r.returncode == 0, _stderr(r)
        rig.wait_caught_up()
        my.assert_same(rig)
    finally:
        rig.stop_all()


@pytest.mark.parametrize("flavor", ["mysql", "mariadb"])
def test_snapshot_into_a_mysql_target(flavor, mysql_source, mysql_target, pair, tmp_path):
    """MySQL 9 -> MySQL 9 (and MariaDB -> MySQL 9): filtered tables (an ignored table, an ignored name
    pattern, a masked column) are neither copied nor replicated while a writer commits to all of them
    during the snapshot; binrpt started while the writer still runs catches up; `binrpt verify` is
    clean and the sorted row dumps of the replicated tables are equal (the precision table included:
    zero dates, DECIMAL(65,30), BIGINT UNSIGNED, JSON, BIT, negative TIME, a generated column)."""
    import hashlib
    my = _mysql_module()
    source = mysql_source if flavor == "mysql" else my.MyServer(pair[0].db)
    rig = my.Rig(source, mysql_target, tmp_path, f"snap_{flavor[:2]}2my")
    rig.server_id = 4100 + rig.n
    rig.start_gtid = source.gtid_pos()
    db = rig.db
    source.q(f"CREATE DATABASE `{db}`")
    try:
        _load(rig, big=3000)
        rig.src.run_many([f"CREATE TABLE `{db}`.secret (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
                          f"CREATE TABLE `{db}`.tmp_x (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
                          f"CREATE TABLE `{db}`.users (id INT PRIMARY KEY, email VARCHAR(80), n INT) ENGINE=InnoDB",
                          f"INSERT INTO `{db}`.secret VALUES (1, 'pw')", f"INSERT INTO `{db}`.tmp_x VALUES (1, 1)",
                          f"INSERT INTO `{db}`.users VALUES " + ",".join(f"({i}, 'u{i}@x', 0)" for i in range(500))])

        def extra(rnd):
            i = rnd.randrange(1000)
            return [f"INSERT INTO `{db}`.secret VALUES ({i}, 'pw{i}') ON DUPLICATE KEY UPDATE v = 'again'",
                    f"REPLACE INTO `{db}`.tmp_x VALUES ({i}, {i})",
                    f"INSERT INTO `{db}`.users VALUES ({i}, 'w{i}@x', 1) ON DUPLICATE KEY UPDATE n = n + 1, "
                    f"email = CONCAT('v', email)"]

        flt = (f'replicate_do_db = ["{db}"]\nreplicate_ignore_table = ["{db}.secret"]\n'
               'replicate_ignore_tables = ["^tmp_"]')
        cfg = rig.config(filters=flt, replica_extra=f'mask = {{ "{db}.users.email" = "sha256" }}')
        with Writer(rig, extra=extra) as w:
            while w.count < 20:
                time.sleep(0.05)
            before = w.count
            r = _snapshot(cfg, "--chunk-size", "200")
            during = w.count - before
            assert r.returncode == 0, _stderr(r)
            assert during > 0, "the writer made no transaction during the snapshot"
            cp = rig.checkpoint()
            assert cp is not None and cp[0] == _snapshot_state(rig)[0], (cp, _snapshot_state(rig))
            if flavor == "mysql":
                assert cp[0].startswith(rig.src.q("SELECT @@server_uuid")[0][0] + ":")   # a MySQL GTID set
            p = rig.start(cfg)                     # replication catches up while the writer goes on
            deadline = time.monotonic() + 60
            while w.count < before + during + 30 and time.monotonic() < deadline:
                time.sleep(0.05)
                assert p.poll() is None, p.stderr.read().decode()[-3000:]
        rig.wait_caught_up(proc=p)
        tables = {t for (t,) in rig.dst.q("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s",
                                          (db,))}
        assert tables == {"pk", "ck", "nk", "ty", "users"}, tables
        v = _bin("verify", "-config", cfg, "--chunk-size", "500")
        assert v.returncode == 0, (v.stdout.decode(), _stderr(v))
        assert b"differ" not in v.stdout
        a, b = rig.src.dump(db), rig.dst.dump(db)
        for t in ("pk", "ck", "nk", "ty"):
            assert a[t] == b[t], t
        emails = dict(rig.src.q(f"SELECT id, email FROM `{db}`.users"))
        want = {i: hashlib.sha256(e.encode()).hexdigest() for i, e in emails.items()}
        assert dict(rig.dst.q(f"SELECT id, email FROM `{db}`.users")) == want
        assert (rig.src.q(f"SELECT id, n FROM `{db}`.users ORDER BY id")
                == rig.dst.q(f"SELECT id, n FROM `{db}`.users ORDER BY id"))
        assert rig.dst.q(f"SELECT COUNT(*) FROM `{db}`.ty")[0][0] == 3
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 143
        err = p.stderr.read().decode(errors="replace")
        assert "row_not_found" not in err and "duplicate_key" not in err, err[-3000:]
    finally:
        rig.stop_all()
