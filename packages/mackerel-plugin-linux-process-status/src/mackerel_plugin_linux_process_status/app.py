"""One run of mackerel-plugin-linux-process-status: sample the process(es), print the metrics,
then save the counters for the next run's rates (mackerel-plugin-helper)."""
from __future__ import annotations

import hashlib
import os
import re

from mackerel_plugin_helper.graphs import graph
from mackerel_plugin_helper.metrics import Metrics
from mackerel_plugin_helper.runner import publish, say

PROG = "mackerel-plugin-linux-process-status"
FAILURE = 2         # the process, the pidfile or the state cannot be read/written (CRITICAL)


def graphs(args) -> dict:
    """The graph definitions printed when MACKEREL_AGENT_PLUGIN_META is set."""
    key = args.key_prefix
    g = {
        f"process-status.fds_{key}": graph(f"Process {key} open files", "integer",
                                           [("count", "Count"), ("max", "Max")]),
        f"process-status.fds_usage_{key}": graph(f"Process {key} open files usage", "percentage",
                                                 [("percentage", "Usage")]),
        f"process-status.cpu_{key}": graph(f"Process {key} CPU", "percentage", [("percentage", "CPU")]),
        f"process-status.mem_{key}": graph(f"Process {key} memory", "bytes", [("used", "Used"), ("max", "Max")]),
        f"process-status.mem_usage_{key}": graph(f"Process {key} memory usage", "percentage",
                                                 [("percentage", "Usage")]),
    }
    if args.extended:
        g[f"process-status.threads_{key}"] = graph(f"Process {key} threads", "integer", [("count", "Threads")])
        g[f"process-status.ctx_switches_{key}"] = graph(
            f"Process {key} context switches/s", "float",
            [("voluntary", "Voluntary"), ("nonvoluntary", "Non-voluntary")])
        g[f"process-status.io_{key}"] = graph(f"Process {key} I/O", "bytes/sec",
                                              [("read_bytes", "Read"), ("write_bytes", "Write")])
    if args.match is not None:
        g[f"process-status.processes_{key}"] = graph(f"Process {key} count", "integer", [("count", "Processes")])
    return g


def _err(msg: str) -> None:
    say(f"{PROG}: {msg}")


_NOTICES: set[str] = set()


def _notice(msg: str) -> None:
    if msg not in _NOTICES:  # once per run, not once per process of a group
        _NOTICES.add(msg)
        say(msg)


def _ancestors(fs, pid: int) -> set[int]:
    out = {pid}
    for _ in range(256):
        try:
            pid = fs.stat(pid).ppid
        except (OSError, ValueError):
            break
        if pid <= 0 or pid in out:
            break
        out.add(pid)
    return out


def _matching_pids(fs, rx: re.Pattern) -> list[int]:
    skip = _ancestors(fs, os.getpid())
    out = []
    for pid in fs.pids():
        if pid in skip:
            continue
        try:
            cmd = fs.cmdline(pid)
            if not cmd:
                cmd = f"[{fs.stat(pid).comm}]"  # kernel threads, zombies
        except (OSError, ValueError):
            continue
        if rx.search(cmd):
            out.append(pid)
    return out


def _read_pidfile(path: str) -> int:
    with open(path, "rb") as f:
        tok = f.read(64).split()
    if not tok or not tok[0].isdigit() or int(tok[0]) <= 0:
        raise ValueError(f"{path}: no process id in the file")
    return int(tok[0])


