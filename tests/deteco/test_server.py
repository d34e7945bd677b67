"""deteco as a real process: behind a real nginx (auth_request, auth_request_set of X-Deteco-User
to a real proxy_pass backend) and directly; --dry-run, `deteco token`, SIGHUP, graceful stop."""
from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import Proc, exe, free_port, get, make_token, pem_private, require, wait_port


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("X-Deteco-User")))
        body = b"backend\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def backend():
    hs = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    hs.seen = []
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    yield hs
    hs.shutdown()
    hs.server_close()


def nginx(tmp_path, procs, deteco_port, backend_port, keepalive=False) -> int:
    exe_ = require("nginx")
    port = free_port()
    for d in ("logs", "tmp"):
        (tmp_path / d).mkdir(exist_ok=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n  access_log off;\n"
        + (f"  upstream deteco {{ server 127.0.0.1:{deteco_port}; keepalive 4; }}\n" if keepalive else "") +
        f"  client_body_temp_path {tmp_path}/tmp; proxy_temp_path {tmp_path}/tmp;\n"
        f"  fastcgi_temp_path {tmp_path}/tmp; uwsgi_temp_path {tmp_path}/tmp; scgi_temp_path {tmp_path}/tmp;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n"
        "    location / {\n      auth_request /_auth;\n"
        "      auth_request_set $deteco_user $upstream_http_x_deteco_user;\n"
        "      proxy_set_header X-Deteco-User $deteco_user;\n"
        f"      proxy_pass http://127.0.0.1:{backend_port};\n    }}\n"
        "    location = /_auth {\n      internal;\n"
        + ("      proxy_pass http://deteco/auth; proxy_http_version 1.1; proxy_set_header Connection \"\";\n"
           if keepalive else f"      proxy_pass http://127.0.0.1:{deteco_port}/auth;\n") +
        "      proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n"
        "      proxy_set_header X-Original-URI $request_uri;\n    }\n  }\n}\n")
    procs.append(Proc([exe_, "-p", tmp_path, "-c", conf, "-e", "stderr"]))
    wait_port(port)
    return port


