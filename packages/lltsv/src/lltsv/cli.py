"""lltsv command line: argument parsing (Go/urfave-style spellings too) and wiring."""
from __future__ import annotations

import argparse
import errno
import io
import os
import sys

from lltsv import __version__

PROG = "lltsv"
_VALUE_OPTS = {"key": "k", "ignore-key": "i", "filter": "f", "expr": "e", "color": None, "colour": None}
_FLAG_OPTS = {"no-key": "K", "help": "h", "version": "v", "json": None, "header": None, "strict": None}
_SHORT = {v: k for k, v in {**_VALUE_OPTS, **_FLAG_OPTS}.items() if v}

DESCRIPTION = """\
List, filter and compute keys of LTSV (Labeled Tab-Separated Values) records.
A drop-in for sonots/lltsv 0.7.0 with its bugs fixed (see the README's COMPATIBILITY section).

Filter operators (-f 'KEY OP VALUE', several -f are all applied):
  >  >=  <  <=      numeric
  ==  !=            numeric when both sides are numbers (1 == 1.0), else string
  ==*  !=*          case-insensitive string
  =~  !~  =~*  !~*  regular expression search (* = case-insensitive)
Expressions (-e 'NAME = EXPR', run in the order given): + - * / %, unary -, parentheses,
abs(x) round(x[, digits]) int(x) min(...) max(...); exact decimal arithmetic, results in
plain notation (70, 1234567500, 0.33333333333333333); division by zero leaves the value empty.
"""

EPILOG = """\
examples:
  lltsv -k time,status,uri access.log
  grep status:499 access.log | lltsv -K -k reqtime | percentile
  lltsv -k status,reqtime,uri -f 'reqtime > 1' -f 'reqtime < 2' access.log
  lltsv -k uri,reqtime,apptime,wait_ms -e 'wait_ms = (reqtime - apptime) * 1000' access.log

exit status: 0 ok, 1 unreadable input / --strict failure / write error, 2 usage error,
130 interrupted, 141 the reader closed the pipe.
"""