def add_group(m: Metrics, key: str, group, delta, snap, args) -> None:
    """The metrics of one process or group: counts as whole numbers (as upstream), the rest %f."""
    from .core import cpu_percentage, rate

    def emit(name: str, value, integer: bool = False) -> None:
        m.add(f"process-status.{name}", value, integer=integer)

    # open files: only when every process of the group could be read (a partial sum would lie)
    fd_err = next((s.fd_error for s in group if s.fds is None), None)
    if fd_err:
        _notice(f"Notice: cannot count open files: {fd_err} "
                "(needs root, the same user or CAP_SYS_PTRACE)")
    elif group:
        count = sum(s.fds for s in group)
        emit(f"fds_{key}.count", count, True)
        if all(s.fd_max is not None for s in group):
            fmax = sum(s.fd_max for s in group)
            emit(f"fds_{key}.max", fmax, True)
            if fmax > 0:
                emit(f"fds_usage_{key}.percentage", count * 100.0 / fmax)
    if delta is not None:
        pct = cpu_percentage(delta, snap.ncpu, args.per_core)
        if pct is not None:
            emit(f"cpu_{key}.percentage", pct)
        elif delta.notice:
            _notice(delta.notice)
        else:
            _notice("Notice: no CPU time passed since the last run; CPU from the next run on")
    used = sum(s.rss for s in group)
    mmax = max((s.mem_max for s in group), default=0)
    emit(f"mem_{key}.used", used, True)
    if mmax > 0:  # 0: nothing matched, no limit to report
        emit(f"mem_{key}.max", mmax, True)
        emit(f"mem_usage_{key}.percentage", used * 100.0 / mmax)
    if args.extended:
        emit(f"threads_{key}.count", sum(s.threads for s in group), True)
        if delta is not None:
            for name, attr in (("ctx_switches_{}.voluntary", "vcs"),
                               ("ctx_switches_{}.nonvoluntary", "nvcs"),
                               ("io_{}.read_bytes", "rb"), ("io_{}.write_bytes", "wb")):
                r = rate(getattr(delta, attr), delta.dt)
                if r is not None:
                    emit(name.format(key), r)
        io_err = next((s.io_error for s in group if s.io_error), None)
        if io_err:
            _notice(f"Notice: cannot read I/O counters: {io_err}")


def collect(args, out) -> int:
    from . import core, state
    from .procfs import Procfs

    _NOTICES.clear()
    fs = Procfs(args.proc_root, args.cgroup_root)
    m = Metrics()
    epoch = m.epoch
    try:
        snap = core.base_snapshot(fs, epoch)
        mem_total = fs.mem_total()
    except (OSError, ValueError) as e:
        _err(f"cannot read system counters: {getattr(e, 'strerror', None) or e}")
        return FAILURE

    if args.match is not None:
        target = "match-" + hashlib.sha1(args.match.pattern.encode()).hexdigest()[:16]
        if args.per_process:
            target += "-pp"
        try:
            pids = _matching_pids(fs, args.match)
        except OSError as e:
            _err(f"cannot list processes in {fs.root}: {e.strerror}")
            return FAILURE
    else:
        if args.pidfile is not None:
            try:
                pid = _read_pidfile(args.pidfile)
            except OSError as e:
                _err(f"{args.pidfile}: {e.strerror}")
                return FAILURE
            except ValueError as e:
                _err(str(e))
                return FAILURE
        else:
            pid = args.pid
        target = str(pid)
        pids = [pid]

    samples = []
    for pid in pids:
        try:
            samples.append(core.sample_process(fs, pid, mem_total, args.extended))
        except (OSError, ValueError) as e:
            if args.match is not None:
                continue  # exited while we looked
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            if isinstance(e, FileNotFoundError):
                reason = "no such process"
            _err(f"cannot read process {pid}: {reason}")
            return FAILURE
    for s in samples:
        snap.procs[s.pid] = s

    path = state.state_path(args.key_prefix, target)
    prev = state.load(path)

    if args.match is not None and args.per_process:
        for s in samples:
            d = core.group_delta(prev, snap, [s], count_new=True)
            add_group(m, f"{args.key_prefix}_{s.pid}", [s], d, snap, args)
    else:
        d = core.group_delta(prev, snap, samples, count_new=args.match is not None)
        add_group(m, args.key_prefix, samples, d, snap, args)
    if args.match is not None:
        m.add(f"process-status.processes_{args.key_prefix}.count", len(samples), integer=True)

    failed = []

    def commit() -> None:          # after the metrics were delivered: the counters move now
        try:                       # (never called with --dry-run: the state stays as it is)
            state.save(path, snap.to_state())
        except OSError as e:
            _err(f"cannot write state {path}: {e.strerror}")
            failed.append(path)
    publish(PROG, out, m, commit)
    return FAILURE if failed else 0
