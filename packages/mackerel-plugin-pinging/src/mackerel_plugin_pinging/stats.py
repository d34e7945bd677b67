"""RTT statistics: the upstream rank rule and the extra figures (stddev, jitter, loss).

Everything here is plain arithmetic over lists of floats (milliseconds), no I/O.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


def round_half_up(x: float) -> int:
    """Nearest integer, ties away from zero (Go's math.Round), for x >= 0.

    Python's round() rounds ties to even (round(4.5) == 4), which would pick a lower rank for
    n = 5, 15, 25, ... samples; this is exact for every float (no x + 0.5 rounding artefact)."""
    f = math.floor(x)
    return int(f) + (1 if x - f >= 0.5 else 0)


def rank_index(n: int, p: float) -> int:
    """Index into an ascending list of n values for the p-th percentile (0 < p <= 100).

    Nearest rank, ties up: round_half_up(n * p / 100) - 1, clamped to [0, n - 1]. For p = 90 the
    product is computed as n * 0.9 exactly like the upstream plugin (same float arithmetic)."""
    if n <= 0:
        raise ValueError("no values")
    i = round_half_up(n * (p / 100.0)) - 1
    return min(max(i, 0), n - 1)


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[rank_index(len(sorted_values), p)]


def percentile_key(p: float) -> str:
    """Metric name part for a percentile: 90 -> '90_percentile', 99.9 -> '99_9_percentile'
    (a dot would split the metric into another graph)."""
    s = f"{p:g}".replace(".", "_")
    return f"{s}_percentile"


@dataclass
class Result:
    """Outcome of pinging one host: RTTs in send order (ms) and the failures by reason."""
    requested: int
    rtts: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)  # reason -> count

    @property
    def success(self) -> int:
        return len(self.rtts)

    @property
    def error(self) -> int:
        # loss counted from the pings requested, whatever the socket layer says it sent
        return self.requested - len(self.rtts)

    @property
    def loss_percentage(self) -> float:
        return self.error * 100.0 / self.requested if self.requested else 0.0


def stddev(values: list[float]) -> float:
    """Population standard deviation (what ping(8) calls mdev is close to it)."""
    n = len(values)
    if n == 0:
        return 0.0
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)


def jitter(values_in_order: list[float]) -> float:
    """Mean absolute difference of consecutive RTTs (in send order); 0 with fewer than two."""
    if len(values_in_order) < 2:
        return 0.0
    diffs = [abs(b - a) for a, b in zip(values_in_order, values_in_order[1:], strict=False)]
    return math.fsum(diffs) / len(diffs)


def summarize(rtts_in_order: list[float], percentiles: list[float]) -> dict[str, float]:
    """max, min, average and the requested percentiles of the RTTs (empty dict without RTTs)."""
    if not rtts_in_order:
        return {}
    s = sorted(rtts_in_order)
    n = len(s)
    out = {
        "max": s[rank_index(n, 100)],
        "min": s[0],
        "average": sum(s) / n,
    }
    for p in percentiles:
        out[percentile_key(p)] = percentile(s, p)
    return out
