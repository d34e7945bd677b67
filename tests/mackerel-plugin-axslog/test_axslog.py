"""mackerel-plugin-axslog through its command line: metric names, order and emission rules of
v0.4.10 (spec sections 1-3), the upstream bugs fixed, state handling, exit codes."""
from __future__ import annotations

import collections
import json
import os
import pathlib
import re
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mackerel_plugin_axslog.cli import main
from mackerel_plugin_axslog.parse import LtsvParser
from support.mackerel import plugin_workdir

PROG = "mackerel-plugin-axslog"


@pytest.fixture
def wd(tmp_path, monkeypatch):
    return plugin_workdir(tmp_path, monkeypatch)


def run(capsysbinary, *args):
    rc = main([str(a) for a in args])
    out, err = capsysbinary.readouterr()
    return rc, out, err.decode()


def metrics(out: bytes) -> list[tuple[str, str]]:
    """[(name, value)] in order; checks the line format and the epoch."""
    res = []
    now = time.time()
    for line in out.decode().splitlines():
        name, value, epoch = line.split("\t")
        assert abs(int(epoch) - now) < 30
        res.append((name, value))
    return res


def age_state(wd: pathlib.Path, seconds: float) -> None:
    """Pretend the previous run was `seconds` ago."""
    for p in wd.glob("*axslog-v6*.json"):
        d = json.loads(p.read_text())
        d["time"] -= seconds
        p.write_text(json.dumps(d))


def ltsv(*recs: dict) -> bytes:
    return b"".join(("\t".join(f"{k}:{v}" for k, v in r.items()) + "\n").encode() for r in recs)


def test_first_run_golden(tmp_path, wd, capsysbinary):
    log = tmp_path / "access.log"
    log.write_bytes(ltsv(*({"time": "x", "status": 200, "ptime": i} for i in range(1, 11))))
    rc, out, err = run(capsysbinary, "--logfile", log, "--key-prefix", "demo")
    assert rc == 0, err
    assert metrics(out) == [
        ("axslog.latency_demo.average", "5.500000"),
        ("axslog.latency_demo.99_percentile", "10.000000"),
        ("axslog.latency_demo.95_percentile", "10.000000"),
        ("axslog.latency_demo.90_percentile", "9.000000"),
        ("axslog.access_ratio_demo.1xx_percentage", "0.000000"),
        ("axslog.access_ratio_demo.2xx_percentage", "100.000000"),
        ("axslog.access_ratio_demo.3xx_percentage", "0.000000"),
        ("axslog.access_ratio_demo.4xx_percentage", "0.000000"),
        ("axslog.access_ratio_demo.499_percentage", "0.000000"),
        ("axslog.access_ratio_demo.5xx_percentage", "0.000000"),
    ]


def test_linear_percentiles_and_custom_list(tmp_path, wd, capsysbinary):
    log = tmp_path / "access.log"
    log.write_bytes(ltsv(*({"status": 200, "ptime": i} for i in range(1, 11))))
    rc, out, _ = run(capsysbinary, "--logfile", log, "--key-prefix", "p", "--percentile-method", "linear",
                     "--percentiles", "99,95,90,99.9,100,99")
    assert dict(metrics(out)) | {} == {
        "axslog.latency_p.average": "5.500000",
        "axslog.latency_p.99_percentile": "9.910000",
        "axslog.latency_p.95_percentile": "9.550000",
        "axslog.latency_p.90_percentile": "9.100000",
        "axslog.latency_p.99_9_percentile": "9.991000",
        "axslog.latency_p.100_percentile": "10.000000",
        **{k: v for k, v in metrics(out) if "ratio" in k},
    }
    assert [k for k, _ in metrics(out)][1:6] == [
        "axslog.latency_p.99_percentile", "axslog.latency_p.95_percentile", "axslog.latency_p.90_percentile",
        "axslog.latency_p.99_9_percentile", "axslog.latency_p.100_percentile"]


def test_second_run_rates_per_second_and_buckets(tmp_path, wd, capsysbinary):
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    run(capsysbinary, "--logfile", log, "--key-prefix", "d")
    statuses = [100, 200, 200, 301, 404, 499, 500, 503, 600, 0]
    with open(log, "ab") as f:
        f.write(ltsv(*({"status": s, "ptime": "0.5"} for s in statuses)))
    age_state(wd, 600)
    rc, out, err = run(capsysbinary, "--logfile", log, "--key-prefix", "d")
    m = dict(metrics(out))
    names = [k for k, _ in metrics(out)]
    assert names[4:11] == [f"axslog.access_num_d.{b}_count" for b in ("1xx", "2xx", "3xx", "4xx", "499", "5xx")] + \
        ["axslog.access_total_d.count"]
    assert float(m["axslog.access_num_d.2xx_count"]) == pytest.approx(2 / 600, rel=1e-2)
    assert float(m["axslog.access_num_d.499_count"]) == pytest.approx(1 / 600, rel=1e-2)
    assert float(m["axslog.access_num_d.4xx_count"]) == pytest.approx(1 / 600, rel=1e-2)   # 4xx excludes 499
    assert float(m["axslog.access_total_d.count"]) == pytest.approx(10 / 600, rel=1e-2)    # 600 and 0 count
    ratios = [float(v) for k, v in metrics(out) if "ratio" in k]
    assert ratios == [10.0, 20.0, 10.0, 10.0, 10.0, 20.0]        # sums to 80 as upstream


