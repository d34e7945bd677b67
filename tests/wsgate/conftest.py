"""Helpers of the wsgate tests: keys and tokens made at test time, a loopback echo upstream,
wsgate-server / wsgate-client / websocat started as real processes in the foreground on free
loopback ports (stderr lines collected, JSON decoded), stopped by pid (free_port, wait_port, Proc
and the `procs` fixture: tests/support/peers.py, tests/conftest.py)."""
from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import sys
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from support import peers
from support.jwt_tokens import make_token, pem_private, pem_public  # noqa: F401 (the tests import them from here)
from support.peers import free_port, wait_for, wait_port  # noqa: F401 (the tests import them from here)

BIN = pathlib.Path(sys.executable).parent


def exe(name: str) -> str:
    p = BIN / name
    return str(p) if p.exists() else (shutil.which(name) or name)


def require(name: str) -> str:
    return peers.require(name, BIN)


# -- keys and tokens ---------------------------------------------------------------------------
def new_key(kind: str = "rsa"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


_KEYS: dict = {}


@pytest.fixture(scope="session")
def keys():
    """One RSA, one EC P-256 and one Ed25519 private key for the session (RSA generation is slow)."""
    if not _KEYS:
        for k in ("rsa", "rsa2", "ec", "ed"):
            _KEYS[k] = new_key(k.rstrip("2"))
    return _KEYS


# -- processes ---------------------------------------------------------------------------------
class Proc(peers.Proc):
    """support.peers.Proc whose stdout is kept as bytes in `out` (wsgate-client -stdio, websocat)."""

    def __init__(self, argv, env=None, ready=None, timeout=15.0, stdin=subprocess.DEVNULL):
        super().__init__(argv, env=env, ready=ready, timeout=timeout, stdin=stdin, raw_stdout=True)


@pytest.fixture
def server(procs, tmp_path):
    """server(map_text, *args, keys=[pem bytes ...]) -> (Proc, port)."""
    def start(map_text: str, *args, keys=(), ready=True):
        m = tmp_path / f"server-{len(procs)}.map"
        m.write_text(map_text)
        argv = [exe("wsgate-server"), "-map", m]
        for i, k in enumerate(keys):
            f = tmp_path / f"pub-{len(procs)}-{i}.pem"
            f.write_bytes(k)
            argv += ["-public-key", f]
        port = free_port()
        argv += ["-listen", f"127.0.0.1:{port}", *args]
        p = Proc(argv, ready=(lambda pr: pr.logs(msg="listening")) if ready else None)
        procs.append(p)
        p.map_path = m
        return p, port
    return start


@pytest.fixture
def client(procs, tmp_path):
    """client({local_port: url}, *args) -> Proc (listening)."""
    def start(tunnels: dict, *args):
        m = tmp_path / f"client-{len(procs)}.map"
        m.write_text("".join(f"127.0.0.1:{lp},{url}\n" for lp, url in tunnels.items()))
        p = Proc([exe("wsgate-client"), "--map", m, *args],
                 ready=lambda pr: len(pr.logs(msg="listening")) == len(tunnels))
        procs.append(p)
        return p
    return start


class EchoServer(peers.LoopbackServer):
    """A threaded loopback TCP upstream: echoes (or only counts) what it reads; after the peer's
    EOF it shuts its side down and closes."""

    def __init__(self, sink: bool = False):
        super().__init__("127.0.0.1")
        self.addr = f"127.0.0.1:{self.port}"
        self.sink = sink
        self.received: list[bytearray] = []
        self.start()

    def accepted(self, c):
        buf = bytearray()
        self.received.append(buf)
        threading.Thread(target=self._serve, args=(c, buf), daemon=True).start()

    def _serve(self, c, buf):
        try:
            while True:
                b = c.recv(262144)
                if not b:
                    break
                buf += b
                if not self.sink:
                    c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()


@pytest.fixture
def echo():
    made = []

    def make(**kw):
        s = EchoServer(**kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def recv_all(s: socket.socket, timeout: float = 10.0) -> bytes:
    s.settimeout(timeout)
    buf = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(buf)
        buf += b


def exchange(port: int, data: bytes) -> bytes:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    s.close()
    return got


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    """A plain HTTP/1.1 GET (with WebSocket upgrade headers when asked), the status and body."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def ws_headers(token: str | None = None, **extra) -> dict:
    h = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
         "Sec-WebSocket-Version": "13"}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    h.update(extra)
    return h
