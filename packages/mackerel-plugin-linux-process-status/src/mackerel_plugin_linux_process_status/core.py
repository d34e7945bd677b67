"""Metrics of one process or of a group of processes, from a /proc snapshot and the state of the
previous run. Pure functions over values, plus `snapshot()` that reads /proc.

State (one JSON object per key-prefix and target, see state.py):
    {"version": 3, "time": epoch, "uptime": s, "syscpu": s, "ncpu": n,
     "procs": {"<pid>": {"start": ticks, "cpu": s, "vcs": n, "nvcs": n, "rb": n, "wb": n}}}
"start" is the process start time (field 22 of /proc/PID/stat): a PID that now belongs to another
process is never diffed against the old one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .procfs import Procfs

FIRST_RUN_NOTICE = "Notice: first time execution command"


@dataclass
class ProcSample:
    pid: int
    start: int                      # ticks after boot
    start_s: float                  # seconds after boot
    cpu: float                      # utime + stime, seconds
    rss: int                        # bytes
    threads: int
    mem_max: int                    # MemTotal, or the cgroup limit when lower
    fds: int | None = None          # None: /proc/PID/fd unreadable
    fd_max: int | None = None       # None: unlimited or unreadable
    fd_error: str | None = None
    vcs: int | None = None
    nvcs: int | None = None
    rb: int | None = None
    wb: int | None = None
    io_error: str | None = None

    def to_state(self) -> dict:
        d = {"start": self.start, "cpu": self.cpu}
        for k in ("vcs", "nvcs", "rb", "wb"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


@dataclass
class Snapshot:
    epoch: int
    uptime: float
    syscpu: float
    ncpu: int
    procs: dict[int, ProcSample] = field(default_factory=dict)

    def to_state(self) -> dict:
        return {"version": 3, "time": self.epoch, "uptime": self.uptime, "syscpu": self.syscpu,
                "ncpu": self.ncpu, "procs": {str(p): s.to_state() for p, s in self.procs.items()}}


def sample_process(fs: Procfs, pid: int, mem_total: int, extended: bool = False) -> ProcSample:
    """Read one process. OSError/ValueError from stat (the process is gone) propagate; the fd
    and io parts are optional (other users' processes need root or CAP_SYS_PTRACE)."""
    st = fs.stat(pid)
    limit = fs.cgroup_memory_limit(pid)
    s = ProcSample(pid=pid, start=st.starttime, start_s=st.start_seconds, cpu=st.cpu_seconds,
                   rss=st.rss_bytes, threads=st.num_threads,
                   mem_max=min(mem_total, limit) if limit else mem_total)
    try:
        s.fds = fs.fd_count(pid)
        s.fd_max = fs.max_open_files(pid)
    except (OSError, ValueError) as e:
        s.fds = None
        s.fd_error = f"{getattr(e, 'filename', None) or fs.path(pid, 'fd')}: " \
                     f"{getattr(e, 'strerror', None) or e}"
    if extended:
        try:
            s.vcs, s.nvcs = fs.ctx_switches(pid)
        except (OSError, ValueError, KeyError):
            pass
        try:
            s.rb, s.wb = fs.io_bytes(pid)
        except (OSError, ValueError, KeyError) as e:
            s.io_error = f"{getattr(e, 'filename', None) or fs.path(pid, 'io')}: " \
                         f"{getattr(e, 'strerror', None) or e}"
    # re-read stat: a process that exited (and whose PID was reused) in between is not mixed
    st2 = fs.stat(pid)
    if st2.starttime != st.starttime:
        raise ProcessLookupError(f"process {pid} was replaced while being read")
    return s


def base_snapshot(fs: Procfs, epoch: int) -> Snapshot:
    syscpu, ncpu = fs.system_cpu()
    return Snapshot(epoch=epoch, uptime=fs.uptime(), syscpu=syscpu, ncpu=ncpu)


@dataclass
class Delta:
    """What the previous state tells about a group of processes."""
    cpu: float | None = None        # Δ process CPU seconds (None: not known this run)
    dt: float | None = None         # Δ seconds of uptime
    dsys: float | None = None       # Δ system CPU seconds
    vcs: float | None = None
    nvcs: float | None = None
    rb: float | None = None
    wb: float | None = None
    notice: str | None = None


def _prev_proc(prev: dict | None, s: ProcSample) -> dict | None:
    if not prev:
        return None
    p = prev.get("procs", {}).get(str(s.pid))
    if p and p.get("start") == s.start:
        return p
    return None


def group_delta(prev: dict | None, snap: Snapshot, group: list[ProcSample],
                count_new: bool) -> Delta:
    """Differences since the previous run for the processes of `group`.

    A process found in the state with the same start time is diffed. One that started after the
    previous run counts with its whole CPU time when `count_new` (groups from --match); otherwise
    (a single PID) the run is a first run for it: a PID reused by another process is detected."""
    d = Delta()
    if not prev or not isinstance(prev.get("procs"), dict):
        d.notice = FIRST_RUN_NOTICE
        return d
    try:
        dt = snap.uptime - float(prev["uptime"])
        dsys = snap.syscpu - float(prev["syscpu"])
    except (KeyError, TypeError, ValueError):
        d.notice = FIRST_RUN_NOTICE
        return d
    if dt < 0 or dsys < 0:  # rebooted since the state was written
        d.notice = FIRST_RUN_NOTICE
        return d
    cpu = 0.0
    known = 0
    counters: dict[str, float] = {"vcs": 0.0, "nvcs": 0.0, "rb": 0.0, "wb": 0.0}
    counters_ok = {k: True for k in counters}
    for s in group:
        p = _prev_proc(prev, s)
        if p is not None:
            dc = s.cpu - float(p.get("cpu", 0.0))
            if dc < 0:
                continue
            cpu += dc
            known += 1
            for k in counters:
                cur, old = getattr(s, k), p.get(k)
                if cur is None or old is None or cur < old:
                    counters_ok[k] = False
                else:
                    counters[k] += cur - old
        elif count_new and s.start_s >= float(prev["uptime"]) - 0.01:
            cpu += s.cpu
            known += 1
            for k in counters:
                cur = getattr(s, k)
                if cur is None:
                    counters_ok[k] = False
                else:
                    counters[k] += cur
        elif not count_new:
            d.notice = (f"Notice: PID {s.pid} now belongs to another process (start time changed); "
                        "CPU from the next run on")
    if known == 0:
        if d.notice is None:
            d.notice = FIRST_RUN_NOTICE
        return d
    d.dt, d.dsys, d.cpu = dt, dsys, cpu
    for k, ok in counters_ok.items():
        if ok:
            setattr(d, k, counters[k])
    return d


def cpu_percentage(delta: Delta, ncpu: int, per_core: bool) -> float | None:
    """Share of all CPUs (upstream), or of one core with per_core; None when no CPU time passed
    (never NaN or Inf)."""
    if delta.cpu is None or not delta.dsys or delta.dsys <= 0:
        return None
    pct = delta.cpu * 100.0 / delta.dsys
    if per_core:
        pct *= max(ncpu, 1)
    return pct


def rate(v: float | None, dt: float | None) -> float | None:
    if v is None or not dt or dt <= 0:
        return None
    return v / dt