@pytest.mark.parametrize("mode,expect", [("raw", "3.000000"), ("per-minute", "0.300000")])
def test_count_modes(tmp_path, wd, capsysbinary, mode, expect):
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    run(capsysbinary, "--logfile", log, "--key-prefix", "d", "--count-mode", mode)
    log.write_bytes(ltsv(*({"status": 200, "ptime": 1} for _ in range(3))))
    age_state(wd, 600)
    m = dict(metrics(run(capsysbinary, "--logfile", log, "--key-prefix", "d", "--count-mode", mode)[1]))
    assert float(m["axslog.access_total_d.count"]) == pytest.approx(float(expect), rel=1e-2)


def test_no_accepted_lines_gives_seven_zero_lines(tmp_path, wd, capsysbinary):
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    run(capsysbinary, "--logfile", log, "--key-prefix", "d")
    time.sleep(0.01)
    rc, out, _ = run(capsysbinary, "--logfile", log, "--key-prefix", "d")
    assert rc == 0
    assert [v for _, v in metrics(out)] == ["0.000000"] * 7
    assert all(k.startswith(("axslog.access_num_d.", "axslog.access_total_d.")) for k, _ in metrics(out))


def test_same_second_rerun_still_has_rates(tmp_path, wd, capsysbinary):
    # upstream stores whole seconds: two runs in one second print no rates; we store sub-seconds
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    run(capsysbinary, "--logfile", log, "--key-prefix", "d")
    log.write_bytes(ltsv({"status": 200, "ptime": 1}))
    out = run(capsysbinary, "--logfile", log, "--key-prefix", "d", "--count-mode", "raw")[1]
    assert dict(metrics(out))["axslog.access_total_d.count"] == "1.000000"


def test_ltsv_parsing_semantics(tmp_path, wd, capsysbinary):
    log = tmp_path / "access.log"
    log.write_bytes(
        b"status:200\tptime:1\n"                       # plain
        b"ptime:2\tx:y\tstatus:201\n"                  # other order
        b"STATUS:500\tstatus:404\tptime:3\n"           # labels are case-sensitive
        b"xstatus:500\tstatus:302\tptime:4\tnote:a:b\n"  # label must be the whole label; ':' in values
        b"status:200\tptime:5\r\n"                     # CRLF (upstream rejects '5\\r')
        b"novalue\tstatus:204\t\tptime:6\n"            # a field without ':' and an empty field
        b"status:-\tptime:7\n"                         # '-' is absent: no status
        b"status:\tptime:8\n")                         # empty is absent
    rc, out, err = run(capsysbinary, "--logfile", log, "--key-prefix", "t", "--count-mode", "raw")
    m = dict(metrics(out))
    assert m["axslog.latency_t.average"] == "3.500000"     # 1..6
    assert [float(v) for k, v in metrics(out) if "ratio" in k] == pytest.approx(
        [0, 100 * 4 / 6, 100 / 6, 100 / 6, 0, 0])
    assert m["axslog.parse_error_t.count"] == "2.000000"
    assert "2 of 8 lines" in err and "no status: 2" in err


def test_multiple_status_keys_first_listed_wins_in_both_formats(tmp_path, wd, capsysbinary):
    # upstream v0.4.10: LTSV takes the key EARLIEST IN THE LINE (2xx), JSON the first listed (5xx)
    a, j = tmp_path / "a.log", tmp_path / "j.log"
    a.write_bytes(b"status:200\tptime:1\tupstream_status:502\nstatus:404\tptime:1\n")
    j.write_bytes(b'{"status":200,"ptime":1,"upstream_status":502}\n{"status":404,"ptime":1}\n')
    for log, fmt in ((a, "ltsv"), (j, "json")):
        out = run(capsysbinary, "--logfile", log, "--key-prefix", fmt, "--format", fmt,
                  "--status-key", "upstream_status", "--status-key", "status")[1]
        m = dict(metrics(out))
        assert m[f"axslog.access_ratio_{fmt}.5xx_percentage"] == "50.000000", fmt
        assert m[f"axslog.access_ratio_{fmt}.4xx_percentage"] == "50.000000", fmt


def test_status_counted_when_latency_is_missing_or_dash(tmp_path, wd, capsysbinary):
    # upstream drops the whole line, so 499s (ptime "-") vanish from every counter
    log = tmp_path / "a.log"
    log.write_bytes(ltsv({"status": 200, "upstream_response_time": "0.100"},
                         {"status": 499, "upstream_response_time": "-"},
                         {"status": 200}))
    out = run(capsysbinary, "--logfile", log, "--key-prefix", "u", "--ptime-key", "upstream_response_time")[1]
    m = dict(metrics(out))
    assert m["axslog.access_ratio_u.499_percentage"] == "33.333333"
    assert m["axslog.latency_u.average"] == "0.100000"
    assert "axslog.parse_error_u.count" not in m


