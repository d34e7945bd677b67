"""myps: grep / kill for the MySQL processlist. Thin layer: arguments, wiring, exit codes."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from . import __version__
from .match import Criteria, CriteriaError, choose_victims, compile_regexes, is_system, parse_go_duration, \
    parse_time, regex_match
from .output import MAGENTA, RESET, json_line, ltsv_line

PROG = "myps"
EXIT_OK, EXIT_NONE, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2, 3
ACTIONS = ("grep", "kill", "blockers")
PROMPT = b"Are you sure you want to kill threads? [y/N]:"

# long options also accepted with one dash (Go style), e.g. -mysql-host, -time
_LONG = {"mysql-host", "mysql-port", "mysql-user", "mysql-password", "mysql-socket", "mysql-timeout",
         "defaults-extra-file", "defaults-file", "no-defaults", "time", "duration", "user", "db", "command",
         "state", "info", "host", "debug", "full", "yes", "dry-run", "kill-query", "include-system", "json",
         "regex", "exclude-user", "exclude-db", "exclude-host", "trx-time", "color", "interval", "run-time",
         "max-kills", "victims", "ask-password", "help", "version"}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, allow_abbrev=False, add_help=False,
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
    g.add_argument("--mysql-timeout", metavar="DUR", default="30s", help="connect timeout (default 30s)")
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
                   help="also list system/replication threads, event_scheduler and other myps sessions")
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


def normalise_argv(argv: list[str]) -> list[str]:
    out = []
    for i, a in enumerate(argv):
        if a == "--":
            out.extend(argv[i:])
            break
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and a[1:].split("=", 1)[0] in _LONG:
            a = "-" + a
        out.append(a)
    return out


class Out:
    """Byte streams and the colour decision."""

    def __init__(self, stdout, stderr, colour: bool):
        self.stdout, self.stderr, self.colour = stdout, stderr, colour

    def write(self, b: bytes) -> None:
        self.stdout.write(b)

    def err(self, msg: str) -> None:
        self.stderr.write(f"{PROG}: {msg}\n".encode("utf-8", "replace"))
        self.stderr.flush()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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
    stdin = stdin if stdin is not None else _binary(sys.stdin)
    stdout = stdout if stdout is not None else _binary(sys.stdout)
    stderr = stderr if stderr is not None else _binary(sys.stderr)
    real = stdout is getattr(sys.stdout, "buffer", None)
    try:
        rc = _main(sys.argv[1:] if argv is None else list(argv), stdin, stdout, stderr)
        stdout.flush()
    except BrokenPipeError:
        if real:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except OSError:
                pass
        rc = 141
    except KeyboardInterrupt:
        try:
            stdout.flush()
        except (BrokenPipeError, OSError):
            pass
        rc = 130
    except Exception as e:   # never a traceback at 3 a.m.; the message says what happened
        stderr.write(f"{PROG}: {e.__class__.__name__}: {e}\n".encode("utf-8", "replace"))
        rc = EXIT_ERROR
    if argv is None:
        sys.exit(rc)
    return rc


def _main(argv, stdin, stdout, stderr) -> int:
    parser = build_parser()
    try:
        a = parser.parse_intermixed_args(normalise_argv(argv))
    except UsageError as e:
        stderr.write(f"{PROG}: {e}\nTry '{PROG} --help' for more information.\n".encode())
        return EXIT_ERROR
    if a.help:
        stdout.write(parser.format_help().encode())
        return EXIT_OK
    if a.version:
        stdout.write(f"{PROG} {__version__}\n".encode())
        return EXIT_OK
    colour = a.color == "always" or (a.color == "auto" and _isatty(stdout) and not os.environ.get("NO_COLOR"))
    out = Out(stdout, stderr, colour)

    def usage(msg: str) -> int:
        out.err(msg)
        return EXIT_ERROR

    if not a.args or a.args[0] not in ACTIONS:
        return usage("expected a command: grep, kill or blockers" if not a.args
                     else f"unknown command {a.args[0]!r}: expected grep, kill or blockers")
    action = a.args[0]
    if a.info is None and len(a.args) > 1:
        a.info = a.args[1]
    try:
        crit = Criteria(time=parse_time(a.time) if a.time is not None else None, user=a.user, db=a.db,
                        command=a.command, state=a.state, info=a.info, host=a.host,
                        exclude_user=a.exclude_user, exclude_db=a.exclude_db, exclude_host=a.exclude_host,
                        trx_time=parse_time(a.trx_time) if a.trx_time is not None else None,
                        regex=a.regex, include_system=a.include_system)
        regexes = compile_regexes(crit)
        timeout = parse_go_duration(a.mysql_timeout)
        interval = parse_time(a.interval) if a.interval is not None else None
        run_time = parse_time(a.run_time) if a.run_time is not None else None
    except CriteriaError as e:
        return usage(str(e))
    for name in ("user", "db", "command", "state", "info", "host", "exclude_user", "exclude_db", "exclude_host"):
        for v in (lambda x: x if isinstance(x, list) else [x])(getattr(a, name)):
            if v is not None and not _utf8(v):
                return usage(f"--{name.replace('_', '-')}: the pattern is not valid UTF-8: {v!r}")
    if action != "blockers" and crit.empty():
        return usage(f"no matching criteria specified.\n try `{PROG} {action} --help' for more information")
    if interval is not None and interval <= 0:
        return usage("--interval must be > 0")
    if a.max_kills is not None and a.max_kills < 0:
        return usage("--max-kills must be >= 0")
    if action == "kill" and interval is not None and not (a.yes or a.dry_run):
        return usage("watch mode (--interval) kills without asking: give --yes (or --dry-run)")

    from . import options
    from .session import DBError, Session, debug_logger
    cli = {"host": a.mysql_host, "port": a.mysql_port, "user": a.mysql_user, "password": a.mysql_password,
           "socket": a.mysql_socket}
    try:
        if a.ask_password:
            import getpass
            cli["password"] = getpass.getpass("Enter password: ")
        params = options.resolve(cli, a.defaults_file, a.defaults_extra_file, a.no_defaults)
        kw = options.connect_kwargs(params, timeout)
    except options.OptionFileError as e:
        out.err(str(e))
        return EXIT_ERROR
    debug = debug_logger(a.debug, stderr)
    if debug:
        debug(f"DSN: {options.describe(params)}")

    stop = {"flag": False}

    def on_term(signum, frame):
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_term) if real_main_thread() else None
    sess = None
    try:
        try:
            sess = Session(kw, debug)
        except DBError as e:
            out.err(f"cannot connect to {options.describe(params)}: {e}")
            return EXIT_ERROR
        runner = Runner(a, action, crit, regexes, sess, out, stdin)
        if interval is None:
            return runner.once()
        return runner.watch(interval, run_time, stop)
    except DBError as e:
        out.err(str(e))
        return EXIT_ERROR
    finally:
        if sess is not None:
            sess.close()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _utf8(s: str) -> bool:
    """False for an argv value holding undecodable bytes (surrogate escapes): the server cannot be
    sent it, and its columns hold no such bytes anyway."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def real_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


