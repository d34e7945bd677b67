"""mackerel-plugin-postfix-log: delays by stage, DSN classes, the extra agents and statuses, no
per-line error spam, and a torture run where every delivery is counted exactly once."""
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
from mackerel_plugin_postfix_log.cli import main
from support.mackerel import plugin_workdir

PROG = "mackerel-plugin-postfix-log"
EXE = str(pathlib.Path(sys.executable).parent / PROG)


def delivery(agent="smtp", delay="1.2", delays="0.1/0.01/0.5/0.6", dsn="2.0.0", status="sent", pid=123):
    return (f"Nov 22 00:00:01 mx postfix/{agent}[{pid}]: 4F2A3: to=<a@example.com>, relay=mx.example.com"
            f"[192.0.2.1]:25, delay={delay}, delays={delays}, dsn={dsn}, status={status} (250 2.0.0 Ok)\n").encode()


NOISE = (b"Nov 22 00:00:02 mx postfix/smtp[124]: connect to mx2.example.com[192.0.2.2]:25: Connection timed out\n"
         b"Nov 22 00:00:02 mx postfix/smtpd[99]: connect from unknown[198.51.100.7]\n"
         b"Nov 22 00:00:03 mx postfix/qmgr[88]: 4F2A3: removed\n")


@pytest.fixture
def wd(tmp_path, monkeypatch):
    return plugin_workdir(tmp_path, monkeypatch)


def run(capsysbinary, *args):
    rc = main([str(a) for a in args])
    out, err = capsysbinary.readouterr()
    pairs = [ln.split("\t")[:2] for ln in out.decode().splitlines() if "\t" in ln]
    return rc, pairs, out, err.decode()


def age(wd, seconds):
    for p in wd.glob("*.json"):
        d = json.loads(p.read_text())
        d["time"] -= seconds
        p.write_text(json.dumps(d))


def test_first_run_golden(tmp_path, wd, capsysbinary):
    log = tmp_path / "maillog"
    log.write_bytes(b"".join(delivery(delay=str(i), delays=f"{i / 10}/0/0.5/{i}") for i in range(1, 11)) +
                    delivery(dsn="5.1.1", status="bounced", delay="0.5", delays="0.1/0.1/0.1/0.2") + NOISE)
    rc, pairs, out, err = run(capsysbinary, "--logfile", log)
    assert rc == 0
    names = [n for n, _ in pairs]
    exp = []
    for g in ("total", "recving", "queuing", "connection", "transmission"):
        exp += [f"postfixlog.{g}_delay.{m}" for m in ("average", "99_percentile", "95_percentile", "90_percentile")]
    exp += [f"postfixlog.transfer_ratio.{c}_percentage" for c in ("2xx", "4xx", "5xx")]
    assert names == exp
    m = dict(pairs)
    assert m["postfixlog.total_delay.average"] == f"{(55 + 0.5) / 11:f}"
    assert m["postfixlog.total_delay.99_percentile"] == "10.000000"
    assert m["postfixlog.total_delay.90_percentile"] == "9.000000"       # nearest rank of 11 values
    assert m["postfixlog.transmission_delay.95_percentile"] == "9.000000"    # d field, not c (v0.0.7 fix)
    assert m["postfixlog.connection_delay.average"] == f"{(5 + 0.1) / 11:f}"
    assert m["postfixlog.transfer_ratio.5xx_percentage"] == f"{100 / 11:f}"
    # one summary for the connect-timeout line, not a message per line
    assert err.count("\n") == 1 and "1 delivery-agent lines without delay/dsn" in err


def test_counts_per_second_after_the_first_run(tmp_path, wd, capsysbinary):
    log = tmp_path / "maillog"
    log.write_bytes(b"")
    run(capsysbinary, "--logfile", log)
    log.write_bytes(delivery() * 3 + delivery(dsn="4.4.1", status="deferred") * 2 +
                    delivery(dsn="5.0.0", status="bounced") + delivery(dsn="4.4.7", status="expired"))
    age(wd, 600)
    rc, pairs, _, _ = run(capsysbinary, "--logfile", log, "--status-counts")
    m = {k: float(v) for k, v in pairs}
    assert m["postfixlog.transfer_num.2xx_count"] == pytest.approx(3 / 600, rel=1e-2)
    assert m["postfixlog.transfer_num.4xx_count"] == pytest.approx(3 / 600, rel=1e-2)
    assert m["postfixlog.transfer_total.count"] == pytest.approx(7 / 600, rel=1e-2)
    assert m["postfixlog.transfer_status.expired_count"] == pytest.approx(1 / 600, rel=1e-2)
    assert m["postfixlog.transfer_status.deferred_count"] == pytest.approx(2 / 600, rel=1e-2)


