"""Percentile ranks and methods, and the bracketed selection against a full sort."""
import math
import random
import statistics
from array import array
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from percentile import stats
from percentile.stats import Pct, go_rank_index, summarize

_REAL_RANDOM = random.Random


def pct(s):
    return Pct(s, float(s), Fraction(s) / 100)


def go_reference_index(n, p):
    # the spec's recipe: float64 p/100, times float64(n), round half away from zero, minus one
    x = n * (p / 100)
    r = math.floor(x)
    if x - r >= 0.5:
        r += 1
    return r - 1


@pytest.mark.parametrize("n,p,want", [(10, 90, 8), (10, 91, 8), (10, 5, 0), (10, 15, 1), (10, 35, 3),
                                      (1, 50, 0), (1000, 99.9, 998), (10, 100, 9)])
def test_go_rank(n, p, want):
    assert go_rank_index(n, p) == want


@pytest.mark.parametrize("n,p", [(1, 25), (10, 0.1), (2, 20), (3, 0.0001)])
def test_go_rank_is_clamped_where_go_panics(n, p):
    assert go_reference_index(n, p) < 0          # upstream: index out of range -> panic
    assert go_rank_index(n, p) == 0


@given(st.integers(1, 10**7), st.floats(0.001, 100))
def test_go_rank_matches_recipe_where_valid(n, p):
    ref = go_reference_index(n, p)
    if 0 <= ref < n:
        assert go_rank_index(n, p) == ref


def test_methods_on_one_to_ten():
    vals = [float(i) for i in range(1, 11)]
    res = {}
    for m in stats.METHODS:
        s = summarize(array("d", vals), sum(vals), [pct("90"), pct("91"), pct("25")], m)
        res[m] = [v for _, v in s.pcts]
    assert res["rank"] == [9, 9, 3]
    assert res["nearest"] == [9, 10, 3]
    assert res["linear"] == pytest.approx([9.1, 9.19, 3.25])
    assert res["lower"] == [9, 9, 3]
    assert res["higher"] == [10, 10, 4]
    assert res["midpoint"] == [9.5, 9.5, 3.5]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0.5, 100))
def test_linear_matches_statistics_quantiles_inclusive(xs, p):
    s = summarize(array("d", xs), sum(xs), [Pct("p", p, Fraction(p) / 100)], "linear")
    srt = sorted(xs)
    h = (len(xs) - 1) * Fraction(p) / 100
    lo, hi = math.floor(h), math.ceil(h)
    want = srt[lo] + (srt[hi] - srt[lo]) * float(h - lo)
    assert s.pcts[0][1] == pytest.approx(want, rel=1e-12, abs=1e-9)


def test_median_and_extra_stats():
    xs = [1.0, 2.0, 3.0, 10.0]
    s = summarize(array("d", xs), sum(xs), [], "rank", ("sum", "stddev", "var", "median"))
    got = dict(s.extra)
    assert got["sum"] == 16.0
    assert got["median"] == 2.5
    assert got["var"] == pytest.approx(statistics.variance(xs))
    assert got["stddev"] == pytest.approx(statistics.stdev(xs))


def test_nan_sorts_first_like_go():
    xs = [3.0, math.nan, 1.0, math.inf, -math.inf]
    s = summarize(array("d", xs), math.nan, [pct("100"), pct("20"), pct("40")], "rank")
    assert math.isnan(s.min) and s.max == math.inf
    assert s.pcts[0][1] == math.inf
    assert math.isnan(s.pcts[1][1])
    assert s.pcts[2][1] == -math.inf


def _full(xs, pcts, method):
    srt = sorted(xs)
    out = []
    for p in pcts:
        a, b, t = stats.needed_indices(len(xs), p, method)
        out.append(stats.combine(srt[a], srt[b], t))
    return srt[0], srt[-1], out


@pytest.mark.parametrize("shape", ["uniform", "sorted", "reversed", "constant", "few", "lognormal"])
@pytest.mark.parametrize("pset", [("99", "95", "90", "75"), ("50",), ("1", "50", "99.9"), ("0.001", "100"),
                                  ("10", "20", "30", "40", "60", "70", "80")])
