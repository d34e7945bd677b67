"""qrn's run: replay the statements of JSON Lines files (one object per line, the SQL under a key)
from N agents at a controlled rate, and print upstream qrn's JSON report.

Everything that is not about reading the data files is qlap's: the connections (runner.connect,
MYSQL_PWD via dsn.py), the agents, their worker processes and the open-loop rate limiter
(runner.Coordinator / Agent, given a statement source per agent through Plan.source), the
latency statistics (stats.py), the additions of the report (report.additions), the server's
counters (report.server_status) and the progress line (progress.py). PyMySQL is imported only
after the arguments were accepted.
"""
from __future__ import annotations

import functools
import gzip
import heapq
import io
import json
import os
import re
import signal
import sys
import time

PROG = "qrn"
EXIT_OK, EXIT_FAILURE = 0, 1
MEM_MAX = 8 << 20            # a data file up to this size is read into memory (per agent)
CACHE_MAX = 1 << 16            # raw line -> (sql, fingerprint id): a looped file is parsed once
MAX_FINGERPRINTS = 10_000      # distinct fingerprints kept per agent; the rest are "(other)"
T_COMMIT_NAME = "COMMIT"
_BAD = ()                      # cached verdict of an invalid line: counted once, skipped after

_FP_TOKEN = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|\b0x[0-9a-fA-F]+\b|"
                       r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b|\s+")
_FP_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")


def fingerprint(sql: str) -> str:
    """The statement with its literals (strings, numbers) replaced by ?, lists of them by (?+),
    white space collapsed, comments of the /* */ kind dropped, lower case: the shape of a query
    (pt-fingerprint's idea), so that latency can be summed per shape."""
    s = sql.strip().rstrip(";").strip()
    if "/*" in s:
        s = re.sub(r"/\*(?!!).*?\*/", " ", s, flags=re.S)
    s = _FP_TOKEN.sub(lambda m: " " if m.group(0)[0].isspace() else "?", s)
    s = _FP_LIST.sub("(?+)", s)
    return s.strip().lower()


