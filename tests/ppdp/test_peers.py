"""ppdp between real PROXY protocol peers: haproxy (send-proxy, send-proxy-v2 with unique-id and
crc32c) and nginx stream (proxy_protocol on: v1, TCP4 and TCP6) in front of it, haproxy
accept-proxy behind it (--send-proxy). Each peer runs in the foreground with a generated config on
free loopback ports and is stopped by its pid."""
from __future__ import annotations

import os
import signal
import socket

import pytest
from conftest import Proc, connect, free_port, recv_all, require
from ppdp import proxyproto as pp
from support.peers import wait_port


def _haproxy(tmp_path, frontends: str):
    exe = require("haproxy")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "global\n  maxconn 200\n"
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
        + frontends)
    chk = Proc([exe, "-c", "-f", cfg])
    assert chk.p.wait(20) == 0, chk.text()
    return Proc([exe, "-db", "-f", cfg])


@pytest.fixture
def peers():
    procs = []
    yield procs
    for p in procs:
        p.stop(signal.SIGTERM)


def _exchange(port: int, data: bytes, host="127.0.0.1"):
    s = connect(port, host)
    cport = s.getsockname()[1]
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    s.close()
    return cport, got


@pytest.mark.parametrize("server_opts,version", [
    ("send-proxy", 1),
    ("send-proxy-v2 proxy-v2-options unique-id,crc32c", 2),
])
def test_haproxy_sends_to_ppdp(tmp_path, ppdp, echo, peers, server_opts, version):
    up = echo()
    p, pport = ppdp(up.addr, "--proxy-protocol")
    hport = free_port()
    peers.append(_haproxy(tmp_path, (
        f"frontend fe\n  bind 127.0.0.1:{hport}\n  unique-id-format id-%Ts-%pid-%rt\n  default_backend be\n"
        f"backend be\n  server s1 127.0.0.1:{pport} {server_opts}\n")))
    wait_port(hport)
    cport, got = _exchange(hport, b"through haproxy")
    assert got == b"through haproxy"
    done = p.wait_log(msg="log", status="Suceeded", **{"remote-addr": f"127.0.0.1:{cport}"})
    assert done["proxy-version"] == version
    assert done["proxy-dst"] == f"127.0.0.1:{hport}"
    assert done["read"] == len(b"through haproxy")
    if version == 2:
        assert done["proxy-tlvs"]["unique_id"].startswith("id-")
        assert "crc32c" in done["proxy-tlvs"]
    assert all(bytes(r) == b"through haproxy" for r in up.received if r)


@pytest.mark.parametrize("send", ["v1", "v2"])
def test_haproxy_accept_proxy_receives_from_ppdp(tmp_path, ppdp, echo, peers, send):
    # ppdp --send-proxy -> haproxy accept-proxy -> (send-proxy v1) -> echo: the header the echo
    # gets from haproxy carries the client address ppdp sent
    up = echo()
    hport = free_port()
    peers.append(_haproxy(tmp_path, (
        f"frontend fe\n  bind 127.0.0.1:{hport} accept-proxy\n  default_backend be\n"
        f"backend be\n  server s1 {up.addr} send-proxy\n")))
    wait_port(hport)
    p, pport = ppdp(f"127.0.0.1:{hport}", "--send-proxy", send)
    cport, got = _exchange(pport, b"to haproxy")
    h = pp.parse(got)                          # the echo returns haproxy's header and the data
    assert isinstance(h, pp.Header) and got[h.length:] == b"to haproxy", got
    assert h.src == ("127.0.0.1", cport) and h.dst == ("127.0.0.1", pport)
    assert p.wait_log(msg="log", status="Suceeded")["read"] == len(b"to haproxy")


def test_nginx_stream_proxy_protocol_v1_tcp4_and_tcp6(tmp_path, ppdp, echo, peers):
    exe = require("nginx")
    mod = "/usr/lib/nginx/modules/ngx_stream_module.so"
    if not os.path.exists(mod):
        if os.environ.get("CI"):
            pytest.fail("libnginx-mod-stream is not installed")
        pytest.skip("libnginx-mod-stream is not installed")
    up = echo()
    p, pport = ppdp(up.addr, "--proxy-protocol")
    p4, p6 = free_port(), free_port("::1")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"load_module {mod};\n"
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr info;\n"
        "events { worker_connections 64; }\n"
        "stream {\n"
        f"  server {{ listen 127.0.0.1:{p4}; listen [::1]:{p6}; proxy_pass 127.0.0.1:{pport}; proxy_protocol on;"
        " proxy_half_close on; }\n"
        "}\n")
    (tmp_path / "logs").mkdir()
    peers.append(Proc([exe, "-p", tmp_path, "-c", conf, "-e", "stderr"]))
    wait_port(p4)
    wait_port(p6, "::1")
    cport4, got = _exchange(p4, b"via nginx 4")
    assert got == b"via nginx 4", p.text() + peers[-1].text()
    d4 = p.wait_log(msg="log", status="Suceeded", **{"remote-addr": f"127.0.0.1:{cport4}"})
    assert d4["proxy-version"] == 1 and d4["proxy-dst"] == f"127.0.0.1:{p4}"
    cport6, got = _exchange(p6, b"via nginx 6", "::1")
    assert got == b"via nginx 6"
    d6 = p.wait_log(msg="log", status="Suceeded", **{"remote-addr": f"[::1]:{cport6}"})
    assert d6["proxy-dst"] == f"[::1]:{p6}"
