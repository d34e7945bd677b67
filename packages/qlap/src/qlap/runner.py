"""Running the load: agents (one connection each) spread over worker processes, an absolute
(open-loop) schedule when a rate is set, every sample kept, partial results on Ctrl-C.

Process layout: the main process does the set-up, forks the workers, coordinates (start time,
stop flag, progress, per-second series, cancelling in-flight queries at the deadline) and merges
the samples; each worker runs its agents as threads. PyMySQL is imported only here.
"""
from __future__ import annotations

import array
import os
import pickle
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from .gen import T_OTHER, Generator, Plan

CANCEL_CODES = {1317, 1927, 2013, 2006, 2055, 0}
CONN_LOST_CODES = {2006, 2013, 2055, 1927, 4031}


class RunError(Exception):
    pass


def err_code(e) -> int:
    a = getattr(e, "args", ())
    return a[0] if a and isinstance(a[0], int) else 0


def err_text(e) -> str:
    a = getattr(e, "args", ())
    if len(a) >= 2 and isinstance(a[0], int):
        return f"Error {a[0]}: {a[1]}"
    return str(e) or e.__class__.__name__


# -- connections -----------------------------------------------------------------------------------
def connect(kw: dict, dbname: str | None = None):
    """A PyMySQL connection. The connect timeout (DSN `timeout`) bounds the whole handshake, not
    only the TCP connect as in PyMySQL: a server that accepts and never answers fails after it.
    Afterwards reads and writes wait `readTimeout` / `writeTimeout` (DSN), or for ever."""
    import pymysql
    args = dict(kw, database=dbname or None, charset="utf8mb4", autocommit=True, program_name="qlap",
                client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    rt, wt, ct = kw.get("read_timeout"), kw.get("write_timeout"), kw.get("connect_timeout")
    if ct:
        args["read_timeout"] = min(rt, ct) if rt else ct
        args["write_timeout"] = min(wt, ct) if wt else ct
    try:
        try:
            conn = pymysql.connect(**args)
        except TypeError:           # an older PyMySQL without ssl_disabled
            args.pop("ssl_disabled", None)
            conn = pymysql.connect(**args)
    except pymysql.err.OperationalError as e:
        if ct and "timed out" in str(e):
            raise pymysql.err.OperationalError(2013, f"no answer from the server within the connect timeout "
                                                     f"({ct:g}s)") from None
        raise
    if ct:
        conn._read_timeout, conn._write_timeout = rt, wt
        conn._sock.settimeout(rt)   # PyMySQL sets it before each read; the fast path reads directly
    return conn


def kill_queries(kw: dict, thread_ids) -> None:
    """KILL QUERY each of thread_ids on a fresh connection (the statements still running at the
    deadline or at Ctrl-C); a thread that already finished is no error."""
    import pymysql
    k = connect(kw)
    try:
        for t in thread_ids:
            try:
                k.query(f"KILL QUERY {int(t)}")
            except pymysql.MySQLError:
                pass
    finally:
        k.close()


class PrintConn:
    """--only-print: a connection that writes every statement to stderr instead of running it."""

    def __init__(self, lock: threading.Lock, prefix: str):
        self.lock, self.prefix = lock, prefix
        self.thread_id = 0

    def query(self, sql: str) -> None:
        line = f"{self.prefix}{sql};\n"
        with self.lock:
            sys.stderr.write(line)

    def close(self) -> None:
        pass


class NoopConn:
    """qrn --noop: a connection that sends nothing (measures reading and pacing alone)."""

    thread_id = 0

    def query(self, sql: str) -> None:
        pass

    def close(self) -> None:
        pass


# -- one agent -------------------------------------------------------------------------------------
@dataclass
class AgentResult:
    index: int
    durs: array.array = field(default_factory=lambda: array.array("q"))
    ends: array.array = field(default_factory=lambda: array.array("q"))
    types: array.array = field(default_factory=lambda: array.array("i"))   # statement type, or qrn's fingerprint id
    from_intended: array.array = field(default_factory=lambda: array.array("q"))
    errors: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)    # what a statement source reports (qrn: loops, fingerprints)
    first_error: str = ""
    fatal: str = ""
    finish_ns: int = 0