class Runner:
    def __init__(self, a, action, crit, regexes, sess, out: Out, stdin):
        self.a, self.action, self.crit, self.regexes = a, action, crit, regexes
        self.sess, self.out, self.stdin = sess, out, stdin
        self.kills = 0
        self.failed = 0

    # -- listing ---------------------------------------------------------------------------------
    def matching(self) -> list[dict]:
        rows = self.sess.processlist(self.crit)
        if self.regexes:
            rows = [r for r in rows if regex_match(r, self.regexes)]
        if not self.crit.include_system:
            rows = [r for r in rows if not is_system(r)]
        return rows

    def line(self, label: str, row: dict, extra: list[tuple[str, bytes]] | None = None) -> bytes:
        if self.a.json:
            return json_line(label, row, self.a.full, {k.lower(): v.decode("utf-8", "replace")
                                                       for k, v in (extra or [])})
        return ltsv_line(label, row, self.a.full, self.out.colour, extra)

    # -- one shot --------------------------------------------------------------------------------
    def once(self) -> int:
        if self.action == "blockers":
            return self.blockers()
        rows = self.matching()
        if self.action == "grep" or self.a.dry_run:
            if self.action == "kill":
                rows = self.limit(choose_victims(rows, self.a.victims))
            self.out.write(b"".join(self.line("ID", r) for r in rows))
            return EXIT_OK if rows else EXIT_NONE
        victims = self.limit(choose_victims(rows, self.a.victims))
        if not victims:
            return EXIT_OK
        if not self.a.yes:
            self.out.write(b"".join(self.line("ID", r) for r in victims))
            prompt = MAGENTA + PROMPT + RESET if self.out.colour else PROMPT
            self.out.write(prompt)
            self.out.stdout.flush()
            self.sess.close()       # no idle myps session (Sleep) on the server while a human reads
            answer = self.stdin.readline()
            if not answer or not _isatty(self.stdin):
                # no terminal echoed the answer's newline: end the prompt's line, so that the first
                # KILLED: record is not glued to it (`echo y | myps kill ... | lltsv` stays parseable)
                self.out.write(b"\n")
            if not answer:
                self.out.err("no answer (end of input): nothing killed")
                return EXIT_ERROR
            if answer.rstrip(b"\n") not in (b"y", b"Y"):
                return EXIT_OK
            self.sess.reopen()
        self.kill_all(victims)
        return EXIT_PARTIAL if self.failed else EXIT_OK

    def limit(self, rows: list[dict]) -> list[dict]:
        if self.a.max_kills is None:
            return rows
        return rows[:max(self.a.max_kills - self.kills, 0)]

    def kill_all(self, victims: list[dict], audit: bool = False) -> None:
        from .session import ER_NO_SUCH_QUERY, ER_NO_SUCH_THREAD, DBError
        for row in victims:
            extra = [("TIMESTAMP", time.strftime("%Y-%m-%dT%H:%M:%S%z").encode())] if audit else []
            cur = self.sess.recheck(row, self.crit)
            if cur is None:
                self.out.write(self.line("GONE", row, extra + [("REASON", b"no longer matches")]))
                continue
            try:
                self.sess.kill(row, self.a.kill_query)
            except DBError as e:
                if e.code in (ER_NO_SUCH_THREAD, ER_NO_SUCH_QUERY):
                    self.out.write(self.line("GONE", row, extra + [("REASON", str(e).encode())]))
                    continue
                if e.code is None or e.code >= 2000:     # client side: the connection is gone
                    raise
                self.failed += 1
                self.out.write(self.line("FAILED", row, extra + [("ERROR", str(e).encode())]))
                continue
            self.kills += 1
            self.out.write(self.line("KILLED", row, extra))
            self.out.stdout.flush()

    # -- watch mode ------------------------------------------------------------------------------
    def watch(self, interval: float, run_time: float | None, stop) -> int:
        start = time.monotonic()
        seen_any = False
        while True:
            self.sess.reopen()
            if self.action == "blockers":
                seen_any |= self.blockers() == EXIT_OK
            else:
                rows = self.matching()
                if self.action == "grep" or self.a.dry_run:
                    if self.action == "kill":
                        rows = self.limit(choose_victims(rows, self.a.victims))
                    self.out.write(b"".join(self.line("ID", r, [("TIMESTAMP", _now())]) for r in rows))
                    seen_any |= bool(rows)
                else:
                    victims = self.limit(choose_victims(rows, self.a.victims))
                    self.kill_all(victims, audit=True)
            self.out.stdout.flush()
            if self.a.max_kills is not None and self.kills >= self.a.max_kills and self.action == "kill":
                break
            self.sess.close()           # no idle myps session on the server between rounds
            elapsed = time.monotonic() - start
            if run_time is not None and elapsed + interval > run_time:
                if run_time > elapsed:
                    time.sleep(run_time - elapsed)
                break
            time.sleep(interval - (elapsed % interval))
        if self.action == "kill" and not self.a.dry_run:
            return EXIT_PARTIAL if self.failed else EXIT_OK
        return EXIT_OK if seen_any else EXIT_NONE

    # -- blockers --------------------------------------------------------------------------------
    def blockers(self) -> int:
        found = self.sess.blockers()
        if not self.crit.include_system:
            found = [(r, n) for r, n in found if not is_system(r)]
        self.out.write(b"".join(self.line("ID", r, [("BLOCKED", str(n).encode())]) for r, n in found))
        return EXIT_OK if found else EXIT_NONE


def _now() -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z").encode()


if __name__ == "__main__":
    main()
