"""no-excl-open: run a command with the LD_PRELOAD shim that drops O_EXCL from O_CREAT|O_RDWR
opens (the logrotate `create` race), or print the shim's path.

The command line only; the shim is shim.c (compiled into the wheel), the environment and exec in
preload.py."""
from __future__ import annotations

import argparse
import sys

from no_excl_open import __version__, _entry

PROG = "no-excl-open"
POLICY = _entry.SUITE
EXIT_CANNOT_RUN = 126     # as env(1) and nohup(1): the command was found but could not be run
EXIT_NOT_FOUND = 127      # the command was not found

DESCRIPTION = """\
Run CMD with an LD_PRELOAD shim that wraps open, open64, openat, openat64, __open_2 and
__open64_2: when the flags hold O_CREAT and O_RDWR but not O_TRUNC, O_EXCL is removed, so
logrotate's `create` opens a log the application re-created after the rename instead of failing
with "File exists" (and skipping postrotate). The shim removes LD_PRELOAD from the environment at
start, so CMD's own children (postrotate scripts) run without it."""

EPILOG = """\
examples:
  no-excl-open /usr/sbin/logrotate /etc/logrotate.conf
  LD_PRELOAD=$(no-excl-open --print-path) /usr/sbin/logrotate /etc/logrotate.conf
exit status: CMD's own status; 126 CMD cannot be run, 127 CMD not found, 1 the shim is missing,
2 usage error."""


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, policy=POLICY, description=DESCRIPTION, epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter,
                               usage="%(prog)s CMD [ARGS...]\n       %(prog)s --print-path")
    ap.add_argument("--print-path", action="store_true",
                    help="print the absolute path of the shim (for LD_PRELOAD in a logrotate "
                         "service or a systemd unit) and exit")
    ap.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    ap.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD [ARGS...]",
                    help="the command to run with the shim preloaded")
    return ap


def parse_args(argv: list[str] | None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if args.print_path and args.command:
        ap.error("--print-path takes no command")
    if not args.print_path and not args.command:
        ap.error("no command given (no-excl-open CMD [ARGS...])")
    return args


def main(argv: list[str] | None = None, *, stdout=None, stderr=None) -> int:
    def body() -> int:
        args = parse_args(argv)
        from no_excl_open import preload
        so = preload.shim_path()          # missing: `no-excl-open: PATH: reason`, exit 1
        if args.print_path:
            out = stdout or sys.stdout.buffer
            _entry.write_all(out, so.encode() + b"\n")
            return 0
        _entry.flush(sys.stdout)
        try:
            preload.exec_with_shim(args.command, so)
        except FileNotFoundError:
            _say(stderr, f"{PROG}: {args.command[0]}: No such file or directory\n")
            return EXIT_NOT_FOUND
        except OSError as e:
            _say(stderr, f"{PROG}: {args.command[0]}: {e.strerror or e}\n")
            return EXIT_CANNOT_RUN
        return EXIT_CANNOT_RUN   # not reached: exec does not return

    return _entry.run(PROG, body, policy=POLICY, stdout=stdout, stderr=stderr)


def _say(stderr, text: str) -> None:
    (stderr or sys.stderr.buffer).write(text.encode("utf-8", "surrogateescape"))
    (stderr or sys.stderr.buffer).flush()