class Agent:
    def __init__(self, index: int, plan: Plan, shared, conn_factory):
        self.i = index
        self.plan = plan
        self.shared = shared
        self.conn_factory = conn_factory
        self.conn = None
        self.res = AgentResult(index)
        rng = random.Random(os.urandom(16))
        # a statement source: qlap's generator, or the one of plan.source (qrn: lines of a data file)
        # with next() -> (sql, type) or None at its end, and optionally result_extra() -> dict,
        # slow(sql, duration_ns) for statements of at least plan.slow_ns, last_line for error messages
        self.gen = plan.source(index, rng) if plan.source is not None else Generator(
            plan.spec, plan.load_type, plan.ids, plan.queries, plan.commit_rate, plan.sel_ratio, plan.ins_ratio,
            rng, plan.template)

    def prepare(self) -> None:
        """Connect, set autocommit, run the pre-queries (before the clock starts)."""
        self.conn = self.conn_factory(self.i)
        if getattr(self.gen, "repeats", False) and hasattr(self.conn, "keep_packets"):
            self.conn.keep_packets()            # the same statements again and again: encoded once
        self.conn.query("SET autocommit = 0" if self.plan.commit_rate > 0 else "SET autocommit = 1")
        for q in self.plan.pre_queries:
            self.conn.query(q)

    @property
    def thread_id(self) -> int:
        c = self.conn
        return int(getattr(c, "thread_id", lambda: 0)() if callable(getattr(c, "thread_id", None))
                   else getattr(c, "thread_id", 0) or 0)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:          # never lose the samples of a broken agent
            self.res.fatal = self.res.fatal or err_text(e)
            self.shared.fatal.value = 1
            self.shared.stop.value = 1
        finally:
            self.res.finish_ns = time.monotonic_ns()
            extra = getattr(self.gen, "result_extra", None)
            if extra is not None:
                try:
                    self.res.extra = extra()
                except Exception:
                    pass
            try:
                if self.conn is not None:
                    self.conn.close()
            except Exception:
                pass

    def _run(self) -> None:
        sh, plan, res = self.shared, self.plan, self.res
        mono = time.monotonic_ns
        while sh.start_ns.value == 0:
            if sh.stop.value:
                return
            time.sleep(0.0005)
        t0 = sh.start_ns.value
        deadline = t0 + plan.time_ns if plan.time_ns > 0 else 0
        nq = plan.number_queries
        conn = self.conn
        marker = f"SELECT 'agent({self.i}) %s: token={plan.token}'"
        conn.query(marker % "start")
        rate = plan.agent_rate
        interval = 1e9 / rate if rate > 0 else 0.0
        # agents of a shared total rate are staggered evenly inside one interval
        next_t = t0 + (self.i * interval / plan.nagents if rate > 0 else 0)
        durs_append, ends_append, types_append = res.durs.append, res.ends.append, res.types.append
        fi_append = res.from_intended.append
        gen_next = self.gen.next
        counts = sh.counts
        errs = sh.errors
        i = self.i
        n = 0
        nerr = 0
        force = plan.force
        max_errors = plan.max_errors
        slow_ns = plan.slow_ns
        on_slow = getattr(self.gen, "slow", None)
        show_errors = plan.show_errors
        stop = sh.stop
        now = mono()        # the end of the last statement: the loop's clock when it does not sleep
        while True:
            if stop.value:
                break
            if deadline and now >= deadline:
                break
            if nq and n + nerr >= nq:
                break
            intended = 0
            if interval:
                now = mono()
                target = int(next_t)
                if deadline and target >= deadline:
                    # nothing more is due before the deadline: wait for it, then stop
                    while not sh.stop.value and mono() < deadline:
                        time.sleep(min(0.05, max((deadline - mono()) / 1e9, 0)))
                    break
                while now < target:
                    time.sleep(min((target - now) / 1e9, 0.05))
                    if sh.stop.value:
                        break
                    now = mono()
                if sh.stop.value:
                    break
                intended = target
                next_t += interval
            nxt = gen_next()
            if nxt is None:                            # the source is exhausted (qrn -loop=false)
                break
            sql, typ = nxt
            s = mono()
            try:
                conn.query(sql)
            except Exception as e:
                code = err_code(e)
                if sh.stop.value or (deadline and mono() >= deadline):
                    if code in CANCEL_CODES:
                        break                              # cancelled at the end: not an error
                nerr += 1
                errs[i] = nerr
                if max_errors and sum(errs) >= max_errors:
                    sh.stop.value = 1                      # the budget is spent: every agent stops
                key = str(code) if code else e.__class__.__name__
                res.errors[key] = res.errors.get(key, 0) + 1
                if not res.first_error:
                    res.first_error = f"{err_text(e)} [{sql[:200]}]"
                if show_errors and force:
                    # every failed statement and the input line it came from, one per line
                    line = getattr(self.gen, "last_line", sql)
                    sys.stderr.write(f"{show_errors}: {err_text(e)}: {line}\n")
                    sys.stderr.flush()
                if not force:
                    res.fatal = err_text(e)
                    sh.fatal.value = 1
                    sh.stop.value = 1
                    break
                if sh.stop.value:
                    break
                if code in CONN_LOST_CODES or code == 0:
                    conn = self._reconnect()
                    if conn is None:
                        break
                now = mono()
                continue
            now = mono()
            d = now - s
            if slow_ns and d >= slow_ns and on_slow is not None:
                on_slow(sql, d)
            durs_append(d)
            ends_append(now)
            types_append(typ)
            if intended:
                fi_append(now - intended)
            n += 1
            counts[i] = n
        if not sh.fatal.value or force:
            try:
                conn.query(marker % "end")
            except Exception:
                pass

    def _reconnect(self):
        for _ in range(50):
            if self.shared.stop.value:
                return None
            try:
                if self.conn is not None:
                    self.conn.close()
            except Exception:
                pass
            try:
                self.prepare()
                return self.conn
            except Exception:
                time.sleep(0.1)
        return None


