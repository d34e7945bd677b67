"""Latency statistics (upstream's report shape, correct histogram) and per-second throughput.
Durations are integer nanoseconds. Pure functions."""
from __future__ import annotations

import bisect
import math

from .gofmt import duration

_US = 1_000
MAX_FIXED_BINS = 1000       # --hinterval: beyond this many bins, empty ones are left out


def _idx(n: int, p: float) -> int:
    """Upstream's percentile index: d[floor(n*p + 0.5) - 1], kept inside the list."""
    i = int(math.floor(n * p + 0.5)) - 1
    return min(max(i, 0), n - 1)


def response(durs, hinterval_ns: int = 0, nbins: int = 10) -> dict:
    """The `Response` object: Time{...} as Go duration strings, Rate, Samples, Count, Histogram."""
    d = sorted(durs)
    n = len(d)
    if n == 0:
        zero = "0s"
        return {"Time": {k: zero for k in ("Cumulative", "HMean", "Avg", "P50", "P75", "P95", "P99", "P999",
                                           "Long5p", "Short5p", "Max", "Min", "Range", "StdDev")},
                "Rate": {"Second": 0}, "Samples": 0, "Count": 0, "Histogram": None}
    total = sum(d)
    avg = total // n
    inv = math.fsum(1.0 / x for x in d if x > 0)
    hmean = int(n / inv) if inv else 0
    mean = total / n
    var = math.fsum((x - mean) ** 2 for x in d) / n
    lo5 = int(math.floor(0.05 * n + 0.5))
    hi5 = int(math.floor(0.95 * n + 0.5))
    long5 = d[hi5:]
    short5 = d[:lo5]
    t = {
        "Cumulative": duration(total),
        "HMean": duration(hmean),
        "Avg": duration(avg),
        "P50": duration(d[n // 2]),
        "P75": duration(d[_idx(n, 0.75)]),
        "P95": duration(d[_idx(n, 0.95)]),
        "P99": duration(d[_idx(n, 0.99)]),
        "P999": duration(d[_idx(n, 0.999)]),
        "Long5p": duration(sum(long5) // len(long5) if len(long5) > 1 else d[-1]),
        "Short5p": duration(sum(short5) // len(short5) if len(short5) > 1 else d[0]),
        "Max": duration(d[-1]),
        "Min": duration(d[0]),
        "Range": duration(d[-1] - d[0]),
        "StdDev": duration(int(math.sqrt(var))),
    }
    return {"Time": t, "Rate": {"Second": n / (total / 1e9) if total else 0}, "Samples": n, "Count": n,
            "Histogram": histogram(d, hinterval_ns, nbins)}


def _floor_us(ns: float) -> int:
    return int(ns // _US) * _US


def histogram_bins(d: list[int], hinterval_ns: int = 0, nbins: int = 10) -> list[tuple[int, int, int]]:
    """(low, high, count) bins over sorted durations `d`: every value in the bin that holds it.

    Default: `nbins` (10; qrn's -hbins) bins of equal width from min to max (the last one includes max). With a bin width
    (--hinterval): bins aligned on multiples of it, from the one holding min to the one holding max.
    """
    if not d:
        return []
    lo, hi = d[0], d[-1]
    if hinterval_ns > 0:
        w = hinterval_ns
        first, last = lo // w, hi // w
        if last - first + 1 <= MAX_FIXED_BINS:
            counts = [0] * (last - first + 1)
            for x in d:
                counts[x // w - first] += 1
            return [((first + i) * w, (first + i + 1) * w, c) for i, c in enumerate(counts)]
        sparse: dict[int, int] = {}          # too many bins: only the non-empty ones
        for x in d:
            sparse[x // w] = sparse.get(x // w, 0) + 1
        return [(k * w, (k + 1) * w, c) for k, c in sorted(sparse.items())]
    if hi == lo:
        return [(lo, hi, len(d))]
    # integer edges lo + ceil(span*i/nb) (x >= edge exactly when x >= lo + i*span/nb), strictly
    # increasing: at most one bin per nanosecond of span
    # (float edges truncated to integers gave zero-width bins that held no value of their own)
    span = hi - lo
    nb = min(max(int(nbins), 1), span)
    edges = [lo - (-span * i // nb) for i in range(nb)] + [hi]
    counts = [0] * nb
    last = nb - 1
    for x in d:
        counts[min(bisect.bisect_right(edges, x) - 1, last)] += 1
    return [(edges[i], edges[i + 1], c) for i, c in enumerate(counts)]


def histogram(d: list[int], hinterval_ns: int = 0, nbins: int = 10):
    bins = histogram_bins(d, hinterval_ns, nbins)
    if not bins:
        return None
    return [{f"{duration(_floor_us(a))} - {duration(_floor_us(b))}": c} for a, b, c in bins]


def per_second(ends_ns, start_ns: int, finish_ns: int) -> list[float]:
    """Queries completed in each full second [start + k, start + k + 1) of the run, empty seconds
    included as 0. A run shorter than one second gives one value: count / elapsed."""
    elapsed = finish_ns - start_ns
    full = int(elapsed // 1_000_000_000)
    if full <= 0:
        n = len(ends_ns)
        return [n / (elapsed / 1e9)] if elapsed > 0 and n else []
    counts = [0] * full
    for e in ends_ns:
        k = (e - start_ns) // 1_000_000_000
        if 0 <= k < full:
            counts[k] += 1
    return [float(c) for c in counts]


def median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    if n == 0:
        return 0.0
    if n % 2:
        return v[n // 2]
    return (v[n // 2 - 1] + v[n // 2]) / 2


def qps_summary(ends_ns, start_ns: int, finish_ns: int) -> tuple[float, float, float]:
    """(MaxQPS, MinQPS, MedianQPS)."""
    s = per_second(ends_ns, start_ns, finish_ns)
    if not s:
        return 0.0, 0.0, 0.0
    return max(s), min(s), median(s)
