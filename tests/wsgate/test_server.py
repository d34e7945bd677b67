"""wsgate-server and wsgate-client as real processes on loopback: health, auth statuses, the map
and allow lists, the tunnel, logs, dumps, SIGHUP reload, graceful stop, bad start-up files."""
from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest
from conftest import (
    exchange,
    exe,
    free_port,
    http_get,
    make_token,
    pem_private,
    pem_public,
    recv_all,
    wait_for,
    ws_headers,
)


def test_health_and_plain_paths(server, echo):
    p, port = server(f"echo,{echo().addr}\n")
    assert http_get(port, "/") == (200, b"OK\n")
    assert http_get(port, "/live") == (200, b"OK\n")
    assert http_get(port, "/nope")[0] == 404


def test_statuses_before_the_upgrade(server, echo, keys):
    up = echo()
    dead = free_port()
    p, port = server(f"echo,{up.addr}\nbob-only,{up.addr},bob|carol\ndead,127.0.0.1:{dead}\n",
                     keys=[pem_public(keys["rsa"]), pem_public(keys["ec"])])
    good = make_token(keys["rsa"], sub="alice")
    assert http_get(port, "/proxy/echo", ws_headers())[0] == 401
    assert http_get(port, "/proxy/echo", ws_headers(make_token(keys["rsa"], exp_in=-1)))[0] == 401
    assert http_get(port, "/proxy/echo", ws_headers(make_token(keys["rsa"], iat_ago=7200, exp_in=60)))[0] == 401
    assert http_get(port, "/proxy/echo", ws_headers(make_token(keys["rsa2"])))[0] == 401
    assert http_get(port, "/proxy/echo", ws_headers("x" * 7000))[0] == 401
    assert http_get(port, "/proxy/missing", ws_headers(good)) == (404, b"Not found: missing\n")
    assert http_get(port, "/proxy/bob-only", ws_headers(good))[0] == 403
    st, body = http_get(port, "/proxy/dead", ws_headers(good))
    assert st == 502 and body.startswith(b"Could not connect upstream")
    # one log line per refusal, with the reason and never the token, never a traceback
    refused = p.logs(status="Failed")
    assert len(refused) == 8, p.text()
    assert {x["msg"] for x in refused} == {"unauthorized", "not found", "forbidden", "Could not connect upstream"}
    assert good not in p.text() and "Traceback" not in p.text()
    assert {x.get("error") for x in p.logs(msg="unauthorized")} >= {"no bearer token", "expired", "iat too old",
                                                                   "bad signature"}


def test_tunnel_client_to_server_to_echo_and_logs(server, client, echo, keys):
    up = echo()
    p, port = server(f"echo,{up.addr}\nbob,{up.addr},bob\n", keys=[pem_public(keys["ec"])])
    keyf = p.map_path.parent / "client.pem"
    keyf.write_bytes(pem_private(keys["ec"]))
    lp, lp2 = free_port(), free_port()
    c = client({lp: f"http://127.0.0.1:{port}/proxy/echo", lp2: f"http://127.0.0.1:{port}/proxy/bob"},
               "--private-key", keyf, "--private-key-user", "alice", "-H", "X-Forwarded-For: 192.0.2.7")
    data = bytes(range(256)) * 4000
    assert exchange(lp, data) == data
    done = p.wait_log(msg="log", status="Suceeded")
    assert (done["read"], done["write"], done["sub"], done["user-email"]) == (len(data), len(data), "alice", "alice")
    assert done["destination"] == "echo" and done["upstream"] == up.addr
    assert done["x-forwarded-for"] == "192.0.2.7"                      # -H works (upstream rejected it)
    assert done["duration"] > 0 and done["conn-id"] and done["closed-by"] in ("client", "upstream")
    c.wait_log(msg="log", status="Suceeded", sent=len(data), received=len(data))
    # alice is not in bob's allow list: the client's connection is closed, logged with HTTP 403
    assert exchange(lp2, b"hello") == b""
    assert c.wait_log(msg="log", status="Failed")["close-reason"] == "handshake: HTTP 403"


def test_dump_tcp_2_dumps_only_the_bytes_read(server, client, echo):
    up = echo()
    p, port = server(f"echo,{up.addr}\n", "-dump-tcp", "2")
    lp = free_port()
    client({lp: f"ws://127.0.0.1:{port}/proxy/echo"})
    assert exchange(lp, b"ping-me") == b"ping-me"
    p.wait_log(msg="log", status="Suceeded")
    dumps = p.logs(msg="dump")
    assert sorted((d["direction"], d["hex"], d["ascii"]) for d in dumps) == [
        (1, "70 69 6e 67 2d 6d 65", "ping-me"), (2, "70 69 6e 67 2d 6d 65", "ping-me")]


