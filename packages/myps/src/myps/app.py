"""One myps command against the server: connect, then grep, kill (with the prompt) or blockers,
once or in watch mode. cli.py parses and validates the arguments and calls run()."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ._entry import Terminated
from .match import Criteria, choose_victims, is_system, regex_match
from .output import MAGENTA, RESET, json_line, ltsv_line

PROG = "myps"
EXIT_OK, EXIT_NONE, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2, 3
PROMPT = b"Are you sure you want to kill threads? [y/N]:"


@dataclass
class Job:
    """What the arguments asked for, validated."""
    action: str                     # grep, kill or blockers
    crit: Criteria
    regexes: dict
    timeout: float                  # connect, handshake, read and write timeout, seconds
    interval: float | None          # watch mode
    run_time: float | None


class Out:
    """Byte streams and the colour decision."""

    def __init__(self, stdout, stderr, colour: bool):
        self.stdout, self.stderr, self.colour = stdout, stderr, colour

    def write(self, b: bytes) -> None:
        self.stdout.write(b)

    def err(self, msg: str) -> None:
        self.stderr.write(f"{PROG}: {msg}\n".encode("utf-8", "replace"))
        self.stderr.flush()


def isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def colour_wanted(choice: str, stdout, environ=os.environ) -> bool:
    return choice == "always" or (choice == "auto" and isatty(stdout) and not environ.get("NO_COLOR"))


def run(a, job: Job, stdin, stdout, stderr) -> int:
    """Connect (option files, MYSQL_PWD, flags), run the command, return the exit status. An
    unexpected error is one line on stderr and exit 2, never a traceback; write errors (OSError)
    go up to the entry, which reports them."""
    out = Out(stdout, stderr, colour_wanted(a.color, stdout))
    try:
        return _run(a, job, stdin, out)
    except (KeyboardInterrupt, Terminated):
        try:                        # what was printed (KILLED lines: the audit) is kept
            stdout.flush()
        except OSError:
            pass
        raise
    except OSError:
        raise
    except Exception as e:          # noqa: BLE001 - never a traceback at 3 a.m.; the message says what happened
        out.err(f"{e.__class__.__name__}: {e}")
        return EXIT_ERROR


def _run(a, job: Job, stdin, out: Out) -> int:
    from . import options
    from .session import DBError, Session, debug_logger
    cli = {"host": a.mysql_host, "port": a.mysql_port, "user": a.mysql_user, "password": a.mysql_password,
           "socket": a.mysql_socket}
    try:
        if a.ask_password:
            cli["password"] = ask_password()
        params = options.resolve(cli, a.defaults_file, a.defaults_extra_file, a.no_defaults)
        kw = options.connect_kwargs(params, job.timeout)
    except options.OptionFileError as e:
        out.err(str(e))
        return EXIT_ERROR
    debug = debug_logger(a.debug, out.stderr)
    if debug:
        debug(f"DSN: {options.describe(params)}")
    sess = None
    try:
        try:
            sess = Session(kw, debug)
        except DBError as e:
            out.err(f"cannot connect to {options.describe(params)}: {e}")
            return EXIT_ERROR
        runner = Runner(a, job.action, job.crit, job.regexes, sess, out, stdin)
        if job.interval is None:
            return runner.once()
        return runner.watch(job.interval, job.run_time)
    except DBError as e:
        out.err(str(e))
        return EXIT_ERROR
    finally:
        if sess is not None:
            sess.close()


def ask_password() -> str:
    """The password typed on the controlling terminal. Without one (cron, a pipeline under
    setsid, a container without a tty), an OptionFileError saying what to do instead, rather
    than getpass's fallback to stdin (a warning, then EOFError)."""
    import getpass

    from .options import OptionFileError
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise OptionFileError("--ask-password needs a terminal to read the password from, and there is none: "
                              "give the password in an option file ([client] password=...) or in MYSQL_PWD"
                              ) from None
    os.close(fd)
    try:
        return getpass.getpass("Enter password: ")
    except EOFError:
        raise OptionFileError("--ask-password: no password entered (end of input)") from None


class Runner:
    """One grep, kill or blockers command on an open Session: once, or every interval (watch mode)."""

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
            if not answer or not isatty(self.stdin):
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
            extra = [("TIMESTAMP", _now())] if audit else []
            cur = self.sess.recheck(row, self.crit)
            if cur is None:
                self.out.write(self.line("GONE", row, extra + [("REASON", b"no longer matches")]))
                continue
            try:
                self.sess.kill(row, self.a.kill_query)
            except DBError as e:
                # "unknown thread" is also what a server says for a thread it will not kill
                # (event_scheduler, other system threads): GONE only when it really is gone
                if e.code in (ER_NO_SUCH_THREAD, ER_NO_SUCH_QUERY) and not self.sess.alive(
                        row, same_query=e.code == ER_NO_SUCH_QUERY):
                    self.out.write(self.line("GONE", row, extra + [("REASON", str(e).encode())]))
                    continue
                if e.code is None or e.code >= 2000:     # client side: the connection is gone
                    raise
                self.failed += 1
                why = str(e)
                if e.code in (ER_NO_SUCH_THREAD, ER_NO_SUCH_QUERY):
                    why += " (the thread is still there: the server refuses to kill it)"
                self.out.write(self.line("FAILED", row, extra + [("ERROR", why.encode())]))
                continue
            self.kills += 1
            self.out.write(self.line("KILLED", row, extra))
            self.out.stdout.flush()

    # -- watch mode ------------------------------------------------------------------------------
    def watch(self, interval: float, run_time: float | None) -> int:
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
