"""mackerel-plugin-helper: percentiles (golden figures of the spec and a property test), metric
lines, graph definitions, atomic state files, the runner (exit codes, output before state)."""
from __future__ import annotations

import errno
import io
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mackerel_plugin_helper import _entry, graphs, metrics, runner, state
from mackerel_plugin_helper.stats import Sample, parse_percentiles, percentile_name


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
    m = metrics.Metrics(epoch=1700000000)
    m.add("a.b.c", 1)
    m.add("a.b.nan", float("nan"))
    m.add("a.b.inf", float("inf"))
    m.add("a.b.d", 0.1234567)
    assert m.render() == b"a.b.c\t1.000000\t1700000000\na.b.d\t0.123457\t1700000000\n"
    assert m.dropped == ["a.b.nan", "a.b.inf"]


def test_graph_definition_format(monkeypatch):
    g = {"x.lat": graphs.graph("Latency", "seconds", [("average", "Average"), ("2xx", "2xx", True)])}
    out = graphs.render_graphdef(g)
    head, body = out.split(b"\n", 1)
    assert head == b"# mackerel-agent-plugin"
    assert json.loads(body) == {"graphs": {"x.lat": {"label": "Latency", "unit": "seconds", "metrics": [
        {"name": "average", "label": "Average", "stacked": False},
        {"name": "2xx", "label": "2xx", "stacked": True}]}}}
    with pytest.raises(ValueError):
        graphs.graph("x", "furlongs", [])
    monkeypatch.delenv("MACKEREL_AGENT_PLUGIN_META", raising=False)
    assert not graphs.meta_requested()
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    assert graphs.meta_requested()


def test_metric_names_outside_the_charset_are_dropped_and_said_once():
    m = metrics.Metrics(epoch=5)
    m.add("a.ok-1_2", 3, integer=True)
    m.add("a.b c", 1)
    m.add("a/b.x", 2)
    m.add("a.nan", math.nan)
    assert m.render() == b"a.ok-1_2\t3\t5\n"
    assert m.invalid == ["a.b c", "a/b.x"] and len(m) == 1
    note = m.note("p")
    assert note.count("\n") == 1 and note.startswith("p: not printed (NaN or infinite): a.nan; ")
    assert "a.b c, a/b.x" in note
    assert metrics.Metrics().note("p") is None


def test_state_files_are_replaced_atomically_and_corruption_is_reported(tmp_path, monkeypatch):
    p = str(tmp_path / "d" / "s.json")
    assert state.load_json(p) is None
    state.save_json(p, {"v": 1})
    assert state.load_json(p) == {"v": 1}
    assert os.listdir(tmp_path / "d") == ["s.json"]          # no temp file left
    pathlib.Path(p).write_bytes(b'{"v": ')
    with pytest.raises(state.StateError) as e:
        state.load_json(p)
    assert e.value.corrupt and str(e.value).startswith(f"{p}: corrupt state file")
    pathlib.Path(p).write_bytes(b"[1]")
    with pytest.raises(state.StateError):
        state.load_json(p)
    pathlib.Path(p).write_bytes(b"  \n")
    assert state.load_json(p) is None                        # empty: a first run
    old, new = pathlib.Path(p + ".tmp.1.ab"), pathlib.Path(p + ".tmp.2.cd")
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (1, 1))
    state.clean_stale_temps(p)
    assert not old.exists() and new.exists()                  # a live run's temp file is kept
    state.clean_stale_temps(p, older_than=0)
    assert not new.exists()
    monkeypatch.setenv("MACKEREL_PLUGIN_WORKDIR", str(tmp_path))
    assert state.workdir() == str(tmp_path)
    monkeypatch.delenv("MACKEREL_PLUGIN_WORKDIR")
    assert state.workdir() == tempfile.gettempdir()
    assert state.state_key("a", "b") == state.state_key("a", "b") != state.state_key("ab")


def test_a_failed_write_of_the_state_leaves_the_old_one(tmp_path, monkeypatch):
    p = str(tmp_path / "s.json")
    state.save_json(p, {"v": 1})

    def fail(fd):
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        state.save_json(p, {"v": 2})
    assert state.load_json(p) == {"v": 1} and os.listdir(tmp_path) == ["s.json"]


class _Out(io.BytesIO):
    """A stdout whose flush fails like a full disk (or a closed pipe)."""

    def __init__(self, err=None):
        super().__init__()
        self.err = err

    def flush(self):
        if self.err is not None:
            raise self.err


