"""The command line, end to end: real ICMP to 127.0.0.1 and ::1, the loss paths in empty network
namespaces, the unprivileged path as user nobody, exit codes and the graph definition."""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

PROG = "mackerel-plugin-pinging"
LINE = re.compile(rb"^pinging\.[-A-Za-z0-9_.]+\t-?\d+\.\d{6}\t(\d+)$")


def exe() -> str:
    p = pathlib.Path(sys.executable).parent / PROG
    return str(p) if p.exists() else shutil.which(PROG)


def run(*args, env=None, wrap=(), timeout=60):
    full = dict(os.environ)
    full.pop("MACKEREL_AGENT_PLUGIN_META", None)
    full.update(env or {})
    return subprocess.run([*wrap, exe(), *map(str, args)], capture_output=True, env=full,
                          timeout=timeout)


def metrics(stdout: bytes) -> dict[str, float]:
    out = {}
    for ln in stdout.splitlines():
        m = LINE.match(ln)
        assert m, ln
        assert abs(int(m.group(1)) - time.time()) < 120
        name, value, _ = ln.decode().split("\t")
        out[name] = float(value)
    return out


def can_ping(addr: str) -> bool:
    r = run("--host", addr, "--key-prefix", "probe", "--count", "1", "--no-preflight")
    return r.returncode == 0 and b"success\t1.000000" in r.stdout


def have_netns() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    r = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    return r.returncode == 0


needs_netns = pytest.mark.skipif(not have_netns(),
                                 reason="needs root (or user namespaces) for unshare -n")


def test_loopback_ipv4_upstream_metric_set():
    if not can_ping("127.0.0.1"):
        pytest.skip("no ICMP socket available to this user (see test_unprivileged_*)")
    r = run("--host", "127.0.0.1", "--count", "3", "--key-prefix", "localhost")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    names = [ln.split(b"\t")[0].decode() for ln in r.stdout.splitlines()]
    assert names == ["pinging.localhost_rtt_count.success", "pinging.localhost_rtt_count.error",
                     "pinging.localhost_rtt_ms.max", "pinging.localhost_rtt_ms.min",
                     "pinging.localhost_rtt_ms.average", "pinging.localhost_rtt_ms.90_percentile"]
    m = metrics(r.stdout)
    assert m["pinging.localhost_rtt_count.success"] == 3
    assert m["pinging.localhost_rtt_count.error"] == 0
    assert 0 < m["pinging.localhost_rtt_ms.min"] <= m["pinging.localhost_rtt_ms.average"] \
        <= m["pinging.localhost_rtt_ms.max"] < 1000
    # one epoch for the whole run
    assert len({ln.split(b"\t")[2] for ln in r.stdout.splitlines()}) == 1


def test_loopback_ipv6():
    if not can_ping("::1"):
        pytest.skip("no IPv6 loopback or no ICMP socket here")
    r = run("--host", "::1", "--count", "2", "--key-prefix", "v6", "--extended",
            "--percentiles", "50,99")
    assert r.returncode == 0, r.stderr
    m = metrics(r.stdout)
    assert m["pinging.v6_rtt_count.success"] == 2
    assert m["pinging.v6_loss.percentage"] == 0
    assert "pinging.v6_rtt_ms.50_percentile" in m and "pinging.v6_rtt_ms.99_percentile" in m
    assert "pinging.v6_rtt_ms.stddev" in m and "pinging.v6_rtt_ms.jitter" in m


def test_family_flags_and_go_style_spellings():
    if not can_ping("127.0.0.1"):
        pytest.skip("no ICMP socket available")
    r = run("-host", "localhost", "-4", "-count", "1", "-interval", "0", "-timeout", "500",
            "-key-prefix", "lh", "--verbose")
    assert r.returncode == 0, r.stderr
    assert b"pinging 127.0.0.1 over" in r.stderr
    r = run("--host=127.0.0.1", "--count=1", "--key-prefix=eq")
    assert r.returncode == 0 and b"pinging.eq_rtt_count.success\t1.000000" in r.stdout
    r = run("--host", "127.0.0.1", "-6", "--count", "1", "--key-prefix", "x")
    assert r.returncode == 1 and b"IPv6" in r.stderr


