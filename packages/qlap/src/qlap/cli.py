"""qlap: a MySQL load tester (drop-in for winebarrel/qlap). Thin layer: arguments, wiring."""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
import uuid

from . import __version__

PROG = "qlap"
LOAD_TYPES = ("mixed", "update", "write", "key", "read")

_LONG = {"dsn", "nagents", "time", "number-queries", "rate", "total-rate", "auto-generate-sql",
         "auto-generate-sql-guid-primary", "query", "auto-generate-sql-write-number",
         "auto-generate-sql-load-type", "auto-generate-sql-secondary-indexes", "commit-rate",
         "mixed-sel-ins-ratio", "engine", "number-char-cols", "char-cols-index", "number-int-cols",
         "int-cols-index", "pre-query", "create", "drop-db", "drop-existing-db", "no-drop", "hinterval",
         "delimiter", "only-print", "no-progress", "force", "max-errors", "series", "processes", "help",
         "version"}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, allow_abbrev=False, add_help=False,
                description="MySQL load tester: runs generated (-a) or given (-q) statements from N agents for "
                            "a time or a number of queries, optionally rate-limited, and prints a JSON report "
                            "(latency percentiles and histogram, per-second QPS, errors, server deltas).")
    a = p.add_argument
    a("-d", "--dsn", help="go-sql-driver DSN: [user[:pass]@][tcp(host:port)|unix(path)]/[db][?timeout=10s] "
                          "(db defaults to qlap; without a password MYSQL_PWD is used)")
    a("-n", "--nagents", type=int, default=1, help="number of agents, one connection each (default 1)")
    a("-t", "--time", default="60", help="run time in seconds (or 90s, 5m); 0 = no limit (default 60)")
    a("--number-queries", type=int, default=0, help="queries per agent; 0 = no limit")
    a("-r", "--rate", type=int, default=0, help="queries/s of EACH agent; 0 = unthrottled")
    a("--total-rate", type=float, default=0, help="queries/s of all agents together (open-loop schedule)")
    a("-a", "--auto-generate-sql", action="store_true", help="generate the table and the statements")
    a("--auto-generate-sql-guid-primary", action="store_true", help="VARCHAR(36) UUID() primary key")
    a("-q", "--query", help="SQL to run (or the path of a file holding it), split on the delimiter")
    a("--auto-generate-sql-write-number", type=int, default=100, help="rows pre-populated per agent (100)")
    a("-l", "--auto-generate-sql-load-type", default="mixed", help="mixed, update, write, key or read")
    a("--auto-generate-sql-secondary-indexes", type=int, default=0, help="number of UUID() unique columns")
    a("--commit-rate", type=int, default=0, help="autocommit off and a COMMIT every X statements")
    a("--mixed-sel-ins-ratio", default="1:1", help="SELECT:INSERT ratio of the mixed load (1:1)")
    a("-e", "--engine", default="", help="default_storage_engine for the created table")
    a("-x", "--number-char-cols", type=int, default=1, help="VARCHAR(128) columns (1)")
    a("--char-cols-index", action="store_true", help="index the VARCHAR columns")
    a("-y", "--number-int-cols", type=int, default=1, help="INT columns (1)")
    a("--int-cols-index", action="store_true", help="index the INT columns")
    a("--pre-query", action="append", default=[], help="statements each agent runs first (or a file)")
    a("--create", help="SQL (or a file) creating the schema for -q instead of the t1 table")
    a("--drop-db", "--drop-existing-db", dest="drop_db", action="store_true",
      help="DROP the database first (explicit; otherwise an existing database is never dropped)")
    a("--no-drop", action="store_true", help="keep the database (or table) this run created")
    a("--hinterval", default="0", help="histogram bin width, e.g. 100ms (default: 10 bins over the range)")
    a("-F", "--delimiter", default=";", help="statement delimiter (;)")
    a("--only-print", action="store_true", help="print the statements to stderr, touch no database")
    a("--no-progress", action="store_true", help="no progress line (it only appears on a terminal anyway)")
    a("--force", action="store_true",
      help="count query errors and go on; replace an existing t1 table")
    a("--max-errors", type=int, default=0, help="stop (exit 1) after more than N errors (implies --force)")
    a("--series", metavar="FILE", help="write one JSON line per second (queries, qps, errors) to FILE")
    a("--processes", type=int, default=0, help="worker processes (default: min(agents, CPUs))")
    a("-h", "--help", action="store_true", help="show this help and exit")
    a("--version", action="store_true", help="show the version and exit")
    return p


