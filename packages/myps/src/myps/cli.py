"""myps: grep / kill for the MySQL processlist. Thin layer: the arguments and their validation,
then app.run() under the suite's entry (signals, closed pipes, write errors); Go's single-dash
spellings (-mysql-host, -colour=never) are derived from the parser."""
from __future__ import annotations

import argparse
import sys

from . import __version__, _entry
from .match import Criteria, CriteriaError, compile_regexes, parse_go_duration, parse_time

PROG = "myps"
EXIT_OK, EXIT_ERROR = 0, 2
# grep-like: 0 listed, 1 none; every error (usage, connection, write) is 2
POLICY = _entry.GREP
ACTIONS = ("grep", "kill", "blockers")


def build_parser() -> _entry.ArgumentParser:
    p = _entry.ArgumentParser(prog=PROG, allow_abbrev=False, add_help=False, policy=POLICY, go_flags=True,
                usage="%(prog)s [OPTIONS] {grep,kill,blockers} [OPTIONS] [PATTERN]",
                description="grep / kill threads of the MySQL or MariaDB processlist. Filters are SQL LIKE "
                            "patterns (%% and _), combined with AND; PATTERN is the --info pattern.",
                epilog="exit status: grep 0 = listed, 1 = none, 2 = error; kill 0 = done (or declined, or "
                       "nothing matched), 2 = error, 3 = some kill failed. 130 interrupted.")
    p.add_argument("args", nargs="*", metavar="grep|kill|blockers [PATTERN]", help=argparse.SUPPRESS)
    g = p.add_argument_group("connection")
    g.add_argument("--mysql-host", metavar="HOST", help="host name (TCP, even 'localhost')")
    g.add_argument("--mysql-port", metavar="PORT", help="port (default 3306)")
    g.add_argument("--mysql-user", metavar="USER", help="user (default: option files, then $USER)")
    g.add_argument("--mysql-password", metavar="PASS",
                   help="password (accepted for compatibility; prefer an option file or MYSQL_PWD: "
                        "argv is visible to every user)")
    g.add_argument("--ask-password", action="store_true", help="prompt for the password on the terminal")
    g.add_argument("--mysql-socket", metavar="PATH", help="unix socket")
    g.add_argument("--mysql-timeout", metavar="DUR", default="30s",
                   help="connect, handshake, read and write timeout (default 30s)")
    g.add_argument("--defaults-file", metavar="FILE", help="read only this option file")
    g.add_argument("--defaults-extra-file", metavar="FILE", help="option file read after the usual ones")
    g.add_argument("--no-defaults", action="store_true", help="read no option file")
    f = p.add_argument_group("filters (AND-ed; LIKE patterns unless --regex)")
    f.add_argument("-t", "--time", "--duration", dest="time", metavar="SEC",
                   help="TIME >= SEC; units 90s, 5m, 500ms; fractions use TIME_MS on MariaDB")
    f.add_argument("-u", "--user", metavar="PAT", help="USER LIKE PAT")
    f.add_argument("-d", "--db", metavar="PAT", help="DB LIKE PAT ('' = no default database)")
    f.add_argument("-c", "--command", metavar="PAT", help="COMMAND LIKE PAT")
    f.add_argument("-s", "--state", metavar="PAT", help="STATE LIKE PAT")
    f.add_argument("-i", "--info", metavar="PAT", help="INFO (the statement) LIKE PAT")
    f.add_argument("--host", metavar="PAT", help="HOST LIKE PAT (client host:port)")
    f.add_argument("--exclude-user", action="append", default=[], metavar="PAT", help="USER NOT LIKE PAT")
    f.add_argument("--exclude-db", action="append", default=[], metavar="PAT", help="DB NOT LIKE PAT")
    f.add_argument("--exclude-host", action="append", default=[], metavar="PAT", help="HOST NOT LIKE PAT")
    f.add_argument("--trx-time", metavar="SEC",
                   help="sessions holding an InnoDB transaction open for >= SEC (idle ones included)")
    f.add_argument("--regex", action="store_true",
                   help="-u -d -c -s -i --host are Python regular expressions (searched, case-sensitive)")
    f.add_argument("--include-system", action="store_true",
                   help="also list system/replication threads and event_scheduler")
    k = p.add_argument_group("kill")
    k.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    k.add_argument("--dry-run", action="store_true", help="list what would be killed, kill nothing")
    k.add_argument("--kill-query", action="store_true",
                   help="KILL QUERY (on MariaDB: KILL QUERY ID <query_id>, the very statement listed)")
    k.add_argument("--victims", choices=("all", "oldest", "all-but-oldest"), default="all",
                   help="which matching threads to kill (default all)")
    k.add_argument("--max-kills", type=int, metavar="N", help="kill at most N threads (in total)")
    k.add_argument("--interval", metavar="SEC", help="watch mode: repeat every SEC seconds")
    k.add_argument("--run-time", metavar="SEC", help="watch mode: stop after SEC seconds")
    d = p.add_argument_group("display")
    d.add_argument("-f", "--full", action="store_true", help="do not cut INFO at 110 characters")
    d.add_argument("--json", action="store_true", help="JSON lines instead of LTSV")
    d.add_argument("--color", "--colour", choices=("auto", "always", "never"), default="auto",
                   help="colour the labels (auto: on a terminal, unless NO_COLOR is set)")
    d.add_argument("-D", "--debug", action="store_true", help="log the connection (password masked) and queries")
    p.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    p.add_argument("--version", action="store_true", help="show the version and exit")
    return p


