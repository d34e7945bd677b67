"""mackerel-plugin-axslog: access-log latency and status metrics for mackerel-agent."""
from __future__ import annotations

import os
import sys

from mackerel_plugin_axslog import __version__
from mackerel_logfollow.runner import ArgParser, go_style, run

PROG = "mackerel-plugin-axslog"


def build_parser() -> ArgParser:
    ap = ArgParser(prog=PROG, allow_abbrev=False,
                   description="Print latency percentiles and status counts of an access log "
                               "(LTSV or JSON lines) read since the last run, as mackerel metrics.")
    ap.add_argument(*go_style("--logfile"), required=True, metavar="PATH[,PATH...]",
                    help="log file(s), comma separated")
    ap.add_argument(*go_style("--format"), default="ltsv", metavar="ltsv|json|combined",
                    help="log format (default ltsv); combined: Apache/nginx combined lines, the "
                         "response time (if any) in the field after the user agent")
    ap.add_argument(*go_style("--key-prefix"), required=True, metavar="STR", help="metric key prefix")
    ap.add_argument(*go_style("--ptime-key"), default="ptime", metavar="KEY", help="key of the response time (default ptime)")
    ap.add_argument(*go_style("--status-key"), action="append", metavar="KEY",
                    help="key of the status (repeatable; the first listed key present wins; default status)")
    ap.add_argument(*go_style("--filter"), metavar="TEXT", help="only lines containing TEXT")
    ap.add_argument(*go_style("--invert-filter"), action="store_true", help="only lines NOT containing the --filter TEXT")
    ap.add_argument(*go_style("--skip-until-json"), action="store_true", help="cut each line before its first '{'")
    ap.add_argument(*go_style("--max-read-size"), default="0", metavar="SIZE",
                    help="skip ahead when more than SIZE is unread (0: 1GB for ltsv, 500MB for json)")
    ap.add_argument("-q", *go_style("--quiet"), action="store_true", help="no notes on stderr (rotation etc.)")
    ap.add_argument(*go_style("--percentiles"), default="99,95,90", metavar="LIST",
                    help="percentiles to print (default 99,95,90)")
    ap.add_argument(*go_style("--percentile-method"), choices=["rank", "linear"], default="rank",
                    help="rank: nearest rank (axslog <= 0.4.11, default); linear: interpolation (>= 0.4.12)")
    ap.add_argument(*go_style("--count-mode"), choices=["per-second", "per-minute", "raw"], default="per-second",
                    help="access_num/access_total as lines per second (default, as upstream), per minute, "
                         "or raw lines since the last run")
    ap.add_argument(*go_style("--upstream-value"), choices=["first", "last", "sum"], default="last",
                    help="multi-valued nginx upstream fields ('0.1, 0.2', '502 : 200'): which value "
                         "(sum: latencies added; statuses take the last) (default last)")
    ap.add_argument(*go_style("--first-run"), choices=["all", "skip"], default="all",
                    help="without a position file: read the whole file (all, default) or start at its end")
    ap.add_argument(*go_style("--max-line"), default="1MiB", metavar="SIZE",
                    help="lines longer than SIZE are skipped and counted (default 1MiB)")
    ap.add_argument(*go_style("--rotated-glob"), metavar="GLOB",
                    help="where rotated files go if not next to the log (e.g. /var/log/old/access.log.*)")
    ap.add_argument(*go_style("--latency-buckets"), metavar="LIST",
                    help="also count latencies <= each bound (e.g. 0.1,0.5,1) as latency_bucket_<P>.le_<bound>_count")
    ap.add_argument(*go_style("--route-key"), metavar="KEY",
                    help="per-route metrics by this key (LTSV label / JSON key; with --format combined "
                         "any value: the request path)")
    ap.add_argument(*go_style("--route-regex"), action="append", default=[], metavar="[NAME=]REGEX",
                    help="group routes matching REGEX under NAME (repeatable, first match wins)")
    ap.add_argument(*go_style("--top"), type=int, default=20, metavar="N",
                    help="per-route metrics for the N busiest routes, the rest summed as 'other' (default 20)")
    ap.add_argument(*go_style("--strict"), action="store_true", help="exit 2 when a line was skipped as bad")
    ap.add_argument(*go_style("--check"), action="store_true",
                    help="check mode: Nagios status from --warning-5xx/--critical-5xx (percent) and "
                         "--warning-p99/--critical-p99 instead of metrics")
    for k in ("--warning-5xx", "--critical-5xx", "--warning-p99", "--critical-p99"):
        ap.add_argument(k, type=float, metavar="N")
    ap.add_argument("-v", *go_style("--version"), action="version", version=f"{PROG} {__version__}")
    return ap


