"""Signals in the middle of a statement on the target: binrpt exits 130 (SIGINT) / 143 (SIGTERM)
with the open transaction rolled back, never 1 with a traceback."""
from __future__ import annotations

import signal
import time


def _wait_for(dst, like: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dst.q("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE %s", (like,))[0][0]:
            return
        time.sleep(0.1)
    raise AssertionError(f"no statement like {like!r} on the target")


def test_sigint_while_a_ddl_waits_on_the_target_exits_130(rig):
    """SIGINT while the DDL waits for a metadata lock on the target: the signal cut the DDL's answer
    short, and restoring the session settings afterwards on that connection raised InterfaceError,
    which was taken for a refused DDL (exit 1, a traceback) instead of the interrupt (exit 130)."""
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)")
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (1, 0)")
    cfg = rig.config(replica_extra="group_max_seconds = 0.05")
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    blocker = rig.dst.connect()
    try:
        with blocker.cursor() as c:
            c.execute("BEGIN")
            c.execute(f"SELECT * FROM `{db}`.t")       # holds the table's metadata lock
        rig.src.q(f"ALTER TABLE `{db}`.t ADD COLUMN w INT")
        p = rig.start(cfg)
        _wait_for(rig.dst, "ALTER TABLE%")
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        rc = p.wait(30)
        err = p.stderr.read().decode()
        assert rc == 130, err[-3000:]
        assert "Traceback" not in err
        assert "interrupted, open transaction rolled back" in err
    finally:
        blocker.rollback()
        blocker.close()
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    rig.assert_same()