class _TextAdapter:
    """A byte-stream face for a text stream without .buffer (e.g. a redirected StringIO)."""

    def __init__(self, text):
        self.text = text

    def write(self, b: bytes) -> None:
        self.text.write(b.decode("utf-8", "replace"))

    def flush(self) -> None:
        self.text.flush()

    def readline(self) -> bytes:
        return self.text.readline().encode()

    def isatty(self) -> bool:
        return False


def _binary(stream):
    return getattr(stream, "buffer", None) or _TextAdapter(stream)


def main(argv: list[str] | None = None, stdin=None, stdout=None, stderr=None) -> int:
    """stdin/stdout/stderr: byte streams of an in-process caller; None: the process's own."""
    def body():                     # sys.std* are looked up here, after run() replaced closed ones
        return _main(sys.argv[1:] if argv is None else list(argv),
                     stdin if stdin is not None else _binary(sys.stdin),
                     stdout if stdout is not None else _binary(sys.stdout),
                     stderr if stderr is not None else _binary(sys.stderr))
    rc = _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)
    if argv is None:                # `python -c "from myps.cli import main; main()"`
        sys.exit(rc)
    return rc


def _main(argv, stdin, stdout, stderr) -> int:
    parser = build_parser()
    a = parser.parse_intermixed_args(argv)     # unknown options: SystemExit(2), run() maps it
    if a.help:
        stdout.write(parser.format_help().encode())
        return EXIT_OK
    if a.version:
        stdout.write(f"{PROG} {__version__}\n".encode())
        return EXIT_OK
    try:
        job = validate(a)
    except CriteriaError as e:
        stderr.write(f"{PROG}: {e}\n".encode("utf-8", "replace"))
        stderr.flush()
        return EXIT_ERROR
    from . import app
    return app.run(a, job, stdin, stdout, stderr)


def validate(a):
    """The app.Job the arguments ask for; CriteriaError (a usage error) when they do not make one."""
    from .app import Job
    if not a.args or a.args[0] not in ACTIONS:
        raise CriteriaError("expected a command: grep, kill or blockers" if not a.args
                            else f"unknown command {a.args[0]!r}: expected grep, kill or blockers")
    action = a.args[0]
    if a.info is None and len(a.args) > 1:
        a.info = a.args[1]
    crit = Criteria(time=parse_time(a.time) if a.time is not None else None, user=a.user, db=a.db,
                    command=a.command, state=a.state, info=a.info, host=a.host,
                    exclude_user=a.exclude_user, exclude_db=a.exclude_db, exclude_host=a.exclude_host,
                    trx_time=parse_time(a.trx_time) if a.trx_time is not None else None,
                    regex=a.regex, include_system=a.include_system)
    regexes = compile_regexes(crit)
    timeout = parse_go_duration(a.mysql_timeout)
    interval = parse_time(a.interval) if a.interval is not None else None
    run_time = parse_time(a.run_time) if a.run_time is not None else None
    for name in ("user", "db", "command", "state", "info", "host", "exclude_user", "exclude_db", "exclude_host"):
        for v in (lambda x: x if isinstance(x, list) else [x])(getattr(a, name)):
            if v is not None and not _utf8(v):
                raise CriteriaError(f"--{name.replace('_', '-')}: the pattern is not valid UTF-8: {v!r}")
    if action != "blockers" and crit.empty():
        raise CriteriaError(f"no matching criteria specified.\n try `{PROG} {action} --help' for more information")
    if interval is not None and interval <= 0:
        raise CriteriaError("--interval must be > 0")
    if a.max_kills is not None and a.max_kills < 0:
        raise CriteriaError("--max-kills must be >= 0")
    if action == "kill" and interval is not None and not (a.yes or a.dry_run):
        raise CriteriaError("watch mode (--interval) kills without asking: give --yes (or --dry-run)")
    return Job(action, crit, regexes, timeout, interval, run_time)


def _utf8(s: str) -> bool:
    """False for an argv value holding undecodable bytes (surrogate escapes): the server cannot be
    sent it, and its columns hold no such bytes anyway."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


if __name__ == "__main__":
    main()
