"""One qlap run: set-up, the load, the report, the teardown. cli.py parses and validates the
arguments; run() does the rest and returns the exit status. PyMySQL is imported only here and in
the modules it calls, after the arguments were accepted."""
from __future__ import annotations

import functools
import os
import signal
import sys
import uuid

from .gen import Plan, TableSpec

PROG = "qlap"
EXIT_OK, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143


def err(msg: str) -> None:
    sys.stderr.write(f"{PROG}: {msg}\n")
    sys.stderr.flush()


def interrupted_status(signum: int) -> int:
    """The exit status of a run stopped by a signal: 143 for SIGTERM, 130 for SIGINT."""
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


def make_plan(a, cfg: dict, kw: dict) -> Plan:
    spec = TableSpec(a.number_int_cols, a.number_char_cols, a.int_cols_index, a.char_cols_index,
                     a.auto_generate_sql_guid_primary, a.auto_generate_sql_secondary_indexes)
    agent_rate = float(a.rate) if a.rate else (a.total_rate / a.nagents if a.total_rate else 0.0)
    return Plan(connect=kw, dbname=cfg["dsn"].dbname or "qlap", spec=spec,
                load_type=a.auto_generate_sql_load_type, auto=a.auto_generate_sql, queries=cfg["queries"],
                pre_queries=cfg["pre"], commit_rate=a.commit_rate, sel_ratio=cfg["sel"], ins_ratio=cfg["ins"],
                ids=[], token=str(uuid.uuid4()), nagents=a.nagents, time_ns=cfg["time_ns"],
                number_queries=a.number_queries, agent_rate=agent_rate, force=a.force or a.max_errors > 0,
                only_print=a.only_print, max_errors=a.max_errors, template=a.template)


def run(a, cfg: dict) -> int:
    """a: the parsed arguments; cfg: what cli.validate() derived from them (dsn, time_ns, sel, ins,
    hinterval, queries, pre, create)."""
    kw = cfg["dsn"].connect_kwargs(os.environ)
    plan = make_plan(a, cfg, kw)
    if a.only_print:
        return only_print(a, plan, cfg["create"])
    import pymysql

    from .runner import connect, err_text
    from .schema import Setup
    try:
        conn = connect(kw)
    except pymysql.MySQLError as e:
        err(f"cannot connect to {cfg['dsn'].masked()}: {err_text(e)}")
        return EXIT_FAILURE
    setup = Setup(conn, plan.dbname)
    # Ctrl-C stops the run in every phase, the set-up included, even when qlap was started with
    # SIGINT ignored (`qlap ... &` in a script): the load phase always handled it
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _set_up_and_load(a, cfg, plan, setup)
    finally:
        signal.signal(signal.SIGINT, old_int)
        teardown(setup, kw, a.no_drop)
        try:
            conn.close()
        except Exception:           # noqa: BLE001 - the connection may be cut already
            pass


def _set_up_and_load(a, cfg: dict, plan: Plan, setup) -> int:
    import pymysql

    from ._entry import Terminated
    from .report import server_status
    from .runner import err_text
    from .schema import SetupError, TableExists
    try:
        setup.prepare(engine=a.engine, drop_db=a.drop_db, create=cfg["create"],
                      spec=plan.spec if cfg["create"] is None else None, force=a.force)
        if cfg["create"] is None:
            if a.auto_generate_sql_write_number:
                setup.populate(plan.spec, a.auto_generate_sql_write_number * max(a.concurrency or [a.nagents]))
            plan.ids = setup.ids()
        before = server_status(setup.conn)
    except TableExists as e:
        # the safe way out is a database of its own (created and dropped by qlap), never
        # --drop-db on the user's database nor --force on the user's table
        try:
            hint = (f"; run it on a database that does not exist yet, which qlap creates and drops "
                    f"at the end: -d '{cfg['dsn'].masked_with_db(setup.free_db_name(e.db))}'")
        except pymysql.MySQLError:
            hint = "; run it on a database that does not exist yet (qlap creates and drops it)"
        err(f"set-up failed: {e}{hint}")
        return EXIT_FAILURE
    except (pymysql.MySQLError, SetupError) as e:
        err(f"set-up failed: {err_text(e) if isinstance(e, pymysql.MySQLError) else e}")
        return EXIT_FAILURE
    except (KeyboardInterrupt, Terminated) as e:
        # stopped during the set-up (a long pre-fill): the statement in flight was cut mid-reply,
        # so the teardown kills that session and drops what was created from a fresh connection
        setup.broken = True
        signum = signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT
        return empty_report(a, cfg, plan, setup, signum)
    return load_and_report(a, cfg, plan, setup, before)


def empty_report(a, cfg: dict, plan: Plan, setup, signum: int, out=None, iteration: int = 0) -> int:
    """The report of a run stopped before its load started: no query, `Interrupted` true; the
    exit status of the signal."""
    import time

    from .runner import RunResult, default_processes
    now = time.monotonic_ns()
    res = RunResult([], time.time_ns(), now, now, True, "")
    rep = report(a, cfg, res, plan.token, setup.state.use_existing,
                 a.processes or default_processes(plan.nagents), 0.0, {}, {}, nagents=plan.nagents,
                 iteration=iteration)
    (out or Output(a)).write(rep, res)
    return interrupted_status(signum)