def test_several_hosts_in_one_run_one_metric_set_each():
    if not (can_ping("127.0.0.1") and can_ping("::1")):
        pytest.skip("no ICMP to both loopbacks")
    r = run("--host", "127.0.0.1", "--host", "::1", "--key-prefix", "a", "--key-prefix", "b",
            "--count", "2")
    assert r.returncode == 0, r.stderr
    m = metrics(r.stdout)
    assert m["pinging.a_rtt_count.success"] == 2 and m["pinging.b_rtt_count.success"] == 2
    lines = r.stdout.splitlines()
    assert lines[0].startswith(b"pinging.a_") and lines[-1].startswith(b"pinging.b_")  # host order
    r = run("--host", "127.0.0.1", "--host", "::1", "--key-prefix", "lo", "--count", "1")
    m = metrics(r.stdout)
    assert "pinging.lo_127_0_0_1_rtt_count.success" in m
    assert "pinging.lo___1_rtt_count.success" in m


def test_hosts_are_pinged_concurrently():
    # three hosts that never answer: pinged one after another, host 1 would log its counted
    # pings before host 3 logs its warm-up; pinged concurrently, every warm-up (each waiting the
    # full 400 ms timeout) ends before any counted ping does
    if not have_netns():
        pytest.skip("needs unshare -n")
    script = (f"ip link set lo up; ip route add 10.9.9.0/24 dev lo; exec {exe()} "
              "--host 10.9.9.1 --host 10.9.9.2 --host 10.9.9.3 --key-prefix c --count 2 "
              "--timeout 400 --interval 0 --verbose")
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    m = metrics(r.stdout)
    for h in ("10_9_9_1", "10_9_9_2", "10_9_9_3"):
        assert m[f"pinging.c_{h}_rtt_count.error"] == 2
    log = r.stderr.decode().splitlines()
    warm = [i for i, ln in enumerate(log) if "warm-up ping failed" in ln]
    counted = [i for i, ln in enumerate(log) if "seq=" in ln and "failed" in ln]
    assert len(warm) == 3 and len(counted) == 6
    assert max(warm) < min(counted), log


def test_unresolvable_host_reports_all_errors_and_exits_1():
    r = run("--host", "no-such-host.invalid", "--key-prefix", "bad", "--count", "4")
    assert r.returncode == 1
    assert re.fullmatch(rb"pinging.bad_rtt_count.success\t0.000000\t(\d+)\n"
                        rb"pinging.bad_rtt_count.error\t4.000000\t\1\n", r.stdout), r.stdout
    assert b"cannot resolve no-such-host.invalid" in r.stderr
    assert b"Traceback" not in r.stderr


def test_one_bad_host_does_not_hide_the_others():
    if not can_ping("127.0.0.1"):
        pytest.skip("no ICMP socket available")
    r = run("--host", "no-such-host.invalid", "--host", "127.0.0.1", "--key-prefix", "bad",
            "--key-prefix", "ok", "--count", "1")
    assert r.returncode == 1
    m = metrics(r.stdout)
    assert m["pinging.bad_rtt_count.error"] == 1 and m["pinging.ok_rtt_count.success"] == 1


@needs_netns
def test_loss_when_sends_fail_in_an_empty_network_namespace():
    # no route at all: sendto() fails (ENETUNREACH); icmplib would say sent=0, loss=0.0
    r = run("--host", "198.51.100.7", "--key-prefix", "lost", "--count", "5", "--extended",
            wrap=("unshare", "-n"))
    assert r.returncode == 0, r.stderr
    m = metrics(r.stdout)
    assert m["pinging.lost_rtt_count.success"] == 0
    assert m["pinging.lost_rtt_count.error"] == 5
    assert m["pinging.lost_loss.percentage"] == 100
    assert m["pinging.lost_errors.send_error"] == 5
    assert "pinging.lost_rtt_ms.max" not in m
    assert b"5 of 5 pings failed" in r.stderr and b"Traceback" not in r.stderr


@needs_netns
def test_timeouts_to_a_blackholed_address():
    script = (f"ip link set lo up; ip route add 10.9.9.0/24 dev lo; exec {exe()} "
              "--host 10.9.9.2 --key-prefix bh --count 2 --timeout 150 --extended")
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    m = metrics(r.stdout)
    assert m["pinging.bh_rtt_count.error"] == 2
    assert m["pinging.bh_errors.timeout"] == 2
    assert m["pinging.bh_errors.send_error"] == 0


def _nobody_can_run() -> str | None:
    if os.geteuid() != 0:
        return "needs root to switch to user nobody"
    if not shutil.which("setpriv"):
        return "setpriv is not installed"
    if not have_netns():
        return "needs unshare -n"
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        exe(), "--version"], capture_output=True)
    if r.returncode != 0:
        return f"user nobody cannot run the installed script: {r.stderr[-200:]!r}"
    return None


