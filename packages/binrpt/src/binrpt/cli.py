"""binrpt command line: `binrpt [run] -config FILE`, `binrpt status -config FILE`, `binrpt verify -config FILE`."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__

PROG = "binrpt"
COMMANDS = ("run", "status", "verify")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.exit(2)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return n


def _db_table(text: str) -> str:
    db, dot, tbl = text.partition(".")
    if not (db and dot and tbl):
        raise argparse.ArgumentTypeError(f"want DB.TABLE: {text!r}")
    return text


def _start_position(text: str) -> str:
    from .config import check_start_position
    try:
        return check_start_position(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-config", "--config", metavar="FILE", help="TOML configuration file (required)")
    p.add_argument("-debug", "--debug", action="store_true", help="log every statement (debug level)")
    p.add_argument("-version", "--version", action="version", version=f"{PROG} {__version__}",
                   help="print the version and exit")


def build_parser(cmd: str) -> argparse.ArgumentParser:
    if cmd == "run":
        p = _Parser(prog=PROG, allow_abbrev=False,
                    description="Replicate row changes from a MariaDB source into a target database, exactly once: "
                                "each source transaction is applied in one target transaction together with the "
                                "checkpoint row. Subcommands: `status` (checkpoint, source position, lag), "
                                "`verify` (chunked checksums of source vs target).",
                    epilog="Commands: binrpt [run] -config FILE | binrpt status -config FILE | "
                           "binrpt verify -config FILE. Exit: 0 ok, 1 failure, 2 usage, 130/143 interrupted.")
        _common(p)
        p.add_argument("-dryrun", "--dryrun", "--dry-run", action="store_true",
                       help="execute nothing on the target (checkpoint included); log each statement")
        p.add_argument("-stop-at-end", "--stop-at-end", action="store_true",
                       help="exit 0 once the source's current binlog end is applied (catch-up runs, tests)")
        p.add_argument("-start-position", "--start-position", metavar="POS", type=_start_position,
                       help='where a first start (no checkpoint yet) begins: "now", "beginning", a GTID '
                            'position "0-1-42,1-5-9" or "FILE:POS" (overrides the config)')
        p.add_argument("--log-format", choices=("ltsv", "json"), help="log line format on stderr (default ltsv)")
    elif cmd == "status":
        p = _Parser(prog=f"{PROG} status", allow_abbrev=False,
                    description="Print the checkpoint, the source position and the lag as one LTSV (or JSON) "
                                "record on stdout. Exit 1 when there is no checkpoint.")
        _common(p)
        p.add_argument("--json", action="store_true", help="print JSON instead of LTSV")
    else:
        p = _Parser(prog=f"{PROG} verify", allow_abbrev=False,
                    description="Compare source and target table by table, in primary-key chunks (row count "
                                "and a checksum of the rows); print the differing chunks as LTSV. Exit 0 when "
                                "equal, 1 when a difference was found or on failure.")
        _common(p)
        p.add_argument("--chunk-size", type=_positive_int, default=1000, help="rows per chunk (default 1000)")
        p.add_argument("--table", action="append", type=_db_table, default=[], metavar="DB.TABLE",
                       help="only this table (repeatable); default: every replicated table")
        p.add_argument("--all", action="store_true", help="also print the equal chunks")
    return p


def _load(args):
    from .config import ConfigError, load
    if not args.config:
        sys.stderr.write("'-config' is required\n")
        sys.exit(1)
    try:
        cfg = load(args.config)
    except ConfigError as e:
        sys.stderr.write(f"{PROG}: {args.config}: {e}\n")
        sys.exit(1)
    return cfg


def _reopen_closed_std() -> None:
    """Started with stdout or stderr closed (`>&-`), Python has None there: point them at /dev/null so
    that output and logging do not crash the run."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))


def main(argv: list[str] | None = None) -> int:
    _reopen_closed_std()
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = "run"
    if argv and argv[0] in COMMANDS:
        cmd = argv.pop(0)
    parser = build_parser(cmd)
    try:
        args = parser.parse_args(argv)
        rc = _dispatch(cmd, args)
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
    return rc


def _dispatch(cmd: str, args) -> int:
    cfg = _load(args)
    from .logs import Logger
    if cmd == "run":
        if args.log_format:
            cfg.log_format = args.log_format
        if args.start_position:
            cfg.start_position = args.start_position
        log = Logger(cfg.log_format, "debug" if args.debug else "info")
        from .applier import Applier
        return Applier(cfg, log, dryrun=args.dryrun, debug=args.debug, stop_at_end=args.stop_at_end).run()
    log = Logger(cfg.log_format, "debug" if args.debug else "info")
    if cmd == "status":
        from .status import status
        return status(cfg, log, as_json=args.json, out=sys.stdout.buffer)
    from .verify import verify
    return verify(cfg, log, chunk_size=args.chunk_size, tables=args.table, show_all=args.all, out=sys.stdout.buffer)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