def normalize_argv(argv: list[str]) -> list[str]:
    """Go flag spellings -> argparse: `-key x` / `-key=x` / `--k x` become `--key=x`, `-no-key`
    becomes `--no-key`; the value of an option is always attached, so a value starting with '-'
    (`-k -foo`) stays a value, as in Go."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            out.append(a)
            out.extend(argv[i:])
            break
        if not a.startswith("-") or a == "-":
            out.append(a)
            continue
        body = a[2:] if a.startswith("--") else a[1:]
        name, eq, value = body.partition("=")
        long = _SHORT.get(name, name) if len(name) == 1 else name
        if long in _VALUE_OPTS:
            if not eq:
                if i >= len(argv):
                    out.append(f"--{long}")   # argparse reports the missing value
                    continue
                value = argv[i]
                i += 1
            out.append(f"--{long}={value}")
        elif long in _FLAG_OPTS and (not eq or value.lower() in ("true", "1", "t")):
            out.append(f"--{long}")
        elif long in _FLAG_OPTS and value.lower() in ("false", "0", "f"):
            continue
        else:
            out.append(a)
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {message}\n")

    def _print_message(self, message, file=None):
        # argparse swallows OSError here, so --help into a full disk exited 0 having written
        # nothing; let entry() report a failed stdout as a write error (stderr: nowhere to report).
        if not message:
            return
        file = file or sys.stderr
        try:
            file.write(message)
            if file is not sys.stderr:
                file.flush()
        except BrokenPipeError:
            raise
        except OSError:
            if file is sys.stderr:
                return
            raise


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, add_help=False,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", metavar="FILE", help="input files, in order; none or - = stdin")
    ap.add_argument("-k", "--key", metavar="KEYS", default="",
                    help="keys to output, comma-separated, in this order (missing keys print empty)")
    ap.add_argument("-K", "--no-key", action="store_true", help="print values only, TAB-separated")
    ap.add_argument("-i", "--ignore-key", metavar="KEYS", default="",
                    help="keys not to output (ignored when -k is given)")
    ap.add_argument("-f", "--filter", action="append", default=[], metavar="'KEY OP VALUE'",
                    help="print only records that satisfy this condition (repeatable: AND)")
    ap.add_argument("-e", "--expr", action="append", default=[], metavar="'NAME = EXPR'",
                    help="set NAME to the value of EXPR (repeatable, evaluated in order)")
    ap.add_argument("--json", action="store_true", help="print NDJSON records instead of LTSV")
    ap.add_argument("--header", action="store_true", help="with -K and -k: print the key names first")
    ap.add_argument("--color", "--colour", choices=["auto", "always", "never"], default="auto",
                    help="colour labels and values (auto: when stdout is a terminal and NO_COLOR is unset)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 at the first line that is not LTSV or value a numeric filter cannot read")
    ap.add_argument("-h", "--help", action="help", help="show this help and exit")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}",
                    help="print the version and exit")
    return ap


def _split_keys(s: str) -> list[bytes]:
    if s == "":
        return []
    return [os.fsencode(k) for k in s.split(",")]


def main(argv: list[str] | None = None, stdin=None, stdout=None, stderr=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    ap = build_parser()
    norm = normalize_argv(list(argv))
    rest: list[str] = []
    if "--" in norm:   # parse_intermixed_args mishandles "--": take the file names after it here
        i = norm.index("--")
        norm, rest = norm[:i], norm[i + 1:]
    args = ap.parse_intermixed_args(norm)
    args.files += rest
    stdout = stdout if stdout is not None else sys.stdout.buffer
    stdin = stdin if stdin is not None else sys.stdin.buffer
    err = stderr if stderr is not None else sys.stderr

    from lltsv import core, expr, filters, reader

    keys = _split_keys(args.key)
    flist = []
    for s in args.filter:
        try:
            flist.append(filters.Filter(os.fsencode(s)))
        except filters.FilterError as e:
            ap.error(f"invalid filter {s!r}: {e}")
    elist = []
    for s in args.expr:
        try:
            elist.append(expr.Expression(s))
        except expr.ExprError as e:
            ap.error(f"invalid expression {s!r}: {e}")
    if args.header and not (args.no_key and keys):
        ap.error("--header needs -K and -k")
    if args.json and args.no_key:
        ap.error("--json and -K exclude each other")
    if args.color == "always":
        color = True
    elif args.color == "never":
        color = False
    else:
        color = not os.environ.get("NO_COLOR") and _isatty(stdout)
    opts = core.Options(keys=keys, no_key=args.no_key, ignore=_split_keys(args.ignore_key),
                        filters=flist, exprs=elist, json=args.json, color=color, strict=args.strict)
    engine = core.Engine(opts)
    rc = 0
    try:
        if args.header:
            stdout.write(b"\t".join(keys) + b"\n")
        for name in args.files or ["-"]:
            try:
                if name == "-":
                    reader.run(engine, stdin, "-" if args.files else "(stdin)", stdout)
                else:
                    with open(name, "rb", buffering=0) as f:
                        reader.run(engine, f, name, stdout)
            except reader.ReadError as e:
                print(f"{PROG}: {name}: {e}", file=err)
                rc = 1
            except BrokenPipeError:
                raise
            except OSError as e:   # open() failed
                print(f"{PROG}: {name}: {e.strerror or e}", file=err)
                rc = 1
        stdout.flush()
    except core.StrictError as e:
        _report(engine, err)
        print(f"{PROG}: {e}", file=err)
        return 1
    except reader.WriteError as e:
        print(f"{PROG}: write error: {e}", file=err)
        return 1
    _report(engine, err)
    return rc


def _report(engine, err) -> None:
    for line in engine.summary():
        print(f"{PROG}: warning: {line}", file=err)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _ClosedFd(io.RawIOBase):
    """Stands in for a standard stream whose descriptor was closed (`prog <&-`, `prog >&-`): every
    read or write fails with EBADF, reported like any other I/O error instead of a traceback."""

    def readable(self):
        return True

    def writable(self):
        return True

    def readinto(self, b):
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    failed = False

    def write(self, b):
        if self.failed:   # reported once; let the interpreter's final flush drop the rest
            return len(b)
        self.failed = True
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _reopen_closed_std() -> None:
    if sys.stdin is None:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_ClosedFd()))
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedFd()))
    if sys.stderr is None:   # nowhere to report anything: discard
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(open(os.devnull, "wb", buffering=0)))


def entry() -> None:
    """Console script: exit codes for broken pipes, Ctrl-C and write errors."""
    _reopen_closed_std()
    try:
        rc = main()
        sys.stdout.flush()
    except BrokenPipeError:
        _devnull_stdout()
        os._exit(141)
    except KeyboardInterrupt:
        _devnull_stdout()
        sys.exit(130)
    except OSError as e:
        _devnull_stdout()
        print(f"{PROG}: write error: {e.strerror or e}", file=sys.stderr)
        sys.exit(1)
    sys.exit(rc)


def _devnull_stdout():
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except OSError:
        pass


if __name__ == "__main__":
    entry()