def test_selection_equals_full_sort(shape, pset, monkeypatch):
    monkeypatch.setattr(stats, "SORT_BELOW", 1000)
    monkeypatch.setattr(stats, "SAMPLE", 2000)
    rnd = random.Random(hash((shape, pset)) & 0xFFFF)
    n = 30_000
    xs = {"uniform": lambda: [rnd.random() for _ in range(n)],
          "sorted": lambda: sorted(rnd.random() for _ in range(n)),
          "reversed": lambda: sorted((rnd.random() for _ in range(n)), reverse=True),
          "constant": lambda: [1.5] * n,
          "few": lambda: [float(rnd.randrange(3)) for _ in range(n)],
          "lognormal": lambda: [rnd.lognormvariate(0, 3) for _ in range(n)]}[shape]()
    pcts = [pct(p) for p in pset]
    for method in ("rank", "linear"):
        s = summarize(array("d", xs), sum(xs), pcts, method)
        lo, hi, want = _full(xs, pcts, method)
        assert (s.min, s.max, [v for _, v in s.pcts]) == (lo, hi, want)


def test_selection_really_selects(monkeypatch):
    """The bracketed path must be the one taken on a large input (not the full-sort fallback)."""
    monkeypatch.setattr(stats, "SORT_BELOW", 1000)
    monkeypatch.setattr(stats, "SAMPLE", 2000)
    called = []
    real = stats._sorted_all
    monkeypatch.setattr(stats, "_sorted_all", lambda *a: called.append(1) or real(*a))
    rnd = random.Random(5)
    xs = [rnd.random() for _ in range(50_000)]
    s = summarize(array("d", xs), sum(xs), [pct("99"), pct("75")], "rank")
    assert not called
    assert s.pcts[0][1] == sorted(xs)[go_rank_index(len(xs), 99.0)]


@pytest.mark.parametrize("bias", ["low", "high", "middle", "fair-with-min", "fair-without-min"])
def test_a_misleading_sample_cannot_give_a_wrong_answer(bias, monkeypatch):
    """The brackets are proved by counting; a sample that lies only costs time."""
    monkeypatch.setattr(stats, "SORT_BELOW", 1000)
    monkeypatch.setattr(stats, "SAMPLE", 2000)

    class Liar(_REAL_RANDOM):
        def sample(self, population, k):
            srt = sorted(population)
            if bias.startswith("fair"):
                got = _REAL_RANDOM(1).sample(srt[1:], k)   # never the minimum...
                if bias == "fair-with-min":
                    got[0] = srt[0]                          # ...unless put there
                return got
            if bias == "low":
                return srt[:k]
            if bias == "high":
                return srt[-k:]
            mid = len(srt) // 2
            return srt[mid - k // 2: mid - k // 2 + k]

    monkeypatch.setattr(stats.random, "Random", Liar)
    rnd = random.Random(9)
    xs = [rnd.random() for _ in range(40_000)]
    pcts = [pct("99"), pct("75"), pct("50"), pct("1")]
    s = summarize(array("d", xs), sum(xs), pcts, "rank")
    lo, hi, want = _full(xs, pcts, "rank")
    assert (s.min, s.max, [v for _, v in s.pcts]) == (lo, hi, want)


def test_few_distinct_values_are_counted(monkeypatch):
    monkeypatch.setattr(stats, "SORT_BELOW", 1000)
    monkeypatch.setattr(stats, "SAMPLE", 2000)
    called = []
    real = stats._count_select
    monkeypatch.setattr(stats, "_count_select", lambda *a: called.append(1) or real(*a))
    rnd = random.Random(4)
    xs = [float(rnd.randrange(-3, 20)) for _ in range(30_000)] + [-0.0, 0.0]
    pcts = [pct(p) for p in ("99.99", "90", "50", "0.001")]
    s = summarize(array("d", xs), sum(xs), pcts, "linear")
    assert called
    lo, hi, want = _full(xs, pcts, "linear")
    assert (s.min, s.max, [v for _, v in s.pcts]) == (lo, hi, want)
