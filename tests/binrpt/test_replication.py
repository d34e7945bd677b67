"""Integration proofs against two real MariaDB servers (source -> target)."""
from __future__ import annotations

import signal
import subprocess
import time

import binrpt_proofs as P
import binrpt_workload as W
import pytest


_stderr = P.stderr


def _checksums_equal(rig) -> None:
    """The oracle between two MariaDB servers: CHECKSUM TABLE."""
    rig.assert_same()


# -- 1. random workload ------------------------------------------------------------------------
def test_random_workload_checksums_equal(rig):
    P.random_workload(rig, _checksums_equal, txns=5000, seed=1)


# -- 2. kill -9 at random moments --------------------------------------------------------------
def test_sigkill_at_random_moments(rig):
    P.sigkill_at_random_moments(rig, _checksums_equal, big_rows=10_000, txns=1500, seed=2, group_max_txns=200,
                                rnd_seed=7, load_rounds=8, load_txns=200, load_seed=100, big_round=3, kills=12,
                                max_sleep=1.6, min_kills=10)


# -- 3. dropped connections (dump thread, target connection) + the negative control ------------
def test_dropped_connections_checksums_equal(rig):
    P.dropped_connections(rig, _checksums_equal, kill_target=P.kill_target_conns, txns=300, seed=3, round_txns=300,
                          round_seed=30, big_rows=3000, after_txns=200, after_seed=60)


def test_negative_control_without_gtid_skip_duplicates(rig):
    """Without the GTID skip, the library's own reconnect replays applied transactions."""
    P.negative_control_without_gtid_skip(rig, _checksums_equal)


def test_sigint_rolls_back_and_exits_130(rig):
    W.create(rig.src, rig.db)
    cfg = rig.config(replica_extra="group_max_txns = 100000\ngroup_max_rows = 1000000\ngroup_max_seconds = 60")
    p = rig.start(cfg)
    rig.src.run_many(W.big_transaction(rig.db, 10_000))
    rig.src.run_many(W.transactions(rig.db, 300, seed=9))
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    assert p.wait(20) == 130
    assert b"interrupted, open transaction rolled back" in p.stderr.read()
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    rig.assert_same()


def test_sigterm_exits_promptly_while_the_target_is_blocked(rig):
    """A target that lags or is blocked (a lock held by someone else) must not make SIGTERM hang until
    the lock goes away: the blocked apply is killed, the server rolls it back, a restart re-applies it."""
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)")
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (1, 0)")
    cfg = rig.config(replica_extra="group_max_seconds = 0.05")
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    blocker = rig.dst.connect()
    try:
        with blocker.cursor() as c:
            c.execute("SET SESSION innodb_lock_wait_timeout=120")
            c.execute("BEGIN")
            c.execute(f"SELECT * FROM `{db}`.t WHERE id=1 FOR UPDATE")
        rig.src.q(f"UPDATE `{db}`.t SET v=1 WHERE id=1")
        p = rig.start(cfg)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:   # wait until binrpt's UPDATE waits on the lock
            n = rig.dst.q("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Updat%%' "
                          "OR INFO LIKE 'UPDATE%%'")[0][0]
            if n:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
        took = time.monotonic() - t0
        assert rc == 143, p.stderr.read()
        assert took < 15, took
    finally:
        blocker.rollback()
        blocker.close()
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    rig.assert_same()


def test_rows_after_a_flush_inside_one_rows_event_are_applied(rig):
    """Pending SQL is sent to the target once it passes 2 MB, which happens when a new multi-row INSERT
    or DELETE ... IN starts, often in the middle of a rows event: the rest of that event's rows were
    appended to the statement already sent (lost, or a row_not_found stop)."""
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.w (id INT PRIMARY KEY, s VARCHAR(2000))")
    stmts = ["BEGIN"]
    for lo in range(0, 5000, 100):
        stmts.append(f"INSERT INTO `{db}`.w VALUES " +
                     ",".join(f"({i},REPEAT('{chr(97 + i % 26)}',1500))" for i in range(lo, lo + 100)))
    stmts += ["COMMIT", f"DELETE FROM `{db}`.w WHERE id % 3 = 0"]
    rig.src.run_many(stmts, per_packet=10)
    r = rig.run(rig.config(), "--stop-at-end")
    assert r.returncode == 0, _stderr(r)[-2000:]
    rig.assert_same()
    assert rig.dst.q(f"SELECT COUNT(*) FROM `{db}`.w")[0][0] == 5000 - 1667


