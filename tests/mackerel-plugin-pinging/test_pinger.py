"""The ping sequence with a scripted socket (order of sleeps and pings, failure reasons) and the
real icmplib socket helpers."""
from __future__ import annotations

import icmplib
import pytest
from icmplib.models import ICMPReply
from mackerel_plugin_pinging import pinger


class ScriptedSocket:
    """Stands in for an icmplib socket: each receive() plays the next scripted outcome."""

    def __init__(self, outcomes, events):
        self.outcomes = list(outcomes)
        self.events = events
        self.t_send = self.t_recv = None
        self.sent = []

    def send(self, req):
        self.events.append(("ping", req.sequence))
        out = self.outcomes[0]
        if out == "send_error":
            self.outcomes.pop(0)
            raise icmplib.ICMPSocketError("[Errno 101] Network is unreachable")
        self.sent.append(req)

    def receive(self, req, timeout):
        out = self.outcomes.pop(0)
        if out == "timeout":
            raise icmplib.TimeoutExceeded(timeout)
        if out == "stranger":  # another pinger's echo reply with the same id and sequence
            return ICMPReply(source="198.51.100.9", family=4, id=req.id, sequence=req.sequence,
                             type=0, code=0, bytes_received=64, time=0)
        if out == "unreachable":
            return ICMPReply(source="192.0.2.1", family=4, id=req.id, sequence=req.sequence,
                             type=3, code=1, bytes_received=28, time=0)
        return ICMPReply(source=req.destination, family=4, id=req.id, sequence=req.sequence,
                         type=0, code=0, bytes_received=64, time=0)


def test_sleep_comes_before_every_counted_ping_and_warm_up_is_not_counted():
    events = []
    sock = ScriptedSocket(["timeout", "ok", "ok", "ok"], events)
    res, first = pinger.ping_host(sock, "192.0.2.9", count=3, interval_s=0.01, timeout_s=0.1,
                                  ident=7, sleep=lambda s: events.append(("sleep", s)))
    assert events == [("ping", 0), ("sleep", 0.01), ("ping", 1), ("sleep", 0.01), ("ping", 2),
                      ("sleep", 0.01), ("ping", 3)]
    assert res.success == 3 and res.error == 0 and first is None  # warm-up failure not counted


def test_no_preflight():
    events = []
    sock = ScriptedSocket(["ok"], events)
    res, _ = pinger.ping_host(sock, "192.0.2.9", count=1, interval_s=0, timeout_s=0.1, ident=7,
                              preflight=False, sleep=lambda s: events.append(("sleep", s)))
    assert events == [("ping", 0)] and res.success == 1


def test_failures_are_split_by_reason():
    sock = ScriptedSocket(["ok", "timeout", "unreachable", "send_error", "ok"], [])
    res, first = pinger.ping_host(sock, "192.0.2.9", count=4, interval_s=0, timeout_s=0.1, ident=1)
    assert res.errors == {"timeout": 1, "unreachable": 1, "send_error": 1}
    assert res.success == 1 and res.error == 3
    assert first.startswith("timeout")


def test_classify_icmp_errors():
    reply = ICMPReply(source="192.0.2.1", family=4, id=1, sequence=1, type=3, code=1,
                      bytes_received=28, time=0)
    with pytest.raises(icmplib.DestinationUnreachable) as ei:
        reply.raise_for_status()
    assert pinger.classify(ei.value) == "unreachable"
    reply6 = ICMPReply(source="2001:db8::1", family=6, id=1, sequence=1, type=1, code=0,
                       bytes_received=28, time=0)
    with pytest.raises(icmplib.DestinationUnreachable) as ei:
        reply6.raise_for_status()
    assert pinger.classify(ei.value) == "unreachable"
    assert pinger.classify(icmplib.TimeoutExceeded(1)) == "timeout"
    ttl = ICMPReply(source="192.0.2.1", family=4, id=1, sequence=1, type=11, code=0,
                    bytes_received=28, time=0)
    with pytest.raises(icmplib.TimeExceeded) as ei:
        ttl.raise_for_status()
    assert pinger.classify(ei.value) == "other"


def test_resolve_upstream_family_rule():
    assert pinger.resolve("127.0.0.1") == ("127.0.0.1", 4)
    assert pinger.resolve("::1") == ("::1", 6)
    with pytest.raises(pinger.ResolveError):
        pinger.resolve("::1", 4)
    with pytest.raises(pinger.ResolveError) as ei:
        pinger.resolve("no-such-host.invalid")
    assert "no-such-host.invalid" in str(ei.value)


def test_real_loopback_ping_times_on_the_monotonic_clock():
    try:
        sock = pinger.open_socket(4)
    except pinger.SocketOpenError as e:
        pytest.skip(str(e))
    with sock:
        res, first = pinger.ping_host(sock, "127.0.0.1", count=3, interval_s=0, timeout_s=1,
                                      ident=4242)
        assert res.success == 3, first
        assert all(0 < r < 1000 for r in res.rtts)
        assert sock.t_send is not None and sock.t_recv is not None  # the timing hooks ran
        assert sock.t_recv > sock.t_send


def test_bad_source_address_is_a_clear_error():
    with pytest.raises(pinger.SocketOpenError) as ei:
        pinger.open_socket(4, source="192.0.2.123", mode="privileged")
    assert "192.0.2.123" in str(ei.value) or "permission" in str(ei.value).lower()


def test_an_echo_reply_from_another_host_is_not_ours():
    """Raw sockets see every ICMP reply of the machine: another pinger using the same identifier
    (two plugin processes with consecutive PIDs and several hosts do) must not lend us its RTT."""
    events: list = []
    sock = ScriptedSocket(["stranger", "timeout"], events)
    res, first = pinger.ping_host(sock, "127.0.0.1", count=1, interval_s=0, timeout_s=0.5,
                                  ident=7, preflight=False)
    assert (res.success, res.errors) == (0, {"timeout": 1}), first
    sock = ScriptedSocket(["stranger", "ok"], events)
    res, first = pinger.ping_host(sock, "127.0.0.1", count=1, interval_s=0, timeout_s=0.5,
                                  ident=7, preflight=False)
    assert res.success == 1 and sock.outcomes == []


@pytest.mark.parametrize("source", ["not-an-address", "::1"])
def test_unusable_source_is_named_in_the_message(source):
    """Not "cannot open an ICMP socket: [Errno -2] Name or service not known" (which hid that the
    problem was --source)."""
    with pytest.raises(pinger.SocketOpenError) as ei:
        pinger.open_socket(4, source=source, mode="privileged")
    assert f"source address {source}" in str(ei.value)


def test_icmplib_is_imported_without_asyncio_which_still_works_on_demand():
    import subprocess
    import sys
    code = ("import sys\n"
            "import mackerel_plugin_pinging.pinger as p\n"
            "assert 'asyncio' not in sys.modules, 'asyncio loaded at start-up'\n"
            "assert p.icmplib.sockets.asyncio.TimeoutError is TimeoutError\n"
            "import asyncio\n"
            "assert p.icmplib.sockets.asyncio.get_running_loop is asyncio.get_running_loop\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
