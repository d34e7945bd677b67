"""mackerel-plugin-log-incr-rate: growth of one log relative to a base log, for mackerel-agent."""
from __future__ import annotations

import os
import sys

from mackerel_plugin_log_incr_rate import __version__
from mackerel_logfollow.runner import ArgParser, go_style, run

PROG = "mackerel-plugin-log-incr-rate"


def build_parser() -> ArgParser:
    ap = ArgParser(prog=PROG, allow_abbrev=False,
                   description="Print the lines per second added to a log and to a base log since the "
                               "last run, and their ratio, as mackerel metrics.")
    ap.add_argument(*go_style("--log-file"), required=True, metavar="PATH", help="the log to measure")
    ap.add_argument(*go_style("--base-log-file"), required=True, metavar="PATH", help="the base log")
    ap.add_argument(*go_style("--key-prefix"), required=True, metavar="STR", help="metric key prefix")
    ap.add_argument(*go_style("--pattern"), metavar="REGEX", help="count only lines of --log-file matching REGEX")
    ap.add_argument(*go_style("--base-pattern"), metavar="REGEX", help="count only lines of --base-log-file matching REGEX")
    ap.add_argument(*go_style("--first-run"), choices=["all", "skip"], default="all",
                    help="without a position file: read the whole file (all, default) or start at its end")
    ap.add_argument(*go_style("--max-read-size"), default="500MB", metavar="SIZE",
                    help="skip ahead when more than SIZE is unread (default 500MB)")
    ap.add_argument(*go_style("--max-line"), default="1MiB", metavar="SIZE",
                    help="lines longer than SIZE are counted as skipped, not as lines (default 1MiB)")
    ap.add_argument(*go_style("--rotated-glob"), metavar="GLOB", help="where rotated files go if not next to the logs")
    ap.add_argument(*go_style("--verbose"), action="store_true", help="notes on stderr (rotation, counts)")
    ap.add_argument("-v", *go_style("--version"), action="version", version=f"{PROG} {__version__}")
    return ap


def count_lines(chunk: bytes, pat) -> int:
    if pat is None:
        return chunk.count(b"\n")
    return len(pat.findall(chunk))


def _main(argv) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    import re
    max_read, max_line = ap.sizes(args.max_read_size, args.max_line)
    pats = []
    for opt, p in (("--pattern", args.pattern), ("--base-pattern", args.base_pattern)):
        try:
            # one match per matching line: the whole line
            pats.append(re.compile(rb"(?m)^[^\n]*?(?:" + p.encode() + rb")[^\n]*\n") if p else None)
        except re.error as e:
            ap.value_error(f"{opt}: {e}")

    from mackerel_logfollow import output
    if output.meta_requested():
        P = args.key_prefix
        sys.stdout.buffer.write(output.render_graphdef({
            f"log-incr-rate.{P}_count": output.graph(f"log-incr-rate {P} lines per second", "float",
                                                     [("log", "log"), ("base", "base")]),
            f"log-incr-rate.{P}_rate": output.graph(f"log-incr-rate {P} ratio", "float", [("log", "log / base")]),
        }))
        return 0

    import tempfile
    from mackerel_logfollow.follow import Follower, FollowError, workdir
    from mackerel_logfollow.runner import state_key

    uid = os.getuid()
    key = state_key(os.path.realpath(args.log_file), os.path.realpath(args.base_log_file))
    safe = args.key_prefix.replace("/", "_")
    wd = workdir()
    fols = []
    for role, path in (("log", args.log_file), ("base", args.base_log_file)):
        fols.append(Follower(path, os.path.join(wd, f"{uid}-incr-rate-{role}-{safe}-{key}-{uid}.json"),
                             first_run=args.first_run, max_read_size=max_read, max_line=max_line,
                             rotated_glob=args.rotated_glob,
                             legacy_state_paths=[os.path.join(tempfile.gettempdir(), f"incr-rate-{role}-{uid}")]))
    counts = []
    import time
    now = time.time()
    try:
        for fol, pat in zip(fols, pats):
            fol.open()
            fol.now = now       # one clock for both logs: the ratio compares like with like
            n = 0
            for chunk in fol.chunks():
                n += count_lines(chunk, pat)
            counts.append(n)
            if args.verbose:
                for ev in fol.stats.events:
                    print(f"{PROG}: {fol.log_path}: {ev}", file=sys.stderr)
                print(f"{PROG}: {fol.log_path}: {n} lines in {fol.duration:.3f} s", file=sys.stderr)
            if fol.stats.lines_overlong:
                print(f"{PROG}: {fol.stats.lines_overlong} over-long lines skipped; first: "
                      f"{fol.stats.first_overlong}", file=sys.stderr)
        m = output.Metrics()
        P = args.key_prefix
        (lf, bf), (ln, bn) = fols, counts
        if lf.duration > 0:
            m.add(f"log-incr-rate.{P}_count.log", ln / lf.duration)
        if bf.duration > 0:
            m.add(f"log-incr-rate.{P}_count.base", bn / bf.duration)
        if lf.duration > 0 and bf.duration > 0 and bn > 0:
            m.add(f"log-incr-rate.{P}_rate.log", (ln / lf.duration) / (bn / bf.duration))
        from mackerel_logfollow.runner import deferred_signals
        with deferred_signals():       # output and position move together
            sys.stdout.buffer.write(m.render())
            sys.stdout.flush()
            for fol in fols:
                fol.commit()
        return 0
    except FollowError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    finally:
        for fol in fols:
            fol.close()


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