def test_unprivileged_icmp_as_user_nobody():
    why = _nobody_can_run()
    if why:
        pytest.skip(why)
    # the sysctl is per network namespace: widen it in a private one, then drop root
    script = ("ip link set lo up; echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range; "
              f"exec setpriv --reuid=nobody --regid=nogroup --clear-groups {exe()} "
              "--host 127.0.0.1 --host ::1 --key-prefix u --count 2 --verbose")
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    m = metrics(r.stdout)
    assert m["pinging.u_127_0_0_1_rtt_count.success"] == 2
    assert m["pinging.u___1_rtt_count.success"] == 2
    assert b"over an unprivileged ICMPv4 socket" in r.stderr
    assert b"over an unprivileged ICMPv6 socket" in r.stderr


def test_no_icmp_socket_at_all_gives_one_clear_message():
    why = _nobody_can_run()
    if why:
        pytest.skip(why)
    script = ("ip link set lo up; echo '1 0' > /proc/sys/net/ipv4/ping_group_range; "
              f"exec setpriv --reuid=nobody --regid=nogroup --clear-groups {exe()} "
              "--host 127.0.0.1 --host 127.0.0.2 --key-prefix u --count 1")
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, timeout=60)
    assert r.returncode == 3  # no ICMP socket: its own exit status
    assert r.stdout == b""  # no fake 100 % loss when we could not even try
    err = r.stderr.decode()
    assert err.count("cannot open an ICMP socket") == 1, err
    assert "net.ipv4.ping_group_range" in err and "CAP_NET_RAW" in err and '"1 0"' in err
    assert "Traceback" not in err


def test_raw_fallback_as_root_with_the_default_sysctl():
    if os.geteuid() != 0 or not have_netns():
        pytest.skip("needs root and unshare -n")
    script = ("ip link set lo up; echo '1 0' > /proc/sys/net/ipv4/ping_group_range; "
              f"exec {exe()} --host 127.0.0.1 --key-prefix r --count 1 --verbose")
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"over a raw ICMPv4 socket" in r.stderr
    r = subprocess.run(["unshare", "-n", "sh", "-c", script.replace("--verbose", "--socket unprivileged")],
                       capture_output=True, timeout=60)
    assert r.returncode == 3 and b"ping_group_range" in r.stderr


def test_graph_definition_under_mackerel_agent_plugin_meta():
    # no ping is sent (the host does not even resolve): definitions only, exit 0
    r = run("--host", "no-such-host.invalid", "--key-prefix", "g", "--extended",
            env={"MACKEREL_AGENT_PLUGIN_META": "1"})
    assert r.returncode == 0, r.stderr
    head, body = r.stdout.decode().split("\n", 1)
    assert head == "# mackerel-agent-plugin"
    graphs = json.loads(body)["graphs"]
    assert set(graphs) == {"pinging.g_rtt_count", "pinging.g_rtt_ms", "pinging.g_loss",
                           "pinging.g_errors"}


@pytest.mark.parametrize("args", [
    [],
    ["--host", "127.0.0.1"],
    ["--key-prefix", "x"],
    ["--host", "a", "--host", "b", "--host", "c", "--key-prefix", "x", "--key-prefix", "y"],
    ["--host", "127.0.0.1", "--key-prefix", "x", "--count", "-1"],
    ["--host", "127.0.0.1", "--key-prefix", "x", "--timeout", "0"],
    ["--host", "127.0.0.1", "--key-prefix", "x", "--percentiles", "101"],
    ["--host", "127.0.0.1", "--key-prefix", "x", "-4", "-6"],
    # beyond what a socket timeout or sleep() can take: a usage error, not a traceback in a thread
    ["--host", "127.0.0.1", "--key-prefix", "x", "--timeout", "1e308"],
    ["--host", "127.0.0.1", "--key-prefix", "x", "--interval", "1e308"],
    ["--host", "127.0.0.1", "--key-prefix", "x", "--percentiles", ","],
    # two metric sets under the same names (mackerel would mix them): refused
    ["--host", "127.0.0.1", "--host", "127.0.0.1", "--key-prefix", "x"],
    ["--host", "a.b", "--host", "a_b", "--key-prefix", "x"],
    ["--host", "127.0.0.1", "--host", "::1", "--key-prefix", "p", "--key-prefix", "p"],
])
def test_usage_errors_exit_3(args):
    r = run(*args)
    assert r.returncode == 3, r     # the mackerel plugins' policy: usage is Nagios UNKNOWN (was 2)
    assert r.stderr.decode().splitlines()[-1].startswith(f"{PROG}: ")
    assert r.stdout == b""


