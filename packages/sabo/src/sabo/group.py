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

The group budget (the hard bound): from offset 4096 each lock file holds its member's *grant
ring*, 512 entries of (CLOCK_MONOTONIC in microseconds, bytes granted). Before every write a
member charges the chunk through `Registration.charge()`: under the directory flock it sums the
grants of every member of the group (its own and the others' rings) of the last 250 ms, and
grants only when that sum plus the chunk stays within the limit (cap/4 + one block). The last
grant of any 250 ms window was checked against all the grants of that window, so whatever the
members' buckets hold, whoever was descheduled or stopped, no 250 ms window of grants exceeds
cap/4 + one block. A member killed by -9 leaves its ring in its (stale) file: its last grants
still count until the file is removed.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import struct
import time
from collections import deque

NAME_RE = re.compile(r"^sabo_(\d+)_(\d+)_[^.]*\.lock$")
TMP_RE = re.compile(r"^_sabo_\d+_\d+_[^.]*\.lock$")
RECORD_LEN = 256
RING_OFF = 4096           # the grant ring, after the record
RING = 512                # entries of (CLOCK_MONOTONIC in us, bytes): grants of the last 250 ms
WINDOW_US = 250_000


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
            os.ftruncate(fd, RING_OFF + RING * 16)     # an empty ring (zeros) before peers see it
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
        self.ring_next = 0               # our grant ring in the file: next entry to write
        self.own: deque = deque()        # our grants in the window, oldest first: (us, bytes, entry)
        self.own_sum = 0
        self.ring_fds: dict[str, int] = {}   # the group's other members: their files, open
        self._dir_key: int | None = None
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
    def gate_peers(self, group: str, force: bool = False) -> None:
        """Keep open the files of the members that may be in our group: those whose record names
        our group, or no group yet (just started; an upstream member has no ring and counts 0).
        Re-read when the directory changed (its mtime), and on every refresh (`force`)."""
        try:
            key = os.fstat(self.dirfd).st_mtime_ns
        except OSError:
            return
        # a change within the same clock tick as the last look may not move the mtime: look again
        if not force and key == self._dir_key and time.time() - key / 1e9 > 0.05:
            return
        self._dir_key = key
        try:
            names = {n for n in os.listdir(self.dirfd) if n != self.name and NAME_RE.match(n)}
        except OSError:
            return
        for name in list(self.ring_fds):
            if name not in names:
                os.close(self.ring_fds.pop(name))
        for name in names:
            fd = self.ring_fds.get(name)
            if fd is None:
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.dirfd)
                except OSError:
                    continue
            try:
                rec = decode_record(name, 0, os.pread(fd, RECORD_LEN, 0))
            except OSError:
                rec = None
            if rec is None or (rec.group is not None and rec.group != group):
                os.close(fd)
                self.ring_fds.pop(name, None)
            else:
                self.ring_fds[name] = fd

    def _grants(self, lo: int) -> list:
        """(time in us, bytes) of the other members' grants after `lo` (us)."""
        out = []
        for fd in self.ring_fds.values():
            try:
                data = os.pread(fd, RING * 16, RING_OFF)
            except OSError:
                continue
            if len(data) < RING * 16:      # an upstream member, or a file being created
                continue
            a = memoryview(data).cast("q")
            out += [(t, b) for t, b in zip(a[0::2].tolist(), a[1::2].tolist()) if t > lo and b > 0]
        return out

    def charge(self, n: int, now: float, limit: float, group: str) -> float:
        """Grant n bytes at `now` (CLOCK_MONOTONIC seconds, the same for every process) if the
        group's grants in the 250 ms before, plus n, stay within `limit`: returns 0.0 and
        records it. Otherwise returns the seconds until enough old grants leave the window."""
        t = int(now * 1e6)
        lo = t - WINDOW_US
        own = self.own
        while own and own[0][0] <= lo:
            self.own_sum -= own.popleft()[1]
        locked = self.lock_dir()
        try:
            self.gate_peers(group)
            grants = self._grants(lo)
            total = self.own_sum + sum(b for _, b in grants)
            if total and total + n > limit:
                grants = sorted(grants + [(g[0], g[1]) for g in own])
                excess, acc, when = total + n - limit, 0, t
                for when, b in grants:
                    acc += b
                    if acc >= excess:
                        break
                self.gate_waits += 1
                return max(0.0002, (when + WINDOW_US) / 1e6 - now + 0.00002)
            if len(own) >= RING:
                # more grants in the window than ring entries (rates far above 100 MB/s): add
                # to the newest entry, stamped now: counted longer than it is, never shorter
                t0, b0, i = own.pop()
                self.own_sum -= b0
                n += b0
            else:
                i = self.ring_next
                self.ring_next = (i + 1) % RING
            os.pwrite(self.fd, struct.pack("=qq", t, n), RING_OFF + 16 * i)
            own.append((t, n, i))
            self.own_sum += n
            return 0.0
        finally:
            if locked:
                self.unlock_dir()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fd in self.ring_fds.values():
            os.close(fd)
        self.ring_fds = {}
        try:
            os.unlink(self.name, dir_fd=self.dirfd)
        except OSError:
            pass
        os.close(self.fd)
        os.close(self.dirfd)
