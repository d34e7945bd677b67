"""The suite's entry template: exit codes, closed pipes, signals, write errors, usage errors and
Go-style single-dash flags, the same in every tool.

This file is copied byte for byte into every package as src/<module>/_entry.py from
scripts/templates/_entry.py; edit the template and run scripts/sync-entry, never a copy
(tests/contract/test_entry.py fails when a copy differs). It imports only the standard library.

Exit-code policy (CONVENTIONS.md, "Exit status"):

    code  SUITE (every tool)            MACKEREL (mackerel plugins, Nagios)   GREP (myps grep)
    0     success                       OK                                    a match
    1     runtime failure, write error  -                                     no match
    2     usage error                   runtime failure, write error          any error
    3     -                             usage error (UNKNOWN, as upstream)    -
    130   interrupted (SIGINT), after the tool's own clean-up (finally blocks ran)
    141   the reader closed stdout: no message, no traceback
    143   terminated (SIGTERM), after the same clean-up as for SIGINT

A tool's cli.py builds its parser with ArgumentParser (usage errors print `prog: error: ...` and
exit with the policy's usage code) and returns run(PROG, lambda: body(args)) from main().
"""
from __future__ import annotations

import argparse
import errno
import io
import os
import signal
import sys

EXIT_OK = 0
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141
EXIT_TERMINATED = 143


class Policy:
    """The exit codes of one family of tools for a usage error and a runtime failure."""

    __slots__ = ("usage", "failure")

    def __init__(self, usage: int, failure: int):
        self.usage = usage
        self.failure = failure


SUITE = Policy(usage=2, failure=1)
MACKEREL = Policy(usage=3, failure=2)
GREP = Policy(usage=2, failure=2)

# errors of a write to stdout (or another output) that are reported as "write error"
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EBADF, errno.EDQUOT, errno.EFBIG,
                          errno.EROFS, errno.EAGAIN, errno.EINVAL})
# errors that name a file and still are write errors (a full disk under a named output)
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class WriteError(Exception):
    """An output could not be written (ENOSPC, EIO, EBADF ...): `prog: write error: [where: ]why`."""

    def __init__(self, reason: str, where: str | None = None):
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.where = where


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, like KeyboardInterrupt by SIGINT: `finally` blocks
    and context managers clean up, then run() exits 143. Not an Exception, so a tool's
    `except Exception` does not swallow it."""


def _on_sigterm(signum, frame):
    raise Terminated()


# -- argument parsing ------------------------------------------------------------------------
def go_argv(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Go's flag syntax -> argparse, derived from the parser's own options (never a hand-kept list):

    - `-name` and `-name=value` mean `--name` when the parser has `--name` (and no `-name`), and
      `--k` means `-k` when the parser has the short `-k` (and no `--k`): one or two dashes alike;
    - an option that takes a value always takes the next argument, even one starting with `-`
      (`-k -foo`), as Go does;
    - a boolean flag accepts Go's `-flag=true|false|1|0|t|f` (false: the flag is not set, or its
      `--no-` form for an argparse.BooleanOptionalAction);
    - everything after `--` is left alone; tokens that are no known option are left to argparse.
    """
    opts = parser._option_string_actions
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            out.extend(argv[i - 1:])
            break
        if len(a) < 2 or a[0] != "-":
            out.append(a)
            continue
        name, eq, value = a.partition("=")
        if name in opts:
            opt = name
        elif a[1] != "-" and "-" + name in opts:          # -key -> --key
            opt = "-" + name
        elif len(name) == 3 and name[1:] in opts:         # --k -> -k (Go takes one or two dashes)
            opt = name[1:]
        else:
            opt = None
        if opt is None:
            out.append(a)
            continue
        action = opts[opt]
        if action.nargs == 0:                      # a flag: store_true, count, help, version ...
            low = value.lower()
            if not eq or low in ("1", "t", "true"):
                out.append(opt)
            elif low not in ("0", "f", "false"):
                out.append(a)                      # argparse says what is wrong with it
            elif isinstance(action, argparse.BooleanOptionalAction):
                # --loop/--no-loop: `-loop=false` is --no-loop, `-no-loop=false` is --loop
                negated = opt.startswith("--no-")
                out.append(next(s for s in action.option_strings
                                if s.startswith("--") and s.startswith("--no-") != negated))
        elif eq:
            out.append(f"{opt}={value}")
        elif action.nargs in (None, 1) and i < len(argv):
            out.append(f"{opt}={argv[i]}")
            i += 1
        else:
            out.append(opt)
    return out


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the suite's conventions: a usage error prints the usage and
    `prog: error: message` on stderr and exits with the policy's usage code; --help/--version
    into a full disk or a closed stdout is a write error or a closed pipe (argparse would swallow
    it and exit 0); go_flags=True accepts Go's single-dash spellings of every long option."""

    def __init__(self, *args, policy: Policy = SUITE, go_flags: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.go_flags = go_flags

    def parse_known_args(self, args=None, namespace=None):
        if self.go_flags:
            args = go_argv(self, list(sys.argv[1:] if args is None else args))
        return super().parse_known_args(args, namespace)

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(self.policy.usage, f"{self.prog}: error: {message}\n")

    def _print_message(self, message, file=None):
        if not message:
            return
        file = file or sys.stderr
        try:
            file.write(message)
            if file is not sys.stderr:
                file.flush()
        except OSError as e:
            if file is sys.stderr or e.errno == errno.EPIPE:
                if e.errno == errno.EPIPE and file is not sys.stderr:
                    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)) from None
                return
            raise WriteError(e.strerror or str(e)) from None