def test_an_unexpected_error_in_a_host_thread_is_exit_1_not_silence(monkeypatch, capsysbinary):
    """A failure nobody planned for in one host's thread must not give exit 0 with that host's
    metrics silently missing (it used to: a traceback from the thread, then rc 0)."""
    from mackerel_plugin_pinging import cli, pinger
    monkeypatch.delenv("MACKEREL_AGENT_PLUGIN_META", raising=False)

    def boom(*a, **k):
        raise OverflowError("timestamp out of range for platform time_t")

    monkeypatch.setattr(pinger, "open_socket", boom)
    rc = cli.main(["--host", "127.0.0.1", "--key-prefix", "x", "--count", "1"])
    out, err = capsysbinary.readouterr()
    assert rc == 4  # unexpected error: its own exit status
    assert out == b""
    assert b"Traceback" not in err
    assert b"127.0.0.1: " in err and b"timestamp out of range" in err


def test_full_disk_is_one_line_and_exit_2():
    # before mackerel-plugin-helper: a traceback, exit 1 (the graph definition needs no network)
    with open("/dev/full", "wb") as full:
        r = subprocess.run([exe(), "--host", "h", "--key-prefix", "p"], stdout=full,
                           stderr=subprocess.PIPE, env={**os.environ, "MACKEREL_AGENT_PLUGIN_META": "1"})
    assert r.returncode == 2 and r.stderr == f"{PROG}: write error: No space left on device\n".encode()


def test_version_flags():
    for flag in ("-v", "--version"):
        r = run(flag)
        assert r.returncode == 0
        assert re.fullmatch(rb"mackerel-plugin-pinging \S+\n", r.stdout)


def test_count_zero():
    r = run("--host", "127.0.0.1", "--key-prefix", "z", "--count", "0", "--no-preflight")
    assert r.returncode == 0, r.stderr
    m = metrics(r.stdout)
    assert m == {"pinging.z_rtt_count.success": 0.0, "pinging.z_rtt_count.error": 0.0}


def test_sigint_exits_130_without_traceback():
    if not have_netns():
        pytest.skip("needs unshare -n for a host that never answers")
    p = subprocess.Popen(["unshare", "-n", "sh", "-c",
                          f"ip link set lo up; ip route add 10.9.9.0/24 dev lo; exec {exe()} "
                          "--host 10.9.9.2 --key-prefix s --count 50 --timeout 1000 --verbose"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert b"pinging 10.9.9.2 over" in p.stderr.readline()  # running, handlers in place
    p.send_signal(2)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (p.returncode, err)
    assert b"Traceback" not in err


def test_source_address():
    if not can_ping("127.0.0.1"):
        pytest.skip("no ICMP socket available")
    r = run("--host", "127.0.0.1", "--source", "127.0.0.1", "--key-prefix", "src", "--count", "1")
    assert r.returncode == 0, r.stderr
    assert metrics(r.stdout)["pinging.src_rtt_count.success"] == 1
    r = run("--host", "127.0.0.1", "--source", "192.0.2.55", "--key-prefix", "src", "--count", "1")
    assert r.returncode == 3  # the socket cannot be bound: no ICMP socket
    assert r.stdout == b""
    assert b"cannot use source address 192.0.2.55" in r.stderr


def test_in_process_main_writes_bytes(capsysbinary, monkeypatch):
    from mackerel_plugin_pinging import cli
    monkeypatch.delenv("MACKEREL_AGENT_PLUGIN_META", raising=False)
    if not can_ping("127.0.0.1"):
        pytest.skip("no ICMP socket available")
    rc = cli.main(["--host", "127.0.0.1", "--key-prefix", "inproc", "--count", "2",
                   "--interval", "0", "--percentiles", "50,90"])
    out, err = capsysbinary.readouterr()
    assert rc == 0, err
    m = metrics(out)
    assert m["pinging.inproc_rtt_count.success"] == 2
    assert m["pinging.inproc_rtt_ms.50_percentile"] == m["pinging.inproc_rtt_ms.min"]  # n=2: index 0
    monkeypatch.setenv("MACKEREL_AGENT_PLUGIN_META", "1")
    assert cli.main(["--host", "h1", "--host", "h2", "--key-prefix", "p"]) == 0
    out, _ = capsysbinary.readouterr()
    assert set(json.loads(out.split(b"\n", 1)[1])["graphs"]) == {
        "pinging.p_h1_rtt_count", "pinging.p_h1_rtt_ms", "pinging.p_h2_rtt_count",
        "pinging.p_h2_rtt_ms"}


def test_ctrl_c_while_parsing_arguments_is_130_without_traceback(monkeypatch):
    from mackerel_plugin_pinging import cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    try:
        rc = cli.main(["--host", "127.0.0.1", "--key-prefix", "x"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): a traceback for the user")
    assert rc == 130