# -- 4. schema changes while rows flow -------------------------------------------------------
def test_alter_table_while_rows_flow(rig):
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.s (id INT PRIMARY KEY, a INT, b VARCHAR(20), c INT)")
    cfg = rig.config()
    p = rig.start(cfg)
    stmts = []
    for i in range(200):
        stmts.append(f"INSERT INTO `{db}`.s (id, a, b, c) VALUES ({i}, {i}, 'b{i}', {i * 2})")
    stmts += [f"ALTER TABLE `{db}`.s ADD COLUMN z VARCHAR(10) DEFAULT 'zz' FIRST"]
    stmts += [f"UPDATE `{db}`.s SET z = 'n{i}', a = a + 1 WHERE id = {i}" for i in range(0, 200, 3)]
    stmts += [f"ALTER TABLE `{db}`.s DROP COLUMN a"]
    stmts += [f"INSERT INTO `{db}`.s (id, b, c, z) VALUES ({i}, 'x{i}', {i}, 'q')" for i in range(200, 300)]
    stmts += [f"ALTER TABLE `{db}`.s MODIFY COLUMN c INT AFTER z, MODIFY b VARCHAR(30)"]
    stmts += [f"DELETE FROM `{db}`.s WHERE id % 7 = 0", f"UPDATE `{db}`.s SET b = CONCAT(b, '!') WHERE id < 150"]
    for i in range(0, len(stmts), 25):
        rig.src.run_many(stmts[i:i + 25])
        time.sleep(0.02)
    rig.wait_caught_up(proc=p)
    rig.assert_same()
    cols = lambda s: [r[0] for r in s.q("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
                                          "AND TABLE_NAME='s' ORDER BY ORDINAL_POSITION", (db,))]
    assert cols(rig.src) == cols(rig.dst) == ["z", "c", "id", "b"]

    # replay from before the ALTERs on a fresh target: names come from each event's own metadata
    p.send_signal(signal.SIGTERM)
    p.wait(20)
    rig.dst.q(f"DROP DATABASE `{db}`")
    rig.dst.q("DELETE FROM binrpt.checkpoint WHERE channel=%s", (rig.channel,))
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)[-2000:]
    rig.assert_same()


def test_ddl_pending_marker_recovers_without_double_apply(rig):
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    cfg = rig.config()
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    gtid_before = rig.checkpoint()[0]
    rig.src.q(f"ALTER TABLE `{db}`.t ADD COLUMN extra INT")
    alter_gtid = rig.src.gtid_pos()
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (1, 2)")
    # simulate a crash between running the DDL and committing its checkpoint
    rig.dst.q(f"ALTER TABLE `{db}`.t ADD COLUMN extra INT")
    rig.dst.q("UPDATE binrpt.checkpoint SET ddl_pending=%s WHERE channel=%s", (alter_gtid, rig.channel))
    assert rig.checkpoint()[0] == gtid_before
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert "already taken effect" in _stderr(r)
    rig.assert_same()
    assert rig.checkpoint()[1] is None


