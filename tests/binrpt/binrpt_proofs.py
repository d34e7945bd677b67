"""The bodies of the integration proofs that run against a MariaDB source (test_replication.py) and a
MySQL source (test_mysql_source.py): one implementation, parametrised by the sizes, seeds and kill counts
of each test and by the equality oracle `assert_same(rig)` (CHECKSUM TABLE between two MariaDB servers,
sorted row dumps across flavours)."""
from __future__ import annotations

import pathlib
import random
import signal
import subprocess
import threading
import time
from typing import Callable

import binrpt_workload as W

Oracle = Callable[[object], None]


def stderr(p) -> str:
    return p.stderr.decode(errors="replace") if isinstance(p.stderr, bytes) else ""


# -- connection killers ------------------------------------------------------------------------
def kill_dump_threads(src, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    ids = []
    while time.monotonic() < deadline and not ids:
        ids = [r[0] for r in src.q("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")]
        if not ids:
            time.sleep(0.02)
    for i in ids:
        try:
            src.q(f"KILL {i}")
        except Exception:
            pass
    return len(ids)


def kill_target_conns(dst, user, timeout: float = 10, idle: Callable[[], bool] | None = None) -> int:
    """Kill binrpt's target connection, preferably while it has a transaction open: watched for up to
    `timeout` s, or until `idle()` says that no transaction can open any more (the source's writes
    done and applied); then it is killed anyway."""
    deadline = time.monotonic() + timeout
    ids = []
    next_idle_check = 0.0
    while time.monotonic() < deadline:
        ids = [r[0] for r in dst.q(
            "SELECT p.ID FROM information_schema.PROCESSLIST p JOIN information_schema.INNODB_TRX t "
            "ON t.trx_mysql_thread_id = p.ID WHERE p.USER=%s AND p.ID<>CONNECTION_ID()", (user,))]
        if ids:
            break
        if idle is not None and time.monotonic() >= next_idle_check:
            if idle():
                break
            next_idle_check = time.monotonic() + 0.1
        time.sleep(0.005)
    if not ids:  # never caught it inside a transaction: kill it anyway
        ids = [r[0] for r in dst.q("SELECT ID FROM information_schema.PROCESSLIST WHERE USER=%s AND "
                                   "ID<>CONNECTION_ID()", (user,))]
    for i in ids:
        try:
            dst.q(f"KILL {i}")
        except Exception:
            pass
    return len(ids)


def kill_target_conns_retrying(dst, user, timeout: float = 10, idle: Callable[[], bool] | None = None) -> int:
    """kill_target_conns for a MySQL target: its information_schema.PROCESSLIST is utf8mb3 and fails (3854)
    while the listed connection runs a statement with a 4-byte character: retry."""
    import pymysql
    deadline = time.monotonic() + timeout
    while True:
        try:
            return kill_target_conns(dst, user, timeout=max(0.5, deadline - time.monotonic()), idle=idle)
        except pymysql.err.OperationalError as e:
            if e.args[0] != 3854 or time.monotonic() > deadline:
                raise


def caught_up(rig) -> bool:
    """The channel's checkpoint covers the source's current GTID position."""
    from binrpt import gtid
    cp = rig.checkpoint()
    return bool(cp) and gtid.covers(gtid.parse(cp[0]), gtid.parse(rig.src.gtid_pos()))


# -- 1. random workload ------------------------------------------------------------------------
def random_workload(rig, assert_same: Oracle, *, txns: int, seed: int,
                    check: Callable[[object], None] | None = None) -> None:
    """`txns` random transactions with a binlog rotation in the middle, one `--stop-at-end` run, equal
    tables (then `check(rig)`); a second run has nothing to do and changes nothing."""
    W.create(rig.src, rig.db)
    stmts = W.transactions(rig.db, txns, seed=seed)
    half = len(stmts) // 2
    while stmts[half] != "BEGIN":
        half += 1
    rig.src.run_many(stmts[:half])
    rig.src.q("FLUSH BINARY LOGS")          # a rotation in the middle of the stream
    rig.src.run_many(stmts[half:])
    cfg = rig.config()
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, stderr(r)[-3000:]
    rig.wait_caught_up(timeout=5)
    assert_same(rig)
    if check is not None:
        check(rig)
    # a second run has nothing to do and changes nothing
    before = rig.dst.checksums(rig.db)
    r = rig.run(cfg, "--stop-at-end")
    assert r.returncode == 0, stderr(r)
    assert rig.dst.checksums(rig.db) == before


# -- 2. kill -9 at random moments --------------------------------------------------------------
def sigkill_at_random_moments(rig, assert_same: Oracle, *, big_rows: int, txns: int, seed: int,
                              group_max_txns: int, rnd_seed: int, load_rounds: int, load_txns: int,
                              load_seed: int, big_round: int, kills: int, max_sleep: float,
                              min_kills: int | None = None) -> None:
    """A backlog (`big_rows` in one transaction, then `txns` random ones) and more load in the background
    (`load_rounds` rounds of `load_txns` transactions, another big one in round `big_round`) while binrpt
    is killed with SIGKILL `kills` times after 0.4..`max_sleep` s; a last run catches up with equal tables
    and no duplicate or missing rows on the way."""
    W.create(rig.src, rig.db)
    rig.src.run_many(W.big_transaction(rig.db, big_rows))          # applied while we kill
    rig.src.run_many(W.transactions(rig.db, txns, seed=seed))
    cfg = rig.config(replica_extra=f"group_max_rows = 50000\ngroup_max_txns = {group_max_txns}")
    rnd = random.Random(rnd_seed)
    stop = threading.Event()

    def more_load():
        i = 0
        while not stop.is_set() and i < load_rounds:
            rig.src.run_many(W.transactions(rig.db, load_txns, seed=load_seed + i))
            if i == big_round:
                rig.src.run_many(W.big_transaction(rig.db, big_rows, start=200_000))
            i += 1
            time.sleep(0.2)

    t = threading.Thread(target=more_load)
    t.start()
    done = 0
    outputs = []
    try:
        while done < kills:
            p = rig.start(cfg)
            time.sleep(rnd.uniform(0.4, max_sleep))
            if p.poll() is not None:
                raise AssertionError(f"binrpt exited {p.returncode}: {p.stderr.read().decode()[-3000:]}")
            p.kill()
            p.wait()
            outputs.append(p.stderr.read().decode(errors="replace"))
            done += 1
    finally:
        stop.set()
        t.join()
    r = rig.run(cfg, "--stop-at-end")
    outputs.append(stderr(r))
    assert r.returncode == 0, stderr(r)[-3000:]
    rig.wait_caught_up(timeout=5)
    assert_same(rig)
    joined = "\n".join(outputs)
    assert "duplicate_key" not in joined and "row_not_found" not in joined
    if min_kills is not None:
        assert done >= min_kills


# -- 3. dropped connections (dump thread, target connection) + the negative control ------------
def dropped_connections(rig, assert_same: Oracle, *, kill_target: Callable[..., int], txns: int, seed: int,
                        round_txns: int, round_seed: int, big_rows: int, after_txns: int,
                        after_seed: int) -> None:
    """Three rounds of: `round_txns` transactions, kill the source's dump thread, kill binrpt's target
    connection (with `kill_target`) while the source writes a `big_rows` transaction and `after_txns`
    more; the same process reconnects and ends with equal tables, applying nothing twice."""
    W.create(rig.src, rig.db)
    cfg = rig.config(replica_extra="group_max_txns = 50")
    p = rig.start(cfg)
    rig.src.run_many(W.transactions(rig.db, txns, seed=seed))
    rig.wait_caught_up(proc=p)
    dump_kills = target_kills = 0
    for i in range(3):
        rig.src.run_many(W.transactions(rig.db, round_txns, seed=round_seed + i))
        time.sleep(0.15)
        dump_kills += kill_dump_threads(rig.src) > 0
        found = []
        written = threading.Event()

        def idle() -> bool:   # all written and applied: no transaction will open on the target now
            return written.is_set() and caught_up(rig)

        killer = threading.Thread(target=lambda: found.append(kill_target(rig.dst, rig.dst.params["user"],
                                                                          idle=idle)))
        killer.start()   # watches the target while the source writes the big transaction
        rig.src.run_many(W.big_transaction(rig.db, big_rows, start=300_000 + 10_000 * i))
        rig.src.run_many(W.transactions(rig.db, after_txns, seed=after_seed + i))
        written.set()
        killer.join()
        target_kills += found[0] > 0
    rig.wait_caught_up(proc=p)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 143
    err = p.stderr.read().decode(errors="replace")
    assert_same(rig)
    assert (dump_kills, target_kills) == (3, 3)
    assert "duplicate_key" not in err
    assert "connection lost" in err or "reconnected" in err


def negative_control_without_gtid_skip(rig, assert_same: Oracle, *, create_db: str = "CREATE DATABASE") -> None:
    """Without the GTID skip, the library's own reconnect replays applied transactions (a duplicate-key
    stop); with it (the default), nothing is applied twice. `create_db` makes the target's database."""
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY, v INT)")
    rig.dst.run_many([f"{create_db} `{rig.db}`", f"CREATE TABLE `{rig.db}`.t (id INT PRIMARY KEY, v INT)"])
    start = rig.src.gtid_pos()   # the replays then begin with the INSERTs below
    cfg = rig.config(replica_extra="gtid_skip = false\ngroup_max_txns = 1", start=start)
    p = rig.start(cfg)
    rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i}, {i})" for i in range(50)])
    rig.wait_caught_up(proc=p)
    assert kill_dump_threads(rig.src) == 1
    rig.src.q(f"INSERT INTO `{rig.db}`.t VALUES (1000, 1)")
    rc = p.wait(60)
    err = p.stderr.read().decode(errors="replace")
    assert rc == 1, err
    assert "duplicate_key (1062)" in err

    # the same with the GTID skip (the default): no error, equal tables
    cfg2 = rig.config(replica_extra="group_max_txns = 1", start=start)
    rig.dst.q("DELETE FROM binrpt.checkpoint WHERE channel=%s", (rig.channel,))
    rig.dst.q(f"DELETE FROM `{rig.db}`.t")
    p = rig.start(cfg2)
    rig.wait_caught_up(proc=p)
    assert kill_dump_threads(rig.src) == 1
    rig.src.q(f"INSERT INTO `{rig.db}`.t VALUES (1001, 1)")
    rig.wait_caught_up(proc=p)
    time.sleep(1.0)
    assert p.poll() is None, p.stderr.read().decode()
    assert_same(rig)