def raw_get(port, path, token=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest("GET", path, skip_accept_encoding=True)
    if token:
        c.putheader("Authorization", f"Bearer {token}")
    c.endheaders()
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def test_behind_nginx(deteco, procs, backend, keys, tmp_path):
    d, dport, _ = deteco("--jwt-freshness", "2s")
    nport = nginx(tmp_path, procs, dport, backend.server_address[1])
    tok = make_token(keys["rsa"], exp_in=600)
    assert raw_get(nport, "/allowed/page?x=1", tok) == 200
    assert backend.seen[-1] == ("/allowed/page?x=1", "svc-a")          # the user header reached the backend
    assert raw_get(nport, "/allowed/page") == 401
    assert raw_get(nport, "/allowed/page", make_token(keys["rsa"], exp_in=-5)) == 401
    assert raw_get(nport, "/secret/", tok) == 403
    n = len(backend.seen)
    # the traversal bypasses of upstream (which answered 200): 403, the backend never asked
    for bypass in ["/allowed/../secret", "/allowed/%2e%2e/secret", "/allowed/%2E%2E/secret",
                   "/allowed/..%2fsecret", "//allowed/../secret"]:
        assert raw_get(nport, bypass, tok) == 403, bypass
    assert len(backend.seen) == n
    # a cached token is refused once its iat leaves the freshness window
    fresh = make_token(keys["rsa"], exp_in=600)
    assert raw_get(nport, "/also/1", fresh) == 200
    assert raw_get(nport, "/also/2", fresh) == 200
    assert d.wait_log(msg="Authorized", path="/also/2/")["cache"] is True
    time.sleep(2.2)
    assert raw_get(nport, "/also/3", fresh) == 401
    assert d.wait_log(msg="Unauthorized", reason="iat too old")
    assert tok not in d.text() and "Traceback" not in d.text()


def test_direct_statuses_and_bad_requests(deteco, keys):
    d, port, _ = deteco()
    assert get(port, "/")[:2] == (200, b"OK\n") and get(port, "/live")[:2] == (200, b"OK\n")
    tok = make_token(keys["rsa"])
    st, body, h = get(port, "/auth", {"Authorization": f"Bearer {tok}", "X-Original-URI": "/allowed"})
    assert (st, body, h["x-deteco-user"], h["content-length"]) == (200, b"OK\n", "svc-a", "3")   # upstream's bodies
    assert get(port, "/auth", {"Authorization": "Bearer " + "A" * 10000, "X-Original-URI": "/allowed"})[0] == 401
    none_tok = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdmMtYSIsImV4cCI6OTk5OTk5OTk5OSwiaWF0IjoxfQ."
    assert get(port, "/auth", {"Authorization": f"Bearer {none_tok}", "X-Original-URI": "/allowed"})[0] == 401
    assert d.wait_log(msg="Unauthorized", reason="algorithm 'none' not allowed")
    # a header block over 16 KiB: 431 and one log line, the server goes on
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /auth HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 431")
    s.close()
    # keep-alive: two requests on one connection
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(2):
        c.request("GET", "/auth", headers={"Authorization": f"Bearer {tok}", "X-Original-URI": "/nope"})
        r = c.getresponse()
        assert r.status == 403 and r.read() == b"Forbidden\n"
    c.close()
    # HTTP/1.0 keep-alive (ab -k, nginx without proxy_http_version 1.1 keep-alive): the answer says so
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    req = (f"GET /auth HTTP/1.0\r\nConnection: Keep-Alive\r\nAuthorization: Bearer {tok}\r\n"
           "X-Original-URI: /allowed\r\n\r\n").encode()
    for _ in range(2):
        s.sendall(req)
        data = b""
        while not data.endswith(b"\r\n\r\nOK\n"):
            data += s.recv(4096)
        head = data.split(b"\r\n\r\n")[0]
        assert b"Connection: keep-alive" in head and b"X-Deteco-User: svc-a" in head
    s.close()
    assert "Traceback" not in d.text()


def test_sighup_reload_and_graceful_stop(deteco, keys):
    d, port, conf = deteco()
    tok = make_token(keys["rsa"])
    h = {"Authorization": f"Bearer {tok}", "X-Original-URI": "/new/x"}
    assert get(port, "/auth", h)[0] == 403
    conf.write_text(conf.read_text().replace('"/also/"', '"/new"'))
    d.p.send_signal(signal.SIGHUP)
    d.wait_log(msg="reloaded")
    assert get(port, "/auth", h)[0] == 200
    conf.write_text("[[services]]\nid = ''\n")
    d.p.send_signal(signal.SIGHUP)
    assert "empty id" in d.wait_log(msg="reload failed, keeping the old configuration")["error"]
    assert get(port, "/auth", h)[0] == 200
    d.p.send_signal(signal.SIGTERM)
    assert d.p.wait(10) == 0


def test_dry_run_and_load_errors(tmp_path, keys):
    from conftest import toml_conf
    c = tmp_path / "c.toml"
    c.write_text(toml_conf(keys))
    r = subprocess.run([exe(), "--conf", c, "--dry-run"], capture_output=True, timeout=30)
    assert r.returncode == 0 and b'"configuration ok"' in r.stderr and b'"services":2' in r.stderr
    c.write_text(toml_conf(keys).replace('"/allowed"', '"/allowed/../x"'))
    r = subprocess.run([exe(), "--conf", c, "--dry-run"], capture_output=True, timeout=30)
    assert r.returncode == 1 and b"dot segment" in r.stderr and b"Traceback" not in r.stderr
    r = subprocess.run([exe(), "--conf", tmp_path / "missing.toml"], capture_output=True, timeout=30)
    assert r.returncode == 1 and b"missing.toml" in r.stderr
    r = subprocess.run([exe()], capture_output=True, timeout=30)
    assert r.returncode == 2


@pytest.mark.parametrize("kind,alg", [("rsa", "RS256"), ("ec", "ES256")])
def test_token_tool(tmp_path, keys, kind, alg):
    import jwt
    k = tmp_path / "k.pem"
    k.write_bytes(pem_private(keys[kind]))
    r = subprocess.run([exe(), "token", "--key", k, "--sub", "svc-a", "--ttl", "5m"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    tok = r.stdout.decode().strip()
    assert jwt.get_unverified_header(tok)["alg"] == alg
    c = jwt.decode(tok, keys[kind].public_key(), algorithms=[alg])
    assert c["sub"] == "svc-a" and c["exp"] - c["iat"] == 300
    r = subprocess.run([exe(), "token", "--key", tmp_path / "nope.pem", "--sub", "x"], capture_output=True, timeout=30)
    assert r.returncode == 1 and b"nope.pem" in r.stderr


def _read_answers(s, n, timeout=5.0, no_body=()):
    """n HTTP answers (Content-Length framed; those whose index is in no_body answer a HEAD) read
    from socket s -> [(status line, headers text, body)], the bytes read past them."""
    s.settimeout(timeout)
    data, out = b"", []
    while len(out) < n:
        i = data.find(b"\r\n\r\n")
        if i >= 0:
            head = data[:i].decode()
            length = int([h for h in head.split("\r\n") if h.lower().startswith("content-length:")][0].split(":")[1])
            length = 0 if len(out) in no_body else length
            if len(data) >= i + 4 + length:
                out.append((head.split("\r\n")[0], head, data[i + 4:i + 4 + length]))
                data = data[i + 4 + length:]
                continue
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return out, data


def test_http_framing_pipelining_and_malformed(deteco, keys):
    d, port, _ = deteco()
    tok = make_token(keys["rsa"])
    ok = f"GET /auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nX-Original-URI: /allowed/p\r\n\r\n".encode()
    no = b"GET /auth HTTP/1.1\r\nHost: x\r\nX-Original-URI: /allowed/p\r\n\r\n"
    # pipelined in one write, a body framed by Content-Length in between: answered in order
    body_req = (f"POST /auth HTTP/1.1\r\nAuthorization: Bearer {tok}\r\nX-Original-URI: /secret\r\n"
                "Content-Length: 5\r\n\r\nGET /").encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(ok + no + body_req + b"HEAD /live HTTP/1.1\r\n\r\n" + ok)
    got, rest = _read_answers(s, 5, no_body={3})
    assert [g[0] for g in got] == ["HTTP/1.1 200 OK", "HTTP/1.1 401 Unauthorized", "HTTP/1.1 403 Forbidden",
                                   "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]
    assert "X-Deteco-User: svc-a" in got[0][1] and got[4][2] == b"OK\n" and "X-Deteco-User" in got[4][1]
    # the HEAD answer carried no body: what follows it is the last answer, whole
    assert rest == b"" and got[3][2] == b""
    # one request sent a byte at a time
    for b in ok:
        s.send(bytes([b]))
    got, _ = _read_answers(s, 1)
    assert got[0][0] == "HTTP/1.1 200 OK"
    # Connection: close is honoured
    s.sendall(ok.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
    got, rest = _read_answers(s, 1)
    assert "Connection: close" in got[0][1] and s.recv(10) == b""
    s.close()
    for bad in [b"GET /auth\r\n\r\n", b"GET /auth HTTP/2.0\r\n\r\n", b"GET /auth HTTP/1.1\r\nX-A : b\r\n\r\n",
                b"GET /auth HTTP/1.1\r\n folded\r\n\r\n", b"GET /auth HTTP/1.1\r\nNoColon\r\n\r\n",
                b"POST /auth HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                b"POST /auth HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                b"POST /auth HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"]:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(bad + ok)
        got, rest = _read_answers(s, 2)
        assert [g[0] for g in got] == ["HTTP/1.1 400 Bad Request"], bad     # nothing after it is answered
        assert "Connection: close" in got[0][1] and rest == b""
        s.close()
    assert d.wait_log(msg="Bad Request", reason="Transfer-Encoding not supported")
    assert "Traceback" not in d.text()


def test_idle_timeout_closes_slow_and_idle_connections(deteco, keys):
    d, port, _ = deteco("--idle-timeout", "1s")
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    slow.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n")                   # never finished
    t0 = time.monotonic()
    assert idle.recv(10) == b"" and slow.recv(10) == b""
    assert 0.9 <= time.monotonic() - t0 < 4
    # a connection in use stays open across requests spaced under the timeout
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(3):
        c.request("GET", "/live")
        assert c.getresponse().read() == b"OK\n"
        time.sleep(0.4)
    c.close()


def test_graceful_stop_lets_a_request_being_received_finish(deteco, keys):
    d, port, _ = deteco()
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    busy = socket.create_connection(("127.0.0.1", port), timeout=5)
    busy.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    d.p.send_signal(signal.SIGTERM)
    assert idle.recv(10) == b""                                          # idle keep-alive: closed at once
    d.wait_log(msg="shutting down")
    busy.sendall(b"\r\n")
    got, _ = _read_answers(busy, 1)
    assert got[0][0] == "HTTP/1.1 200 OK" and "Connection: close" in got[0][1]
    assert d.p.wait(10) == 0


@pytest.mark.parametrize("auth_body", [False, True])
def test_nginx_keeps_the_upstream_connection(deteco, procs, backend, keys, tmp_path, auth_body):
    """nginx drops an upstream connection after an auth_request answer with a body: with
    --empty-auth-body its `keepalive` works (one connection for sequential requests); with
    upstream's text bodies (the default) every request is a new connection."""
    d, dport, _ = deteco(*([] if auth_body else ["--empty-auth-body"]))
    nport = nginx(tmp_path, procs, dport, backend.server_address[1], keepalive=True)
    tok = make_token(keys["rsa"], exp_in=600)
    for i in range(20):
        assert raw_get(nport, f"/allowed/{i}", tok) == 200
    assert raw_get(nport, "/secret/", tok) == 403 and raw_get(nport, "/allowed/", "bad") == 401
    assert raw_get(nport, "/allowed/x", tok) == 200
    d.wait_log(msg="Authorized", path="/allowed/x/")
    peers = {r["remote-addr"] for r in d.logs() if r.get("msg") in ("Authorized", "Forbidden", "Unauthorized")}
    assert len(peers) == (23 if auth_body else 1)
    if auth_body:
        st, body, _ = get(dport, "/auth", {"Authorization": f"Bearer {tok}", "X-Original-URI": "/nope"})
        assert (st, body) == (403, b"Forbidden\n")
