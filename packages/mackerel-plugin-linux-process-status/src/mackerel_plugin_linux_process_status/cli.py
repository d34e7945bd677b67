"""mackerel-plugin-linux-process-status: command line and wiring (see README.md for the design)."""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import signal
import sys
import time

from . import __version__

PROG = "mackerel-plugin-linux-process-status"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _pid(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a process id: {v!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"not a process id: {v!r}")
    return n


def _path(v: str) -> str:
    if not v:
        raise argparse.ArgumentTypeError("empty file name")
    return v


def _regex(v: str) -> re.Pattern:
    try:
        return re.compile(v)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"bad regular expression {v!r}: {e}") from None


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog=PROG, allow_abbrev=False,
        description="Print open files, CPU and memory of a process as mackerel-agent metrics.",
        epilog="Single-dash spellings (-pid, -key-prefix) are accepted too. Exit: 0 ok, "
               "1 the process (or pidfile) could not be read, 2 usage, 130 interrupted.")
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("-p", "--pid", "-pid", type=_pid, metavar="PID", help="process id")
    target.add_argument("--pidfile", "-pidfile", type=_path, metavar="FILE",
                        help="read the process id from FILE")
    target.add_argument("--match", type=_regex, metavar="REGEX",
                        help="every process whose command line matches REGEX (re.search), "
                             "this plugin and its parents excepted; summed unless --per-process")
    ap.add_argument("--key-prefix", "-key-prefix", required=True, metavar="KEY",
                    help="inserted into the metric names")
    ap.add_argument("--per-process", action="store_true",
                    help="with --match: one metric set per process, keyed KEY_<pid>")
    ap.add_argument("--per-core", action="store_true",
                    help="CPU as a share of one core (100 %% = one core busy) instead of all CPUs")
    ap.add_argument("--extended", action="store_true",
                    help="also print threads, context switches/s and read/write bytes/s")
    ap.add_argument("--proc-root", default="/proc", metavar="DIR",
                    help="where procfs is mounted (default /proc)")
    ap.add_argument("--cgroup-root", default="/sys/fs/cgroup", metavar="DIR",
                    help="where the cgroup file system is mounted (default /sys/fs/cgroup)")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


class _Terminated(BaseException):
    pass


def _err(msg: str) -> None:
    sys.stderr.write(f"{PROG}: {msg}\n")


_NOTICES: set[str] = set()


def _notice(msg: str) -> None:
    if msg not in _NOTICES:  # once per run, not once per process of a group
        _NOTICES.add(msg)
        sys.stderr.write(msg + "\n")


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


def _f(v: float) -> str:
    return f"{v:f}"


def group_lines(key: str, group, delta, snap, args, epoch: int) -> list[str]:
    from .core import cpu_percentage, rate

    out: list[str] = []

    def emit(name: str, value: str) -> None:
        out.append(f"process-status.{name}\t{value}\t{epoch}\n")

    # open files: only when every process of the group could be read (a partial sum would lie)
    fd_err = next((s.fd_error for s in group if s.fds is None), None)
    if fd_err:
        _notice(f"Notice: cannot count open files: {fd_err} "
                "(needs root, the same user or CAP_SYS_PTRACE)")
    elif group:
        count = sum(s.fds for s in group)
        emit(f"fds_{key}.count", str(count))
        if all(s.fd_max is not None for s in group):
            fmax = sum(s.fd_max for s in group)
            emit(f"fds_{key}.max", str(fmax))
            if fmax > 0:
                emit(f"fds_usage_{key}.percentage", _f(count * 100.0 / fmax))
    if delta is not None:
        pct = cpu_percentage(delta, snap.ncpu, args.per_core)
        if pct is not None:
            emit(f"cpu_{key}.percentage", _f(pct))
        elif delta.notice:
            _notice(delta.notice)
        else:
            _notice("Notice: no CPU time passed since the last run; CPU from the next run on")
    used = sum(s.rss for s in group)
    mmax = max((s.mem_max for s in group), default=0)
    emit(f"mem_{key}.used", str(used))
    if mmax > 0:  # 0: nothing matched, no limit to report
        emit(f"mem_{key}.max", str(mmax))
        emit(f"mem_usage_{key}.percentage", _f(used * 100.0 / mmax))
    if args.extended:
        emit(f"threads_{key}.count", str(sum(s.threads for s in group)))
        if delta is not None:
            for name, attr in (("ctx_switches_{}.voluntary", "vcs"),
                               ("ctx_switches_{}.nonvoluntary", "nvcs"),
                               ("io_{}.read_bytes", "rb"), ("io_{}.write_bytes", "wb")):
                r = rate(getattr(delta, attr), delta.dt)
                if r is not None:
                    emit(name.format(key), _f(r))
        io_err = next((s.io_error for s in group if s.io_error), None)
        if io_err:
            _notice(f"Notice: cannot read I/O counters: {io_err}")
    return out


def run(args, out) -> int:
    from . import core, state
    from .procfs import Procfs

    _NOTICES.clear()
    if os.environ.get("MACKEREL_AGENT_PLUGIN_META"):
        from .meta import graph_definition
        out.write(graph_definition(args.key_prefix, args.extended, args.match is not None))
        return 0
    fs = Procfs(args.proc_root, args.cgroup_root)
    epoch = int(time.time())
    try:
        snap = core.base_snapshot(fs, epoch)
        mem_total = fs.mem_total()
    except (OSError, ValueError) as e:
        _err(f"cannot read system counters: {getattr(e, 'strerror', None) or e}")
        return 1

    if args.match is not None:
        target = "match-" + hashlib.sha1(args.match.pattern.encode()).hexdigest()[:16]
        if args.per_process:
            target += "-pp"
        try:
            pids = _matching_pids(fs, args.match)
        except OSError as e:
            _err(f"cannot list processes in {fs.root}: {e.strerror}")
            return 1
    else:
        if args.pidfile is not None:
            try:
                pid = _read_pidfile(args.pidfile)
            except OSError as e:
                _err(f"{args.pidfile}: {e.strerror}")
                return 1
            except ValueError as e:
                _err(str(e))
                return 1
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
            return 1
    for s in samples:
        snap.procs[s.pid] = s

    path = state.state_path(args.key_prefix, target)
    prev = state.load(path)

    lines: list[str] = []
    if args.match is not None and args.per_process:
        for s in samples:
            d = core.group_delta(prev, snap, [s], count_new=True)
            lines += group_lines(f"{args.key_prefix}_{s.pid}", [s], d, snap, args, epoch)
    else:
        d = core.group_delta(prev, snap, samples, count_new=args.match is not None)
        lines += group_lines(args.key_prefix, samples, d, snap, args, epoch)
    if args.match is not None:
        lines.append(f"process-status.processes_{args.key_prefix}.count\t{len(samples)}\t{epoch}\n")

    try:
        state.save(path, snap.to_state())
    except OSError as e:
        _err(f"cannot write state {path}: {e.strerror}")
        out.write("".join(lines).encode())
        return 1
    out.write("".join(lines).encode())
    return 0


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the arguments are parsed, before _main's own handler
        return 130


def _main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.per_process and args.match is None:
        ap.error("--per-process needs --match")

    def on_term(signum, frame):
        raise _Terminated

    signal.signal(signal.SIGTERM, on_term)
    out = sys.stdout.buffer
    try:
        rc = run(args, out)
        out.flush()
        return rc
    except KeyboardInterrupt:
        return 130
    except _Terminated:
        return 143
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
