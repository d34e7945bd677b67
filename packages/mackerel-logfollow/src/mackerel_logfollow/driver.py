"""The one driver of the log plugins (axslog, log-incr-rate, postfix-log): state paths, legacy
state paths, follower set-up, one clock, verbose events, FollowError mapping, and output that is
delivered before the positions move.

    def collect(args, out):
        logs = [Log(args.logfile, f"{uid}-myplugin-{state_key(real)}.json", legacy=[...])]
        return drive(PROG, out, logs, read=count, report=to_metrics, options=Options(...))
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from mackerel_plugin_helper.runner import dry_run, publish, say
from mackerel_plugin_helper.state import workdir

from .follow import Follower, FollowError

EXIT_CRITICAL = 2       # a log or position file cannot be used (the MACKEREL policy's failure)


@dataclass
class Log:
    """One log to follow: the path as the user typed it, the state file name (in the work dir)
    and the upstream plugin's state files to continue from (names in the work dir, or absolute
    paths), used read-only when ours does not exist yet."""
    path: str
    state_name: str
    legacy: list[str] = field(default_factory=list)


@dataclass
class Options:
    first_run: str = "all"
    max_read_size: int = 0
    max_line: int = 1 << 20
    rotated_glob: str | None = None


def add_options(ap, *, max_read_size: str = "1GB", max_read_help: str | None = None) -> None:
    """The follower's flags, the same in the three log plugins."""
    ap.add_argument("--first-run", choices=["all", "skip"], default="all",
                    help="without a position file: read the whole file (all, default) or start at its end")
    ap.add_argument("--max-read-size", default=max_read_size, metavar="SIZE",
                    help=max_read_help or f"skip ahead when more than SIZE is unread (default {max_read_size})")
    ap.add_argument("--max-line", default="1MiB", metavar="SIZE",
                    help="lines longer than SIZE are skipped and counted (default 1MiB)")
    ap.add_argument("--rotated-glob", metavar="GLOB",
                    help="where rotated files go if not next to the log (e.g. /var/log/old/access.log.*)")


def options(ap, args) -> Options:
    """The follower's flags as Options; an unusable size is a usage error (ap.error)."""
    from .sizes import parse_size
    try:
        return Options(args.first_run, parse_size(args.max_read_size), parse_size(args.max_line),
                       args.rotated_glob)
    except ValueError as e:
        ap.error(str(e))


def drive(prog: str, out, logs: list[Log], read, report, options: Options, *,
          events: bool = True, partial: bool = False) -> int:
    """Follow every log from its position file and publish the report; return the exit code.

    - The followers are opened in the order of their state paths (one lock order for every run:
      no deadlock between two runs) and share one clock (rates of several logs compare alike).
    - read(i, follower) -> result, for logs[i]: consume follower.chunks().
    - events: print each follower's notes (`prog: PATH: rotated ...`) once everything was read.
    - A log or position file that cannot be used (FollowError) is `prog: why` and exit 2; with
      partial=True the other logs are still reported and exit 2 only when none could be read.
    - report([(log, follower, result)]) -> (Metrics or bytes, exit code), for the logs read; the
      output is written and flushed first, then every position is saved, with SIGINT/SIGTERM
      held meanwhile (mackerel_plugin_helper.runner.publish): a full disk or a closed stdout
      leaves every position unmoved.
    - --dry-run (mackerel_plugin_helper.runner.add_dry_run): the followers are read-only (no
      work dir, lock, temp or state file created or removed) and nothing is committed.
    """
    wd = workdir()
    fols = [Follower(log.path, os.path.join(wd, log.state_name), first_run=options.first_run,
                     max_read_size=options.max_read_size, max_line=options.max_line,
                     rotated_glob=options.rotated_glob,
                     legacy_state_paths=[os.path.join(wd, p) for p in log.legacy],
                     readonly=dry_run())
            for log in logs]
    results: list = [None] * len(logs)
    failed = 0
    now = time.time()
    try:
        for i in sorted(range(len(logs)), key=lambda i: fols[i].state_path):
            try:
                fols[i].open()
                fols[i].now = now
                results[i] = read(i, fols[i])
            except FollowError as e:
                if not partial:
                    raise
                say(f"{prog}: {e}")
                failed += 1
                fols[i].close()
        if logs and failed == len(logs):
            return EXIT_CRITICAL
        done = [(log, fol, res) for log, fol, res in zip(logs, fols, results, strict=True) if res is not None]
        if events:
            for log, fol, _ in done:
                for ev in fol.stats.events:
                    say(f"{prog}: {log.path}: {ev}")
        payload, rc = report(done)

        def commit() -> None:
            for _, fol, _ in done:
                fol.commit()
        publish(prog, out, payload, commit)
        return rc
    except FollowError as e:
        say(f"{prog}: {e}")
        return EXIT_CRITICAL
    finally:
        for fol in fols:
            fol.close()