@pytest.mark.parametrize("mode,ptime,status", [("first", "0.100000", "5xx"), ("last", "0.200000", "2xx"),
                                               ("sum", "0.300000", "2xx")])
def test_multi_upstream_values(tmp_path, wd, capsysbinary, mode, ptime, status):
    log = tmp_path / "a.log"
    log.write_bytes(b"status:502, 200\tptime:0.100, 0.200\n")
    out = run(capsysbinary, "--logfile", log, "--key-prefix", "m", "--upstream-value", mode)[1]
    m = dict(metrics(out))
    assert m["axslog.latency_m.average"] == ptime
    assert m[f"axslog.access_ratio_m.{status}_percentage"] == "100.000000"


def test_numeric_oddities_accepted_like_go_and_nan_never_printed(tmp_path, wd, capsysbinary):
    log = tmp_path / "a.log"
    log.write_bytes(b"status:0200\tptime:+1\nstatus:+201\tptime:1e-3\n"
                    b"status:200\tptime:NaN\nstatus:200\tptime:inf\n"
                    b"status:2_00\tptime:1\nstatus:200.0\tptime:1\nstatus:200\tptime:1_0\n")
    rc, out, err = run(capsysbinary, "--logfile", log, "--key-prefix", "n")
    m = dict(metrics(out))
    assert b"NaN" not in out and b"Inf" not in out
    assert float(m["axslog.latency_n.average"]) == pytest.approx((1 + 0.001) / 2)
    assert m["axslog.parse_error_n.count"] == "2.000000"   # skipped: 2_00, 200.0 (issue 14.10:
    assert "3 of 7 lines counted without a latency" in err  # NaN, inf, 1_0 count for their status)
    assert m["axslog.access_ratio_n.2xx_percentage"] == "100.000000"


def test_json_semantics(tmp_path, wd, capsysbinary):
    log = tmp_path / "a.log"
    log.write_bytes(
        b'{"status":"404","ptime":"0.5"}\n'          # quoted numbers accepted
        b'{"status":200.0,"ptime":1}\n'              # 200.0 is not a status
        b'{"a":{"status":500},"ptime":1}\n'          # nested keys are not top-level keys
        b'{"status":200,"ptime":1.5,"extra":[1,{"x":2}]}\r\n'
        b'not json at all\n'
        b'{"status":201,"ptime":null}\n')            # null latency: status still counted
    rc, out, err = run(capsysbinary, "--logfile", log, "--key-prefix", "j", "--format", "json", "--count-mode", "raw")
    m = dict(metrics(out))
    assert m["axslog.latency_j.average"] == "1.000000"
    assert m["axslog.access_ratio_j.4xx_percentage"] == "33.333333"
    assert m["axslog.access_ratio_j.2xx_percentage"] == "66.666667"
    assert m["axslog.parse_error_j.count"] == "3.000000"
    assert "invalid JSON" in err


def test_json_dot_paths_and_unescaped_strings(tmp_path, wd, capsysbinary):
    log = tmp_path / "a.log"
    log.write_bytes(b'{"res":{"status":503,"time":{"total":0.25}}}\n'
                    b'{"res":{"status":"\\u0032\\u0030\\u0030","time":{"total":"0.75"}}}\n')
    out = run(capsysbinary, "--logfile", log, "--key-prefix", "d", "--format", "json",
              "--status-key", "res.status", "--ptime-key", "res.time.total")[1]
    m = dict(metrics(out))
    assert m["axslog.latency_d.average"] == "0.500000"
    assert m["axslog.access_ratio_d.5xx_percentage"] == "50.000000"
    assert m["axslog.access_ratio_d.2xx_percentage"] == "50.000000"


def test_filter_invert_and_skip_until_json(tmp_path, wd, capsysbinary):
    log = tmp_path / "a.log"
    log.write_bytes(b'Nov 22 host nginx: {"status":200,"ptime":1,"uri":"/api/x"}\n'
                    b'Nov 22 host nginx: {"status":500,"ptime":3,"uri":"/static/y"}\n')
    base = ["--logfile", log, "--format", "json", "--skip-until-json"]
    m = dict(metrics(run(capsysbinary, *base, "--key-prefix", "f", "--filter", "/api/")[1]))
    assert m["axslog.latency_f.average"] == "1.000000"
    m = dict(metrics(run(capsysbinary, *base, "--key-prefix", "g", "--filter", "/api/", "--invert-filter")[1]))
    assert m["axslog.latency_g.average"] == "3.000000"
    rc, out, err = run(capsysbinary, "--logfile", log, "--format", "json", "--key-prefix", "h")
    assert b"latency" not in out and "invalid JSON: 2" in err


