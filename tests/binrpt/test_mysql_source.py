"""Integration proofs with a real MySQL 9 source (GTID sets, auto_position), into a MariaDB target and
into a MySQL target. The oracle compares sorted row dumps (CHECKSUM TABLE differs between servers)."""
from __future__ import annotations

import datetime
import decimal
import hashlib
import importlib.util
import json
import pathlib
import subprocess
import time

import binrpt_proofs as P
import binrpt_workload as W
import pytest

from binrpt import gtid as G


def _load(name: str):
    # tests/binrpt's own conftest (a plain `import conftest` could find tests/conftest.py)
    spec = importlib.util.spec_from_file_location(f"_binrpt_{name}", pathlib.Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_cf = _load("conftest")
Rig, Server = _cf.Rig, _cf.Server
_stderr = P.stderr


class MyServer(Server):
    """A server of either flavour, compared by row dumps."""

    def __init__(self, db):
        super().__init__(db)
        self.mysql = getattr(db, "flavor", "mariadb") == "mysql"

    def connect(self, **kw):
        c = super().connect(**kw)
        with c.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
        return c

    def gtid_pos(self) -> str:
        if self.mysql:
            return self.q("SELECT @@global.gtid_executed")[0][0].replace("\n", "")
        return self.q("SELECT @@global.gtid_binlog_pos")[0][0]

    def dump(self, db: str) -> dict:
        """{table: (column names, sorted normalised rows)}: comparable between MySQL and MariaDB."""
        tables = [r[0] for r in self.q("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                                       "AND TABLE_TYPE='BASE TABLE'", (db,))]
        out = {}
        for t in sorted(tables):
            cols = [r[0] for r in self.q("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
                                         "AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (db, t))]
            rows = sorted(repr(tuple(_norm(v) for v in r)) for r in self.q(f"SELECT * FROM `{db}`.`{t}`"))
            out[t] = (cols, rows)
        return out

    def checksums(self, db: str) -> dict:
        """{table: (rows, sha256 of the sorted, normalised rows)}: the same on MySQL and MariaDB."""
        return {t: (len(rows), hashlib.sha256(repr((cols, rows)).encode()).hexdigest())
                for t, (cols, rows) in self.dump(db).items()}


def assert_same(rig) -> None:
    a, b = rig.src.dump(rig.db), rig.dst.dump(rig.db)
    assert a, f"no tables in {rig.db}"
    for t in sorted(set(a) | set(b)):
        assert t in a and t in b, (sorted(a), sorted(b))
        assert a[t][0] == b[t][0], (t, a[t][0], b[t][0])
        if a[t][1] != b[t][1]:
            only_src = [eval(x) for x in sorted(set(a[t][1]) - set(b[t][1]))]  # noqa: S307 - our own repr()s
            only_dst = [eval(x) for x in sorted(set(b[t][1]) - set(a[t][1]))]  # noqa: S307
            diffs = []
            for x in only_src[:5]:
                best = min(only_dst, key=lambda y: sum(u != v for u, v in zip(x, y)), default=())
                diffs.append({c: (u, v) for c, u, v in zip(a[t][0], x, best) if u != v} or x)
            raise AssertionError(f"{t}: {len(only_src)} source rows differ from {len(only_dst)} target rows; "
                                 f"column (source, target): {diffs}")


def _norm(v):
    if isinstance(v, str) and v[:1] in ("{", "["):
        try:
            return "json:" + json.dumps(json.loads(v), sort_keys=True)
        except ValueError:
            return v
    if isinstance(v, (bytes, bytearray)):
        return "hex:" + bytes(v).hex()
    if isinstance(v, decimal.Decimal):
        return "dec:" + format(v.normalize(), "f") if v == v.to_integral() else "dec:" + format(v, "f").rstrip("0")
    if isinstance(v, (datetime.datetime, datetime.date, datetime.timedelta)):
        return f"{type(v).__name__}:{v}"
    return v


@pytest.fixture(scope="session")
def mysql_pair(mysql_servers):
    return MyServer(mysql_servers[0]), MyServer(mysql_servers[1])


@pytest.fixture(params=["to_mariadb", "to_mysql"])
def mrig(request, mysql_pair, pair, tmp_path):
    src = mysql_pair[0]
    dst = mysql_pair[1] if request.param == "to_mysql" else MyServer(pair[1].db)
    r = Rig(src, dst, tmp_path, "my_" + request.node.name.split("[")[0].replace("test_mysql_", "")[:16])
    r.start_gtid = src.gtid_pos()
    src.q(f"CREATE DATABASE `{r.db}`")
    yield r
    r.stop_all()


@pytest.fixture
def mrig_maria(mysql_pair, pair, tmp_path, request):
    """MySQL -> MariaDB only (checks that do not depend on the target's flavour)."""
    src = mysql_pair[0]
    r = Rig(src, MyServer(pair[1].db), tmp_path, "myc_" + request.node.name.replace("test_mysql_", "")[:16])
    r.start_gtid = src.gtid_pos()
    src.q(f"CREATE DATABASE `{r.db}`")
    yield r
    r.stop_all()


# -- 1. random workload ------------------------------------------------------------------------
def test_mysql_random_workload(mrig):
    def gtid_checkpoint(rig):
        cp = rig.checkpoint()[0]
        assert G.covers(G.parse(cp), G.parse(rig.src.gtid_pos()))
        assert cp.startswith(rig.src.q("SELECT @@server_uuid")[0][0] + ":1-")   # a MySQL GTID set

    P.random_workload(mrig, assert_same, txns=1000, seed=11, check=gtid_checkpoint)


# -- 2. kill -9 at random moments --------------------------------------------------------------
def test_mysql_sigkill_at_random_moments(mrig):
    P.sigkill_at_random_moments(mrig, assert_same, big_rows=5_000, txns=300, seed=12, group_max_txns=100,
                                rnd_seed=17, load_rounds=4, load_txns=100, load_seed=120, big_round=2, kills=5,
                                max_sleep=1.2)


# -- 3. dropped connections --------------------------------------------------------------------
def test_mysql_dropped_connections(mrig):
    P.dropped_connections(mrig, assert_same, kill_target=P.kill_target_conns_retrying, txns=150, seed=13,
                          round_txns=100, round_seed=130, big_rows=2000, after_txns=60, after_seed=160)


def test_mysql_negative_control_without_gtid_skip_duplicates(mrig):
    """Without the GTID skip, the library's reconnect re-sends its original GTID set: applied
    transactions come again. With it (the default), nothing is applied twice."""
    P.negative_control_without_gtid_skip(mrig, assert_same, create_db="CREATE DATABASE IF NOT EXISTS")


# -- 5. type round trips -----------------------------------------------------------------------
MY_TYPES_DDL = """CREATE TABLE `{db}`.`{t}` ({pk}
  d DECIMAL(65,30) NULL, bu BIGINT UNSIGNED NULL, bs BIGINT NULL, f FLOAT NULL, df DOUBLE NULL,
  b1 BIT(1) NULL, b64 BIT(64) NULL, b10 BIT(10) NULL,
  tm TIME(6) NULL, tm2 TIME(2) NULL, ts TIMESTAMP(6) NULL DEFAULT NULL, dt DATETIME(3) NULL, y YEAR NULL,
  dz DATE NULL, dtz DATETIME NULL, bn BINARY(4) NULL, bu16 BINARY(16) NULL,
  e ENUM('','a','b') NULL, st SET('x','y','z') NULL,
  s8 VARCHAR(40) CHARACTER SET utf8mb4 NULL, sl VARCHAR(40) CHARACTER SET latin1 NULL,
  sb VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, vb VARBINARY(20) NULL, bl BLOB NULL,
  tx TEXT NULL, j JSON NULL, g GEOMETRY NULL
) ENGINE=InnoDB"""

MY_TYPE_ROWS = [
    "('12345678901234567890123456789012345.123456789012345678901234567890', 18446744073709551615, "
    "-9223372036854775808, 1.1, 0.1, b'1', b'" + "1" * 64 + "', "
    "b'1010000001', '-12:34:56.780000', '-00:00:01.25', '2024-03-10 09:30:00.5', '2024-03-31 02:30:00.123', 2024, "
    "'0000-00-00', '2024-00-15 10:00:00', 'ab', UUID_TO_BIN('123e4567-e89b-12d3-a456-426614174000'), '', '', "
    "'emoji 🍣 ok', 'café', 'Case', x'00ff10', x'000102', 'long text', "
    "'{\"a\": [1, 2, {\"b\": null}], \"k\": \"v ü 🍣\", \"t\": true, \"f\": 1.5, \"n\": -7, \"big\": 18446744073709551615}', "
    "ST_GeomFromText('POINT(1 2)'))",
    "(0, 0, 9223372036854775807, -3.5, 1e300, b'0', b'0', b'0', '838:59:59', '-838:59:59', '1970-01-01 00:00:01', "
    "'1000-01-01 00:00:00', 1901, '2024-02-29', '0000-00-00 00:00:00', x'00000000', x'ffffffffffffffffffffffffffffff00', "
    "'b', 'x,z', '', '', '', '', '', '', '[]', ST_GeomFromText('LINESTRING(0 0,1 1,2 5)'))",
    "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "('-0.000000000000000000000000000001', 1, -1, 3.4e38, -2.5e-300, b'1', b'" + "1" + "0" * 62 + "1" + "', "
    "b'1111111111', '-00:00:00.000001', '00:00:00', '2038-01-19 03:14:07.999999', '9999-12-31 23:59:59.999', 2155, "
    "'2024-12-00', '2024-01-01 00:00:00', x'61000000', x'00', 'a', 'y', "
    "'ÅÄÖ ü', 'ÿ', 'bin', x'00', x'ff', 'nul\\0byte', 'null', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'))",
    # JSON scalars: the JSON value null is not SQL NULL; a string; a number
    "(1, 2, 3, 4, 5, b'1', b'1', b'1', '01:00:00', '01:00:00', '2001-01-01 00:00:00', '2001-01-01 00:00:00', 2001, "
    "'2001-01-01', '2001-01-01 00:00:00', 'x', 'y', 'a', 'x', 'a', 'b', 'c', x'01', x'02', 'd', 'null', NULL)",
    "(1, 2, 3, 4, 5, b'1', b'1', b'1', '01:00:00', '01:00:00', '2001-01-01 00:00:00', '2001-01-01 00:00:00', 2001, "
    "'2001-01-01', '2001-01-01 00:00:00', 'x', 'y', 'a', 'x', 'a', 'b', 'c', x'01', x'02', 'd', '\"a string\"', NULL)",
]
MY_COLS = "d,bu,bs,f,df,b1,b64,b10,tm,tm2,ts,dt,y,dz,dtz,bn,bu16,e,st,s8,sl,sb,vb,bl,tx,j,g"


def test_mysql_type_round_trip_matrix(mrig):
    # created on both sides by the test (MySQL's DDL text is portable here, but MariaDB's JSON is
    # LONGTEXT with a check: the rows are what is compared)
    def json_null_stays_json_null(rig):
        # the JSON value null stays JSON null (the library reports it as SQL NULL; libfix fixes that)
        for srv in (rig.src, rig.dst):
            assert srv.q(f"SELECT COUNT(*) FROM `{rig.db}`.with_pk WHERE CAST(j AS CHAR) = 'null'")[0][0] == 6
            assert srv.q(f"SELECT COUNT(*) FROM `{rig.db}`.with_pk WHERE j IS NULL")[0][0] == 2

    P.type_round_trip_matrix(mrig, assert_same, ddl=MY_TYPES_DDL, cols=MY_COLS, rows=MY_TYPE_ROWS, changes=[
        "UPDATE `{db}`.no_pk SET tx = CONCAT(COALESCE(tx, ''), '+') LIMIT 7",
        "UPDATE `{db}`.no_pk SET y = 1999 WHERE bu = 0",
        "DELETE FROM `{db}`.no_pk WHERE bu = 1 LIMIT 2",
        "DELETE FROM `{db}`.no_pk WHERE bu = 2 LIMIT 1",
        "UPDATE `{db}`.no_pk SET j = JSON_SET(j, '$.k', 'w') WHERE JSON_TYPE(j) = 'OBJECT' LIMIT 2",
        "UPDATE `{db}`.with_pk SET b10 = b'0000000001', bn = x'0000', s8 = NULL WHERE id % 2 = 0",
        "UPDATE `{db}`.with_pk SET j = JSON_ARRAY_APPEND(j, '$.a', 3) WHERE JSON_TYPE(j) = 'OBJECT'",
        "DELETE FROM `{db}`.with_pk WHERE id = 3"], check=json_null_stays_json_null)


# -- MySQL-specific start and safety checks --------------------------------------------------------
def test_mysql_start_positions_and_status(mrig_maria):
    rig = mrig_maria
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY)")
    rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i})" for i in range(5)])
    file, pos = rig.src.q("SHOW BINARY LOG STATUS")[0][:2]
    rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i})" for i in range(5, 9)])
    rig.dst.run_many([f"CREATE DATABASE `{rig.db}`", f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY)"])
    r = rig.run(rig.config(start=f"{file}:{pos}"), "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert [x[0] for x in rig.dst.q(f"SELECT id FROM `{rig.db}`.t ORDER BY id")] == [5, 6, 7, 8]
    r = subprocess.run([_cf.BIN, "status", "-config", rig.config()], capture_output=True, timeout=60)
    assert r.returncode == 0, _stderr(r)
    rec = dict(f.split(":", 1) for f in r.stdout.decode().rstrip("\n").split("\t"))
    assert rec["behind_txns"] == "0" and rec["source_file"].startswith("binlog.")
    assert G.parse(rec["gtid_state"]) and G.covers(G.parse(rec["gtid_state"]), G.parse(rec["source_gtid"]))
    # the source's server_uuid is recorded; another one later (a failover) is said, and GTIDs carry on
    uuid = rig.src.q("SELECT @@server_uuid")[0][0]
    assert rig.dst.q("SELECT source_uuid FROM binrpt.checkpoint WHERE channel=%s", (rig.channel,)) == [(uuid,)]
    rig.dst.q("UPDATE binrpt.checkpoint SET source_uuid='00000000-0000-0000-0000-000000000001' WHERE channel=%s",
              (rig.channel,))
    rig.src.q(f"INSERT INTO `{rig.db}`.t VALUES (9)")
    r = rig.run(rig.config(), "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert "server_uuid changed" in _stderr(r)
    assert [x[0] for x in rig.dst.q(f"SELECT id FROM `{rig.db}`.t ORDER BY id")] == [5, 6, 7, 8, 9]
    assert rig.dst.q("SELECT source_uuid FROM binrpt.checkpoint WHERE channel=%s", (rig.channel,)) == [(uuid,)]


def test_mysql_purged_binlog_is_a_clean_fatal_error(mrig_maria):
    rig = mrig_maria
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY)")
    cfg = rig.config(start="beginning")   # everything: needs binlogs the source is about to purge
    rig.src.q(f"INSERT INTO `{rig.db}`.t VALUES (1)")
    rig.src.q("FLUSH BINARY LOGS")
    last = rig.src.q("SHOW BINARY LOGS")[-1][0]
    rig.src.q(f"PURGE BINARY LOGS TO '{last}'")
    purged = rig.src.q("SELECT @@global.gtid_purged")[0][0]
    assert purged
    # a checkpoint that misses purged transactions: the first start "beginning" counts the purged
    # set as done, so take a position from before the purge instead
    r = rig.run(rig.config(start=rig.start_gtid), "--stop-at-end", timeout=60)
    assert r.returncode == 1, _stderr(r)
    assert "purged binlogs" in _stderr(r) and "Traceback" not in _stderr(r)
    assert rig.checkpoint() is None   # a refused first start records nothing
    r = rig.run(cfg, "--stop-at-end", timeout=60)   # "beginning" = what is still there: works
    assert r.returncode == 0, _stderr(r)[-2000:]
    assert G.covers(G.parse(rig.checkpoint()[0]), G.parse(purged))


def test_mysql_checkpoint_ahead_of_the_source_is_fatal(mrig_maria):
    rig = mrig_maria
    uuid = rig.src.q("SELECT @@server_uuid")[0][0]
    r = rig.run(rig.config(start=f"{uuid}:1-999999999"), "--stop-at-end", timeout=60)
    assert r.returncode == 1
    assert "ahead of the source" in _stderr(r) and "Traceback" not in _stderr(r)


def test_mysql_tagged_gtids_are_refused(mysql_pair, pair, tmp_path):
    # the source: the session's MySQL *target* (a tagged GTID stays in gtid_executed, which would make
    # every later test on that source refuse), its GTID history reset afterwards
    src = mysql_pair[1]
    rig = Rig(src, MyServer(pair[1].db), tmp_path, "mytag")
    rig.start_gtid = src.gtid_pos()
    try:
        src.run_many([f"CREATE DATABASE `{rig.db}`", f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY)"])
        src.run_many(["SET gtid_next = 'AUTOMATIC:batch'", f"INSERT INTO `{rig.db}`.t VALUES (1)",
                      "SET gtid_next = 'AUTOMATIC'"])
        assert ":batch:" in src.gtid_pos()
        r = rig.run(rig.config(), "--stop-at-end", timeout=60)
        assert r.returncode == 1
        assert "tagged GTIDs" in _stderr(r) and "Traceback" not in _stderr(r)
    finally:
        rig.stop_all()
        src.q("RESET BINARY LOGS AND GTIDS")
        assert ":batch:" not in src.gtid_pos()


def test_mysql_refuses_without_full_row_metadata_and_when_target_is_source(mrig_maria):
    P.refused_with_global(mrig_maria, "binlog_row_metadata", "MINIMAL", "FULL", "binlog_row_metadata")
    P.refuses_target_is_source(mrig_maria)


def test_mysql_heartbeat_commits_an_idle_group(mrig_maria):
    """An open group (group_max_seconds far away) is committed when the idle source sends a heartbeat
    (MySQL 8.0.26+ may send the v2 heartbeat event, which the library does not decode)."""
    rig = mrig_maria
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY)")
    p = rig.start(rig.config(replica_extra="group_max_txns = 100000\ngroup_max_rows = 1000000\n"
                                           "group_max_seconds = 3600"))
    rig.wait_caught_up(proc=p, timeout=30)
    rig.src.q(f"INSERT INTO `{rig.db}`.t VALUES (1)")
    rig.wait_caught_up(proc=p, timeout=15)     # heartbeat = 0.5 s in the test config
    assert rig.dst.q(f"SELECT id FROM `{rig.db}`.t") == [(1,)]


def test_mariadb_source_into_a_mysql_target(mysql_pair, pair, tmp_path):
    """The fourth direction: MariaDB -> MySQL 9 (DDL with MariaDB's sql_mode bits and collations,
    the random workload, a kill -9 in the middle)."""
    src, dst = MyServer(pair[0].db), mysql_pair[1]
    rig = Rig(src, dst, tmp_path, "maria2my")
    rig.start_gtid = src.gtid_pos()
    src.q(f"CREATE DATABASE `{rig.db}`")
    try:
        src.q("SET GLOBAL sql_mode = 'STRICT_TRANS_TABLES,IGNORE_BAD_TABLE_OPTIONS,NO_ENGINE_SUBSTITUTION'")
        W.create(src, rig.db)   # DDL logged with MariaDB-only sql_mode bits
    finally:
        src.q("SET GLOBAL sql_mode = DEFAULT")
    src.run_many(W.transactions(rig.db, 600, seed=21))
    cfg = rig.config(replica_extra="group_max_txns = 50")
    p = rig.start(cfg)
    rig.wait_caught_up(proc=p, timeout=60)
    src.run_many(W.transactions(rig.db, 400, seed=22))
    time.sleep(0.3)
    p.kill()
    p.wait()
    first = p.stderr.read().decode(errors="replace")
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)[-3000:]
    assert "CREATE TABLE" not in _stderr(r)   # the DDL ran in the first process ...
    assert "cannot apply the DDL's session setting" not in first + _stderr(r)   # ... with its sql_mode
    assert_same(rig)
    rig.stop_all()


def test_mysql_duplicate_server_id_is_fatal(mrig_maria):
    P.duplicate_server_id_is_fatal(mrig_maria, no_traceback=True)


def test_status_and_dryrun_before_the_checkpoint_schema_exists(mrig):
    """A target without the checkpoint schema yet (a new channel with its own checkpoint_schema):
    `status` says there is no checkpoint, and a dry run replicates without writing, on a MySQL target
    too (MySQL reports the missing database as error 1049, an OperationalError for PyMySQL, where
    MariaDB says 1146)."""
    rig = mrig
    rig.src.run_many([f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY)", f"INSERT INTO `{rig.db}`.t VALUES (1)"])
    schema = f"cp_{rig.db}"[:64]
    cfg = rig.config(replica_extra=f'checkpoint_schema = "{schema}"')
    r = subprocess.run([_cf.BIN, "status", "-config", cfg], capture_output=True, timeout=60)
    assert r.returncode == 1 and "no checkpoint yet" in _stderr(r), _stderr(r)
    r = rig.run(cfg, "-dryrun", "--stop-at-end", timeout=60)
    assert r.returncode == 0 and "dry-run: INSERT INTO" in _stderr(r), _stderr(r)[-3000:]
    assert "Traceback" not in _stderr(r)
    assert rig.dst.q("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (schema,)) == [(0,)]