# -- 5. type round trips -----------------------------------------------------------------------
def type_round_trip_matrix(rig, assert_same: Oracle, *, ddl: str, cols: str, rows: list[str], changes: list[str],
                           check: Callable[[object], None] | None = None) -> None:
    """Tables `with_pk` and `no_pk` from `ddl` (a format string of db, t, pk); `rows` inserted into both in
    three session time zones, then `changes` (a format string of db each), which must find rows by every
    one of these values; equal tables (then `check(rig)`) and no row_not_found."""
    db = rig.db
    rig.src.q(ddl.format(db=db, t="with_pk", pk="id INT AUTO_INCREMENT PRIMARY KEY,"))
    rig.src.q(ddl.format(db=db, t="no_pk", pk=""))
    cfg = rig.config()
    p = rig.start(cfg)
    stmts = ["SET SESSION sql_mode=''"]
    for zone in ("+09:00", "-05:00", "+00:00"):
        stmts.append(f"SET SESSION time_zone='{zone}'")
        for t in ("with_pk", "no_pk"):
            stmts += [f"INSERT INTO `{db}`.{t} ({cols}) VALUES {row}" for row in rows]
    # updates and deletes must find rows by every one of these values (no key: all columns + LIMIT 1)
    stmts += [s.format(db=db) for s in changes]
    c = rig.src.connect()
    with c.cursor() as cur:
        for s in stmts:
            cur.execute(s)
    c.close()
    rig.wait_caught_up(proc=p)
    assert_same(rig)
    if check is not None:
        check(rig)
    p.send_signal(signal.SIGTERM)
    p.wait(20)
    err = p.stderr.read().decode(errors="replace")
    assert "row_not_found" not in err, err[-3000:]