def _plugin(out, commits, payload, meta=None):
    def collect(args, o):
        runner.publish("p", o, payload, lambda: commits.append(args))
        return 0
    return runner.run(_entry, "p", lambda: "args", collect, (lambda args: meta) if meta else None,
                      stdout=out, stderr=io.BytesIO())


def test_publish_commits_only_after_the_output_was_flushed(monkeypatch, capsys):
    monkeypatch.delenv("MACKEREL_AGENT_PLUGIN_META", raising=False)
    commits = []
    m = metrics.Metrics(epoch=1)
    m.add("a.b", 1)
    out = _Out()
    assert _plugin(out, commits, m) == 0 and out.getvalue() == b"a.b\t1.000000\t1\n"
    assert commits == ["args"]
    commits.clear()
    assert _plugin(_Out(OSError(errno.ENOSPC, "No space left on device")), commits, m) == 2
    assert commits == []                                       # the state did not move
    assert _plugin(_Out(BrokenPipeError(errno.EPIPE, "Broken pipe")), commits, m) == 141
    assert commits == []


def test_runner_exit_codes_and_graph_definitions(monkeypatch):
    err = io.BytesIO()

    def bad_usage():
        ap = _entry.ArgumentParser(prog="p", policy=_entry.MACKEREL)
        ap.add_argument("--x", required=True)
        return ap.parse_args([])
    assert runner.run(_entry, "p", bad_usage, lambda a, o: 0, stdout=io.BytesIO(), stderr=err) == 3

    def intr(args, out):
        raise KeyboardInterrupt
    assert runner.run(_entry, "p", lambda: None, intr, stdout=io.BytesIO(), stderr=err) == 130
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    out = io.BytesIO()
    g = {"p.x": graphs.graph("X", "integer", [("n", "N")])}
    assert runner.run(_entry, "p", lambda: None, intr, lambda a: g, stdout=out, stderr=err) == 0
    assert out.getvalue() == graphs.render_graphdef(g)
    # a plugin may print no graph definition in a mode (a check): then it runs as usual
    assert runner.run(_entry, "p", lambda: None, lambda a, o: 7, lambda a: None,
                      stdout=io.BytesIO(), stderr=err) == 7


def test_write_error_is_one_line_and_exit_2_in_a_real_process(tmp_path):
    code = ("import sys\nfrom mackerel_plugin_helper import _entry, metrics, runner\n"
            "def collect(args, out):\n"
            "    m = metrics.Metrics(); m.add('a.b', 1)\n"
            "    runner.publish('p', out, m, lambda: open(sys.argv[1], 'w').close())\n"
            "    return 0\n"
            "sys.exit(runner.run(_entry, 'p', lambda: None, collect))\n")
    mark = tmp_path / "committed"
    with open("/dev/full", "wb") as full:
        r = subprocess.run([sys.executable, "-c", code, str(mark)], stdout=full,
                           stderr=subprocess.PIPE)
    assert r.returncode == 2 and r.stderr == b"p: write error: No space left on device\n"
    assert not mark.exists()


# -- issue 14: one key-prefix rule and --dry-run for the five plugins ---------------------------------
def test_key_prefix_rule_and_dry_run_flag():
    ap = _entry.ArgumentParser(prog="p", policy=_entry.MACKEREL, go_flags=True)
    ap.add_argument("--key-prefix", type=metrics.key_prefix)
    runner.add_dry_run(ap)
    a = ap.parse_args(["--key-prefix", "web-1.eu_west", "-no-state"])
    assert (a.key_prefix, a.dry_run) == ("web-1.eu_west", True)
    with pytest.raises(SystemExit) as e:
        ap.parse_args(["--key-prefix", "a b/c"])
    assert e.value.code == 3


@pytest.mark.parametrize("dry", [False, True])
def test_dry_run_publishes_and_never_commits(dry):
    import argparse
    committed = []

    def collect(args, out):
        assert runner.dry_run() is dry
        runner.publish("p", out, b"m\t1\t0\n", lambda: committed.append(1))
        return 0
    out = io.BytesIO()
    rc = runner.run(_entry, "p", lambda: argparse.Namespace(dry_run=dry), collect,
                    stdout=out, stderr=io.StringIO())
    assert rc == 0 and out.getvalue() == b"m\t1\t0\n"
    assert committed == ([] if dry else [1]) and runner.dry_run() is False
