"""Statistics over a list of floats: count, max, avg, min, percentiles by several methods.

Order statistics are exact. Small inputs are sorted. Large ones use a sample to bracket the wanted
ranks with value windows, keep only the values inside the windows (counting those below), and sort
those; the counts prove the bracket (a miss falls back to the full sort), so the result is always
the same as sorting everything, at a fraction of the cost (a few list passes plus a small sort).

Ordering is Go's: NaNs first, then -Inf ... +Inf; 0 and -0 compare equal.
"""
from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

METHODS = ("rank", "nearest", "linear", "lower", "higher", "midpoint")
EXTRA_STATS = ("sum", "stddev", "var", "median")

SORT_BELOW = 200_000      # sort outright below this many values
SAMPLE = 20_000


@dataclass
class Pct:
    label: str          # as typed, e.g. "99.90"
    value: float        # as parsed (Go float grammar)
    exact: Fraction     # p/100 exactly as written (decimal), or the float's exact value


def go_rank_index(n: int, p: float) -> int:
    """kazeburo/percentile's index: round-half-away(n * (p/100)) - 1 in float64, clamped to [0, n-1]."""
    x = float(n) * (p / 100.0)
    r = math.floor(x)
    if x - r >= 0.5:
        r += 1
    return min(max(int(r), 1), n) - 1


def needed_indices(n: int, pct: Pct, method: str) -> tuple[int, int, float]:
    """(lower index, upper index, weight of the upper one) for a percentile under a method."""
    if method == "rank":
        k = go_rank_index(n, pct.value)
        return k, k, 0.0
    if method == "nearest":
        k = math.ceil(n * pct.exact)
        k = min(max(k, 1), n) - 1
        return k, k, 0.0
    h = (n - 1) * pct.exact
    lo = math.floor(h)
    hi = math.ceil(h)
    if method == "lower":
        return lo, lo, 0.0
    if method == "higher":
        return hi, hi, 0.0
    if method == "midpoint":
        return lo, hi, 0.5 if hi != lo else 0.0
    return lo, hi, float(h - lo)  # linear


def combine(a: float, b: float, t: float) -> float:
    if t == 0.0 or a == b:
        return a
    if t == 0.5:
        return a + (b - a) / 2
    return a + (b - a) * t


def _sorted_all(vals, maybe_nan: bool) -> list:
    if maybe_nan:
        nans = [x for x in vals if x != x]
        if nans:
            rest = [x for x in vals if x == x]
            rest.sort()
            return nans + rest
    if isinstance(vals, list):
        vals.sort()
        return vals
    return sorted(vals)


@dataclass
class Order:
    """Order statistics of `vals` (a list, which may be reordered in place, or an array)."""
    n: int
    at: dict = field(default_factory=dict)   # index -> value
    min: float = math.nan
    max: float = math.nan


def order_stats(vals: list, wanted: set[int], maybe_nan: bool, rng_seed: int = 0) -> Order:
    """vals: a list or array('d'), or a Prefiltered (reader.py): the values kept around windows
    planned before reading, which answers without ever holding every value unless a window
    missed (then all_values() decodes them again)."""
    n = len(vals)
    o = Order(n)
    if n == 0:
        return o
    if hasattr(vals, "all_values"):
        if not maybe_nan and resolve_windows(n, vals.kept(), True, vals.sample, vals.clusters, wanted, o):
            return o
        o = Order(n)
        vals = vals.all_values()
    if n < SORT_BELOW or maybe_nan or not _select(vals, wanted, o, rng_seed):
        s = _sorted_all(vals, maybe_nan)
        o.at = {i: s[i] for i in wanted}
        o.min, o.max = s[0], s[-1]
    return o


def plan_windows(sample: list, qs) -> list | None:
    """Value windows around quantile positions, as clusters [lo, hi] of positions in `sample`
    (sorted ascending, m values): each q in qs (0..1) gets pos = q*(m-1) +- 6 standard deviations
    of a sample quantile (+8), lo = -1 when the window reaches the bottom 1 % (no lower bound, the
    minimum included), hi = m when it reaches the top 1 % (no upper bound). Overlapping windows are
    merged. None when they would cover more than half of the values (sorting is cheaper then)."""
    m = len(sample)
    wins = []
    for q in sorted(qs):
        pos = q * (m - 1)
        margin = 6.0 * math.sqrt(m * q * (1.0 - q)) + 8.0
        lo = math.floor(pos - margin)
        hi = math.ceil(pos + margin)
        if lo <= m * 0.01:
            lo = -1
        if hi >= m * 0.99:
            hi = m
        wins.append([lo, hi])
    clusters: list = []
    for w in wins:
        if clusters and w[0] <= clusters[-1][1]:
            clusters[-1][1] = max(clusters[-1][1], w[1])
        else:
            clusters.append(w)
    width = sum(min(c[1], m) - max(c[0], 0) for c in clusters) / m
    if width > 0.5 or not clusters:
        return None
    return clusters


def _select(vals: list, wanted: set[int], o: Order, seed: int) -> bool:
    """Bracketed selection; False when the windows would be too wide or a bracket missed."""
    n = len(vals)
    rng = random.Random(seed or n)
    m = SAMPLE
    sample = rng.sample(vals, m)
    sample.sort()
    if len(set(sample)) <= m // 10:
        return _count_select(vals, wanted, o)
    clusters = plan_windows(sample, [idx / (n - 1) for idx in wanted])
    if clusters is None:
        return False
    return resolve_windows(n, vals, False, sample, clusters, wanted, o)


