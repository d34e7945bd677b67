"""The rank rule, the statistics and the metric lines, as plain functions."""
from __future__ import annotations

import json
import math
import statistics
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mackerel_plugin_pinging.output import graph_definition, metric_lines
from mackerel_plugin_pinging.stats import (
    Result,
    jitter,
    percentile_key,
    rank_index,
    round_half_up,
    stddev,
    summarize,
)

# 90th percentile index for n = 1..25, as the upstream Go plugin computes it:
# math.Round(float64(n) * 0.90) - 1 with Go's ties-away-from-zero math.Round.
GO_P90_INDEX = {
    1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 8: 6, 9: 7, 10: 8, 11: 9, 12: 10, 13: 11,
    14: 12, 15: 13, 16: 13, 17: 14, 18: 15, 19: 16, 20: 17, 21: 18, 22: 19, 23: 20, 24: 21,
    25: 22,
}


@pytest.mark.parametrize("n", sorted(GO_P90_INDEX))
def test_rank_rule_matches_the_upstream_table(n):
    assert rank_index(n, 90) == GO_P90_INDEX[n]
    values = [float(i) for i in range(n)]
    assert summarize(values, [90])["90_percentile"] == float(GO_P90_INDEX[n])


@pytest.mark.parametrize("n", [5, 25, 45])
def test_ties_go_up_not_to_even(n):
    # n * 0.9 is an exact .5: Python's round() would give 4, 22, 40 -> index 3, 21, 39 (the
    # bug a naive port has); Go and we take 5, 23, 41 -> index 4, 22, 40
    assert rank_index(n, 90) == round(n * 0.9)
    assert round_half_up(n * 0.9) == round(n * 0.9) + 1


def test_n_1_to_4_yield_the_max():
    for n in range(1, 5):
        assert rank_index(n, 90) == n - 1


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_round_half_up_against_decimal(x):
    assert round_half_up(x) == int(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(st.integers(min_value=1, max_value=5000),
       st.floats(min_value=0.01, max_value=100, allow_nan=False))
def test_rank_index_is_nearest_rank_ties_up(n, p):
    exact = Decimal(n * (p / 100.0)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert rank_index(n, p) == min(max(int(exact) - 1, 0), n - 1)


@given(st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), min_size=1, max_size=60))
def test_summary_properties(rtts):
    s = summarize(rtts, [50, 90, 99])
    assert s["min"] == min(rtts)
    assert s["max"] == max(rtts)
    assert s["min"] <= s["50_percentile"] <= s["90_percentile"] <= s["99_percentile"] <= s["max"]
    assert math.isclose(s["average"], statistics.fmean(rtts), rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(stddev(rtts), statistics.pstdev(rtts), rel_tol=1e-6, abs_tol=1e-9)


def test_jitter_is_mean_absolute_consecutive_difference():
    assert jitter([1.0, 3.0, 2.0, 6.0]) == pytest.approx((2 + 1 + 4) / 3)
    assert jitter([5.0]) == 0.0
    assert jitter([]) == 0.0


def test_percentile_keys_keep_graphs_together():
    assert percentile_key(90) == "90_percentile"
    assert percentile_key(99.9) == "99_9_percentile"


def test_metric_lines_upstream_format():
    res = Result(requested=4, rtts=[0.5, 0.25, 1.0])
    res.errors["timeout"] = 1
    got = "".join(metric_lines("lo", res, 1700000000, [90]))
    assert got == (
        "pinging.lo_rtt_count.success\t3.000000\t1700000000\n"
        "pinging.lo_rtt_count.error\t1.000000\t1700000000\n"
        "pinging.lo_rtt_ms.max\t1.000000\t1700000000\n"
        "pinging.lo_rtt_ms.min\t0.250000\t1700000000\n"
        "pinging.lo_rtt_ms.average\t0.583333\t1700000000\n"
        "pinging.lo_rtt_ms.90_percentile\t1.000000\t1700000000\n"
    )


def test_no_rtt_lines_without_replies():
    got = metric_lines("x", Result(requested=10), 1, [90])
    assert got == ["pinging.x_rtt_count.success\t0.000000\t1\n",
                   "pinging.x_rtt_count.error\t10.000000\t1\n"]


def test_loss_counted_from_requested_pings_not_from_what_was_sent():
    # icmplib reports sent=0, loss=0.0 when sendto() fails; we count what was asked for
    res = Result(requested=10)
    assert res.error == 10 and res.loss_percentage == 100.0
    lines = metric_lines("x", res, 1, [90], extended=True)
    assert "pinging.x_loss.percentage\t100.000000\t1\n" in lines
    # failures whose reason was not recorded still show up (as 'other'), none vanish
    assert "pinging.x_errors.other\t10.000000\t1\n" in lines


def test_extended_lines():
    res = Result(requested=5, rtts=[1.0, 2.0, 4.0])
    res.errors.update(timeout=1, unreachable=1)
    lines = "".join(metric_lines("p", res, 7, [50, 99], extended=True))
    assert "pinging.p_rtt_ms.50_percentile\t2.000000\t7\n" in lines
    assert "pinging.p_rtt_ms.99_percentile\t4.000000\t7\n" in lines
    assert "pinging.p_rtt_ms.90_percentile" not in lines
    assert f"pinging.p_rtt_ms.stddev\t{statistics.pstdev([1.0, 2.0, 4.0]):f}\t7\n" in lines
    assert "pinging.p_rtt_ms.jitter\t1.500000\t7\n" in lines
    assert "pinging.p_loss.percentage\t40.000000\t7\n" in lines
    for reason, n in (("timeout", 1), ("unreachable", 1), ("send_error", 0), ("other", 0)):
        assert f"pinging.p_errors.{reason}\t{n:f}\t7\n" in lines


def test_graph_definition_covers_every_metric():
    raw = graph_definition(["a", "b"], [90, 99.9], extended=True).decode()
    head, body = raw.split("\n", 1)
    assert head == "# mackerel-agent-plugin"
    graphs = json.loads(body)["graphs"]
    res = Result(requested=3, rtts=[1.0, 2.0])
    for prefix in ("a", "b"):
        for ln in metric_lines(prefix, res, 1, [90, 99.9], extended=True):
            name = ln.split("\t")[0]
            graph, metric = name.rsplit(".", 1)
            assert graph in graphs, graph
            assert metric in [m["name"] for m in graphs[graph]["metrics"]], name
    assert graphs["pinging.a_rtt_ms"]["unit"] == "milliseconds"
    assert graphs["pinging.a_rtt_count"]["unit"] == "integer"