# -- output ----------------------------------------------------------------------------------
def _wait_writable(out) -> None:
    import select
    select.select([], [out], [])


def write_all(out, data, where: str | None = None) -> None:
    """Write all of data to a binary stream. A short write (the reader left mid-way) is retried
    so that a closed pipe surfaces as BrokenPipeError; a descriptor inherited with O_NONBLOCK is
    waited for when it would block; any other failure is a WriteError."""
    mv = memoryview(data)
    try:
        while mv:
            try:
                n = out.write(mv)
            except BlockingIOError as e:
                n = e.characters_written
                _wait_writable(out)
            if n is None:
                _wait_writable(out)
            elif n == 0:
                out.flush()
            mv = mv[n or 0:]
    except BrokenPipeError:
        raise
    except OSError as e:
        raise WriteError(e.strerror or str(e), where) from None


def flush(out, where: str | None = None) -> None:
    """out.flush() that waits when a non-blocking descriptor would block; a failure other than a
    closed pipe is a WriteError."""
    try:
        while True:
            try:
                out.flush()
                return
            except BlockingIOError:
                _wait_writable(out)
    except BrokenPipeError:
        raise
    except OSError as e:
        raise WriteError(e.strerror or str(e), where) from None


def stdout_to_devnull() -> None:
    """Nothing more can reach stdout: point it at /dev/null so that the interpreter's final flush
    of what is left in a buffer neither fails nor prints a second error."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


class _ClosedFd(io.RawIOBase):
    """Stands in for a standard stream whose descriptor was closed (`prog <&-`, `prog >&-`): a
    read or the first write fails with EBADF, reported like any other I/O error."""

    failed = False

    def readable(self):
        return True

    def writable(self):
        return True

    def readinto(self, b):
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def write(self, b):
        if self.failed:          # reported once; the interpreter's final flush drops the rest
            return len(b)
        self.failed = True
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


CLOSED_STD_FDS: tuple[int, ...] = ()    # the standard descriptors found closed at start-up


def reopen_closed_std() -> tuple[int, ...]:
    """A closed fd 0/1/2 (`prog <&-`, `prog >&-`): hold its number on the null device opened the
    wrong way round (fd 0 write-only, fd 1 and 2 read-only), so that no file opened later takes
    it (log lines into a lock file) and a read or write through it still fails with EBADF; and
    replace the None that Python leaves in sys.stdin/stdout/stderr by streams that fail with
    EBADF (stdin, stdout) or discard (stderr: nowhere to report anything). Returns, and keeps in
    CLOSED_STD_FDS, the descriptors that were closed."""
    global CLOSED_STD_FDS
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
    for fd in closed:
        try:
            got = os.open(os.devnull, os.O_WRONLY if fd == 0 else os.O_RDONLY)
        except OSError:
            break
        if got != fd:
            os.dup2(got, fd)
            os.close(got)
    if closed:
        CLOSED_STD_FDS = tuple(closed)
    if sys.stdin is None:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_ClosedFd()))
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedFd()))
    if sys.stderr is None:
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(open(os.devnull, "wb", buffering=0)))
    return CLOSED_STD_FDS


def say(stderr, text: str) -> None:
    """Write a message to stderr (a binary stream, a text stream, or None: the process's own),
    never raising: a diagnostic that cannot be written is dropped."""
    try:
        if stderr is None:
            sys.stderr.write(text)
            sys.stderr.flush()
        elif isinstance(stderr, io.TextIOBase):
            stderr.write(text)
            stderr.flush()
        else:
            stderr.write(text.encode("utf-8", "surrogateescape"))
            stderr.flush()
    except (OSError, ValueError):
        pass


# -- the entry -------------------------------------------------------------------------------
def run(prog: str, body, *, policy: Policy = SUITE, stdout=None, stderr=None) -> int:
    """Run body() (which returns an exit code) with the suite's conventions and return the exit
    code. stdout/stderr: binary streams given by an in-process caller (tests); None means the
    process's own, which are then flushed here and, after a closed pipe or a write error,
    pointed at /dev/null.

    SIGTERM raises Terminated in the main thread for the duration (then 143); SIGINT is
    KeyboardInterrupt (130); a usage error or --help/--version from argparse inside body()
    gives their own codes; an OSError escaping body() is `prog: FILE: reason` when it names a
    file, `prog: write error: reason` for the write errnos, `prog: reason` otherwise."""
    own = stdout is None
    reopen_closed_std()
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):       # not the main thread
        pass
    try:
        try:
            try:
                rc = body()
                if rc == EXIT_PIPE and own:    # the body met a closed pipe and said so
                    stdout_to_devnull()
            except SystemExit as e:      # argparse: --help, --version, usage errors
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else policy.usage)
            flush(sys.stdout)            # the text layer (argparse writes there) and its buffer
            if not own:
                flush(stdout)
            return rc
        except OSError as e:
            if e.errno == errno.EPIPE:
                raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)) from None
            if e.filename is not None and e.errno in _FULL_ERRNOS:
                raise WriteError(e.strerror or str(e), os.fsdecode(e.filename)) from None
            if e.filename is None and e.errno in WRITE_ERRNOS:
                raise WriteError(e.strerror or str(e)) from None
            raise
    except BrokenPipeError:
        if own:
            stdout_to_devnull()
        return EXIT_PIPE
    except WriteError as e:
        if own:
            stdout_to_devnull()
        say(stderr, f"{prog}: write error: {e}\n")
        return policy.failure
    except OSError as e:
        where = f"{os.fsdecode(e.filename)}: " if e.filename is not None else ""
        say(stderr, f"{prog}: {where}{e.strerror or e}\n")
        return policy.failure
    except KeyboardInterrupt:
        if own:
            stdout_to_devnull()
        return EXIT_INTERRUPTED
    except Terminated:
        if own:
            stdout_to_devnull()
        return EXIT_TERMINATED
    finally:
        if old is not None:
            try:
                signal.signal(signal.SIGTERM, old)
            except (ValueError, OSError):
                pass

