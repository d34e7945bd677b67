"""mackerel-plugin-log-incr-rate: metrics as upstream, prefix- and path-keyed state, --pattern,
and a torture run (rotations, truncation, SIGKILL) where every line is counted exactly once."""
from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest
from mackerel_plugin_log_incr_rate.cli import main
from support.mackerel import plugin_workdir

PROG = "mackerel-plugin-log-incr-rate"
EXE = str(pathlib.Path(sys.executable).parent / PROG)


@pytest.fixture
def wd(tmp_path, monkeypatch):
    return plugin_workdir(tmp_path, monkeypatch)


def run(capsysbinary, *args):
    rc = main([str(a) for a in args])
    out, err = capsysbinary.readouterr()
    return rc, {ln.split("\t")[0]: float(ln.split("\t")[1]) for ln in out.decode().splitlines() if "\t" in ln}, out, err.decode()


def age(wd, seconds):
    for p in wd.glob("*.json"):
        d = json.loads(p.read_text())
        d["time"] -= seconds
        p.write_text(json.dumps(d))


def test_first_run_prints_nothing_then_rates(tmp_path, wd, capsysbinary):
    log, base = tmp_path / "error.log", tmp_path / "access.log"
    log.write_bytes(b"e\n" * 5)
    base.write_bytes(b"a\n" * 50)
    rc, m, out, _ = run(capsysbinary, "--log-file", log, "--base-log-file", base, "--key-prefix", "err")
    assert rc == 0 and out == b""
    with open(log, "ab") as f:
        f.write(b"e\n" * 6)
    with open(base, "ab") as f:
        f.write(b"a\n" * 120 + b"partial")
    age(wd, 600)
    rc, m, out, _ = run(capsysbinary, "--log-file", log, "--base-log-file", base, "--key-prefix", "err")
    assert list(m) == ["log-incr-rate.err_count.log", "log-incr-rate.err_count.base", "log-incr-rate.err_rate.log"]
    assert m["log-incr-rate.err_count.log"] == pytest.approx(0.01, rel=1e-2)
    assert m["log-incr-rate.err_count.base"] == pytest.approx(0.2, rel=1e-2)
    assert m["log-incr-rate.err_rate.log"] == pytest.approx(0.05, rel=1e-6)   # a fraction, not %
    assert b"\t0.050000\t" in out


def test_no_rate_without_base_lines(tmp_path, wd, capsysbinary):
    log, base = tmp_path / "e.log", tmp_path / "a.log"
    log.write_bytes(b"")
    base.write_bytes(b"")
    run(capsysbinary, "--log-file", log, "--base-log-file", base, "--key-prefix", "x")
    log.write_bytes(b"e\n")
    age(wd, 100)
    rc, m, _, _ = run(capsysbinary, "--log-file", log, "--base-log-file", base, "--key-prefix", "x")
    assert set(m) == {"log-incr-rate.x_count.log", "log-incr-rate.x_count.base"}
    assert m["log-incr-rate.x_count.base"] == 0


def test_state_keyed_by_prefix_and_both_paths(tmp_path, wd, capsysbinary):
    # upstream: one state per user for every instance, so two instances corrupt each other
    a, b, c = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"
    for p in (a, b, c):
        p.write_bytes(b"x\n" * 10)
    run(capsysbinary, "--log-file", a, "--base-log-file", b, "--key-prefix", "one")
    run(capsysbinary, "--log-file", c, "--base-log-file", b, "--key-prefix", "two")
    assert len(list(wd.glob("*.json"))) == 4
    with open(a, "ab") as f:
        f.write(b"x\n" * 3)
    age(wd, 100)
    rc, m, _, _ = run(capsysbinary, "--log-file", a, "--base-log-file", b, "--key-prefix", "one")
    assert m["log-incr-rate.one_count.log"] == pytest.approx(0.03, rel=0.05)
    assert m["log-incr-rate.one_count.base"] == 0


