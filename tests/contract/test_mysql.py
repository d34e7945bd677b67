"""The private MySQL of the test suite (Debian sid's server, run through sid's own loader, the system
untouched) starts, answers and writes a GTID binlog with full row metadata (what both sandboxes
promise, nothing left behind included: test_sandboxes.py)."""
import subprocess

import mysql_sandbox


def test_mysql_starts_answers_and_writes_binlog(mysql):
    row = mysql.sql("SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@log_bin, @@server_id, "
                    "@@gtid_mode, @@enforce_gtid_consistency")
    assert row.split() == ["ROW", "FULL", "FULL", "1", "1", "ON", "ON"]
    assert mysql.sql("SELECT VERSION()").startswith(("8.", "9."))
    mysql.sql("CREATE DATABASE fx; CREATE TABLE fx.t (id INT PRIMARY KEY, v VARCHAR(10));"
              "INSERT INTO fx.t VALUES (1, 'a'), (2, 'b');")
    assert mysql.sql("SELECT COUNT(*) FROM fx.t").strip() == "2"
    assert "Write_rows" in mysql.sql("SHOW BINLOG EVENTS IN 'binlog.000001'") or \
        "Write_rows" in mysql.sql("SHOW BINLOG EVENTS")
    uuid = mysql.sql("SELECT @@server_uuid").strip()
    assert mysql.sql("SELECT @@gtid_executed").strip().startswith(uuid + ":1-")
    # the unprivileged test user over plain TCP (caching_sha2_password, fast path)
    r = subprocess.run([*mysql.client(), "--no-defaults", "-h127.0.0.1", f"-P{mysql.port}", "-usuite",
                        "-psuite-pw", "--ssl-mode=DISABLED", "-N", "-e", "SELECT CURRENT_USER()"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("suite@")


def test_second_instance_is_independent(mysql, mysql_factory):
    other = mysql_factory(server_id=2)
    assert other.port != mysql.port
    assert other.sql("SELECT @@server_id").strip() == "2"
    # a copied template datadir must not give every instance the same server_uuid
    assert other.sql("SELECT @@server_uuid") != mysql.sql("SELECT @@server_uuid")
    assert "fx" not in other.sql("SHOW DATABASES").split()


def test_unavailable_is_reported_with_a_reason(tmp_path):
    ok, why = mysql_sandbox.available(str(tmp_path / "nothing"))
    assert not ok and "fetch-mysql.sh" in why
