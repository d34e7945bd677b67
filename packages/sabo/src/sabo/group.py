"""Membership of a sharing group: lock files in the work dir, and the share computation.

Each member holds `DIR/sabo_<bw>_<pid>_<xid>.lock` (upstream's name, so upstream sabo processes
with the same bandwidth in the same dir count us) under an exclusive flock for its whole life.
The file's content is this member's published record, one line rewritten in place:

    sabo1 group=<hex> bw=<B/s> weight=<w> alloc=<B/s> used=<B/s> hungry=<0|1> pid=<pid> ts=<epoch>

A file whose flock can be taken is stale (its holder died, flock dies with it) and is deleted.
A live file without a record (an upstream sabo) is a member that wants its full share.
The read-compute-publish step runs under a flock on the directory itself, so two members never
raise their rates from the same stale view. A record not refreshed for a while (its member is
stopped, or blocked writing to a slow reader) no longer reserves its allocation.

The group budget (the hard bound) is a ledger shared by the members of a group: the file
`DIR/.sabo-group-<hash of the group>` (hidden: upstream's glob and our lock-file names never match
it), mapped in memory, holding the group's grants of the last 250 ms in time order (a ring of
(CLOCK_MONOTONIC microseconds, bytes), with the window's sum). Before every write a member charges
its chunk through `Registration.charge()`: under the directory flock it drops the grants older
than 250 ms and grants only when the sum plus the chunk stays within the limit (cap/4 + one
block), else it is told how long until enough old grants leave the window. The last grant of
any 250 ms window was checked against every grant of that window, so no 250 ms window of the
group's grants exceeds cap/4 + one block, whatever the members' buckets hold, whoever was
descheduled, stopped, killed or gone (its grants stay in the ledger until they are 250 ms old).
The last member to leave removes the ledger (a kill -9 of the last one leaves it: the next
member reuses it; entries from before a reboot, in the future of CLOCK_MONOTONIC, reset it).
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import time

NAME_RE = re.compile(r"^sabo_(\d+)_(\d+)_[^.]*\.lock$")
TMP_RE = re.compile(r"^_sabo_\d+_\d+_[^.]*\.lock$")
RECORD_LEN = 256
WINDOW_US = 250_000
LEDGER_PREFIX = ".sabo-group-"
LEDGER_MAGIC = 0x53414230_4C444731     # "SAB0LDG1"
LEDGER_CAP = 4096                      # entries (grants in 250 ms; beyond: merged into the newest)
LEDGER_HEAD = 8                        # int64 header: magic, tail, head, sum, (reserved)
LEDGER_SIZE = (LEDGER_HEAD + 2 * LEDGER_CAP) * 8


class Member:
    """A peer as published in its lock file."""
    __slots__ = ("name", "bw", "group", "weight", "alloc", "used", "hungry", "pid", "ts")

    def __init__(self, name: str, bw: int):
        self.name = name
        self.bw = bw
        self.group: str | None = None      # None: unknown (upstream member)
        self.weight = 1.0
        self.alloc: float | None = None    # None: unknown
        self.used = 0.0
        self.hungry = True
        self.pid = 0
        self.ts = 0.0                      # wall-clock time of its last refresh (0: unknown)


def encode_record(group: str, bw: int, weight: float, alloc: float, used: float, hungry: bool) -> bytes:
    line = (f"sabo1 group={group.encode().hex()} bw={bw} weight={weight:g} alloc={alloc:.0f} "
            f"used={used:.0f} hungry={int(hungry)} pid={os.getpid()} ts={time.time():.3f}\n").encode()
    return line.ljust(RECORD_LEN, b" ")


def decode_record(name: str, bw: int, data: bytes) -> Member:
    m = Member(name=name, bw=bw)
    line = data.split(b"\n", 1)[0].decode("ascii", "replace")
    parts = line.split()
    if not parts or parts[0] != "sabo1" or "\n" not in data.decode("ascii", "replace"):
        return m
    try:
        kv = dict(p.split("=", 1) for p in parts[1:])
        m.group = bytes.fromhex(kv["group"]).decode()
        m.bw = int(kv["bw"])
        m.weight = float(kv["weight"]) or 1.0
        m.alloc = float(kv["alloc"])
        m.used = float(kv["used"])
        m.hungry = kv["hungry"] == "1"
        m.pid = int(kv["pid"])
        m.ts = float(kv.get("ts", 0))
    except (KeyError, ValueError):
        return Member(name=name, bw=bw)
    return m


def fair_shares(total: float, members: list[tuple[float, float]]) -> list[float]:
    """Weighted max-min fair allocation (water-filling) of `total` among (weight, demand) pairs.
    A member never gets more than its demand; what it leaves is split among the others by weight."""
    n = len(members)
    out = [0.0] * n
    order = sorted(range(n), key=lambda i: members[i][1] / members[i][0])
    remaining = float(total)
    wsum = sum(w for w, _ in members)
    for k, i in enumerate(order):
        w, demand = members[i]
        fair = remaining * w / wsum if wsum > 0 else 0.0
        if demand <= fair:
            out[i] = demand
            remaining -= demand
            wsum -= w
        else:
            for j in order[k:]:
                out[j] = remaining * members[j][0] / wsum
            break
    return out


class Registration:
    """Our own lock file, and the scan of the peers' files."""

    def __init__(self, workdir: str, bw: int):
        self.workdir = workdir
        self.bw = bw
        self.dirfd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
        xid = os.urandom(8).hex()
        tmp = f"_sabo_{bw}_{os.getpid()}_{xid}.lock"
        self.name = f"sabo_{bw}_{os.getpid()}_{xid}.lock"
        self.path = os.path.join(workdir, self.name)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=self.dirfd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, self.name, src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(tmp, dir_fd=self.dirfd)
            except OSError:
                pass
            raise
        self.fd = fd
        self.closed = False
        self.ledger = None               # (name, fd, mmap, int64 view), opened at the first charge
        self.ledger_error: Exception | None = None
        self.gate_waits = 0

    def publish(self, record: bytes) -> None:
        os.pwrite(self.fd, record, 0)

    def lock_dir(self, tries: int = 25) -> bool:
        """Take the group's short critical-section lock (flock on the directory). Gives up after
        about 50 ms, so a member stopped (Ctrl-Z) inside its refresh cannot freeze the others."""
        import time
        for _ in range(tries):
            try:
                fcntl.flock(self.dirfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False
            time.sleep(0.002)
        return False

    def unlock_dir(self) -> None:
        fcntl.flock(self.dirfd, fcntl.LOCK_UN)

    def scan(self) -> list[Member]:
        """Live peers (ourselves excluded); stale files are removed on the way."""
        peers = []
        try:
            names = os.listdir(self.dirfd)
        except OSError:
            return peers
        for name in names:
            if name == self.name:
                continue
            m = NAME_RE.match(name)
            if not m:
                if TMP_RE.match(name):
                    self._remove_if_stale(name, min_age=10.0)
                continue
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.dirfd)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        continue
                    data = os.pread(fd, RECORD_LEN, 0)
                    peers.append(decode_record(name, int(m.group(1)), data))
                else:
                    try:  # stale: its holder is gone
                        os.unlink(name, dir_fd=self.dirfd)
                    except OSError:
                        pass
            finally:
                os.close(fd)
        return peers

    def _remove_if_stale(self, name: str, min_age: float) -> None:
        """An `_sabo_` file left by a process killed between create and rename."""
        import time
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.dirfd)
        except OSError:
            return
        try:
            if time.time() - os.fstat(fd).st_mtime < min_age:
                return
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(name, dir_fd=self.dirfd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- the group budget ----------------------------------------------------------------------
    @staticmethod
    def ledger_name(group: str) -> str:
        h = 0xcbf29ce484222325                  # FNV-1a, 64 bits: no hashlib/zlib import
        for c in group.encode():
            h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        return f"{LEDGER_PREFIX}{h:016x}"

    def _open_ledger(self, group: str):
        import mmap
        name = self.ledger_name(group)
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644, dir_fd=self.dirfd)
        try:
            if os.fstat(fd).st_size < LEDGER_SIZE:
                # blocks allocated now (ENOSPC here, not a SIGBUS on a write to the mapping)
                os.posix_fallocate(fd, 0, LEDGER_SIZE)
            mm = mmap.mmap(fd, LEDGER_SIZE)
        except BaseException:
            os.close(fd)
            raise
        self.ledger = (name, fd, mm, memoryview(mm).cast("q"))

    def charge(self, n: int, now: float, limit: float, group: str, force: bool = False) -> float:
        """Grant n bytes at `now` (CLOCK_MONOTONIC seconds, the same for every process) if the
        group's grants in the 250 ms before, plus n, stay within `limit`: returns 0.0 and
        records it. Otherwise returns the seconds until enough old grants leave the window.
        `force` records the grant whatever the window holds (the last chunk before an exit)."""
        locked = self.lock_dir()
        try:
            if not locked:
                # a member frozen inside the directory lock (a few microseconds long): no safe
                # update of the ledger; grant (documented: the only case the bound may not hold)
                return 0.0
            if self.ledger is None:
                if self.ledger_error is not None:
                    return 0.0
                try:
                    self._open_ledger(group)
                except (OSError, ValueError) as e:   # not writable by us (another user's), full
                    self.ledger_error = e             # disk: the caller warns; no bound then
                    return 0.0
            m = self.ledger[3]
            t = int(now * 1e6)
            tail, head, total = m[1], m[2], m[3]
            if (m[0] != LEDGER_MAGIC or not 0 <= tail <= head or head - tail > LEDGER_CAP
                    or (head > tail and m[LEDGER_HEAD + 2 * ((head - 1) % LEDGER_CAP)] > t + 1_000_000)):
                m[0], tail, head, total = LEDGER_MAGIC, 0, 0, 0     # new, torn, or from before a reboot
            if head > tail:                      # keep time order (clocks read before the lock)
                t = max(t, m[LEDGER_HEAD + 2 * ((head - 1) % LEDGER_CAP)])
            lo = t - WINDOW_US
            while tail < head:
                i = LEDGER_HEAD + 2 * (tail % LEDGER_CAP)
                if m[i] > lo:
                    break
                total -= m[i + 1]
                tail += 1
            if total < 0 or head == tail:
                total = max(total, 0) if head > tail else 0
            if total and total + n > limit and not force:
                excess, acc, j = total + n - limit, 0, tail
                while j < head:
                    i = LEDGER_HEAD + 2 * (j % LEDGER_CAP)
                    acc += m[i + 1]
                    if acc >= excess:
                        break
                    j += 1
                when = m[LEDGER_HEAD + 2 * (min(j, head - 1) % LEDGER_CAP)]
                m[1], m[3] = tail, total
                self.gate_waits += 1
                return max(0.0002, (when + WINDOW_US - t) / 1e6 + 0.00002)
            if head - tail >= LEDGER_CAP:
                # more grants in 250 ms than entries (rates far above 100 MB/s): add to the
                # newest, stamped now: counted longer than it is, never shorter
                i = LEDGER_HEAD + 2 * ((head - 1) % LEDGER_CAP)
                m[i], m[i + 1] = t, m[i + 1] + n
            else:
                i = LEDGER_HEAD + 2 * (head % LEDGER_CAP)
                m[i], m[i + 1] = t, n
                head += 1
            m[1], m[2], m[3] = tail, head, total + n
            return 0.0
        finally:
            if locked:
                self.unlock_dir()

    def ledger_resum(self) -> None:
        """Recompute the window's sum from the entries (a member killed in the middle of an
        update leaves at most one chunk of error; this heals it). The caller holds lock_dir()."""
        if self.ledger is None:
            return
        m = self.ledger[3]
        if m[0] == LEDGER_MAGIC and 0 <= m[1] <= m[2] and m[2] - m[1] <= LEDGER_CAP:
            m[3] = sum(m[LEDGER_HEAD + 2 * (j % LEDGER_CAP) + 1] for j in range(m[1], m[2]))

    def _has_record(self, name: str) -> bool:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.dirfd)
        except OSError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return False                 # stale: its holder is gone
            except OSError:
                pass
            return os.pread(fd, 6, 0) == b"sabo1 "
        except OSError:
            return False
        finally:
            os.close(fd)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        locked = self.lock_dir()
        try:
            try:
                os.unlink(self.name, dir_fd=self.dirfd)
            except OSError:
                pass
            # the last member out removes the ledgers. A member opens the ledger (under this
            # lock) only after it published its record, so "no other file with a record" means
            # nobody holds it open; upstream members (no record) never use it.
            if locked:
                try:
                    names = os.listdir(self.dirfd)
                    if not any(self._has_record(n) for n in names if NAME_RE.match(n)):
                        for n in names:
                            if n.startswith(LEDGER_PREFIX):
                                os.unlink(n, dir_fd=self.dirfd)
                except OSError:
                    pass
        finally:
            if locked:
                self.unlock_dir()
        if self.ledger is not None:
            _, fd, mm, view = self.ledger
            view.release()
            mm.close()
            os.close(fd)
            self.ledger = None
        os.close(self.fd)
        os.close(self.dirfd)
