"""qrn: replay queries from JSON Lines files against MySQL / MariaDB at a controlled rate (drop-in
for winebarrel/qrn), a second console script of the qlap distribution. Thin layer: the arguments
and their validation; the run is replay.run() under the suite's entry template."""
from __future__ import annotations

import os
import re

from . import __version__, _entry
from .cli import UsageError, console_main, parse_validated

PROG = "qrn"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def go_bool(text: str) -> bool:
    """Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    import argparse
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def build_parser() -> _entry.ArgumentParser:
    p = _entry.ArgumentParser(prog=PROG, allow_abbrev=False, add_help=False, go_flags=True,
                              description="Replay the queries of JSON Lines files (one {\"query\": SQL} "
                                          "per line) from N agents at a controlled rate and print a JSON "
                                          "report: latency percentiles, histogram, per-second QPS, errors, "
                                          "latency per query shape.")
    a = p.add_argument
    a("--dsn", help="go-sql-driver DSN [user[:pass]@][tcp(host:port)|unix(path)]/[db][?timeout=10s]; "
                    "${VAR} is replaced by the environment variable; no password: MYSQL_PWD")
    a("--defaults-file", "--defaults-extra-file", dest="defaults_file", metavar="FILE",
      help="MySQL option file whose [client] password (and user) are used when the DSN has none")
    a("--nagents", type=int, default=0, help="number of agents (default: the number of -data files)")
    a("--time", default="60", help="run time in seconds (or 90s, 5m); 0 = no limit (default 60)")
    a("--data", action="append", default=[], metavar="FILE",
      help="JSON Lines file (repeatable; agent i reads file i mod n; .gz decompressed; - = stdin)")
    a("--query", help="one SQL statement to run instead of -data")
    a("--key", default="query", help="JSON key holding the SQL (default query)")
    a("--loop", type=go_bool, nargs="?", const=True, default=True,
      help="start over at the end of the file (default true; -loop=false ends at EOF)")
    a("--random", type=go_bool, nargs="?", const=True, default=None,
      help="start at a random line (default: true when looping)")
    a("--maxcount", type=int, default=0, help="queries per agent; 0 = no limit")
    a("--rate", type=int, default=0, help="queries/s of EACH agent; 0 = unthrottled")
    a("--total-rate", type=float, default=0, help="queries/s of all agents together (open-loop schedule)")
    a("--force", action="store_true", help="count query errors, print each with its line, and go on")
    a("--commit-rate", type=int, default=0, help="autocommit off and a COMMIT after every N statements")
    a("--pre-query", action="append", default=[], help="statement each agent runs first (repeatable)")
    a("--log", metavar="FILE", help="write the queries slower than -logtime to FILE (JSON Lines)")
    a("--logtime", default="0", help="threshold of -log, a duration like 100ms (default 0: every query)")
    a("--histogram", action="store_true", help="print a latency histogram on stderr")
    a("--hbins", type=int, default=10, help="histogram bins (default 10)")
    a("--hinterval", default="0", help="histogram bin width, e.g. 1ms (default: -hbins bins over the range)")
    a("--noop", action="store_true", help="read and pace without sending: measures the client alone")
    a("--top", type=int, default=10, help="query shapes in ResponseByFingerprint (default 10)")
    a("--processes", type=int, default=0, help="worker processes (default: min(agents, CPUs))")
    a("--no-progress", action="store_true", help="no progress line (it only appears on a terminal anyway)")
    a("--driver", default="mysql", help="mysql only (upstream also had pgx)")
    a("-h", "--help", action="help", help="show this help and exit")
    a("--version", action="version", version=f"{PROG} {__version__}", help="show the version and exit")
    return p


def _main(argv: list[str]) -> int:
    a, cfg = parse_validated(PROG, build_parser(), argv, lambda a: validate(a, os.environ))
    if a is None:
        return cfg
    from .replay import run
    return run(a, cfg)


main = console_main(PROG, _main)


def expand_env(text: str, environ) -> str:
    """${VAR} replaced by the variable's value (an unset one is a usage error)."""
    def sub(m):
        v = environ.get(m.group(1))
        if v is None:
            raise UsageError(f"-dsn: environment variable {m.group(1)} is not set")
        return v
    return _ENV.sub(sub, text)


def validate(a, environ) -> dict:
    from .dsn import DSNError, parse
    from .gofmt import parse_duration
    if not a.dsn:
        raise UsageError("-dsn is required")
    if a.driver != "mysql":
        raise UsageError(f"-driver {a.driver!r}: only mysql is supported")
    options = {}
    try:
        d = parse(expand_env(a.dsn, environ))
        if a.defaults_file:
            from .dsn import client_options
            options = client_options(a.defaults_file)    # unreadable: `qrn: FILE: reason`, exit 1
        d.connect_kwargs(options=options)
    except DSNError as e:
        raise UsageError(str(e)) from None
    if bool(a.data) == bool(a.query):
        raise UsageError("exactly one of -data or -query is required")
    if a.query is not None and not a.query.strip():
        raise UsageError("-query: query is empty")
    for name, v, lo in (("nagents", a.nagents, 0), ("maxcount", a.maxcount, 0), ("rate", a.rate, 0),
                        ("commit-rate", a.commit_rate, 0), ("hbins", a.hbins, 1), ("top", a.top, 0),
                        ("processes", a.processes, 0)):
        if v < lo:
            raise UsageError(f"-{name} must be >= {lo}")
    if a.total_rate < 0:
        raise UsageError("-total-rate must be >= 0")
    if a.rate and a.total_rate:
        raise UsageError("-rate and -total-rate are exclusive")
    durations = {}
    for name in ("time", "logtime", "hinterval"):
        text = getattr(a, name).strip()
        try:
            v = int(text) * 1_000_000_000 if name == "time" and text.lstrip("-").isdigit() else parse_duration(text)
        except ValueError:
            raise UsageError(f"invalid -{name} {text!r}: a duration like 90s") from None
        if v < 0:
            raise UsageError(f"-{name} must be >= 0")
        durations[name] = v
    for q in a.pre_query:
        if not q.strip():
            raise UsageError("-pre-query: query is empty")
    files = None
    if a.data:
        files = []
        if sum(1 for f in a.data if f == "-") > 1:
            raise UsageError("-data - (standard input) may be given once")
        for f in a.data:
            if f != "-":
                open(f, "rb").close()         # unreadable: `qrn: FILE: reason`, exit 1 (the entry)
            files.append((f, f))
    random_start = a.loop if a.random is None else a.random
    return {"dsn": d, "options": options, "files": files, "query": a.query, "pre": list(a.pre_query), "time_ns": durations["time"],
            "slow_ns": durations["logtime"] or 1, "hinterval": durations["hinterval"], "loop": a.loop,
            "random": random_start, "nagents": a.nagents or max(len(a.data), 1)}


if __name__ == "__main__":
    main()
