"""One run of mackerel-plugin-axslog: follow each access log, tally it, publish the metrics (or
the --check verdict), then move the positions (mackerel_logfollow.driver)."""
from __future__ import annotations

import hashlib
import os

from mackerel_logfollow.driver import Log, drive
from mackerel_plugin_helper.graphs import graph
from mackerel_plugin_helper.runner import say
from mackerel_plugin_helper.state import state_key
from mackerel_plugin_helper.stats import percentile_name

from . import report
from .parse import BUCKETS, CombinedParser, JsonParser, LineFilter, LtsvParser, Tally

PROG = "mackerel-plugin-axslog"


def state_name(prefix: str, real: str) -> str:
    uid = os.getuid()
    return f"{uid}-axslog-v6-{prefix.replace('/', '_')}-{state_key(real)}-{uid}.json"


def legacy_names(prefix: str, typed: str, several: bool) -> list[str]:
    """The upstream plugin's position files (v0.4.x), continued from when ours is missing."""
    uid = os.getuid()
    if several:
        return [f"{uid}-axslog-v5-{prefix}-{hashlib.md5(typed.encode()).hexdigest()}-{uid}"]
    return [f"{uid}-axslog-v5-{prefix}-{uid}"]


def graphs(args) -> dict | None:
    """The graph definitions; none in --check mode (a check prints its verdict)."""
    if args.check:
        return None
    return graphdefs(args.key_prefix, args.pcts, args.count_mode, bool(args.buckets),
                     args.router is not None)


def logs(args) -> list[Log]:
    files = args.logfile.split(",")
    seen: dict[str, str] = {}
    out = []
    for typed in files:
        real = os.path.realpath(typed)
        if real in seen:
            say(f"{PROG}: {typed}: same file as {seen[real]}, read once")
            continue
        seen[real] = typed
        out.append(Log(typed, state_name(args.key_prefix, real),
                       legacy=legacy_names(args.key_prefix, typed, len(files) > 1)))
    return out


def tally(args, flt, fol) -> Tally:
    """Parse one log's new lines into a Tally (skipped lines counted by reason)."""
    if args.format == "combined":
        parser = CombinedParser(route=args.router is not None)
        n_status = 1
    else:
        parser = (LtsvParser if args.format == "ltsv" else JsonParser)(
            args.status_key, args.ptime_key, args.route_key)
        n_status = len(args.status_key)
    t = Tally()
    if flt.active:
        for chunk in fol.chunks():
            t.lines += parser.count(flt.apply(chunk), t.tuples)
    else:       # the follower's buffer itself, no copy where the parser can (LTSV)
        for buf, s, e in fol.blocks():
            t.lines += parser.count_block(buf, s, e, t.tuples)
    if hasattr(parser, "drain"):
        parser.drain(t.tuples)
    t.finish(n_status, args.upstream_value, args.router)
    if getattr(parser, "bad", 0):
        t.error("invalid JSON", parser.bad, parser.first_bad)
    if fol.stats.lines_overlong:     # never seen by the parser: in the line count too
        t.lines += fol.stats.lines_overlong
        t.error("over-long", fol.stats.lines_overlong, fol.stats.first_overlong)
    return t


def collect(args, out) -> int:
    flt = LineFilter(args.filter, args.invert_filter, args.skip_until_json)

    def publish(done):
        results = [(log.path, fol, t) for log, fol, t in done]
        for typed, fol, t in results:
            report.diagnostics(PROG, typed, fol, t)
        if args.check:
            msg, rc = report.check(results, args.pcts, args)
            payload = (msg + "\n").encode()
        else:
            payload = report.metrics(results, args.key_prefix, args.pcts, args.percentile_method,
                                     args.count_mode, buckets=args.buckets,
                                     top=args.top if args.router is not None else 0)
            rc = 0
        if args.strict and any(t.errors for _, _, t in results):
            rc = 2
        return payload, rc

    return drive(PROG, out, logs(args), lambda i, fol: tally(args, flt, fol), publish, args.follow,
                 events=not args.quiet, partial=True)


def graphdefs(prefix: str, pcts, count_mode: str, buckets: bool = False, routes: bool = False) -> dict:
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
