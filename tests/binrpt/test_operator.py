"""Operator-facing behaviour (issue 15): one instance per channel, strict configuration, first-start
connection errors, prompt stops, truthful status lines, signals during a long batch."""
from __future__ import annotations

import pathlib
import signal
import subprocess
import time

import binrpt_proofs as P

_stderr = P.stderr


def _with_server_id(rig, cfg: str, server_id: int) -> str:
    p = pathlib.Path(cfg)
    other = p.with_name(p.stem + f"-sid{server_id}.toml")
    other.write_text(p.read_text().replace(f"replicate_server_id = {rig.server_id}",
                                           f"replicate_server_id = {server_id}"))
    return str(other)


def test_second_instance_on_the_same_channel_exits_at_once(rig):
    """A second binrpt on the same checkpoint row (the same config, or another host's copy of it with
    its own server_id) exits 1 at once naming the other instance; the first keeps running and is
    registered with the source; the target gets every row exactly once."""
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT, v INT)")     # no primary key: duplicates would show
    cfg = rig.config()
    p = rig.start(cfg)
    rig.wait_caught_up(proc=p)
    hosts = {int(r[0]): r[1] for r in rig.src.q("SHOW SLAVE HOSTS")}
    assert rig.server_id in hosts and hosts[rig.server_id].startswith("binrpt:"), hosts
    for second in (cfg, _with_server_id(rig, cfg, rig.server_id + 50_000)):
        rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i}, {i})" for i in range(300)])
        t0 = time.monotonic()
        r = rig.run(second, "--stop-at-end", timeout=60)
        assert r.returncode == 1, _stderr(r)
        assert "another binrpt is running" in _stderr(r), _stderr(r)
        assert time.monotonic() - t0 < 10
        assert p.poll() is None, _stderr(p)
    rig.wait_caught_up(proc=p)
    assert rig.dst.q(f"SELECT COUNT(*) FROM `{rig.db}`.t")[0][0] == 600
    rig.assert_same()
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 143
    # once the first is gone the lock is free
    r = rig.run(cfg, "--stop-at-end", timeout=60)
    assert r.returncode == 0, _stderr(r)


def test_unknown_keys_and_a_float_port_are_refused(rig):
    """`replicate-do-db` (the my.cnf spelling) used to be ignored and every database replicated; a
    float port was cut to an integer. Both exit 1 naming the key, before anything is written."""
    base = pathlib.Path(rig.config(filters="")).read_text()
    cases = [
        (base.replace("[replica]\n", f'[replica]\nreplicate-do-db = ["{rig.db}"]\n'),
         "unknown key replica.replicate-do-db; did you mean replicate_do_db?"),
        (base.replace("[replica]\n", "[replica]\ngroup_max_txn = 5\n"),
         "unknown key replica.group_max_txn; did you mean group_max_txns?"),
        (base.replace("[source]\n", "[source]\nheartbeet = 1\n", 1).replace("heartbeat = 0.5\n", ""),
         "unknown key source.heartbeet; did you mean heartbeat?"),
        (base.replace(f"port = {rig.src.params['port']}\n", f"port = {rig.src.params['port']}.9\n"),
         "source.port: want an integer"),
    ]
    for i, (text, message) in enumerate(cases):
        cfg = rig.tmp / f"strict-{i}.toml"
        cfg.write_text(text)
        r = rig.run(str(cfg), "--stop-at-end", timeout=60)
        assert r.returncode == 1, (message, _stderr(r))
        assert message in _stderr(r), _stderr(r)
        assert _stderr(r).count(str(cfg)) == 1
    assert rig.checkpoint() is None


def _closed_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()          # nothing listens there now: connections are refused
    return port


def test_first_start_that_never_connects_is_a_configuration_error(rig):
    """A refused port at the first start exits 1 with the reason (it was retried for ever as
    'connection lost, resuming from the checkpoint'), on either side."""
    base = rig.config()
    head, sep, tail = pathlib.Path(base).read_text().partition("[replica]")
    closed = _closed_port()
    for side in ("source", "replica"):
        if side == "source":
            text = head.replace(f"port = {rig.src.params['port']}", f"port = {closed}") + sep + tail
        else:
            text = head + sep + tail.replace(f"port = {rig.dst.params['port']}", f"port = {closed}")
        cfg = rig.tmp / f"refused-{side}.toml"
        cfg.write_text(text)
        try:
            r = rig.run(str(cfg), timeout=30)       # no --stop-at-end: a daemon start
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{side}: still retrying after 30 s") from None
        assert r.returncode == 1, _stderr(r)
        err = _stderr(r)
        assert "cannot connect at first start, check the configuration" in err, err
        assert str(closed) in err and "connection lost" not in err and "Traceback" not in err


