"""Percentiles (golden figures of the spec and a property test), metric and graph-definition
output, human sizes, entry-point plumbing."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from mackerel_logfollow import output, runner
from mackerel_logfollow.sizes import parse_size
from mackerel_logfollow.stats import Sample, parse_percentiles, percentile_name


def sample(values):
    s = Sample()
    for v in values:
        s.add(v)
    return s


def test_golden_percentiles_from_the_spec():
    s = sample(range(1, 11))
    assert s.percentiles([90, 95, 99], "rank") == [9, 10, 10]
    assert [round(x, 6) for x in s.percentiles([90, 95, 99], "linear")] == [9.1, 9.55, 9.91]
    assert sample([2, 9]).percentiles([90, 95, 99], "rank") == [9, 9, 9]
    assert s.average() == 5.5


def test_rank_uses_round_half_up_not_bankers_rounding():
    # n=150, p=99 -> 148.5 -> index 148 (Go math.Floor(x+0.5)-1), Python round() would give 147
    s = sample(range(150))
    assert s.percentiles([99], "rank") == [148]


def naive(values, p, method):
    xs = sorted(values)
    n = len(xs)
    if method == "rank":
        return xs[min(max(math.floor(n * p / 100 + 0.5) - 1, 0), n - 1)]
    r = p / 100 * (n - 1)
    lo = math.floor(r)
    hi = min(lo + 1, n - 1)
    return xs[lo] + (r - lo) * (xs[hi] - xs[lo])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50).map(lambda x: x / 10), min_size=1, max_size=60),
       st.sampled_from([0, 1, 50, 90, 95, 99, 99.9, 100]), st.sampled_from(["rank", "linear"]))
def test_weighted_percentiles_equal_the_naive_ones(values, p, method):
    assert sample(values).percentiles([p], method)[0] == pytest.approx(naive(values, p, method))


def test_percentile_names_and_list_parsing():
    assert percentile_name(99) == "99_percentile"
    assert percentile_name(99.9) == "99_9_percentile"
    assert percentile_name(100) == "100_percentile"
    assert parse_percentiles("99,95,99,90") == [99, 95, 90]
    for bad in ("", "99,", "101", "abc", "-1"):
        with pytest.raises(ValueError):
            parse_percentiles(bad)


def test_metric_lines_never_nan_or_inf():
    m = output.Metrics(epoch=1700000000)
    m.add("a.b.c", 1)
    m.add("a.b.nan", float("nan"))
    m.add("a.b.inf", float("inf"))
    m.add("a.b.d", 0.1234567)
    assert m.render() == b"a.b.c\t1.000000\t1700000000\na.b.d\t0.123457\t1700000000\n"
    assert m.dropped == ["a.b.nan", "a.b.inf"]


def test_graph_definition_format(monkeypatch):
    g = {"x.lat": output.graph("Latency", "seconds", [("average", "Average"), ("2xx", "2xx", True)])}
    out = output.render_graphdef(g)
    head, body = out.split(b"\n", 1)
    assert head == b"# mackerel-agent-plugin"
    assert json.loads(body) == {"graphs": {"x.lat": {"label": "Latency", "unit": "seconds", "metrics": [
        {"name": "average", "label": "Average", "stacked": False},
        {"name": "2xx", "label": "2xx", "stacked": True}]}}}
    with pytest.raises(ValueError):
        output.graph("x", "furlongs", [])
    monkeypatch.delenv("MACKEREL_AGENT_PLUGIN_META", raising=False)
    assert not output.meta_requested()
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    assert output.meta_requested()


@pytest.mark.parametrize("text,value", [("0", 0), ("10MB", 10**7), ("1G", 10**9), ("2GiB", 2**31),
                                        ("1.5kb", 1500), ("512", 512), ("1MiB", 2**20), ("10 mb", 10**7)])
def test_sizes_like_go_humanize(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "ten", "10XB", "-5"])
def test_bad_sizes(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def test_argparser_flag_error_is_prog_colon_and_exit_3(capsys):
    ap = runner.ArgParser(prog="tool")
    ap.add_argument(*runner.go_style("--key-prefix"))
    assert ap.parse_args(["-key-prefix", "x"]).key_prefix == "x"
    assert ap.parse_args(["-key-prefix=y"]).key_prefix == "y"
    with pytest.raises(SystemExit) as e:
        ap.parse_args(["--nope"])
    assert e.value.code == 3
    assert "tool: unrecognized arguments: --nope" in capsys.readouterr().err


def test_run_maps_broken_pipe_and_interrupt():
    def pipe(argv):
        raise BrokenPipeError

    def intr(argv):
        raise KeyboardInterrupt

    assert runner.run(intr) == 130
    import os
    import sys
    saved = os.dup(sys.stdout.fileno())
    try:
        assert runner.run(pipe) == 141
    finally:
        os.dup2(saved, sys.stdout.fileno())
        os.close(saved)