def normalise_argv(argv: list[str]) -> list[str]:
    out = []
    for i, x in enumerate(argv):
        if x == "--":
            out.extend(argv[i:])
            break
        if x.startswith("-") and not x.startswith("--") and len(x) > 2 and x[1:].split("=", 1)[0] in _LONG:
            x = "-" + x
        out.append(x)
    return out


def _err(msg: str) -> None:
    sys.stderr.write(f"{PROG}: {msg}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    try:
        rc = _main(sys.argv[1:] if argv is None else list(argv))
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        rc = 141
    except KeyboardInterrupt:
        rc = 130
    except OSError as e:            # a write error (ENOSPC, EIO) on stdout or the --series file
        where = f"{e.filename}: " if e.filename else ""
        try:
            _err(f"write error: {where}{e.strerror or e}")
        except OSError:
            pass
        try:                        # nothing more to stdout: the interpreter's final flush would fail again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        rc = 1
    if argv is None:
        sys.exit(rc)
    return rc


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if not argv:
        sys.stderr.write(parser.format_help())
        return 2
    try:
        a = parser.parse_args(normalise_argv(argv))
        cfg = validate(a)
    except UsageError as e:
        sys.stderr.write(f"{PROG}: {e}\nTry '{PROG} --help' for more information.\n")
        return 2
    if a.help:
        sys.stdout.write(parser.format_help())
        return 0
    if a.version:
        sys.stdout.write(f"{PROG} {__version__}\n")
        return 0
    return run(a, cfg)


def validate(a) -> dict:
    from .dsn import DSNError, parse
    from .gofmt import parse_duration
    from .sqltext import split, text_or_file
    if a.help or a.version:
        return {}
    if not a.dsn:
        raise UsageError("--dsn is required")
    try:
        d = parse(a.dsn)
    except DSNError as e:
        raise UsageError(str(e)) from None
    for name, v, lo in (("nagents", a.nagents, 1), ("number-queries", a.number_queries, 0), ("rate", a.rate, 0),
                        ("auto-generate-sql-write-number", a.auto_generate_sql_write_number, 0),
                        ("auto-generate-sql-secondary-indexes", a.auto_generate_sql_secondary_indexes, 0),
                        ("commit-rate", a.commit_rate, 0), ("number-char-cols", a.number_char_cols, 1),
                        ("number-int-cols", a.number_int_cols, 1), ("max-errors", a.max_errors, 0),
                        ("processes", a.processes, 0)):
        if v < lo:
            raise UsageError(f"--{name} must be >= {lo}")
    if a.total_rate < 0:
        raise UsageError("--total-rate must be >= 0")
    if a.rate and a.total_rate:
        raise UsageError("--rate and --total-rate are exclusive")
    try:
        t = a.time.strip()
        time_ns = int(t) * 1_000_000_000 if t.lstrip("-").isdigit() else parse_duration(t)
    except ValueError:
        raise UsageError(f"invalid --time {a.time!r}: seconds, or a duration like 90s") from None
    if time_ns < 0:
        raise UsageError("--time must be >= 0")
    if a.auto_generate_sql == bool(a.query):
        raise UsageError("exactly one of --auto-generate-sql (-a) or --query (-q) is required")
    if a.auto_generate_sql_load_type not in LOAD_TYPES:
        raise UsageError(f"invalid load type {a.auto_generate_sql_load_type!r}: {', '.join(LOAD_TYPES)}")
    if (a.auto_generate_sql and a.auto_generate_sql_load_type != "write"
            and a.auto_generate_sql_write_number <= 0):
        raise UsageError("--auto-generate-sql-write-number must be > 0 for this load type")
    sel, sep, ins = a.mixed_sel_ins_ratio.partition(":")
    try:
        sel_r, ins_r = int(sel), int(ins)
    except ValueError:
        raise UsageError(f"invalid --mixed-sel-ins-ratio {a.mixed_sel_ins_ratio!r}: S:I, e.g. 1:1") from None
    if not sep or sel_r < 1 or ins_r < 1:
        raise UsageError(f"invalid --mixed-sel-ins-ratio {a.mixed_sel_ins_ratio!r}: S:I, both >= 1")
    if not a.delimiter:
        raise UsageError("--delimiter must not be empty")
    if a.create and not a.query:
        raise UsageError("--create requires --query")
    try:
        hint = parse_duration(a.hinterval)
    except ValueError:
        raise UsageError(f"invalid --hinterval {a.hinterval!r}: a duration like 100ms") from None
    try:
        queries = split(text_or_file(a.query), a.delimiter) if a.query else None
        if a.query and not queries:
            raise UsageError("--query holds no statement")
        pre = [s for p in a.pre_query for s in split(text_or_file(p), a.delimiter)]
        create = split(text_or_file(a.create), a.delimiter) if a.create else None
    except OSError as e:
        raise UsageError(f"{e.filename}: {e.strerror}") from None
    except ValueError as e:         # sqltext.NotUTF8
        raise UsageError(str(e)) from None
    if a.engine and not all(c.isalnum() or c == "_" for c in a.engine):
        raise UsageError(f"invalid --engine {a.engine!r}")
    return {"dsn": d, "time_ns": time_ns, "sel": sel_r, "ins": ins_r, "hinterval": hint, "queries": queries,
            "pre": pre, "create": create}


class Progress:
    """The progress line on stderr, only on a terminal; the per-second series file."""

    def __init__(self, nagents: int, show: bool, series_path: str | None):
        self.nagents = nagents
        self.show = show
        self.last = 0
        self.last_t = 0.0
        self.cpu0 = self._cpu()
        self.series = open(series_path, "w", encoding="utf-8") if series_path else None
        self.shown = False
        self.last_cpu: float | None = None

    @staticmethod
    def _cpu() -> float:
        s = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    def tick(self, elapsed: float, count: int, errors: int, cpu: float | None = None) -> None:
        dt = elapsed - self.last_t or 1.0
        qps = (count - self.last) / dt
        cpu_pct = None
        if cpu is not None:
            if self.last_cpu is not None:
                cpu_pct = max(cpu - self.last_cpu, 0.0) / dt * 100
            self.last_cpu = cpu
        if self.series:
            import json
            self.series.write(json.dumps({"elapsed": round(elapsed, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                          "queries": count, "qps": round(qps, 1), "errors": errors,
                                          "client_cpu_pct": None if cpu_pct is None else round(cpu_pct, 1)})
                              + "\n")
            try:
                self.series.flush()
            except OSError as e:
                raise OSError(e.errno, e.strerror, self.series.name) from None
        if self.show:
            m, s = divmod(int(elapsed), 60)
            line = f"{m:02d}:{s:02d} | {self.nagents} agents / run {count} queries ({qps:.0f} qps)"
            if errors:
                line += f" / {errors} errors"
            if cpu_pct is not None:
                line += f" | client CPU {cpu_pct:.0f}%"
            width = shutil.get_terminal_size((80, 24)).columns
            sys.stderr.write("\r" + line.ljust(width - 1)[:max(width - 1, len(line))])
            sys.stderr.flush()
            self.shown = True
        self.last, self.last_t = count, elapsed

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\n\n")
            sys.stderr.flush()
        if self.series:
            self.series.close()


def run(a, cfg: dict) -> int:
    from .gen import Plan, TableSpec
    from .gofmt import encode
    d = cfg["dsn"]
    dbname = d.dbname or "qlap"
    spec = TableSpec(a.number_int_cols, a.number_char_cols, a.int_cols_index, a.char_cols_index,
                     a.auto_generate_sql_guid_primary, a.auto_generate_sql_secondary_indexes)
    force = a.force or a.max_errors > 0
    token = str(uuid.uuid4())
    kw = d.connect_kwargs()
    if d.password is None and os.environ.get("MYSQL_PWD") is not None:
        kw["password"] = os.environ["MYSQL_PWD"]
    agent_rate = float(a.rate) if a.rate else (a.total_rate / a.nagents if a.total_rate else 0.0)
    expected = int(a.total_rate) if a.total_rate else a.nagents * a.rate
    plan = Plan(connect=kw, dbname=dbname, spec=spec, load_type=a.auto_generate_sql_load_type,
                auto=a.auto_generate_sql, queries=cfg["queries"], pre_queries=cfg["pre"],
                commit_rate=a.commit_rate, sel_ratio=cfg["sel"], ins_ratio=cfg["ins"], ids=[], token=token,
                nagents=a.nagents, time_ns=cfg["time_ns"], number_queries=a.number_queries,
                agent_rate=agent_rate, force=force, only_print=a.only_print)
    if a.only_print:
        return only_print(a, plan, dbname)
    from .runner import Coordinator, RunError, connect, default_processes, err_text
    from .schema import Setup, SetupError
    import pymysql
    try:
        conn = connect(kw)
    except pymysql.MySQLError as e:
        _err(f"cannot connect to {d.masked()}: {err_text(e)}")
        return 1
    setup = Setup(conn, dbname)
    state = setup.state
    try:
        try:
            state = setup.prepare(engine=a.engine, drop_db=a.drop_db, create=cfg["create"],
                                  spec=spec if cfg["create"] is None else None, force=a.force)
            if cfg["create"] is None:
                if a.auto_generate_sql_write_number:
                    setup.populate(spec, a.auto_generate_sql_write_number * a.nagents)
                plan.ids = setup.ids()
            before = server_status(conn)
        except (pymysql.MySQLError, SetupError) as e:
            _err(f"set-up failed: {err_text(e) if isinstance(e, pymysql.MySQLError) else e}")
            return 1
        procs = a.processes or default_processes(a.nagents)
        show = not a.no_progress and sys.stderr.isatty()
        try:
            prog = Progress(a.nagents, show, a.series)
        except OSError as e:
            _err(f"{a.series}: {e.strerror}")
            return 1

        def killer(thread_ids):
            k = connect(kw)
            try:
                for t in thread_ids:
                    try:
                        k.query(f"KILL QUERY {int(t)}")
                    except pymysql.MySQLError:
                        pass
            finally:
                k.close()

        coord = Coordinator(plan, procs, tick=prog.tick, killer=killer, max_errors=a.max_errors)
        cpu0 = Progress._cpu()
        try:
            res = coord.run()
        except RunError as e:
            prog.close()
            if coord.interrupted:
                return 130
            _err(f"Failed to run Task: {e}")
            return 1
        prog.close()
        cpu = Progress._cpu() - cpu0
        try:
            after = server_status(conn)
        except pymysql.MySQLError:
            after = {}
        if res.fatal and not force:
            first = next((x.first_error for x in res.agents if x.first_error), res.fatal)
            _err(f"Failed to run Task: {first}")
            return 1
        from .report import build, status_delta
        upstream_cfg = {
            "DSN": d.masked(), "NAgents": a.nagents, "Rate": a.rate, "AutoGenerateSql": a.auto_generate_sql,
            "NumberPrePopulatedData": a.auto_generate_sql_write_number,
            "NumberQueriesToExecute": a.number_queries, "DropExistingDatabase": a.drop_db,
            "UseExistingDatabase": state.use_existing, "NoDropDatabase": a.no_drop,
            "Engine": a.engine, "LoadType": a.auto_generate_sql_load_type,
            "GuidPrimary": a.auto_generate_sql_guid_primary,
            "NumberSecondaryIndexes": a.auto_generate_sql_secondary_indexes, "CommitRate": a.commit_rate,
            "MixedSelRatio": cfg["sel"], "MixedInsRatio": cfg["ins"], "NumberIntCols": a.number_int_cols,
            "IntColsIndex": a.int_cols_index, "NumberCharCols": a.number_char_cols,
            "CharColsIndex": a.char_cols_index, "PreQueries": cfg["pre"] or None, "Token": token,
            "GOMAXPROCS": os.cpu_count() or 1,
        }
        count = sum(len(x.durs) for x in res.agents)
        extras = {"ExpectedQPS": expected, "TotalRate": a.total_rate, "Processes": procs,
                  "ClientCPUSeconds": round(cpu, 3),
                  "ClientCPUPerQueryMicroseconds": round(cpu / count * 1e6, 1) if count else 0,
                  "ServerStatusDelta": status_delta(before, after) if after else None}
        rep = build(upstream_cfg, res, cfg["hinterval"], extras)
        sys.stdout.write(encode(rep) + "\n")
        sys.stdout.flush()
        if res.fatal:
            first = next((x.first_error for x in res.agents if x.first_error), res.fatal)
            _err(f"stopped: {first}")
            return 1
        if a.max_errors and rep["ErrorQueryCount"] > a.max_errors:
            _err(f"stopped after {rep['ErrorQueryCount']} errors (--max-errors {a.max_errors})")
            return 1
        if rep["ErrorQueryCount"]:
            first = next((x.first_error for x in res.agents if x.first_error), "")
            _err(f"{rep['ErrorQueryCount']} queries failed; first: {first}")
        return 130 if res.interrupted else 0
    finally:
        if state.created_db or state.created_t1:
            try:
                setup.teardown(state, a.no_drop)
            except Exception:        # noqa: BLE001 - e.g. a Ctrl-C cut a reply: retry on a fresh connection
                try:
                    fresh = connect(kw)
                    try:
                        Setup(fresh, dbname).teardown(state, a.no_drop)
                    finally:
                        fresh.close()
                except Exception as e:   # noqa: BLE001 - report, keep the exit status
                    _err(f"teardown failed: {e}")
        try:
            conn.close()
        except Exception:
            pass


def server_status(conn) -> dict:
    from .report import STATUS_KEYS
    out = {}
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS")
        for k, v in cur.fetchall():
            k = k.decode() if isinstance(k, bytes) else k
            if k in STATUS_KEYS or k == "Threads_running":
                try:
                    out[k] = int(v)
                except (TypeError, ValueError):
                    pass
    return out


def only_print(a, plan, dbname: str) -> int:
    """Show the set-up, every agent's statements and the teardown on stderr; touch no database."""
    from .gen import Generator
    from .runner import Coordinator
    from .schema import quote_ident
    w = sys.stderr.write
    if a.engine:
        w(f"SET default_storage_engine = {a.engine};\n")
    if a.drop_db:
        w(f"DROP DATABASE IF EXISTS {quote_ident(dbname)};\n")
    w(f"CREATE DATABASE IF NOT EXISTS {quote_ident(dbname)};\nUSE {quote_ident(dbname)};\n")
    if plan.queries is not None and a.create:
        from .sqltext import split, text_or_file
        for s in split(text_or_file(a.create), a.delimiter):
            w(s + ";\n")
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
    res = Coordinator(plan, 1).run()
    if not a.no_drop:
        w(f"DROP DATABASE {quote_ident(dbname)};\n")
    sys.stderr.flush()
    del res
    return 0


if __name__ == "__main__":
    main()
