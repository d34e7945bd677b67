"""Readers of /proc and the cgroup file system, over a configurable root so tests (and
containers with the host's /proc mounted elsewhere) can point them at another tree.

Every function returns plain values; errors are the OSError of the file that could not be read
(or ValueError for a file that does not parse).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

try:
    CLK_TCK = os.sysconf("SC_CLK_TCK")
except (ValueError, OSError, AttributeError):  # pragma: no cover
    CLK_TCK = 100
try:
    PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
except (ValueError, OSError, AttributeError):  # pragma: no cover
    PAGE_SIZE = 4096


@dataclass
class ProcStat:
    pid: int
    comm: str
    ppid: int
    utime: int        # clock ticks
    stime: int        # clock ticks
    num_threads: int
    starttime: int    # clock ticks after boot
    rss_pages: int

    @property
    def cpu_seconds(self) -> float:
        return (self.utime + self.stime) / CLK_TCK

    @property
    def start_seconds(self) -> float:
        return self.starttime / CLK_TCK

    @property
    def rss_bytes(self) -> int:
        return self.rss_pages * PAGE_SIZE


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Procfs:
    def __init__(self, root: str = "/proc", cgroup_root: str = "/sys/fs/cgroup"):
        self.root = root.rstrip("/") or "/"
        self.cgroup_root = cgroup_root.rstrip("/") or "/"

    def path(self, *parts) -> str:
        return os.path.join(self.root, *map(str, parts))

    # -- one process ----------------------------------------------------------------------
    def stat(self, pid: int) -> ProcStat:
        data = _read(self.path(pid, "stat")).decode("utf-8", "replace")
        # comm may hold spaces and parentheses: it ends at the last ')'
        head, _, rest = data.rpartition(")")
        comm = head.partition("(")[2]
        f = rest.split()
        if len(f) < 22:
            raise ValueError(f"{self.path(pid, 'stat')}: too few fields")
        # f[0] is field 3 (state) of proc(5); field k is f[k - 3]
        return ProcStat(pid=pid, comm=comm, ppid=int(f[1]), utime=int(f[11]), stime=int(f[12]),
                        num_threads=int(f[17]), starttime=int(f[19]), rss_pages=int(f[21]))

    def fd_count(self, pid: int) -> int:
        return len(os.listdir(self.path(pid, "fd")))

    def max_open_files(self, pid: int) -> int | None:
        """Soft 'Max open files' limit; None when unlimited."""
        for line in _read(self.path(pid, "limits")).decode("ascii", "replace").splitlines():
            if line.startswith("Max open files"):
                soft = line[len("Max open files"):].split()[0]
                return None if soft == "unlimited" else int(soft)
        raise ValueError(f"{self.path(pid, 'limits')}: no 'Max open files' line")

    def status_fields(self, pid: int) -> dict[str, str]:
        out = {}
        for line in _read(self.path(pid, "status")).decode("utf-8", "replace").splitlines():
            k, sep, v = line.partition(":")
            if sep:
                out[k] = v.strip()
        return out

    def ctx_switches(self, pid: int) -> tuple[int, int]:
        st = self.status_fields(pid)
        return int(st["voluntary_ctxt_switches"]), int(st["nonvoluntary_ctxt_switches"])

    def io_bytes(self, pid: int) -> tuple[int, int]:
        vals = {}
        for line in _read(self.path(pid, "io")).decode("ascii", "replace").splitlines():
            k, sep, v = line.partition(":")
            if sep:
                vals[k.strip()] = v.strip()
        return int(vals["read_bytes"]), int(vals["write_bytes"])

    def cmdline(self, pid: int) -> str:
        raw = _read(self.path(pid, "cmdline"))
        return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")

    def pids(self) -> list[int]:
        return sorted(int(n) for n in os.listdir(self.root) if n.isdigit())

    def cgroup_memory_limit(self, pid: int) -> int | None:
        """Smallest memory limit of the process's cgroup and its ancestors (v2 memory.max,
        or v1 memory.limit_in_bytes); None when unlimited or unknown."""
        try:
            lines = _read(self.path(pid, "cgroup")).decode("utf-8", "replace").splitlines()
        except OSError:
            return None
        cands: list[tuple[str, str]] = []
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            hid, controllers, path = parts
            if hid == "0" and controllers == "":
                cands.append((self.cgroup_root, path))
                continue
            if "memory" in controllers.split(","):
                cands.append((os.path.join(self.cgroup_root, "memory"), path))
        best: int | None = None
        for base, path in cands:
            fname = "memory.max" if base == self.cgroup_root else "memory.limit_in_bytes"
            d = os.path.normpath(os.path.join(base, path.lstrip("/")))
            while True:
                try:
                    v = _read(os.path.join(d, fname)).decode().strip()
                    if v and v != "max":
                        n = int(v)
                        if n > 0 and (best is None or n < best):
                            best = n
                except (OSError, ValueError):
                    pass
                if d == base or len(d) <= len(base):
                    break
                d = os.path.dirname(d)
        return best

    # -- the system -------------------------------------------------------------------------
    def system_cpu(self) -> tuple[float, int]:
        """(user + nice + system + idle of all CPUs in seconds, number of CPUs), as upstream:
        iowait, irq, softirq and steal are left out of the total."""
        total = None
        ncpu = 0
        for line in _read(self.path("stat")).decode("ascii", "replace").splitlines():
            if line.startswith("cpu "):
                f = line.split()
                total = sum(int(x) for x in f[1:5]) / CLK_TCK
            elif re.match(r"cpu\d+ ", line):
                ncpu += 1
        if total is None:
            raise ValueError(f"{self.path('stat')}: no cpu line")
        return total, max(ncpu, 1)

    def mem_total(self) -> int:
        for line in _read(self.path("meminfo")).decode("ascii", "replace").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
        raise ValueError(f"{self.path('meminfo')}: no MemTotal")

    def uptime(self) -> float:
        return float(_read(self.path("uptime")).split()[0])
