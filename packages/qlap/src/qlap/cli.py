"""qlap: a MySQL load tester (drop-in for winebarrel/qlap). Thin layer: the arguments, their
validation, then app.run() under the suite's entry (exit codes, signals, closed pipes, write
errors); Go's single-dash spellings (-nagents 3, -drop-existing-db) are derived from the parser."""
from __future__ import annotations

import sys

from . import __version__, _entry

PROG = "qlap"
EXIT_USAGE = _entry.SUITE.usage
LOAD_TYPES = ("mixed", "update", "write", "key", "read")


class UsageError(Exception):
    pass


def build_parser() -> _entry.ArgumentParser:
    p = _entry.ArgumentParser(prog=PROG, allow_abbrev=False, add_help=False, go_flags=True,
                description="MySQL load tester: runs generated (-a) or given (-q) statements from N agents for "
                            "a time or a number of queries, optionally rate-limited, and prints a JSON report "
                            "(latency percentiles and histogram, per-second QPS, errors, server deltas).")
    a = p.add_argument
    a("-d", "--dsn", help="go-sql-driver DSN: [user[:pass]@][tcp(host:port)|unix(path)]/[db][?timeout=10s] "
                          "(db defaults to qlap; without a password MYSQL_PWD is used)")
    a("-n", "--nagents", type=int, default=None, help="number of agents, one connection each (default 1)")
    a("-c", "--concurrency", metavar="LIST",
      help="sweep: run once per agent count of the comma list (mysqlslap's -c 1,8,32), one report each")
    a("-i", "--iterations", type=int, default=1, help="runs of each step (mysqlslap's -i; default 1)")
    a("--format", choices=("json", "ndjson", "csv"),
      help="report format: json (default for one run), ndjson (one line per run: default of a sweep), csv")
    a("-t", "--time", default="60", help="run time in seconds (or 90s, 5m); 0 = no limit (default 60)")
    a("--number-queries", type=int, default=0, help="queries per agent; 0 = no limit")
    a("-r", "--rate", type=int, default=0, help="queries/s of EACH agent; 0 = unthrottled")
    a("--total-rate", type=float, default=0, help="queries/s of all agents together (open-loop schedule)")
    a("-a", "--auto-generate-sql", action="store_true", help="generate the table and the statements")
    a("--auto-generate-sql-guid-primary", action="store_true", help="VARCHAR(36) UUID() primary key")
    a("-q", "--query", help="SQL to run (or the path of a file holding it), split on the delimiter")
    a("--template", action="store_true",
      help="-q statements are templates: {int:LO:HI} {seq:LO:HI} {str:N} {choice:A|B} {uuid}, fresh each time")
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
    a("-h", "--help", action="help", help="show this help and exit")
    a("--version", action="version", version=f"{PROG} {__version__}", help="show the version and exit")
    return p


def console_main(prog: str, body):
    """The console script `prog` (qlap, qrn, mysql-log2jsonl): body(argv) under the suite's entry
    template; main() exits with its status, main(argv) returns it (tests)."""
    def main(argv: list[str] | None = None) -> int:
        rc = _entry.run(prog, lambda: body(sys.argv[1:] if argv is None else list(argv)))
        if argv is None:                # `python -c "from qlap.cli import main; main()"`
            sys.exit(rc)
        return rc
    return main


def parse_validated(prog: str, parser, argv: list[str], validate):
    """(arguments, what validate(arguments) derives) or (None, exit status) for a usage error;
    no argument at all prints the help on stderr (upstream's habit) and is a usage error too."""
    if not argv:
        sys.stderr.write(parser.format_help())
        return None, EXIT_USAGE
    a = parser.parse_args(argv)     # --help, --version, unknown options: SystemExit, run() maps it
    try:
        return a, validate(a)
    except UsageError as e:
        sys.stderr.write(f"{prog}: {e}\nTry '{prog} --help' for more information.\n")
        return None, EXIT_USAGE


def _main(argv: list[str]) -> int:
    a, cfg = parse_validated(PROG, build_parser(), argv, validate)
    if a is None:
        return cfg
    from .app import run
    return run(a, cfg)


main = console_main(PROG, _main)


def validate(a) -> dict:
    from .dsn import DSNError, parse
    from .gofmt import parse_duration
    from .sqltext import split, text_or_file
    if not a.dsn:
        raise UsageError("--dsn is required")
    try:
        d = parse(a.dsn)
        d.connect_kwargs()          # ports and durations are checked here, not at connect time
    except DSNError as e:
        raise UsageError(str(e)) from None
    if a.concurrency is not None:
        if a.nagents is not None:
            raise UsageError("--nagents and --concurrency are exclusive")
        try:
            a.concurrency = [int(x) for x in a.concurrency.split(",")]
        except ValueError:
            raise UsageError(f"invalid --concurrency {a.concurrency!r}: a comma list like 1,8,32") from None
        if not a.concurrency or min(a.concurrency) < 1:
            raise UsageError("--concurrency values must be >= 1")
        a.nagents = max(a.concurrency)
    elif a.nagents is None:
        a.nagents = 1
    if a.iterations < 1:
        raise UsageError("--iterations must be >= 1")
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
    if a.template:
        if not queries:
            raise UsageError("--template requires --query")
        from .template import TemplateError, compile_template
        try:
            for q in queries:
                compile_template(q)
        except TemplateError as e:
            raise UsageError(f"--template: {e}") from None
    if a.engine and not all(c.isalnum() or c == "_" for c in a.engine):
        raise UsageError(f"invalid --engine {a.engine!r}")
    return {"dsn": d, "time_ns": time_ns, "sel": sel_r, "ins": ins_r, "hinterval": hint, "queries": queries,
            "pre": pre, "create": create}


if __name__ == "__main__":
    main()
