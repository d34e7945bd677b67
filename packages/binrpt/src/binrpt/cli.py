"""binrpt command line: `binrpt [run] -config FILE`, `binrpt status|verify|position|snapshot -config FILE`.

Parses (Go-style single-dash flags as upstream: `-config`, `-dryrun`, derived by the entry template),
validates, loads the configuration and calls app.run_command() under the suite's entry template.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__, _entry

PROG = "binrpt"
COMMANDS = ("run", "status", "verify", "position", "snapshot")


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


def _parser(prog: str, description: str, epilog: str | None = None) -> _entry.ArgumentParser:
    p = _entry.ArgumentParser(prog=prog, go_flags=True, allow_abbrev=False, description=description, epilog=epilog)
    p.add_argument("--config", metavar="FILE", help="TOML configuration file (required)")
    p.add_argument("--debug", action="store_true", help="log every statement (debug level)")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}", help="print the version and exit")
    return p


def build_parser(cmd: str) -> _entry.ArgumentParser:
    if cmd == "run":
        p = _parser(PROG, "Replicate row changes from a MariaDB source into a target database, exactly once: "
                          "each source transaction is applied in one target transaction together with the "
                          "checkpoint row. Subcommands: `status` (checkpoint, source position, lag), "
                          "`verify` (chunked checksums of source vs target), `position` (show, skip the next "
                          "transaction, set), `snapshot` (initial consistent copy of the tables).",
                    "Commands: binrpt [run] -config FILE | binrpt status -config FILE | "
                    "binrpt verify -config FILE | binrpt position -config FILE [--skip-next | --set POS] | "
                    "binrpt snapshot -config FILE [--chunk-size N] [--restart]. Exit: 0 ok, 1 failure, 2 usage, 130/143 interrupted.")
        p.add_argument("--dryrun", "--dry-run", action="store_true",
                       help="execute nothing on the target (checkpoint included); log each statement")
        p.add_argument("--stop-at-end", action="store_true",
                       help="exit 0 once the source's current binlog end is applied (catch-up runs, tests)")
        p.add_argument("--start-position", metavar="POS", type=_start_position,
                       help='where a first start (no checkpoint yet) begins: "now", "beginning", a GTID '
                            'position "0-1-42,1-5-9" or "FILE:POS" (overrides the config)')
        p.add_argument("--log-format", choices=("ltsv", "json"), help="log line format on stderr (default ltsv)")
    elif cmd == "status":
        p = _parser(f"{PROG} status", "Print the checkpoint, the source position and the lag as one LTSV (or JSON) "
                                      "record on stdout. Exit 1 when there is no checkpoint.")
        p.add_argument("--json", action="store_true", help="print JSON instead of LTSV")
    elif cmd == "position":
        p = _parser(f"{PROG} position", "Print the checkpoint of the channel as one LTSV record; with --skip-next or "
                                        "--set, change it first. Both refuse while a binrpt replicates on the "
                                        "channel (its lock is held).")
        g = p.add_mutually_exclusive_group()
        g.add_argument("--skip-next", action="store_true",
                       help="mark the source's next transaction after the checkpoint as applied (after a stop)")
        g.add_argument("--set", metavar="POS", type=_start_position, dest="set_to",
                       help='set the position: a GTID position "0-1-42", a MySQL GTID set, "FILE:POS", '
                            '"now" or "beginning"')
    elif cmd == "snapshot":
        p = _parser(f"{PROG} snapshot", "Copy the replicated tables from the source to the target in one consistent "
                                        "snapshot, in primary-key chunks, and record its GTID position in the "
                                        "channel's checkpoint: `binrpt` started afterwards continues from there. "
                                        "An interrupted snapshot resumes at the next chunk when rerun, if the tables "
                                        "not yet copied did not change since (otherwise see --restart). Refuses "
                                        "while a binrpt replicates on the channel.")
        p.add_argument("--chunk-size", type=_positive_int, default=10000,
                       help="rows per primary-key chunk and target transaction (default 10000)")
        p.add_argument("--restart", action="store_true",
                       help="empty the tables an unfinished snapshot of the channel filled and start a new one")
    else:
        p = _parser(f"{PROG} verify", "Compare source and target table by table, in primary-key chunks (row count "
                                      "and a checksum of the rows); print the differing chunks as LTSV. Exit 0 "
                                      "when equal, 1 when a difference was found or on failure.")
        p.add_argument("--chunk-size", type=_positive_int, default=1000, help="rows per chunk (default 1000)")
        p.add_argument("--table", action="append", type=_db_table, default=[], metavar="DB.TABLE",
                       help="only this table (repeatable); default: every replicated table")
        p.add_argument("--all", action="store_true", help="also print the equal chunks")
    return p


def _config(parser: argparse.ArgumentParser, args):
    """The loaded configuration; a missing -config or a bad file exits 1 (as upstream), not 2."""
    from .config import ConfigError, load
    if not args.config:
        parser.exit(1, "'-config' is required\n")
    try:
        return load(args.config)
    except ConfigError as e:
        parser.exit(1, f"{PROG}: {args.config}: {e}\n")


def _main(argv: list[str]) -> int:
    cmd = "run"
    if argv and argv[0] in COMMANDS:
        cmd, argv = argv[0], argv[1:]
    parser = build_parser(cmd)
    args = parser.parse_args(argv)
    cfg = _config(parser, args)
    if cmd == "snapshot":
        from .logs import Logger
        from .snapshot import snapshot
        return snapshot(cfg, Logger(cfg.log_format, "debug" if args.debug else "info"),
                        chunk_size=args.chunk_size, restart=args.restart)
    if cmd == "run" and not args.dryrun:
        from .snapshot import refuse_run_message
        msg = refuse_run_message(cfg)
        if msg:
            from .logs import Logger
            Logger(args.log_format or cfg.log_format).error(msg)
            return 1
    from .app import run_command
    return run_command(cmd, args, cfg)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return _entry.run(PROG, lambda: _main(argv))