def resolve_windows(n: int, a, lows: bool, sample: list, clusters: list, wanted: set[int],
                    o: Order) -> bool:
    """Find the wanted order statistics of n values inside the windows (plan_windows), or False.

    a: every value (lows False), or, already filtered (lows True), exactly the values >= the first
    cluster's lower bound or <= sample[0] (the first cluster must have a lower bound then). Each
    cluster keeps the values >= its lower bound (counting the others: `below`) and <= its upper
    bound, sorted: `mid`. The values <= sample[0] are kept by the first cluster as well: they are
    the smallest ones, so they give the exact minimum without a pass of their own. A wanted index
    is taken from a cluster when below + first <= index < below + len(mid): mid then holds every
    value of its rank range, so the result is exactly what a full sort gives, whatever the sample
    was; an index no cluster brackets makes the whole call return False (the caller sorts)."""
    m = len(sample)
    s0 = sample[0]
    slack = n * 0.01 + 1000
    todo = set(wanted)
    below = 0
    whole = a           # not to be sorted in place (the caller's values)
    for ci, (lo, hi) in enumerate(clusters):
        first_cluster = ci == 0
        if lo >= 0:
            lo_v = sample[lo]
            if first_cluster:
                if not lows:
                    # one pass for two jobs: the values from the lower bound up, and the values
                    # up to the sample's minimum (few or none), which give the exact minimum
                    a = [x for x in a if x >= lo_v or x <= s0]
            else:
                a = [x for x in a if x >= lo_v]
            below = n - len(a)
            if len(a) > n * (1 - lo / m) * 1.2 + slack:
                return False                 # the sample lied (ties, ordering): sort instead
        elif lows:
            return False                     # filtered without a lower bound: not this layout
        if hi < m:
            hi_v = sample[hi]
            mid = [x for x in a if x <= hi_v]
        else:
            mid = list(a) if a is whole else a
        if len(mid) > n * (min(hi, m) - max(lo, 0)) / m * 1.5 + slack:
            return False
        if not mid:
            if lo < 0 or hi >= m:
                return False                 # the extreme it was to give is unknown
            continue                         # (a sample that lied: nothing in this window)
        mid.sort()
        first = 0           # mid[:first]: the values <= s0, global ranks 0..first-1
        if lo >= 0 and first_cluster:
            first = bisect_right(mid, s0)
            if not first:
                return False                 # s0 is not among the values: minimum unknown
            o.min = mid[0]
        elif lo < 0:
            o.min = mid[0]
        if hi >= m:
            o.max = mid[-1]
        for idx in sorted(todo):
            j = idx - below
            if first <= j < len(mid):
                o.at[idx] = mid[j]
                todo.discard(idx)
    if todo or math.isnan(o.min):
        return False
    if math.isnan(o.max):
        o.max = max(a)     # every value above the last lower bound is in `a`
    return True


def _count_select(vals, wanted: set[int], o: Order) -> bool:
    """Few distinct values: count them (no sort of n values, little memory)."""
    from collections import Counter

    c = Counter(vals)
    if len(c) > 1_000_000:
        return False
    keys = sorted(c)
    cum = []
    t = 0
    for k in keys:
        t += c[k]
        cum.append(t)          # cum[i] = number of values <= keys[i]
    for idx in wanted:
        o.at[idx] = keys[bisect_right(cum, idx)]
    o.min, o.max = keys[0], keys[-1]
    return True


@dataclass
class Summary:
    count: int
    max: float
    avg: float
    min: float
    extra: list          # [(name, value)]
    pcts: list           # [(label, value)]


def summarize(vals: list, total: float, pcts: list[Pct], method: str = "rank",
              extra: tuple = ()) -> Summary | None:
    """Statistics of vals (reordered in place). total = naive in-order sum of vals."""
    n = len(vals)
    if n == 0:
        return None
    maybe_nan = total != total
    plan = [needed_indices(n, p, method) for p in pcts]
    wanted = {i for a, b, _ in plan for i in (a, b)}
    med = None
    if "median" in extra:
        med = ((n - 1) // 2, n // 2, 0.5 if n % 2 == 0 else 0.0)
        wanted.update(med[:2])
    var = None
    if "stddev" in extra or "var" in extra:
        var = _variance(vals, total / n)
    o = order_stats(vals, wanted, maybe_nan)
    out_extra = []
    for name in extra:
        if name == "sum":
            out_extra.append((name, total))
        elif name == "stddev":
            out_extra.append((name, math.sqrt(var) if var == var and var >= 0 else var))
        elif name == "var":
            out_extra.append((name, var))
        elif name == "median":
            out_extra.append((name, combine(o.at[med[0]], o.at[med[1]], med[2])))
    res = [(p.label, combine(o.at[a], o.at[b], t)) for p, (a, b, t) in zip(pcts, plan, strict=True)]
    return Summary(n, o.max, total / n, o.min, out_extra, res)


def _variance(vals: list, mean: float) -> float:
    """Sample variance (n - 1), two passes; NaN for fewer than two values."""
    n = len(vals)
    if n < 2 or mean != mean or math.isinf(mean):
        return math.nan
    return math.fsum((x - mean) * (x - mean) for x in vals) / (n - 1)
