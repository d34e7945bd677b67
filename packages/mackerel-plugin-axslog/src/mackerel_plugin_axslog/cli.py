"""mackerel-plugin-axslog: access-log latency and status metrics for mackerel-agent."""
from __future__ import annotations

import sys

from mackerel_logfollow.driver import add_options, options
from mackerel_plugin_helper.metrics import key_prefix
from mackerel_plugin_helper.runner import add_dry_run

from mackerel_plugin_axslog import __version__, _entry

PROG = "mackerel-plugin-axslog"


def build_parser() -> _entry.ArgumentParser:
    ap = _entry.ArgumentParser(prog=PROG, allow_abbrev=False, policy=_entry.MACKEREL, go_flags=True,
                   description="Print latency percentiles and status counts of an access log "
                               "(LTSV or JSON lines) read since the last run, as mackerel metrics.")
    ap.add_argument("--logfile", required=True, metavar="PATH[,PATH...]",
                    help="log file(s), comma separated")
    ap.add_argument("--format", default="ltsv", metavar="ltsv|json|combined",
                    help="log format (default ltsv); combined: Apache/nginx combined lines, the "
                         "response time (if any) in the field after the user agent")
    ap.add_argument("--key-prefix", required=True, type=key_prefix, metavar="STR",
                    help="metric key prefix (letters, digits, -, _, .)")
    ap.add_argument("--ptime-key", default="ptime", metavar="KEY", help="key of the response time (default ptime)")
    ap.add_argument("--status-key", action="append", metavar="KEY",
                    help="key of the status (repeatable; the first listed key present wins; default status)")
    ap.add_argument("--filter", metavar="TEXT", help="only lines containing TEXT")
    ap.add_argument("--invert-filter", action="store_true", help="only lines NOT containing the --filter TEXT")
    ap.add_argument("--skip-until-json", action="store_true", help="cut each line before its first '{'")
    add_options(ap, max_read_size="0",
                max_read_help="skip ahead when more than SIZE is unread (0: 1GB for ltsv, 500MB for json)")
    add_dry_run(ap)
    ap.add_argument("-q", "--quiet", action="store_true", help="no notes on stderr (rotation etc.)")
    ap.add_argument("--percentiles", default="99,95,90", metavar="LIST",
                    help="percentiles to print (default 99,95,90)")
    ap.add_argument("--percentile-method", choices=["rank", "linear"], default="rank",
                    help="rank: nearest rank (axslog <= 0.4.11, default); linear: interpolation (>= 0.4.12)")
    ap.add_argument("--count-mode", choices=["per-second", "per-minute", "raw"], default="per-second",
                    help="access_num/access_total as lines per second (default, as upstream), per minute, "
                         "or raw lines since the last run")
    ap.add_argument("--upstream-value", choices=["first", "last", "sum"], default="last",
                    help="multi-valued nginx upstream fields ('0.1, 0.2', '502 : 200'): which value "
                         "(sum: latencies added; statuses take the last) (default last)")
    ap.add_argument("--latency-buckets", metavar="LIST",
                    help="also count latencies <= each bound (e.g. 0.1,0.5,1) as latency_bucket_<P>.le_<bound>_count")
    ap.add_argument("--route-key", metavar="KEY",
                    help="per-route metrics by this key (LTSV label / JSON key; with --format combined "
                         "any value: the request path)")
    ap.add_argument("--route-regex", action="append", default=[], metavar="[NAME=]REGEX",
                    help="group routes matching REGEX under NAME (repeatable, first match wins)")
    ap.add_argument("--top", type=int, default=20, metavar="N",
                    help="per-route metrics for the N busiest routes, the rest summed as 'other' (default 20)")
    ap.add_argument("--strict", action="store_true", help="exit 2 when a line was skipped as bad")
    ap.add_argument("--check", action="store_true",
                    help="check mode: Nagios status from --warning-5xx/--critical-5xx (percent) and "
                         "--warning-p99/--critical-p99 instead of metrics")
    for k in ("--warning-5xx", "--critical-5xx", "--warning-p99", "--critical-p99"):
        ap.add_argument(k, type=float, metavar="N")
    ap.add_argument("-v", "--version", action="version", version=f"{PROG} {__version__}")
    return ap


def parse(argv):
    """Parse and validate; sizes, percentiles, buckets and routes come back parsed."""
    from mackerel_plugin_helper.stats import parse_percentiles

    ap = build_parser()
    args = ap.parse_args(argv)
    if args.format == "apache":
        args.format = "combined"
    if args.format not in ("ltsv", "json", "combined"):
        ap.error(f"format {args.format} is not supported")
    args.buckets = []
    if args.latency_buckets:
        try:
            args.buckets = sorted({float(x) for x in args.latency_buckets.split(",")})
        except ValueError:
            ap.error(f"--latency-buckets: not a list of numbers: {args.latency_buckets}")
    if args.top < 1:
        ap.error("--top must be at least 1")
    args.router = None
    if args.route_key or args.route_regex:
        import re

        from mackerel_plugin_axslog.parse import Router
        if not args.route_key:
            ap.error("--route-regex needs --route-key")
        try:
            args.router = Router(args.route_regex)
        except re.error as e:
            ap.error(f"--route-regex: {e}")
    try:
        args.pcts = parse_percentiles(args.percentiles)
    except ValueError as e:
        ap.error(f"--percentiles: {e}")
    args.follow = options(ap, args)
    if args.follow.max_read_size == 0:
        args.follow.max_read_size = 500_000_000 if args.format == "json" else 1_000_000_000
    args.status_key = args.status_key or ["status"]
    return args


def main(argv=None) -> int:
    from mackerel_plugin_helper import runner

    from mackerel_plugin_axslog import app

    return runner.run(_entry, PROG, lambda: parse(argv), app.collect, app.graphs)


if __name__ == "__main__":
    sys.exit(main())
