"""--parallel N: run generation in N processes (the parent and N-1 forked workers) over byte
ranges of regular files.

What goes in: the opened input files (regular, uncompressed; otherwise the caller sorts in one
process). The inputs, taken as one concatenation, are cut into N byte ranges of about equal size,
each cut moved forward to the next line start. A process counts the newlines before its cut only
when one of its messages needs a line number (LineBase), so error messages and warnings name the
real FILE:LINE and a sort without them does not read the file twice.

What comes out: the parent sorts the first range itself (kept in memory when it fits: no run file
written and read back); worker k reads range k (pread on the inherited descriptor), decodes the
keys, builds sorted runs exactly as the one-process sort does (a buffer of the capacity each) and
passes the anonymous run files to the parent over a Unix socket (SCM_RIGHTS), with its counts,
its first warning and any error. The parent puts the runs in range order, so the final k-way
merge (sort.Sorter) keeps ties in input order: the sort stays stable.

State and cleanup: runs are anonymous files (O_TMPFILE): they vanish with the last descriptor,
whatever happens. Workers set PR_SET_PDEATHSIG first (SIGKILL when the parent dies, `kill -9`
included), ignore SIGINT (the parent handles Ctrl-C for all) and die on SIGTERM. The parent kills
and reaps its workers on every exit path (error, SIGINT, SIGTERM). Messages of the workers are
printed by the parent, in input order, after they finish.
"""
from __future__ import annotations

import io
import os
import signal
import stat
import struct
import sys

from .records import DataError
from .sort import MemRun, Run, TempError

MIN_BYTES_PER_WORKER = 1 << 20   # below this a process costs more than it saves
_HDR = struct.Struct("<QI")      # payload length, number of descriptors that follow
_MAXFDS = 200                    # per SCM_RIGHTS message (the kernel allows 253)


def eligible(files) -> bool:
    """Only regular, uncompressed files can be cut into byte ranges (stdin and .gz: one process)."""
    for name in files or ["-"]:
        if name == "-" or name.endswith(".gz"):
            return False
        try:
            if not stat.S_ISREG(os.stat(name).st_mode):
                return False
        except OSError:
            pass  # reported when it is opened
    return True


def total_size(files) -> int:
    """The bytes of the FILEs, from stat (no file is opened)."""
    n = 0
    for name in files:
        try:
            n += os.stat(name).st_size
        except OSError:
            pass
    return n