def test_reconnects_after_a_successful_start_are_kept(rig):
    """Once started, a lost target connection is still resumed from the checkpoint."""
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY)")
    p = rig.start(rig.config())
    rig.wait_caught_up(proc=p)
    # caught up and the source idle: no transaction will open, kill the idle connection now (not after
    # watching 10 s for one)
    assert P.kill_target_conns(rig.dst, rig.dst.params["user"], idle=lambda: P.caught_up(rig)) >= 1
    rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i})" for i in range(100)])
    rig.wait_caught_up(proc=p)
    assert p.poll() is None
    rig.assert_same()


def _start_logged(rig, cfg: str, log: pathlib.Path) -> subprocess.Popen:
    from conftest import BIN
    f = open(log, "wb")
    p = subprocess.Popen([BIN, "-config", cfg], stdout=subprocess.DEVNULL, stderr=f)
    f.close()
    rig.procs.append(p)
    return p


def _summaries(log: pathlib.Path) -> list[dict]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        rec = dict(f.split(":", 1) for f in line.split("\t") if ":" in f)
        if rec.get("msg") == "summary":
            out.append(rec)
    return out


def test_missing_row_under_stop_stops_when_applied_on_an_idle_source(rig):
    """An UPDATE of a row missing on the target (row_not_found, policy stop) stops binrpt within a few
    seconds although no further source transaction arrives."""
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY, v INT)")
    rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i}, 0)" for i in range(10)])
    p = rig.start(rig.config())
    rig.wait_caught_up(proc=p)
    rig.dst.q(f"DELETE FROM `{rig.db}`.t WHERE id=3")
    rig.src.q(f"UPDATE `{rig.db}`.t SET v=1 WHERE id=3")        # then the source stays idle
    try:
        rc = p.wait(15)
    except subprocess.TimeoutExpired:
        raise AssertionError("binrpt still running 15 s after a row_not_found under the stop policy") from None
    assert rc == 1
    err = p.stderr.read().decode(errors="replace")
    assert "row_not_found" in err and "Traceback" not in err


def test_summary_lines_tell_the_truth(rig):
    """Idle and caught up: lag_s 0 (it grew with the idle time) and `committed` equal to the checkpoint
    that `status` shows; during a batch blocked on the target, summary lines keep coming."""
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY, v INT)")
    rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i}, 0)" for i in range(10)])
    cfg = rig.config(extra="[log]\nsummary_interval = 0.5")
    log = rig.tmp / "summary.log"
    p = _start_logged(rig, cfg, log)
    rig.wait_caught_up(proc=p)
    time.sleep(3.5)                                              # idle, caught up
    last = _summaries(log)[-1]
    st = subprocess.run([P_BIN(), "status", "-config", cfg], capture_output=True, timeout=30)
    status = dict(f.split(":", 1) for f in st.stdout.decode().strip().split("\t"))
    assert float(last["lag_s"]) < 1.0, last
    assert last["committed"] == status["gtid_state"], (last, status)
    # a batch blocked by a row lock held on the target, while the source goes on writing
    blocker = rig.dst.connect()
    try:
        with blocker.cursor() as c:
            c.execute("BEGIN")
            c.execute(f"SELECT * FROM `{rig.db}`.t WHERE id=1 FOR UPDATE")
            rig.src.q(f"UPDATE `{rig.db}`.t SET v=1 WHERE id=1")
            time.sleep(1.5)
            rig.src.run_many([f"UPDATE `{rig.db}`.t SET v=v+1 WHERE id=2" for _ in range(20)])
            time.sleep(1.0)
            n0 = len(_summaries(log))
            deadline = time.monotonic() + 10          # 3 more lines at 0.5 s: 1.5 s (polled)
            while len(_summaries(log)) < n0 + 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            n1 = len(_summaries(log))
            assert p.poll() is None
            assert n1 - n0 >= 3, (n0, n1)
            assert float(_summaries(log)[-1]["lag_s"]) > 0
        blocker.rollback()
    finally:
        blocker.close()
    rig.wait_caught_up(proc=p)
    rig.assert_same()


def P_BIN() -> str:
    from conftest import BIN
    return BIN


def test_sigterm_during_a_sequential_batch_stops_the_statement_on_the_target(rig):
    """With a non-stop error policy the batch runs in the main thread; SIGTERM while its UPDATE waits
    on a lock held on the target kills it there (KILL from a second connection) before binrpt exits
    143: the statement no longer runs on the target and a restart applies it exactly once."""
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)")
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (1, 0)")
    cfg = rig.config(replica_extra="group_max_seconds = 0.05", extra='[errors]\nother = "skip"')
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    user = rig.dst.params["user"]

    def binrpt_updates() -> int:
        return rig.dst.q("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER=%s AND "
                         "ID<>CONNECTION_ID() AND INFO LIKE %s", (user, f"%UPDATE `{db}`%"))[0][0]

    blocker = rig.dst.connect()
    try:
        with blocker.cursor() as c:
            c.execute("BEGIN")
            c.execute(f"SELECT * FROM `{db}`.t WHERE id=1 FOR UPDATE")
        rig.src.q(f"UPDATE `{db}`.t SET v=1 WHERE id=1")
        p = rig.start(cfg)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not binrpt_updates():
            time.sleep(0.1)
        assert binrpt_updates() == 1
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
        assert rc == 143, p.stderr.read()
        assert time.monotonic() - t0 < 15
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and binrpt_updates():
            time.sleep(0.1)
        assert binrpt_updates() == 0      # stopped on the target, although the lock is still held
    finally:
        blocker.rollback()
        blocker.close()
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    rig.assert_same()


