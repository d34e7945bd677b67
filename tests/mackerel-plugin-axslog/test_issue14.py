"""Issue 14, items 9-12 for mackerel-plugin-axslog, through the command line on real files (the
installed console script in a subprocess where the state directory is watched)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

PROG = "mackerel-plugin-axslog"
EXE = str(pathlib.Path(sys.executable).parent / PROG)


def axslog(workdir, *args, check_rc=0):
    env = {k: v for k, v in os.environ.items() if k != "MACKEREL_AGENT_PLUGIN_META"}
    env["MACKEREL_PLUGIN_WORKDIR"] = str(workdir)
    r = subprocess.run([EXE, *map(str, args)], env=env, capture_output=True)
    if check_rc is not None:
        assert r.returncode == check_rc, r.stderr
    return r


def metrics(out: bytes) -> dict[str, str]:
    return {ln.split("\t")[0]: ln.split("\t")[1] for ln in out.decode().splitlines()}


def snapshot(d: pathlib.Path) -> dict:
    """Every file of the work dir with its bytes and mtime (nothing may change in a dry run)."""
    if not d.exists():
        return {}
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}


# -- item 9: every JSON line is judged on its own bytes ---------------------------------------------
GOOD = b'{"status":200,"ptime":0.1}\n'


@pytest.mark.parametrize("bad,first", [(b'{"status":200.0,"ptime":0.1}\n', True),
                                       (b'{"status":200.0,"ptime":0.1}\n', False),
                                       (b'{"status":true,"ptime":0.1}\n', True),
                                       (b'{"ptime":0.1,"status":2e2}\n', False)])
def test_json_status_200_0_is_bad_whatever_its_neighbours(tmp_path, bad, first):
    # before: 200.0 first -> all 1001 lines "bad status"; 200.0 last -> counted as a 2xx
    log = tmp_path / "a.log"
    log.write_bytes(bad + GOOD * 1000 if first else GOOD * 1000 + bad)
    r = axslog(tmp_path / "w", "--format", "json", "--logfile", log, "--key-prefix", "j",
               "--count-mode", "raw")
    m = metrics(r.stdout)
    assert m["axslog.parse_error_j.count"] == "1.000000"
    assert m["axslog.access_ratio_j.2xx_percentage"] == "100.000000"
    assert b"1 of 1001 lines skipped (bad status: 1)" in r.stderr


def test_json_latency_true_is_not_1_and_dot_paths_judge_each_line(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b'{"status":200,"ptime":1}\n' * 3 + b'{"status":200,"ptime":true}\n')
    m = metrics(axslog(tmp_path / "w", "--format", "json", "--logfile", log, "--key-prefix", "t").stdout)
    assert m["axslog.latency_t.average"] == "1.000000"
    assert m["axslog.access_ratio_t.2xx_percentage"] == "100.000000"      # 4 lines with a status
    d = tmp_path / "d.log"
    d.write_bytes(b'{"r":{"status":200.0}}\n' + b'{"r":{"status":200}}\n' * 5)
    r = axslog(tmp_path / "w", "--format", "json", "--logfile", d, "--key-prefix", "d",
               "--status-key", "r.status", "--count-mode", "raw")
    assert metrics(r.stdout)["axslog.parse_error_d.count"] == "1.000000"
    assert b"1 of 6 lines skipped (bad status: 1)" in r.stderr


# -- item 10: parse_error, the summary and the README say the same thing ------------------------------
def test_parse_error_counts_skipped_lines_and_the_summary_counts_every_line(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"status:200\tptime:1\n"
                    b"status:200\tptime:NaN\n"                   # counted for its status, no latency
                    b"status:500\tptime:inf\n"                   # likewise
                    b"no status here\n"                          # skipped
                    b"status:2_00\tptime:1\n"                    # skipped (bad status)
                    b"status:200\tptime:1\tx:" + b"y" * 2000 + b"\n"   # skipped (over-long)
                    b"status:404\tptime:3\n")
    r = axslog(tmp_path / "w", "--logfile", log, "--key-prefix", "n", "--max-line", "1000",
               "--count-mode", "raw")
    m = metrics(r.stdout)
    assert m["axslog.parse_error_n.count"] == "3.000000"        # the lines in no other metric
    assert [float(v) for k, v in m.items() if "ratio" in k] == pytest.approx(
        [0, 50, 0, 25, 0, 25])                                   # 4 lines with a status
    assert m["axslog.latency_n.average"] == "2.000000"
    err = r.stderr.decode()
    assert "3 of 7 lines skipped (bad status: 1, no status: 1, over-long: 1)" in err
    assert "2 of 7 lines counted without a latency (bad ptime: 2)" in err


def test_readme_says_what_parse_error_counts():
    readme = (pathlib.Path(__file__).parents[2] / "packages" / PROG / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("axslog.parse_error_<P>.count"))
    assert "skipped" in line and "no other metric" in line


# -- item 11: a --key-prefix that cannot be part of a metric name is a usage error --------------------
@pytest.mark.parametrize("prefix", ["a b/c", "x\ty", "é"])
def test_key_prefix_outside_the_metric_charset_is_a_usage_error(tmp_path, prefix):
    log = tmp_path / "a.log"
    log.write_bytes(b"status:200\tptime:1\n")
    r = axslog(tmp_path / "w", "--logfile", log, "--key-prefix", prefix, check_rc=3)
    assert r.stdout == b""
    assert b"cannot be part of a metric name" in r.stderr
    assert not (tmp_path / "w").exists()                 # nothing read, no state


# -- item 12: --dry-run / --no-state --------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--dry-run", "-no-state"])
def test_dry_run_prints_the_metrics_and_moves_nothing(tmp_path, flag):
    w = tmp_path / "w"
    log = tmp_path / "a.log"
    log.write_bytes(b"status:200\tptime:1\n")
    base = ["--logfile", log, "--key-prefix", "d", "--count-mode", "raw"]
    # no work dir yet: a dry run creates nothing at all
    r = axslog(w, *base, flag)
    assert metrics(r.stdout)["axslog.latency_d.average"] == "1.000000"
    assert not w.exists()
    axslog(w, *base)                                     # the real first run
    with open(log, "ab") as f:
        f.write(b"status:500\tptime:3\nstatus:200\tptime:5\n")
    before = snapshot(w)
    outs = [metrics(axslog(w, *base, flag).stdout) for _ in range(2)]
    assert snapshot(w) == before                         # no position moved, no file touched
    for m in outs:
        assert m["axslog.access_total_d.count"] == "2.000000"
        assert m["axslog.latency_d.average"] == "4.000000"
    real = metrics(axslog(w, *base).stdout)              # the real run sees the same lines
    assert real["axslog.access_total_d.count"] == "2.000000"
    assert snapshot(w) != before
    state = json.loads(next(p for p in w.iterdir() if p.suffix == ".json").read_bytes())
    assert state["pos"] == log.stat().st_size
