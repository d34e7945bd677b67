"""The group budget: no 250 ms window of the group's output above cap/4 + one block, whoever was
stopped or descheduled and whatever its bucket holds (issue 4)."""
import os
import selectors
import signal
import subprocess
import threading
import time

from conftest import records, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st
from sabo.group import LEDGER_CAP, LEDGER_PREFIX, WINDOW_US, Registration, encode_record
from sabo.limiter import CHUNK


def member(wd, bw=1000, group="g"):
    """A registration that has published its record, as a running sabo does before its first
    charge (the ledger is kept while a member with a record is alive)."""
    reg = Registration(str(wd), bw)
    reg.publish(encode_record(group, bw, 1.0, bw, 0, True))
    return reg


def _alloc(wd, pid):
    for m in records(wd).values():
        if m.pid == pid:
            return m.alloc
    return None


class Reader(threading.Thread):
    """Reads the members' stdout as they come, logging (time, bytes)."""

    def __init__(self, files):
        super().__init__(daemon=True)
        self.sel = selectors.DefaultSelector()
        for f in files:
            os.set_blocking(f.fileno(), False)
            self.sel.register(f, selectors.EVENT_READ)
        self.events = []
        self.stop = False

    def run(self):
        while not self.stop and self.sel.get_map():
            for key, _ in self.sel.select(timeout=0.01):
                try:
                    b = os.read(key.fileobj.fileno(), 1 << 20)
                except BlockingIOError:
                    continue
                if not b:
                    self.sel.unregister(key.fileobj)
                    continue
                self.events.append((time.monotonic(), len(b)))

    def worst(self, since, width):
        """The most bytes received in any window of `width` seconds after `since`."""
        ev = [e for e in self.events if e[0] >= since]
        best, j, acc = 0, 0, 0
        for t, n in ev:
            acc += n
            while ev[j][0] <= t - width:
                acc -= ev[j][1]
                j += 1
            best = max(best, acc)
        return best


def test_member_resumed_after_a_stop_spends_its_savings_only_where_the_group_has_room(tmp_path, sabo_bin):
    # A (with a large --burst) and B share 4 MB/s. A is stopped for 1.5 s: after 1 s its record
    # is stale and B takes the whole cap. A resumes with 3 MB in its bucket. Before the group
    # budget A wrote those 3 MB at once while B was still at the full cap: 0.5 s windows of
    # 4-5 MB (200 %+ of the cap's 2 MB). Now no 250 ms window exceeds cap/4 + one block, so no
    # 0.5 s window exceeds 2 MB + 2 blocks (113 %); the threshold, 140 %, leaves room for the
    # reader's own scheduling delays on a loaded machine.
    cap = 4_000_000
    procs = [subprocess.Popen([sabo_bin, "--max-bandwidth", str(cap), "--work-dir", str(tmp_path), *extra],
                              stdin=open("/dev/zero", "rb"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for extra in (["--burst", "3M"], [])]
    a, b = procs
    reader = Reader([p.stdout for p in procs])
    reader.start()
    try:
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == cap / 2 and _alloc(tmp_path, b.pid) == cap / 2)
        a.send_signal(signal.SIGSTOP)
        assert wait_for(lambda: (_alloc(tmp_path, b.pid) or 0) >= cap * 0.9)
        time.sleep(0.5)
        resumed = time.monotonic()
        a.send_signal(signal.SIGCONT)
        time.sleep(1.5)
        worst = reader.worst(resumed - 0.6, 0.5)
        print(f"worst 0.5 s window: {worst} bytes ({worst / (cap / 2) * 100:.1f} % of the cap)")
        assert worst <= cap / 2 * 1.4, f"{worst} bytes in 0.5 s, cap {cap} B/s"
        # and A does get back to its share (work conservation, fairness)
        assert wait_for(lambda: _alloc(tmp_path, a.pid) == cap / 2 and _alloc(tmp_path, b.pid) == cap / 2)
    finally:
        reader.stop = True
        for p in procs:
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait()
        reader.join(5)


def test_charge_refuses_beyond_the_window_and_says_how_long_to_wait(tmp_path):
    a = Registration(str(tmp_path), 1000)
    b = Registration(str(tmp_path), 1000)
    try:
        limit = 1000.0
        t = 100.0
        assert a.charge(600, t, limit, "g") == 0.0
        w = b.charge(600, t + 0.1, limit, "g")          # a's 600 are still in b's window
        assert 0.15 < w <= 0.1501                        # until a's grant is 250 ms old
        assert b.charge(600, t + 0.1 + w, limit, "g") == 0.0
        assert a.charge(400, t + 0.1 + w, limit, "g") == 0.0   # 600 (b) + 400 = the limit
        assert a.charge(1, t + 0.1 + w, limit, "g") > 0
    finally:
        a.close()
        b.close()


def test_members_of_another_group_do_not_count(tmp_path):
    a = Registration(str(tmp_path), 1000)
    b = Registration(str(tmp_path), 1000)
    try:
        assert a.charge(900, 5.0, 1000.0, "g1") == 0.0
        assert b.charge(900, 5.0, 1000.0, "g2") == 0.0
    finally:
        a.close()
        b.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 400), st.integers(1, 3000)), max_size=80))