def test_sighup_reloads_without_dropping_and_keeps_a_bad_config(server, client, echo, keys, tmp_path):
    up = echo()
    p, port = server(f"echo,{up.addr}\n", keys=[pem_public(keys["rsa"])])
    tok = make_token(keys["rsa"], exp_in=600)
    lp = free_port()
    client({lp: f"ws://127.0.0.1:{port}/proxy/echo", free_port(): f"ws://127.0.0.1:{port}/proxy/echo2"},
           "-H", f"Authorization: Bearer {tok}")
    s = socket.create_connection(("127.0.0.1", lp), timeout=10)
    s.sendall(b"before ")
    assert s.recv(100) == b"before "
    p.wait_log(msg="log", status="Connected")
    # a new map and a second key: echo2 appears, the open tunnel stays
    p.map_path.write_text(f"echo,{up.addr}\necho2,{up.addr}\n")
    keyfile = next(p.map_path.parent.glob("pub-*-0.pem"))
    keyfile.write_bytes(pem_public(keys["rsa"]) + pem_public(keys["ed"]))
    p.p.send_signal(signal.SIGHUP)
    assert p.wait_log(msg="reloaded")["destinations"] == 2
    ed_tok = make_token(keys["ed"], "EdDSA")
    st, _ = http_get(port, "/proxy/echo2", ws_headers("bad"))
    assert st == 401
    # a broken map: logged with its line number, the old one kept
    p.map_path.write_text(f"echo,{up.addr}\n\nbroken\n")
    p.p.send_signal(signal.SIGHUP)
    err = p.wait_log(msg="reload failed, keeping the old configuration")
    assert err["error"].endswith(":2: blank line (write a comment with # instead)")
    s.sendall(b"after")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"after"
    s.close()
    # echo2 (from the first reload) still works through a real upgrade
    import asyncio

    from websockets.asyncio.client import connect

    async def one():
        async with connect(f"ws://127.0.0.1:{port}/proxy/echo2",
                           additional_headers={"Authorization": f"Bearer {ed_tok}"}) as ws:
            await ws.send(b"via ed25519")
            return await ws.recv()
    assert asyncio.run(one()) == b"via ed25519"


def test_graceful_stop_lets_a_tunnel_finish(server, client, echo):
    up = echo()
    p, port = server(f"echo,{up.addr}\n", "-shutdown_timeout", "5s")
    lp = free_port()
    client({lp: f"ws://127.0.0.1:{port}/proxy/echo"})
    s = socket.create_connection(("127.0.0.1", lp), timeout=10)
    s.sendall(b"one")
    assert s.recv(10) == b"one"
    p.p.send_signal(signal.SIGTERM)
    p.wait_log(msg="shutting down")
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()   # no longer accepting
    s.sendall(b"two")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"two"
    assert p.p.wait(10) == 0
    assert p.logs(msg="log", status="Suceeded")


def test_shutdown_timeout_closes_a_lingering_tunnel(server, client, echo):
    up = echo()
    p, port = server(f"echo,{up.addr}\n", "-shutdown_timeout", "300ms")
    lp = free_port()
    client({lp: f"ws://127.0.0.1:{port}/proxy/echo"})
    s = socket.create_connection(("127.0.0.1", lp), timeout=10)
    s.sendall(b"x")
    assert s.recv(10) == b"x"
    t0 = time.monotonic()
    p.p.send_signal(signal.SIGINT)
    assert p.p.wait(10) == 0 and time.monotonic() - t0 < 8
    assert p.wait_log(msg="log", status="Suceeded")["close-reason"] == "shutdown timeout"
    s.close()


def test_idle_timeout(server, client, echo):
    up = echo()
    p, port = server(f"echo,{up.addr}\n", "-idle-timeout", "400ms")
    lp = free_port()
    client({lp: f"ws://127.0.0.1:{port}/proxy/echo"})
    s = socket.create_connection(("127.0.0.1", lp), timeout=10)
    s.sendall(b"x")
    assert s.recv(10) == b"x"
    assert recv_all(s) == b""            # closed by the server after 400 ms without traffic
    assert p.wait_log(msg="log", status="Suceeded")["close-reason"] == "idle timeout"
    s.close()


