"""One run of mackerel-plugin-postfix-log: follow the mail log, tally the deliveries, publish."""
from __future__ import annotations

import os
import tempfile

from mackerel_logfollow.driver import Log, drive
from mackerel_plugin_helper.graphs import graph
from mackerel_plugin_helper.metrics import Metrics
from mackerel_plugin_helper.runner import say
from mackerel_plugin_helper.state import state_key

from .parse import CLASSES, GROUPS, STATUSES, Parser, Result

PROG = "mackerel-plugin-postfix-log"
PCTS = [99.0, 95.0, 90.0]


def graphs(args=None) -> dict:
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


def metrics(r: Result, duration: float, args) -> Metrics:
    m = Metrics()
    if r.total:
        for g in GROUPS:
            s = r.delays[g]
            m.add(f"postfixlog.{g}_delay.average", s.average())
            for pc, v in zip(PCTS, s.percentiles(PCTS, args.percentile_method), strict=True):
                m.add(f"postfixlog.{g}_delay.{int(pc)}_percentile", v)
    if duration > 0:
        for c in CLASSES:
            m.add(f"postfixlog.transfer_num.{c}_count", r.classes[c] / duration)
        m.add("postfixlog.transfer_total.count", r.total / duration)
        if args.status_counts:
            for s in STATUSES:
                m.add(f"postfixlog.transfer_status.{s}_count", r.statuses[s] / duration)
    if r.total:
        for c in CLASSES:
            m.add(f"postfixlog.transfer_ratio.{c}_percentage", 100.0 * r.classes[c] / r.total)
    return m


def collect(args, out) -> int:
    uid = os.getuid()
    safe = args.posfile_prefix.replace("/", "_")
    log = Log(args.logfile,
              f"{uid}-{safe}-postfixlog-v2-{state_key(os.path.realpath(args.logfile))}-{uid}.json",
              legacy=[os.path.join(tempfile.gettempdir(), f"{args.posfile_prefix}-postfixlog-{uid}")])

    def read(i, fol):
        p = Parser(args.agents)
        for chunk in fol.chunks():
            p.feed(chunk)
        return p

    def report(done):
        (_, fol, p), = done
        r = Result(p)
        if args.verbose:
            say(f"{PROG}: {args.logfile}: {p.lines} lines, {r.total} deliveries in {fol.duration:.3f} s")
        if r.unparsed or fol.stats.lines_overlong:
            say(f"{PROG}: {args.logfile}: {r.unparsed} delivery-agent lines without delay/dsn fields "
                f"(connection errors and the like), {fol.stats.lines_overlong} over-long lines skipped")
        return metrics(r, fol.duration, args), 0

    return drive(PROG, out, [log], read, report, args.follow, events=args.verbose)