def test_no_window_of_grants_exceeds_the_limit(tmp_path_factory, ops):
    # three members charging at random (increasing) times: for every grant, the grants of the
    # whole group in any 250 ms window ending there stay within the limit
    wd = tmp_path_factory.mktemp("b")
    regs = [Registration(str(wd), 10_000) for _ in range(3)]
    limit = 10_000 / 4 + 3000
    try:
        ms = 50_000
        granted = []
        for who, dt_ms, n in ops:
            ms += dt_ms
            if regs[who].charge(n, ms / 1000, limit, "g") == 0.0:
                granted.append((ms, n))
                window = sum(m for t, m in granted if t > ms - WINDOW_US // 1000)
                assert window <= limit
    finally:
        for r in regs:
            r.close()


def test_more_grants_than_ring_entries_are_still_all_counted(tmp_path):
    a = Registration(str(tmp_path), 10**9)
    b = Registration(str(tmp_path), 10**9)
    try:
        n = LEDGER_CAP + 100
        for i in range(n):                       # all within 50 ms
            assert a.charge(1000, 10.0 + i * 1e-5, 10**9, "g") == 0.0
        assert b.charge(1, 10.1, n * 1000, "g") > 0     # b sees every one of a's bytes
        assert b.charge(1, 10.1, n * 1000 + 1, "g") == 0.0
    finally:
        a.close()
        b.close()


def test_grants_of_a_member_that_left_still_count(tmp_path):
    # a member that exits (or is killed) takes nothing of its last 250 ms with it: the ring of
    # grants in each member's own lock file did (its file is removed), and the others granted
    # that room again: 110 % of cap/4 in the churn bench's grant log
    a = member(tmp_path)
    b = member(tmp_path)
    try:
        assert a.charge(900, 7.0, 1000.0, "g") == 0.0
        a.close()
        assert b.charge(200, 7.1, 1000.0, "g") > 0
        assert b.charge(200, 7.251, 1000.0, "g") == 0.0
    finally:
        b.close()


def test_the_last_member_out_removes_the_ledger(tmp_path):
    a = member(tmp_path)
    b = member(tmp_path)
    a.charge(1, 1.0, 10.0, "g")
    b.charge(1, 1.0, 10.0, "g")
    a.close()
    assert [n for n in os.listdir(tmp_path) if n.startswith(LEDGER_PREFIX)], "b still uses it"
    b.close()
    assert os.listdir(tmp_path) == []


def test_a_ledger_from_before_a_reboot_is_reset(tmp_path):
    a = Registration(str(tmp_path), 1000)
    assert a.charge(1000, 5000.0, 1000.0, "g") == 0.0
    a.close()   # (the last one: removed) -> make one as a kill -9 would leave it
    a = Registration(str(tmp_path), 1000)
    b = Registration(str(tmp_path), 1000)
    try:
        assert a.charge(1000, 5000.0, 1000.0, "g") == 0.0
        # CLOCK_MONOTONIC starts again after a reboot: entries in the future are garbage
        assert b.charge(1000, 3.0, 1000.0, "g") == 0.0
    finally:
        a.close()
        b.close()


def test_block_is_sabo_largest_read():
    assert CHUNK == 128 * 1024


def test_a_ledger_that_cannot_be_opened_is_a_warning_not_a_failure(tmp_path, sabo_bin):
    # e.g. a work dir shared with another user whose member created the ledger (0644)
    (tmp_path / Registration.ledger_name(os.path.realpath(tmp_path))).mkdir()
    data = os.urandom(300_000)
    r = subprocess.run([sabo_bin, "--max-bandwidth", "10M", "--work-dir", str(tmp_path)], input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    assert r.stderr.count(b"warning: group ledger") == 1, r.stderr
