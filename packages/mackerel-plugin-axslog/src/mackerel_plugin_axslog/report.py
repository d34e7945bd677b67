"""Tallies of one run -> mackerel metric lines (axslog v0.4.10 names, order and rules)."""
from __future__ import annotations

import sys

from mackerel_plugin_helper.metrics import Metrics
from mackerel_plugin_helper.stats import Sample, percentile_name

from mackerel_plugin_axslog.parse import BUCKETS


def _per(count: float, duration: float, mode: str) -> float:
    if mode == "raw":
        return float(count)
    if mode == "per-minute":
        return count * 60.0 / duration
    return count / duration


def metrics(results, prefix: str, pcts, method: str, count_mode: str, epoch=None,
            buckets=(), top: int = 0) -> Metrics:
    """results: [(typed path, Follower, Tally)].

    - latency block when at least one line had a latency (all files merged);
    - access_num/access_total when at least one file has a previous run (duration > 0), summed
      over those files, each divided by its own duration (per-second/per-minute modes);
    - access_ratio when the total is > 0: rate-weighted over the files with a previous run, or,
      for a single file on its first run, from its counts (as upstream prints it).
    """
    m = Metrics(epoch)
    lat = Sample()
    for _, _, t in results:
        lat.merge(t.latency)
    if lat.n:
        m.add(f"axslog.latency_{prefix}.average", lat.average())
        for p, v in zip(pcts, lat.percentiles(pcts, method), strict=True):
            m.add(f"axslog.latency_{prefix}.{percentile_name(p)}", v)
    timed = [(f, t) for _, f, t in results if f.duration > 0]
    if timed:
        nums = {b: 0.0 for b in BUCKETS}
        total = 0.0
        for f, t in timed:
            for b in BUCKETS:
                nums[b] += _per(t.buckets[b], f.duration, count_mode)
            total += _per(t.total, f.duration, count_mode)
        for b in BUCKETS:
            m.add(f"axslog.access_num_{prefix}.{b}_count", nums[b])
        m.add(f"axslog.access_total_{prefix}.count", total)
    elif len(results) == 1:
        t = results[0][2]
        nums = {b: float(t.buckets[b]) for b in BUCKETS}
        total = float(t.total)
    else:
        total = 0.0
    if total > 0:
        for b in BUCKETS:
            m.add(f"axslog.access_ratio_{prefix}.{b}_percentage", 100.0 * nums[b] / total)
    if buckets and timed:
        for b in buckets:
            v = 0.0
            for f, t in timed:
                v += _per(sum(c for x, c in t.latency.counts.items() if x <= b), f.duration, count_mode)
            m.add(f"axslog.latency_bucket_{prefix}.le_{_bound(b)}_count", v)
        m.add(f"axslog.latency_bucket_{prefix}.le_inf_count",
              sum(_per(t.latency.n, f.duration, count_mode) for f, t in timed))
    if top:
        _routes(m, results, timed, prefix, method, count_mode, top)
    skipped = sum(t.skipped for _, _, t in results)      # lines in no other metric
    if skipped:
        m.add(f"axslog.parse_error_{prefix}.count", skipped)
    return m


def _bound(b: float) -> str:
    return (f"{b:g}" if b != int(b) else str(int(b))).replace(".", "_").replace("-", "minus_")


def _routes(m, results, timed, prefix, method, count_mode, top) -> None:
    """Per-route metrics: the `top` busiest routes (all files), the rest summed as `other`."""
    import collections
    total = collections.Counter()
    for _, _, t in results:
        total.update(t.routes)
    keep = {r for r, _ in total.most_common(top)}

    def name(r):
        return r if r in keep else "other"
    lat: dict[str, Sample] = {}
    for _, _, t in results:
        for r, s in t.route_latency.items():
            lat.setdefault(name(r), Sample()).merge(s)
    order = [r for r, _ in total.most_common(top)] + (["other"] if len(total) > top else [])
    if timed:
        per = collections.Counter()
        for f, t in timed:
            for r, c in t.routes.items():
                per[name(r)] += _per(c, f.duration, count_mode)
        for r in order:
            m.add(f"axslog.route_num_{prefix}.{r}", per.get(r, 0.0))
    have = [r for r in order if r in lat and lat[r].n]
    for r in have:
        m.add(f"axslog.route_latency_{prefix}.{r}", lat[r].average())
    for r in have:
        m.add(f"axslog.route_p99_{prefix}.{r}", lat[r].percentiles([99.0], method)[0])


def diagnostics(prog: str, typed: str, fol, t) -> None:
    """One stderr summary per file and run: skipped lines by reason with the first example
    (the follower's events are printed by the driver)."""
    if not t.errors:
        return

    def reasons(skipped: bool) -> str:
        return ", ".join(f"{k}: {n}" for k, n in sorted(t.errors.items())
                         if (k not in t.NOT_SKIPPED) == skipped)
    parts = []
    if t.skipped:
        parts.append(f"{t.skipped} of {t.lines} lines skipped ({reasons(True)})")
    if t.without_latency:
        parts.append(f"{t.without_latency} of {t.lines} lines counted without a latency "
                     f"({reasons(False)})")
    first = next(iter(t.first_error.items()))
    ex = f"; first {first[0]}" + (f": {first[1]}" if first[1] else "")
    print(f"{prog}: {typed}: {'; '.join(parts)}{ex}", file=sys.stderr)


def check(results, pcts, args) -> tuple[str, int]:
    """Nagios check: 5xx percentage and p99 latency against thresholds. Returns (message, code)."""
    lat = Sample()
    total = fivexx = 0
    for _, _, t in results:
        lat.merge(t.latency)
        total += t.total
        fivexx += t.buckets["5xx"]
    ratio = 100.0 * fivexx / total if total else 0.0
    p99 = lat.percentiles([99.0], args.percentile_method)[0] if lat.n else 0.0
    level = 0
    why = []
    for val, warn, crit, label in ((ratio, args.warning_5xx, args.critical_5xx, "5xx"),
                                   (p99, args.warning_p99, args.critical_p99, "p99")):
        if crit is not None and val >= crit:
            level = max(level, 2)
            why.append(f"{label} {val:g} >= {crit:g}")
        elif warn is not None and val >= warn:
            level = max(level, 1)
            why.append(f"{label} {val:g} >= {warn:g}")
    name = ["OK", "WARNING", "CRITICAL"][level]
    msg = f"axslog {name}: {total} requests, 5xx {ratio:.2f}%, p99 {p99:g}"
    if why:
        msg += " (" + "; ".join(why) + ")"
    return msg, level
