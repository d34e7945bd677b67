"""A tiny fake /proc (and cgroup) tree, for the cases a real system cannot be made to show on
demand: a PID reused by another process, no CPU time passing, exact tick counts."""
from __future__ import annotations

import os
import pathlib


class FakeProc:
    def __init__(self, root: pathlib.Path, ncpu: int = 4, mem_total_kb: int = 8 * 1024 * 1024):
        self.root = root
        self.ncpu = ncpu
        self.mem_total_kb = mem_total_kb
        root.mkdir(parents=True, exist_ok=True)
        self.system(cpu_ticks=(1000, 0, 1000, 8000), uptime=100.0)
        (root / "meminfo").write_text(f"MemTotal:       {mem_total_kb} kB\nMemFree: 1 kB\n")

    def system(self, cpu_ticks: tuple[int, int, int, int], uptime: float,
               iowait: int = 0) -> None:
        user, nice, system, idle = cpu_ticks
        lines = [f"cpu  {user} {nice} {system} {idle} {iowait} 0 0 0 0 0"]
        for i in range(self.ncpu):
            lines.append(f"cpu{i} 1 0 1 1 0 0 0 0 0 0")
        lines += ["intr 1", "ctxt 1", "btime 1700000000", "processes 1"]
        (self.root / "stat").write_text("\n".join(lines) + "\n")
        (self.root / "uptime").write_text(f"{uptime:.2f} {uptime * 3:.2f}\n")

    def process(self, pid: int, *, utime: int, stime: int = 0, start: int, rss_pages: int = 256,
                threads: int = 1, fds: int = 3, nofile: str = "1024", cgroup: str = "0::/\n",
                comm: str = "fake", cmdline: bytes = b"fake\0", ppid: int = 1) -> None:
        d = self.root / str(pid)
        d.mkdir(exist_ok=True)
        fields = ["S", str(ppid), "1", "1", "0", "-1", "4194560", "0", "0", "0", "0",
                  str(utime), str(stime), "0", "0", "20", "0", str(threads), "0", str(start),
                  "1000000", str(rss_pages)] + ["0"] * 28
        (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")
        (d / "limits").write_text(
            "Limit                     Soft Limit           Hard Limit           Units     \n"
            "Max cpu time              unlimited            unlimited            seconds   \n"
            f"Max open files            {nofile:<20} 4096                 files     \n")
        fd = d / "fd"
        fd.mkdir(exist_ok=True)
        for f in fd.iterdir():
            f.unlink()
        for i in range(fds):
            (fd / str(i)).symlink_to("/dev/null")
        (d / "cgroup").write_text(cgroup)
        (d / "cmdline").write_bytes(cmdline)
        (d / "status").write_text(f"Name:\t{comm}\nThreads:\t{threads}\n"
                                  "voluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t2\n")
        (d / "io").write_text("rchar: 1\nwchar: 1\nread_bytes: 4096\nwrite_bytes: 8192\n")

    def remove(self, pid: int) -> None:
        d = self.root / str(pid)
        for p in sorted(d.rglob("*"), key=lambda p: -len(p.parts)):
            p.unlink() if (p.is_file() or p.is_symlink()) else p.rmdir()
        d.rmdir()


def cgroup_limit(root: pathlib.Path, rel: str, value: str, v1: bool = False) -> None:
    d = root / ("memory" if v1 else "") / rel.strip("/")
    d.mkdir(parents=True, exist_ok=True)
    (d / ("memory.limit_in_bytes" if v1 else "memory.max")).write_text(value + "\n")


def pagesize() -> int:
    return os.sysconf("SC_PAGE_SIZE")