def test_only_smtp_by_default_other_agents_on_request(tmp_path, wd, capsysbinary):
    log = tmp_path / "maillog"
    log.write_bytes(delivery("smtp", delay="1") + delivery("lmtp", delay="2") + delivery("local", delay="3") +
                    delivery("virtual", delay="4") + delivery("pipe", delay="5") + delivery("smtpd", delay="9"))
    m = dict(run(capsysbinary, "--logfile", log, "--posfile-prefix", "a")[1])
    assert m["postfixlog.total_delay.average"] == "1.000000"
    m = dict(run(capsysbinary, "--logfile", log, "--posfile-prefix", "b",
                 "--agents", "smtp,lmtp,local,virtual,pipe")[1])
    assert m["postfixlog.total_delay.average"] == "3.000000"


def test_unparsable_numbers_count_as_zero_and_linear_method(tmp_path, wd, capsysbinary):
    log = tmp_path / "maillog"
    log.write_bytes(delivery(delay="abc", delays="x/1/2/3") + delivery(delay="4", delays="1/1/2/3"))
    m = dict(run(capsysbinary, "--logfile", log, "--percentile-method", "linear")[1])
    assert m["postfixlog.total_delay.average"] == "2.000000"
    assert m["postfixlog.total_delay.90_percentile"] == "3.600000"


def test_errors(tmp_path, wd, capsysbinary):
    rc, _, out, err = run(capsysbinary, "--logfile", tmp_path / "nope")
    assert rc == 2 and out == b"" and "No such file or directory" in err
    assert main(["--agents", "smtp,carrier-pigeon"]) == 3       # returned, not raised: parsed in run()
    assert f"{PROG}: error: --agents" in capsysbinary.readouterr().err.decode()


def test_full_disk_is_one_line_exit_2_and_the_position_stays(tmp_path, wd):
    # before mackerel-plugin-helper: a traceback, exit 1
    log = tmp_path / "maillog"
    log.write_bytes(delivery())
    env = {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(wd)}
    with open("/dev/full", "wb") as full:
        r = subprocess.run([EXE, "--logfile", str(log)], stdout=full, stderr=subprocess.PIPE, env=env)
    assert r.returncode == 2 and r.stderr == f"{PROG}: write error: No space left on device\n".encode()
    assert not list(wd.glob("*.json"))
    r = subprocess.run([EXE, "--logfile", str(log)], capture_output=True, env=env)
    assert b"postfixlog.total_delay.average\t1.200000" in r.stdout


def test_graph_definition(tmp_path, wd, capsysbinary, monkeypatch):
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    rc, _, out, _ = run(capsysbinary)
    head, body = out.split(b"\n", 1)
    g = json.loads(body)["graphs"]
    assert head == b"# mackerel-agent-plugin" and g["postfixlog.total_delay"]["unit"] == "seconds"


def test_torture_every_delivery_counted_once(tmp_path):
    rnd = random.Random(9)
    log = tmp_path / "maillog"
    log.write_bytes(b"")
    wd = tmp_path / "w"
    wd.mkdir()
    env = {**os.environ, "MACKEREL_PLUGIN_WORKDIR": str(wd)}
    cmd = [EXE, "--logfile", str(log)]
    written, counted = 0, 0.0

    def run_once(kill):
        nonlocal counted
        before = {p.name: json.loads(p.read_text()) for p in wd.glob("*.json")}
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        if kill:
            time.sleep(rnd.uniform(0, 0.3))
            p.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        if not kill:
            assert p.returncode == 0, err
        after = {p.name: json.loads(p.read_text()) for p in wd.glob("*.json")}
        if before and after != before:
            (name,) = after
            m = {ln.split("\t")[0]: float(ln.split("\t")[1]) for ln in out.decode().splitlines()}
            counted += m.get("postfixlog.transfer_total.count", 0.0) * (after[name]["time"] - before[name]["time"])

    run_once(False)
    for _i in range(18):
        k = rnd.randint(0, 200)
        with open(log, "ab") as f:
            f.write(b"".join(delivery(pid=written + j) for j in range(k)) + NOISE)
        written += k
        op = rnd.random()
        if op < 0.2:
            log.rename(str(log) + ".1")
            log.write_bytes(b"")
        elif op < 0.3:
            run_once(False)
            with open(log, "r+b") as f:
                f.truncate(0)
        run_once(kill=rnd.random() < 0.3)
        run_once(False)
    assert round(counted) == written