def steps(a) -> list[tuple[int, int]]:
    """(agents, iteration) of every run: one, or the sweep of -c LIST x --iterations."""
    conc = a.concurrency or [a.nagents]
    return [(c, i) for c in conc for i in range(1, a.iterations + 1)]


def is_sweep(a) -> bool:
    return bool(a.concurrency) or a.iterations > 1


def load_and_report(a, cfg: dict, plan: Plan, setup, before: dict) -> int:
    """Run the load (every step of a sweep in turn, on the same set-up) and print each report."""
    import dataclasses

    import pymysql

    from .report import server_status
    out = Output(a)
    rc = EXIT_OK
    for n, (c, it) in enumerate(steps(a)):
        if n:
            try:
                before = server_status(setup.conn)
            except pymysql.MySQLError:
                before = {}
        agent_rate = float(a.rate) if a.rate else (a.total_rate / c if a.total_rate else 0.0)
        step = dataclasses.replace(plan, nagents=c, agent_rate=agent_rate)
        rc, stop = run_step(a, cfg, step, setup, before, out, it if is_sweep(a) else 0, first=not n)
        if stop:
            break
    return rc


class Output:
    """The reports on stdout: Go's indented JSON (one run), NDJSON (one line per run: the default
    of a sweep) or CSV (a header, then one row per run)."""

    CSV = ("concurrency", "iteration", "queries", "errors", "elapsed_s", "avg_qps", "median_qps",
           "p50_ms", "p95_ms", "p99_ms", "max_ms", "interrupted")

    def __init__(self, a):
        self.fmt = a.format or ("ndjson" if is_sweep(a) else "json")
        self.header = False

    def write(self, rep: dict, res) -> None:
        if self.fmt == "json":
            from .gofmt import encode
            line = encode(rep) + "\n"
        elif self.fmt == "ndjson":
            import json
            line = json.dumps(rep, ensure_ascii=False, separators=(",", ":")) + "\n"
        else:
            line = "" if self.header else ",".join(self.CSV) + "\n"
            self.header = True
            line += ",".join(str(v) for v in self.csv_row(rep, res)) + "\n"
        sys.stdout.write(line)
        sys.stdout.flush()

    @staticmethod
    def csv_row(rep: dict, res) -> list:
        from .stats import _idx
        d = sorted(x for ag in res.agents for x in ag.durs)
        n = len(d)

        def ms(p):
            return round(d[_idx(n, p)] / 1e6, 3) if n else 0
        elapsed = max(res.finish_ns - res.start_ns, 0) / 1e9
        return [rep["NAgents"], rep.get("Iteration", 1), rep["QueryCount"], rep["ErrorQueryCount"],
                round(elapsed, 3), round(rep["AvgQPS"], 1), round(rep["MedianQPS"], 1), ms(0.5), ms(0.95),
                ms(0.99), round(d[-1] / 1e6, 3) if n else 0, str(rep["Interrupted"]).lower()]


def run_step(a, cfg: dict, plan: Plan, setup, before: dict, out: Output, iteration: int,
             first: bool = True) -> tuple[int, bool]:
    """One load run with plan.nagents agents and its report: (exit status, stop the sweep)."""
    import pymysql

    from .progress import Progress, process_cpu
    from .report import server_status
    from .runner import Coordinator, RunError, default_processes, kill_queries
    procs = a.processes or default_processes(plan.nagents)
    show = not a.no_progress and sys.stderr.isatty()
    try:
        prog = Progress(plan.nagents, show, a.series, append=not first)   # a sweep's steps follow each other
    except OSError as e:
        err(f"{a.series}: {e.strerror}")
        return EXIT_FAILURE, True
    coord = Coordinator(plan, procs, tick=prog.tick, killer=functools.partial(kill_queries, plan.connect),
                        max_errors=a.max_errors)
    cpu0 = process_cpu()
    try:
        res = coord.run()
    except RunError as e:
        if coord.interrupted:       # before the start (the agents were connecting)
            return empty_report(a, cfg, plan, setup, coord.signum, out, iteration), True
        err(f"Failed to run Task: {e}")
        return EXIT_FAILURE, True
    finally:
        prog.close()
    cpu = process_cpu() - cpu0
    try:
        after = server_status(setup.conn)
    except pymysql.MySQLError:
        after = {}
    first = next((x.first_error for x in res.agents if x.first_error), res.fatal)
    if res.fatal and not plan.force:
        err(f"Failed to run Task: {first}")
        return EXIT_FAILURE, True
    rep = report(a, cfg, res, plan.token, setup.state.use_existing, procs, cpu, before, after,
                 nagents=plan.nagents, iteration=iteration)
    out.write(rep, res)
    if res.fatal:
        err(f"stopped: {first}")
        return EXIT_FAILURE, True
    if a.max_errors and rep["ErrorQueryCount"] >= a.max_errors:
        err(f"stopped after {rep['ErrorQueryCount']} errors (--max-errors {a.max_errors})")
        return EXIT_FAILURE, True
    if rep["ErrorQueryCount"]:
        err(f"{rep['ErrorQueryCount']} queries failed; first: {first}")
    if res.interrupted:
        return interrupted_status(coord.signum), True
    return EXIT_OK, False