def test_multiple_files_rates_summed_latency_merged(tmp_path, wd, capsysbinary):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"")
    b.write_bytes(b"")
    run(capsysbinary, "--logfile", f"{a},{b}", "--key-prefix", "m")
    a.write_bytes(ltsv({"status": 200, "ptime": 1}, {"status": 500, "ptime": 2}))
    b.write_bytes(ltsv({"status": 200, "ptime": 3}, {"status": 200, "ptime": 4}))
    age_state(wd, 100)
    rc, out, _ = run(capsysbinary, "--logfile", f"{a},{b}", "--key-prefix", "m")
    m = dict(metrics(out))
    assert m["axslog.latency_m.average"] == "2.500000"
    assert float(m["axslog.access_total_m.count"]) == pytest.approx(0.04, rel=2e-2)
    assert m["axslog.access_ratio_m.2xx_percentage"] == "75.000000"
    assert len(list(wd.glob("*.json"))) == 2


def test_missing_file_among_several_and_all_missing(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(ltsv({"status": 200, "ptime": 1}))
    rc, out, err = run(capsysbinary, "--logfile", f"{a},{tmp_path / 'nope.log'}", "--key-prefix", "x")
    assert rc == 0 and b"latency_x.average" in out
    assert f"{PROG}: {tmp_path / 'nope.log'}: No such file or directory" in err
    rc, out, err = run(capsysbinary, "--logfile", tmp_path / "nope.log", "--key-prefix", "x")
    assert rc == 2 and out == b""                     # upstream: silent rc 0
    assert "No such file or directory" in err


def test_corrupt_state_is_an_error_not_silence(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(ltsv({"status": 200, "ptime": 1}))
    run(capsysbinary, "--logfile", a, "--key-prefix", "x")
    next(wd.glob("*.json")).write_bytes(b"{garbage")
    rc, out, err = run(capsysbinary, "--logfile", a, "--key-prefix", "x")
    assert rc == 2 and "corrupt position file" in err


@pytest.mark.parametrize("args,msg", [(["--format", "csv"], "format csv is not supported"),
                                      (["--percentiles", "99,abc"], "--percentiles"),
                                      (["--max-read-size", "lots"], "invalid size"),
                                      (["--count-mode", "hourly"], "invalid choice")])
def test_usage_errors(tmp_path, wd, capsysbinary, args, msg):
    # flag errors: Nagios UNKNOWN, as the 2026 upstream; returned by main() (parsed in the runner)
    assert main(["--logfile", str(tmp_path / "a"), "--key-prefix", "x", *args]) == 3
    err = capsysbinary.readouterr().err.decode()
    assert f"{PROG}: error: " in err and msg in err


def test_unknown_option_and_missing_required_are_flag_errors(capsysbinary):
    # the 2026 upstream: flag errors exit 3 (Nagios UNKNOWN)
    for argv in (["--key-prefix", "x", "--logfile", "a", "--nope"], ["--key-prefix", "x"]):
        assert main(argv) == 3
        assert capsysbinary.readouterr().err.decode().splitlines()[-1].startswith(f"{PROG}: error: ")


def test_go_style_single_dash_flags(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(b"status:200\treqtime:1\n")
    rc, out, _ = run(capsysbinary, "-logfile", a, "-key-prefix=x", "-ptime-key", "reqtime")
    assert rc == 0 and b"axslog.latency_x.average\t1.000000" in out


def test_graph_definitions_with_meta(tmp_path, wd, capsysbinary, monkeypatch):
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    rc, out, _ = run(capsysbinary, "--logfile", tmp_path / "a.log", "--key-prefix", "x")
    head, body = out.split(b"\n", 1)
    assert rc == 0 and head == b"# mackerel-agent-plugin"
    g = json.loads(body)["graphs"]
    assert g["axslog.access_ratio_x"]["unit"] == "percentage"
    assert [m["name"] for m in g["axslog.latency_x"]["metrics"]] == \
        ["average", "99_percentile", "95_percentile", "90_percentile"]


def test_state_is_per_prefix_and_path(tmp_path, wd, capsysbinary):
    # upstream: one state per prefix, so two logs with one prefix re-read each other's files
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(ltsv({"status": 200, "ptime": 1}))
    b.write_bytes(ltsv({"status": 500, "ptime": 2}))
    run(capsysbinary, "--logfile", a, "--key-prefix", "same")
    run(capsysbinary, "--logfile", b, "--key-prefix", "same")
    out = run(capsysbinary, "--logfile", a, "--key-prefix", "same", "--count-mode", "raw")[1]
    assert dict(metrics(out))["axslog.access_total_same.count"] == "0.000000"


def test_upstream_v5_state_is_continued(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(ltsv({"status": 200, "ptime": 1}, {"status": 500, "ptime": 2}))
    s = os.stat(a)
    first = len(ltsv({"status": 200, "ptime": 1}))
    (wd / f"{os.getuid()}-axslog-v5-up-{os.getuid()}").write_text(
        json.dumps({"pos": first, "time": int(time.time()) - 60, "inode": s.st_ino, "dev": s.st_dev}))
    out = run(capsysbinary, "--logfile", a, "--key-prefix", "up", "--count-mode", "raw")[1]
    m = dict(metrics(out))
    assert m["axslog.access_total_up.count"] == "1.000000"
    assert m["axslog.latency_up.average"] == "2.000000"


def test_overlong_line_is_counted_and_does_not_wedge(tmp_path, wd, capsysbinary):
    # upstream: "token too long", state never saved, the same range re-read forever
    a = tmp_path / "a.log"
    a.write_bytes(ltsv({"status": 200, "ptime": 1}) + b"status:200\tptime:1\tx:" + b"y" * 3000 + b"\n" +
                  ltsv({"status": 200, "ptime": 3}))
    rc, out, err = run(capsysbinary, "--logfile", a, "--key-prefix", "o", "--max-line", "1000")
    m = dict(metrics(out))
    assert m["axslog.latency_o.average"] == "2.000000"
    assert m["axslog.parse_error_o.count"] == "1.000000"
    assert "over-long: 1" in err
    with open(a, "ab") as f:
        f.write(ltsv({"status": 404, "ptime": 9}))
    m = dict(metrics(run(capsysbinary, "--logfile", a, "--key-prefix", "o", "--max-line", "1000",
                         "--count-mode", "raw")[1]))
    assert m["axslog.access_total_o.count"] == "1.000000"


def test_max_read_size_skip_is_reported(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(ltsv(*({"status": 200, "ptime": 1} for _ in range(100))))
    rc, out, err = run(capsysbinary, "--logfile", a, "--key-prefix", "s", "--max-read-size", "1kB")
    assert out == b"" and "max-read-size: skipped" in err


def test_first_run_skip(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(ltsv({"status": 200, "ptime": 1}))
    rc, out, _ = run(capsysbinary, "--logfile", a, "--key-prefix", "s", "--first-run", "skip")
    assert rc == 0 and out == b""
    with open(a, "ab") as f:
        f.write(ltsv({"status": 500, "ptime": 7}))
    m = dict(metrics(run(capsysbinary, "--logfile", a, "--key-prefix", "s")[1]))
    assert m["axslog.latency_s.average"] == "7.000000"


def test_check_mode(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(ltsv(*({"status": 500 if i < 3 else 200, "ptime": i / 10} for i in range(10))))
    rc, out, _ = run(capsysbinary, "--logfile", a, "--key-prefix", "c", "--check",
                     "--warning-5xx", "10", "--critical-5xx", "50", "--warning-p99", "5")
    assert rc == 1 and out.startswith(b"axslog WARNING: 10 requests, 5xx 30.00%")


def test_strict_fails_on_bad_lines(tmp_path, wd, capsysbinary):
    a = tmp_path / "a.log"
    a.write_bytes(b"status:200\tptime:1\ngarbage\n")
    assert run(capsysbinary, "--logfile", a, "--key-prefix", "x", "--strict")[0] == 2


# -- the fast path equals a naive per-line LTSV reader -------------------------------------------
def naive(data: bytes, skeys, pkey):
    c = collections.Counter()
    for line in data.split(b"\n")[:-1]:
        vals = {}
        for f in line.split(b"\t"):
            k, _, v = f.partition(b":")
            if k not in vals:
                vals[k] = v.rstrip(b"\r") if v.endswith(b"\r") else v
        c[tuple(vals.get(k.encode(), b"") for k in [*skeys, pkey])] += 1
    return c


field = st.sampled_from([b"status:200", b"status:404", b"ptime:0.1", b"ptime:-", b"x:1", b"status:",
                         b"upstream:502", b"ptime:2\r", b"junk", b"", b"sta:1", b"ptime:3:4",
                         b"xstatus:301", b"u:status:302", b"status:201\r"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(field, max_size=5), max_size=30),
       st.sampled_from([["status"], ["upstream", "status"]]))
def test_ltsv_bulk_parser_equals_naive_reader(lines, skeys):
    # a label appears at most once per line (with duplicates, which occurrence counts is not
    # specified: upstream itself takes the earlier or the later one depending on the position)
    def dedup(fields):
        seen, out = set(), []
        for f in fields:
            k = f.partition(b":")[0]
            if k not in seen:
                seen.add(k)
                out.append(f)
        return out
    data = b"".join(b"\t".join(dedup(f)) + b"\n" for f in lines)
    p = LtsvParser(skeys, "ptime")
    got = collections.Counter()
    p.count(data, got)
    p.drain(got)
    exp = naive(data, skeys, "ptime")

    def norm(c):   # a line without a status is skipped whatever its latency: one class
        out = collections.Counter()
        for t, n in c.items():
            out[t if any(v not in (b"", b"-") for v in t[:-1]) else "no status"] += n
        return +out
    assert norm(got) == norm(exp)


# -- beyond upstream: combined format, latency buckets, per-route metrics ------------------------
COMBINED = (b'127.0.0.1 - - [22/Nov/2026:00:00:01 +0000] "GET /api/items/12?x=1 HTTP/1.1" 200 512 "-" "curl/8" 0.120\n'
            b'10.0.0.1 - frank [22/Nov/2026:00:00:02 +0000] "POST /login HTTP/1.1" 302 0 "http://x/" '
            b'"Mozilla \\"quoted\\" 5" 0.300\n'
            b'10.0.0.2 - - [22/Nov/2026:00:00:03 +0000] "GET /api/items/13 HTTP/1.1" 500 10\n'
            b'not an access log line\n')


def test_combined_format(tmp_path, wd, capsysbinary):
    log = tmp_path / "access.log"
    log.write_bytes(COMBINED)
    rc, out, err = run(capsysbinary, "--logfile", log, "--key-prefix", "c", "--format", "combined")
    m = dict(metrics(out))
    assert m["axslog.latency_c.average"] == "0.210000"          # the line without a time: status only
    assert [float(v) for k, v in metrics(out) if "ratio" in k] == pytest.approx([0, 100 / 3, 100 / 3, 0, 0, 100 / 3])
    assert m["axslog.parse_error_c.count"] == "1.000000"


def test_latency_buckets_and_routes(tmp_path, wd, capsysbinary, monkeypatch):
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    args = ["--logfile", log, "--key-prefix", "r", "--route-key", "uri", "--route-regex", r"items=^/api/items/\d+",
            "--top", "2", "--latency-buckets", "0.1,0.25,1", "--count-mode", "raw"]
    run(capsysbinary, *args)
    log.write_bytes(ltsv({"status": 200, "ptime": 0.05, "uri": "/api/items/1"},
                         {"status": 200, "ptime": 0.2, "uri": "/api/items/2?q=1"},
                         {"status": 200, "ptime": 0.3, "uri": "/login"},
                         {"status": 200, "ptime": 0.3, "uri": "/login"},
                         {"status": 200, "ptime": 2, "uri": "/a.b/c"},
                         {"status": 500, "ptime": "-", "uri": "/x"}))
    rc, out, _ = run(capsysbinary, *args)
    got = metrics(out)
    m = dict(got)
    assert [(k, float(v)) for k, v in got if "bucket" in k] == [
        ("axslog.latency_bucket_r.le_0_1_count", 1), ("axslog.latency_bucket_r.le_0_25_count", 2),
        ("axslog.latency_bucket_r.le_1_count", 4), ("axslog.latency_bucket_r.le_inf_count", 5)]
    assert [(k, float(v)) for k, v in got if "route_num" in k] == [
        ("axslog.route_num_r.items", 2), ("axslog.route_num_r.login", 2), ("axslog.route_num_r.other", 2)]
    assert m["axslog.route_latency_r.items"] == "0.125000"
    assert m["axslog.route_p99_r.other"] == "2.000000"
    assert all(re.fullmatch(r"[-a-zA-Z0-9_.]+", k) for k, _ in got)
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    g = json.loads(run(capsysbinary, *args)[1].split(b"\n", 1)[1])["graphs"]
    assert g["axslog.route_num_r"]["metrics"][0]["name"] == "*"
    assert "axslog.latency_bucket_r" in g


# -- signals, pipes, locks (real subprocesses) ----------------------------------------------------
EXE = str(pathlib.Path(sys.executable).parent / PROG)


def test_sigterm_while_waiting_for_the_lock_exits_143_and_moves_nothing(tmp_path, wd):
    # 143 since the suite's entry template (SIGTERM is no longer reported as SIGINT's 130)
    import fcntl
    import signal
    import subprocess
    log = tmp_path / "a.log"
    log.write_bytes(ltsv({"status": 200, "ptime": 1}))
    env = {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(wd)}
    cmd = [EXE, "--logfile", str(log), "--key-prefix", "l", "--count-mode", "raw"]
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    (state,) = wd.glob("*.json")
    before = state.read_bytes()
    with open(log, "ab") as f:
        f.write(ltsv({"status": 500, "ptime": 2}))
    with open(str(state) + ".lock", "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)          # another run holds the state
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lock = os.path.realpath(str(state) + ".lock")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:      # until it has opened the lock file: waiting on it
            try:
                fds = [os.readlink(f"/proc/{p.pid}/fd/{n}") for n in os.listdir(f"/proc/{p.pid}/fd")]
            except OSError:
                fds = []
            if lock in fds:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        assert p.poll() is None                 # waiting, not reading
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 143 and out == b"" and b"Traceback" not in err
    assert state.read_bytes() == before
    r = subprocess.run(cmd, env=env, capture_output=True)   # the line is still there to count
    assert b"axslog.access_total_l.count\t1.000000" in r.stdout


def test_closed_stdout_exits_141_quietly_and_keeps_the_position(tmp_path, wd):
    import subprocess
    log = tmp_path / "a.log"
    log.write_bytes(ltsv({"status": 200, "ptime": 1}))
    env = {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(wd)}
    cmd = [EXE, "--logfile", str(log), "--key-prefix", "p"]
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    p = subprocess.run(cmd, env=env, stdout=w_fd, stderr=subprocess.PIPE)
    os.close(w_fd)
    assert p.returncode == 141 and p.stderr == b""
    assert not list(wd.glob("*.json"))         # nothing was delivered: nothing is marked read
    r = subprocess.run(cmd, env=env, capture_output=True)
    assert b"axslog.latency_p.average\t1.000000" in r.stdout


def test_full_disk_is_one_line_exit_2_and_keeps_the_position(tmp_path, wd):
    # before mackerel-plugin-helper: a traceback (OSError from the final flush), exit 1
    import subprocess
    log = tmp_path / "a.log"
    log.write_bytes(ltsv({"status": 200, "ptime": 1}))
    env = {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(wd)}
    cmd = [EXE, "--logfile", str(log), "--key-prefix", "f"]
    for extra in ([], ["--check"]):
        with open("/dev/full", "wb") as full:
            p = subprocess.run(cmd + extra, env=env, stdout=full, stderr=subprocess.PIPE)
        assert p.returncode == 2 and p.stderr == f"{PROG}: write error: No space left on device\n".encode()
        assert not list(wd.glob("*.json"))      # nothing was delivered: nothing is marked read
    r = subprocess.run(cmd, env=env, capture_output=True)
    assert b"axslog.latency_f.average\t1.000000" in r.stdout


def test_same_log_twice_is_read_once(tmp_path, wd, capsysbinary, monkeypatch):
    # upstream: one state shared by two goroutines; `e1.log` and `./e1.log` were two states
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e1.log").write_bytes(b"")
    run(capsysbinary, "--logfile", "e1.log,./e1.log", "--key-prefix", "t")
    (tmp_path / "e1.log").write_bytes(ltsv({"status": 200, "ptime": 1}))
    rc, out, err = run(capsysbinary, "--logfile", "e1.log,./e1.log", "--key-prefix", "t", "--count-mode", "raw")
    assert dict(metrics(out))["axslog.access_total_t.count"] == "1.000000"
    assert "same file as e1.log, read once" in err
    assert len(list(wd.glob("*.json"))) == 1


# -- the bulk JSON decoder equals a per-line decoder ---------------------------------------------
JSON_LINES = [b'{"status":200,"ptime":0.1,"pad":"' + b"x" * 700 + b'"}', b'{"status":"404","ptime":"0.2"}',
              b'{"status":500}', b'{"status":200,"ptime":1} {"status":201}', b'{"status":204}{"status":205}',
              b"", b"  ", b'{"a":"b",', b'{"a":[1,2', b"[1]", b'"x"', b'{"st', b'{"status":[1]}',
              b'{"status":{"x":1}}', b'{"status":"499","ptime":"0.5"}\r', b'{"status":200,"x":"\\u00e9\\"q"}',
              # equal in Python, not in the log (issue 14.9): each line judged on its own bytes
              b'{"status":200.0,"ptime":0.1}', b'{"status":true,"ptime":1}', b'{"status":1,"ptime":true}',
              b'{"ptime":1e-1,"status":2e2}', b'{"status":200,"ptime":{"a":1}}',
              # truncated lines: an open string swallows the comma and the next line's start,
              # so msgspec reports the error in the line after the bad one
              b'{"status":"200","ptime":"0.1","ua":"Mozi', b'{"status":200,"x":{"a":1',
              b'{"status":"503","ptime":"0.3"', b'{"status":"404","ptime":"0.2\\',
              # pieces that join with a neighbour into valid JSON when lines are joined by ","
              # (a raw newline inside a string, a line cut inside an array), and two objects
              # separated by a comma on one line
              b'{"status":500,"ptime":9,"ua":"abc', b'def","ptime":2}', b'{"status":503,"ptime":9,"x":[1',
              b'2]}', b'{"status":404,"ptime":0.2},{"status":404,"ptime":0.2}']


def _ref_key(v):
    """A value as the reference sees it: floats and booleans as their JSON text, objects bad."""
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, float):
        return repr(v).encode()
    if isinstance(v, (dict, list)):
        return "\x00bad"
    return v


def _verdict(tuples, bad):
    from mackerel_plugin_axslog.parse import Tally
    t = Tally()
    t.tuples.update(tuples)
    t.finish(1, "last")
    return t.total, t.buckets, t.latency.counts, t.without_latency, t.skipped + bad


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(JSON_LINES), max_size=120), st.sampled_from([1, 2, 5]))
def test_json_bulk_parser_equals_per_line_decoder(lines, copies):
    from mackerel_plugin_axslog.parse import JsonParser
    data = b"".join(ln + b"\n" for ln in lines) * copies      # long enough for the 8 KiB windows
    p = JsonParser(["status"], "ptime")
    got = collections.Counter()
    assert p.count(data, got) == len(lines) * copies
    p.drain(got)
    exp, bad = collections.Counter(), 0
    for ln in data.split(b"\n")[:-1]:
        try:
            d = json.loads(ln)          # the standard library: 200 and 200.0 stay apart
        except ValueError:
            bad += 1
            continue
        if not isinstance(d, dict):
            bad += 1
            continue
        exp[(_ref_key(d.get("status")), _ref_key(d.get("ptime")))] += 1
    assert _verdict(got, p.bad) == _verdict(exp, bad)


def test_json_lines_that_join_into_valid_json_are_each_bad():
    # the bulk decoder joins lines into one array: a value cut by a raw newline ("abc" NL "def"),
    # a line cut inside an array, and a line holding two objects separated by "," must stay bad
    # lines, as the Go plugin (one json.Unmarshal per line) and the per-line decoder see them
    from mackerel_plugin_axslog.parse import JsonParser
    good = b'{"status":200,"ptime":0.1}\n' * 50
    odd = (b'{"status":500,"ptime":9,"ua":"abc\ndef","ptime":2}\n' b'{"status":503,"ptime":9,"x":[1\n2]}\n'
           b'{"status":404,"ptime":0.2},{"status":404,"ptime":0.2}\n')
    for data in (good + odd + good, odd, good + odd, odd + good):
        p = JsonParser(["status"], "ptime")
        got = collections.Counter()
        assert p.count(data, got) == data.count(b"\n")
        p.drain(got)
        assert p.bad == 5
        assert sum(got.values()) == data.count(b"\n") - 5
        assert set(got) <= {(200, 0.1)}


# -- issue 16: the fast paths equal the naive reader on random mixed logs, chunk after chunk -------
LAYOUTS = [[b"time", b"status", b"reqtime", b"ua"], [b"reqtime", b"host", b"status"],
           [b"host", b"status", b"uri", b"upstream", b"reqtime"], [b"status", b"reqtime"]]
VALUES = st.sampled_from([b"200", b"404", b"-", b"", b"0.25", b"1e-3", b"a:b:c", b"x\r", b"12:00:01"])


@st.composite
def ltsv_line(draw):
    kind = draw(st.integers(0, 9))
    if kind == 0:                                   # malformed: garbage, truncated, CRLF
        return draw(st.sampled_from([b"garbage", b"status", b"stat", b"\tstatus:2", b"reqtime:1",
                                     b"status:200\treqtime:0.1\r", b""]))
    keys = list(draw(st.sampled_from(LAYOUTS)))
    if kind == 1:                                   # per-line shuffled
        keys = draw(st.permutations(keys))
    keys = [k for k in keys if not (k == b"reqtime" and draw(st.booleans()) and kind == 2)]
    return b"\t".join(k + b":" + draw(VALUES) for k in keys)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(ltsv_line(), max_size=40), min_size=1, max_size=6),
       st.sampled_from([["status"], ["upstream", "status"]]))
def test_ltsv_parser_equals_naive_reader_on_mixed_logs_chunk_after_chunk(chunks, skeys):
    # one parser for all chunks, as a run: the regex path gives up after two misses and the
    # general path takes over; every chunk's counts must be the naive ones whatever the path
    p = LtsvParser(skeys, "reqtime")
    got = collections.Counter()
    data = b""
    for lines in chunks:
        chunk = b"".join(ln + b"\n" for ln in lines)
        data += chunk
        assert p.count(chunk, got) == len(lines)
    p.drain(got)

    def norm(c):
        out = collections.Counter()
        for t, n in c.items():
            out[t if any(v not in (b"", b"-") for v in t[:-1]) else "no status"] += n
        return +out
    assert norm(got) == norm(naive(data, skeys, "reqtime"))


ADJACENT_LINE = st.builds(lambda pre, st_, rt: pre + b"status:" + st_ + b"\treqtime:" + rt,
                          st.sampled_from([b"", b"time:12:00\t", b"host:a\tua:x:y\t"]), VALUES, VALUES)
AFTER = st.one_of(st.sampled_from([b"", b"\n", b"status:500\treqtime:9\nstat", b"x\tstatus:404",
                                   b"\n\nstatus:200\treqtime:1\n"]), st.binary(max_size=30))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(ADJACENT_LINE, ADJACENT_LINE, ltsv_line()), max_size=40), min_size=1,
                max_size=6), st.binary(max_size=30), AFTER)
def test_ltsv_count_block_equals_count_on_a_buffer_range(chunks, before, after):
    # Follower.blocks(): the lines are a range of the reading buffer, a newline before them and
    # anything after them (a partial line, stale bytes of an earlier read); same counts as
    # count() on the bytes of the range (mostly adjacent status/latency lines: the no-copy path)
    p, q = LtsvParser(["status"], "reqtime"), LtsvParser(["status"], "reqtime")
    got, exp = collections.Counter(), collections.Counter()
    for lines in chunks:
        chunk = b"".join(ln + b"\n" for ln in lines)
        buf = bytearray(before + b"\n" + chunk + after)
        s = len(before) + 1
        assert p.count_block(buf, s, s + len(chunk), got) == q.count(chunk, exp) == len(lines)
    p.drain(got)
    q.drain(exp)
    assert got == exp