def default_workers() -> int:
    """The CPUs this process may run on, at most 8 (as GNU sort)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def plan(sources, n: int, min_bytes: int | None = None, min_total: int = 0):
    """Cut the opened sources [(name, f)] into at most n ranges of whole lines.
    -> list (one per worker) of segment lists [(name, fd, start, end or None, lineno0)], or None
    when the input is too small to be worth it (under min_bytes per worker, or min_total).
    lineno0: the lines before start, an int or a LineBase (counted when first called)."""
    if min_bytes is None:
        min_bytes = MIN_BYTES_PER_WORKER
    sizes = [os.fstat(f.fileno()).st_size for _, f in sources]
    total = sum(sizes)
    if total <= min_total:
        return None
    n = min(n, total // max(1, min_bytes))
    if n < 2:
        return None
    # cuts in the concatenated offset space, each moved to the next line start of its file
    cuts = []   # (file index, offset)
    for k in range(1, n):
        g = total * k // n
        i = 0
        while i < len(sizes) - 1 and g >= sizes[i]:
            g -= sizes[i]
            i += 1
        fd = sources[i][1].fileno()
        off = _line_start(fd, g, sizes[i])
        if cuts and (i, off) < cuts[-1]:
            i, off = cuts[-1]
        cuts.append((i, off))
    # line numbers at the cuts: counted only if a message needs one (LineBase)
    linenos = [LineBase(sources[i][1].fileno(), off) if off else 0 for i, off in cuts]
    bounds = [((0, 0), 0)] + list(zip(cuts, linenos, strict=False)) + [((len(sizes) - 1, None), None)]
    workers = []
    for k in range(n):
        (i0, s0), ln0 = bounds[k]
        (i1, s1), _ = bounds[k + 1]
        segs = []
        for i in range(i0, i1 + 1):
            start = s0 if i == i0 else 0
            end = s1 if i == i1 else None  # None: to the end of the file (it may have grown)
            if end is not None and end <= start:
                continue
            name, f = sources[i]
            segs.append((name, f.fileno(), start, end, ln0 if i == i0 else 0))
        workers.append(segs)
    return workers


def _line_base(ex, lineno0) -> int:
    """The lineno0 to read a segment with: a LineBase goes to the extractor, which adds it to
    the line numbers of its messages (the segment is read from 0)."""
    if isinstance(lineno0, LineBase):
        ex.line_base = lineno0
        return 0
    ex.line_base = None
    return lineno0


class LineBase:
    """The number of lines before byte `off` of a file (the line number base of a range that
    starts there), counted on the first call only: a range's messages name the real FILE:LINE,
    and a sort without messages never reads the file up to the cut a second time."""

    def __init__(self, fd, off):
        self.fd, self.off, self.n = fd, off, None

    def __call__(self) -> int:
        if self.n is None:
            self.n = _count_newlines(self.fd, 0, self.off)
        return self.n


def _line_start(fd, off, size) -> int:
    """The first line start at or after `off` (the file size if none)."""
    if off <= 0:
        return 0
    pos = off - 1
    while pos < size:
        chunk = os.pread(fd, 1 << 16, pos)
        if not chunk:
            break
        j = chunk.find(b"\n")
        if j >= 0:
            return pos + j + 1
        pos += len(chunk)
    return size


def _count_newlines(fd, start, end) -> int:
    n = 0
    pos = start
    while pos < end:
        chunk = os.pread(fd, min(1 << 22, end - pos), pos)
        if not chunk:
            break
        n += chunk.count(b"\n")
        pos += len(chunk)
    return n


class RangeReader:
    """A read() over [start, end) of a descriptor, by pread (the offset is not shared)."""

    def __init__(self, fd, start, end):
        self.fd, self.pos, self.end = fd, start, end

    def read(self, n):
        if self.end is not None:
            n = min(n, self.end - self.pos)
            if n <= 0:
                return b""
        data = os.pread(self.fd, n, self.pos)
        self.pos += len(data)
        return data

    def unread(self, n):
        """The next read starts n bytes earlier (records.iter_blocks: the partial last line)."""
        self.pos -= n

    def close(self):
        pass


class SharedProgress:
    """Lines read by all workers, in a shared page; worker 0 shows the total on a terminal."""

    def __init__(self, shm, k, n, show):
        self.shm, self.k, self.n_workers, self.on = shm, k, n, show
        self.n = 0
        self.shown = 0

    def add(self, n):
        self.n += n
        struct.pack_into("<q", self.shm, 8 * self.k, self.n)
        if self.on:
            total = sum(struct.unpack_from(f"<{self.n_workers}q", self.shm))
            if total - self.shown >= 200_000:
                self.shown = total
                sys.stderr.write(f"\rjlsort: {total:,} lines read")
                sys.stderr.flush()

    def done(self):
        pass


def generate(workers, sorter, ex, stats, rc, progress, block_bytes, blocks_fn):
    """Sort the first range here and the others in forked workers; on return sorter.runs holds
    all runs in input order. Worker messages are printed here in input order (after those of
    the first range, printed as they come); the earliest error is raised here."""
    import mmap
    import pickle  # noqa: F401  (imported once here: every forked worker pickles its result)
    import socket  # here, not at start-up: only a parallel sort needs it
    n = len(workers)
    shm = mmap.mmap(-1, 8 * n)
    show = progress.on
    per_cap = sorter.capacity  # each process has a buffer of the capacity (like -c per chunk)
    parent = os.getpid()
    prctl = _prctl()
    procs = []   # (pid, parent socket)
    # each process leaves at most its share of the fan-in: the parent merges them all at once
    sorter.final_limit = max(1, sorter.fan() // n)
    try:
        for k in range(1, n):
            a, b = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # the worker
                code = 1
                try:
                    a.close()
                    for _, s in procs:
                        s.close()
                    code = _worker(b, parent, prctl, workers[k], sorter, per_cap, ex, stats,
                                   SharedProgress(shm, k, n, False), block_bytes, blocks_fn)
                finally:
                    os._exit(code)
            b.close()
            procs.append((pid, a))
        # the first range, here: its messages come first in input order anyway
        own = SharedProgress(shm, 0, n, show)
        for name, fd, start, end, lineno0 in workers[0]:
            reader = RangeReader(fd, start, end)
            for kept, comps, _, _, nbytes in blocks_fn(name, reader, ex, own, rc, block_bytes,
                                                        _line_base(ex, lineno0)):
                sorter.add(kept, comps, nbytes, ex.last_str)
        ex.line_base = None
        if sorter.runs:
            if sorter.pending():
                sorter.spill()
            runs = sorter.runs
        elif sorter.pending():
            keys, items, counts, kinds, _ = sorter.take_entries()
            runs = [MemRun(keys, items, counts, kinds)]
            del keys, items
        else:
            runs = []
        sorter.runs = []
        error = None
        for pid, s in procs:
            res, fds = _receive(s, pid)
            s.close()
            if res is None:
                error = TempError(f"a worker process failed ({_status(pid)})")
                break
            for line in res["stderr"].splitlines():
                print(line, file=sys.stderr)
            _merge_stats(stats, res["stats"], res["warning"])
            if res["rc"]:
                rc[0] = res["rc"]
            if res["error"]:
                kind, msg = res["error"]
                error = (DataError if kind == "data" else TempError)(msg)
                for fd in fds:
                    os.close(fd)
                break
            if not sorter.block_records:
                sorter.block_records = res["block_records"]
            for fd, (count, kinds, level, entries) in zip(fds, res["runs"], strict=False):
                runs.append(Run(os.fdopen(fd, "r+b", buffering=1 << 16), count, kinds, level,
                                entries))
        if show:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
        if error is not None:
            for r in runs:
                r.close()
            raise error
        sorter.runs = runs
        sorter.final_limit = None
    finally:
        for _, s in procs:
            try:
                s.close()
            except OSError:
                pass
        _reap([pid for pid, _ in procs])
        shm.close()


def _status(pid) -> str:
    try:
        _, st = os.waitpid(pid, 0)
    except ChildProcessError:
        return "no status"
    if os.WIFSIGNALED(st):
        return f"killed by signal {os.WTERMSIG(st)}"
    return f"exit status {os.waitstatus_to_exitcode(st)}"


def _reap(pids):
    """Kill (if still running) and wait for every worker: none outlives the parent."""
    for pid in pids:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done == 0:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _merge_stats(stats, w, warning):
    if warning and stats.first_invalid is None:
        print(warning, file=sys.stderr)
    stats.invalid += w["invalid"]
    stats.first_invalid = stats.first_invalid or w["first_invalid"]
    stats.missing += w["missing"]
    stats.missing_skipped += w["missing_skipped"]
    stats.invalid_skipped += w["invalid_skipped"]
    stats.first_missing = stats.first_missing or w["first_missing"]


def _recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _receive(s, pid):
    """-> (result dict, run descriptors), or (None, []) when the worker died without a result."""
    import socket
    head = _recv_exact(s, _HDR.size)
    if head is None:
        return None, []
    size, nfds = _HDR.unpack(head)
    fds = []
    while len(fds) < nfds:
        want = min(_MAXFDS, nfds - len(fds))
        msg, got, flags, _ = socket.recv_fds(s, 1, want)
        if not msg:
            break
        fds += got
        if flags & getattr(socket, "MSG_CTRUNC", 8):
            break
    payload = _recv_exact(s, size)
    if payload is None or len(fds) != nfds:
        for fd in fds:
            os.close(fd)
        return None, []
    import pickle
    return pickle.loads(payload), fds


def _prctl():
    """libc's prctl, loaded in the parent before the forks: a worker calls it at once (an import
    of ctypes in the worker left a window in which the parent's death went unnoticed)."""
    try:
        import ctypes
        f = ctypes.CDLL(None, use_errno=True).prctl
        f.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        return f
    except (OSError, AttributeError, ImportError):
        return None