def test_pattern_counts_only_matching_lines(tmp_path, wd, capsysbinary):
    log, base = tmp_path / "e.log", tmp_path / "a.log"
    log.write_bytes(b"")
    base.write_bytes(b"")
    args = ["--log-file", log, "--base-log-file", base, "--key-prefix", "p",
            "--pattern", r"\[(error|crit)\]", "--base-pattern", "^GET "]
    run(capsysbinary, *args)
    log.write_bytes(b"[error] a\n[notice] b\n[crit] c\nno\n")
    base.write_bytes(b"GET /\nPOST /\nGET /x\n xGET\n")
    age(wd, 100)
    rc, m, _, _ = run(capsysbinary, *args)
    assert m["log-incr-rate.p_rate.log"] == pytest.approx(1.0)
    assert m["log-incr-rate.p_count.log"] == pytest.approx(0.02, rel=0.05)


def test_errors_and_usage(tmp_path, wd, capsysbinary):
    b = tmp_path / "b.log"
    b.write_bytes(b"")
    rc, m, out, err = run(capsysbinary, "--log-file", tmp_path / "nope", "--base-log-file", b, "--key-prefix", "x")
    assert rc == 2 and "No such file or directory" in err
    # a flag error is returned, not raised (parsed inside the runner), and says `prog: error:`
    assert main(["--log-file", "a", "--base-log-file", "b", "--key-prefix", "x", "--pattern", "("]) == 3
    assert f"{PROG}: error: --pattern" in capsysbinary.readouterr().err.decode()


def test_full_disk_is_one_line_exit_2_and_the_positions_stay(tmp_path, wd):
    # before mackerel-plugin-helper: a traceback, exit 1
    log, base = tmp_path / "error.log", tmp_path / "access.log"
    log.write_bytes(b"e\n")
    base.write_bytes(b"a\n")
    env = {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(wd)}
    cmd = [EXE, "--log-file", str(log), "--base-log-file", str(base), "--key-prefix", "f"]
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    before = {p.name: p.read_bytes() for p in wd.glob("*.json")}
    with open(log, "ab") as f:
        f.write(b"e\n")
    with open("/dev/full", "wb") as full:
        r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, env=env)
    assert r.returncode == 2 and r.stderr == f"{PROG}: write error: No space left on device\n".encode()
    assert {p.name: p.read_bytes() for p in wd.glob("*.json")} == before


def test_graph_definition(tmp_path, wd, capsysbinary, monkeypatch):
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    rc, _, out, _ = run(capsysbinary, "--log-file", "a", "--base-log-file", "b", "--key-prefix", "x")
    head, body = out.split(b"\n", 1)
    assert head == b"# mackerel-agent-plugin"
    assert set(json.loads(body)["graphs"]) == {"log-incr-rate.x_count", "log-incr-rate.x_rate"}


def test_torture_every_line_counted_once(tmp_path):
    rnd = random.Random(5)
    logs = {"log": tmp_path / "e.log", "base": tmp_path / "a.log"}
    for p in logs.values():
        p.write_bytes(b"")
    wd = tmp_path / "w"
    wd.mkdir()
    env = {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(wd)}
    cmd = [EXE, "--log-file", str(logs["log"]), "--base-log-file", str(logs["base"]), "--key-prefix", "t"]
    written = {"log": 0, "base": 0}
    counted = {"log": 0.0, "base": 0.0}
    seq = [0]

    # lines = rate * duration, the duration being the difference of the saved times
    def run_once(kill: bool):
        before = {p.name: json.loads(p.read_text()) for p in wd.glob("*.json")}
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if kill:
            time.sleep(rnd.uniform(0, 0.3))
            p.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        after = {p.name: json.loads(p.read_text()) for p in wd.glob("*.json")}
        if not kill:
            assert p.returncode == 0, err
        if after != before and before:
            m = {ln.split("\t")[0]: float(ln.split("\t")[1]) for ln in out.decode().splitlines()}
            for role in ("log", "base"):
                name = next(n for n in after if f"-incr-rate-{role}-" in n)
                dur = after[name]["time"] - before[name]["time"]
                counted[role] += m.get(f"log-incr-rate.t_count.{role}", 0.0) * dur

    run_once(False)
    for _ in range(20):
        for role, path in logs.items():
            k = rnd.randint(0, 300)
            with open(path, "ab") as f:
                f.write(b"".join(f"{role} {seq[0] + i}\n".encode() for i in range(k)))
            seq[0] += k
            written[role] += k
            if rnd.random() < 0.2:
                path.rename(str(path) + ".1")
                path.write_bytes(b"")
        run_once(kill=rnd.random() < 0.3)
        run_once(False)
    assert round(counted["log"]) == written["log"]
    assert round(counted["base"]) == written["base"]