def _state_name(prefix: str, real: str) -> str:
    from mackerel_logfollow.runner import state_key
    uid = os.getuid()
    safe = prefix.replace("/", "_")
    return f"{uid}-axslog-v6-{safe}-{state_key(real)}-{uid}.json"


def _legacy_names(prefix: str, typed: str, several: bool) -> list[str]:
    import hashlib
    uid = os.getuid()
    if several:
        return [f"{uid}-axslog-v5-{prefix}-{hashlib.md5(typed.encode()).hexdigest()}-{uid}"]
    return [f"{uid}-axslog-v5-{prefix}-{uid}"]


def _main(argv) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    from mackerel_logfollow.stats import parse_percentiles

    if args.format == "apache":
        args.format = "combined"
    if args.format not in ("ltsv", "json", "combined"):
        ap.value_error(f"format {args.format} is not supported")
    buckets = []
    if args.latency_buckets:
        try:
            buckets = sorted({float(x) for x in args.latency_buckets.split(",")})
        except ValueError:
            ap.value_error(f"--latency-buckets: not a list of numbers: {args.latency_buckets}")
    if args.top < 1:
        ap.value_error("--top must be at least 1")
    router = None
    if args.route_key or args.route_regex:
        import re
        from mackerel_plugin_axslog.parse import Router
        if not args.route_key:
            ap.value_error("--route-regex needs --route-key")
        try:
            router = Router(args.route_regex)
        except re.error as e:
            ap.value_error(f"--route-regex: {e}")
    try:
        pcts = parse_percentiles(args.percentiles)
    except ValueError as e:
        ap.value_error(f"--percentiles: {e}")
    max_read, max_line = ap.sizes(args.max_read_size, args.max_line)
    if max_read == 0:
        max_read = 500_000_000 if args.format == "json" else 1_000_000_000
    status_keys = args.status_key or ["status"]
    files = args.logfile.split(",")

    from mackerel_logfollow import output

    if output.meta_requested() and not args.check:
        sys.stdout.buffer.write(output.render_graphdef(graphdefs(args.key_prefix, pcts, args.count_mode,
                                                                 bool(buckets), router is not None)))
        return 0

    from mackerel_logfollow.follow import Follower, FollowError, workdir
    from mackerel_plugin_axslog import report
    from mackerel_plugin_axslog.parse import CombinedParser, JsonParser, LineFilter, LtsvParser, Tally

    wd = workdir()
    seen: dict[str, str] = {}
    jobs = []
    for typed in files:
        real = os.path.realpath(typed)
        if real in seen:
            print(f"{PROG}: {typed}: same file as {seen[real]}, read once", file=sys.stderr)
            continue
        seen[real] = typed
        st_path = os.path.join(wd, _state_name(args.key_prefix, real))
        legacy = [os.path.join(wd, n) for n in _legacy_names(args.key_prefix, typed, len(files) > 1)]
        jobs.append((typed, Follower(typed, st_path, first_run=args.first_run, max_read_size=max_read,
                                     max_line=max_line, rotated_glob=args.rotated_glob,
                                     legacy_state_paths=legacy)))
    jobs.sort(key=lambda j: j[1].state_path)   # one lock order for every run: no deadlock
    flt = LineFilter(args.filter, args.invert_filter, args.skip_until_json)
    results = []
    failed = 0
    import time
    now = time.time()
    try:
        for typed, fol in jobs:
            try:
                fol.open()
                fol.now = now       # one clock for every file of the run
                if args.format == "combined":
                    parser = CombinedParser(route=router is not None)
                    n_status = 1
                else:
                    parser = (LtsvParser if args.format == "ltsv" else JsonParser)(
                        status_keys, args.ptime_key, args.route_key)
                    n_status = len(status_keys)
                t = Tally()
                for chunk in fol.chunks():
                    t.lines += parser.count(flt.apply(chunk), t.tuples)
                if hasattr(parser, "drain"):
                    parser.drain(t.tuples)
                t.finish(n_status, args.upstream_value, router)
                if getattr(parser, "bad", 0):
                    t._err("invalid JSON", parser.bad, parser.first_bad)
                if fol.stats.lines_overlong:
                    t._err("over-long", fol.stats.lines_overlong, fol.stats.first_overlong)
                results.append((typed, fol, t))
            except FollowError as e:
                print(f"{PROG}: {e}", file=sys.stderr)
                failed += 1
                fol.close()
        if jobs and failed == len(jobs):
            return 2
        for typed, fol, t in results:
            report.diagnostics(PROG, typed, fol, t, args.quiet)
        from mackerel_logfollow.runner import deferred_signals
        with deferred_signals():       # output and position move together
            if args.check:
                msg, rc = report.check(results, pcts, args)
                sys.stdout.write(msg + "\n")
                sys.stdout.flush()
            else:
                m = report.metrics(results, args.key_prefix, pcts, args.percentile_method, args.count_mode,
                                   buckets=buckets, top=args.top if router is not None else 0)
                sys.stdout.buffer.write(m.render())
                if m.dropped:
                    print(f"{PROG}: not printed (NaN or infinite): {', '.join(m.dropped)}", file=sys.stderr)
                rc = 0
            sys.stdout.flush()         # results are out before the position moves
            for typed, fol, t in results:
                fol.commit()
        if args.strict and any(t.errors for _, _, t in results):
            return 2
        return rc
    except FollowError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    finally:
        for _, fol in jobs:
            fol.close()


