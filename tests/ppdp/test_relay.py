"""ppdp as a process between a loopback client and a loopback echo upstream: bytes, logs, half-close,
PROXY modes, balancing over IPv6, signals, inherited listeners, back-pressure."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import (
    Proc,
    connect,
    free_port,
    ppdp_bin,
    read_until_closed,
    recv_all,
    recv_exact,
    wait_for,
)
from ppdp import proxyproto as pp


def test_relay_bytes_and_logs(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr)
    s = connect(port)
    cport = s.getsockname()[1]
    payload = os.urandom(300_000)
    threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)), daemon=True).start()
    assert recv_all(s) == payload
    s.close()
    done = p.wait_log(msg="log", status="Suceeded")
    connected = p.logs(msg="log", status="Connected")[0]
    assert done["read"] == len(payload) and done["write"] == len(payload)
    assert done["upstream"] == up.addr
    assert done["remote-addr"] == connected["remote-addr"] == f"127.0.0.1:{cport}"
    assert done["listener"] == f"127.0.0.1:{port}"
    assert done["conn-id"] == connected["conn-id"]
    assert done["close-reason"] == "eof" and done["closed-by"] == "client"
    assert done["duration"] >= 0 and done["connect-latency"] >= 0 and "start" in done
    assert done["level"] == "info" and isinstance(done["ts"], float)


def test_copy_path_counts_the_same(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--no-splice")
    s = connect(port)
    s.sendall(b"x" * 70_000)
    s.shutdown(socket.SHUT_WR)
    assert len(recv_all(s)) == 70_000
    done = p.wait_log(msg="log", status="Suceeded")
    assert (done["read"], done["write"]) == (70_000, 70_000)


def test_half_close_is_propagated(ppdp, echo):
    # the client stops sending; the upstream sees EOF and still answers; the client reads the
    # answer on the half-open connection (ppdp must not close both sides at the first EOF)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    answer = {}

    def upstream():
        c, _ = srv.accept()
        data = recv_all(c)                       # until the client's EOF arrives through ppdp
        time.sleep(0.2)
        c.sendall(b"after-eof:" + data)
        c.close()
        answer["got"] = data

    threading.Thread(target=upstream, daemon=True).start()
    p, port = ppdp(f"127.0.0.1:{srv.getsockname()[1]}")
    s = connect(port)
    s.sendall(b"question")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"after-eof:question"
    assert answer["got"] == b"question"
    done = p.wait_log(msg="log", status="Suceeded")
    assert done["closed-by"] == "client" and done["close-reason"] == "eof"
    srv.close()


def test_ipv6_listener_and_upstream(ppdp, echo):
    up = echo("::1")
    port = free_port("::1")
    p, _ = ppdp(f"[::1]:{up.port}", listen=f"[::1]:{port}", )
    s = connect(port, "::1")
    s.sendall(b"hello6")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"hello6"
    done = p.wait_log(msg="log", status="Suceeded")
    assert done["upstream"] == f"[::1]:{up.port}" and done["remote-addr"].startswith("[::1]:")


def test_unreachable_upstream_is_failed_and_logged(ppdp):
    dead = free_port()
    p, port = ppdp(f"127.0.0.1:{dead}", "--proxy-connect-timeout", "1s")
    s = connect(port)
    assert recv_all(s) == b""
    done = p.wait_log(msg="log", status="Failed")
    assert done["close-reason"] == "upstream unreachable" and done["read"] == 0
    assert p.logs(msg="Failed to connect backend") and p.logs(msg="Giveup to connect backends")


# -- PROXY protocol ---------------------------------------------------------------------------
def test_required_proxy_v1_remote_addr_is_the_header_source(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--proxy-protocol")
    s = connect(port)
    s.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.1 40000 3306\r\nping")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"ping"
    assert bytes(up.received[0]) == b"ping", "the header is not passed to the upstream"
    done = p.wait_log(msg="log", status="Suceeded")
    assert done["remote-addr"] == "203.0.113.7:40000" and done["proxy-dst"] == "198.51.100.1:3306"
    assert done["proxy-version"] == 1 and done["read"] == 4


def test_required_proxy_v2_header_in_pieces_with_tlvs(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--proxy-protocol=required")
    hdr = pp.encode_v2(("2001:db8::7", 1234), ("2001:db8::1", 443), [(pp.PP2_TYPE_UNIQUE_ID, b"req-1")], crc=True)
    s = connect(port)
    for i in range(0, len(hdr), 7):            # dribbled: the relay must wait for the whole header
        s.sendall(hdr[i:i + 7])
        time.sleep(0.01)
    s.sendall(b"data")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"data"
    done = p.wait_log(msg="log", status="Suceeded")
    assert done["remote-addr"] == "[2001:db8::7]:1234"
    assert done["proxy-tlvs"]["unique_id"] == "req-1"
    assert bytes(up.received[0]) == b"data"


@pytest.mark.parametrize("first", [b"GET / HTTP/1.0\r\n\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
                                   pp.encode_v2(("1.2.3.4", 1), ("5.6.7.8", 2), crc=True)[:-1] + b"\x00"])
def test_required_proxy_rejects_a_connection_without_a_valid_header(ppdp, echo, first):
    up = echo()
    p, port = ppdp(up.addr, "--proxy-protocol")
    s = connect(port)
    s.sendall(first)
    assert read_until_closed(s) == b""
    warn = p.wait_log(msg="invalid PROXY header")
    assert warn["level"] == "warn" and warn["remote-addr"].startswith("127.0.0.1:")
    done = p.wait_log(msg="log", status="Failed")
    assert done["close-reason"].startswith("proxy header:")
    assert up.received == [], "nothing reached the upstream"


def test_header_timeout_closes_a_silent_client(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--proxy-protocol", "--proxy-header-timeout", "300ms")
    s = connect(port)
    s.sendall(b"PROXY TCP4 1.2.3.4")            # and nothing more
    t0 = time.monotonic()
    assert read_until_closed(s) == b""
    assert time.monotonic() - t0 < 3
    assert "timeout" in p.wait_log(msg="log", status="Failed")["close-reason"]


def test_optional_mode_passes_plain_connections_through(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--proxy-protocol=optional")
    s = connect(port)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"GET / HTTP/1.0\r\n\r\n"
    s = connect(port)
    s.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\nx")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"x"
    assert wait_for(lambda: len(p.logs(msg="log", status="Suceeded")) == 2)
    assert {d["remote-addr"] for d in p.logs(msg="log", status="Suceeded")} >= {"192.0.2.1:1"}


def test_untrusted_sender_is_refused(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--proxy-protocol", "--proxy-trusted", "10.0.0.0/8",
                   "--proxy-trusted", "::1/128")
    s = connect(port)
    s.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")
    assert read_until_closed(s) == b""
    assert "untrusted" in p.wait_log(msg="log", status="Failed")["close-reason"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_to_the_upstream(ppdp, echo, version):
    up = echo()
    p, port = ppdp(up.addr, "--send-proxy", version)
    s = connect(port)
    s.sendall(b"body")
    s.shutdown(socket.SHUT_WR)
    recv_all(s)
    wait_for(lambda: up.received and up.eof_seen[0])
    got = bytes(up.received[0])
    h = pp.parse(got)
    assert isinstance(h, pp.Header) and h.version == int(version[1])
    assert h.src == ("127.0.0.1", s.getsockname()[1]) and h.dst == ("127.0.0.1", port)
    assert got[h.length:] == b"body"


# -- balancing and resolution -------------------------------------------------------------------
def test_localhost_name_resolves_and_iphash_is_stable(ppdp, echo):
    up = echo()
    p, port = ppdp(f"localhost:{up.port}", "--balancing", "iphash", "--refresh-interval", "200ms")
    for _ in range(3):
        s = connect(port)
        s.sendall(b"a")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"a"
    assert wait_for(lambda: len(p.logs(msg="log", status="Suceeded")) == 3)
    assert len({d["upstream"] for d in p.logs(msg="log", status="Suceeded")}) == 1


# -- timeouts, signals ------------------------------------------------------------------------
def test_idle_timeout(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--idle-timeout", "400ms")
    s = connect(port)
    s.sendall(b"x")
    assert recv_exact(s, 1) == b"x"
    t0 = time.monotonic()
    assert recv_all(s) == b""
    assert 0.3 < time.monotonic() - t0 < 5
    assert p.wait_log(msg="log", status="Suceeded")["close-reason"] == "idle timeout"


def test_sigterm_lets_open_connections_finish_then_exits_0(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--shutdown-timeout", "5s")
    s = connect(port)
    s.sendall(b"before")
    assert recv_exact(s, 6) == b"before"
    os.kill(p.pid, signal.SIGTERM)
    p.wait_log(msg="shutting down")
    # no new connections ...
    with pytest.raises(OSError):
        connect(port, timeout=1).sendall(b"x")
    # ... while the open one still works
    s.sendall(b"after")
    assert recv_exact(s, 5) == b"after"
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b""
    assert p.p.wait(10) == 0
    assert p.logs(msg="log", status="Suceeded")[0]["read"] == 11


def test_sigint_closes_what_is_left_at_the_shutdown_timeout(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--shutdown-timeout", "300ms")
    s = connect(port)
    s.sendall(b"x")
    assert recv_exact(s, 1) == b"x"
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGINT)
    assert p.p.wait(10) == 0
    assert time.monotonic() - t0 < 5
    assert recv_all(s) == b""
    assert p.wait_log(msg="log", status="Suceeded")["close-reason"] == "shutdown timeout"


def test_sighup_re_resolves_and_keeps_serving(ppdp, echo):
    up = echo()
    p, port = ppdp(f"localhost:{up.port}", "--refresh-interval", "1h")
    os.kill(p.pid, signal.SIGHUP)              # the default action would end the process
    time.sleep(0.3)
    assert p.p.poll() is None
    s = connect(port)
    s.sendall(b"h")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"h"


def test_kill_9_leaves_no_orphan_and_frees_the_clients(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr)
    s = connect(port)
    s.sendall(b"x")
    assert recv_exact(s, 1) == b"x"
    os.kill(p.pid, signal.SIGKILL)
    p.p.wait(5)
    assert recv_all(s) == b""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True, text=True).stdout
    assert out.strip() == ""


def test_upstream_that_never_reads_does_not_grow_memory(ppdp, echo):
    up = echo(reader=False)
    p, port = ppdp(up.addr)
    s = connect(port)
    s.setblocking(False)
    sent, chunk = 0, b"z" * 65536
    deadline = time.monotonic() + 3
    stalled_since = None
    while time.monotonic() < deadline and sent < 200_000_000:      # bounded in bytes and time
        try:
            sent += s.send(chunk)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.5:
                break
            time.sleep(0.01)
    rss_kb = int(next(line.split()[1] for line in open(f"/proc/{p.pid}/status") if line.startswith("VmRSS")))
    assert sent < 100_000_000, "the client could push without limit: no back-pressure"
    assert rss_kb < 80_000, rss_kb
    s.close()


# -- listeners --------------------------------------------------------------------------------
def _listening_socket():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    return ls


def test_systemd_socket_activation(echo):
    up = echo()
    ls = _listening_socket()
    port = ls.getsockname()[1]
    # LISTEN_PID must be the pid of ppdp and the socket fd 3: a launcher sets both, then execs
    fd = ls.fileno()
    launch = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
              "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); os.execv(sys.argv[2], sys.argv[2:])")
    p = Proc([sys.executable, "-c", launch, fd, ppdp_bin(), "--upstream", up.addr, "-l", "127.0.0.1:1"],
             pass_fds=(fd,), ready=lambda pr: pr.logs(msg="listening"))
    try:
        assert p.logs(msg="listening")[0]["listener"] == f"127.0.0.1:{port}"
        ls.close()
        s = connect(port)
        s.sendall(b"sd")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"sd"
    finally:
        assert p.stop() == 0


def test_server_starter_port(echo):
    up = echo()
    ls = _listening_socket()
    port = ls.getsockname()[1]
    p = Proc([ppdp_bin(), "--upstream", up.addr], env={"SERVER_STARTER_PORT": f"127.0.0.1:{port}={ls.fileno()}"},
             pass_fds=(ls.fileno(),), ready=lambda pr: pr.logs(msg="listening"))
    try:
        ls.close()
        s = connect(port)
        s.sendall(b"ss")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"ss"
    finally:
        assert p.stop() == 0


def test_ltsv_logs(ppdp, echo):
    up = echo()
    p, port = ppdp(up.addr, "--log-format", "ltsv", ready=False)
    assert wait_for(lambda: any("msg:listening" in x for x in p.lines if isinstance(x, str)))
    s = connect(port)
    s.sendall(b"q")
    s.shutdown(socket.SHUT_WR)
    recv_all(s)
    line = wait_for(lambda: [x for x in p.lines if isinstance(x, str) and "status:Suceeded" in x])
    rec = dict(f.split(":", 1) for f in line[0].rstrip("\n").split("\t"))
    assert rec["msg"] == "log" and rec["read"] == "1" and rec["write"] == "1"


def test_cannot_listen_is_exit_1(echo):
    busy = _listening_socket()
    r = subprocess.run([ppdp_bin(), "--upstream", "127.0.0.1:1", "-l", f"127.0.0.1:{busy.getsockname()[1]}"],
                       capture_output=True, timeout=20)
    assert r.returncode == 1 and b"cannot listen" in r.stderr and b"Traceback" not in r.stderr
    busy.close()