def _pdeathsig(prctl):
    """SIGKILL this process when its parent dies (Linux prctl PR_SET_PDEATHSIG = 1)."""
    if prctl is not None:
        prctl(1, int(signal.SIGKILL), 0, 0, 0)


def _worker(sock, parent, prctl, segs, sorter, capacity, ex, stats, progress, block_bytes,
            blocks_fn):
    _pdeathsig(prctl)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if os.getppid() != parent:  # the parent died before prctl
        return 1
    err_capture = io.StringIO()
    sys.stderr = err_capture
    stats.defer = True
    sorter.capacity = capacity
    rc = [0]
    result = {"error": None, "runs": [], "block_records": 0}
    runs = []
    try:
        for name, fd, start, end, lineno0 in segs:
            reader = RangeReader(fd, start, end)
            for kept, comps, _, _, nbytes in blocks_fn(name, reader, ex, progress, rc, block_bytes,
                                                        _line_base(ex, lineno0)):
                sorter.add(kept, comps, nbytes, ex.last_str)
        sorter.finish_runs()
        runs = sorter.runs
        result["runs"] = [(r.count, r.kinds, r.level, r.entries) for r in runs]
        result["block_records"] = sorter.block_records
    except DataError as e:
        result["error"] = ("data", str(e))
    except TempError as e:
        result["error"] = ("temp", str(e))
    except OSError as e:
        result["error"] = ("temp", f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
    except Exception as e:  # noqa: BLE001 - reported by the parent, which exits 1
        result["error"] = ("temp", f"a worker process failed: {type(e).__name__}: {e}")
    if result["error"]:
        runs = []
        result["runs"] = []
    result["rc"] = rc[0]
    result["stderr"] = err_capture.getvalue()
    result["warning"] = stats.first_warning
    result["stats"] = {k: getattr(stats, k) for k in
                       ("invalid", "first_invalid", "missing", "missing_skipped", "invalid_skipped",
                        "first_missing")}
    import socket
    import pickle
    payload = pickle.dumps(result, 5)
    fds = [r.f.fileno() for r in runs]
    sock.sendall(_HDR.pack(len(payload), len(fds)))
    for i in range(0, len(fds), _MAXFDS):
        socket.send_fds(sock, [b"F"], fds[i:i + _MAXFDS])
    sock.sendall(payload)
    sock.close()
    return 0
