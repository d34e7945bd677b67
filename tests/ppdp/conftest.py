"""Helpers of the ppdp tests: a loopback echo upstream that records what it received, ppdp (and
haproxy, nginx) started as real processes in the foreground on free loopback ports, their log lines,
and stopping them by pid (free_port, wait_for, require, Proc: tests/support/peers.py)."""
from __future__ import annotations

import pathlib
import signal
import socket
import sys
import threading

import pytest
from support import peers
from support.peers import free_port, require, wait_for  # noqa: F401 (the tests import them from here)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def ppdp_bin() -> str:
    p = pathlib.Path(sys.executable).parent / "ppdp"
    return str(p) if p.exists() else "ppdp"


class EchoServer(peers.LoopbackServer):
    """A threaded TCP upstream on loopback: echoes what it reads; after the client's EOF it
    finishes, shuts its side down and closes (half-close observed). `received` holds each
    connection's bytes; reader=False makes a server that accepts and never reads."""

    def __init__(self, host: str = "127.0.0.1", reader: bool = True, greeting: bytes = b""):
        super().__init__(host, backlog=128, reuse_addr=True)
        self.reader = reader
        self.greeting = greeting
        self.received: list[bytearray] = []
        self.eof_seen: list[bool] = []
        self.start()

    @property
    def addr(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def accepted(self, c):
        i = len(self.received)
        self.received.append(bytearray())
        self.eof_seen.append(False)
        if self.reader:
            threading.Thread(target=self._serve, args=(c, i), daemon=True).start()

    def _serve(self, c, i):
        try:
            if self.greeting:
                c.sendall(self.greeting)
            while True:
                b = c.recv(65536)
                if not b:
                    self.eof_seen[i] = True
                    break
                self.received[i] += b
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()


class Proc(peers.Proc):
    """support.peers.Proc with ppdp's defaults: 10 s to get ready, and an exit at start is a failure
    even without `ready`."""

    def __init__(self, argv, env=None, pass_fds=(), ready=None, timeout=10.0):
        super().__init__(argv, env=env, pass_fds=pass_fds, ready=ready, timeout=timeout, always_check_exit=True)


@pytest.fixture
def echo():
    servers = []

    def make(host="127.0.0.1", **kw):
        s = EchoServer(host, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def ppdp():
    """ppdp(upstream, *args, listen=None) -> (Proc, port): started, listening, stopped at the end."""
    procs = []

    def start(upstream: str, *args, listen: str | None = None, env=None, pass_fds=(), ready=True):
        port = None
        argv = [ppdp_bin(), "--upstream", upstream, *args]
        if listen is None and not pass_fds:
            port = free_port()
            argv += ["-l", f"127.0.0.1:{port}"]
        elif listen is not None:
            argv += ["-l", listen]
            port = int(listen.rpartition(":")[2])
        p = Proc(argv, env=env, pass_fds=pass_fds,
                 ready=(lambda pr: pr.logs(msg="listening")) if ready else None)
        procs.append(p)
        return p, port

    yield start
    for p in procs:
        p.stop(signal.SIGKILL)


def connect(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection((host, port), timeout=timeout)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            break
        buf += b
    return bytes(buf)


def recv_all(s: socket.socket) -> bytes:
    buf = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(buf)
        buf += b


def read_until_closed(s: socket.socket) -> bytes:
    """What arrives before the peer closes; a reset (closed with our bytes unread) counts as closed."""
    try:
        return recv_all(s)
    except ConnectionResetError:
        return b""
