"""Latency statistics over a weighted sample: {value: count}.

Logs repeat values (milliseconds printed with three decimals), so counting distinct values keeps
memory flat in the number of lines and makes percentiles cost O(distinct values).

Percentile methods:
- ``rank`` (nearest rank, axslog <= v0.4.11, postfix-log <= 2025): sort ascending, take the
  element at index floor(n*p/100 + 0.5) - 1 (clamped to [0, n-1]).
- ``linear`` (axslog >= v0.4.12, montanaflynn/stats >= 0.9): rank r = p/100*(n-1), interpolate
  between the neighbours (the NumPy default).
"""
from __future__ import annotations

import bisect
import math


class Sample:
    def __init__(self) -> None:
        self.counts: dict[float, int] = {}

    def add(self, value: float, count: int = 1) -> None:
        self.counts[value] = self.counts.get(value, 0) + count

    def merge(self, other: "Sample") -> None:
        for v, c in other.counts.items():
            self.add(v, c)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def average(self) -> float:
        n = self.n
        return math.fsum(v * c for v, c in self.counts.items()) / n if n else math.nan

    def _sorted(self):
        vals = sorted(self.counts)
        cum = []
        t = 0
        for v in vals:
            t += self.counts[v]
            cum.append(t)
        return vals, cum

    def percentiles(self, ps: list[float], method: str = "rank") -> list[float]:
        vals, cum = self._sorted()
        n = cum[-1] if cum else 0
        if not n:
            return [math.nan] * len(ps)

        def at(i: int) -> float:     # value of the i-th (0-based) element of the sorted sample
            return vals[bisect.bisect_right(cum, i)]

        out = []
        for p in ps:
            if method == "linear":
                r = p / 100.0 * (n - 1)
                lo = math.floor(r)
                hi = min(lo + 1, n - 1)
                a, b = at(lo), at(hi)
                out.append(a + (r - lo) * (b - a) if hi != lo else a)
            else:
                i = math.floor(n * p / 100.0 + 0.5) - 1
                out.append(at(min(max(i, 0), n - 1)))
        return out


def percentile_name(p: float) -> str:
    """99 -> '99_percentile', 99.9 -> '99_9_percentile'."""
    s = f"{p:g}" if p != int(p) else str(int(p))
    return s.replace(".", "_") + "_percentile"


def parse_percentiles(text: str) -> list[float]:
    """'99,95,90' -> [99.0, 95.0, 90.0]; duplicates dropped; each in [0, 100]."""
    out: list[float] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError("empty percentile")
        v = float(part)
        if not (0 <= v <= 100) or math.isnan(v):
            raise ValueError(f"percentile {part} not in 0..100")
        if v not in out:
            out.append(v)
    if not out:
        raise ValueError("no percentile given")
    return out