def open_data(path: str):
    """(binary file, size or None): a .gz file decompressed on the fly (not seekable: no random
    start), any other file as it is."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb"), None
    f = open(path, "rb", buffering=1 << 16)
    try:
        size = os.fstat(f.fileno()).st_size
    except OSError:
        size = None
    return f, size


class SlowLog:
    """-log FILE: one JSON line {"query", "time" (ns), "timestamp"} per statement that took at
    least -logtime. Each agent appends whole lines with O_APPEND writes of many lines at once, so
    agents in different processes never interleave inside a line."""

    def __init__(self, path: str):
        self.path = path
        self.fd = -1
        self.buf: list[str] = []

    def add(self, sql: str, dur_ns: int) -> None:
        from .gofmt import rfc3339nano
        self.buf.append(json.dumps({"query": sql, "time": dur_ns, "timestamp": rfc3339nano(time.time_ns())},
                                   ensure_ascii=False) + "\n")
        if len(self.buf) >= 256:
            self.flush()

    def flush(self) -> None:
        if not self.buf:
            return
        data = "".join(self.buf).encode("utf-8", "surrogateescape")
        self.buf = []
        if self.fd < 0:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        mv = memoryview(data)
        while mv:
            mv = mv[os.write(self.fd, mv):]

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class LineSource:
    """One agent's statements: the lines of one data file, each a JSON object holding the SQL
    under `key`. Blank lines and `//` comment lines are skipped; a line that is not such an
    object is counted (the first one of each agent is shown on stderr with its line number).
    At the end of the file: rewind and count a loop (`loop`), or end. With `random_start` the
    agent starts at a random byte offset (the partial line there is skipped); with
    `commit_rate` N a COMMIT follows every N statements (the connection has autocommit off)."""

    def __init__(self, path: str, display: str, key: str, loop: bool, random_start: bool, rng,
                 commit_rate: int = 0, slowlog: SlowLog | None = None, data: bytes | None = None):
        self.path, self.display, self.key = path, display, key
        self.loop = loop
        if data is not None:
            self.f, size = io.BytesIO(data), len(data)
        else:
            self.f, size = open_data(path)
        self.readline = self.f.readline
        self.lineno = 0
        self.loops = 0
        self.invalid = 0
        self.commit_rate = commit_rate
        self.since_commit = 0
        self.cache: dict = {}
        self.fps: dict[str, int] = {}
        self.names: list[str] = []
        self.commit_fid = self._fid(T_COMMIT_NAME) if commit_rate else 0
        self.slowlog = slowlog
        self._raw = b""
        self.got = 0                   # statements since the pass started at offset 0
        self.whole_pass = True         # the current pass started at the first line
        if data is None and size is not None and size <= MEM_MAX and not path.endswith(".gz"):
            data = self.f.read()
        if data is not None:
            # a small file: its lines in a list, each parsed once, walked by index (the load loop's
            # cheapest path: no read, no hashing per statement)
            self.f.close()
            self.lines = data.split(b"\n")
            if self.lines and not self.lines[-1]:
                self.lines.pop()
            self.items: list = [None] * len(self.lines)
            self.pos = rng.randrange(len(self.lines)) if random_start and self.lines else 0
            self.whole_pass = self.pos == 0
            self.next = self._next_mem
            return
        self.lines = None
        if random_start and size:
            off = rng.randrange(size)
            if off:
                self.f.seek(off - 1)
                self.readline()        # the rest of the line the offset fell in (or its newline)
                self.whole_pass = False
                self.lineno = -1       # unknown after a seek: line numbers are not shown then

    @property
    def last_line(self) -> str:
        raw = self._raw if self.lines is None or self._raw else self.lines[self.pos - 1]
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def _fid(self, fp: str) -> int:
        i = self.fps.get(fp)
        if i is None:
            if len(self.names) >= MAX_FINGERPRINTS:
                fp = "(other)"
                i = self.fps.get(fp)
                if i is not None:
                    return i
            i = self.fps[fp] = len(self.names)
            self.names.append(fp)
        return i

    def _bad(self, why: str, raw: bytes, lineno: int) -> None:
        self.invalid += 1
        if self.invalid == 1:
            where = f"{self.display}:{lineno}" if lineno > 0 else self.display
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            sys.stderr.write(f"{PROG}: {where}: {why}: {text[:200]}\n")
            sys.stderr.flush()

    def _eof(self) -> bool:
        """At the end of the file: rewind (True) or stop (False)."""
        if not self.loop or (self.whole_pass and not self.got):
            return False                  # no loop, or a whole pass gave nothing to send
        self.f.seek(0)
        self.loops += 1
        self.lineno = 0
        self.whole_pass, self.got = True, 0
        return True

    def _commit_due(self):
        """-commit-rate N: the COMMIT after every N statements (None when not yet due)."""
        if self.since_commit >= self.commit_rate:
            self.since_commit = 0
            self._raw = b"COMMIT"
            return T_COMMIT_NAME, self.commit_fid
        self.since_commit += 1
        self._raw = b""
        return None

    def next(self):
        if self.commit_rate and (c := self._commit_due()) is not None:
            return c
        readline, cache = self.readline, self.cache
        while True:
            raw = readline()
            if not raw:
                if self._eof():
                    continue
                return None
            if self.lineno >= 0:
                self.lineno += 1
            hit = cache.get(raw)
            if hit is None:
                hit = self._parse(raw, self.lineno)
            if not hit:                   # blank, comment or invalid (counted once)
                continue
            self._raw = raw
            self.got += 1
            return hit

    def _next_mem(self):
        if self.commit_rate and (c := self._commit_due()) is not None:
            return c
        items = self.items
        i = self.pos
        n = len(items)
        while True:
            if i >= n:
                # the end: start over, unless not looping or a whole pass gave nothing to send
                if not self.loop or (self.whole_pass and not any(items)):
                    self.pos = i
                    return None
                self.loops += 1
                self.whole_pass = True
                i = 0
                continue
            hit = items[i]
            if hit is None:
                hit = items[i] = self._parse(self.lines[i], i + 1, cache=False)
            i += 1
            if hit:
                self.pos = i
                return hit

    def _parse(self, raw: bytes, lineno: int, cache: bool = True):
        s = raw.strip()
        if not s or s.startswith(b"//"):
            return _BAD                   # not counted: blank and comment lines
        why = ""
        try:
            obj = json.loads(s)
        except ValueError:
            why = "not JSON"
        else:
            q = obj.get(self.key) if isinstance(obj, dict) else None
            if not isinstance(obj, dict):
                why = "not a JSON object"
            elif not isinstance(q, str):
                why = f"no string {self.key!r}"
            elif not q.strip():
                why = "query is empty"
        if why:
            self._bad(why, raw, lineno)
            hit = _BAD
        else:
            hit = (q, self._fid(fingerprint(q)))
        if not cache:
            return hit
        if len(self.cache) >= CACHE_MAX:
            self.cache.clear()
        self.cache[raw] = hit
        return hit

    def slow(self, sql: str, dur_ns: int) -> None:
        if self.slowlog is not None:
            self.slowlog.add(sql, dur_ns)

    def result_extra(self) -> dict:
        if self.slowlog is not None:
            self.slowlog.close()
        try:
            if self.lines is None:
                self.f.close()
        except OSError:
            pass
        return {"loops": self.loops, "fingerprints": self.names, "invalid": self.invalid}


def make_source(cfg: dict, a, index: int, rng) -> LineSource:
    """The source of agent `index`: file index mod the number of files (upstream's rule)."""
    files = cfg["files"]
    slowlog = SlowLog(a.log) if a.log else None
    if files is None:                  # -query: one statement, as upstream's one-line temp file
        data = (json.dumps({a.key: cfg["query"]}) + "\n").encode()
        return LineSource("-query", "-query", a.key, cfg["loop"], False, rng, a.commit_rate, slowlog, data=data)
    path, display = files[index % len(files)]
    return LineSource(path, display, a.key, cfg["loop"], cfg["random"], rng, a.commit_rate, slowlog)


# -- the report ------------------------------------------------------------------------------
def by_fingerprint(agents, top: int) -> list[dict] | None:
    """Per query shape: count, total, mean and percentiles of the latency; the `top` shapes by
    total time, largest first."""
    from .gofmt import duration
    from .stats import _idx
    groups: dict[str, list[int]] = {}
    for ag in agents:
        names = ag.extra.get("fingerprints") or []
        for t, d in zip(ag.types, ag.durs, strict=True):
            name = names[t] if 0 <= t < len(names) else "(unknown)"
            groups.setdefault(name, []).append(d)
    if not groups:
        return None
    rows = sorted(((sum(v), k, v) for k, v in groups.items()), key=lambda r: (-r[0], r[1]))[:max(top, 0)]
    out = []
    for total, k, v in rows:
        v.sort()
        n = len(v)
        out.append({"Fingerprint": k, "Count": n, "Total": duration(total), "Avg": duration(total // n),
                    "P50": duration(v[n // 2]), "P95": duration(v[_idx(n, 0.95)]),
                    "P99": duration(v[_idx(n, 0.99)]), "Max": duration(v[-1])})
    return out


def report(a, cfg: dict, plan, res, cpu: float, before: dict, after: dict, procs: int) -> dict:
    """Upstream qrn's fields in its order, then qlap's additions and qrn's own."""
    from . import __version__
    from .gofmt import rfc3339nano
    from .report import additions, status_delta
    from .stats import qps_summary, response
    agents = res.agents
    durs = [d for x in agents for d in x.durs]
    ends = list(heapq.merge(*[x.ends for x in agents]))
    n = len(durs)
    elapsed = max(res.finish_ns - res.start_ns, 0)
    mx, mn, med = qps_summary(ends, res.start_ns, res.finish_ns)
    rep = {
        "DSN": cfg["dsn"].masked(),
        "Files": [d for _, d in cfg["files"]] if cfg["files"] is not None else None,
        "PreQueries": cfg["pre"] or None,
        "Started": rfc3339nano(res.start_wall_ns),
        "Finished": rfc3339nano(res.start_wall_ns + elapsed),
        "Elapsed": elapsed // 1_000_000_000,
        "Queries": n,
        "NAgents": plan.nagents,
        "Rate": a.rate,
        "QPS": n / (elapsed / 1e9) if elapsed else 0.0,
        "MaxQPS": mx,
        "MinQPS": mn,
        "MedianQPS": med,
        "ExpectedQPS": int(a.total_rate) if a.total_rate else plan.nagents * a.rate,
        "LoopCount": sum(x.extra.get("loops", 0) for x in agents),       # upstream: the last agent's
        "Response": response(durs, cfg["hinterval"], a.hbins),
        "Token": plan.token,
        "GOMAXPROCS": os.cpu_count() or 1,
    }
    rep.update(additions(res, cfg["hinterval"], by_statement=False, nbins=a.hbins))
    rep["ResponseByFingerprint"] = by_fingerprint(agents, a.top)
    rep["InvalidLines"] = sum(x.extra.get("invalid", 0) for x in agents)
    rep["TotalRate"] = a.total_rate
    rep["Noop"] = bool(a.noop)
    rep["Processes"] = procs
    rep["ClientCPUSeconds"] = round(cpu, 3)
    rep["ClientCPUPercent"] = round(cpu / (elapsed / 1e9) * 100, 1) if elapsed else 0.0
    rep["ClientCPUPerQueryMicroseconds"] = round(cpu / n * 1e6, 1) if n else 0
    rep["ServerStatusDelta"] = status_delta(before, after) if after else None
    rep["Version"] = __version__
    return rep


def histogram_text(durs, hinterval_ns: int, nbins: int, width: int) -> str:
    """-histogram: one bar per bin, scaled to a third of the terminal width."""
    from .gofmt import duration
    from .stats import histogram_bins
    bins = histogram_bins(sorted(durs), hinterval_ns, nbins)
    if not bins:
        return ""
    top = max(c for _, _, c in bins) or 1
    bar = max(width // 3, 10)
    lines = [f"{duration(lo):>12} - {duration(hi):<12} | {'#' * round(c * bar / top):<{bar}} {c}"
             for lo, hi, c in bins]
    return "\n".join(lines) + "\n"


# -- the run ---------------------------------------------------------------------------------
def err(msg: str) -> None:
    sys.stderr.write(f"{PROG}: {msg}\n")
    sys.stderr.flush()


def spool_stdin() -> str:
    """-data -: standard input copied to a temporary file, so that agents can share, loop over
    and seek in it (removed at the end)."""
    import shutil
    import tempfile
    fd, path = tempfile.mkstemp(prefix="qrn-stdin-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return path


def run(a, cfg: dict) -> int:
    """a: the parsed arguments; cfg: what qrn_cli.validate() derived (dsn, files, query, pre,
    time_ns, hinterval, slow_ns, loop, random, nagents)."""
    spooled = None
    try:
        if cfg["files"] is not None and any(p == "-" for p, _ in cfg["files"]):
            spooled = spool_stdin()
            cfg["files"] = [(spooled if p == "-" else p, d) for p, d in cfg["files"]]
        if a.log:
            open(a.log, "wb").close()          # -log starts empty; agents append to it
        return _run(a, cfg)
    finally:
        if spooled:
            try:
                os.unlink(spooled)
            except OSError:
                pass


def _run(a, cfg: dict) -> int:
    import uuid

    from .app import interrupted_status
    from .gen import Plan, TableSpec
    from .progress import Progress, process_cpu
    from .runner import (
        Coordinator,
        RunError,
        RunResult,
        connect,
        default_processes,
        err_text,
        kill_queries,
    )
    kw = cfg["dsn"].connect_kwargs(os.environ, cfg.get("options"))
    dbname = cfg["dsn"].dbname or None
    n = cfg["nagents"]
    agent_rate = float(a.rate) if a.rate else (a.total_rate / n if a.total_rate else 0.0)
    plan = Plan(connect=kw, dbname=dbname, spec=TableSpec(), load_type="", auto=False, queries=None,
                pre_queries=cfg["pre"], commit_rate=a.commit_rate, sel_ratio=1, ins_ratio=1, ids=[],
                token=str(uuid.uuid4()), nagents=n, time_ns=cfg["time_ns"], number_queries=a.maxcount,
                agent_rate=agent_rate, force=a.force, noop=a.noop, slow_ns=cfg["slow_ns"] if a.log else 0,
                show_errors=PROG if a.force else "",
                source=functools.partial(make_source, cfg, a))
    procs = a.processes or default_processes(n)
    before: dict = {}
    conn = None
    if not a.noop:
        import pymysql

        from .report import server_status
        try:
            conn = connect(kw, dbname)
            before = server_status(conn)
        except pymysql.MySQLError as e:
            err(f"cannot connect to {cfg['dsn'].masked()}: {err_text(e)}")
            return EXIT_FAILURE
    try:
        prog = Progress(n, not a.no_progress and sys.stderr.isatty(), None)
        coord = Coordinator(plan, procs, tick=prog.tick,
                            killer=None if a.noop else functools.partial(kill_queries, kw))
        old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
        cpu0 = process_cpu()
        try:
            res = coord.run()
        except RunError as e:
            if not coord.interrupted:
                err(f"Failed to run Task: {e}")
                return EXIT_FAILURE
            now = time.monotonic_ns()      # stopped while the agents were connecting
            res = RunResult([], time.time_ns(), now, now, True, "")
        finally:
            signal.signal(signal.SIGINT, old_int)
            prog.close()
        cpu = process_cpu() - cpu0
        after: dict = {}
        if conn is not None:
            from .report import server_status
            try:
                after = server_status(conn)
            except Exception:               # noqa: BLE001 - the report goes out without the deltas
                after = {}
        first = next((x.first_error for x in res.agents if x.first_error), res.fatal)
        if res.fatal and not plan.force:
            err(f"Failed to run Task: {first}")
            return EXIT_FAILURE
        rep = report(a, cfg, plan, res, cpu, before, after, procs)
        from .gofmt import encode
        sys.stdout.write(encode(rep) + "\n")
        sys.stdout.flush()
        if a.histogram:
            import shutil
            sys.stderr.write(histogram_text([d for x in res.agents for d in x.durs], cfg["hinterval"], a.hbins,
                                            shutil.get_terminal_size((80, 24)).columns))
        if rep["InvalidLines"]:
            err(f"{rep['InvalidLines']} invalid lines skipped")
        if rep["ErrorQueryCount"]:
            err(f"{rep['ErrorQueryCount']} queries failed")
        if res.fatal:
            err(f"stopped: {first}")
            return EXIT_FAILURE
        if res.interrupted:
            return interrupted_status(coord.signum or signal.SIGINT)
        return EXIT_OK
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:               # noqa: BLE001
                pass