# -- shared state and workers -------------------------------------------------------------------------
class Shared:
    def __init__(self, nagents: int, ctx=None):
        if ctx is None:
            from types import SimpleNamespace
            self.start_ns = SimpleNamespace(value=0)
            self.stop = SimpleNamespace(value=0)
            self.fatal = SimpleNamespace(value=0)
            self.counts = [0] * nagents
            self.errors = [0] * nagents
        else:
            self.start_ns = ctx.RawValue("q", 0)
            self.stop = ctx.RawValue("i", 0)
            self.fatal = ctx.RawValue("i", 0)
            self.counts = ctx.RawArray("q", nagents)
            self.errors = ctx.RawArray("q", nagents)


def _agent_connector(plan: Plan):
    if plan.only_print:
        lock = threading.Lock()
        return lambda i: PrintConn(lock, f"agent({i}): ")
    if plan.noop:
        return lambda i: NoopConn()
    from .wire import FastConn
    return lambda i: FastConn(connect(plan.connect, plan.dbname))


def worker_main(indices: list[int], plan: Plan, shared, pipe) -> None:
    """A worker process: prepare its agents, report ready, run them as threads, send samples."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parent = os.getppid()
    agents = [Agent(i, plan, shared, _agent_connector(plan)) for i in indices]
    try:
        for a in agents:
            a.prepare()
    except Exception as e:
        pipe.send(("error", err_text(e)))
        return
    pipe.send(("ready", [a.thread_id for a in agents]))
    threads = [threading.Thread(target=a.run, daemon=True) for a in agents]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
        if os.getppid() != parent:          # the coordinator died (kill -9): stop quietly
            shared.stop.value = 1
    if os.getppid() != parent:
        # nobody will read the samples (and this process still holds the pipe's read end, so a
        # big write would block for ever instead of failing): leave now
        os._exit(0)
    pipe.send_bytes(pickle.dumps(("done", [a.res for a in agents]), protocol=pickle.HIGHEST_PROTOCOL))


@dataclass
class RunResult:
    agents: list[AgentResult]
    start_wall_ns: int
    start_ns: int
    finish_ns: int
    interrupted: bool
    fatal: str


class Coordinator:
    """Runs the agents; calls `tick(elapsed_s, total_queries, total_errors)` about every second."""

    def __init__(self, plan: Plan, processes: int, tick=None, killer=None, max_errors: int = 0):
        self.plan = plan
        self.processes = max(1, min(processes, plan.nagents))
        self.tick = tick
        self.killer = killer            # callable(thread_ids): KILL QUERY the agents' statements
        self.max_errors = max_errors
        self.interrupted = False
        self.signum = 0                 # the first SIGINT or SIGTERM received, 0 = none
        self._sig = 0

    def _on_signal(self, signum, frame):
        self._sig += 1
        self.interrupted = True
        self.signum = self.signum or signum
        if self._sig >= 3:              # the third signal: stop waiting for the agents
            if signum == signal.SIGTERM:
                from ._entry import Terminated
                raise Terminated()
            raise KeyboardInterrupt

    def run(self) -> RunResult:
        if self.plan.only_print:
            return self._run_inline()
        import multiprocessing as mp
        ctx = mp.get_context("fork")
        plan = self.plan
        shared = Shared(plan.nagents, ctx)
        groups = [list(range(p, plan.nagents, self.processes)) for p in range(self.processes)]
        procs, pipes = [], []
        old_int = signal.signal(signal.SIGINT, self._on_signal)
        old_term = signal.signal(signal.SIGTERM, self._on_signal)
        try:
            for g in groups:
                r, w = ctx.Pipe(duplex=False)
                p = ctx.Process(target=worker_main, args=(g, plan, shared, w), daemon=True)
                p.start()
                w.close()
                procs.append(p)
                pipes.append(r)
            thread_ids: list[int] = []
            for r, p in zip(pipes, procs, strict=True):
                msg = self._recv(r, p, shared)
                if msg is None:
                    raise RunError("interrupted before the start")
                if msg[0] == "error":
                    raise RunError(msg[1])
                thread_ids += msg[1]
            start_wall = time.time_ns()
            start = time.monotonic_ns()
            shared.start_ns.value = start
            results = self._wait(pipes, procs, shared, start, thread_ids)
        except BaseException:
            shared.stop.value = 1
            for p in procs:
                p.join(2)
                if p.is_alive():
                    p.kill()
            raise
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        for p in procs:
            p.join(5)
        agents = sorted((a for rs in results for a in rs), key=lambda a: a.index)
        finish = max([a.finish_ns for a in agents] + [start])
        fatal = next((a.fatal for a in agents if a.fatal), "")
        return RunResult(agents, start_wall, start, finish, self.interrupted, fatal)

    def _recv(self, r, p, shared):
        while True:
            if self.interrupted:
                shared.stop.value = 1
                return None
            if r.poll(0.1):
                try:
                    return r.recv()
                except EOFError:
                    raise RunError("a worker process died during set-up") from None
            if not p.is_alive() and not r.poll(0):
                raise RunError(f"a worker process died during set-up (exit {p.exitcode})")

    def _wait(self, pipes, procs, shared, start, thread_ids):
        plan = self.plan
        pending = dict(enumerate(pipes))
        results: list = []
        next_tick = start + 1_000_000_000
        cancelled = False
        deadline = start + plan.time_ns if plan.time_ns > 0 else 0
        while pending:
            for k, r in list(pending.items()):
                if r.poll(0):
                    try:
                        msg = pickle.loads(r.recv_bytes())
                        results.append(msg[1])
                    except EOFError:
                        raise RunError(f"worker process {k} died (exit {procs[k].exitcode})") from None
                    del pending[k]
                elif not procs[k].is_alive() and not r.poll(0):
                    raise RunError(f"worker process {k} died (exit {procs[k].exitcode})")
            if not pending:
                break
            now = time.monotonic_ns()
            if self.interrupted:
                shared.stop.value = 1
            errors = sum(shared.errors)
            spent = bool(self.max_errors and errors >= self.max_errors)
            if spent:
                shared.stop.value = 1
            # queries still running after the deadline, a stop request or the last allowed error
            # are cancelled, once
            late = (deadline and now > deadline + 1_000_000_000) or (shared.stop.value and (self.interrupted or spent))
            if late and not cancelled and self.killer:
                cancelled = True
                shared.stop.value = 1
                try:
                    self.killer(thread_ids)
                except Exception:
                    pass
            if now >= next_tick:
                if self.tick:
                    self.tick((now - start) / 1e9, sum(shared.counts), errors, client_cpu(procs))
                next_tick += 1_000_000_000 * max(1, (now - next_tick) // 1_000_000_000 + 1)
            time.sleep(min(0.05, max(0.0, (next_tick - now) / 1e9)))
        return results

    def _run_inline(self) -> RunResult:
        plan = self.plan
        shared = Shared(plan.nagents)
        agents = [Agent(i, plan, shared, _agent_connector(plan)) for i in range(plan.nagents)]
        for a in agents:
            a.prepare()
        start_wall = time.time_ns()
        start = time.monotonic_ns()
        shared.start_ns.value = start
        threads = [threading.Thread(target=a.run, daemon=True) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        finish = max([a.res.finish_ns for a in agents] + [start])
        return RunResult([a.res for a in agents], start_wall, start, finish, False, "")


def client_cpu(procs) -> float:
    """CPU seconds (user + system) of this process and of the live worker processes."""
    t = os.times()
    total = t.user + t.system
    tick = os.sysconf("SC_CLK_TCK")
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def default_processes(nagents: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(nagents, cpus))


def type_name(t: int) -> str:
    from .gen import TYPE_NAMES
    return TYPE_NAMES[t] if 0 <= t < len(TYPE_NAMES) else TYPE_NAMES[T_OTHER]
