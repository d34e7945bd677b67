"""mackerel-plugin-postfix-log: postfix delivery delays and result counts for mackerel-agent."""
from __future__ import annotations

import os
import sys

from mackerel_plugin_postfix_log import __version__
from mackerel_logfollow.runner import ArgParser, go_style, run

PROG = "mackerel-plugin-postfix-log"


def build_parser() -> ArgParser:
    ap = ArgParser(prog=PROG, allow_abbrev=False,
                   description="Print postfix delivery delays (by stage) and DSN class counts of the "
                               "mail log read since the last run, as mackerel metrics.")
    ap.add_argument(*go_style("--logfile"), default="/var/log/maillog", metavar="PATH",
                    help="postfix log (default /var/log/maillog)")
    ap.add_argument(*go_style("--posfile-prefix"), default="maillog", metavar="STR",
                    help="name of the position file (default maillog)")
    ap.add_argument(*go_style("--agents"), default="smtp", metavar="LIST",
                    help="delivery agents to count, comma separated, of smtp,lmtp,local,virtual,pipe "
                         "(default smtp, as upstream)")
    ap.add_argument(*go_style("--status-counts"), action="store_true",
                    help="also print counts by status= (sent, deferred, bounced, expired)")
    ap.add_argument(*go_style("--percentile-method"), choices=["rank", "linear"], default="rank",
                    help="rank: nearest rank (default, as upstream up to 2025); linear: interpolation")
    ap.add_argument(*go_style("--first-run"), choices=["all", "skip"], default="all",
                    help="without a position file: read the whole file (all, default) or start at its end")
    ap.add_argument(*go_style("--max-read-size"), default="1GB", metavar="SIZE",
                    help="skip ahead when more than SIZE is unread (default 1GB)")
    ap.add_argument(*go_style("--max-line"), default="1MiB", metavar="SIZE",
                    help="lines longer than SIZE are skipped and counted (default 1MiB)")
    ap.add_argument(*go_style("--rotated-glob"), metavar="GLOB", help="where rotated files go if not next to the log")
    ap.add_argument("-V", *go_style("--verbose"), action="store_true", help="notes on stderr (rotation, counts)")
    ap.add_argument("-v", *go_style("--version"), action="version", version=f"{PROG} {__version__}")
    return ap


PCTS = [99.0, 95.0, 90.0]


def graphdefs() -> dict:
    from mackerel_logfollow.output import graph
    from mackerel_plugin_postfix_log.parse import CLASSES, GROUPS, STATUSES
    g = {}
    for name in GROUPS:
        g[f"postfixlog.{name}_delay"] = graph(f"Postfix {name} delay", "seconds",
                                              [("average", "average"), ("99_percentile", "99 percentile"),
                                               ("95_percentile", "95 percentile"), ("90_percentile", "90 percentile")])
    g["postfixlog.transfer_num"] = graph("Postfix transfers per second", "float",
                                         [(f"{c}_count", c, True) for c in CLASSES])
    g["postfixlog.transfer_total"] = graph("Postfix transfers per second, total", "float", [("count", "count")])
    g["postfixlog.transfer_ratio"] = graph("Postfix transfer ratio", "percentage",
                                           [(f"{c}_percentage", c, True) for c in CLASSES])
    g["postfixlog.transfer_status"] = graph("Postfix deliveries per second by status", "float",
                                            [(f"{s}_count", s, True) for s in STATUSES])
    return g


def _main(argv) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    from mackerel_plugin_postfix_log.parse import AGENTS, CLASSES, GROUPS, STATUSES, Parser, Result
    max_read, max_line = ap.sizes(args.max_read_size, args.max_line)
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    bad = [a for a in agents if a not in AGENTS]
    if bad or not agents:
        ap.value_error(f"--agents: unknown agent {', '.join(bad) or '(none)'}; choose from {','.join(AGENTS)}")

    from mackerel_logfollow import output
    if output.meta_requested():
        sys.stdout.buffer.write(output.render_graphdef(graphdefs()))
        return 0

    import tempfile
    from mackerel_logfollow.follow import Follower, FollowError, workdir
    from mackerel_logfollow.runner import state_key
    uid = os.getuid()
    safe = args.posfile_prefix.replace("/", "_")
    st_path = os.path.join(workdir(), f"{uid}-{safe}-postfixlog-v2-{state_key(os.path.realpath(args.logfile))}-{uid}.json")
    fol = Follower(args.logfile, st_path, first_run=args.first_run, max_read_size=max_read,
                   max_line=max_line, rotated_glob=args.rotated_glob,
                   legacy_state_paths=[os.path.join(tempfile.gettempdir(), f"{args.posfile_prefix}-postfixlog-{uid}")])
    try:
        fol.open()
        p = Parser(agents)
        for chunk in fol.chunks():
            p.feed(chunk)
        r = Result(p)
        if args.verbose:
            for ev in fol.stats.events:
                print(f"{PROG}: {args.logfile}: {ev}", file=sys.stderr)
            print(f"{PROG}: {args.logfile}: {p.lines} lines, {r.total} deliveries in {fol.duration:.3f} s",
                  file=sys.stderr)
        if r.unparsed or fol.stats.lines_overlong:
            print(f"{PROG}: {args.logfile}: {r.unparsed} delivery-agent lines without delay/dsn fields "
                  f"(connection errors and the like), {fol.stats.lines_overlong} over-long lines skipped",
                  file=sys.stderr)
        m = output.Metrics()
        if r.total:
            for g in GROUPS:
                s = r.delays[g]
                m.add(f"postfixlog.{g}_delay.average", s.average())
                for pc, v in zip(PCTS, s.percentiles(PCTS, args.percentile_method)):
                    m.add(f"postfixlog.{g}_delay.{int(pc)}_percentile", v)
        d = fol.duration
        if d > 0:
            for c in CLASSES:
                m.add(f"postfixlog.transfer_num.{c}_count", r.classes[c] / d)
            m.add("postfixlog.transfer_total.count", r.total / d)
            if args.status_counts:
                for s in STATUSES:
                    m.add(f"postfixlog.transfer_status.{s}_count", r.statuses[s] / d)
        if r.total:
            for c in CLASSES:
                m.add(f"postfixlog.transfer_ratio.{c}_percentage", 100.0 * r.classes[c] / r.total)
        from mackerel_logfollow.runner import deferred_signals
        with deferred_signals():       # output and position move together
            sys.stdout.buffer.write(m.render())
            sys.stdout.flush()
            fol.commit()
        return 0
    except FollowError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    finally:
        fol.close()


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