def test_failed_ddl_still_stops_after_a_restart(rig):
    """A DDL the target refused (stop policy) must not become "already taken effect" on the next run:
    the pending marker is for a crash in flight, not for an error the server reported."""
    db = rig.db
    cfg = rig.config()
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    # the target already has a *different* table of that name: the CREATE fails with 1050
    rig.dst.q(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    rig.dst.q(f"CREATE TABLE `{db}`.t (other VARCHAR(5))")
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (1)")
    for _ in range(2):
        r = rig.run(cfg, "--stop-at-end")
        assert r.returncode == 1, _stderr(r)
        assert "1050" in _stderr(r) and "already taken effect" not in _stderr(r)
        assert "ddl (1050) in . at" not in _stderr(r)
        assert rig.checkpoint()[1] is None


# -- 5. type round trips -----------------------------------------------------------------------
TYPES_DDL = """CREATE TABLE `{db}`.`{t}` ({pk}
  d DECIMAL(65,30) NULL, bu BIGINT UNSIGNED NULL, bs BIGINT NULL, f FLOAT NULL, df DOUBLE NULL,
  b1 BIT(1) NULL, b64 BIT(64) NULL, b10 BIT(10) NULL,
  tm TIME(6) NULL, tm2 TIME(2) NULL, ts TIMESTAMP(6) NULL DEFAULT NULL, dt DATETIME(3) NULL, y YEAR NULL,
  dz DATE NULL, dtz DATETIME NULL,
  bn BINARY(4) NULL, u UUID NULL, i6 INET6 NULL,
  e ENUM('','a','b') NULL, st SET('x','y','z') NULL,
  s8 VARCHAR(40) CHARACTER SET utf8mb4 NULL, sl VARCHAR(40) CHARACTER SET latin1 NULL,
  sb VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, vb VARBINARY(20) NULL, bl BLOB NULL,
  tx TEXT NULL, j JSON NULL, g GEOMETRY NULL
) ENGINE=InnoDB"""

TYPE_ROWS = [
    "('12345678901234567890123456789012345.123456789012345678901234567890', 18446744073709551615, "
    "-9223372036854775808, 1.1, 0.1, b'1', b'" + "1" * 64 + "', "
    "b'1010000001', '-12:34:56.780000', '-00:00:01.25', '2024-03-10 09:30:00.5', '2024-03-31 02:30:00.123', 2024, "
    "'0000-00-00', '2024-00-15 10:00:00', 'ab', '123e4567-e89b-12d3-a456-426614174000', '::1', '', '', "
    "'emoji 🍣 ok', 'café', 'Case', x'00ff10', x'000102', 'long text', '{\"a\": [1, 2]}', ST_GeomFromText('POINT(1 2)'))",
    "(0, 0, 9223372036854775807, -3.5, 1e300, b'0', b'0', b'0', '838:59:59', '-838:59:59', '1970-01-01 00:00:01', "
    "'1000-01-01 00:00:00', 1901, '2024-02-29', '0000-00-00 00:00:00', x'00000000', "
    "'00000000-0000-0000-0000-000000000000', '2001:db8::ff00:42:8329', 'b', 'x,z', '', '', '', '', '', '', '[]', "
    "ST_GeomFromText('LINESTRING(0 0,1 1,2 5)'))",
    "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "('-0.000000000000000000000000000001', 1, -1, 3.4e38, -2.5e-300, b'1', b'" + "1" + "0" * 62 + "1" + "', "
    "b'1111111111', '-00:00:00.000001', '00:00:00', '2038-01-19 03:14:07.999999', '9999-12-31 23:59:59.999', 2155, "
    "'2024-12-00', '2024-01-01 00:00:00', x'61000000', 'ffffffff-ffff-ffff-ffff-ffffffffff00', '0.0.0.0', 'a', 'y', "
    "'ÅÄÖ ü', 'ÿ', 'bin', x'00', x'ff', 'nul\\0byte', 'null', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'))",
]
COLS = ("d,bu,bs,f,df,b1,b64,b10,tm,tm2,ts,dt,y,dz,dtz,bn,u,i6,e,st,s8,sl,sb,vb,bl,tx,j,g")


def test_type_round_trip_matrix(rig):
    P.type_round_trip_matrix(rig, _checksums_equal, ddl=TYPES_DDL, cols=COLS, rows=TYPE_ROWS, changes=[
        "UPDATE `{db}`.no_pk SET tx = CONCAT(COALESCE(tx, ''), '+') LIMIT 4",
        "UPDATE `{db}`.no_pk SET y = 1999 WHERE bu = 0",
        "DELETE FROM `{db}`.no_pk WHERE bu = 1 LIMIT 2",
        "UPDATE `{db}`.with_pk SET b10 = b'0000000001', bn = x'0000', u = NULL WHERE id % 2 = 0",
        "DELETE FROM `{db}`.with_pk WHERE id = 3"])


# -- 6. no primary key: one of two identical rows -------------------------------------------------
def test_no_key_delete_one_of_two_identical_rows(rig):
    db = rig.db
    rig.src.run_many([f"CREATE TABLE `{db}`.nk (a INT, b VARCHAR(10))",
                      f"INSERT INTO `{db}`.nk VALUES (1, 'same'), (1, 'same'), (2, 'other'), (2, 'other')"])
    cfg = rig.config()
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    rig.src.run_many([f"DELETE FROM `{db}`.nk WHERE a = 1 LIMIT 1",
                      f"UPDATE `{db}`.nk SET b = 'changed' WHERE a = 2 LIMIT 1"])
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert rig.dst.q(f"SELECT a, b, COUNT(*) FROM `{db}`.nk GROUP BY a, b ORDER BY a, b") == \
        [(1, "same", 1), (2, "changed", 1), (2, "other", 1)]
    rig.assert_same()


# -- 7. filters, DDL on ignored tables, rewrite, masking, dry run --------------------------------------
def test_filters_apply_to_rows_and_ddl(rig):
    db = rig.db
    other = f"{db}_other"
    flt = (f'replicate_do_db = ["{db}"]\n'
           f'replicate_wild_ignore_table = ["{db}.secure\\\\_%"]\n'
           f'replicate_ignore_tables = ["^tmp_"]\n')
    cfg = rig.config(filters=flt)
    rig.src.run_many([
        f"CREATE TABLE `{db}`.keep (id INT PRIMARY KEY, v INT)",
        f"CREATE TABLE `{db}`.secure_x (id INT PRIMARY KEY, pw VARCHAR(20))",
        f"CREATE TABLE `{db}`.tmp_1 (id INT PRIMARY KEY)",
        f"CREATE DATABASE `{other}`",
        f"CREATE TABLE `{other}`.t (id INT PRIMARY KEY)",
        f"INSERT INTO `{db}`.keep VALUES (1, 1), (2, 2)",
        f"INSERT INTO `{db}`.secure_x VALUES (1, 'secret')",
        f"INSERT INTO `{db}`.tmp_1 VALUES (1)",
        f"INSERT INTO `{other}`.t VALUES (1)",
        f"ALTER TABLE `{db}`.secure_x ADD COLUMN more INT",
        f"TRUNCATE TABLE `{db}`.secure_x",
        f"DROP TABLE `{db}`.tmp_1",
        f"UPDATE `{db}`.keep SET v = 10 WHERE id = 1",
        f"CREATE USER 'u_{db}'@'localhost' IDENTIFIED BY 'topsecret-pw'",
    ])
    r = rig.run(cfg, "--stop-at-end", "-debug")
    assert r.returncode == 0, _stderr(r)
    assert "topsecret-pw" not in _stderr(r) and rig.src.params["password"] not in _stderr(r)
    assert "statement:CREATE USER" in _stderr(r)
    tables = {t for (t,) in rig.dst.q("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (db,))}
    assert tables == {"keep"}
    assert rig.dst.q(f"SELECT id, v FROM `{db}`.keep ORDER BY id") == [(1, 10), (2, 2)]
    assert rig.dst.q("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (other,)) == [(0,)]
    rig.src.q(f"DROP DATABASE `{other}`")


def test_rewrite_db_and_masking(rig):
    db = rig.db
    staging = f"{db}_stg"
    cfg = rig.config(replica_extra=f'rewrite_db = {{ "{db}" = "{staging}" }}\n'
                                   f'mask = {{ "{db}.users.email" = "sha256", "{db}.users.token" = "null" }}')
    rig.src.run_many([f"CREATE TABLE `{db}`.users (id INT PRIMARY KEY, email VARCHAR(80), token VARCHAR(40))",
                      f"INSERT INTO `{db}`.users VALUES (1, 'a@example.com', 'tok1'), (2, 'b@example.com', 'tok2')",
                      f"UPDATE `{db}`.users SET email = 'c@example.com' WHERE id = 2"])
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    import hashlib
    rows = rig.dst.q(f"SELECT id, email, token FROM `{staging}`.users ORDER BY id")
    assert rows == [(1, hashlib.sha256(b"a@example.com").hexdigest(), None),
                    (2, hashlib.sha256(b"c@example.com").hexdigest(), None)]
    assert rig.dst.q("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (db,)) == [(0,)]


def test_dryrun_writes_nothing_not_even_the_checkpoint(rig):
    db = rig.db
    rig.src.run_many([f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)", f"INSERT INTO `{db}`.t VALUES (1), (2)"])
    cfg = rig.config()
    r = rig.run(cfg, "-dryrun", "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    err = _stderr(r)
    assert "dry-run: CREATE TABLE" in err and "dry-run: INSERT INTO" in err
    assert rig.checkpoint() is None
    assert rig.dst.q("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (db,)) == [(0,)]
    # a real run afterwards still gets everything (the dry run advanced nothing)
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    rig.assert_same()


def test_start_position_file_pos(rig):
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    rig.dst.run_many([f"CREATE DATABASE `{db}`", f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)"])
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (1)")            # before the start position: not replicated
    file, pos = rig.src.q("SHOW MASTER STATUS")[0][:2]
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (2)")
    r = rig.run(rig.config(), "--stop-at-end", "--start-position", f"{file}:{pos}")
    assert r.returncode == 0, _stderr(r)
    assert rig.dst.q(f"SELECT id FROM `{db}`.t") == [(2,)]


# -- error policies ------------------------------------------------------------------------------
def test_error_policy_stop_skip_dead_letter(rig):
    db = rig.db
    rig.src.run_many([f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)", f"INSERT INTO `{db}`.t VALUES (1, 1)"])
    cfg = rig.config()
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    # the target diverged: a row the source is about to insert already exists, one it updates is gone
    rig.dst.q(f"INSERT INTO `{db}`.t VALUES (2, 99)")
    rig.dst.q(f"DELETE FROM `{db}`.t WHERE id = 1")
    rig.src.run_many([f"INSERT INTO `{db}`.t VALUES (2, 2), (3, 3)", f"UPDATE `{db}`.t SET v = 10 WHERE id = 1"])
    cp = rig.checkpoint()[0]
    r = rig.run(cfg, "--stop-at-end")                      # default: stop, nothing half-applied
    assert r.returncode == 1
    assert "duplicate_key (1062)" in _stderr(r)
    assert rig.checkpoint()[0] == cp
    assert rig.dst.q(f"SELECT id FROM `{db}`.t ORDER BY id") == [(2,)]
    cfg2 = rig.config(extra='[errors]\nduplicate_key = "dead_letter"\nrow_not_found = "skip"')
    r = rig.run(cfg2, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert rig.dst.q(f"SELECT id, v FROM `{db}`.t ORDER BY id") == [(2, 99), (3, 3)]
    dl = rig.dst.q("SELECT error_class, error_code, db, tbl FROM binrpt.dead_letter WHERE channel=%s", (rig.channel,))
    assert dl == [("duplicate_key", 1062, db, "t")]
    assert "row_not_found: skipped" in _stderr(r)


# -- status and verify -------------------------------------------------------------------------------
def test_status_and_verify(rig):
    db = rig.db
    rig.src.run_many([f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(10))"] +
                     [f"INSERT INTO `{db}`.t VALUES ({i}, 'v{i}')" for i in range(250)])
    cfg = rig.config(filters=f'replicate_do_db = ["{db}"]')
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    r = subprocess.run([__import__("conftest").BIN, "status", "-config", cfg], capture_output=True)
    assert r.returncode == 0, r.stderr
    rec = dict(f.split(":", 1) for f in r.stdout.decode().strip().split("\t"))
    assert rec["channel"] == rig.channel and rec["behind_txns"] == "0" and rec["gtid_state"]
    r = subprocess.run([__import__("conftest").BIN, "verify", "-config", cfg, "--chunk-size", "100"],
                       capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == b""
    rig.dst.q(f"UPDATE `{db}`.t SET v = 'changed' WHERE id = 150")
    r = subprocess.run([__import__("conftest").BIN, "verify", "-config", cfg, "--chunk-size", "100"],
                       capture_output=True)
    assert r.returncode == 1
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 1 and f"table:{db}.t" in lines[0] and "chunk:2" in lines[0] and "status:differ" in lines[0]


# -- safety checks --------------------------------------------------------------------------------
def test_refuses_when_target_is_the_source(rig, tmp_path):
    P.refuses_target_is_source(rig)


def test_refuses_without_full_row_metadata(rig):
    P.refused_with_global(rig, "binlog_row_metadata", "MINIMAL", "FULL", "binlog_row_metadata")


def test_unknown_or_purged_position_is_fatal(rig):
    r = rig.run(rig.config(start="0-21-999999999"), "--stop-at-end", timeout=60)
    assert r.returncode == 1
    assert "source cannot send the binlog" in _stderr(r) and "Traceback" not in _stderr(r)


def test_refuses_compressed_binlog(rig):
    P.refused_with_global(rig, "log_bin_compress", "ON", "OFF", "log_bin_compress")


def test_duplicate_server_id_is_fatal(rig):
    P.duplicate_server_id_is_fatal(rig)


@pytest.mark.parametrize("bad", ["[source]\nhost='x'\n", "not toml ["])
def test_bad_config_is_a_clear_error(tmp_path, bad):
    from conftest import BIN
    f = tmp_path / "bad.toml"
    f.write_text(bad)
    r = subprocess.run([BIN, "-config", str(f)], capture_output=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith(b"binrpt: ") and b"Traceback" not in r.stderr


def test_purged_binlog_is_a_clean_fatal_error(rig):
    """Kept last: it purges the shared source's old binlogs."""
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT)")
    old = rig.src.gtid_pos()
    rig.src.q(f"INSERT INTO `{rig.db}`.t VALUES (1)")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rig.src.q("FLUSH BINARY LOGS")
        current = rig.src.q("SHOW MASTER STATUS")[0][0]
        rig.src.q(f"PURGE BINARY LOGS TO '{current}'")   # skipped while InnoDB still needs the file
        if len(rig.src.q("SHOW BINARY LOGS")) == 1:
            break
        time.sleep(0.5)
    assert len(rig.src.q("SHOW BINARY LOGS")) == 1   # the transaction after `old` is gone
    r = rig.run(rig.config(start=old), "--stop-at-end", timeout=60)
    assert r.returncode == 1, _stderr(r)
    assert "source cannot send the binlog" in _stderr(r) and "purged binlog" in _stderr(r)
    assert "Traceback" not in _stderr(r)


@pytest.mark.parametrize("side", ["source", "replica"])
def test_wrong_password_is_a_config_error_not_an_endless_retry(rig, side):
    """A refused login before anything ever connected is a configuration mistake: exit 1 with a clear
    message, instead of retrying for ever as 'connection lost'."""
    import pathlib
    cfg = pathlib.Path(rig.config())
    text = cfg.read_text()
    head, sep, tail = text.partition("[replica]")
    pw = f'password = "{rig.src.params["password"]}"'
    if side == "source":
        head = head.replace(pw, 'password = "wrong-pw"')
    else:
        tail = tail.replace(f'password = "{rig.dst.params["password"]}"', 'password = "wrong-pw"')
    cfg.write_text(head + sep + tail)
    r = rig.run(str(cfg), "--stop-at-end", timeout=30)
    assert r.returncode == 1, _stderr(r)
    assert "login refused" in _stderr(r) and "Access denied" in _stderr(r)
    assert "wrong-pw" not in _stderr(r)


def test_source_triggers_do_not_fire_twice_on_the_target(rig):
    """The row events already carry what a source trigger did; the trigger replicated to the target fired
    again when binrpt wrote the rows (a duplicate-key stop, or doubled rows without a key)."""
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    rig.src.q(f"CREATE TABLE `{db}`.log_pk (id INT AUTO_INCREMENT PRIMARY KEY, tid INT)")
    rig.src.q(f"CREATE TABLE `{db}`.log_nk (tid INT)")
    rig.src.q(f"CREATE TRIGGER `{db}`.tr AFTER INSERT ON `{db}`.t FOR EACH ROW "
              f"BEGIN INSERT INTO `{db}`.log_pk (tid) VALUES (NEW.id); INSERT INTO `{db}`.log_nk VALUES (NEW.id); END")
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (1), (2)")
    r = rig.run(rig.config(), "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert "trigger statement not replicated" in _stderr(r)
    assert rig.dst.q("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s", (db,))[0][0] == 0
    rig.assert_same()


def test_create_table_select(rig):
    """Row format logs CREATE TABLE ... SELECT as a CREATE inside the transaction carrying the rows: the
    CREATE was dropped (no default database) and the rows stopped on missing_table."""
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.s (id INT PRIMARY KEY, v VARCHAR(10))")
    rig.src.q(f"INSERT INTO `{db}`.s VALUES (1, 'a'), (2, NULL)")
    rig.src.q(f"CREATE TABLE `{db}`.c SELECT * FROM `{db}`.s")
    rig.src.q(f"INSERT INTO `{db}`.s VALUES (3, 'c')")
    cfg = rig.config()
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    rig.assert_same()
    assert rig.checkpoint()[1] is None
    # a crash after the CREATE ran but before its rows were committed: the marker makes the re-run tolerant
    rig.src.q(f"CREATE TABLE `{db}`.c2 SELECT * FROM `{db}`.s")
    gtid = rig.src.gtid_pos()
    rig.dst.q(f"CREATE TABLE `{db}`.c2 (id INT NOT NULL, v VARCHAR(10))")
    rig.dst.q("UPDATE binrpt.checkpoint SET ddl_pending=%s WHERE channel=%s", (gtid, rig.channel))
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert "already taken effect" in _stderr(r)
    rig.assert_same()
    assert rig.checkpoint()[1] is None