# -- safety checks --------------------------------------------------------------------------------
def refused_with_global(rig, setting: str, bad: str, good: str, message: str) -> None:
    """With the source's `SET GLOBAL setting = bad` (restored to `good`), binrpt exits 1 saying `message`."""
    rig.src.q(f"SET GLOBAL {setting} = {bad}")
    try:
        r = rig.run(rig.config(), "--stop-at-end", timeout=60)
    finally:
        rig.src.q(f"SET GLOBAL {setting} = {good}")
    assert r.returncode == 1
    assert message in stderr(r)


def refuses_target_is_source(rig) -> None:
    """A config whose target port is the source's: exit 1, "the target is the source"."""
    f = pathlib.Path(rig.config())
    f.write_text(f.read_text().replace(f"port = {rig.dst.params['port']}", f"port = {rig.src.params['port']}"))
    r = rig.run(str(f), "--stop-at-end", timeout=60)
    assert r.returncode == 1
    assert "the target is the source" in stderr(r)


def duplicate_server_id_is_fatal(rig, *, no_traceback: bool = False) -> None:
    """A second channel with the same server_id while the first streams: one of the two exits 1 about the
    server_id (and, with `no_traceback`, without a traceback). The second is refused at start (the id
    is listed by the source; after a grace of 2 heartbeats + 3 s) or, when it got to stream, the source
    kicks one of the two, which stops saying so."""
    cfg = rig.config()
    p = rig.start(cfg)
    rig.src.q(f"CREATE TABLE `{rig.db}`.t (id INT)")
    rig.wait_caught_up(proc=p)
    rig.src.run_many([f"INSERT INTO `{rig.db}`.t VALUES ({i})" for i in range(200)])
    cfg2 = pathlib.Path(rig.config())     # another channel (so it has to stream), the same server_id
    cfg2.write_text(cfg2.read_text().replace(f'channel = "{rig.channel}"', f'channel = "{rig.channel}_2"'))
    r = rig.run(str(cfg2), "--stop-at-end", timeout=60)  # refused at start, or one of the two is kicked
    if r.returncode == 1:
        # the second one exited 1 (refused at start, or kicked): nothing to wait for from the first
        # (which, when the second never streamed, keeps running untouched)
        rc1 = p.poll()
    else:
        try:
            rc1 = p.wait(15)
        except subprocess.TimeoutExpired:
            rc1 = None
    err = p.stderr.read().decode(errors="replace") if rc1 is not None else ""
    assert rc1 == 1 or r.returncode == 1, (rc1, r.returncode, stderr(r))
    # binrpt's own words, with the id (the server's error text says "server_id" too, without it)
    assert f"server_id {rig.server_id}" in err + stderr(r), (err, stderr(r))
    if no_traceback:
        assert "Traceback" not in err + stderr(r)
