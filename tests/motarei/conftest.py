"""Helpers of the motarei tests: the fake Docker engine on a unix socket, tagged loopback backends
standing for the containers' published ports, and motarei started as a process, stopped by pid (Proc, free_port, wait_for: tests/support/peers.py)."""
from __future__ import annotations

import pathlib
import signal
import socket
import sys
import threading

import pytest
from fake_docker import FakeDocker
from support import peers
from support.peers import Proc, free_port, wait_for  # noqa: F401 (the tests import them from here)


def motarei_bin() -> str:
    p = pathlib.Path(sys.executable).parent / "motarei"
    return str(p) if p.exists() else "motarei"


class Backend(peers.LoopbackServer):
    """A container's published port: answers each connection with `NAME\\n`, then echoes."""

    def __init__(self, name: str):
        super().__init__("127.0.0.1", reuse_addr=True)
        self.name = name
        self.start()

    def accepted(self, c):
        threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.sendall(self.name.encode() + b"\n")
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()


@pytest.fixture
def docker(tmp_path):
    sock = str(tmp_path / "docker.sock")
    d = FakeDocker(sock)
    yield d
    d.close()


@pytest.fixture
def backend():
    made = []

    def make(name):
        b = Backend(name)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def motarei(docker):
    procs = []

    def start(*args, env=None):
        p = Proc([motarei_bin(), "--bind", "127.0.0.1", *args], env={"DOCKER_HOST": docker.url, **(env or {})})
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop(signal.SIGKILL)


def ask(port: int, data: bytes = b"hi", timeout: float = 5.0) -> tuple[str, bytes]:
    """Connect, send data, half-close, read everything: (backend name, echoed bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    buf = bytearray()
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:          # closed with our bytes unread: the end as well
            break
        if not b:
            break
        buf += b
    s.close()
    name, _, rest = bytes(buf).partition(b"\n")
    return name.decode(), rest