def _position(rig, cfg: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([P_BIN(), "position", "-config", cfg, *args], capture_output=True, timeout=60)


def _rec(r: subprocess.CompletedProcess) -> dict:
    return dict(f.split(":", 1) for f in r.stdout.decode().strip().split("\t"))


def test_position_controls_show_skip_set_and_refuse_while_running(rig):
    db = rig.db
    rig.src.q(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)")
    cfg = rig.config()
    p = rig.start(cfg)
    rig.wait_caught_up(proc=p)
    shown = _position(rig, cfg)
    assert shown.returncode == 0 and _rec(shown)["gtid_state"] == rig.checkpoint()[0]
    for args in (["--skip-next"], ["--set", "now"]):
        r = _position(rig, cfg, *args)
        assert r.returncode == 1 and "another binrpt is running" in _stderr(r), _stderr(r)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 143
    # a stop-policy error, then skip that transaction
    rig.dst.q(f"INSERT INTO `{db}`.t VALUES (5, 500)")
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (5, 5)")
    rig.src.q(f"INSERT INTO `{db}`.t VALUES (6, 6)")
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 1 and "duplicate_key" in _stderr(r)
    before = rig.checkpoint()[0]
    r = _position(rig, cfg, "--skip-next")
    assert r.returncode == 0, _stderr(r)
    assert "transaction skipped" in _stderr(r) and _rec(r)["gtid_state"] != before
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)
    assert rig.dst.q(f"SELECT id, v FROM `{db}`.t ORDER BY id") == [(5, 500), (6, 6)]
    # set: back to an earlier GTID position (the INSERT of 6 is applied again: a duplicate), then forward
    r = _position(rig, cfg, "--set", before)
    assert r.returncode == 0 and _rec(r)["gtid_state"] == before, _stderr(r)
    now = rig.src.gtid_pos()
    r = _position(rig, cfg, "--set", "now")
    assert r.returncode == 0 and _rec(r)["gtid_state"] == now, _stderr(r)
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, _stderr(r)


def test_no_primary_key_uses_a_unique_not_null_key_of_the_target(rig):
    """A source table without any key, given a UNIQUE NOT NULL key on the target (an index added on
    staging): UPDATE and DELETE match on that key (an index lookup) instead of every column with
    LIMIT 1 (a full scan per row); a unique key with a nullable column is not used."""
    db = rig.db
    cfg = rig.config()
    rig.src.q(f"CREATE TABLE `{db}`.u (k INT NOT NULL, v VARCHAR(20))")
    rig.src.q(f"CREATE TABLE `{db}`.n (k INT NULL, v VARCHAR(20))")
    assert rig.run(cfg, "--stop-at-end").returncode == 0
    rig.dst.q(f"ALTER TABLE `{db}`.u ADD UNIQUE KEY uk (k)")
    rig.dst.q(f"ALTER TABLE `{db}`.n ADD UNIQUE KEY uk (k)")
    for t in ("u", "n"):
        rig.src.run_many([f"INSERT INTO `{db}`.{t} VALUES ({i}, 'x{i}')" for i in range(20)])
        rig.src.q(f"UPDATE `{db}`.{t} SET v=CONCAT(v, 'y') WHERE k < 10")
        rig.src.q(f"DELETE FROM `{db}`.{t} WHERE k >= 15")
    r = rig.run(cfg, "--stop-at-end", "-debug")
    assert r.returncode == 0, _stderr(r)
    sql = [line for line in _stderr(r).splitlines() if "msg:exec" in line]
    upd_u = [s for s in sql if f"UPDATE `{db}`.`u`" in s]
    upd_n = [s for s in sql if f"UPDATE `{db}`.`n`" in s]
    assert upd_u and upd_n
    assert all("WHERE `k`<=>" in s and "`v`<=>" not in s and "LIMIT 1" not in s for s in upd_u), upd_u[0]
    assert any(f"DELETE FROM `{db}`.`u` WHERE `k` IN (" in s for s in sql)
    assert all("`v`<=>" in s and "LIMIT 1" in s for s in upd_n), upd_n[0]
    assert rig.src.q(f"SELECT * FROM `{db}`.u ORDER BY k") == rig.dst.q(f"SELECT * FROM `{db}`.u ORDER BY k")
    assert rig.src.q(f"SELECT * FROM `{db}`.n ORDER BY k") == rig.dst.q(f"SELECT * FROM `{db}`.n ORDER BY k")