@pytest.mark.parametrize("text,line", [("a,127.0.0.1:1\n\n", 2), ("# ok\nnocomma\n", 2), ("a,b\n", 1)])
def test_bad_map_at_start_is_a_clear_error(tmp_path, text, line):
    m = tmp_path / "m"
    m.write_text(text)
    r = subprocess.run([exe("wsgate-server"), "-map", m, "-listen", f"127.0.0.1:{free_port()}"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"Traceback" not in r.stderr
    assert f"{m}:{line}: ".encode() in r.stderr


def test_bad_key_file_and_usage_errors(tmp_path, echo):
    m = tmp_path / "m"
    m.write_text("a,127.0.0.1:1\n")
    k = tmp_path / "k.pem"
    k.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    r = subprocess.run([exe("wsgate-server"), "-map", m, "-public-key", k], capture_output=True, timeout=30)
    assert r.returncode == 1 and b"k.pem" in r.stderr and b"Traceback" not in r.stderr
    r = subprocess.run([exe("wsgate-server")], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"-map is required" in r.stderr
    r = subprocess.run([exe("wsgate-client"), "--map", m, "-H", "nonsense"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"invalid header" in r.stderr
    r = subprocess.run([exe("wsgate-client"), "--map", m, "--private-key", k, "--iap-credential", k],
                       capture_output=True, timeout=30)
    assert r.returncode == 2
    r = subprocess.run([exe("wsgate"), "server", "-map", m, "-public-key", k], capture_output=True, timeout=30)
    assert r.returncode == 1 and b"k.pem" in r.stderr


def test_iap_assertion_required_when_configured(server, echo, keys, tmp_path):
    import json

    import jwt
    up = echo()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys["ec"].public_key()))
    jwk["kid"] = "iap1"
    f = tmp_path / "iap.jwks"
    f.write_text(json.dumps({"keys": [jwk]}))
    aud = "/projects/1/global/backendServices/2"
    p, port = server(f"echo,{up.addr},ops@example.com\n", "-iap-public-keys", f, "-iap-audience", aud)

    def assertion(**kw):
        c = {"iss": "https://cloud.google.com/iap", "aud": aud, "email": "ops@example.com"}
        c.update(kw)
        return make_token(keys["ec"], "ES256", sub="accounts.google.com:1", headers={"kid": "iap1"}, **c)
    assert http_get(port, "/proxy/echo", ws_headers())[0] == 401
    assert http_get(port, "/proxy/echo", ws_headers(**{"x-goog-iap-jwt-assertion": assertion(aud="/x")}))[0] == 401
    assert http_get(port, "/proxy/echo", ws_headers(**{"x-goog-iap-jwt-assertion": assertion(iss="me")}))[0] == 401
    assert http_get(port, "/proxy/echo",
                    ws_headers(**{"x-goog-iap-jwt-assertion": assertion(email="eve@example.com")}))[0] == 403
    import asyncio

    from websockets.asyncio.client import connect

    async def one():
        async with connect(f"ws://127.0.0.1:{port}/proxy/echo",
                           additional_headers={"x-goog-iap-jwt-assertion": assertion()}) as ws:
            await ws.send(b"iap")
            return await ws.recv()
    assert asyncio.run(one()) == b"iap"
    assert p.wait_log(msg="log", status="Connected")["sub"] == "ops@example.com"


def test_oversized_or_malformed_handshake_is_one_log_line(server, echo):
    p, port = server(f"echo,{echo().addr}\n")
    for extra, status in [(b"X-Big: " + b"a" * 9000, b"431"), (b"no-colon-here", None)]:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /proxy/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  + extra + b"\r\n\r\n")
        got = recv_all(s)
        s.close()
        if status:
            assert got.split(b" ")[1] == status
    assert wait_for(lambda: len(p.logs(msg="bad request")) == 2), p.text()
    assert "HeaderLineTooLong" in p.logs(msg="bad request")[0]["error"]
    assert "Traceback" not in p.text()


def test_keepalive_closes_a_peer_that_does_not_answer_pings(server, echo):
    p, port = server(f"echo,{echo().addr}\n", "-ping-interval", "300ms")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /proxy/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    t0 = time.monotonic()
    got = recv_all(s)                   # the 101, a ping, then the close: nobody answered the ping
    s.close()
    assert got.startswith(b"HTTP/1.1 101") and b"\x89" in got
    assert time.monotonic() - t0 < 5
    done = p.wait_log(msg="log", status="Suceeded")
    assert done["close-reason"] == "keepalive timeout", done


def test_ipv6_listeners_and_map(procs, tmp_path, echo):
    from conftest import Proc
    up = echo()
    sp, cp = free_port("::1"), free_port("::1")
    (tmp_path / "s.map").write_text(f"echo,{up.addr}\n")
    (tmp_path / "c.map").write_text(f"[::1]:{cp},http://[::1]:{sp}/proxy/echo\n")
    procs.append(Proc([exe("wsgate-server"), "-map", tmp_path / "s.map", "-listen", f"[::1]:{sp}"],
                      ready=lambda pr: pr.logs(msg="listening")))
    procs.append(Proc([exe("wsgate-client"), "--map", tmp_path / "c.map"], ready=lambda pr: pr.logs(msg="listening")))
    s = socket.create_connection(("::1", cp), timeout=10)
    s.sendall(b"over v6")
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"over v6"
    s.close()
    assert procs[0].wait_log(msg="log", status="Suceeded")["remote-addr"].startswith("[::1]:")
