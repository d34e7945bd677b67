"""What each binrpt command does once its arguments and configuration are known."""
from __future__ import annotations

import sys

from .logs import Logger


def run_command(cmd: str, args, cfg) -> int:
    """Run `cmd` (run, status or verify) and return its exit code."""
    if cmd == "run":
        if args.log_format:
            cfg.log_format = args.log_format
        if args.start_position:
            cfg.start_position = args.start_position
    log = Logger(cfg.log_format, "debug" if args.debug else "info")
    if cmd == "run":
        from .applier import Applier
        return Applier(cfg, log, dryrun=args.dryrun, debug=args.debug, stop_at_end=args.stop_at_end).run()
    if cmd == "status":
        from .status import status
        return status(cfg, log, as_json=args.json, out=sys.stdout.buffer)
    if cmd == "position":
        from .position import position
        return position(cfg, log, skip=args.skip_next, set_to=args.set_to, out=sys.stdout.buffer)
    from .verify import verify
    return verify(cfg, log, chunk_size=args.chunk_size, tables=args.table, show_all=args.all, out=sys.stdout.buffer)
