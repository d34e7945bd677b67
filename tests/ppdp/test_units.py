"""Pure parts of ppdp: Go durations, host:port parsing, the balancer and its hash ring, log lines,
the command line's usage errors."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ppdp import cli
from ppdp.balancer import Ring, Upstream
from ppdp.durations import parse_duration
from ppdp.listeners import format_addr, split_hostport
from ppdp.logs import Logger


@pytest.mark.parametrize("text,secs", [("0", 0), ("3s", 3), ("300ms", 0.3), ("1m30s", 90), ("1h", 3600),
                                       ("1.5s", 1.5), (".5s", 0.5), ("2us", 2e-6), ("2\u00b5s", 2e-6),
                                       ("10ns", 1e-8), ("1h2m3s4ms", 3723.004), ("-1s", -1)])
def test_go_durations(text, secs):
    assert parse_duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("bad", ["", "5", "1.5", "s", "1d", "1 s", "1s ", "--1s", "1S", "ms"])
def test_bad_durations(bad):
    with pytest.raises(ValueError, match="time: "):
        parse_duration(bad)


@pytest.mark.parametrize("text,want", [("127.0.0.1:3306", ("127.0.0.1", 3306)), ("[::1]:3306", ("::1", 3306)),
                                       ("db.example:5432", ("db.example", 5432)), (":3000", ("", 3000)),
                                       ("3000", ("", 3000))])
def test_split_hostport(text, want):
    assert split_hostport(text) == want


@pytest.mark.parametrize("bad", ["::1:3306", "[::1]3306", "host:", "host:99999", "[::1]", "h:x"])
def test_split_hostport_rejects(bad):
    with pytest.raises(ValueError):
        split_hostport(bad)


def test_format_addr():
    assert format_addr(("::1", 5, 0, 0)) == "[::1]:5" and format_addr(("1.2.3.4", 5)) == "1.2.3.4:5"


def test_ring_is_consistent_when_a_member_goes():
    members = [f"10.0.0.{i}" for i in range(1, 6)]
    ring = Ring(members)
    keys = [f"192.0.2.{i}" for i in range(200)]
    before = {k: ring.get_n(k, 1)[0] for k in keys}
    assert len(set(before.values())) == 5, "every member gets keys"
    smaller = Ring([m for m in members if m != "10.0.0.3"])
    moved = [k for k in keys if before[k] != "10.0.0.3" and smaller.get_n(k, 1)[0] != before[k]]
    assert moved == [], "only the keys of the removed member move"
    assert len(set(ring.get_n("x", 10))) == 5


def test_iphash_uses_the_whole_ipv6_address():
    up = Upstream("u", 1, "iphash", max_connect_retry=1)
    up.set_addresses([f"10.0.0.{i}" for i in range(1, 9)])
    # upstream took the text before the first ':' of the remote address: every IPv6 client of a
    # /16 hashed alike; here distinct addresses spread, and the port does not matter
    picks = {up.candidates((f"2001:db8::{i:x}", 1))[0] for i in range(64)}
    assert len(picks) > 3
    assert up.candidates(("2001:db8::1", 1)) == up.candidates(("2001:db8::1", 2))
    rh = Upstream("u", 1, "remotehash", max_connect_retry=1)
    rh.set_addresses(up.addrs)
    assert len({rh.candidates(("2001:db8::1", p))[0] for p in range(64)}) > 3


def test_leastconn_and_max_fails_reset_by_refresh():
    up = Upstream("u", 1, "leastconn", max_connect_retry=3, max_fails=1, rng=random.Random(1))
    up.set_addresses(["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    assert up.addrs == ["10.0.0.3", "10.0.0.2", "10.0.0.1"]
    up.acquire("10.0.0.3")
    up.acquire("10.0.0.2")
    assert up.candidates(None)[0] == "10.0.0.1"
    up.failed("10.0.0.1")
    assert "10.0.0.1" not in up.candidates(None)
    up.set_addresses(["10.0.0.1", "10.0.0.2", "10.0.0.3"])          # a refresh forgets failures
    assert up.candidates(None)[0] == "10.0.0.1"
    for a in up.addrs:
        up.failed(a)
    assert len(up.candidates(None)) == 3, "all failed: still try them rather than none"


def test_fixed_balancing_hashes_the_upstream_name():
    a = Upstream("db.example", 1, "fixed")
    a.set_addresses([f"10.0.0.{i}" for i in range(1, 9)])
    assert len({a.candidates((f"10.1.0.{i}", i))[0] for i in range(50)}) == 1


@given(st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: ":" not in k and "\t" not in k),
                       st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False))))
def test_log_lines_are_one_line(fields):
    fields = {k: v for k, v in fields.items() if k not in ("level", "ts", "msg")}
    for fmt in ("json", "ltsv"):
        line = Logger(fmt).line("info", "log", **fields)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        if fmt == "json":
            assert json.loads(line)["msg"] == "log"
        else:
            assert len(line.decode().rstrip("\n").split("\t")) == 3 + len(fields)


@pytest.mark.parametrize("argv,msg", [
    ([], "--upstream"),
    (["--upstream", "::1:3306"], "IPv6"),
    (["--upstream", "h:1", "--proxy-connect-timeout", "5"], "missing unit"),
    (["--upstream", "h:1", "--balancing", "roundrobin"], "invalid choice"),
    (["--upstream", "h:1", "--proxy-trusted", "10.0.0.0/33"], "--proxy-trusted"),
    (["--upstream", "h:1", "--dump-tcp", "3"], "invalid choice"),
])
def test_usage_errors(argv, msg, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "ppdp: error:" in err and msg in err


def test_go_style_flags_are_accepted():
    ns = cli.build_parser().parse_args(["-upstream", "h:1", "-proxy-protocol", "-dump-tcp", "2",
                                        "-max-connect-retry=5", "-listen", "[::]:3000"])
    assert (ns.upstream, ns.proxy_protocol, ns.dump_tcp, ns.max_connect_retry, ns.listen) == \
        ("h:1", "required", 2, 5, ["[::]:3000"])


def test_in_process_sigterm_is_a_graceful_stop_and_handlers_come_back(capsysbinary):
    import os
    import signal
    import threading

    from conftest import free_port
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    port = free_port()
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    rc = cli.main(["--upstream", "127.0.0.1:9", "-l", f"127.0.0.1:{port}", "--shutdown-timeout", "1s"])
    assert rc == 0
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    err = capsysbinary.readouterr().err
    assert b'"msg":"listening"' in err and b'"msg":"shutting down"' in err


def test_inherited_listeners_from_the_environment():
    import os
    import socket

    from ppdp import listeners
    a, b = socket.socket(), socket.socket(socket.AF_INET6)
    a.bind(("127.0.0.1", 0))
    b.bind(("::1", 0))
    env = {"SERVER_STARTER_PORT": f"127.0.0.1:{a.getsockname()[1]}={os.dup(a.fileno())};"
                                  f"[::1]:{b.getsockname()[1]}={os.dup(b.fileno())}"}
    got = listeners.inherited(env)
    assert [s.getsockname()[:2] for s in got] == [a.getsockname(), b.getsockname()[:2]]
    assert all(not os.get_inheritable(s.fileno()) and not s.getblocking() for s in got)
    for s in got + [a, b]:
        s.close()
    # LISTEN_FDS for another process (a parent that did not clear it) is not ours
    assert listeners.inherited({"LISTEN_FDS": "1", "LISTEN_PID": "1"}) is None
    assert listeners.inherited({}) is None