def graphdefs(prefix: str, pcts, count_mode: str, buckets: bool = False, routes: bool = False) -> dict:
    from mackerel_logfollow.output import graph
    from mackerel_logfollow.stats import percentile_name
    from mackerel_plugin_axslog.parse import BUCKETS
    unit = "integer" if count_mode == "raw" else "float"
    per = {"per-second": " (per second)", "per-minute": " (per minute)", "raw": ""}[count_mode]
    g = {
        f"axslog.latency_{prefix}": graph(f"axslog latency {prefix}", "float",
                                          [("average", "Average")] +
                                          [(percentile_name(p), percentile_name(p).replace("_", " "))
                                           for p in pcts]),
        f"axslog.access_num_{prefix}": graph(f"axslog requests {prefix}{per}", unit,
                                             [(f"{b}_count", b, True) for b in BUCKETS]),
        f"axslog.access_total_{prefix}": graph(f"axslog total requests {prefix}{per}", unit,
                                               [("count", "count")]),
        f"axslog.access_ratio_{prefix}": graph(f"axslog status ratio {prefix}", "percentage",
                                               [(f"{b}_percentage", b, True) for b in BUCKETS]),
        f"axslog.parse_error_{prefix}": graph(f"axslog skipped lines {prefix}", "integer",
                                              [("count", "skipped")]),
    }
    if buckets:
        g[f"axslog.latency_bucket_{prefix}"] = graph(f"axslog latency buckets {prefix}{per}", unit, [("*", "%1")])
    if routes:
        g[f"axslog.route_num_{prefix}"] = graph(f"axslog requests by route {prefix}{per}", unit, [("*", "%1", True)])
        g[f"axslog.route_latency_{prefix}"] = graph(f"axslog average latency by route {prefix}", "float", [("*", "%1")])
        g[f"axslog.route_p99_{prefix}"] = graph(f"axslog p99 latency by route {prefix}", "float", [("*", "%1")])
    return g


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
