"""The private MariaDB of the test suite starts, answers and writes a binlog (what both sandboxes
promise, nothing left behind included: test_sandboxes.py)."""
import subprocess


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