def report(a, cfg: dict, res, token: str, use_existing: bool, procs: int, cpu: float, before: dict,
           after: dict, nagents: int | None = None, iteration: int = 0) -> dict:
    """The JSON report: winebarrel/qlap's configuration fields, then the run's figures (and the
    iteration of a sweep)."""
    from .report import build, status_delta
    nagents = nagents or a.nagents
    upstream_cfg = {
        "DSN": cfg["dsn"].masked(), "NAgents": nagents, "Rate": a.rate, "AutoGenerateSql": a.auto_generate_sql,
        "NumberPrePopulatedData": a.auto_generate_sql_write_number,
        "NumberQueriesToExecute": a.number_queries, "DropExistingDatabase": a.drop_db,
        "UseExistingDatabase": use_existing, "NoDropDatabase": a.no_drop,
        "Engine": a.engine, "LoadType": a.auto_generate_sql_load_type,
        "GuidPrimary": a.auto_generate_sql_guid_primary,
        "NumberSecondaryIndexes": a.auto_generate_sql_secondary_indexes, "CommitRate": a.commit_rate,
        "MixedSelRatio": cfg["sel"], "MixedInsRatio": cfg["ins"], "NumberIntCols": a.number_int_cols,
        "IntColsIndex": a.int_cols_index, "NumberCharCols": a.number_char_cols,
        "CharColsIndex": a.char_cols_index, "PreQueries": cfg["pre"] or None, "Token": token,
        "GOMAXPROCS": os.cpu_count() or 1,
    }
    count = sum(len(x.durs) for x in res.agents)
    expected = int(a.total_rate) if a.total_rate else nagents * a.rate
    extras = {"ExpectedQPS": expected, "TotalRate": a.total_rate, "Processes": procs,
              "ClientCPUSeconds": round(cpu, 3),
              "ClientCPUPerQueryMicroseconds": round(cpu / count * 1e6, 1) if count else 0,
              "ServerStatusDelta": status_delta(before, after) if after else None}
    if iteration:
        extras["Iteration"] = iteration
    return build(upstream_cfg, res, cfg["hinterval"], extras)


def teardown(setup, kw: dict, no_drop: bool) -> None:
    """Drop what this run created (unless no_drop); when the set-up connection is unusable (a
    Ctrl-C cut a reply), once more on a fresh connection. A failure is reported, not raised: the
    exit status stays the run's."""
    from .runner import connect
    from .schema import Setup
    state = setup.state
    if not (state.created_db or state.created_t1):
        return
    if not setup.broken:
        try:
            setup.teardown(state, no_drop)
            return
        except Exception:           # noqa: BLE001 - retried below
            pass
    try:
        fresh = connect(kw)
        try:
            if setup.broken:
                _kill_session(fresh, setup.conn)
            Setup(fresh, setup.db).teardown(state, no_drop)
        finally:
            fresh.close()
    except Exception as e:          # noqa: BLE001 - report, keep the exit status
        err(f"teardown failed: {e}")


def _kill_session(fresh, conn) -> None:
    """KILL the set-up session whose statement was interrupted: its INSERT stops and rolls back
    now instead of holding the table until it ends (the DROP would wait for it)."""
    try:
        tid = conn.thread_id()
    except Exception:               # noqa: BLE001 - no session to kill
        return
    try:
        fresh.query(f"KILL {int(tid)}")
    except Exception:               # noqa: BLE001 - already gone
        pass


def only_print(a, plan: Plan, create: list[str] | None) -> int:
    """Show the set-up, every agent's statements and the teardown on stderr; touch no database."""
    from .gen import Generator
    from .runner import Coordinator
    from .schema import quote_ident
    w = sys.stderr.write
    db = quote_ident(plan.dbname)
    if a.engine:
        w(f"SET default_storage_engine = {a.engine};\n")
    if a.drop_db:
        w(f"DROP DATABASE IF EXISTS {db};\n")
    w(f"CREATE DATABASE IF NOT EXISTS {db};\nUSE {db};\n")
    if plan.queries is not None and create is not None:
        for stmt in create:
            w(stmt + ";\n")
    else:
        w(plan.spec.create_table() + ";\n")
        g = Generator(plan.spec, "write", [])
        rows = a.auto_generate_sql_write_number * a.nagents
        for _ in range(rows):
            w(g.insert() + ";\n")
        if plan.spec.guid_primary:
            plan.ids = [f"<uuid-{i}>" for i in range(1, rows + 1)]
        else:
            plan.ids = [str(i) for i in range(1, rows + 1)]
    Coordinator(plan, 1).run()
    if not a.no_drop:
        w(f"DROP DATABASE {db};\n")
    sys.stderr.flush()
    return EXIT_OK
